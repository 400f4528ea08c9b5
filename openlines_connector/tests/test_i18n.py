"""Translation catalogue checks.

* ``TestI18nCatalogue`` (plain ``unittest``, no database): ``i18n/ru.po`` covers
  every msgid of ``i18n/openlines_connector.pot``, has no empty, fuzzy or
  obsolete entry, keeps the placeholders / markup of each source string, has a
  proper Russian header, and is readable by Odoo's own ``PoFileReader``.
* ``TestI18nLiveTerms`` (database): exports the terms of the installed module
  the way ``odoo i18n export`` does and fails, naming them, on user-facing
  strings that are missing from the template or have no Russian translation.

To fix a failure after adding strings::

    python3 -m odoo server -c CONFIG -d DB -u openlines_connector --stop-after-init
    python3 -m odoo i18n export -c CONFIG -d DB openlines_connector -l pot
    python3 scripts/i18n_check.py --sync   # ru.po := template + existing translations
    # translate the listed msgids in i18n/ru.po, then: python3 scripts/i18n_check.py
"""

from collections import defaultdict
from pathlib import Path

# polib is what odoo.tools.translate parses PO files with: no extra dependency.
import polib

from odoo.tests import TransactionCase, tagged
from odoo.tests.common import BaseCase
from odoo.tools.translate import PoFileReader, TranslationModuleReader

from .po_rules import kept_problems, placeholders

MODULE = "openlines_connector"
I18N_DIR = Path(__file__).resolve().parent.parent / "i18n"
POT_PATH = I18N_DIR / f"{MODULE}.pot"
PO_PATH = I18N_DIR / "ru.po"

RU_PLURAL_FORMS = (
    "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
)
HOW_TO_FIX = (
    f"\nRe-export and translate: `python3 -m odoo i18n export -c CONFIG -d DB {MODULE} -l pot`, "
    "then `python3 scripts/i18n_check.py --sync` and fill the empty msgstr in i18n/ru.po."
)


def _format_with_dummies(text):
    """``text % args`` with made-up arguments, as ``_()`` would format it."""
    named, positional = placeholders(text)
    # 1 suits every conversion (%s, %d, %02d, %.1f, ...)
    if named:
        return text % defaultdict(lambda: 1)
    if [p for p in positional if p != "%%"]:
        return text % tuple(1 for p in positional if p != "%%")
    return text


def _listing(msgids):
    return "\n".join(f"  - {msgid!r}" for msgid in sorted(msgids))


def _entries(pofile):
    return [entry for entry in pofile if not entry.obsolete]


