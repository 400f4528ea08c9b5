"""Viber REST bot API connector (plain ``requests``).

Every call is a JSON POST to ``https://chatapi.viber.com/pa/<method>`` with the
``X-Viber-Auth-Token`` header; answers carry ``status`` (0 = ok).  Callbacks
are signed: ``X-Viber-Content-Signature`` = hex HMAC-SHA256 of the raw body
keyed by the auth token.  ``message_token`` values exceed 2^53: Python's
``json`` keeps them exact; they are stored as strings.

Viber takes pictures and files by public URL only: an :class:`OutboundFile`
must carry a ``url`` (the ORM publishes the attachment with an access token).
"""

from __future__ import annotations

import hashlib
import hmac
import logging

import requests

from .base import Connector, ConnectorError, FileTooLarge, InboundEvent, InboundFile, register
from .meta import header

_logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Viber-Content-Signature"
AUTH_HEADER = "X-Viber-Auth-Token"
EVENT_TYPES = ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"]
TEXT_LIMIT = 7000
SENDER_NAME_LIMIT = 28
MAX_DOWNLOAD = 50 * 1024 * 1024
RETRY_SECONDS = 60
PICTURE_TYPES = {"image/jpeg", "image/png", "image/gif"}
BLOCKED_STATUSES = {5: "receiver not registered", 6: "receiver not subscribed", 7: "cannot send to the receiver"}
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


@register
class ViberConnector(Connector):
    """Viber bot (public account): webhook in, ``send_message`` out."""

    channel_type = "viber"
    default_api_base_url = "https://chatapi.viber.com/pa"

    # -- plumbing ---------------------------------------------------------------
    def _call(self, method, body):
        try:
            response = requests.post(
                f"{self.api_base_url}/{method}", json=body, headers={AUTH_HEADER: self.token}, timeout=self.timeout
            )
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
        if status == 2:
            text += ". Enter a valid authentication token on the channel."
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
        files, text = _message_files(msg, token[-8:]), _message_text(msg)
        if not text and not files:
            return InboundEvent("ignore", note=f"Viber message of type {msg.get('type')!r} without content", **person)
        remote = f"{person['chat_id']}:{token}"
        return InboundEvent("message", text=text, files=files, remote_message_id=remote, **person)

    def download(self, file):
        if (file.size or 0) > MAX_DOWNLOAD:
            raise FileTooLarge(f"{file.name}: {file.size} bytes, over the 50 MB limit")
        try:
            response = requests.get(file.ref, timeout=max(self.timeout, 60))
        except requests.RequestException as exc:
            raise ConnectorError(
                f"{file.name}: download failed ({type(exc).__name__})", retry_after=RETRY_SECONDS
            ) from None
        if response.status_code >= 400:
            retry = RETRY_SECONDS if response.status_code >= 500 else None
            raise ConnectorError(f"{file.name}: download failed (HTTP {response.status_code})", retry_after=retry)
        return response.content

    # -- outbound -----------------------------------------------------------------
    @staticmethod
    def _keyboard(buttons):
        return {
            "Type": "keyboard",
            "DefaultHeight": False,
            "Buttons": [
                {"ActionType": "reply", "ActionBody": str(data), "Text": str(label), "Columns": 6, "Rows": 1}
                for label, data in buttons
            ],
        }

    def _file_content(self, file, caption):
        url = getattr(file, "url", "")
        if not url:
            raise ConnectorError(f"{file.name}: Viber takes files by public URL only, and this file has none.")
        if (file.mimetype or "").lower() in PICTURE_TYPES:
            return {"type": "picture", "media": url, "text": caption[:768]}
        return {"type": "file", "media": url, "size": len(file.data or b""), "file_name": (file.name or "file")[:256]}

    def send(self, message):
        from .telegram import split_text  # noqa: PLC0415 - shared splitter

        text, files = message.text or "", list(message.files)
        one_picture = len(files) == 1 and (files[0].mimetype or "").lower() in PICTURE_TYPES
        caption = text if one_picture and text.strip() and len(text) <= 768 else ""  # only pictures take text
        contents = [] if caption else [{"type": "text", "text": c} for c in split_text(text, TEXT_LIMIT)]
        contents += [self._file_content(f, caption) for f in files]
        if message.buttons and not contents:
            contents = [{"type": "text", "text": "👇"}]
        sent = []
        try:
            for i, content in enumerate(contents):
                body = {"receiver": message.chat_id, "sender": self.sender, **content}
                if message.ref:
                    body["tracking_data"] = str(message.ref)
                if message.buttons and i == len(contents) - 1:
                    body["keyboard"] = self._keyboard(message.buttons)
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
