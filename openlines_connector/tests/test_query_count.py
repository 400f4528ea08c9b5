from odoo.tests import tagged, warmup

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

    def text_update(self, update_id, chat_id=1111111, text="Есть ли доставка?"):
        update = self.fixture("reply", update_id)
        update["message"]["message_id"] = update_id
        update["message"]["chat"]["id"] = update["message"]["from"]["id"] = chat_id
        update["message"]["text"] = text
        return update

    @warmup
    def test_webhook_acknowledgement(self):
        self.post_update(self.text_update(50))  # warm the route and caches
        with self.assertQueryCount(QUERIES["ack"]):
            response = self.post_update(self.text_update(51))
        self.assertEqual(response.status_code, 200)

    @warmup
    def test_inbound_message_in_a_new_dialog(self):
        self.ingest(self.text_update(60, chat_id=42))._process_inbound()  # warm-up: another client
        row = self.ingest(self.text_update(61, chat_id=43))
        self.env.invalidate_all()
        with self.assertQueryCount(QUERIES["new_dialog"]):
            row._process_inbound()
        self.assertEqual(row.state, "done")

    @warmup
    def test_inbound_message_in_an_existing_dialog(self):
        self.ingest(self.text_update(70))._process_inbound()
        self.ingest(self.text_update(71))._process_inbound()
        row = self.ingest(self.text_update(72))
        self.env.invalidate_all()
        with self.assertQueryCount(QUERIES["existing_dialog"]):
            row._process_inbound()
        self.assertEqual(row.state, "done")
        self.assertEqual(len(self.client_messages(row.dialog_id)), 3)

    @warmup
    def test_outbound_message(self):
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
        self.ingest(self.text_update(90))._process_inbound()
        dialog = self.dialog_of()
        self.operator_reply(dialog, "Первый")
        with self.assertQueryCount(QUERIES["reply"]):
            self.operator_reply(dialog, "Второй")


#: queries with a cold cache, as in a fresh cron transaction (a batch shares
#: the channel, line and session reads, so the benchmark's average is lower);
#: a new dialog includes its CRM lead (the line's default rule), about 25 queries
QUERIES = {"ack": 8, "new_dialog": 94, "existing_dialog": 29, "outbound": 7, "reply": 19}
