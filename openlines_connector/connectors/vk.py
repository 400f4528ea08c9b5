"""VK (communities' messages) connector, built on ``vk_api``.

API calls go through :class:`vk_api.VkApi` (``api_version="5.199"``, and ``v``
passed explicitly on every call).  ``vk_api`` 11.10 posts every method to the
fixed address ``https://api.vk.ru/method/<name>`` without a timeout: the
connector hands it a :class:`requests.Session` subclass that rewrites that
prefix to ``{api_base_url}/method/`` and sets a timeout, so tests (and
proxies) can point it anywhere.  ``vk_api``'s own retry of error 6 and its
captcha prompt are switched off: the outbound queue decides when to retry.

Inbound: the Callback API (webhook; a ``confirmation`` request answered with
the community's confirmation string, every other request with a plain
``ok``) or Bots Long Poll (``poll``), which yields the same objects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import requests
from jconfig.memory import MemoryConfig
from vk_api import VkApi
from vk_api.exceptions import ApiError, ApiHttpError, VkApiError
from vk_api.keyboard import VkKeyboard

from .base import Connector, ConnectorError, InboundEvent, InboundFile, download_url, register
from .fetch import DeadlineSession
from .redact import scrub
from .telegram import split_text

_logger = logging.getLogger(__name__)

API_VERSION = "5.199"
LIBRARY_METHOD_URL = "https://api.vk.ru/method/"
CHAT_PEER_MIN = 2_000_000_000  # peer ids of conversations (group chats)
TEXT_LIMIT = 4096
MAX_DOWNLOAD = 200 * 1024 * 1024  # VK documents may be up to 200 MB
#: groups.addCallbackServer takes a title of at most 14 characters (vk-api-schema groups/methods.json)
CALLBACK_TITLE = "Odoo OpenLines"
SECRET_KEY_MAX = 50  # groups.addCallbackServer secret_key maxLength (same schema)
WEBHOOK_PATH = "/openlines/webhook/"
#: inline keyboards: at most 6 rows of at most 5 buttons (vk_api.keyboard MAX_INLINE_LINES, MAX_BUTTONS_ON_LINE)
#: and 10 buttons in all (dev.vk.com, bots keyboard); labels of 40 characters, payloads of 255
KEYBOARD_ROWS, KEYBOARD_ROW_BUTTONS, KEYBOARD_BUTTONS = 6, 5, 10
LABEL_MAX, PAYLOAD_MAX = 40, 255
#: what the Callback API server and Bots Long Poll are subscribed to (groups.setCallbackSettings and
#: groups.setLongPollSettings take one boolean per event: vk-api-schema groups/methods.json, 5.199)
EVENTS = (
    "message_new",
    "message_reply",
    "message_edit",
    "message_event",
    "message_allow",
    "message_deny",
    "message_typing_state",
    "message_read",
)
#: error code -> seconds to wait (6 too many requests/s, 9 flood control, 10 internal error, 1 unknown)
RETRY_CODES = {6: 2, 9: 60, 10: 30, 1: 30}
#: the client does not accept messages from the community: give up and mark the contact
#: (900 the client is on the community's blacklist, 901 no permission to write, 902 privacy settings)
BLOCKED_CODES = {900, 901, 902}
#: error code -> what the administrator must do (permanent; not the client's doing)
ADMIN_CODES = {
    5: "the community token is invalid or revoked: enter a new one",
    7: "the token lacks a permission (messages, manage): create a token with those rights",
    15: "access denied: check the community token's rights",
    912: "bot features are off: switch on 'Bot abilities' in the community's message settings",
}
RETRY_SECONDS = 30
CHATS_NOTE = "conversations (group chats) are not served"


class _VkSession(DeadlineSession):
    """A session that sends ``vk_api``'s fixed API address to ``base`` and never waits forever
    (a total deadline per call: :class:`.fetch.DeadlineSession`)."""

    def __init__(self, base, timeout):
        super().__init__()
        self.base, self.timeout = base, timeout

    def request(self, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith(LIBRARY_METHOD_URL):
            url = self.base + "/method/" + url[len(LIBRARY_METHOD_URL) :]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def _sid(value):
    return "" if value is None else str(value)


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def random_id(ref, index=0):
    """A stable positive int32 for ``messages.send``: the same outbound part always gets the same id."""
    digest = hashlib.sha256(f"openlines:{ref}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


# -- attachments ------------------------------------------------------------------
def _largest(images, url_key="url"):
    images = [i for i in images or [] if isinstance(i, dict) and i.get(url_key)]
    return max(images, key=lambda i: _int(i.get("width")) * _int(i.get("height")), default=None)


def _photo(photo):
    size = _largest(photo.get("sizes"))
    if not size:
        return None, ""
    return InboundFile(size["url"], f"photo_{photo.get('id', '')}.jpg", "image/jpeg", 0, "photo"), ""


def _doc(doc):
    ext = doc.get("ext") or ""
    name = doc.get("title") or f"document_{doc.get('id', '')}.{ext}".rstrip(".")
    if ext and not name.lower().endswith("." + ext.lower()):
        name += "." + ext
    if not doc.get("url"):
        return None, f"📎 {name}"
    return InboundFile(doc["url"], name, "application/octet-stream", _int(doc.get("size")), "document"), ""


def _voice(audio):
    url = audio.get("link_ogg") or audio.get("link_mp3")
    if not url:
        return None, "🎤 voice message"
    ext, mimetype = ("ogg", "audio/ogg") if audio.get("link_ogg") else ("mp3", "audio/mpeg")
    return InboundFile(url, f"voice_{audio.get('id', '')}.{ext}", mimetype, 0, "voice"), ""


def _sticker(sticker):
    image = _largest(sticker.get("images")) or _largest(sticker.get("images_with_background"))
    if not image:
        return None, "[sticker]"
    return InboundFile(image["url"], f"sticker_{sticker.get('sticker_id', '')}.png", "image/png", 0, "sticker"), ""


def _link(link):
    return None, " ".join(p for p in ("🔗", link.get("title"), link.get("url")) if p)


_ATTACHMENTS = {"photo": _photo, "doc": _doc, "audio_message": _voice, "sticker": _sticker, "link": _link}


def _attachments(message):
    """``(files, text lines)`` of a message's attachments."""
    files, lines = [], []
    for item in message.get("attachments") or []:
        kind = item.get("type") if isinstance(item, dict) else None
        handler = _ATTACHMENTS.get(kind)
        if handler is None:
            lines.append(f"[{kind or 'attachment'}]")
            continue
        file, line = handler(item.get(kind) or {})
        if file:
            files.append(file)
        if line:
            lines.append(line)
    return files, lines


