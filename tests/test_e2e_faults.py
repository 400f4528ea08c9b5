"""Faults end to end, on the real Odoo server of ``conftest.py``:

* updates delivered three times, interleaved, from several threads;
* two workers (two transactions of a second process) draining the inbound and
  the outbound queue at the same time as each other and as the server's cron;
* the database connection of the processing transaction killed half-way.

The workers run in a helper process (``WORKER`` below) that loads the Odoo
registry of the e2e database once and obeys one JSON command per line.
"""

import concurrent.futures
import json
import os
import random
import subprocess
import sys
import time

import pytest
import test_e2e_telegram
from fake_telegram import load_fixture
from test_e2e_telegram import post

# the fixtures of the Telegram e2e test, again for this module: a fake Telegram, a line and a bot on it
telegram, channel = test_e2e_telegram.telegram, test_e2e_telegram.channel

WORKER = r"""
import json, sys, threading, time
import psycopg2.errors
import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

conf, db, logfile = sys.argv[1:4]
odoo.tools.config.parse_config(["-c", conf, "-d", db, "--logfile", logfile, "--log-level", "warn"])
registry = Registry(db)
Message = "openlines.message"
PROCESS = "openlines_connector.ir_cron_openlines_process"


def race(method, threads):
    # ``threads`` transactions call the cron method at the same moment
    barrier, errors = threading.Barrier(threads), []

    def drain():
        try:
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                barrier.wait(30)
                getattr(env[Message], method)()
        except Exception as e:
            errors.append(repr(e))

    workers = [threading.Thread(target=drain) for _i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    return {"errors": errors}


def release(direction):
    # make every waiting row of ``direction`` due now (instead of sleeping through the backoff)
    with registry.cursor() as cr:
        cr.execute(
            "UPDATE openlines_message SET next_attempt_dt = now() at time zone 'UTC' - interval '1 second'"
            " WHERE direction = %s AND state IN ('pending', 'retry')",
            [direction],
        )


def ingest(channel_id, updates, env):
    env["openlines.channel"].browse(channel_id)._ingest([(str(u["update_id"]), u) for u in updates])


def op_release(cmd):
    # the lease of a row whose worker died has passed: make it due, wake the server's cron
    release(cmd["direction"])
    with registry.cursor() as cr:
        api.Environment(cr, SUPERUSER_ID, {}).ref(PROCESS)._trigger()
    return {}


def op_drain(cmd):
    release(cmd["direction"])
    return race(cmd["method"], cmd["threads"])


def op_ingest_drain(cmd):
    with registry.cursor() as cr:
        ingest(cmd["channel"], cmd["updates"], api.Environment(cr, SUPERUSER_ID, {}))
    return race("_cron_process_inbound", cmd["threads"])


def op_kill_half_way(cmd):
    # process one update in a transaction whose connection is killed while it waits for the messenger
    # holds the processing cron's jobs (its helpers too): the server's cron cannot take the row first; a job
    # that stays on for new messages ends its run within seconds and then updates its row (a conflict for
    # this repeatable-read transaction: lock again)
    guard = registry.cursor()
    env = api.Environment(guard, SUPERUSER_ID, {})
    jobs = [env.ref(xmlid).id for xmlid in (PROCESS, PROCESS + "_2", PROCESS + "_3")]
    for _attempt in range(10):
        try:
            guard.execute("SELECT id FROM ir_cron WHERE id IN %s ORDER BY id FOR NO KEY UPDATE", [tuple(jobs)])
            break
        except psycopg2.errors.SerializationFailure:
            guard.rollback()
    else:
        raise RuntimeError("could not hold the processing cron's jobs")
    with registry.cursor() as cr:
        ingest(cmd["channel"], [cmd["update"]], api.Environment(cr, SUPERUSER_ID, {}))
    result = {}

    def process():
        try:
            with registry.cursor() as cr:
                result["pid"] = cr._cnx.get_backend_pid()
                api.Environment(cr, SUPERUSER_ID, {})[Message]._cron_process_inbound()
        except Exception as e:
            result["error"] = repr(e)

    thread = threading.Thread(target=process)
    thread.start()
    with registry.cursor() as cr:
        for _i in range(60):  # the processing transaction has written and waits for the messenger (< the hang)
            cr.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = %s AND state = 'idle in transaction'"
                " AND state_change < clock_timestamp() - interval '0.3 second'",
                [result.get("pid", 0)],
            )
            if cr.fetchall():
                break
            time.sleep(0.1)
        cr.execute("SELECT pg_terminate_backend(%s)", [result.get("pid", 0)])
        result["killed"] = cr.fetchone()[0]
    thread.join(60)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        row = env[Message].search([("channel_id", "=", cmd["channel"]), ("external_id", "=", cmd["update_id"])])
        result["row"] = [row.state, row.attempts, bool(row.attempt_started)]
        result["contacts"] = env["openlines.contact"].search_count(
            [("channel_id", "=", cmd["channel"]), ("external_id", "=", cmd["chat_id"])]
        )
    guard.close()
    with registry.cursor() as cr:
        api.Environment(cr, SUPERUSER_ID, {}).ref(PROCESS)._trigger()  # the next run
    return result


for line in sys.stdin:
    cmd = json.loads(line)
    print(json.dumps(globals()["op_" + cmd["op"]](cmd)), flush=True)
"""


