#!/usr/bin/env python3
"""Benchmark of the Open Lines Telegram webhook: acknowledgements, processing, SQL queries per message.

    python3 bench/bench_webhook.py --config ODOO.cfg [--db NAME] [--messages 2000] [--clients 1000]
        [--concurrency 1,4,16] [--keep] [--profile 200] [--against-oca] [--preload 1000000,100000]

Run by hand (not part of `make test`); see bench/README.md. Writes bench/RESULTS.md.
"""

import argparse
import atexit
import cProfile
import datetime
import importlib.util
import io
import json
import os
import platform
import pstats
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import requests
from werkzeug.test import Client

import odoo
import odoo.api
import odoo.fields
import odoo.http
import odoo.orm.registry
import odoo.release
import odoo.sql_db
import odoo.tools
from odoo.modules.module import get_module_path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchpg import run_sql  # noqa: E402

SECRET = "bench-secret_123"
HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
FAR_FUTURE = "2999-01-01 00:00:00"


def load_fake_telegram():
    """openlines_connector/tests/fake_telegram.py, imported by file path (it imports no Odoo)."""
    path = HERE.parent / "openlines_connector" / "tests" / "fake_telegram.py"
    spec = importlib.util.spec_from_file_location("ol_fake_telegram", path)
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    if not hasattr(module, "FakeTelegram"):
        spec.loader.exec_module(module)  # registered first: its dataclasses look their module up
    return module


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))] if values else float("nan")


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


