"""The Telegram connector against the shared fixtures and a loopback fake Bot API.

Plain unittest (no database, no Odoo import): the spec of ``TelegramConnector``.
"""

import copy
import logging
import threading
import traceback

from odoo.tests.common import BaseCase

from ..connectors.base import (
    ConnectorError,
    FileTooLarge,
    InboundEvent,
    InboundFile,
    OutboundFile,
    OutboundMessage,
    get_connector,
)
from ..connectors.telegram import TelegramConnector, split_text
from .fake_telegram import FakeTelegram, Upload, fixture_names, load_fixture

SECRET = "s3cret-Token_value"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
MB = 1024 * 1024
ALLOWED = ["message", "edited_message", "callback_query", "my_chat_member"]

#: every fixture file -> the kind of the one event it must give
EXPECTED_KINDS = {
    "bloodcell_callback_query": "button",
    "bloodcell_start_deeplink": "message",
    "callback_query": "button",
    "contact": "message",
    "document": "message",
    "edited_message": "edit",
    "entities": "message",
    "group_message": "ignore",
    "location": "message",
    "my_chat_member_blocked": "blocked",
    "photo": "message",
    "reply": "message",
    "sticker": "message",
    "teloxide_message_reaction_anonymous": "ignore",
    "teloxide_my_chat_member_kicked": "blocked",
    "teloxide_pinned_message_service": "ignore",
    "text": "message",
    "verbatim_guide_callback_inline": "button",
    "verbatim_guide_document": "message",
    "verbatim_guide_forwarded_channel": "message",
    "voice": "message",
}


def _event(name_or_payload):
    payload = name_or_payload
    if isinstance(payload, str):
        payload = load_fixture(payload)
    events = TelegramConnector({"token": "1:x"}).parse(payload)
    assert len(events) == 1, events
    assert isinstance(events[0], InboundEvent)
    return events[0]


def _with_message(**fields):
    """The ``text`` fixture with its message's content replaced by ``fields``."""
    payload = load_fixture("text")
    del payload["message"]["text"]
    payload["message"].update(fields)
    return payload


class FieldsCase(BaseCase):
    def assertFields(self, obj, **expected):
        self.assertEqual({k: getattr(obj, k) for k in expected}, expected)


