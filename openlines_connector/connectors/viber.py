"""Viber REST bot API connector (plain ``requests``).

Every call is a JSON POST to ``https://chatapi.viber.com/pa/<method>`` with the
``X-Viber-Auth-Token`` header; answers carry ``status`` (0 = ok).  Callbacks
are signed: ``X-Viber-Content-Signature`` = hex HMAC-SHA256 of the raw body
keyed by the auth token.  ``message_token`` values exceed 2^53: Python's
``json`` keeps them exact; they are stored as strings.

Viber takes pictures and files by public URL only: an :class:`OutboundFile`
must carry a ``url`` whose last path segment ends in the file's extension
(the ORM publishes the attachment with an access token).  A request body may
be at most 30 KB: bodies are sent as UTF-8 (not ``\\u`` escapes) and texts
cut so that each body fits.

Buttons are a keyboard of ``ActionType: reply`` buttons; Viber sends a press
back as an ordinary ``message`` whose text is the button's ``ActionBody``.  To
tell a press from typed text, each message that carries a keyboard also
carries ``tracking_data`` listing the buttons' data, which Viber returns with
the client's reply: a text equal to one of them is a ``button`` event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import mimetypes
import posixpath
from urllib.parse import urlsplit

import requests

from .base import Connector, ConnectorError, InboundEvent, InboundFile, download_url, register
from .fetch import api_request
from .meta import header

_logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Viber-Content-Signature"
AUTH_HEADER = "X-Viber-Auth-Token"
EVENT_TYPES = ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"]
TEXT_LIMIT = 7000
BODY_LIMIT = 30 * 1024  # bytes of one request ("Maximum message size is 30KB")
TRACKING_LIMIT = 4000
CAPTION_LIMIT = 768
PICTURE_LIMIT = 1024 * 1024  # a bigger picture goes as a file
FILE_NAME_LIMIT = 256
BUTTON_TEXT_LIMIT = 250
KEYBOARD_MAX = 12  # "up to 12 rows in portrait mode" (developers FAQ); one button a row
#: tracking_data of a message with a keyboard: this prefix, then JSON {"ref", "buttons": [data]}
TRACKING_PREFIX = "ol1:"
SENDER_NAME_LIMIT = 28
MAX_DOWNLOAD = 50 * 1024 * 1024
RETRY_SECONDS = 60
PICTURE_TYPES = {"image/jpeg", "image/png", "image/gif"}
BLOCKED_STATUSES = {5: "receiver not registered", 6: "receiver not subscribed"}
#: statuses about *our* account, not the client: permanent, and the administrator must act
ACCOUNT_STATUSES = {
    2: "Enter a valid authentication token on the channel.",
    7: "The bot account is blocked by Viber.",
    8: "The bot account was not found (suspended?).",
    9: "The bot account is suspended.",
    10: "The bot has no webhook: press Connect on the channel.",
}
STATUS_EVENTS = {"delivered": "delivered", "seen": "read", "failed": "failed"}

_MEDIA = {  # message type -> InboundFile kind, default name, mimetype
    "picture": ("photo", "picture_{}.jpg", "image/jpeg"),
    "video": ("video", "video_{}.mp4", "video/mp4"),
    "file": ("document", "file_{}", "application/octet-stream"),
    "sticker": ("sticker", "sticker_{}.png", "image/png"),
}


def _message_text(msg):
    kind = msg.get("type")
    if kind == "location":
        loc = msg.get("location") or {}
        lat, lon = loc.get("lat"), loc.get("lon")
        return f"📍 Location: {lat}, {lon}\nhttps://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
    if kind == "contact":
        contact = msg.get("contact") or {}
        return "👤 Contact: " + ", ".join(p for p in (contact.get("name"), contact.get("phone_number")) if p)
    if kind == "url":
        return msg.get("media") or msg.get("text") or ""
    return msg.get("text") or ""


def _message_files(msg, token):
    kind = msg.get("type")
    if kind not in _MEDIA or not msg.get("media"):
        return []
    file_kind, name, mimetype = _MEDIA[kind]
    return [
        InboundFile(msg["media"], msg.get("file_name") or name.format(token), mimetype, msg.get("size") or 0, file_kind)
    ]


PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif")


def _encode(body):
    """The request body as Viber should get it: UTF-8 JSON (``requests``' ``json=`` escapes every non-ASCII)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _fit(body, split_text):
    """``body``, or several bodies whose texts were cut so that each stays within 30 KB of UTF-8."""
    size = len(_encode(body))
    if size <= BODY_LIMIT or body.get("type") != "text":
        return [body]
    text = body["text"]
    room = BODY_LIMIT - (size - len(_encode(text)))  # bytes left for the text itself
    chars = max(1, len(text) * room // size - 16)
    out = []
    for chunk in split_text(text, chars):
        out += _fit({**body, "text": chunk}, split_text)
    return out


def _tracking(ref, buttons):
    """tracking_data of a message with a keyboard: which texts are button presses (Viber returns it)."""
    value = TRACKING_PREFIX + json.dumps({"ref": str(ref or ""), "buttons": [str(d) for _l, d in buttons]})
    if len(value) > TRACKING_LIMIT:
        raise ConnectorError("Viber: the buttons' data is over the 4,000 characters tracking_data may hold.", code=3)
    return value


def _pressed(msg):
    """The data of the button a ``message`` answers, or None when the client typed it."""
    tracking = msg.get("tracking_data")
    if msg.get("type") != "text" or not isinstance(tracking, str) or not tracking.startswith(TRACKING_PREFIX):
        return None
    try:
        buttons = json.loads(tracking[len(TRACKING_PREFIX) :]).get("buttons") or []
    except (ValueError, AttributeError):
        return None
    text = msg.get("text")
    return text if isinstance(text, str) and text in buttons else None


def _check_url(file, url, extensions=None):
    """Viber fetches media by URL and wants the file's extension at the end of its path."""
    ext = posixpath.splitext(urlsplit(url).path)[1].lower()
    wanted = extensions or tuple(
        e for e in (posixpath.splitext(file.name or "")[1].lower(), mimetypes.guess_extension(file.mimetype or "")) if e
    )
    if not ext or (wanted and ext not in wanted):
        raise ConnectorError(
            f"{file.name}: Viber needs the file's address to end in its extension ({', '.join(wanted) or '?'}).",
            code=3,
        )


@register
class ViberConnector(Connector):
    """Viber bot (public account): webhook in, ``send_message`` out."""

    channel_type = "viber"
    default_api_base_url = "https://chatapi.viber.com/pa"

    # -- plumbing ---------------------------------------------------------------
    def _call(self, method, body):
        payload = _encode(body)
        if len(payload) > BODY_LIMIT:
            raise ConnectorError(f"Viber refuses a request over 30 KB ({len(payload)} bytes).", code=3)
        headers = {AUTH_HEADER: self.token, "Content-Type": "application/json; charset=utf-8"}
        url = f"{self.api_base_url}/{method}"
        try:
            response = api_request("POST", url, data=payload, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ConnectorError(f"Viber unreachable: {type(exc).__name__}", retry_after=RETRY_SECONDS) from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 500 or response.status_code == 429:
            raise ConnectorError(f"Viber error: HTTP {response.status_code}", retry_after=RETRY_SECONDS)
        if not isinstance(data, dict) or response.status_code >= 400:
            raise ConnectorError(f"Viber error: HTTP {response.status_code}", code=response.status_code)
        status = data.get("status")
        if status == 0:
            return data
        text = f"Viber error {status}: {data.get('status_message') or 'unknown'}"
        if status in BLOCKED_STATUSES:
            raise ConnectorError(f"{text} ({BLOCKED_STATUSES[status]})", code=status, blocked=True)
        if status == 12:
            raise ConnectorError(text, retry_after=RETRY_SECONDS, code=status)
        if status in ACCOUNT_STATUSES:
            text += ". " + ACCOUNT_STATUSES[status]
        raise ConnectorError(text, code=status)

    @property
    def sender(self):
        name = (self.config.get("sender_name") or self.config.get("line_name") or "Support").strip()
        return {"name": name[:SENDER_NAME_LIMIT]}

    # -- inbound ------------------------------------------------------------------
    def verify(self, headers, body, query):
        value = header(headers, SIGNATURE_HEADER)
        if not self.token or not value or not isinstance(body, bytes | bytearray):
            return False
        expected = hmac.new(self.token.encode(), bytes(body), hashlib.sha256).hexdigest()
        return hmac.compare_digest(str(value).strip().lower().encode(), expected.encode())

    def dedup_key(self, payload):
        if not isinstance(payload, dict) or not payload.get("event"):
            raise ValueError("Viber: callback without an event")
        token = payload.get("message_token")
        if token is None or isinstance(token, bool):
            raise ValueError("Viber: callback without a message_token")
        event = payload["event"]
        # delivered/seen/failed repeat the token of our own message: one row per event kind
        return str(token) if event == "message" else f"{token}:{event}"

    def split(self, payload):
        if isinstance(payload, dict) and payload.get("event") == "webhook":
            return []  # the check Viber makes after set_webhook: answer 200, store nothing
        return [(self.dedup_key(payload), payload)]

    def parse(self, payload):
        if not isinstance(payload, dict):
            return [InboundEvent("ignore", note="not a Viber callback")]
        event = payload.get("event")
        user = payload.get("sender") or payload.get("user") or {}
        uid = str(user.get("id") or payload.get("user_id") or "")
        person = {"chat_id": uid, "user_id": uid, "name": user.get("name") or "", "lang": user.get("language") or ""}
        if event == "message":
            return [self._message_event(payload, person)]
        if event == "unsubscribed":
            return [InboundEvent("blocked", **person)]
        if event in STATUS_EVENTS:
            note = STATUS_EVENTS[event]
            if event == "failed":
                note += f": {payload.get('desc') or 'unknown reason'}"
            return [InboundEvent("status", remote_message_id=str(payload.get("message_token")), note=note, **person)]
        return [InboundEvent("ignore", note=f"Viber event {event!r}", **person)]

    def _message_event(self, payload, person):
        msg = payload.get("message")
        if not isinstance(msg, dict):
            return InboundEvent("ignore", note="Viber message event without a message", **person)
        token = str(payload.get("message_token"))
        pressed = _pressed(msg)
        if pressed is not None:
            return InboundEvent("button", text=pressed, **person)
        files, text = _message_files(msg, token[-8:]), _message_text(msg)
        if not text and not files:
            return InboundEvent("ignore", note=f"Viber message of type {msg.get('type')!r} without content", **person)
        remote = f"{person['chat_id']}:{token}"
        return InboundEvent("message", text=text, files=files, remote_message_id=remote, **person)

    def download(self, file):
        return download_url(None, file, MAX_DOWNLOAD, RETRY_SECONDS)

    # -- outbound -----------------------------------------------------------------
    @staticmethod
    def _keyboard(buttons):
        if len(buttons) > KEYBOARD_MAX:
            raise ConnectorError(f"Viber shows at most {KEYBOARD_MAX} buttons in one keyboard.", code=3)
        return {
            "Type": "keyboard",
            "DefaultHeight": False,
            "Buttons": [
                {
                    "ActionType": "reply",
                    "ActionBody": str(data),
                    "Text": str(label)[:BUTTON_TEXT_LIMIT],
                    "Columns": 6,
                    "Rows": 1,
                }
                for label, data in buttons
            ],
        }

    def _file_content(self, file, caption):
        url = getattr(file, "url", "")
        if not url:
            raise ConnectorError(f"{file.name}: Viber takes files by public URL only, and this file has none.")
        mimetype, size = (file.mimetype or "").lower(), len(file.data or b"")
        if mimetype in PICTURE_TYPES and size <= PICTURE_LIMIT:
            _check_url(file, url, PICTURE_EXTENSIONS)
            return {"type": "picture", "media": url, "text": caption[:CAPTION_LIMIT]}
        if size > MAX_DOWNLOAD:
            raise ConnectorError(f"{file.name}: Viber sends files of at most 50 MB ({size} bytes).", code=3)
        _check_url(file, url)
        name = file.name or "file"
        return {"type": "file", "media": url, "size": size, "file_name": name[-FILE_NAME_LIMIT:]}

    def send(self, message):
        from .telegram import split_text  # noqa: PLC0415 - shared splitter

        text, files = message.text or "", list(message.files)
        one_picture = (
            len(files) == 1
            and (files[0].mimetype or "").lower() in PICTURE_TYPES
            and len(files[0].data or b"") <= PICTURE_LIMIT
        )
        caption = text if one_picture and text.strip() and len(text) <= CAPTION_LIMIT else ""  # only pictures take text
        contents = [] if caption else [{"type": "text", "text": c} for c in split_text(text, TEXT_LIMIT)]
        contents += [self._file_content(f, caption) for f in files]
        if message.buttons and not contents:
            contents = [{"type": "text", "text": "👇"}]
        extra = {"tracking_data": str(message.ref)} if message.ref else {}
        if message.buttons:
            keyboard = self._keyboard(message.buttons)
            extra = {"tracking_data": _tracking(message.ref, message.buttons), "keyboard": keyboard}
        bodies = []
        for content in contents:
            body = {"receiver": message.chat_id, "sender": self.sender, **content, **extra}
            bodies += _fit(body, split_text)
        sent = []
        try:
            for body in bodies:
                answer = self._call("send_message", body)
                sent.append(f"{message.chat_id}:{answer.get('message_token', '')}")
        except ConnectorError as exc:
            exc.sent_ids = list(sent)
            raise
        return sent

    # -- account --------------------------------------------------------------------
    def set_webhook(self, url, secret):
        """Viber checks the address at once with a ``webhook`` callback (answered 200)."""
        self._call("set_webhook", {"url": url, "event_types": EVENT_TYPES, "send_name": True, "send_photo": False})
        return True

    def delete_webhook(self):
        self._call("set_webhook", {"url": ""})
        return True

    def test(self):
        info = self._call("get_account_info", {})
        return f"{info.get('name') or ''} ({info.get('uri') or info.get('id') or ''})"
