"""The Odnoklassniki connector against the shared fixtures and a loopback fake OK API (no Odoo)."""

import copy

from odoo.tests.common import BaseCase

from ..connectors.base import ConnectorError, InboundFile, OutboundFile, OutboundMessage, get_connector
from ..connectors.ok import OkConnector
from .fake_ok import FakeOK, fixture_names, load_fixture

EXPECTED_KINDS = {"apiok_docs_share": "message", "apiok_docs_text": "message", "message_created": "message"}


def with_attachments(*attachments):
    payload = copy.deepcopy(load_fixture("message_created"))
    payload["message"]["attachments"] = list(attachments)
    return payload


class TestOkParse(BaseCase):
    def setUp(self):
        self.ok = OkConnector({})

    def test_every_fixture_has_an_expectation_and_parses(self):
        self.assertEqual(sorted(EXPECTED_KINDS), fixture_names())
        for name, kind in EXPECTED_KINDS.items():
            (event,) = self.ok.parse(load_fixture(name))
            self.assertEqual(event.kind, kind, name)

    def test_docs_example_without_webhook_type(self):
        payload = load_fixture("apiok_docs_text")
        (event,) = self.ok.parse(payload)
        self.assertEqual(
            (event.chat_id, event.user_id, event.text), ("chat:C3ecb9d02a600", "user:123456789012", "text")
        )
        self.assertEqual(self.ok.dedup_key(payload), "mid:C3ecb9d02a600.15cea67d78d2059")

    def test_docs_example_with_a_share_attachment(self):
        (event,) = self.ok.parse(load_fixture("apiok_docs_share"))
        self.assertEqual((event.kind, event.files), ("message", []))
        self.assertEqual(event.text, "https://ya.ru/\n🔗 https://ya.ru/")

    def test_sender_name_is_kept(self):
        (event,) = self.ok.parse(load_fixture("message_created"))
        self.assertEqual((event.name, event.chat_id), ("Ольга", "chat:C404"))

    def test_attachments_become_files_or_links(self):
        payload = with_attachments(
            {"type": "IMAGE", "payload": {"url": "https://i.ok.ru/a.jpg"}},
            {"type": "VIDEO", "payload": {"url": "https://v.ok.ru/b"}},
            {"type": "AUDIO", "payload": {"url": "https://a.ok.ru/c"}},
            {"type": "SHARE", "payload": {"url": "https://ok.ru/group/1"}},
            {"type": "STICKER", "payload": {}},
        )
        (event,) = self.ok.parse(payload)
        self.assertEqual([f.kind for f in event.files], ["photo", "video", "audio"])
        self.assertEqual(event.files[0].ref, "https://i.ok.ru/a.jpg")
        self.assertIn("🔗 https://ok.ru/group/1", event.text)
        self.assertIn("[sticker]", event.text)

    def test_other_webhooks_are_ignored_and_callbacks_are_buttons(self):
        (event,) = self.ok.parse({"webhookType": "CHAT_SYSTEM", "recipient": {"chat_id": "chat:1"}})
        self.assertEqual(event.kind, "ignore")
        callback = {
            "webhookType": "MESSAGE_CALLBACK",
            "recipient": {"chat_id": "chat:1"},
            "callback": {"callbackId": "cb1", "payload": "yes", "user": {"user_id": "user:4", "name": "О"}},
        }
        (event,) = self.ok.parse(callback)
        self.assertEqual((event.kind, event.text, event.user_id), ("button", "yes", "user:4"))
        self.assertEqual(self.ok.dedup_key(callback), "cb:cb1")

    def test_malformed_raise_for_a_400(self):
        with self.assertRaises(TypeError):
            self.ok.split([1])
        self.assertTrue(self.ok.dedup_key({"x": 1}).startswith("h:"))
        self.assertEqual(self.ok.parse("x")[0].kind, "ignore")


