"""A fake of Apple's Messages for Business gateway (MSP REST API) on 127.0.0.1, for tests (no Odoo import).

Routes, as Apple documents them (docs/channels/apple.md has the sources):

* ``POST /v1/message`` -- headers ``Authorization: Bearer <JWT>``, ``id``,
  ``Source-Id`` (the Business id), ``Destination-Id`` (the customer); body
  ``{v: 1, type, id, sourceId, destinationId, ...}``; 200 with an empty body.
* ``GET /v1/preUpload`` (``MMCS-Size``) -> ``{upload-url, mmcs-url, mmcs-owner}``;
  ``POST <upload-url>`` with the encrypted bytes -> ``{singleFile: {fileChecksum}}``.
* ``GET /v1/preDownload`` (``MMCS-Url``, ``MMCS-Signature`` in Base64,
  ``MMCS-Owner``) -> ``{download-url}``; ``GET <download-url>`` (no auth).
* ``POST /v1/decodePayload`` (``bid``) with a decrypted interactive data reference.

It refuses what Apple refuses: no ``Authorization`` -> 401; a JWT that fails
validation (not HS256, another key, ``iss`` not the MSP id) -> 403; a missing
or malformed field -> 400; an unknown ``destination-id`` -> 404 (Apple's
response-code table, register.apple.com .../msp-rest-api/common-specs and the
developer.apple.com attachment pages).  The JWT is checked by the fake's own
code, not the connector's.  :meth:`FakeApple.inbound` builds what Apple's
gateway posts to the MSP: a gzip body and a JWT with ``aud`` = the MSP id.
"""

from __future__ import annotations

import base64
import collections
import gzip
import hashlib
import hmac
import itertools
import json
import os
import threading
import time
import uuid
from urllib.parse import unquote

from .fake_telegram import LoopbackHandler, LoopbackServer, fixtures_dir

BID = "com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:com.apple.icloud.apps.messages.business.extension"
SENT_TYPES = {"text", "interactive", "typing_start", "typing_end", "richLink"}  # close is receive-only
MAX_SIZE = 100 * 1024 * 1024
BUSINESS_ID = "a884eddf-2d3c-4e7a-9b1c-0f5e6d7c8b9a"  # the prefix of Apple's example Source-Id
MSP_ID = "5f1b6f6c-6a77-4bde-9f3e-3c1d2e4f5a6b"


def load_fixture(name):
    """The Apple sample ``name`` (``fixtures/apple/<name>.json``, sources in SOURCES.md) as a dict."""
    path = fixtures_dir() / "apple" / (name if name.endswith(".json") else name + ".json")
    return json.loads(path.read_text(encoding="utf-8"))


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def aes_ctr(key, data):
    """AES-256-CTR with the all-zero IV Apple uses (encrypt and decrypt are the same)."""
    from cryptography.hazmat.backends import default_backend  # noqa: PLC0415
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: PLC0415

    context = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16), backend=default_backend()).encryptor()
    return context.update(data) + context.finalize()


class _Handler(LoopbackHandler):
    server_version = "FakeAppleGateway/1.0"

    def serve(self, method, url, body):
        status, payload = self.server.fake.handle(method, unquote(url.path), self.headers, body)
        if payload == b"":  # Apple answers a sent message with 200 and content-length 0
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.reply(status, payload)


