from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import OpenlinesCase


@tagged("post_install", "-at_install")
class TestOutbound(OpenlinesCase):
    """What an operator posts in Discuss reaches the client; failures are shown, not lost."""

    def setUp(self):
        super().setUp()
        self.receive(self.fixture("text"))
        self.dialog = self.dialog_of()
        self.fake.calls.clear()

    def test_operator_reply_reaches_the_client(self):
        message = self.operator_reply(self.dialog, "Да, доставляем в Казань.")
        row = self.rows("out")
        self.assertEqual((row.state, row.mail_message_id), ("pending", message))
        self.send()
        calls = self.fake.calls_of("sendMessage")
        self.assertEqual(len(calls), 1)
        self.assertEqual(str(calls[0]["chat_id"]), "1111111")
        self.assertEqual(calls[0]["text"], "Да, доставляем в Казань.")
        self.assertEqual(row.state, "done")
        self.assertTrue(row.external_id.startswith("1111111:"))
        self.assertEqual(self.dialog.state, "answered")
        self.send()  # nothing is sent twice
        self.assertEqual(len(self.fake.calls_of("sendMessage")), 1)

    def test_client_messages_and_notes_are_never_sent(self):
        self.dialog.discuss_channel_id.with_user(self.operator).message_post(
            body="internal", message_type="comment", subtype_xmlid="mail.mt_note"
        )
        self.receive(self.fixture("reply"))
        self.send()
        self.assertFalse(self.rows("out"))
        self.assertFalse(self.fake.calls_of("sendMessage"))

    def test_long_text_is_split(self):
        text = "\n".join(f"Строка номер {i} с описанием товара и его цены." for i in range(250))
        self.assertGreater(len(text), 8192)
        self.operator_reply(self.dialog, text)
        self.send()
        parts = [c["text"] for c in self.fake.calls_of("sendMessage")]
        self.assertEqual(len(parts), 3)
        self.assertTrue(all(len(p) <= 4096 for p in parts))
        self.assertEqual("".join(parts).replace("\n", ""), text.replace("\n", ""))
        self.assertEqual(len(self.rows("out")), 1)

    def test_attachments_go_through_send_photo_and_send_document(self):
        self.operator_reply(self.dialog, "Фото", attachments=[("photo.png", b"\x89PNG\r\n\x1a\nfake")])
        self.operator_reply(self.dialog, "Счёт", attachments=[("invoice.pdf", b"%PDF-1.4 fake")])
        self.send()
        (photo,) = self.fake.calls_of("sendPhoto")
        (document,) = self.fake.calls_of("sendDocument")
        self.assertEqual(photo["caption"], "Фото")
        self.assertEqual(document["caption"], "Счёт")
        self.assertFalse(self.fake.calls_of("sendMessage"))
        self.assertEqual(self.rows("out").mapped("state"), ["done", "done"])

    @mute_logger("odoo.addons.openlines_connector.connectors.telegram")
    def test_429_is_retried_after_retry_after(self):
        self.fake.queue_error("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
        self.operator_reply(self.dialog, "Первый")
        self.operator_reply(self.dialog, "Второй")
        self.send()
        first, second = self.rows("out")
        self.assertEqual((first.state, first.attempts), ("retry", 1))
        self.assertEqual(second.state, "pending", "the second waits behind the first: order is kept")
        self.assertAlmostEqual(
            first.next_attempt_dt, fields.Datetime.now() + timedelta(seconds=7), delta=timedelta(seconds=3)
        )
        with freeze_time(fields.Datetime.now() + timedelta(seconds=8)):
            self.send()
        self.assertEqual(self.rows("out").mapped("state"), ["done", "done"])
        texts = [c["text"] for c in self.fake.calls_of("sendMessage")]
        self.assertEqual(texts, ["Первый", "Первый", "Второй"])  # the 429 call, then both in order

    @mute_logger("odoo.addons.openlines_connector.connectors.telegram")
    def test_403_marks_failed_and_tells_the_operator(self):
        self.fake.queue_error("sendMessage", 403, "Forbidden: bot was blocked by the user")
        self.operator_reply(self.dialog, "Вы тут?")
        self.send()
        row = self.rows("out")
        self.assertEqual(row.state, "failed")
        self.assertIn("blocked", row.last_error)
        self.assertTrue(self.dialog.contact_id.is_blocked)
        notice = self.dialog.discuss_channel_id.message_ids[0]
        self.assertEqual(notice.message_type, "notification")
        self.assertIn("not delivered", notice.body)
        self.send()
        self.assertEqual(len(self.fake.calls_of("sendMessage")), 1, "a permanent failure is not retried")

    @mute_logger("odoo.addons.openlines_connector.connectors.telegram")
    def test_api_down_waits_with_backoff_then_delivers(self):
        self.fake.down = True
        self.operator_reply(self.dialog, "Ответ")
        self.send()
        row = self.rows("out")
        self.assertEqual(row.state, "retry")
        self.assertTrue(row.last_error)
        self.fake.down = False
        with freeze_time(fields.Datetime.now() + timedelta(minutes=5)):
            self.send()
        self.assertEqual(row.state, "done")
