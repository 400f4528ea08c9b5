"""Avito Messenger connector, over ``requests``.

Authentication: OAuth2 client credentials at ``{api_base_url}/token/`` (the
address as developers.avito.ru documents it, trailing slash included).  The
token is cached per (API address, client id) in a class-level dict guarded by
a lock, renewed a minute before it expires and once more when the API answers
401 or 403 (an expired token answers 403).  Webhook v3: Avito signs nothing (a
signature header is mentioned by community code, algorithm unknown), so the
random webhook key in the URL is the secret and :meth:`AvitoConnector.verify`
accepts; for the same reason an inbound message never speaks as an employee
(``signed_webhooks = False``): the seller's own message (an echo) is accepted
only from the configured account and shown as the platform's.

A message about an item (``u2i`` chat) carries the item's title and link in
:attr:`InboundEvent.note` ("Avito item: <title> — <url>"); the processing
posts that note once in the dialog.  The title comes from the chat's context
(``GET /messenger/v2/accounts/{user}/chats/{chat}``), best effort: without
it the note has the link only.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

import requests

from .base import Connector, ConnectorError, InboundEvent, InboundFile, download_url, register
from .fetch import api_request
from .redact import scrub

_logger = logging.getLogger(__name__)

RETRY_SECONDS = 30
MAX_DOWNLOAD = 50 * 1024 * 1024
MAX_UPLOAD = 24 * 1024 * 1024  # uploadImages limit
TOKEN_MARGIN = 60  # seconds before expiry at which the token is renewed
TOKEN_PATH = "/token/"  # developers.avito.ru: POST https://api.avito.ru/token/
#: an answer that may mean "this token is no longer valid": get a new one and try once more
RENEW_STATUSES = (401, 403)
ITEM_URL = "https://www.avito.ru/{}"
WEBHOOK_PATH = "/openlines/webhook/"
ITEM_CACHE_SIZE = 512


def _sid(value):
    return "" if value is None else str(value)


def _largest_image(sizes):
    def area(key):
        width, _x, height = str(key).partition("x")
        return int(width) * int(height) if width.isdigit() and height.isdigit() else 0

    if not isinstance(sizes, dict) or not sizes:
        return ""
    return sizes[max(sizes, key=area)]


def _content(value):
    """``(text, files)`` of a message value."""
    kind, content, mid = value.get("type"), value.get("content") or {}, value.get("id")
    if kind == "text":
        return content.get("text") or "", []
    if kind == "image":
        url = _largest_image((content.get("image") or {}).get("sizes"))
        return "", [InboundFile(url, f"image_{mid}.jpg", "image/jpeg", 0, "photo")] if url else []
    if kind == "link":
        link = content.get("link") or {}
        return " ".join(p for p in ("🔗", link.get("text"), link.get("url")) if p), []
    if kind == "item":
        item = content.get("item") or {}
        return " ".join(p for p in ("📦", item.get("title"), item.get("item_url")) if p), []
    if kind == "location":
        loc = content.get("location") or {}
        return " ".join(_sid(p) for p in ("📍", loc.get("text"), loc.get("lat"), loc.get("lon")) if p), []
    if kind == "voice":
        return "🎤 voice message (listen in Avito)", []
    return content.get("text") or "", []


@register
class AvitoConnector(Connector):
    """Avito Messenger: webhook v3 in, messenger v1 out."""

    channel_type = "avito"
    default_api_base_url = "https://api.avito.ru"
    #: Avito signs no webhook: nothing inbound may speak as an employee
    signed_webhooks = False

    _tokens = {}  # (api base, client id) -> (token, expiry timestamp)
    _token_lock = threading.Lock()
    _items = collections.OrderedDict()  # (user id, chat id) -> item note

    def __init__(self, config):
        super().__init__(config)
        self.client_id = self.config.get("avito_client_id") or ""
        self.client_secret = self.config.get("avito_client_secret") or ""
        self.user_id = _sid(self.config.get("avito_user_id")).strip()

    # -- token ------------------------------------------------------------------
    def _token(self, renew=False):
        if not self.client_id or not self.client_secret:
            raise ConnectorError("Enter the Avito client ID and client secret on the channel first")
        key = (self.api_base_url, self.client_id)
        with self._token_lock:
            token, expiry = self._tokens.get(key, ("", 0))
            if renew or not token or expiry - TOKEN_MARGIN <= time.time():
                token, expiry = self._fetch_token()
                self._tokens[key] = (token, expiry)
            return token

    def _fetch_token(self):
        data = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
        try:
            response = api_request("POST", f"{self.api_base_url}{TOKEN_PATH}", data=data, timeout=self.timeout)
            result = response.json()
        except requests.RequestException as exc:
            text = scrub(exc, self.client_secret)
            raise ConnectorError(f"Avito unreachable (token): {text}", retry_after=RETRY_SECONDS) from None
        except ValueError:
            raise ConnectorError(f"Avito token: HTTP {response.status_code}", RETRY_SECONDS) from None
        if response.status_code != 200 or not result.get("access_token"):
            retry = RETRY_SECONDS if response.status_code >= 500 else None
            error = scrub(
                result.get("error_description") or result.get("error") or response.status_code, self.client_secret
            )
            raise ConnectorError(f"Avito refused the client credentials: {error}", retry, response.status_code)
        return result["access_token"], time.time() + int(result.get("expires_in") or 3600)

    @classmethod
    def forget_tokens(cls):
        with cls._token_lock:
            cls._tokens.clear()

    # -- plumbing -----------------------------------------------------------------
    def _request(self, method, path, **kwargs):
        """Call the API with the bearer token (renewed once on 401 or 403); return the JSON answer."""
        for renew in (False, True):
            token = self._token(renew)
            headers = {"Authorization": f"Bearer {token}"}
            try:
                response = api_request(
                    method, f"{self.api_base_url}{path}", headers=headers, timeout=self.timeout, **kwargs
                )
            except requests.RequestException as exc:
                text = scrub(exc, token, self.client_secret)
                raise ConnectorError(f"Avito unreachable: {text}", retry_after=RETRY_SECONDS) from None
            if response.status_code not in RENEW_STATUSES:
                break
        return self._result(response)

    def _result(self, response):
        status = response.status_code
        try:
            result = response.json() if response.content else {}
        except ValueError:
            result = {}
        if status < 400:
            return result
        error = result.get("error") if isinstance(result, dict) else None
        text = (error.get("message") if isinstance(error, dict) else error) or result.get("message") or ""
        message = f"Avito error HTTP {status}: {text}".strip()
        if status == 429:
            retry = int(response.headers.get("Retry-After") or 0) or 60
            raise ConnectorError(message, retry_after=retry, code=429)
        if status >= 500:
            raise ConnectorError(message, retry_after=RETRY_SECONDS, code=status)
        raise ConnectorError(message, code=status, blocked=status == 403 and "chat" in text.lower())

    def _account(self):
        if not self.user_id:
            raise ConnectorError("Enter the Avito account ID on the channel first")
        return f"/messenger/v1/accounts/{self.user_id}"

    # -- inbound ------------------------------------------------------------------
    def verify(self, headers, body, query):
        # Avito signs nothing documented: the random webhook key in the URL is the secret
        return True

    def dedup_key(self, payload):
        value = payload["payload"]["value"]
        if not value.get("id"):
            raise ValueError("Avito webhook without a message id")
        return _sid(value["id"])

    def parse(self, payload):
        if not isinstance(payload, dict) or not isinstance(payload.get("payload"), dict):
            return [InboundEvent("ignore", note="not an Avito webhook")]
        body = payload["payload"]
        value = body.get("value")
        if body.get("type") != "message" or not isinstance(value, dict):
            return [InboundEvent("ignore", note=f"Avito webhook {body.get('type')!r} is not served")]
        return [self._message_event(value)]

    def _message_event(self, value):
        chat_id, author = _sid(value.get("chat_id")), _sid(value.get("author_id"))
        person = {"chat_id": chat_id, "user_id": author, "name": f"Avito {author}"}
        text, files = _content(value)
        remote_id = f"{chat_id}:{value.get('id')}"
        if value.get("type") in ("system", "deleted") or author in ("", "0"):
            return InboundEvent("ignore", note=f"Avito {value.get('type')} message", **person)
        if author == _sid(value.get("user_id")) or (self.user_id and author == self.user_id):
            # the seller's own message: only from the configured account (an unsigned webhook can claim any id)
            if not self.user_id or author != self.user_id or _sid(value.get("user_id")) != self.user_id:
                return InboundEvent("ignore", note="Avito message of an account other than this channel's", **person)
            return InboundEvent("echo", text=text, files=files, remote_message_id=remote_id, **person)
        if not text and not files:
            return InboundEvent("ignore", note=f"Avito {value.get('type')!r} message without content", **person)
        note = self._item_note(value) if value.get("item_id") else ""
        return InboundEvent("message", text=text, files=files, remote_message_id=remote_id, note=note, **person)

    def _item_note(self, value):
        """``Avito item: <title> — <link>``, the title read from the chat once (best effort)."""
        key = (self.user_id or _sid(value.get("user_id")), _sid(value.get("chat_id")))
        with self._token_lock:
            if key in self._items:
                return self._items[key]
        url, title = ITEM_URL.format(value["item_id"]), ""
        try:
            chat = self._request("GET", f"/messenger/v2/accounts/{key[0]}/chats/{key[1]}")
            context = ((chat or {}).get("context") or {}).get("value") or {}
            title, url = context.get("title") or "", context.get("url") or url
        except ConnectorError as exc:
            _logger.info("Avito: no item details for chat %s: %s", key[1], exc.message)
        note = f"Avito item: {title} — {url}" if title else f"Avito item: {url}"
        with self._token_lock:
            self._items[key] = note
            while len(self._items) > ITEM_CACHE_SIZE:
                self._items.popitem(last=False)
        return note

    def download(self, file):
        return download_url(requests.get, file, MAX_DOWNLOAD, RETRY_SECONDS, timeout=self.timeout)

    # -- outbound -------------------------------------------------------------------
    def _send_image(self, chat_path, file):
        if len(file.data) > MAX_UPLOAD:
            raise ConnectorError(f"{file.name}: over Avito's 24 MB image limit")
        files = {"uploadfile[]": (file.name or "image.jpg", file.data, file.mimetype)}
        uploaded = self._request("POST", f"{self._account()}/uploadImages", files=files)
        image_id = next(iter(uploaded or {}), None)
        if not image_id:
            raise ConnectorError(f"Avito did not accept the image {file.name}", retry_after=RETRY_SECONDS)
        return self._request("POST", f"{chat_path}/messages/image", json={"image_id": image_id})

    def send(self, message):
        # Avito's API sends text and images only: other files go as links (their public URL) in the text
        images = [f for f in message.files if (f.mimetype or "").startswith("image/")]
        others = [f for f in message.files if f not in images]
        missing = [f.name for f in others if not f.url]
        if missing:
            raise ConnectorError(
                f"Avito accepts images only and these files have no public address: {', '.join(missing)}"
            )
        chat_path = f"{self._account()}/chats/{message.chat_id}"
        text = "\n".join(p for p in (message.text or "", *(f"📎 {f.name}: {f.url}" for f in others)) if p)
        if message.buttons:  # Avito has no buttons: offer the choices as text
            text = "\n".join([text, *(f"• {label}" for label, _data in message.buttons)]).strip()
        sent = []
        try:
            if text.strip():
                body = {"message": {"text": text}, "type": "text"}
                result = self._request("POST", f"{chat_path}/messages", json=body)
                sent.append(f"{message.chat_id}:{_sid((result or {}).get('id'))}")
            for file in images:
                result = self._send_image(chat_path, file)
                sent.append(f"{message.chat_id}:{_sid((result or {}).get('id'))}")
        except ConnectorError as exc:
            exc.sent_ids = list(sent)
            raise
        return sent

    # -- read marks -----------------------------------------------------------------------
    # developers.avito.ru, Messenger API, chatRead: POST /messenger/v1/accounts/{user_id}/chats/{chat_id}/read,
    # no body, answered {"ok": true}: the chat's messages are read. The API has no typing indicator to send,
    # and its webhook (v3, "message" only) reports neither the client's typing nor their reading.
    read_marks = True

    def mark_read(self, chat_id, message_id=""):
        return self._request("POST", f"{self._account()}/chats/{chat_id}/read")

    # -- polling --------------------------------------------------------------------------
    def poll(self, offset):
        """Read the unread chats, for an Odoo Avito cannot reach; ``offset``: the newest ``created`` seen.

        Each message becomes a webhook-shaped payload (same parsing, same
        de-duplication by message id); a chat read is marked read.
        """
        self._account()
        since, newest, payloads = int(offset or 0), int(offset or 0), []
        listing = self._request("GET", f"/messenger/v2/accounts/{self.user_id}/chats", params={"unread_only": "true"})
        for chat in (listing or {}).get("chats") or []:
            chat_id = _sid(chat.get("id"))
            context = (chat.get("context") or {}).get("value") or {}
            path = f"/messenger/v3/accounts/{self.user_id}/chats/{chat_id}/messages/"
            result = self._request("GET", path, params={"limit": 100})
            messages = result if isinstance(result, list) else (result or {}).get("messages") or []
            for message in messages:
                created = int(message.get("created") or 0)
                if created < since:
                    continue
                newest = max(newest, created)
                value = dict(message, chat_id=chat_id, user_id=int(self.user_id), item_id=context.get("id"))
                payload = {"type": "message", "value": {k: v for k, v in value.items() if v is not None}}
                payloads.append({"id": f"poll-{message.get('id')}", "version": "v3.0.0", "payload": payload})
            self.mark_read(chat_id)
        payloads.sort(key=lambda p: p["payload"]["value"].get("created") or 0)
        return payloads, str(newest) if newest else offset

    # -- account ------------------------------------------------------------------------
    def set_webhook(self, url, secret):
        self._request("POST", "/messenger/v3/webhook", json={"url": url})
        return True

    def delete_webhook(self):
        result = self._request("POST", "/messenger/v1/subscriptions") or {}
        for subscription in result.get("subscriptions") or []:
            url = subscription.get("url") or ""
            if WEBHOOK_PATH in url:
                self._request("POST", "/messenger/v1/webhook/unsubscribe", json={"url": url})
        return True

    def test(self):
        info = self._request("GET", "/core/v1/accounts/self") or {}
        return f"{info.get('name', '')} ({info.get('id', self.user_id)})".strip()
