"""The Viber bot API connector against the shared fixtures and a loopback fake.

Plain unittest (no database, no Odoo import): the spec of ``ViberConnector``.
"""

import hashlib
import hmac
import json

from odoo.tests.common import BaseCase

from ..connectors.base import ConnectorError, FileTooLarge, InboundFile, OutboundFile, OutboundMessage, get_connector
from ..connectors.viber import ViberConnector
from .fake_meta import fixture_names
from .fake_telegram import fixtures_dir
from .fake_viber import FakeViber, load_fixture, viber_error

TOKEN = "4453b6ac12345678-e02c5f12174805f9-9a652e6ea0e2f1c5"
EXPECTED = {  # fixture -> (kind, dedup key); None: split stores nothing
    "delivered": ("status", "504054678623710111:delivered"),
    "keyboard_reply_rate": ("button", "4912661846655238200"),
    "message_no_body": ("ignore", "50405727362920111"),
    "message_text": ("message", "50405319809731111"),
    "pollbot_conversation_started": ("ignore", "5466358343372472277:conversation_started"),
    "pollbot_seen": ("status", "5466297467809468529:seen"),
    "pollbot_subscribed": ("ignore", "4912661846655238145:subscribed"),
    "pollbot_webhook_check": ("ignore", None),
    "viberbot_message_unicode": ("message", "4912661846655238145"),
}


def fx(name):
    return load_fixture("viber", name)


def connector(**config):
    return ViberConnector({"token": TOKEN, "sender_name": "Магазин"} | config)


def signature(body, token=TOKEN):
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


class TestViberInbound(BaseCase):
    def test_every_fixture_parses_and_splits(self):
        self.assertEqual(sorted(EXPECTED), fixture_names("viber"))
        for name, (kind, key) in EXPECTED.items():
            with self.subTest(name):
                (ev,) = connector().parse(fx(name))
                self.assertEqual(ev.kind, kind)
                self.assertEqual(connector().split(fx(name)), [(key, fx(name))] if key else [])

    def test_registered_under_viber(self):
        self.assertIsInstance(get_connector("viber", {}), ViberConnector)

    def test_message_token_above_2_53_stays_exact(self):
        payload = json.loads((fixtures_dir() / "viber" / "viberbot_message_unicode.json").read_bytes())
        self.assertEqual(connector().dedup_key(payload), "4912661846655238145")
        self.assertGreater(int(connector().dedup_key(payload)), 2**53)

    def test_text_message_and_its_client(self):
        (ev,) = connector().parse(fx("viberbot_message_unicode"))
        self.assertEqual(ev.chat_id, "01234567890A=")
        self.assertTrue(ev.name.startswith("ふで都"))
        self.assertTrue(ev.text.startswith("批封廟"))
        self.assertEqual(ev.remote_message_id, "01234567890A=:4912661846655238145")

    def test_media_location_contact_url_sticker(self):
        base = fx("message_text")
        cases = {
            "picture": ({"media": "https://x/p.jpg", "text": "look"}, "photo"),
            "file": ({"media": "https://x/f.pdf", "file_name": "f.pdf", "size": 10}, "document"),
            "video": ({"media": "https://x/v.mp4", "size": 5}, "video"),
            "sticker": ({"media": "https://x/s.png", "sticker_id": 1}, "sticker"),
        }
        for kind, (fields, file_kind) in cases.items():
            payload = json.loads(json.dumps(base))
            payload["message"] = {"type": kind, **fields}
            (ev,) = connector().parse(payload)
            self.assertEqual((ev.kind, ev.files[0].kind, ev.files[0].ref), ("message", file_kind, fields["media"]))
        payload["message"] = {"type": "location", "location": {"lat": 50.1, "lon": 30.2}}
        self.assertIn("mlat=50.1", connector().parse(payload)[0].text)
        payload["message"] = {"type": "contact", "contact": {"name": "Ann", "phone_number": "+380"}}
        self.assertEqual(connector().parse(payload)[0].text, "👤 Contact: Ann, +380")
        payload["message"] = {"type": "url", "media": "https://shop.example/item"}
        self.assertEqual(connector().parse(payload)[0].text, "https://shop.example/item")

    def test_a_reply_button_press_is_a_button_with_its_action_body(self):
        (ev,) = connector().parse(fx("keyboard_reply_rate"))
        self.assertEqual((ev.kind, ev.text, ev.chat_id), ("button", "rate:4", "01234567890A="))
        typed = fx("keyboard_reply_rate")
        typed["message"]["text"] = "rate:4 please"  # typed by the client under the same keyboard
        self.assertEqual(connector().parse(typed)[0].kind, "message")
        typed["message"].update(text="rate:4", tracking_data="579777865")  # no keyboard of ours
        self.assertEqual(connector().parse(typed)[0].kind, "message")

    def test_unsubscribed_blocks_and_statuses_carry_our_token(self):
        payload = {"event": "unsubscribed", "timestamp": 1, "user_id": "u1==", "message_token": 55}
        (ev,) = connector().parse(payload)
        self.assertEqual((ev.kind, ev.chat_id), ("blocked", "u1=="))
        failed = {"event": "failed", "message_token": 77, "user_id": "u1==", "desc": "failure description"}
        (ev,) = connector().parse(failed)
        self.assertEqual((ev.kind, ev.remote_message_id, ev.note), ("status", "77", "failed: failure description"))
        (seen,) = connector().parse(fx("pollbot_seen"))
        self.assertEqual((seen.remote_message_id, seen.note), ("5466297467809468529", "read"))

    def test_bad_input_raises_for_a_400(self):
        for bad in ({}, {"event": "message"}, [1], {"event": "message", "message_token": True}):
            with self.subTest(bad=bad), self.assertRaises((ValueError, AttributeError)):
                connector().split(bad)

    def test_signature_is_hex_hmac_keyed_by_the_token(self):
        body = json.dumps(fx("message_text")).encode()
        self.assertTrue(connector().verify({"X-Viber-Content-Signature": signature(body)}, body, {}))
        self.assertTrue(connector().verify({"x-viber-content-signature": signature(body)}, body, {}))
        self.assertFalse(connector().verify({"X-Viber-Content-Signature": signature(body, "x")}, body, {}))
        self.assertFalse(connector().verify({"X-Viber-Content-Signature": signature(body)}, body + b"\n", {}))
        self.assertFalse(connector().verify({}, body, {}))
        self.assertFalse(connector(token="").verify({"X-Viber-Content-Signature": signature(body, "")}, body, {}))


