#!/usr/bin/env bash
# cppcheck over every C source of the project (libcoord, api, services,
# bench, tests) with ergrid's configuration: C11, the project's include
# folders, cppcheck's posix/gnu/libcurl/sqlite3 knowledge plus
# tests/tools/cppcheck.cfg (jansson), and the known false positives in
# tests/tools/cppcheck-suppressions.txt. Run once per test run, not per
# build: it reads the sources, not a build.
# Usage: tests/tools/cppcheck.sh   (prints each finding and a summary line;
#        exit status 1 when there is any finding)
set -uo pipefail
cd "$(dirname "$0")/../.."

command -v cppcheck >/dev/null || { echo "cppcheck: not installed (scripts/deps.sh)"; exit 1; }

mapfile -t files < <(find libcoord api services bench tests -name '*.c' \
    -not -path 'tests/tools/include_fixtures/*' | sort)
includes=(-I libcoord -I api)
for d in services/*/; do
    includes+=(-I "${d%/}")
done

out=$(cppcheck --std=c11 --language=c -q -j 2 \
    --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
    --library=posix --library=gnu --library=libcurl --library=sqlite3 \
    --library=tests/tools/cppcheck.cfg \
    --suppressions-list=tests/tools/cppcheck-suppressions.txt \
    "${includes[@]}" \
    --template='{file}:{line}: {severity}: {message} [{id}]' \
    "${files[@]}" 2>&1)
rc=$?
findings=$(printf '%s\n' "$out" | grep -cE '^[^ ]+:[0-9]+: ')
[ -n "$out" ] && printf '%s\n' "$out"
# A failure that printed no finding (a bad option, a crash) still counts.
[ "$rc" -ne 0 ] && [ "$findings" -eq 0 ] && findings=1
echo "cppcheck: ${#files[@]} files, $findings findings"
[ "$findings" -eq 0 ]