def _geo_text(message):
    coords = (message.get("geo") or {}).get("coordinates") or {}
    lat, lon = coords.get("latitude"), coords.get("longitude")
    if lat is None or lon is None:
        return ""
    return f"📍 {lat}, {lon}\nhttps://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


# -- events -------------------------------------------------------------------------
def _message_of(obj):
    """5.103+ puts the message in ``object.message``; older versions put it flat in ``object``."""
    return obj["message"] if isinstance(obj.get("message"), dict) else obj


def _person(peer_id, user_id):
    return {"chat_id": _sid(peer_id), "user_id": _sid(user_id), "name": f"VK id{user_id}", "username": f"id{user_id}"}


def _message_event(message, kind):
    peer_id = _int(message.get("peer_id") or message.get("from_id"))
    person = _person(peer_id, message.get("from_id", peer_id))
    if peer_id >= CHAT_PEER_MIN or peer_id <= 0:
        return InboundEvent("ignore", note=CHATS_NOTE, **person)
    if message.get("action"):
        return InboundEvent("ignore", note=f"service message {message['action'].get('type')!r}", **person)
    files, lines = _attachments(message)
    text = "\n".join(p for p in (message.get("text") or "", *lines, _geo_text(message)) if p)
    if not text and not files:
        return InboundEvent("ignore", note="message without text or attachment", **person)
    local_id = message.get("conversation_message_id") or message.get("id")
    return InboundEvent(kind, text=text, files=files, remote_message_id=f"{peer_id}:{local_id}", **person)


