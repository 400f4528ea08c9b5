"""Loopback fakes of Meta's Graph API (Messenger/Instagram Send API), for tests.

:class:`FakeAPI` is the reusable part (a ``ThreadingHTTPServer`` on
127.0.0.1:0, recorded calls, scripted errors, files to download); the
WhatsApp and Viber fakes build on it.  Usage::

    with FakeMeta() as fb:
        connector = MessengerConnector({"token": fb.token, "api_base_url": fb.url, ...})
        connector.send(...)
        fb.calls_of("messages")  # -> [params, ...]

Calls are recorded as ``(name, params)``; a name is the route (``messages``,
``message_attachments``, ``subscribed_apps``, ``page``, ``download``).
Parameters: the query string, then the JSON / form / multipart body (file
parts as :class:`~.fake_telegram.Upload`).
"""

from __future__ import annotations

import collections
import itertools
import json
import threading
from urllib.parse import parse_qsl, unquote

from .fake_telegram import LoopbackHandler, LoopbackServer, Upload, fixtures_dir, parse_body

__all__ = ["FakeAPI", "FakeMeta", "Upload", "graph_error", "load_fixture", "load_schema", "schema_errors"]


def load_fixture(channel, name):
    """The fixture ``name`` of ``channel`` (``whatsapp``, ``viber``...) as a dict."""
    path = fixtures_dir() / channel / (name if name.endswith(".json") else name + ".json")
    return json.loads(path.read_text(encoding="utf-8"))


def fixture_names(channel):
    return sorted(p.stem for p in (fixtures_dir() / channel).glob("*.json"))


def load_schema(channel, name):
    """A schema excerpt kept under ``fixtures/<channel>/schema/`` (its source is in the file)."""
    return json.loads((fixtures_dir() / channel / "schema" / name).read_text(encoding="utf-8"))


def schema_errors(value, schema, root, path="$"):
    """What ``value`` breaks in a JSON-schema ``schema`` (``$ref`` resolved in ``root``).

    A small subset, enough for the published limits the fakes enforce: ``$ref``,
    ``allOf``, ``oneOf`` (exactly one variant), ``type``, ``required``,
    ``properties``, ``items``, ``enum``, ``maxLength``/``minLength`` (characters),
    ``minItems``/``maxItems``.  Unknown properties are not refused.
    """
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return schema_errors(value, root["components"]["schemas"][name], root, path)
    errors = []
    for sub in schema.get("allOf", []):
        errors += schema_errors(value, sub, root, path)
    if "oneOf" in schema:
        matching = [sub for sub in schema["oneOf"] if not schema_errors(value, sub, root, path)]
        if len(matching) != 1:
            errors.append(f"{path}: matches {len(matching)} of the oneOf variants")
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}
    if kind in types and not isinstance(value, types[kind]):
        return [*errors, f"{path}: not a {kind}"]
    if isinstance(value, dict):
        errors += [f"{path}.{key}: required" for key in schema.get("required", []) if key not in value]
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                errors += schema_errors(value[key], sub, root, f"{path}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items, allowed {schema.get('minItems', 0)}-{schema.get('maxItems')}")
        for i, item in enumerate(value):
            errors += schema_errors(item, schema.get("items") or {}, root, f"{path}[{i}]")
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)) or len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: {len(value)} characters, at most {schema.get('maxLength')}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not one of {schema['enum']}")
    return errors


def graph_error(code, message, status=400, subcode=None, details=None):
    """A Graph API error answer."""
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}
    if subcode:
        error["error_subcode"] = subcode
    if details:
        error["error_data"] = {"details": details}
    return status, {"error": error}


class _Handler(LoopbackHandler):
    def serve(self, method, url, body):
        params = dict(parse_qsl(url.query))
        params.update(parse_body(self.headers.get("Content-Type"), body))
        self.reply(*self.server.fake.handle(method, unquote(url.path), params, self.headers))


