"""Outbound HTTP with a total deadline, a byte cap and (for URLs given by clients) an address guard.

Plain Python (``requests`` / ``urllib3``), no ORM.

* :func:`safe_get` -- fetch a URL that came from outside (an attachment URL in
  an unsigned OK or Avito webhook, a media URL from a platform): only
  ``http``/``https``; every connection is made to an address checked *after*
  DNS resolution -- public unicast only: no loopback, private, link-local,
  shared, reserved or multicast address -- and pinned (the socket connects to
  the very address checked, so a second DNS answer cannot swap it); redirects
  are followed by hand, at most :data:`MAX_REDIRECTS`, each hop checked the
  same way; environment proxies are ignored (the proxy's address would be
  checked instead of the target's).
* :func:`api_request` -- a call to a messenger's API (an address an
  administrator configured): no address guard, the same total deadline.

Both bound the *whole* exchange: connect and read timeouts bound each step,
and a watchdog shuts the sockets down when the total deadline passes (a
server that sends one byte every few seconds never holds a worker longer
than the deadline); the body is counted while it streams and abandoned past
the byte cap, whatever ``Content-Length`` announced.

Tests serve their fake APIs on 127.0.0.1: such an address is reachable only
once registered with :func:`allow_test_origin` (the test fakes do it when they
start) or named in the environment variable ``OPENLINES_TEST_FETCH_ORIGINS``
(``host:port`` list, for a test server process). Nothing a user or an
administrator can set in Odoo opens the guard.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import ipaddress
import logging
import os
import socket
import threading
import time
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

_logger = logging.getLogger(__name__)

#: seconds one download may take, connect to last byte
FETCH_DEADLINE = 20
#: seconds one API call may take, connect to last byte, when the caller gives no deadline
API_DEADLINE = 60
MAX_REDIRECTS = 5
SCHEMES = ("http", "https")
CHUNK = 16384
TEST_ORIGINS_ENV = "OPENLINES_TEST_FETCH_ORIGINS"

#: (ip, port) pairs a test registered: its loopback fakes
_test_origins: set[tuple[str, int]] = set()


class AddressRefused(Exception):
    """The URL's scheme or address is not one the addon fetches from."""


class FetchTooLarge(Exception):
    """The body grew past the byte cap."""


class FetchTimeout(Exception):
    """The total deadline passed."""


# -- the test-only allowance ------------------------------------------------------------
def _origin(url):
    parts = urlsplit(url)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def allow_test_origin(url):
    """Let the fetches of this process reach ``url``'s host and port (a test's loopback fake)."""
    host, port = _origin(url)
    _test_origins.add((host, port))


def forbid_test_origin(url):
    _test_origins.discard(_origin(url))


def _test_allowed(ip, port):
    if (ip, port) in _test_origins:
        return True
    env = os.environ.get(TEST_ORIGINS_ENV)
    return bool(env) and f"{ip}:{port}" in {o.strip() for o in env.split(",")}


def check_address(ip, port):
    """Raise :class:`AddressRefused` unless ``ip`` is a public unicast address (or a test's fake)."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.is_global and not addr.is_multicast and not addr.is_reserved:
        return
    if _test_allowed(str(addr), port):
        return
    raise AddressRefused(f"address {addr} is not public")


# -- deadline bookkeeping (one per fetch, in a context variable) ------------------------
@dataclasses.dataclass
class _Watch:
    guard: bool
    sockets: list = dataclasses.field(default_factory=list)
    expired: bool = False
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def add(self, sock):
        with self.lock:
            self.sockets.append(sock)
            if self.expired:
                self._shut(sock)

    def expire(self):
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in another thread


_watch = contextvars.ContextVar("openlines_fetch_watch", default=None)


@contextlib.contextmanager
def _deadline(seconds, guard):
    """Run the body with a watchdog that shuts its sockets down after ``seconds``."""
    watch = _Watch(guard)
    token = _watch.set(watch)
    timer = threading.Timer(max(seconds, 0.01), watch.expire)
    timer.daemon = True
    timer.start()
    try:
        yield watch
    finally:
        timer.cancel()
        _watch.reset(token)


def _connect(host, port, timeout, source_address=None, socket_options=None):
    """``socket.create_connection`` that checks every resolved address first and connects to a checked one."""
    watch = _watch.get()
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if watch is not None and watch.guard:
        for info in infos:
            check_address(info[4][0], port)
    error = None
    for family, socktype, proto, _name, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            if watch is not None:
                watch.add(sock)
            sock.connect(sockaddr)  # the address checked above: pinned
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"no address for {host}")


class _ConnectionMixin:
    def _new_conn(self):
        try:
            return _connect(self._dns_host, self.port, self.timeout, self.source_address, self.socket_options)
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


class _HTTPConnection(_ConnectionMixin, HTTPConnection):
    pass


class _HTTPSConnection(_ConnectionMixin, HTTPSConnection):
    pass


class _PoolMixin:
    def _get_conn(self, timeout=None):
        """A kept-alive connection taken again is watched by the current call's deadline too."""
        conn = super()._get_conn(timeout)
        watch = _watch.get()
        if watch is not None and getattr(conn, "sock", None) is not None:
            watch.add(conn.sock)
        return conn