def _reply_event(message):
    """The community's own message: from VK's web interface (an admin) it is shown as the operator's."""
    peer_id = _int(message.get("peer_id"))
    person = _person(peer_id, peer_id)
    if peer_id >= CHAT_PEER_MIN or peer_id <= 0:
        return InboundEvent("ignore", note=CHATS_NOTE, **person)
    if not message.get("admin_author_id"):
        return InboundEvent("ignore", note="community message sent through the API (by this connector)", **person)
    event = _message_event(message, "echo")
    event.remote_message_id = f"{peer_id}:{message.get('id')}"
    return event


def _button_event(obj):
    peer_id, user_id = _int(obj.get("peer_id")), obj.get("user_id")
    person = _person(peer_id, user_id)
    if peer_id >= CHAT_PEER_MIN or peer_id <= 0:
        return InboundEvent("ignore", note=CHATS_NOTE, **person)
    payload = obj.get("payload")
    if isinstance(payload, str) and payload.lstrip().startswith("{"):  # some clients send the payload as JSON text
        try:
            payload = json.loads(payload)
        except ValueError:
            pass
    if isinstance(payload, dict):
        values = list(payload.values())
        data = payload.get("cmd", values[0] if len(values) == 1 else None)
        payload = data if isinstance(data, str) else json.dumps(payload, ensure_ascii=False)
    callback_id = f"{obj.get('event_id', '')}|{user_id}|{peer_id}"
    return InboundEvent("button", text=_sid(payload), callback_id=callback_id, **person)


def _allow_event(obj, kind):
    user_id = obj.get("user_id")
    person = _person(user_id, user_id)
    if kind == "message_deny":
        return InboundEvent("blocked", **person)
    return InboundEvent("ignore", note="the client allowed messages from the community", **person)


def _typing_event(obj):
    """The client types to the community: ``message_typing_state``.

    vk-api-schema callback/objects.json ``callback_message_typing_state``: ``from_id`` (who types),
    ``to_id`` (the community, negative) and ``state``; dev.vk.com's community events show
    ``"state": "typing"``. VK sends no "stopped": Discuss drops the indicator by itself.
    """
    user_id = _int(obj.get("from_id"))
    if user_id <= 0 or user_id >= CHAT_PEER_MIN or _int(obj.get("to_id")) >= CHAT_PEER_MIN:
        return InboundEvent("ignore", note=f"typing state: {CHATS_NOTE}")
    return InboundEvent("typing", text=_sid(obj.get("state")) or "typing", **_person(user_id, user_id))


def _read_event(obj):
    """The client read the community's messages: ``message_read``.

    vk-api-schema callback/objects.json ``callback_message_read``: ``from_id`` (who read),
    ``peer_id``, ``read_message_id`` (the last message read: the id ``messages.send`` returned)
    and ``conversation_message_id``. Only the client's own reading of their private chat counts.
    """
    peer_id, from_id = _int(obj.get("peer_id")), _int(obj.get("from_id"))
    if peer_id <= 0 or peer_id >= CHAT_PEER_MIN or from_id != peer_id:
        return InboundEvent("ignore", note="read mark of no client's private chat")
    message_id = _sid(obj.get("read_message_id"))
    return InboundEvent("status", note="read", remote_message_id=message_id, **_person(peer_id, from_id))


def _parse_one(kind, obj):
    if kind == "message_new":
        return _message_event(_message_of(obj), "message")
    if kind == "message_edit":
        return _message_event(_message_of(obj), "edit")
    if kind == "message_reply":
        return _reply_event(_message_of(obj))
    if kind == "message_event":
        return _button_event(obj)
    if kind in ("message_allow", "message_deny"):
        return _allow_event(obj, kind)
    if kind == "message_typing_state":
        return _typing_event(obj)
    if kind == "message_read":
        return _read_event(obj)
    return InboundEvent("ignore", note=f"VK event {kind!r} is not served")


