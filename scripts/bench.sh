#!/usr/bin/env bash
# Builds a release tree and runs the benchmarks of DESIGN.md §6 against the
# real service binaries on 127.0.0.1, then prints a summary table. Figures
# are printed, never asserted; the exit status is non-zero only when a
# benchmark hit a functional error (or the build failed).
#   scripts/bench.sh                 all benchmarks (about 5 minutes)
#   scripts/bench.sh --quick         smaller sizes, a smoke run
#   scripts/bench.sh submit sync     some of them (arbitrate submit failover scale memory sync)
# Any ergrid-bench option passes through (see build-bench/bench/ergrid-bench --help).
# ERGRID_BENCH_BUILD picks the build dir (default build-bench).
set -uo pipefail
cd "$(dirname "$0")/.."

dir=${ERGRID_BENCH_BUILD:-build-bench}
if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --buildtype=release -Dtests=false || exit 2
fi
ninja -C "$dir" || exit 2

args=("$@")
have_bench=0
for a in "$@"; do
    case "$a" in
        arbitrate|submit|failover|scale|memory|sync|all) have_bench=1 ;;
    esac
done
[ $have_bench = 1 ] || args+=(all)

log=$(mktemp /tmp/ergrid-bench-log.XXXXXX)
"$dir/bench/ergrid-bench" --build "$dir" "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

echo
echo "Summary: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -sr)"
echo
echo "| benchmark | figure | target | verdict |"
echo "| --- | --- | --- | --- |"
grep '^SUMMARY|' "$log" | awk -F'|' '{ printf "| %s | %s | %s | %s |\n", $2, $3, $4, $5 }'
rm -f "$log"
exit "$rc"