class _HTTPPool(_PoolMixin, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(_PoolMixin, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    """Connections made by :func:`_connect` (checked when the fetch is guarded, watched always)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineSession(requests.Session):
    """A ``requests`` session whose every request has a total deadline (``deadline`` keyword, seconds).

    Without ``deadline`` the limit is twice the ``timeout`` given (or
    :data:`API_DEADLINE`); the body is read within it (not streamed).
    """

    def __init__(self):
        super().__init__()
        self.mount("http://", _Adapter())
        self.mount("https://", _Adapter())

    def request(self, method, url, *args, deadline=None, **kwargs):
        timeout = kwargs.get("timeout")
        if deadline is None:
            seconds = timeout if isinstance(timeout, (int, float)) else None
            deadline = 2 * seconds if seconds else API_DEADLINE
        if kwargs.get("stream"):
            return super().request(method, url, *args, **kwargs)
        with _deadline(deadline, guard=False) as watch:
            try:
                response = super().request(method, url, *args, **kwargs)
                response.content  # noqa: B018 - read the body within the deadline
            except requests.RequestException:
                if watch.expired:
                    raise requests.Timeout(f"no complete answer within {deadline} s") from None
                raise
            if watch.expired:
                raise requests.Timeout(f"no complete answer within {deadline} s")
        return response


_api_session = threading.local()


def api_request(method, url, deadline=None, **kwargs):
    """``requests.request`` with a total deadline (a messenger API call; no address guard)."""
    session = getattr(_api_session, "session", None)
    if session is None:
        session = _api_session.session = DeadlineSession()
    return session.request(method, url, deadline=deadline, **kwargs)


def safe_get(url, limit, deadline=FETCH_DEADLINE, headers=None, timeout=None):
    """GET ``url`` (from outside) with the address guard, a total deadline and a byte cap.

    :return: ``(status, body)``; ``body`` is ``b""`` unless the status is 200.
    :raise AddressRefused: scheme or address not allowed (also on a redirect hop)
    :raise FetchTooLarge: over ``limit`` bytes
    :raise FetchTimeout: the whole exchange took longer than ``deadline`` seconds
    :raise requests.RequestException: network errors
    """
    timeout = timeout or min(deadline, 20)
    headers = dict(headers or {})
    with _deadline(deadline, guard=True) as watch, requests.Session() as session:
        session.trust_env = False  # no environment proxy: the target's own address is checked
        session.mount("http://", _Adapter())
        session.mount("https://", _Adapter())
        try:
            return _get(session, url, limit, headers, timeout, watch, time.monotonic() + deadline)
        except requests.RequestException:
            if watch.expired:
                raise FetchTimeout(f"no complete answer within {deadline} s") from None
            raise


def _get(session, url, limit, headers, timeout, watch, ends):
    for _hop in range(MAX_REDIRECTS + 1):
        if urlsplit(url).scheme not in SCHEMES:
            raise AddressRefused(f"scheme {urlsplit(url).scheme!r} is not fetched")
        with session.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=False) as response:
            if response.is_redirect and response.headers.get("location"):
                following = urljoin(url, response.headers["location"])
                if urlsplit(following).hostname != urlsplit(url).hostname:
                    headers.pop("Authorization", None)  # credentials stay with their host
                url = following
                continue
            if response.status_code != 200:
                return response.status_code, b""
            announced = response.headers.get("content-length", "")
            if announced.isdigit() and int(announced) > limit:
                raise FetchTooLarge(f"{announced} bytes announced")
            data = bytearray()
            for chunk in response.iter_content(CHUNK):
                data += chunk
                if len(data) > limit:
                    raise FetchTooLarge(f"over {limit} bytes")
                if watch.expired or time.monotonic() > ends:
                    raise FetchTimeout("deadline passed")
            if watch.expired or time.monotonic() > ends:  # the watchdog's shutdown ends a body like EOF
                raise FetchTimeout("deadline passed")
            return 200, bytes(data)
    raise AddressRefused(f"more than {MAX_REDIRECTS} redirects")
