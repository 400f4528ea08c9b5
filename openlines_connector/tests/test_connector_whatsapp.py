"""The WhatsApp Cloud API connector against the shared fixtures and a loopback fake.

Plain unittest (no database, no Odoo import): the spec of ``WhatsAppConnector``.
"""

import copy
import json

import requests

from odoo.tests.common import BaseCase

from ..connectors.base import ConnectorError, FileTooLarge, InboundFile, OutboundFile, OutboundMessage, get_connector
from ..connectors.meta import sign
from ..connectors.whatsapp import WhatsAppConnector
from .fake_meta import fixture_names
from .fake_whatsapp import SCHEMA, FakeWhatsApp, graph_error, load_fixture

SECRET = "app-secret"
EXPECTED = {
    "document": ("message", "wamid.xyzxyz"),
    "image": ("message", "wamid.xyzxyz"),
    "location": ("message", "wamid.xyzxyz"),
    "meta_doc_value_errors_130429": ("ignore", "error:*"),
    "meta_openapi_list_reply": ("button", "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJDQ0NDM0FEODY4ODkzOTc5RgA="),
    "meta_openapi_template_button": ("button", "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA="),
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


class TestWhatsAppInbound(BaseCase):
    def test_every_fixture_parses_to_its_kind_and_key(self):
        self.assertEqual(sorted(EXPECTED), fixture_names("whatsapp"))
        for name, (kind, key) in EXPECTED.items():
            with self.subTest(name):
                self.assertEqual(event(name).kind, kind)
                keys = [k for k, _p in connector().split(fx(name))]
                self.assertEqual(len(keys), 1)
                self.assertEqual(connector().dedup_key(fx(name)), keys[0])
                if key.endswith("*"):
                    self.assertTrue(keys[0].startswith(key[:-1]), keys[0])
                else:
                    self.assertEqual(keys[0], key)

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
        self.assertEqual(event("pywa_interactive_button_reply").text, "callback_data")
        self.assertEqual(event("pywa_template_quick_reply_button").text, "callback_data")
        self.assertIn("😮", event("reaction").note)
        failed = event("status_failed")
        self.assertEqual(failed.remote_message_id, "wamid.xyzxyz")
        self.assertTrue(failed.note.startswith("failed: (130472)"))
        self.assertEqual(event("status_read").note, "read")
        self.assertIn("131051", event("pywa_unsupported_131051").text)

    def test_a_button_press_hands_over_the_buttons_data_not_its_title(self):
        # Meta's OpenAPI examples: a list row (id "priority_express") and a template quick-reply button
        listed = event("meta_openapi_list_reply")
        self.assertEqual((listed.kind, listed.text), ("button", "priority_express"))
        self.assertEqual(event("meta_openapi_template_button").text, "Unsubscribe")
        self.assertEqual(event("pywa_interactive_list_reply").text, "callback_data")

    def test_value_errors_are_stored_and_logged_not_dropped(self):
        payload = fx("meta_doc_value_errors_130429")
        ((key, row),) = connector().split(payload)
        self.assertTrue(key.startswith("error:"))
        self.assertEqual(connector().split(payload)[0][0], key, "the same delivery keeps its key")
        with self.assertLogs("odoo.addons.openlines_connector.connectors.whatsapp", "WARNING") as logs:
            (ev,) = connector().parse(row)
        self.assertEqual(ev.kind, "ignore")
        self.assertIn("130429", ev.note)
        self.assertIn("Rate limit hit", ev.note)
        self.assertIn("130429", logs.output[0])

    def test_a_media_id_that_is_not_an_id_gives_no_file(self):
        payload = fx("document")
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["document"]["id"] = "https://evil.example/x"
        (ev,) = connector().parse(payload)
        self.assertEqual((ev.kind, ev.files), ("message", []))
        self.assertIn("not one", ev.text)

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


class TestWhatsAppAuth(BaseCase):
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


class TestWhatsAppApi(BaseCase):
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

    def test_buttons_stay_within_the_published_limits(self):
        long = [(f"Очень длинная подпись кнопки номер {i}", f"chatbot:{i}") for i in range(3)]
        self.conn.send(OutboundMessage(chat_id="1", text="Выберите", buttons=long))
        buttons = self.wa.sent[-1]["interactive"]["action"]["buttons"]
        self.assertEqual([b["reply"]["id"] for b in buttons], ["chatbot:0", "chatbot:1", "chatbot:2"])
        titles = [b["reply"]["title"] for b in buttons]
        self.assertTrue(all(len(t) <= 20 for t in titles) and len(set(titles)) == 3, titles)
        rows = [("Вариант с длинным названием", f"chatbot:{i}") for i in range(10)]
        self.conn.send(OutboundMessage(chat_id="1", text="Выберите", buttons=rows))
        sent = self.wa.sent[-1]["interactive"]["action"]["sections"][0]["rows"]
        self.assertEqual(len({r["title"] for r in sent}), 10)
        for bad in ([("a", "x" * 257)], [("a", "same"), ("b", "same")], [("a", "a")] * 11):
            with self.subTest(bad=bad[:2]), self.assertRaises(ConnectorError):
                self.conn.send(OutboundMessage(chat_id="1", text="x", buttons=bad))

    def test_the_fake_refuses_what_metas_schema_refuses(self):
        action = SCHEMA["components"]["schemas"]["ActionObject"]["oneOf"][1]["properties"]["buttons"]
        title = action["items"]["properties"]["reply"]["properties"]["title"]
        self.assertEqual((action["maxItems"], title["maxLength"]), (3, 20))
        url = f"{self.wa.url}/{self.wa.phone_id}/messages"
        headers = {"Authorization": f"Bearer {self.wa.token}"}
        base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "1", "type": "interactive"}
        reply = [{"type": "reply", "reply": {"id": "rate:1", "title": "x" * 21}}]
        bad = [
            {"type": "button", "body": {"text": "b"}, "action": {"buttons": reply}},  # title over 20
            {"type": "button", "body": {"text": "b" * 1025}, "action": {"buttons": reply[:0]}},  # body, 0 buttons
            {"type": "list", "body": {"text": "b"}, "action": {"button": "x" * 21, "sections": [{"rows": []}]}},
        ]
        for interactive in bad:
            answer = requests.post(url, json=base | {"interactive": interactive}, headers=headers, timeout=5)
            self.assertEqual(answer.json()["error"]["code"], 131009, interactive)
        long_text = base | {"type": "text", "text": {"body": "я" * 4097}}
        self.assertEqual(requests.post(url, json=long_text, headers=headers, timeout=5).status_code, 400)

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

    def test_attack_media_id_given_as_a_url_never_receives_the_token(self):
        attacker = _Recorder().start()
        self.addCleanup(attacker.stop)
        steal = f"{attacker.url}/steal"
        payload = fx("document")
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["document"]["id"] = steal
        (ev,) = self.conn.parse(payload)
        self.assertEqual(ev.files, [])
        with self.assertRaises(ConnectorError):
            self.conn.download(InboundFile(steal, "x.pdf"))
        self.assertEqual(attacker.seen, [], "no request (let alone the bearer token) went to the attacker")

    def test_attack_graph_media_url_off_meta_hosts_is_not_fetched_with_the_token(self):
        attacker = _Recorder().start()
        self.addCleanup(attacker.stop)
        self.wa.add_media("777", b"secret", "image/jpeg", url=f"{attacker.url}/download/media-777")
        with self.assertRaises(ConnectorError) as cm:
            self.conn.download(InboundFile("777", "x.jpg"))
        self.assertIn("Meta host", cm.exception.message)
        self.assertEqual(attacker.seen, [])

    def test_download_of_a_too_large_file(self):
        self.wa.add_media("4242", b"x", "video/mp4", file_size=200 * 1024 * 1024)
        with self.assertRaises(FileTooLarge):
            self.conn.download(InboundFile("4242", "v.mp4"))

    def test_account_check(self):
        self.assertEqual(self.conn.test(), "Fake Shop +1 555 0100")
        self.assertTrue(self.conn.set_webhook("https://x/openlines/webhook/k", "s"))


class _Recorder(FakeWhatsApp):
    """A loopback server that records the headers of every request (an attacker's)."""

    def __init__(self):
        super().__init__(token="attacker")
        self.seen = []

    def handle(self, method, path, params, headers):
        self.seen.append((path, headers.get("Authorization")))
        return 200, b"stolen"
