"""The three attacks of issue 19 against a real Odoo server, with figures (``--help``).

An attacker holds an OK webhook address (OK signs nothing) and sends:

1. **tarpit**: a message whose image URL sends one byte every 5 s;
2. **flood**: ``--flood`` messages from as many new senders, as fast as it can;
3. **amplification**: one message with ``--attachments`` image URLs of ``--file-mb`` MB each.

Meanwhile another line's client (Telegram) writes; the script measures how long
that message waits, whether the server restarts or kills workers, the server's
memory (largest resident size of its processes), what the flood created
(partners, dialogs, leads) and the final state of every attacking row. Run it
against the addon of any commit (``--config`` names the addons path) to get
figures before and after; ``--workers 2`` serves as ``make run WORKERS=2``.

The hostile file server and the fake Bot API are the test fakes
(``openlines_connector/tests/fake_tarpit.py``, ``fake_telegram.py``); the server
reaches the file server on 127.0.0.1 through the test-only
``OPENLINES_TEST_FETCH_ORIGINS`` (older commits fetch any address anyway).
"""

import argparse
import concurrent.futures
import configparser
import json
import os
import subprocess
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchpg import run_sql  # noqa: E402

SECRET = "flood-secret_123"


def load_fakes():
    """The test fakes, imported by path as a package of their own (they import no Odoo)."""
    package = types.ModuleType("olfakes")
    package.__path__ = [str(HERE.parent / "openlines_connector" / "tests")]
    sys.modules["olfakes"] = package
    from olfakes.fake_tarpit import FakeTarpit  # noqa: PLC0415
    from olfakes.fake_telegram import FakeTelegram, load_fixture  # noqa: PLC0415

    return FakeTarpit, FakeTelegram, load_fixture


