#!/usr/bin/env python3
"""Issue 17: inbound processing in parallel by conversation, a client's first message, webhook-to-Discuss latency.

    python3 bench/bench_parallel.py --config ODOO.cfg [--db NAME] [--messages 1000] [--clients 200]
        [--rates 10,50,100] [--seconds 20] [--results bench/RESULTS.md]

Phases (each on the real webhook of a real server, then processed):

* **workers**: ``--messages`` messages to existing dialogs spread over ``--clients`` chats, processed by
  1 then by 2 worker processes (each loops the processing cron's method, as an Odoo cron worker does,
  own process and connection): msg/s and the ratio 2 / 1; then the same with ``--messages`` first
  messages (new dialogs): the rate at which they are in Discuss, and when their leads are filed.
* **concentrated**: 2 workers, 5 chats, every update delivered twice: exactly once, in order per chat.
* **two servers**: two Odoo servers (``--workers 0``, one cron thread each) on one database, the POSTs
  split between them, against one such server: first POST until every row is done.
* **oca** (with ``--against-oca``): OCA's ``mail_gateway_telegram`` in ``<db>_oca``, the first message of
  ``--clients`` new chats from one sender (OCA processes inside the request): its rate against ours.
* **latency**: an open-loop sender at each rate of ``--rates`` for ``--seconds`` (50 chats with dialogs)
  to a server with 2 cron threads; a watcher polls the rows every 20 ms: webhook 200 to the row
  *done* (the Discuss post committed, the bus notified in the same commit), p50 / p99.

Run by hand; writes a section of bench/RESULTS.md.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_webhook  # noqa: E402
from bench_webhook import Bench, pct  # noqa: E402

SECTION = "## Parallel processing, first messages, latency (bench_parallel.py, issue 17)"


def worker_main(argv):
    """``--worker CONFIG DB START_FILE``: loop the processing cron's method until nothing is left."""
    import odoo  # noqa: PLC0415
    import odoo.api  # noqa: PLC0415
    import odoo.orm.registry  # noqa: PLC0415
    import odoo.tools  # noqa: PLC0415

    config, db, start = argv
    odoo.tools.config.parse_config(["-c", config, "-d", db], setup_logging=False)
    registry = odoo.orm.registry.Registry(db)
    with registry.cursor() as cr:  # warm: the models' first queries before the start
        odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})["openlines.message"].search([], limit=1)
    Path(f"{start}.ready.{os.getpid()}").touch()
    while not os.path.exists(start):
        time.sleep(0.005)
    idle_since = None
    while True:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            env["openlines.message"]._cron_process_inbound()
            env["openlines.dialog"]._file_queued_leads()
            cr.commit()
            cr.execute(
                """SELECT (SELECT count(*) FROM openlines_message WHERE direction = 'in'
                              AND state IN ('pending', 'retry') AND next_attempt_dt <= now() at time zone 'UTC')
                        + (SELECT count(*) FROM openlines_dialog WHERE lead_queued)"""
            )
            left = cr.fetchone()[0]
        if left:
            idle_since = None
            time.sleep(0.005)
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since > 1:
            return


