"""The loopback HTTP server under the fake VK, OK and Avito APIs (no Odoo import).

A subclass implements ``route(http_method, path, params, headers)`` and
returns ``(status, payload)`` (a dict/list is sent as JSON, bytes as they
are, a str as plain text).  Every request is recorded in ``calls`` as
``(name, params)``; files added with :meth:`FakeServer.add_file` are served
at ``/files/<name>`` (recorded as ``"download"``).
"""

from __future__ import annotations

import collections
import json
import threading
import time
from urllib.parse import parse_qsl, unquote

from .fake_telegram import LoopbackHandler, LoopbackServer, fixtures_dir, parse_body


def load_json(channel, name):
    """The shared fixture ``<channel>/<name>.json`` as a dict."""
    path = fixtures_dir() / channel / (name if name.endswith(".json") else name + ".json")
    return json.loads(path.read_text(encoding="utf-8"))


def names(channel):
    return sorted(p.stem for p in (fixtures_dir() / channel).glob("*.json"))


class _Handler(LoopbackHandler):
    def serve(self, method, url, body):
        fake = self.server.fake
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            parsed = parse_body(self.headers.get("Content-Type"), body)
        except ValueError:
            parsed = {"_raw": body}
        if isinstance(parsed, dict):
            params.update(parsed)
        else:
            params["_json"] = parsed
        status, payload = fake.dispatch(method, unquote(url.path), params, self.headers)
        if fake.delay:
            time.sleep(fake.delay)
        self.reply(status, payload, fake.extra_headers)


class FakeServer(LoopbackServer):
    """Lifecycle, recording, scripted errors and file downloads of a fake API."""

    name = "FakeLoopback"
    handler_class = _Handler

    def __init__(self):
        self.calls = []
        self.files = {}  # name -> bytes
        self.delay = 0
        self.down = False  # answer every request with HTTP 500
        self.extra_headers = {}
        self._errors = collections.defaultdict(collections.deque)
        self._lock = threading.RLock()

    # -- scripting and inspection ---------------------------------------------------
    def _queue(self, method, answer, times=1):
        with self._lock:
            for _i in range(times):
                self._errors[method].append(answer)

    def add_file(self, name, data):
        """Serve ``data`` at ``/files/<name>``; return its URL."""
        with self._lock:
            self.files[name] = bytes(data)
        return f"{self.url}/files/{name}"

    # -- dispatch ---------------------------------------------------------------------
    def dispatch(self, http_method, path, params, headers):
        with self._lock:
            if path.startswith("/files/"):
                self.calls.append(("download", {"name": path[7:]}))
                data = self.files.get(path[7:])
                return (200, data) if data is not None else (404, {"error": "not found"})
            name = self.method_name(http_method, path)
            self.calls.append((name, params))
            if self.down:
                return 500, {"error": "Internal Server Error"}
            if self._errors[name]:
                return self._errors[name].popleft()
            return self.route(name, path, params, headers)

    def method_name(self, http_method, path):
        return path

    def route(self, name, path, params, headers):
        raise NotImplementedError
