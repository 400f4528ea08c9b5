from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain

from ..tools import wake_cron
from .openlines_line import OPEN_STATES

CRON = "openlines_connector.ir_cron_openlines_route"


class OpenlinesDialog(models.Model):
    """Routing: who gets a dialog, passing it on, the queue, transfers, auto-close.

    The routing cron (:meth:`_cron_route`) is woken when an assignment
    deadline falls due, when a dialog closes (an operator frees up) and every
    minute as a safety net, so a queued dialog never waits more than a minute
    for an operator who comes online.
    """

    _inherit = "openlines.dialog"

    date_assigned = fields.Datetime("Assigned on", readonly=True)
    assign_deadline = fields.Datetime(
        "Pass on at",
        readonly=True,
        index="btree_not_null",
        help="When the operator has not answered by then, the dialog goes to the next available operator.",
    )
    greeting_pending = fields.Boolean("Greeting due", readonly=True, copy=False)
    skipped_operator_ids = fields.Many2many(
        "res.users",
        "openlines_dialog_skipped_user_rel",
        "dialog_id",
        "user_id",
        string="Skipped operators",
        readonly=True,
        help="Operators the dialog was passed on from, unanswered.",
    )

    # -- creation and assignment ---------------------------------------------------
    def _on_new_dialogs(self):
        res = super()._on_new_dialogs()
        self.filtered("operator_id")._start_answer_clock()
        self.greeting_pending = True  # the line's texts follow the client's first message
        return res

    def _on_client_message(self):
        res = super()._on_client_message()
        for dialog in self.filtered("greeting_pending"):
            dialog.greeting_pending = False
            dialog._greet()
        return res

    def _greet(self):
        """After a new dialog's first message: welcome, and the queue or off-hours texts.

        An archived line takes nothing in: its new dialogs get the line's "not available" text (the
        off-hours one when it is empty) and go to the off-hours line when it names one, whatever the hour.
        """
        self.ensure_one()
        line = self.line_id
        if not line.active:
            self._unavailable()
            return
        if welcome := line._client_text("welcome_message"):
            self._post_auto_reply(welcome)
        if self.operator_id:
            return
        if not line._is_working_time():
            self._off_hours()
        else:
            self._enter_queue()

    def _off_hours(self, text=None):
        """A dialog started outside the working hours: tell the client (``text``, by default the line's
        off-hours message), queue it or hand it on."""
        self.ensure_one()
        line = self.line_id
        if text is None:
            text = line._client_text("off_hours_message")
        if text:
            self._post_auto_reply(text)
        if next_line := self._off_hours_line():
            self.action_transfer(line_id=next_line.id)
            if self.state == "queued":
                self._assign_queued()
        else:
            self._enter_queue(tell_position=False)

    def _unavailable(self):
        """A new dialog of an archived line: the line it names for off hours takes it, as off hours;
        otherwise the client reads the line's "not available" text (its off-hours text when empty)."""
        self.ensure_one()
        text = None if self._off_hours_line() else (self.line_id._client_text("unavailable_message") or None)
        self._off_hours(text)

    def _off_hours_line(self):
        """The active line this dialog's line sends its off-hours dialogs to, if any."""
        line = self.line_id
        forwards = line.off_hours_action == "line" and line.off_hours_line_id.active
        return line.off_hours_line_id if forwards else line.browse()

    def _start_answer_clock(self):
        now = fields.Datetime.now()
        for dialog in self:
            timeout = dialog.line_id.answer_timeout
            deadline = now + timedelta(minutes=timeout) if timeout else False
            dialog.write({"date_assigned": now, "assign_deadline": deadline})
            if deadline:
                self.env.ref(CRON)._trigger(deadline)

    def _enter_queue(self, tell_position=True):
        """Nobody took the dialog: offer it (to all at once), else tell the client their place.

        A dialog offered to operators ("to all at once") is not waiting in a queue: its client
        hears nothing (the first operator to take it answers). Only when nobody could be offered
        it does the client get the queue message, numbered among the dialogs nobody was offered.
        """
        for dialog in self:
            line = dialog.line_id
            if line.distribution_mode == "all" and dialog._offer(
                line._available_operators(dialog.skipped_operator_ids)
            ):
                continue
            text = line._client_text("queue_message") if tell_position else ""
            if text:
                dialog._post_auto_reply(text.replace("{position}", str(dialog._queue_position())))

    def _queue_position(self):
        """The dialog's place among the line's queued dialogs that no operator was offered.

        One count in SQL of the earlier queued dialogs whose session has no agent but OdooBot (who
        holds a queued session): the members of the queued sessions are not read.
        """
        self.ensure_one()
        root = self.env.ref("base.partner_root")
        # ``livechat_member_type`` is stored on the member's history: searched there
        offered = Domain("livechat_member_history_ids", "any", Domain("livechat_member_type", "=", "agent")) & Domain(
            "partner_id", "!=", root.id
        )
        # sudo: openlines.dialog, discuss.channel.member - the place counts every queued dialog of the line
        earlier = self.sudo().search_count(
            Domain("line_id", "=", self.line_id.id)
            & Domain("state", "=", "queued")
            & Domain("id", "<", self.id)
            & Domain("discuss_channel_id.channel_member_ids", "not any", offered)
        )
        return earlier + 1

    def _offer(self, users):
        """Make ``users`` members of the session: each sees it; the first to take or answer gets it.

        Return ``users`` (empty when nobody could be offered the dialog)."""
        self.ensure_one()
        # sudo: discuss.channel - operators are invited into a queued session
        channel = self.discuss_channel_id.sudo()
        new = users.filtered(lambda u: u.partner_id not in channel.channel_member_ids.partner_id)
        if new:
            channel._add_members(users=new, create_member_params={"livechat_member_type": "agent"})
        return users

    def _post_auto_reply(self, text):
        """A text to the client from the line (OdooBot in Discuss); it is not an operator's answer."""
        # sudo: discuss.channel - the line answers in its own session
        self.discuss_channel_id.sudo().with_context(openlines_auto_reply=True).message_post(
            author_id=self.env.ref("base.partner_root").id,
            body=text,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )

    def _take_as(self, user):
        """``user`` gets the dialog; other operators it was offered to leave the session."""
        res = super()._take_as(user)
        if self.line_id.distribution_mode == "all":
            # sudo: discuss.channel.member - offered operators who did not take it leave the session
            self.discuss_channel_id.sudo().channel_member_ids.filtered(
                lambda m: m.livechat_member_type == "agent" and m.partner_id != user.partner_id
            ).unlink()
        self._start_answer_clock()
        return res

    def _on_answer(self, author=None):
        user = author.user_ids[:1] if author else self.env["res.users"]
        if user and not user.share:
            for dialog in self.filtered(lambda d: not d.operator_id and d.state != "closed"):
                dialog._take_as(user)  # answering a queued or offered dialog takes it
        res = super()._on_answer(author)
        self.filtered("assign_deadline").write({"assign_deadline": False})
        return res

    def _reopen(self):
        """A client who comes back to a dialog of an archived line is answered as a new one would be:
        the line's off-hours answer (or the off-hours line) at their message, not the old operator."""
        res = super()._reopen()
        if self.env.context.get("openlines_client_reopen"):
            for dialog in self.filtered(lambda d: d.state != "closed" and not d.line_id.active):
                dialog._leave_operator()
                dialog.write(
                    {"operator_id": False, "state": "queued", "assign_deadline": False, "greeting_pending": True}
                )
        return res

    def _mark_closed(self):
        closing = self.filtered(lambda d: d.state != "closed")
        res = super()._mark_closed()
        for dialog in closing:  # messenger clients and site visitors alike
            if text := dialog.line_id._client_text("close_message"):
                dialog._post_auto_reply(text)
        for dialog in closing.filtered(lambda d: d.line_id.send_transcript and d.partner_id.email):
            lang = dialog.line_id.client_lang_id.code or dialog.partner_id.lang
            # sudo: discuss.channel - the transcript of the client's own conversation goes to them
            dialog.discuss_channel_id.sudo().with_context(lang=lang)._email_livechat_transcript(dialog.partner_id.email)
        self.filtered("assign_deadline").write({"assign_deadline": False})
        wake_cron(self.env, CRON)  # an operator may have freed up
        return res

    def unlink(self):
        """With the line's "delete the chat" option, the Discuss conversation goes too."""
        # sudo: discuss.channel - the line's settings decide whether the history stays
        chats = self.filtered("line_id.delete_chat").discuss_channel_id.sudo()
        res = super().unlink()
        chats.unlink()
        return res

    # -- operators' actions ------------------------------------------------------------
    def action_transfer(self, user_id=False, line_id=False, note=False):
        """Hand the dialog to another operator, or to another line's queue, with a note.

        The caller must be allowed to act on the dialog (a manager on his own, a director on the
        lines he supervises); the new operator must be an active operator (or director) of the
        line, and a new line must be active and of the dialog's company.
        """
        self.ensure_one()
        self._check_can_act()
        if self.state == "closed":
            raise UserError(self.env._("A closed dialog cannot be transferred."))
        # sudo: res.users, openlines.line - the targets are checked below, whatever the caller may read
        user = self.env["res.users"].sudo().browse(user_id).exists()
        line = self.env["openlines.line"].sudo().browse(line_id).exists()
        if not user and not line:
            raise UserError(self.env._("Choose an operator or a line to transfer the dialog to."))
        if line and (not line.active or line.company_id != self.company_id):
            raise UserError(
                self.env._("The dialog can only go to an active line of its company, not to %(line)s.", line=line.name)
            )
        if user:
            self._check_new_operator(user, line or self.line_id)
        self.sudo()._transfer(user, line, note)
        return True

    def _transfer(self, user, line, note):
        before = self.operator_id.name or self.env._("the queue")
        if line and line != self.line_id:
            self._leave_operator()
            # sudo: discuss.channel - the session moves with its dialog to the other line
            self.discuss_channel_id.sudo().livechat_channel_id = line.livechat_channel_id
            self.write({"line_id": line.id, "operator_id": False, "state": "queued", "assign_deadline": False})
            wake_cron(self.env, CRON)
        if user:
            self._leave_operator()
            self._take_as(user)
        after = self.operator_id.name or self.line_id.name
        text = self.env._("Transferred from %(before)s to %(after)s.", before=before, after=after)
        self._post_notice(f"{text} {note}" if note else text)

    def _leave_operator(self):
        """The current operator leaves the session (the dialog goes on without them)."""
        self.ensure_one()
        if self.operator_id:
            # sudo: discuss.channel.member - the previous operator leaves the dialog's session
            self.discuss_channel_id.sudo().channel_member_ids.filtered(
                lambda m: m.partner_id == self.operator_id.partner_id
            ).unlink()

    # -- the routing cron --------------------------------------------------------------
    @api.model
    def _cron_route(self):
        now = fields.Datetime.now()
        for dialog in self.search([("state", "=", "assigned"), ("assign_deadline", "<=", now)], limit=500):
            dialog._pass_to_next()
        self._assign_queued()
        self._auto_close(now)
        self._schedule_route()

    def _pass_to_next(self):
        """The operator did not answer in time: the next available one gets the dialog."""
        self.ensure_one()
        previous = self.operator_id
        self.skipped_operator_ids |= previous
        self._leave_operator()
        following = self.line_id._pick_operator(exclude=self.skipped_operator_ids)
        if following:
            self._take_as(following)
        else:
            root = self.env.ref("base.partner_root")
            # sudo: discuss.channel - nobody has the session any more: OdooBot holds it, looking for help
            self.discuss_channel_id.sudo().write({"livechat_operator_id": root.id, "livechat_status": "need_help"})
            self.write({"operator_id": False, "state": "queued", "assign_deadline": False})
            self._enter_queue()
        self._post_notice(
            self.env._(
                "%(operator)s did not answer within %(minutes)s minutes: passed to %(next)s.",
                operator=previous.name,
                minutes=self.line_id.answer_timeout,
                next=following.name or self.env._("the queue"),
            )
        )

    @api.model
    def _assign_queued(self):
        """Give queued dialogs, oldest first, to operators who are available now."""
        queued = self.search([("state", "=", "queued")], order="id")
        for line, dialogs in queued.grouped("line_id").items():
            for dialog in dialogs:
                operator = line._pick_operator(exclude=dialog.skipped_operator_ids)
                if operator:
                    dialog._take_as(operator)
                elif line.distribution_mode == "all":
                    dialog._offer(line._available_operators(dialog.skipped_operator_ids))

    @api.model
    def _auto_close(self, now):
        lines = self.env["openlines.line"].with_context(active_test=False)  # an archived line's dialogs close too
        for line in lines.search([("auto_close_hours", ">", 0)]):
            silent = self.search(
                Domain("line_id", "=", line.id)
                & Domain("state", "in", (*OPEN_STATES, "queued"))
                & Domain("date_last_client", "<", now - timedelta(hours=line.auto_close_hours))
            )
            silent.action_close()

    @api.model
    def _schedule_route(self):
        nearest = self.search([("assign_deadline", "!=", False)], order="assign_deadline", limit=1)
        if nearest:
            self.env.ref(CRON)._trigger(max(nearest.assign_deadline, fields.Datetime.now()))