class TestTelegramParse(FieldsCase):
    def test_every_fixture_has_an_expectation(self):
        self.assertTrue(fixture_names(), "no fixture found in tests/fixtures/telegram")
        self.assertEqual(set(fixture_names()), set(EXPECTED_KINDS))

    def test_every_fixture_parses_to_its_kind(self):
        for name, kind in EXPECTED_KINDS.items():
            with self.subTest(name):
                event = _event(name)
                self.assertEqual(event.kind, kind)
                for attr in ("chat_id", "user_id", "remote_message_id", "text"):
                    self.assertIsInstance(getattr(event, attr), str)
                self.assertTrue(event.note if kind == "ignore" else event.chat_id)

    def test_text_message(self):
        self.assertFields(
            _event("text"),
            kind="message",
            chat_id="1111111",
            user_id="1111111",
            name="Test Test Lastname",
            username="Test",
            lang="ru",
            text="/start",
            remote_message_id="1111111:1365",
            files=[],
            phone="",
        )

    def test_start_deeplink_keeps_payload(self):
        self.assertFields(
            _event("bloodcell_start_deeplink"),
            text="/start YnZiMTIzbWlzY0BnbWFpbC5jb20=",
            name="Bijoy",
            username="bijoyvbabu123",
            remote_message_id="996202131:51",
        )

    def test_reply_and_entities_give_plain_text(self):
        self.assertFields(
            _event("reply"),
            text="Здравствуйте, есть ли доставка в Казань?",
            remote_message_id="1111111:1366",
        )
        self.assertEqual(_event("entities").text, "Bold and italics")

    def test_forwarded_from_channel_is_a_message(self):
        self.assertFields(
            _event("verbatim_guide_forwarded_channel"),
            kind="message",
            text="/start",
            chat_id="1111111",
            name="Test Firstname Test Lastname",
        )

    def test_edited_message(self):
        self.assertFields(
            _event("edited_message"),
            kind="edit",
            remote_message_id="1111111:1366",
            text="Здравствуйте, есть ли доставка в Казань и Самару?",
        )

    def test_photo_takes_largest_size_and_caption(self):
        event = _event("photo")
        self.assertEqual(event.text, "Вот такой товар нужен")
        (photo,) = event.files
        self.assertFields(
            photo,
            ref="AgACAgIAAxkBAAIBYGVvB0-large",
            kind="photo",
            name="photo_1368.jpg",
            mimetype="image/jpeg",
            size=81020,
        )

    def test_document(self):
        (doc,) = _event("document").files
        self.assertFields(
            doc,
            ref="BQACAgIAAxkBAAIBYWVvB1-doc",
            name="Реквизиты.pdf",
            mimetype="application/pdf",
            size=313981,
            kind="document",
        )
        (old,) = _event("verbatim_guide_document").files
        self.assertFields(old, name="Testfile.pdf", size=536392)

    def test_voice(self):
        event = _event("voice")
        self.assertEqual(event.text, "")
        (voice,) = event.files
        self.assertFields(
            voice,
            ref="AwACAgIAAxkBAAIBYmVvB2-voice",
            kind="voice",
            name="voice_1370.ogg",
            mimetype="audio/ogg",
        )

    def test_sticker_variants(self):
        event = _event("sticker")
        self.assertEqual(event.text, "👍")
        (sticker,) = event.files
        self.assertFields(sticker, kind="sticker", name="sticker_1373.webp", mimetype="image/webp")
        for flag, name, mimetype in (
            ("is_animated", "sticker_1373.tgs", "application/x-tgsticker"),
            ("is_video", "sticker_1373.webm", "video/webm"),
        ):
            payload = load_fixture("sticker")
            payload["message"]["sticker"][flag] = True
            (file,) = _event(payload).files
            self.assertFields(file, name=name, mimetype=mimetype)

    def test_other_media(self):
        media = {"file_id": "F1", "file_unique_id": "U1", "file_size": 10}
        song = {"file_name": "song.mp3", "mime_type": "audio/mpeg"}
        cases = {
            "audio": ("audio", "song.mp3", "audio/mpeg", song),
            "video": ("video", "video_1365.mp4", "video/mp4", {}),
            "video_note": ("video", "video_note_1365.mp4", "video/mp4", {}),
        }
        for key, (kind, name, mimetype, extra) in cases.items():
            with self.subTest(key):
                (file,) = _event(_with_message(**{key: dict(media, **extra)})).files
                self.assertFields(file, kind=kind, name=name, mimetype=mimetype)
        gif = dict(media, file_name="cat.gif.mp4", mime_type="video/mp4")
        event = _event(_with_message(animation=gif, document=dict(gif, file_id="DUP")))
        self.assertEqual([f.ref for f in event.files], ["F1"])

    def test_location(self):
        event = _event("location")
        osm = "https://www.openstreetmap.org/?mlat=55.755826&mlon=37.6173"
        self.assertEqual(
            event.text,
            f"📍 Location: 55.755826, 37.6173\n{osm}#map=17/55.755826/37.6173",
        )

    def test_own_contact_gives_phone(self):
        self.assertFields(
            _event("contact"),
            text="👤 Contact: Test Test Lastname, +79161234567",
            phone="+79161234567",
        )

    def test_someone_elses_contact_gives_no_phone(self):
        payload = load_fixture("contact")
        payload["message"]["contact"].update(user_id=42, phone_number="79990001122")
        self.assertFields(
            _event(payload),
            text="👤 Contact: Test Test Lastname, +79990001122",
            phone="",
        )

    def test_callback_query_is_a_button(self):
        self.assertFields(
            _event("callback_query"),
            kind="button",
            text="rate:5",
            callback_id="4382bfdwdsb323b2d9",
            chat_id="1111111",
            user_id="1111111",
            remote_message_id="",
        )
        self.assertEqual(_event("bloodcell_callback_query").chat_id, "996202131")

    def test_inline_callback_without_message_uses_sender(self):
        self.assertFields(
            _event("verbatim_guide_callback_inline"),
            kind="button",
            chat_id="1111111",
            text="Data from button callback",
        )

    def test_group_message_is_ignored(self):
        event = _event("group_message")
        self.assertFields(event, kind="ignore", chat_id="-1001234567890")
        self.assertIn("group", event.note)

    def test_blocked(self):
        self.assertFields(
            _event("my_chat_member_blocked"),
            kind="blocked",
            chat_id="1111111",
            user_id="1111111",
        )
        self.assertEqual(_event("teloxide_my_chat_member_kicked").chat_id, "0")

    def test_unblocked_is_ignored(self):
        payload = load_fixture("my_chat_member_blocked")
        payload["my_chat_member"]["new_chat_member"]["status"] = "member"
        self.assertEqual(_event(payload).kind, "ignore")

    def test_reaction_and_unknown_updates_are_ignored_with_their_kind(self):
        event = _event("teloxide_message_reaction_anonymous")
        self.assertIn("message_reaction", event.note)
        for key in ("channel_post", "poll", "some_future_update"):
            with self.subTest(key):
                event = _event({"update_id": 5, key: {"id": "1"}})
                self.assertEqual(event.kind, "ignore")
                self.assertIn(key, event.note)

    def test_service_message_without_content_is_ignored(self):
        self.assertEqual(_event("teloxide_pinned_message_service").kind, "ignore")
        payload = load_fixture("teloxide_pinned_message_service")
        payload["message"]["chat"] = {"id": 408258968, "type": "private"}
        event = _event(payload)
        self.assertEqual(event.kind, "ignore")
        self.assertIn("without", event.note)

    def test_dedup_key(self):
        connector = TelegramConnector({})
        self.assertEqual(connector.dedup_key(load_fixture("text")), "10000")
        kicked = load_fixture("teloxide_my_chat_member_kicked")
        self.assertEqual(connector.dedup_key(kicked), "0")
        for bad in ({}, {"update_id": "5"}, {"update_id": True}, {"update_id": None}):
            with self.subTest(bad), self.assertRaises(ValueError):
                connector.dedup_key(bad)

    def test_verify(self):
        from werkzeug.datastructures import Headers

        verify = TelegramConnector({"webhook_secret": SECRET}).verify
        name = "X-Telegram-Bot-Api-Secret-Token"
        self.assertTrue(verify({name: SECRET}, b"{}", {}))
        self.assertTrue(verify({name.lower(): SECRET}, b"{}", {}))
        self.assertTrue(verify(Headers([(name.upper(), SECRET)]), b"{}", {}))
        self.assertFalse(verify({name: SECRET + "x"}, b"{}", {}))
        self.assertFalse(verify({name: "тест"}, b"{}", {}))
        self.assertFalse(verify({}, b"{}", {}))
        self.assertFalse(verify(Headers(), b"{}", {}))
        self.assertFalse(TelegramConnector({}).verify({name: ""}, b"{}", {}))

    def test_registered(self):
        connector = get_connector("telegram", {"token": "1:x"})
        self.assertIsInstance(connector, TelegramConnector)
        self.assertEqual(connector.api_base_url, "https://api.telegram.org")