def _keyboard(buttons):
    """An inline keyboard within VK's limits, or ``None`` when the buttons do not fit (sent as text then)."""
    if not buttons or len(buttons) > KEYBOARD_BUTTONS:
        return None
    if any(len(json.dumps({"cmd": str(data)}, ensure_ascii=False)) > PAYLOAD_MAX for _label, data in buttons):
        return None
    per_row = 1 if len(buttons) <= KEYBOARD_ROWS else 2
    keyboard = VkKeyboard(inline=True)
    for i, (label, data) in enumerate(buttons):
        if i and not i % per_row:
            keyboard.add_line()
        keyboard.add_callback_button(str(label)[:LABEL_MAX], payload={"cmd": str(data)})
    return keyboard.get_keyboard()


def _buttons_as_text(text, buttons):
    """Choices that do not fit in a keyboard are offered as lines of text."""
    return "\n".join([text or "", *(f"• {label}" for label, _data in buttons)]).strip()


@register
class VkConnector(Connector):
    """VK community messages: Callback API or Bots Long Poll in, ``messages.send`` out."""

    channel_type = "vk"
    default_api_base_url = "https://api.vk.ru"

    def __init__(self, config):
        super().__init__(config)
        self.group_id = str(self.config.get("vk_group_id") or "").strip().lstrip("-")
        self.confirmation_code = self.config.get("vk_confirmation_code") or ""
        self._session = None

    # -- plumbing ---------------------------------------------------------------
    @property
    def session(self):
        if self._session is None:
            self._session = _VkSession(self.api_base_url, self.timeout)
        return self._session

    def _vk(self):
        vk = VkApi(token=self.token, api_version=API_VERSION, session=self.session, config=MemoryConfig)
        vk.RPS_DELAY = 0  # community tokens allow ~20 requests/s; error 6 is retried by the queue
        vk.error_handlers = {}  # no sleeping retry of error 6, no interactive captcha
        return vk

    def call(self, method, **values):
        """Call API ``method`` with version 5.199; raise :class:`ConnectorError` on failure."""
        values = {k: v for k, v in values.items() if v is not None}
        values["v"] = API_VERSION
        try:
            return self._vk().method(method, values)
        except ApiError as exc:
            raise self._api_error(method, exc) from None
        except ApiHttpError as exc:
            status = exc.response.status_code
            retry = RETRY_SECONDS if status >= 500 or status == 429 else None
            raise ConnectorError(f"VK {method}: HTTP {status}", retry_after=retry, code=status) from None
        except (requests.RequestException, ValueError) as exc:
            text = scrub(exc, self.token, self.secret)
            raise ConnectorError(f"VK unreachable ({method}): {text}", retry_after=RETRY_SECONDS) from None
        except VkApiError as exc:
            text = scrub(exc, self.token, self.secret)
            raise ConnectorError(f"VK {method}: {text}", retry_after=RETRY_SECONDS) from None

    def _api_error(self, method, exc):
        code, text = exc.code, scrub(exc.error.get("error_msg") or "", self.token, self.secret)
        message = f"VK error {code} in {method}: {text}"
        if code in ADMIN_CODES:
            message = f"{message} ({ADMIN_CODES[code]})"
        if code in RETRY_CODES:
            return ConnectorError(message, retry_after=RETRY_CODES[code], code=code)
        return ConnectorError(message, code=code, blocked=code in BLOCKED_CODES)

    def _group_id(self):
        if not self.group_id:
            raise ConnectorError("Enter the VK community ID on the channel first")
        return self.group_id

    # -- inbound ------------------------------------------------------------------
    def verify(self, headers, body, query):
        try:
            payload = json.loads(body)
        except (ValueError, TypeError):  # too deep a body raises on: the webhook's guard refuses it (403)
            return False
        if not isinstance(payload, dict):
            return False
        if self.group_id and _sid(payload.get("group_id")) != self.group_id:
            return False
        secret = payload.get("secret")
        if not self.secret:
            # no secret set yet: only the confirmation request (whose answer is no credential) is accepted
            return payload.get("type") == "confirmation" and secret is None and bool(self.group_id)
        if not isinstance(secret, str):  # once a secret is set, VK sends it with every request, confirmation too
            return False
        return hmac.compare_digest(secret.encode(), self.secret.encode())

    def dedup_key(self, payload):
        kind = payload["type"]
        if not isinstance(kind, str):
            raise ValueError("VK event without a type")
        if payload.get("event_id"):
            return _sid(payload["event_id"])
        canonical = json.dumps([kind, payload.get("object")], sort_keys=True, ensure_ascii=False)
        return "h:" + hashlib.sha1(canonical.encode()).hexdigest()

    def split(self, payload):
        if payload["type"] == "confirmation":
            return []
        return [(self.dedup_key(payload), payload)]

    def webhook_response(self, payload):
        if payload.get("type") == "confirmation":
            return 200, self.confirmation_code or self._fetch_confirmation_code()
        return 200, "ok"

    def _fetch_confirmation_code(self):
        """The channel has no confirmation string yet: ask VK for it (needs the token)."""
        try:
            return _sid(self.call("groups.getCallbackConfirmationCode", group_id=self._group_id()).get("code"))
        except ConnectorError as exc:
            _logger.warning("VK: cannot fetch the confirmation string: %s", exc.message)
            return ""

    def parse(self, payload):
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return [InboundEvent("ignore", note="not a VK event")]
        obj = payload.get("object")
        if not isinstance(obj, dict):
            return [InboundEvent("ignore", note=f"VK event {payload['type']!r} without an object")]
        return [_parse_one(payload["type"], obj)]

    def download(self, file):
        return download_url(self.session.get, file, MAX_DOWNLOAD, RETRY_SECONDS)

    def acknowledge_button(self, event):
        event_id, _sep, rest = (event.callback_id or "").partition("|")
        user_id, _sep, peer_id = rest.partition("|")
        if not event_id:
            return
        try:
            self.call("messages.sendMessageEventAnswer", event_id=event_id, user_id=user_id, peer_id=peer_id)
        except ConnectorError as exc:
            _logger.warning("VK: sendMessageEventAnswer failed: %s", exc.message)

    # -- outbound -------------------------------------------------------------------
    def _upload(self, peer_id, file):
        """Upload one file for a message; return its ``attachment`` string."""
        is_photo = (file.mimetype or "").startswith("image/") and not file.mimetype.endswith(("gif", "svg+xml"))
        kind = "photos" if is_photo else "docs"
        server = self.call(f"{kind}.getMessagesUploadServer", peer_id=peer_id, type=None if is_photo else "doc")
        field = "photo" if is_photo else "file"
        try:
            response = self.session.post(server["upload_url"], files={field: (file.name or "file", file.data)})
            uploaded = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ConnectorError(f"VK upload of {file.name} failed: {exc}", retry_after=RETRY_SECONDS) from None
        if uploaded.get("error"):
            raise ConnectorError(f"VK upload of {file.name} failed: {uploaded['error']}")
        if is_photo:
            saved = self.call("photos.saveMessagesPhoto", **uploaded)[0]
            return f"photo{saved['owner_id']}_{saved['id']}"
        saved = self.call("docs.save", file=uploaded.get("file"), title=file.name)
        doc = saved.get(saved.get("type") or "doc") or saved.get("doc") or {}
        return f"doc{doc['owner_id']}_{doc['id']}"

    def send(self, message):
        peer_id = _int(message.chat_id)
        keyboard = _keyboard(message.buttons)
        text = message.text or ""
        if message.buttons and keyboard is None:
            text = _buttons_as_text(text, message.buttons)
        chunks = split_text(text, TEXT_LIMIT)
        sent = []
        try:
            attachments = ",".join(self._upload(peer_id, f) for f in message.files)
            if not chunks and attachments:
                chunks = [""]
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                result = self.call(
                    "messages.send",
                    peer_id=peer_id,
                    message=chunk or None,
                    random_id=random_id(message.ref, i),
                    attachment=(attachments or None) if last else None,
                    keyboard=keyboard if last else None,
                )
                sent.append(f"{peer_id}:{result}")
        except ConnectorError as exc:
            exc.sent_ids = list(sent)
            raise
        return sent

    # -- typing and read marks ------------------------------------------------------------
    # vk-api-schema messages/methods.json: messages.setActivity (type "typing", peer_id, group_id;
    # a group token may call it) and messages.markAsRead (peer_id, group_id, mark_conversation_as_read).
    typing_marks = read_marks = True
    #: the client's typing comes in (``message_typing_state``): their message ends it
    client_typing = True

    def send_typing(self, chat_id, typing=True, reply_to=""):
        if not typing:
            return False  # VK has no "stop": the indicator ends by itself, or with the answer
        return self.call("messages.setActivity", peer_id=_int(chat_id), type="typing", group_id=self._group_id())

    def mark_read(self, chat_id, message_id=""):
        # the client's whole conversation: what the operator opened is all of it
        return self.call(
            "messages.markAsRead", peer_id=_int(chat_id), group_id=self._group_id(), mark_conversation_as_read=1
        )

    # -- account ------------------------------------------------------------------------
    def _our_servers(self):
        """Our Callback API servers: by title, or by an address of this addon's webhook route."""
        servers = self.call("groups.getCallbackServers", group_id=self._group_id()).get("items") or []
        return [s for s in servers if s.get("title") == CALLBACK_TITLE or WEBHOOK_PATH in (s.get("url") or "")]

    def set_webhook(self, url, secret):
        group_id = self._group_id()
        if len(secret or "") > SECRET_KEY_MAX:
            raise ConnectorError(f"VK accepts a secret key of at most {SECRET_KEY_MAX} characters")
        servers = self._our_servers()
        values = {"group_id": group_id, "url": url, "title": CALLBACK_TITLE, "secret_key": secret}
        if servers:
            server_id = servers[0]["id"]
            self.call("groups.editCallbackServer", server_id=server_id, **values)
        else:
            server_id = self.call("groups.addCallbackServer", **values)["server_id"]
        flags = dict.fromkeys(EVENTS, 1)
        self.call(
            "groups.setCallbackSettings", group_id=group_id, server_id=server_id, api_version=API_VERSION, **flags
        )
        return True

    def delete_webhook(self):
        for server in self._our_servers():
            self.call("groups.deleteCallbackServer", group_id=self._group_id(), server_id=server["id"])
        return True

    def test(self):
        result = self.call("groups.getById", group_id=self._group_id())
        groups = result.get("groups") if isinstance(result, dict) else result
        group = (groups or [{}])[0]
        return f"{group.get('name', '')} (club{group.get('id', self.group_id)})"

    # -- Bots Long Poll ---------------------------------------------------------------------
    def _long_poll_server(self, ts=None):
        group_id = self._group_id()
        if ts is None:  # first poll of this channel: switch Bots Long Poll on with our events
            flags = dict.fromkeys(EVENTS, 1)
            self.call("groups.setLongPollSettings", group_id=group_id, enabled=1, api_version=API_VERSION, **flags)
        server = self.call("groups.getLongPollServer", group_id=group_id)
        return server["server"], server["key"], _sid(ts or server["ts"])

    def _check(self, server, key, ts):
        try:
            response = self.session.get(server, params={"act": "a_check", "key": key, "ts": ts, "wait": 0})
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ConnectorError(f"VK long poll unreachable: {exc}", retry_after=RETRY_SECONDS) from None

    def poll(self, offset):
        """Bots Long Poll; ``offset`` is ``"server|key|ts"``."""
        parts = (offset or "").split("|")
        server, key, ts = parts if len(parts) == 3 else self._long_poll_server()
        for _attempt in range(2):
            answer = self._check(server, key, ts)
            failed = answer.get("failed")
            if not failed:
                updates = [u for u in answer.get("updates") or [] if isinstance(u, dict)]
                return updates, f"{server}|{key}|{answer.get('ts', ts)}"
            if failed == 1:  # history lost: go on from the new ts
                ts = _sid(answer.get("ts", ts))
            else:  # 2 key expired, 3 information lost: new key (and ts for 3)
                server, key, ts = self._long_poll_server(ts if failed == 2 else "")
        raise ConnectorError("VK long poll keeps failing", retry_after=RETRY_SECONDS)
