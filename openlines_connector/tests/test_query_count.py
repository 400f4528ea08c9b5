from datetime import datetime

from odoo.tests import tagged, warmup

from odoo.addons.mail.tests.common import freeze_all_time

from .common import OpenlinesCase


@tagged("post_install", "-at_install")
class TestQueryCount(OpenlinesCase):
    """SQL queries per message stay fixed (the benchmark reports the same figures)."""

    def ingest(self, update):
        self.channel._ingest([(str(update["update_id"]), update)])
        self.env.flush_all()
        return self.env["openlines.message"].search(
            [("channel_id", "=", self.channel.id), ("external_id", "=", str(update["update_id"]))]
        )

    @warmup
    def test_webhook_acknowledgement(self):
        self.post_update(self.text_update(50))  # warm the route and caches
        with self.assertQueryCount(QUERIES["ack"]):
            response = self.post_update(self.text_update(51))
        self.assertEqual(response.status_code, 200)

    @warmup
    def test_inbound_message_in_a_new_dialog(self):
        with freeze_all_time(FROZEN):
            self.ingest(self.text_update(60, chat_id=42))._process_inbound()  # warm-up: another client
            row = self.ingest(self.text_update(61, chat_id=43))
            self.env.invalidate_all()
            with self.assertQueryCount(QUERIES["new_dialog"]):
                row._process_inbound()
        self.assertEqual(row.state, "done")

    @warmup
    def test_inbound_message_in_an_existing_dialog(self):
        with freeze_all_time(FROZEN):
            self.ingest(self.text_update(70))._process_inbound()
            self.ingest(self.text_update(71))._process_inbound()
            row = self.ingest(self.text_update(72))
            self.env.invalidate_all()
            with self.assertQueryCount(QUERIES["existing_dialog"]):
                row._process_inbound()
        self.assertEqual(row.state, "done")
        self.assertEqual(len(self.client_messages(row.dialog_id)), 3)

    @warmup
    def test_inbound_batch_in_existing_dialogs(self):
        """The processing cron's real unit: a batch of messages to ten open dialogs, per message."""
        chats = range(3100, 3110)
        with freeze_all_time(FROZEN):
            for n, chat in enumerate(chats):
                self.ingest(self.text_update(3000 + n, chat_id=chat))
            self.process()
            for n, chat in enumerate(chats):  # warm-up batch: caches as in a running server
                self.ingest(self.text_update(3100 + n, chat_id=chat))
            self.process()
            for n, chat in enumerate(chats):
                self.ingest(self.text_update(3200 + n, chat_id=chat))
            self.env.invalidate_all()
            with self.assertQueryCount(QUERIES["existing_dialog_batch"]):
                self.process()
        rows = self.rows("in").filtered(lambda r: r.external_id in {str(3200 + n) for n in range(10)})
        self.assertEqual(set(rows.mapped("state")), {"done"})
        self.assertEqual(len(rows.dialog_id), len(chats))

    @warmup
    def test_inbound_batch_of_new_dialogs(self):
        """Ten new clients in one cron batch: their dialogs are opened together (per message, about half)."""
        with freeze_all_time(FROZEN):
            for n in range(10):  # warm-up batch: caches as in a running server
                self.ingest(self.text_update(4000 + n, chat_id=4100 + n))
            self.process()
            for n in range(10):
                self.ingest(self.text_update(4200 + n, chat_id=4300 + n))
            self.env.invalidate_all()
            with self.assertQueryCount(QUERIES["new_dialog_batch"]):
                self.process()
        rows = self.rows("in").filtered(lambda r: r.external_id in {str(4200 + n) for n in range(10)})
        self.assertEqual(set(rows.mapped("state")), {"done"})
        self.assertEqual(len(rows.dialog_id), 10)

    @warmup
    def test_outbound_message(self):
        with freeze_all_time(FROZEN):
            self.ingest(self.text_update(80))._process_inbound()
            dialog = self.dialog_of()
            self.operator_reply(dialog, "Первый")
            self.rows("out")._send()
            self.operator_reply(dialog, "Второй")
            row = self.rows("out")[-1]
            self.env.invalidate_all()  # as in the cron: a fresh transaction reads the row
            with self.assertQueryCount(QUERIES["outbound"]):
                row._send()
        self.assertEqual(row.state, "done")

    @warmup
    def test_operator_reply_queues_the_outbound_row(self):
        with freeze_all_time(FROZEN):
            self.ingest(self.text_update(90))._process_inbound()
            dialog = self.dialog_of()
            self.operator_reply(dialog, "Первый")
            with self.assertQueryCount(QUERIES["reply"]):
                self.operator_reply(dialog, "Второй")


#: queries with a cold cache, as in a fresh cron transaction (a batch shares
#: the channel, line and session reads, so the benchmark's average is lower);
#: a new dialog's CRM lead is filed by its own step after the message (not counted here)
#: the clock of the tests that post in Discuss: a post updates the session's last_interest_dt (one or
#: two queries) only when the second changed, which made the counts depend on timing
FROZEN = datetime(2026, 3, 2, 10, 0)

QUERIES = {
    "ack": 2,
    # the CRM lead is no longer in it (about 26 queries, filed by the lead step once the message is in
    # Discuss: openlines_dialog_crm.py _file_queued_leads); + 1 for the lead step's cron trigger; - 15 since
    # the session is created without Discuss's push of the whole new session to its creator (the cron's
    # OdooBot, whom no browser listens as; its member is given in the creation, as an agent, at once)
    "new_dialog": 54,
    "existing_dialog": 28,
    # ten messages: about 6 each (Odoo's message_post on a livechat session) and about 55 for the
    # batch (the cron's own bookkeeping, the flood check, the claim, the attempts counted and committed
    # before the work, the queue and rows locked again, one prefetch per model, one flush); + 1 since
    # issue 17: the look for new dialogs' queued leads once the queue is empty (none here)
    "existing_dialog_batch": 120,
    # ten new clients: their contacts, partners, sessions and dialogs created together by the batch
    # (openlines_message.py _open_new_dialogs); then each message posted, greeted, its lead queued;
    # who is online is read once per line (openlines_line.py); 783 when each row opened its own dialog
    # (and Discuss pushed each new session to OdooBot); + 18 since the lead step files 5 leads per commit, not
    # 50 (a batch of leads holds its conversations until it commits: their new messages waited for it); + 10
    # for the channel's flood mark read as each dialog's lead is queued (a flood's clients are deferred then)
    "new_dialog_batch": 486,
    "outbound": 9,
    "reply": 18,
}
