#!/usr/bin/env bash
# `make run`: install or update openlines_connector in $DB, then serve Odoo on
# $HTTP_PORT in the foreground (Ctrl+C stops it). A new database gets demo data;
# log in as admin / admin.
#
# WORKERS=0 (default): one threaded process (HTTP, websocket and crons).
# WORKERS=N > 0: multi-process (prefork): N HTTP workers on $HTTP_PORT,
# $MAX_CRON_THREADS cron workers, and the gevent process serving Discuss's
# websocket (/websocket) on $GEVENT_PORT; a reverse proxy must route /websocket
# there (README, "Scaling notes").
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${WORKERS:=0}"
: "${GEVENT_PORT:=8072}"
: "${MAX_CRON_THREADS:=2}"
case "$WORKERS" in '' | *[!0-9]*) die "WORKERS must be a number (0 = one threaded process), not '$WORKERS'." ;; esac
case "$MAX_CRON_THREADS" in '' | *[!0-9]*) die "MAX_CRON_THREADS must be a number, not '$MAX_CRON_THREADS'." ;; esac
case "$GEVENT_PORT" in '' | *[!0-9]*) die "GEVENT_PORT must be a port number, not '$GEVENT_PORT'." ;; esac

# `-d $DB` without --db-filter: Odoo serves that database only and, unlike with a
# filter, does not list the server's databases (a new PostgreSQL connection) on
# every request.
serve_args=(--http-port "$HTTP_PORT")
if [ "$WORKERS" -gt 0 ]; then
    [ "$MAX_CRON_THREADS" -ge 1 ] || die "WORKERS=$WORKERS needs MAX_CRON_THREADS >= 1: the queues are drained by crons."
    [ "$GEVENT_PORT" != "$HTTP_PORT" ] || die "GEVENT_PORT ($GEVENT_PORT) must differ from HTTP_PORT."
    # Limits per worker: a request over 5 min of real time or 2 min of CPU is killed; a worker
    # over 640 MB is recycled after its request, over 768 MB at once.
    serve_args+=(
        --workers "$WORKERS"
        --max-cron-threads "$MAX_CRON_THREADS"
        --gevent-port "$GEVENT_PORT"
        --limit-time-real "${LIMIT_TIME_REAL:-300}"
        --limit-time-cpu "${LIMIT_TIME_CPU:-120}"
        --limit-memory-soft "${LIMIT_MEMORY_SOFT:-671088640}"
        --limit-memory-hard "${LIMIT_MEMORY_HARD:-805306368}"
    )
fi

check_odoo
"$SCRIPTS_DIR/ensure_pg.sh"
"$PYTHON" "$SCRIPTS_DIR/odoo_conf.py" run "$RUN_CONF" >/dev/null

odoo() {
    "$PYTHON" -m odoo server -c "$RUN_CONF" -d "$DB" "$@"
}

if ! db_exists "$DB"; then
    echo "Creating database $DB with $ADDON_NAME and demo data ..."
    odoo -i "$ADDON_NAME" --with-demo --stop-after-init \
        || die "Installing $ADDON_NAME into the new database $DB failed (see the log above)."
elif [ "$(module_state "$DB" "$ADDON_NAME")" = installed ]; then
    echo "Updating $ADDON_NAME in database $DB ..."
    odoo -u "$ADDON_NAME" --stop-after-init \
        || die "Updating $ADDON_NAME in database $DB failed (see the log above)."
else
    echo "Installing $ADDON_NAME into database $DB ..."
    odoo -i "$ADDON_NAME" --stop-after-init \
        || die "Installing $ADDON_NAME into database $DB failed (see the log above)."
fi

echo "Serving database $DB on http://localhost:$HTTP_PORT (login admin / admin; Ctrl+C stops)."
if [ "$WORKERS" -gt 0 ]; then
    echo "Multi-process: $WORKERS HTTP workers, $MAX_CRON_THREADS cron workers; Discuss's websocket on port $GEVENT_PORT."
    echo "Route /websocket to port $GEVENT_PORT with a reverse proxy (README, \"Scaling notes\"); without one, Discuss"
    echo "shows new messages only after a page reload."
fi
launch=(-m odoo)
if [ "$WORKERS" -gt 0 ]; then
    # The prefork server starts its websocket process as `python <argv[0]> gevent ...`:
    # with `python -m odoo`, argv[0] is odoo/__main__.py, which cannot run as a script.
    # Serve through a two-line launcher file instead (as odoo-bin does).
    mkdir -p "$ODOO_DATA_DIR"
    launch=("$ODOO_DATA_DIR/odoo-launcher.py")
    printf '%s\n' "from odoo.cli.command import main" "main()" >"${launch[0]}"
fi
exec "$PYTHON" "${launch[@]}" server -c "$RUN_CONF" -d "$DB" "${serve_args[@]}"
