#!/usr/bin/env bash
# The container check: builds docker/Dockerfile with podman, starts
# docker/docker-compose.yml with podman-compose and checks the running city
# (the dashboard answers, all ten units register, a killed unit's incident is
# redeployed), then tears it all down. It owns every setting this machine
# needs to run containers at all (runtime, ulimits, storage, cgroups,
# network backend), so the Dockerfile and the compose file stay the ones
# Docker users run.
#
# Usage: scripts/containers.sh [--keep | --down PROJECT]
#   --keep          leave the cluster running and print how to reach and remove it
#   --down PROJECT  remove a cluster that --keep left (its containers, volumes, network)
# Environment:
#   ERGRID_TIMEOUT_SCALE    multiplies every wait, an integer (default 1)
#   ERGRID_DEBIAN_MIRROR    debootstrap's mirror (default http://deb.debian.org/debian)
#   ERGRID_PODMAN_RUNTIME   OCI runtime (default runc, see sandbox_config)
#   ERGRID_PODMAN_STORAGE   storage driver: overlay, fuse-overlayfs or vfs (default: probed)
# Logs: tests/artifacts/containers/. The last line is "containers: N passed, N failed";
# the exit status is 0 only when every check passed and the teardown left nothing.

# Most functions run through step, check and wait_for, which shellcheck
# cannot follow.
# shellcheck disable=SC2317
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)

if [ "$(id -u)" != 0 ]; then
    # Rootful podman and debootstrap both need root.
    exec sudo -E "$0" "$@"
fi

usage() { echo "usage: scripts/containers.sh [--keep | --down PROJECT]" >&2; exit 2; }
keep=0
down_only=""
while [ $# -gt 0 ]; do
    case $1 in
    --keep) keep=1 ;;
    --down) down_only=${2:-}; [ -n "$down_only" ] || usage; shift ;;
    *) usage ;;
    esac
    shift
done

art="$root/tests/artifacts/containers"
mkdir -p "$art"
compose_file=docker/docker-compose.yml
# A project name of its own per run: two checks on one machine (two
# worktrees, or a developer's cluster and CI) never share a container,
# volume or network.
project=${down_only:-ergrid-check-$$}
scale=${ERGRID_TIMEOUT_SCALE:-1}
base_image=localhost/debian:12
slim_image=localhost/debian:12-slim
label="io.podman.compose.project=$project"

passed=0
failed=0
now_ms() { date +%s%3N; }
t_start=$(now_ms)
phase_ms() { echo $(($(now_ms) - $1)); }
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# ---- 1. packages -----------------------------------------------------------
install_packages() {
    local pkgs=(podman podman-compose debootstrap debian-archive-keyring runc catatonit
        netavark aardvark-dns iptables curl python3)
    [ "$storage_driver" = fuse-overlayfs ] && pkgs+=(fuse-overlayfs)
    local missing=() p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Other builds on the machine may hold the dpkg lock for a while.
    if ! apt-get -o DPkg::Lock::Timeout=600 update -qq >"$art/apt.log" 2>&1 ||
        ! apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            "${missing[@]}" >>"$art/apt.log" 2>&1; then
        tail -20 "$art/apt.log"
        return 1
    fi
}

# ---- 2. sandbox settings ---------------------------------------------------
# Written to files of this run and handed to every podman call (podman-compose
# included) through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF, so nothing in
# /etc changes and the Dockerfile carries none of it.
pick_storage_driver() {
    storage_driver=${ERGRID_PODMAN_STORAGE:-}
    [ -n "$storage_driver" ] && return
    # An existing store keeps its driver: podman refuses to open it with another.
    if [ -d /var/lib/containers/storage/vfs-images ]; then
        storage_driver=vfs
    elif grep -qw overlay /proc/filesystems; then
        storage_driver=overlay
    elif [ -c /dev/fuse ]; then
        storage_driver=fuse-overlayfs
    else
        storage_driver=vfs
    fi
}

