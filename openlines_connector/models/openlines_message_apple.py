from odoo import models


class OpenlinesMessage(models.Model):
    """Events Apple Messages for Business brought first; any connector may emit them.

    (``typing``, which Apple brought first too, is the messengers' common path:
    ``openlines_message_typing.py``.)  ``closed``: the
    client ended the conversation (Apple's ``close``; they may have deleted
    it): the operator is told and the dialog closes without sending the
    closing text or the rating request to someone who left.
    """

    _inherit = "openlines.message"

    def _client_contact(self, event):
        return self.env["openlines.contact"].search(
            [("channel_id", "=", self.channel_id.id), ("external_id", "=", event.chat_id)], limit=1
        )

    def _on_closed(self, connector, event):
        contact = self._client_contact(event)
        dialog = contact.dialog_ids.filtered(lambda d: d.state != "closed")[:1]
        if not contact:
            return self.env._("conversation closed by an unknown client")
        if dialog:
            messenger = self.channel_id._messenger_label()
            dialog._post_notice(
                self.env._(
                    "The client closed the conversation in %(messenger)s. "
                    "Nothing more is sent to them until they write again.",
                    messenger=messenger,
                )
            )
            dialog.with_context(openlines_client_left=True).action_close()
            self.dialog_id = dialog
        contact.is_blocked = True  # cleared by their next message
        return None

    def _on_message(self, connector, event):
        """Keep what the client's device can show (Apple's capability-list), for the next choices sent."""
        res = super()._on_message(connector, event)
        capabilities = getattr(event, "capabilities", None)  # only Apple's events carry it
        if capabilities and self.dialog_id.contact_id.device_capabilities != capabilities:
            self.dialog_id.contact_id.device_capabilities = capabilities
        return res

    def _build_outbound(self):
        """Apple wants ``auto-reply: true`` on what a bot sends: the line's own texts (OdooBot), a chatbot;
        and no list picker for a device that did not announce ``LIST``."""
        outbound = super()._build_outbound()
        if self.channel_id.channel_type == "apple":
            if self.dialog_id.contact_id.device_capabilities:
                outbound.capabilities = self.dialog_id.contact_id.device_capabilities
            author = self.mail_message_id.author_id
            # sudo: chatbot.script - is the author a chatbot's operator partner (read for this flag only)
            bots = self.env["chatbot.script"].sudo().search_count([("operator_partner_id", "=", author.id)], limit=1)
            outbound.auto_reply = author == self.env.ref("base.partner_root") or bool(bots)
        return outbound

    def _queue_outbound(self, dialog, message):
        """What the line says on closing (closing text, rating request) is not sent to a client who left."""
        if self.env.context.get("openlines_client_left"):
            return None
        return super()._queue_outbound(dialog, message)
