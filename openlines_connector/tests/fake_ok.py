"""A fake OK (Odnoklassniki) bot API on 127.0.0.1, for tests (no Odoo import).

``/graph/me/subscribe``, ``/unsubscribe``, ``/subscriptions``, ``/info`` and
``/graph/me/messages/chat:ID``, all with ``?access_token=``.  Errors come as
OK sends them: HTTP 200 with ``{"error_code", "error_msg"}``.  Calls are named
after the last path part (``messages`` for a send).
"""

from __future__ import annotations

import itertools

from .fake_loopback import FakeServer, load_json, names


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
        if name == "messages":
            chat_id = path[len("/graph/me/messages/") :]
            if not chat_id.startswith("chat:") or (params.get("recipient") or {}).get("chat_id") != chat_id:
                return 200, {"error_code": 100, "error_msg": "PARAM : Invalid chat_id"}
            return 200, {"chat_id": chat_id, "message_id": f"mid:{chat_id[5:]}.{next(self._ids):x}"}
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
