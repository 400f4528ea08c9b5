#!/usr/bin/env bash
# `make test`: install openlines_connector (without demo data) into a fresh
# throwaway database, copy it for the end-to-end tests, run pytest (pytest-odoo)
# on the addon's tests and the repo's tests/, drop both databases, and exit with
# pytest's exit code.
#
# Environment for the tests in tests/ (which start their own Odoo server):
#   OPENLINES_E2E_DB     a database with the addon installed, for them alone
#   OPENLINES_ODOO_CONF  the Odoo config file (.odoo-test.cfg)
# PYTEST_ARGS is appended to pytest's command line (e.g. PYTEST_ARGS='-k telegram').
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_odoo
"$SCRIPTS_DIR/ensure_pg.sh"
"$PYTHON" "$SCRIPTS_DIR/odoo_conf.py" test "$TEST_CONF" >/dev/null
cd "$REPO_ROOT"

# --- Python packages: the addon's and the test tools ------------------------
"$PYTHON" "$SCRIPTS_DIR/ensure_pydeps.py" "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-test.txt"

# --- A browser for HttpCase tours (browser_js) ---------------------------------
find_chrome() {
    local bin
    for bin in chromium chromium-browser google-chrome google-chrome-stable; do
        command -v "$bin" >/dev/null 2>&1 && return 0
    done
    return 1
}
if ! find_chrome; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing chromium (apt-get) for the browser tours ..."
        APT_LOG="$(mktemp)"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq chromium >"$APT_LOG" 2>&1; then
            apt-get update -qq >>"$APT_LOG" 2>&1 || true
            apt-get install -y -qq chromium >>"$APT_LOG" 2>&1 || true
        fi
        find_chrome || { tail -n 5 "$APT_LOG"; echo "Warning: chromium could not be installed; the browser tours will FAIL."; }
        rm -f "$APT_LOG"
    else
        echo "Warning: no chromium/google-chrome found and none can be installed here: the browser tours will FAIL (install chromium)."
    fi
fi

# --- Throwaway databases --------------------------------------------------------
suffix="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
TEST_DB="openlines_test_${suffix}"
E2E_DB="openlines_test_${suffix}_e2e"
cleanup() {
    drop_db "$TEST_DB"
    drop_db "$E2E_DB"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$ODOO_DATA_DIR"
INSTALL_LOG="$ODOO_DATA_DIR/test-install.log"
echo "Installing $ADDON_NAME into the fresh database $TEST_DB (log: ${INSTALL_LOG#"$REPO_ROOT"/}) ..."
started=$(date +%s)
if ! "$PYTHON" -m odoo server -c "$TEST_CONF" -d "$TEST_DB" -i "$ADDON_NAME" \
        --stop-after-init --no-http >"$INSTALL_LOG" 2>&1; then
    tail -n 60 "$INSTALL_LOG"
    die "Installing $ADDON_NAME into $TEST_DB failed (log above: $INSTALL_LOG)."
fi
# Errors logged during the install (a failed data file, a missing dependency...)
# are failures too, even when Odoo's exit code is 0.
errors="$(grep -E '^[0-9-]+ [0-9:,]+ [0-9]+ (ERROR|CRITICAL) ' "$INSTALL_LOG" || true)"
state="$(module_state "$TEST_DB" "$ADDON_NAME")"
if [ -n "$errors" ] || [ "$state" != installed ]; then
    if [ -n "$errors" ]; then
        printf '%s\n' "$errors" | head -n 40
    else
        tail -n 40 "$INSTALL_LOG"
    fi
    die "Installing $ADDON_NAME into $TEST_DB went wrong (module state: ${state:-unknown}; log: $INSTALL_LOG)."
fi
echo "Installed in $(( $(date +%s) - started ))s."

# A copy for the end-to-end tests, which run their own Odoo server on it.
pg createdb -T "$TEST_DB" "$E2E_DB" >/dev/null \
    || die "Could not copy $TEST_DB to $E2E_DB."
if [ -d "$ODOO_DATA_DIR/filestore/$TEST_DB" ]; then
    mkdir -p "$ODOO_DATA_DIR/filestore"
    cp -a "$ODOO_DATA_DIR/filestore/$TEST_DB" "$ODOO_DATA_DIR/filestore/$E2E_DB"
fi

export OPENLINES_E2E_DB="$E2E_DB"
# A browser tour that cannot start Chromium fails instead of being skipped (tests/common.py).
export OPENLINES_REQUIRE_BROWSER=1
export OPENLINES_ODOO_CONF="$TEST_CONF"

# --- pytest ---------------------------------------------------------------------
paths=()
[ -d "$OPENLINES_ADDONS_DIR/$ADDON_NAME/tests" ] && paths+=("$OPENLINES_ADDONS_DIR/$ADDON_NAME/tests")
[ -d "$REPO_ROOT/tests" ] && paths+=("$REPO_ROOT/tests")
paths=("${paths[@]/#"$REPO_ROOT"\//}")  # shorter node ids for paths inside the repo

extra=()
if [ -n "${PYTEST_ARGS:-}" ]; then
    eval "extra=($PYTEST_ARGS)"
fi

set +e
"$PYTHON" -m pytest \
    --odoo-database="$TEST_DB" --odoo-config="$TEST_CONF" --odoo-http \
    --rootdir="$REPO_ROOT" -p no:cacheprovider -q -rfEs \
    "${paths[@]}" "${extra[@]}"
rc=$?
set -e
# pytest exits 5 when it collected no test: a failure too (it is non-zero already).
exit "$rc"
