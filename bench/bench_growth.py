#!/usr/bin/env python3
"""Growth: the webhook benchmark on an empty database and on one with a long history, side by side.

    python3 bench/bench_growth.py --config ODOO.cfg [--db-prefix olgrowth] [--preload 1000000,100000]
        [--messages 1000] [--clients 1000] [--concurrency 1,4,16]

Runs ``bench_webhook.py`` twice (each on a new database it installs and drops): once as is, once with
``--preload MESSAGES,DIALOGS``, which ``preload()`` below fills with plain SQL (``INSERT ... SELECT
generate_series``, no ORM) before the timed phases: DIALOGS closed dialogs of the bench's Telegram
channel, each with its partner, contact, ended live-chat session (discuss.channel with the client and
the bench operator as members), and MESSAGES ``openlines.message`` rows in state done, half inbound
and half outbound, each with its ``mail.message`` in the session. Then ``ANALYZE`` (autovacuum may
be off) and ``CHECKPOINT`` (else the preload's writes go on during the timed phases). Writes the
``## Growth`` section of bench/RESULTS.md.
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

HERE = Path(__file__).resolve().parent


def preload(bench, messages, dialogs):
    """Fill ``bench``'s database (``Bench`` of bench_webhook.py, after ``setup_records``); return figures."""
    import odoo.sql_db  # noqa: PLC0415

    t0 = time.perf_counter()
    with bench.registry.cursor() as cr:
        env = bench.env(cr)
        channel = env["openlines.channel"].browse(bench.channel_id)
        line, operator = channel.line_id, env["res.users"].browse(bench.operator_id)
        ids = {
            "channel": channel.id,
            "line": line.id,
            "livechat": line.livechat_channel_id.id or None,
            "operator": operator.id,
            "op_partner": operator.partner_id.id,
            "subtype": env.ref("mail.mt_comment").id,
            "dialogs": dialogs,
            "messages": messages,
            "per": max(messages // dialogs, 1),
        }
    conn = psycopg2.connect(**odoo.sql_db.connection_info_for(bench.args.db)[1])
    try:
        with conn.cursor() as cr:

            def block(table, count):
                """Reserve ``count`` ids of ``table``'s sequence; return the id before the first."""
                cr.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))")
                base = cr.fetchone()[0]
                cr.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", (base + count,))
                return base

            for table, count in (
                ("res_partner", dialogs),
                ("discuss_channel", dialogs),
                ("discuss_channel_member", 2 * dialogs),
                ("openlines_contact", dialogs),
                ("openlines_dialog", dialogs),
                ("mail_message", messages),
                ("openlines_message", messages),
            ):
                ids[table] = block(table, count)
            steps = [
                # g = 1..dialogs: one client, one ended session, one closed dialog each
                """INSERT INTO res_partner (id, name, complete_name, active, type, lang, create_date, write_date)
                   SELECT %(res_partner)s + g, 'Preload client ' || g, 'Preload client ' || g, true, 'contact',
                          'ru_RU', now() - interval '400 days', now() - interval '400 days'
                   FROM generate_series(1, %(dialogs)s) g""",
                """INSERT INTO discuss_channel (id, name, channel_type, uuid, active, livechat_channel_id,
                          livechat_operator_id, livechat_end_dt, last_interest_dt, create_date, write_date)
                   SELECT %(discuss_channel)s + g, 'Preload client ' || g, 'livechat', md5('olpreload' || g),
                          true, %(livechat)s, %(op_partner)s, now() - (g %% 365) * interval '1 day',
                          now() - (g %% 365) * interval '1 day', now() - (g %% 365 + 1) * interval '1 day',
                          now() - (g %% 365) * interval '1 day'
                   FROM generate_series(1, %(dialogs)s) g""",
                """INSERT INTO discuss_channel_member (id, channel_id, partner_id, new_message_separator,
                          create_date, write_date)
                   SELECT %(discuss_channel_member)s + 2 * g - k, %(discuss_channel)s + g,
                          CASE k WHEN 1 THEN %(res_partner)s + g ELSE %(op_partner)s END, 0, now(), now()
                   FROM generate_series(1, %(dialogs)s) g, generate_series(0, 1) k""",
                """INSERT INTO openlines_contact (id, channel_id, line_id, partner_id, name, channel_type,
                          external_id, external_user_id, lang, create_date, write_date)
                   SELECT %(openlines_contact)s + g, %(channel)s, %(line)s, %(res_partner)s + g,
                          'Preload client ' || g, 'telegram', 'pre' || g, 'pre' || g, 'ru', now(), now()
                   FROM generate_series(1, %(dialogs)s) g""",
                """INSERT INTO openlines_dialog (id, line_id, channel_id, contact_id, partner_id,
                          discuss_channel_id, operator_id, name, source, state, date_assigned, date_last_client,
                          date_last_answer, date_closed, kpi_client_message_count, kpi_answer_count,
                          create_date, write_date)
                   SELECT %(openlines_dialog)s + g, %(line)s, %(channel)s, %(openlines_contact)s + g,
                          %(res_partner)s + g, %(discuss_channel)s + g, %(operator)s, 'Preload client ' || g,
                          'telegram', 'closed', d, d, d, d + interval '1 hour', %(per)s / 2, %(per)s / 2,
                          d, d + interval '1 hour'
                   FROM generate_series(1, %(dialogs)s) g,
                        LATERAL (SELECT now() - (g %% 365 + 1) * interval '1 day') t(d)""",
                # m = 1..messages: dialog (m - 1) %% dialogs + 1, inbound when m is odd
                """INSERT INTO mail_message (id, model, res_id, message_type, subtype_id, author_id, body, date,
                          create_date, write_date, create_uid, write_uid)
                   SELECT %(mail_message)s + m, 'discuss.channel', %(discuss_channel)s + d, 'comment',
                          %(subtype)s, CASE WHEN m %% 2 = 1 THEN %(res_partner)s + d ELSE %(op_partner)s END,
                          '<p>Предзагруженное сообщение ' || m || '</p>', t, t, t, 1, 1
                   FROM generate_series(1, %(messages)s) m,
                        LATERAL (SELECT (m - 1) %% %(dialogs)s + 1,
                                        now() - ((m - 1) %% %(dialogs)s %% 365 + 1) * interval '1 day'
                                              + m * interval '1 millisecond') x(d, t)""",
                """INSERT INTO openlines_message (id, channel_id, dialog_id, mail_message_id, attempts, direction,
                          external_id, remote_message_id, state, external_chat_id, delivery_status,
                          next_attempt_dt, create_date, write_date)
                   SELECT %(openlines_message)s + m, %(channel)s, %(openlines_dialog)s + d, %(mail_message)s + m,
                          1, CASE WHEN m %% 2 = 1 THEN 'in' ELSE 'out' END,
                          CASE WHEN m %% 2 = 1 THEN 'pre' || m END, 'pre' || m, 'done', 'pre' || d,
                          CASE WHEN m %% 2 = 0 THEN 'read' END, now(), now(), now()
                   FROM generate_series(1, %(messages)s) m, LATERAL (SELECT (m - 1) %% %(dialogs)s + 1) x(d)""",
            ]
            for sql in steps:
                t = time.perf_counter()
                cr.execute(sql, ids)
                print(
                    f"preload: {cr.rowcount} rows in {time.perf_counter() - t:.1f} s: {sql.split('(')[0].strip()}",
                    flush=True,
                )
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cr:
            t = time.perf_counter()
            cr.execute("ANALYZE")
            print(f"preload: ANALYZE in {time.perf_counter() - t:.1f} s", flush=True)
            t = time.perf_counter()
            try:  # write the preload's dirty pages now, not during the timed phases
                cr.execute("CHECKPOINT")
                print(f"preload: CHECKPOINT in {time.perf_counter() - t:.1f} s", flush=True)
            except psycopg2.Error as e:
                print(f"preload: no CHECKPOINT ({e.pgerror or e})", flush=True)
    finally:
        conn.close()
    bench.registry.clear_cache()
    seconds = time.perf_counter() - t0
    sizes = bench.sql("""SELECT (SELECT count(*) FROM openlines_message), (SELECT count(*) FROM openlines_dialog),
                                (SELECT count(*) FROM mail_message), (SELECT count(*) FROM discuss_channel),
                                pg_database_size(current_database())""")[0]
    out = {
        "seconds": seconds,
        "openlines_message": sizes[0],
        "openlines_dialog": sizes[1],
        "mail_message": sizes[2],
        "discuss_channel": sizes[3],
        "db_mb": sizes[4] / 2**20,
    }
    print(f"preload done: {out}", flush=True)
    return out


