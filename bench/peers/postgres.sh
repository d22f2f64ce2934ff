#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the peers benchmark, on 127.0.0.1 only, with
# a free port and a fresh temporary directory.
#   postgres.sh start [-o OWNER_PID]  prints, last, shell-style lines:
#       PG_DIR=/tmp/ergrid-pg.XXXXXX
#       PG_PORT=PORT
#       PG_USER=bench
#       PG_READY version=15.x
#   postgres.sh stop PG_DIR           stops it (immediate: the data is thrown
#                                     away) and removes the directory
# -o: stop it when process OWNER_PID exits (a benchmark killed midway must
# not leave a server running on a shared machine).
# PostgreSQL refuses to run as root, so as root initdb and the server run as
# the unprivileged "postgres" user that Debian's postgresql-common creates.
# Durability is PostgreSQL's default, passed explicitly so the run states it:
# fsync=on and synchronous_commit=on (a commit returns after its WAL flush).
# PG_BIN overrides the binaries' folder (default /usr/lib/postgresql/15/bin).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_owner=()
if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "postgres.sh: running as root and there is no 'postgres' user to run the server as" >&2
        exit 3
    fi
    as_owner=(runuser -u postgres --)
fi

stop() {
    local dir=$1
    [ -f "$dir/port" ] || { echo "postgres.sh: $dir is not a server made by postgres.sh" >&2; exit 2; }
    if [ -f "$dir/data/postmaster.pid" ]; then
        "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    # the janitor (start -o) sees the directory vanish and exits
    rm -rf "$dir"
}

start() {
    local owner=""
    while getopts "o:" opt; do
        case $opt in
        o) owner=$OPTARG ;;
        *) echo "usage: $0 start [-o OWNER_PID]" >&2; exit 2 ;;
        esac
    done
    if [ ! -x "$bin/postgres" ]; then
        echo "postgres.sh: no $bin/postgres (apt-get install postgresql-15, or scripts/bench.sh --peers)" >&2
        exit 3
    fi
    local version
    version=$("$bin/postgres" --version | awk '{print $3}')
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ergrid-pg.XXXXXX")
    [ ${#as_owner[@]} = 0 ] || chown postgres: "$dir"
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "$port" >"$dir/port"
    [ ${#as_owner[@]} = 0 ] || chown postgres: "$dir/port"

    # -N: initdb skips its own fsync of the fresh cluster (thrown away
    # afterwards anyway); the server's fsync stays on.
    if ! "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U bench -A trust -E UTF8 --locale=C -N \
        >"$dir/initdb.log" 2>&1; then
        echo "postgres.sh: initdb failed:" >&2
        tail -n 20 "$dir/initdb.log" >&2
        rm -rf "$dir"
        exit 1
    fi
    if [ -n "$owner" ]; then
        # Polls once a second for the owner: a janitor, not a readiness wait.
        (
            trap '' HUP
            while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
            [ -d "$dir" ] && "$here/postgres.sh" stop "$dir" >/dev/null 2>&1
        ) </dev/null >/dev/null 2>&1 &
    fi
    # -w: pg_ctl returns once the server accepts connections.
    if ! "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=on -c synchronous_commit=on" \
        start >/dev/null; then
        echo "postgres.sh: the server did not start:" >&2
        tail -n 20 "$dir/data/server.log" >&2 || true
        stop "$dir"
        exit 1
    fi
    echo "PG_DIR=$dir"
    echo "PG_PORT=$port"
    echo "PG_USER=bench"
    echo "PG_READY version=$version"
}

case ${1:-} in
start) shift; start "$@" ;;
stop) stop "${2:?usage: $0 stop PG_DIR}" ;;
*) echo "usage: $0 start [-o OWNER_PID] | stop PG_DIR" >&2; exit 2 ;;
esac
