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
            for _member, dialog in self._openlines_operator_members():
                self.env["openlines.signal"]._request(dialog, typing=True)
        return res

    def _mark_as_read(self, last_message_id):
        """The operator opened (or is reading) the conversation: Discuss's ``/discuss/channel/mark_as_read``.

        Not on ``_set_last_seen_message``, which posting also calls: an answer is no reason for a
        read call of its own (the messengers show the answer, and the client's marks follow it).
        """
        res = super()._mark_as_read(last_message_id)
        for member, dialog in self._openlines_operator_members():
            if member.seen_message_id:
                self.env["openlines.signal"]._request(dialog, read_upto=member.seen_message_id.id)
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
