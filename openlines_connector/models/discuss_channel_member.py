from odoo import models


class DiscussChannelMember(models.Model):
    """An operator typing in, or reading, a messenger dialog's session tells the client (issue 16).

    Only a request is recorded here (``openlines.signal``, one statement); the
    sending cron calls the messenger. The client's own member, site visitors
    and other conversations change nothing.
    """

    _inherit = "discuss.channel.member"

    def _notify_typing(self, is_typing):
        res = super()._notify_typing(is_typing)
        if is_typing:
            for member, dialog in self._openlines_operator_members():
                self.env["openlines.signal"]._request(dialog, typing=True)
        return res

    def _set_last_seen_message(self, message, notify=True):
        res = super()._set_last_seen_message(message, notify=notify)
        for member, dialog in self._openlines_operator_members():
            if member.seen_message_id.id == message.id:
                self.env["openlines.signal"]._request(dialog, read_upto=message.id)
        return res

    def _openlines_operator_members(self):
        """``(member, dialog)`` of the members who are an internal user in a messenger dialog's session."""
        # sudo: openlines.dialog - the member's session is theirs; the dialog row may not be readable to them
        for member in self.filtered(lambda m: m.partner_id and m.channel_id.channel_type == "livechat"):
            dialog = member.channel_id.sudo().openlines_dialog_id
            if not dialog.channel_id or member.partner_id == dialog.partner_id:
                continue
            if any(not user.share for user in member.partner_id.sudo().user_ids):
                yield member, dialog
