"""Facebook Messenger and Instagram (Messenger Platform), plus the Graph API plumbing
WhatsApp shares with them.

Webhooks: a GET handshake (``hub.mode``, ``hub.verify_token``, ``hub.challenge``)
and POSTs signed with ``X-Hub-Signature-256: sha256=<HMAC-SHA256(app secret,
raw body)>``.  A POST carries ``entry[].messaging[]``; :meth:`split` stores one
row per messaging item, each row a complete webhook body with that one item.

Sending: ``POST /{page-id}/messages`` (``/me/messages`` without a page id) with
the page token as a bearer header (never in a URL).  Replies go as
``RESPONSE``; when the 24-hour window is closed (error 10 / 2018278) the send is
repeated once with the ``HUMAN_AGENT`` tag (7 days).

Buttons are quick replies; a press comes back as ``message.quick_reply.payload``
(a postback as ``postback.payload``): that payload is the button's data, handed
over as the ``button`` event's text.  Files are uploaded with the Attachment
Upload API: ``/me/message_attachments`` for Messenger,
``/{page-id}/message_attachments`` with ``platform=instagram`` for Instagram,
whose only document type is PDF.  Sources: docs/channels/messenger.md, instagram.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import requests

from .base import Connector, ConnectorError, InboundEvent, InboundFile, download_url, register
from .fetch import api_request

_logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
GRAPH_URL = "https://graph.facebook.com/v21.0"
RETRY_SECONDS = 60
MAX_DOWNLOAD = 25 * 1024 * 1024
OUTSIDE_WINDOW_SUBCODE = 2018278
PAGE_FIELDS = "messages,messaging_postbacks,message_deliveries,message_reads,message_echoes"
IG_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif"}
IG_IMAGE_LIMIT = 8 * 1024 * 1024
#: Graph error codes worth a retry: temporary failure, rate limits
GRAPH_RETRY_CODES = {1, 2, 4, 17, 32, 341, 613, 80006, 80007}


# -- shared helpers (also used by the WhatsApp connector) ------------------------
def header(headers, name):
    """Case-insensitive header lookup on a dict or a Werkzeug ``Headers``."""
    if headers is None:
        return None
    value = headers.get(name)
    if value is None and hasattr(headers, "items"):
        wanted = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    return value


def check_signature(secret, headers, body):
    """True when ``X-Hub-Signature-256`` is the app secret's HMAC of the raw body."""
    value = header(headers, SIGNATURE_HEADER)
    if not secret or not value or not isinstance(body, bytes | bytearray):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), bytes(body), hashlib.sha256).hexdigest()
    return hmac.compare_digest(str(value).strip().lower().encode(), expected.encode())


