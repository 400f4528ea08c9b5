"""Routing benchmark: assignment cost with many operators and a long queue.

Run by hand (not part of ``make test``), on a throwaway copy of a database that
has the addon installed::

    createdb -T <db with the addon> olbench_route
    python3 bench/bench_routing.py --config <odoo.cfg> --db olbench_route \
        --operators 200 --queued 1000 --closed 20000
    dropdb olbench_route

It builds (in one transaction, rolled back at the end) a line with N online
operators, C closed dialogs and Q queued dialogs, then measures the routing
cron's assignment of the queue: wall time and SQL queries per assignment, with
and without the closed dialogs, so that growth with history shows.
"""

import argparse
import time

import odoo
from odoo.sql_db import Cursor
from odoo.tools import config


class QueryCounter:
    def __init__(self):
        self.count = 0
        self._orig = Cursor.execute

    def __enter__(self):
        counter = self

        def execute(cr, query, params=None, log_exceptions=True):
            counter.count += 1
            return counter._orig(cr, query, params, log_exceptions)

        Cursor.execute = execute
        return self

    def __exit__(self, *exc):
        Cursor.execute = self._orig


def build(env, operators, queued, closed):
    """A line with ``operators`` online users, ``closed`` closed and ``queued`` queued dialogs."""
    users = env["res.users"].create(
        [
            {
                "name": f"Bench operator {i}",
                "login": f"bench_op_{i}_{time.time_ns()}",
                "group_ids": [(4, env.ref("openlines_connector.group_openlines_manager").id)],
            }
            for i in range(operators)
        ]
    )
    line = env["openlines.line"].create({"name": "Bench line", "user_ids": [(6, 0, users.ids)]})
    channel = env["openlines.channel"].create({"name": "Bench bot", "line_id": line.id, "token": "0:bench"})
    partners = env["res.partner"].create([{"name": f"Client {i}"} for i in range(queued + closed)])
    contacts = env["openlines.contact"].create(
        [{"name": p.name, "channel_id": channel.id, "external_id": str(p.id), "partner_id": p.id} for p in partners]
    )
    Dialog = env["openlines.dialog"]
    root = env.ref("base.partner_root")
    vals = []
    for i, contact in enumerate(contacts):
        session = Dialog._new_discuss_channel(line, contact.partner_id, env["res.users"], contact.name)
        is_closed = i < closed
        vals.append(
            {
                "name": contact.name,
                "line_id": line.id,
                "channel_id": channel.id,
                "contact_id": contact.id,
                "partner_id": contact.partner_id.id,
                "discuss_channel_id": session.id,
                "state": "closed" if is_closed else "queued",
                "operator_id": users[i % operators].id if is_closed else False,
            }
        )
    Dialog.create(vals)
    env.flush_all()
    assert root
    return line, users


def measure(env, line, users):
    for user in users:
        env["mail.presence"]._update_presence(user)
    env.flush_all()
    env.invalidate_all()
    queued = env["openlines.dialog"].search_count([("line_id", "=", line.id), ("state", "=", "queued")])
    start = time.perf_counter()
    with QueryCounter() as counter:
        env["openlines.dialog"]._assign_queued()
        env.flush_all()
    wall = time.perf_counter() - start
    assigned = queued - env["openlines.dialog"].search_count([("line_id", "=", line.id), ("state", "=", "queued")])
    return assigned, wall, counter.count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--operators", type=int, default=200)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--closed", type=int, default=20000)
    args = parser.parse_args()
    config.parse_config(["-c", args.config, "-d", args.db])
    registry = odoo.modules.registry.Registry(args.db)
    rows = []
    for closed in (0, args.closed):
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            line, users = build(env, args.operators, args.queued, closed)
            assigned, wall, queries = measure(env, line, users)
            rows.append((closed, assigned, wall, queries))
            cr.rollback()
    print("| operators | closed dialogs | queued | assigned | seconds | ms/assignment | queries/assignment |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for closed, assigned, wall, queries in rows:
        per = assigned or 1
        print(
            f"| {args.operators} | {closed} | {args.queued} | {assigned} | {wall:.1f} | "
            f"{1000 * wall / per:.1f} | {queries / per:.1f} |"
        )


if __name__ == "__main__":
    main()
