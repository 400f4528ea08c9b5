"""Channel health: queue figures per channel, last success, last error, and the "failing" alert.

Writers: the queue crons (send, process, poll) call :meth:`_health_success`
and :meth:`_health_failure`. They run on every Odoo server at once, so these
writes never wait for, nor fail on, another worker's write of the channel row:
the row is locked with ``SKIP LOCKED`` inside a savepoint, and a busy or
concurrently updated row just skips the update (the other worker records the
same news). A success writes at most once a minute, compared in Python against
the cached value: no query per message.
"""

import logging
import operator
from collections import defaultdict
from datetime import timedelta

import psycopg2
from markupsafe import Markup

from odoo import fields, models
from odoo.fields import Domain
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

ADMIN = "openlines_connector.group_openlines_admin"

#: the last success date is rewritten at most this often
SUCCESS_EVERY = timedelta(minutes=1)
#: a channel is failing after this many errors in a row ...
FAILING_AFTER = 3
#: ... that have lasted this long without a success (or at once, for an error of the account itself)
FAILING_DELAY = timedelta(minutes=5)

#: messenger error codes that mean the account itself is unusable (token revoked, bot deleted),
#: as the connectors report them in ``ConnectorError.code``; a permanent error with another code
#: is the message's or the client's (too long, chat not found...)
ACCOUNT_ERROR_CODES = {
    "telegram": {401, 404},  # Unauthorized (token revoked), Not Found (bot deleted)
    "vk": {5, 27, 28},  # user, community, application authorization failed
    "ok": {102, 103, 104},  # session expired, invalid session key, invalid signature
    "avito": {401},
    "whatsapp": {190},  # Graph: access token rejected
    "messenger": {190},
    "instagram": {190},
    "viber": {2},  # invalid authentication token
    "apple": {401, 403},  # Apple refused the JWT: MSP ID or API secret wrong
}

#: a channel with more incoming messages than this waiting to be processed is flooded ...
PENDING_CAP = 1000
#: ... and so is one whose waiting incoming messages include more than this many from the last minute
ADMISSION_RATE = 300

#: message states the health figures count
PENDING = ("pending", "retry")
HEALTH_STATES = ("pending", "retry", "held", "failed")
OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


