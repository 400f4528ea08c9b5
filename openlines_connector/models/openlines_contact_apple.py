from odoo import fields, models


class OpenlinesContact(models.Model):
    """What the client's device said it can show, where the messenger tells (Apple's ``capability-list``)."""

    _inherit = "openlines.contact"

    device_capabilities = fields.Char(
        readonly=True,
        copy=False,
        help="What the client's device announced it can show, as the messenger sent it with their last message "
        "(Apple Messages for Business: LIST for list pickers, QUICK, TIME...). Choices go as text to a device "
        "without list pickers.",
    )