class TestSplitText(BaseCase):
    def test_split_prefers_boundaries(self):
        words = [f"word{i}" for i in range(1300)]
        text = "\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12))
        self.assertTrue(10000 < len(text) < 12000, len(text))
        chunks = split_text(text)
        self.assertEqual(len(chunks), 3)
        self.assertTrue(all(len(c) <= 4096 for c in chunks))
        self.assertEqual(" ".join(chunks).split(), text.split())

    def test_split_at_spaces_when_no_newline(self):
        text = " ".join(f"слово{i}" for i in range(1200))
        chunks = split_text(text)
        self.assertEqual(len(chunks), 3)
        self.assertTrue(all(4000 < len(c) <= 4096 for c in chunks[:2]))
        self.assertEqual(" ".join(chunks), text)

    def test_split_prefers_a_newline_to_a_later_space(self):
        text = "a" * 3000 + "\n" + "b " * 1000
        self.assertEqual(split_text(text)[0], "a" * 3000)

    def test_split_without_spaces_cuts_hard(self):
        chunks = split_text("x" * 10000)
        self.assertEqual([len(c) for c in chunks], [4096, 4096, 1808])

    def test_split_counts_utf16_units(self):
        chunks = split_text("😀" * 3000)  # 6000 UTF-16 units
        self.assertEqual([len(c) for c in chunks], [2048, 952])

    def test_short_and_empty(self):
        self.assertEqual(split_text("hi"), ["hi"])
        self.assertEqual(split_text(""), [])
        self.assertEqual(split_text("  \n "), [])


