"""Apple Messages for Business connector: the MSP REST API, spoken directly (plain ``requests``).

The company is its own Messaging Service Provider (MSP): Apple Business Register
gives it an MSP id, a Base64 API secret and one Business id per account, and
the MSP's URL is entered there.  What is verified and where it comes from is in
``docs/channels/apple.md``; in short:

* Inbound: Apple POSTs every customer event to ``<registered URL>/message``
  with ``Authorization: Bearer <JWT>`` (HS256, key = the Base64-*decoded*
  secret, ``aud`` = MSP id) and headers ``id``, ``source-id`` (the customer's
  opaque id), ``destination-id`` (the Business id), ``capability-list``; the
  body is gzip-compressed JSON (plain JSON is accepted too).  ``type``:
  ``text`` (with or without ``attachments``), ``interactive`` (a picker's
  answer, or ``interactiveDataRef`` above 10 KB), ``typing_start``,
  ``typing_end``, ``close``.
* Outbound: ``POST {base}/message`` with ``Authorization`` (``iss`` = MSP id,
  ``iat``), ``id``, ``Source-Id`` (Business id), ``Destination-Id``; 200 with
  an empty body is success.
* Attachments: AES-256-CTR with a zero IV and a fresh key (sent as ``00`` +
  hex), ``GET /preUpload`` then a POST of the encrypted bytes; inbound files go
  through ``GET /preDownload`` and are decrypted the same way.
* Buttons (rating, consent, chatbot answers) become a list picker; the customer's
  choice comes back as an ``interactive`` message whose list holds the chosen
  items (a subset of those sent), each with the ``identifier`` we gave it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
import uuid
import zlib

import requests

from .base import Connector, ConnectorError, FileTooLarge, InboundEvent, InboundFile, download_url, register
from .fetch import api_request
from .meta import header

_logger = logging.getLogger(__name__)

GATEWAY_URL = "https://mspgw.push.apple.com/v1"
#: the Messages for Business extension of interactive messages (list picker, quick reply...)
BUSINESS_BID = (
    "com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:com.apple.icloud.apps.messages.business.extension"
)
PLACEHOLDER = "\ufffc"  # where an attachment shows in a text message
MAX_FILE = 100 * 1024 * 1024  # Apple's limit for attachments
MAX_JSON = 16 * 1024 * 1024  # a decompressed inbound body (large payloads come by reference)
RETRY_SECONDS = 60
UPLOAD_DEADLINE = 300  # seconds for one upload of up to 100 MB (API calls have fetch.API_DEADLINE)
CLOCK_SKEW = 300  # seconds of tolerance on the JWT's iat / nbf / exp
TITLE_LIMIT = 60  # characters of a picker bubble's title (longer texts go as a message before it)
TYPES = {"text", "interactive", "typing_start", "typing_end", "close"}
#: the device's capability-list header, kept with the stored body (Apple's body has no such key)
CAPABILITIES_KEY = "capability-list"


# -- JWT (HS256, stdlib only) --------------------------------------------------
def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text):
    text = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def secret_key(secret):
    """The HMAC key of an MSP API secret: Apple gives Base64 text and signs with the decoded bytes."""
    try:
        key = base64.b64decode((secret or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ConnectorError("The MSP API secret must be the Base64 text Apple Business Register shows.")
    return key


def make_jwt(claims, key):
    """An HS256 JWT of ``claims`` signed with ``key`` (bytes)."""
    signing_input = (
        _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


def check_jwt(token, key, audience, now=None):
    """True when ``token`` is an HS256 JWT signed with ``key`` for ``audience``, within its time claims."""
    try:
        head, body, signature = token.split(".")
        if json.loads(_unb64url(head)).get("alg") != "HS256":  # never "none" nor another algorithm
            return False
        expected = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64url(signature), expected):
            return False
        claims = json.loads(_unb64url(body))
    except (ValueError, TypeError, AttributeError, binascii.Error):
        return False
    if not isinstance(claims, dict):
        return False
    aud = claims.get("aud")
    if not audience or not (aud == audience or (isinstance(aud, list) and audience in aud)):
        return False
    now = time.time() if now is None else now
    for claim, ok in (
        ("exp", lambda v: v > now - CLOCK_SKEW),
        ("nbf", lambda v: v <= now + CLOCK_SKEW),
        ("iat", lambda v: v <= now + CLOCK_SKEW),
    ):
        value = claims.get(claim)
        if value is not None and (not isinstance(value, int | float) or not ok(value)):
            return False
    return True


# -- attachments: AES-256-CTR, zero IV --------------------------------------------
def _cipher(key):
    from cryptography.hazmat.backends import default_backend  # noqa: PLC0415 - Odoo's own dependency
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: PLC0415

    return Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16), backend=default_backend())


def encrypt(data, key=None):
    """``(encrypted bytes, key text)``: a fresh 32-byte key, written as ``00`` + hex as Apple wants."""
    import os  # noqa: PLC0415

    key = key or os.urandom(32)
    encryptor = _cipher(key).encryptor()
    return encryptor.update(data) + encryptor.finalize(), "00" + key.hex()


def decrypt(data, key_text):
    """Decrypt with a key written ``00`` + hex (either case)."""
    text = (key_text or "").strip()
    text = text[2:] if len(text) == 66 and text[:2] == "00" else text
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConnectorError("Apple gave an attachment key that is not hexadecimal") from None
    if len(key) != 32:
        raise ConnectorError("Apple gave an attachment key that is not 256 bits long")
    decryptor = _cipher(key).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def gunzip(body, limit=MAX_JSON):
    """``body`` decompressed when it is gzip (magic bytes 1f 8b), else as it is; ValueError if unreadable."""
    if body[:2] != b"\x1f\x8b":
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit)
    except zlib.error:
        raise ValueError("Apple: body is not valid gzip") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError("Apple: gzip body truncated or too large")
    return data


def _signature_b64(item):
    """The file's checksum as preDownload wants it (Base64), from ``signature`` (hex) or ``signature-base64``."""
    if item.get("signature-base64"):
        return str(item["signature-base64"])
    hexa = str(item.get("signature") or item.get("mmcs-signature-hex") or "")
    try:
        return base64.b64encode(bytes.fromhex(hexa)).decode()
    except ValueError:
        raise ConnectorError("Apple gave a file signature that is not hexadecimal") from None


