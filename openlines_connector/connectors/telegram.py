"""Telegram Bot API connector, built on python-telegram-bot (PTB 22).

PTB is asyncio-based: every public method runs one ``asyncio.run`` in which a
fresh :class:`telegram.Bot` and its HTTPX client live and die, so the
connector works from Odoo's synchronous worker threads and keeps no loop.
``Bot.initialize()`` is never called (it costs a ``getMe``): one API call is
one HTTP request.  Inbound updates are parsed from the raw dict, not with
PTB's ``de_json``, so old or partial samples still parse.

Telegram puts the token in every URL; httpx logs those URLs at INFO level.
A logging filter on the loggers that print URLs redacts ``bot<token>``, and
every error built here is scrubbed of the token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hmac
import json
import logging
import math
import mimetypes
import re
from urllib.parse import urlencode

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import FileSizeLimit, InlineKeyboardButtonLimit, MessageLimit
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from .base import (
    Connector,
    ConnectorError,
    FileTooLarge,
    InboundEvent,
    InboundFile,
    register,
)
from .redact import scrub

_logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
# the Bot API's limits as python-telegram-bot encodes them (decimal megabytes: 20 MB is 20,000,000 bytes)
MAX_DOWNLOAD = int(FileSizeLimit.FILESIZE_DOWNLOAD)  # bots may download files up to 20 MB
MAX_UPLOAD = int(FileSizeLimit.FILESIZE_UPLOAD)  # multipart uploads up to 50 MB; Telegram answers 413 above
MAX_PHOTO = int(FileSizeLimit.PHOTOSIZE_UPLOAD)  # sendPhoto limit; bigger images go as documents
TEXT_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH)
CAPTION_LIMIT = int(MessageLimit.CAPTION_LENGTH)
CALLBACK_DATA_LIMIT = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # bytes
RETRY_SECONDS = 30
PHOTO_TYPES = {"image/jpeg", "image/pjpeg", "image/png", "image/webp", "image/bmp"}
GROUP_NOTE = "group chats are not served"

# -- token redaction in logs ---------------------------------------------------
_TOKEN_RE = re.compile(r"bot\d+(?::|%3A)[A-Za-z0-9_-]+", re.IGNORECASE)
_URL_LOGGERS = ("httpx", "telegram.Bot", "telegram.request.BaseRequest")


class _RedactToken(logging.Filter):
    """Replace the bot token in log messages by a placeholder."""

    openlines_redact = True

    def filter(self, record):
        try:
            text = record.getMessage()
        except (TypeError, ValueError):  # a broken record is not ours to fix
            return True
        # always freeze the text: PTB logs dicts that it changes afterwards
        record.msg, record.args = _TOKEN_RE.sub("bot<token>", text), None
        return True


def _install_redaction():
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(getattr(f, "openlines_redact", False) for f in logger.filters):
            logger.addFilter(_RedactToken())


_install_redaction()


@functools.cache
def _ssl_context():
    """One TLS context for every call: building it costs ~50 ms (CA bundle)."""
    return httpx.create_ssl_context()


# -- parsing helpers ------------------------------------------------------------
def _sid(value):
    return "" if value is None else str(value)


def _join(*parts):
    return " ".join(str(p) for p in parts if p).strip()


def _is_private(chat):
    kind = chat.get("type")
    if kind:
        return kind == "private"
    try:  # old samples lack chat.type: group and channel ids are negative
        return int(chat.get("id", 0)) >= 0
    except (TypeError, ValueError):
        return False


def _person(chat, sender):
    """The chat and client fields shared by every event."""
    chat_id = chat.get("id", sender.get("id"))
    return {
        "chat_id": _sid(chat_id),
        "user_id": _sid(sender.get("id", chat_id)),
        "name": _join(sender.get("first_name"), sender.get("last_name"))
        or sender.get("username")
        or _join(chat.get("first_name"), chat.get("last_name"))
        or chat.get("title")
        or "",
        "username": sender.get("username") or chat.get("username") or "",
        "lang": sender.get("language_code") or "",
    }


def _phone(number):
    number = str(number or "").strip()
    return "+" + number if number.isdigit() else number


def _location_text(msg):
    loc = msg.get("location") or {}
    lat, lon = loc.get("latitude"), loc.get("longitude")
    if lat is None or lon is None:
        return ""
    venue = msg.get("venue") or {}
    head = _join(venue.get("title"), venue.get("address")) or f"Location: {lat}, {lon}"
    url = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
    return f"📍 {head}\n{url}"


def _contact_text(msg):
    contact = msg.get("contact") or {}
    if not contact:
        return "", ""
    name = _join(contact.get("first_name"), contact.get("last_name"))
    phone = _phone(contact.get("phone_number"))
    text = "👤 Contact: " + ", ".join(p for p in (name, phone) if p)
    sender_id = (msg.get("from") or {}).get("id")
    own = sender_id is not None and contact.get("user_id") == sender_id
    return text, phone if own else ""


# key, InboundFile kind, default name, default mimetype, file_name usable
_MEDIA = (
    ("animation", "video", "animation_{}.mp4", "video/mp4", True),
    ("document", "document", "document_{}", "application/octet-stream", True),
    ("audio", "audio", "audio_{}.mp3", "audio/mpeg", True),
    ("voice", "voice", "voice_{}.ogg", "audio/ogg", False),
    ("video", "video", "video_{}.mp4", "video/mp4", True),
    ("video_note", "video", "video_note_{}.mp4", "video/mp4", False),
)


def _sticker_file(sticker, mid):
    if sticker.get("is_animated"):
        ext, mimetype = "tgs", "application/x-tgsticker"
    elif sticker.get("is_video"):
        ext, mimetype = "webm", "video/webm"
    else:
        ext, mimetype = "webp", "image/webp"
    return _file(sticker, f"sticker_{mid}.{ext}", mimetype, "sticker")


def _file(media, name, mimetype, kind):
    return InboundFile(media.get("file_id", ""), name, mimetype, media.get("file_size") or 0, kind)


def _files(msg):
    """The :class:`InboundFile` list of a message (at most one file in Telegram)."""
    mid = msg.get("message_id", "")
    if msg.get("photo"):  # sizes, smallest first
        return [_file(msg["photo"][-1], f"photo_{mid}.jpg", "image/jpeg", "photo")]
    if msg.get("sticker"):
        return [_sticker_file(msg["sticker"], mid)]
    for key, kind, default_name, default_type, named in _MEDIA:
        media = msg.get(key)
        if not media:
            continue  # an animation also comes as a document: the first key wins
        mimetype = media.get("mime_type") or default_type
        name = named and media.get("file_name") or default_name.format(mid)
        if key == "document" and not media.get("file_name"):
            name += mimetypes.guess_extension(mimetype) or ""
        return [_file(media, name, mimetype, kind)]
    return []


def _message_event(msg, kind):
    """An event of ``kind`` (message or edit) for a Telegram Message dict."""
    chat = msg.get("chat") or {}
    person = _person(chat, msg.get("from") or {})
    if not _is_private(chat):
        return InboundEvent("ignore", note=GROUP_NOTE, **person)
    contact_text, phone = _contact_text(msg)
    files = _files(msg)
    text = msg.get("text") or msg.get("caption") or ""
    text = "\n".join(p for p in (text, _location_text(msg), contact_text) if p)
    if not text and msg.get("sticker"):
        text = msg["sticker"].get("emoji") or ""
    if not text and not files:
        note = "message without text or file (service message?)"
        return InboundEvent("ignore", note=note, **person)
    return InboundEvent(
        kind,
        text=text,
        files=files,
        phone=phone,
        remote_message_id=f"{person['chat_id']}:{msg.get('message_id', '')}",
        **person,
    )


def _callback_event(query):
    sender = query.get("from") or {}
    # an inline-mode message has no chat: answer the sender in private
    chat = (query.get("message") or {}).get("chat")
    chat = chat or {"id": sender.get("id"), "type": "private"}
    person = _person(chat, sender)
    if not _is_private(chat):
        return InboundEvent("ignore", note=GROUP_NOTE, **person)
    data, callback_id = query.get("data") or "", _sid(query.get("id"))
    return InboundEvent("button", text=data, callback_id=callback_id, **person)


def _member_event(update):
    chat = update.get("chat") or {}
    person = _person(chat, update.get("from") or {})
    status = (update.get("new_chat_member") or {}).get("status")
    if not _is_private(chat):
        return InboundEvent("ignore", note=GROUP_NOTE, **person)
    if status == "kicked":
        return InboundEvent("blocked", **person)
    return InboundEvent("ignore", note=f"my_chat_member status {status!r}", **person)


_PARSERS = {
    "message": lambda m: _message_event(m, "message"),
    "edited_message": lambda m: _message_event(m, "edit"),
    "callback_query": _callback_event,
    "my_chat_member": _member_event,
}


# -- outbound helpers -------------------------------------------------------------
def _u16(text):
    """Length in UTF-16 code units, the unit of Telegram's limits."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _fit(text, limit):
    """Number of leading characters of ``text`` that fit in ``limit`` UTF-16 units."""
    used = 0
    for i, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return i
    return len(text)


