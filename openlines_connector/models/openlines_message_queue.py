"""The inbound queue under attack (issue 19): fair claims, attempts counted before the work, limits per message.

* **Fairness**: :meth:`_claim_inbound` takes due rows round-robin across
  channels, so a flooded channel gets its share of a batch, never all of it.
* **Poison rows**: :meth:`_start_attempts` counts the attempt of every claimed
  row and the cron commits it before any download or post (a lease of
  :data:`LEASE_SECONDS`); a row whose processing killed its worker is seen as
  attempted, and :meth:`_give_up` fails it after :data:`MAX_UNFINISHED`
  unfinished attempts, with the reason in the message log, channel health and
  the client's dialog.
* **Limits per message**: :data:`MESSAGE_LIMITS` bounds the files, bytes and
  seconds one message may cost; what is left out becomes a note.

Locking: the inbound cron claims whole conversations
(``openlines.message._claim_conversations``) and ``FOR UPDATE`` on its batch's
rows; between the commit of the attempts and the work it takes the rows again
(:meth:`_relock_all`); the lease keeps the rows, and the conversations' later
rows, from the other workers meanwhile.
"""

import dataclasses
import json
import logging
from datetime import timedelta

from odoo import fields, models
from odoo.tools import SQL

from ..connectors.base import FileNotDownloaded, FileTooLarge, download_budget
from .openlines_message import BATCH_BYTES_KEY, MAX_ATTEMPTS

_logger = logging.getLogger(__name__)

#: seconds a claimed inbound row is kept from other workers; a worker that died holding it is
#: seen once this has passed: the row comes back, its attempt counted
LEASE_SECONDS = 300
#: attempts that did not finish (the worker was killed or stopped) before the row is given up
MAX_UNFINISHED = 3


@dataclasses.dataclass(frozen=True)
class MessageLimits:
    """What one inbound message may ask the server to download."""

    files: int = 10  # attachments downloaded per message
    bytes: int = 50 * 1024 * 1024  # bytes downloaded per message, all its files together
    seconds: int = 20  # seconds spent downloading per message, all its files together


#: per channel type (``default`` for the others): what exceeds them becomes a note to the operator
MESSAGE_LIMITS = {
    "default": MessageLimits(),
    "telegram": MessageLimits(files=10, bytes=20 * 1024 * 1024),  # one file per update; 20 MB bot download limit
    "whatsapp": MessageLimits(files=1),  # one medium per message
    "viber": MessageLimits(files=1),
}


