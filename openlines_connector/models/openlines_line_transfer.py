from odoo import fields, models


class OpenlinesLine(models.Model):
    """The line's text to a client whose dialog is transferred (issue 16)."""

    _inherit = "openlines.line"

    transfer_message = fields.Text(
        "Transfer message",
        translate=True,
        default=lambda self: self.env._("Your conversation has been passed to {operator}: we will answer you here."),
        help="Sent to the client when an operator transfers the dialog to a colleague or to another line "
        "(the text of the line that receives it). {operator} is the new operator, or the line when the dialog "
        "waits in its queue. Empty: no message.",
    )
