"""The operator sees in Discuss what became of each message: waiting, sent,
delivered, read, or not delivered and why (a ``mail.notification`` of type
"openlines" on the message, as SMS does), live through the channel's bus."""

import json
from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..connectors.meta import sign
from . import test_tour
from .common import WEBHOOK, OpenlinesCase
from .fake_meta import load_fixture
from .fake_whatsapp import FakeWhatsApp

APP_SECRET = "meta-app-secret"
WA_CLIENT = "972987654321"


class DeliveryMarkMixin:
    def mark_of(self, message):
        """The delivery mark of ``message`` (its one "openlines" notification)."""
        marks = message.sudo().notification_ids.filtered(lambda n: n.notification_type == "openlines")
        self.assertEqual(len(marks), 1, "one mark per operator message")
        return marks

    def assertMark(self, message, status, error=None):
        mark = self.mark_of(message)
        self.assertEqual(mark.notification_status, status)
        if error is None:
            self.assertFalse(mark.failure_reason)
        else:
            self.assertIn(error, mark.failure_reason or "")
        return mark

    def bus_marks(self, mark):
        """Statuses of ``mark`` sent to the dialog's channel through the bus, in order."""
        self.env.cr.precommit.run()  # the bus rows of this transaction
        channel = self.env["openlines.message"].search([("notification_id", "=", mark.id)]).dialog_id
        statuses = []
        notifications = self.env["bus.bus"].sudo().search([("message", "like", '"mail.notification"')], order="id")
        for notification in notifications:
            if json.loads(notification.channel)[1:] != ["discuss.channel", channel.discuss_channel_id.id]:
                continue
            payload = json.loads(notification.message)["payload"]
            statuses += [v["notification_status"] for v in payload["mail.notification"] if v["id"] == mark.id]
        return statuses


