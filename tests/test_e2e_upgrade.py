"""A database made by the previous release upgrades in place (``-u``): no row lost,
new stored fields filled for old rows, rows waiting in the queue still processed.

The previous release is taken from this repository's own history
(``PREVIOUS_RELEASE``, the last commit of version 19.0.1.0.0): its addon is
unpacked with ``git archive`` into a temporary directory, installed into a
fresh database, given a line, a Telegram channel, a finished dialog and
client messages still waiting in the queue; then the current addon upgrades
that database with ``odoo -u`` and processes the queue.
"""

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the last commit of openlines_connector 19.0.1.0.0 (before stored company and queue fields)
PREVIOUS_RELEASE = "bbf4111d838c6ab540e5a42766ce1f186aebeec7"
TABLES = ("openlines_line", "openlines_channel", "openlines_contact", "openlines_dialog", "openlines_message")

SEED = r"""
import json
from odoo.addons.openlines_connector.connectors.base import InboundEvent  # noqa: F401 (present in both versions)

def update(n, chat, text):
    return {"update_id": n, "message": {"message_id": n, "date": 1767225600, "text": text,
            "chat": {"id": chat, "type": "private", "first_name": "Client %s" % chat},
            "from": {"id": chat, "is_bot": False, "first_name": "Client %s" % chat}}}

operator = env["res.users"].create({"name": "Upgrade Operator", "login": "upgrade_operator",
    "group_ids": [(4, env.ref("openlines_connector.group_openlines_manager").id)]})
line = env["openlines.line"].create({"name": "Upgrade line", "user_ids": [(6, 0, operator.ids)]})
channel = env["openlines.channel"].create({"name": "Upgrade bot", "line_id": line.id, "channel_type": "telegram",
    "token": "123:upgrade", "api_base_url": "http://127.0.0.1:9", "receive_mode": "webhook"})
# a conversation processed by the old version
channel._ingest([("1", update(1, 5001, "Здравствуйте, это было до обновления"))])
env["openlines.message"]._cron_process_inbound()
# client messages still waiting in the queue when the server is stopped for the upgrade
channel._ingest([(str(n), update(n, 5001 + n % 2, "В очереди %s" % n)) for n in range(2, 6)])
env.cr.commit()
print("SEEDED", json.dumps({"channel": channel.id}))
"""

PROCESS = r"""
import json
env["openlines.message"]._cron_process_inbound()
env.cr.commit()
rows = env["openlines.message"].search_read([("direction", "=", "in")], ["external_id", "state", "dialog_id"])
print("PROCESSED", json.dumps(rows, default=str))
"""


def _odoo(conf, db, *args, script=None, timeout=600):
    command = [sys.executable, "-m", "odoo", *args[:1], "-c", str(conf), "-d", db, *args[1:]]
    result = subprocess.run(command, input=script, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _psql(db, sql):
    out = subprocess.run(
        ["psql", "-XtA", "-d", db, "-c", sql], capture_output=True, text=True, check=True, env=_pg_env()
    )
    return out.stdout.strip()


def _pg_env():
    conf = configparser.ConfigParser()
    conf.read(os.environ["OPENLINES_ODOO_CONF"])
    options = conf["options"]
    env = dict(os.environ)
    env.update(PGHOST=options.get("db_host") or "127.0.0.1", PGPORT=options.get("db_port") or "5432")
    if options.get("db_user"):
        env["PGUSER"] = options["db_user"]
    return env


def _errors(output):
    return [line for line in output.splitlines() if " ERROR " in line or " CRITICAL " in line]


@pytest.fixture(scope="module")
def old_database(tmp_path_factory):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the previous release comes from the repository's history")
    conf_path = os.environ.get("OPENLINES_ODOO_CONF")
    if not conf_path:
        pytest.fail("End-to-end tests run through `make test`, which sets OPENLINES_ODOO_CONF")
    known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"])
    shallow = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"], capture_output=True, text=True
    )
    if known.returncode and shallow.stdout.strip() == "true":
        pytest.skip(f"a shallow clone lacks the previous release {PREVIOUS_RELEASE}: git fetch --unshallow")
    assert known.returncode == 0, (
        f"commit {PREVIOUS_RELEASE} is not in this clone (a shallow clone?): git fetch --unshallow"
    )
    tmp = tmp_path_factory.mktemp("previous_release")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", PREVIOUS_RELEASE, "openlines_connector"], capture_output=True, check=True
    )
    subprocess.run(["tar", "x", "-C", str(tmp)], input=archive.stdout, check=True)
    conf = configparser.ConfigParser()
    conf.read(conf_path)
    paths = [p for p in conf["options"]["addons_path"].split(",") if Path(p).resolve() != ROOT.resolve()]
    conf["options"]["addons_path"] = ",".join([*paths, str(tmp)])
    conf["options"]["data_dir"] = str(tmp / "data")
    old_conf = tmp / "old.cfg"
    with old_conf.open("w") as handle:
        conf.write(handle)
    db = f"{os.environ.get('OPENLINES_E2E_DB', 'openlines_test')}_upgrade"
    subprocess.run(["dropdb", "--if-exists", "--force", db], env=_pg_env(), check=True)
    try:
        _odoo(old_conf, db, "server", "-i", "openlines_connector", "--stop-after-init", "--no-http")
        seeded = _odoo(old_conf, db, "shell", "--no-http", script=SEED)
        assert "SEEDED" in seeded.stdout, seeded.stdout[-2000:] + seeded.stderr[-2000:]
        yield db, old_conf, tmp
    finally:
        subprocess.run(["dropdb", "--if-exists", "--force", db], env=_pg_env())


