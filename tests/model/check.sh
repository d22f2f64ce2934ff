#!/usr/bin/env bash
# Model-checks ergrid's protocol with spin (see tests/model/README.md).
#
# The fixed protocol (ergrid.pml without -DTODAY) must pass every check:
# safety (the assertions, in every reachable state) and liveness under weak
# fairness (claims conv and crew, pan -a -f). Today's code (-DTODAY) must
# still show each liveness violation of issue 9 item 10 along its own path
# (claim stuck of each scenario), so the regression evidence stays true: the
# script fails when today's model stops showing one.
#
# Usage: tests/model/check.sh [--long] [--ablate] [--traces]
#   --long    also the configurations that take minutes (full liveness with
#             both units and both jobs, two faults while lending)
#   --ablate  take each rule of the fixed protocol out in turn and report
#             which checks then fail (slow; for the README's table)
#   --traces  rewrite tests/model/traces/*.txt from the trails found
# Installs nothing: needs spin (scripts/deps.sh installs it) and gcc.
# Each search is capped at 1.5 GB (-DMEMLIM); an incomplete search fails.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model=$here/ergrid.pml
long=0 ablate=0 traces=0
for a in "$@"; do
    case $a in
    --long) long=1 ;;
    --ablate) ablate=1 ;;
    --traces) traces=1 ;;
    *) echo "usage: $0 [--long] [--ablate] [--traces]" >&2; exit 2 ;;
    esac
