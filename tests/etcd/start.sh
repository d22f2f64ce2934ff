#!/usr/bin/env bash
# Starts a throwaway etcd (a single member or an N-member cluster) on
# 127.0.0.1 with free ports in a fresh temporary directory, waits until the
# cluster says it is healthy, and prints what a harness needs:
#   ETCD_DIR=/tmp/ergrid-etcd.XXXX
#   ETCD_URLS=http://127.0.0.1:P1,http://127.0.0.1:P2,...
#   ETCD_READY members=N
# (shell-evaluable lines; ETCD_READY is always last). Members are managed
# afterwards by member.sh (kill/stop/cont/start one of them), wait.sh and
# stop.sh, all of which read the state this script leaves in ETCD_DIR.
# Never touches the default ports 2379/2380.
# Usage: start.sh [-n MEMBERS] [-o OWNER_PID] [-t READY_TIMEOUT_S]
#   -o: stop the cluster when process OWNER_PID exits (tests that crash
#       must not leak etcd processes on a shared machine).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

members=3
owner=""
ready_timeout=30
while getopts "n:o:t:" opt; do
    case $opt in
    n) members=$OPTARG ;;
    o) owner=$OPTARG ;;
    t) ready_timeout=$OPTARG ;;
    *) echo "usage: $0 [-n MEMBERS] [-o OWNER_PID] [-t READY_TIMEOUT_S]" >&2; exit 2 ;;
    esac
done
case $members in
'' | *[!0-9]*) echo "start.sh: -n wants a number" >&2; exit 2 ;;
esac
if [ "$members" -lt 1 ] || [ "$members" -gt 9 ]; then
    echo "start.sh: -n must be 1..9" >&2
    exit 2
fi
etcd_bin=${ETCD_BIN:-$(command -v etcd || true)}
if [ -z "$etcd_bin" ]; then
    echo "start.sh: no etcd binary (apt-get install etcd-server etcd-client)" >&2
    exit 3
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/ergrid-etcd.XXXXXX")
# 2 ports per member (client, peer), all bound at once so they are distinct;
# the kernel may hand one out again before etcd binds it, which shows up as
# a member that never gets healthy, not as a silent collision.
read -r -a ports <<<"$(python3 - "$((members * 2))" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)"

cluster=""
urls=""
for ((i = 0; i < members; i++)); do
    cp=${ports[$((2 * i))]}
    pp=${ports[$((2 * i + 1))]}
    cluster+="${cluster:+,}m$i=http://127.0.0.1:$pp"
    urls+="${urls:+,}http://127.0.0.1:$cp"
    echo "$cp" >"$dir/m$i.client_port"
done
token=$(basename "$dir")
# ETCD_EXTRA_ARGS: more etcd flags, split on spaces (e.g. "--quota-backend-bytes 1000000")
read -r -a extra <<<"${ETCD_EXTRA_ARGS:-}"
for ((i = 0; i < members; i++)); do
    cp=$(cat "$dir/m$i.client_port")
    pp=${ports[$((2 * i + 1))]}
    # The arguments are kept so member.sh can restart the member exactly as
    # it was; on a restart etcd reads its WAL and ignores the initial-* flags.
    printf '%s\n' "$etcd_bin" \
        --name "m$i" \
        --data-dir "$dir/m$i.data" \
        --listen-client-urls "http://127.0.0.1:$cp" \
        --advertise-client-urls "http://127.0.0.1:$cp" \
        --listen-peer-urls "http://127.0.0.1:$pp" \
        --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "$cluster" \
        --initial-cluster-token "$token" \
        --initial-cluster-state new \
        --logger zap --log-level "${ETCD_LOG_LEVEL:-warn}" \
        "${extra[@]}" >"$dir/m$i.args"
done
echo "$urls" >"$dir/urls"
echo "$members" >"$dir/members"

for ((i = 0; i < members; i++)); do
    "$here/member.sh" "$dir" "$i" start >/dev/null
done

if [ -n "$owner" ]; then
    # Polls once a second for the owner; this is a janitor, not a wait for
    # readiness, so a coarse period is fine.
    (
        trap '' HUP
        while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
        [ -d "$dir" ] && "$here/stop.sh" "$dir" >/dev/null 2>&1
    ) </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/janitor.pid"
fi

if ! "$here/wait.sh" "$dir" "$ready_timeout"; then
    echo "start.sh: etcd did not become healthy in ${ready_timeout}s; logs:" >&2
    tail -n 20 "$dir"/m*.log >&2 || true
    "$here/stop.sh" "$dir" >/dev/null 2>&1 || true
    exit 1
fi
echo "ETCD_DIR=$dir"
echo "ETCD_URLS=$urls"
echo "ETCD_READY members=$members"