class TelegramApiCase(FieldsCase):
    def setUp(self):
        self.fake = FakeTelegram().start()
        self.addCleanup(self.fake.stop)
        config = {"token": self.fake.token, "webhook_secret": SECRET}
        self.connector = TelegramConnector(dict(config, api_base_url=self.fake.url))

    def methods(self):
        return [method for method, _params in self.fake.calls]

    def send(self, text="", files=(), buttons=(), chat_id="1111111"):
        message = OutboundMessage(chat_id, text, list(files), list(buttons))
        return self.connector.send(message)

    def send_fails(self, text="hello", **kwargs):
        with self.assertRaises(ConnectorError) as caught:
            self.send(text, **kwargs)
        return caught.exception


class TestTelegramSend(TelegramApiCase):
    def test_send_text_is_one_request(self):
        self.assertEqual(self.send("Здравствуйте!"), ["1111111:1000"])
        self.assertEqual(self.methods(), ["sendMessage"])  # no getMe first
        (params,) = self.fake.calls_of("sendMessage")
        self.assertEqual(params, {"chat_id": "1111111", "text": "Здравствуйте!"})

    def test_send_long_text_in_chunks(self):
        text = "\n".join(f"Строка номер {i}: " + "слово " * 12 for i in range(120))
        self.assertTrue(10000 < len(text) < 12000)
        self.assertEqual(len(self.send(text)), 3)
        sent = [p["text"] for p in self.fake.calls_of("sendMessage")]
        self.assertEqual(len(sent), 3)
        self.assertTrue(all(len(t) <= 4096 for t in sent))
        self.assertEqual(" ".join(sent).split(), text.split())

    def test_buttons_on_last_text_message(self):
        buttons = [("Хорошо", "rate:5"), ("Плохо", "rate:1")]
        self.send("x " * 3000, buttons=buttons)
        first, last = self.fake.calls_of("sendMessage")
        self.assertNotIn("reply_markup", first)
        rows = last["reply_markup"]["inline_keyboard"]
        self.assertEqual([(b["text"], b["callback_data"]) for r in rows for b in r], buttons)

    def test_too_long_button_data_is_refused_before_any_call(self):
        error = self.send_fails("x", buttons=[("a", "д" * 40)])
        self.assertTrue(error.is_permanent)
        self.assertEqual(self.fake.calls, [])

    def test_photo_with_short_caption(self):
        ids = self.send("Вот фото", files=[OutboundFile("a.png", PNG, "image/png")])
        self.assertEqual(len(ids), 1)
        self.assertEqual(self.methods(), ["sendPhoto"])
        (params,) = self.fake.calls_of("sendPhoto")
        self.assertEqual(params["caption"], "Вот фото")
        self.assertEqual(params["photo"], Upload("a.png", PNG, "image/png"))

    def test_document_with_long_text(self):
        text = "Длинный текст. " * 134  # about 2,000 characters: too long for a caption
        pdf = OutboundFile("счёт.pdf", b"%PDF-1.4", "application/pdf")
        self.assertEqual(len(self.send(text, files=[pdf])), 2)
        self.assertEqual(self.methods(), ["sendMessage", "sendDocument"])
        self.assertEqual(self.fake.calls_of("sendMessage")[0]["text"], text)
        (params,) = self.fake.calls_of("sendDocument")
        self.assertNotIn("caption", params)
        upload = Upload("счёт.pdf", b"%PDF-1.4", "application/pdf")
        self.assertEqual(params["document"], upload)

    def test_two_files_text_first_no_caption(self):
        files = [
            OutboundFile("a.jpg", PNG, "image/jpeg"),
            OutboundFile("b.gif", b"GIF89a", "image/gif"),
        ]
        self.send("Два файла", files=files)
        self.assertEqual(self.methods(), ["sendMessage", "sendPhoto", "sendDocument"])
        self.assertNotIn("caption", self.fake.calls_of("sendPhoto")[0])
        self.assertNotIn("caption", self.fake.calls_of("sendDocument")[0])

    def test_file_only_carries_the_buttons(self):
        svg = OutboundFile("a.svg", b"<svg/>", "image/svg+xml")
        self.send(files=[svg], buttons=[("OK", "ok")])
        (params,) = self.fake.calls_of("sendDocument")
        self.assertIn("reply_markup", params)
        self.assertNotIn("caption", params)

    def test_empty_message_sends_nothing(self):
        self.assertEqual(self.send(""), [])
        self.assertEqual(self.fake.calls, [])

    def test_send_from_a_worker_thread(self):
        result = {}
        thread = threading.Thread(target=lambda: result.update(ids=self.send("hi", chat_id="7")))
        thread.start()
        thread.join(10)
        self.assertEqual(result["ids"], ["7:1000"])

    def test_acknowledge_button(self):
        self.connector.acknowledge_button(_event("callback_query"))
        self.assertEqual(
            self.fake.calls_of("answerCallbackQuery"),
            [{"callback_query_id": "4382bfdwdsb323b2d9"}],
        )

    def test_acknowledge_button_swallows_errors(self):
        self.fake.queue_error("answerCallbackQuery", 400, "Bad Request: query is too old")
        with self.assertLogs(TelegramConnector.__module__, "WARNING") as logs:
            self.connector.acknowledge_button(_event("callback_query"))
        self.assertIn("query is too old", "\n".join(logs.output).lower())