class FakeApple(LoopbackServer):
    handler_class = _Handler
    name = "FakeApple"

    def __init__(self, business_id=BUSINESS_ID, msp_id=MSP_ID):
        self.business_id = business_id
        self.msp_id = msp_id
        self.secret = base64.b64encode(hashlib.sha256(b"fake apple msp secret").digest()).decode()
        self.calls = []  # (route, {"headers": {...}, "body": ...})
        self.messages = []  # bodies accepted by /message
        self.customers = set()  # destination ids Apple knows; empty: any
        self.files = {}  # n -> {"size", "data", "url", "owner", "checksum"}
        self.decoded = {}  # plain interactive-data-ref bytes -> what /decodePayload answers
        self._slots = itertools.count(1)
        self._errors = collections.defaultdict(collections.deque)
        self._lock = threading.RLock()

    @property
    def api_url(self):
        return self.url + "/v1"

    # -- scripting ------------------------------------------------------------------
    def queue_error(self, route, status, times=1):
        with self._lock:
            self._errors[route].extend([status] * times)

    def sent(self, kind=None):
        with self._lock:
            return [m for m in self.messages if kind is None or m.get("type") == kind]

    def jwt(self, claims, secret=None, alg="HS256"):
        key = base64.b64decode(secret or self.secret)
        head = _b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        body = _b64url(json.dumps(claims).encode())
        signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64url(signature)}"

    def inbound(self, payload, compress=True, token=None, **headers):
        """``(body, headers)`` of what Apple's gateway posts to the MSP's ``/message`` for ``payload``."""
        raw = json.dumps(payload).encode()
        out = {
            "Authorization": f"Bearer {token or self.jwt({'aud': self.msp_id, 'iat': int(time.time())})}",
            "id": str(payload.get("id") or ""),
            "source-id": str(payload.get("sourceId") or ""),
            "destination-id": str(payload.get("destinationId") or self.business_id),
            "device-agent": "iPhone OS",
            "capability-list": "AUTH,LIST,TIME,FORM,QUICK,AUTH2",
            "Content-Type": "application/json",
        }
        if compress:
            out["Content-Encoding"] = "gzip"
        out.update(headers)
        return (gzip.compress(raw) if compress else raw), {k: v for k, v in out.items() if v is not None}

    def customer_file(self, data, name="photo.jpg", mimetype="image/jpeg"):
        """Store ``data`` as a customer's attachment (encrypted, as Apple keeps it); its entry in ``attachments``."""
        key = os.urandom(32)
        encrypted = aes_ctr(key, data)
        with self._lock:
            n = next(self._slots)
            checksum = hashlib.sha1(encrypted).digest()
            self.files[n] = {
                "size": len(encrypted),
                "data": encrypted,
                "url": f"https://p54-content.icloud.com/fake/{n}",
                "owner": f"M{n:040x}",
                "checksum": base64.b64encode(checksum).decode(),
            }
        slot = self.files[n]
        return {
            "name": name,
            "mimeType": mimetype,
            "size": slot["size"],
            "url": slot["url"],
            "owner": slot["owner"],
            "signature": checksum.hex().upper(),
            "key": "00" + key.hex().upper(),
        }

    def uploaded(self, attachment):
        """The plain bytes of an attachment we sent (decrypted with the key the message carries)."""
        with self._lock:
            slot = next(s for s in self.files.values() if s["url"] == attachment["url"])
        return aes_ctr(bytes.fromhex(attachment["key"][2:]), slot["data"])

    # -- dispatch -------------------------------------------------------------------
    def handle(self, method, path, headers, body):
        with self._lock:
            route = path.rstrip("/").split("/")[-2] if path.startswith(("/upload/", "/download/")) else path
            self.calls.append((route, {"headers": dict(headers.items()), "body": body}))
            if self._errors[route]:
                return self._errors[route].popleft(), {"error": "scripted"}
            if path.startswith("/download/") and method == "GET":
                slot = self.files.get(int(path.rsplit("/", 1)[1]))
                return (200, slot["data"]) if slot and slot["data"] is not None else (404, {"error": "not found"})
            if path.startswith("/upload/") and method == "POST":
                return self._upload(int(path.rsplit("/", 1)[1]), headers, body)
            handler = {
                ("POST", "/v1/message"): self._message,
                ("GET", "/v1/preUpload"): self._pre_upload,
                ("GET", "/v1/preDownload"): self._pre_download,
                ("POST", "/v1/decodePayload"): self._decode_payload,
            }.get((method, path))
            if not handler:
                return 404, {"error": "unknown route"}
            refused = self._refuse_auth(headers)
            return refused or handler(headers, body)

    def _refuse_auth(self, headers):
        """401 without a bearer JWT; 403 when it fails validation (HS256, our secret, iss = MSP id)."""
        value = headers.get("Authorization") or ""
        if not value.startswith("Bearer "):
            return 401, {"error": "missing Authorization"}
        try:
            head, body, signature = value[7:].split(".")
            header = json.loads(_unb64url(head))
            claims = json.loads(_unb64url(body))
            expected = hmac.new(base64.b64decode(self.secret), f"{head}.{body}".encode(), hashlib.sha256).digest()
            valid = (
                header.get("alg") == "HS256"
                and hmac.compare_digest(_unb64url(signature), expected)
                and claims.get("iss") == self.msp_id
                and isinstance(claims.get("iat"), int)
                and abs(claims["iat"] - time.time()) < 3600
            )
        except (ValueError, TypeError, AttributeError):
            valid = False
        if not valid:
            return 403, {"error": "JWT failed validation"}
        if (headers.get("Source-Id") or "") != self.business_id:
            return 403, {"error": "source-id is not a Business id of this MSP"}  # exact code unverified
        return None

    def _message(self, headers, body):
        try:
            message = json.loads(body)
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(message, dict):
            return 400, {"error": "body is not a JSON object"}
        destination = headers.get("Destination-Id") or ""
        if not headers.get("id") or not destination:
            return 400, {"error": "id and destination-id headers are required"}
        if message.get("v") != 1 or message.get("id") != headers.get("id"):
            return 400, {"error": "v must be 1 and id must match the id header"}
        if message.get("sourceId") != self.business_id or message.get("destinationId") != destination:
            return 400, {"error": "sourceId/destinationId must match the headers"}
        if self.customers and destination not in self.customers:
            return 404, {"error": "destination-id not recognized"}
        error = self._content_error(message)
        if error:
            return 400, {"error": error}
        self.messages.append(message)
        return 200, b""

    def _content_error(self, message):
        kind = message.get("type")
        if kind not in SENT_TYPES:
            return f"unknown type {kind!r}"
        if kind == "text":
            if not isinstance(message.get("body"), str) or not message["body"]:
                return "a text message needs a body"
            for item in message.get("attachments") or []:
                if error := self._attachment_error(item):
                    return error
        if kind == "interactive":
            return self._interactive_error(message.get("interactiveData"))
        return None

    def _attachment_error(self, item):
        needed = ("name", "mimeType", "size", "signature-base64", "url", "owner", "key")
        if not isinstance(item, dict) or any(not item.get(k) for k in needed) or not isinstance(item["size"], str):
            return "an attachment needs name, mimeType, size (a string), signature-base64, url, owner and key"
        slot = next((s for s in self.files.values() if s["url"] == item["url"] and s["owner"] == item["owner"]), None)
        if not slot or slot["data"] is None:
            return "attachment not uploaded"
        if slot["checksum"] != item["signature-base64"] or str(slot["size"]) != item["size"]:
            return "attachment signature or size does not match the upload"
        key = item["key"]
        if len(key) != 66 or not key.startswith("00"):
            return "key must be 00 followed by the 32-byte key in hex"
        return None

    def _interactive_error(self, data):
        if not isinstance(data, dict) or data.get("bid") != BID:
            return "interactiveData.bid must be the Messages for Business extension"
        inner = data.get("data") or {}
        if not inner.get("requestIdentifier") or not (inner.get("version") or inner.get("mspVersion")):
            return "interactiveData.data needs requestIdentifier and version"
        if not (data.get("receivedMessage") or {}).get("title"):
            return "interactiveData.receivedMessage.title is required"
        picker = inner.get("listPicker")
        if picker is not None:
            items = [i for s in picker.get("sections") or [] for i in s.get("items") or []]
            if not items or any(not i.get("identifier") or not i.get("title") for i in items):
                return "every list picker item needs an identifier and a title"
        return None

    def _pre_upload(self, headers, body):
        try:
            size = int(headers.get("MMCS-Size") or headers.get("size") or "")
        except ValueError:
            return 400, {"error": "size header is required"}
        if not 0 < size <= MAX_SIZE:
            return 400, {"error": "size out of range"}
        n = next(self._slots)
        self.files[n] = {
            "size": size,
            "data": None,
            "url": f"https://p54-content.icloud.com/fake/{n}",
            "owner": f"M{n:040x}",
            "checksum": None,
        }
        slot = self.files[n]
        return 200, {"upload-url": f"{self.url}/upload/{n}", "mmcs-url": slot["url"], "mmcs-owner": slot["owner"]}

    def _upload(self, n, headers, body):
        slot = self.files.get(n)
        if not slot or slot["data"] is not None:
            return 404, {"error": "unknown upload"}
        if len(body) != slot["size"] or str(headers.get("Content-Length")) != str(slot["size"]):
            return 400, {"error": "content-length differs from the size given to preUpload"}
        slot["data"] = body
        slot["checksum"] = base64.b64encode(hashlib.sha1(body).digest()).decode()
        return 200, {"singleFile": {"fileChecksum": slot["checksum"]}}

    def _pre_download(self, headers, body):
        url, signature, owner = (headers.get(h) for h in ("MMCS-Url", "MMCS-Signature", "MMCS-Owner"))
        if not (url and signature and owner):
            return 400, {"error": "MMCS-Url, MMCS-Signature and MMCS-Owner are required"}
        found = next(((n, s) for n, s in self.files.items() if s["url"] == url and s["owner"] == owner), None)
        if not found or found[1]["checksum"] != signature:
            return 404, {"error": "file not found"}
        return 200, {"download-url": f"{self.url}/download/{found[0]}"}

    def _decode_payload(self, headers, body):
        if headers.get("bid") != BID:
            return 400, {"error": "bid header is required"}
        if body not in self.decoded:
            return 400, {"error": "not an interactive data reference of this gateway"}
        return 200, self.decoded[body]

    def interactive_ref(self, interactive_data):
        """Keep ``interactive_data`` as Apple keeps a large answer; the ``interactiveDataRef`` pointing to it."""
        plain = uuid.uuid4().bytes * 4  # opaque to the MSP: only /decodePayload reads it
        self.decoded[plain] = {"interactiveData": interactive_data}
        entry = self.customer_file(plain, "interactive", "application/octet-stream")
        return {"bid": BID, **{k: entry[k] for k in ("key", "owner", "url", "size", "signature")}}
