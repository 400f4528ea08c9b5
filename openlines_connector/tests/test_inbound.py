import base64

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import OpenlinesCase


@tagged("post_install", "-at_install")
class TestInbound(OpenlinesCase):
    """Every Telegram update kind, from the webhook to the Discuss session."""

    def test_text_opens_a_dialog_in_discuss_as_the_client(self):
        self.receive(self.fixture("reply"))
        dialog = self.dialog_of()
        self.assertTrue(dialog)
        self.assertEqual(dialog.state, "assigned")
        self.assertEqual(dialog.operator_id, self.operator)
        self.assertEqual(dialog.line_id, self.line)
        self.assertEqual(dialog.source, "telegram")
        self.assertEqual(dialog.partner_id.name, "Test Test Lastname")
        self.assertEqual(dialog.contact_id.username, "Test")
        session = dialog.discuss_channel_id
        self.assertEqual(session.channel_type, "livechat")
        self.assertEqual(session.livechat_channel_id, self.line.livechat_channel_id)
        self.assertEqual(session.livechat_operator_id, self.operator.partner_id)
        self.assertEqual(set(session.channel_member_ids.mapped("livechat_member_type")), {"agent", "visitor"})
        message = self.client_messages(dialog)
        self.assertEqual(len(message), 1)
        self.assertIn("Здравствуйте", message.body)
        self.assertEqual(message.message_type, "comment")
        row = self.rows()
        self.assertEqual((row.state, row.dialog_id, row.mail_message_id), ("done", dialog, message))
        self.assertFalse(row.payload, "the raw payload is dropped once processed")

    def test_second_message_continues_the_same_dialog(self):
        self.receive(self.fixture("text"))
        self.receive(self.fixture("reply"))
        dialogs = self.env["openlines.dialog"].search([("channel_id", "=", self.channel.id)])
        self.assertEqual(len(dialogs), 1)
        self.assertEqual(len(self.client_messages(dialogs)), 2)
        self.assertEqual(len(self.env["openlines.contact"].search([("channel_id", "=", self.channel.id)])), 1)

    def test_edited_message_edits_the_message_in_discuss(self):
        self.receive(self.fixture("reply"))  # message 1366, which the edit changes
        self.assertEqual(self.rows().remote_message_id, "1111111:1366")
        self.receive(self.fixture("edited_message"))
        dialog = self.dialog_of()
        messages = self.client_messages(dialog)
        self.assertEqual(len(messages), 1, "an edit is not a new message")
        self.assertIn("Казань и Самару", messages.body)
        self.assertEqual(len(self.env["openlines.dialog"].search([("channel_id", "=", self.channel.id)])), 1)

    @mute_logger("odoo.addons.openlines_connector.models.openlines_message")
    def test_edit_of_an_unknown_message_creates_nothing(self):
        self.receive(self.fixture("edited_message"))
        self.assertFalse(self.dialog_of())
        self.assertEqual(self.rows().state, "ignored")

    def test_photo_takes_the_largest_size_into_an_attachment(self):
        self.fake.add_file("AgACAgIAAxkBAAIBYGVvB0-large", b"\xff\xd8large-jpeg")
        self.fake.add_file("AgACAgIAAxkBAAIBYGVvB0-small", b"\xff\xd8small")
        self.receive(self.fixture("photo"))
        message = self.client_messages(self.dialog_of())
        self.assertEqual(len(message.attachment_ids), 1)
        self.assertEqual(base64.b64decode(message.attachment_ids.datas), b"\xff\xd8large-jpeg")
        self.assertIn("Вот такой товар нужен", message.body)
        self.assertEqual([p["file_id"] for p in self.fake.calls_of("getFile")], ["AgACAgIAAxkBAAIBYGVvB0-large"])

    def test_document_voice_and_sticker_become_attachments(self):
        for name in ("document", "voice", "sticker"):
            update = self.fixture(name)
            message = update["message"]
            media = message.get("document") or message.get("voice") or message.get("sticker")
            self.fake.add_file(media["file_id"], f"{name}-bytes".encode())
            self.receive(update)
        messages = self.client_messages(self.dialog_of())
        self.assertEqual(len(messages), 3)
        contents = sorted(base64.b64decode(a.datas) for a in messages.attachment_ids)
        self.assertEqual(contents, [b"document-bytes", b"sticker-bytes", b"voice-bytes"])
        self.assertEqual(messages[0].attachment_ids.name, self.fixture("document")["message"]["document"]["file_name"])

    def test_file_over_20_mb_becomes_a_clear_note(self):
        update = self.fixture("document")
        update["message"]["document"]["file_size"] = 25 * 1024 * 1024
        self.receive(update)
        message = self.client_messages(self.dialog_of())
        self.assertFalse(message.attachment_ids)
        self.assertIn("download limit", message.body)
        self.assertFalse(self.fake.calls_of("getFile"), "no download is even tried")
        self.assertEqual(self.rows().state, "done")

    def test_location_and_contact_become_readable_text(self):
        self.receive(self.fixture("location"))
        self.receive(self.fixture("contact"))
        bodies = self.client_messages(self.dialog_of()).mapped("body")
        self.assertIn("openstreetmap.org", bodies[0])
        location = self.fixture("location")["message"]["location"]
        self.assertIn(str(location["latitude"]), bodies[0])
        phone = self.fixture("contact")["message"]["contact"]["phone_number"].lstrip("+")
        self.assertIn(phone, bodies[1])

    def test_button_press_is_shown_and_acknowledged(self):
        self.receive(self.fixture("text"))
        self.receive(self.fixture("callback_query"))
        messages = self.client_messages(self.dialog_of())
        data = self.fixture("callback_query")["callback_query"]["data"]
        self.assertIn(data, messages[-1].body)
        self.assertEqual(len(self.fake.calls_of("answerCallbackQuery")), 1)

    @mute_logger("odoo.addons.openlines_connector.models.openlines_message")
    def test_group_messages_open_no_dialog(self):
        self.receive(self.fixture("group_message"))
        self.assertFalse(self.env["openlines.dialog"].search([("channel_id", "=", self.channel.id)]))
        self.assertEqual(self.rows().state, "ignored")

    def test_blocking_the_bot_marks_the_contact_and_tells_the_operator(self):
        self.receive(self.fixture("text"))
        self.receive(self.fixture("my_chat_member_blocked"))
        dialog = self.dialog_of()
        self.assertTrue(dialog.contact_id.is_blocked)
        self.assertIn("blocked the bot", dialog.discuss_channel_id.message_ids[0].body)

    def test_nobody_online_queues_the_dialog_and_take_assigns_it(self):
        self.env["mail.presence"].search([("user_id", "=", self.operator.id)]).unlink()
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        self.assertEqual(dialog.state, "queued")
        self.assertFalse(dialog.operator_id)
        dialog.with_user(self.operator).action_take()
        self.assertEqual(dialog.operator_id, self.operator)
        self.assertEqual(dialog.state, "assigned")
        self.assertIn(self.operator.partner_id, dialog.discuss_channel_id.channel_member_ids.partner_id)

    def test_closed_dialog_reopens_within_the_window_else_a_new_one(self):
        self.receive(self.fixture("text"))
        dialog = self.dialog_of()
        dialog.action_close()
        self.assertEqual(dialog.state, "closed")
        self.assertTrue(dialog.discuss_channel_id.livechat_end_dt)
        self.receive(self.fixture("reply"))
        self.assertEqual(self.dialog_of(), dialog)
        self.assertEqual(dialog.state, "assigned")
        self.assertFalse(dialog.discuss_channel_id.livechat_end_dt)
        dialog.action_close()
        self.line.reopen_hours = 0
        self.receive(self.fixture("entities"))
        self.assertNotEqual(self.dialog_of(), dialog)

    def test_polling_mode_reads_get_updates(self):
        self.channel.write({"receive_mode": "polling", "state": "connected"})
        self.fake.updates = [self.fixture("text"), self.fixture("reply")]
        self.run_cron("openlines_connector.ir_cron_openlines_poll")
        self.assertEqual(len(self.rows()), 2)
        self.assertEqual(self.channel.poll_offset, str(self.fixture("reply")["update_id"] + 1))
        self.run_cron("openlines_connector.ir_cron_openlines_poll")  # nothing new, nothing twice
        self.assertEqual(len(self.rows()), 2)
        self.process()
        self.assertEqual(len(self.client_messages(self.dialog_of())), 2)