class OpenlinesMessage(models.Model):
    _inherit = "openlines.message"

    attempt_started = fields.Datetime(
        "Attempt started",
        readonly=True,
        copy=False,
        help="Set while an incoming message is being processed: still set later, the attempt did not finish "
        "(the processing was stopped) and counts against the message.",
    )

    #: serves the fair inbound claim: each channel's oldest waiting rows
    _inbound_fair_idx = models.Index("(channel_id, id) WHERE direction = 'in' AND state IN ('pending', 'retry')")

    # -- claims and attempts -----------------------------------------------------
    def _claim_inbound(self, limit):
        """Lock and return up to ``limit`` due inbound rows, taken round-robin across channels.

        Each channel offers its oldest due rows (``_inbound_fair_idx``, one
        short index scan per channel); the batch takes the first of every
        channel, then the second... so a channel flooded with thousands of rows
        gets its share of a batch, never all of it, and another channel's row
        waits one batch at most. Returned in the order they are handled: turn
        by turn, and within a turn the channel with the fewest due rows first
        (a quiet line's message is not handled after a flood's slow one); rows
        of one channel stay in id order, hence each conversation's order.
        """
        rows = self.env.execute_query(
            SQL(
                """SELECT m.id FROM openlines_message m
                  JOIN (
                    SELECT f.id, f.turn, f.backlog FROM (
                        SELECT d.id, row_number() OVER (PARTITION BY c.id ORDER BY d.id) AS turn,
                               count(*) OVER (PARTITION BY c.id) AS backlog
                          FROM openlines_channel c
                          CROSS JOIN LATERAL (
                              SELECT q.id FROM openlines_message q
                               WHERE q.channel_id = c.id AND q.direction = 'in'
                                 AND q.state IN ('pending', 'retry') AND q.next_attempt_dt <= %(now)s
                               ORDER BY q.id LIMIT %(limit)s) d
                    ) f ORDER BY f.turn, f.id LIMIT %(limit)s
                  ) t ON t.id = m.id
                 WHERE m.state IN ('pending', 'retry')
                 ORDER BY t.turn, t.backlog, m.id
                   FOR UPDATE OF m SKIP LOCKED""",
                now=fields.Datetime.now(),
                limit=limit,
            )
        )
        return self.browse([r[0] for r in rows])

    def _start_attempts(self):
        """Count this attempt of the claimed inbound rows, before any risky work; return the rows to handle.

        The caller commits right after: a row whose processing kills its
        worker (a time or memory limit) is then seen as attempted, kept from
        the other workers for :data:`LEASE_SECONDS`, and given up after
        :data:`MAX_UNFINISHED` unfinished attempts (or :data:`MAX_ATTEMPTS`
        in all) instead of coming back forever.
        """
        exhausted = self.filtered(
            lambda r: r.attempts >= MAX_ATTEMPTS or (r.attempt_started and r.attempts >= MAX_UNFINISHED)
        )
        for row in exhausted:
            row._give_up(
                self.env._(
                    "Given up after %(count)s attempts: the last one did not finish "
                    "(the processing was stopped, e.g. by a time or memory limit).",
                    count=row.attempts,
                )
                if row.attempt_started
                else row.last_error or self.env._("Given up after %(count)s attempts.", count=row.attempts)
            )
        rows = self - exhausted
        if rows:
            self.env.execute_query(
                SQL(
                    """UPDATE openlines_message
                          SET attempts = attempts + 1, attempt_started = %(now)s, next_attempt_dt = %(lease)s
                        WHERE id IN %(ids)s""",
                    now=fields.Datetime.now(),
                    lease=fields.Datetime.now() + timedelta(seconds=LEASE_SECONDS),
                    ids=tuple(rows.ids),
                )
            )
            rows.invalidate_recordset(["attempts", "attempt_started", "next_attempt_dt"])
        return rows

    def _release(self):
        """Give claimed rows back untouched (their attempt not counted): the batch ran out of time."""
        if self:
            self.env.execute_query(
                SQL(
                    """UPDATE openlines_message
                          SET attempts = greatest(attempts - 1, 0), attempt_started = NULL, next_attempt_dt = %s
                        WHERE id IN %s""",
                    fields.Datetime.now(),
                    tuple(self.ids),
                )
            )
            self.invalidate_recordset(["attempts", "attempt_started", "next_attempt_dt"])

    def _give_up(self, reason):
        """Fail this inbound row for good: the message log, channel health and the dialog say why."""
        self.ensure_one()
        self.write({"state": "failed", "last_error": reason, "attempt_started": False})
        self.channel_id._health_failure(reason)
        try:
            with self.env.cr.savepoint():
                events = self.channel_id._get_connector().parse(json.loads(self.payload or "{}"))
                chat_ids = {str(e.chat_id) for e in events if e.chat_id}
                contact = self.env["openlines.contact"].search(
                    [("channel_id", "=", self.channel_id.id), ("external_id", "in", list(chat_ids))], limit=1
                )
                dialog = contact.dialog_ids.sorted("id")[-1:]
                if dialog:
                    self.dialog_id = dialog
                    dialog._post_notice(
                        self.env._(
                            "A message from the client could not be processed: %(reason)s "
                            "It is kept in the message log (Retry there).",
                            reason=reason,
                        )
                    )
        except Exception:  # noqa: BLE001 - the row is failed whatever its payload: the notice is a courtesy
            _logger.info("Open Lines: no dialog told about failed message %s", self.id, exc_info=True)

    def _relock_all(self):
        """Lock these rows again after a commit; return those still to handle (another worker may have some)."""
        if not self:
            return self
        rows = self.env.execute_query(
            SQL(
                """SELECT id FROM openlines_message
                    WHERE id IN %s AND state IN ('pending', 'retry') ORDER BY id FOR UPDATE SKIP LOCKED""",
                tuple(self.ids),
            )
        )
        self.invalidate_recordset()
        locked = {r[0] for r in rows}
        return self.filtered(lambda r: r.id in locked)  # in the claim's order

    # -- limits per message --------------------------------------------------------
    def _download_files(self, connector, files):
        """Download ``files`` within the message's limits (:data:`MESSAGE_LIMITS`); return (attachments, notes).

        What is over the limits, too slow or at a refused address is left
        out with a note to the operator; network errors are raised (retried).
        """
        limits = MESSAGE_LIMITS.get(self.channel_id.channel_type) or MESSAGE_LIMITS["default"]
        attachments, notes, over = [], [], max(len(files) - limits.files, 0)
        with download_budget(limits.seconds, limits.bytes):
            for file in files[: limits.files]:
                try:
                    attachments.append((file.name, connector.download(file)))
                except FileNotDownloaded as e:
                    if e.reason == "budget":
                        over += 1
                    else:
                        notes.append(self._file_note(file, e.reason))
                except FileTooLarge:
                    notes.append(self._file_note(file, "size"))
        if over:
            notes.append(
                self.env._(
                    "%(count)s more files not downloaded: over the limit of %(files)s files and %(mb)s MB per message.",
                    count=over,
                    files=limits.files,
                    mb=limits.bytes // 1048576,
                )
            )
        cache = self.env.cr.cache
        cache[BATCH_BYTES_KEY] = cache.get(BATCH_BYTES_KEY, 0) + sum(len(data) for _name, data in attachments)
        return attachments, notes

    def _file_note(self, file, reason):
        """The note to the operator about a file left out of the client's message, by ``reason``."""
        if reason == "slow":
            return self.env._(
                "The file %(name)s was not downloaded: the messenger's server did not send it in time. "
                "Ask the client to send it again.",
                name=file.name,
            )
        if reason == "refused":
            return self.env._(
                "The file %(name)s was not downloaded: its address is not one Open Lines downloads from.",
                name=file.name,
            )
        return self.env._(
            "The client sent the file %(name)s (%(size)s MB), which is over the messenger's "
            "download limit: ask them to send it another way.",
            name=file.name,
            size=round(file.size / 1048576, 1),
        )
