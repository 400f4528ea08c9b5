"""Messenger delivery marks are mail notifications of type "openlines" (see openlines_message_notification.py)."""

from odoo import fields, models

from odoo.addons.mail.tools.discuss import Store

NOTIFICATION_TYPE = "openlines"


class MailNotification(models.Model):
    _inherit = "mail.notification"

    notification_type = fields.Selection(
        selection_add=[(NOTIFICATION_TYPE, "Messenger")], ondelete={NOTIFICATION_TYPE: "cascade"}
    )
    notification_status = fields.Selection(
        selection_add=[("read", "Read")],
        ondelete={"read": lambda notifications: notifications.write({"notification_status": "sent"})},
    )

    def _to_store_defaults(self, target):
        # the messenger's own words on a failure: the tooltip of the red mark
        return [
            *super()._to_store_defaults(target),
            Store.Attr("failure_reason", predicate=lambda n: n.notification_type == NOTIFICATION_TYPE),
        ]