class FakeAPI(LoopbackServer):
    """A loopback HTTP API with recorded calls and scripted errors (subclass: ``route``)."""

    handler_class = _Handler
    name = "FakeMeta"

    def __init__(self, token="TEST-TOKEN"):
        self.token = token
        self.calls = []
        self.files = {}  # name -> bytes, served at /download/<name>
        self.down = False  # answer every request with HTTP 500
        self._errors = collections.defaultdict(collections.deque)
        self._lock = threading.RLock()
        self._ids = itertools.count(1000)

    # -- lifecycle ------------------------------------------------------------

    # -- scripting and inspection -----------------------------------------------
    def queue_error(self, name, status, payload, times=1):
        """Answer the next ``times`` calls of route ``name`` with ``(status, payload)``."""
        with self._lock:
            for _i in range(times):
                self._errors[name].append((status, payload))

    def add_file(self, name, data):
        """Serve ``data`` at ``<url>/download/<name>``; return that address."""
        with self._lock:
            self.files[name] = bytes(data)
        return f"{self.url}/download/{name}"

    def next_id(self):
        return next(self._ids)

    # -- request handling ---------------------------------------------------------
    def handle(self, method, path, params, headers):
        name, handler = self.route(method, path)
        with self._lock:
            self.calls.append((name, params))
            if name == "download" and path.rsplit("/", 1)[-1] in self.files and not self.authorized(headers, True):
                return 401, {"error": "unauthorized"}
            if name != "download" and not self.authorized(headers, False):
                return self.unauthorized()
            if self.down:
                return 500, {"error": {"message": "Internal Server Error", "code": 1}}
            if self._errors[name]:
                return self._errors[name].popleft()
            if name == "download":
                data = self.files.get(path.rsplit("/", 1)[-1])
                return (200, data) if data is not None else (404, {"error": "not found"})
            if handler is None:
                return 404, {"error": {"message": f"Unknown path {path}", "code": 803}}
            return handler(params, path)

    def route(self, method, path):
        raise NotImplementedError

    def authorized(self, headers, download):
        return headers.get("Authorization") == f"Bearer {self.token}"

    def unauthorized(self):
        return graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=401)


