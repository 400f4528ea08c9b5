"""A fake VK API on 127.0.0.1, for tests (no Odoo import).

``POST /method/<name>`` with form parameters, answered ``{"response": ...}``
or ``{"error": {"error_code", "error_msg"}}`` (HTTP 200, as VK does); upload
servers at ``/upload/photo`` and ``/upload/doc``; Bots Long Poll at ``/lp``.
``messages.send`` honours ``random_id``: a repeated id returns the first
message id and delivers nothing new (``sent`` lists what was delivered)::

    with FakeVK() as vk:
        connector = VkConnector({"token": vk.token, "api_base_url": vk.url, "vk_group_id": vk.group_id})
        vk.calls_of("messages.send")
"""

from __future__ import annotations

import functools
import itertools
import json

from .fake_loopback import FakeServer, load_json, names
from .fake_telegram import Upload, fixtures_dir

API_VERSION = "5.199"
#: keyboard limits, not in the schema: vk_api.keyboard (MAX_INLINE_LINES 6, MAX_BUTTONS_ON_LINE 5) and
#: dev.vk.com/ru/api/bots/development/keyboard (10 buttons in an inline keyboard, label 40, payload 255)
INLINE_ROWS, ROW_BUTTONS, INLINE_BUTTONS, LABEL_MAX, PAYLOAD_MAX = 6, 5, 10, 40, 255


@functools.cache
def schema():
    """The excerpt of VKCOM/vk-api-schema kept in ``fixtures/vk/schema`` (methods, parameters, errors)."""
    path = fixtures_dir() / "vk" / "schema" / "vk_api_schema_excerpt.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _invalid(value, spec):
    """Why ``value`` (a form string) breaks the schema's ``spec`` of a parameter, or ``""``."""
    kind, text = spec.get("type"), str(value)
    if kind == "integer":
        try:
            number = int(text)
        except ValueError:
            return "not an integer"
        if "minimum" in spec and number < spec["minimum"]:
            return f"under {spec['minimum']}"
        if "maximum" in spec and number > spec["maximum"]:
            return f"over {spec['maximum']}"
    elif kind == "boolean" and text not in ("0", "1", "true", "false"):
        return "not a boolean"
    elif kind == "string":
        if "maxLength" in spec and len(text) > spec["maxLength"]:
            return f"longer than {spec['maxLength']} characters"
        if "enum" in spec and text not in spec["enum"]:
            return f"not one of {spec['enum']}"
    return ""


def check_params(method, params):
    """VK's answer to parameters the schema refuses: error 100 (``api_error_param``), or ``None``."""
    spec = schema()["methods"].get(method)
    if spec is None:
        return None
    for param in spec["parameters"]:
        value = params.get(param["name"])
        if value is None or value == "":
            if param.get("required"):
                return 100, f"One of the parameters specified was missing or invalid: {param['name']} is undefined"
            continue
        why = _invalid(value, param)
        if why:
            return 100, f"One of the parameters specified was missing or invalid: {param['name']} {why}"
    return None


def check_keyboard(raw):
    """Error 911 (``Keyboard format is invalid``) for a keyboard VK refuses, or ``None``."""
    try:
        keyboard = json.loads(raw) if isinstance(raw, str) else raw
        rows = keyboard["buttons"]
        buttons = [button for row in rows for button in row]
    except (ValueError, KeyError, TypeError):
        return "not a keyboard object"
    if keyboard.get("inline") and (len(rows) > INLINE_ROWS or len(buttons) > INLINE_BUTTONS):
        return f"inline keyboards have at most {INLINE_ROWS} rows and {INLINE_BUTTONS} buttons"
    if any(len(row) > ROW_BUTTONS for row in rows):
        return f"at most {ROW_BUTTONS} buttons in a row"
    for button in buttons:
        action = button.get("action") or {}
        if action.get("type") not in ("text", "callback", "open_link", "location", "vkpay", "open_app"):
            return f"unknown action type {action.get('type')!r}"
        if len(action.get("label") or "") > LABEL_MAX or not action.get("label"):
            return f"a label is empty or longer than {LABEL_MAX}"
        if len(action.get("payload") or "") > PAYLOAD_MAX:
            return f"a payload is longer than {PAYLOAD_MAX}"
    return None


