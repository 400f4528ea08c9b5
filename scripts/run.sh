#!/usr/bin/env bash
# `make run`: install or update openlines_connector in $DB, then serve Odoo on
# $HTTP_PORT in the foreground (Ctrl+C stops it). A new database gets demo data;
# log in as admin / admin.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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
exec "$PYTHON" -m odoo server -c "$RUN_CONF" -d "$DB" --http-port "$HTTP_PORT" --db-filter "^${DB}\$"