class Worker:
    """The helper process: ``worker(op=..., ...)`` sends one command and returns its answer."""

    def __init__(self, process):
        self.process = process

    def __call__(self, **cmd):
        self.process.stdin.write(json.dumps(cmd) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the worker process died (exit code {self.process.poll()})"
        return json.loads(line)


@pytest.fixture(scope="module")
def worker(odoo_server, tmp_path_factory):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    conf = os.environ["OPENLINES_ODOO_CONF"]
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, conf, odoo_server.db, str(log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield Worker(process)
    finally:
        process.stdin.close()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(autouse=True)
def healthy(telegram):
    yield
    telegram.down, telegram.hang, telegram.delay = False, 0, 0


def text_update(update_id, chat_id, text):
    update = load_fixture("reply")
    update["update_id"] = update["message"]["message_id"] = update_id
    update["message"]["chat"]["id"] = update["message"]["from"]["id"] = chat_id
    update["message"]["text"] = text
    return update


def rows(odoo_server, channel, domain=()):
    return odoo_server.call(
        "openlines.message",
        "search_read",
        [("channel_id", "=", channel["id"]), *domain],
        ["external_id", "state", "direction", "attempts", "mail_message_id"],
        order="id",
    )


def client_texts(odoo_server, channel, chat_id):
    """Texts of ``chat_id``'s messages in its Discuss conversation, in order."""
    [dialog] = odoo_server.call(
        "openlines.dialog",
        "search_read",
        [("channel_id", "=", channel["id"]), ("contact_id.external_id", "=", str(chat_id))],
        ["discuss_channel_id", "partner_id"],
    )
    messages = odoo_server.call(
        "mail.message",
        "search_read",
        [
            ("model", "=", "discuss.channel"),
            ("res_id", "=", dialog["discuss_channel_id"][0]),
            ("author_id", "=", dialog["partner_id"][0]),
        ],
        ["body"],
        order="id",
    )
    return [m["body"].removeprefix("<p>").removesuffix("</p>") for m in messages]


def wait_processed(odoo_server, channel):
    """Wait until no inbound row of ``channel`` waits; return them all."""

    def done():
        found = rows(odoo_server, channel, [("direction", "=", "in")])
        return all(r["state"] not in ("pending", "retry") for r in found) and found

    return odoo_server.wait_for(done, timeout=60, what="the inbound queue processed")


def test_redelivery_from_several_threads(odoo_server, channel):
    updates = [text_update(61000 + i, 6100 + i % 5, f"r{i}") for i in range(30)]
    deliveries = updates * 3
    random.Random(11).shuffle(deliveries)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda u: post(channel, u).status_code, deliveries))
    assert statuses == [200] * 90
    found = [r for r in wait_processed(odoo_server, channel) if r["external_id"].startswith("61")]
    assert len(found) == 30, "one row per update"
    assert {r["state"] for r in found} == {"done"}
    arrival = [int(r["external_id"]) - 61000 for r in found]  # rows are numbered as updates first came
    for chat in range(6100, 6105):
        expected = [f"r{i}" for i in arrival if i % 5 == chat - 6100]
        assert client_texts(odoo_server, channel, chat) == expected, "each message once, in arrival order"


