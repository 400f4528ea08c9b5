"""WhatsApp Business Cloud API connector (Meta Graph API, plain ``requests``).

Inbound: the GET handshake and the ``X-Hub-Signature-256`` check are Meta's
(:class:`~.meta.GraphMixin`).  A POST carries ``entry[].changes[].value`` with
``messages`` and/or ``statuses``; :meth:`split` stores one row per message
(key: its ``wamid``) and one per status (``wamid:status``), each row a
complete webhook body holding that one item.  Statuses become ``status``
events: the ORM records the delivery state on the outbound row.

Outbound: ``POST /{phone-number-id}/messages``; files are first uploaded to
``/{phone-number-id}/media`` and sent by id.  Free-form messages are only
accepted within 24 hours of the client's last message (error 131047);
outside it an approved template (``OutboundMessage.template``) is sent as
``type: "template"``.

Buttons: a press comes back as ``interactive.button_reply.id`` /
``list_reply.id`` (or ``button.payload`` of a template's quick-reply button):
that *id* is the button's data, handed over as the ``button`` event's text.
``value.errors`` (system or account problems such as 130429) is stored as one
row per error and logged.  Limits: facebook/openapi business-messaging-api_v23.0.yaml
(see docs/channels/whatsapp.md).
"""

from __future__ import annotations

import logging
import mimetypes
import re
import time
from urllib.parse import urlsplit

from .base import Connector, ConnectorError, FileTooLarge, InboundEvent, InboundFile, register
from .meta import GRAPH_URL, GraphMixin, stable_hash

_logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
BODY_LIMIT = 1024  # interactive message body
MAX_DOWNLOAD = 100 * 1024 * 1024
IMAGE_TYPES = {"image/jpeg", "image/png"}
IMAGE_LIMIT = 5 * 1024 * 1024
VIDEO_TYPES = {"video/mp4", "video/3gpp"}
AUDIO_TYPES = {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}
MEDIA_LIMIT = 16 * 1024 * 1024
WINDOW_CODE = 131047
RETRY_CODES = {130429: 60, 131056: 10, 131000: 60}
GIVE_UP_CODES = {131026, 131051, 130472}
# interactive limits (facebook/openapi ActionObject / SectionObject)
BUTTONS_MAX, BUTTON_ID_LIMIT, BUTTON_TITLE_LIMIT = 3, 256, 20
ROWS_MAX, ROW_ID_LIMIT, ROW_TITLE_LIMIT, LIST_BUTTON_LIMIT = 10, 200, 24, 20
#: a media id is a Graph object id: digits only, never a URL or a path
MEDIA_ID = re.compile(r"^[0-9]{1,40}$")
#: hosts Meta serves WhatsApp media from (the URL Graph returns for a media id)
MEDIA_HOSTS = ("fbsbx.com", "fbcdn.net", "whatsapp.net", "facebook.com")

_MEDIA = {  # message type -> InboundFile kind, default mimetype
    "image": ("photo", "image/jpeg"),
    "document": ("document", "application/octet-stream"),
    "audio": ("audio", "audio/ogg"),
    "video": ("video", "video/mp4"),
    "sticker": ("sticker", "image/webp"),
}