def figures(results):
    """{label: value} of one bench_webhook.py --json file, in report order."""
    out = {}
    for a in results["ack"]:
        c = a["concurrency"]
        out[f"acks/s, {c} sender(s)"] = a["rps"]
        out[f"ack p50 ms, {c} sender(s)"] = a["p50"]
        out[f"ack p99 ms, {c} sender(s)"] = a["p99"]
    for p in results["processing"]:
        out[f"processed msg/s, {p['kind'].split(' (')[0]}"] = p["rate"]
    labels = {
        "ack": "webhook acknowledgement",
        "new_dialog_cold": "inbound, new dialog, cold",
        "existing_dialog_cold": "inbound, existing dialog, cold",
        "new_dialog_warm": "inbound, new dialog, warm",
        "existing_dialog_warm": "inbound, existing dialog, warm",
        "reply": "operator reply",
        "outbound": "outbound send",
    }
    for key, label in labels.items():
        if q := results["queries"].get(key):
            out[f"SQL queries, {label}"] = q[0] + q[1]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--db-prefix", default=f"olgrowth_{time.strftime('%Y%m%d_%H%M%S')}")
    p.add_argument("--preload", default="1000000,100000", metavar="MESSAGES,DIALOGS")
    p.add_argument("--messages", default="1000")
    p.add_argument("--clients", default="1000")
    p.add_argument("--concurrency", default="1,4,16")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="olgrowth_"))
    runs = {}
    load = [os.getloadavg()]
    for name, extra in (("empty", []), ("full", ["--preload", args.preload])):
        cmd = [
            sys.executable,
            str(HERE / "bench_webhook.py"),
            "--config",
            args.config,
            "--db",
            f"{args.db_prefix}_{name}",
            "--messages",
            args.messages,
            "--clients",
            args.clients,
            "--concurrency",
            args.concurrency,
            "--no-e2e",
            "--no-reply",
            "--results",
            "",
            "--json",
            str(tmp / f"{name}.json"),
            *extra,
        ]
        print("$", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        runs[name] = json.loads((tmp / f"{name}.json").read_text())
        load.append(os.getloadavg())
    empty, full = figures(runs["empty"]), figures(runs["full"])
    pre = runs["full"].get("preload", {})
    lines = [
        "## Growth (`bench/bench_growth.py`)",
        "",
        f"- Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; machine as above (2 vCPUs "
        "shared with other agents' test runs); load average (1 min) before / between / after: "
        + " / ".join(f"{x[0]:.1f}" for x in load),
        f"- Command: `python3 {' '.join(shlex.quote(a) for a in sys.argv)}`",
        f"- Preloaded with plain SQL in {pre.get('seconds', 0):.0f} s (ANALYZE included): "
        f"{pre.get('openlines_message', 0):,} openlines.message rows, {pre.get('openlines_dialog', 0):,} "
        f"dialogs, {pre.get('mail_message', 0):,} mail.message rows, {pre.get('discuss_channel', 0):,} "
        f"discuss.channel rows; database {pre.get('db_mb', 0):,.0f} MB. The history is closed dialogs of "
        "the same Telegram channel, line and operator (who is a member of every past session).",
        "- Each column is its own `bench_webhook.py` run (`--no-e2e --no-reply`), one after the other.",
        "",
        "| figure | empty | full | difference |",
        "|---|---:|---:|---:|",
    ]
    for label, a in empty.items():
        b = full.get(label)
        if b is None:
            continue
        diff = f"{(b - a) / a * 100:+.0f}%" if a else "–"
        lines.append(f"| {label} | {a:.4g} | {b:.4g} | {diff} |")
    lines.append("")
    section = "\n".join(lines)
    print(section)
    (tmp / "growth.md").write_text(section)
    if args.results:
        path = Path(args.results)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        start = text.find("\n## Growth")
        if start >= 0:
            end = text.find("\n## ", start + 1)
            text = text[:start] + "\n" + section + (text[end:] if end >= 0 else "")
        else:
            at = min(
                (i for i in (text.find(f"\n## {t}") for t in ("Response-time KPIs", "Routing")) if i >= 0),
                default=len(text),
            )
            text = text[:at].rstrip("\n") + "\n\n" + section + text[at:]
        path.write_text(text, encoding="utf-8")
        print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
