"""A fake Telegram Bot API on 127.0.0.1, for tests (no Odoo import).

It speaks the wire format: ``/bot<token>/<method>`` with JSON,
form-urlencoded or multipart bodies, answers ``{"ok": true, "result": ...}``
and serves downloads at ``/file/bot<token>/<file_path>``.  Usage::

    with FakeTelegram() as tg:
        connector = TelegramConnector({"token": tg.token, "api_base_url": tg.url})
        connector.send(...)
        tg.calls_of("sendMessage")  # -> [params, ...]

Parameters are recorded as sent: strings, JSON objects/arrays decoded, file
parts as :class:`Upload`.  Downloads are recorded as method ``"download"``.
"""

from __future__ import annotations

import collections
import dataclasses
import email.parser
import email.policy
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

try:
    from ..connectors.fetch import allow_test_origin, forbid_test_origin
except ImportError:  # imported outside the addon (end-to-end tests): the Odoo process has its own allowance
    allow_test_origin = forbid_test_origin = None

BOT_ID_DEFAULT = 123456


def bot_api_limits():
    """The Bot API limits as python-telegram-bot encodes them, kept in ``fixtures/telegram/schema``."""
    path = fixtures_dir() / "telegram" / "schema" / "ptb_constants.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _u16(text):
    """Telegram counts message lengths in UTF-16 code units (core.telegram.org/api/entities)."""
    return len(text.encode("utf-16-le")) // 2


def fixtures_dir():
    """The payload samples kept beside the tests (``fixtures/<messenger>/``, sources in SOURCES.md)."""
    return Path(__file__).resolve().parent / "fixtures"


def fixture_names():
    """Names (without ``.json``) of every Telegram fixture."""
    return sorted(p.stem for p in (fixtures_dir() / "telegram").glob("*.json"))


def load_fixture(name):
    """The Telegram fixture ``name`` (``text`` or ``text.json``) as a dict."""
    path = fixtures_dir() / "telegram" / (name if name.endswith(".json") else name + ".json")
    return json.loads(path.read_text(encoding="utf-8"))


@dataclasses.dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