sandbox_config() {
    local conf="$art/podman"
    mkdir -p "$conf"
    # RLIMIT: rootful podman asks for nofile 1048576, which needs
    # CAP_SYS_RESOURCE; a sandbox without it (this one) gets EPERM from the
    # runtime's setrlimit. The container may have at most what we have.
    # podman itself lowers its own nproc to 32768 before starting conmon, so
    # that is the ceiling for nproc whatever the host allows.
    local nofile nproc
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ] && nofile=1048576
    [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
    # Runtime: crun 1.8 (Debian 12) refuses a cgroup v1 + v2 hybrid host
    # ("cgroups in hybrid mode not supported"); runc runs there.
    # cgroupfs and file events: no systemd is PID 1 in a sandbox.
    cat >"$conf/containers.conf" <<EOF
# Written by scripts/containers.sh for this machine; see the comments there.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
init_path = "/usr/libexec/podman/catatonit"
log_driver = "k8s-file"

[engine]
runtime = "${ERGRID_PODMAN_RUNTIME:-runc}"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
EOF
    local driver=$storage_driver mount_program=""
    if [ "$storage_driver" = fuse-overlayfs ]; then
        driver=overlay
        mount_program='mount_program = "/usr/bin/fuse-overlayfs"'
    fi
    cat >"$conf/storage.conf" <<EOF
# Written by scripts/containers.sh: the default store, driver chosen for this kernel.
[storage]
driver = "$driver"
graphroot = "/var/lib/containers/storage"
runroot = "/run/containers/storage"
[storage.options.overlay]
$mount_program
EOF
    export CONTAINERS_CONF="$conf/containers.conf" CONTAINERS_STORAGE_CONF="$conf/storage.conf"
    ulimits="nofile=$nofile:$nofile nproc=$nproc:$nproc"
}