class ParallelBench(Bench):
    def __init__(self, args):
        super().__init__(args)
        self.servers = []
        self.out = {}

    # -- load helpers ----------------------------------------------------------------
    def post_via_server(self, bodies, concurrency=8):
        """POST ``bodies`` to a server without cron threads (kept for the next call)."""
        if not self.server:
            self.start_server(0)
        _wall, _lat, bad = self.post_all(bodies, concurrency)
        assert not bad, bad[:3]

    def setup_records(self):
        super().setup_records()
        # every new dialog gets its lead (the default 20 a minute would defer most: their cost is measured)
        self.sql("UPDATE openlines_line SET lead_rate_limit = 0 WHERE id = "
                 "(SELECT line_id FROM openlines_channel WHERE id = %s)", (self.channel_id,))  # fmt: skip

    def last_id(self):
        return self.sql("SELECT coalesce(max(id), 0) FROM openlines_message")[0][0]

    def state_counts(self, since):
        return dict(
            self.sql(
                "SELECT state, count(*) FROM openlines_message WHERE direction = 'in' AND id > %s GROUP BY state",
                (since,),
            )
        )

    def run_workers(self, n, since):
        """Start ``n`` worker processes at once; return (seconds until every row is done, until leads filed)."""
        start = Path(self.logdir) / f"start-{time.monotonic_ns()}"
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", self.args.config, self.args.db, str(start)],
                stdout=open(self.logdir / f"worker-{n}-{i}.log", "a"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
            for i in range(n)
        ]
        while len(list(Path(self.logdir).glob(f"{start.name}.ready.*"))) < n:  # registries loaded
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker exited; see {self.logdir}")
            time.sleep(0.2)
        total = sum(self.state_counts(since).values())
        t0 = time.perf_counter()
        start.touch()
        visible = None
        while visible is None:
            counts = self.state_counts(since)
            finished = counts.get("done", 0) + counts.get("ignored", 0) + counts.get("failed", 0)
            if finished >= total or all(p.poll() is not None for p in procs):
                visible = time.perf_counter() - t0
                if finished < total:
                    print(f"WARNING: workers stopped with rows left: {counts}", flush=True)
            time.sleep(0.02)
        leads = None
        while leads is None:
            if not self.sql("SELECT count(*) FROM openlines_dialog WHERE lead_queued")[0][0]:
                leads = time.perf_counter() - t0
            time.sleep(0.05)
        for p in procs:
            p.wait(120)
        return total, visible, leads

    # -- phases ----------------------------------------------------------------------------
    def workers_phase(self):
        m, k = self.args.messages, self.args.clients
        chats = list(range(5_000_001, 5_000_001 + k))
        since = self.last_id()
        self.post_via_server(self.bodies(k, chats=chats))  # their dialogs (not timed)
        self.run_workers(2, since)
        res = {}
        for n in (1, 2):
            since = self.last_id()
            self.post_via_server(self.bodies(m, chats=[chats[i % k] for i in range(m)]))
            self.analyze()
            total, visible, _ = self.run_workers(n, since)
            res[f"existing_{n}"] = {"n": total, "seconds": visible, "rate": total / visible}
            print(f"existing dialogs, {n} worker(s): {total} in {visible:.1f} s = {total / visible:.1f}/s", flush=True)
        for n in (1, 2):
            since = self.last_id()
            first, count = 6_000_001 + n * 100_000, min(m // 2, 250)  # under the flood mark's 300 a minute
            self.post_via_server(self.bodies(count, chats=list(range(first, first + count))))
            self.analyze()
            total, visible, leads = self.run_workers(n, since)
            res[f"first_{n}"] = {"n": total, "seconds": visible, "rate": total / visible, "leads_seconds": leads}
            print(
                f"first messages, {n} worker(s): {total} in Discuss in {visible:.1f} s = {total / visible:.1f}/s;"
                f" leads filed at {leads:.1f} s ({total / leads:.1f}/s)",
                flush=True,
            )
        self.stop_server()
        self.out["workers"] = res

    def concentrated_phase(self):
        chats = list(range(7_000_001, 7_000_006))
        since = self.last_id()
        bodies = self.bodies(300, chats=[chats[i % 5] for i in range(300)])
        self.post_via_server(bodies + bodies, concurrency=4)  # every update twice
        self.stop_server()
        total, visible, _ = self.run_workers(2, since)
        rows = self.sql(
            """SELECT m.conversation, mm.id, mm.body FROM openlines_message m
                 JOIN mail_message mm ON mm.id = m.mail_message_id
                WHERE m.id > %s AND m.direction = 'in' ORDER BY m.conversation, m.id""",
            (since,),
        )
        posted = self.sql(
            "SELECT count(*) FROM mail_message WHERE model = 'discuss.channel' AND body LIKE %s AND id > %s",
            ("%#%", min((r[1] for r in rows), default=0) - 1),
        )[0][0]
        in_order = all(
            [r[1] for r in rows if r[0] == str(c)] == sorted(r[1] for r in rows if r[0] == str(c)) for c in chats
        )
        self.out["concentrated"] = {
            "rows": total,
            "posts": len(rows),
            "posted_messages": posted,
            "in_order": in_order,
            "seconds": visible,
        }
        print(f"concentrated: {total} rows for 600 deliveries, {len(rows)} posts, in order: {in_order}", flush=True)

    def start_servers(self, count, cron_threads, workers=0):
        self.stop_servers()
        for _i in range(count):
            self.start_server(cron_threads, workers)
            self.servers.append((self.server, self.port))
            self.server = None

    def stop_servers(self):
        for server, _port in self.servers:
            self.server = server
            self.stop_server()
        self.servers = []

    def post_split(self, bodies, concurrency=4):
        parts = []
        threads = []
        for i, (_server, port) in enumerate(self.servers):
            mine = bodies[i :: len(self.servers)]

            def go(port=port, mine=mine):
                self.port = port
                parts.append(self.post_all(mine, concurrency))

            threads.append(threading.Thread(target=go))
        for t in threads:
            t.start()
            time.sleep(0.01)
        for t in threads:
            t.join()
        return parts

    def servers_phase(self):
        m, k = self.args.messages, self.args.clients
        chats = list(range(8_000_001, 8_000_001 + k))
        res = {}
        for count in (1, 2):
            self.start_servers(count, 1)
            self.wait_crons_idle()
            since = self.last_id()
            bodies = self.bodies(m, chats=[chats[i % k] for i in range(m)])
            t0 = time.perf_counter()
            self.post_split(bodies)
            while True:
                counts = self.state_counts(since)
                if counts.get("done", 0) >= m or time.perf_counter() - t0 > 600:
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - t0
            res[count] = {"n": m, "seconds": wall, "rate": counts.get("done", 0) / wall}
            print(f"{count} server(s): {counts} in {wall:.1f} s", flush=True)
            self.stop_servers()
        self.out["servers"] = res

    def oca_phase(self):
        import bench_oca  # noqa: PLC0415

        oca = bench_oca.OcaBench(self)
        try:
            oca.prepare_db()
            oca.setup_records()
            self.out["oca"] = {**oca.first_messages(self.args.clients), "versions": oca.versions}
        finally:
            oca.cleanup()

    def latency_phase(self):
        chats = list(range(9_000_001, 9_000_051))
        self.start_servers(1, 2, self.args.latency_workers)
        self.port = self.servers[0][1]
        self.wait_crons_idle()
        since = self.last_id()
        self.post_all(self.bodies(50, chats=chats), 4)  # their dialogs
        while self.state_counts(since).get("pending"):
            time.sleep(0.2)
        res = {}
        import requests  # noqa: PLC0415

        for rate in self.args.rates:
            since = self.last_id()
            n = rate * self.args.seconds
            bodies = self.bodies(n, chats=[chats[i % 50] for i in range(n)])
            acks, seen, stop = {}, {}, threading.Event()

            def watch(since=since, seen=seen, stop=stop):
                conn = bench_webhook.psycopg2.connect(**bench_webhook.odoo.sql_db.connection_info_for(self.args.db)[1])
                conn.autocommit = True
                with conn.cursor() as cr:
                    while not stop.is_set():
                        cr.execute(
                            "SELECT external_id FROM openlines_message WHERE id > %s AND direction = 'in'"
                            " AND state = 'done'",
                            (since,),
                        )
                        now = time.perf_counter()
                        for (ext,) in cr.fetchall():
                            seen.setdefault(ext, now)
                        time.sleep(0.02)
                conn.close()

            watcher = threading.Thread(target=watch)
            watcher.start()
            url = f"http://127.0.0.1:{self.port}{self.webhook_path()}"
            lock = threading.Lock()

            def send(body, acks=acks, url=url, lock=lock):
                r = requests.post(url, data=body, headers=bench_webhook.HEADERS, timeout=60)
                t = time.perf_counter()
                if r.status_code == 200:
                    ext = str(bench_webhook.json.loads(body)["update_id"])
                    with lock:
                        acks[ext] = t

            t0 = time.perf_counter()
            senders = []
            for i, body in enumerate(bodies):  # open loop: each request at its time, whatever the answers
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                th = threading.Thread(target=send, args=(body,))
                th.start()
                senders.append(th)
            for th in senders:
                th.join()
            deadline = time.perf_counter() + 120
            while len(seen) < len(acks) and time.perf_counter() < deadline:
                time.sleep(0.1)
            stop.set()
            watcher.join()
            lat = [seen[e] - acks[e] for e in acks if e in seen]
            res[rate] = {
                "n": n,
                "acked": len(acks),
                "visible": len(lat),
                "p50": pct(lat, 50) * 1000 if lat else None,
                "p99": pct(lat, 99) * 1000 if lat else None,
            }
            print(f"latency at {rate}/s: {res[rate]}", flush=True)
        self.stop_servers()
        self.out["latency"] = res

    # -- report ---------------------------------------------------------------------------
    def write(self, load_start):
        w, o = self.out.get("workers", {}), self.out
        commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()  # fmt: skip
        lines = [
            SECTION,
            "",
            f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; commit {commit} (+ this script)",
            f"- Machine: `nproc` {os.cpu_count()}; load average at start {load_start}, at end "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (other sessions ran on the same 2 cores)",
            f"- Command: `python3 bench/bench_parallel.py {' '.join(sys.argv[1:])}`",
            "",
            "| Processing (worker processes looping the cron's method) | messages | seconds | msg/s |",
            "|---|---:|---:|---:|",
        ]
        for key, label in (
            ("existing_1", "existing dialogs, spread, 1 worker"),
            ("existing_2", "existing dialogs, spread, 2 workers"),
            ("first_1", "first message of a chat (in Discuss), 1 worker"),
            ("first_2", "first message of a chat (in Discuss), 2 workers"),
        ):
            if key in w:
                lines.append(f"| {label} | {w[key]['n']} | {w[key]['seconds']:.1f} | {w[key]['rate']:.1f} |")
        if "existing_1" in w and "existing_2" in w:
            lines.append(
                f"\nRatio 2 workers / 1 worker, spread load: {w['existing_2']['rate'] / w['existing_1']['rate']:.2f}×."
            )
        for n in (1, 2):
            if f"first_{n}" in w:
                f = w[f"first_{n}"]
                lines.append(
                    f"First messages, {n} worker(s): every lead filed {f['leads_seconds']:.1f} s after the start "
                    f"({f['n'] / f['leads_seconds']:.1f} dialogs with their lead per second)."
                )
        if "oca" in o and "first_1" in w:
            ours, oca = w["first_1"]["rate"], o["oca"]["rate"]
            lines.append(
                "\nA client's first message, against OCA's `mail_gateway_telegram` "
                f"({', '.join(o['oca']['versions'])}) "
                f"in this run: ours {ours:.1f}/s with one worker ({w['first_2']['rate']:.1f}/s with two) vs OCA "
                f"{oca:.1f}/s ({o['oca']['n']} new chats, one sender, processed in the request; "
                f"{o['oca']['created']} messages created): **{ours / oca:.2f}×**."
            )
        if "concentrated" in o:
            c = o["concentrated"]
            lines.append(
                f"\nConcentrated (5 chats, 300 updates each delivered twice, 2 workers): {c['rows']} rows, "
                f"{c['posts']} Discuss posts, in order per chat: {c['in_order']}."
            )
        if "servers" in o:
            s = o["servers"]
            lines += ["", "| Servers on one database (1 cron thread each), first POST until all done "
                      "| messages | seconds | msg/s |",
                      "|---|---:|---:|---:|"]  # fmt: skip
            for count, r in s.items():
                lines.append(f"| {count} server(s) | {r['n']} | {r['seconds']:.1f} | {r['rate']:.1f} |")
        if "latency" in o:
            lines += ["", "| Webhook 200 to the row done (Discuss post committed), server with 2 cron threads, "
                      f"--workers {self.args.latency_workers} "
                      "| offered msg/s | acked | visible | p50 ms | p99 ms |",
                      "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
            for rate, r in o["latency"].items():
                p50 = f"{r['p50']:.0f}" if r["p50"] is not None else "-"
                p99 = f"{r['p99']:.0f}" if r["p99"] is not None else "-"
                lines.append(f"| open-loop sender, 50 chats | {rate} | {r['acked']} | {r['visible']} | {p50} | {p99} |")
        text = "\n".join(lines) + "\n"
        print(text)
        if self.args.results:
            path = Path(self.args.results)
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            start = old.find(SECTION)
            if start >= 0:
                end = old.find("\n## ", start + len(SECTION))
                old = old[:start] + (old[end + 1 :] if end >= 0 else "")
            path.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")

    def run(self):
        load_start = " ".join(f"{x:.1f}" for x in os.getloadavg())
        self.fake = bench_webhook.load_fake_telegram().FakeTelegram().start()
        self.prepare_db()
        self.setup_records()
        phases = self.args.phases
        for name in ("workers", "oca", "concentrated", "servers", "latency"):
            if name in phases:
                getattr(self, f"{name}_phase")()
        self.write(load_start)

    def cleanup(self):
        self.stop_servers()
        super().cleanup()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
        return
    p = bench_webhook.common_parser(__doc__, messages=1000, clients=200)
    p.add_argument("--rates", default="10,50,100", help="offered msg/s of the latency phase")
    p.add_argument("--seconds", type=int, default=20, help="seconds each rate is offered")
    p.add_argument("--phases", default="workers,oca,concentrated,servers,latency")
    p.add_argument("--against-oca", action="store_true", help="the oca phase (else skipped)")
    p.add_argument("--oca-wheels", metavar="DIR", help="OCA's wheels already downloaded (else: pip download)")
    p.add_argument(
        "--latency-workers",
        type=int,
        default=2,
        help="HTTP worker processes of the latency phase's server (0: threaded; its 2 cron threads then share "
        "one process and one interpreter lock with the webhook)",
    )
    args = p.parse_args()
    args.rates = [int(r) for r in args.rates.split(",") if r]
    args.phases = set(args.phases.split(",")) - (set() if args.against_oca else {"oca"})
    args.db = args.db or f"olpar_{time.strftime('%Y%m%d_%H%M%S')}"
    # what Bench expects of bench_webhook's arguments
    args.preload, args.concurrency, args.reply = None, [], False
    sys.modules.setdefault("bench_parallel", sys.modules["__main__"])
    bench_webhook.run_bench(ParallelBench(args))


if __name__ == "__main__":
    main()
