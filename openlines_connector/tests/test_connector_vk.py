"""The VK connector against the shared fixtures and a loopback fake VK API (no Odoo)."""

import copy
import json

from odoo.tests.common import BaseCase

from ..connectors.base import ConnectorError, FileTooLarge, InboundFile, OutboundFile, OutboundMessage, get_connector
from ..connectors.vk import LIBRARY_METHOD_URL, VkConnector, random_id
from .fake_vk import FakeVK, fixture_names, load_fixture

SECRET = "vk-callback-secret"
PRIVATE_PEER = 87641997

#: every fixture -> the kind of the one event it gives (None: a confirmation, nothing stored)
EXPECTED_KINDS = {
    "confirmation": None,
    "vksdk_confirmation_with_secret": None,
    "kotlin_message_new_legacy_flat_voice": "message",
    "kutana_message_new_private_v5131": "message",
    "message_event_button": "ignore",  # peer 2000000001: a conversation
    "message_new_chat_text": "ignore",
    "message_new_photo": "ignore",
    "message_new_voice": "ignore",
    "vksdk_message_new_legacy_flat_chat_kick": "ignore",
    "message_typing_state": "typing",  # the client types (issue 16)
    "message_read": "status",  # the client read the community's messages (issue 16)
}


def private(name, peer=PRIVATE_PEER):
    """A fixture moved to a private chat with ``peer``."""
    payload = copy.deepcopy(load_fixture(name))
    obj = payload["object"]
    message = obj.get("message") if isinstance(obj.get("message"), dict) else obj
    message["peer_id"] = peer
    message.setdefault("from_id", peer)
    message["from_id"] = peer
    return payload


def body(payload, secret=SECRET):
    payload = dict(payload)
    if secret is not None:
        payload["secret"] = secret
    return json.dumps(payload).encode()


class TestVkParse(BaseCase):
    def setUp(self):
        self.vk = VkConnector({"webhook_secret": SECRET, "vk_confirmation_code": "code42"})

    def test_every_fixture_has_an_expectation_and_parses(self):
        self.assertEqual(sorted(EXPECTED_KINDS), fixture_names())
        for name, kind in EXPECTED_KINDS.items():
            payload = load_fixture(name)
            if kind is None:
                self.assertEqual(self.vk.split(payload), [], name)
                continue
            (event,) = self.vk.parse(payload)
            self.assertEqual(event.kind, kind, name)

    def test_private_text_5131(self):
        (event,) = self.vk.parse(load_fixture("kutana_message_new_private_v5131"))
        self.assertEqual((event.chat_id, event.user_id, event.text), ("87641997", "87641997", "/echo 123"))
        self.assertEqual(event.remote_message_id, "87641997:46091")

    def test_legacy_flat_voice_becomes_an_ogg_file(self):
        (event,) = self.vk.parse(load_fixture("kotlin_message_new_legacy_flat_voice"))
        (file,) = event.files
        self.assertEqual((file.kind, file.mimetype), ("voice", "audio/ogg"))
        self.assertTrue(file.ref.endswith(".ogg"))

    def test_photo_takes_the_largest_size(self):
        (event,) = self.vk.parse(private("message_new_photo"))
        (file,) = event.files
        self.assertIn("nJXapHnUbeo", file.ref)  # type w, 945x2048
        self.assertEqual(event.kind, "message")
        self.assertIn("ракетами", event.text)

    def test_conversations_are_ignored(self):
        for name in ("message_new_chat_text", "message_new_photo", "message_event_button"):
            (event,) = self.vk.parse(load_fixture(name))
            self.assertEqual(event.kind, "ignore")
            self.assertIn("conversations", event.note)

    def test_doc_sticker_link_and_unknown_attachments(self):
        payload = private("kutana_message_new_private_v5131")
        payload["object"]["message"]["attachments"] = [
            {"type": "doc", "doc": {"id": 1, "title": "price", "ext": "pdf", "size": 10, "url": "http://x/d"}},
            {
                "type": "sticker",
                "sticker": {
                    "sticker_id": 9,
                    "images": [
                        {"url": "http://x/s1", "width": 64, "height": 64},
                        {"url": "http://x/s2", "width": 512, "height": 512},
                    ],
                },
            },
            {"type": "link", "link": {"url": "https://example.com", "title": "Example"}},
            {"type": "video", "video": {"id": 3}},
        ]
        (event,) = self.vk.parse(payload)
        self.assertEqual([f.name for f in event.files], ["price.pdf", "sticker_9.png"])
        self.assertEqual(event.files[1].ref, "http://x/s2")
        self.assertIn("🔗 Example https://example.com", event.text)
        self.assertIn("[video]", event.text)

    def test_edit_matches_the_original_message_id(self):
        new = private("kutana_message_new_private_v5131")
        edit = {"type": "message_edit", "object": new["object"]["message"], "group_id": 1}
        (original,), (edited,) = self.vk.parse(new), self.vk.parse(edit)
        self.assertEqual(edited.kind, "edit")
        self.assertEqual(edited.remote_message_id, original.remote_message_id)

    def test_reply_from_vk_web_is_an_echo_and_from_the_api_is_ignored(self):
        message = {"id": 77, "peer_id": PRIVATE_PEER, "from_id": -203076503, "out": 1, "text": "Добрый день"}
        (event,) = self.vk.parse({"type": "message_reply", "object": dict(message, admin_author_id=5)})
        self.assertEqual((event.kind, event.chat_id, event.remote_message_id), ("echo", "87641997", "87641997:77"))
        (event,) = self.vk.parse({"type": "message_reply", "object": message})
        self.assertEqual(event.kind, "ignore")

    def test_button_payload_sent_as_json_text_is_decoded(self):
        payload = copy.deepcopy(load_fixture("message_event_button"))
        payload["object"].update(peer_id=5, user_id=5, payload='{"cmd": "rate:4"}')
        (event,) = self.vk.parse(payload)
        self.assertEqual((event.kind, event.text), ("button", "rate:4"))

    def test_button_in_a_private_chat(self):
        payload = copy.deepcopy(load_fixture("message_event_button"))
        payload["object"]["peer_id"] = payload["object"]["user_id"]
        (event,) = self.vk.parse(payload)
        self.assertEqual((event.kind, event.text), ("button", "week"))
        self.assertEqual(event.callback_id, "1776a756b921|159526068|159526068")

    def test_deny_is_blocked(self):
        (event,) = self.vk.parse({"type": "message_deny", "object": {"user_id": 5}})
        self.assertEqual((event.kind, event.chat_id), ("blocked", "5"))

    def test_unknown_event_and_garbage_are_ignored(self):
        self.assertEqual(self.vk.parse({"type": "wall_post_new", "object": {}})[0].kind, "ignore")
        self.assertEqual(self.vk.parse([1])[0].kind, "ignore")


