"""Fault tests: redelivery, a failure half-way through processing, the messenger
API down (refused, 500, timeouts, 429 storms), bad requests among genuine ones.

Deterministic and bounded: loopback servers only, time moved with freezegun
instead of sleeping through backoff delays.  Concurrency (threads, two workers
on separate transactions) is tested end to end in ``tests/test_e2e_faults.py``.
"""

import json
import random
import socket
from datetime import datetime, timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo import fields, sql_db
from odoo.tests import tagged
from odoo.tools import html2plaintext, mute_logger

from ..connectors.base import REGISTRY, get_connector
from ..connectors.telegram import RETRY_SECONDS, TelegramConnector
from ..controllers.webhook import MAX_BODY
from ..models.openlines_message import BUSY_AFTER, INBOUND_LOCK, MAX_ATTEMPTS, _backoff
from ..models.openlines_message_queue import LEASE_SECONDS
from ..tools.conversation import conversation_of
from .common import WEBHOOK, OpenlinesCase
from .fake_loopback import fixtures_dir

QUIET = (
    "odoo.addons.openlines_connector.connectors.telegram",
    "odoo.addons.openlines_connector.models.openlines_message",
    "odoo.addons.openlines_connector.controllers.webhook",
)


def _closed_port_url():
    """An address on 127.0.0.1 where nothing listens: connection refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@tagged("post_install", "-at_install")
class TestFaults(OpenlinesCase):
    def setUp(self):
        super().setUp()
        for switch in ("down", "hang"):  # the fake is shared by the class: a failed test must not leak its outage
            self.addCleanup(setattr, self.fake, switch, 0)
        self.addCleanup(self.fake._errors.clear)

    def counts(self):
        """Rows written by processing an inbound message, to prove nothing half-written remains."""
        return {
            model: self.env[model].search_count([])
            for model in ("openlines.contact", "openlines.dialog", "res.partner", "discuss.channel", "mail.message")
        }

    def texts_of(self, dialog):
        return [html2plaintext(m.body) for m in self.client_messages(dialog)]

    # -- inbound ---------------------------------------------------------------
    def test_interleaved_redelivery_processes_each_message_once(self):
        """Every update delivered three times, shuffled, processing runs in between: each message once."""
        updates = [self.text_update(31000 + i, chat_id=7100 + i % 3, text=f"m{i}") for i in range(15)]
        deliveries = updates * 3
        random.Random(7).shuffle(deliveries)
        first_seen = []
        for n, update in enumerate(deliveries):
            self.assertEqual(self.post_update(update).status_code, 200)
            if update["update_id"] not in first_seen:
                first_seen.append(update["update_id"])
            if n % 8 == 7:
                self.process()
        self.process()
        rows = self.rows()
        self.assertEqual(rows.mapped("external_id"), [str(u) for u in first_seen], "one row per update, as it came")
        self.assertEqual(set(rows.mapped("state")), {"done"})
        for chat in (7100, 7101, 7102):
            expected = [f"m{u - 31000}" for u in first_seen if (u - 31000) % 3 == chat - 7100]
            self.assertEqual(self.texts_of(self.dialog_of(str(chat))), expected, "once each, in arrival order")

    # -- in parallel, by conversation ---------------------------------------------------------
    def test_a_conversation_held_by_another_worker_is_left_to_it(self):
        """Another worker (its own connection) holds one conversation: this worker handles the others, and
        leaves that one's rows untouched (not even an attempt counted); once released, they come in order."""
        for i in range(6):
            self.post_update(self.text_update(32000 + i, chat_id=7200 + i % 2, text=f"c{i}"))
        rows = self.rows()
        self.assertEqual(rows.mapped("conversation"), ["7200", "7201"] * 3, "the chat is stored at ingest")
        with sql_db.db_connect(self.env.cr.dbname).cursor() as other:
            other.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (INBOUND_LOCK, f"{self.channel.id}:7200"))
            self.process()
            self.env.invalidate_all()
            self.assertEqual(
                [(r.conversation, r.state, r.attempts) for r in rows],
                [("7200", "pending", 0), ("7201", "done", 1)] * 3,
            )
            other.rollback()
        self.process()
        self.assertEqual(set(rows.mapped("state")), {"done"})
        self.assertEqual(self.texts_of(self.dialog_of("7200")), ["c0", "c2", "c4"])
        self.assertEqual(self.texts_of(self.dialog_of("7201")), ["c1", "c3", "c5"])

    def test_a_row_left_by_a_killed_worker_keeps_its_conversation_behind_it(self):
        """A worker claimed a row and died (its attempt committed, the lease running): the other workers do
        not take that conversation's later rows before it, but do take other conversations; when the
        lease ends, the left row and then the later ones are handled, in order."""
        self.post_update(self.text_update(33000, chat_id=7300, text="k0"))
        first = self.rows()
        first._start_attempts()  # claimed and committed by a worker that is then killed
        self.post_update(self.text_update(33001, chat_id=7300, text="k1"))
        self.post_update(self.text_update(33002, chat_id=7301, text="other"))
        later, other = self.rows()[1:]
        self.process()
        self.assertEqual((first.state, later.state, later.attempts, other.state), ("pending", "pending", 0, "done"))
        self.assertFalse(self.dialog_of("7300"), "nothing of the held conversation yet")
        with freeze_time(fields.Datetime.now() + timedelta(seconds=LEASE_SECONDS + 1)):
            self.process()
        self.assertEqual((first.state, later.state), ("done", "done"))
        self.assertEqual(self.texts_of(self.dialog_of("7300")), ["k0", "k1"])

    def test_a_message_beside_a_busy_batch_wakes_the_helpers(self):
        """A batch held by a slow download (its attempts on record for 2 s, not finished) must not keep
        other conversations waiting: a new message then wakes the helper jobs too, from the webhook's own
        statement; with no batch in flight, or one at work for less, it wakes only the main job (issue 19)."""
        helpers = self.env.ref("openlines_connector.ir_cron_openlines_process_2") | self.env.ref(
            "openlines_connector.ir_cron_openlines_process_3"
        )
        Trigger = self.env["ir.cron.trigger"]
        self.post_update(self.text_update(36000, chat_id=7600))
        self.assertFalse(Trigger.search([("cron_id", "in", helpers.ids)]), "nothing in flight: no helper")
        self.rows()._start_attempts()  # a worker is on it (downloading)
        self.post_update(self.text_update(36001, chat_id=7601))
        self.assertFalse(Trigger.search([("cron_id", "in", helpers.ids)]), "a batch at work for < 2 s: no helper")
        with freeze_time(fields.Datetime.now() + timedelta(seconds=BUSY_AFTER + 1)):
            self.post_update(self.text_update(36002, chat_id=7602))
        self.assertEqual(Trigger.search([("cron_id", "in", helpers.ids)]).cron_id, helpers)

    def test_a_first_message_reaches_discuss_before_its_lead_which_its_own_step_files(self):
        """The CRM lead of a new dialog is out of the client's path: the message is in Discuss, the lead
        queued; the lead cron (or the processing cron once its queue is empty) files it, once."""
        self.post_update(self.text_update(34000, chat_id=7400, text="first"))
        row = self.rows()
        row._process_inbound()
        dialog = self.dialog_of("7400")
        self.assertEqual(self.texts_of(dialog), ["first"], "the operator sees the client's message")
        self.assertEqual((dialog.lead_id, dialog.lead_queued), (self.env["crm.lead"], True), "its lead waits")
        self.run_cron("openlines_connector.ir_cron_openlines_leads")
        self.assertTrue(dialog.lead_id)
        self.assertFalse(dialog.lead_queued)
        self.receive(self.text_update(34001, chat_id=7401, text="second client"))  # the processing cron files it
        self.assertEqual(self.rows().mapped("state"), ["done", "done"])
        self.assertFalse(self.dialog_of("7401").lead_queued)
        self.assertTrue(self.dialog_of("7401").lead_id)
        self.run_cron("openlines_connector.ir_cron_openlines_leads")
        self.assertEqual(
            len(self.env["crm.lead"].search([("id", "in", (dialog | self.dialog_of("7401")).lead_id.ids)])), 2
        )

    def test_the_conversation_read_at_ingest_is_the_chat_the_connector_parses(self):
        """For every fixture of every messenger: the key stored at ingest (read from the raw payload without
        calling the messenger) is the chat id the connector's parse gives, so one chat is one conversation."""
        checked = {}
        for kind in REGISTRY:
            connector = get_connector(kind, {"token": "1:t", "webhook_secret": "s", "api_base_url": _closed_port_url()})
            connector.timeout = 1
            for path in sorted((fixtures_dir() / kind).glob("*.json")):
                payload = json.loads(path.read_text())
                try:
                    items = connector.split(payload)
                except Exception:  # noqa: BLE001 - a fixture of an outbound body: not a webhook
                    continue
                for _ext_id, item in items:
                    try:
                        events = connector.parse(item)
                    except Exception:  # noqa: BLE001 - parse needs more settings than a bare connector has
                        continue
                    chats = [str(e.chat_id) for e in events if e.chat_id]
                    if chats:
                        self.assertEqual(conversation_of(kind, item), chats[0], f"{kind}/{path.name}")
                        checked[kind] = checked.get(kind, 0) + 1
        self.assertGreaterEqual(
            set(checked), {"telegram", "viber", "whatsapp", "messenger", "instagram", "ok", "avito"}
        )

    @mute_logger(*QUIET)
    def test_failure_half_way_leaves_nothing_and_is_processed_next_run(self):
        """The download of a photo fails after the contact, partner and dialog were created: all undone."""
        update = self.fixture("photo")
        large = "AgACAgIAAxkBAAIBYGVvB0-large"
        self.fake.queue_error("getFile", 500, "Internal Server Error")
        before = self.counts()
        self.assertEqual(self.post_update(update).status_code, 200)
        row = self.rows()
        self.process()
        self.assertEqual((row.state, row.attempts), ("retry", 1))
        self.assertIn("Telegram", row.last_error)
        self.assertTrue(row.payload, "the payload is kept for the next run")
        self.assertEqual(self.counts(), before, "nothing half-written remains")
        self.assertEqual(len(self.fake.calls_of("getFile")), 1, "the failure did happen half-way")

        self.process()  # not due yet: nothing happens
        self.assertEqual((row.state, row.attempts), ("retry", 1))
        self.fake.add_file(large, b"\xff\xd8large-jpeg")
        with freeze_time(row.next_attempt_dt + timedelta(seconds=1)):
            self.process()
        self.assertEqual(row.state, "done")
        (message,) = self.client_messages(self.dialog_of())
        self.assertEqual(len(message.attachment_ids), 1)
        self.assertEqual(len(self.env["openlines.dialog"].search([("channel_id", "=", self.channel.id)])), 1)
        with freeze_time(row.next_attempt_dt + timedelta(hours=1)):
            self.process()  # and never again
        self.assertEqual(len(self.client_messages(self.dialog_of())), 1)

    @mute_logger(*QUIET)
    def test_bad_requests_among_genuine_ones(self):
        """500 bad requests mixed with 20 genuine updates (and their replays): no 5xx, nothing written for the bad."""
        url = self.webhook_url
        good = [self.text_update(32000 + i, chat_id=7200 + i % 4, text=f"g{i}") for i in range(20)]
        forged = json.dumps(self.text_update(39999, chat_id=7299, text="forged"))
        bad = [
            ({"secret": "forged"}, forged, 403),
            ({"secret": None}, forged, 403),
            ({"secret": "x" * 5000}, forged, 403),
            ({}, b'{"update_id": 39998, "message": ', 400),
            ({}, b"[1, 2]", 400),
            ({}, b'"text"', 400),
            ({}, b"null", 400),
            ({}, b"", 400),
            ({}, b"\xff\xfe\x00garbage", 400),
            ({}, b'{"message": {"text": "no id"}}', 400),
            ({}, b'{"update_id": "39997"}', 400),
            ({}, b'{"update_id": 1.5}', 400),
            ({}, b'{"update_id": true}', 400),
            ({}, b'{"update_id": NaN}', 400),
            ({}, b"[" * 100000, 400),  # deeper than the JSON decoder's recursion limit
            ({"content_type": "application/x-www-form-urlencoded"}, b"update_id=39996&text=hi", 400),
            ({"content_type": "multipart/form-data; boundary=zz"}, b"--zz\r\ngarbage", 400),
            ({"content_type": "text/plain"}, b"update_id: 39995", 400),
            ({"url": WEBHOOK % ("x" * 43)}, forged, 404),
            ({"url": WEBHOOK % "short"}, forged, 404),
            ({"url": WEBHOOK % ("k" * 300)}, forged, 404),
            ({"method": "GET"}, None, 405),
            ({"method": "PUT"}, forged, 405),
        ]
        requests = [(r, None) for r in random.Random(3).choices(bad, k=496)]
        requests += [(({}, b"{" + b" " * MAX_BODY + b"}", 403), None)] * 2  # oversized
        requests += [(({"secret": None}, b"{" + b" " * MAX_BODY + b"}", 403), None)] * 2
        requests += [(None, update) for update in good * 2]  # genuine, each replayed once
        random.Random(5).shuffle(requests)
        statuses, first_seen = [], []
        for n, (bad_request, update) in enumerate(requests):
            if update is not None:
                if update["update_id"] not in first_seen:
                    first_seen.append(update["update_id"])
                response = self.post_update(update)
                self.assertEqual(response.status_code, 200, response.text)
            else:
                options, body, expected = bad_request
                headers = {"Content-Type": options.get("content_type", "application/json")}
                secret = options.get("secret", self.channel.sudo().webhook_secret)
                if secret is not None:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = secret
                response = self.url_open(
                    options.get("url", url), data=body, headers=headers, method=options.get("method", "POST")
                )
                statuses.append(response.status_code)
                self.assertEqual(response.status_code, expected, (options, body[:60] if body else body))
            if n % 100 == 99:
                self.process()
        self.assertEqual(len(statuses), 500)
        self.assertLess(max(statuses), 500)
        self.process()
        rows = self.rows()
        self.assertEqual(sorted(rows.mapped("external_id")), sorted(str(u["update_id"]) for u in good))
        self.assertEqual(set(rows.mapped("state")), {"done"})
        for chat in range(7200, 7204):
            expected = [f"g{u - 32000}" for u in first_seen if (u - 32000) % 4 == chat - 7200]
            self.assertEqual(self.texts_of(self.dialog_of(str(chat))), expected)
        self.assertFalse(self.dialog_of("7299"))

    # -- outbound ----------------------------------------------------------------
    def outbound_states(self):
        return [(r.mail_message_id.id, r.state) for r in self.rows("out")]

    @mute_logger(*QUIET)
    def test_api_down_refused_500_timeout_429_then_all_arrive_once_in_order(self):
        """Replies of two dialogs wait while the API is down in four ways, then leave once each, in order."""
        a = self.client_writes(7301, "A?")
        b = self.client_writes(7302, "B?")
        for text, dialog in (("A1", a), ("B1", b), ("A2", a), ("B2", b), ("A3", a)):
            self.operator_reply(dialog, text)
        rows = self.rows("out")
        a1, b1, a2, b2, a3 = rows
        self.assertEqual(set(rows.mapped("state")), {"pending"})
        self.fake.calls.clear()
        now = fields.Datetime.now().replace(microsecond=0)
        api = self.channel.api_base_url

        def run(when, attempts, delay, tick=False, b_attempts=0):
            """Run the sending cron at ``when``: A's head fails (attempt ``attempts``) and waits ``delay`` s.

            When the API does not answer at all (refused, HTTP 500, timeout) the channel is down: B's
            head is not tried (``b_attempts`` unchanged) and waits as long; a 429 concerns each call.
            """
            with freeze_time(when, tick=tick):  # tick: a timeout needs the clock to move
                self.send()
            heads = [(r.state, r.attempts) for r in (a1, b1)]
            self.assertEqual(heads, [("retry", attempts), ("retry" if b_attempts else "pending", b_attempts)])
            self.assertEqual({r.state for r in (a2, b2, a3)}, {"pending"}, "the others wait behind it")
            waited = (a1.next_attempt_dt - when).total_seconds()
            self.assertTrue(delay <= waited <= delay + (3 if tick else 0), (waited, delay))
            self.assertGreaterEqual(b1.next_attempt_dt, when + timedelta(seconds=min(delay, 5)))

        self.channel.api_base_url = _closed_port_url()  # connection refused
        run(now, 1, max(RETRY_SECONDS, _backoff(1)))
        self.assertIn("unreachable", a1.last_error)
        self.channel.api_base_url = api
        self.fake.down = True  # HTTP 500
        run(max(a1.next_attempt_dt, b1.next_attempt_dt), 2, max(RETRY_SECONDS, _backoff(2)))
        self.fake.down = False
        self.fake.hang = 1.5  # timeouts: the connector gives up before the fake answers
        with patch.object(TelegramConnector, "timeout", 0.5):
            run(max(a1.next_attempt_dt, b1.next_attempt_dt), 3, _backoff(3), tick=True)
        self.assertIn("timed out", a1.last_error)
        self.fake.hang = 0
        self.fake.queue_error("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5, times=6)
        for attempts in (4, 5, 6):  # a 429 storm: Telegram's retry_after is obeyed, not the backoff
            run(max(a1.next_attempt_dt, b1.next_attempt_dt), attempts, 5, b_attempts=attempts - 3)
        self.assertIn("flood control", a1.last_error)
        accepted_before = [c["text"] for c in self.fake.calls_of("sendMessage")]
        self.assertEqual(
            accepted_before, ["A1"] + ["A1", "B1"] * 3, "500s and 429s only; refused and hung calls never arrive"
        )

        self.fake.calls.clear()
        with freeze_time(max(a1.next_attempt_dt, b1.next_attempt_dt)):
            self.send()
        self.assertEqual(set(rows.mapped("state")), {"done"})
        sent = [(str(c["chat_id"]), c["text"]) for c in self.fake.calls_of("sendMessage")]
        self.assertEqual([t for chat, t in sent if chat == "7301"], ["A1", "A2", "A3"], "once each, in order")
        self.assertEqual([t for chat, t in sent if chat == "7302"], ["B1", "B2"])
        ids = [int(r.remote_message_id.split(":")[1]) for r in (a1, a2, a3)]
        self.assertEqual(ids, sorted(ids))
        with freeze_time(a1.next_attempt_dt + timedelta(hours=2)):
            self.send()
        self.assertEqual(len(self.fake.calls_of("sendMessage")), 5, "nothing is sent twice")

    @mute_logger(*QUIET)
    def test_backoff_grows_exponentially_then_gives_up_once(self):
        dialog = self.client_writes(7401, "Вы тут?")
        self.operator_reply(dialog, "Да")
        row = self.rows("out")
        self.fake.down = True
        when = datetime(2030, 1, 1, 12, 0, 0)
        delays = []
        for _attempt in range(MAX_ATTEMPTS):
            with freeze_time(when):
                self.send()
                if row.state == "retry":
                    delays.append((row.next_attempt_dt - when).total_seconds())
                    self.send()  # not due: not tried again
            when = row.next_attempt_dt or when
        self.assertEqual(len(self.fake.calls_of("sendMessage")), MAX_ATTEMPTS)
        self.assertEqual(delays, [max(RETRY_SECONDS, _backoff(n)) for n in range(1, MAX_ATTEMPTS)])
        self.assertEqual(delays[2:6], [40, 80, 160, 320], "doubling")
        self.assertEqual(delays[-1], 3600, "capped at an hour")
        self.assertEqual((row.state, row.attempts), ("failed", MAX_ATTEMPTS))
        notices = dialog.discuss_channel_id.message_ids.filtered(lambda m: "not delivered" in (m.body or ""))
        self.assertEqual(len(notices), 1, "the operator is told once")
        self.fake.down = False
        with freeze_time(when + timedelta(days=1)):
            self.send()
        self.assertEqual(row.state, "failed", "a failed message stays failed until retried by hand")
        row.action_retry()
        self.send()
        self.assertEqual(row.state, "done")
