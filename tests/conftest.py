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


@pytest.fixture(scope="session")
def odoo_server(tmp_path_factory):
    db, conf = os.environ.get("OPENLINES_E2E_DB"), os.environ.get("OPENLINES_ODOO_CONF")
    if not db or not conf:
        pytest.fail("End-to-end tests run through `make test`, which sets OPENLINES_E2E_DB and OPENLINES_ODOO_CONF")
    port = _free_port()
    log = tmp_path_factory.mktemp("odoo") / "server.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "odoo",
            "server",
            "-c",
            conf,
            "-d",
            db,
            "--db-filter",
            f"^{db}$",
            "--http-port",
            str(port),
            "--http-interface",
            "127.0.0.1",
            "--max-cron-threads",
            "1",
            "--workers",
            "0",
            "--logfile",
            str(log),
        ],
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(f"{url}/web/login", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Odoo did not start; see {log}:\n" + log.read_text()[-3000:])
            time.sleep(0.5)
        server = OdooServer(url, db)
        server.log = log
        yield server
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
