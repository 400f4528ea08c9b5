#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on $PGHOST:$PGPORT.
#
# If one answers already, nothing is done. Otherwise a local cluster is created
# (first time) and started in the repo's own data directory .pgdata/ (gitignored):
#   .pgdata/data      the cluster (trust auth, $PGUSER is its superuser)
#   .pgdata/run       its unix socket directory
#   .pgdata/postgresql.log
# As root, initdb/pg_ctl run as the `postgres` system user (created as a system
# user if it does not exist), since initdb refuses to run as root.
#
#   scripts/ensure_pg.sh          ensure a server answers
#   scripts/ensure_pg.sh --stop   stop the project's own cluster, if it runs
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BASE="$REPO_ROOT/.pgdata"
PG_DATA="$PG_BASE/data"
PG_LOG="$PG_BASE/postgresql.log"

# PostgreSQL bin directory: the newest one among `pg_config --bindir` and
# /usr/lib/postgresql/*/bin that has initdb and pg_ctl; if the cluster exists
# already, the one of its major version.
find_bindir() {
    local candidates=() dir ver best="" best_ver=0 want=""
    if command -v pg_config >/dev/null 2>&1; then
        candidates+=("$(pg_config --bindir 2>/dev/null || true)")
    fi
    for dir in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
        candidates+=("$dir")
    done
    [ -f "$PG_DATA/PG_VERSION" ] && want="$(cat "$PG_DATA/PG_VERSION" 2>/dev/null || true)"
    for dir in "${candidates[@]}"; do
        [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] || continue
        ver="$("$dir/pg_ctl" --version 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\)\(\.[0-9]*\)*.*/\1/p')"
        [ -n "$ver" ] || continue
        if [ -n "$want" ]; then
            [ "$ver" = "$want" ] && { echo "$dir"; return 0; }
            continue
        fi
        if [ "$ver" -gt "$best_ver" ]; then
            best="$dir"
            best_ver="$ver"
        fi
    done
    if [ -n "$want" ]; then
        die "No PostgreSQL $want server binaries (initdb, pg_ctl) found for the cluster in $PG_DATA."
    fi
    [ -n "$best" ] || die "PostgreSQL does not answer on $PGHOST:$PGPORT and no PostgreSQL server binaries (initdb, pg_ctl) were found: install PostgreSQL (e.g. \`apt-get install postgresql\`) or start a server there, then run this again."
    echo "$best"
}

# Unix socket directory: inside .pgdata unless that path is too long for a socket.
socket_dir() {
    if [ "${PGHOST#/}" != "$PGHOST" ]; then
        echo "$PGHOST"  # PGHOST names a socket directory itself
    elif [ "${#PG_BASE}" -le 80 ]; then
        echo "$PG_BASE/run"
    else
        echo "${TMPDIR:-/tmp}/openlines-pg-$(printf '%s' "$PG_BASE" | md5sum | cut -c1-8)"
    fi
}

# Run a command as the cluster's owner: `postgres` (or a dedicated system user) when root.
PG_OWNER=""
as_owner() {
    if [ -n "$PG_OWNER" ]; then
        runuser -u "$PG_OWNER" -- "$@"
    else
        "$@"
    fi
}

if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then
        PG_OWNER=postgres
    else
        PG_OWNER=openlines-pg
        id "$PG_OWNER" >/dev/null 2>&1 \
            || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OWNER" \
            || die "Could not create the system user $PG_OWNER to own the local PostgreSQL cluster."
    fi
fi

if [ "${1:-}" = "--stop" ]; then
    [ -f "$PG_DATA/PG_VERSION" ] || exit 0
    BINDIR="$(find_bindir)"
    if as_owner "$BINDIR/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        as_owner "$BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
        echo "Stopped the local PostgreSQL cluster in $PG_DATA."
    fi
    exit 0
fi

# Can we connect as $PGUSER? (A server that answers but lacks our role is a setup problem.)
check_role() {
    if ! pg psql -d postgres -XtAc 'SELECT 1' >/dev/null 2>&1; then
        die "PostgreSQL answers on $PGHOST:$PGPORT but refuses user $PGUSER: create that role as a superuser (e.g. \`sudo -u postgres createuser -s $PGUSER\`) or set PGUSER/PGPASSWORD, then run this again."
    fi
}

if pg_isready -q -h "$PGHOST" -p "$PGPORT" >/dev/null 2>&1; then
    check_role
    exit 0
fi

BINDIR="$(find_bindir)"
SOCK_DIR="$(socket_dir)"

mkdir -p "$PG_BASE" "$SOCK_DIR"
if [ -n "$PG_OWNER" ]; then
    chown "$PG_OWNER" "$PG_BASE" "$SOCK_DIR"
    [ -d "$PG_DATA" ] && chown -R "$PG_OWNER" "$PG_DATA"
    as_owner test -w "$PG_BASE" \
        || die "The user $PG_OWNER cannot write to $PG_BASE (a parent directory is not accessible to it): move the repo, or start PostgreSQL yourself on $PGHOST:$PGPORT."
fi

if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    echo "Creating a local PostgreSQL cluster in $PG_DATA ..."
    # The superuser of the new cluster is $PGUSER itself; trust auth for local use only.
    if ! as_owner "$BINDIR/initdb" -D "$PG_DATA" -U "$PGUSER" --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >"$PG_BASE/initdb.log" 2>&1; then
        tail -n 20 "$PG_BASE/initdb.log" >&2
        die "initdb failed (log above: $PG_BASE/initdb.log)."
    fi
    printf '%s\n' "$PGUSER" >"$PG_BASE/superuser"
fi

if as_owner "$BINDIR/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    die "The local PostgreSQL cluster in $PG_DATA runs already but does not answer on $PGHOST:$PGPORT (started with other settings?): stop it with \`scripts/ensure_pg.sh --stop\` and run this again."
fi

if [ "${PGHOST#/}" != "$PGHOST" ]; then
    LISTEN=""
else
    LISTEN="$PGHOST"
fi
echo "Starting the local PostgreSQL cluster in $PG_DATA on ${PGHOST}:${PGPORT} ..."
if ! as_owner "$BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start \
        -o "-c port=$PGPORT -c listen_addresses='$LISTEN' -c unix_socket_directories='$SOCK_DIR'" >/dev/null 2>&1; then
    tail -n 20 "$PG_LOG" >&2 || true
    die "Could not start PostgreSQL (log above: $PG_LOG)."
fi

for _ in $(seq 1 30); do
    pg_isready -q -h "$PGHOST" -p "$PGPORT" >/dev/null 2>&1 && break
    sleep 1
done
pg_isready -q -h "$PGHOST" -p "$PGPORT" >/dev/null 2>&1 \
    || die "PostgreSQL started from $PG_DATA but does not answer on $PGHOST:$PGPORT (log: $PG_LOG)."

# A cluster made earlier for another user: add $PGUSER as a superuser.
if ! pg psql -d postgres -XtAc 'SELECT 1' >/dev/null 2>&1; then
    SUPERUSER="$(cat "$PG_BASE/superuser" 2>/dev/null || true)"
    if [ -n "$SUPERUSER" ]; then
        psql -h "$PGHOST" -p "$PGPORT" -U "$SUPERUSER" -d postgres -XqAc "CREATE ROLE \"$PGUSER\" LOGIN SUPERUSER" >/dev/null 2>&1 || true
    fi
fi
check_role
