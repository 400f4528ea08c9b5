import contextlib
import json
import logging
import select
import threading
import time
from datetime import timedelta

import psycopg2.errors

from odoo import SUPERUSER_ID, api, fields, models
from odoo.fields import Domain
from odoo.modules import module as odoo_module
from odoo.tools import SQL, html2plaintext, plaintext2html

from ..connectors.base import ConnectorError, OutboundMessage
from ..tools import PREFETCH_KEY, wake_cron

_logger = logging.getLogger(__name__)

#: rows claimed by one cron batch
BATCH = 50
#: attempts before a message is given up
MAX_ATTEMPTS = 12
#: the processing cron's helpers: Odoo runs one cron job in one worker at a time, so that other cron
#: workers (of this server or others) join in on other conversations, a batch that finds a backlog wakes these
INBOUND_HELPERS = ("openlines_connector.ir_cron_openlines_process_2", "openlines_connector.ir_cron_openlines_process_3")
#: the processing cron's main job: run by an Odoo cron worker, it stays on for new messages (:class:`_Resident`)
INBOUND_MAIN = "openlines_connector.ir_cron_openlines_process"
#: the database notification of a new incoming message (``openlines.channel._ingest``), heard by the main job
INBOUND_CHANNEL = "openlines_inbound"
#: while it waits, the main job claims again at least this often (retries that came due, a missed notification)
RESIDENT_POLL = 1.0
#: ... and ends its run when another cron job has been due this long without a worker to run it
OTHERS_WAIT = 1
#: a helper job stays on while there is work, and ends its run after this many seconds without any
HELPER_IDLE = 1.0
#: fewer due rows than :data:`BATCH` (no backlog): a worker claims at most this many, so that the other
#: workers take the other conversations at once and each batch is soon committed (latency); with a backlog,
#: full batches (throughput)
SMALL_CLAIM = 12
#: ``cr.cache`` key of the due rows the last claim saw (claimed or not): more than it claimed wakes the helpers
DUE_KEY = "openlines_due_seen"
#: a channel whose messenger does not answer holds its other outgoing messages at most this long at a time
CHANNEL_PAUSE_MAX = 300
#: a batch at work for this many seconds is slow: the helpers are woken for the other conversations
BUSY_AFTER = 2
#: the error of a batch that met a concurrent update (REPEATABLE READ): given back whole, taken again
CONFLICT = "concurrent update"
#: advisory lock class of the inbound conversations ("olin"); the second key is the conversation's hash
INBOUND_LOCK = 0x6F6C696E
#: an inbound batch starts no new row after this many seconds (the rest is released, untouched)
BATCH_SECONDS = 10
#: ... and a batch smaller than :data:`BATCH` (no backlog) after this many: what it did is committed, hence
#: visible in Discuss, and the rest is claimed again with the rows that arrived meanwhile (latency under
#: moderate load; with a backlog, full batches keep the throughput)
SMALL_BATCH_SECONDS = 0.25
#: ... nor after its messages downloaded this many bytes (kept in memory until the batch commits)
BATCH_BYTES = 100 * 1024 * 1024
#: ``cr.cache`` key of the bytes the current batch downloaded (``_download_files`` adds to it)
BATCH_BYTES_KEY = "openlines_batch_bytes"


def _backoff(attempts):
    """Seconds to wait before attempt number ``attempts + 1``: 10 s, 20 s, 40 s... up to an hour."""
    return min(10 * 2 ** max(attempts - 1, 0), 3600)