class TestI18nCatalogue(BaseCase):
    """Static checks of i18n/ru.po against i18n/openlines_connector.pot (no database)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pot = polib.pofile(str(POT_PATH))
        cls.po = polib.pofile(str(PO_PATH))
        cls.translations = {entry.msgid: entry for entry in _entries(cls.po)}

    def test_header(self):
        meta = self.po.metadata
        self.assertEqual(meta.get("Language"), "ru")
        self.assertEqual(meta.get("Plural-Forms"), RU_PLURAL_FORMS)
        self.assertIn("charset=UTF-8", meta.get("Content-Type", ""))

    def test_template_not_empty(self):
        self.assertGreater(len(_entries(self.pot)), 0, "the template has no entry")

    def test_every_template_msgid_is_in_ru_po(self):
        missing = {entry.msgid for entry in _entries(self.pot)} - set(self.translations)
        if missing:
            self.fail(
                f"{len(missing)} msgid(s) of {POT_PATH.name} missing from ru.po:\n{_listing(missing)}{HOW_TO_FIX}"
            )

    def test_no_stale_entries(self):
        stale = set(self.translations) - {entry.msgid for entry in _entries(self.pot)}
        obsolete = [entry.msgid for entry in self.po if entry.obsolete]
        self.assertFalse(stale, "ru.po has msgids that are not in the template (resync it):\n" + _listing(stale))
        self.assertFalse(obsolete, "ru.po has obsolete (#~) entries:\n" + _listing(obsolete))

    def test_no_empty_translation(self):
        empty = [msgid for msgid, entry in self.translations.items() if not entry.msgstr.strip()]
        if empty:
            self.fail(f"{len(empty)} entr(y/ies) of ru.po without translation:\n{_listing(empty)}{HOW_TO_FIX}")

    def test_no_fuzzy_translation(self):
        fuzzy = [msgid for msgid, entry in self.translations.items() if "fuzzy" in entry.flags]
        self.assertFalse(fuzzy, "fuzzy entries in ru.po (review them and drop the flag):\n" + _listing(fuzzy))

    def test_placeholders_preserved(self):
        wrong = []
        for msgid, entry in self.translations.items():
            if not entry.msgstr:
                continue
            wrong += [f"{msgid!r} -> {entry.msgstr!r}: {issue}" for issue in kept_problems(msgid, entry.msgstr)]
        self.assertFalse(wrong, "translations that do not keep the source's placeholders:\n" + "\n".join(wrong))

    def test_python_strings_format(self):
        """Strings of the Python code are %-formatted by _(): the translation must format too."""
        broken = []
        for msgid, entry in self.translations.items():
            if "odoo-python" not in entry.comment or not entry.msgstr:
                continue
            try:
                _format_with_dummies(entry.msgstr)
            except (KeyError, TypeError, ValueError) as e:
                broken.append(f"{msgid!r} -> {entry.msgstr!r}: {e}")
        self.assertFalse(broken, "translations that break %-formatting:\n" + "\n".join(broken))

    def test_odoo_po_reader_reads_ru_po(self):
        """Odoo's own reader (used by the language loader) accepts every entry."""
        with self.assertNoLogs("odoo.tools.translate", level="ERROR"):
            rows = list(PoFileReader(str(PO_PATH)))
        read = {row["src"] for row in rows if row["value"]}
        unread = set(self.translations) - read
        self.assertFalse(unread, "entries Odoo's PoFileReader does not load with a translation:\n" + _listing(unread))
        self.assertEqual({row["module"] for row in rows}, {MODULE})


@tagged("post_install", "-at_install")
class TestI18nLiveTerms(TransactionCase):
    """Compare the module's current user-facing strings with the committed catalogues."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Same extraction as `odoo i18n export` (trans_export): records with an
        # xmlid of the module (fields, views, menus, actions, groups, ...) and
        # the _() / env._() strings of its Python code.
        # the source terms only: no need for Russian to be installed in the test database
        reader = TranslationModuleReader(cls.env.cr, modules=[MODULE])
        cls.live_terms = defaultdict(set)
        for module, ttype, name, res_id, source, _value, _comments in reader:
            if module == MODULE:
                where = f"{ttype}:{name}" + (f":{res_id}" if ttype != "code" else "")
                cls.live_terms[source].add(where)
        cls.pot_msgids = {entry.msgid for entry in _entries(polib.pofile(str(POT_PATH)))}
        cls.ru = {
            entry.msgid: entry.msgstr
            for entry in _entries(polib.pofile(str(PO_PATH)))
            if entry.msgstr.strip() and "fuzzy" not in entry.flags
        }

    def _describe(self, msgids):
        return "\n".join(
            f"  - {msgid!r}  ({', '.join(sorted(self.live_terms[msgid])[:3])})" for msgid in sorted(msgids)
        )

    def test_export_finds_terms(self):
        self.assertIn("Open Lines", self.live_terms, "the export did not see the module's menu")

    def test_every_live_term_is_translated(self):
        untranslated = set(self.live_terms) - set(self.ru)
        if untranslated:
            self.fail(
                f"{len(untranslated)} user-facing string(s) of {MODULE} have no Russian translation in "
                f"i18n/ru.po:\n{self._describe(untranslated)}{HOW_TO_FIX}"
            )

    def test_template_is_up_to_date(self):
        missing = set(self.live_terms) - self.pot_msgids
        if missing:
            self.fail(
                f"{len(missing)} user-facing string(s) of {MODULE} are missing from i18n/{POT_PATH.name}:\n"
                f"{self._describe(missing)}{HOW_TO_FIX}"
            )
