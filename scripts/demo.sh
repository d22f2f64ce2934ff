#!/usr/bin/env bash
# Runs the ergrid demo on a fresh Debian 12 machine: installs what is
# missing, builds, starts the city grid on loopback with a token for every
# service and unit (made at start with ergrid-token) and replays the
# reference scenario (scripts/demo.py); prints the viewer and dispatcher
# tokens and the dashboard's link. Pass --no-wait to stop right after, and
# --ha to run Downtown on two brokers over a 3-member etcd (started here, by
# tests/etcd/start.sh) and see its leader die and the standby take over.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
ninja -C build >/dev/null
exec /usr/bin/python3 scripts/demo.py --build build "$@"