done
for tool in spin gcc; do
    command -v $tool >/dev/null || { echo "check.sh: $tool not found (scripts/deps.sh installs spin)" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/ergrid-model.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0
started=$(date +%s)

# build NAME OPT DEFINES...: generates and compiles pan in $work/NAME
build() {
    local name=$1 opt=$2
    shift 2
    mkdir -p "$work/$name"
    cp "$model" "$work/$name/ergrid.pml"
    (cd "$work/$name" && spin -a "$@" ergrid.pml >spin.log 2>&1 &&
        gcc "$opt" -DMEMLIM=1500 -DCOLLAPSE -DVECTORSZ=2048 -DNFAIR=4 -o pan pan.c >gcc.log 2>&1) ||
        { echo "FAIL $name: spin or gcc failed"; cat "$work/$name"/*.log | tail -20; failed=$((failed + 1)); return 1; }
}

# search NAME CLAIM: runs one search; sets $out and prints its summary
search() {
    local name=$1 claim=$2
    if [ "$claim" = safety ]; then
        out=$(cd "$work/$name" && ./pan -N conv -m200000 2>&1)
    else
        out=$(cd "$work/$name" && ./pan -a -f -N "$claim" -m200000 "${@:3}" 2>&1)
    fi
    summary="$(echo "$out" | grep -Eo '^ *[0-9.e+]+ states, stored( \([0-9.e+]+ visited\))?' | sed 's/^ *//'), $(echo "$out" | grep -Eo 'errors: [0-9]+')"
}

# expect_pass NAME CLAIM...: the fixed protocol's checks
expect_pass() {
    local name=$1 claim
    shift
    for claim in "$@"; do
        search "$name" "$claim"
        if grep -q 'errors: 0' <<<"$out" && ! grep -q 'reached -DMEMLIM bound' <<<"$out"; then
            echo "ok   fixed $name $claim: $summary"
        else
            echo "FAIL fixed $name $claim: $summary"
            echo "$out" | grep -E 'pan:|assert|MEMLIM' | head -5
            failed=$((failed + 1))
        fi
    done
}

# msc DIR: the trail in DIR replayed as a numbered message sequence
msc() {
    (cd "$1" && spin -t $(cat defines) ergrid.pml 2>&1) |
        sed -n -e 's/^ *MSC: //p' -e 's/^ *<<<<<START OF CYCLE>>>>>.*/---- from here the run repeats for ever ----/p' |
        awk '{ if ($0 == last) { n++; next } if (NR > 1) out(); last = $0; n = 1 } END { out() }
             function out() { if (last ~ /^----/) print last; else printf "%3d. %s%s\n", ++k, last, (n > 1 ? "   (x" n ")" : "") }'
}

# expect_found SCEN TITLE PATTERN...: today's model must violate claim stuck
# of SCEN, and the trace must pass through the PATTERNs in order
expect_found() {
    local scen=$1 title=$2 name=today-$1
    shift 2
    build "$name" -O0 -DTODAY -DSCEN_$scen || return
    echo "-DTODAY -DSCEN_$scen" >"$work/$name/defines"
    search "$name" stuck -i
    if ! grep -q 'acceptance cycle' <<<"$out"; then
        echo "FAIL today $scen: no longer finds its violation ($summary)"
        failed=$((failed + 1))
        return
    fi
    local trace=$work/$name/trace.txt missing
    msc "$work/$name" >"$trace"
    # PATTERNs in order; ~PATTERN anywhere; !PATTERN nowhere
    missing=$(printf '%s\n' "$@" | awk -v trace="$trace" '
        /^~/ { any[substr($0, 2)] = 1; next }
        /^!/ { never[substr($0, 2)] = 1; next }
        { want[++n] = $0 }
        END {
            i = 1
            while ((getline line < trace) > 0) {
                if (i <= n && index(line, want[i])) i++
                for (p in any) if (index(line, p)) delete any[p]
                for (p in never) if (index(line, p)) { print "no " p; exit }
            }
            if (i <= n) { print want[i]; exit }
            for (p in any) { print p; exit }
        }')
    if [ -n "$missing" ]; then
        echo "FAIL today $scen: violation found, but its trace does not pass through: $missing"
        failed=$((failed + 1))
        return
    fi
    echo "ok   today $scen finds its violation ($(grep -c '^ *[0-9]*\. ' "$trace") steps): $title"
    if [ $traces = 1 ]; then
        {
            echo "# Issue 9 item 10 ($scen): $title"
            echo "# Today's code: spin -DTODAY -DSCEN_$scen, claim stuck (<>[] STUCK_${scen:0:1}),"
            echo "# counterexample of pan -a -f -i, replayed with spin -t (tests/model/check.sh --traces)."
            echo "# Each step is one atomic action; [file:line] is the code it stands for,"
            echo "# under services/ (broker, executor) or libcoord/, at commit 006100e"
            echo "# (README.md maps each line to the rebuilt broker on main)."
            echo "# (J1,n) is attempt n of job J1; O owns J1 and T1, H (mutual aid) owns T2 and J2."
            echo
            cat "$trace"
        } >"$here/traces/$scen.txt"
    fi
}

echo "=== today's code: the liveness violations of issue 9 item 10 ==="
expect_found A "borrowed unit dies while the claim's 201 is in flight; the pull sees it lost while the attempt is PENDING" \
    "claim (J1,1) on T2 committed" "T2 lost: claim (J1,1) dropped" "pull: T2 is unit_lost" "nothing requeued" \
    "claim answered created_201: J1 attempt 1 ACTIVE on borrowed T2" "repeats for ever"
expect_found A2 "borrowed unit lost and back within one sync interval: the owner never sees it lost" \
    "claim (J1,1) on T2 committed" "T2 lost: claim (J1,1) dropped" "T2 is back" "pull: T2 is available" \
    "repeats for ever" "~ACTIVE on borrowed T2" "!pull: T2 is unit_lost"
expect_found B "stalled terminal: same attempt number, new clock, causality_violation for every report" \
    "T1 holds (J1,1) clock O:1" "number 1 is free again" "assign (J1,1) clock O:2" "same_200; T1 holds (J1,1) clock O:1" \
    "ACTIVE on T1 with clock O:2" "repeats for ever" "causality_409"
expect_found C "home broker drops a lent unit's claim and assigns it its own job, while the owner settles its claim: both brokers hold it" \
    "claim (J1,1) on T2 committed" "T2 stalls" "T2 lost: claim (J1,1) dropped" "J2 attempt 1 ACTIVE on T2" \
    "repeats for ever" "~claim answered created_201: J1 attempt 1 ACTIVE on borrowed T2" "!pull: T2 is unit_lost"
expect_found D "attempt number 1 reused by mutual aid: a phantom attempt 1 on T1, 403 for every report" \
    "T1 holds (J1,1) clock O:1" "number 1 is free again" "claim T2 for (J1,1)" "report of T2 for (J1,1)" \
    "accepted_201" "repeats for ever" "report of T1 for (J1,1) clock 1 -> forbidden_403"
expect_found E "(found by the model) a claim's stale answer overwrites a newer pulled copy" \
    "T2 is unit_lost -> refused_409" "pull: T2 is available" "copy of T2 now says unit_lost" "repeats for ever"

echo "=== the fixed protocol: safety and liveness with weak fairness ==="
# Each scenario's topology and faults, then the wider configurations.
# (lend1 contains every run of scenarios A, A2 and E, so those three run
# on their own with --long only.)
scens="A B C D"
[ $long = 1 ] && scens="A A2 B C D E"
for scen in $scens; do
    build fixed-$scen -O0 -DSCEN_$scen && expect_pass fixed-$scen safety conv crew
done
build own2 -O0 -DHAVE_T2=0 -DHAVE_J2=0 -DFAULTS=2 && expect_pass own2 safety conv crew
build lend1 -O1 -DHAVE_T1=0 -DHAVE_J2=0 -DFAULTS=1 && expect_pass lend1 safety conv crew
if [ $long = 1 ]; then
    build full1 -O2 -DFAULTS=1 && expect_pass full1 safety conv crew
    build lend1j2 -O2 -DHAVE_T1=0 -DFAULTS=1 && expect_pass lend1j2 safety conv crew
    build own3 -O2 -DHAVE_T2=0 -DHAVE_J2=0 -DFAULTS=3 && expect_pass own3 safety conv crew
    # the two fast paths the protocol does not need must not break it
    build lend1-fast -O1 -DHAVE_T1=0 -DHAVE_J2=0 -DFAULTS=1 -DWITH_F3 -DWITH_RETRY &&
        expect_pass lend1-fast safety conv crew
    build own2-fast -O0 -DHAVE_T2=0 -DHAVE_J2=0 -DFAULTS=2 -DWITH_RETRY && expect_pass own2-fast safety conv crew
else
    build full1 -O0 -DFAULTS=1 && expect_pass full1 safety
fi

if [ $ablate = 1 ]; then
    echo "=== ablations: each rule out in turn (FAIL = the rule is needed there) ==="
    for rule in NO_F1 NO_REVQ NO_F2A NO_F2B NO_F3B NO_F3C NO_F6 WITH_F3 WITH_RETRY; do
        for cfg in "A -DSCEN_A" "A2 -DSCEN_A2" "B -DSCEN_B" "C -DSCEN_C" "D -DSCEN_D" "E -DSCEN_E" \
            "own2 -DHAVE_T2=0 -DHAVE_J2=0 -DFAULTS=2" "lend1 -DHAVE_T1=0 -DHAVE_J2=0 -DFAULTS=1"; do
            set -- $cfg
            n="$rule-$1"
            shift
            build "$n" -O0 "$@" -D$rule || continue
            for claim in safety conv crew; do
                search "$n" $claim
                if grep -q 'errors: 0' <<<"$out"; then r=pass; else r=FAIL; fi
                echo "  $rule ${n#*-} $claim: $r ($summary)"
            done
        done
    done
fi

echo "model check: $failed failed, $(($(date +%s) - started)) s"
[ $failed = 0 ]
