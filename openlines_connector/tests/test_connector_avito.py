"""The Avito connector against the shared fixtures and a loopback fake Avito API (no Odoo)."""

import copy

from odoo.tests.common import BaseCase

from ..connectors.avito import AvitoConnector
from ..connectors.base import ConnectorError, InboundFile, OutboundFile, OutboundMessage, get_connector
from .fake_avito import FakeAvito, fixture_names, load_fixture

EXPECTED_KINDS = {
    "loskutnikoff_v3_text_u2i": "message",
    "message_echo_own": "ignore",  # the seller 99 is not this channel's account (11111)
    "message_text": "message",
    "message_u2u_no_item": "message",
}


class AvitoCase(BaseCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeAvito().start()
        cls.addClassCleanup(cls.fake.stop)

    def setUp(self):
        AvitoConnector.forget_tokens()
        AvitoConnector._items.clear()
        self.fake.calls.clear()
        self.avito = get_connector(
            "avito",
            {
                "avito_client_id": self.fake.client_id,
                "avito_client_secret": self.fake.client_secret,
                "avito_user_id": self.fake.user_id,
                "api_base_url": self.fake.url,
            },
        )


class TestAvitoParse(AvitoCase):
    def test_every_fixture_has_an_expectation_and_parses(self):
        self.assertEqual(sorted(EXPECTED_KINDS), fixture_names())
        for name, kind in EXPECTED_KINDS.items():
            (event,) = self.avito.parse(load_fixture(name))
            self.assertEqual(event.kind, kind, name)

    def test_text_about_an_item_carries_the_item_note(self):
        self.fake.items["u2i-Xx0YzAbCdEfGh1JkLmNoP"] = {"title": "Велосипед", "url": "https://www.avito.ru/x_555"}
        payload = load_fixture("message_text")
        (event,) = self.avito.parse(payload)
        self.assertEqual(
            (event.chat_id, event.user_id, event.text), ("u2i-Xx0YzAbCdEfGh1JkLmNoP", "67890", "Test message")
        )
        self.assertEqual(event.note, "Avito item: Велосипед — https://www.avito.ru/x_555")
        self.assertEqual(event.remote_message_id, "u2i-Xx0YzAbCdEfGh1JkLmNoP:msg001")
        self.avito.parse(payload)
        self.assertEqual(len(self.fake.calls_of("chat")), 1, "the item is read once per chat")

    def test_attack_a_forged_echo_is_not_the_seller(self):
        # author_id == user_id of the payload, but not the configured account: another account's message
        forged = copy.deepcopy(load_fixture("message_echo_own"))
        forged["payload"]["value"].update(author_id=4242, user_id=4242)
        (event,) = self.avito.parse(forged)
        self.assertEqual(event.kind, "ignore")
        unset = AvitoConnector({"api_base_url": self.fake.url})  # no account id: no echo at all
        self.assertEqual(unset.parse(load_fixture("message_echo_own"))[0].kind, "ignore")
        mine = AvitoConnector({"avito_user_id": "99", "api_base_url": self.fake.url})
        self.assertEqual(mine.parse(load_fixture("message_echo_own"))[0].kind, "echo")
        half = copy.deepcopy(load_fixture("message_echo_own"))
        half["payload"]["value"]["user_id"] = 4242  # claims our author id in someone else's account
        self.assertEqual(mine.parse(half)[0].kind, "ignore")
        self.assertFalse(AvitoConnector.signed_webhooks)

    def test_item_without_details_gets_its_link(self):
        (event,) = self.avito.parse(load_fixture("loskutnikoff_v3_text_u2i"))
        self.assertEqual(event.note, "Avito item: https://www.avito.ru/7463793992")

    def test_u2u_has_no_item(self):
        (event,) = self.avito.parse(load_fixture("message_u2u_no_item"))
        self.assertEqual((event.note, event.text), ("", "Здравствуйте"))

    def test_image_takes_the_largest_size(self):
        payload = copy.deepcopy(load_fixture("message_u2u_no_item"))
        payload["payload"]["value"].update(
            type="image", content={"image": {"sizes": {"140x105": "http://x/s", "1280x960": "http://x/l"}}}
        )
        (event,) = self.avito.parse(payload)
        self.assertEqual([(f.ref, f.kind) for f in event.files], [("http://x/l", "photo")])

    def test_dedup_by_message_id_and_malformed(self):
        self.assertEqual(self.avito.dedup_key(load_fixture("message_text")), "msg001")
        for bad in ({}, {"payload": {"value": {}}}, [1]):
            with self.assertRaises((KeyError, ValueError, TypeError)):
                self.avito.split(bad)
        self.assertEqual(self.avito.parse({"payload": {"type": "other"}})[0].kind, "ignore")
        self.assertTrue(self.avito.verify({}, b"", {}))


class TestAvitoApi(AvitoCase):
    def test_token_comes_from_the_documented_address(self):
        self.avito.test()
        (call,) = [name for name, _params in self.fake.calls if name == "token"]
        self.assertTrue(call)
        self.assertFalse([name for name, _params in self.fake.calls if name == "/token"])

    def test_token_is_cached_and_renewed_when_expired(self):
        # an expired token answers 403 (the fake as Avito): renewed once, the call repeated
        self.avito.send(OutboundMessage(chat_id="c1", text="Раз"))
        self.avito.send(OutboundMessage(chat_id="c1", text="Два"))
        self.assertEqual(len(self.fake.calls_of("token")), 1)
        self.fake.expire_tokens()
        self.avito.send(OutboundMessage(chat_id="c1", text="Три"))
        self.assertEqual(len(self.fake.calls_of("token")), 2)
        self.assertEqual([c["message"]["text"] for c in self.fake.calls_of("send")], ["Раз", "Два", "Три", "Три"])

    def test_bad_credentials_are_permanent(self):
        avito = AvitoConnector(
            {"avito_client_id": "x", "avito_client_secret": "y", "avito_user_id": "1", "api_base_url": self.fake.url}
        )
        with self.assertRaises(ConnectorError) as caught:
            avito.test()
        self.assertTrue(caught.exception.is_permanent)
        self.assertIn("client credentials", caught.exception.message)

    def test_send_text_and_image(self):
        image = OutboundFile("photo.jpg", b"\xff\xd8", "image/jpeg")
        ids = self.avito.send(OutboundMessage(chat_id="c1", text="Фото", files=[image]))
        self.assertEqual(len(ids), 2)
        self.assertTrue(all(i.startswith("c1:sent") for i in ids))
        (upload,) = self.fake.calls_of("upload")
        self.assertEqual(upload["uploadfile[]"].filename, "photo.jpg")
        self.assertTrue(self.fake.calls_of("send_image")[0]["image_id"].endswith(".img"))

    def test_other_files_are_refused_before_anything_is_sent(self):
        with self.assertRaises(ConnectorError) as caught:
            self.avito.send(OutboundMessage(chat_id="c1", text="x", files=[OutboundFile("a.pdf", b"%PDF")]))
        self.assertTrue(caught.exception.is_permanent)
        self.assertFalse(self.fake.calls_of("send"))

    def test_other_files_go_as_links_in_the_text(self):
        pdf = OutboundFile("a.pdf", b"%PDF", "application/pdf", url="https://odoo.example/web/content/7?access_token=t")
        ids = self.avito.send(OutboundMessage(chat_id="c1", text="Договор", files=[pdf]))
        (call,) = self.fake.calls_of("send")
        self.assertEqual(
            call["message"]["text"], "Договор\n📎 a.pdf: https://odoo.example/web/content/7?access_token=t"
        )
        self.assertFalse(self.fake.calls_of("upload"))
        self.assertEqual(len(ids), 1)

    def test_error_classification(self):
        for status, retry in ((429, True), (500, True), (400, False), (404, False)):
            self.fake.queue_error("send", status, f"error {status}")
            with self.assertRaises(ConnectorError) as caught:
                self.avito.send(OutboundMessage(chat_id="c1", text="x"))
            self.assertEqual((caught.exception.code, caught.exception.retry_after is not None), (status, retry))

    def test_subscribe_and_unsubscribe(self):
        url = "https://odoo.example/openlines/webhook/" + "k" * 43
        self.avito.set_webhook(url, "ignored")
        self.assertEqual(self.fake.calls_of("subscribe")[0]["url"], url)
        self.avito.delete_webhook()
        self.assertEqual(self.fake.subscriptions, [])

    def test_download_and_account(self):
        url = self.fake.add_file("a.jpg", b"\xff\xd8avito")
        self.assertEqual(self.avito.download(InboundFile(url, "a.jpg")), b"\xff\xd8avito")
        self.assertEqual(self.avito.test(), "Test seller (11111)")

    def test_poll_reads_unread_chats_and_marks_them_read(self):
        self.fake.unread["c9"] = [
            {"id": "m2", "author_id": 5, "created": 200, "type": "text", "content": {"text": "Второе"}},
            {"id": "m1", "author_id": 5, "created": 100, "type": "text", "content": {"text": "Первое"}},
        ]
        payloads, offset = self.avito.poll(None)
        self.assertEqual(offset, "200")
        self.assertEqual([self.avito.dedup_key(p) for p in payloads], ["m1", "m2"])
        (event,) = self.avito.parse(payloads[0])
        self.assertEqual((event.kind, event.chat_id, event.text), ("message", "c9", "Первое"))
        self.assertIn("https://www.avito.ru/555", event.note)
        self.assertEqual(len(self.fake.calls_of("read")), 1)
        self.assertEqual(self.avito.poll(offset), ([], offset))