def _file_ref(item):
    """What :meth:`AppleConnector.download` needs of an attachment (both spellings Apple uses)."""
    return {
        "url": item.get("url") or item.get("mmcs-url") or "",
        "owner": item.get("owner") or item.get("mmcs-owner") or "",
        "key": item.get("key") or item.get("decryption-key") or "",
        "signature": item.get("signature") or item.get("mmcs-signature-hex") or "",
        "signature-base64": item.get("signature-base64") or "",
        "size": item.get("size") or item.get("file-size") or 0,
    }


def _size(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _kind(mimetype):
    major = (mimetype or "").split("/")[0]
    return {"image": "photo", "video": "video", "audio": "audio"}.get(major, "document")


def capability_set(value):
    """``capability-list`` as a sorted comma list in capitals (Apple: comma-separated, case-insensitive)."""
    from urllib.parse import unquote  # noqa: PLC0415

    return ",".join(sorted({c.strip().upper() for c in unquote(str(value or "")).split(",") if c.strip()}))


def _headline(text):
    """A picker bubble's title for a longer text (sent as a message before it): its first line, shortened."""
    line = next((part.strip() for part in (text or "").splitlines() if part.strip()), "")
    if not line:
        return "👇"
    return line if len(line) <= TITLE_LIMIT else line[: TITLE_LIMIT - 1].rstrip() + "…"


def _chosen(interactive):
    """Identifiers (else titles) of the items the customer chose in a list picker answer."""
    data = interactive.get("data") or {}
    picker = data.get("listPicker") or {}
    chosen = [
        str(item.get("identifier") or item.get("title") or "")
        for section in picker.get("sections") or []
        for item in section.get("items") or []
        if isinstance(item, dict)
    ]
    return [c for c in chosen if c]


@register
class AppleConnector(Connector):
    """One Business id (an Apple Messages for Business account) served by the company's own MSP."""

    channel_type = "apple"
    default_api_base_url = GATEWAY_URL
    timeout = 30  # Apple: set a 30 s timeout, cancel and retry later

    @property
    def business_id(self):
        return (self.config.get("apple_business_id") or "").strip()

    @property
    def msp_id(self):
        return (self.config.get("apple_msp_id") or "").strip()

    # -- plumbing ---------------------------------------------------------------
    def _auth(self):
        if not (self.business_id and self.msp_id):
            raise ConnectorError("Enter the Business ID and the MSP ID on the channel.")
        token = make_jwt({"iss": self.msp_id, "iat": int(time.time())}, secret_key(self.token))
        return {"Authorization": f"Bearer {token}", "Source-Id": self.business_id}

    @staticmethod
    def _error(response, what):
        status = response.status_code
        if status in (401, 403):
            return ConnectorError(
                f"Apple refused {what} (HTTP {status}): check the MSP ID and the MSP API secret.", code=status
            )
        if status == 404:
            return ConnectorError(f"Apple does not know the recipient of {what} (HTTP 404).", code=status)
        if status == 429 or status >= 500:
            return ConnectorError(f"Apple could not take {what} (HTTP {status})", RETRY_SECONDS, code=status)
        return ConnectorError(f"Apple refused {what} (HTTP {status})", code=status)

    def _request(self, method, path, what, deadline=None, **kwargs):
        url = path if path.startswith("http") else f"{self.api_base_url}/{path}"
        try:
            response = api_request(method, url, deadline=deadline, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ConnectorError(f"Apple unreachable ({type(exc).__name__})", RETRY_SECONDS) from None
        if response.status_code != 200:
            raise self._error(response, what)
        return response

    def _json(self, response, what):
        try:
            data = response.json()
        except ValueError:
            raise ConnectorError(f"Apple answered {what} without JSON", RETRY_SECONDS) from None
        if not isinstance(data, dict):
            raise ConnectorError(f"Apple answered {what} with unexpected JSON", RETRY_SECONDS)
        return data

    # -- inbound ----------------------------------------------------------------
    def verify(self, headers, body, query):
        """Apple's JWT (``aud`` = our MSP id, signed with the decoded secret), for our Business id."""
        value = str(header(headers, "Authorization") or "")
        if not value.startswith("Bearer ") or not self.msp_id or not self.business_id:
            return False
        destination = header(headers, "destination-id")
        if destination is not None and destination.strip() != self.business_id:
            return False  # meant for another business
        try:
            key = secret_key(self.token)
        except ConnectorError:
            return False
        # what the device can show (LIST, QUICK, TIME...); absent: unknown (pickers are sent)
        self._capabilities = header(headers, "capability-list")
        return check_jwt(value[7:].strip(), key, self.msp_id)

    def load(self, body):
        return json.loads(gunzip(body))

    def dedup_key(self, payload):
        if not isinstance(payload, dict) or not payload.get("id") or not payload.get("type"):
            raise ValueError("Apple: message without id or type")
        if payload.get("v", 1) != 1:
            raise ValueError("Apple: unknown message version")
        return str(payload["id"])

    def split(self, payload):
        """One row per request; the device's capabilities (a header) are kept with the body."""
        key = self.dedup_key(payload)
        capabilities = getattr(self, "_capabilities", None)
        if capabilities is not None:
            payload = {**payload, CAPABILITIES_KEY: str(capabilities)}
        return [(key, payload)]

    def parse(self, payload):
        if not isinstance(payload, dict):
            return [InboundEvent("ignore", note="not an Apple message")]
        customer = str(payload.get("sourceId") or "")
        person = {"chat_id": customer, "user_id": customer, "name": f"Apple {customer[-8:]}" if customer else ""}
        if payload.get("destinationId") and str(payload["destinationId"]) != self.business_id:
            return [InboundEvent("ignore", note="Apple message for another Business id", **person)]
        kind = payload.get("type")
        if kind in ("text", "interactive"):
            event = self._text_event(payload, person) if kind == "text" else self._interactive_event(payload, person)
            if CAPABILITIES_KEY in payload:  # read by the ORM side: no list picker for a device without LIST
                event.capabilities = capability_set(payload[CAPABILITIES_KEY])
            return [event]
        if kind in ("typing_start", "typing_end"):
            return [InboundEvent("typing", text=kind[7:], **person)]
        if kind == "close":
            return [InboundEvent("closed", **person)]
        return [InboundEvent("ignore", note=f"Apple message type {kind!r} is not served", **person)]

    def _text_event(self, payload, person):
        files = []
        for i, item in enumerate(payload.get("attachments") or []):
            if not isinstance(item, dict):
                continue
            mimetype = item.get("mimeType") or item.get("mime-type") or "application/octet-stream"
            name = item.get("name") or f"attachment_{i + 1}"
            ref = json.dumps(_file_ref(item), sort_keys=True)
            size = _size(item.get("size") or item.get("file-size"))
            files.append(InboundFile(ref, name, mimetype, size, _kind(mimetype)))
        text = str(payload.get("body") or "").replace(PLACEHOLDER, "").strip()
        if not text and not files:
            return InboundEvent("ignore", note="Apple text message without text or attachment", **person)
        remote = f"{person['chat_id']}:{payload.get('id')}"
        return InboundEvent("message", text=text, files=files, remote_message_id=remote, **person)

    def _interactive_event(self, payload, person):
        interactive = payload.get("interactiveData")
        if not isinstance(interactive, dict) and isinstance(payload.get("interactiveDataRef"), dict):
            try:
                interactive = self._resolve_ref(payload["interactiveDataRef"])
            except ConnectorError as exc:
                note = f"Apple large interactive answer unreadable: {exc.message}"
                return InboundEvent("ignore", note=note, **person)
        if not isinstance(interactive, dict):
            return InboundEvent("ignore", note="Apple interactive message without data", **person)
        chosen = _chosen(interactive)
        if chosen:
            return InboundEvent("button", text=",".join(chosen), **person)
        reply = interactive.get("replyMessage") or (interactive.get("data") or {}).get("replyMessage") or {}
        if reply.get("title"):
            return InboundEvent("message", text=str(reply["title"]), remote_message_id=str(payload.get("id")), **person)
        return InboundEvent("ignore", note="Apple interactive answer of an unknown kind", **person)

    def _fetch_encrypted(self, item, what):
        """preDownload, then the encrypted bytes (length checked against the announced size)."""
        headers = self._auth() | {
            "MMCS-Url": item.get("url") or "",
            "MMCS-Signature": _signature_b64(item),
            "MMCS-Owner": item.get("owner") or "",
        }
        target = self._json(self._request("GET", "preDownload", what, headers=headers), what).get("download-url")
        if not target:
            raise ConnectorError(f"Apple gave no download address for {what}")
        size = _size(item.get("size"))
        # the project's guarded download (public address, byte cap, total deadline): no authorization sent
        data = download_url(None, InboundFile(target, what, size=size), MAX_FILE, RETRY_SECONDS)
        if size and len(data) != size:
            raise ConnectorError(f"{what}: {len(data)} bytes downloaded, Apple announced {size}", RETRY_SECONDS)
        return data

    def download(self, file):
        if (file.size or 0) > MAX_FILE:
            raise FileTooLarge(f"{file.name}: {file.size} bytes, over the 100 MB limit")
        item = json.loads(file.ref)
        return decrypt(self._fetch_encrypted(item, file.name), item.get("key"))

    def _resolve_ref(self, ref):
        """An ``interactiveDataRef`` (over 10 KB): download, decrypt, then Apple's ``/decodePayload``."""
        item = _file_ref(ref)
        plain = decrypt(self._fetch_encrypted(item, "interactive data"), item["key"])
        headers = self._auth() | {"bid": str(ref.get("bid") or BUSINESS_BID)}
        answer = self._request("POST", "decodePayload", "the interactive data", headers=headers, data=plain)
        data = self._json(answer, "the interactive data")
        return data.get("interactiveData") if isinstance(data.get("interactiveData"), dict) else data

    # -- outbound ---------------------------------------------------------------
    def _message_id(self, ref, part):
        """A UUID per part of an outbound row: the same on a retry."""
        if not ref:
            return str(uuid.uuid4())
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"openlines:apple:{self.business_id}:{ref}:{part}"))

    def _post(self, chat_id, body, message_id, what="the message", auto_reply=False):
        headers = self._auth() | {"id": message_id, "Destination-Id": chat_id, "Content-Type": "application/json"}
        if auto_reply:  # a bot wrote it, not a person (Apple's common specifications)
            headers["auto-reply"] = "true"
        body = {"v": 1, "id": message_id, "sourceId": self.business_id, "destinationId": chat_id, **body}
        self._request("POST", "message", what, headers=headers, data=json.dumps(body).encode())
        return message_id

    def _upload(self, file):
        encrypted, key = encrypt(file.data or b"")
        size = str(len(encrypted))
        headers = self._auth() | {"MMCS-Size": size, "size": size}
        slot = self._json(self._request("GET", "preUpload", f"{file.name} (upload)", headers=headers), file.name)
        if not slot.get("upload-url"):
            raise ConnectorError(f"Apple gave no upload address for {file.name}", RETRY_SECONDS)
        answer = self._request(
            "POST",
            slot["upload-url"],
            f"{file.name} (upload)",
            deadline=UPLOAD_DEADLINE,
            data=encrypted,
            headers={"Content-Length": size},
        )
        checksum = (self._json(answer, file.name).get("singleFile") or {}).get("fileChecksum")
        if not checksum:
            raise ConnectorError(f"Apple gave no checksum for {file.name}", RETRY_SECONDS)
        return {
            "name": file.name or "file",
            "mimeType": file.mimetype or "application/octet-stream",
            "size": size,
            "signature-base64": checksum,
            "url": slot.get("mmcs-url") or "",
            "owner": slot.get("mmcs-owner") or "",
            "key": key,
        }

    def _list_picker(self, title, buttons, request_id):
        items = [
            {"identifier": str(data), "title": str(label), "order": i, "style": "default"}
            for i, (label, data) in enumerate(buttons)
        ]
        section = {"title": title, "order": 0, "multipleSelection": False, "items": items}
        return {
            "bid": BUSINESS_BID,
            "data": {"version": "1.0", "requestIdentifier": request_id, "listPicker": {"sections": [section]}},
            "receivedMessage": {"style": "small", "title": title},
            "replyMessage": {"style": "small", "title": title},
        }

    def send(self, message):
        text, files, buttons = (message.text or "").strip(), list(message.files), list(message.buttons)
        capabilities = getattr(message, "capabilities", None)
        if buttons and capabilities is not None and "LIST" not in capabilities.split(","):
            # the device announced no list picker: the choices go as text, to be answered by typing one
            text = "\n".join(filter(None, [text, *(f"• {label}" for label, _data in buttons)]))
            buttons = []
        for file in files:
            if len(file.data or b"") > MAX_FILE:
                raise ConnectorError(f"{file.name}: Apple takes files up to 100 MB")
        whole = bool(buttons and text and len(text) <= TITLE_LIMIT and "\n" not in text)  # the picker's title says all
        sent, bot = [], bool(getattr(message, "auto_reply", False))
        try:
            if (text and not whole) or files:
                shown = ["" if whole else text, PLACEHOLDER * len(files)]  # one placeholder per file
                body = {"type": "text", "body": "\n".join(filter(None, shown))}
                if files:
                    body["attachments"] = [self._upload(f) for f in files]
                sent.append(self._post(message.chat_id, body, self._message_id(message.ref, "text"), auto_reply=bot))
            if buttons:
                request_id = self._message_id(message.ref, "request")
                picker = self._list_picker(text if whole else _headline(text), buttons, request_id)
                body = {"type": "interactive", "interactiveData": picker}
                picker_id = self._message_id(message.ref, "picker")
                sent.append(self._post(message.chat_id, body, picker_id, "the choice", auto_reply=bot))
        except ConnectorError as exc:
            exc.sent_ids = list(sent)
            raise
        return sent

    typing_marks = True  # typing_start / typing_end; Apple's public pages show no read receipt to send
    client_typing = True  # the customer's typing_start comes in; no typing_end on sending: their message ends it

    def send_typing(self, chat_id, typing=True, reply_to=""):
        """Show (or stop showing) the business typing in the customer's Messages."""
        kind = "typing_start" if typing else "typing_end"
        return self._post(chat_id, {"type": kind}, str(uuid.uuid4()), "the typing indicator")

    # -- account ----------------------------------------------------------------
    def test(self):
        """Apple has no "who am I" call: ask for an upload address (nothing is uploaded), which needs a valid JWT."""
        headers = self._auth() | {"MMCS-Size": "16", "size": "16"}
        self._json(self._request("GET", "preUpload", "the test", headers=headers), "the test")
        return f"Business {self.business_id}"

    def set_webhook(self, url, secret):
        """The MSP's address is entered in Apple Business Register, not through the API: check the credentials."""
        self.test()
        return True

    def delete_webhook(self):
        return True
