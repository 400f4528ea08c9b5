"""A fake Viber REST bot API on 127.0.0.1, for tests (no Odoo import).

``POST /set_webhook``, ``/get_account_info``, ``/send_message`` with the
``X-Viber-Auth-Token`` header; answers ``{"status": 0, ...}`` (errors are HTTP
200 with another ``status``, as Viber does).  ``message_token`` values start
above 2^53.  Files for inbound media are served at ``/download/<name>``.

``send_message`` refuses what Viber documents as refused (status 3, badData):
sources in docs/channels/viber.md -- creators.viber.com/docs/bots-api/data-models/message
and .../resources/messaging/send-message (30 KB body, text <= 7000, sender.name <= 28,
tracking_data <= 4000, picture URL ending in .jpeg/.jpg/.png/.gif), developers.viber.com
FAQ (30kb JSON, keyboard up to 12 rows), .../tools/keyboards (ActionType values).
"""

from __future__ import annotations

import itertools
import posixpath
from urllib.parse import urlsplit

from .fake_meta import FakeAPI, load_fixture

__all__ = ["FakeViber", "load_fixture", "viber_error"]

FIRST_TOKEN = 5466358343372472277  # above 2^53, like Viber's
BODY_LIMIT = 30 * 1024
MESSAGE_TYPES = {"text", "picture", "video", "file", "location", "contact", "sticker", "rich_media", "url"}
ACTION_TYPES = {"reply", "open-url", "location-picker", "share-phone", "none"}
PICTURE_EXTENSIONS = {".jpeg", ".jpg", ".png", ".gif"}


def viber_error(status, message):
    return 200, {"status": status, "status_message": message}


class FakeViber(FakeAPI):
    def __init__(self, token="4453b6ac12345678-e02c5f12174805f9-9a652e6ea0e2f1c5"):
        super().__init__(token)
        self.webhook = {}
        self._tokens = itertools.count(FIRST_TOKEN)

    def authorized(self, headers, download):
        return download or headers.get("X-Viber-Auth-Token") == self.token

    def unauthorized(self):
        return viber_error(2, "invalidAuthToken")

    def route(self, method, path):
        name = path.strip("/").split("/")[0]
        if name == "download":
            return "download", None
        handler = getattr(self, "_m_" + name, None) if method == "POST" else None
        return name, handler

    def _m_set_webhook(self, params, path):
        self.webhook = dict(params)
        return 200, {"status": 0, "status_message": "ok", "event_types": params.get("event_types") or []}

    def _m_get_account_info(self, params, path):
        return 200, {
            "status": 0,
            "status_message": "ok",
            "id": "pa:75346594275468546724",
            "name": "Fake Shop",
            "uri": "fakeshop",
        }

    def handle(self, method, path, params, headers):
        size = int(headers.get("Content-Length") or 0)
        if size > BODY_LIMIT:  # "The maximum JSON for all API requests is 30kb"
            with self._lock:
                self.calls.append(("too_large", {"size": size}))
            return viber_error(3, f"badData: request of {size} bytes, over 30KB")
        return super().handle(method, path, params, headers)

    def _m_send_message(self, params, path):
        problem = _send_problem(params)
        if problem:
            return viber_error(3, f"badData: {problem}")
        token = next(self._tokens)
        return 200, {"status": 0, "status_message": "ok", "message_token": token, "chat_hostname": "SN-CHAT-01_"}


def _send_problem(params):
    """Why Viber would refuse this send_message body, or ``""``."""
    sender = params.get("sender") or {}
    kind = params.get("type")
    checks = [
        (not params.get("receiver") or not sender.get("name"), "receiver and sender.name are required"),
        (len(sender.get("name") or "") > 28, "sender.name longer than 28 characters"),
        (kind not in MESSAGE_TYPES, f"unknown type {kind!r}"),
        (len(str(params.get("tracking_data") or "")) > 4000, "tracking_data over 4000 characters"),
        (kind == "text" and not 0 < len(params.get("text") or "") <= 7000, "text: 1 to 7000 characters"),
        (kind in ("picture", "file", "video") and not params.get("media"), "media is required"),
        (kind == "picture" and _extension(params.get("media")) not in PICTURE_EXTENSIONS, "picture URL extension"),
        (kind == "picture" and len(params.get("text") or "") > 768, "picture text over 768 characters"),
        (kind == "file" and not (params.get("size") and params.get("file_name")), "file: size and file_name required"),
        (kind == "file" and len(params.get("file_name") or "") > 256, "file_name over 256 characters"),
        (kind == "file" and not _extension(params.get("media")), "file URL without extension"),
    ]
    problem = next((why for bad, why in checks if bad), "")
    return problem or _keyboard_problem(params.get("keyboard"))


def _keyboard_problem(keyboard):
    if keyboard is None:
        return ""
    buttons = keyboard.get("Buttons") if isinstance(keyboard, dict) else None
    if not isinstance(buttons, list) or not buttons:
        return "keyboard.Buttons is required"
    width = 0
    for button in buttons:
        if button.get("ActionType", "reply") not in ACTION_TYPES:
            return f"ActionType {button.get('ActionType')!r}"
        if not str(button.get("ActionBody") or "").strip():
            return "ActionBody is required"
        if not (1 <= button.get("Columns", 6) <= 6 and 1 <= button.get("Rows", 1) <= 2):
            return "Columns 1-6, Rows 1-2"
        width += button.get("Columns", 6) * button.get("Rows", 1)
    if width > 12 * 6:
        return "keyboard over 12 rows"
    return ""


def _extension(url):
    return posixpath.splitext(urlsplit(str(url or "")).path)[1].lower()
