# shellcheck shell=bash
# Common settings and helpers, sourced by the other scripts in this folder.
# Every setting can be overridden from the environment (the Makefile exports them).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPTS_DIR="$REPO_ROOT/scripts"

: "${PYTHON:=python3}"
: "${PGHOST:=127.0.0.1}"
: "${PGPORT:=5432}"
: "${PGUSER:=$(id -un 2>/dev/null || whoami)}"
: "${DB:=openlines}"
: "${HTTP_PORT:=8069}"
: "${HTTP_INTERFACE:=127.0.0.1}"
# Directory that holds the openlines_connector addon (the repo root by default).
: "${OPENLINES_ADDONS_DIR:=$REPO_ROOT}"
: "${ODOO_DATA_DIR:=$REPO_ROOT/.odoo-data}"
export PYTHON PGHOST PGPORT PGUSER DB HTTP_PORT HTTP_INTERFACE OPENLINES_ADDONS_DIR ODOO_DATA_DIR

ADDON_NAME=openlines_connector
RUN_CONF="$REPO_ROOT/.odoo.cfg"
TEST_CONF="$REPO_ROOT/.odoo-test.cfg"

die() {
    printf '%s\n' "$*" >&2
    exit 1
}

# Exit at once with one sentence when the Python interpreter cannot import Odoo 19.
check_odoo() {
    if ! "$PYTHON" -c 'import odoo.release as r; assert r.version_info[0] == 19' >/dev/null 2>&1; then
        die "Odoo 19 is not importable by $PYTHON: install Odoo 19 Community (https://www.odoo.com/documentation/19.0/administration/on_premise.html) so that \`$PYTHON -c 'import odoo'\` works, then run this again."
    fi
}

# psql/createdb/dropdb with the project's connection settings.
pg() {
    local tool=$1
    shift
    "$tool" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$@"
}

db_exists() {
    [ "$(pg psql -d postgres -XtAc "SELECT 1 FROM pg_database WHERE datname = '$1'" 2>/dev/null)" = 1 ]
}

# State of a module in a database ('installed', 'uninstalled', ...), empty if unknown.
module_state() {
    pg psql -d "$1" -XtAc "SELECT state FROM ir_module_module WHERE name = '$2'" 2>/dev/null || true
}

# Drop a database created by these scripts, with its Odoo filestore; prints nothing.
drop_db() {
    local name=$1
    [ -n "$name" ] || return 0
    pg dropdb --if-exists --force "$name" >/dev/null 2>&1 || true
    rm -rf "$ODOO_DATA_DIR/filestore/$name" 2>/dev/null || true
}