def sign(secret, body):
    """The ``X-Hub-Signature-256`` value of ``body`` (for tests and tools)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stable_hash(*parts):
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class GraphMixin:
    """Handshake, signature and Graph API calls shared by the Meta connectors."""

    label = "Meta"

    def handshake(self, query):
        query = query or {}
        expected = self.config.get("verify_token") or ""
        token = str(query.get("hub.verify_token") or "")
        if query.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(token.encode(), expected.encode()):
            return 200, str(query.get("hub.challenge") or "")
        return 403, "Forbidden"

    def verify(self, headers, body, query):
        return check_signature(self.secret, headers, body)

    def _graph(self, method, path, **kwargs):
        """Call the Graph API; return the JSON answer or raise :class:`ConnectorError`."""
        url = path if path.startswith("http") else f"{self.api_base_url}/{path.lstrip('/')}"
        try:
            response = api_request(
                method, url, headers={"Authorization": f"Bearer {self.token}"}, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise ConnectorError(f"{self.label} unreachable: {type(exc).__name__}", retry_after=RETRY_SECONDS) from None
        if kwargs.get("stream") and response.ok:
            return response
        try:
            data = response.json()
        except ValueError:
            data = {}
        error = data.get("error") if isinstance(data, dict) else None
        if response.ok and not error:
            return data
        raise self._graph_error(response.status_code, error if isinstance(error, dict) else {})

    def _graph_error(self, status, error):
        """Map a Graph error to retry / give up (connectors refine it with ``_classify``)."""
        code, sub = error.get("code"), error.get("error_subcode")
        text = error.get("message") or f"HTTP {status}"
        details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
        msg = f"{self.label} error {code or status}: {text}" + (f" ({details})" if details else "")
        special = self._classify(code, sub, msg)
        if special is not None:
            return special
        if code == 190 or status == 401:
            return ConnectorError(
                f"{self.label} rejected the access token: {text}. Enter a valid token on the channel.", code=190
            )
        if code in GRAPH_RETRY_CODES or status == 429 or status >= 500:
            return ConnectorError(msg, retry_after=RETRY_SECONDS, code=code or status)
        return ConnectorError(msg, code=code or status)

    def _classify(self, code, subcode, msg):
        return None

    def _download_url(self, file, limit, auth=True):
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        return download_url(requests.get, file, limit, RETRY_SECONDS, headers=headers, timeout=max(self.timeout, 60))


# -- Messenger / Instagram parsing ---------------------------------------------
_ATTACHMENT_KINDS = {
    "image": ("photo", "image/jpeg", ".jpg"),
    "video": ("video", "video/mp4", ".mp4"),
    "audio": ("audio", "audio/mpeg", ".mp3"),
    "file": ("document", "application/octet-stream", ""),
}
_IGNORED_ATTACHMENTS = {"story_mention", "ig_story", "unsupported_type"}
QUICK_REPLIES_MAX, QUICK_TITLE_LIMIT, QUICK_PAYLOAD_LIMIT = 13, 20, 1000


def _location_line(payload):
    """A location shared without URL (coordinates only) as a map link."""
    coords = (payload or {}).get("coordinates") or {}
    lat, lon = coords.get("lat"), coords.get("long", coords.get("lon"))
    if lat is None or lon is None:
        return ""
    return f"📍 Location: {lat}, {lon}\nhttps://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


def _attachments(message):
    """``(files, link_lines, ignored_types)`` of a message's attachments."""
    files, links, ignored = [], [], []
    mid = str(message.get("mid", ""))[-8:]
    for i, att in enumerate(message.get("attachments") or []):
        kind = att.get("type")
        url = (att.get("payload") or {}).get("url") or ""
        if kind in _IGNORED_ATTACHMENTS:
            ignored.append(kind)
        elif kind == "location" and not url and _location_line(att.get("payload")):
            links.append(_location_line(att.get("payload")))
        elif kind in _ATTACHMENT_KINDS and url:
            file_kind, mimetype, ext = _ATTACHMENT_KINDS[kind]
            files.append(InboundFile(url, f"{kind}_{mid}_{i}{ext}", mimetype, 0, file_kind))
        elif url:
            links.append(f"{kind}: {url}")
        else:
            ignored.append(kind or "attachment")
    return files, links, ignored


