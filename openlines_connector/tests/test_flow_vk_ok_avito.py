"""VK, Odnoklassniki and Avito end to end: webhook -> Discuss -> operator answer -> the fake API.

Button round trips: the rating asked on close goes out through the real flow (dialog close ->
outbound row -> connector.send -> the fake), the buttons the fake received are pressed the way
the platform sends a press (VK ``message_event``, OK ``MESSAGE_CALLBACK``), posted to the
webhook, processed, and the rating lands in ``rating.rating``.
"""

import base64
import copy
import json

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..connectors.avito import AvitoConnector
from .common import WEBHOOK, OpenlinesCase
from .fake_avito import FakeAvito
from .fake_avito import load_fixture as avito_fixture
from .fake_ok import FakeOK
from .fake_ok import load_fixture as ok_fixture
from .fake_vk import FakeVK
from .fake_vk import load_fixture as vk_fixture

VK_SECRET = "vk-secret_123"
PEER = 87641997


def vk_private(name="kutana_message_new_private_v5131", event_id="evt-1", **message):
    payload = copy.deepcopy(vk_fixture(name))
    payload["event_id"] = event_id
    payload["object"]["message"].update(message)
    return payload


@tagged("post_install", "-at_install")
class TestFlowVkOkAvito(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vk, cls.ok, cls.avito = FakeVK().start(), FakeOK().start(), FakeAvito(user_id="99").start()
        for fake in (cls.vk, cls.ok, cls.avito):
            cls.addClassCleanup(fake.stop)
        Channel = cls.env["openlines.channel"]
        common = {"line_id": cls.line.id}
        cls.vk_channel = Channel.create(
            dict(common, name="VK", channel_type="vk", token=cls.vk.token, webhook_secret=VK_SECRET,
                 vk_group_id=cls.vk.group_id, vk_confirmation_code="c0de42", api_base_url=cls.vk.url)
        )  # fmt: skip
        cls.ok_channel = Channel.create(
            dict(common, name="OK", channel_type="ok", token=cls.ok.token, api_base_url=cls.ok.url)
        )
        cls.avito_channel = Channel.create(
            dict(common, name="Avito", channel_type="avito", avito_client_id=cls.avito.client_id,
                 avito_client_secret=cls.avito.client_secret, avito_user_id="99", api_base_url=cls.avito.url)
        )  # fmt: skip

    def setUp(self):
        super().setUp()
        AvitoConnector.forget_tokens()
        for fake in (self.vk, self.ok, self.avito):
            fake.calls.clear()
        self.vk.sent.clear()

    # -- helpers -------------------------------------------------------------
    def post(self, channel, payload, raw=None):
        data = raw if raw is not None else json.dumps(payload)
        return self.url_open(WEBHOOK % channel.webhook_key, data=data, headers={"Content-Type": "application/json"})

    def post_vk(self, payload, secret=VK_SECRET):
        payload = dict(payload, group_id=int(self.vk.group_id))
        if secret is not None:
            payload["secret"] = secret
        return self.post(self.vk_channel, payload)

    def rows_of(self, channel, direction="in"):
        return self.env["openlines.message"].search(
            [("channel_id", "=", channel.id), ("direction", "=", direction)], order="id"
        )

    def dialog_on(self, channel, chat_id):
        return self.env["openlines.dialog"].search(
            [("channel_id", "=", channel.id), ("contact_id.external_id", "=", chat_id)], limit=1
        )

    def answer_and_send(self, dialog, text, attachments=None):
        self.operator_reply(dialog, text, attachments=attachments)
        self.send()

    def rating_asked_on_close(self, channel, chat_id):
        """Close the dialog of ``chat_id`` with a rating request and send what it queued."""
        self.line.rating_request = True
        dialog = self.dialog_on(channel, chat_id)
        dialog.action_close()
        self.send()
        return dialog

    def chatbot_line(self):
        """A chatbot on the line whose question offers Buy / Support; returns the next step's text."""
        self.shop_bot()
        return "Your name, please?"

    def assert_rated(self, dialog, value):
        rating = self.env["rating.rating"].search(
            [("res_model", "=", "discuss.channel"), ("res_id", "=", dialog.discuss_channel_id.id)]
        )
        self.assertEqual((rating.rating, dialog.rating_value), (value, value))

    # -- VK ------------------------------------------------------------------
    def test_vk_rating_round_trip(self):
        self.post_vk(vk_private(text="Спасибо"))
        self.process()
        dialog = self.rating_asked_on_close(self.vk_channel, str(PEER))
        keyboard = self.vk.sent[-1]["keyboard"]
        buttons = [b["action"] for row in keyboard["buttons"] for b in row]
        self.assertEqual([b["type"] for b in buttons], ["callback"] * 5)
        # a press as VK sends it: message_event with the button's payload (an object) and an event_id
        # (fixtures/vk/message_event_button.json, moved to the private chat)
        press = copy.deepcopy(vk_fixture("message_event_button"))
        press["event_id"] = "evt-press-1"
        press["object"].update(peer_id=PEER, user_id=PEER, payload=json.loads(buttons[2]["payload"]))
        self.assertEqual(self.post_vk(press).text, "ok")
        self.process()
        self.assert_rated(dialog, 3)
        (answer,) = self.vk.calls_of("messages.sendMessageEventAnswer")
        self.assertEqual((answer["event_id"], answer["user_id"]), ("1776a756b921", str(PEER)))

    def test_vk_consent_round_trip(self):
        self.line.consent_required = True
        self.post_vk(vk_private(text="Здравствуйте", event_id="evt-c1", peer_id=PEER + 1, from_id=PEER + 1))
        self.process()
        buttons = [b["action"] for row in self.vk.sent[-1]["keyboard"]["buttons"] for b in row]
        press = copy.deepcopy(vk_fixture("message_event_button"))
        press["event_id"] = "evt-c2"
        press["object"].update(peer_id=PEER + 1, user_id=PEER + 1, payload=json.loads(buttons[0]["payload"]))
        self.post_vk(press)
        self.process()
        dialog = self.dialog_on(self.vk_channel, str(PEER + 1))
        self.assertTrue(dialog.contact_id.consent_date)
        self.assertIn("Здравствуйте", self.client_messages(dialog).body)

    def test_vk_chatbot_round_trip(self):
        next_text = self.chatbot_line()
        self.post_vk(vk_private(text="Привет", event_id="evt-b1"))
        self.process()
        self.send()
        buttons = [b["action"] for row in self.vk.sent[-1]["keyboard"]["buttons"] for b in row]
        self.assertEqual([b["label"] for b in buttons], ["Buy", "Support"])
        press = copy.deepcopy(vk_fixture("message_event_button"))
        press["event_id"] = "evt-b2"
        press["object"].update(peer_id=PEER, user_id=PEER, payload=json.loads(buttons[1]["payload"]))
        self.post_vk(press)
        self.process()
        self.send()
        self.assertIn(next_text, self.vk.sent[-1]["message"])

    def test_vk_connect_registers_the_callback_server(self):
        self.vk.callback_servers.clear()
        self.vk_channel.action_connect()
        (server,) = self.vk.callback_servers
        self.assertLessEqual(len(server["title"]), 14)
        self.assertEqual(server["url"], self.vk_channel.webhook_url)
        self.assertEqual(self.vk.callback_settings["message_event"], "1")

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_attack_vk_deep_json_and_confirmation_without_the_secret(self):
        deep = b'{"type": "confirmation", "group_id": 203076503, "x": ' + b"[" * 50000 + b"]" * 50000 + b"}"
        self.assertEqual(self.post(self.vk_channel, None, raw=deep).status_code, 403)
        response = self.post_vk(vk_fixture("confirmation"), secret=None)
        self.assertEqual(response.status_code, 403)
        self.assertNotIn("c0de42", response.text)

    def test_vk_confirmation_answers_the_code_as_plain_text(self):
        response = self.post_vk(vk_fixture("confirmation"))
        self.assertEqual((response.status_code, response.text), (200, "c0de42"))
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))
        self.assertFalse(self.rows_of(self.vk_channel))

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_vk_wrong_or_missing_secret_is_403(self):
        self.assertEqual(self.post_vk(vk_private(), secret="forged").status_code, 403)
        self.assertEqual(self.post_vk(vk_private(), secret=None).status_code, 403)
        self.assertEqual(self.post(self.vk_channel, None, raw=b'{"type": ').status_code, 403)
        self.assertFalse(self.rows_of(self.vk_channel))

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_vk_malformed_with_the_right_secret_is_400(self):
        self.assertEqual(self.post_vk({"type": 5}).status_code, 400)
        self.assertFalse(self.rows_of(self.vk_channel))

    def test_vk_redelivery_makes_one_message_and_answers_ok(self):
        for _i in range(3):
            response = self.post_vk(vk_private())
            self.assertEqual((response.status_code, response.text), (200, "ok"))
        self.process()
        dialog = self.dialog_on(self.vk_channel, str(PEER))
        self.assertEqual(len(self.rows_of(self.vk_channel)), 1)
        self.assertEqual(len(self.client_messages(dialog)), 1)

    def test_vk_webhook_to_discuss_and_operator_answer_to_messages_send(self):
        self.post_vk(vk_private(text="Есть доставка?"))
        self.process()
        dialog = self.dialog_on(self.vk_channel, str(PEER))
        self.assertEqual((dialog.state, dialog.operator_id, dialog.source), ("assigned", self.operator, "vk"))
        self.assertIn("Есть доставка?", self.client_messages(dialog).body)
        self.answer_and_send(dialog, "Да, по всей России.")
        (sent,) = self.vk.sent
        self.assertEqual((sent["peer_id"], sent["message"], sent["v"]), (str(PEER), "Да, по всей России.", "5.199"))
        row = self.rows_of(self.vk_channel, "out")
        self.assertEqual(row.state, "done")
        self.assertTrue(row.remote_message_id.startswith(f"{PEER}:"))

    def test_vk_edit_photo_and_button(self):
        self.post_vk(vk_private(text="Первый"))
        url = self.vk.add_file("w.jpg", b"\xff\xd8vk-photo")
        photo = vk_private("message_new_photo", event_id="evt-2", peer_id=PEER, from_id=PEER)
        photo["object"]["message"]["attachments"][0]["photo"]["sizes"][6]["url"] = url  # type w, the largest
        self.post_vk(photo)
        edit = {"type": "message_edit", "event_id": "evt-3", "object": dict(vk_private()["object"]["message"],
                                                                            text="Первый, исправлен")}  # fmt: skip
        self.post_vk(edit)
        button = copy.deepcopy(vk_fixture("message_event_button"))
        button["object"].update(peer_id=PEER, user_id=PEER)
        self.post_vk(button)
        self.process()
        messages = self.client_messages(self.dialog_on(self.vk_channel, str(PEER)))
        self.assertEqual(len(messages), 3)
        self.assertIn("исправлен", messages[0].body)
        self.assertEqual(base64.b64decode(messages[1].attachment_ids.datas), b"\xff\xd8vk-photo")
        self.assertIn("week", messages[2].body)
        self.assertEqual(len(self.vk.calls_of("messages.sendMessageEventAnswer")), 1)

    def test_vk_reply_from_vk_web_shows_as_the_operator_and_is_not_sent(self):
        self.post_vk(vk_private())
        reply = {"id": 9001, "peer_id": PEER, "from_id": -int(self.vk.group_id), "out": 1, "text": "Ответ из VK"}
        self.post_vk({"type": "message_reply", "event_id": "evt-r1", "object": dict(reply, admin_author_id=1)})
        self.post_vk({"type": "message_reply", "event_id": "evt-r2", "object": dict(reply, id=9002, text="API")})
        self.process()
        dialog = self.dialog_on(self.vk_channel, str(PEER))
        echo = dialog.discuss_channel_id.message_ids.filtered(lambda m: "Ответ из VK" in m.body)
        self.assertEqual(echo.author_id, self.operator.partner_id)
        self.assertFalse(dialog.discuss_channel_id.message_ids.filtered(lambda m: m.body and ">API<" in m.body))
        self.send()
        self.assertFalse(self.rows_of(self.vk_channel, "out"))
        self.assertFalse(self.vk.sent)
        self.assertEqual(dialog.state, "answered")

    @mute_logger("odoo.addons.openlines_connector.models.openlines_message")
    def test_vk_conversations_and_901(self):
        self.post_vk(vk_fixture("message_new_chat_text"))
        self.process()
        self.assertEqual(self.rows_of(self.vk_channel).state, "ignored")
        self.post_vk(vk_private())
        self.process()
        dialog = self.dialog_on(self.vk_channel, str(PEER))
        self.vk.queue_error("messages.send", 901, "Can't send messages for users without permission")
        self.answer_and_send(dialog, "Вы тут?")
        self.assertEqual(self.rows_of(self.vk_channel, "out").state, "failed")
        self.assertTrue(dialog.contact_id.is_blocked)

    def test_vk_long_poll_from_the_cron(self):
        self.vk_channel.write({"receive_mode": "polling", "state": "connected"})
        self.vk.updates = [vk_private(), vk_private(event_id="evt-9", text="Второе")]
        self.run_cron("openlines_connector.ir_cron_openlines_poll")
        self.assertEqual(len(self.rows_of(self.vk_channel)), 2)
        self.assertEqual(self.vk_channel.poll_offset.count("|"), 2)
        self.run_cron("openlines_connector.ir_cron_openlines_poll")
        self.assertEqual(len(self.rows_of(self.vk_channel)), 2)
        self.process()
        self.assertEqual(len(self.client_messages(self.dialog_on(self.vk_channel, str(PEER)))), 2)

    # -- OK ------------------------------------------------------------------
    def test_ok_message_with_image_to_discuss_and_answer(self):
        payload = copy.deepcopy(ok_fixture("message_created"))
        url = self.ok.add_file("ok.jpg", b"\xff\xd8ok-image")
        payload["message"]["attachments"] = [{"type": "IMAGE", "payload": {"url": url}}]
        for _i in range(2):
            self.assertEqual(self.post(self.ok_channel, payload).status_code, 200)
        self.process()
        dialog = self.dialog_on(self.ok_channel, "chat:C404")
        (message,) = self.client_messages(dialog)
        self.assertIn("Есть вопрос", message.body)
        self.assertEqual(base64.b64decode(message.attachment_ids.datas), b"\xff\xd8ok-image")
        self.assertEqual(dialog.partner_id.name, "Ольга")
        self.answer_and_send(dialog, "Слушаю вас")
        (call,) = self.ok.calls_of("messages")
        self.assertEqual((call["recipient"]["chat_id"], call["message"]["text"]), ("chat:C404", "Слушаю вас"))

    def test_ok_the_webhook_key_is_the_only_secret(self):
        """OK signs nothing: a request reaches the channel only through its random webhook key."""
        payload = ok_fixture("message_created")
        guessed = self.ok_channel.webhook_key[:-4] + (
            "aaaa" if not self.ok_channel.webhook_key.endswith("aaaa") else "bbbb"
        )
        for key in (guessed, self.ok_channel.webhook_key[:-1], "0" * 32):
            answer = self.url_open(
                WEBHOOK % key, data=json.dumps(payload), headers={"Content-Type": "application/json"}
            )
            self.assertEqual(answer.status_code, 404, key)
        self.assertFalse(self.rows_of(self.ok_channel), "nothing stored for a wrong key")
        self.assertGreaterEqual(len(self.ok_channel.webhook_key), 32, "the key is long enough not to be guessed")
        self.assertEqual(self.post(self.ok_channel, payload).status_code, 200)
        self.assertEqual(len(self.rows_of(self.ok_channel)), 1, "the channel's own key is accepted")

    def test_ok_answer_with_files_sends_public_urls(self):
        self.assertEqual(self.post(self.ok_channel, ok_fixture("message_created")).status_code, 200)
        self.process()
        dialog = self.dialog_on(self.ok_channel, "chat:C404")
        files = [("photo.png", b"\x89PNG\r\n\x1a\nfake"), ("invoice.pdf", b"%PDF-1.4 fake")]
        self.answer_and_send(dialog, "Вот счёт", attachments=files)
        (call,) = self.ok.calls_of("messages")
        (image,) = call["message"]["attachments"]
        self.assertEqual(image["type"], "IMAGE")
        self.assertIn("/web/content/", image["payload"]["url"])
        self.assertIn("access_token=", image["payload"]["url"])
        self.assertRegex(
            call["message"]["text"], r"📎 invoice\.pdf: \S+/web/content/\d+(/invoice\.pdf)?\?access_token="
        )
        self.assertEqual(self.rows_of(self.ok_channel, "out").state, "done")

    def test_ok_rating_round_trip(self):
        self.assertEqual(self.post(self.ok_channel, ok_fixture("message_created")).status_code, 200)
        self.process()
        dialog = self.rating_asked_on_close(self.ok_channel, "chat:C404")
        (keyboard,) = [
            a for a in self.ok.calls_of("messages")[-1]["message"]["attachments"] if a["type"] == "INLINE_KEYBOARD"
        ]
        buttons = [b for row in keyboard["payload"]["keyboard"]["buttons"] for b in row]
        # a press as the OK bot API sends it: webhookType MESSAGE_CALLBACK with the button's payload
        press = {
            "webhookType": "MESSAGE_CALLBACK",
            "timestamp": 1700000000000,
            "recipient": {"chat_id": "chat:C404"},
            "callback": {"callbackId": "cb-rate-5", "payload": buttons[4]["payload"],
                         "user": {"user_id": "user:1", "name": "Ольга"}},
        }  # fmt: skip
        self.assertEqual(self.post(self.ok_channel, press).status_code, 200)
        self.process()
        self.assert_rated(dialog, 5)
        (answer,) = self.ok.calls_of("answer")
        self.assertEqual(answer["callbackId"], "cb-rate-5")

    def ok_press(self, callback_id, payload):
        """A press as the OK bot API sends it: ``webhookType`` MESSAGE_CALLBACK with the button's payload."""
        return {
            "webhookType": "MESSAGE_CALLBACK",
            "timestamp": 1700000000000,
            "recipient": {"chat_id": "chat:C404"},
            "callback": {"callbackId": callback_id, "payload": payload, "user": {"user_id": "user:1", "name": "Ольга"}},
        }

    def ok_buttons(self):
        attachments = self.ok.calls_of("messages")[-1]["message"].get("attachments") or []
        (keyboard,) = [a for a in attachments if a["type"] == "INLINE_KEYBOARD"]
        return [b for row in keyboard["payload"]["keyboard"]["buttons"] for b in row]

    def test_ok_consent_and_chatbot_round_trip(self):
        self.line.consent_required = True
        next_text = self.chatbot_line()
        self.post(self.ok_channel, ok_fixture("message_created"))
        self.process()
        consent = self.ok_buttons()
        self.assertEqual([b["payload"] for b in consent], ["consent:yes", "consent:no"])
        self.post(self.ok_channel, self.ok_press("cb-consent", consent[0]["payload"]))
        self.process()
        self.send()
        dialog = self.dialog_on(self.ok_channel, "chat:C404")
        self.assertTrue(dialog.contact_id.consent_date)
        choices = self.ok_buttons()
        self.assertEqual([b["text"] for b in choices], ["Buy", "Support"])
        self.post(self.ok_channel, self.ok_press("cb-choice", choices[0]["payload"]))
        self.process()
        self.send()
        self.assertIn(next_text, self.ok.calls_of("messages")[-1]["message"]["text"])

    # -- Avito -----------------------------------------------------------------
    def test_avito_answer_with_a_document_sends_its_link(self):
        payload = avito_fixture("message_text")
        self.avito.items[payload["payload"]["value"]["chat_id"]] = {"title": "Велосипед", "url": "https://avito.ru/1"}
        self.assertEqual(self.post(self.avito_channel, payload).status_code, 200)
        self.process()
        dialog = self.dialog_on(self.avito_channel, "u2i-Xx0YzAbCdEfGh1JkLmNoP")
        self.answer_and_send(dialog, "Договор", attachments=[("contract.pdf", b"%PDF-1.4 fake")])
        (call,) = self.avito.calls_of("send")
        self.assertRegex(
            call["message"]["text"], r"^Договор\n📎 contract\.pdf: \S+/web/content/\d+(/contract\.pdf)?\?access_token="
        )
        self.assertFalse(self.avito.calls_of("upload"))
        self.assertEqual(self.rows_of(self.avito_channel, "out").state, "done")

    def test_avito_item_message_to_discuss_and_answer(self):
        payload = avito_fixture("message_text")
        self.avito.items[payload["payload"]["value"]["chat_id"]] = {"title": "Велосипед", "url": "https://avito.ru/1"}
        self.assertEqual(self.post(self.avito_channel, payload).status_code, 200)
        self.process()
        dialog = self.dialog_on(self.avito_channel, "u2i-Xx0YzAbCdEfGh1JkLmNoP")
        notices = dialog.discuss_channel_id.message_ids.filtered(lambda m: "Avito item" in (m.body or ""))
        self.assertEqual(len(notices), 1)
        self.assertIn("Велосипед", notices.body)
        self.answer_and_send(dialog, "Да, в наличии")
        (call,) = self.avito.calls_of("send")
        self.assertEqual(call["message"]["text"], "Да, в наличии")

    @mute_logger("odoo.addons.openlines_connector.models.openlines_message")
    def test_avito_own_messages_do_not_create_client_messages(self):
        client = copy.deepcopy(avito_fixture("message_text"))
        client["payload"]["value"].update(chat_id="chat_abc", user_id=99, id="c-1")
        self.post(self.avito_channel, client)
        self.post(self.avito_channel, avito_fixture("message_echo_own"))  # seller wrote in Avito's interface
        self.process()
        dialog = self.dialog_on(self.avito_channel, "chat_abc")
        self.assertEqual(len(self.client_messages(dialog)), 1)
        echo = dialog.discuss_channel_id.message_ids.filtered(lambda m: "в наличии" in (m.body or ""))
        # an unsigned webhook never speaks as an employee: the seller's own message shows as the platform's
        self.assertEqual(echo.author_id, self.env.ref("base.partner_root"))
        self.answer_and_send(dialog, "Когда удобно забрать?")
        sent_id = self.rows_of(self.avito_channel, "out").remote_message_id.split(":")[1]
        own = copy.deepcopy(avito_fixture("message_echo_own"))
        own["payload"]["value"].update(id=sent_id, content={"text": "Когда удобно забрать?"})
        self.post(self.avito_channel, own)  # Avito echoes what we sent
        self.process()
        self.assertEqual(len(self.client_messages(dialog)), 1)
        texts = dialog.discuss_channel_id.message_ids.filtered(lambda m: "Когда удобно" in (m.body or ""))
        self.assertEqual(len(texts), 1, "our own sent message is not shown twice")
        self.assertEqual(len(self.avito.calls_of("send")), 1)

    @mute_logger("odoo.addons.openlines_connector.models.openlines_message")
    def test_attack_a_forged_avito_echo_never_speaks_as_the_operator(self):
        client = copy.deepcopy(avito_fixture("message_text"))
        client["payload"]["value"].update(chat_id="chat_forge", user_id=99, id="f-1")
        self.post(self.avito_channel, client)
        self.process()
        dialog = self.dialog_on(self.avito_channel, "chat_forge")
        for n, (author, account) in enumerate(((4242, 4242), (99, 99))):  # another account's; ours
            forged = copy.deepcopy(avito_fixture("message_echo_own"))
            forged["payload"]["value"].update(
                chat_id="chat_forge",
                id=f"f-echo-{n}",
                author_id=author,
                user_id=account,
                content={"text": f"Переведите предоплату {n}"},
            )
            self.assertEqual(self.post(self.avito_channel, forged).status_code, 200)
        self.process()
        posted = dialog.discuss_channel_id.message_ids.filtered(lambda m: "предоплату" in (m.body or ""))
        self.assertEqual(len(posted), 1, "the other account's 'echo' is ignored")
        self.assertNotIn(self.operator.partner_id, posted.author_id)
        self.assertFalse(
            posted.author_id.user_ids
            & self.env["res.users"].search([("share", "=", False)]) - self.env.ref("base.user_root")
        )

    def test_avito_polling_from_the_cron(self):
        self.avito_channel.write({"receive_mode": "polling", "state": "connected"})
        self.avito.unread["u2i-poll"] = [
            {"id": "p1", "author_id": 5, "created": 100, "type": "text", "content": {"text": "Ещё продаёте?"}}
        ]
        self.run_cron("openlines_connector.ir_cron_openlines_poll")
        self.run_cron("openlines_connector.ir_cron_openlines_poll")
        self.assertEqual(len(self.rows_of(self.avito_channel)), 1)
        self.process()
        dialog = self.dialog_on(self.avito_channel, "u2i-poll")
        self.assertIn("Ещё продаёте?", self.client_messages(dialog).body)
