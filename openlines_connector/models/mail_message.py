from odoo import models
from odoo.exceptions import AccessError


class MailMessage(models.Model):
    _inherit = "mail.message"

    def openlines_retry_delivery(self):
        """Send again an operator's message the messenger refused (the "Retry" of its red mark in Discuss).

        :return: whether a failed outbound row was queued again
        """
        self.ensure_one()
        if not self.env.user._is_internal():
            raise AccessError(self.env._("Only internal users can send a message again."))
        self.check_access("read")
        # sudo: openlines.message - an operator who reads the message may have it sent again
        rows = (
            self.env["openlines.message"]
            .sudo()
            .search([("mail_message_id", "=", self.id), ("direction", "=", "out"), ("state", "=", "failed")])
        )
        rows.action_retry()
        return bool(rows)