class TestTelegramErrors(TelegramApiCase):
    def test_flood_control_gives_retry_after(self):
        self.fake.queue_error("sendMessage", 429, "Too Many Requests", retry_after=7)
        error = self.send_fails()
        self.assertFields(error, retry_after=7, code=429, is_permanent=False, blocked=False)

    def test_blocked_by_user_is_permanent(self):
        blocked = "Forbidden: bot was blocked by the user"
        self.fake.queue_error("sendMessage", 403, blocked)
        error = self.send_fails()
        self.assertFields(error, is_permanent=True, blocked=True, code=403, message=blocked)

    def test_bad_request_is_permanent(self):
        self.fake.queue_error("sendMessage", 400, "Bad Request: chat not found")
        error = self.send_fails()
        self.assertFields(error, is_permanent=True, blocked=False, code=400)
        self.assertIn("chat not found", error.message.lower())

    def test_chat_migrated_is_permanent(self):
        migrated = {"migrate_to_chat_id": -1009}
        self.fake.queue_error("sendMessage", 400, "Bad Request: upgraded", parameters=migrated)
        error = self.send_fails()
        self.assertTrue(error.is_permanent)
        self.assertIn("-1009", error.message)

    def test_server_error_is_retried(self):
        self.fake.down = True
        self.assertEqual(self.send_fails().retry_after, 30)

    def test_connection_refused_is_retried(self):
        self.fake.stop()
        self.assertEqual(self.send_fails().retry_after, 30)

    def test_timeout_is_retried(self):
        self.connector.timeout = 0.2
        self.fake.delay = 0.5
        self.assertEqual(self.send_fails().retry_after, 30)

    def test_wrong_token_is_permanent(self):
        config = {"token": "999:WRONG", "api_base_url": self.fake.url}
        with self.assertRaises(ConnectorError) as caught:
            TelegramConnector(config).test()
        self.assertFields(caught.exception, is_permanent=True, code=401)
        self.assertNotIn("999:WRONG", str(caught.exception))

    def test_an_upload_refused_with_413_is_a_clear_permanent_file_too_big(self):
        # Telegram answers HTTP 413 over 50 MB (core.telegram.org/bots/api#sending-files); the fake's
        # limit is lowered here so that the test does not move 50 MB
        self.fake.limits["FileSizeLimit.FILESIZE_UPLOAD"] = 1000
        error = self.send_fails("", files=[OutboundFile("big.pdf", b"%" * 2000, "application/pdf")])
        self.assertIs(type(error), FileTooLarge)
        self.assertFields(error, retry_after=None, code=413, blocked=False)
        self.assertIn("too big", error.message)

    def test_a_file_over_the_upload_limit_is_refused_before_any_call(self):
        big = OutboundFile("film.mp4", bytes(50_000_001), "video/mp4")
        error = self.send_fails("Фильм", files=[big])
        self.assertIs(type(error), FileTooLarge)
        self.assertEqual(self.fake.calls, [])

    def test_a_photo_over_ptb_photo_limit_goes_as_a_document(self):
        # PHOTOSIZE_UPLOAD is 10,000,000 bytes (decimal), less than 10 MiB: sendPhoto would refuse it
        photo = OutboundFile("big.jpg", b"\xff\xd8" + bytes(10_200_000), "image/jpeg")
        self.send(files=[photo])
        self.assertEqual(self.methods(), ["sendDocument"])

    def test_attack_token_in_any_encoding_is_scrubbed(self):
        from urllib.parse import quote, quote_plus

        token = self.fake.token
        for form in (token, quote(token, safe=""), quote_plus(token), quote(token, safe="").lower()):
            with self.subTest(form=form):
                from telegram import error as tg

                error = self.connector._error(tg.NetworkError(f"failed: {form}"))
                self.assertNotIn(token.split(":")[1], error.message)

    def test_partial_send_reports_sent_ids(self):
        self.fake.queue_error("sendDocument", 403, "Forbidden: bot was blocked by the user")
        files = [OutboundFile("a.txt", b"a", "text/plain")]
        error = self.send_fails("t" * 2000, files=files, chat_id="5")
        self.assertEqual(error.sent_ids, ["5:1000"])

    def test_error_classification(self):
        from telegram import error as tg

        token = self.fake.token
        ok, big = ConnectorError, FileTooLarge
        cases = [  # PTB exception, class, retry_after, code, blocked
            (tg.RetryAfter(3), ok, 3, 429, False),
            (tg.Forbidden("Forbidden: user is deactivated"), ok, None, 403, True),
            (tg.BadRequest("Bad Request: file is too big"), big, None, 400, False),
            (tg.BadRequest("Bad Request: chat not found"), ok, None, 400, False),
            (tg.ChatMigrated(-100), ok, None, 400, False),
            (tg.TimedOut(), ok, 30, None, False),
            (tg.InvalidToken("Unauthorized"), ok, None, 401, False),
            (tg.InvalidToken("Not Found"), ok, None, 404, False),
            (tg.Conflict("Conflict: other getUpdates"), ok, None, 409, False),
            (tg.NetworkError(f"Bad Gateway /bot{token}/ {token}"), ok, 30, None, False),
            (tg.NetworkError("Request Entity Too Large"), big, None, 413, False),
            (tg.TelegramError("Invalid server response"), ok, 30, None, False),
        ]
        for exc, cls, retry_after, code, blocked in cases:
            with self.subTest(exc=repr(exc)):
                error = self.connector._error(exc)
                self.assertIs(type(error), cls)
                self.assertFields(error, retry_after=retry_after, code=code, blocked=blocked)
                self.assertNotIn(token.split(":")[1], error.message)

    def capture_logs(self):
        """Every record of the HTTP stack and the connector, at DEBUG level."""
        records, handler = [], logging.Handler(logging.DEBUG)
        handler.emit = records.append
        logging.getLogger().addHandler(handler)
        self.addCleanup(logging.getLogger().removeHandler, handler)
        for name in ("httpx", "httpcore", "telegram", TelegramConnector.__module__):
            logger = logging.getLogger(name)
            self.addCleanup(logger.setLevel, logger.level)
            logger.setLevel(logging.DEBUG)
        return records, handler

    def test_token_never_in_logs_or_errors(self):
        records, handler = self.capture_logs()
        self.fake.queue_error("sendMessage", 403, "Forbidden: bot was blocked by the user")
        self.fake.queue_error("answerCallbackQuery", 400, "Bad Request: query is too old")
        self.fake.add_file("F", b"data")
        texts = []
        for action in (
            lambda: self.send("a"),
            lambda: self.send("b"),
            lambda: self.connector.acknowledge_button(InboundEvent("button", callback_id="q")),
            lambda: self.connector.download(InboundFile("F")),
            lambda: self.connector.download(InboundFile("missing")),
            lambda: self.connector.poll(0),
            self.fake.stop,
            self.connector.test,
        ):
            try:
                action()
            except ConnectorError as exc:
                texts.append("".join(traceback.format_exception(exc)))
        self.assertEqual(len(texts), 3)
        self.assertIn("httpx", {r.name for r in records}, "no request logged: test is blind")
        texts += [handler.format(r) for r in records]
        secret_part = self.fake.token.split(":")[1]
        self.assertEqual([t for t in texts if secret_part in t], [])