def split_text(text, limit=TEXT_LIMIT):
    """Cut ``text`` in chunks of ``limit`` UTF-16 units, at a newline or a space."""
    chunks, rest = [], text or ""
    while _u16(rest) > limit:
        cut = _fit(rest, limit)
        window = rest[:cut]
        pos = window.rfind("\n")
        if pos < cut // 2:
            pos = max(window.rfind(" "), pos)
        if pos < cut // 2:
            chunks.append(window)
            rest = rest[cut:]
        else:
            chunks.append(window[:pos])
            rest = rest[pos + 1 :]
    chunks.append(rest)
    return [c for c in chunks if c.strip()]


def _keyboard(buttons):
    if not buttons:
        return None
    for _label, data in buttons:
        if len(str(data).encode()) > CALLBACK_DATA_LIMIT:
            raise ConnectorError(
                f"Button data longer than {CALLBACK_DATA_LIMIT} bytes: {data!r}",
                code=400,
            )
    rows = [[InlineKeyboardButton(str(t), callback_data=str(d))] for t, d in buttons]
    return InlineKeyboardMarkup(rows)


def _is_photo(file):
    return (file.mimetype or "").lower() in PHOTO_TYPES and len(file.data) <= MAX_PHOTO


def _input_file(file):
    upload = InputFile(file.data, filename=file.name or "file")
    if file.mimetype and file.mimetype != "application/octet-stream":
        upload.mimetype = file.mimetype
    return upload


