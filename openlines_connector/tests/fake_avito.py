"""A fake Avito API on 127.0.0.1, for tests (no Odoo import).

``POST /token/`` (client credentials, the address developers.avito.ru
documents, trailing slash included: ``/token`` is not found) issues bearer
tokens; every other call needs a live one: an expired token (see
:meth:`FakeAvito.expire_tokens`) answers 403, as Avito does, an unknown one 401.
Messenger paths: ``/messenger/v3/webhook``,
``/messenger/v1/webhook/unsubscribe``, ``/messenger/v1/subscriptions``,
``.../chats/<chat>/messages`` (``send``), ``.../messages/image``
(``send_image``), ``.../uploadImages`` (``upload``), ``/messenger/v2/...chats/<chat>``
(``chat``), ``/core/v1/accounts/self`` (``self``).
"""

from __future__ import annotations

import itertools
import re

from .fake_loopback import FakeServer, load_json, names
from .fake_telegram import Upload

_ROUTES = (
    (r"^/token/$", "token"),
    (r"^/messenger/v3/webhook$", "subscribe"),
    (r"^/messenger/v1/webhook/unsubscribe$", "unsubscribe"),
    (r"^/messenger/v1/subscriptions$", "subscriptions"),
    (r"^/messenger/v1/accounts/[^/]+/chats/[^/]+/messages/image$", "send_image"),
    (r"^/messenger/v1/accounts/[^/]+/chats/[^/]+/messages$", "send"),
    (r"^/messenger/v1/accounts/[^/]+/uploadImages$", "upload"),
    (r"^/messenger/v2/accounts/[^/]+/chats/[^/]+$", "chat"),
    (r"^/messenger/v2/accounts/[^/]+/chats$", "chats"),
    (r"^/messenger/v3/accounts/[^/]+/chats/[^/]+/messages/?$", "messages"),
    (r"^/messenger/v1/accounts/[^/]+/chats/[^/]+/read$", "read"),
    (r"^/core/v1/accounts/self$", "self"),
)


def fixture_names():
    return names("avito")


def load_fixture(name):
    return load_json("avito", name)


class FakeAvito(FakeServer):
    name = "FakeAvito"

    def __init__(self, client_id="avito-client", client_secret="avito-secret", user_id="11111"):
        super().__init__()
        self.client_id, self.client_secret, self.user_id = client_id, client_secret, user_id
        self.tokens = set()
        self.expired = set()
        self.subscriptions = []
        self.items = {}  # chat id -> {"title", "url"}
        self.unread = {}  # chat id -> [message dicts], for polling
        self.read_marks = []  # chat ids marked read (chatRead)
        self._ids = itertools.count(1)

    load_fixture = staticmethod(load_fixture)

    def queue_error(self, method, status, message="error", times=1, headers=None):
        self._queue(method, (status, {"error": {"code": status, "message": message}}), times)

    def expire_tokens(self):
        with self._lock:
            self.expired |= self.tokens
            self.tokens.clear()

    def method_name(self, http_method, path):
        name = next((name for pattern, name in _ROUTES if re.match(pattern, path)), path)
        return f"{http_method} {name}" if name == "read" and http_method != "POST" else name  # chatRead is a POST

    def route(self, name, path, params, headers):
        if name == "token":
            return self._token(params)
        auth = headers.get("Authorization") or ""
        if auth.startswith("Bearer ") and auth[7:] in self.expired:
            return 403, {"error": {"code": 403, "message": "Forbidden: token expired"}}
        if auth[7:] not in self.tokens or not auth.startswith("Bearer "):
            return 401, {"error": {"code": 401, "message": "Unauthorized"}}
        if f"/accounts/{self.user_id}/" not in path and name not in (
            "subscribe",
            "unsubscribe",
            "subscriptions",
            "self",
        ):
            return 403, {"error": {"code": 403, "message": "forbidden: not your account"}}
        handler = getattr(self, "_m_" + name, None)
        if handler is None:
            return 404, {"error": {"code": 404, "message": "not found"}}
        return handler(path, params)

    def _token(self, params):
        if params.get("grant_type") != "client_credentials" or (
            params.get("client_id"),
            params.get("client_secret"),
        ) != (
            self.client_id,
            self.client_secret,
        ):
            return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
        token = f"avito-token-{next(self._ids)}"
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 86400, "token_type": "Bearer"}

    def _m_subscribe(self, path, params):
        self.subscriptions.append({"url": params["url"], "version": "3"})
        return 200, {"ok": True}

    def _m_unsubscribe(self, path, params):
        self.subscriptions = [s for s in self.subscriptions if s["url"] != params.get("url")]
        return 200, {"ok": True}

    def _m_subscriptions(self, path, params):
        return 200, {"subscriptions": list(self.subscriptions)}

    def _m_send(self, path, params):
        text = (params.get("message") or {}).get("text")
        if params.get("type") != "text" or not text:
            return 400, {"error": {"code": 400, "message": "bad request: message.text is required"}}
        return 200, {"id": f"sent{next(self._ids)}", "type": "text", "content": {"text": text}, "direction": "out"}

    def _m_upload(self, path, params):
        upload = params.get("uploadfile[]")
        if not isinstance(upload, Upload):
            return 400, {"error": {"code": 400, "message": "no image"}}
        image_id = f"{next(self._ids)}.img"
        return 200, {image_id: {"1280x960": f"{self.url}/files/{image_id}"}}

    def _m_send_image(self, path, params):
        if not params.get("image_id"):
            return 400, {"error": {"code": 400, "message": "image_id is required"}}
        return 200, {"id": f"sent{next(self._ids)}", "type": "image", "direction": "out"}

    def _m_chat(self, path, params):
        chat_id = path.rsplit("/", 1)[-1]
        item = self.items.get(chat_id)
        context = {"type": "item", "value": item} if item else {}
        return 200, {"id": chat_id, "context": context, "users": []}

    def _m_chats(self, path, params):
        chats = [{"id": cid, "context": {"type": "item", "value": {"id": 555}}} for cid, m in self.unread.items() if m]
        return 200, {"chats": chats}

    def _m_messages(self, path, params):
        return 200, list(self.unread.get(path.rstrip("/").split("/")[-2], []))

    def _m_read(self, path, params):
        """chatRead (developers.avito.ru Messenger API): ``POST .../chats/{chat_id}/read``, no parameters."""
        if params:
            return 400, {"error": {"code": 400, "message": f"bad request: unexpected {sorted(params)}"}}
        chat_id = path.split("/")[-2]
        self.unread[chat_id] = []
        self.read_marks.append(chat_id)
        return 200, {"ok": True}

    def _m_self(self, path, params):
        return 200, {"id": int(self.user_id), "name": "Test seller", "email": "seller@example.com"}
