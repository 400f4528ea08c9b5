"""Odnoklassniki (OK) bot API connector for groups, over ``requests``.

OK signs nothing.  The webhook key in the URL (``/openlines/webhook/<key>``,
43 random characters) is the only secret, so :meth:`OkConnector.verify`
always accepts.  OK documents its sender networks (217.20.145.192/28,
217.20.151.160/28, 217.20.153.48/28), but behind a reverse proxy the
connector does not see the client address (``verify`` gets headers, body and
query only): filter those networks at the proxy if wanted.

The token travels in the query string (``access_token``): error messages
built here are scrubbed of it, in every encoding (:func:`.redact.scrub`).

Outbound (apiok.ru, graph.user.messages and graph.chat.answer): an IMAGE
given by URL may appear once per request, so a message with several
pictures is several requests; buttons are an ``INLINE_KEYBOARD``
attachment of ``CALLBACK`` buttons whose press comes back as a
``MESSAGE_CALLBACK`` webhook, acknowledged with ``/graph/<chat>/answer``.
"""

from __future__ import annotations

import hashlib
import json
import logging

import requests

from .base import Connector, ConnectorError, InboundEvent, InboundFile, download_url, register
from .fetch import api_request
from .redact import scrub

_logger = logging.getLogger(__name__)

MAX_DOWNLOAD = 100 * 1024 * 1024
RETRY_SECONDS = 30
#: OK error codes -> seconds to wait: 1 unknown, 2 service unavailable, 8 flood, 11 limit reached
RETRY_CODES = {1: 30, 2: 30, 8: 60, 11: 300}
#: 10 permission denied, 455 the user does not accept messages from the group (docs: not verified here)
BLOCKED_CODES = {10, 455}
WEBHOOK_PATH = "/openlines/webhook/"
# one IMAGE given by URL per request (apiok.ru graph.chat.answer: "specify image URL, but only 1 such
# image can be present in request"): a message with several pictures is several requests
#: what a button press is acknowledged with (graph.chat.answer needs a message in its body)
ANSWER_TEXT = "✓"

_FILE_KINDS = {
    "IMAGE": ("photo", "image_{}.jpg", "image/jpeg"),
    "VIDEO": ("video", "video_{}.mp4", "video/mp4"),
    "AUDIO": ("audio", "audio_{}.mp3", "audio/mpeg"),
}


def _sid(value):
    return "" if value is None else str(value)


def _attachments(message):
    files, lines = [], []
    for i, item in enumerate(message.get("attachments") or []):
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type") or "").upper()
        payload = item.get("payload") or {}
        url = payload.get("url")
        if kind in _FILE_KINDS and url:
            file_kind, name, mimetype = _FILE_KINDS[kind]
            files.append(InboundFile(url, name.format(i + 1), mimetype, 0, file_kind))
        elif url:
            lines.append(f"🔗 {url}")
        else:
            lines.append(f"[{kind.lower() or 'attachment'}]")
    return files, lines


def _person(payload):
    sender = payload.get("sender") or {}
    recipient = payload.get("recipient") or {}
    return {
        "chat_id": _sid(recipient.get("chat_id")),
        "user_id": _sid(sender.get("user_id")),
        "name": sender.get("name") or _sid(sender.get("user_id")),
    }


def _message_event(payload):
    message = payload.get("message") or {}
    person = _person(payload)
    if not person["chat_id"]:
        return InboundEvent("ignore", note="OK message without a chat", **person)
    files, lines = _attachments(message)
    text = "\n".join(p for p in (message.get("text") or "", *lines) if p)
    if not text and not files:
        return InboundEvent("ignore", note="OK message without text or attachment", **person)
    mid = _sid(message.get("mid"))
    return InboundEvent("message", text=text, files=files, remote_message_id=mid, **person)


def _callback_event(payload):
    callback = payload.get("callback") or {}
    person = _person(payload)
    user = callback.get("user") or {}
    person["user_id"] = person["user_id"] or _sid(user.get("user_id"))
    person["name"] = user.get("name") or person["name"]
    data = callback.get("payload")
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return InboundEvent("button", text=text, callback_id=_sid(callback.get("callbackId")), **person)


