from odoo import fields, models


class OpenlinesLine(models.Model):
    """The text sent to the client when nobody answered within the line's limit (issue 16)."""

    _inherit = "openlines.line"

    noanswer_message = fields.Text(
        "No-answer message",
        translate=True,
        help="Sent to the client, in the line's language for clients, each time a response-time limit "
        "(Response times tab) passes without an answer. Empty: no message. For example: "
        '"Sorry for the wait: an operator will answer you very soon."',
    )