class MetaConnector(GraphMixin, Connector):
    """Messenger Platform: Facebook pages and Instagram professional accounts."""

    default_api_base_url = GRAPH_URL
    text_limit = 2000

    # -- inbound --------------------------------------------------------------
    def _items(self, payload):
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            raise ValueError(f"{self.label}: not a webhook body")
        for entry in payload["entry"]:
            for item in entry.get("messaging") or []:
                if isinstance(item, dict):
                    yield entry, item

    def _key(self, item):
        sender = (item.get("sender") or {}).get("id")
        message = item.get("message")
        if isinstance(message, dict) and message.get("mid"):
            suffix = ":deleted" if message.get("is_deleted") else ""
            return f"{message['mid']}{suffix}"
        for kind in ("delivery", "read", "reaction", "postback", "message_edit"):
            if isinstance(item.get(kind), dict):
                if item[kind].get("mid") and kind == "postback":
                    return f"postback:{item[kind]['mid']}"
                return f"{kind}:{stable_hash(sender, item.get('timestamp'), item[kind])}"
        return f"h:{stable_hash(item)}"

    def dedup_key(self, payload):
        for _entry, item in self._items(payload):
            return self._key(item)
        raise ValueError(f"{self.label}: webhook body without a messaging item")

    def split(self, payload):
        rows = []
        for entry, item in self._items(payload):
            head = {k: v for k, v in entry.items() if k != "messaging"}
            rows.append((self._key(item), {"object": payload.get("object"), "entry": [{**head, "messaging": [item]}]}))
        return rows

    def parse(self, payload):
        try:
            return [self._event(item) for _entry, item in self._items(payload)] or [
                InboundEvent("ignore", note="webhook body without a messaging item")
            ]
        except ValueError as exc:
            return [InboundEvent("ignore", note=str(exc))]

    def _event(self, item):
        sender = str((item.get("sender") or {}).get("id") or "")
        person = {"chat_id": sender, "user_id": sender}
        message = item.get("message")
        if isinstance(message, dict):
            return self._message_event(message, person)
        postback = item.get("postback")
        if isinstance(postback, dict):  # the payload is the button's data, the title only its label
            data = postback.get("payload") or postback.get("title") or ""
            return InboundEvent("button", text=str(data), **person)
        delivery = item.get("delivery")
        if isinstance(delivery, dict) and delivery.get("mids"):
            mid = delivery["mids"][0]  # one status per row: the connector sends one mid per message
            return InboundEvent("status", remote_message_id=str(mid), note="delivered", **person)
        read = item.get("read")
        if isinstance(read, dict) and (read.get("mid") or read.get("watermark")):
            # Instagram names the message read; Messenger gives a watermark: all sent up to that time were read
            ref = str(read["mid"]) if read.get("mid") else f"watermark:{read['watermark']}"
            return InboundEvent("status", remote_message_id=ref, note="read", **person)
        kind = next((k for k in item if k not in ("sender", "recipient", "timestamp")), "empty")
        return InboundEvent("ignore", note=f"{self.label} event {kind!r} is not served", **person)

    def _message_event(self, message, person):
        mid = str(message.get("mid") or "")
        if message.get("is_echo"):
            return InboundEvent("ignore", note="echo of the page's own message", **person)
        if message.get("is_deleted"):
            return InboundEvent("ignore", note=f"the client unsent message {mid}", **person)
        quick = message.get("quick_reply")
        if isinstance(quick, dict):  # the payload is the button's data, the text only its title
            return InboundEvent("button", text=str(quick.get("payload") or message.get("text") or ""), **person)
        files, links, ignored = _attachments(message)
        text = "\n".join(filter(None, [message.get("text") or "", *links]))
        if not text and not files:
            note = f"{', '.join(ignored)} ignored" if ignored else "message without text or attachment"
            return InboundEvent("ignore", note=note, **person)
        return InboundEvent("message", text=text, files=files, remote_message_id=f"{person['chat_id']}:{mid}", **person)

    def download(self, file):
        return self._download_url(file, MAX_DOWNLOAD, auth=False)

    # -- outbound -------------------------------------------------------------
    def _classify(self, code, subcode, msg):
        if code == 10 and subcode == OUTSIDE_WINDOW_SUBCODE:
            return ConnectorError(
                msg + " — the client last wrote more than 7 days ago: the page may not write first.",
                code=OUTSIDE_WINDOW_SUBCODE,
            )
        if code == 551 or subcode in (1545041, 2018108):
            return ConnectorError(msg, code=code, blocked=True)
        return None

    def _post(self, body):
        page = self.config.get("meta_page_id") or "me"
        try:
            return self._graph("POST", f"{page}/messages", json=body)
        except ConnectorError as exc:
            if exc.code != OUTSIDE_WINDOW_SUBCODE or body.get("messaging_type") != "RESPONSE":
                raise
        # the 24-hour window is closed: a human agent may still answer within 7 days
        return self._graph(
            "POST", f"{page}/messages", json={**body, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        )

    def _upload(self, file, kind):
        if getattr(file, "url", ""):
            return {"url": file.url, "is_reusable": True}
        message = {"attachment": {"type": kind, "payload": {"is_reusable": True}}}
        answer = self._graph(
            "POST",
            self.upload_path,
            data={"message": json.dumps(message), **self.upload_params},
            files={"filedata": (file.name or "file", file.data, file.mimetype or "application/octet-stream")},
        )
        return {"attachment_id": answer["attachment_id"]}

    upload_params = {}

    @property
    def upload_path(self):
        return "me/message_attachments"

    def _attachment_kind(self, file):
        """The Send API attachment type of ``file`` (refusing what the platform does not take)."""
        mimetype = (file.mimetype or "").split("/")[0]
        kind = mimetype if mimetype in ("image", "video", "audio") else "file"
        if len(file.data or b"") > MAX_DOWNLOAD:
            raise ConnectorError(f"{file.name}: {self.label} takes attachments of at most 25 MB.", code=100)
        return kind

    @staticmethod
    def _quick_replies(buttons):
        if len(buttons) > QUICK_REPLIES_MAX:
            raise ConnectorError(f"Messenger and Instagram show at most {QUICK_REPLIES_MAX} quick replies.", code=100)
        datas = [str(data) for _label, data in buttons]
        if any(not d or len(d) > QUICK_PAYLOAD_LIMIT for d in datas):
            # a cut payload would come back as other data: refuse rather than send a button that does nothing
            raise ConnectorError("A quick reply's data must be 1 to 1,000 characters.", code=100)
        return [
            {"content_type": "text", "title": (str(label).strip() or "-")[:QUICK_TITLE_LIMIT], "payload": data}
            for (label, _d), data in zip(buttons, datas, strict=True)
        ]

    def _messages(self, message):
        """The Send API ``message`` objects of one outbound message."""
        from .telegram import split_text  # noqa: PLC0415 - shared splitter

        out = []
        quick = self._quick_replies(message.buttons) if message.buttons else None
        for file in message.files:
            kind = self._attachment_kind(file)
            out.append({"attachment": {"type": kind, "payload": self._upload(file, kind)}})
        chunks = split_text(message.text or "", self.text_limit)
        if message.buttons and not chunks:
            chunks = ["👇"]
        out += [{"text": c} for c in chunks]
        if quick:
            out[-1]["quick_replies"] = quick
        return out

    def send(self, message):
        sent = []
        try:
            for msg in self._messages(message):
                body = {"recipient": {"id": message.chat_id}, "messaging_type": "RESPONSE", "message": msg}
                answer = self._post(body)
                sent.append(f"{answer.get('recipient_id') or message.chat_id}:{answer.get('message_id', '')}")
        except ConnectorError as exc:
            exc.sent_ids = list(sent)
            raise
        return sent

    # -- typing and read marks -----------------------------------------------------
    # Sender actions (developers.facebook.com/docs/messenger-platform/send-messages/sender-actions,
    # and Instagram's .../instagram/features/sender-actions): a body with ``recipient`` and
    # ``sender_action`` only (``typing_on``, ``typing_off``, ``mark_seen``), no ``message``.
    typing_marks = read_marks = True

    def _sender_action(self, chat_id, action):
        page = self.config.get("meta_page_id") or "me"
        self._graph("POST", f"{page}/messages", json={"recipient": {"id": chat_id}, "sender_action": action})
        return True

    def send_typing(self, chat_id, typing=True, reply_to=""):
        return self._sender_action(chat_id, "typing_on" if typing else "typing_off")

    def mark_read(self, chat_id, message_id=""):
        return self._sender_action(chat_id, "mark_seen")

    # -- account --------------------------------------------------------------
    def set_webhook(self, url, secret):
        """Subscribe the page to the app; the URL and verify token are set in the app dashboard."""
        page = self.config.get("meta_page_id") or "me"
        self._graph("POST", f"{page}/subscribed_apps", params={"subscribed_fields": PAGE_FIELDS})
        return True

    def delete_webhook(self):
        page = self.config.get("meta_page_id") or "me"
        self._graph("DELETE", f"{page}/subscribed_apps")
        return True

    def test(self):
        page = self.config.get("meta_page_id") or "me"
        info = self._graph("GET", page, params={"fields": "id,name"})
        return f"{info.get('name') or ''} ({info.get('id') or page})".strip()


@register
class MessengerConnector(MetaConnector):
    channel_type = "messenger"
    label = "Facebook Messenger"

    def profile(self, event):
        """User Profile API: ``GET /<PSID>?fields=first_name,last_name`` (the webhook has the PSID only)."""
        if event.name or not event.chat_id:
            return
        info = self._graph("GET", event.chat_id, params={"fields": "first_name,last_name"})
        event.name = " ".join(filter(None, [info.get("first_name"), info.get("last_name")])).strip()


@register
class InstagramConnector(MetaConnector):
    channel_type = "instagram"
    label = "Instagram"
    text_limit = 1000

    upload_params = {"platform": "instagram"}

    @property
    def upload_path(self):
        """Instagram: ``POST /<PAGE_ID>/message_attachments`` with ``platform=instagram`` (not ``me``)."""
        page = self.config.get("meta_page_id") or ""
        if not page:
            raise ConnectorError("Enter the Facebook page ID of the Instagram account on the channel.")
        return f"{page}/message_attachments"

    def _attachment_kind(self, file):
        kind = super()._attachment_kind(file)
        mimetype = (file.mimetype or "").split(";")[0].strip().lower()
        if kind == "file" and mimetype != "application/pdf":
            raise ConnectorError(
                f"{file.name}: Instagram takes documents as PDF only; send this file another way.", code=100
            )
        if kind == "image" and mimetype not in IG_IMAGE_TYPES:
            raise ConnectorError(f"{file.name}: Instagram takes PNG, JPEG and GIF pictures only.", code=100)
        if kind == "image" and len(file.data or b"") > IG_IMAGE_LIMIT:
            raise ConnectorError(f"{file.name}: Instagram takes pictures of at most 8 MB.", code=100)
        return kind

    def profile(self, event):
        """Instagram user profile: ``GET /<IGSID>?fields=name,username``."""
        if event.name or not event.chat_id:
            return
        info = self._graph("GET", event.chat_id, params={"fields": "name,username"})
        event.username = event.username or info.get("username") or ""
        event.name = info.get("name") or event.username
