"""Wake a cron after the commit without Odoo's per-call connection to ``postgres``.

``ir.cron._trigger()`` reads the cron, inserts a trigger and, after the
commit, opens a brand-new connection to the ``postgres`` database for its
``NOTIFY cron_trigger`` (Odoo never pools connections to that database).
On the webhook's hot path that connection costs more than the rest of the
acknowledgement. Here the same ``ir_cron_trigger`` row is inserted by one
statement (or inside the caller's own statement, see :func:`trigger_sql`) and
the same notification goes over one connection per process, kept open and
reused; if that connection breaks, Odoo's own ``_notifydb`` is used.
"""

import logging
import os
import threading

import psycopg2

from odoo import fields, sql_db
from odoo.tools import SQL

from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION

_logger = logging.getLogger(__name__)

_lock = threading.Lock()
_conn = {"pid": None, "cnx": None}


def _notify(dbname):
    """``pg_notify('cron_trigger', dbname)`` on the process's kept connection; False when it failed."""
    with _lock:
        for attempt in (1, 2):
            try:
                cnx = _conn["cnx"]
                if cnx is None or cnx.closed or _conn["pid"] != os.getpid():  # a forked worker opens its own
                    _dsn, params = sql_db.connection_info_for("postgres")
                    cnx = psycopg2.connect(**params)
                    cnx.autocommit = True
                    _conn.update(pid=os.getpid(), cnx=cnx)
                with cnx.cursor() as cr:
                    cr.execute(f"SELECT {ODOO_NOTIFY_FUNCTION}('cron_trigger', %s)", [dbname])
                return True
            except psycopg2.Error:
                _conn["cnx"] = None
                if attempt == 2:
                    _logger.warning("Open Lines: cron notification failed, using Odoo's", exc_info=True)
    return False


def trigger_sql(env, *xmlids):
    """``SELECT`` of the values of ``ir_cron_trigger`` rows for the crons ``xmlids``, due now (one row each).

    To be used as ``INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid,
    create_date, write_uid, write_date) <this> [WHERE ...]``; call
    :func:`notify_after_commit` when a row was inserted.
    """
    cron_ids = [env["ir.model.data"]._xmlid_to_res_id(xmlid) for xmlid in xmlids]  # cached: no query
    return SQL(
        "SELECT unnest(%(crons)s::int4[]), %(at)s, %(uid)s::int4, now() at time zone 'UTC', %(uid)s::int4, "
        "now() at time zone 'UTC'",
        crons=cron_ids,
        at=fields.Datetime.now(),  # as ir.cron._trigger() does
        uid=env.uid or None,
    )


def notify_after_commit(env):
    """Tell the cron workers, once per transaction and after its commit, that a trigger is due."""
    waking = env.cr.postcommit.data.setdefault("openlines_wake_cron", [])
    if waking:  # one notification wakes the workers for every due trigger
        return
    dbname, irc = env.cr.dbname, env["ir.cron"]

    def notify():
        if not _notify(dbname):
            irc._notifydb()

    waking.append(notify)
    env.cr.postcommit.add(notify)


def wake_cron(env, *xmlids):
    """Run the crons ``xmlids`` as soon as cron workers are free after this transaction commits (one query)."""
    env.cr.execute(
        SQL(
            "INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date) %s",
            trigger_sql(env, *xmlids),
        )
    )
    notify_after_commit(env)