class TestTelegramFiles(TelegramApiCase):
    def test_download_small_file(self):
        self.fake.add_file("F1", b"hello world")
        data = self.connector.download(InboundFile("F1", "a.txt", "text/plain", 11))
        self.assertEqual(data, b"hello world")
        self.assertEqual(self.methods(), ["getFile", "download"])

    def test_announced_big_file_makes_no_call(self):
        with self.assertRaises(FileTooLarge) as caught:
            self.connector.download(InboundFile("F1", size=25 * MB))
        self.assertTrue(caught.exception.is_permanent)
        self.assertEqual(self.fake.calls, [])

    def test_getfile_reporting_big_size(self):
        self.fake.add_file("BIG", b"x", file_size=21 * MB)
        with self.assertRaises(FileTooLarge):
            self.connector.download(InboundFile("BIG"))
        self.assertEqual(self.methods(), ["getFile"])

    def test_getfile_file_is_too_big(self):
        self.fake.queue_error("getFile", 400, "Bad Request: file is too big")
        with self.assertRaises(FileTooLarge) as caught:
            self.connector.download(InboundFile("BIG"))
        self.assertTrue(caught.exception.is_permanent)

    def test_local_file_path_is_never_read(self):
        self.fake.add_file("ETC", b"x")
        self.fake.files["ETC"]["file_path"] = __file__  # exists on this disk
        with self.assertRaises(ConnectorError) as caught:
            self.connector.download(InboundFile("ETC"))
        self.assertTrue(caught.exception.is_permanent)

    def test_unknown_file_is_permanent(self):
        with self.assertRaises(ConnectorError) as caught:
            self.connector.download(InboundFile("nope"))
        self.assertNotIsInstance(caught.exception, FileTooLarge)
        self.assertFields(caught.exception, code=400, is_permanent=True)


