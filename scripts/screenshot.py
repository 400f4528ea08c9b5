#!/usr/bin/env python3
"""Screenshots of a running Odoo with Open Lines, for the README.

Drives a headless Chromium over the Chrome DevTools Protocol (``websocket-client``
is the only dependency): logs in through ``/web/login``, opens Discuss, clicks
the live-chat conversation of an Open Lines dialog and captures the page; with
``--dialogs-list`` it also captures Open Lines > Dialogs, with ``--analysis`` the
KPI analysis.

Example, against a demo database (``-i openlines_connector --with-demo``)::

    python3 scripts/screenshot.py --url http://localhost:8069 \\
        --dialog "Иван Петров" --output docs/screenshots/discuss_dialog.png \\
        --dialogs-list docs/screenshots/dialogs_list.png \\
        --analysis docs/screenshots/analysis.png

Exit status 0 when every screenshot was written, 1 otherwise (the page's
state is then dumped to ``<output>.error.png`` when possible).
"""

import argparse
import base64
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

try:
    import websocket  # websocket-client
except ImportError:  # pragma: no cover - reported to the user
    sys.exit("screenshot.py needs websocket-client: pip install websocket-client")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--lang=en-US",
)
DIALOGS_ACTION = "/odoo/action-openlines_connector.openlines_dialog_action"
ANALYSIS_ACTION = "/odoo/action-openlines_connector.openlines_report_dialog_action"


class ScreenshotError(Exception):
    pass


