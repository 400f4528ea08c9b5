"""A fake Viber REST bot API on 127.0.0.1, for tests (no Odoo import).

``POST /set_webhook``, ``/get_account_info``, ``/send_message`` with the
``X-Viber-Auth-Token`` header; answers ``{"status": 0, ...}`` (errors are HTTP
200 with another ``status``, as Viber does).  ``message_token`` values start
above 2^53.  Files for inbound media are served at ``/download/<name>``.
"""

from __future__ import annotations

import itertools

from .fake_meta import FakeAPI, load_fixture

__all__ = ["FakeViber", "load_fixture", "viber_error"]

FIRST_TOKEN = 5466358343372472277  # above 2^53, like Viber's


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

    def _m_send_message(self, params, path):
        sender = params.get("sender") or {}
        if not params.get("receiver") or not sender.get("name"):
            return viber_error(3, "badData: receiver and sender.name are required")
        if len(sender["name"]) > 28:
            return viber_error(3, "badData: sender.name longer than 28 characters")
        kind = params.get("type")
        if kind == "text" and not params.get("text"):
            return viber_error(3, "badData: text is required")
        if kind in ("picture", "file", "video") and not params.get("media"):
            return viber_error(3, "badData: media is required")
        token = next(self._tokens)
        return 200, {"status": 0, "status_message": "ok", "message_token": token, "chat_hostname": "SN-CHAT-01_"}
