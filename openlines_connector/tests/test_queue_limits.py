"""The queue cannot be stalled, flooded or exhausted (issue 19).

An attacker with nothing but a webhook URL (OK and Avito sign nothing) sends
slow attachment URLs, floods one channel, asks for many files in one message;
a row kills its worker. Each test states the expected state of every row.
"""

import copy
import json
import time
from datetime import timedelta
from unittest.mock import patch

import psycopg2
import psycopg2.errors
from freezegun import freeze_time

from odoo import fields, sql_db
from odoo.tests import tagged
from odoo.tools import html2plaintext, mute_logger

from ..connectors import fetch
from ..models import openlines_channel_health, openlines_message, openlines_message_queue
from ..models.openlines_dialog_crm import LEAD_LOCK
from ..models.openlines_message import BATCH
from ..models.openlines_message_queue import LEASE_SECONDS, MAX_UNFINISHED, MessageLimits
from .common import WEBHOOK, OpenlinesCase
from .fake_ok import FakeOK
from .fake_ok import load_fixture as ok_fixture
from .fake_tarpit import FakeTarpit

QUIET = (
    "odoo.addons.openlines_connector.models.openlines_message",
    "odoo.addons.openlines_connector.models.openlines_channel_health",
    "odoo.addons.openlines_connector.connectors.base",
)


