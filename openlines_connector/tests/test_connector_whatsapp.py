"""The WhatsApp Cloud API connector against the shared fixtures and a loopback fake.

Plain unittest (no database, no Odoo import): the spec of ``WhatsAppConnector``.
"""

import copy
import json
import unittest

from ..connectors.base import ConnectorError, FileTooLarge, InboundFile, OutboundFile, OutboundMessage, get_connector
from ..connectors.meta import sign
from ..connectors.whatsapp import WhatsAppConnector
from .fake_meta import fixture_names
from .fake_whatsapp import FakeWhatsApp, graph_error, load_fixture

SECRET = "app-secret"
EXPECTED = {
    "document": ("message", "wamid.xyzxyz"),
    "image": ("message", "wamid.xyzxyz"),
    "location": ("message", "wamid.xyzxyz"),
    "pywa_interactive_button_reply": ("button", "wamid.xyzxyz"),
    "pywa_interactive_list_reply": ("button", "wamid.zyzxyz"),
    "pywa_status_delivered": ("status", "wamid.xyzxyz:delivered"),
    "pywa_template_quick_reply_button": ("button", "wamid.xsidjw"),
    "pywa_text_reply_context": ("message", "wamid.xyzxyz"),
    "pywa_unsupported_131051": ("message", "wamid.xyzxyz"),
    "reaction": ("ignore", "wamid.xyzxyz"),
    "status_failed": ("status", "wamid.xyzxyz:failed"),
    "status_read": ("status", "wamid.xyzxyz:read"),
    "status_sent": ("status", "wamid.xyzxyz:sent"),
    "text": ("message", "wamid.xyzxyz"),
    "voice": ("message", "wamid.xyzxyz"),
}


def fx(name):
    return load_fixture("whatsapp", name)


def connector(**config):
    return WhatsAppConnector(
        {"token": "WA-TOKEN", "webhook_secret": SECRET, "verify_token": "vt-123", "wa_phone_number_id": "1122334455667"}
        | config
    )


def event(name):
    (ev,) = connector().parse(fx(name))
    return ev


class TestWhatsAppInbound(unittest.TestCase):
    def test_every_fixture_parses_to_its_kind_and_key(self):
        self.assertEqual(sorted(EXPECTED), fixture_names("whatsapp"))
        for name, (kind, key) in EXPECTED.items():
            with self.subTest(name):
                self.assertEqual(event(name).kind, kind)
                self.assertEqual(connector().dedup_key(fx(name)), key)
                self.assertEqual([k for k, _p in connector().split(fx(name))], [key])

    def test_registered_under_whatsapp(self):
        self.assertIsInstance(get_connector("whatsapp", {}), WhatsAppConnector)

    def test_text_carries_the_client(self):
        ev = event("text")
        self.assertEqual(
            (ev.chat_id, ev.name, ev.phone, ev.text), ("972987654321", "Test Name", "+972987654321", "Body Text")
        )
        self.assertEqual(ev.remote_message_id, "972987654321:wamid.xyzxyz")

    def test_media_become_files_by_media_id(self):
        image, doc, voice = event("image"), event("document"), event("voice")
        self.assertEqual(
            (image.files[0].ref, image.files[0].kind, image.files[0].mimetype), ("65463453", "photo", "image/jpeg")
        )
        self.assertEqual((doc.files[0].name, doc.text), ("filename.pdf", "caption"))
        self.assertEqual((voice.files[0].kind, voice.files[0].mimetype), ("voice", "audio/ogg"))
        self.assertTrue(voice.files[0].name.endswith(".oga") or voice.files[0].name.endswith(".ogg"))

    def test_location_contacts_buttons_reaction_status(self):
        self.assertIn("Facebook HQ", event("location").text)
        self.assertIn("openstreetmap.org/?mlat=37.4611978", event("location").text)
        payload = fx("text")
        msg = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        msg.update(type="contacts", contacts=[{"name": {"formatted_name": "Ann"}, "phones": [{"phone": "+1 555"}]}])
        self.assertEqual(connector().parse(payload)[0].text, "👤 Contact: Ann, +1 555")
        self.assertEqual(event("pywa_interactive_button_reply").text, "title")
        self.assertEqual(event("pywa_template_quick_reply_button").text, "title")
        self.assertIn("😮", event("reaction").note)
        failed = event("status_failed")
        self.assertEqual(failed.remote_message_id, "wamid.xyzxyz")
        self.assertTrue(failed.note.startswith("failed: (130472)"))
        self.assertEqual(event("status_read").note, "read")
        self.assertIn("131051", event("pywa_unsupported_131051").text)

    def test_split_gives_one_row_per_message_and_status_across_changes_and_entries(self):
        payload = fx("text")
        value = payload["entry"][0]["changes"][0]["value"]
        second = copy.deepcopy(value["messages"][0]) | {"id": "wamid.two"}
        value["messages"].append(second)
        status = fx("status_read")["entry"][0]
        payload["entry"].append(status)
        payload["entry"][0]["changes"].append(copy.deepcopy(fx("image")["entry"][0]["changes"][0]))
        payload["entry"][0]["changes"][1]["value"]["messages"][0]["id"] = "wamid.img"
        rows = connector().split(payload)
        self.assertEqual([k for k, _p in rows], ["wamid.xyzxyz", "wamid.two", "wamid.img", "wamid.xyzxyz:read"])
        for key, row in rows:  # each row parses alone, to its own item
            (ev,) = connector().parse(json.loads(json.dumps(row)))
            self.assertTrue(key.startswith(ev.remote_message_id.split(":")[-1]) or ev.kind == "status")
        self.assertEqual(connector().parse(rows[1][1])[0].remote_message_id, "972987654321:wamid.two")

    def test_malformed_bodies_raise_for_a_400(self):
        for bad in ([1], {"entry": "x"}, "text", None):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                connector().split(bad)
        self.assertEqual(connector().split({"entry": [{"changes": [{"value": {"messages": [{"type": "text"}]}}]}]}), [])