# ---- 3. the Debian 12 base image -------------------------------------------
# No image registry is reachable here, only Debian's archive: debian:12 and
# debian:12-slim are made with debootstrap once and stay in podman's store
# (teardown keeps them), so later runs skip this.
base_images() {
    if podman image exists "$base_image" && podman image exists "$slim_image"; then
        echo "base images: cached ($base_image, $slim_image)"
        return 0
    fi
    local dir
    dir=$(mktemp -d /var/tmp/ergrid-debootstrap.XXXXXX)
    local rootfs="$dir/rootfs" mirror=${ERGRID_DEBIAN_MIRROR:-http://deb.debian.org/debian}
    echo "base images: debootstrap bookworm from $mirror"
    if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$art/debootstrap.log" 2>&1; then
        tail -20 "$art/debootstrap.log"
        rm -rf "$dir"
        return 1
    fi
    # The same suites as Debian's own debian:12 image, so a build gets
    # stable updates and security fixes.
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb ${mirror} bookworm main
deb ${mirror} bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    local rc=0
    tar --numeric-owner -C "$rootfs" -c . |
        podman import --change 'CMD ["bash"]' --change 'LABEL org.ergrid.base=debootstrap' \
            - "$base_image" >>"$art/debootstrap.log" 2>&1 || rc=1
    # slim: what debian:12-slim leaves out (documentation, manuals,
    # translations), and dpkg told to keep leaving it out.
    if [ "$rc" = 0 ]; then
        mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
        cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
        find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
        rm -rf "$rootfs"/usr/share/{man,info,locale,groff,lintian,linda}/*
        tar --numeric-owner -C "$rootfs" -c . |
            podman import --change 'CMD ["bash"]' --change 'LABEL org.ergrid.base=debootstrap' \
                - "$slim_image" >>"$art/debootstrap.log" 2>&1 || rc=1
    fi
    rm -rf "$dir"
    [ "$rc" = 0 ] || tail -20 "$art/debootstrap.log"
    return "$rc"
}

# ---- 4. the image ----------------------------------------------------------
build_image() {
    local ign=(--pull=never --ignorefile docker/Dockerfile.dockerignore -f docker/Dockerfile)
    # The build stage gets a name of its own so that pruning the images the
    # previous builds left keeps its layers (the apt step above all) as the
    # cache of the next build.
    if ! podman build "${ign[@]}" --target build -t localhost/ergrid-build:local . >"$art/build.log" 2>&1 ||
        ! podman build "${ign[@]}" -t localhost/ergrid:local . >>"$art/build.log" 2>&1; then
        tail -40 "$art/build.log"
        return 1
    fi
    # This run's containers use this build's id, not the tag another run may move.
    image_id=$(podman image inspect -f '{{.Id}}' localhost/ergrid:local) || return 1
    # Only what is older than any build in progress: a concurrent run's
    # intermediate images are dangling too until its build ends.
    podman image prune -f --filter until=30m >/dev/null 2>&1 || true
}

# ---- helpers for the cluster -----------------------------------------------
compose() {
    ERGRID_IMAGE="$image_id" ERGRID_COORDINATOR_PORT="$port" \
        podman-compose -p "$project" -f "$compose_file" "$@"
}

ctr() { # service -> the id of its container in this project
    podman ps -aq --filter "label=$label" --filter "label=com.docker.compose.service=$1" | head -1
}

# curl from inside the compose network, where brokers and executors are
# reachable by service name (only the coordinator publishes a port), as the
# console's viewer: every service runs with --tokens.
in_net() {
    podman exec "$probe" curl -sS --max-time 5 -H "Authorization: Bearer $viewer" "$@"
}

# Reads JSON on stdin; exits 0 when the Python expression over `d` (and the
# variables passed as NAME=VALUE) is true. Debian's python3, not a PATH one.
json_true() {
    local expr=$1
    shift
    /usr/bin/python3 -c '
import json, sys
env = dict(a.split("=", 1) for a in sys.argv[2:])
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
sys.exit(0 if eval("(" + sys.argv[1] + ")", {"env": env, "d": d}) else 1)
' "$expr" "$@"
}

json_get() { # python expression over d -> printed
    /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# Polls a condition until it holds or the deadline passes. The interval only
# paces the polling; the check is the condition.
wait_for() { # seconds command...
    local deadline=$(($(now_ms) + $1 * scale * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.3
    done
}

dump_logs() { # services... -> their state and last log lines
    echo "--- containers of $project ---"
    podman ps -a --filter "label=$label" --format '{{.Names}}  {{.Status}}' 2>&1
    local s id
    for s in "$@"; do
        id=$(ctr "$s")
        if [ -z "$id" ]; then
            echo "--- $s: no container ---"
            continue
        fi
        echo "--- podman logs $s (last 40 lines) ---"
        podman logs --tail 40 "$id" 2>&1
    done
}

# ---- 5. the checks ---------------------------------------------------------
declare -A home=([LAFD-1]=Downtown [LAFD-2]=Downtown [LAPD-7]=Downtown [EMS-3]=Downtown
    [LAFD-5]=Westside [LAPD-12]=Westside [EMS-8]=Westside
    [LAFD-9]=Valley [LAPD-15]=Valley [EMS-11]=Valley)
declare -A broker_url=([Downtown]=http://downtown:7101 [Westside]=http://westside:7102
    [Valley]=http://valley:7103)
expected_units=$(for u in "${!home[@]}"; do printf '%s:%s,' "$u" "${home[$u]}"; done)
all_services=(coordinator downtown westside valley lafd-1 lafd-2 lapd-7 ems-3 lafd-5 lapd-12
    ems-8 lafd-9 lapd-15 ems-11)

dashboard_answers() {
    local body
    body=$(curl -sS --max-time 5 -f "http://127.0.0.1:$port/" 2>/dev/null) &&
        grep -q '<title>ergrid' <<<"$body"
}

show_dashboard() { curl -sS --max-time 5 -i "http://127.0.0.1:$port/" 2>&1 | head -15; }

# The city answers its API only to a token: without one 401, with the
# viewer's the overview.
refuses_without_token() {
    [ "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/overview")" = 401 ] &&
        curl -sS --max-time 5 -f -H "Authorization: Bearer $viewer" "http://127.0.0.1:$port/v1/overview" |
        json_true '"districts" in d'
}

show_refusal() {
    curl -sS --max-time 5 -i "http://127.0.0.1:$port/v1/overview" 2>&1 | head -15
}

# Every broker lists all ten units of the city, each in its home district
# and available: each registered with its own broker, and the brokers found
# each other through the coordinator.
broker_sees_city() { # district
    in_net "${broker_url[$1]}/v1/units" 2>/dev/null | json_true '
all(any(u["id"] == i and u["district"] == h and u["status"] == "available" for u in d["units"])
    for i, h in (p.split(":") for p in env["expect"].split(",") if p))' expect="$expected_units"
}

units_registered() {
    broker_sees_city Downtown && broker_sees_city Westside && broker_sees_city Valley
}

show_units() { # what each broker lists, for a failed check
    local b
    for b in Downtown Westside Valley; do
        echo "$b lists: $(in_net "${broker_url[$b]}/v1/units" 2>&1 | json_get '
" ".join("%s/%s/%s" % (u["id"], u["district"], u["status"]) for u in d["units"])' 2>&1)"
    done
}

job_id=fire-building-C
job_moved() { # the job has a new attempt on another fire unit that holds it
    local job
    job=$(in_net "${broker_url[Downtown]}/v1/jobs/$job_id" 2>/dev/null) || return 1
    json_true '
d["job"]["status"] == "assigned" and d["job"]["unit_id"] not in (None, env["old"])
and d["job"]["attempt"] > 1
and any(a["unit_id"] == env["old"] and a["state"] == "revoked" for a in d["job"]["attempts"])' \
        old="$first_unit" <<<"$job" || return 1
    new_unit=$(json_get 'd["job"]["unit_id"]' <<<"$job")
    new_attempt=$(json_get 'd["job"]["attempt"]' <<<"$job")
    local unit
    unit=$(in_net "${broker_url[Downtown]}/v1/units/$new_unit" 2>/dev/null) || return 1
    json_true '"firefighting" in d["unit"]["capabilities"]' <<<"$unit" || return 1
    new_url=$(json_get 'd["unit"]["url"]' <<<"$unit")
    in_net "$new_url/v1/assignments" 2>/dev/null | json_true '
any(a["job_id"] == env["job"] and a["attempt"] == int(env["attempt"]) and a["state"] != "revoked"
    for a in d["assignments"])' job="$job_id" attempt="$new_attempt"
}

unit_lost() {
    in_net "${broker_url[${home[$first_unit]}]}/v1/units/$first_unit" 2>/dev/null |
        json_true 'd["unit"]["status"] == "lost"'
}

redeploy() {
    local reply
    # 30 s: this check is about the redeploy, not the first reply's speed on a
    # loaded machine (a slow container DNS once made it 10 s)
    reply=$(curl -sS --max-time 30 -X POST "http://127.0.0.1:$port/v1/incidents" \
        -H "Authorization: Bearer $dispatcher" -H 'Content-Type: application/json' \
        -d "{\"id\":\"$job_id\",\"type\":\"building_fire\",\"severity\":\"critical\",
             \"required_capabilities\":[\"firefighting\"],\"district\":\"Downtown\"}") || return 1
    if ! json_true 'd["job"]["status"] == "assigned" and d["job"]["unit_id"]' <<<"$reply"; then
        echo "incident not assigned: $reply"
        return 1
    fi
    first_unit=$(json_get 'd["job"]["unit_id"]' <<<"$reply")
    killed=${first_unit,,}
    local id
    id=$(ctr "$killed")
    [ -n "$id" ] || { echo "no container for $first_unit"; return 1; }
    local t0
    t0=$(now_ms)
    # SIGKILL: the unit dies without a word; podman does not restart a
    # container it was told to kill, so the unit stays silent.
    podman kill "$id" >/dev/null || return 1
    if ! wait_for 30 job_moved; then
        echo "$job_id still not held by another fire unit after $first_unit was killed; last seen:"
        in_net "${broker_url[Downtown]}/v1/jobs/$job_id" 2>&1
        echo
        return 1
    fi
    echo "  $job_id: $first_unit killed, held by $new_unit (attempt $new_attempt) after $(phase_ms "$t0") ms"
    wait_for 10 unit_lost || { echo "$first_unit not marked lost"; return 1; }
}

# ---- 6. teardown -----------------------------------------------------------
leftovers() {
    podman ps -aq --filter "label=$label"
    podman volume ls -q --filter "label=$label"
    podman network ls -q --filter "label=$label"
}

teardown() {
    [ "$up" = 1 ] || return 0
    local t0
    t0=$(now_ms)
    # Everything podman-compose made carries the project's label. Removed
    # by label, in bulk: `podman-compose down -v` does the same one object
    # at a time (17 s against 1.5 s here) and leaves the network behind.
    # Stopping first gives each service the compose file's grace period
    # for SIGTERM, all at once.
    local running slow
    running=$(podman ps -q --filter "label=$label")
    {
        [ -n "$running" ] && xargs podman stop -t 10 <<<"$running"
        # Exit status 137 after a stop: podman had to SIGKILL it when the
        # grace period ran out. Said, with its last log lines, but not
        # counted: stopping every peer at once is not what the check tests.
        slow=$([ -n "$running" ] && xargs podman inspect -f '{{.Name}} {{.State.ExitCode}}' <<<"$running" |
            awk '$2 == 137 {print $1}')
        local c
        for c in $slow; do
            echo "--- $c: no exit within 10 s of SIGTERM ---"
            podman logs --tail 20 "$c"
        done
        podman ps -aq --filter "label=$label" | xargs -r podman rm -f -t 0
        podman volume ls -q --filter "label=$label" | xargs -r podman volume rm -f
        podman network ls -q --filter "label=$label" | xargs -r podman network rm -f
    } >"$art/down.log" 2>&1
    for c in $slow; do
        echo "note: $c did not stop within 10 s of SIGTERM; podman killed it (log: $art/down.log)"
    done
    if [ -n "$(leftovers 2>&1)" ]; then
        fail "teardown: left behind: $(leftovers 2>&1 | tr '\n' ' ')"
    else
        ok "teardown: containers, volumes and network removed ($(phase_ms "$t0") ms; base images kept)"
    fi
}

up=0
completed=0
viewer=""
dispatcher=""
finish() {
    local rc=$?
    trap - EXIT INT TERM
    # A run that stopped before its last step without a FAIL (a crash of
    # this script) must not read as a pass.
    [ "$completed" = 1 ] || [ "$failed" -gt 0 ] || fail "stopped before its end (exit status $rc)"
    if [ "$keep" = 1 ] && [ "$up" = 1 ]; then
        echo "kept: project $project, dashboard http://127.0.0.1:$port/"
        echo "  export CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
        echo "  podman ps --filter label=$label"
        echo "  scripts/containers.sh --down $project"
    else
        teardown
    fi
    echo "total: $(phase_ms "$t_start") ms"
    echo "containers: $passed passed, $failed failed"
    [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
    exit
}

step() { # description function [services whose logs a failure shows...]
    local what=$1 fn=$2 t0
    shift 2
    t0=$(now_ms)
    if "$fn"; then
        ok "$what ($(phase_ms "$t0") ms)"
    else
        fail "$what ($(phase_ms "$t0") ms)"
        [ $# -gt 0 ] && dump_logs "$@"
        exit 1
    fi
}

check() { # description seconds condition diagnostic [services whose logs a failure shows...]
    local what=$1 secs=$2 cond=$3 diag=$4 t0
    shift 4
    t0=$(now_ms)
    if wait_for "$secs" "$cond"; then
        ok "$what ($(phase_ms "$t0") ms)"
    else
        fail "$what ($(phase_ms "$t0") ms)"
        $diag
        dump_logs "$@"
        exit 1
    fi
}

cluster_up() {
    up=1
    # The one-shot tokens step first, to its end: podman-compose does not
    # wait for depends_on's service_completed_successfully. Its log holds
    # the console's viewer and dispatcher tokens.
    compose up -d tokens >"$art/up.log" 2>&1 || { tail -30 "$art/up.log"; return 1; }
    local rc
    rc=$(podman wait "$(ctr tokens)" 2>&1)
    [ "$rc" = 0 ] || { echo "the tokens step failed ($rc)"; podman logs "$(ctr tokens)" 2>&1 | tail -20; return 1; }
    viewer=$(podman logs "$(ctr tokens)" 2>&1 | sed -n 's/^viewer token: *//p' | tail -1)
    dispatcher=$(podman logs "$(ctr tokens)" 2>&1 | sed -n 's/^dispatcher token: *//p' | tail -1)
    if [ -z "$viewer" ] || [ -z "$dispatcher" ]; then
        echo "the tokens step printed no console tokens"
        return 1
    fi
    compose up -d >>"$art/up.log" 2>&1 || { tail -30 "$art/up.log"; return 1; }
    local s
    for s in "${all_services[@]}"; do
        [ "$(podman inspect -f '{{.State.Running}}' "$(ctr "$s")" 2>/dev/null)" = true ] ||
            { echo "$s is not running"; dump_logs "$s"; return 1; }
    done
    probe=$(ctr coordinator)
}

# The whole run is one function, read in full before it starts: editing this
# file while a run is under way cannot change what that run does.
main() {
    trap finish EXIT
    trap 'fail "interrupted"; exit' INT TERM
    pick_storage_driver
    step "packages (podman, podman-compose, debootstrap, runc)" install_packages
    sandbox_config
    echo "sandbox: runtime ${ERGRID_PODMAN_RUNTIME:-runc}, cgroupfs, storage $storage_driver, netavark, ulimits $ulimits"
    if [ -n "$down_only" ]; then
        up=1
        completed=1
        return
    fi
    step "base images $base_image, $slim_image" base_images
    step "podman build docker/Dockerfile" build_image
    port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    step "podman-compose up: ${#all_services[@]} containers running ($project)" cluster_up
    check "dashboard answers on http://127.0.0.1:$port/" 60 dashboard_answers show_dashboard coordinator
    check "no token: 401; the viewer token: the overview" 10 refuses_without_token show_refusal coordinator
    check "all ten units registered, seen by every broker" 60 units_registered show_units "${all_services[@]}"
    step "killed unit's incident redeployed" redeploy downtown westside valley lafd-1 lafd-2 lafd-5 lafd-9
    completed=1
}

main
exit
