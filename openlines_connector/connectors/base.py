"""The connector contract: plain Python, no ORM.

A connector knows one messenger's wire format.  The ORM side
(``openlines.channel``) builds it from a plain ``dict`` of settings
(``token``, ``webhook_secret``, ``api_base_url`` and whatever the messenger
needs) and calls it:

* ``verify(headers, body, query)`` -- is this webhook request genuine?
* ``dedup_key(payload)`` -- the messenger's id of one delivery (Telegram's
  ``update_id``), used as ``openlines.message.external_id``; ``split(payload)``
  -- the deliveries of one request; ``webhook_response(payload)`` -- what to
  answer; ``handshake(query)`` -- a GET verification;
* ``parse(payload)`` -- normalized :class:`InboundEvent` objects;
* ``download(file)`` -- the bytes of an inbound :class:`InboundFile`;
* ``send(outbound)`` -- deliver an :class:`OutboundMessage`, return the
  messenger's message ids;
* ``set_webhook(url, secret)``, ``delete_webhook()``, ``test()``,
  ``poll(offset)`` -- account management, where the API allows.

Failures are raised as :class:`ConnectorError`; ``retry_after`` tells the
caller whether to retry (seconds) or give up (``None``).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import logging
import time

import requests

from . import fetch

_logger = logging.getLogger(__name__)

#: channel_type -> connector class, filled by :func:`register`
REGISTRY: dict[str, type[Connector]] = {}


def register(cls):
    """Class decorator: make ``cls`` the connector of ``cls.channel_type``."""
    REGISTRY[cls.channel_type] = cls
    return cls


def get_connector(channel_type, config):
    """Return a ready connector for ``channel_type`` built from ``config``."""
    try:
        cls = REGISTRY[channel_type]
    except KeyError:
        raise ConnectorError(f"No connector for channel type {channel_type!r}") from None
    return cls(config)


#: the download budget of the message being processed (:func:`download_budget`)
_budget = contextvars.ContextVar("openlines_download_budget", default=None)


@dataclasses.dataclass
class DownloadBudget:
    """What the downloads of one inbound message may still take: seconds (until ``ends``) and bytes."""

    ends: float
    bytes_left: int


@contextlib.contextmanager
def download_budget(seconds, max_bytes):
    """Bound every :func:`download_url` inside the block, together, to ``seconds`` and ``max_bytes``."""
    budget = DownloadBudget(time.monotonic() + seconds, max_bytes)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def download_url(get, file, limit, retry_after=30, **kwargs):
    """Download ``file.ref``, a URL from outside, safely (see :mod:`.fetch`).

    Only public http(s) addresses, checked after DNS resolution and on every
    redirect; at most ``limit`` bytes, counted while streaming; the whole
    download within :data:`.fetch.FETCH_DEADLINE` seconds -- all three
    further bounded by the message's :func:`download_budget`. ``get`` is
    kept for the connectors' calls and not used: every download goes
    through the same guarded session. ``kwargs``: ``headers``, ``timeout``.

    A file too large, too slow or at a refused address raises
    :class:`FileTooLarge` (:class:`FileNotDownloaded`): the message is
    posted with a note instead. HTTP 5xx and network errors may be retried,
    other HTTP errors are permanent.
    """
    if (file.size or 0) > limit:
        raise FileTooLarge(f"{file.name}: {file.size} bytes, over the {limit // 1048576} MB limit")
    deadline, cap = fetch.FETCH_DEADLINE, limit
    budget = _budget.get()
    if budget is not None:
        deadline = min(deadline, budget.ends - time.monotonic())
        cap = min(limit, budget.bytes_left)
        if deadline <= 0 or cap <= 0 or (file.size or 0) > cap:
            raise FileNotDownloaded(f"{file.name}: over the message's download limit", reason="budget")
    try:
        status, data = fetch.safe_get(
            file.ref, cap, deadline=deadline, headers=kwargs.get("headers"), timeout=kwargs.get("timeout")
        )
    except fetch.AddressRefused as exc:
        _logger.warning("Open Lines: download of %s refused: %s", file.name, exc)
        raise FileNotDownloaded(f"{file.name}: address refused ({exc})", reason="refused") from None
    except fetch.FetchTooLarge:
        reason = "budget" if cap < limit else "size"
        raise FileNotDownloaded(f"{file.name}: over the {cap // 1048576} MB limit", reason=reason) from None
    except fetch.FetchTimeout:
        raise FileNotDownloaded(f"{file.name}: not received within {round(deadline)} s", reason="slow") from None
    except requests.RequestException as exc:
        raise ConnectorError(f"{file.name}: download failed ({type(exc).__name__})", retry_after) from None
    if status != 200:
        retry = retry_after if status >= 500 else None
        raise ConnectorError(f"{file.name}: download failed (HTTP {status})", retry)
    if budget is not None:
        budget.bytes_left -= len(data)
    return data


class ConnectorError(Exception):
    """A call to a messenger failed.

    :param retry_after: seconds after which the call may be tried again;
        ``None`` means the failure is permanent (do not retry).
    :param code: the messenger's own error code, when it gives one.
    :param blocked: the client blocked the bot / does not accept messages.
    """

    def __init__(self, message, retry_after=None, code=None, blocked=False):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.code = code
        self.blocked = blocked

    @property
    def is_permanent(self):
        return self.retry_after is None

    @property
    def channel_down(self):
        """A retryable failure with no answer code of the messenger's (connection refused, timeout,
        transport error): the whole channel is down, not this one message."""
        return self.retry_after is not None and self.code is None


class FileTooLarge(ConnectorError):
    """An inbound file the messenger will not let us download."""


class FileNotDownloaded(FileTooLarge):
    """An inbound file left out of its message: ``reason`` is ``size`` (over the file limit),
    ``budget`` (over the message's limits), ``slow`` (not received in time) or ``refused``
    (an address the addon does not fetch from)."""

    def __init__(self, message, reason="size"):
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass
class InboundFile:
    """A file attached to an inbound message, not yet downloaded."""

    ref: str  # messenger's file id or URL
    name: str = "file"
    mimetype: str = "application/octet-stream"
    size: int = 0  # bytes, 0 when unknown
    kind: str = "document"  # photo, document, voice, audio, video, sticker


@dataclasses.dataclass
class InboundEvent:
    """One normalized event from a messenger.

    ``kind``: ``message`` (a new client message), ``edit`` (the client edited
    ``remote_message_id``), ``button`` (a button press, ``text`` = its data),
    ``blocked`` (the client blocked the bot), ``echo`` (the account's own
    message written in the messenger's interface, shown as the operator's),
    ``ignore`` (nothing to do; the ``note`` says why).  On a ``message``, a
    ``note`` (an Avito item) is shown once in the dialog as a notice.
    """

    kind: str
    chat_id: str = ""
    user_id: str = ""
    name: str = ""
    username: str = ""
    phone: str = ""
    lang: str = ""
    text: str = ""
    remote_message_id: str = ""
    files: list = dataclasses.field(default_factory=list)
    note: str = ""
    callback_id: str = ""


@dataclasses.dataclass
class OutboundFile:
    name: str
    data: bytes
    mimetype: str = "application/octet-stream"
    url: str = ""  # a public address of the file, for messengers that fetch files by URL (Viber)


@dataclasses.dataclass
class OutboundMessage:
    chat_id: str
    text: str = ""
    files: list = dataclasses.field(default_factory=list)  # OutboundFile
    buttons: list = dataclasses.field(default_factory=list)  # [(label, data)]
    ref: str = ""  # stable id of the outbound row (idempotency key)
    # an approved template instead of free text (WhatsApp): {"name", "language": {"code"}, "components"}
    template: dict = None


class Connector:
    """Base class of every messenger connector."""

    channel_type = None
    #: base URL used when the channel's configuration gives none
    default_api_base_url = ""
    #: seconds before a network call is abandoned
    timeout = 20

    def __init__(self, config):
        self.config = dict(config)
        self.token = self.config.get("token") or ""
        self.secret = self.config.get("webhook_secret") or ""
        self.api_base_url = (self.config.get("api_base_url") or self.default_api_base_url).rstrip("/")

    # -- inbound ----------------------------------------------------------
    def verify(self, headers, body, query):
        """Return True when the request comes from the messenger."""
        raise NotImplementedError

    def handshake(self, query):
        """Answer a GET on the webhook (verification); return ``(status, text)``."""
        return 405, "Method Not Allowed"

    def load(self, body):
        """The payload of a verified request's raw ``body`` (bytes); ValueError when unreadable."""
        return json.loads(body)

    def dedup_key(self, payload):
        """The delivery id of ``payload`` (a dict), as a string."""
        raise NotImplementedError

    def split(self, payload):
        """The deliveries one request carries, as ``[(external_id, payload)]``.

        Each becomes one row of the message log.  A request that carries
        nothing to store (a handshake such as VK's ``confirmation``) gives
        an empty list.  Messengers that batch several events in one request
        may split them here.
        """
        return [(self.dedup_key(payload), payload)]

    def webhook_response(self, payload):
        """The answer to a genuine request: ``None`` for JSON ``{"ok": true}``,
        or ``(status, text)`` for a plain-text answer (VK expects ``ok``)."""
        return None

    def parse(self, payload):
        """Return a list of :class:`InboundEvent` for ``payload``."""
        raise NotImplementedError

    def download(self, file):
        """Return the bytes of ``file`` (:class:`InboundFile`)."""
        raise NotImplementedError

    def acknowledge_button(self, event):
        """Tell the messenger a button press was received (optional)."""

    def profile(self, event):
        """Fill ``event``'s name (and username) from the messenger when its webhook omits them (optional).

        Called once per new client; a failure leaves the event as it is.
        """

    # -- outbound ---------------------------------------------------------
    def send(self, message):
        """Send ``message`` (:class:`OutboundMessage`); return a list of ids."""
        raise NotImplementedError

    #: the messenger shows the client that the business types (:meth:`send_typing`)
    typing_marks = False
    #: the messenger lets the business mark the client's messages read (:meth:`mark_read`)
    read_marks = False

    def send_typing(self, chat_id, typing=True, reply_to=""):
        """Show the client that an operator types (optional; ``reply_to``: the client's last
        message id, for messengers that tie the indicator to it). Return False when not supported."""
        return False

    def mark_read(self, chat_id, message_id=""):
        """Mark the client's messages read up to ``message_id`` (optional). Return False when not supported."""
        return False

    # -- account ----------------------------------------------------------
    def set_webhook(self, url, secret):
        raise ConnectorError("This messenger has no webhook registration")

    def delete_webhook(self):
        raise ConnectorError("This messenger has no webhook registration")

    def test(self):
        """Check the credentials; return a short description of the account."""
        raise NotImplementedError

    def poll(self, offset):
        """Return ``(payloads, next_offset)`` for servers the messenger cannot reach."""
        raise ConnectorError("This messenger cannot be polled")
