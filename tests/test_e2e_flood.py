"""The three attacks of issue 19 against a real Odoo server (``conftest.py``: threaded, two cron threads as
``make run``).

An attacker holds an OK webhook address (OK signs nothing): a slow attachment
URL, a flood of one channel, thirty attachments in one message, and a
processing worker killed mid-download. Another line (Telegram) keeps
writing; each test states how long its message may wait and the final state
of every row. The hostile file server is ``fake_tarpit.py`` (the server may
reach it through the test-only ``OPENLINES_TEST_FETCH_ORIGINS``).
"""

import concurrent.futures
import configparser
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg2
import pytest
import requests
import test_e2e_telegram
from test_e2e_faults import rows, text_update
from test_e2e_telegram import post

telegram, channel = test_e2e_telegram.telegram, test_e2e_telegram.channel

#: a batch starts no row after 10 s, a message's downloads stop after 20 s: a quiet line waits
#: one batch at most; the bound leaves room for a loaded 2-core machine
TRICKLE_BOUND = 40
#: a message that arrives while a batch is held by a slow download is taken by a helper job (the
#: webhook wakes one when a batch is in flight): seconds, not the download's 20 s deadline
BESIDE_TARPIT_BOUND = 5

KILLABLE = r"""
import sys
import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

conf, db, logfile = sys.argv[1:4]
odoo.tools.config.parse_config(["-c", conf, "-d", db, "--logfile", logfile, "--log-level", "warn"])
with Registry(db).cursor() as cr:
    api.Environment(cr, SUPERUSER_ID, {})["openlines.message"]._cron_process_inbound()
"""


def pg_connect(db):
    """A plain PostgreSQL connection to the e2e database, from the Odoo configuration file."""
    parser = configparser.ConfigParser()
    parser.read(os.environ["OPENLINES_ODOO_CONF"])
    options = parser["options"] if parser.has_section("options") else {}
    params = {"dbname": db}
    for key, name in (("db_host", "host"), ("db_port", "port"), ("db_user", "user"), ("db_password", "password")):
        value = options.get(key)
        if value and value.lower() not in ("false", "none"):
            params[name] = value
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def ok_channel(odoo_server, channel):
    channel_id = odoo_server.call(
        "openlines.channel",
        "create",
        {
            "name": "E2E OK",
            "line_id": channel["line_id"],
            "channel_type": "ok",
            "token": "tkn1E2E",
            "api_base_url": "http://127.0.0.1:9",  # inbound processing never calls OK's API
        },
    )
    [values] = odoo_server.call("openlines.channel", "read", [channel_id], ["webhook_key"])
    return {"id": channel_id, "url": f"{odoo_server.url}/openlines/webhook/{values['webhook_key']}"}


def cron_id(conn):
    cr = conn.cursor()
    cr.execute(
        "SELECT res_id FROM ir_model_data WHERE module = 'openlines_connector' AND name = 'ir_cron_openlines_process'"
    )
    return cr.fetchone()[0]


@contextlib.contextmanager
def cron_held(db):
    """Hold the processing cron's job rows (and its helpers'): the server's cron workers cannot run them meanwhile."""
    guard = pg_connect(db)
    guard.autocommit = False
    try:
        guard.cursor().execute(
            """SELECT c.id FROM ir_cron c JOIN ir_model_data d ON d.res_id = c.id AND d.model = 'ir.cron'
                WHERE d.module = 'openlines_connector'
                  AND d.name IN ('ir_cron_openlines_process',
                                 'ir_cron_openlines_process_2', 'ir_cron_openlines_process_3')
                  FOR NO KEY UPDATE OF c"""
        )
        yield
    finally:
        guard.rollback()
        guard.close()


def wake_cron(db):
    conn = pg_connect(db)
    cr = conn.cursor()
    cr.execute("INSERT INTO ir_cron_trigger (cron_id, call_at) VALUES (%s, now() at time zone 'UTC')", [cron_id(conn)])
    cr.execute("NOTIFY cron_trigger, %s", [db])
    conn.close()


