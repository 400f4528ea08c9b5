from odoo import models


class DiscussChannelMember(models.Model):
    """An operator typing in, or reading, a messenger dialog's session tells the client (issue 16).

    Only a request is recorded here: one SQL statement on the operator's
    request (``openlines.signal._request_for_members`` finds the dialog,
    checks the member and the messenger, upserts the row and wakes the
    cron); the sending cron calls the messenger. The client's own member,
    site visitors and other conversations change nothing; conversations
    that are no livechat session cost no query at all.
    """

    _inherit = "discuss.channel.member"

    def _notify_typing(self, is_typing):
        res = super()._notify_typing(is_typing)
        if is_typing and (sessions := self._openlines_sessions()):
            self.env["openlines.signal"]._request_for_members(sessions, typing=True)
        return res

    def _mark_as_read(self, last_message_id):
        """The operator opened (or is reading) the conversation: Discuss's ``/discuss/channel/mark_as_read``.

        Not on ``_set_last_seen_message``, which posting also calls: an answer is no reason for a
        read call of its own (the messengers show the answer, and the client's marks follow it).
        """
        res = super()._mark_as_read(last_message_id)
        if sessions := self._openlines_sessions():
            self.env["openlines.signal"]._request_for_members(sessions, read=True)
        return res

    def _openlines_sessions(self):
        """The members of livechat sessions, where a messenger dialog may be (the rest is read in SQL)."""
        return self.filtered(lambda m: m.partner_id and m.channel_id.channel_type == "livechat")