class TestVkWebhook(BaseCase):
    def setUp(self):
        self.vk = VkConnector({"webhook_secret": SECRET, "vk_group_id": "203076503", "vk_confirmation_code": "c0de"})

    def test_verify_secret_and_group(self):
        payload = load_fixture("message_new_chat_text")
        self.assertTrue(self.vk.verify({}, body(payload), {}))
        self.assertFalse(self.vk.verify({}, body(payload, "forged"), {}))
        self.assertFalse(self.vk.verify({}, body(payload, None), {}))
        self.assertFalse(self.vk.verify({}, body(dict(payload, group_id=1)), {}))
        self.assertFalse(self.vk.verify({}, b"{not json", {}))
        self.assertFalse(VkConnector({"webhook_secret": ""}).verify({}, body(payload, ""), {}))

    def test_confirmation_answers_the_code_without_a_row(self):
        payload = load_fixture("confirmation")
        self.assertTrue(self.vk.verify({}, body(payload), {}))
        self.assertEqual(self.vk.split(payload), [])
        self.assertEqual(self.vk.webhook_response(payload), (200, "c0de"))
        self.assertEqual(self.vk.webhook_response(load_fixture("message_new_chat_text")), (200, "ok"))

    def test_attack_confirmation_needs_the_secret_once_one_is_set(self):
        # VK sends the secret with every request once the server has one, confirmation included
        # (SevereCloud/vksdk callback_test.go "check SecretKey": vksdk_confirmation_with_secret)
        payload = load_fixture("confirmation")
        self.assertFalse(self.vk.verify({}, body(payload, None), {}))
        self.assertFalse(self.vk.verify({}, body(payload, "forged"), {}))
        with_secret = load_fixture("vksdk_confirmation_with_secret")
        vksdk = VkConnector({"webhook_secret": with_secret["secret"], "vk_group_id": str(with_secret["group_id"])})
        self.assertTrue(vksdk.verify({}, json.dumps(with_secret).encode(), {}))
        # before any secret is set (a channel from an older version), the confirmation alone passes
        bare = VkConnector({"vk_group_id": "203076503"})
        self.assertTrue(bare.verify({}, body(payload, None), {}))
        self.assertFalse(bare.verify({}, body(load_fixture("message_new_chat_text"), None), {}))

    def test_dedup_by_event_id_or_a_hash(self):
        payload = load_fixture("message_new_chat_text")
        self.assertEqual(self.vk.dedup_key(payload), "f2c0942a3fd9b1e9567495f8759af64d2d6e88d0")
        legacy = load_fixture("kotlin_message_new_legacy_flat_voice")
        self.assertTrue(self.vk.dedup_key(legacy).startswith("h:"))
        self.assertEqual(self.vk.dedup_key(legacy), self.vk.dedup_key(copy.deepcopy(legacy)))
        other = copy.deepcopy(legacy)
        other["object"]["id"] += 1
        self.assertNotEqual(self.vk.dedup_key(other), self.vk.dedup_key(legacy))

    def test_malformed_bodies_raise_for_a_400(self):
        for bad in ({}, {"type": 5}, [1]):
            with self.assertRaises((KeyError, ValueError, TypeError)):
                self.vk.split(bad)