def find_chromium(explicit=None):
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise ScreenshotError("no Chromium found (install Debian's 'chromium' or pass --chromium)")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """A headless Chromium and a minimal CDP client on its first page."""

    def __init__(self, executable, width, height, timeout=30):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="ol_screenshot_")
        self.port = free_port()
        cmd = [
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self.profile}",
            f"--remote-debugging-port={self.port}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-allow-origins=*",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ids = itertools.count(1)
        self.ws = websocket.create_connection(self._page_ws_url(), timeout=timeout, suppress_origin=True)
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _page_ws_url(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ScreenshotError(f"Chromium exited with status {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as resp:
                    targets = json.load(resp)
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.2)
        raise ScreenshotError("Chromium's DevTools endpoint did not come up")

    def call(self, method, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == msg_id:
                if "error" in message:
                    raise ScreenshotError(f"{method}: {message['error']}")
                return message.get("result", {})
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                print(
                    "page error:",
                    details.get("exception", {}).get("description") or details.get("text"),
                    file=sys.stderr,
                )
        raise ScreenshotError(f"{method}: no answer within {self.timeout}s")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise ScreenshotError(f"script failed: {result['exceptionDetails'].get('text')}: {expression[:120]}")
        return result.get("result", {}).get("value")

    def goto(self, url):
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'", f"loading {url}")

    def wait_for(self, condition, what, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if self.evaluate(f"Boolean({condition})"):
                return
            time.sleep(0.25)
        raise ScreenshotError(f"timed out waiting for {what}")

    def wait_for_selector(self, selector, text=None, timeout=None):
        return self.wait_for(_js_find(selector, text) + " !== null", f"{selector} {text or ''}".strip(), timeout)

    def click(self, selector, text=None):
        self.wait_for_selector(selector, text)
        self.evaluate(_js_find(selector, text) + ".click()")

    def settle(self, seconds=1.5):
        """Let pending RPCs, images and transitions finish before capturing."""
        self.wait_for(
            "document.readyState === 'complete'"
            " && !document.querySelector('.o_loading_indicator, .o-mail-Thread-loading, .fa-spin')",
            "the page to settle",
        )
        self.evaluate("document.fonts ? document.fonts.ready.then(() => true) : true")
        self.evaluate(
            "Promise.all([...document.images].filter(i => !i.complete)"
            ".map(i => new Promise(r => { i.onload = i.onerror = r; setTimeout(r, 3000); })))"
            ".then(() => true)"
        )
        time.sleep(seconds)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - best effort
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def _js_find(selector, text=None):
    """A JS expression: the first element matching ``selector`` (and containing ``text``), or null."""
    if text is None:
        return f"document.querySelector({json.dumps(selector)})"
    return (
        f"([...document.querySelectorAll({json.dumps(selector)})]"
        f".find(el => el.textContent.includes({json.dumps(text)})) || null)"
    )


def login(browser, base_url, user, password, db=None):
    url = f"{base_url}/web/login" + (f"?db={db}" if db else "")
    browser.goto(url)
    browser.wait_for_selector("form input[name='login']")
    browser.evaluate(
        "(() => {"
        f"document.querySelector(\"input[name='login']\").value = {json.dumps(user)};"
        f"document.querySelector(\"input[name='password']\").value = {json.dumps(password)};"
        "document.querySelector(\"input[name='login']\").form.submit();"
        "})()"
    )
    browser.wait_for(
        "!location.pathname.startsWith('/web/login') && document.readyState === 'complete'"
        " || document.querySelector('.alert-danger')",
        "the login to finish",
    )
    error = browser.evaluate("document.querySelector('.alert-danger')?.textContent.trim() || ''")
    if error:
        raise ScreenshotError(f"login failed: {error}")


def capture_discuss(browser, base_url, dialog, output):
    browser.goto(f"{base_url}/odoo/discuss")
    # the live-chat sessions of Open Lines dialogs are listed under a live-chat category
    channel = (
        ".o-mail-DiscussSidebarCategory-livechat ~ .o-mail-DiscussSidebarChannel-container"
        " .o-mail-DiscussSidebarChannel"
    )
    browser.click(channel, dialog)
    browser.wait_for(
        "document.querySelector('.o-mail-DiscussContent-threadName')"
        f"?.getAttribute('title')?.includes({json.dumps(dialog)})",
        f"the conversation of {dialog} to open",
    )
    browser.wait_for_selector(".o-mail-Discuss .o-mail-Thread .o-mail-Message")
    # headless, the page never has the focus that marks a thread read: do it, so
    # that the capture shows no "N new messages" banner
    browser.evaluate(
        "[...document.querySelectorAll('.o-mail-Discuss button, .o-mail-Discuss span')]"
        ".find(el => el.textContent.trim() === 'Mark as Read')?.click()"
    )
    browser.settle()
    return browser.screenshot(output)


def capture_dialogs_list(browser, base_url, output):
    browser.goto(base_url + DIALOGS_ACTION)
    browser.wait_for_selector(".o_list_view .o_data_row")
    browser.settle()
    return browser.screenshot(output)


def capture_analysis(browser, base_url, output):
    """Open Lines > Analysis as its first view shows it (the figures per line and operator)."""
    browser.goto(base_url + ANALYSIS_ACTION)
    browser.wait_for_selector(".o_pivot table, .o_graph_renderer canvas, .o_list_view .o_data_row")
    browser.settle(2.5)
    return browser.screenshot(output)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://localhost:8069", help="running Odoo (default: %(default)s)")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--db", help="database, when the server does not pick one by itself")
    parser.add_argument(
        "--dialog",
        default="Иван Петров",
        help="name of the client whose conversation is opened in Discuss (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        "-o",
        default="docs/screenshots/discuss_dialog.png",
        help="Discuss screenshot (default: %(default)s)",
    )
    parser.add_argument("--dialogs-list", metavar="PATH", help="also capture Open Lines > Dialogs to PATH")
    parser.add_argument("--analysis", metavar="PATH", help="also capture Open Lines > Analysis to PATH")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument(
        "--chromium", default=os.environ.get("CHROMIUM"), help="browser binary (default: found in PATH)"
    )
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for each step")
    args = parser.parse_args(argv)

    base_url = args.url.rstrip("/")
    browser = Browser(find_chromium(args.chromium), args.width, args.height, timeout=args.timeout)
    current = args.output
    try:
        login(browser, base_url, args.login, args.password, args.db)
        # the lists first: conversations opened in Discuss stay open as chat windows on other pages
        if args.dialogs_list:
            current = args.dialogs_list
            print(capture_dialogs_list(browser, base_url, args.dialogs_list))
        if args.analysis:
            current = args.analysis
            print(capture_analysis(browser, base_url, args.analysis))
        current = args.output
        print(capture_discuss(browser, base_url, args.dialog, args.output))
    except (ScreenshotError, OSError, websocket.WebSocketException) as exc:
        try:
            error_png = browser.screenshot(f"{current}.error.png")
            print(f"page at failure: {error_png}", file=sys.stderr)
        except Exception:  # noqa: BLE001 - best effort
            pass
        print(f"screenshot failed: {exc}", file=sys.stderr)
        return 1
    finally:
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
