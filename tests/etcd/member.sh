#!/usr/bin/env bash
# One member of a cluster made by start.sh: start | kill | term | stop | cont | pid | url.
#   start  launch it (again) with its original arguments and data, and wait
#          until its client port accepts connections (not until it serves:
#          a member serves clients only once it has joined a quorum, and a
#          lone member of a cluster that lost quorum never does; wait.sh
#          waits for health);
#   kill   SIGKILL and wait until it is gone; term: SIGTERM, likewise;
#   stop/cont  SIGSTOP / SIGCONT (a paused member: connections hang).
# Usage: member.sh ETCD_DIR INDEX ACTION
set -euo pipefail
dir=${1:?ETCD_DIR}
i=${2:?INDEX}
action=${3:?ACTION}
[ -f "$dir/m$i.args" ] || { echo "member.sh: no member $i in $dir" >&2; exit 2; }
pidf="$dir/m$i.pid"
port=$(cat "$dir/m$i.client_port")

alive() { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }

wait_gone() { # pid: polls until the process has exited (at most 10 s)
    local n=0
    while kill -0 "$1" 2>/dev/null; do
        # a dead member whose parent has not reaped it yet is gone for us
        [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && return 0
        n=$((n + 1))
        [ $n -gt 1000 ] && { echo "member.sh: $1 did not exit" >&2; return 1; }
        sleep 0.01
    done
}

case $action in
start)
    if alive; then
        echo "member.sh: member $i is already running" >&2
        exit 0
    fi
    mapfile -t args <"$dir/m$i.args"
    setsid "${args[@]}" </dev/null >>"$dir/m$i.log" 2>&1 &
    echo $! >"$pidf"
    for ((n = 0; n < 1000; n++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "started member $i pid $(cat "$pidf")"
            exit 0
        fi
        alive || { echo "member.sh: member $i exited; see $dir/m$i.log" >&2; exit 1; }
        sleep 0.02
    done
    echo "member.sh: member $i did not listen on port $port" >&2
    exit 1
    ;;
kill | term)
    alive || exit 0
    pid=$(cat "$pidf")
    sig=KILL
    [ "$action" = term ] && sig=TERM
    kill -CONT "$pid" 2>/dev/null || true
    kill -"$sig" "$pid" 2>/dev/null || true
    wait_gone "$pid"
    rm -f "$pidf"
    ;;
stop) alive && kill -STOP "$(cat "$pidf")" ;;
cont) alive && kill -CONT "$(cat "$pidf")" ;;
pid) alive && cat "$pidf" ;;
url) echo "http://127.0.0.1:$port" ;;
*) echo "member.sh: unknown action $action" >&2; exit 2 ;;
esac
