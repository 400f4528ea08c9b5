#!/usr/bin/env python3
"""Check (and optionally resync) the translation catalogues of an Odoo addon.

Only needs ``polib``, which Odoo itself depends on (``odoo.tools.translate``
parses PO files with it), so no database and no extra package are required.

Typical workflow after source strings changed::

    # 1. refresh the installed module, then export the template with Odoo's tooling
    python3 -m odoo server -c CONFIG -d DB -u openlines_connector --stop-after-init
    python3 -m odoo i18n export -c CONFIG -d DB openlines_connector -l pot
    # 2. rebuild ru.po from the new template, keeping every existing translation
    python3 scripts/i18n_check.py --sync
    # 3. translate what is listed as missing (edit ru.po, or --fill a JSON file
    #    mapping msgid -> msgstr), then check
    python3 scripts/i18n_check.py --fill new_terms.json
    python3 scripts/i18n_check.py

Exit status is 1 when a problem is found (missing / empty / fuzzy / obsolete
entries, placeholders or markup that differ between msgid and msgstr, or a
wrong header), 0 otherwise.
"""

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import polib

ADDON = Path(__file__).resolve().parent.parent / "openlines_connector"

PLURAL_FORMS = {
    "ru": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
}


def _load_po_rules():
    """The addon's ``tests/po_rules.py`` (plain Python), loaded by its path: the i18n test applies the same rules."""
    spec = importlib.util.spec_from_file_location("openlines_po_rules", ADDON / "tests" / "po_rules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


po_rules = _load_po_rules()


def entry_problems(entry):
    """Problems of a single translated entry, as a list of strings (empty when fine)."""
    problems = []
    if entry.obsolete:
        return ["obsolete entry (#~), remove it"]
    if "fuzzy" in entry.flags:
        problems.append("fuzzy")
    if not entry.msgstr.strip():
        problems.append("empty msgstr")
        return problems
    problems += po_rules.kept_problems(entry.msgid, entry.msgstr)
    return problems


def check(pot_path, po_path, lang):
    pot = polib.pofile(str(pot_path))
    po = polib.pofile(str(po_path))
    errors = []

    meta = po.metadata
    if meta.get("Language") != lang:
        errors.append(f"header: Language should be {lang!r}, found {meta.get('Language')!r}")
    if lang in PLURAL_FORMS and meta.get("Plural-Forms") != PLURAL_FORMS[lang]:
        errors.append(f"header: Plural-Forms should be {PLURAL_FORMS[lang]!r}")
    if "charset=UTF-8" not in meta.get("Content-Type", ""):
        errors.append("header: Content-Type must declare charset=UTF-8")

    translated = {e.msgid: e for e in po if not e.obsolete}
    template = {e.msgid for e in pot if not e.obsolete}
    for msgid in sorted(template - set(translated)):
        errors.append(f"missing from {po_path.name}: {msgid!r}")
    for msgid in sorted(set(translated) - template):
        errors.append(f"not in the template (stale, resync): {msgid!r}")
    for entry in po:
        for problem in entry_problems(entry):
            errors.append(f"{problem}: {entry.msgid!r}")
    return errors


def sync(pot_path, po_path, lang):
    """Rebuild the language file from the template, keeping existing translations.

    Like ``msgmerge --no-fuzzy-matching`` but written with polib, i.e. with the
    same layout as Odoo's own export (entry order, comments, line wrapping).
    """
    pot = polib.pofile(str(pot_path))
    old = polib.pofile(str(po_path)) if po_path.exists() else polib.POFile()
    known = {e.msgid: e.msgstr for e in old if not e.obsolete and "fuzzy" not in e.flags and e.msgstr}

    new = polib.POFile(wrapwidth=old.wrapwidth or 78)
    new.header = pot.header
    new.metadata = dict(pot.metadata)
    for key in ("PO-Revision-Date", "Last-Translator", "Language-Team"):
        if old.metadata.get(key):
            new.metadata[key] = old.metadata[key]
    new.metadata["Language"] = lang
    new.metadata["Content-Type"] = "text/plain; charset=UTF-8"
    new.metadata["Content-Transfer-Encoding"] = "8bit"
    if lang in PLURAL_FORMS:
        new.metadata["Plural-Forms"] = PLURAL_FORMS[lang]

    untranslated = []
    dropped = sorted(set(known) - {e.msgid for e in pot if not e.obsolete})
    for tmpl in pot:
        if tmpl.obsolete:
            continue
        entry = polib.POEntry(
            msgid=tmpl.msgid,
            msgstr=known.get(tmpl.msgid, ""),
            comment=tmpl.comment,
            tcomment=tmpl.tcomment,
            occurrences=list(tmpl.occurrences),
            flags=[f for f in tmpl.flags if f != "fuzzy"],
        )
        if not entry.msgstr:
            untranslated.append(tmpl.msgid)
        new.append(entry)
    new.save(str(po_path))
    return untranslated, dropped


def fill(po_path, translations):
    po = polib.pofile(str(po_path))
    used = 0
    for entry in po:
        if entry.msgid in translations:
            entry.msgstr = translations[entry.msgid]
            if "fuzzy" in entry.flags:
                entry.flags.remove("fuzzy")
            used += 1
    po.save(str(po_path))
    return used, set(translations) - {e.msgid for e in po}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addon", type=Path, default=ADDON, help="addon directory (default: %(default)s)")
    parser.add_argument("--lang", default="ru", help="language file to check, i18n/<lang>.po (default: ru)")
    parser.add_argument("--sync", action="store_true", help="rebuild <lang>.po from the .pot, keeping translations")
    parser.add_argument("--fill", type=Path, metavar="JSON", help="set msgstr from a JSON object {msgid: msgstr}")
    args = parser.parse_args(argv)

    i18n = args.addon / "i18n"
    pot_path = i18n / f"{args.addon.name}.pot"
    po_path = i18n / f"{args.lang}.po"

    if args.sync:
        untranslated, dropped = sync(pot_path, po_path, args.lang)
        print(f"{po_path} rebuilt from {pot_path.name}; {len(untranslated)} untranslated")
        for msgid in untranslated:
            print(f"  untranslated: {msgid!r}")
        for msgid in dropped:
            print(f"  dropped (no longer in the template): {msgid!r}")
    if args.fill:
        used, unknown = fill(po_path, json.loads(args.fill.read_text(encoding="utf-8")))
        print(f"{used} translations applied")
        for msgid in sorted(unknown):
            print(f"  not in {po_path.name}: {msgid!r}")

    errors = check(pot_path, po_path, args.lang)
    total = len([e for e in polib.pofile(str(po_path)) if not e.obsolete])
    for error in errors:
        print(error)
    print(f"{po_path}: {total} entries, {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
