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

__all__ = ["FakeAPI", "FakeMeta", "Upload", "graph_error", "load_fixture"]


def load_fixture(channel, name):
    """The fixture ``name`` of ``channel`` (``whatsapp``, ``viber``...) as a dict."""
    path = fixtures_dir() / channel / (name if name.endswith(".json") else name + ".json")
    return json.loads(path.read_text(encoding="utf-8"))


def fixture_names(channel):
    return sorted(p.stem for p in (fixtures_dir() / channel).glob("*.json"))


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

    def authorized(self, headers, download):
        return download or super().authorized(headers, download)

    def route(self, method, path):
        parts = path.strip("/").split("/")
        if parts[0] == "download":
            return "download", None
        if len(parts) == 2 and parts[1] == "messages" and method == "POST":
            return "messages", self._messages
        if parts == ["me", "message_attachments"] and method == "POST":
            return "message_attachments", self._attachments
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
        if not recipient or not message:
            return graph_error(100, "(#100) The parameter recipient is required")
        if len(message.get("text") or "") > 2000:
            return graph_error(100, "(#100) Length of param message[text] must be less than or equal to 2000")
        if params.get("messaging_type") == "MESSAGE_TAG" and params.get("tag") != "HUMAN_AGENT":
            return graph_error(100, "(#100) Param tag must be one of {HUMAN_AGENT, ...}")
        return 200, {"recipient_id": recipient, "message_id": f"m_fake{self.next_id()}"}

    def _attachments(self, params, path):
        upload = params.get("filedata")
        if not isinstance(upload, Upload):
            return graph_error(100, "(#100) Upload attachment failure")
        return 200, {"attachment_id": str(self.next_id())}

    def _subscribe(self, method, params):
        self.subscribed = None if method == "DELETE" else params.get("subscribed_fields")
        return 200, {"success": True}
