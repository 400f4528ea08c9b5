import logging
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..connectors.base import REGISTRY, ConnectorError
from ..tools import notify_after_commit, trigger_sql

_logger = logging.getLogger(__name__)

SEND_CRON = "openlines_connector.ir_cron_openlines_send"
#: at most one typing call per dialog in this many seconds (Telegram shows "typing…" for 5 s)
TYPING_EVERY = 5
#: a typing request older than this when the cron reaches it is dropped: the operator may have answered
TYPING_STALE = 10
#: seconds one typing or read call may take (connect and read each; the total is twice that)
SIGNAL_TIMEOUT = 3
#: rows claimed at once, and seconds one run spends on signals before the messages' turn
SIGNAL_BATCH, SIGNAL_SECONDS = 20, 15


class OpenlinesSignal(models.Model):
    """What the client should see of the operator: "typing…" and read marks (issue 16).

    One row per dialog, written by the operator's requests with a single
    statement (:meth:`_request_for_members`: no lock on the dialog, no call
    to a messenger, no ORM read) and sent by the
    sending cron before the messages. Locking: the cron claims due rows
    ``FOR UPDATE SKIP LOCKED``, clears them and commits *before* calling the
    messenger, so an operator's request never waits for a messenger; a
    signal is sent at most once (a failed one is not retried: it is only a
    courtesy, and the next one follows soon).
    """

    _name = "openlines.signal"
    _description = "Open Lines typing and read marks"

    dialog_id = fields.Many2one("openlines.dialog", required=True, ondelete="cascade", readonly=True)
    typing_due = fields.Boolean(readonly=True)
    typing_at = fields.Datetime("Typing since", readonly=True)
    typing_sent_at = fields.Datetime("Typing sent", readonly=True)
    read_upto = fields.Integer("Seen up to (Discuss message)", readonly=True)
    read_done = fields.Integer("Marked read up to (Discuss message)", readonly=True)
    last_error = fields.Char(readonly=True)
    _dialog_uniq = models.UniqueIndex("(dialog_id)")
    _due_idx = models.Index("(id) WHERE typing_due OR read_upto > read_done")

    # -- requests (the operator's HTTP request: one statement, no messenger) -------------------
    @api.model
    def _request_for_members(self, members, typing=False, read=False):
        """Ask the cron to show "typing…" and/or mark the client's messages read, for ``members``.

        ``members``: ``discuss.channel.member`` rows of the operator's request (Discuss's typing or
        mark-as-read route); ``read``: up to each member's ``seen_message_id``. One statement does
        it all, on the operator's path: it finds each member's messenger dialog (an open dialog's
        livechat session, the member an internal user who is not the client), keeps what that
        dialog's messenger can show (:attr:`~..connectors.base.Connector.typing_marks`,
        ``read_marks``), upserts the dialog's row and, when a row changed, adds the sending cron's
        trigger. Return whether a row changed.
        """
        asked = [(m.id, (m.seen_message_id.id or 0) if read else 0) for m in members]
        if not asked or not (typing or any(upto for _m, upto in asked)):
            return False
        now = fields.Datetime.now()
        rows = self.env.execute_query(
            SQL(
                """WITH asked (member_id, upto) AS (VALUES %(asked)s),
                   wanted AS (
                       SELECT DISTINCT ON (d.id) d.id AS dialog_id,
                              %(typing)s AND oc.channel_type = ANY(%(typing_types)s) AS typing,
                              CASE WHEN oc.channel_type = ANY(%(read_types)s) THEN a.upto ELSE 0 END AS upto
                         FROM asked a
                         JOIN discuss_channel_member m ON m.id = a.member_id
                         JOIN discuss_channel c ON c.id = m.channel_id AND c.channel_type = 'livechat'
                         JOIN openlines_dialog d ON d.id = c.openlines_dialog_id AND d.state != 'closed'
                         JOIN openlines_channel oc ON oc.id = d.channel_id
                        WHERE m.partner_id IS DISTINCT FROM d.partner_id
                          AND EXISTS (SELECT 1 FROM res_users u
                                       WHERE u.partner_id = m.partner_id AND u.active AND NOT u.share)
                     ORDER BY d.id, a.upto DESC),
                   up AS (
                       INSERT INTO openlines_signal AS s (dialog_id, typing_due, typing_at, read_upto, read_done,
                                                          create_uid, create_date, write_uid, write_date)
                       SELECT dialog_id, typing, CASE WHEN typing THEN %(now)s::timestamp END, upto, 0,
                              %(uid)s, %(now)s, %(uid)s, %(now)s
                         FROM wanted WHERE typing OR upto > 0
                       ON CONFLICT (dialog_id) DO UPDATE
                          SET typing_due = s.typing_due OR (EXCLUDED.typing_due AND %(may_type)s),
                              typing_at = CASE WHEN EXCLUDED.typing_due AND NOT s.typing_due AND %(may_type)s
                                               THEN EXCLUDED.typing_at ELSE s.typing_at END,
                              read_upto = GREATEST(s.read_upto, EXCLUDED.read_upto),
                              write_date = EXCLUDED.write_date
                        WHERE (EXCLUDED.typing_due AND NOT s.typing_due AND %(may_type)s)
                           OR EXCLUDED.read_upto > GREATEST(s.read_upto, s.read_done)
                    RETURNING s.id)
                INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
                %(trigger)s WHERE EXISTS (SELECT 1 FROM up)
                RETURNING id""",
                asked=SQL(", ").join(SQL("(%s, %s)", member_id, upto) for member_id, upto in asked),
                typing=bool(typing),
                typing_types=SQL("%s::varchar[]", [t for t, cls in REGISTRY.items() if cls.typing_marks]),
                read_types=SQL("%s::varchar[]", [t for t, cls in REGISTRY.items() if cls.read_marks]),
                now=now,
                uid=self.env.uid,
                may_type=SQL(
                    "(s.typing_sent_at IS NULL OR s.typing_sent_at <= %s)", now - timedelta(seconds=TYPING_EVERY)
                ),
                trigger=trigger_sql(self.env, SEND_CRON),
            )
        )
        if rows:
            notify_after_commit(self.env)
        return bool(rows)

    # -- the cron ----------------------------------------------------------------------------
    @api.model
    def _send_due(self):
        """Send the due signals (called by the sending cron before the messages); at most :data:`SIGNAL_SECONDS`."""
        ends = time.monotonic() + SIGNAL_SECONDS
        down = set()  # channels that did not answer in this run: their other marks are skipped, not waited for
        while time.monotonic() < ends:
            claimed = self._claim_due()
            if not claimed:
                return
            self.env["ir.cron"]._commit_progress(0)  # cleared before any call: no request waits for a messenger
            for dialog_id, typing, typing_at, read_done, read_upto in claimed:
                if time.monotonic() >= ends:
                    break  # a courtesy skipped rather than the messages held up
                try:
                    dialog = self.env["openlines.dialog"].browse(dialog_id)
                    self._send_one(dialog, typing and typing_at, read_done, read_upto, down)
                except Exception:  # noqa: BLE001 - a bad signal never stops the messages
                    _logger.exception("Open Lines: the typing/read mark of dialog %s failed", dialog_id)
                self.env["ir.cron"]._commit_progress(0)

    def _claim_due(self):
        now = fields.Datetime.now()
        return self.env.execute_query(
            SQL(
                """WITH due AS (SELECT id, typing_due, typing_at, read_done, read_upto FROM openlines_signal
                                 WHERE typing_due OR read_upto > read_done
                                 ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
                   UPDATE openlines_signal s
                      SET typing_due = FALSE, read_done = GREATEST(s.read_done, due.read_upto), write_date = %(now)s,
                          typing_sent_at = CASE WHEN due.typing_due THEN %(now)s ELSE s.typing_sent_at END
                     FROM due WHERE s.id = due.id
                RETURNING s.dialog_id, due.typing_due, due.typing_at, due.read_done, due.read_upto""",
                limit=SIGNAL_BATCH,
                now=now,
            )
        )

    def _send_one(self, dialog, typing_at, read_done, read_upto, down=None):
        """Call the messenger for one dialog: typing (unless stale) and the read mark.

        ``down``: ids of channels that did not answer in this run (unreachable or slow); a mark of
        theirs is skipped, and this channel joins them when it does not answer.
        """
        down = set() if down is None else down
        dialog = dialog.sudo()  # sudo: openlines.dialog - the cron sends the operator's marks of any dialog
        contact = dialog.contact_id
        if (
            not dialog.exists()
            or not dialog.channel_id
            or not contact
            or contact.is_blocked
            or dialog.state == "closed"
            or dialog.channel_id.id in down
        ):
            return
        connector = dialog.channel_id._get_connector()
        connector.timeout = SIGNAL_TIMEOUT
        fresh = typing_at and typing_at >= fields.Datetime.now() - timedelta(seconds=TYPING_STALE)
        try:
            if read_upto > read_done:
                last = self._last_client_row(dialog, read_done, read_upto)
                if last:
                    connector.mark_read(contact.external_id, last.remote_message_id)
            if fresh:
                last = self._last_client_row(dialog, 0, 0)
                connector.send_typing(contact.external_id, True, last.remote_message_id or "")
        except ConnectorError as exc:
            _logger.info(
                "Open Lines: %s refused a typing/read mark of dialog %s: %s",
                dialog.channel_id.channel_type,
                dialog.id,
                exc.message,
            )
            self.search([("dialog_id", "=", dialog.id)]).last_error = exc.message[:500]
            if not exc.is_permanent:  # unreachable, timed out, rate-limited: spare the rest of the run
                down.add(dialog.channel_id.id)

    def _last_client_row(self, dialog, after, upto):
        """The client's last message received in ``dialog`` (its Discuss message in ``(after, upto]`` when given)."""
        rows = self.env.execute_query(
            SQL(
                """SELECT id FROM openlines_message
                    WHERE dialog_id = %s AND direction = 'in' AND remote_message_id IS NOT NULL
                      AND mail_message_id IS NOT NULL %s
                 ORDER BY id DESC LIMIT 1""",
                dialog.id,
                SQL("AND mail_message_id > %s AND mail_message_id <= %s", after, upto) if upto else SQL(),
            )
        )
        return self.env["openlines.message"].sudo().browse([r[0] for r in rows])