class FakeMeta(FakeAPI):
    """Messenger/Instagram Send API on loopback: ``/{page}/messages`` and friends."""

    def __init__(self, token="PAGE-TOKEN", page_id="1234567890"):
        super().__init__(token)
        self.page_id = page_id
        self.subscribed = None
        self.profiles = {}  # PSID / IGSID -> the User Profile API's answer
        self.uploads = {}  # attachment id -> (platform, type, Upload)
        self.sent = []  # every Send API body the fake accepted
        self.sender_actions = []  # every sender action (typing_on, mark_seen...) the fake accepted

    def authorized(self, headers, download):
        return download or super().authorized(headers, download)

    def route(self, method, path):
        parts = path.strip("/").split("/")
        if parts[0] == "download":
            return "download", None
        if len(parts) == 2 and parts[1] == "messages" and method == "POST":
            return "messages", self._messages
        if len(parts) == 2 and parts[1] == "message_attachments" and method == "POST":
            return "message_attachments", lambda p, _path: self._attachments(p, parts[0])
        if len(parts) == 2 and parts[1] == "subscribed_apps":
            return "subscribed_apps", lambda p, _path: self._subscribe(method, p)
        if len(parts) == 1 and method == "GET" and parts[0] in self.profiles:
            return "profile", lambda p, _path: (200, {"id": parts[0], **self.profiles[parts[0]]})
        if len(parts) == 1 and method == "GET" and parts[0] not in (self.page_id, "me"):
            return "profile", lambda p, _path: graph_error(100, "(#100) No profile available for this user.")
        if len(parts) == 1 and method == "GET":
            return "page", lambda p, _path: (200, {"id": self.page_id, "name": "Fake Shop Page"})
        return "unknown", None

    def _messages(self, params, path):
        recipient = (params.get("recipient") or {}).get("id")
        message = params.get("message") or {}
        if "sender_action" in params:
            return self._sender_action(params, recipient, message)
        if not recipient or not message:
            return graph_error(100, "(#100) The parameter recipient is required")
        problem = _send_problem(params, message)
        if problem:
            return graph_error(100, f"(#100) {problem}")
        if params.get("messaging_type") == "MESSAGE_TAG" and params.get("tag") != "HUMAN_AGENT":
            return graph_error(100, "(#100) Param tag must be one of {HUMAN_AGENT, ...}")
        self.sent.append(params)
        return 200, {"recipient_id": recipient, "message_id": f"m_fake{self.next_id()}"}

    def _sender_action(self, params, recipient, message):
        """Sender actions (developers.facebook.com/docs/messenger-platform/send-messages/sender-actions;
        Instagram: .../instagram/features/sender-actions): ``recipient`` and ``sender_action`` only --
        ``typing_on``, ``typing_off`` or ``mark_seen``; a ``message`` with it is refused."""
        if not recipient:
            return graph_error(100, "(#100) The parameter recipient is required")
        if params["sender_action"] not in ("typing_on", "typing_off", "mark_seen"):
            return graph_error(100, "(#100) Param sender_action must be one of {typing_on, typing_off, mark_seen}")
        if message:
            return graph_error(100, "(#100) sender_action cannot be sent with a message")
        self.sender_actions.append(params)
        return 200, {"recipient_id": recipient}

    def _attachments(self, params, page):
        upload = params.get("filedata")
        if not isinstance(upload, Upload):
            return graph_error(100, "(#100) Upload attachment failure")
        message = params.get("message") or "{}"
        try:
            kind = (json.loads(message) if isinstance(message, str) else message)["attachment"]["type"]
        except (ValueError, KeyError, TypeError):
            return graph_error(100, "(#100) Param message must be a JSON attachment")
        if params.get("platform") == "instagram":
            # Instagram: POST /<PAGE_ID>/message_attachments, platform=instagram; file = PDF only, images
            # png/jpeg/gif up to 8 MB, others 25 MB (developers.facebook.com .../instagram/features/attachment-upload)
            if page == "me" or page != self.page_id:
                return graph_error(100, "(#100) Instagram attachments are uploaded to /<PAGE_ID>/message_attachments")
            mimetype = (upload.content_type or "").split(";")[0].lower()
            if kind == "file" and mimetype != "application/pdf":
                return graph_error(100, "(#100) Instagram supports only PDF files")
            image_ok = mimetype in ("image/png", "image/jpeg", "image/gif") and len(upload.data) <= 8 << 20
            if kind == "image" and not image_ok:
                return graph_error(100, "(#100) Instagram images: png, jpeg, gif up to 8 MB")
        elif page != "me" and page != self.page_id:
            return graph_error(100, f"(#100) Unknown page {page}")
        if kind not in ("image", "video", "audio", "file") or len(upload.data) > 25 << 20:
            return graph_error(100, "(#100) Attachment type or size not supported")
        self.uploads[str(self.next_id())] = (params.get("platform") or "messenger", kind, upload)
        return 200, {"attachment_id": list(self.uploads)[-1]}

    def _subscribe(self, method, params):
        self.subscribed = None if method == "DELETE" else params.get("subscribed_fields")
        return 200, {"success": True}


def _send_problem(params, message):
    """Why the Send API would refuse this body, or ``""`` (developers.facebook.com messenger-platform
    reference/send-api and .../send-messages/quick-replies: messaging_type values; text <= 2,000
    characters; text or attachment, not both; quick replies: at most 13, ``content_type`` text (or
    user_phone_number / user_email), title <= 20 characters, payload <= 1,000 characters, on a message)."""
    if params.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        return "Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"
    if ("text" in message) == ("attachment" in message):
        return "Exactly one of message[text] or message[attachment] is required"
    if len(message.get("text") or "") > 2000:
        return "Length of param message[text] must be less than or equal to 2000"
    attachment = message.get("attachment") or {}
    if attachment and attachment.get("type") not in ("image", "audio", "video", "file", "template"):
        return "Param message[attachment][type] is not valid"
    quick = message.get("quick_replies")
    if quick is not None:
        if not isinstance(quick, list) or not 1 <= len(quick) <= 13:
            return "param message[quick_replies] must have 1 to 13 elements"
        for reply in quick:
            if reply.get("content_type") not in ("text", "user_phone_number", "user_email"):
                return "quick_replies[content_type] is not valid"
            if reply.get("content_type") == "text" and not (
                0 < len(reply.get("title") or "") <= 20 and 0 < len(str(reply.get("payload") or "")) <= 1000
            ):
                return "quick_replies: title 1-20 and payload 1-1000 characters are required"
    return ""