class TestTelegramAccount(TelegramApiCase):
    def test_set_and_delete_webhook(self):
        url = "https://odoo.example.com/openlines/webhook/abc"
        self.connector.set_webhook(url, SECRET)
        (params,) = self.fake.calls_of("setWebhook")
        self.assertEqual(
            params,
            {
                "url": url,
                "secret_token": SECRET,
                "allowed_updates": ALLOWED,
                "drop_pending_updates": "false",
            },
        )
        self.assertEqual(self.fake.webhook["url"], url)
        self.connector.delete_webhook()
        self.assertEqual(self.methods(), ["setWebhook", "deleteWebhook"])
        self.assertEqual(self.fake.webhook["url"], "")

    def test_test_describes_the_bot(self):
        self.assertEqual(self.connector.test(), "@openlines_test_bot (OpenLines Test)")
        self.assertEqual(self.methods(), ["getMe"])

    def test_poll(self):
        updates = [load_fixture(n) for n in ("text", "photo", "edited_message")]
        updates[1]["x_future_field"] = {"kept": True}
        for i, update in enumerate(updates):
            update["update_id"] = 500 + i
        self.fake.updates = copy.deepcopy(updates)
        self.assertEqual(self.connector.poll(0), (updates, 503))  # raw dicts
        params = self.fake.calls_of("getUpdates")[0]
        self.assertEqual(params, {"timeout": "0", "limit": "100", "allowed_updates": ALLOWED})
        self.assertEqual(self.connector.poll(502), (updates[2:], 503))
        self.assertEqual(self.fake.calls_of("getUpdates")[1]["offset"], "502")
        self.assertEqual(self.connector.poll(503), ([], 503))

    def test_poll_with_webhook_set_is_refused(self):
        self.connector.set_webhook("https://odoo.example.com/hook", SECRET)
        with self.assertRaises(ConnectorError) as caught:
            self.connector.poll(0)
        self.assertFields(caught.exception, code=409, is_permanent=True)