def ok_message(ok_channel, user, text, urls=()):
    payload = {
        "webhookType": "MESSAGE_CREATED",
        "sender": {"user_id": f"user:{user}", "name": f"Client {user}"},
        "recipient": {"chat_id": f"chat:{user}"},
        "message": {"text": text, "mid": uuid.uuid4().hex},
        "timestamp": 1600000000000,
    }
    if urls:
        payload["message"]["attachments"] = [{"type": "IMAGE", "payload": {"url": u}} for u in urls]
    response = requests.post(ok_channel["url"], json=payload, timeout=10)
    assert response.status_code == 200, response.text
    return payload["message"]["mid"]


def ok_row(odoo_server, ok_channel, mid):
    [row] = odoo_server.call(
        "openlines.message",
        "search_read",
        [("channel_id", "=", ok_channel["id"]), ("external_id", "=", mid)],
        ["state", "attempts", "last_error", "attempt_started", "next_attempt_dt", "mail_message_id"],
    )
    return row


def body_of(odoo_server, row):
    [message] = odoo_server.call("mail.message", "read", [row["mail_message_id"][0]], ["body", "attachment_ids"])
    return message


def trickle(odoo_server, channel, update_id, chat_id=8800, posted=False):
    """A Telegram client writes (unless ``posted``); return how long their message waited to be processed (s)."""
    started = time.monotonic()
    if not posted:
        assert post(channel, text_update(update_id, chat_id, f"trickle {update_id}")).status_code == 200
    odoo_server.wait_for(
        lambda: rows(odoo_server, channel, [("external_id", "=", str(update_id)), ("state", "=", "done")]),
        timeout=TRICKLE_BOUND,
        what=f"the other line's message processed within {TRICKLE_BOUND} s",
    )
    return time.monotonic() - started


def server_restarted(odoo_server):
    text = odoo_server.log.read_text(errors="replace")
    return "Initiating server reload" in text or "Initiating shutdown" in text


def test_slow_attachment_beside_a_trickle(odoo_server, channel, ok_channel, tarpit):
    """One byte every 2 s: the download stops at 20 s, the message is posted with a note, the server
    stays up, and the other line's message, written while the download goes on, is processed in
    seconds by the other cron worker (not after the download's deadline)."""
    mid = ok_message(ok_channel, 501, "Фото товара", [tarpit.url_of("slow", "slow.jpg", size=10**6)])
    odoo_server.wait_for(lambda: tarpit.hits["slow"], timeout=30, what="the slow download started")
    waited = trickle(odoo_server, channel, 71001)
    print(f"trickle beside a tarpit: {waited:.1f} s")
    assert waited < BESIDE_TARPIT_BOUND, f"the other line waited {waited:.1f} s for a download"
    assert ok_row(odoo_server, ok_channel, mid)["state"] == "pending", "the download was still going on"
    row = odoo_server.wait_for(
        lambda: (r := ok_row(odoo_server, ok_channel, mid))["state"] == "done" and r, timeout=60, what="OK row done"
    )
    assert row["attempts"] == 1 and not row["attempt_started"]
    assert "did not send it in time" in body_of(odoo_server, row)["body"]
    assert not server_restarted(odoo_server)


def test_many_attachments_are_capped(odoo_server, ok_channel, tarpit):
    tarpit.hits.clear()
    urls = [tarpit.url_of("file", f"p{i}.jpg", size=512 * 1024) for i in range(30)]
    mid = ok_message(ok_channel, 502, "Тридцать фото", urls)
    row = odoo_server.wait_for(
        lambda: (r := ok_row(odoo_server, ok_channel, mid))["state"] == "done" and r, timeout=60, what="OK row done"
    )
    message = body_of(odoo_server, row)
    assert len(message["attachment_ids"]) == 10
    assert "20 more files not downloaded" in message["body"]
    assert tarpit.hits["file"] == 10


