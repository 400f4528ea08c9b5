"""The Messenger and Instagram connectors against the shared fixtures and a loopback fake.

Plain unittest (no database, no Odoo import): the spec of ``MessengerConnector``
and ``InstagramConnector``.
"""

import copy
import json

from odoo.tests.common import BaseCase

from ..connectors.base import ConnectorError, OutboundFile, OutboundMessage, get_connector
from ..connectors.meta import OUTSIDE_WINDOW_SUBCODE, InstagramConnector, MessengerConnector, sign
from .fake_meta import FakeMeta, fixture_names, graph_error, load_fixture

SECRET = "meta-app-secret"
MESSENGER = {  # fixture -> (kind, dedup key prefix)
    "bottender_page_echo_chinese": ("ignore", "mid.$cAARS90328R5hrBz-Vlbete17ftIb"),
    "courier_delivery_receipt": ("status", "delivery:"),
    "courier_image_attachment": ("message", "external_id"),
    "courier_postback_referral": ("button", "postback:"),
    "location_coordinates": ("message", "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_loc"),
    "meta_doc_postback": ("button", "postback:m_MESSAGE-ID"),
    "meta_doc_quick_reply": ("button", "mid.1457764197618:41d102a3e1ae206a38"),
    "meta_doc_read_watermark": ("status", "read:"),
    "text": ("message", "mid.1481367894969:93faef7425"),
    "text_new_mid": (
        "message",
        "m_xRIdqid6tMwE87rHj2FfJkKmAqFsdxm80d_DF44ojXqjP4d9y79HBj2K3Fz5ukLH8hZ1HIuQTV5cDDHstqaCQA",
    ),
    "text_nlp": ("message", "mid.$cAAIjGS-LkRZl5H8JOFfsznCC7186"),
}
INSTAGRAM = {
    "courier_echo": ("ignore", "qT7ywaK"),
    "courier_icebreaker_postback": ("button", "postback:"),
    "courier_story_mention": ("ignore", "external_id"),
    "courier_unsent_deleted": ("ignore", "external_id:deleted"),
    "image": ("message", "aWdfZAG1"),
    "meta_doc_quick_reply": ("button", "aWdfZAG1faWQ6qr"),
    "referral_ad": ("ignore", "h:"),
    "text": ("message", "mid.101"),
}


def messenger(**config):
    return MessengerConnector({"token": "PAGE-TOKEN", "webhook_secret": SECRET, "verify_token": "vt"} | config)


def instagram(**config):
    return InstagramConnector({"token": "PAGE-TOKEN", "webhook_secret": SECRET, "verify_token": "vt"} | config)


