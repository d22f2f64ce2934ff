#!/usr/bin/env bash
# Runs every test: installs what is missing, runs cppcheck and the two
# OpenAPI linters once over the sources, then builds and tests twice, once
# normally and once under AddressSanitizer + UndefinedBehaviorSanitizer.
#   Check unit and api suites and the guards (meson test), then the
#   integration suites (pytest) that start the real service binaries on
#   127.0.0.1, the HA suite among them (standby brokers on a 3-member etcd
#   it starts itself; its figures are printed in the summary). Once: the spin model check (tests/model) and, on the normal
#   build, the short fault campaign (tests/campaign).
#   Last, the container check (scripts/containers.sh): the images built
#   with podman and the compose city run and checked.
# Usage: scripts/test.sh [--quick]   (--quick: skip the sanitizer build, the
#   model check and the campaign)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ERGRID_WITH_BROWSER=1 ./scripts/deps.sh || { echo "dependency install failed" >&2; exit 1; }
# The HA suite starts its own etcd members (tests/etcd/start.sh) and fails,
# never skips, without them: say here which etcd it gets.
echo "etcd: $(etcd --version 2>/dev/null | head -1 || echo 'MISSING (etcd-server)')"

quick=0
[ "${1:-}" = "--quick" ] && quick=1

passed=0
failed=0
artifacts="$root/tests/artifacts"
mkdir -p "$artifacts"