class TestOkApi(BaseCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeOK().start()
        cls.addClassCleanup(cls.fake.stop)

    def setUp(self):
        self.fake.calls.clear()
        self.ok = get_connector("ok", {"token": self.fake.token, "api_base_url": self.fake.url})

    def test_send_text(self):
        ids = self.ok.send(OutboundMessage(chat_id="chat:C404", text="Здравствуйте", ref="1"))
        (params,) = self.fake.calls_of("messages")
        self.assertEqual(params["message"], {"text": "Здравствуйте"})
        self.assertEqual(params["recipient"], {"chat_id": "chat:C404"})
        self.assertRegex(ids[0], r"^chat:C404:mid:C404\.[0-9a-f]+$")

    def test_buttons_are_an_inline_keyboard_of_callback_buttons(self):
        self.ok.send(OutboundMessage(chat_id="chat:C404", text="Выберите", buttons=[("Да", "y"), ("Нет", "n")]))
        (params,) = self.fake.calls_of("messages")
        self.assertEqual(params["message"]["text"], "Выберите")
        (keyboard,) = params["message"]["attachments"]
        self.assertEqual(keyboard["type"], "INLINE_KEYBOARD")
        rows = keyboard["payload"]["keyboard"]["buttons"]
        self.assertEqual([(b["type"], b["text"], b["payload"]) for r in rows for b in r],
                         [("CALLBACK", "Да", "y"), ("CALLBACK", "Нет", "n")])  # fmt: skip
        with self.assertRaises(ConnectorError) as caught:
            self.ok.send(OutboundMessage(chat_id="chat:C404", files=[OutboundFile("a.pdf", b"x")]))
        self.assertTrue(caught.exception.is_permanent)

    def test_a_refused_keyboard_falls_back_to_text(self):
        self.fake.queue_error("messages", 100, "PARAM : keyboard")
        ids = self.ok.send(OutboundMessage(chat_id="chat:C404", text="Выберите", buttons=[("Да", "y"), ("Нет", "n")]))
        self.assertEqual(len(ids), 1)
        retry = self.fake.calls_of("messages")[-1]["message"]
        self.assertEqual((retry["text"], retry.get("attachments")), ("Выберите\n• Да\n• Нет", None))

    def test_one_image_by_url_per_request(self):
        # "specify image URL, but only 1 such image can be present in request" (apiok.ru graph.chat.answer)
        files = [
            OutboundFile(f"p{i}.jpg", b"\xff\xd8", "image/jpeg", url=f"https://odoo.example/p{i}.jpg") for i in range(3)
        ]
        ids = self.ok.send(OutboundMessage(chat_id="chat:C404", text="Фото", files=files, buttons=[("OK", "ok")]))
        calls = self.fake.calls_of("messages")
        self.assertEqual(len(ids), 3)
        self.assertEqual([len(c["message"]["attachments"]) for c in calls], [1, 1, 2])
        self.assertEqual(calls[0]["message"]["text"], "Фото")
        self.assertEqual(calls[-1]["message"]["attachments"][-1]["type"], "INLINE_KEYBOARD")

    def test_the_fake_refuses_two_url_images_and_six_attachments(self):
        two = [{"type": "IMAGE", "payload": {"url": f"https://x/{i}.jpg"}} for i in range(2)]
        six = [{"type": "SHARE", "payload": {"url": f"https://x/{i}"}} for i in range(6)]
        for attachments in (two, six):
            with self.assertRaises(ConnectorError) as caught:
                body = {"recipient": {"chat_id": "chat:C404"}, "message": {"attachments": attachments}}
                self.ok._request("POST", "/graph/me/messages/chat:C404", body)
            self.assertEqual(caught.exception.code, 100)

    def test_a_button_press_is_answered(self):
        callback = {
            "webhookType": "MESSAGE_CALLBACK",
            "recipient": {"chat_id": "chat:C404"},
            "callback": {"callbackId": "cb-77", "payload": "rate:5", "user": {"user_id": "user:4", "name": "О"}},
        }
        (event,) = self.ok.parse(callback)
        self.ok.acknowledge_button(event)
        (answer,) = self.fake.calls_of("answer")
        self.assertEqual((answer["callbackId"], answer["message"]), ("cb-77", {"text": "✓"}))

    def test_files_go_by_url_pictures_as_attachments_others_as_links(self):
        files = [
            OutboundFile("p.jpg", b"\xff\xd8", "image/jpeg", url="https://odoo.example/web/content/1?access_token=a"),
            OutboundFile("a.pdf", b"%PDF", "application/pdf", url="https://odoo.example/web/content/2?access_token=b"),
        ]
        ids = self.ok.send(OutboundMessage(chat_id="chat:C404", text="Счёт и фото", files=files))
        (params,) = self.fake.calls_of("messages")
        self.assertEqual(
            params["message"]["attachments"],
            [{"type": "IMAGE", "payload": {"url": "https://odoo.example/web/content/1?access_token=a"}}],
        )
        self.assertEqual(
            params["message"]["text"], "Счёт и фото\n📎 a.pdf: https://odoo.example/web/content/2?access_token=b"
        )
        self.assertEqual(len(ids), 1)
        self.fake.calls.clear()
        self.ok.send(OutboundMessage(chat_id="chat:C404", files=files[:1]))
        (params,) = self.fake.calls_of("messages")
        self.assertEqual((params["message"]["text"], len(params["message"]["attachments"])), ("", 1))

    def test_error_classification_and_token_scrubbed(self):
        for code, retry, blocked in ((2, True, False), (8, True, False), (10, False, True), (100, False, False)):
            self.fake.queue_error("messages", code, f"ERR {code} {self.fake.token}")
            with self.assertRaises(ConnectorError) as caught:
                self.ok.send(OutboundMessage(chat_id="chat:C404", text="x"))
            error = caught.exception
            self.assertEqual((error.code, error.retry_after is not None, error.blocked), (code, retry, blocked))
            self.assertNotIn(self.fake.token, error.message)

    def test_attack_token_with_reserved_characters_is_scrubbed_in_every_encoding(self):
        import base64
        import json
        from urllib.parse import quote, quote_plus

        token = "tkn1/OK+TEST=a&b:c"
        fake = FakeOK(token=token).start()
        self.addCleanup(fake.stop)
        ok = OkConnector({"token": token, "api_base_url": fake.url})
        forms = [token, quote(token, safe=""), quote(token, safe="").lower(), quote_plus(token),
                 json.dumps(token)[1:-1], base64.b64encode(token.encode()).decode()]  # fmt: skip
        for form in forms:
            fake.queue_error("messages", 100, f"PARAM : bad request ?access_token={form}")
            with self.assertRaises(ConnectorError) as caught:
                ok.send(OutboundMessage(chat_id="chat:C404", text="x"))
            self.assertNotIn(form, caught.exception.message)
            self.assertIn("<secret>", caught.exception.message)

    def test_http_500_and_unreachable_retry(self):
        self.fake.down = True
        try:
            with self.assertRaises(ConnectorError) as caught:
                self.ok.send(OutboundMessage(chat_id="chat:C404", text="x"))
        finally:
            self.fake.down = False
        self.assertIsNotNone(caught.exception.retry_after)
        ok = OkConnector({"token": "secret-token", "api_base_url": "http://127.0.0.1:9"})
        with self.assertRaises(ConnectorError) as caught:
            ok.send(OutboundMessage(chat_id="chat:1", text="x"))
        self.assertIsNotNone(caught.exception.retry_after)
        self.assertNotIn("secret-token", caught.exception.message)

    def test_wrong_token_is_permanent(self):
        ok = OkConnector({"token": "bad", "api_base_url": self.fake.url})
        with self.assertRaises(ConnectorError) as caught:
            ok.test()
        self.assertTrue(caught.exception.is_permanent)

    def test_subscribe_and_unsubscribe(self):
        url = "https://odoo.example/openlines/webhook/" + "k" * 43
        self.ok.set_webhook(url, "ignored")
        self.assertEqual(self.fake.subscriptions[0]["url"], url)
        self.fake.subscriptions.append({"url": "https://other.example/hook"})
        self.ok.delete_webhook()
        self.assertEqual([s["url"] for s in self.fake.subscriptions], ["https://other.example/hook"])
        self.assertEqual(self.fake.calls_of("unsubscribe")[0]["url"], url)

    def test_download_by_url_and_account(self):
        url = self.fake.add_file("img.jpg", b"\xff\xd8ok")
        self.assertEqual(self.ok.download(InboundFile(url, "img.jpg")), b"\xff\xd8ok")
        self.assertEqual(self.ok.test(), "Test group bot (user:404)")