# -- button round trips through Odoo (HttpCase) -------------------------------------------
from odoo.tests import tagged  # noqa: E402 - the classes above need no Odoo

from .common import OpenlinesCase  # noqa: E402


def press(update_id, chat_id, message, button):
    """A press of ``button`` under the bot's ``message``, as Telegram sends it: the
    ``callback_query`` update of bloodcell_callback_query.json (a logged real update) with
    this chat, this message and this button's ``callback_data`` in ``data``."""
    update = load_fixture("bloodcell_callback_query")
    update["update_id"] = update_id
    query = update["callback_query"]
    query["from"]["id"] = query["message"]["chat"]["id"] = int(chat_id)
    query["message"].update(message_id=message["message_id"], text=message.get("text", ""))
    query["message"]["reply_markup"] = message["reply_markup"]
    query["data"] = button["callback_data"]
    return update


@tagged("post_install", "-at_install")
class TestTelegramButtonRoundTrip(OpenlinesCase):
    """The buttons the bot sends come back as Telegram sends a press, and do what they offered."""

    def sent_buttons(self):
        request = self.fake.calls_of("sendMessage")[-1]
        message = self.fake._message(request)  # the message as Telegram returns it (reply_markup included)
        return message, [b for row in request["reply_markup"]["inline_keyboard"] for b in row]

    def test_rating_asked_on_close_is_answered_by_a_button_press(self):
        self.line.rating_request = True
        dialog = self.client_writes(7301)
        dialog.action_close()
        self.send()
        message, buttons = self.sent_buttons()
        self.assertEqual([b["callback_data"] for b in buttons], [f"rate:{n}" for n in range(1, 6)])
        self.receive(press(40001, 7301, message, buttons[3]))
        rating = self.env["rating.rating"].search(
            [("res_model", "=", "discuss.channel"), ("res_id", "=", dialog.discuss_channel_id.id)]
        )
        self.assertEqual((rating.rating, dialog.rating_value), (4, 4))
        (answer,) = self.fake.calls_of("answerCallbackQuery")
        self.assertEqual(answer["callback_query_id"], "4278655576057498272")

    def test_consent_buttons_accept(self):
        self.line.consent_required = True
        self.receive(self.text_update(40010, 7302, "Здравствуйте"))
        message, buttons = self.sent_buttons()
        self.assertEqual([b["callback_data"] for b in buttons], ["consent:yes", "consent:no"])
        self.receive(press(40011, 7302, message, buttons[0]))
        contact = self.env["openlines.contact"].search(
            [("channel_id", "=", self.channel.id), ("external_id", "=", "7302")]
        )
        self.assertTrue(contact.consent_date)
        self.assertIn("Здравствуйте", self.client_messages(self.dialog_of("7302")).body)
