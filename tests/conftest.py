"""End-to-end fixtures: a real Odoo server process on a throwaway database.

``make test`` creates the database (a copy of the freshly installed test
database) and exports ``OPENLINES_E2E_DB`` and ``OPENLINES_ODOO_CONF``.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "openlines_connector" / "tests"))  # the reusable fake APIs


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OdooServer:
    """A running Odoo and a tiny JSON-RPC client for it."""

    def __init__(self, url, db, login="admin", password="admin"):
        self.url, self.db, self.login, self.password = url, db, login, password
        self.uid = self.rpc("common", "authenticate", db, login, password, {})
        assert self.uid, "admin/admin cannot log in to the e2e database"

    def rpc(self, service, method, *args):
        payload = {"jsonrpc": "2.0", "method": "call", "params": {"service": service, "method": method, "args": args}}
        answer = requests.post(f"{self.url}/jsonrpc", json=payload, timeout=60).json()
        if answer.get("error"):
            raise RuntimeError(answer["error"]["data"]["message"])
        return answer["result"]

    def call(self, model, method, *args, **kwargs):
        return self.rpc("object", "execute_kw", self.db, self.uid, self.password, model, method, list(args), kwargs)

    def wait_for(self, predicate, timeout=30, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")


def start_odoo(db, conf, log, *extra, env=None):
    """Start ``odoo server`` on ``db`` (threaded, two cron threads as ``make run``, unless ``extra`` says
    otherwise); wait for it.

    :return: ``(process, url)``; the caller stops the process (:func:`stop_odoo`).
    """
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "odoo", "server", "-c", conf, "-d", db, "--db-filter", f"^{db}$",
            "--http-port", str(port), "--http-interface", "127.0.0.1", "--logfile", str(log),
            *(extra or ("--max-cron-threads", "2", "--workers", "0")),
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if requests.get(f"{url}/web/login", timeout=5).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_odoo(process)
            raise RuntimeError(f"Odoo did not start; see {log}:\n" + Path(log).read_text()[-3000:])
        time.sleep(0.5)


def stop_odoo(process):
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def e2e_database():
    """``(db, conf)`` of the end-to-end tests, set by ``make test``."""
    db, conf = os.environ.get("OPENLINES_E2E_DB"), os.environ.get("OPENLINES_ODOO_CONF")
    if not db or not conf:
        pytest.fail("End-to-end tests run through `make test`, which sets OPENLINES_E2E_DB and OPENLINES_ODOO_CONF")
    return db, conf


@pytest.fixture(scope="session")
def tarpit():
    """A hostile file server (``fake_tarpit.py``) that the server's downloads may reach (test-only allowance)."""
    from fake_tarpit import FakeTarpit  # noqa: PLC0415 - after sys.path is set

    with FakeTarpit(every=2) as fake:
        yield fake


@pytest.fixture(scope="session")
def odoo_server(tmp_path_factory, tarpit):
    db, conf = e2e_database()
    log = tmp_path_factory.mktemp("odoo") / "server.log"
    env = dict(os.environ, OPENLINES_TEST_FETCH_ORIGINS=tarpit.url.removeprefix("http://"))
    process, url = start_odoo(db, conf, log, env=env)
    try:
        server = OdooServer(url, db)
        server.log = log
        yield server
    finally:
        stop_odoo(process)