class TestWhatsAppAuth(unittest.TestCase):
    def test_handshake_echoes_the_challenge_only_for_the_verify_token(self):
        good = {"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "1158201444"}
        self.assertEqual(connector().handshake(good), (200, "1158201444"))
        self.assertEqual(connector().handshake(good | {"hub.verify_token": "nope"}), (403, "Forbidden"))
        self.assertEqual(connector().handshake(good | {"hub.mode": "unsubscribe"}), (403, "Forbidden"))
        self.assertEqual(connector(verify_token="").handshake(good | {"hub.verify_token": ""}), (403, "Forbidden"))

    def test_signature_over_the_raw_body(self):
        body = json.dumps(fx("text")).encode()
        good = {"X-Hub-Signature-256": sign(SECRET, body)}
        self.assertTrue(connector().verify(good, body, {}))
        self.assertTrue(connector().verify({"x-hub-signature-256": sign(SECRET, body)}, body, {}))
        self.assertFalse(connector().verify(good, body + b" ", {}))
        self.assertFalse(connector().verify({"X-Hub-Signature-256": sign("other", body)}, body, {}))
        self.assertFalse(connector().verify({}, body, {}))
        self.assertFalse(connector(webhook_secret="").verify(good, body, {}))


class TestWhatsAppApi(unittest.TestCase):
    def setUp(self):
        self.wa = FakeWhatsApp().start()
        self.addCleanup(self.wa.stop)
        self.conn = connector(token=self.wa.token, api_base_url=self.wa.url)

    def test_send_text_splits_at_4096(self):
        ids = self.conn.send(OutboundMessage(chat_id="972987654321", text="Здравствуйте! " * 600))
        calls = self.wa.calls_of("messages")
        self.assertEqual(len(calls), 3)
        self.assertTrue(all(len(c["text"]["body"]) <= 4096 and c["to"] == "972987654321" for c in calls))
        self.assertTrue(all(i.startswith("972987654321:wamid.FAKE") for i in ids))

    def test_send_files_upload_then_send_by_id(self):
        files = [OutboundFile("p.png", b"\x89PNG", "image/png")]
        self.conn.send(OutboundMessage(chat_id="1", text="Фото", files=files))
        (upload,) = self.wa.calls_of("media")
        self.assertEqual((upload["file"].filename, upload["type"]), ("p.png", "image/png"))
        (msg,) = self.wa.calls_of("messages")
        self.assertEqual((msg["type"], msg["image"]["caption"]), ("image", "Фото"))
        self.conn.send(OutboundMessage(chat_id="1", files=[OutboundFile("a.pdf", b"%PDF", "application/pdf")]))
        doc = self.wa.calls_of("messages")[-1]
        self.assertEqual((doc["type"], doc["document"]["filename"]), ("document", "a.pdf"))

    def test_buttons_are_reply_buttons_or_a_list(self):
        self.conn.send(OutboundMessage(chat_id="1", text="Оцените", buttons=[("Хорошо", "5"), ("Плохо", "1")]))
        inter = self.wa.calls_of("messages")[-1]["interactive"]
        self.assertEqual(inter["type"], "button")
        self.assertEqual(inter["body"]["text"], "Оцените")
        self.assertEqual([b["reply"]["id"] for b in inter["action"]["buttons"]], ["5", "1"])
        self.conn.send(OutboundMessage(chat_id="1", text="Город?", buttons=[(str(i), str(i)) for i in range(5)]))
        self.assertEqual(self.wa.calls_of("messages")[-1]["interactive"]["type"], "list")
        with self.assertRaises(ConnectorError):
            self.conn.send(OutboundMessage(chat_id="1", text="x", buttons=[("a", "a")] * 11))

    def test_send_template_is_one_template_message(self):
        template = {"name": "order_update", "language": {"code": "ru"}}
        ids = self.conn.send(OutboundMessage(chat_id="1", text="ignored", template=template))
        (msg,) = self.wa.calls_of("messages")
        self.assertEqual((msg["type"], msg["template"], msg["to"]), ("template", template, "1"))
        self.assertEqual(len(ids), 1)
        with self.assertRaises(ConnectorError) as cm:
            self.conn.send(OutboundMessage(chat_id="1", template={"name": "x"}))
        self.assertTrue(cm.exception.is_permanent)

    def _error(self, code, status=400, **kw):
        self.wa.queue_error("messages", *graph_error(code, f"error {code}", status=status, **kw))
        with self.assertRaises(ConnectorError) as cm:
            self.conn.send(OutboundMessage(chat_id="1", text="hi"))
        return cm.exception

    def test_window_error_is_permanent_and_explained(self):
        exc = self._error(131047)
        self.assertTrue(exc.is_permanent)
        self.assertIn("24 hours", exc.message)
        self.assertIn("template", exc.message)

    def test_retry_later_and_give_up_codes(self):
        for code in (130429, 131056, 131000):
            self.assertFalse(self._error(code).is_permanent, code)
        for code in (131026, 131051, 130472, 100):
            self.assertTrue(self._error(code).is_permanent, code)
        self.assertFalse(self._error(2, status=500).is_permanent)

    def test_bad_token_is_permanent(self):
        conn = connector(token="wrong", api_base_url=self.wa.url)
        with self.assertRaises(ConnectorError) as cm:
            conn.send(OutboundMessage(chat_id="1", text="hi"))
        self.assertTrue(cm.exception.is_permanent)
        self.assertIn("access token", cm.exception.message)

    def test_unreachable_api_is_retried(self):
        conn = connector(api_base_url="http://127.0.0.1:9")
        with self.assertRaises(ConnectorError) as cm:
            conn.send(OutboundMessage(chat_id="1", text="hi"))
        self.assertFalse(cm.exception.is_permanent)

    def test_download_resolves_the_media_id_then_fetches_with_the_token(self):
        self.wa.add_media("65463453", b"\xff\xd8jpeg", "image/jpeg")
        (ev,) = self.conn.parse(fx("image"))
        self.assertEqual(self.conn.download(ev.files[0]), b"\xff\xd8jpeg")
        self.assertEqual(len(self.wa.calls_of("media_info")), 1)
        self.assertEqual(len(self.wa.calls_of("download")), 1)

    def test_download_of_a_too_large_file(self):
        self.wa.add_media("big", b"x", "video/mp4", file_size=200 * 1024 * 1024)
        with self.assertRaises(FileTooLarge):
            self.conn.download(InboundFile("big", "v.mp4"))

    def test_account_check(self):
        self.assertEqual(self.conn.test(), "Fake Shop +1 555 0100")
        self.assertTrue(self.conn.set_webhook("https://x/openlines/webhook/k", "s"))
