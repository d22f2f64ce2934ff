#!/usr/bin/env bash
# Waits until every running member of the cluster in ETCD_DIR reports healthy
# (etcd's /health says so only when the member sees a leader and can commit),
# polling until TIMEOUT_S (default 30) runs out. Exit 0 healthy, 1 not.
# Usage: wait.sh ETCD_DIR [TIMEOUT_S]
set -uo pipefail
dir=${1:?ETCD_DIR}
timeout=${2:-30}
members=$(cat "$dir/members")
deadline=$(($(date +%s) + timeout))
while :; do
    ok=1
    for ((i = 0; i < members; i++)); do
        pidf="$dir/m$i.pid"
        # a member that was killed on purpose does not count
        if ! { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }; then
            continue
        fi
        port=$(cat "$dir/m$i.client_port")
        if ! curl -fsS -m 2 "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"health":"true"'; then
            ok=0
            break
        fi
    done
    [ $ok = 1 ] && exit 0
    [ "$(date +%s)" -ge "$deadline" ] && exit 1
    sleep 0.05
done
