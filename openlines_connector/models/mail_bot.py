from odoo import models


class MailBot(models.AbstractModel):
    _inherit = "mail.bot"

    def _apply_logic(self, channel, values, command=None):
        """OdooBot never answers a messenger client: their dialog is the line's business."""
        if channel._name == "discuss.channel" and channel.openlines_dialog_id:
            return None
        return super()._apply_logic(channel, values, command=command)