def _values(payload):
    """``(entry, change, value)`` of each change of a webhook body."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise ValueError("WhatsApp: not a webhook body")
    for entry in payload["entry"]:
        for change in entry.get("changes") or []:
            value = change.get("value")
            if isinstance(value, dict):
                yield entry, change, value


def _error_text(errors):
    parts = []
    for err in errors or []:
        details = (err.get("error_data") or {}).get("details") or ""
        title = err.get("title") or err.get("message") or ""
        parts.append(f"({err.get('code')}) {title}" + (f": {details}" if details and details != title else ""))
    return "; ".join(parts)


def _media_file(msg, kind):
    media = msg.get(kind) or {}
    file_kind, default_type = _MEDIA[kind]
    if kind == "audio" and media.get("voice"):
        file_kind = "voice"
    mimetype = (media.get("mime_type") or default_type).split(";")[0].strip()
    name = media.get("filename") or f"{kind}_{str(msg.get('id', ''))[-8:]}{mimetypes.guess_extension(mimetype) or ''}"
    media_id = str(media.get("id") or "")
    if not MEDIA_ID.match(media_id):
        return None, f"[{kind}] WhatsApp sent a media id that is not one ({media_id[:40]!r}): file not fetched"
    return InboundFile(media_id, name, mimetype, 0, file_kind), media.get("caption") or ""


def _location_text(loc):
    lat, lon = loc.get("latitude"), loc.get("longitude")
    head = " ".join(p for p in (loc.get("name"), loc.get("address")) if p) or f"Location: {lat}, {lon}"
    return f"📍 {head}\nhttps://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


def _contacts_text(contacts):
    lines = []
    for contact in contacts or []:
        name = (contact.get("name") or {}).get("formatted_name") or ""
        phones = [p.get("phone") for p in contact.get("phones") or [] if p.get("phone")]
        lines.append("👤 Contact: " + ", ".join(p for p in (name, *phones) if p))
    return "\n".join(lines)


def _errors_event(errors):
    """``value.errors``: a system- or account-level problem (no message, no client)."""
    text = _error_text(errors)
    _logger.warning("WhatsApp reported an error in a webhook: %s", text)
    return InboundEvent("ignore", note=f"WhatsApp reported an error: {text}")


def _status_event(status):
    state = str(status.get("status") or "")
    note = f"{state}: {_error_text(status.get('errors'))}" if status.get("errors") else state
    recipient = str(status.get("recipient_id") or "")
    return InboundEvent(
        "status", chat_id=recipient, user_id=recipient, remote_message_id=str(status.get("id") or ""), note=note
    )


def _unique_titles(titles, limit):
    """Cut titles to ``limit`` characters, numbering those the cut made equal (WhatsApp wants them unique)."""
    out = []
    for i, title in enumerate(titles):
        cut = (title.strip() or "-")[:limit]
        if cut in out:
            suffix = f" {i + 1}"
            cut = cut[: limit - len(suffix)] + suffix
        out.append(cut)
    return out


@register
class WhatsAppConnector(GraphMixin, Connector):
    """WhatsApp Business Cloud API: one phone number of a WhatsApp Business account."""

    channel_type = "whatsapp"
    label = "WhatsApp"
    default_api_base_url = GRAPH_URL

    @property
    def phone_id(self):
        phone_id = self.config.get("wa_phone_number_id") or ""
        if not phone_id:
            raise ConnectorError("Enter the WhatsApp phone number ID on the channel.")
        return phone_id

    # -- inbound --------------------------------------------------------------
    def split(self, payload):
        rows = []
        for entry, change, value in _values(payload):
            head = {k: v for k, v in value.items() if k not in ("messages", "statuses", "errors")}
            errors = [e for e in value.get("errors") or [] if isinstance(e, dict)]
            for key, item, sid in (
                [("messages", m, m.get("id")) for m in value.get("messages") or []]
                + [("statuses", s, s.get("id") and f"{s['id']}:{s.get('status')}") for s in value.get("statuses") or []]
                # errors carry no id nor time: the same error within the hour is stored once
                + [("errors", e, f"error:{stable_hash(entry.get('id'), e, time.strftime('%Y%m%d%H'))}") for e in errors]
            ):
                if not sid:
                    continue  # an item without id cannot be de-duplicated: nothing to store
                body = {**head, key: [item]}
                one = {**{k: v for k, v in change.items() if k != "value"}, "value": body}
                rows.append(
                    (str(sid), {"object": payload.get("object"), "entry": [{"id": entry.get("id"), "changes": [one]}]})
                )
        return rows

    def dedup_key(self, payload):
        rows = self.split(payload)
        if not rows:
            raise ValueError("WhatsApp: webhook body without message or status")
        return rows[0][0]

    def parse(self, payload):
        events = []
        for _entry, _change, value in _values(payload):
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name") or "" for c in value.get("contacts") or []}
            events += [self._message_event(m, names) for m in value.get("messages") or []]
            events += [_status_event(s) for s in value.get("statuses") or []]
            if value.get("errors"):
                events.append(_errors_event(value["errors"]))
        return events or [InboundEvent("ignore", note="WhatsApp change without message or status")]

    def _message_event(self, msg, names):
        sender = str(msg.get("from") or "")
        person = {
            "chat_id": sender,
            "user_id": sender,
            "name": names.get(sender) or "",
            "phone": "+" + sender if sender.isdigit() else "",
        }
        kind, files, text = msg.get("type"), [], ""
        if kind == "text":
            text = (msg.get("text") or {}).get("body") or ""
        elif kind in _MEDIA:
            file, text = _media_file(msg, kind)
            files += [file] if file else []
        elif kind == "location":
            text = _location_text(msg.get("location") or {})
        elif kind == "contacts":
            text = _contacts_text(msg.get("contacts"))
        elif kind == "interactive":
            inter = msg.get("interactive") or {}
            reply = inter.get("button_reply") or inter.get("list_reply") or {}
            # the id is the data we sent with the button; the title only its label
            return InboundEvent("button", text=str(reply.get("id") or reply.get("title") or ""), **person)
        elif kind == "button":  # a template's quick-reply button: payload is its data
            button = msg.get("button") or {}
            return InboundEvent("button", text=str(button.get("payload") or button.get("text") or ""), **person)
        elif kind == "reaction":
            reaction = msg.get("reaction") or {}
            note = f"reaction {reaction.get('emoji') or '(removed)'} to {reaction.get('message_id')}"
            return InboundEvent("ignore", note=note, **person)
        elif kind == "unsupported" or msg.get("errors"):
            text = f"[{kind}] WhatsApp could not deliver this message: {_error_text(msg.get('errors'))}"
        else:
            return InboundEvent("ignore", note=f"WhatsApp message type {kind!r} is not served", **person)
        remote = f"{sender}:{msg.get('id', '')}"
        return InboundEvent("message", text=text, files=files, remote_message_id=remote, **person)

    def download(self, file):
        """Resolve the media id with Graph, then fetch the URL it gives, with the token, from Meta only."""
        if not MEDIA_ID.match(str(file.ref or "")):
            raise ConnectorError(f"{file.name}: not a WhatsApp media id")
        info = self._graph("GET", file.ref)
        size = int(info.get("file_size") or 0)
        if size > MAX_DOWNLOAD:
            raise FileTooLarge(f"{file.name}: {size} bytes, over the 100 MB limit")
        url = str(info.get("url") or "")
        if not url:
            raise ConnectorError(f"{file.name}: WhatsApp gave no download address")
        if not self._media_host(url):
            raise ConnectorError(f"{file.name}: WhatsApp's download address is not on a Meta host: not fetched")
        url_file = InboundFile(url, file.name, file.mimetype, size, file.kind)
        return self._download_url(url_file, MAX_DOWNLOAD, auth=True)

    def _media_host(self, url):
        """True when ``url`` is HTTPS on a Meta media host (or on the configured API host, e.g. a test fake)."""
        parts, api = urlsplit(url), urlsplit(self.api_base_url)
        host = (parts.hostname or "").lower()
        if parts.scheme == api.scheme and host == (api.hostname or "").lower() and parts.port == api.port:
            return True
        return parts.scheme == "https" and any(host == h or host.endswith("." + h) for h in MEDIA_HOSTS)

    # -- outbound -------------------------------------------------------------
    def _classify(self, code, subcode, msg):
        if code == WINDOW_CODE:
            return ConnectorError(
                "WhatsApp accepts no free-form message: more than 24 hours have passed since the client last "
                "wrote (error 131047). Send an approved template message instead (the dialog's "
                '"Send template" button), or wait until the client writes again.',
                code=code,
            )
        if code in RETRY_CODES:
            return ConnectorError(msg, retry_after=RETRY_CODES[code], code=code)
        if code in GIVE_UP_CODES:
            return ConnectorError(msg, code=code)
        return None

    def _send_one(self, to, kind, content):
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind, kind: content}
        answer = self._graph("POST", f"{self.phone_id}/messages", json=body)
        wamid = ((answer.get("messages") or [{}])[0]).get("id") or ""
        return f"{to}:{wamid}"

    def _upload(self, file):
        data = {"messaging_product": "whatsapp", "type": file.mimetype or "application/octet-stream"}
        files = {"file": (file.name or "file", file.data, file.mimetype or "application/octet-stream")}
        return self._graph("POST", f"{self.phone_id}/media", data=data, files=files)["id"]

    def _media(self, file, caption):
        mimetype = (file.mimetype or "").lower()
        size = len(file.data or b"")
        if mimetype in IMAGE_TYPES and size <= IMAGE_LIMIT:
            kind = "image"
        elif mimetype in VIDEO_TYPES and size <= MEDIA_LIMIT:
            kind = "video"
        elif mimetype.split(";")[0] in AUDIO_TYPES and size <= MEDIA_LIMIT:
            kind, caption = "audio", ""  # audio takes no caption
        else:
            kind = "document"
        content = {"id": self._upload(file)}
        if kind == "document":
            content["filename"] = file.name or "file"
        if caption:
            content["caption"] = caption
        return kind, content

    @staticmethod
    def _interactive(body, buttons):
        if len(buttons) > ROWS_MAX:
            raise ConnectorError("WhatsApp shows at most 10 choices in one message.", code=400)
        datas = [str(d) for _t, d in buttons]
        limit = BUTTON_ID_LIMIT if len(buttons) <= BUTTONS_MAX else ROW_ID_LIMIT
        if any(not d.strip() or len(d) > limit for d in datas) or len(set(datas)) < len(datas):
            # a cut id would come back as other data: refuse rather than send a button that does nothing
            raise ConnectorError(f"WhatsApp button data must be unique, 1 to {limit} characters.", code=400)
        reply = len(buttons) <= BUTTONS_MAX
        titles = _unique_titles([str(t) for t, _d in buttons], BUTTON_TITLE_LIMIT if reply else ROW_TITLE_LIMIT)
        if reply:
            pairs = zip(titles, datas, strict=True)
            action = {"buttons": [{"type": "reply", "reply": {"id": d, "title": t}} for t, d in pairs]}
            return {"type": "button", "body": {"text": body}, "action": action}
        rows = [{"id": d, "title": t} for t, d in zip(titles, datas, strict=True)]
        action = {"button": "Choose", "sections": [{"title": "Choose", "rows": rows}]}
        return {"type": "list", "body": {"text": body}, "action": action}

    def send(self, message):
        from .telegram import split_text  # noqa: PLC0415 - shared splitter

        if message.template:  # an approved template: accepted outside the 24-hour window
            return [self._send_one(message.chat_id, "template", message.template)]
        text, files, buttons = message.text or "", list(message.files), list(message.buttons)
        caption = text if len(files) == 1 and text.strip() and len(text) <= CAPTION_LIMIT and not buttons else ""
        chunks = [] if caption else split_text(text, TEXT_LIMIT)
        if buttons:
            if chunks and len(chunks[-1]) > BODY_LIMIT:
                chunks[-1:] = split_text(chunks[-1], BODY_LIMIT)
            body = chunks.pop() if chunks else "👇"
        sent = []
        try:
            for chunk in chunks:
                sent.append(self._send_one(message.chat_id, "text", {"body": chunk, "preview_url": False}))
            for file in files:
                sent.append(self._send_one(message.chat_id, *self._media(file, caption)))
            if buttons:
                sent.append(self._send_one(message.chat_id, "interactive", self._interactive(body, buttons)))
        except ConnectorError as exc:
            exc.sent_ids = list(sent)
            raise
        return sent

    # -- typing and read marks -----------------------------------------------------
    # developers.facebook.com/docs/whatsapp/cloud-api/typing-indicators and .../mark-message-as-read:
    # ``POST /{phone-number-id}/messages`` with ``status: read`` and the client's ``message_id`` (a wamid
    # from the messages webhook) marks it and the earlier ones read; ``typing_indicator: {type: text}``
    # also shows "typing…" until the answer, or 25 seconds. Both need a message of the client.
    typing_marks = read_marks = True

    def _read(self, message_id, typing):
        wamid = (message_id or "").rpartition(":")[2]
        if not wamid:
            return False
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        return bool(self._graph("POST", f"{self.phone_id}/messages", json=body).get("success", True))

    def send_typing(self, chat_id, typing=True, reply_to=""):
        return self._read(reply_to, typing=True) if typing else False

    def mark_read(self, chat_id, message_id=""):
        return self._read(message_id, typing=False)

    # -- account --------------------------------------------------------------
    def test(self):
        info = self._graph("GET", self.phone_id, params={"fields": "display_phone_number,verified_name"})
        return f"{info.get('verified_name') or ''} {info.get('display_phone_number') or ''}".strip() or self.phone_id

    def set_webhook(self, url, secret):
        """The webhook address is set in the Meta app dashboard: check the credentials only."""
        self.test()
        return True

    def delete_webhook(self):
        return True