count() { # meson test log, meson testlog.txt -> adds the run's totals
    # Check's own summary lines count the individual tests; meson's Fail
    # line catches an executable that died before printing one.
    local checks fails mfail
    checks=$(grep -Eo '^[0-9]+%: Checks: [0-9]+' "$2" 2>/dev/null | grep -Eo '[0-9]+$' | awk '{s+=$1} END {print s+0}')
    fails=$(grep -E '^[0-9]+%: Checks: ' "$2" 2>/dev/null | grep -Eo '(Failures|Errors): [0-9]+' | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
    mfail=$(grep -Eo '^(Fail|Unexpected Pass|Timeout): +[0-9]+' "$1" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
    passed=$((passed + checks - fails))
    failed=$((failed + fails + mfail))
}

count_pytest() {
    local line p f e
    line=$(grep -E '(passed|failed|error)' "$1" | tail -1)
    p=$(echo "$line" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')
    f=$(echo "$line" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+')
    e=$(echo "$line" | grep -Eo '[0-9]+ error' | grep -Eo '[0-9]+')
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0}))
}

suite() { # name builddir [meson args...]
    local name=$1 dir=$2
    shift 2
    echo "=== $name build ($dir) ==="
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >"$artifacts/$name-setup.log" 2>&1 ||
            { cat "$artifacts/$name-setup.log"; failed=$((failed + 1)); return; }
    fi
    if ! ninja -C "$dir" >"$artifacts/$name-build.log" 2>&1; then
        tail -50 "$artifacts/$name-build.log"
        failed=$((failed + 1))
        return
    fi
    echo "--- $name: Check suites (meson test) ---"
    meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1 | tee "$artifacts/$name-meson-test.log" |
        grep -E '^( *[0-9]+/[0-9]+ |Ok:|Fail:|Timeout:|Skipped:|[0-9]+%: Checks)|:[FE]:' || true
    count "$artifacts/$name-meson-test.log" "$dir/meson-logs/testlog.txt"
    grep -h -E '^[0-9]+%: Checks' "$dir/meson-logs/testlog.txt" 2>/dev/null | sed "s/^/  $name check summary: /" || true
    echo "--- $name: integration suites (pytest) ---"
    local scale=1
    [ "$name" = sanitize ] && scale=3
    # A figures file left by an earlier run must not pass for this one's.
    rm -f "$artifacts/$name/ha-figures.txt"
    ERGRID_TIMEOUT_SCALE=$scale ERGRID_BUILD="$dir" ERGRID_ARTIFACTS="$artifacts/$name" /usr/bin/python3 -m pytest tests/integration -q \
        -p no:cacheprovider 2>&1 | tee "$artifacts/$name-pytest.log" | tail -25
    count_pytest "$artifacts/$name-pytest.log"
    head -qn1 "$artifacts/$name"/contract-*.txt 2>/dev/null | sed "s/^/  $name contract: /"
    ha_figures "$name"
}

# The HA suite's figures (tests/integration/test_ha.py writes them: takeover
# times, acknowledged-but-lost and double-assignment counts), printed after
# each build's pytest and again in the closing summary.
ha_summary=""
ha_figures() { # build name
    local f="$artifacts/$1/ha-figures.txt"
    if [ -s "$f" ]; then
        sed "s/^/  $1 /" "$f"
        ha_summary+=$(sed "s/^/  $1 /" "$f")$'\n'
    else
        echo "  $1 ha: no figures (the HA suite did not finish; see $artifacts/$1-pytest.log)"
        ha_summary+="  $1 ha: no figures"$'\n'
    fi
}

# cppcheck reads the sources, not a build, so once is enough. Each finding
# counts as a failure; a clean run as one pass.
echo "=== cppcheck ==="
./tests/tools/cppcheck.sh >"$artifacts/cppcheck.log" 2>&1
cat "$artifacts/cppcheck.log"
findings=$(sed -n 's/^cppcheck: [0-9]* files, \([0-9]*\) findings$/\1/p' "$artifacts/cppcheck.log")
if [ "${findings:-x}" = 0 ]; then
    passed=$((passed + 1))
else
    failed=$((failed + ${findings:-1}))
fi

# openapi.yaml under @redocly/cli and @stoplight/spectral-cli
# (tests/contract/lint.sh; npm ci only when the lock changed), once: they
# read the file, not a build. Each linter clean is one pass, else one failure.
echo "=== contract linters (redocly, spectral) ==="
./tests/contract/lint.sh >"$artifacts/contract-lint.log" 2>&1
tail -60 "$artifacts/contract-lint.log"
lint_ok=$(grep -cE '^(redocly|spectral): 0 errors, 0 warnings' "$artifacts/contract-lint.log")
passed=$((passed + lint_ok))
failed=$((failed + 2 - lint_ok))

# The spin model of the protocol (tests/model/README.md): the fixed protocol
# must pass safety and liveness, today's model must still show each trace.
if [ $quick = 0 ]; then
echo "=== model check (spin) ==="
./tests/model/check.sh >"$artifacts/model.log" 2>&1
grep -E '^(ok|FAIL|model check:)' "$artifacts/model.log" | grep -v '^ok   fixed' || true
model_ok=$(grep -c '^ok ' "$artifacts/model.log")
model_failed=$(grep -c '^FAIL' "$artifacts/model.log")
if grep -q '^model check: 0 failed' "$artifacts/model.log"; then
    passed=$((passed + model_ok))
else
    tail -30 "$artifacts/model.log"
    failed=$((failed + (model_failed > 0 ? model_failed : 1)))
fi
fi

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

suite normal "$root/build"

# The short fault campaign (tests/campaign/README.md): a city under load
# while a nemesis kills, pauses and restarts its services, then the checker
# over the whole history. On the normal build: its timings are not scaled for
# the sanitizers, and the fault suites above run in both builds.
if [ $quick = 0 ]; then
echo "=== fault campaign (normal build, seed 7, 150 s) ==="
ERGRID_BUILD="$root/build" /usr/bin/python3 -m pytest tests/campaign -q -p no:cacheprovider \
    >"$artifacts/campaign.log" 2>&1
tail -3 "$artifacts/campaign.log"
if grep -qE '[0-9]+ passed' "$artifacts/campaign.log"; then
    count_pytest "$artifacts/campaign.log"
else
    failed=$((failed + 1))
fi
if grep -qE '[0-9]+ (failed|error)' "$artifacts/campaign.log"; then
    grep -E 'violation|^E ' "$artifacts/campaign.log" | head -40
fi
fi
if [ $quick = 0 ]; then
    suite sanitize "$root/build-asan" -Db_sanitize=address,undefined -Db_lundef=false
fi

if [ -f docker/docker-compose.yml ]; then
    echo "=== docker-compose config ==="
    if docker-compose -f docker/docker-compose.yml config -q; then
        echo "docker/docker-compose.yml: valid"
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi

# ---- container check ---------------------------------------------------------
# scripts/containers.sh builds docker/Dockerfile with podman, runs the compose
# city with podman-compose and checks it (docker/README.md). Each of its
# steps counts; a run that dies before its closing line counts as one failure.
echo "=== containers (podman, podman-compose) ==="
./scripts/containers.sh >"$artifacts/containers.log" 2>&1
grep -E '^(ok|FAIL) ' "$artifacts/containers.log"
line=$(grep -E '^containers: [0-9]+ passed, [0-9]+ failed$' "$artifacts/containers.log" | tail -1)
if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')))
    failed=$((failed + $(echo "$line" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+')))
    grep -q '^FAIL ' "$artifacts/containers.log" && tail -80 "$artifacts/containers.log"
else
    tail -40 "$artifacts/containers.log"
    failed=$((failed + 1))
fi

echo
[ -n "$ha_summary" ] && printf 'HA suite figures (standby brokers on etcd):\n%s' "$ha_summary"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