def test_the_previous_release_upgrades_in_place(old_database):
    db, _old_conf, tmp = old_database
    before = {table: int(_psql(db, f"SELECT count(*) FROM {table}")) for table in TABLES}
    assert before["openlines_dialog"] == 1 and before["openlines_message"] >= 5, before
    pending = _psql(db, "SELECT count(*) FROM openlines_message WHERE direction = 'in' AND state = 'pending'")
    assert pending == "4", "four client messages wait in the queue of the old version"
    columns_before = set(
        _psql(
            db,
            "SELECT table_name || '.' || column_name FROM information_schema.columns "
            "WHERE table_name LIKE 'openlines_%'",
        ).splitlines()
    )

    conf = os.environ["OPENLINES_ODOO_CONF"]
    upgraded = _odoo(
        conf,
        db,
        "server",
        "-u",
        "openlines_connector",
        "--stop-after-init",
        "--no-http",
        "--data-dir",
        str(tmp / "data"),
    )
    assert not _errors(upgraded.stdout + upgraded.stderr), _errors(upgraded.stdout + upgraded.stderr)
    assert _psql(db, "SELECT latest_version FROM ir_module_module WHERE name = 'openlines_connector'").startswith(
        "19.0."
    )

    after = {table: int(_psql(db, f"SELECT count(*) FROM {table}")) for table in TABLES}
    assert after == before, "no row lost (nor made) by the upgrade"
    columns_after = set(
        _psql(
            db,
            "SELECT table_name || '.' || column_name FROM information_schema.columns "
            "WHERE table_name LIKE 'openlines_%'",
        ).splitlines()
    )
    added = columns_after - columns_before
    if "openlines_message.company_id" in added:
        for table in TABLES:
            if f"{table}.company_id" in columns_after:
                assert _psql(db, f"SELECT count(*) FROM {table} WHERE company_id IS NULL") == "0", (
                    f"{table}.company_id filled for the rows of the previous version"
                )

    assert "openlines_line.unavailable_message" in added, "a column of this version (the previous one had none)"
    assert _psql(db, "SELECT count(*) FROM openlines_line WHERE unavailable_message IS NULL") == "0", (
        "the lines of the previous version get the default Not available text"
    )

    orphans = _psql(
        db,
        "SELECT count(*) FROM openlines_contact t JOIN res_partner p ON p.id = t.partner_id WHERE p.company_id IS NULL",
    )
    assert orphans == "0", "the clients' partners of the previous version get their contacts' company"

    supervised = _psql(
        db,
        "SELECT r.domain_force FROM ir_rule r JOIN ir_model_data d ON d.res_id = r.id "
        "AND d.model = 'ir.rule' AND d.module = 'openlines_connector' "
        "AND d.name = 'openlines_discuss_channel_rule_supervised'",
    )
    assert "'queued'" in supervised, "the rules of the new version replace the old ones (operators preview their queue)"
    assert (
        _psql(
            db,
            "SELECT bool_and(noupdate) FROM ir_model_data WHERE module = 'openlines_connector' "
            "AND model = 'ir.rule' AND name LIKE '%%_rule_manager'",
        )
        == "t"
    ), "rules stay noupdate"

    processed = _odoo(conf, db, "shell", "--no-http", "--data-dir", str(tmp / "data"), script=PROCESS)
    line = next(line for line in processed.stdout.splitlines() if line.startswith("PROCESSED"))
    rows = json.loads(line.removeprefix("PROCESSED "))
    assert {row["external_id"] for row in rows} == {"1", "2", "3", "4", "5"}
    assert all(row["state"] == "done" for row in rows), rows
    assert all(row["dialog_id"] for row in rows), "each waiting message reached a dialog"
    assert _psql(db, "SELECT count(*) FROM openlines_dialog") == "2", (
        "the old dialog continues; the second chat opens one"
    )
    posted = _psql(
        db,
        "SELECT count(*) FROM mail_message m JOIN openlines_dialog d ON m.res_id = d.discuss_channel_id "
        "AND m.model = 'discuss.channel' WHERE m.body LIKE '%%В очереди%%'",
    )
    assert posted == "4", "the four waiting messages are in Discuss after the upgrade"