class TestMetaInbound(BaseCase):
    def _check(self, channel, conn, expected):
        self.assertEqual(sorted(expected), fixture_names(channel))
        for name, (kind, key) in expected.items():
            with self.subTest(f"{channel}/{name}"):
                payload = load_fixture(channel, name)
                (ev,) = conn.parse(payload)
                self.assertEqual(ev.kind, kind)
                ((row_key, row),) = conn.split(payload)
                self.assertTrue(row_key.startswith(key), row_key)
                self.assertEqual(conn.dedup_key(payload), row_key)
                self.assertEqual(conn.parse(row)[0].kind, kind)

    def test_every_messenger_fixture(self):
        self._check("messenger", messenger(), MESSENGER)

    def test_every_instagram_fixture(self):
        self._check("instagram", instagram(), INSTAGRAM)

    def test_registered(self):
        self.assertIsInstance(get_connector("messenger", {}), MessengerConnector)
        self.assertIsInstance(get_connector("instagram", {}), InstagramConnector)

    def test_text_attachments_and_notes(self):
        (ev,) = messenger().parse(load_fixture("messenger", "text"))
        self.assertEqual(
            (ev.chat_id, ev.text, ev.remote_message_id),
            ("1436161156394835", "hey", "1436161156394835:mid.1481367894969:93faef7425"),
        )
        (ev,) = instagram().parse(load_fixture("instagram", "image"))
        self.assertEqual(ev.text, "Есть такая модель?")
        self.assertEqual((ev.files[0].kind, ev.files[0].mimetype), ("photo", "image/jpeg"))
        self.assertTrue(ev.files[0].ref.startswith("https://lookaside.fbsbx.com/"))
        self.assertIn("echo", messenger().parse(load_fixture("messenger", "bottender_page_echo_chinese"))[0].note)
        self.assertIn("unsent", instagram().parse(load_fixture("instagram", "courier_unsent_deleted"))[0].note)
        self.assertIn("story_mention", instagram().parse(load_fixture("instagram", "courier_story_mention"))[0].note)
        (ev,) = messenger().parse(load_fixture("messenger", "courier_delivery_receipt"))
        self.assertEqual((ev.remote_message_id, ev.note), ("mid.1458668856218:ed81099e15d3f4f233", "delivered"))
        (ev,) = messenger().parse(load_fixture("messenger", "courier_postback_referral"))
        self.assertEqual(ev.text, "postback payload")

    def test_quick_replies_and_postbacks_hand_over_their_payload_not_their_title(self):
        payload = load_fixture("messenger", "text")
        payload["entry"][0]["messaging"][0]["message"]["quick_reply"] = {"payload": "YES"}
        (ev,) = messenger().parse(payload)
        self.assertEqual((ev.kind, ev.text), ("button", "YES"))
        cases = [
            (messenger(), "messenger", "meta_doc_quick_reply", "DEVELOPER_DEFINED_PAYLOAD"),
            (messenger(), "messenger", "meta_doc_postback", "USER-DEFINED-PAYLOAD"),
            (instagram(), "instagram", "meta_doc_quick_reply", "RED_PAYLOAD"),
            (instagram(), "instagram", "courier_icebreaker_postback", "get_started"),
        ]
        for conn, channel, name, data in cases:
            with self.subTest(f"{channel}/{name}"):
                (ev,) = conn.parse(load_fixture(channel, name))
                self.assertEqual((ev.kind, ev.text), ("button", data))

    def test_a_location_without_url_becomes_a_map_link(self):
        (ev,) = messenger().parse(load_fixture("messenger", "location_coordinates"))
        self.assertEqual(ev.kind, "message")
        self.assertIn("openstreetmap.org/?mlat=55.7558&mlon=37.6173", ev.text)

    def test_read_events_are_read_marks(self):
        (ev,) = messenger().parse(load_fixture("messenger", "meta_doc_read_watermark"))
        self.assertEqual((ev.kind, ev.note, ev.remote_message_id), ("status", "read", "watermark:1458668856253"))
        payload = load_fixture("messenger", "meta_doc_read_watermark")
        payload["entry"][0]["messaging"][0]["read"] = {"mid": "aWdfZAG1faWQ6qr"}  # Instagram names the message
        (ev,) = instagram().parse(payload)
        self.assertEqual((ev.kind, ev.note, ev.remote_message_id), ("status", "read", "aWdfZAG1faWQ6qr"))

    def test_split_one_row_per_messaging_item_across_entries(self):
        payload = load_fixture("messenger", "text")
        second = copy.deepcopy(payload["entry"][0])
        second["messaging"][0]["message"]["mid"] = "mid.2"
        payload["entry"][0]["messaging"].append(
            copy.deepcopy(load_fixture("messenger", "text_nlp")["entry"][0]["messaging"][0])
        )
        payload["entry"].append(second)
        keys = [k for k, _r in messenger().split(payload)]
        self.assertEqual(keys, ["mid.1481367894969:93faef7425", "mid.$cAAIjGS-LkRZl5H8JOFfsznCC7186", "mid.2"])

    def test_malformed_bodies_raise_for_a_400(self):
        for bad in ([1], {"entry": 3}, "x"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                messenger().split(bad)

    def test_handshake_and_signature(self):
        query = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "CHALLENGE"}
        self.assertEqual(instagram().handshake(query), (200, "CHALLENGE"))
        self.assertEqual(instagram().handshake(query | {"hub.verify_token": "x"}), (403, "Forbidden"))
        body = json.dumps(load_fixture("instagram", "text"), ensure_ascii=False).encode()
        self.assertTrue(instagram().verify({"X-Hub-Signature-256": sign(SECRET, body)}, body, {}))
        self.assertFalse(instagram().verify({"X-Hub-Signature-256": sign("forged", body)}, body, {}))
        self.assertFalse(instagram().verify({}, body, {}))


