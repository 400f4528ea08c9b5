"""A hostile file server on 127.0.0.1, for the fetch and queue limit tests (no Odoo import).

``/slow/<name>``: the headers at once, then one byte every ``every`` seconds,
``size`` bytes announced (or none with ``chunked``) -- a tarpit that defeats
per-read timeouts. ``/big/<name>``: ``size`` bytes streamed without a
``Content-Length``. ``/redirect/<name>?to=<url>``: a 302 to ``to``.
``/file/<name>``: ``size`` bytes, announced. Every request is counted in
``hits``.
"""

from __future__ import annotations

import collections
import threading
import time
from urllib.parse import parse_qsl

try:
    from .fake_telegram import LoopbackHandler, LoopbackServer
except ImportError:  # imported by the end-to-end tests as a top-level module
    from fake_telegram import LoopbackHandler, LoopbackServer


class _Handler(LoopbackHandler):
    server_version = "FakeTarpit/1.0"
    protocol_version = "HTTP/1.1"  # keeps connections alive, as real servers do

    def serve(self, method, url, body):
        fake = self.server.fake
        kind = url.path.strip("/").split("/", 1)[0]
        params = dict(parse_qsl(url.query))
        with fake._lock:
            fake.hits[kind] += 1
        try:
            getattr(self, f"_{kind}", self._missing)(fake, params)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: that is the point

    def _missing(self, fake, params):
        self.reply(404, {"error": "not found"})

    def _file(self, fake, params):
        self.reply(200, b"x" * int(params.get("size", 1000)))

    def _slow(self, fake, params):
        size, every = int(params.get("size", 1000)), float(params.get("every", fake.every))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.flush()
        for _i in range(size):
            if fake.stopping.is_set():
                return
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(every)

    def _big(self, fake, params):
        size = int(params.get("size", 1024 * 1024))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")  # no Content-Length: the body ends when the socket closes
        self.end_headers()
        sent, chunk = 0, b"y" * 65536
        try:
            while sent < size:
                self.wfile.write(chunk[: size - sent])
                sent += len(chunk)
        finally:  # also when the client hung up (what a capped download does)
            with fake._lock:
                fake.sent_big += sent
                fake.big_done += 1
            self.close_connection = True

    def _redirect(self, fake, params):
        self.send_response(302)
        self.send_header("Location", params["to"])
        self.send_header("Content-Length", "0")
        self.end_headers()


class FakeTarpit(LoopbackServer):
    name = "FakeTarpit"
    handler_class = _Handler

    def __init__(self, every=1.0):
        self.every = every
        self.hits = collections.Counter()
        self.sent_big = 0
        self.big_done = 0  # answers of /big finished (the client read them or hung up)
        self.calls = []
        self.stopping = threading.Event()
        self._lock = threading.RLock()

    def stop(self):
        self.stopping.set()
        super().stop()

    def url_of(self, kind, name="f.bin", **params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"{self.url}/{kind}/{name}" + (f"?{query}" if query else "")