class Bench:
    def __init__(self, args):
        self.args, self.server, self.fake, self.created_db, self.oca, self.fake2 = args, None, None, False, None, None
        self.stopping, self.analyzer = threading.Event(), None
        self.logdir = Path(tempfile.mkdtemp(prefix="olbench_logs_"))
        self.template = load_fake_telegram().load_fixture("reply")
        self.update_id = 10**9
        self.results = {"ack": [], "processing": [], "queries": {}, "load": [os.getloadavg()]}

    # -- database and ORM ----------------------------------------------------------
    def odoo_cmd(self, *extra):
        # a two-line launcher, as odoo-bin: a prefork server re-executes argv[0] for its websocket process
        launcher = self.logdir / "odoo-launcher.py"
        launcher.write_text("from odoo.cli.command import main\nmain()\n")
        return [sys.executable, str(launcher), "server", *self.odoo_args(), *extra]

    def subprocess_env(self):
        """Environment of the Odoo subprocesses (None: this one)."""
        return None

    def webhook_path(self):
        return f"/openlines/webhook/{self.key}"

    def ack_ok(self, response):
        return response.status_code == 200 and response.json().get("ok") is True

    def odoo_args(self):
        a = self.args
        # -d without --db-filter: Odoo then serves that database without listing the server's databases
        # (a new PostgreSQL connection) on every request, as the README recommends for production
        return ["-c", a.config, "-d", a.db, "--http-interface", "127.0.0.1"]

    def postgres(self, query, params=(), db="postgres"):
        """One statement on its own autocommit connection (none of the registry's); return the rows."""
        return run_sql(odoo.sql_db.connection_info_for(db)[1], query, params)

    def install_module(self, module, update):
        """Install (or update) ``module`` in the bench database with Odoo's command line, logged to install.log."""
        with open(self.logdir / "install.log", "w") as log:
            subprocess.run(
                self.odoo_cmd(
                    "-u" if update else "-i",
                    module,
                    "--without-demo=True",
                    "--stop-after-init",
                    "--max-cron-threads",
                    "0",
                ),
                check=True,
                stdout=log,
                stderr=log,
                env=self.subprocess_env(),
            )

    def prepare_db(self):
        db = self.args.db
        odoo.tools.config.parse_config(self.odoo_args(), setup_logging=False)
        self.created_db = not self.postgres("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
        installed = not self.created_db and self.postgres(
            "SELECT 1 FROM ir_module_module WHERE name = 'openlines_connector' AND state = 'installed'", db=db
        )
        print(f"{'Updating' if installed else 'Installing'} openlines_connector in {db}...", flush=True)
        self.install_module("openlines_connector", update=installed)  # a reused database is updated to the code
        odoo.http.root.initialize()
        self.registry = odoo.orm.registry.Registry(db)
        self.autovacuum = self.postgres("SHOW autovacuum")[0][0]
        if self.autovacuum != "on":  # else the planner keeps the statistics of the empty tables of the install
            print("PostgreSQL's autovacuum is off: the script runs ANALYZE every 15 s instead", flush=True)
            self.analyzer = threading.Thread(target=self.analyze_loop, daemon=True)
            self.analyzer.start()

    def analyze_loop(self):
        while not self.stopping.wait(15):
            try:
                self.postgres("ANALYZE", db=self.args.db)
            except psycopg2.Error:
                pass

    def drop_db(self):
        db = self.args.db
        print(f"dropping database {db}")
        odoo.orm.registry.Registry.delete(db)
        odoo.sql_db.close_db(db)
        self.postgres("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))
        self.postgres(f'DROP DATABASE IF EXISTS "{db}"')
        shutil.rmtree(odoo.tools.config.filestore(db), ignore_errors=True)

    def analyze(self):
        """Fresh planner statistics before a timed phase (what autovacuum does on a live server)."""
        self.postgres("ANALYZE", db=self.args.db)

    def env(self, cr):
        return odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})

    def sql(self, query, params=()):
        with self.registry.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall() if cr.description else None

    def setup_records(self):
        stamp = time.strftime("%Y%m%d%H%M%S")
        with self.registry.cursor() as cr:
            env = self.env(cr)
            groups = env.ref("base.group_user") | env.ref("openlines_connector.group_openlines_manager")
            operator = env["res.users"].create(
                {"name": "Bench Operator", "login": f"olbench_op_{stamp}", "group_ids": [(6, 0, groups.ids)]}
            )
            line = env["openlines.line"].create({"name": f"Bench line {stamp}", "user_ids": [(6, 0, operator.ids)]})
            channel = env["openlines.channel"].create(
                {
                    "name": f"Bench bot {stamp}",
                    "line_id": line.id,
                    "channel_type": "telegram",
                    "token": self.fake.token,
                    "webhook_secret": SECRET,
                    "api_base_url": self.fake.url,
                }
            )
            self.operator_id, self.channel_id, self.key = operator.id, channel.id, channel.webhook_key
        self.refresh_presence()

    def refresh_presence(self):
        """The operator is online, so new dialogs get them (as when operators work)."""
        with self.registry.cursor() as cr:
            env = self.env(cr)
            env["mail.presence"]._update_presence(env["res.users"].browse(self.operator_id))

    # -- HTTP server -------------------------------------------------------------------
    def start_server(self, cron_threads, workers=0):
        self.stop_server()
        self.port, logfile = free_port(), self.logdir / f"server-w{workers}-cron{cron_threads}.log"
        self.server = subprocess.Popen(
            self.odoo_cmd(
                "--http-port",
                str(self.port),
                "--workers",
                str(workers),
                *(["--gevent-port", str(free_port())] if workers else []),
                "--max-cron-threads",
                str(cron_threads),
                "--logfile",
                str(logfile),
            ),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=self.subprocess_env(),
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"Odoo server exited with {self.server.returncode}; see {logfile}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/web/login", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Odoo server did not answer in time; see {logfile}")

    def stop_server(self):
        if self.server and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None

    # -- load ----------------------------------------------------------------------------
    def bodies(self, count, first_chat=1, chats=None):
        """Text updates with new update ids from ``chats``, else ``count`` round-robin over --clients chats."""
        out = []
        for chat in chats or [first_chat + i % self.args.clients for i in range(count)]:
            self.update_id += 1
            update = json.loads(json.dumps(self.template))
            update["update_id"] = update["message"]["message_id"] = self.update_id
            for who in ("chat", "from"):
                update["message"][who].update(id=chat, first_name=f"Client {chat}")
            update["message"]["text"] = f"Здравствуйте, есть ли доставка в Казань? #{self.update_id}"
            out.append(json.dumps(update, ensure_ascii=False).encode())
        return out

    def post_all(self, bodies, concurrency):
        """POST ``bodies`` from ``concurrency`` threads; return (wall seconds, latencies, bad answers)."""
        url = f"http://127.0.0.1:{self.port}{self.webhook_path()}"
        latencies, bad, barrier = [], [], threading.Barrier(concurrency + 1)

        def worker(part):
            session, mine = requests.Session(), []
            barrier.wait()
            for body in part:
                t0 = time.perf_counter()
                try:
                    r = session.post(url, data=body, headers=HEADERS, timeout=60)
                    if not self.ack_ok(r):
                        bad.append(f"{r.status_code} {r.text[:100]}")
                except requests.RequestException as e:
                    bad.append(repr(e))
                mine.append(time.perf_counter() - t0)
            latencies.extend(mine)

        threads = [threading.Thread(target=worker, args=(bodies[i::concurrency],)) for i in range(concurrency)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        return time.perf_counter() - t0, latencies, bad

    def ack_phase(self):
        self.start_server(0)
        self.post_all(self.bodies(20, 1), 2)  # warm-up: routing map, caches, connections
        for level in self.args.concurrency:
            wall, lat, bad = self.post_all(self.bodies(self.args.messages, 1), level)
            row = {
                "concurrency": level,
                "n": len(lat),
                "rps": (len(lat) - len(bad)) / wall,
                "p50": pct(lat, 50) * 1000,
                "p99": pct(lat, 99) * 1000,
                "errors": len(bad),
            }
            self.results["ack"].append(row)
            print(
                f"ack C={level}: {row['rps']:.0f}/s p50 {row['p50']:.1f} ms p99 {row['p99']:.1f} ms, "
                f"{len(bad)} not 200 {bad[:1]}",
                flush=True,
            )
        self.stop_server()

    # -- processing ----------------------------------------------------------------------
    def pending(self):
        """Inbound rows due for their first attempt (a failed row goes to 'retry': not waited for)."""
        return self.sql("""SELECT count(*) FROM openlines_message WHERE direction = 'in' AND state = 'pending'
                            AND next_attempt_dt <= now() at time zone 'UTC'""")[0][0]

    def drain(self, label):
        """Call the processing cron's method in-process until no row is due; time it.

        The time counted is until every row is done (its message committed in Discuss: a thread polls
        the rows every 20 ms); the cron method then files the new dialogs' leads (its lead step, out of
        the clients' path), timed apart.
        """
        count, t0, done_at, stop = self.pending(), time.perf_counter(), [], threading.Event()

        def watch():  # rows being processed are not due (their lease): every row not kept until 2999
            while not stop.wait(0.02):
                if not self.sql(
                    """SELECT count(*) FROM openlines_message WHERE direction = 'in'
                        AND state IN ('pending', 'retry') AND next_attempt_dt < %s""",
                    (FAR_FUTURE,),
                )[0][0]:
                    done_at.append(time.perf_counter())
                    return

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            while self.pending():
                with self.registry.cursor() as cr:
                    self.env(cr)["openlines.message"]._cron_process_inbound()
        finally:
            stop.set()
            watcher.join()
        end = time.perf_counter()
        wall = (done_at[0] if done_at else end) - t0
        row = {"kind": label, "n": count, "seconds": wall, "rate": count / wall, "lead_step": end - t0 - wall}
        self.results["processing"].append(row)
        print(f"processing, {label}: {count} in {wall:.1f} s = {count / wall:.1f} msg/s, then the lead step "
              f"{row['lead_step']:.1f} s", flush=True)  # fmt: skip

    def processing_phase(self):
        """First message of each chat (opens a dialog), then the others: the rest wait until 2999 meanwhile."""
        chat, where = "(payload::jsonb #>> '{message,chat,id}')", "channel_id = %s AND direction = 'in'"
        self.sql(
            f"""UPDATE openlines_message SET next_attempt_dt = %s WHERE {where} AND state = 'pending'
                      AND id NOT IN (SELECT DISTINCT ON ({chat}) id FROM openlines_message WHERE {where}
                                      ORDER BY {chat}, id)""",
            (FAR_FUTURE, self.channel_id, self.channel_id),
        )
        self.analyze()
        self.refresh_presence()
        self.drain("new dialog (first message of a chat)")
        self.sql(
            f"""UPDATE openlines_message SET next_attempt_dt = now() at time zone 'UTC'
                      WHERE {where} AND state = 'pending'""",
            (self.channel_id,),
        )
        self.analyze()
        self.drain("existing dialog")
        not_done = self.sql(
            f"SELECT state, count(*) FROM openlines_message WHERE {where} AND state != 'done' GROUP BY state",
            (self.channel_id,),
        )
        if not_done:
            print(f"WARNING: inbound rows not done: {not_done}")
            self.results["not_done"] = not_done

    def e2e_phase(self):
        """Real cron runner: from the first POST until every new row is processed."""
        last_id = self.sql("SELECT coalesce(max(id), 0) FROM openlines_message")[0][0]
        self.start_server(self.args.e2e_cron_threads)
        self.wait_crons_idle()
        self.analyze()
        self.refresh_presence()
        n, acks = self.args.messages, []
        bodies = self.bodies(n, 1 + 10 * self.args.clients)  # new chats: the same new/existing mix as above
        t0 = time.perf_counter()
        poster = threading.Thread(target=lambda: acks.append(self.post_all(bodies, 4)))
        poster.start()
        finished, deadline = 0, time.monotonic() + max(600, n)
        while finished < n and time.monotonic() < deadline:
            time.sleep(0.25)
            finished = self.sql(
                """SELECT count(*) FROM openlines_message WHERE channel_id = %s AND id > %s
                                    AND direction = 'in' AND state NOT IN ('pending', 'retry')""",
                (self.channel_id, last_id),
            )[0][0]
        wall = time.perf_counter() - t0
        poster.join()
        self.results["e2e"] = {
            "n": n,
            "finished": finished,
            "seconds": wall,
            "rate": finished / wall,
            "errors": len(acks[0][2]) if acks else n,
        }
        print(f"end-to-end: {finished}/{n} processed in {wall:.1f} s = {finished / wall:.1f} msg/s", flush=True)
        self.stop_server()

    def wait_crons_idle(self, timeout=300):
        """Let the cron runner first run every job that is due (in a new database, all are)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.sql(
                """SELECT (SELECT count(*) FROM ir_cron WHERE active AND nextcall <= %(now)s)
                                    + (SELECT count(*) FROM ir_cron_trigger WHERE call_at <= %(now)s)""",
                {"now": odoo.fields.Datetime.now()},
            )[0][0]:
                return
            time.sleep(1)
        print("WARNING: cron jobs still due after waiting: the end-to-end figure includes them")

    # -- SQL queries per message -------------------------------------------------------
    def count_queries(self, fn):
        """Queries ``fn`` runs in this thread: [in the benchmark's database, in others (``postgres``)]."""
        counts, thread = [0, 0], threading.current_thread()

        def hook(cr, *_args):
            counts[cr.dbname != self.args.db] += 1

        thread.query_hooks = (*getattr(thread, "query_hooks", ()), hook)
        try:
            fn()
        finally:
            thread.query_hooks = tuple(h for h in thread.query_hooks if h is not hook)
        return counts

    def ingest(self, env, chats):
        payloads = [json.loads(body) for body in self.bodies(0, chats=chats)]
        env["openlines.channel"].browse(self.channel_id)._ingest([(str(p["update_id"]), p) for p in payloads])
        return env["openlines.message"].search(
            [
                ("channel_id", "=", self.channel_id),
                ("direction", "=", "in"),
                ("external_id", "in", [str(p["update_id"]) for p in payloads]),
            ]
        )

    def queries_phase(self):
        q, fresh, Cursor = self.results["queries"], 100 * self.args.clients, self.registry.cursor
        self.refresh_presence()
        with Cursor() as cr:
            env = self.env(cr)
            self.ingest(env, [fresh])._process_inbound()  # warm-up, as in the addon's query-count test
            for key, chat in (("new_dialog_cold", fresh + 1), ("existing_dialog_cold", fresh)):
                row = self.ingest(env, [chat])
                env.invalidate_all()  # as in a fresh cron transaction
                q[key] = self.count_queries(row._process_inbound)
            cr.commit()
            # a whole cron batch; chats 1..50 have had dialogs since the processing phase
            for key, chats in (
                ("new_dialog_warm", range(fresh + 2, fresh + 52)),
                ("existing_dialog_warm", [1 + i % self.args.clients for i in range(50)]),
            ):
                self.ingest(env, chats)
                cr.commit()
                env.invalidate_all()
                q[key] = [c / 50 for c in self.count_queries(env["openlines.message"]._cron_process_inbound)]
            dialog = env["openlines.dialog"].search(
                [("channel_id", "=", self.channel_id), ("operator_id", "=", self.operator_id)], limit=1
            )
            session = dialog.discuss_channel_id.with_user(self.operator_id)

            def reply(text):
                session.message_post(body=text, message_type="comment", subtype_xmlid="mail.mt_comment")

            reply("Первый")
            q["reply"] = self.count_queries(lambda: reply("Второй"))
            first, second = env["openlines.message"].search(
                [("dialog_id", "=", dialog.id), ("direction", "=", "out")], order="id"
            )[-2:]
            cr.commit()
            first._send()
            cr.commit()
            env.invalidate_all()
            q["outbound"] = self.count_queries(second._send)
            cr.commit()
        q["ack"] = self.ack_queries()
        with Cursor() as cr:  # process the rows those acks stored
            self.env(cr)["openlines.message"]._cron_process_inbound()
        print("queries per message [database, postgres]:", q, flush=True)

    def ack_queries(self, n=10):
        """Queries of one webhook acknowledgement: Odoo's WSGI application called in-process, averaged."""
        client, url = Client(odoo.http.root), self.webhook_path()
        for body in self.bodies(3, 1):  # warm-up
            assert client.post(url, data=body, headers=HEADERS).status_code == 200
        bodies = self.bodies(n, 1)
        return [c / n for c in self.count_queries(lambda: [client.post(url, data=b, headers=HEADERS) for b in bodies])]

    # -- behaviours and operator replies ------------------------------------------------------
    def behaviour_process(self):
        """Process what the webhook stored (ours: the processing cron's method, in-process)."""
        while self.pending():
            with self.registry.cursor() as cr:
                self.env(cr)["openlines.message"]._cron_process_inbound()

    def behaviour_count(self):
        return self.sql(
            "SELECT count(*) FROM mail_message WHERE model = 'discuss.channel' AND message_type = 'comment'"
        )[0][0]

    def behaviour_phase(self):
        """The same update posted twice, then an ``edited_message`` update: statuses and messages created."""
        client = Client(odoo.http.root)
        body = self.bodies(0, chats=[77 * self.args.clients])[0]  # a chat of its own
        before = self.behaviour_count()
        dup = [client.post(self.webhook_path(), data=body, headers=HEADERS).status_code for _ in range(2)]
        self.behaviour_process()
        created = self.behaviour_count() - before
        self.update_id += 1
        edited = json.loads(body)
        edited["update_id"] = self.update_id
        edited["edited_message"] = message = edited.pop("message")
        message["edit_date"], message["text"] = message["date"] + 60, message["text"] + " (исправлено)"
        before = self.behaviour_count()
        status = client.post(self.webhook_path(), data=json.dumps(edited), headers=HEADERS).status_code
        self.behaviour_process()
        out = {
            "dup": f"{dup[0]}, {dup[1]}; {created} message(s)",
            "edited": f"{status} ({self.behaviour_count() - before} new message(s))",
        }
        print(f"behaviour: {out}", flush=True)
        return out

    def reply_latencies(self, fake, channel_id, n=5):
        """Median time (ms) of an operator's ``message_post`` + commit, Bot API healthy, slow (2 s), stopped."""
        out = {}
        for key in ("healthy", "slow", "down"):
            fake.delay = 2 if key == "slow" else 0
            if key == "down":
                fake.stop()
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                with self.registry.cursor() as cr:
                    channel = odoo.api.Environment(cr, self.operator_id, {})["discuss.channel"].browse(channel_id)
                    channel.message_post(
                        body=f"Ответ оператора {key} {i}", message_type="comment", subtype_xmlid="mail.mt_comment"
                    )
                times.append(time.perf_counter() - t0)
            out[key] = statistics.median(times) * 1000
            print(f"operator reply, Bot API {key}: {out[key]:.0f} ms (median of {n})", flush=True)
        return out

    def reply_phase(self):
        """Ours queues the outbound row (the send cron calls the API): the reply should not wait for it."""
        with self.registry.cursor() as cr:
            dialog = self.env(cr)["openlines.dialog"].search(
                [("channel_id", "=", self.channel_id), ("operator_id", "=", self.operator_id)], limit=1
            )
            channel_id = dialog.discuss_channel_id.id
        self.results["reply"] = self.reply_latencies(self.fake, channel_id)

    def profile_phase(self):
        """cProfile the processing cron over --profile messages, half of them opening a dialog."""
        n = self.args.profile
        with self.registry.cursor() as cr:
            self.ingest(self.env(cr), [1000 * self.args.clients + i % max(n // 2, 1) for i in range(n)])
        self.analyze()
        self.refresh_presence()
        prof = cProfile.Profile()
        with self.registry.cursor() as cr:
            prof.runcall(self.env(cr)["openlines.message"]._cron_process_inbound)
        prof.dump_stats(self.logdir / "processing.prof")
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats("tottime").print_stats(12)
        stats.sort_stats("cumulative").print_stats(r"openlines|mail|discuss|im_livechat|orm|sql_db", 25)
        self.results["profile"] = out.getvalue().strip()
        print(self.results["profile"])

    # -- report ------------------------------------------------------------------------
    def report(self):
        r = self.results
        lines = [
            "| Webhook acknowledgements | requests | acks/s | p50 ms | p99 ms | not 200 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {a['concurrency']} client thread(s) | {a['n']} | {a['rps']:.0f} | {a['p50']:.1f} "
            f"| {a['p99']:.1f} | {a['errors']} |"
            for a in r["ack"]
        ]
        lines += ["", "| Processing into Discuss | messages | seconds | msg/s |", "|---|---:|---:|---:|"]
        lines += [
            f"| cron method in-process, {p['kind']} | {p['n']} | {p['seconds']:.1f} | {p['rate']:.1f} |"
            for p in r["processing"]
        ]
        lines += [
            f"| (then the cron method's lead step for them: {p['lead_step']:.1f} s, out of the clients' path) | | | |"
            for p in r["processing"]
            if p.get("lead_step", 0) >= 0.05
        ]
        if e := r.get("e2e"):
            lines.append(
                f"| end-to-end: server with {self.args.e2e_cron_threads} cron thread(s), first POST "
                f"(4 threads, {e['errors']} not 200) until every row is done | {e['finished']}/{e['n']} "
                f"| {e['seconds']:.1f} | {e['rate']:.1f} |"
            )
        labels = {
            "ack": "webhook acknowledgement (in-process WSGI, average of 10)",
            "new_dialog_cold": "inbound, new dialog, cold cache (`_process_inbound`)",
            "existing_dialog_cold": "inbound, existing dialog, cold cache (`_process_inbound`)",
            "new_dialog_warm": "inbound, new dialog, warm: cron batch of 50 / 50 (claim and commit included)",
            "existing_dialog_warm": "inbound, existing dialog, warm: cron batch of 50 (50 dialogs) / 50",
            "reply": "operator reply in Discuss (queues the outbound row)",
            "outbound": "outbound send to the fake Bot API, cold cache (`_send`)",
        }
        lines += ["", "| SQL queries per message | queries |", "|---|---:|"]
        lines += [
            f"| {label} | {q[0]:g}{f' (+{q[1]:g} in `postgres`)' if q[1] else ''} |"
            for key, label in labels.items()
            if (q := r["queries"].get(key))
        ]
        if r.get("not_done"):
            lines += ["", f"Inbound rows not done after processing: {r['not_done']}"]
        if b := r.get("behaviour"):
            lines += [
                "",
                f"The same update delivered twice: HTTP {b['dup']}. An `edited_message` update: HTTP {b['edited']}.",
            ]
        if (rp := r.get("reply")) and not self.oca:
            lines += ["", "| Operator reply (`message_post` + commit, median of 5): Bot API | ms |", "|---|---:|"]
            lines += [f"| {k} | {v:.0f} |" for k, v in rp.items()]
        if self.oca:
            import bench_oca  # noqa: PLC0415

            lines += ["", bench_oca.report(self, self.oca)]
        return "\n".join(lines)

    def facts(self):
        cpu = next(
            (x.split(":", 1)[1].strip() for x in open("/proc/cpuinfo") if x.startswith("model name")),
            platform.processor(),
        )
        mem = next(int(x.split()[1]) for x in open("/proc/meminfo") if x.startswith("MemTotal")) / 1048576
        path = get_module_path("openlines_connector")
        addon = f"`{path}`"
        try:
            commit = run(["git", "-C", path, "log", "-1", "--format=%h (%cs)"])
            dirty = run(["git", "-C", path, "status", "--porcelain", "--", "."])
            addon = f"`{path}` at {commit}{', with uncommitted changes' if dirty else ''}"
        except (OSError, subprocess.CalledProcessError):
            pass
        logs = "; ".join(
            f"{p.name}: "
            + ", ".join(
                f"{p.read_text(errors='replace').count(w)} {w.strip()}" for w in (" ERROR ", " WARNING ", "Traceback")
            )
            for p in sorted(self.logdir.glob("server-*.log"))
        )
        load = self.results["load"]
        return [
            f"- Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"- Machine: `nproc` {len(os.sched_getaffinity(0))}, {cpu}, {mem:.1f} GiB RAM; Python "
            f"{platform.python_version()}, Odoo {odoo.release.version}, "
            f"PostgreSQL {self.sql('SHOW server_version')[0][0]} (autovacuum {self.autovacuum}"
            f"{'' if self.autovacuum == 'on' else ': the script ran ANALYZE every 15 s'})",
            "- Load average (1/5/15 min) at start: {:.1f} {:.1f} {:.1f}, at end: {:.1f} {:.1f} {:.1f}".format(
                *load[0], *load[-1]
            ),
            f"- Command: `python3 {' '.join(shlex.quote(a) for a in sys.argv)}`",
            f"- Addon: {addon}",
            f"- Server: `python3 -m odoo server --workers 0` (threaded); logs: {logs}",
        ]

    def write_results(self, table):
        profile = self.results.get("profile")
        text = "\n".join(
            [
                "# Webhook benchmark: latest results",
                "",
                *self.facts(),
                "",
                table,
                "",
                *(["## Profile of the processing cron (cProfile)", "", "```", profile, "```", ""] if profile else []),
                "How to run it and what each figure means: `README.md`.",
                "",
            ]
        )
        path = Path(self.args.results)
        other = path.read_text(encoding="utf-8") if path.exists() else ""
        keep = min(
            (i for i in (other.find(f"\n## {t}") for t in ("Growth", "Response-time KPIs", "Routing")) if i >= 0),
            default=-1,
        )  # the sections of bench_growth.py, bench_kpi.py, bench_routing.py stay
        path.write_text(text.rstrip("\n") + "\n" + (other[keep:] if keep >= 0 else ""), encoding="utf-8")
        print(f"wrote {self.args.results}")

    # -- main --------------------------------------------------------------------------
    def run(self):
        self.fake = load_fake_telegram().FakeTelegram().start()
        self.prepare_db()
        self.setup_records()
        if self.args.preload:
            import bench_growth  # noqa: PLC0415

            self.results["preload"] = bench_growth.preload(self, *self.args.preload)
        self.ack_phase()
        self.processing_phase()
        self.queries_phase()
        self.results["behaviour"] = self.behaviour_phase()
        if self.args.e2e:
            self.e2e_phase()
        if self.args.profile:
            self.profile_phase()
        if self.args.reply:
            self.reply_phase()
        if self.args.against_oca:
            self.against_oca()
        self.results["load"].append(os.getloadavg())
        table = self.report()
        print(f"\n{table}\n\nserver logs: {self.logdir}")
        if self.args.json:
            Path(self.args.json).write_text(json.dumps(self.results, default=str, ensure_ascii=False, indent=1))
        if self.args.results:
            self.write_results(table)

    def against_oca(self):
        """The same load on OCA's mail_gateway_telegram, in its own database (``<db>_oca``): ``bench_oca.py``."""
        import bench_oca  # noqa: PLC0415

        self.results["ours_load_end"] = os.getloadavg()
        self.oca = bench_oca.OcaBench(self)
        try:
            self.results["oca"] = self.oca.run()
        finally:
            self.oca.cleanup()

    def cleanup(self):
        self.stopping.set()
        if self.analyzer:
            self.analyzer.join(60)
        self.stop_server()
        for fake in (self.fake, self.fake2):
            if fake:
                fake.stop()
        self.fake = self.fake2 = None
        if self.created_db and not self.args.keep:
            self.created_db = False
            self.drop_db()


def common_parser(doc, messages, clients):
    """The options of every script built on :class:`Bench` (this one, ``bench_parallel.py``)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="Odoo configuration file (its addons path holds the addon)")
    p.add_argument("--db", help="database to use (updated to the current code); created and dropped if missing")
    p.add_argument("--messages", type=int, default=messages, help="webhook POSTs per level or phase")
    p.add_argument("--clients", type=int, default=clients, help="distinct Telegram chats, round-robin")
    p.add_argument("--keep", action="store_true", help="keep a database the script created")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"), help="Markdown file to write ('' for none)")
    return p


def parse_args(argv=None):
    p = common_parser(__doc__, messages=2000, clients=1000)
    p.add_argument("--concurrency", default="1,4,16", help="comma-separated client thread counts")
    p.add_argument("--e2e-cron-threads", type=int, default=1, help="cron threads of the end-to-end server")
    p.add_argument("--no-e2e", dest="e2e", action="store_false", help="skip the end-to-end phase")
    p.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the processing of N more messages")
    p.add_argument(
        "--against-oca",
        action="store_true",
        help="then the same load on OCA's mail_gateway_telegram (registry wheels) in database <db>_oca",
    )
    p.add_argument("--oca-wheels", metavar="DIR", help="OCA's wheels already downloaded (else: pip download)")
    p.add_argument(
        "--no-reply",
        dest="reply",
        action="store_false",
        help="skip the operator-reply timings (Bot API healthy, slow, stopped)",
    )
    p.add_argument(
        "--preload",
        metavar="MESSAGES,DIALOGS",
        help="fill the database with a done history first (bench_growth.py), e.g. 1000000,100000",
    )
    p.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    args = p.parse_args(argv)
    args.preload = [int(x) for x in args.preload.split(",")] if args.preload else None
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.db = args.db or f"olbench_{time.strftime('%Y%m%d_%H%M%S')}"
    return args


def run_bench(bench):
    """Run a bench (this script's or ``bench_parallel.py``'s); stop its servers and drop its database whatever
    happens (an exception, Ctrl-C, SIGTERM)."""
    atexit.register(bench.cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.run()
    finally:
        bench.cleanup()


def main():
    sys.modules.setdefault("bench_webhook", sys.modules["__main__"])  # bench_oca/bench_growth import this module
    run_bench(Bench(parse_args()))


if __name__ == "__main__":
    main()