def test_two_workers_drain_the_inbound_queue(odoo_server, channel, worker):
    chats = range(6200, 6204)
    for chat in chats:  # the clients and their dialogs exist already
        assert post(channel, text_update(62000 + chat, chat, "hello")).status_code == 200
    wait_processed(odoo_server, channel)
    backlog = [text_update(62000 + i, chats[i % 4], f"q{i}") for i in range(90)]  # two batches of 50
    answer = worker(op="ingest_drain", channel=channel["id"], updates=backlog, threads=2)
    assert answer["errors"] == []
    found = [r for r in wait_processed(odoo_server, channel) if r["external_id"].startswith("620")]
    assert {r["state"] for r in found} == {"done"} and len(found) == 90
    for n, chat in enumerate(chats):
        expected = ["hello"] + [f"q{i}" for i in range(90) if i % 4 == n]
        assert client_texts(odoo_server, channel, chat) == expected, "once each, in order"


def test_two_workers_drain_the_outbound_queue(odoo_server, channel, telegram, worker):
    chats = range(6300, 6303)
    for chat in chats:
        assert post(channel, text_update(63000 + chat, chat, "hello")).status_code == 200
    wait_processed(odoo_server, channel)
    dialogs = odoo_server.call(
        "openlines.dialog",
        "search_read",
        [("channel_id", "=", channel["id"]), ("contact_id.external_id", "in", [str(c) for c in chats])],
        ["discuss_channel_id", "contact_id"],
        order="id",
    )
    telegram.down = True  # the server's cron tries the heads and backs off: a backlog forms
    for dialog in dialogs:
        odoo_server.call("openlines.dialog", "action_take", [dialog["id"]])
    for i in range(15):
        dialog = dialogs[i % 3]
        odoo_server.call(
            "discuss.channel",
            "message_post",
            [dialog["discuss_channel_id"][0]],
            body=f"o{i}",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
    odoo_server.wait_for(  # the API is down: one call fails, the channel's other replies wait with it
        lambda: rows(odoo_server, channel, [("direction", "=", "out"), ("state", "=", "retry")]),
        what="the server's failed attempt",
    )
    telegram.down, telegram.delay = False, 0.05  # back, a little slow: the two workers overlap
    time.sleep(0.5)  # an attempt in flight during the outage ends
    telegram.calls.clear()
    answer = worker(op="drain", direction="out", method="_cron_send_outbound", threads=2)
    assert answer["errors"] == []
    odoo_server.wait_for(  # (the server's cron finishes what a worker left on a conflict)
        lambda: {r["state"] for r in rows(odoo_server, channel, [("direction", "=", "out")])} == {"done"},
        what="every outbound row sent",
    )
    sent = [(str(c["chat_id"]), c["text"]) for c in telegram.calls_of("sendMessage")]
    for n, chat in enumerate(chats):
        expected = [f"o{i}" for i in range(15) if i % 3 == n]
        assert [text for chat_id, text in sent if chat_id == str(chat) and text in expected] == expected, (
            "sent once each, in order"
        )


def test_connection_killed_half_way(odoo_server, channel, telegram, worker):
    update = load_fixture("photo")
    update["update_id"] = 64001
    chat_id = str(update["message"]["chat"]["id"])
    # getFile hangs long enough for the kill to find the transaction waiting, even on a loaded machine
    telegram.hang = 8
    answer = worker(op="kill_half_way", channel=channel["id"], update=update, update_id="64001", chat_id=chat_id)
    assert answer["killed"] is True
    assert "error" in answer, "the killed transaction failed"
    assert answer["row"] == ["pending", 1, True], "the message stays pending, its attempt counted before the work"
    assert answer["contacts"] == 0, "nothing half-written remains"
    telegram.hang = 0
    telegram.add_file("AgACAgIAAxkBAAIBYGVvB0-large", b"\xff\xd8large-jpeg")
    time.sleep(2)
    [row] = rows(odoo_server, channel, [("external_id", "=", "64001")])
    assert (row["state"], row["attempts"]) == ("pending", 1), "leased: no other worker takes it before its lease ends"
    worker(op="release", direction="in")  # the lease (5 minutes) has passed
    odoo_server.wait_for(  # the worker woke the server's cron up again
        lambda: rows(odoo_server, channel, [("external_id", "=", "64001"), ("state", "=", "done")]),
        what="the photo processed on the next run",
    )
    [row] = rows(odoo_server, channel, [("external_id", "=", "64001")])
    assert row["attempts"] == 2, "the killed attempt counts"
    photos = [t for t in client_texts(odoo_server, channel, chat_id) if "Вот такой товар нужен" in t]
    assert len(photos) == 1, "processed once"