class _Resident:
    """The processing cron's main job staying on for new messages, within its cron run (issue 17).

    Each run of an Odoo cron job costs its worker a wake-up, the job's lock and a progress row; a job that
    ended whenever the queue was momentarily empty ran again for nearly every message of a steady flow
    (at 50 messages a second, ten runs a second, most of them finding the rows in another worker's
    batch), and the work waited behind that churn. The main job, run by a cron worker, instead listens
    for :data:`INBOUND_CHANNEL` (notified by the webhook's own statement when it stores a message) and
    claims again as soon as one arrives, until Odoo's time for one run ends (``cron_end_time``, 10 s), or
    another cron job has been due :data:`OTHERS_WAIT` seconds (a server with a single cron worker still
    sends, routes and polls). A helper job stays the same way while there is work, and ends after
    :data:`HELPER_IDLE` seconds without any. Waiting holds no lock and no snapshot; the webhook's cron
    trigger stays, so a message that arrives as the run ends starts the next run. The tests and a direct
    call (not a cron run) do not stay.
    """

    def __init__(self, env, ends, mine, helper):
        self.env, self.ends, self.cnx, self.mine, self.helper = env, ends, env.cr._cnx, mine, helper
        self.checked = 0.0
        self.busy = time.monotonic()

    @classmethod
    def start(cls, env):
        """A :class:`_Resident` when this is one of the processing cron's jobs run by a cron worker, else None."""
        ends = env.context.get("cron_end_time")
        if odoo_module.current_test or not ends:
            return None
        mine = [env["ir.model.data"]._xmlid_to_res_id(xmlid) for xmlid in (INBOUND_MAIN, *INBOUND_HELPERS)]
        if env.context.get("cron_id") not in mine:
            return None
        env.cr.execute(SQL("LISTEN %s", SQL.identifier(INBOUND_CHANNEL)))
        env["ir.cron"]._commit_progress(0)  # LISTEN takes effect at the commit
        return cls(env, ends, mine, helper=env.context["cron_id"] != mine[0])

    def heard(self):
        """Forget the notifications received so far: the pass that starts now claims their messages."""
        self.cnx.notifies.clear()

    def wait(self, handled, more=False):
        """Wait for a new message (or :data:`RESIDENT_POLL`) after a pass that handled ``handled`` rows, not
        at all when it left ``more`` to do (queued leads); False when the run is to end."""
        now = time.monotonic()
        if handled or more:
            self.busy = now
        left = self.ends - now
        if self.helper:
            left = min(left, self.busy + HELPER_IDLE - now)
        if left <= 0 or self._others_waiting():
            return False
        # after the last read: the next claim reads a fresh snapshot, and nothing is held while waiting
        self.env["ir.cron"]._commit_progress(0)
        if not self.cnx.notifies and not more:
            select.select([self.cnx], [], [], min(left, RESIDENT_POLL))
            self.cnx.poll()
        return True

    def _others_waiting(self):
        """Has another cron job been due :data:`OTHERS_WAIT` seconds without being started (read at most twice
        a second)?

        A job is due from its ``nextcall`` or its oldest trigger; one that a worker started since then has a
        progress row of that run (Odoo commits it as the run starts, while the job's own schedule is updated
        only when it ends).
        """
        if time.monotonic() - self.checked < 0.5:
            return False
        self.checked = time.monotonic()
        before = fields.Datetime.now() - timedelta(seconds=OTHERS_WAIT)
        rows = self.env.execute_query(
            SQL(
                """SELECT 1 FROM ir_cron c
                    CROSS JOIN LATERAL (SELECT least(c.nextcall, (SELECT min(t.call_at) FROM ir_cron_trigger t
                                                                   WHERE t.cron_id = c.id)) AS due) d
                    WHERE c.active AND c.id <> ALL(%(mine)s) AND d.due <= %(before)s
                      AND coalesce((SELECT p.create_date FROM ir_cron_progress p WHERE p.cron_id = c.id
                                     ORDER BY p.id DESC LIMIT 1) < d.due, TRUE)
                    LIMIT 1""",
                mine=self.mine,
                before=before,
            )
        )
        return bool(rows)

    def stop(self):
        with contextlib.suppress(Exception):
            self.env.cr.execute(SQL("UNLISTEN %s", SQL.identifier(INBOUND_CHANNEL)))
            self.cnx.notifies.clear()