class VkApiCase(BaseCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeVK().start()
        cls.addClassCleanup(cls.fake.stop)

    def setUp(self):
        self.fake.calls.clear()
        self.fake.sent.clear()
        self.vk = get_connector(
            "vk", {"token": self.fake.token, "vk_group_id": self.fake.group_id, "api_base_url": self.fake.url}
        )


class TestVkApi(VkApiCase):
    def test_vk_api_library_url_is_redirected_and_v_is_5199(self):
        self.assertTrue(LIBRARY_METHOD_URL.startswith("https://api.vk"))
        self.assertEqual(self.vk.test(), "Test community (club203076503)")
        (params,) = self.fake.calls_of("groups.getById")
        self.assertEqual(params["v"], "5.199")

    def test_send_with_a_stable_random_id_is_never_delivered_twice(self):
        message = OutboundMessage(chat_id="87641997", text="Здравствуйте", ref="42")
        first = self.vk.send(message)
        second = self.vk.send(message)  # a retry of the same outbound row
        self.assertEqual(first, second)
        self.assertEqual(len(self.fake.sent), 1)
        self.assertEqual(int(self.fake.sent[0]["random_id"]), random_id("42"))
        self.assertNotEqual(random_id("42"), random_id("43"))
        self.assertTrue(first[0].startswith("87641997:"))

    def test_long_text_is_split_and_buttons_go_last(self):
        text = "\n".join(f"Строка {i} " + "x" * 60 for i in range(100))
        ids = self.vk.send(OutboundMessage(chat_id="5", text=text, buttons=[("Да", "yes")], ref="7"))
        self.assertEqual(len(ids), 2)
        first, last = self.fake.sent
        self.assertNotIn("keyboard", first)
        button = last["keyboard"]["buttons"][0][0]
        self.assertEqual(button["action"]["type"], "callback")
        self.assertTrue(last["keyboard"]["inline"])
        self.assertEqual(json.loads(button["action"]["payload"]), {"cmd": "yes"})

    def test_keyboards_stay_within_vk_limits(self):
        # 7 to 10 choices: two a row (6 rows at most); more than 10: offered as text, no keyboard
        answers = [(f"Ответ {i}", f"chatbot:{i}") for i in range(1, 11)]
        self.vk.send(OutboundMessage(chat_id="5", text="Выберите", buttons=answers, ref="kb10"))
        rows = self.fake.sent[-1]["keyboard"]["buttons"]
        self.assertEqual([len(r) for r in rows], [2, 2, 2, 2, 2])
        self.vk.send(OutboundMessage(chat_id="5", text="Выберите", buttons=answers + [("Ещё", "x")], ref="kb11"))
        sent = self.fake.sent[-1]
        self.assertNotIn("keyboard", sent)
        self.assertIn("• Ответ 10\n• Ещё", sent["message"])

    def test_a_keyboard_over_the_limit_is_refused_by_the_fake(self):
        keyboard = {"inline": True, "buttons": [[{"action": {"type": "callback", "label": str(i)}}] for i in range(7)]}
        with self.assertRaises(ConnectorError) as caught:
            self.vk.call("messages.send", peer_id=5, message="x", random_id=1, keyboard=json.dumps(keyboard))
        self.assertEqual(caught.exception.code, 911)

    def test_files_are_uploaded_then_attached(self):
        files = [OutboundFile("a.png", b"\x89PNG", "image/png"), OutboundFile("b.pdf", b"%PDF", "application/pdf")]
        self.vk.send(OutboundMessage(chat_id="5", text="Файлы", files=files, ref="8"))
        (sent,) = self.fake.sent
        self.assertRegex(sent["attachment"], r"^photo-203076503_\d+,doc-203076503_\d+$")
        self.assertEqual(len(self.fake.calls_of("upload.photo")), 1)
        self.assertEqual(self.fake.calls_of("docs.save")[0]["title"], "b.pdf")

    def test_error_classification(self):
        for code, retry, blocked in (
            (6, True, False),
            (9, True, False),
            (10, True, False),
            (901, False, True),
            (902, False, True),
            (900, False, True),
            (7, False, False),  # a permission of the token, not the client's choice
            (912, False, False),  # bot features off in the community
            (100, False, False),
        ):
            self.fake.queue_error("messages.send", code, f"error {code}")
            with self.assertRaises(ConnectorError) as caught:
                self.vk.send(OutboundMessage(chat_id="5", text="x", ref=str(code)))
            error = caught.exception
            self.assertEqual((error.code, error.retry_after is not None, error.blocked), (code, retry, blocked))
            self.assertIn(str(code), error.message)
            self.assertNotIn(self.fake.token, error.message)

    def test_api_down_is_retried_later(self):
        self.fake.down = True
        try:
            with self.assertRaises(ConnectorError) as caught:
                self.vk.send(OutboundMessage(chat_id="5", text="x", ref="down"))
        finally:
            self.fake.down = False
        self.assertIsNotNone(caught.exception.retry_after)

    def test_unreachable_is_retried_later(self):
        vk = VkConnector({"token": "t", "api_base_url": "http://127.0.0.1:9"})
        with self.assertRaises(ConnectorError) as caught:
            vk.send(OutboundMessage(chat_id="5", text="x", ref="1"))
        self.assertIsNotNone(caught.exception.retry_after)

    def test_download_and_size_limit(self):
        url = self.fake.add_file("photo.jpg", b"\xff\xd8jpeg")
        self.assertEqual(self.vk.download(InboundFile(url, "photo.jpg")), b"\xff\xd8jpeg")
        with self.assertRaises(FileTooLarge):
            self.vk.download(InboundFile(url, "big.pdf", size=300 * 1024 * 1024))
        with self.assertRaises(ConnectorError):
            self.vk.download(InboundFile(self.fake.url + "/files/missing", "x"))

    def test_button_answer(self):
        (event,) = self.vk.parse(
            {
                "type": "message_event",
                "object": {"user_id": 5, "peer_id": 5, "event_id": "e1", "payload": {"cmd": "yes"}},
            }
        )
        self.vk.acknowledge_button(event)
        (params,) = self.fake.calls_of("messages.sendMessageEventAnswer")
        self.assertEqual((params["event_id"], params["user_id"], params["peer_id"]), ("e1", "5", "5"))

    def test_callback_server_title_fits_the_schema(self):
        # groups.addCallbackServer: title maxLength 14 (vk-api-schema groups/methods.json), enforced by the fake
        self.fake.callback_servers.clear()
        self.assertTrue(self.vk.set_webhook("https://odoo.example/openlines/webhook/abc", SECRET))
        (server,) = self.fake.callback_servers
        self.assertLessEqual(len(server["title"]), 14)
        with self.assertRaises(ConnectorError) as caught:
            self.vk.call("groups.addCallbackServer", group_id=1, url="https://x", title="Odoo Open Lines")
        self.assertEqual(caught.exception.code, 100)
        self.vk.delete_webhook()

    def test_callback_server_registration_and_removal(self):
        self.vk.set_webhook("https://odoo.example/openlines/webhook/abc", SECRET)
        self.vk.set_webhook("https://odoo.example/openlines/webhook/def", SECRET)  # edits, never duplicates
        self.assertEqual(len(self.fake.callback_servers), 1)
        self.assertEqual(self.fake.callback_servers[0]["url"], "https://odoo.example/openlines/webhook/def")
        settings = self.fake.calls_of("groups.setCallbackSettings")[-1]
        self.assertEqual(
            (settings["api_version"], settings["message_new"], settings["message_reply"]), ("5.199", "1", "1")
        )
        self.vk.delete_webhook()
        self.assertEqual(self.fake.callback_servers, [])

    def test_missing_confirmation_code_is_fetched(self):
        self.assertEqual(self.vk.webhook_response(load_fixture("confirmation")), (200, self.fake.confirmation_code))

    def test_long_poll(self):
        self.fake.updates = [load_fixture("kutana_message_new_private_v5131")]
        updates, offset = self.vk.poll(None)
        self.assertEqual(len(updates), 1)
        self.assertEqual(len(self.fake.calls_of("groups.setLongPollSettings")), 1)
        server, key, ts = offset.split("|")
        self.assertEqual((server, key, ts), (f"{self.fake.url}/lp", "lpkey", "2"))
        self.assertEqual(self.vk.poll(offset), ([], offset))
        self.fake.lp_failed = [{"failed": 2}]
        self.assertEqual(self.vk.poll(offset)[0], [])
        self.assertEqual(len(self.fake.calls_of("groups.getLongPollServer")), 2)
