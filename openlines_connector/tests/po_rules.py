"""What a translation must keep of its source: placeholders, {fields}, markup, @mentions.

Plain Python (no Odoo import): the addon's i18n test and ``scripts/i18n_check.py``
(which loads this file by its path) apply the same rules.
"""

import re
from collections import Counter

# printf-style placeholders used by odoo's _() / env._(): %s, %d, %(name)s, %%
PY_PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>\w+)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?P<conv>[diouxXeEfFgGcrsa%])"
)
# str.format fields, e.g. the {client} / {waited} of user-editable alert texts
BRACE_FIELD = re.compile(r"(?<!\{)\{(\w*)(?:[!:][^{}]*)?\}(?!\})")
# opening / closing markup tags (model_terms of views and html fields)
TAG = re.compile(r"</?([A-Za-z][\w:-]*)")
# mentions that must survive translation verbatim, e.g. @BotFather
MENTION = re.compile(r"(?<![\w.])@\w+")


def placeholders(text):
    """Return (named placeholders as a Counter, positional ones as an ordered list)."""
    named, positional = Counter(), []
    for match in PY_PLACEHOLDER.finditer(text):
        if match["name"]:
            named[match.group(0)] += 1
        else:
            positional.append(match.group(0))
    return named, positional


def kept_problems(msgid, msgstr):
    """What ``msgstr`` loses or adds of ``msgid``'s placeholders and markup, as a list of strings."""
    problems = []
    if placeholders(msgid) != placeholders(msgstr):
        problems.append(f"placeholders differ: {placeholders(msgid)} vs {placeholders(msgstr)}")
    if Counter(BRACE_FIELD.findall(msgid)) != Counter(BRACE_FIELD.findall(msgstr)):
        problems.append(
            f"{{fields}} differ: {sorted(BRACE_FIELD.findall(msgid))} vs {sorted(BRACE_FIELD.findall(msgstr))}"
        )
    if Counter(TAG.findall(msgid)) != Counter(TAG.findall(msgstr)):
        problems.append("markup tags differ")
    if Counter(MENTION.findall(msgid)) != Counter(MENTION.findall(msgstr)):
        problems.append("@mentions differ")
    return problems