class TestMetaApi(BaseCase):
    def setUp(self):
        self.fb = FakeMeta().start()
        self.addCleanup(self.fb.stop)
        self.conn = messenger(token=self.fb.token, api_base_url=self.fb.url, meta_page_id=self.fb.page_id)

    def test_send_text_as_response(self):
        ids = self.conn.send(OutboundMessage(chat_id="5678", text="Здравствуйте"))
        (call,) = self.fb.calls_of("messages")
        self.assertEqual(call["recipient"], {"id": "5678"})
        self.assertEqual((call["messaging_type"], call["message"]["text"]), ("RESPONSE", "Здравствуйте"))
        self.assertTrue(ids[0].startswith("5678:m_fake"))

    def test_long_text_split_at_2000_and_instagram_at_1000(self):
        self.conn.send(OutboundMessage(chat_id="5678", text="слово " * 500))
        self.assertEqual(len(self.fb.calls_of("messages")), 2)
        ig = instagram(token=self.fb.token, api_base_url=self.fb.url)
        ig.send(OutboundMessage(chat_id="5678", text="слово " * 500))
        self.assertEqual(len(self.fb.calls_of("messages")), 2 + 4)

    def test_outside_the_window_retries_once_with_human_agent(self):
        self.fb.queue_error("messages", *graph_error(10, "outside of allowed window", subcode=OUTSIDE_WINDOW_SUBCODE))
        self.conn.send(OutboundMessage(chat_id="5678", text="Ответ"))
        first, second = self.fb.calls_of("messages")
        self.assertEqual(first["messaging_type"], "RESPONSE")
        self.assertEqual((second["messaging_type"], second["tag"]), ("MESSAGE_TAG", "HUMAN_AGENT"))
        self.fb.queue_error("messages", *graph_error(10, "outside", subcode=OUTSIDE_WINDOW_SUBCODE), times=2)
        with self.assertRaises(ConnectorError) as cm:
            self.conn.send(OutboundMessage(chat_id="5678", text="Ответ"))
        self.assertTrue(cm.exception.is_permanent)
        self.assertIn("7 days", cm.exception.message)

    def test_attachments_are_uploaded_and_quick_replies_attached(self):
        files = [OutboundFile("p.png", b"\x89PNG", "image/png")]
        self.conn.send(
            OutboundMessage(chat_id="5678", text="Выберите", files=files, buttons=[("Да", "Y"), ("Нет", "N")])
        )
        (upload,) = self.fb.calls_of("message_attachments")
        self.assertEqual(upload["message"]["attachment"]["type"], "image")
        image, text = self.fb.calls_of("messages")
        self.assertTrue(image["message"]["attachment"]["payload"]["attachment_id"])
        self.assertEqual([q["payload"] for q in text["message"]["quick_replies"]], ["Y", "N"])

    def test_quick_replies_within_the_published_limits(self):
        buttons = [("Очень длинная подпись кнопки", f"chatbot:{i}") for i in range(13)]
        self.conn.send(OutboundMessage(chat_id="5678", text="?", buttons=buttons))
        quick = self.fb.sent[-1]["message"]["quick_replies"]
        self.assertEqual([q["payload"] for q in quick], [f"chatbot:{i}" for i in range(13)])
        self.assertTrue(all(len(q["title"]) <= 20 for q in quick))
        for bad in ([("a", str(i)) for i in range(14)], [("a", "x" * 1001)]):
            with self.subTest(n=len(bad)), self.assertRaises(ConnectorError):
                self.conn.send(OutboundMessage(chat_id="5678", text="?", buttons=bad))
        self.assertEqual(len(self.fb.calls_of("messages")), 1)

    def test_the_fake_refuses_what_the_send_api_refuses(self):
        import requests  # noqa: PLC0415

        url, headers = f"{self.fb.url}/{self.fb.page_id}/messages", {"Authorization": f"Bearer {self.fb.token}"}
        quick = [{"content_type": "text", "title": "x", "payload": "p"}]
        bad = [
            {"text": "x", "quick_replies": quick * 14},
            {"text": "x", "quick_replies": [{"content_type": "text", "title": "x" * 21, "payload": "p"}]},
            {"text": "x" * 2001},
            {"text": "x", "attachment": {"type": "image", "payload": {"url": "https://x/p.png"}}},
        ]
        for message in bad:
            body = {"recipient": {"id": "5678"}, "messaging_type": "RESPONSE", "message": message}
            self.assertEqual(requests.post(url, json=body, headers=headers, timeout=5).status_code, 400)

    def test_instagram_uploads_to_the_page_with_platform_instagram_and_sends_a_pdf(self):
        ig = instagram(token=self.fb.token, api_base_url=self.fb.url, meta_page_id=self.fb.page_id)
        ig.send(OutboundMessage(chat_id="5678", files=[OutboundFile("счёт.pdf", b"%PDF-1.4", "application/pdf")]))
        (upload,) = self.fb.calls_of("message_attachments")
        self.assertEqual(upload["platform"], "instagram")
        self.assertEqual(upload["message"]["attachment"]["type"], "file")  # the fake decodes JSON form fields
        (sent,) = self.fb.sent
        self.assertEqual(sent["message"]["attachment"]["type"], "file")
        self.assertIn(sent["message"]["attachment"]["payload"]["attachment_id"], self.fb.uploads)
        for name, mimetype in (
            ("a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            ("p.webp", "image/webp"),
        ):
            with self.subTest(name), self.assertRaises(ConnectorError) as cm:
                ig.send(OutboundMessage(chat_id="5678", files=[OutboundFile(name, b"x", mimetype)]))
            self.assertTrue(cm.exception.is_permanent)
        self.assertEqual(len(self.fb.calls_of("message_attachments")), 1, "nothing uploaded that Instagram refuses")
        with self.assertRaises(ConnectorError):  # no page id: Instagram has no "me" upload
            instagram(token=self.fb.token, api_base_url=self.fb.url).send(
                OutboundMessage(chat_id="5678", files=[OutboundFile("a.pdf", b"%PDF", "application/pdf")])
            )

    def test_the_fake_refuses_an_instagram_upload_messenger_style_or_not_pdf(self):
        import requests  # noqa: PLC0415

        headers = {"Authorization": f"Bearer {self.fb.token}"}
        message = json.dumps({"attachment": {"type": "file", "payload": {"is_reusable": True}}})
        for page, mimetype in (("me", "application/pdf"), (self.fb.page_id, "application/msword")):
            answer = requests.post(
                f"{self.fb.url}/{page}/message_attachments",
                data={"platform": "instagram", "message": message},
                files={"filedata": ("a", b"x", mimetype)},
                headers=headers,
                timeout=5,
            )
            self.assertEqual(answer.status_code, 400, (page, mimetype))

    def test_errors(self):
        cases = [
            (graph_error(613, "Calls to this api have exceeded the rate limit"), False, False),
            (graph_error(551, "This person isn't available right now"), True, True),
            (graph_error(100, "No matching user found", subcode=2018001), True, False),
            (graph_error(2, "Service temporarily unavailable", status=503), False, False),
        ]
        for answer, permanent, blocked in cases:
            self.fb.queue_error("messages", *answer)
            with self.assertRaises(ConnectorError) as cm:
                self.conn.send(OutboundMessage(chat_id="5678", text="x"))
            self.assertEqual((cm.exception.is_permanent, cm.exception.blocked), (permanent, blocked), answer)
        with self.assertRaises(ConnectorError) as cm:
            messenger(token="bad", api_base_url=self.fb.url).send(OutboundMessage(chat_id="5678", text="x"))
        self.assertTrue(cm.exception.is_permanent)
        self.assertIn("access token", cm.exception.message)

    def test_subscribe_test_and_download(self):
        self.assertTrue(self.conn.set_webhook("https://x", "s"))
        self.assertIn("messages", self.fb.subscribed)
        self.assertTrue(self.conn.delete_webhook())
        self.assertIsNone(self.fb.subscribed)
        self.assertEqual(self.conn.test(), f"Fake Shop Page ({self.fb.page_id})")
        url = self.fb.add_file("img.png", b"png-bytes")
        payload = load_fixture("messenger", "courier_image_attachment")
        payload["entry"][0]["messaging"][0]["message"]["attachments"][0]["payload"]["url"] = url
        (ev,) = self.conn.parse(payload)
        self.assertEqual(self.conn.download(ev.files[0]), b"png-bytes")
