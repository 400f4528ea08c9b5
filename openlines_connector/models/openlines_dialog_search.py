from markupsafe import escape

from odoo import fields, models
from odoo.fields import Domain
from odoo.tools import SQL


def _like(text):
    """``text`` as a LIKE pattern that matches it anywhere, its own ``%``, ``_`` and ``\\`` taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class OpenlinesDialog(models.Model):
    """Search the text of every dialog a user may see (Bitrix24's history search, issue 16).

    *Message contains* in the Dialogs list: the dialogs whose Discuss session holds a message
    with the words. The dialogs found are still filtered by the dialog's record rules, so a
    manager finds only his own dialogs and the queue of his lines, a director those of the
    lines he supervises; the messages are matched in SQL (not through ``mail.message``'s
    access rules: whoever may read a dialog may read its conversation).
    """

    _inherit = "openlines.dialog"

    message_search = fields.Char(
        "Message contains",
        compute="_compute_message_search",
        search="_search_message_search",
        help="Search the text of the dialogs' messages (the client's, the operators' and the notes).",
    )

    def _compute_message_search(self):
        self.message_search = False

    def _search_message_search(self, operator, value):
        if operator not in ("ilike", "not ilike", "=", "!=") or not isinstance(value, str) or not value.strip():
            return NotImplemented
        text = value.strip()
        # a message body is HTML: the client's "<" or "&" is stored escaped
        patterns = {_like(text), _like(str(escape(text)))}
        sessions = SQL(
            """(SELECT m.res_id FROM mail_message m
                 WHERE m.model = 'discuss.channel' AND (%s))""",
            SQL(" OR ").join(SQL("m.body ILIKE %s", p) for p in sorted(patterns)),
        )
        domain = Domain("discuss_channel_id", "in", sessions)
        return ~domain if operator in ("not ilike", "!=") else domain
