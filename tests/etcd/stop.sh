#!/usr/bin/env bash
# Stops every member of the cluster in ETCD_DIR with SIGKILL (the data is
# thrown away, and a graceful stop spends seconds handing leadership over to
# members that are stopping too) and removes the directory, unless ETCD_KEEP=1 (for
# reading the members' logs after a failure).
# Usage: stop.sh ETCD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?ETCD_DIR}
[ -f "$dir/members" ] || { echo "stop.sh: $dir is not a cluster made by start.sh" >&2; exit 2; }
members=$(cat "$dir/members")
for ((i = 0; i < members; i++)); do
    "$here/member.sh" "$dir" "$i" kill
done
if [ "${ETCD_KEEP:-0}" != 1 ]; then
    # the janitor (start.sh -o) sees the directory vanish and exits
    rm -rf "$dir"
fi