def test_flood_of_one_channel_beside_a_trickle(odoo_server, channel, ok_channel):
    """350 OK webhooks from 350 new senders: every one stored and processed; the other line's message
    waits one batch at most; the flood is marked and makes no leads."""
    with cron_held(odoo_server.db):  # the whole flood waits at once, then the other line's message
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            mids = list(pool.map(lambda n: ok_message(ok_channel, 10000 + n, f"flood {n}"), range(350)))
        assert post(channel, text_update(71002, 8800, "trickle 71002")).status_code == 200
    wake_cron(odoo_server.db)
    waited = trickle(odoo_server, channel, 71002, posted=True)
    print(f"trickle behind a flood of 350: {waited:.1f} s")

    def drained():
        found = odoo_server.call(
            "openlines.message", "search_read", [("channel_id", "=", ok_channel["id"]), ("external_id", "in", mids)],
            ["state"],
        )  # fmt: skip
        queued = odoo_server.call(  # the new dialogs' leads are filed after their messages (issue 17)
            "openlines.dialog", "search_count", [("channel_id", "=", ok_channel["id"]), ("lead_queued", "=", True)]
        )
        return len(found) == 350 and all(r["state"] == "done" for r in found) and not queued

    odoo_server.wait_for(drained, timeout=300, what="the flood processed")
    dialogs = odoo_server.call(
        "openlines.dialog",
        "search_read",
        [("channel_id", "=", ok_channel["id"]), ("contact_id.external_id", "like", "chat:1%")],
        ["lead_id", "lead_deferred"],
    )  # fmt: skip
    assert len(dialogs) == 350
    leads = [d for d in dialogs if d["lead_id"]]
    assert len(leads) <= 20, "at most the line's leads per minute, none while flooded"
    assert all(d["lead_deferred"] for d in dialogs if not d["lead_id"])
    alerts = odoo_server.call(
        "mail.message", "search_count",
        [("model", "=", "openlines.channel"), ("res_id", "=", ok_channel["id"]), ("body", "ilike", "is flooded")],
    )  # fmt: skip
    assert alerts == 1, "the administrators are told once"


def test_worker_killed_mid_download(odoo_server, channel, ok_channel, tarpit, tmp_path):
    """A processing worker is killed (SIGKILL) while it downloads: its row is seen as attempted, kept from
    the other workers for its lease, then processed again; the other line is served meanwhile."""
    tarpit.hits.clear()
    env = dict(os.environ, OPENLINES_TEST_FETCH_ORIGINS=tarpit.url.removeprefix("http://"))
    with cron_held(odoo_server.db):  # the server's cron cannot take the row before the worker
        mid = ok_message(ok_channel, 503, "Смертельное фото", [tarpit.url_of("slow", "kill.jpg", size=10**6)])
        conf = os.environ["OPENLINES_ODOO_CONF"]
        worker = subprocess.Popen(
            [sys.executable, "-c", KILLABLE, conf, odoo_server.db, str(tmp_path / "w.log")], env=env
        )
        try:
            deadline = time.monotonic() + 60
            while not tarpit.hits["slow"] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert tarpit.hits["slow"], "the worker started the download"
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
    row = ok_row(odoo_server, ok_channel, mid)
    assert (row["state"], row["attempts"]) == ("pending", 1), "the attempt was counted before the download"
    assert row["attempt_started"], "and it did not finish"
    waited = trickle(odoo_server, channel, 71003)  # the server's cron serves the other line; the row is leased
    print(f"trickle after a killed worker: {waited:.1f} s")
    assert ok_row(odoo_server, ok_channel, mid)["attempts"] == 1, "not taken again before its lease ends"
    # the lease (5 minutes) passes: the row is due again, the server's cron is woken
    conn = pg_connect(odoo_server.db)
    conn.cursor().execute(
        "UPDATE openlines_message SET next_attempt_dt = now() at time zone 'UTC' - interval '1 second' "
        "WHERE channel_id = %s AND external_id = %s",
        [ok_channel["id"], mid],
    )
    conn.close()
    wake_cron(odoo_server.db)
    row = odoo_server.wait_for(
        lambda: (r := ok_row(odoo_server, ok_channel, mid))["state"] == "done" and r, timeout=90, what="row done"
    )
    assert row["attempts"] == 2 and not row["attempt_started"]
    assert "did not send it in time" in body_of(odoo_server, row)["body"]
    assert not server_restarted(odoo_server)
