"""End to end, like Telegram's: WhatsApp, Viber, Messenger and Instagram through the
real webhook route, the processing and sending crons, and loopback fake APIs."""

import base64
import copy
import hashlib
import hmac
import json
from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger
from odoo.tools.safe_eval import safe_eval

from ..connectors.meta import sign
from .common import WEBHOOK, OpenlinesCase
from .fake_meta import FakeMeta, graph_error, load_fixture
from .fake_viber import FakeViber
from .fake_whatsapp import FakeWhatsApp

APP_SECRET = "meta-app-secret"
VERIFY = "verify-me-123"
WA_CLIENT = "972987654321"
VB_CLIENT = "01234567890A="
FB_CLIENT = "1436161156394835"
IG_CLIENT = "usr_101"
RATINGS = [f"rate:{n}" for n in range(1, 6)]


@tagged("post_install", "-at_install")
class TestFlowWhatsAppViberMeta(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.wa, cls.vb, cls.fb = FakeWhatsApp().start(), FakeViber().start(), FakeMeta().start()
        for fake in (cls.wa, cls.vb, cls.fb):
            cls.addClassCleanup(fake.stop)
        Channel = cls.env["openlines.channel"]
        common = {"line_id": cls.line.id, "webhook_secret": APP_SECRET, "verify_token": VERIFY}
        cls.ch_wa = Channel.create(
            common
            | {
                "name": "WA",
                "channel_type": "whatsapp",
                "token": cls.wa.token,
                "wa_phone_number_id": cls.wa.phone_id,
                "api_base_url": cls.wa.url,
            }
        )
        cls.ch_vb = Channel.create(
            common
            | {
                "name": "VB",
                "channel_type": "viber",
                "token": cls.vb.token,
                "api_base_url": cls.vb.url,
                "sender_name": "",
            }
        )
        cls.ch_fb, cls.ch_ig = (
            Channel.create(
                common
                | {
                    "name": kind,
                    "channel_type": kind,
                    "token": cls.fb.token,
                    "meta_page_id": cls.fb.page_id,
                    "api_base_url": cls.fb.url,
                }
            )
            for kind in ("messenger", "instagram")
        )

    def setUp(self):
        super().setUp()
        for fake in (self.wa, self.vb, self.fb):
            fake.calls.clear()
        self.wa.sent.clear()
        self.fb.sent.clear()

    # -- helpers ------------------------------------------------------------------
    def first_message(self, channel):
        """A client's first message on ``channel`` (documented samples) and the client's id there."""
        return {
            "whatsapp": (load_fixture("whatsapp", "text"), WA_CLIENT),
            "viber": (load_fixture("viber", "viberbot_message_unicode"), VB_CLIENT),
            "messenger": (load_fixture("messenger", "text"), FB_CLIENT),
            "instagram": (load_fixture("instagram", "text"), IG_CLIENT),
        }[channel.channel_type]

    def sent_buttons(self, channel):
        """``[(title, data)]`` of the buttons of the last message the fake API accepted on ``channel``."""
        kind = channel.channel_type
        if kind == "whatsapp":
            action = [m for m in self.wa.sent if m["type"] == "interactive"][-1]["interactive"]["action"]
            items = [b["reply"] for b in action.get("buttons") or []]
            items += [r for section in action.get("sections") or [] for r in section["rows"]]
            return [(i["title"], i["id"]) for i in items]
        if kind == "viber":
            body = [c for _n, c in self.vb.calls if _n == "send_message" and c.get("keyboard")][-1]
            self.vb_tracking = body["tracking_data"]
            return [(b["Text"], b["ActionBody"]) for b in body["keyboard"]["Buttons"]]
        quick = [m for m in self.fb.sent if m["message"].get("quick_replies")][-1]["message"]["quick_replies"]
        return [(q["title"], q["payload"]) for q in quick]

    def press(self, channel, chat_id, button, n):
        """The webhook body the platform documents for a press of ``button`` (title, data) by ``chat_id``."""
        title, data = button
        kind = channel.channel_type
        if kind == "whatsapp":  # pywa / Meta OpenAPI: interactive.button_reply {id, title}
            payload = load_fixture("whatsapp", "pywa_interactive_button_reply")
            msg = payload["entry"][0]["changes"][0]["value"]["messages"][0]
            msg.update(id=f"wamid.press{n}", **{"from": chat_id})
            payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = chat_id
            if len(self.sent_buttons(channel)) > 3:  # a list: list_reply {id, title, description}
                msg["interactive"] = {"type": "list_reply", "list_reply": {"id": data, "title": title}}
            else:
                msg["interactive"]["button_reply"] = {"id": data, "title": title}
            return payload
        if kind == "viber":  # a reply button comes back as a text message: the ActionBody, our tracking_data
            payload = load_fixture("viber", "keyboard_reply_rate")
            payload["message_token"] = 4912661846655238200 + n
            payload["sender"]["id"] = chat_id
            payload["message"].update(text=data, tracking_data=self.vb_tracking)
            return payload
        payload = load_fixture(kind, "meta_doc_quick_reply")  # message.quick_reply.payload
        item = payload["entry"][0]["messaging"][0]
        item["sender"]["id"] = chat_id
        item["message"].update(mid=f"m_press{n}", text=title, quick_reply={"payload": data})
        return payload

    def rating_of(self, dialog):
        return self.env["rating.rating"].search(
            [("res_model", "=", "discuss.channel"), ("res_id", "=", dialog.discuss_channel_id.id)]
        )

    def _rating_round_trip(self, channel):
        self.line.rating_request = True
        first, chat_id = self.first_message(channel)
        self.deliver(channel, first)
        dialog = self.dialog_on(channel, chat_id)
        dialog.action_close()
        self.send()
        buttons = self.sent_buttons(channel)
        self.assertEqual([data for _t, data in buttons], RATINGS)
        self.deliver(channel, self.press(channel, chat_id, buttons[3], 1))
        self.assertEqual((self.rating_of(dialog).rating, dialog.rating_value), (4, 4))
        self.assertEqual(self.rows_of(channel)[-1].state, "done")

    def _consent_round_trip(self, channel):
        self.line.consent_required = True
        first, chat_id = self.first_message(channel)
        self.deliver(channel, first)
        self.assertFalse(self.dialog_on(channel, chat_id), "held until the client accepts")
        buttons = self.sent_buttons(channel)
        self.assertEqual([data for _t, data in buttons], ["consent:yes", "consent:no"])
        # the button's data decides, not its title (a title in another language would not read as a yes)
        self.deliver(channel, self.press(channel, chat_id, ("Go", buttons[0][1]), 2))
        self.process()  # the held message
        dialog = self.dialog_on(channel, chat_id)
        self.assertTrue(dialog.contact_id.consent_date)
        self.assertEqual(len(self.client_messages(dialog)), 1, "the held message reached the dialog")

    def _chatbot_round_trip(self, channel):
        script = self.shop_bot()
        buy, support = script.script_step_ids[0].answer_ids.sorted("sequence")
        first, chat_id = self.first_message(channel)
        self.deliver(channel, first)
        self.send()
        buttons = self.sent_buttons(channel)
        self.assertEqual([data for _t, data in buttons], [f"chatbot:{buy.id}", f"chatbot:{support.id}"])
        self.deliver(channel, self.press(channel, chat_id, buttons[1], 3))
        session = self.dialog_on(channel, chat_id).discuss_channel_id
        answered = session.chatbot_message_ids.filtered(lambda m: m.script_step_id == script.script_step_ids[0])
        self.assertEqual(answered.user_script_answer_id, support, "the pressed answer moved the script on")

    # -- every button round trip, per messenger, in the documented inbound shape ------------------
    def test_whatsapp_rating_button_round_trip(self):
        self._rating_round_trip(self.ch_wa)

    def test_viber_rating_button_round_trip(self):
        self._rating_round_trip(self.ch_vb)

    def test_messenger_rating_quick_reply_round_trip(self):
        self._rating_round_trip(self.ch_fb)

    def test_instagram_rating_quick_reply_round_trip(self):
        self._rating_round_trip(self.ch_ig)

    def test_consent_buttons_round_trip_on_each_messenger(self):
        for channel in (self.ch_wa, self.ch_vb, self.ch_fb, self.ch_ig):
            with self.subTest(channel.channel_type):
                self._consent_round_trip(channel)

    def test_chatbot_buttons_round_trip_on_each_messenger(self):
        for channel in (self.ch_wa, self.ch_vb, self.ch_fb, self.ch_ig):
            with self.subTest(channel.channel_type):
                self._chatbot_round_trip(channel)

    def test_whatsapp_value_errors_leave_a_trace(self):
        self.deliver(self.ch_wa, load_fixture("whatsapp", "meta_doc_value_errors_130429"))
        (row,) = self.rows_of(self.ch_wa)
        self.assertEqual(row.state, "ignored")
        self.assertIn("130429", row.last_error or "")

    def test_instagram_sends_a_pdf(self):
        self.deliver(self.ch_ig, load_fixture("instagram", "text"))
        dialog = self.dialog_on(self.ch_ig, IG_CLIENT)
        self.operator_reply(dialog, "Счёт", attachments=[("invoice.pdf", b"%PDF-1.4 fake")])
        self.send()
        self.assertEqual(self.rows_of(self.ch_ig, "out").state, "done", self.rows_of(self.ch_ig, "out").last_error)
        (upload,) = self.fb.calls_of("message_attachments")
        self.assertEqual(upload["platform"], "instagram")
        self.assertEqual([m["message"].get("attachment", {}).get("type") for m in self.fb.sent], ["file", None])

    def test_messenger_read_watermark_marks_the_answer_read(self):
        self.deliver(self.ch_fb, load_fixture("messenger", "text"))
        dialog = self.dialog_on(self.ch_fb, FB_CLIENT)
        self.operator_reply(dialog, "Hello!")
        self.send()
        out = self.rows_of(self.ch_fb, "out")
        read = load_fixture("messenger", "meta_doc_read_watermark")
        item = read["entry"][0]["messaging"][0]
        item["sender"]["id"] = FB_CLIENT
        item["read"]["watermark"] = int(fields.Datetime.now().timestamp() * 1000) + 60000
        self.deliver(self.ch_fb, read)
        self.assertEqual(out.delivery_status, "read")

    def post(self, channel, payload, signature=True):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if signature is True and channel.channel_type == "viber":
            headers["X-Viber-Content-Signature"] = hmac.new(channel.token.encode(), body, hashlib.sha256).hexdigest()
        elif signature is True:
            headers["X-Hub-Signature-256"] = sign(APP_SECRET, body)
        elif signature:
            headers["X-Hub-Signature-256"] = signature
        return self.url_open(WEBHOOK % channel.webhook_key, data=body, headers=headers)

    def deliver(self, channel, payload):
        response = self.post(channel, payload)
        self.assertEqual(response.status_code, 200, response.text)
        self.process()
        return response

    def rows_of(self, channel, direction="in"):
        return self.env["openlines.message"].search(
            [("channel_id", "=", channel.id), ("direction", "=", direction)], order="id"
        )

    def dialog_on(self, channel, chat_id):
        return self.env["openlines.dialog"].search(
            [("channel_id", "=", channel.id), ("contact_id.external_id", "=", chat_id)], limit=1
        )

    def notices(self, dialog):
        return dialog.discuss_channel_id.message_ids.filtered(lambda m: m.message_type == "notification")

    def wa_status(self, wamid, status):
        payload = load_fixture("whatsapp", "status_failed" if status == "failed" else "status_read")
        item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
        item.update(id=wamid, status=status, recipient_id=WA_CLIENT)
        return payload

    # -- WhatsApp -------------------------------------------------------------------
    def test_whatsapp_get_verification_echoes_the_challenge(self):
        url = WEBHOOK % self.ch_wa.webhook_key
        ok = self.url_open(f"{url}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444")
        self.assertEqual((ok.status_code, ok.text), (200, "1158201444"))
        bad = self.url_open(f"{url}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444")
        self.assertEqual(bad.status_code, 403)
        self.assertNotIn("1158201444", bad.text)

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_forged_or_missing_signature_is_refused(self):
        payload = load_fixture("whatsapp", "text")
        self.assertEqual(self.post(self.ch_wa, payload, signature=sign("forged", b"x")).status_code, 403)
        self.assertEqual(self.post(self.ch_wa, payload, signature=None).status_code, 403)
        self.assertEqual(self.post(self.ch_fb, load_fixture("messenger", "text"), signature=None).status_code, 403)
        self.assertFalse(self.rows_of(self.ch_wa) | self.rows_of(self.ch_fb))

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_signed_but_malformed_bodies_are_400(self):
        self.assertEqual(self.post(self.ch_wa, b'{"entry": 3}').status_code, 400)
        self.assertEqual(self.post(self.ch_wa, b'{"entry": [').status_code, 400)
        self.assertEqual(self.post(self.ch_vb, b'{"event": "message"}').status_code, 400)
        self.assertEqual(self.post(self.ch_ig, b"[1]").status_code, 400)
        self.assertFalse(self.rows_of(self.ch_wa) | self.rows_of(self.ch_vb) | self.rows_of(self.ch_ig))

    def test_whatsapp_message_reply_and_read_receipt(self):
        self.deliver(self.ch_wa, load_fixture("whatsapp", "text"))
        dialog = self.dialog_on(self.ch_wa, WA_CLIENT)
        self.assertEqual(dialog.source, "whatsapp")
        self.assertEqual(dialog.partner_id.name, "Test Name")
        (message,) = self.client_messages(dialog)
        self.assertIn("Body Text", message.body)
        self.operator_reply(dialog, "Добрый день!")
        self.send()
        (call,) = self.wa.calls_of("messages")
        self.assertEqual((call["to"], call["text"]["body"]), (WA_CLIENT, "Добрый день!"))
        out = self.rows_of(self.ch_wa, "out")
        self.assertEqual(out.state, "done")
        wamid = out.remote_message_id.partition(":")[2]
        self.assertTrue(wamid.startswith("wamid.FAKE"))
        self.deliver(self.ch_wa, self.wa_status(wamid, "read"))
        self.assertEqual(out.delivery_status, "read")
        self.deliver(self.ch_wa, self.wa_status(wamid, "delivered"))  # late: the highest state stays
        self.assertEqual(out.delivery_status, "read")
        self.assertEqual(len(self.client_messages(dialog)), 1, "a status is no client message")

    def test_whatsapp_failed_status_is_shown_to_the_operator(self):
        self.deliver(self.ch_wa, load_fixture("whatsapp", "text"))
        dialog = self.dialog_on(self.ch_wa, WA_CLIENT)
        self.operator_reply(dialog, "Ответ")
        self.send()
        out = self.rows_of(self.ch_wa, "out")
        self.deliver(self.ch_wa, self.wa_status(out.remote_message_id.partition(":")[2], "failed"))
        self.assertEqual((out.delivery_status, out.state), ("failed", "failed"))
        self.assertIn("130472", out.last_error)
        self.assertIn("130472", self.notices(dialog)[0].body)

    def test_duplicate_message_id_gives_one_message(self):
        payload = load_fixture("whatsapp", "text")
        for _i in range(3):
            self.assertEqual(self.post(self.ch_wa, payload).status_code, 200)
        self.process()
        self.deliver(self.ch_wa, payload)
        self.assertEqual(len(self.rows_of(self.ch_wa)), 1)
        self.assertEqual(len(self.client_messages(self.dialog_on(self.ch_wa, WA_CLIENT))), 1)

    def test_whatsapp_image_is_downloaded(self):
        self.wa.add_media("65463453", b"\xff\xd8wa-jpeg", "image/jpeg")
        self.deliver(self.ch_wa, load_fixture("whatsapp", "image"))
        row = self.rows_of(self.ch_wa)
        self.assertEqual(row.state, "done", row.last_error)
        (message,) = self.client_messages(self.dialog_on(self.ch_wa, WA_CLIENT))
        self.assertEqual(base64.b64decode(message.attachment_ids.datas), b"\xff\xd8wa-jpeg")

    @mute_logger("odoo.addons.openlines_connector.models.openlines_message")
    def test_whatsapp_window_closed_warns_then_explains_131047(self):
        self.deliver(self.ch_wa, load_fixture("whatsapp", "text"))
        dialog = self.dialog_on(self.ch_wa, WA_CLIENT)
        dialog.date_last_client = fields.Datetime.now() - timedelta(hours=25)
        self.wa.queue_error("messages", *graph_error(131047, "Re-engagement message"))
        self.operator_reply(dialog, "Вы ещё здесь?")
        self.assertIn("24 hours", self.notices(dialog)[0].body)
        self.send()
        out = self.rows_of(self.ch_wa, "out")
        self.assertEqual(out.state, "failed")
        self.assertIn("template", out.last_error)
        self.assertIn("template", self.notices(dialog)[0].body)

    def test_whatsapp_template_is_sent_outside_the_window(self):
        self.deliver(self.ch_wa, load_fixture("whatsapp", "text"))
        dialog = self.dialog_on(self.ch_wa, WA_CLIENT)
        dialog.date_last_client = fields.Datetime.now() - timedelta(hours=25)
        self.operator_reply(dialog, "Вы ещё здесь?")
        self.assertIn("24 hours", self.notices(dialog)[0].body)
        action = dialog.action_whatsapp_template()
        self.assertEqual(action["res_model"], "openlines.whatsapp.template.send")
        wizard = (
            self.env[action["res_model"]]
            .with_context(action["context"])
            .create({"template_name": "order_update", "template_lang": "ru", "body_params": "Анна\n\n42\n"})
        )
        wizard.action_send()
        self.assertIn("Template order_update sent", self.notices(dialog)[0].body)
        self.wa.queue_error("messages", *graph_error(131047, "Re-engagement message"))  # the free-form reply
        self.send()
        free, template = self.rows_of(self.ch_wa, "out")
        self.assertEqual(free.state, "failed")
        self.assertEqual(template.state, "done", template.last_error)
        sent = [c for c in self.wa.calls_of("messages") if c["type"] == "template"]
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0]["to"], WA_CLIENT)
        self.assertEqual(
            sent[0]["template"],
            {
                "name": "order_update",
                "language": {"code": "ru"},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "Анна"}, {"type": "text", "text": "42"}]}
                ],
            },
        )
        self.assertTrue(template.remote_message_id.startswith(f"{WA_CLIENT}:wamid."))

    def test_whatsapp_template_button_only_on_whatsapp_dialogs(self):
        self.deliver(self.ch_vb, load_fixture("viber", "viberbot_message_unicode"))
        self.deliver(self.ch_wa, load_fixture("whatsapp", "text"))
        viber, whatsapp = self.dialog_on(self.ch_vb, VB_CLIENT), self.dialog_on(self.ch_wa, WA_CLIENT)
        wizard = self.env["openlines.whatsapp.template.send"].create(
            {"dialog_id": viber.id, "template_name": "hello", "template_lang": "en"}
        )
        with self.assertRaises(UserError):
            wizard.action_send()
        # the dialog's form as a director sees it: the button is offered on WhatsApp dialogs only
        director = new_test_user(
            self.env, login="ol_wa_director", groups="base.group_user,openlines_connector.group_openlines_director"
        )
        for dialog, shown in ((viber, False), (whatsapp, True)):
            with self.subTest(dialog.channel_id.channel_type):
                form = Form(dialog.with_user(director))
                button = form._view["tree"].find(".//button[@name='action_whatsapp_template']")
                self.assertIsNotNone(button, "the form has the button")
                hidden = safe_eval(button.get("invisible") or "False", form._get_eval_context())
                self.assertEqual(not hidden, shown)

    # -- Viber ----------------------------------------------------------------------
    def test_viber_webhook_check_is_answered_without_a_row(self):
        response = self.post(self.ch_vb, load_fixture("viber", "pollbot_webhook_check"))
        self.assertEqual(response.status_code, 200)
        self.assertFalse(self.rows_of(self.ch_vb))

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_viber_forged_signature_is_refused(self):
        body = json.dumps(load_fixture("viber", "message_text")).encode()
        headers = {"X-Viber-Content-Signature": "0" * 64}
        response = self.url_open(WEBHOOK % self.ch_vb.webhook_key, data=body, headers=headers)
        self.assertEqual(response.status_code, 403)

    def test_viber_message_reply_with_file_and_unsubscribe(self):
        self.deliver(self.ch_vb, load_fixture("viber", "viberbot_message_unicode"))
        dialog = self.dialog_on(self.ch_vb, "01234567890A=")
        self.assertTrue(self.client_messages(dialog))
        self.assertEqual(self.rows_of(self.ch_vb).external_id, "4912661846655238145")
        self.operator_reply(dialog, "Вот счёт", attachments=[("invoice.pdf", b"%PDF-1.4 fake")])
        self.send()
        calls = self.vb.calls_of("send_message")
        self.assertEqual([c["type"] for c in calls], ["text", "file"])
        self.assertEqual(calls[0]["sender"]["name"], "Test line")
        self.assertIn("/web/content/", calls[1]["media"])
        self.assertIn("/invoice.pdf?", calls[1]["media"], "Viber wants the extension at the end of the path")
        self.assertIn("access_token=", calls[1]["media"])
        self.assertEqual(self.rows_of(self.ch_vb, "out").state, "done")
        self.deliver(
            self.ch_vb, {"event": "unsubscribed", "timestamp": 1, "user_id": "01234567890A=", "message_token": 9}
        )
        self.assertTrue(dialog.contact_id.is_blocked)

    # -- Messenger and Instagram -------------------------------------------------------
    def test_messenger_verification_message_reply_and_echo(self):
        url = WEBHOOK % self.ch_fb.webhook_key
        ok = self.url_open(f"{url}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=CH")
        self.assertEqual((ok.status_code, ok.text), (200, "CH"))
        self.deliver(self.ch_fb, load_fixture("messenger", "text"))
        dialog = self.dialog_on(self.ch_fb, "1436161156394835")
        self.assertIn("hey", self.client_messages(dialog).body)
        self.operator_reply(dialog, "Hello!")
        self.send()
        (call,) = self.fb.calls_of("messages")
        self.assertEqual((call["recipient"]["id"], call["message"]["text"]), ("1436161156394835", "Hello!"))
        echo = copy.deepcopy(load_fixture("messenger", "bottender_page_echo_chinese"))
        self.deliver(self.ch_fb, echo)
        self.assertEqual(self.rows_of(self.ch_fb)[-1].state, "ignored")
        self.assertEqual(len(self.client_messages(dialog)), 1)

    def test_instagram_message_and_reply(self):
        self.deliver(self.ch_ig, load_fixture("instagram", "text"))
        dialog = self.dialog_on(self.ch_ig, "usr_101")
        self.assertIn("orçamento", self.client_messages(dialog).body)
        self.operator_reply(dialog, "Olá!")
        self.send()
        (call,) = self.fb.calls_of("messages")
        self.assertEqual(call["recipient"]["id"], "usr_101")
        self.assertEqual(self.rows_of(self.ch_ig, "out").state, "done")

    def test_messenger_and_instagram_clients_are_named_from_their_profile(self):
        self.fb.profiles["1436161156394835"] = {"first_name": "Мария", "last_name": "Иванова"}
        self.fb.profiles["usr_101"] = {"name": "Ana Souza", "username": "ana.souza"}
        self.deliver(self.ch_fb, load_fixture("messenger", "text"))
        self.deliver(self.ch_ig, load_fixture("instagram", "text"))
        messenger = self.dialog_on(self.ch_fb, "1436161156394835").contact_id
        instagram = self.dialog_on(self.ch_ig, "usr_101").contact_id
        self.assertEqual((messenger.name, messenger.partner_id.name), ("Мария Иванова", "Мария Иванова"))
        self.assertEqual((instagram.name, instagram.username), ("Ana Souza", "ana.souza"))
        self.assertEqual(len(self.fb.calls_of("profile")), 2, "asked once per new client")
        again = copy.deepcopy(load_fixture("messenger", "text"))
        again["entry"][0]["messaging"][0]["message"]["mid"] += "-2"
        self.deliver(self.ch_fb, again)  # a known client: nothing asked
        self.assertEqual(len(self.client_messages(self.dialog_on(self.ch_fb, "1436161156394835"))), 2)
        self.assertEqual(len(self.fb.calls_of("profile")), 2)

    def test_a_profile_the_api_refuses_leaves_the_client_named_by_id(self):
        self.deliver(self.ch_fb, load_fixture("messenger", "text"))
        contact = self.dialog_on(self.ch_fb, "1436161156394835").contact_id
        self.assertEqual(contact.name, "1436161156394835")
        self.assertEqual(self.rows_of(self.ch_fb).state, "done")