def _age_label(env, minutes):
    if minutes is None:
        return False
    if minutes < 1:
        return env._("< 1 min")
    if minutes < 120:
        return env._("%(minutes)s min", minutes=minutes)
    if minutes < 2880:
        return env._("%(hours)s h", hours=minutes // 60)
    return env._("%(days)s days", days=minutes // 1440)


class OpenlinesChannel(models.Model):
    _inherit = "openlines.channel"

    state = fields.Selection(
        selection_add=[("failing", "Failing")],
        ondelete={"failing": lambda channels: channels.write({"state": "error"})},
    )
    last_error_date = fields.Datetime("Last error on", readonly=True, copy=False)
    last_success_date = fields.Datetime(
        "Last success",
        readonly=True,
        copy=False,
        help="When a message of this channel was last processed or sent (updated at most once a minute).",
    )
    error_streak = fields.Integer(
        "Errors in a row", readonly=True, copy=False, help="Errors since the last success of this channel."
    )
    error_since = fields.Datetime(
        "Errors since", readonly=True, copy=False, help="The first error since the last success of this channel."
    )
    pending_count = fields.Integer(
        "Pending",
        compute="_compute_health",
        search="_search_pending_count",
        help="Messages waiting to be processed or sent, retries included.",
    )
    held_count = fields.Integer(
        "Held", compute="_compute_health", help="Incoming messages held until the client gives their consent."
    )
    failed_count = fields.Integer(
        "Failed",
        compute="_compute_health",
        search="_search_failed_count",
        help="Messages given up after their last attempt (retry them from the message log).",
    )
    oldest_pending_minutes = fields.Integer(
        "Oldest pending (min)",
        compute="_compute_health",
        search="_search_oldest_pending_minutes",
        help="Age in minutes of the oldest message still waiting to be processed or sent.",
    )
    oldest_pending_age = fields.Char("Oldest pending", compute="_compute_health")
    flood_since = fields.Datetime(
        "Flooded since",
        readonly=True,
        copy=False,
        help="Since when more messages arrive than the limits allow (over 1,000 waiting, or over 300 a minute): "
        "they are all kept and processed, this channel taking its share of the queue beside the others, and "
        "its new clients get their leads when they write again.",
    )

    # -- figures ---------------------------------------------------------------
    def _compute_health(self):
        """One grouped query for every channel computed at once (served by ``_health_idx``)."""
        figures = defaultdict(lambda: {"pending": 0, "held": 0, "failed": 0, "oldest": None})
        ids = [i for i in self.ids if i]
        if ids:
            # sudo: openlines.message - counts only, of channels the user already reads
            groups = (
                self.env["openlines.message"]
                .sudo()
                ._read_group(
                    Domain("channel_id", "in", ids) & Domain("state", "in", HEALTH_STATES),
                    ["channel_id", "state"],
                    ["__count", "create_date:min"],
                )
            )
            for channel, state, count, oldest in groups:
                fig = figures[channel.id]
                if state in PENDING:
                    fig["pending"] += count
                    fig["oldest"] = min(filter(None, (fig["oldest"], oldest)), default=None)
                else:
                    fig[state] += count
        now = fields.Datetime.now()
        for channel in self:
            fig = figures[channel.id]
            minutes = int((now - fig["oldest"]).total_seconds() // 60) if fig["oldest"] else None
            channel.pending_count = fig["pending"]
            channel.held_count = fig["held"]
            channel.failed_count = fig["failed"]
            channel.oldest_pending_minutes = minutes or 0
            channel.oldest_pending_age = _age_label(self.env, minutes)

    def _search_health(self, value_sql, operator, value):
        """Channels whose figure ``value_sql`` (an aggregate over their rows) compares to ``value``."""
        compare = OPERATORS.get(operator)
        if compare is None or not isinstance(value, (int, float)):
            return NotImplemented
        self.env["openlines.message"].flush_model(["channel_id", "state", "create_date"])
        rows = self.env.execute_query(
            SQL(
                "SELECT channel_id, %s FROM openlines_message WHERE state IN %s GROUP BY channel_id",
                value_sql,
                HEALTH_STATES,
            )
        )
        if compare(0, value):  # channels without such rows count 0: exclude the others
            return Domain("id", "not in", [cid for cid, figure in rows if not compare(figure, value)])
        return Domain("id", "in", [cid for cid, figure in rows if compare(figure, value)])

    def _search_pending_count(self, operator, value):
        return self._search_health(SQL("count(*) FILTER (WHERE state IN %s)", PENDING), operator, value)

    def _search_failed_count(self, operator, value):
        return self._search_health(SQL("count(*) FILTER (WHERE state = 'failed')"), operator, value)

    def _search_oldest_pending_minutes(self, operator, value):
        age = SQL(
            "coalesce(floor(extract(epoch FROM %s - min(create_date) FILTER (WHERE state IN %s)) / 60), 0)",
            fields.Datetime.now(),
            PENDING,
        )
        return self._search_health(age, operator, value)

    # -- admission ---------------------------------------------------------------
    def _flood_check(self):
        """Mark the channels whose incoming queue is over :data:`PENDING_CAP` or :data:`ADMISSION_RATE`.

        Run by the processing cron once per run (one grouped query over
        ``_inbound_fair_idx``). A channel that starts being flooded is marked
        ``flood_since`` and its administrators are told once; the mark goes
        when its incoming queue is empty again, not merely back under the limits
        (several cron workers check it while they drain the flood: a mark that
        went with the first batches would let the rest of the flood file
        leads). Nothing is dropped: the webhook stores every genuine request and
        answers at once.
        """
        recent = fields.Datetime.now() - timedelta(minutes=1)
        self.env["openlines.channel"].flush_model(["flood_since"])
        self.env["openlines.message"].flush_model(["state"])
        rows = self.env.execute_query(
            SQL(
                """SELECT c.id, c.flood_since IS NOT NULL,
                          c.flood_since IS NOT NULL AND NOT EXISTS (
                              SELECT 1 FROM openlines_message m
                               WHERE m.channel_id = c.id AND m.direction = 'in' AND m.state IN ('pending', 'retry')
                          ),
                          f.channel_id IS NOT NULL
                     FROM openlines_channel c
                     LEFT JOIN (SELECT channel_id FROM openlines_message
                                 WHERE direction = 'in' AND state IN ('pending', 'retry')
                                 GROUP BY channel_id
                                HAVING count(*) > %s OR count(*) FILTER (WHERE create_date > %s) > %s
                     ) f ON f.channel_id = c.id
                    WHERE c.flood_since IS NOT NULL OR f.channel_id IS NOT NULL""",
                PENDING_CAP,
                recent,
                ADMISSION_RATE,
            )
        )
        # sudo: openlines.channel - the queue records its own health, whoever runs the cron
        Channel = self.sudo()
        for channel in Channel.browse([cid for cid, _marked, drained, over in rows if drained and not over]):
            channel._health_write({"flood_since": False})
        for channel in Channel.browse([cid for cid, marked, _drained, over in rows if over and not marked]):
            if channel._health_write({"flood_since": fields.Datetime.now()}):
                _logger.warning("Open Lines: channel %s is flooded", channel.id)
                try:
                    with self.env.cr.savepoint():
                        channel._health_alert(
                            self.env._(
                                "more incoming messages than the limits allow (over %(cap)s waiting or "
                                "%(rate)s a minute). All are kept and processed, beside the other channels' "
                                "messages; new clients get their leads when they write again. If this is not "
                                "genuine traffic, give the channel a new webhook address.",
                                cap=PENDING_CAP,
                                rate=ADMISSION_RATE,
                            ),
                            flood=True,
                        )
                except Exception:  # noqa: BLE001 - a failed alert must not fail the queue; the mark shows it
                    _logger.exception("Open Lines: could not alert the administrators about channel %s", channel.id)

    # -- recording -------------------------------------------------------------
    def _health_lock(self):
        """Lock this channel's row, unless another worker holds it or changed it since our snapshot.

        Call inside a savepoint: a concurrent update raises ``SerializationFailure``.
        """
        self.env.cr.execute(
            SQL("SELECT id FROM openlines_channel WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", self.id),
            log_exceptions=False,
        )
        return bool(self.env.cr.fetchall())

    def _health_write(self, vals):
        """Write ``vals`` (a dict, or a function of the channel returning one) unless the row is busy.

        :return: whether the values were written
        """
        self.ensure_one()
        # sudo: openlines.channel - the queue records its own health, whoever runs the cron
        channel = self.sudo()
        try:
            with self.env.cr.savepoint():
                if not channel._health_lock():
                    return False
                channel.write(vals(channel) if callable(vals) else vals)
        except psycopg2.errors.SerializationFailure:
            _logger.debug("Open Lines: health of channel %s updated by another worker", self.id)
            return False
        return True

    def _health_touch(self, now):
        """Set the last success date, in SQL: the once-a-minute write of the hot path flushes nothing else."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint(flush=False):
                if not self._health_lock():
                    return
                self.env.cr.execute(
                    SQL("UPDATE openlines_channel SET last_success_date = %s WHERE id = %s", now, self.id)
                )
        except psycopg2.errors.SerializationFailure:
            return
        self.invalidate_recordset(["last_success_date"])

    def _health_success(self, clear=True):
        """A message of this channel was processed or sent, or a poll worked.

        Costs no query when the last success is less than a minute old and
        nothing is to clear. With ``clear``, a failing channel is connected
        again and its error streak ends (the next failure alerts again);
        processing an incoming message does not clear it (``clear=False``):
        it says nothing of the messenger's account.
        """
        for channel in self:
            now = fields.Datetime.now()
            stale = not channel.last_success_date or now - channel.last_success_date >= SUCCESS_EVERY
            dirty = clear and (channel.state == "failing" or channel.error_streak)
            if not (stale or dirty):
                continue
            if not dirty:
                channel._health_touch(now)
                continue
            vals = {"last_success_date": now, "error_streak": 0, "error_since": False}
            if channel.state == "failing":
                vals["state"] = "connected"
            channel._health_write(vals)

    def _health_failure(self, error, permanent=False):
        """Record an error of this channel; alert the administrators when the channel starts failing.

        :param permanent: the error is the account's own (token revoked...):
            the channel fails at once, not after :data:`FAILING_AFTER` errors
            over :data:`FAILING_DELAY`.
        """
        self.ensure_one()
        alert = []

        def vals(channel):
            now = fields.Datetime.now()
            since = channel.error_since or now
            streak = channel.error_streak + 1
            values = {"last_error": error, "last_error_date": now, "error_streak": streak, "error_since": since}
            failing = permanent or (streak >= FAILING_AFTER and now - since >= FAILING_DELAY)
            if failing and channel.state != "failing":
                values["state"] = "failing"
                alert.append(True)
            return values

        if self._health_write(vals) and alert:
            try:
                with self.env.cr.savepoint():
                    self._health_alert(error)
            except Exception:  # noqa: BLE001 - a failed alert must not fail the queue; the state shows it
                _logger.exception("Open Lines: could not alert the administrators about channel %s", self.id)

    def _health_alert(self, error, flood=False):
        """Tell the administrators, once per streak, that this channel is failing.

        OdooBot posts a note in the channel's chatter that notifies each
        administrator: it lands in their Discuss inbox (or by e-mail, as each
        one chose) and links to the channel; the note stays in the channel's
        history. One note per language of the administrators.
        """
        self.ensure_one()
        bot = self.env.ref("base.partner_root")
        admins = (
            self.env.ref(ADMIN)
            .sudo()  # sudo: res.groups - who administers Open Lines, to alert them
            .all_user_ids.filtered(lambda u: u.active and not u.share and u.partner_id != bot)
        )
        by_lang = defaultdict(lambda: self.env["res.partner"])
        for user in admins:
            by_lang[user.lang or self.env.lang or "en_US"] |= user.partner_id
        for lang, partners in by_lang.items():
            channel = self.sudo().with_context(lang=lang)  # sudo: openlines.channel - OdooBot posts the alert
            body = Markup("<p>%s</p><p>%s</p>") % (
                (
                    channel.env._("Channel %(name)s is flooded: %(error)s", name=channel.name, error=error)
                    if flood
                    else channel.env._("Channel %(name)s is failing: %(error)s", name=channel.name, error=error)
                ),
                (
                    channel.env._("You are told once per flood; Channel health shows what is waiting.")
                    if flood
                    else channel.env._(
                        "Its messages may not reach the clients until it is fixed: check the channel's "
                        "credentials, then press Connect. You are told once per failure; Channel health shows "
                        "what is waiting."
                    )
                ),
            )
            channel.message_post(
                body=body,
                author_id=bot.id,
                partner_ids=partners.ids,
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )
        _logger.warning(
            "Open Lines: channel %s is failing (%s); %d administrators alerted", self.id, error, len(admins)
        )

    def _health_is_account_error(self, error):
        """Is this permanent, not-blocked connector error the account's own (not the message's)?"""
        self.ensure_one()
        return error.is_permanent and not error.blocked and error.code in ACCOUNT_ERROR_CODES.get(self.channel_type, ())

    # -- actions -----------------------------------------------------------------
    def action_connect(self):
        """Connecting again ends the error streak: the next failure alerts again."""
        result = super().action_connect()
        self.filtered(lambda c: c.state == "connected" and c.error_streak).write(
            {"error_streak": 0, "error_since": False}
        )
        return result

    def action_view_health_messages(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_message_action")
        action["domain"] = [("channel_id", "=", self.id), ("state", "in", list(HEALTH_STATES))]
        action["context"] = {}
        return action


class OpenlinesMessage(models.Model):
    _inherit = "openlines.message"

    #: serves the health figures (one grouped query per list of channels): only rows still
    #: to do or given up are in it, so it stays small however long the log grows
    _health_idx = models.Index("(channel_id, state, create_date) WHERE state IN ('pending', 'retry', 'held', 'failed')")

    def _process_inbound(self):
        super()._process_inbound()
        if self.state != "failed":
            self.channel_id._health_success(clear=False)

    def _retry_later(self, error, delay=None):
        super()._retry_later(error, delay)
        if self.direction == "in":  # a processing error (sending errors: _health_on_send_error)
            self.channel_id._health_failure(error)

    def _health_on_send_error(self, error):
        """Hook of ``_on_send_error``: an error of the account fails the channel; a client's is theirs."""
        channel = self.channel_id
        if error.blocked or error.code == 429:
            return
        if error.is_permanent:
            if channel._health_is_account_error(error):
                channel._health_failure(error.message, permanent=True)
            return
        channel._health_failure(error.message)

    def _health_on_sent(self):
        """Hook of ``_send``: the message left."""
        self.channel_id._health_success()
