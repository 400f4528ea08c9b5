"""A fake OK (Odnoklassniki) bot API on 127.0.0.1, for tests (no Odoo import).

``/graph/me/subscribe``, ``/unsubscribe``, ``/subscriptions``, ``/info`` and
``/graph/me/messages/chat:ID``, all with ``?access_token=``.  Errors come as
OK sends them: HTTP 200 with ``{"error_code", "error_msg"}``.  Calls are named
after the last path part (``messages`` for a send).
"""

from __future__ import annotations

import itertools

from .fake_loopback import FakeServer, load_json, names

#: apiok.ru, graph.chat.answer / graph.user.messages "Message format": the attachment types
ATTACHMENT_TYPES = {
    "IMAGE", "VIDEO", "AUDIO", "SHARE", "FILE", "CONTACT", "INLINE_KEYBOARD",
    "LOCATION", "MUSIC", "CALL", "PRESENT", "STICKER",
}  # fmt: skip
#: "specify image URL, but only 1 such image can be present in request" (same pages)
MAX_URL_IMAGES = 1
#: graph.user.messages "Current user state" (apiok/documentation docs/method/en/graph.user/graph.user.messages/
#: post.md): the values of ``sender_action``, sent with a ``recipient`` and nothing else
SENDER_ACTIONS = {"mark_seen", "typing_on", "sending_photo", "sending_video", "sending_audio"}
#: at most 5 attachments in one message (issue 13's reading of the OK bot API; NOT verified, see docs/channels/ok.md)
MAX_ATTACHMENTS = 5


def refused_message(message):
    """Why OK refuses a ``message`` object (error 100, PARAM), or ``""``."""
    if not isinstance(message, dict):
        return "message is required"
    attachments = list(message.get("attachments") or [])
    if message.get("attachment"):
        attachments.append(message["attachment"])
    if not (message.get("text") or "").strip() and not attachments:
        return "message.text or an attachment is required"
    if len(attachments) > MAX_ATTACHMENTS:
        return f"at most {MAX_ATTACHMENTS} attachments"
    if sum(1 for a in attachments if a.get("type") == "IMAGE" and (a.get("payload") or {}).get("url")) > MAX_URL_IMAGES:
        return "only 1 image by URL in a request"
    for attachment in attachments:
        if attachment.get("type") not in ATTACHMENT_TYPES:
            return f"unknown attachment type {attachment.get('type')!r}"
        if attachment["type"] == "INLINE_KEYBOARD":
            rows = ((attachment.get("payload") or {}).get("keyboard") or {}).get("buttons")
            if not rows or not all(isinstance(r, list) and r for r in rows):
                return "INLINE_KEYBOARD without buttons"
            for button in (b for row in rows for b in row):
                if button.get("type") == "CALLBACK" and not (button.get("text") and button.get("payload")):
                    return "a CALLBACK button needs text and payload"
    return ""


def fixture_names():
    return names("ok")


def load_fixture(name):
    return load_json("ok", name)


class FakeOK(FakeServer):
    name = "FakeOK"

    def __init__(self, token="tkn1OKTEST"):
        super().__init__()
        self.token = token
        self.subscriptions = []
        self.sender_actions = []  # the accepted {"chat_id", "sender_action"}
        self._ids = itertools.count(1)

    load_fixture = staticmethod(load_fixture)

    def queue_error(self, method, code, message="error", times=1, status=200):
        self._queue(method, (status, {"error_code": code, "error_msg": message, "error_data": None}), times)

    def method_name(self, http_method, path):
        if path.startswith("/graph/me/messages/"):
            return "messages"
        return path.rsplit("/", 1)[-1]

    def route(self, name, path, params, headers):
        if params.get("access_token") != self.token:
            return 200, {"error_code": 102, "error_msg": "PARAM_SESSION_EXPIRED : Session expired"}
        # "Content-Type: application/json;charset=utf-8 header should be specified for all Graph API POST requests"
        # (apiok/documentation graph.user.messages/post.md)
        if headers.get("Content-Type", "").replace(" ", "").lower() != "application/json;charset=utf-8" and (
            name in ("messages", "answer", "subscribe", "unsubscribe")
        ):
            return 200, {"error_code": 100, "error_msg": "PARAM : Content-Type must be application/json;charset=utf-8"}
        if name == "messages":
            chat_id = path[len("/graph/me/messages/") :]
            if not chat_id.startswith("chat:") or (params.get("recipient") or {}).get("chat_id") != chat_id:
                return 200, {"error_code": 100, "error_msg": "PARAM : Invalid chat_id"}
            if "sender_action" in params:
                return self._sender_action(chat_id, params)
            if refused := refused_message(params.get("message")):
                return 200, {"error_code": 100, "error_msg": f"PARAM : {refused}"}
            return 200, {"chat_id": chat_id, "message_id": f"mid:{chat_id[5:]}.{next(self._ids):x}"}
        if name == "answer":  # graph.chat.answer: POST /graph/chat:ID/answer?callbackId=, a message in the body
            if not params.get("callbackId"):
                return 200, {"error_code": 100, "error_msg": "PARAM : callbackId is required"}
            if refused := refused_message(params.get("message")):
                return 200, {"error_code": 100, "error_msg": f"PARAM : {refused}"}
            return 200, {"success": True}
        if name == "subscribe":
            self.subscriptions.append({"url": params["url"], "time": 1600000000000})
            return 200, {"success": True}
        if name == "unsubscribe":
            self.subscriptions = [s for s in self.subscriptions if s["url"] != params.get("url")]
            return 200, {"success": True}
        if name == "subscriptions":
            return 200, {"subscriptions": list(self.subscriptions)}
        if name == "info":
            return 200, {"user_id": "user:404", "name": "Test group bot"}
        return 404, {"error_code": 3, "error_msg": "METHOD : Method does not exist"}

    def _sender_action(self, chat_id, params):
        """A state of the group in the chat: a documented ``sender_action``, with no message beside it."""
        action = params["sender_action"]
        if action not in SENDER_ACTIONS:
            return 200, {"error_code": 100, "error_msg": f"PARAM : Invalid sender_action {action!r}"}
        if "message" in params:
            return 200, {"error_code": 100, "error_msg": "PARAM : sender_action is sent without a message"}
        self.sender_actions.append({"chat_id": chat_id, "sender_action": action})
        return 200, {"success": True}