@tagged("post_install", "-at_install")
class TestQueueLimits(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ok = FakeOK().start()
        cls.addClassCleanup(cls.ok.stop)
        cls.tarpit = FakeTarpit(every=0.5).start()
        cls.addClassCleanup(cls.tarpit.stop)
        cls.ok_channel = cls.env["openlines.channel"].create(
            {
                "name": "OK",
                "line_id": cls.line.id,
                "channel_type": "ok",
                "token": cls.ok.token,
                "api_base_url": cls.ok.url,
            }
        )

    def setUp(self):
        super().setUp()
        self.tarpit.hits.clear()

    # -- helpers ---------------------------------------------------------------------
    def ok_payload(self, mid, user="user:4", text="Есть вопрос", urls=()):
        payload = copy.deepcopy(ok_fixture("message_created"))
        payload["sender"]["user_id"] = user
        payload["recipient"]["chat_id"] = f"chat:{user[5:]}"
        payload["message"].update(mid=mid, text=text)
        if urls:
            payload["message"]["attachments"] = [{"type": "IMAGE", "payload": {"url": u}} for u in urls]
        return payload

    def post_ok(self, payload):
        url = WEBHOOK % self.ok_channel.webhook_key
        response = self.url_open(url, data=json.dumps(payload), headers={"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 200)
        return self.ok_rows()[-1]

    def ok_rows(self):
        return self.env["openlines.message"].search([("channel_id", "=", self.ok_channel.id)], order="id")

    def ok_dialog(self, user="user:4"):
        return self.env["openlines.dialog"].search(
            [("channel_id", "=", self.ok_channel.id), ("contact_id.external_id", "=", f"chat:{user[5:]}")], limit=1
        )

    def body_of(self, row):
        return html2plaintext(row.mail_message_id.body or "")

    # -- a slow attachment URL -------------------------------------------------------------
    @mute_logger(*QUIET)
    def test_tarpit_attachment_is_cut_and_other_lines_are_served(self):
        """One byte every 0.5 s: the download stops at the deadline, the message is posted with a note,
        and a Telegram client's message in the same run is processed."""
        slow = self.tarpit.url_of("slow", "slow.jpg", size=1000, every=0.5)
        row = self.post_ok(self.ok_payload("m-slow", urls=[slow]))
        self.receive(self.text_update(88001, chat_id=8801, text="Другая линия"))  # webhook + processing
        started = time.monotonic()
        with patch.object(fetch, "FETCH_DEADLINE", 1.5):
            self.process()
        self.assertLess(time.monotonic() - started, 6)
        self.assertEqual((row.state, row.attempts), ("done", 1))
        self.assertFalse(row.attempt_started)
        self.assertIn("did not send it in time", self.body_of(row))
        self.assertIn("Есть вопрос", self.body_of(row))
        self.assertEqual(self.rows().mapped("state"), ["done"], "the other line's message")

    # -- a worker killed mid-download ---------------------------------------------------------
    @mute_logger(*QUIET)
    def test_a_row_that_kills_its_worker_is_counted_then_given_up(self):
        """The attempt is committed before the download; a killed worker leaves the row leased, attempted;
        after three unfinished attempts it is failed with the reason in the log, health and the dialog."""
        first = self.post_ok(self.ok_payload("m-first"))
        self.process()
        self.assertEqual(first.state, "done")
        row = self.post_ok(self.ok_payload("m-poison", urls=[self.tarpit.url_of("slow", size=10**6)]))
        Message = self.env["openlines.message"]
        now = fields.Datetime.now()
        for n in range(1, MAX_UNFINISHED + 1):
            with freeze_time(now + timedelta(seconds=n * (LEASE_SECONDS + 1))):
                claimed = Message._claim("in")
                self.assertEqual(claimed, row)
                claimed._start_attempts()  # committed by the cron; then the worker is killed (no processing)
                self.env.invalidate_all()
                self.assertEqual((row.state, row.attempts, bool(row.attempt_started)), ("pending", n, True))
                # meanwhile another worker runs: the leased row is not taken, other lines' messages are
                self.receive(self.text_update(88100 + n, chat_id=8810, text=f"t{n}"))
                self.assertEqual(row.attempts, n)
                self.assertEqual(self.rows()[-1].state, "done")
        self.assertEqual(self.tarpit.hits["slow"], 0, "the worker was 'killed' before downloading")
        with freeze_time(now + timedelta(seconds=(MAX_UNFINISHED + 1) * (LEASE_SECONDS + 1))):
            self.process()
        self.assertEqual((row.state, row.attempts), ("failed", MAX_UNFINISHED))
        self.assertFalse(row.attempt_started)
        self.assertIn("did not finish", row.last_error)
        self.assertIn("did not finish", self.ok_channel.last_error, "channel health")
        notices = self.ok_dialog().discuss_channel_id.message_ids.filtered(lambda m: "could not be processed" in m.body)
        self.assertEqual(len(notices), 1, "the operator is told in Discuss")
        self.assertEqual(row.dialog_id, self.ok_dialog())
        self.assertEqual(self.tarpit.hits["slow"], 0, "given up without another download")

    # -- a flood beside a trickle -----------------------------------------------------------
    @mute_logger(*QUIET)
    def test_flood_of_one_channel_beside_a_trickle_on_another(self):
        """150 rows of OK waiting, then one Telegram message: it is in the very next batch claimed
        (its wait is at most one batch, whatever the flood's size), and every row ends done."""
        flood = [
            (f"flood-{i}", self.ok_payload(f"flood-{i}", user=f"user:{900 + i % 3}", text=f"f{i}")) for i in range(150)
        ]
        self.ok_channel._ingest(flood)
        self.post_update(self.text_update(88201, chat_id=8820, text="trickle"))
        trickle = self.rows()
        claimed = self.env["openlines.message"]._claim("in")
        self.assertEqual(len(claimed), BATCH)
        self.assertIn(trickle, claimed, "the trickle is served in the first batch, not after 150 flood rows")
        self.assertEqual(claimed[0], trickle, "the quiet line's message first")
        self.assertEqual(claimed[1:].ids, sorted(claimed[1:].ids), "a channel's rows in id order")
        self.env.invalidate_all()
        self.process()
        self.assertEqual(trickle.state, "done")
        self.assertEqual(set(self.ok_rows().mapped("state")), {"done"})
        for user in (900, 901, 902):  # each conversation in its order
            texts = [html2plaintext(m.body) for m in self.client_messages(self.ok_dialog(f"user:{user}"))]
            self.assertEqual(texts, [f"f{i}" for i in range(150) if i % 3 == user - 900])

    # -- a messenger that does not answer -----------------------------------------------------
    @mute_logger(*QUIET)
    def test_a_down_messenger_holds_neither_its_queue_nor_the_others(self):
        """OK's API does not answer: one of its waiting replies is tried, the others wait with it (untried,
        no attempt spent), and a Telegram reply queued after them leaves in the same run. The channels
        are served in turn."""
        for n in range(4):
            self.post_ok(self.ok_payload(f"down-{n}", user=f"user:{950 + n}"))
        self.client_writes(9500)
        self.process()
        self.send()  # the lines' own texts
        ok_dialogs = [self.ok_dialog(f"user:{950 + n}") for n in range(4)]
        self.ok_channel.api_base_url = "http://127.0.0.1:9"  # nothing listens: connection refused
        for dialog in ok_dialogs:
            dialog.with_user(self.operator).action_take()
            self.operator_reply(dialog, "Ответ")
        telegram_dialog = self.dialog_of("9500")
        telegram_dialog.with_user(self.operator).action_take()
        self.operator_reply(telegram_dialog, "Ответ в Telegram")
        Message = self.env["openlines.message"]
        ok_out = Message.search([("channel_id", "=", self.ok_channel.id), ("direction", "=", "out")])
        ok_due = ok_out.filtered(lambda m: m.state in ("pending", "retry"))
        telegram_out = self.rows("out").filtered(lambda m: m.state == "pending")
        self.assertEqual((len(ok_due), len(telegram_out)), (4, 1))
        self.assertEqual(
            Message._claim("out", limit=1, served=[self.ok_channel.id]),
            telegram_out,
            "a channel not served yet in this round goes first, whatever its ids",
        )
        self.env.invalidate_all()
        self.send()
        self.assertEqual(telegram_out.state, "done")
        self.assertEqual(sorted(ok_due.mapped("attempts")), [0, 0, 0, 1], "one call to the down messenger")
        self.assertTrue(all(m.next_attempt_dt > fields.Datetime.now() for m in ok_due), "all wait for it")
        self.assertEqual(set(ok_due.mapped("state")), {"pending", "retry"})

    # -- many attachments -------------------------------------------------------------------
    @mute_logger(*QUIET)
    def test_many_attachments_are_capped_with_a_note(self):
        urls = [self.tarpit.url_of("file", f"p{i}.jpg", size=1000) for i in range(30)]
        row = self.post_ok(self.ok_payload("m-many", urls=urls))
        self.process()
        self.assertEqual(row.state, "done")
        self.assertEqual(len(row.mail_message_id.attachment_ids), 10)
        self.assertEqual(self.tarpit.hits["file"], 10, "files over the count limit are never requested")
        self.assertIn("20 more files not downloaded: over the limit", self.body_of(row))

    @mute_logger(*QUIET)
    def test_total_bytes_per_message_are_capped(self):
        urls = [self.tarpit.url_of("file", f"q{i}.jpg", size=1000) for i in range(6)]
        row = self.post_ok(self.ok_payload("m-bytes", urls=urls))
        limits = dict(openlines_message_queue.MESSAGE_LIMITS, default=MessageLimits(files=10, bytes=3500))
        with patch.object(openlines_message_queue, "MESSAGE_LIMITS", limits):
            self.process()
        self.assertEqual(row.state, "done")
        self.assertEqual(len(row.mail_message_id.attachment_ids), 3)
        self.assertIn("3 more files not downloaded: over the limit", self.body_of(row))

    @mute_logger(*QUIET)
    def test_a_batch_stops_starting_messages_past_its_download_bytes(self):
        """Downloads stay in memory until the batch commits: past BATCH_BYTES, the rest waits for the next batch."""
        rows = [
            self.post_ok(
                self.ok_payload(
                    f"m-b{i}", user=f"user:{600 + i}", urls=[self.tarpit.url_of("file", f"b{i}.jpg", size=3000)]
                )
            )
            for i in range(4)
        ]
        Message = self.env["openlines.message"]
        with patch.object(openlines_message, "BATCH_BYTES", 5000):
            batch = Message._claim("in")._start_attempts()
            failed, left = Message._handle_whole_batch(batch, Message.__class__._process_inbound)
        self.assertFalse(failed)
        self.assertEqual(left, rows[2] + rows[3], "two files (6,000 bytes) passed the limit: the rest is left")
        self.assertEqual([r.state for r in rows[:2]], ["done", "done"])
        left._release()
        self.assertEqual([(r.state, r.attempts) for r in rows[2:]], [("pending", 0), ("pending", 0)])
        self.process()
        self.assertEqual({r.state for r in rows}, {"done"})

    # -- what a flood creates in CRM ---------------------------------------------------------
    @mute_logger(*QUIET)
    def test_the_flood_mark_stays_until_the_flood_is_drained(self):
        """Several workers drain a flood, each checking the limits as it starts: the mark must not go when
        the first batches brought the queue under the limits, or the rest of the flood would file leads."""
        self.ok_channel._ingest([(f"fd-{i}", self.ok_payload(f"fd-{i}", user=f"user:{800 + i}")) for i in range(8)])
        Channel = self.env["openlines.channel"]
        with patch.object(openlines_channel_health, "PENDING_CAP", 5):
            Channel._flood_check()
            self.assertTrue(self.ok_channel.flood_since)
            for row in self.ok_rows()[:4]:
                row._process_inbound()
            Channel._flood_check()  # 4 waiting: under the cap, but the flood is not over
            self.assertTrue(self.ok_channel.flood_since)
            self.process()
            Channel._flood_check()
            self.assertFalse(self.ok_channel.flood_since, "drained: the mark goes")

    @mute_logger(*QUIET)
    def test_flooded_channel_is_marked_alerted_once_and_its_new_clients_wait_for_leads(self):
        self.line.lead_rule = "always"
        self.ok_channel._ingest([(f"fl-{i}", self.ok_payload(f"fl-{i}", user=f"user:{700 + i}")) for i in range(8)])
        with patch.object(openlines_channel_health, "PENDING_CAP", 5):
            self.process()
            self.assertTrue(self.ok_channel.flood_since)
            self.assertEqual(set(self.ok_rows().mapped("state")), {"done"}, "nothing dropped")
            dialogs = self.env["openlines.dialog"].search([("channel_id", "=", self.ok_channel.id)])
            self.assertEqual(len(dialogs), 8)
            self.assertFalse(dialogs.lead_id, "no lead while flooded")
            self.assertTrue(all(dialogs.mapped("lead_deferred")))
            self.process()  # the queue is empty again: the mark goes
            self.assertFalse(self.ok_channel.flood_since)
        alerts = self.ok_channel.message_ids.filtered(lambda m: "is flooded" in (m.body or ""))
        self.assertEqual(len(alerts), 1, "alerted once")
        self.post_ok(self.ok_payload("fl-again", user="user:700", text="Я настоящий"))
        self.process()
        self.assertTrue(self.ok_dialog("user:700").lead_id, "a client who writes again gets the lead")
        self.assertFalse(self.ok_dialog("user:700").lead_deferred)
        self.assertFalse(self.ok_dialog("user:701").lead_id)

    def test_new_leads_per_minute_per_channel(self):
        self.line.write({"lead_rule": "always", "lead_rate_limit": 2})
        now = fields.Datetime.now()
        with freeze_time(now):
            dialogs = [self.client_writes(8900 + i, "Хочу купить") for i in range(4)]
        self.assertEqual([bool(d.lead_id) for d in dialogs], [True, True, False, False])
        self.assertEqual([d.lead_deferred for d in dialogs], [False, False, True, True])
        with freeze_time(now + timedelta(minutes=2)):
            self.client_writes(8902, "Ещё раз")
        self.assertTrue(dialogs[2].lead_id)
        self.assertFalse(dialogs[3].lead_id)

    def test_a_worker_counting_leads_holds_the_channel_until_it_commits(self):
        """Several workers file leads at once (small lead batches): the rate limit counts another
        transaction's leads only once committed, so the count and the leads it allows are made under a lock
        of the channel, held until the commit: another worker waits for it before counting (else both
        could see room for one more)."""
        self.line.write({"lead_rule": "always", "lead_rate_limit": 2})
        self.assertTrue(self.client_writes(8950, "Хочу купить").lead_id)  # counted, then filed: not committed
        other = psycopg2.connect(**sql_db.connection_info_for(self.env.cr.dbname)[1])
        try:
            with other.cursor() as cr, self.assertRaises(psycopg2.errors.LockNotAvailable):
                cr.execute("SET lock_timeout = '200ms'")  # another worker about to count this channel's leads
                cr.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LEAD_LOCK, self.channel.id))
            other.rollback()
            with other.cursor() as cr:  # another channel's count is not held
                cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (LEAD_LOCK, self.channel.id + 1000))
                self.assertTrue(cr.fetchone()[0])
        finally:
            other.close()