def _retry_seconds(exc):
    # PTB >= 22.2 stores a timedelta; its public int property warns (deprecated)
    value = getattr(exc, "_retry_after", None)
    if value is None:
        value = exc.retry_after
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    return max(1, math.ceil(value))


@register
class TelegramConnector(Connector):
    """Telegram Bot API: webhook or getUpdates in, sendMessage & co. out."""

    channel_type = "telegram"
    default_api_base_url = "https://api.telegram.org"

    # -- plumbing -----------------------------------------------------------
    def _scrub(self, text):
        return _TOKEN_RE.sub("bot<token>", scrub(text, self.token, self.secret))

    def _run(self, action, deadline=None):
        """Run ``await action(bot, request)`` in a fresh loop; map PTB errors (``deadline``: total seconds)."""

        async def session():
            request = HTTPXRequest(
                connection_pool_size=2,
                connect_timeout=min(self.timeout, 10),
                read_timeout=self.timeout,
                write_timeout=self.timeout,
                pool_timeout=self.timeout,
                media_write_timeout=max(self.timeout, 60),
                proxy=self.config.get("proxy") or None,  # else HTTPS_PROXY & co.
                httpx_kwargs={"verify": _ssl_context()},
            )
            try:
                await request.initialize()  # only the HTTP client: no getMe
                bot = Bot(
                    self.token,
                    base_url=self.api_base_url + "/bot",
                    base_file_url=self.api_base_url + "/file/bot",
                    request=request,
                    get_updates_request=request,
                )
                return await action(bot, request)
            finally:
                await request.shutdown()

        try:
            # a total deadline: PTB's timeouts bound each read, not the call (uploads and downloads included)
            return asyncio.run(asyncio.wait_for(session(), deadline or max(4 * self.timeout, 90)))
        except TelegramError as exc:
            raise self._error(exc) from None
        except TimeoutError:
            raise ConnectorError("Telegram timed out: no complete answer in time", retry_after=RETRY_SECONDS) from None

    def _error(self, exc):
        """Translate a PTB exception into a :class:`ConnectorError` (token-free)."""
        msg = self._scrub(exc) or type(exc).__name__
        if isinstance(exc, RetryAfter):
            seconds = _retry_seconds(exc)
            return ConnectorError(
                f"Telegram flood control: retry in {seconds} s",
                retry_after=seconds,
                code=429,
            )
        if isinstance(exc, ChatMigrated):
            return ConnectorError(f"Chat migrated to supergroup {exc.new_chat_id}", code=400)
        if isinstance(exc, Forbidden):
            return ConnectorError(msg, code=403, blocked=True)
        if isinstance(exc, BadRequest):
            if "file is too big" in msg.lower():
                return FileTooLarge(msg, code=400)
            return ConnectorError(msg, code=400)
        if isinstance(exc, TimedOut):
            return ConnectorError(f"Telegram timed out: {msg}", retry_after=RETRY_SECONDS)
        if isinstance(exc, InvalidToken):
            code = 404 if "not found" in msg.lower() else 401
            return ConnectorError(f"Telegram rejected the token or method: {msg}", code=code)
        if isinstance(exc, Conflict):
            return ConnectorError(msg, code=409)
        if isinstance(exc, NetworkError) and ("entity too large" in msg.lower() or "(413)" in msg):
            # HTTP 413: the upload is over the Bot API's 50 MB; retrying would only fail again
            return FileTooLarge(f"Telegram refused the file as too big (over {MAX_UPLOAD // 1000000} MB)", code=413)
        if isinstance(exc, NetworkError):  # connection failures and HTTP 5xx
            return ConnectorError(f"Telegram unreachable: {msg}", retry_after=RETRY_SECONDS)
        return ConnectorError(f"Telegram error: {msg}", retry_after=RETRY_SECONDS)

    # -- inbound --------------------------------------------------------------
    def verify(self, headers, body, query):
        if not self.secret or headers is None:
            return False
        value = headers.get(SECRET_HEADER) or headers.get(SECRET_HEADER.lower())
        if value is None and hasattr(headers, "items"):
            wanted = SECRET_HEADER.lower()
            value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
        if not value:
            return False
        return hmac.compare_digest(str(value).encode(), self.secret.encode())

    def dedup_key(self, payload):
        try:
            update_id = payload["update_id"]
        except (KeyError, TypeError):
            update_id = None
        if type(update_id) is not int:  # bool is no update id either
            raise ValueError("Telegram update without an integer update_id")
        return str(update_id)

    def parse(self, payload):
        if not isinstance(payload, dict):
            return [InboundEvent("ignore", note="not a Telegram update")]
        for key, parser in _PARSERS.items():
            if isinstance(payload.get(key), dict):
                return [parser(payload[key])]
        kind = next((k for k in payload if k != "update_id"), "empty")
        return [InboundEvent("ignore", note=f"update kind {kind!r} is not served")]

    def download(self, file):
        if (file.size or 0) > MAX_DOWNLOAD:
            raise FileTooLarge(f"{file.name}: {file.size} bytes, over the {MAX_DOWNLOAD // 1000000} MB limit")

        async def action(bot, request):
            tg_file = await bot.get_file(file.ref)
            if (tg_file.file_size or 0) > MAX_DOWNLOAD:
                size = tg_file.file_size
                raise FileTooLarge(f"{file.name}: {size} bytes, over the {MAX_DOWNLOAD // 1000000} MB limit")
            # PTB reads file_path from the local disk when such a file exists there
            if not str(tg_file.file_path or "").startswith(bot.base_file_url + "/"):
                raise ConnectorError(f"{file.name}: Telegram gave no download path")
            return bytes(await tg_file.download_as_bytearray())

        return self._run(action)

    def acknowledge_button(self, event):
        if not event.callback_id:
            return
        try:
            self._run(lambda bot, request: bot.answer_callback_query(event.callback_id))
        except ConnectorError as exc:
            _logger.warning("Telegram: answerCallbackQuery failed: %s", exc.message)

    # -- outbound ---------------------------------------------------------------
    def send(self, message):
        text, files = message.text or "", list(message.files)
        for file in files:
            if len(file.data) > MAX_UPLOAD:
                raise FileTooLarge(
                    f"{file.name}: {len(file.data)} bytes, over Telegram's {MAX_UPLOAD // 1000000} MB upload limit",
                    code=413,
                )
        markup = _keyboard(message.buttons)
        one_caption = len(files) == 1 and text.strip() and _u16(text) <= CAPTION_LIMIT
        caption = text if one_caption else None
        chunks = [] if caption else split_text(text)
        sent = []

        async def action(bot, request):
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                msg = await bot.send_message(message.chat_id, chunk, reply_markup=markup if last else None)
                sent.append(f"{msg.chat.id}:{msg.message_id}")
            for i, file in enumerate(files):
                keys = markup if not chunks and i == len(files) - 1 else None
                method = bot.send_photo if _is_photo(file) else bot.send_document
                msg = await method(
                    message.chat_id,
                    _input_file(file),
                    caption=caption,
                    reply_markup=keys,
                )
                sent.append(f"{msg.chat.id}:{msg.message_id}")
            return sent

        try:
            return self._run(action)
        except ConnectorError as exc:
            # ids delivered before the failure: a retry of the row repeats them
            exc.sent_ids = list(sent)
            raise

    # -- typing and read marks ---------------------------------------------------------
    # sendChatAction shows "typing…" for 5 seconds at most, or until the bot's next message
    # (core.telegram.org/bots/api#sendchataction). The Bot API has no read receipts at all:
    # a bot can neither mark a client's message read nor learn that its own was read.
    typing_marks = True

    def send_typing(self, chat_id, typing=True, reply_to=""):
        if not typing:
            return False  # no "stop typing": the indicator ends by itself, or with the answer
        return self._run(
            lambda bot, request: bot.send_chat_action(chat_id, "typing"), deadline=max(2 * self.timeout, 1)
        )

    # -- account ------------------------------------------------------------------
    def set_webhook(self, url, secret):
        return self._run(
            lambda bot, request: bot.set_webhook(
                url=url,
                secret_token=secret or None,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        )

    def delete_webhook(self):
        return self._run(lambda bot, request: bot.delete_webhook(drop_pending_updates=False))

    def test(self):
        me = self._run(lambda bot, request: bot.get_me())
        return f"@{me.username} ({me.first_name})"

    def poll(self, offset):
        """Fetch pending updates as raw dicts (unknown fields kept)."""
        params = {
            "timeout": 0,
            "limit": 100,
            "allowed_updates": json.dumps(ALLOWED_UPDATES),
        }
        if offset:
            params["offset"] = int(offset)
        # Bot.get_updates would parse the updates (de_json): post the call ourselves
        # (parameters in the query string: RequestData needs PTB's private classes).
        query = urlencode(params)

        async def action(bot, request):
            return await request.post(f"{bot.base_url}/getUpdates?{query}")

        updates = self._run(action) or []
        ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
        return updates, (max(ids) + 1 if ids else offset)
