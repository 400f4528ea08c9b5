"""The delivery mark of an operator's message in Discuss: a ``mail.notification`` of type "openlines".

The same mechanism as SMS (addons/sms): each outbound ``openlines.message`` row
owns one notification of its Discuss message, recipient the client's partner;
Discuss shows it next to the message (clock, check, two checks, red mark with
the error) and lists failures in the messaging menu. The row's state and the
messenger's receipts drive it:

============================  =====================  ==========================
row                           notification_status    shown as
============================  =====================  ==========================
pending / retry               ready                  clock, "Waiting to be sent"
done (no receipt, or "sent")  pending                one check, "Sent"
receipt "delivered"           sent                   two checks, "Delivered"
receipt "read"                read                   two blue checks, "Read"
failed                        exception              red mark, the error
============================  =====================  ==========================

mail's own words: "pending" is "Sent" (handed over), "sent" is "Delivered".
A change reaches the open Discuss windows through the channel's bus.
"""

from odoo import api, fields, models

from odoo.addons.mail.tools.discuss import Store

from .mail_notification import NOTIFICATION_TYPE


class OpenlinesMessage(models.Model):
    """Outbound rows keep the delivery mark of their Discuss message in step with their state."""

    _inherit = "openlines.message"

    notification_id = fields.Many2one(
        "mail.notification", string="Delivery mark", readonly=True, copy=False, ondelete="set null"
    )

    @api.model_create_multi
    def create(self, vals_list):
        marks = [vals for vals in vals_list if vals.get("direction") == "out" and vals.get("mail_message_id")]
        if marks:
            # sudo: mail.notification - the system records the delivery of the operator's message
            notifications = (
                self.env["mail.notification"].sudo().create([self._delivery_mark_vals(vals) for vals in marks])
            )
            for vals, notification in zip(marks, notifications, strict=True):
                vals["notification_id"] = notification.id
        return super().create(vals_list)

    def write(self, vals):
        if not {"state", "delivery_status"} & vals.keys():
            return super().write(vals)
        before = {row.id: row._delivery_mark() for row in self if row.notification_id}
        res = super().write(vals)
        if before:
            self.filtered(lambda r: r.id in before and r._delivery_mark() != before[r.id])._sync_delivery_mark()
        return res

    def action_retry(self):
        # a message sent again starts its receipts afresh (a "failed" receipt would outrank them)
        self.filtered(lambda m: m.state == "failed" and m.delivery_status == "failed").write({"delivery_status": False})
        return super().action_retry()

    # -- delivery marks -------------------------------------------------------------
    @api.model
    def _delivery_mark_vals(self, vals):
        message = self.env["mail.message"].browse(vals["mail_message_id"])
        dialog = self.env["openlines.dialog"].browse(vals.get("dialog_id"))
        return {
            "mail_message_id": message.id,
            "author_id": message.author_id.id,
            "res_partner_id": dialog.partner_id.id,
            "notification_type": NOTIFICATION_TYPE,
            "notification_status": "ready",
            "is_read": True,  # nobody's inbox: the client has no Odoo user
        }

    def _delivery_mark(self):
        """(notification_status, error) of this row's Discuss message."""
        self.ensure_one()
        if self.state == "failed" or self.delivery_status == "failed":
            return "exception", self.last_error or ""
        if self.state != "done":
            return "ready", ""
        return {"delivered": "sent", "read": "read"}.get(self.delivery_status, "pending"), ""

    def _sync_delivery_mark(self):
        """Write the rows' marks and show them in the open Discuss windows (one bus notification each)."""
        for row in self:
            status, error = row._delivery_mark()
            vals = {
                "notification_status": status,
                "failure_type": "unknown" if status == "exception" else False,
                "failure_reason": error or False,
            }
            # sudo: mail.notification - the system records the delivery of the operator's message
            row.notification_id.sudo().write(vals)
            channel = row.dialog_id.discuss_channel_id
            if channel:
                # the values are known: no read of the notification back
                Store(bus_channel=channel).add_model_values(
                    "mail.notification",
                    {
                        "id": row.notification_id.id,
                        "mail_message_id": row.mail_message_id.id,
                        "notification_type": NOTIFICATION_TYPE,
                        **vals,
                    },
                ).bus_send()
