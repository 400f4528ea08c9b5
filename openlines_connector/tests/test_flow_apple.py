"""Apple Messages for Business end to end: Apple's gateway (a loopback fake) posts to the real
webhook route, the crons process and send, and the fake checks every call Odoo makes."""

import base64
import json

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import WEBHOOK, OpenlinesCase
from .fake_apple import FakeApple, load_fixture

CUSTOMER = "urn:mbid:AQAAYyUbut6E4B3T9FLv5EbG/FAKE"


@tagged("post_install", "-at_install")
class TestFlowApple(OpenlinesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.apple = FakeApple().start()
        cls.addClassCleanup(cls.apple.stop)
        cls.ch_apple = cls.env["openlines.channel"].create(
            {
                "name": "Apple",
                "line_id": cls.line.id,
                "channel_type": "apple",
                "apple_business_id": cls.apple.business_id,
                "apple_msp_id": cls.apple.msp_id,
                "apple_msp_secret": cls.apple.secret,
                "api_base_url": cls.apple.api_url,
            }
        )

    def setUp(self):
        super().setUp()
        self.apple.calls.clear()
        self.apple.messages.clear()

    # -- helpers ------------------------------------------------------------------
    def sample(self, name, **changes):
        payload = load_fixture(name)
        payload.update(destinationId=self.apple.business_id, **changes)
        return payload

    def post(self, payload, **kwargs):
        """What Apple's gateway posts: gzip body, JWT, headers, to ``<webhook URL>/message``."""
        body, headers = self.apple.inbound(payload, **kwargs)
        return self.url_open(WEBHOOK % self.ch_apple.webhook_key + "/message", data=body, headers=headers)

    def deliver(self, payload, **kwargs):
        response = self.post(payload, **kwargs)
        self.assertEqual(response.status_code, 200, response.text)
        self.process()
        return response

    def rows(self, direction="in"):
        return self.env["openlines.message"].search(
            [("channel_id", "=", self.ch_apple.id), ("direction", "=", direction)], order="id"
        )

    def dialog(self, chat_id=CUSTOMER):
        return self.env["openlines.dialog"].search(
            [("channel_id", "=", self.ch_apple.id), ("contact_id.external_id", "=", chat_id)], order="id desc", limit=1
        )

    def customer_writes(self, text="Hello, Business!", chat_id=CUSTOMER, msg_id="UUID-IDENTIFIER-FOR-MESSAGE"):
        self.deliver(self.sample("courier_text_hello_business", sourceId=chat_id, body=text, id=msg_id))
        return self.dialog(chat_id)

    # -- inbound ------------------------------------------------------------------
    def test_documented_text_opens_a_dialog(self):
        dialog = self.customer_writes()
        self.assertEqual(dialog.source, "apple")
        (message,) = self.client_messages(dialog)
        self.assertIn("Hello, Business!", message.body)
        self.assertEqual(self.rows().external_id, "UUID-IDENTIFIER-FOR-MESSAGE")

    def test_uncompressed_body_and_redelivery_give_one_message(self):
        payload = self.sample("courier_text_hello_business", sourceId=CUSTOMER)
        for _i in range(2):
            self.assertEqual(self.post(payload, compress=False).status_code, 200)
        self.deliver(payload)
        self.assertEqual(len(self.rows()), 1)
        self.assertEqual(len(self.client_messages(self.dialog())), 1)

    def test_documented_attachment_arrives_decrypted(self):
        photo = b"\xff\xd8\xff\xe0 an iPhone photo"
        payload = self.sample("apple_sample_text_with_attachment", sourceId=CUSTOMER)
        payload["attachments"][0].update(self.apple.customer_file(photo, "IMG_0001.JPG", "image/jpeg"))
        self.deliver(payload)
        (message,) = self.client_messages(self.dialog())
        self.assertEqual(message.attachment_ids.name, "IMG_0001.JPG")
        self.assertEqual(base64.b64decode(message.attachment_ids.datas), photo)

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_forged_requests_are_refused(self):
        payload = self.sample("courier_text_hello_business", sourceId=CUSTOMER)
        other_secret = base64.b64encode(b"not the MSP secret, 32 bytes!!!").decode()
        forged = self.apple.jwt({"aud": self.apple.msp_id}, secret=other_secret)
        for kwargs in (
            {"Authorization": None},  # no JWT
            {"token": forged},  # signed with another secret
            {"token": self.apple.jwt({"aud": "another-msp"})},  # for another MSP
            {"destination-id": "another-business"},  # for another business
        ):
            with self.subTest(**{k: str(v)[:20] for k, v in kwargs.items()}):
                self.assertEqual(self.post(payload, **kwargs).status_code, 403)
        self.assertFalse(self.rows())

    @mute_logger("odoo.addons.openlines_connector.controllers.webhook")
    def test_genuine_but_unreadable_bodies_are_400(self):
        body, headers = self.apple.inbound({"id": "x"})
        url = WEBHOOK % self.ch_apple.webhook_key + "/message"
        self.assertEqual(self.url_open(url, data=b"\x1f\x8b\x08\x00 broken gzip", headers=headers).status_code, 400)
        self.assertEqual(self.url_open(url, data=body, headers=headers).status_code, 400, "no type")
        self.assertFalse(self.rows())

    # -- outbound -----------------------------------------------------------------
    def test_operator_answer_goes_out_with_a_valid_jwt(self):
        dialog = self.customer_writes()
        self.operator_reply(dialog, "Good afternoon! How can we help?")
        self.send()
        out = self.rows("out")
        self.assertEqual(out.state, "done", out.last_error)
        (message,) = self.apple.sent()  # the fake checked the JWT (HS256, MSP secret, iss = MSP id)
        self.assertEqual(message["body"], "Good afternoon! How can we help?")
        self.assertEqual((message["destinationId"], message["sourceId"]), (CUSTOMER, self.apple.business_id))
        self.assertEqual(out.remote_message_id, message["id"])
        (call,) = [c for r, c in self.apple.calls if r == "/v1/message"]
        self.assertNotIn("auto-reply", {k.lower() for k in call["headers"]}, "a person answered")

    def test_operator_file_is_encrypted_and_uploaded(self):
        dialog = self.customer_writes()
        self.operator_reply(dialog, "The price list", attachments=[("prices.pdf", b"%PDF-1.4 prices")])
        self.send()
        self.assertEqual(self.rows("out").state, "done", self.rows("out").last_error)
        (message,) = self.apple.sent()
        (item,) = message["attachments"]
        self.assertEqual((item["name"], self.apple.uploaded(item)), ("prices.pdf", b"%PDF-1.4 prices"))

    @mute_logger("odoo.addons.openlines_connector.models.openlines_message")
    def test_refused_jwt_fails_the_message_and_tells_the_operator(self):
        dialog = self.customer_writes()
        self.ch_apple.apple_msp_id = "not-our-msp"
        self.operator_reply(dialog, "Hello")
        self.send()
        out = self.rows("out")
        self.assertEqual(out.state, "failed")
        self.assertIn("403", out.last_error)
        self.assertEqual(self.ch_apple.state, "failing", "credentials Apple refuses are the account's: alert at once")

    def test_rating_list_picker_answer_lands_in_rating(self):
        self.line.rating_request = True
        dialog = self.customer_writes()
        dialog.action_close()
        self.send()
        (picker,) = self.apple.sent("interactive")
        (call,) = [c for r, c in self.apple.calls if r == "/v1/message" and b'"interactive"' in c["body"]]
        self.assertEqual(call["headers"].get("auto-reply"), "true", "the line's rating request is a bot's message")
        data = picker["interactiveData"]["data"]
        (section,) = data["listPicker"]["sections"]
        self.assertEqual([i["identifier"] for i in section["items"]], [f"rate:{n}" for n in range(1, 6)])
        answer = self.sample("apple_tutorial_list_picker_reply", sourceId=CUSTOMER)
        answer["interactiveData"]["data"]["requestIdentifier"] = data["requestIdentifier"]
        answer["interactiveData"]["data"]["listPicker"]["sections"][0]["items"] = [section["items"][4]]  # ⭐⭐⭐⭐⭐
        self.deliver(answer)
        self.assertEqual(dialog.rating_value, 5)
        rating = self.env["rating.rating"].search(
            [("res_model", "=", "discuss.channel"), ("res_id", "=", dialog.discuss_channel_id.id)]
        )
        self.assertEqual((rating.rating, rating.consumed), (5, True))

    def test_a_device_without_list_pickers_gets_the_choices_as_text(self):
        self.line.rating_request = True
        self.deliver(self.sample("courier_text_hello_business", sourceId=CUSTOMER), **{"capability-list": "auth,time"})
        dialog = self.dialog()
        self.assertEqual(dialog.contact_id.device_capabilities, "AUTH,TIME")
        dialog.action_close()
        self.send()
        self.assertFalse(self.apple.sent("interactive"), "Apple: never send a picker the device did not announce")
        (text,) = self.apple.sent("text")
        self.assertIn("• ⭐⭐⭐⭐⭐", text["body"])
        self.customer_writes("5", msg_id="typed-rating")
        self.assertEqual(dialog.rating_value, 5, "a typed figure rates the dialog")

    def answer_picker(self, picker, item_index, msg_id):
        """The customer's answer to ``picker`` (as sent to the fake): one chosen item, its request id echoed."""
        data = picker["interactiveData"]["data"]
        answer = self.sample("apple_tutorial_list_picker_reply", sourceId=CUSTOMER, id=msg_id)
        answer["interactiveData"]["data"]["requestIdentifier"] = data["requestIdentifier"]
        chosen = data["listPicker"]["sections"][0]["items"][item_index]
        answer["interactiveData"]["data"]["listPicker"]["sections"][0]["items"] = [chosen]
        return answer

    def test_consent_is_asked_with_a_list_picker_and_given_with_it(self):
        self.line.consent_required = True
        self.deliver(self.sample("courier_text_hello_business", sourceId=CUSTOMER))
        self.assertFalse(self.dialog(), "nothing reaches operators before consent")
        (picker,) = self.apple.sent("interactive")
        items = picker["interactiveData"]["data"]["listPicker"]["sections"][0]["items"]
        self.assertEqual([i["identifier"] for i in items], ["consent:yes", "consent:no"])
        self.deliver(self.answer_picker(picker, 0, "consent-answer"))
        self.process()  # the held message follows
        dialog = self.dialog()
        self.assertTrue(dialog.contact_id.consent_date)
        self.assertEqual([m.body for m in self.client_messages(dialog)], ["<p>Hello, Business!</p>"])

    def test_chatbot_answers_are_a_list_picker_and_the_choice_moves_the_script(self):
        steps = [
            ("text", "Hello, I am the shop bot.", []),
            ("question_selection", "What do you need?", ["Buy", "Support"]),
            ("free_input_single", "Your name, please?", []),
        ]
        script = self.env["chatbot.script"].create(
            {
                "title": "Apple shop bot",
                "script_step_ids": [
                    Command.create(
                        {"step_type": kind, "message": text, "answer_ids": [Command.create({"name": n}) for n in names]}
                    )
                    for kind, text, names in steps
                ],
            }
        )
        buy, support = script.script_step_ids.answer_ids.sorted("sequence")
        self.line.chatbot_script_id = script
        dialog = self.customer_writes("Hi")
        self.send()
        hello, picker = self.apple.sent()
        self.assertEqual((hello["type"], hello["body"]), ("text", "Hello, I am the shop bot."))
        received = picker["interactiveData"]["receivedMessage"]["title"]
        items = picker["interactiveData"]["data"]["listPicker"]["sections"][0]["items"]
        self.assertEqual(received, "What do you need?")
        expected = [("Buy", f"chatbot:{buy.id}"), ("Support", f"chatbot:{support.id}")]
        self.assertEqual([(i["title"], i["identifier"]) for i in items], expected)
        bot_calls = [c for r, c in self.apple.calls if r == "/v1/message"]
        self.assertTrue(all(c["headers"].get("auto-reply") == "true" for c in bot_calls), "the chatbot is a bot")
        self.apple.messages.clear()
        self.deliver(self.answer_picker(picker, 1, "chatbot-answer"))
        self.assertIn("Support", self.client_messages(dialog)[-1].body)
        self.send()
        self.assertEqual([m.get("body") for m in self.apple.sent()], ["Your name, please?"])

    # -- typing and close -----------------------------------------------------------
    def test_typing_shows_in_discuss_and_is_no_message(self):
        dialog = self.customer_writes()
        before = self.env["bus.bus"].search([("message", "like", "isTyping")])
        typing = self.sample("courier_typing_start", sourceId=CUSTOMER, id="typing-1")
        self.deliver(typing)
        self.assertEqual(self.rows()[-1].state, "done")
        self.assertEqual(len(self.client_messages(dialog)), 1)
        (sent,) = self.env["bus.bus"].search([("message", "like", "isTyping")]) - before
        self.assertIn('"isTyping": true', sent.message.replace('"isTyping":true', '"isTyping": true'))
        self.assertEqual(json.loads(sent.channel)[1:], ["discuss.channel", dialog.discuss_channel_id.id])

    def test_customer_close_ends_the_dialog_without_sending(self):
        self.line.write({"rating_request": True, "close_message": "Thank you, goodbye!"})
        dialog = self.customer_writes()
        self.deliver(self.sample("apple_close", sourceId=CUSTOMER))
        self.assertEqual(dialog.state, "closed")
        self.assertTrue(dialog.contact_id.is_blocked)
        notices = dialog.discuss_channel_id.message_ids.filtered(lambda m: m.message_type == "notification")
        self.assertTrue(any("closed the conversation" in (m.body or "") for m in notices))
        self.assertFalse(self.rows("out"), "no closing text or rating request to a customer who left")
        again = self.customer_writes("I am back", msg_id="second-message")  # reopened or new: the line decides
        self.assertNotEqual(again.state, "closed")
        self.assertFalse(again.contact_id.is_blocked, "writing again lifts the block")

    # -- configuration and access -------------------------------------------------------
    def test_credentials_are_for_administrators_only(self):
        director = new_test_user(
            self.env, login="ol_apple_dir", groups="base.group_user,openlines_connector.group_openlines_director"
        )
        admin = new_test_user(
            self.env, login="ol_apple_adm", groups="base.group_user,openlines_connector.group_openlines_admin"
        )
        for user in (self.operator, director):
            for field in ("apple_business_id", "apple_msp_id", "apple_msp_secret"):
                with self.subTest(user=user.login, field=field), self.assertRaises(AccessError):
                    self.ch_apple.with_user(user).read([field])
        arch = self.env["openlines.channel"].with_user(director).get_view(view_type="form")["arch"]
        self.assertNotIn("apple_msp_secret", arch, "the director's form has no credential fields")
        values = self.ch_apple.with_user(admin).read(["apple_msp_id", "apple_msp_secret"])[0]
        self.assertEqual((values["apple_msp_id"], values["apple_msp_secret"]), (self.apple.msp_id, self.apple.secret))

    def test_connect_checks_the_credentials_with_apple(self):
        self.ch_apple.action_connect()
        self.assertEqual(self.ch_apple.state, "connected")
        self.assertTrue([c for r, c in self.apple.calls if r == "/v1/preUpload"])
        empty = self.ch_apple.copy({"name": "Apple 2"})
        with self.assertRaises(UserError):
            empty.action_connect()
        with self.assertRaises(ValidationError):
            empty.receive_mode = "polling"

    def test_form_shows_apple_fields_and_no_refusal(self):
        arch = self.env["openlines.channel"].get_view(view_type="form")["arch"]
        self.assertIn("apple_msp_secret", arch)
        self.assertNotIn("no connector for it", arch)
        self.assertIn("/message", arch)