class TestViberApi(BaseCase):
    def setUp(self):
        self.vb = FakeViber().start()
        self.addCleanup(self.vb.stop)
        self.conn = connector(api_base_url=self.vb.url)

    def test_set_webhook_delete_and_test(self):
        self.assertTrue(self.conn.set_webhook("https://odoo.example/openlines/webhook/k", "ignored"))
        self.assertEqual(self.vb.webhook["url"], "https://odoo.example/openlines/webhook/k")
        self.assertIn("unsubscribed", self.vb.webhook["event_types"])
        self.assertTrue(self.conn.delete_webhook())
        self.assertEqual(self.vb.webhook["url"], "")
        self.assertEqual(self.conn.test(), "Fake Shop (fakeshop)")

    def test_send_text_with_sender_name_and_keyboard(self):
        ids = self.conn.send(OutboundMessage(chat_id="u1==", text="Привет", buttons=[("Да", "yes")], ref="42"))
        (call,) = self.vb.calls_of("send_message")
        self.assertEqual((call["receiver"], call["type"], call["text"]), ("u1==", "text", "Привет"))
        self.assertEqual(call["sender"], {"name": "Магазин"})
        self.assertTrue(call["tracking_data"].startswith("ol1:"))
        self.assertEqual(json.loads(call["tracking_data"][4:]), {"ref": "42", "buttons": ["yes"]})
        self.assertEqual(call["keyboard"]["Buttons"][0]["ActionBody"], "yes")
        self.assertEqual(ids, ["u1==:5466358343372472277"])

    def test_sender_name_falls_back_to_the_line_and_is_cut_to_28(self):
        conn = connector(api_base_url=self.vb.url, sender_name="", line_name="Очень длинное название линии поддержки")
        conn.send(OutboundMessage(chat_id="u1==", text="x"))
        self.assertEqual(len(self.vb.calls_of("send_message")[0]["sender"]["name"]), 28)

    def test_files_go_by_a_url_ending_in_their_extension(self):
        url = "https://odoo.example/web/content/1/p.jpg?access_token=t"
        files = [OutboundFile("p.jpg", b"jpg", "image/jpeg", url=url)]
        self.conn.send(OutboundMessage(chat_id="u1==", text="Фото", files=files))
        (pic,) = self.vb.calls_of("send_message")
        self.assertEqual((pic["type"], pic["text"], pic["media"]), ("picture", "Фото", files[0].url))
        pdf = OutboundFile("a.pdf", b"%PDF", "application/pdf", url="https://odoo.example/web/content/2/a.pdf?t=1")
        self.conn.send(OutboundMessage(chat_id="u1==", files=[pdf]))
        doc = self.vb.calls_of("send_message")[-1]
        self.assertEqual((doc["type"], doc["file_name"], doc["size"]), ("file", "a.pdf", 4))
        with self.assertRaises(ConnectorError):
            self.conn.send(OutboundMessage(chat_id="u1==", files=[OutboundFile("x.pdf", b"x")]))
        for url in ("https://odoo.example/web/content/1?access_token=t", "https://odoo.example/get?f=p.jpg"):
            bad = OutboundFile("p.jpg", b"jpg", "image/jpeg", url=url)
            with self.subTest(url=url), self.assertRaises(ConnectorError) as cm:
                self.conn.send(OutboundMessage(chat_id="u1==", files=[bad]))
            self.assertIn("extension", cm.exception.message)
        self.assertEqual(len(self.vb.calls_of("send_message")), 2, "nothing sent that Viber would refuse")

    def test_a_picture_over_1_mb_goes_as_a_file(self):
        data = b"\x89PNG" + b"0" * (1024 * 1024)
        big = OutboundFile("big.png", data, "image/png", url="https://o.example/c/3/big.png")
        self.conn.send(OutboundMessage(chat_id="u1==", text="Схема", files=[big]))
        text, file = self.vb.calls_of("send_message")
        self.assertEqual((text["type"], file["type"], file["file_name"]), ("text", "file", "big.png"))

    def test_long_text_is_split(self):
        self.conn.send(OutboundMessage(chat_id="u1==", text="слово " * 2000))
        self.assertEqual(len(self.vb.calls_of("send_message")), 2)

    def test_bodies_are_utf8_and_stay_within_30_kb(self):
        ids = self.conn.send(OutboundMessage(chat_id="u1==", text="Ж" * 7000, buttons=[("Да", "yes")], ref="5"))
        calls = self.vb.calls_of("send_message")
        self.assertFalse(self.vb.calls_of("too_large"))
        self.assertEqual("".join(c["text"] for c in calls), "Ж" * 7000)
        self.assertEqual(len(ids), len(calls))
        emoji = "😀" * 7000  # 4 bytes each in UTF-8: 28 KB of text, over 30 KB with the keyboard
        self.conn.send(OutboundMessage(chat_id="u1==", text=emoji, buttons=[("Да", "yes")], ref="6"))
        self.assertFalse(self.vb.calls_of("too_large"))
        self.assertEqual("".join(c["text"] for c in self.vb.calls_of("send_message")[len(calls) :]), emoji)

    def test_the_fake_refuses_a_body_over_30_kb(self):
        import requests  # noqa: PLC0415

        body = {"receiver": "u1==", "sender": {"name": "x"}, "type": "text", "text": "Ж" * 7000}
        headers = {"X-Viber-Auth-Token": self.vb.token}
        escaped = requests.post(f"{self.vb.url}/send_message", json=body, headers=headers, timeout=5)
        self.assertEqual(escaped.json()["status"], 3, "requests' json= escapes Cyrillic: 6 bytes a letter, 42 KB")
        utf8 = json.dumps(body, ensure_ascii=False).encode()  # 14 KB
        headers["Content-Type"] = "application/json"
        answer = requests.post(f"{self.vb.url}/send_message", data=utf8, headers=headers, timeout=5)
        self.assertEqual(answer.json()["status"], 0)

    def test_keyboard_and_tracking_data_within_limits(self):
        self.conn.send(OutboundMessage(chat_id="u1==", text="?", buttons=[(str(i), f"chatbot:{i}") for i in range(12)]))
        with self.assertRaises(ConnectorError):
            self.conn.send(OutboundMessage(chat_id="u1==", text="?", buttons=[(str(i), str(i)) for i in range(13)]))
        with self.assertRaises(ConnectorError):
            self.conn.send(OutboundMessage(chat_id="u1==", text="?", buttons=[("a", "x" * 4000)]))
        self.assertEqual(len(self.vb.calls_of("send_message")), 1)

    def test_statuses_5_6_block_7_is_our_account_12_retries(self):
        for status in (5, 6):
            self.vb.queue_error("send_message", *viber_error(status, "notSubscribed"))
            with self.assertRaises(ConnectorError) as cm:
                self.conn.send(OutboundMessage(chat_id="u1==", text="x"))
            self.assertTrue(cm.exception.is_permanent and cm.exception.blocked, status)
        self.vb.queue_error("send_message", *viber_error(7, "publicAccountBlocked"))
        with self.assertRaises(ConnectorError) as cm:
            self.conn.send(OutboundMessage(chat_id="u1==", text="x"))
        self.assertTrue(cm.exception.is_permanent)
        self.assertFalse(cm.exception.blocked, "status 7: the bot account is blocked, not the client")
        self.assertIn("account", cm.exception.message)
        self.vb.queue_error("send_message", *viber_error(12, "tooManyRequests"))
        with self.assertRaises(ConnectorError) as cm:
            self.conn.send(OutboundMessage(chat_id="u1==", text="x"))
        self.assertFalse(cm.exception.is_permanent)
        self.vb.down = True
        with self.assertRaises(ConnectorError) as cm:
            self.conn.send(OutboundMessage(chat_id="u1==", text="x"))
        self.assertFalse(cm.exception.is_permanent)

    def test_bad_token_is_permanent(self):
        with self.assertRaises(ConnectorError) as cm:
            connector(api_base_url=self.vb.url, token="bad").test()
        self.assertTrue(cm.exception.is_permanent)
        self.assertIn("token", cm.exception.message)

    def test_download(self):
        url = self.vb.add_file("p.jpg", b"\xff\xd8")
        self.assertEqual(self.conn.download(InboundFile(url, "p.jpg")), b"\xff\xd8")

    def test_attack_download_over_the_cap_is_refused_whatever_the_size_announced(self):
        from ..connectors import viber  # noqa: PLC0415

        url = self.vb.add_file("big.mp4", b"0" * (viber.MAX_DOWNLOAD + 1))
        for announced in (0, 10):  # Viber's ``size`` absent, or lying
            with self.subTest(size=announced), self.assertRaises(FileTooLarge):
                self.conn.download(InboundFile(url, "big.mp4", "video/mp4", announced, "video"))