class OpenlinesMessage(models.Model):
    """The durable log of what crossed the boundary with a messenger.

    Locking: the processing and sending crons claim rows with
    ``FOR UPDATE SKIP LOCKED``, so several cron workers (or servers) can drain
    the same table without handling a row twice. Inbound rows are unique per
    (channel, direction, external id): a redelivered webhook inserts nothing.
    Inbound rows are processed in parallel by conversation
    (:meth:`_claim_conversations`), in order within one.
    """

    _name = "openlines.message"
    _description = "Open Lines message log"
    _order = "id desc"
    _rec_name = "external_id"

    channel_id = fields.Many2one("openlines.channel", required=True, ondelete="cascade", index=True)
    direction = fields.Selection([("in", "Incoming"), ("out", "Outgoing")], required=True)
    external_id = fields.Char(
        "External ID", help="The messenger's id: the update id of an incoming request, the message id of a sent one."
    )
    remote_message_id = fields.Char("Messenger message ID", index="btree_not_null")
    dialog_id = fields.Many2one("openlines.dialog", index="btree_not_null", ondelete="set null")
    mail_message_id = fields.Many2one(
        "mail.message", string="Discuss message", index="btree_not_null", ondelete="set null"
    )
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("retry", "To retry"),
            ("held", "Held until consent"),
            ("done", "Done"),
            ("ignored", "Ignored"),
            ("failed", "Failed"),
        ],
        default="pending",
        required=True,
    )
    attempts = fields.Integer(default=0)
    next_attempt_dt = fields.Datetime("Next attempt", default=fields.Datetime.now)
    last_error = fields.Text()
    payload = fields.Text(help="The raw request, kept until it is processed.")
    buttons = fields.Json(help="Buttons sent with an outgoing message: a list of [label, data].")
    conversation = fields.Char(
        readonly=True,
        help="The chat of an incoming message, read at its arrival: messages of different conversations are "
        "processed in parallel, those of one conversation one at a time, in order.",
    )
    _ext_uniq = models.UniqueIndex("(channel_id, direction, external_id)")
    _due_idx = models.Index("(direction, next_attempt_dt) WHERE state IN ('pending', 'retry')")
    _attempts_check = models.Constraint("CHECK(attempts >= 0)", "Attempts cannot be negative.")
    #: serves the conversation claim: the rows being processed (or left by a killed worker), by conversation
    _in_flight_idx = models.Index(
        "(channel_id, conversation, id) WHERE direction = 'in' AND state IN ('pending', 'retry') "
        "AND attempt_started IS NOT NULL"
    )

    # -- claiming ------------------------------------------------------------
    def _claim(self, direction, limit=BATCH, served=()):
        """Lock and return due rows of ``direction``, skipping rows locked by another worker.

        Outbound rows are claimed only at the head of their dialog, so that
        messages of one dialog leave in order, and the channels not in
        ``served`` first (the sending cron serves the channels in turn: a slow
        or busy messenger does not hold the others). Inbound rows are claimed
        fairly across channels (:meth:`_claim_inbound`).
        """
        if direction == "in":
            return self._claim_inbound(limit)
        head_only = (
            SQL(
                """AND NOT EXISTS (SELECT 1 FROM openlines_message p
                                WHERE p.dialog_id = m.dialog_id AND p.direction = 'out'
                                  AND p.state IN ('pending', 'retry') AND p.id < m.id)"""
            )
            if direction == "out"
            else SQL()
        )
        rows = self.env.execute_query(
            SQL(
                """SELECT m.id FROM openlines_message m
                WHERE m.direction = %s AND m.state IN ('pending', 'retry')
                  AND m.next_attempt_dt <= %s %s
                ORDER BY m.channel_id = ANY(%s), m.id LIMIT %s FOR UPDATE SKIP LOCKED""",
                direction,
                fields.Datetime.now(),
                head_only,
                list(served),
                limit,
            )
        )
        return self.browse([r[0] for r in rows])

    def _claim_conversations(self, limit=BATCH):
        """Lock and return up to ``limit`` due inbound rows of conversations no other worker has.

        The unit of parallelism is the conversation (channel + chat, stored at
        ingest): several cron workers, in one server or in several on one
        database, take different conversations; one conversation's rows are
        handled by one worker at a time, in id order, so its contact and
        dialog are created once and its messages stay in order.

        Conversations are chosen fairly across channels (each channel's oldest
        due rows, turn by turn, as :meth:`_claim_inbound`), skipping those
        another worker holds; each is taken with a transaction advisory lock
        (:data:`INBOUND_LOCK` and the hash of the key). Their due rows are
        claimed ``FOR UPDATE SKIP LOCKED``, never a row behind an earlier row
        of its conversation that is being processed: :meth:`_start_attempts`
        marks the claimed rows (``attempt_started``, a lease) and the cron
        commits that before the work, which releases the advisory lock; from
        then on the mark keeps the conversation's later rows from the other
        workers until the batch commits its work (for a killed worker, until
        the lease ends and the marked rows are handled again, first).
        """
        now = fields.Datetime.now()
        in_flight = SQL(
            """NOT EXISTS (SELECT 1 FROM openlines_message p
                            WHERE p.channel_id = q.channel_id AND p.conversation = q.conversation
                              AND p.direction = 'in' AND p.state IN ('pending', 'retry')
                              AND p.attempt_started IS NOT NULL AND p.id < q.id)"""
        )
        keys = self.env.execute_query(
            SQL(
                """WITH held AS MATERIALIZED (
                        SELECT objid::bigint AS h FROM pg_locks
                         WHERE locktype = 'advisory' AND classid = %(cls)s::bigint::oid AND objsubid = 2
                           AND pid <> pg_backend_pid()
                   ), due AS (
                        SELECT d.id, d.channel_id, d.conv,
                               row_number() OVER (PARTITION BY d.channel_id ORDER BY d.id) AS turn,
                               count(*) OVER (PARTITION BY d.channel_id) AS backlog
                          FROM openlines_channel c
                         CROSS JOIN LATERAL (
                             SELECT q.id, q.channel_id, coalesce(q.conversation, '') AS conv
                               FROM openlines_message q
                              WHERE q.channel_id = c.id AND q.direction = 'in'
                                AND q.state IN ('pending', 'retry') AND q.next_attempt_dt <= %(now)s
                                AND %(in_flight)s
                              ORDER BY q.id LIMIT %(limit)s) d
                   ), conv AS (
                        SELECT channel_id, conv, min(turn) AS turn, min(backlog) AS backlog, min(id) AS first_id,
                               count(*) AS n, hashtext(channel_id || ':' || conv) AS h
                          FROM due GROUP BY channel_id, conv
                   ), ranked AS MATERIALIZED (
                        SELECT *, sum(n) OVER (ORDER BY turn, backlog, first_id) - n AS before,
                               sum(n) OVER () AS total FROM conv
                         WHERE (h::bigint & 4294967295) NOT IN (SELECT h FROM held)
                   )
                   SELECT channel_id, conv, total FROM ranked
                    WHERE before < CASE WHEN total >= %(limit)s THEN %(limit)s ELSE %(small)s END
                      AND pg_try_advisory_xact_lock(%(cls)s, h)
                    ORDER BY turn, backlog, first_id""",
                cls=INBOUND_LOCK,
                now=now,
                in_flight=in_flight,
                limit=limit,
                small=min(limit, SMALL_CLAIM),
            )
        )
        self.env.cr.cache[DUE_KEY] = keys[0][2] if keys else 0
        if not keys:
            return self.browse()
        rows = self.env.execute_query(
            SQL(
                """SELECT q.id, q.channel_id FROM openlines_message q
                    WHERE q.direction = 'in' AND q.state IN ('pending', 'retry') AND q.next_attempt_dt <= %(now)s
                      AND (q.channel_id, coalesce(q.conversation, '')) IN (
                          SELECT * FROM unnest(%(channels)s::int[], %(convs)s::varchar[]))
                      AND %(in_flight)s
                    ORDER BY q.id LIMIT %(limit)s
                      FOR UPDATE OF q SKIP LOCKED""",
                now=now,
                channels=[k[0] for k in keys],
                convs=[k[1] for k in keys],
                in_flight=in_flight,
                limit=limit,
            )
        )
        # handled turn by turn across channels, the channel with the fewest rows first (as _claim_inbound)
        turns, backlog = {}, {}
        for _id, channel_id in rows:
            backlog[channel_id] = backlog.get(channel_id, 0) + 1
        order = []
        for row_id, channel_id in rows:
            turns[channel_id] = turns.get(channel_id, 0) + 1
            order.append((turns[channel_id], backlog[channel_id], row_id))
        return self.browse([row_id for _turn, _backlog, row_id in sorted(order)])

    def _schedule_next(self, cron_xmlid, direction):
        """Wake the cron at the earliest next attempt still waiting."""
        rows = self.env.execute_query(
            SQL(
                """SELECT min(next_attempt_dt) FROM openlines_message
                    WHERE direction = %s AND state IN ('pending', 'retry')""",
                direction,
            )
        )
        if rows and rows[0][0]:
            self.env.ref(cron_xmlid)._trigger(max(rows[0][0], fields.Datetime.now()))

    def _run_queue(self, direction, cron_xmlid, handler, commit_each=False):  # noqa: C901 - claim, run, give back: one loop, kept whole on purpose
        """Drain the queue of ``direction``: claim a batch, handle it, commit.

        Outbound (``commit_each``): rows are claimed and committed one at a
        time; a message the messenger accepted must never be sent again, and a
        commit releases the locks of a whole batch, which another worker could
        then claim and send again.

        Inbound: in parallel by conversation (:meth:`_claim_conversations`):
        several workers take different conversations, one conversation's rows
        are handled by one worker at a time, in order. A batch is handled in one
        savepoint, its reads prefetched and its writes flushed together; if a
        row fails, the batch is rolled back and handled again row by row, each
        row committed alone, so that the bad row records its error without
        undoing (or silencing the Discuss notifications of) the others. The
        batch is claimed fairly across channels and its attempts are counted
        and committed before any work (``openlines_message_queue.py``); it
        starts no row after :data:`BATCH_SECONDS` or :data:`BATCH_BYTES` downloaded
        (the rest is given back).
        """
        Cron = self.env["ir.cron"]
        inbound, helped, conflicts, served, handled = direction == "in", False, 0, [], 0
        while True:
            try:
                with self.env.cr.savepoint(flush=False):
                    if inbound:
                        batch = self._claim_conversations(BATCH)
                    else:
                        batch = self._claim(direction, limit=1 if commit_each else BATCH, served=served)
            except psycopg2.errors.SerializationFailure:
                # a due row changed since this transaction's snapshot (repeatable read), taken by the work
                # before this claim: claim again from a fresh snapshot, a few times (another worker drains on)
                conflicts += 1
                if conflicts > 3:
                    break
                Cron._commit_progress(0)
                continue
            if not batch:
                break
            if not inbound:  # the channels in turn; when only served ones are left, a new round
                channels = batch.channel_id.ids
                served = channels if set(channels) <= set(served) else served + channels
            failed = None
            if inbound:
                if not helped and self.env.cr.cache.get(DUE_KEY, 0) > len(batch):
                    # due rows of other conversations are left: the helpers take them at once
                    helped = self._wake_helpers()
                batch = batch._start_attempts()
                # the attempts are on record before any download or post; the mark (attempt_started) keeps
                # the conversations' later rows from the other workers until this batch commits its work
                Cron._commit_progress(0)
                if not batch:
                    continue
                batch = batch._relock_all()
                # a batch smaller than BATCH (no backlog) commits after SMALL_BATCH_SECONDS: sooner in Discuss
                seconds = BATCH_SECONDS if len(batch) >= BATCH else SMALL_BATCH_SECONDS
                with self._helpers_if_slow():
                    failed, left = self._handle_whole_batch(batch, handler, seconds)
                if failed and failed[1] == CONFLICT and conflicts < 3:
                    conflicts += 1  # another transaction wrote a row this batch writes: all again, in order
                    failed, left = None, batch
                if not failed:
                    left._release()
                    handled += len(batch - left)
                    if not Cron._commit_progress(len(batch - left)):
                        break
                    continue
            ends = time.monotonic() + BATCH_SECONDS
            self.env.cr.cache[BATCH_BYTES_KEY] = 0
            for index, row in enumerate(batch):
                if index:  # inbound after a failure: the last commit released the row locks, take them again
                    if not row._relock():
                        continue
                if inbound and self._batch_spent(ends):
                    batch[index:]._release()
                    Cron._commit_progress(0)
                    break
                if failed and row == failed[0]:  # tried once already: no second call to the messenger
                    row._retry_later(failed[1])
                else:
                    try:
                        with self.env.cr.savepoint():
                            handler(row)
                    except Exception as e:  # noqa: BLE001 - a bad row records its error, never fails the batch
                        _logger.exception("Open Lines: message %s failed", row.id)
                        row._retry_later(str(e) or e.__class__.__name__)
                handled += 1
                Cron._commit_progress(1)
            if not Cron._commit_progress(0):
                break
        self._schedule_next(cron_xmlid, direction)
        return handled

    @api.model
    def _busy_sql(self):
        """``SELECT`` that finds a row when some worker has been on an inbound batch for :data:`BUSY_AFTER`
        seconds (a slow download, a long batch).

        A new message then also wakes the helpers (``openlines.channel._ingest``): the other
        conversations must not wait for that batch (issue 19). A batch that ends sooner wakes nobody
        else: waking the helpers for every message of a steady flow only made the workers compete for
        two cores. Read through the in-flight index.
        """
        return SQL(
            """SELECT 1 FROM openlines_message b
                WHERE b.direction = 'in' AND b.state IN ('pending', 'retry') AND b.attempt_started IS NOT NULL
                  AND b.attempt_started < %s""",
            fields.Datetime.now() - timedelta(seconds=BUSY_AFTER),
        )

    @contextlib.contextmanager
    def _helpers_if_slow(self):
        """Wake the helpers (from a transaction of their own) if the batch run inside takes over
        :data:`BUSY_AFTER` seconds: messages that arrived meanwhile do not wait for it."""
        registry = self.env.registry
        if odoo_module.current_test:  # a test's cursor (every new cursor is it) is not for another thread
            yield
            return

        def wake():
            try:
                with registry.cursor() as cr:
                    api.Environment(cr, SUPERUSER_ID, {})["openlines.message"]._wake_helpers()
            except Exception:  # noqa: BLE001 - only a courtesy to the other conversations
                _logger.warning("Open Lines: could not wake the processing helpers", exc_info=True)

        timer = threading.Timer(BUSY_AFTER, wake)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _wake_helpers(self):
        """Wake the processing cron's helper jobs (:data:`INBOUND_HELPERS`): other cron workers join in."""
        wake_cron(self.env, *INBOUND_HELPERS)
        return True

    def _handle_whole_batch(self, batch, handler, seconds=BATCH_SECONDS):
        """Handle ``batch`` in one savepoint, starting no row after ``seconds``.

        :return: ``(failed, left)``: on a failure nothing is written and
            ``failed`` is ``(row, error)``; ``left`` are the rows not started.
        """
        row, ends, left = None, time.monotonic() + seconds, self.browse()
        self.env.cr.cache[BATCH_BYTES_KEY] = 0
        try:
            with self.env.cr.savepoint():
                batch._prefetch_inbound()
                opened = batch._open_new_dialogs()
                late = self.browse()
                for index, row in enumerate(batch):
                    if index and self._batch_spent(ends):
                        late, left = batch[index:] & opened, batch[index:] - opened
                        break
                    handler(row)
                # a row whose dialog was opened above is handled whatever the time (cheap: a text to post;
                # the first of its conversation): the operator never sees a dialog without the client's message
                for row in late:
                    handler(row)
        except psycopg2.errors.SerializationFailure:
            _logger.info("Open Lines: a batch met a concurrent update; it is given back and taken again")
            return (row, CONFLICT), self.browse()
        except Exception as e:  # noqa: BLE001 - the batch is redone row by row, the error is recorded
            _logger.exception(
                "Open Lines: message %s failed; the other messages of its batch are redone", row.id if row else None
            )
            return (row, str(e) or e.__class__.__name__), self.browse()
        finally:
            self.env.cr.cache.pop(PREFETCH_KEY, None)
        return None, left

    def _batch_spent(self, ends):
        """Has the current inbound batch used its time or its download bytes?"""
        return time.monotonic() > ends or self.env.cr.cache.get(BATCH_BYTES_KEY, 0) > BATCH_BYTES

    def _relock(self):
        """Lock this row again after a commit released it; False if another worker holds or handled it."""
        self.ensure_one()
        rows = self.env.execute_query(
            SQL(
                """SELECT id FROM openlines_message
                    WHERE id = %s AND state IN ('pending', 'retry') FOR UPDATE SKIP LOCKED""",
                self.id,
            )
        )
        self.invalidate_recordset()
        return bool(rows)

    def _retry_later(self, error, delay=None):
        """Schedule the next attempt, or give up after :data:`MAX_ATTEMPTS`.

        An inbound row's attempt was counted when it started (``attempt_started``).
        """
        self.ensure_one()
        attempts = self.attempts if self.attempt_started else self.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self.write({"state": "failed", "attempts": attempts, "last_error": error, "attempt_started": False})
            if self.direction == "in":
                self._give_up(self.env._("Given up after %(count)s attempts: %(error)s", count=attempts, error=error))
            return
        self.write(
            {
                "state": "retry",
                "attempts": attempts,
                "last_error": error,
                "attempt_started": False,
                "next_attempt_dt": fields.Datetime.now() + timedelta(seconds=delay or _backoff(attempts)),
            }
        )

    # -- inbound -------------------------------------------------------------
    @api.model
    def _cron_process_inbound(self):
        from .openlines_dialog_crm import LEAD_BATCH  # noqa: PLC0415 - model modules load in __init__'s order

        resident = _Resident.start(self.env)
        try:
            while True:
                if resident:
                    resident.heard()  # what arrives from now on is claimed after this pass
                self.env["openlines.channel"]._flood_check()
                handled = self._run_queue("in", INBOUND_MAIN, self.__class__._process_inbound)
                # the new dialogs' leads, out of the clients' path: once the messages are in Discuss (a job that
                # stays files a few between its claims)
                leads = self.env["openlines.dialog"]._file_queued_leads(limit=resident and LEAD_BATCH)
                if not resident or not resident.wait(handled, more=leads):
                    break
        finally:
            if resident:
                resident.stop()

    def _process_inbound(self):
        """Turn one stored request into contacts, dialogs and Discuss messages."""
        self.ensure_one()
        connector = self.channel_id._get_connector()
        hint = self.env.cr.cache.get(PREFETCH_KEY)
        events = hint and hint["events"].pop(self.id, None)  # parsed already by the batch's prefetch
        if events is None:
            try:
                events = connector.parse(json.loads(self.payload or "{}"))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                self.write({"state": "failed", "last_error": f"Unreadable payload: {e}", "attempt_started": False})
                return
        notes = []
        for event in events:
            note = getattr(self, f"_on_{event.kind}", self.__class__._on_ignore)(connector, event)
            if note:
                notes.append(note)
        if notes:
            _logger.info(
                "Open Lines: update %s of channel %s: %s", self.external_id, self.channel_id.id, "; ".join(notes)
            )
        if self.state == "held":  # waits for the client's consent, payload and all
            if self.attempt_started:
                self.attempt_started = False
            return
        self.write(
            {
                "attempt_started": False,
                "state": "ignored" if notes and not self.mail_message_id and not self.dialog_id else "done",
                "last_error": "; ".join(notes) or False,
                "payload": self.payload if notes else False,
            }
        )

    def _prefetch_inbound(self):
        """Look up the contacts and last dialogs of a batch's chats at once.

        A few queries for the whole batch instead of a few per row: the result
        is kept in ``cr.cache[PREFETCH_KEY]``, which ``openlines.contact`` and
        ``openlines.dialog`` read first and keep up to date when they create
        or reopen something; rows about chats it does not know search as usual.
        The parsed events are kept there too: each row takes its own.
        """
        chats, parsed = {}, {}
        for row in self:
            try:
                parsed[row.id] = events = row.channel_id._get_connector().parse(json.loads(row.payload or "{}"))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # the row parses again, and records why
            chats.setdefault(row.channel_id.id, set()).update(str(e.chat_id) for e in events if e.chat_id)
        # "absent": the chats searched (a new client's contact is not searched again) and the contacts known
        # to have no dialog (a contact created in the batch, or one without dialogs, has no dialog searched)
        searched = {(channel_id, chat) for channel_id, ids in chats.items() for chat in ids}
        hint = {"contacts": {}, "dialogs": {}, "events": parsed, "searched": searched, "no_dialog": set()}
        if chats:
            contacts = self.env["openlines.contact"].search_fetch(
                Domain.OR(
                    Domain("channel_id", "=", channel_id) & Domain("external_id", "in", list(ids))
                    for channel_id, ids in chats.items()
                ),
                None,
            )
            hint["contacts"] = {(c.channel_id.id, c.external_id): c.id for c in contacts}
            if contacts:
                hint["dialogs"] = dict(
                    self.env.execute_query(
                        SQL(
                            """SELECT DISTINCT ON (contact_id) contact_id, id FROM openlines_dialog
                                WHERE contact_id IN %s ORDER BY contact_id, id DESC""",
                            tuple(contacts.ids),
                        )
                    )
                )
                hint["no_dialog"] = set(contacts.ids) - hint["dialogs"].keys()
                dialogs = self.env["openlines.dialog"].browse(hint["dialogs"].values())
                # what posting in their Discuss sessions reads of each: the livechat member histories
                # and the client's partner and users (the author's name in the Discuss message)
                sessions = dialogs.discuss_channel_id
                sessions.livechat_channel_member_history_ids.fetch()
                sessions.channel_member_ids.fetch()
                sessions.mapped("rating_count")
                dialogs.partner_id.user_ids.fetch(["partner_id", "active"])
        self.env.cr.cache[PREFETCH_KEY] = hint

    def _open_new_dialogs(self):
        """Open the dialogs of the batch's new clients together, before the rows are handled; return those rows.

        A row is taken when it is the first of a chat the batch's prefetch found no contact for, one text
        message (no file to download), on a line without consent step or chatbot: the contacts, partners,
        sessions and dialogs of all such rows are created at once (``openlines.contact._create_for_events``,
        ``openlines.dialog._create_for_contacts``: a new dialog costs about half); the rows then find them
        and post their messages, in the same transaction. Two rows of one person (same user id, phone or
        e-mail) are not both taken: the second matches the first's partner as usual. Nothing is taken when
        a row could change whom a new client matches before its turn: the phone of a known client, or the
        consent of a new one.
        """
        hint = self.env.cr.cache[PREFETCH_KEY]
        taken, seen, persons = [], set(), set()
        for row in self:
            events = hint["events"].get(row.id) or []
            keys = {(row.channel_id.id, str(e.chat_id)) for e in events if e.chat_id}
            line = row.channel_id.line_id
            known = keys & hint["contacts"].keys()
            if (known and any(e.phone for e in events)) or (line.consent_required and not known):
                return self.browse()
            first = not keys & seen  # no earlier row of the batch is about its chat
            seen |= keys
            if not first or known or len(events) != 1 or events[0].kind != "message" or events[0].files:
                continue
            event = events[0]
            person = {(row.channel_id.channel_type, event.user_id), event.phone, getattr(event, "email", None)}
            person -= {None, False, "", (row.channel_id.channel_type, None), (row.channel_id.channel_type, "")}
            if keys and not person & persons and not line._chatbot_script():
                persons |= person
                taken.append((row, event))
        if len(taken) < 2:
            return self.browse()  # one new client: its row opens its dialog itself
        contacts = self.env["openlines.contact"]._create_for_events([(row.channel_id, event) for row, event in taken])
        dialogs = self.env["openlines.dialog"]._create_for_contacts(contacts)
        hint["dialogs"].update(zip(contacts.ids, dialogs.ids, strict=True))
        return self.browse([row.id for row, _event in taken])

    def _on_ignore(self, connector, event):
        return event.note or self.env._("update of kind %(kind)s ignored", kind=event.kind)

    def _on_status(self, connector, event):
        """A delivery report of an outgoing message (sent, delivered, read, failed)."""
        return self._record_delivery(event)

    def _on_message(self, connector, event):
        if self._consent_gate(connector, event):
            return None
        if rated := self.env["openlines.dialog"]._rating_reply(self.channel_id, event):
            self.dialog_id = rated
            return None
        contact = self.env["openlines.contact"]._get_or_create(self.channel_id, event)
        if contact.is_blocked:
            contact.is_blocked = False
        dialog = self.env["openlines.dialog"]._get_or_create_for_contact(contact)
        if event.note:
            dialog._post_notice_once(event.note)
        message = self._post_client_message(connector, dialog, event)
        dialog._on_client_message()
        self.write(
            {"dialog_id": dialog.id, "mail_message_id": message.id, "remote_message_id": event.remote_message_id}
        )

    def _on_button(self, connector, event):
        connector.acknowledge_button(event)
        if self._consent_gate(connector, event):
            return None
        if rated := self.env["openlines.dialog"]._rating_reply(self.channel_id, event):
            self.dialog_id = rated
            return None
        event.text = self.env._("Pressed button: %(data)s", data=event.text)
        return self._on_message(connector, event)

    def _on_edit(self, connector, event):
        original = self.search(
            [
                ("channel_id", "=", self.channel_id.id),
                ("direction", "=", "in"),
                ("remote_message_id", "=", event.remote_message_id),
                ("mail_message_id", "!=", False),
            ],
            limit=1,
        )
        if not original:
            return self.env._("edit of unknown message %(id)s ignored", id=event.remote_message_id)
        dialog = original.dialog_id
        # sudo: discuss.channel - the client edits their own message
        dialog.discuss_channel_id.sudo()._message_update_content(
            original.mail_message_id, body=plaintext2html(event.text or "")
        )
        self.write({"dialog_id": dialog.id, "mail_message_id": original.mail_message_id.id})

    def _on_blocked(self, connector, event):
        contact = self.env["openlines.contact"].search(
            [("channel_id", "=", self.channel_id.id), ("external_id", "=", event.chat_id)], limit=1
        )
        contact.is_blocked = True
        dialog = contact.dialog_ids.filtered(lambda d: d.state != "closed")[:1]
        if dialog:
            dialog._post_notice(self.env._("The client blocked the bot: messages can no longer be delivered."))
            self.dialog_id = dialog
        return False if contact else self.env._("blocked by an unknown chat")

    def _on_echo(self, connector, event):
        """The account's own message, written in the messenger's interface: shown as the operator's.

        Nothing is queued for sending (``openlines_inbound``); a message this
        connector sent itself (same remote id as an outbound row) is skipped.
        """
        rid = event.remote_message_id
        if rid and self.search_count(self._sent_domain(rid), limit=1):
            return self.env._("own message %(id)s already in Discuss", id=rid)
        contact = self.env["openlines.contact"].search(
            [("channel_id", "=", self.channel_id.id), ("external_id", "=", event.chat_id)], limit=1
        )
        dialog = contact.dialog_ids.sorted("id")[-1:]
        if not dialog:
            return self.env._("own message in a chat without dialog ignored")
        # an unsigned webhook (OK, Avito) can be forged: it never speaks as an employee, only as the platform
        operator = dialog.operator_id.partner_id if getattr(connector, "signed_webhooks", True) else None
        author = operator or self.env.ref("base.partner_root")
        message = self._post_client_message(connector, dialog, event, author=author)
        dialog._on_answer(author)
        self.write({"dialog_id": dialog.id, "mail_message_id": message.id, "remote_message_id": rid or False})

    def _sent_domain(self, rid):
        """Outbound rows of this channel whose remote ids (comma-separated) include ``rid``."""
        return (
            Domain("channel_id", "=", self.channel_id.id)
            & Domain("direction", "=", "out")
            & Domain.OR(
                [
                    Domain("remote_message_id", "=", rid),
                    Domain("remote_message_id", "=like", f"{rid},%"),
                    Domain("remote_message_id", "=like", f"%,{rid}"),
                    Domain("remote_message_id", "=like", f"%,{rid},%"),
                ]
            )
        )

    def _post_client_message(self, connector, dialog, event, author=None):
        attachments, notes = self._download_files(connector, event.files)
        body = plaintext2html("\n".join(filter(None, [event.text, *notes])))
        # sudo: discuss.channel - the client posts in their own dialog
        return (
            dialog.discuss_channel_id.sudo()
            .with_context(openlines_inbound=True)
            .message_post(
                author_id=(author or dialog.partner_id).id,
                body=body,
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
                attachments=attachments,
                # a messenger message is no e-mail: no alias, reply-to or signature to compute
                record_alias_domain_id=False,
                record_company_id=dialog.line_id.company_id.id,
                reply_to=False,
                email_from=False,
                email_add_signature=False,
            )
        )

    # -- outbound ------------------------------------------------------------
    @api.model
    def _queue_outbound(self, dialog, message):
        """Log an operator's message for sending; it leaves after the commit."""
        self.sudo().create(
            {
                "channel_id": dialog.channel_id.id,
                "direction": "out",
                "dialog_id": dialog.id,
                "mail_message_id": message.id,
                "buttons": self.env.context.get("openlines_buttons") or False,
            }
        )
        wake_cron(self.env, "openlines_connector.ir_cron_openlines_send")

    @api.model
    def _cron_send_outbound(self):
        self._run_queue("out", "openlines_connector.ir_cron_openlines_send", self.__class__._send, commit_each=True)

    def _send(self):
        """Send one outbound row to the messenger."""
        self.ensure_one()
        dialog, message = self.dialog_id, self.mail_message_id
        if not dialog or not message or not dialog.contact_id:
            self.write({"state": "failed", "last_error": "The dialog or its message no longer exists."})
            return
        outbound = self._build_outbound()
        try:
            ids = self.channel_id._get_connector().send(outbound)
        except ConnectorError as e:
            self._on_send_error(e)
        else:
            remote = ",".join(ids)
            self.write(
                {
                    "state": "done",
                    "attempts": self.attempts + 1,
                    "last_error": False,
                    "external_id": remote or False,
                    "remote_message_id": remote or False,
                }
            )
            self._health_on_sent()

    def _build_outbound(self):
        """The :class:`OutboundMessage` of this row (a hook: WhatsApp templates extend it)."""
        dialog, message = self.dialog_id, self.mail_message_id
        return OutboundMessage(
            chat_id=dialog.contact_id.external_id,
            text=html2plaintext(message.body or "").strip(),
            files=[self._outbound_file(a) for a in message.attachment_ids],
            buttons=[tuple(b) for b in self.buttons or []],
            ref=str(self.id),
        )

    def _on_send_error(self, error):
        self._health_on_send_error(error)  # channel health (openlines_channel_health.py)
        if error.retry_after is not None and self.attempts + 1 < MAX_ATTEMPTS:
            delay = error.retry_after if error.code == 429 else max(error.retry_after, _backoff(self.attempts + 1))
            self._retry_later(error.message, delay)
            if error.channel_down:
                self._pause_channel(min(delay, CHANNEL_PAUSE_MAX))
            return
        self.write({"state": "failed", "attempts": self.attempts + 1, "last_error": error.message})
        if error.blocked:
            self.dialog_id.contact_id.is_blocked = True
        self.dialog_id._post_notice(self.env._("Message not delivered to the client: %(error)s", error=error.message))

    def _pause_channel(self, seconds):
        """The messenger did not answer: its other outgoing messages wait ``seconds`` too, untried.

        Without it each of a down channel's waiting messages would spend a call (up to its deadline)
        on the sending cron in turn, and the other channels' messages would wait behind them.
        """
        self.env.execute_query(
            SQL(
                """UPDATE openlines_message SET next_attempt_dt = %(until)s
                    WHERE channel_id = %(channel)s AND direction = 'out' AND state IN ('pending', 'retry')
                      AND id != %(id)s AND next_attempt_dt < %(until)s""",
                until=fields.Datetime.now() + timedelta(seconds=seconds),
                channel=self.channel_id.id,
                id=self.id,
            )
        )
        self.invalidate_model(["next_attempt_dt"])

    def action_retry(self):
        self.filtered(lambda m: m.state in ("failed", "retry")).write(
            {"state": "pending", "next_attempt_dt": fields.Datetime.now(), "attempts": 0}
        )
        wake_cron(self.env, "openlines_connector.ir_cron_openlines_process")
        wake_cron(self.env, "openlines_connector.ir_cron_openlines_send")
        return True
