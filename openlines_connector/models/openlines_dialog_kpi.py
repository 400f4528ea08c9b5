import logging
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields, models
from odoo.fields import Command, Domain
from odoo.tools import SQL, plaintext2html

_logger = logging.getLogger(__name__)

KPI_CRON = "openlines_connector.ir_cron_openlines_kpi"
#: dialogs handled by one cron batch (each batch is committed)
KPI_BATCH = 100
#: averages over dialogs count only dialogs with at least one measured response
KPI_MEASURED_AVG = {"first_response_time", "avg_response_time", "max_response_time", "total_response_time"}


class OpenlinesDialog(models.Model):
    """Response-time figures of a dialog, kept up to date message by message.

    Each client message and each answer updates the stored figures in place
    (no pass over the conversation): a client message with nobody answering
    yet starts a wait (``kpi_waiting_since``) and sets ``kpi_deadline`` from
    the line's limit; the next answer (operator or bot) closes the wait and
    adds it to the figures. The alert cron reads only the dialogs whose
    deadline has passed (an index on ``kpi_deadline``), locks them with
    ``SKIP LOCKED``, marks them late, tells the line's chosen people once
    (the deadline is cleared with the alert, in the same transaction) and
    wakes itself at the next deadline.
    """

    _inherit = "openlines.dialog"

    first_response_time = fields.Float(
        "First response time (s)",
        readonly=True,
        aggregator="avg",
        help="Seconds from the client's first message to the operator's first answer; in a dialog the chatbot "
        "talks in first, from the moment it hands the dialog over to the operators.",
    )
    bot_time = fields.Float(
        "Time with the chatbot (s)",
        readonly=True,
        aggregator="avg",
        copy=False,
        help="Seconds the client spent with the line's chatbot before it handed the dialog over to the operators "
        "(every run of the script added up); 0 when no chatbot talked.",
    )
    kpi_bot_since = fields.Datetime(
        "With the chatbot since", readonly=True, copy=False, help="When the chatbot started its current run."
    )
    avg_response_time = fields.Float(
        "Average response time (s)", readonly=True, aggregator="avg", help="Average of every response time, in seconds."
    )
    total_response_time = fields.Float(
        "Total response time (s)", readonly=True, aggregator="sum", help="Sum of every response time, in seconds."
    )
    max_response_time = fields.Float(
        "Longest response time (s)", readonly=True, aggregator="max", help="The longest response time, in seconds."
    )
    kpi_response_count = fields.Integer(
        "Responses measured",
        readonly=True,
        aggregator="sum",
        help="How many waits of the client ended with an answer; several client messages "
        "in a row are one wait, measured from the first of them.",
    )
    kpi_client_message_count = fields.Integer("Client messages", readonly=True, aggregator="sum")
    kpi_answer_count = fields.Integer("Answers", readonly=True, aggregator="sum")
    kpi_first_answer_partner_id = fields.Many2one(
        "res.partner", string="First answered by", readonly=True, index="btree_not_null"
    )
    kpi_answer_partner_ids = fields.Many2many(
        "res.partner",
        "openlines_dialog_answer_partner_rel",
        "dialog_id",
        "partner_id",
        string="Answered by",
        readonly=True,
    )
    kpi_waiting_since = fields.Datetime(
        "Waiting since", readonly=True, help="When the oldest client message still unanswered arrived."
    )
    kpi_deadline = fields.Datetime(
        "Answer due by",
        readonly=True,
        index="btree_not_null",
        copy=False,
        help="When the unanswered client message misses the line's limit; empty when nothing is due.",
    )
    is_late = fields.Boolean(
        "Late", readonly=True, copy=False, help="A response-time limit of the line was missed in this dialog."
    )
    kpi_late_count = fields.Integer("Limits missed", readonly=True, aggregator="sum", copy=False)

    # -- read_group -----------------------------------------------------------
    def _read_group_select(self, aggregate_spec, query):
        """Averages of response times leave out dialogs nobody has answered yet (not zeros); the average
        time with the chatbot leaves out dialogs no chatbot talked in."""
        sql = super()._read_group_select(aggregate_spec, query)
        fname, _sep, func = aggregate_spec.partition(":")
        if func == "avg" and fname in KPI_MEASURED_AVG | {"bot_time"}:
            return SQL(
                "AVG(CASE WHEN %s > 0 THEN %s END)",
                self._field_to_sql(self._table, "kpi_response_count" if fname != "bot_time" else fname, query),
                self._field_to_sql(self._table, fname, query),
            )
        return sql

    # -- hooks ------------------------------------------------------------------
    def _on_client_message(self):
        res = super()._on_client_message()
        now = fields.Datetime.now()
        deadlines = []
        for dialog in self:
            vals = {"kpi_client_message_count": dialog.kpi_client_message_count + 1}
            # with the chatbot (or before the consent) the client waits for no operator yet: the clock starts
            # at the hand-over (:meth:`_kpi_start_operator_clock`)
            if not dialog.kpi_waiting_since and dialog.state != "bot":
                deadline = dialog._kpi_deadline_from(now)
                vals.update(kpi_waiting_since=now, kpi_deadline=deadline)
                if deadline:
                    deadlines.append(deadline)
            dialog.write(vals)
        if deadlines:
            self._kpi_wake_cron(min(deadlines))
        return res

    def _on_answer(self, author=None):
        res = super()._on_answer(author)
        now = fields.Datetime.now()
        for dialog in self:
            answerer = author or dialog._kpi_last_answer_author()
            vals = {"kpi_answer_count": dialog.kpi_answer_count + 1}
            if answerer and answerer not in dialog.kpi_answer_partner_ids:
                vals["kpi_answer_partner_ids"] = [Command.link(answerer.id)]
            if dialog.kpi_waiting_since:
                vals.update(dialog._kpi_response_vals(now, answerer))
            dialog.write(vals)
        return res

    def _mark_closed(self):
        """A closed dialog waits for nothing: its pending deadline goes."""
        waiting = self.filtered(lambda d: d.state != "closed" and d.kpi_waiting_since)
        res = super()._mark_closed()
        if waiting:
            waiting.write({"kpi_waiting_since": False, "kpi_deadline": False})
        return res

    def _kpi_bot_started(self):
        """The chatbot starts talking to the client (a new or reopened dialog): its time is counted apart."""
        self.write({"kpi_bot_since": fields.Datetime.now(), "kpi_waiting_since": False, "kpi_deadline": False})

    def _kpi_start_operator_clock(self):
        """The chatbot (or the consent step) hands the dialog over: the client waits for an operator from now.

        The time with the bot goes to ``bot_time``; the wait for the first (or next) answer starts
        now, with its deadline from the line's limit, as if the client had just written.
        """
        now = fields.Datetime.now()
        deadlines = []
        for dialog in self:
            vals = {"kpi_waiting_since": now, "kpi_deadline": dialog._kpi_deadline_from(now), "kpi_bot_since": False}
            if dialog.kpi_bot_since:
                vals["bot_time"] = dialog.bot_time + max((now - dialog.kpi_bot_since).total_seconds(), 0.0)
            if vals["kpi_deadline"]:
                deadlines.append(vals["kpi_deadline"])
            dialog.write(vals)
        if deadlines:
            self._kpi_wake_cron(min(deadlines))

    # -- figures ------------------------------------------------------------------
    def _kpi_current_limit(self):
        """Minutes the current wait may last: the first-answer limit until someone answered, then the next one."""
        self.ensure_one()
        line = self.line_id
        return line.kpi_next_response_limit if self.kpi_response_count else line.kpi_first_response_limit

    def _kpi_deadline_from(self, start):
        limit = self._kpi_current_limit()
        return self.line_id._kpi_add_minutes(start, limit) if limit > 0 else False

    def _kpi_last_answer_author(self):
        """The author of the answer just posted in the dialog's session."""
        return self._session_last_comment(Domain("author_id", "!=", self.partner_id.id)).author_id

    def _session_last_comment(self, domain):
        """The last comment matching ``domain`` in the dialog's Discuss session."""
        self.ensure_one()
        # sudo: mail.message - a message just posted in the dialog's own session
        return (
            self.env["mail.message"]
            .sudo()
            .search(
                Domain("model", "=", "discuss.channel")
                & Domain("res_id", "=", self.discuss_channel_id.id)
                & Domain("message_type", "=", "comment")
                & Domain(domain),
                order="id desc",
                limit=1,
            )
        )

    def _kpi_response_vals(self, now, author):
        """The figures once the current wait ends with an answer at ``now``."""
        self.ensure_one()
        seconds = self.line_id._kpi_duration(self.kpi_waiting_since, now)
        count = self.kpi_response_count + 1
        total = self.total_response_time + seconds
        vals = {
            "kpi_response_count": count,
            "total_response_time": total,
            "avg_response_time": total / count,
            "max_response_time": max(self.max_response_time, seconds),
            "kpi_waiting_since": False,
            "kpi_deadline": False,
        }
        if not self.kpi_response_count:
            vals.update(first_response_time=seconds, kpi_first_answer_partner_id=author.id)
        if self.kpi_deadline and now > self.kpi_deadline:
            # the limit passed before the alert cron came by: late, but nobody is told of an answered wait
            vals.update(is_late=True, kpi_late_count=self.kpi_late_count + 1)
        return vals

    # -- alert cron ---------------------------------------------------------------
    def _kpi_wake_cron(self, at):
        """Make sure the alert cron runs at ``at``: add a trigger unless a run is already planned by then."""
        cron = self.env.ref(KPI_CRON, raise_if_not_found=False)
        if not cron:
            return
        rows = self.env.execute_query(
            SQL(
                """SELECT LEAST(c.nextcall, (SELECT min(t.call_at) FROM ir_cron_trigger t
                                            WHERE t.cron_id = c.id AND t.call_at > %s))
                     FROM ir_cron c WHERE c.id = %s AND c.active""",
                fields.Datetime.now(),
                cron.id,
            )
        )
        if rows and (rows[0][0] is None or at < rows[0][0]):
            cron._trigger(at)

    @api.model
    def _cron_kpi_alerts(self):
        """Mark late and tell about every dialog whose deadline has passed, then sleep until the next one."""
        Cron = self.env["ir.cron"]
        now = fields.Datetime.now()
        chats = {}
        while True:
            batch = self._kpi_claim_due(now)
            for dialog in batch:
                dialog._kpi_breach(now, chats)
            if not batch or not Cron._commit_progress(len(batch)):
                break
        self._kpi_schedule_next()

    def _kpi_claim_due(self, now):
        """Lock due dialogs, skipping those another transaction holds (e.g. being answered right now)."""
        self.flush_model(["kpi_deadline"])
        rows = self.env.execute_query(
            SQL(
                """SELECT id FROM openlines_dialog WHERE kpi_deadline <= %s
                    ORDER BY kpi_deadline LIMIT %s FOR UPDATE SKIP LOCKED""",
                now,
                KPI_BATCH,
            )
        )
        return self.browse([row[0] for row in rows])

    def _kpi_schedule_next(self):
        """Wake at the next deadline; at least a minute ahead, since the scheduler drops triggers
        that are due when a run ends (a due dialog left behind was locked by another transaction,
        or became due during the run: it is seen a minute later)."""
        rows = self.env.execute_query(
            SQL("SELECT min(kpi_deadline) FROM openlines_dialog WHERE kpi_deadline IS NOT NULL")
        )
        at = rows[0][0] if rows else None
        if at:
            self.env.ref(KPI_CRON)._trigger(max(at, fields.Datetime.now() + timedelta(minutes=1)))

    def _kpi_breach(self, now, chats):
        """One missed limit: mark the dialog late, show it in Discuss, tell the chosen people once."""
        self.ensure_one()
        limit = self._kpi_current_limit()
        waited = self.line_id._kpi_duration(self.kpi_waiting_since or now, now)
        self.write({"is_late": True, "kpi_late_count": self.kpi_late_count + 1, "kpi_deadline": False})
        try:
            with self.env.cr.savepoint():
                self._post_notice(
                    self.env._(
                        "No answer for %(waited)s: the limit of %(limit)s is missed.",
                        waited=self._kpi_format_duration(waited),
                        limit=self._kpi_format_duration(limit * 60),
                    )
                )
                self._kpi_notify(waited, limit, chats)
        except Exception:  # noqa: BLE001 - one failing alert never blocks the others; the dialog stays late
            _logger.exception("Open Lines: the late alert of dialog %s failed", self.id)

    def _kpi_recipients(self):
        self.ensure_one()
        line = self.line_id
        users = line.kpi_notify_user_ids
        if line.kpi_notify_operator:
            users |= self.operator_id
        return users.filtered("active")

    def _kpi_notify(self, waited, limit, chats):
        """Tell each chosen user, in their language, by a Discuss message from OdooBot and/or an activity."""
        self.ensure_one()
        mode = self.line_id.kpi_notify_mode
        odoobot = self.env.ref("base.partner_root")
        for user in self._kpi_recipients():
            dialog = self.with_context(lang=user.lang)
            text = dialog._kpi_alert_text(waited, limit)
            if mode in ("message", "both"):
                if user not in chats:
                    # sudo: discuss.channel - OdooBot's chat with the user, created by the alert cron
                    bot_env = self.env["discuss.channel"].with_user(SUPERUSER_ID)
                    chats[user] = bot_env._get_or_create_chat(user.partner_id.ids, pin=False)
                chats[user].message_post(
                    author_id=odoobot.id,
                    body=plaintext2html(text),
                    message_type="comment",
                    subtype_xmlid="mail.mt_comment",
                )
            if mode in ("activity", "both"):
                dialog.activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=dialog.env._("Answer the client: a response-time limit is missed"),
                    note=plaintext2html(text),
                    user_id=user.id,
                )

    def _kpi_alert_values(self, waited, limit):
        self.ensure_one()
        return {
            "client": self.partner_id.name or self.name,
            "line": self.line_id.name,
            "channel": self.channel_id.name or self.env._("Site chat"),
            "operator": self.operator_id.name or self.env._("nobody (in the queue)"),
            "waited": self._kpi_format_duration(waited),
            "limit": self._kpi_format_duration(limit * 60),
            "link": f"{self.get_base_url()}/odoo/openlines.dialog/{self.id}",
        }

    def _kpi_alert_text(self, waited, limit):
        """The line's alert text with its placeholders filled (unknown braces are left as written)."""
        line = self.line_id.with_context(lang=self.env.lang)
        text = line.kpi_notify_text or ""
        if text == line.with_context(lang="en_US")._kpi_default_notify_text():
            text = line._kpi_default_notify_text()  # the untouched default, in the reader's language
        for key, value in self._kpi_alert_values(waited, limit).items():
            text = text.replace("{" + key + "}", str(value))
        return text

    def _kpi_format_duration(self, seconds):
        """``seconds`` for people: 45 s, 12 min, 2 h 05 min, 3 d 4 h."""
        seconds = round(seconds or 0)
        if seconds < 60:
            return self.env._("%(s)s s", s=seconds)
        minutes = round(seconds / 60)
        if minutes < 60:
            return self.env._("%(m)s min", m=minutes)
        hours, minutes = divmod(minutes, 60)
        if hours < 24:
            return self.env._("%(h)s h %(m)02d min", h=hours, m=minutes)
        days, hours = divmod(hours, 24)
        return self.env._("%(d)s d %(h)s h", d=days, h=hours)
