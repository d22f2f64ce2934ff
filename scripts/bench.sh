#!/usr/bin/env bash
# Builds a release tree and runs the benchmarks of DESIGN.md §6 against the
# real service binaries on 127.0.0.1, then prints a summary table. Figures
# are printed, never asserted; the exit status is non-zero only when a
# benchmark hit a functional error (or the build failed).
#   scripts/bench.sh                 all benchmarks but peers (about 12 minutes)
#   scripts/bench.sh --quick         smaller sizes, a smoke run
#   scripts/bench.sh submit sync     some of them (arbitrate submit failover scale coldstart memory
#                                    sync ha peers)
#   scripts/bench.sh ha              arbitrate and submit at a broker on etcd (a 3-member and a
#                                    1-member cluster on free loopback ports) beside SQLite, in
#                                    one run, with the etcd/SQLite ratios; part of the full run.
#                                    First installs etcd-server (apt-get, idempotent) if missing
#   scripts/bench.sh --peers         all of them and peers: first installs (apt-get, idempotent)
#                                    PostgreSQL 15, etcd 3.4 and libpq; peers starts its own
#                                    servers on free loopback ports with temporary data
#   scripts/bench.sh --peers peers   only peers; with --quick a smoke run of it
#   scripts/bench.sh submit --lines 5  one-line and five-line incidents side by side (one run)
#   scripts/bench.sh --durability full arbitrate submit
#                                    their broker with --durability full (default: the broker's
#                                    default, normal); peers always measures both
# Any ergrid-bench option passes through (see build-bench/bench/ergrid-bench --help).
# ERGRID_BENCH_BUILD picks the build dir (default build-bench).
set -uo pipefail
cd "$(dirname "$0")/.."

dir=${ERGRID_BENCH_BUILD:-build-bench}

peers=0
etcd=0 # a run of ha (alone or in all) needs etcd-server
args=()
have_bench=0
for a in "$@"; do
    case "$a" in
        --peers) peers=1; continue ;;
        peers) peers=1; have_bench=1 ;;
        ha|all) have_bench=1; etcd=1 ;;
        arbitrate|submit|failover|scale|coldstart|memory|sync) have_bench=1 ;;
    esac
    args+=("$a")
done
if [ $have_bench = 0 ]; then
    args+=(all)
    etcd=1
    [ $peers = 1 ] && args+=(peers)
fi

# The packages of the servers a run measures (peers: PostgreSQL, etcd;
# ha: etcd), only for a run that measures them. As root on a
# container without an init, Debian's maintainer scripts would still try to
# start the packaged servers on their default ports; a policy-rc.d that says
# "no" for the length of the install keeps them stopped (the benchmark starts
# its own).
install_packages() { # package...
    local packages=("$@") missing=() p
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo="" policy=""
    [ "$(id -u)" != 0 ] && sudo="sudo"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy"
    fi
    echo "installing for the benchmarks: ${missing[*]}" >&2
    local rc=0
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null || rc=$?
    [ -n "$policy" ] && $sudo rm -f "$policy"
    return $rc
}

if [ $peers = 1 ]; then
    install_packages postgresql-15 libpq-dev etcd-server python3 curl ||
        { echo "bench.sh: installing the peers' packages failed" >&2; exit 2; }
elif [ $etcd = 1 ]; then
    install_packages etcd-server python3 ||
        { echo "bench.sh: installing etcd-server for the ha benchmark failed" >&2; exit 2; }
fi
if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --buildtype=release -Dtests=false || exit 2
elif [ $peers = 1 ] && grep -q 'BENCH_HAVE_LIBPQ=0' "$dir/build.ninja"; then
    # configured before libpq-dev was there: look for it again
    meson setup --reconfigure "$dir" || exit 2
fi
ninja -C "$dir" || exit 2

log=$(mktemp /tmp/ergrid-bench-log.XXXXXX)
"$dir/bench/ergrid-bench" --build "$dir" "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

echo
echo "Summary: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr)"
echo
echo "| benchmark | figure | target | verdict |"
echo "| --- | --- | --- | --- |"
grep '^SUMMARY|' "$log" | awk -F'|' '{ printf "| %s | %s | %s | %s |\n", $2, $3, $4, $5 }'
rm -f "$log"
exit "$rc"
