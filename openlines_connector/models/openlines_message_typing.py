from odoo import models


class OpenlinesMessage(models.Model):
    """The client types: shown to the operator in Discuss, whatever the messenger (issue 16).

    A connector that hears the client typing emits ``InboundEvent("typing")``
    (``text`` = ``end`` when the client stopped, anything else when they
    type): Apple's ``typing_start``/``typing_end``, VK's
    ``message_typing_state``. The dialog's Discuss session then shows the
    client's member as typing, exactly as Discuss shows a colleague
    (``discuss.channel.member._notify_typing``: a bus notification, nothing
    stored). A typing event never creates a contact or a dialog: from an
    unknown chat, or with no open dialog, it is only logged. The client's
    message ends their typing (neither VK nor Apple says "stopped" on
    sending; Discuss would show it a minute longer), for the connectors that
    report typing (``client_typing``).
    """

    _inherit = "openlines.message"

    def _on_typing(self, connector, event):
        """Show the client of ``event.chat_id`` typing (or not) in their open dialog's conversation."""
        contact = self.env["openlines.contact"].search(
            [("channel_id", "=", self.channel_id.id), ("external_id", "=", str(event.chat_id))], limit=1
        )
        if not contact:
            return self.env._("typing in an unknown chat: nothing to show")
        dialog = contact.dialog_ids.filtered(lambda d: d.state != "closed")[:1]
        if not dialog.discuss_channel_id:
            return self.env._("typing with no open dialog: nothing to show")
        self._show_client_typing(dialog, event.text != "end")
        self.dialog_id = dialog
        return None

    def _on_message(self, connector, event):
        res = super()._on_message(connector, event)
        if getattr(connector, "client_typing", False) and self.dialog_id.discuss_channel_id:
            self._show_client_typing(self.dialog_id, False)
        return res

    def _show_client_typing(self, dialog, typing):
        """Discuss's own typing notice, as the client's member of ``dialog``'s conversation."""
        # sudo: discuss.channel.member - the client's own member in their own session
        member = dialog.discuss_channel_id.sudo().channel_member_ids.filtered(
            lambda m: m.partner_id == dialog.partner_id
        )
        member._notify_typing(typing)