#: messages.setActivity and messages.markAsRead in vk-api-schema messages/methods.json (not in the excerpt)
TYPING_PARAMS = {
    "user_id": {"type": "integer"},
    "type": {"type": "string", "enum": ["audiomessage", "file", "photo", "typing", "video"]},
    "peer_id": {"type": "integer"},
    "group_id": {"type": "integer", "minimum": 0},
}
READ_PARAMS = {
    "peer_id": {"type": "integer"},
    "start_message_id": {"type": "integer", "minimum": 0},
    "group_id": {"type": "integer", "minimum": 0},
    "mark_conversation_as_read": {"type": "boolean"},
    "up_to_cmid": {"type": "integer", "minimum": 0},
}


def _typing_read_problem(params, spec):
    for name, rule in spec.items():
        value = params.get(name)
        if value not in (None, "") and (why := _invalid(value, rule)):
            return f"{name} {why}"
    if not params.get("peer_id") and not params.get("user_id"):
        return "peer_id is undefined"
    return ""


def fixture_names():
    return names("vk")


def load_fixture(name):
    return load_json("vk", name)


class FakeVK(FakeServer):
    name = "FakeVK"

    def __init__(self, token="vk1.a.TEST-TOKEN", group_id="203076503", confirmation_code="a1b2c3d4"):
        super().__init__()
        self.token, self.group_id, self.confirmation_code = token, group_id, confirmation_code
        self.sent = []  # delivered messages.send params
        self.activities = []  # accepted messages.setActivity params
        self.read_marks = []  # accepted messages.markAsRead params
        self.updates = []  # Bots Long Poll queue
        self.lp_failed = []  # scripted "failed" answers of a_check
        self.callback_servers = []
        self.callback_settings = {}
        self._ids = itertools.count(500)
        self._random_ids = {}
        self._ts = itertools.count(1)
        self.lp_ts = "1"

    load_fixture = staticmethod(load_fixture)

    def queue_error(self, method, code, message="error", times=1):
        """Answer the next ``times`` calls of ``method`` with VK error ``code``."""
        error = {"error": {"error_code": code, "error_msg": message, "request_params": []}}
        self._queue(method, (200, error), times)

    def method_name(self, http_method, path):
        if path.startswith("/method/"):
            return path[len("/method/") :]
        return path.strip("/").replace("/", ".")  # upload.photo, upload.doc, lp

    def route(self, name, path, params, headers):
        if path.startswith("/upload/"):
            return self._upload(name, params)
        if path == "/lp":
            return self._a_check(params)
        if params.get("access_token") != self.token:
            return 200, {"error": {"error_code": 5, "error_msg": "User authorization failed: invalid access_token"}}
        if params.get("v") != API_VERSION:
            return 200, {"error": {"error_code": 8, "error_msg": f"Invalid request: v is {params.get('v')!r}"}}
        handler = getattr(self, "_m_" + name.replace(".", "_"), None)
        if handler is None:
            return 200, {"error": {"error_code": 3, "error_msg": "Unknown method passed"}}
        refused = check_params(name, params)
        if refused:
            return 200, {"error": {"error_code": refused[0], "error_msg": refused[1]}}
        result = handler(params)
        if isinstance(result, tuple):  # (code, message): a VK error
            return 200, {"error": {"error_code": result[0], "error_msg": result[1]}}
        return 200, {"response": result}

    # -- methods --------------------------------------------------------------------
    def _m_messages_send(self, params):
        # random_id is required since API 5.90 (dev.vk.com messages.send); text or attachment must be there
        if not params.get("random_id") or not (params.get("message") or params.get("attachment")):
            return 100, "One of the parameters specified was missing or invalid: message or random_id is missing"
        if params.get("keyboard") and (why := check_keyboard(params["keyboard"])):
            return 911, f"Keyboard format is invalid: {why}"
        key = (str(params.get("peer_id")), str(params.get("random_id")))
        if key not in self._random_ids:  # VK ignores a repeated random_id
            self._random_ids[key] = next(self._ids)
            self.sent.append(params)
        return self._random_ids[key]

    def _m_messages_sendMessageEventAnswer(self, params):
        return 1

    # typing and read marks: VKCOM/vk-api-schema messages/methods.json (commit 0efe478, as the excerpt):
    # both take a group token; setActivity's type is an enum, ids are integers, group_id >= 0
    def _m_messages_setActivity(self, params):
        return self._typing_or_read(params, TYPING_PARAMS, self.activities)

    def _m_messages_markAsRead(self, params):
        return self._typing_or_read(params, READ_PARAMS, self.read_marks)

    @staticmethod
    def _typing_or_read(params, spec, accepted):
        if why := _typing_read_problem(params, spec):
            return 100, f"One of the parameters specified was missing or invalid: {why}"
        accepted.append(params)
        return 1

    def _m_groups_getById(self, params):
        return {"groups": [{"id": int(self.group_id), "name": "Test community", "screen_name": "club"}], "profiles": []}

    def _m_groups_getCallbackConfirmationCode(self, params):
        return {"code": self.confirmation_code}

    def _m_groups_getCallbackServers(self, params):
        return {"count": len(self.callback_servers), "items": list(self.callback_servers)}

    def _m_groups_addCallbackServer(self, params):
        server = {"id": len(self.callback_servers) + 1, "title": params.get("title"), "url": params.get("url")}
        server["secret_key"] = params.get("secret_key")
        self.callback_servers.append(server)
        return {"server_id": server["id"]}

    def _m_groups_editCallbackServer(self, params):
        for server in self.callback_servers:
            if str(server["id"]) == str(params.get("server_id")):
                server.update(url=params.get("url"), title=params.get("title"), secret_key=params.get("secret_key"))
        return 1

    def _m_groups_deleteCallbackServer(self, params):
        self.callback_servers = [s for s in self.callback_servers if str(s["id"]) != str(params.get("server_id"))]
        return 1

    def _m_groups_setCallbackSettings(self, params):
        self.callback_settings = dict(params)
        return 1

    def _m_groups_setLongPollSettings(self, params):
        return 1

    def _m_groups_getLongPollServer(self, params):
        return {"key": "lpkey", "server": f"{self.url}/lp", "ts": self.lp_ts}

    def _m_photos_getMessagesUploadServer(self, params):
        return {"upload_url": f"{self.url}/upload/photo", "album_id": -64, "group_id": int(self.group_id)}

    def _m_docs_getMessagesUploadServer(self, params):
        return {"upload_url": f"{self.url}/upload/doc"}

    def _m_photos_saveMessagesPhoto(self, params):
        return [{"id": next(self._ids), "owner_id": -int(self.group_id), "album_id": -64}]

    def _m_docs_save(self, params):
        return {
            "type": "doc",
            "doc": {"id": next(self._ids), "owner_id": -int(self.group_id), "title": params["title"]},
        }

    # -- upload servers and long poll ---------------------------------------------------
    def _upload(self, name, params):
        field = "photo" if name == "upload.photo" else "file"
        upload = params.get(field)
        if not isinstance(upload, Upload):
            return 200, {"error": "no file"}
        if field == "photo":
            return 200, {"server": 1, "photo": f'[{{"name": "{upload.filename}"}}]', "hash": "h"}
        return 200, {"file": f"doc-file-{upload.filename}"}

    def _a_check(self, params):
        if params.get("act") != "a_check" or params.get("key") != "lpkey":
            return 200, {"failed": 2}
        if self.lp_failed:
            return 200, self.lp_failed.pop(0)
        updates, self.updates = list(self.updates), []
        if updates:
            self.lp_ts = str(int(params.get("ts") or 0) + len(updates))
        return 200, {"ts": self.lp_ts, "updates": updates}
