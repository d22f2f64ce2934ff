#!/usr/bin/env bash
# Lints openapi.yaml with @redocly/cli (the recommended rules, .redocly.yaml)
# and @stoplight/spectral-cli (spectral:oas, .spectral.yaml), installed from
# npm at the versions pinned in tests/contract/package-lock.json. npm ci runs
# only when that lock changed since the last install (a stamp in
# node_modules), so a repeated run costs the two linters' few seconds.
# Prints one line per linter, "redocly: N errors, N warnings, N ignored" and
# "spectral: N errors, N warnings", and exits non-zero on any finding.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

stamp=node_modules/.ergrid-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1 ||
        { cat npm-ci.log; echo "npm ci failed" >&2; exit 1; }
    rm -f npm-ci.log
    echo "$want" >"$stamp"
fi

cd "$root"
rc=0
# Node 20 gets a banner about its end of life on stderr: not a finding.
out=$(tests/contract/node_modules/.bin/redocly lint --config .redocly.yaml openapi.yaml \
    --format=json 2>/dev/null)
if ! line=$(printf '%s' "$out" | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin)["totals"]
print("redocly: %d errors, %d warnings, %d ignored" % (t["errors"], t["warnings"], t["ignored"]))
sys.exit(1 if t["errors"] or t["warnings"] else 0)'); then
    rc=1
    tests/contract/node_modules/.bin/redocly lint --config .redocly.yaml openapi.yaml \
        --format=stylish 2>/dev/null
fi
echo "${line:-redocly: no report}"

out=$(tests/contract/node_modules/.bin/spectral lint -r .spectral.yaml openapi.yaml -f json \
    --quiet 2>/dev/null)
if ! line=$(printf '%s' "$out" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
e = sum(1 for x in d if x["severity"] == 0)
w = len(d) - e
print("spectral: %d errors, %d warnings" % (e, w))
sys.exit(1 if d else 0)'); then
    rc=1
    tests/contract/node_modules/.bin/spectral lint -r .spectral.yaml openapi.yaml
fi
echo "${line:-spectral: no report}"
exit $rc