class Flood:
    def __init__(self, args):
        self.args = args
        self.logdir = Path(tempfile.mkdtemp(prefix="olflood_"))
        self.figures = {}
        parser = configparser.ConfigParser()
        parser.read(args.config)
        options = parser["options"]
        self.pg = {"dbname": args.db}
        for key, name in (("db_host", "host"), ("db_port", "port"), ("db_user", "user"), ("db_password", "password")):
            if options.get(key) and options.get(key).lower() not in ("false", "none"):
                self.pg[name] = options.get(key)
        self.addons = options.get("addons_path", "")

    # -- plumbing -----------------------------------------------------------------------
    def sql(self, query, params=(), db=None):
        return run_sql(dict(self.pg, dbname=db or self.args.db), query, params)

    def odoo(self, *extra, **kwargs):
        """Odoo through a two-line launcher file, as ``make run WORKERS=N`` and odoo-bin do: a server that
        re-executes itself (a reload, the websocket process) needs an ``argv[0]`` that runs as a script."""
        a = self.args
        launcher = self.logdir / "odoo-launcher.py"
        launcher.write_text("from odoo.cli.command import main\nmain()\n")
        cmd = [sys.executable, str(launcher), "server", "-c", a.config, "-d", a.db, "--db-filter", f"^{a.db}$"]
        return subprocess.Popen([*cmd, *extra], **kwargs)

    def install(self):
        exists = self.sql("SELECT 1 FROM pg_database WHERE datname = %s", (self.args.db,), db="postgres")
        print(f"{'Updating' if exists else 'Installing'} openlines_connector in {self.args.db}...", flush=True)
        with open(self.logdir / "install.log", "w") as log:
            mode = "-u" if exists else "-i"
            process = self.odoo(mode, "openlines_connector", "--without-demo=True", "--stop-after-init",
                                "--max-cron-threads", "0", "--no-http", stdout=log, stderr=log)  # fmt: skip
            assert process.wait() == 0, f"install failed: {self.logdir / 'install.log'}"
        self.created = not exists

    def start_server(self, tarpit_url):
        a = self.args
        self.port = a.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.logdir / "server.log"
        extra = ["--http-port", str(self.port), "--http-interface", "127.0.0.1", "--logfile", str(self.log)]
        if a.workers:  # as scripts/run.sh does for make run WORKERS=N
            extra += ["--workers", str(a.workers), "--max-cron-threads", "2", "--gevent-port", str(self.port + 1),
                      "--limit-time-real", "300", "--limit-time-cpu", "120",
                      "--limit-memory-soft", "671088640", "--limit-memory-hard", "805306368"]  # fmt: skip
        else:
            extra += ["--workers", "0", "--max-cron-threads", "2"]
        env = dict(os.environ, OPENLINES_TEST_FETCH_ORIGINS=tarpit_url.removeprefix("http://"))
        self.server = self.odoo(*extra, env=env)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/web/login", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.5)
        raise RuntimeError(f"the server did not start: {self.log}")

    def rpc(self, model, method, *args, **kwargs):
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {
                "service": "object",
                "method": "execute_kw",
                "args": [self.args.db, 2, "admin", model, method, list(args), kwargs],
            },
        }
        answer = requests.post(f"{self.url}/jsonrpc", json=payload, timeout=120).json()
        if answer.get("error"):
            raise RuntimeError(answer["error"]["data"]["message"])
        return answer["result"]

    def rss_mb(self):
        """The largest resident size among the server's processes (MB)."""
        pids = [self.server.pid]
        try:
            pids += [int(p) for p in subprocess.run(["pgrep", "-P", str(self.server.pid)], capture_output=True,
                                                     text=True).stdout.split()]  # fmt: skip
        except OSError:
            pass
        best = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        best = max(best, int(line.split()[1]) // 1024)
            except OSError:
                continue
        return best

    def restarts(self):
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return {
            "server reloads": text.count("Initiating server reload"),
            "workers killed": sum(text.count(k) for k in ("timeout after", "CPU time limit", "memory limit"))
            if self.args.workers
            else 0,
        }

    # -- records ------------------------------------------------------------------------
    def setup(self, telegram):
        stamp = uuid.uuid4().hex[:6]
        line = self.rpc("openlines.line", "create", {"name": f"Flood line {stamp}", "user_ids": [(6, 0, [2])]})
        self.tg = self.rpc("openlines.channel", "create", {
            "name": f"Telegram {stamp}", "line_id": line, "channel_type": "telegram", "token": telegram.token,
            "webhook_secret": SECRET, "api_base_url": telegram.url})  # fmt: skip
        self.ok = self.rpc("openlines.channel", "create", {
            "name": f"OK {stamp}", "line_id": line, "channel_type": "ok", "token": "tkn1FLOOD",
            "api_base_url": "http://127.0.0.1:9"})  # fmt: skip
        keys = {
            c["id"]: c["webhook_key"]
            for c in self.rpc("openlines.channel", "read", [self.tg, self.ok], ["webhook_key"])
        }
        self.tg_url = f"{self.url}/openlines/webhook/{keys[self.tg]}"
        self.ok_url = f"{self.url}/openlines/webhook/{keys[self.ok]}"

    def ok_post(self, user, text, urls=(), session=requests):
        mid = uuid.uuid4().hex
        payload = {
            "webhookType": "MESSAGE_CREATED",
            "sender": {"user_id": f"user:{user}", "name": f"Bot {user}"},
            "recipient": {"chat_id": f"chat:{user}"},
            "message": {
                "text": text,
                "mid": mid,
                "attachments": [{"type": "IMAGE", "payload": {"url": u}} for u in urls],
            },
        }
        response = session.post(self.ok_url, json=payload, timeout=30)
        return mid, response.status_code

    def trickle(self, update_id, window):
        """The other line's client writes; seconds until their message is processed (None: not in ``window``)."""
        update = json.loads(json.dumps(self.fixture))
        update["update_id"] = update["message"]["message_id"] = update_id
        update["message"]["chat"]["id"] = update["message"]["from"]["id"] = 424242
        started = time.monotonic()
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        requests.post(self.tg_url, json=update, headers=headers, timeout=30)
        while time.monotonic() - started < window:
            if self.sql("SELECT 1 FROM openlines_message WHERE channel_id = %s AND external_id = %s AND state = 'done'",
                        (self.tg, str(update_id))):  # fmt: skip
                return round(time.monotonic() - started, 1)
            time.sleep(0.2)
        return None

    def ok_states(self, mids):
        rows = self.sql(
            "SELECT state, attempts, left(coalesce(last_error, ''), 90) FROM openlines_message "
            "WHERE channel_id = %s AND direction = 'in' AND external_id = ANY(%s) ORDER BY id",
            (self.ok, list(mids)),
        )
        states = {}
        for state, _attempts, _error in rows:
            states[state] = states.get(state, 0) + 1
        return states, rows[:1]

    def give_up_leftovers(self):
        """Fail what an attack left waiting, so that the next attack starts from an empty queue."""
        left = self.sql(
            "UPDATE openlines_message SET state = 'failed', last_error = 'bench: left by the previous attack' "
            "WHERE channel_id = %s AND direction = 'in' AND state IN ('pending', 'retry') RETURNING id",
            (self.ok,),
        )
        return len(left or [])

    # -- attacks ------------------------------------------------------------------------
    def attack_tarpit(self, tarpit):
        window = self.args.window
        mid, status = self.ok_post(1, "photo", [tarpit.url_of("slow", "slow.jpg", size=10**6, every=5)])
        time.sleep(3)
        waited = self.trickle(10**8 + 1, window)
        deadline = time.monotonic() + (0 if waited is None else max(window - waited, 0))
        while time.monotonic() < deadline and self.ok_states([mid])[0].get("pending", 0) + self.ok_states([mid])[0].get(
            "retry", 0
        ):
            time.sleep(1)
        states, sample = self.ok_states([mid])
        return {"ack": status, "other line waited (s)": waited if waited is not None else f"> {window}",
                "attacking row": sample, **self.restarts(), "left waiting": self.give_up_leftovers()}  # fmt: skip

    def attack_flood(self):
        n, window = self.args.flood, self.args.window
        before = self.counts()
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool, requests.Session() as session:
            results = list(pool.map(lambda i: self.ok_post(10**6 + i, f"flood {i}", session=session), range(n)))
        acked = round(time.monotonic() - started, 1)
        waited = self.trickle(10**8 + 2, window)
        started = time.monotonic()
        mids = [m for m, _s in results]
        while time.monotonic() - started < window:
            states, _sample = self.ok_states(mids)
            if not states.get("pending") and not states.get("retry"):
                break
            time.sleep(1)
        drained = round(time.monotonic() - started, 1)
        states, _sample = self.ok_states(mids)
        after = self.counts()
        flood_since = self.sql("SELECT flood_since IS NOT NULL FROM openlines_channel WHERE id = %s", (self.ok,)) \
            if self.sql("SELECT 1 FROM information_schema.columns WHERE table_name = 'openlines_channel' "
                        "AND column_name = 'flood_since'") else None  # fmt: skip
        return {
            "webhooks": n, "answered 200": sum(1 for _m, s in results if s == 200), "acknowledged in (s)": acked,
            "other line waited (s)": waited if waited is not None else f"> {window}",
            "flood processed in (s)": drained, "rows": states,
            "created": {k: after[k] - before[k] for k in after}, "channel marked flooded": flood_since,
            **self.restarts(), "left waiting": self.give_up_leftovers(),
        }  # fmt: skip

    def counts(self):
        return {
            "partners": self.sql("SELECT count(*) FROM res_partner")[0][0],
            "dialogs": self.sql("SELECT count(*) FROM openlines_dialog")[0][0],
            "leads": self.sql("SELECT count(*) FROM crm_lead")[0][0],
            "discuss sessions": self.sql("SELECT count(*) FROM discuss_channel WHERE channel_type = 'livechat'")[0][0],
        }

    def attack_amplification(self, tarpit):
        n, size = self.args.attachments, self.args.file_mb * 1024 * 1024
        tarpit.hits.clear()
        rss_before = self.rss_mb()
        mid, status = self.ok_post(2, "thirty files", [tarpit.url_of("file", f"a{i}.jpg", size=size) for i in range(n)])
        waited = self.trickle(10**8 + 3, self.args.window)
        peak, started = rss_before, time.monotonic()
        while time.monotonic() - started < self.args.window:
            peak = max(peak, self.rss_mb())
            states, _sample = self.ok_states([mid])
            if not states.get("pending") and not states.get("retry"):
                break
            time.sleep(0.2)
        attachments = self.sql(
            "SELECT count(*) FROM ir_attachment a JOIN openlines_message m ON m.mail_message_id IS NOT NULL "
            "JOIN message_attachment_rel r ON r.message_id = m.mail_message_id AND r.attachment_id = a.id "
            "WHERE m.channel_id = %s AND m.external_id = %s",
            (self.ok, mid),
        )[0][0]
        states, sample = self.ok_states([mid])
        return {"ack": status, "other line waited (s)": waited, "files requested": tarpit.hits["file"],
                "attachments stored": attachments, "MB stored": round(attachments * size / 1048576),
                "largest server process (MB)": f"{rss_before} -> {peak}", "attacking row": sample,
                **self.restarts(), "left waiting": self.give_up_leftovers()}  # fmt: skip

    # -- run ----------------------------------------------------------------------------
    def run(self):
        FakeTarpit, FakeTelegram, load_fixture = load_fakes()
        self.fixture = load_fixture("reply")
        self.install()
        with FakeTelegram() as telegram, FakeTarpit(every=5) as tarpit:
            self.start_server(tarpit.url)
            try:
                self.setup(telegram)
                for name in self.args.attacks.split(","):
                    print(f"attack: {name}...", flush=True)
                    result = getattr(self, f"attack_{name}")(*((tarpit,) if name != "flood" else ()))
                    self.figures[name] = result
                    print(json.dumps(result, ensure_ascii=False, default=str), flush=True)
                try:
                    up = requests.get(f"{self.url}/web/login", timeout=10).status_code == 200
                except requests.RequestException:
                    up = False  # restarting, or gone
                self.figures["server up at the end"] = up
            finally:
                self.server.terminate()
                try:
                    self.server.wait(30)
                except subprocess.TimeoutExpired:
                    self.server.kill()
                if self.created and not self.args.keep:
                    self.sql(f'DROP DATABASE IF EXISTS "{self.args.db}"', db="postgres")
        self.write_results()

    def write_results(self):
        if not self.args.results:
            return
        commit = subprocess.run(["git", "-C", self.addons.split(",")[-1].strip(), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        mode = f"WORKERS={self.args.workers}" if self.args.workers else "threaded (make run)"
        lines = [f"\n### Attacks of issue 19: {self.args.label} ({mode}, addon at commit {commit or '?'}, "
                 f"{time.strftime('%Y-%m-%d')})\n", "| attack | figures |", "| --- | --- |"]  # fmt: skip
        for name, result in self.figures.items():
            text = result if not isinstance(result, dict) else "; ".join(f"{k}: {v}" for k, v in result.items())
            lines.append(f"| {name} | {str(text).replace('|', '/')} |")
        with open(self.args.results, "a") as results:
            results.write("\n".join(lines) + "\n")
        print(f"figures appended to {self.args.results}; server log {self.log}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="Odoo configuration (its addons_path names the addon)")
    parser.add_argument("--db", default=f"olflood_{time.strftime('%Y%m%d%H%M%S')}")
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument("--workers", type=int, default=0, help="0: one threaded process (make run); N: prefork")
    parser.add_argument("--attacks", default="tarpit,flood,amplification")
    parser.add_argument("--flood", type=int, default=1500)
    parser.add_argument("--attachments", type=int, default=30)
    parser.add_argument("--file-mb", type=int, default=8)
    parser.add_argument("--window", type=int, default=200, help="seconds each attack is watched at most")
    parser.add_argument("--label", default="after")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--keep", action="store_true")
    Flood(parser.parse_args(argv)).run()


if __name__ == "__main__":
    main()
