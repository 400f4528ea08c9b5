#!/usr/bin/env python3
"""Benchmark of the response-time KPIs: the alert cron and the analysis report on a large table.

    python3 bench/bench_kpi.py --config ODOO.cfg --template DB [--db NAME] [--closed 100000]
        [--open 2000] [--due 20,200] [--keep]

``--template`` is a database with openlines_connector installed; it is copied to
``--db`` (default ``olkpi_bench``), filled by SQL with ``--closed`` closed dialogs
spread over a year and ``--open`` open ones, then measured in process:

- one run of the alert cron (``_cron_kpi_alerts``) with N dialogs due, for each N
  of ``--due`` (the others wait for a deadline in the future): wall time and SQL queries;
- one run with nothing due (the cost of a wake-up);
- the analysis report grouped by operator and month (what its pivot asks), and the
  dialog list grouped by operator with its averages: wall time and SQL queries;
- the queries a client message and an answer add to a dialog (the incremental update).

Run by hand, never by ``make test``; paste the figures into bench/RESULTS.md.
"""

import argparse
import datetime
import subprocess
import time

import odoo
import odoo.api
import odoo.orm.registry
import odoo.sql_db
import odoo.tools
from odoo.tools import SQL

OPERATORS = 10


def run(cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def psql_args(config):
    return ["-h", config["db_host"] or "127.0.0.1", "-p", str(config["db_port"] or 5432), "-U", config["db_user"]]


class Counter:
    """Wall time and SQL queries of a block, on ``env.cr``."""

    def __init__(self, env):
        self.env = env

    def __enter__(self):
        self.queries = self.env.cr.sql_log_count
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.ms = (time.perf_counter() - self.start) * 1000
        self.count = self.env.cr.sql_log_count - self.queries


def setup(env, closed, opened):
    """A line, a channel, operators, a director to tell, then the dialogs by SQL."""
    users = env["res.users"]
    for i in range(OPERATORS):
        users |= users.create({"name": f"Bench operator {i}", "login": f"bench_op_{i}"})
    head = users.create({"name": "Bench head", "login": "bench_head"})
    line = env["openlines.line"].create(
        {
            "name": "Bench line",
            "user_ids": [(6, 0, users.ids)],
            "kpi_first_response_limit": 10,
            "kpi_next_response_limit": 5,
            "kpi_notify_user_ids": [(6, 0, head.ids)],
        }
    )
    channel = env["openlines.channel"].create(
        {"name": "Bench bot", "line_id": line.id, "channel_type": "telegram", "token": "1:bench"}
    )
    env.flush_all()
    total = closed + opened
    env.cr.execute(
        SQL(
            """INSERT INTO discuss_channel (name, channel_type, livechat_channel_id, livechat_operator_id,
                                            create_date, write_date)
               SELECT 'bench ' || g, 'livechat', %s, %s, now(), now() FROM generate_series(1, %s) g""",
            line.livechat_channel_id.id,
            env.ref("base.partner_root").id,
            total,
        )
    )
    env.cr.execute(
        SQL(
            """WITH ch AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM discuss_channel
                            WHERE name LIKE 'bench %%' AND channel_type = 'livechat')
               INSERT INTO openlines_dialog (name, line_id, channel_id, source, discuss_channel_id, operator_id, state,
                    create_date, write_date, kpi_client_message_count, kpi_answer_count, kpi_response_count,
                    first_response_time, total_response_time, avg_response_time, max_response_time,
                    is_late, kpi_late_count)
               SELECT 'client ' || n, %(line)s, %(channel)s, 'telegram', ch.id, (%(ops)s)[1 + n %% %(nops)s],
                      CASE WHEN n <= %(closed)s THEN 'closed' ELSE 'assigned' END,
                      now() - (n %% 365) * interval '1 day', now(), 4, 3, 2,
                      30 + n %% 900, 2 * (30 + n %% 900), 30 + n %% 900, 30 + n %% 900,
                      n %% 900 > 570, CASE WHEN n %% 900 > 570 THEN 1 ELSE 0 END
                 FROM ch""",
            line=line.id,
            channel=channel.id,
            ops=users.ids,
            nops=OPERATORS,
            closed=closed,
        )
    )
    env.cr.execute("ANALYZE openlines_dialog")
    env.invalidate_all()
    return line, head


def make_due(env, due):
    """``due`` open dialogs past their deadline; every other open dialog due in an hour."""
    now = odoo.fields.Datetime.now()
    env.cr.execute(
        SQL(
            """UPDATE openlines_dialog SET kpi_waiting_since = %s, kpi_deadline = %s, is_late = FALSE
                WHERE state != 'closed'""",
            now,
            now + datetime.timedelta(hours=1),
        )
    )
    env.cr.execute(
        SQL(
            """UPDATE openlines_dialog SET kpi_waiting_since = %s, kpi_deadline = %s
                WHERE id IN (SELECT id FROM openlines_dialog WHERE state != 'closed' ORDER BY id LIMIT %s)""",
            now - datetime.timedelta(minutes=15),
            now - datetime.timedelta(minutes=5),
            due,
        )
    )
    env.invalidate_all()


def bench_cron(env, due):
    make_due(env, due)
    env.cr.commit()
    with Counter(env) as c:
        env["openlines.dialog"]._cron_kpi_alerts()
    left = env["openlines.dialog"].search_count([("kpi_deadline", "<=", odoo.fields.Datetime.now())])
    late = env["openlines.dialog"].search_count([("state", "!=", "closed"), ("is_late", "=", True)])
    return {"due": due, "ms": c.ms, "queries": c.count, "left": left, "late_open": late}


def bench_report(env):
    Report = env["openlines.report.dialog"]
    aggregates = [
        "__count",
        "nbr_late:sum",
        "in_time_rate:avg",
        "first_response:avg",
        "first_response_median:median",
        "avg_response:avg",
    ]
    results = {}
    for name, model, groupby, aggs in (
        ("report by operator × month", Report, ["operator_id", "start_date:month"], aggregates),
        (
            "dialog list by operator",
            env["openlines.dialog"],
            ["operator_id"],
            ["__count", "first_response_time:avg", "avg_response_time:avg", "max_response_time:max"],
        ),
    ):
        model.formatted_read_group([], groupby, aggs)  # warm the caches
        env.invalidate_all()
        with Counter(env) as c:
            groups = model.formatted_read_group([], groupby, aggs)
        results[name] = {"ms": c.ms, "queries": c.count, "groups": len(groups)}
    return results


def bench_hooks(env):
    dialog = env["openlines.dialog"].search([("state", "!=", "closed")], limit=1)
    dialog.write({"kpi_waiting_since": False, "kpi_deadline": False})
    env.flush_all()
    env.invalidate_all()
    with Counter(env) as client:
        dialog._on_client_message()
        env.flush_all()
    env.invalidate_all()
    with Counter(env) as answer:
        dialog._on_answer()
        env.flush_all()
    return {"client message": client.count, "answer": answer.count}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--db", default="olkpi_bench")
    parser.add_argument("--closed", type=int, default=100000)
    parser.add_argument("--open", type=int, default=2000)
    parser.add_argument("--due", default="20,200")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    odoo.tools.config.parse_config(["-c", args.config])
    config = odoo.tools.config
    conn = psql_args(config)
    run(["dropdb", "--if-exists", *conn, args.db])
    run(["createdb", *conn, "-T", args.template, args.db])
    try:
        registry = odoo.orm.registry.Registry(args.db)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            started = time.perf_counter()
            setup(env, args.closed, args.open)
            cr.commit()
            print(f"setup: {args.closed} closed + {args.open} open dialogs in {time.perf_counter() - started:.1f} s")
            print("hooks (queries):", bench_hooks(env))
            cr.rollback()
            for due in [0, *map(int, args.due.split(","))]:
                r = bench_cron(env, due)
                print(
                    f"cron, {r['due']:>4} due: {r['ms']:8.1f} ms, {r['queries']:5d} queries "
                    f"({r['queries'] / max(r['due'], 1):.1f}/dialog), left due {r['left']}, late open {r['late_open']}"
                )
            for name, r in bench_report(env).items():
                print(f"{name}: {r['ms']:.1f} ms, {r['queries']} queries, {r['groups']} groups")
    finally:
        if not args.keep:
            odoo.orm.registry.Registry.delete(args.db)
            odoo.sql_db.close_db(args.db)
            run(["dropdb", "--if-exists", *conn, args.db])


if __name__ == "__main__":
    main()
