from odoo import fields, models
from odoo.exceptions import AccessError, UserError

from odoo.addons.mail.tools.discuss import Store

from .openlines_guard import DIRECTOR


class OpenlinesDialog(models.Model):
    """What operators and supervisors do from Discuss (issue 16).

    - a supervisor joins any open dialog of the lines he supervises (:meth:`action_join`);
    - a dialog entering the queue is announced to the line's operators (a toast and the queue
      category of their Discuss), and leaves their queue when it is taken or closed;
    - a transfer tells the client with the line's transfer text, and the new operator's first
      answer is measured from the transfer (Bitrix24's rule).
    """

    _inherit = "openlines.dialog"

    # -- supervisors -----------------------------------------------------------------
    def _check_supervisor(self):
        """A director who reads the dialog (a line he supervises, or one naming no supervisors)."""
        if self.env.su:
            return
        if not self.env.user.has_group(DIRECTOR):
            raise AccessError(self.env._("Only Open Lines directors join the dialogs of the lines they supervise."))
        self.check_access("read")

    def action_join(self):
        """The supervisor joins the dialog's session (any open dialog of the lines he supervises)."""
        self.ensure_one()
        self._check_supervisor()
        if self.state == "closed":
            raise UserError(self.env._("This dialog is closed."))
        # sudo: discuss.channel - a supervisor joins a session of a line he supervises
        channel = self.discuss_channel_id.sudo()
        if self.env.user.partner_id not in channel.channel_member_ids.partner_id:
            channel._add_members(users=self.env.user, create_member_params={"livechat_member_type": "agent"})
        return self.action_open_discuss()

    # -- the queue in Discuss -----------------------------------------------------------
    def _queue_watchers(self):
        """The partners of the line's operators: they see the line's queue in Discuss."""
        self.ensure_one()
        users = self.line_id._candidates().filtered(lambda u: u.active and not u.share)
        return users.partner_id

    def _announce_queued(self):
        """A dialog entered the queue: its line's operators see it in Discuss and get a toast."""
        for dialog in self.filtered(lambda d: d.state == "queued"):
            watchers = dialog._queue_watchers()
            # sudo: discuss.channel - the queued session is shown to the line's operators
            session = dialog.discuss_channel_id.sudo()
            session._openlines_push_info(watchers)
            payload = {
                "channel_id": session.id,
                "name": dialog.name,
                "line": dialog.line_id.name,
                "source": session._openlines_info()["source_label"],
            }
            for partner in watchers:
                partner._bus_send("openlines.queue/new", payload)

    def _announce_left_queue(self):
        for dialog in self:
            # sudo: discuss.channel - the line's operators see the dialog leave their queue
            dialog.discuss_channel_id.sudo()._openlines_push_info(dialog._queue_watchers())

    def _enter_queue(self, tell_position=True):
        res = super()._enter_queue(tell_position=tell_position)
        self._announce_queued()
        return res

    def _take_as(self, user):
        was_queued = self.state == "queued"
        res = super()._take_as(user)
        if was_queued:
            self._announce_left_queue()
        return res

    def _mark_closed(self):
        closing = self.filtered(lambda d: d.state != "closed")
        res = super()._mark_closed()
        closing._announce_left_queue()
        return res

    # -- transfer ----------------------------------------------------------------------------
    def _leave_operator(self):
        """The operator leaves the session (transfer, pass to the next): his Discuss learns it as when
        one leaves a conversation (``discuss.channel._action_unfollow``), and stops acting as a member
        of a session he may no longer read."""
        self.ensure_one()
        # sudo: discuss.channel - the leaving operator's membership of the dialog's session
        channel = self.discuss_channel_id.sudo()
        member = channel.channel_member_ids.filtered(lambda m: m.partner_id == self.operator_id.partner_id)
        if member:
            Store(bus_channel=member._bus_channel()).add(
                channel, {"close_chat_window": True, "isLocallyPinned": False}
            ).bus_send()
        res = super()._leave_operator()
        if member:
            Store(bus_channel=channel).add(
                channel, [Store.Many("channel_member_ids", [], mode="DELETE", value=member), "member_count"]
            ).bus_send()
        return res

    def _transfer(self, user, line, note):
        # the client's text first: the operators' notice (with the note) stays the last message
        if text := (line or self.line_id)._client_text("transfer_message"):
            self._post_auto_reply(text.replace("{operator}", user.name or line.name or self.line_id.name))
        res = super()._transfer(user, line, note)
        self._kpi_restart_wait()
        if self.state == "queued":
            self._announce_queued()
        else:
            self._announce_left_queue()
        return res

    def _kpi_restart_wait(self):
        """Bitrix24's rule: after a transfer, the new operator's first answer counts.

        A client waiting for an answer waits from the transfer on, under the line's first-answer
        limit: the previous operator's silence is not the new one's.
        """
        self.ensure_one()
        if not self.kpi_waiting_since:
            return
        now = fields.Datetime.now()
        limit = self.line_id.kpi_first_response_limit
        deadline = self.line_id._kpi_add_minutes(now, limit) if limit > 0 else False
        self.write({"kpi_waiting_since": now, "kpi_deadline": deadline})
        if deadline:
            self._kpi_wake_cron(deadline)