def _decode(value):
    """Telegram accepts JSON-serialized objects in form fields: decode those."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _parse_multipart(content_type, body):
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    params = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            params[name] = Upload(filename, data, part.get_content_type())
        else:
            params[name] = _decode(data.decode(part.get_content_charset() or "utf-8"))
    return params


def parse_body(content_type, body):
    """Parameters of a request body (JSON, form-urlencoded or multipart)."""
    content_type = content_type or ""
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return json.loads(body.decode("utf-8"))
    if content_type.startswith("multipart/form-data"):
        return _parse_multipart(content_type, body)
    return {k: _decode(v) for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True)}


class LoopbackHandler(BaseHTTPRequestHandler):
    """The request handler of every fake API: quiet, GET/POST/DELETE to ``serve(method, url, body)``."""

    server_version = "FakeLoopback/1.0"

    def log_message(self, format, *args):  # quiet
        return

    def do_GET(self):
        self._read_and_serve("GET")

    def do_POST(self):
        self._read_and_serve("POST")

    def do_DELETE(self):
        self._read_and_serve("DELETE")

    def _read_and_serve(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        self.serve(method, urlsplit(self.path), self.rfile.read(length) if length else b"")

    def serve(self, method, url, body):
        raise NotImplementedError

    def reply(self, status, payload, headers=None):
        """Answer ``payload``: bytes as they are, a str as plain text, anything else as JSON."""
        if isinstance(payload, bytes):
            raw, ctype = payload, "application/octet-stream"
        elif isinstance(payload, str):
            raw, ctype = payload.encode(), "text/plain; charset=utf-8"
        else:
            raw, ctype = json.dumps(payload, ensure_ascii=False).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)


class _Handler(LoopbackHandler):
    server_version = "FakeTelegram/1.0"

    def serve(self, method, url, body):
        fake = self.server.fake
        if fake.hang:  # accept, read, never answer: the client times out, nothing is handled
            time.sleep(fake.hang)
            return
        params = {k: _decode(v) for k, v in parse_qsl(url.query)}
        params.update(parse_body(self.headers.get("Content-Type"), body))
        status, payload = fake.handle(unquote(url.path), params)
        if fake.delay:
            time.sleep(fake.delay)
        self.reply(status, payload)


def _error(status, description, parameters=None):
    answer = {"ok": False, "error_code": status, "description": description}
    if parameters:
        answer["parameters"] = parameters
    return status, answer


class LoopbackServer:
    """Start/stop a ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) in a daemon thread.

    Subclasses set ``handler_class`` (whose handler reads ``self.server.fake``)
    and keep ``calls`` (``(name, params)``) under ``_lock``.
    """

    handler_class = None
    name = "FakeLoopback"
    _server = None
    _thread = None

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class)
        self._server.daemon_threads = True
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self.name, daemon=True)
        self._thread.start()
        if allow_test_origin:  # the addon's downloads reach this fake only (test-only allowance)
            allow_test_origin(self.url)
        return self

    def stop(self):
        if self._server:
            if forbid_test_origin:
                forbid_test_origin(self.url)
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def calls_of(self, method):
        with self._lock:
            return [params for name, params in self.calls if name == method]


class FakeTelegram(LoopbackServer):
    """A loopback Bot API server with scripted errors and recorded calls."""

    handler_class = _Handler
    name = "FakeTelegram"

    def __init__(self, token="123456:TEST-TOKEN"):
        self.token = token
        self.calls = []
        self.updates = []
        self.files = {}  # file_id -> {"data", "file_size", "file_path"}
        self.webhook = {"url": "", "secret_token": None, "allowed_updates": None}
        self.delay = 0  # seconds to sleep before each answer
        self.down = False  # answer every request with HTTP 500
        self.hang = 0  # seconds to hold each request, then close it unanswered and unhandled
        self._errors = collections.defaultdict(collections.deque)
        self._lock = threading.RLock()
        self._message_ids = itertools.count(1000)
        self.limits = bot_api_limits()  # a test may lower one to exercise a refusal cheaply
        bot_id = token.split(":", 1)[0]
        self.bot_user = {
            "id": int(bot_id) if bot_id.isdigit() else BOT_ID_DEFAULT,
            "is_bot": True,
            "first_name": "OpenLines Test",
            "username": "openlines_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    load_fixture = staticmethod(load_fixture)

    # -- lifecycle ----------------------------------------------------------

    # -- scripting and inspection --------------------------------------------------
    def queue_error(self, method, status, description, retry_after=None, times=1, parameters=None):
        """Answer the next ``times`` calls of ``method`` with an error."""
        parameters = dict(parameters or {})
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        with self._lock:
            for _i in range(times):
                self._errors[method].append((status, description, parameters))

    def add_file(self, file_id, data, file_size=None):
        """Make ``file_id`` known to getFile; ``file_size`` may lie (default: real).

        A lie over 20 MB makes getFile answer that size; the real API answers
        400 "file is too big" instead: script that with :meth:`queue_error`.
        """
        with self._lock:
            self.files[file_id] = {
                "data": bytes(data),
                "file_size": len(data) if file_size is None else file_size,
                "file_path": f"documents/file_{len(self.files)}_{file_id[-8:]}.bin",
            }

    # -- request handling -----------------------------------------------------------
    def handle(self, path, params):
        """Return ``(status, payload)`` for a request to ``path``."""
        if path.startswith("/file/bot"):
            token, _sep, method = path[len("/file/bot") :].partition("/")
            method, params = "download", {"file_path": method}
        elif path.startswith("/bot"):
            token, _sep, method = path[len("/bot") :].partition("/")
        else:
            return _error(404, "Not Found")
        with self._lock:
            self.calls.append((method, params))
            if token != self.token:
                return _error(401, "Unauthorized")
            if self.down:
                return _error(500, "Internal Server Error")
            if self._errors[method]:
                return _error(*self._errors[method].popleft())
            if method == "download":
                return self._download(params["file_path"])
            handler = getattr(self, "_m_" + method, None)
            if handler is None:
                return _error(404, "Not Found: method not found")
            result = handler(params)
        if isinstance(result, tuple):
            return result
        return 200, {"ok": True, "result": result}

    def _download(self, file_path):
        for info in self.files.values():
            if info["file_path"] == file_path:
                return 200, info["data"]
        return _error(404, "Not Found")

    def _refused_markup(self, markup):
        """Why the Bot API refuses ``reply_markup`` (InlineKeyboardButton.callback_data is 1-64 bytes), or ``""``."""
        if markup is None:
            return ""
        if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
            return "Bad Request: can't parse reply keyboard markup JSON object"
        low = self.limits["InlineKeyboardButtonLimit.MIN_CALLBACK_DATA"]
        high = self.limits["InlineKeyboardButtonLimit.MAX_CALLBACK_DATA"]
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if not button.get("text"):
                    return "Bad Request: text buttons are unallowed in the inline keyboard"
                if data is not None and not low <= len(str(data).encode()) <= high:
                    return "Bad Request: BUTTON_DATA_INVALID"
        return ""

    def _refused_upload(self, info, limit_key):
        """HTTP 413 for an upload over the Bot API's limit.

        "50 MB for other files": core.telegram.org/bots/api#sending-files.
        """
        if info and len(info[0]) > self.limits[limit_key]:
            return 413, {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}
        return None

    def _message(self, params, **content):
        chat_id = str(params.get("chat_id", ""))
        if not chat_id:
            return _error(400, "Bad Request: chat_id is empty")
        if refused := self._refused_markup(params.get("reply_markup")):
            return _error(400, refused)
        caption = params.get("caption")
        if caption is not None and _u16(caption) > self.limits["MessageLimit.CAPTION_LENGTH"]:
            return _error(400, "Bad Request: message caption is too long")
        message = {
            "message_id": next(self._message_ids),
            "from": {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": {
                "id": int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id,
                "type": "private",
            },
            "date": int(time.time()),
            **content,
        }
        if caption:
            message["caption"] = caption
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _upload_info(self, value, name):
        if isinstance(value, Upload):
            return value.data, value.filename, value.content_type
        if isinstance(value, str) and value:
            return b"", name, "application/octet-stream"  # a file_id or URL
        return None

    # -- Bot API methods (``_m_<method>``) ----------------------------------
    def _m_getMe(self, params):
        return dict(self.bot_user)

    def _m_sendMessage(self, params):
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if _u16(text) > self.limits["MessageLimit.MAX_TEXT_LENGTH"]:
            return _error(400, "Bad Request: message is too long")
        return self._message(params, text=text)

    def _m_sendPhoto(self, params):
        info = self._upload_info(params.get("photo"), "photo.jpg")
        if info is None:
            return _error(400, "Bad Request: there is no photo in the request")
        if info[0] and len(info[0]) > self.limits["FileSizeLimit.PHOTOSIZE_UPLOAD"]:  # "10 MB max size for photos"
            return _error(400, "Bad Request: photo is too big")
        uid = f"AgACfake{len(self.calls)}"
        sizes = [
            {
                "file_id": uid + "-s",
                "file_unique_id": uid + "s",
                "file_size": len(info[0]) // 4,
                "width": 90,
                "height": 90,
            },
            {
                "file_id": uid + "-l",
                "file_unique_id": uid + "l",
                "file_size": len(info[0]),
                "width": 800,
                "height": 800,
            },
        ]
        return self._message(params, photo=sizes)

    def _m_sendDocument(self, params):
        info = self._upload_info(params.get("document"), "document")
        if info is None:
            return _error(400, "Bad Request: there is no document in the request")
        if refused := self._refused_upload(info, "FileSizeLimit.FILESIZE_UPLOAD"):
            return refused
        data, filename, content_type = info
        uid = f"BQACfake{len(self.calls)}"
        document = {
            "file_id": uid,
            "file_unique_id": uid[-8:],
            "file_name": filename,
            "mime_type": content_type,
            "file_size": len(data),
        }
        return self._message(params, document=document)

    def _m_answerCallbackQuery(self, params):
        if len(params.get("text") or "") > self.limits["CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH"]:
            return _error(400, "Bad Request: MESSAGE_TOO_LONG")
        if not params.get("callback_query_id"):
            return _error(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        return True

    #: sendChatAction's actions (core.telegram.org/bots/api#sendchataction)
    CHAT_ACTIONS = (
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    )

    def _m_sendChatAction(self, params):
        # chat_id and action are required; another action is refused (Bot API: 400 wrong parameter action)
        if not params.get("chat_id"):
            return _error(400, "Bad Request: chat_id is empty")
        if params.get("action") not in self.CHAT_ACTIONS:
            return _error(400, "Bad Request: wrong parameter action in request")
        return True

    def _m_setWebhook(self, params):
        self.webhook = {
            "url": params.get("url") or "",
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
        }
        return True

    def _m_deleteWebhook(self, params):
        self.webhook = {"url": "", "secret_token": None, "allowed_updates": None}
        if str(params.get("drop_pending_updates")).lower() == "true":
            self.updates.clear()
        return True

    def _m_getWebhookInfo(self, params):
        info = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        if self.webhook["allowed_updates"]:
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _m_getUpdates(self, params):
        if self.webhook["url"]:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active;"
                " use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        if offset > 0:  # confirms every update before offset, as Telegram does
            self.updates[:] = [u for u in self.updates if u.get("update_id", 0) >= offset]
        elif offset < 0:
            return [dict(u) for u in self.updates[offset:]][:limit]
        return [dict(u) for u in self.updates[:limit]]

    def _m_getFile(self, params):
        info = self.files.get(params.get("file_id"))
        if info is None:
            return _error(400, "Bad Request: invalid file_id")
        return {
            "file_id": params["file_id"],
            "file_unique_id": "U" + str(params["file_id"])[-8:],
            "file_size": info["file_size"],
            "file_path": info["file_path"],
        }