@tagged("post_install", "-at_install")
class TestDeliveryDisplay(DeliveryMarkMixin, OpenlinesCase):
    def setUp(self):
        super().setUp()
        self.dialog = self.client_writes(7700001, "Есть доставка?")
        self.fake.calls.clear()

    def later(self, minutes):
        return freeze_time(fields.Datetime.now() + timedelta(minutes=minutes))

    def messages_rpc(self, user):
        """The channel's messages as the Discuss client loads them (``/discuss/channel/messages``)."""
        self.authenticate(user.login, user.login)
        return self.make_jsonrpc_request(
            "/discuss/channel/messages",
            {"channel_id": self.dialog.discuss_channel_id.id, "fetch_params": {"limit": 30}},
        )["data"]

    @mute_logger("odoo.addons.openlines_connector.connectors.telegram")
    def test_waiting_while_the_api_is_down_then_sent(self):
        message = self.operator_reply(self.dialog, "Да, доставляем.")
        mark = self.assertMark(message, "ready")
        self.assertEqual(mark.res_partner_id, self.dialog.partner_id, "the recipient is the client")
        self.assertEqual(mark.author_id, self.operator.partner_id, "a failure is listed for its author")

        # the Discuss client loads the channel: the message carries its mark
        data = self.messages_rpc(self.operator)
        (msg_data,) = [m for m in data["mail.message"] if m["id"] == message.id]
        self.assertEqual(msg_data["notification_ids"], [mark.id])
        (mark_data,) = [n for n in data["mail.notification"] if n["id"] == mark.id]
        self.assertEqual((mark_data["notification_type"], mark_data["notification_status"]), ("openlines", "ready"))

        self.fake.down = True  # HTTP 500 on every call
        self.send()
        self.assertEqual(self.rows("out").state, "retry")
        self.assertMark(message, "ready")
        self.fake.down = False
        self.fake.queue_error("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
        with self.later(5):
            self.send()
        self.assertEqual(self.rows("out").state, "retry")
        self.assertMark(message, "ready")
        with self.later(30):
            self.send()
        self.assertEqual(self.rows("out").state, "done")
        self.assertMark(message, "pending")  # mail's word for "sent": handed over to the messenger
        self.assertEqual(len(self.fake.calls_of("sendMessage")), 3)
        self.assertEqual(self.bus_marks(mark), ["pending"], "the open Discuss window learns it once")

    @mute_logger("odoo.addons.openlines_connector.connectors.telegram")
    def test_permanent_failure_shows_the_error_and_the_operator_retries(self):
        self.fake.queue_error("sendMessage", 400, "Bad Request: chat not found")
        message = self.operator_reply(self.dialog, "Вы тут?")
        self.send()
        row = self.rows("out")
        self.assertEqual(row.state, "failed")
        mark = self.assertMark(message, "exception", error="Chat not found")
        self.assertEqual(mark.failure_type, "unknown")
        self.assertEqual(self.bus_marks(mark), ["exception"])

        data = self.messages_rpc(self.operator)
        (mark_data,) = [n for n in data["mail.notification"] if n["id"] == mark.id]
        self.assertEqual(mark_data["notification_status"], "exception")
        self.assertIn("Chat not found", mark_data["failure_reason"])
        # the author's failures (the messaging menu) include it
        failures = self.make_jsonrpc_request("/mail/data", {"fetch_params": ["failures"]})
        self.assertIn(mark.id, [n["id"] for n in failures["mail.notification"]])

        # "Retry" from Discuss: waiting again, then sent
        self.assertTrue(message.with_user(self.operator).openlines_retry_delivery())
        self.assertEqual(row.state, "pending")
        self.assertMark(message, "ready")
        self.send()
        self.assertEqual(row.state, "done")
        self.assertMark(message, "pending")
        self.assertEqual(len(self.fake.calls_of("sendMessage")), 2)
        self.assertFalse(message.with_user(self.operator).openlines_retry_delivery(), "nothing left to retry")

    def test_client_messages_and_notes_have_no_mark(self):
        client_message = self.client_messages(self.dialog)[-1]
        note = self.dialog.discuss_channel_id.with_user(self.operator).message_post(
            body="internal", message_type="comment", subtype_xmlid="mail.mt_note"
        )
        self.assertFalse((client_message | note).sudo().notification_ids)


@tagged("post_install", "-at_install")
class TestDeliveryDisplayWhatsApp(DeliveryMarkMixin, OpenlinesCase):
    """Receipts of the messenger (WhatsApp statuses): delivered, read, failed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.wa = FakeWhatsApp().start()
        cls.addClassCleanup(cls.wa.stop)
        cls.ch_wa = cls.env["openlines.channel"].create(
            {
                "line_id": cls.line.id,
                "webhook_secret": APP_SECRET,
                "name": "WA",
                "channel_type": "whatsapp",
                "token": cls.wa.token,
                "wa_phone_number_id": cls.wa.phone_id,
                "api_base_url": cls.wa.url,
            }
        )

    def deliver(self, payload):
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)}
        response = self.url_open(WEBHOOK % self.ch_wa.webhook_key, data=body, headers=headers)
        self.assertEqual(response.status_code, 200, response.text)
        self.process()

    def wa_status(self, wamid, status):
        payload = load_fixture("whatsapp", "status_failed" if status == "failed" else "status_read")
        item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
        item.update(id=wamid, status=status, recipient_id=WA_CLIENT)
        return payload

    def answer(self, text):
        self.deliver(load_fixture("whatsapp", "text"))
        dialog = self.env["openlines.dialog"].search(
            [("channel_id", "=", self.ch_wa.id), ("contact_id.external_id", "=", WA_CLIENT)], limit=1
        )
        message = self.operator_reply(dialog, text)
        self.send()
        row = self.env["openlines.message"].search([("mail_message_id", "=", message.id)])
        self.assertEqual(row.state, "done")
        return message, row.remote_message_id.partition(":")[2]

    def test_delivered_then_read(self):
        message, wamid = self.answer("Добрый день!")
        mark = self.assertMark(message, "pending")
        self.deliver(self.wa_status(wamid, "delivered"))
        self.assertMark(message, "sent")  # mail's word for "delivered"
        self.deliver(self.wa_status(wamid, "read"))
        self.assertMark(message, "read")
        self.deliver(self.wa_status(wamid, "delivered"))  # late: read stays
        self.assertMark(message, "read")
        self.assertEqual(self.bus_marks(mark), ["pending", "sent", "read"])

    def test_failed_receipt(self):
        message, wamid = self.answer("Ответ")
        self.deliver(self.wa_status(wamid, "failed"))
        self.assertMark(message, "exception", error="130472")


@tagged("post_install", "-at_install")
class TestDeliveryDisplayTour(OpenlinesCase):
    """In the browser: the red mark, its error, "Send again", and the mark updated through the bus."""

    @classmethod
    def setUpClass(cls):
        test_tour.TestDiscussTour._pregenerate_assets()
        super().setUpClass()

    @mute_logger("odoo.addons.openlines_connector.connectors.telegram")
    def test_failed_message_is_shown_and_sent_again(self):
        self.receive(self.fixture("reply"))
        dialog = self.dialog_of()
        self.fake.queue_error("sendMessage", 400, "Bad Request: chat not found")
        message = self.operator_reply(dialog, "Сообщение, которое не дошло")
        self.send()
        row = self.env["openlines.message"].search([("mail_message_id", "=", message.id)])
        self.assertEqual(row.state, "failed")

        self.start_tour("/odoo/discuss", "openlines_delivery_tour", login="ol_operator")

        self.assertEqual(row.state, "pending", "sent again from the browser")
        self.send()
        self.assertEqual(row.state, "done")