@register
class OkConnector(Connector):
    """OK group bot: webhook in, ``/graph/me/messages/chat:ID`` out."""

    channel_type = "ok"
    default_api_base_url = "https://api.ok.ru"
    #: OK signs no webhook: nothing inbound may speak as an employee
    signed_webhooks = False

    # -- plumbing ---------------------------------------------------------------
    def _scrub(self, text):
        return scrub(text, self.token)

    def _request(self, method, path, body=None, params=None):
        url = f"{self.api_base_url}{path}"
        headers = {"Content-Type": "application/json;charset=utf-8"}
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        try:
            response = api_request(
                method,
                url,
                params={**(params or {}), "access_token": self.token},
                data=data,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ConnectorError(f"OK unreachable: {self._scrub(exc)}", retry_after=RETRY_SECONDS) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ConnectorError(f"OK answered HTTP {response.status_code}", RETRY_SECONDS, response.status_code)
        try:
            result = response.json()
        except ValueError:
            raise ConnectorError(f"OK answered HTTP {response.status_code} without JSON") from None
        if isinstance(result, dict) and result.get("error_code") is not None:
            raise self._api_error(result)
        if response.status_code >= 400:
            raise ConnectorError(f"OK answered HTTP {response.status_code}", code=response.status_code)
        return result

    def _api_error(self, result):
        code = result.get("error_code")
        try:
            code = int(code)
        except (TypeError, ValueError):
            pass
        message = f"OK error {code}: {self._scrub(result.get('error_msg') or '')}"
        if code in RETRY_CODES:
            return ConnectorError(message, retry_after=RETRY_CODES[code], code=code)
        return ConnectorError(message, code=code, blocked=code in BLOCKED_CODES)

    # -- inbound ------------------------------------------------------------------
    def verify(self, headers, body, query):
        # no signature exists: the random webhook key in the URL is the secret
        return True

    def dedup_key(self, payload):
        if not isinstance(payload, dict):
            raise TypeError("OK webhook body is not an object")
        message = payload.get("message")
        if isinstance(message, dict) and message.get("mid"):
            return _sid(message["mid"])
        callback = payload.get("callback")
        if isinstance(callback, dict) and callback.get("callbackId"):
            return "cb:" + _sid(callback["callbackId"])
        canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return "h:" + hashlib.sha1(canonical.encode()).hexdigest()

    def parse(self, payload):
        if not isinstance(payload, dict):
            return [InboundEvent("ignore", note="not an OK webhook")]
        kind = payload.get("webhookType") or ("MESSAGE_CREATED" if "message" in payload else "")
        if kind == "MESSAGE_CREATED":
            return [_message_event(payload)]
        if kind == "MESSAGE_CALLBACK":
            return [_callback_event(payload)]
        return [InboundEvent("ignore", note=f"OK webhook {kind or 'without type'!r} is not served")]

    def download(self, file):
        return download_url(requests.get, file, MAX_DOWNLOAD, RETRY_SECONDS, timeout=self.timeout)

    def acknowledge_button(self, event):
        """``POST /graph/<chat>/answer?callbackId=``: OK wants a message in the answer's body."""
        if not event.callback_id or not event.chat_id:
            return
        try:
            self._request(
                "POST",
                f"/graph/{self._chat(event.chat_id)}/answer",
                {"message": {"text": ANSWER_TEXT}},
                params={"callbackId": event.callback_id},
            )
        except ConnectorError as exc:
            _logger.warning("OK: graph.chat.answer failed: %s", exc.message)

    # -- outbound -------------------------------------------------------------------
    @staticmethod
    def _chat(chat_id):
        return chat_id if chat_id.startswith("chat:") else f"chat:{chat_id}"

    @staticmethod
    def _keyboard(buttons):
        rows = [[{"type": "CALLBACK", "text": str(label), "payload": str(data)}] for label, data in buttons]
        return {"type": "INLINE_KEYBOARD", "payload": {"keyboard": {"buttons": rows}}}

    def _bodies(self, message, text, images):
        """The requests of one message: the text with the first picture, one request per further picture,
        the buttons on the last request."""
        bodies = [{"text": text}]
        bodies[0]["attachments"] = [images[0]] if images else []
        bodies += [{"attachments": [image]} for image in images[1:]]
        if message.buttons:
            bodies[-1]["attachments"].append(self._keyboard(message.buttons))
        for body in bodies:
            if not body.get("attachments"):
                body.pop("attachments", None)
        return bodies

    def send(self, message):
        # OK fetches attachments by URL: pictures go as IMAGE attachments, other files as links in the text
        images, links = [], []
        for file in message.files:
            if not file.url:
                raise ConnectorError(f"Odnoklassniki fetches files by URL; {file.name} has no public address")
            if (file.mimetype or "").startswith("image/"):
                images.append({"type": "IMAGE", "payload": {"url": file.url}})
            else:
                links.append(f"📎 {file.name}: {file.url}")
        text = "\n".join(p for p in (message.text or "", *links) if p)
        if not text.strip() and not images:
            return []
        chat_id = self._chat(message.chat_id)
        sent = []
        try:
            for body in self._bodies(message, text, images):
                sent.append(self._post_message(chat_id, body, message))
        except ConnectorError as exc:
            exc.sent_ids = list(sent)
            raise
        return sent

    def _post_message(self, chat_id, content, message):
        path = f"/graph/me/messages/{chat_id}"
        try:
            result = self._request("POST", path, {"recipient": {"chat_id": chat_id}, "message": content})
        except ConnectorError as exc:
            keyboard = [a for a in content.get("attachments") or [] if a["type"] == "INLINE_KEYBOARD"]
            if not keyboard or not exc.is_permanent or exc.blocked:
                raise
            # the keyboard was refused: offer the choices as text rather than lose the question
            _logger.warning("OK refused an inline keyboard (%s): choices sent as text", exc.message)
            choices = "\n".join(f"• {label}" for label, _data in message.buttons)
            content = dict(content, text="\n".join(p for p in (content.get("text"), choices) if p))
            content["attachments"] = [a for a in content["attachments"] if a["type"] != "INLINE_KEYBOARD"]
            if not content["attachments"]:
                del content["attachments"]
            result = self._request("POST", path, {"recipient": {"chat_id": chat_id}, "message": content})
        return f"{chat_id}:{_sid((result or {}).get('message_id'))}"

    # -- typing and read marks ------------------------------------------------------------
    # apiok/documentation docs/method/en/graph.user/graph.user.messages/post.md, "Current user state":
    # POST /graph/me/messages/chat:ID with {"recipient": {"chat_id": ...}, "sender_action": ...}, where
    # "mark_seen" marks all messages as seen and "typing_on" shows typing (also sending_photo/video/audio).
    # No "typing off" is documented (the indicator ends with the answer), nor any typing or read event
    # sent to the group's webhook (graph.user.subscribe: MESSAGE_CREATED, MESSAGE_CALLBACK, CHAT_SYSTEM).
    typing_marks = read_marks = True

    def _sender_action(self, chat_id, action):
        chat_id = self._chat(chat_id)
        body = {"recipient": {"chat_id": chat_id}, "sender_action": action}
        return self._request("POST", f"/graph/me/messages/{chat_id}", body)

    def send_typing(self, chat_id, typing=True, reply_to=""):
        return self._sender_action(chat_id, "typing_on") if typing else False

    def mark_read(self, chat_id, message_id=""):
        return self._sender_action(chat_id, "mark_seen")  # the whole chat: what the operator opened

    # -- account ------------------------------------------------------------------------
    def set_webhook(self, url, secret):
        result = self._request("POST", "/graph/me/subscribe", {"url": url})
        if not (result or {}).get("success", True):
            raise ConnectorError("OK refused the webhook subscription")
        return True

    def subscriptions(self):
        result = self._request("GET", "/graph/me/subscriptions")
        return [s.get("url") for s in (result or {}).get("subscriptions") or [] if s.get("url")]

    def delete_webhook(self):
        for url in self.subscriptions():
            if WEBHOOK_PATH in url:
                self._request("POST", "/graph/me/unsubscribe", {"url": url})
        return True

    def test(self):
        info = self._request("GET", "/graph/me/info") or {}
        return f"{info.get('name', '')} ({info.get('user_id', '')})".strip()
