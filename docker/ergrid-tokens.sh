#!/bin/sh
# ergrid compose city: the one-shot `tokens` step of docker/docker-compose.yml
# that gives the city its credentials before any service starts. Every
# service listens on 0.0.0.0 in its container, so it must run with --tokens.
#
#   ergrid-tokens.sh CITY_FILE CONSOLE_DIR DIR:ROLE[:SUBJECT]...
#
# For each DIR:ROLE[:SUBJECT], ergrid-token makes a token; the token goes to
# DIR/token (mode 0600, owned by ergrid: that service's --token-file, on its
# own volume) and its hash line to CITY_FILE (the --tokens file every
# service reads, hashes only). CONSOLE_DIR gets viewer.token and
# dispatcher.token for the people at the console, which this step prints.
#
# Runs as root because a named volume first mounted here, at a path the
# image does not have, starts owned by root; each DIR is handed to ergrid.
# A second `up` keeps the tokens it finds; if any token file is missing
# (a volume was removed) the whole set is made again, so no old token is
# left valid.
set -eu

[ $# -ge 3 ] || { echo "usage: $0 CITY_FILE CONSOLE_DIR DIR:ROLE[:SUBJECT]..." >&2; exit 2; }
city=$1 console=$2
shift 2

complete=yes
[ -s "$city" ] && [ -s "$console/viewer.token" ] && [ -s "$console/dispatcher.token" ] || complete=no
for spec in "$@"; do
    [ -s "${spec%%:*}/token" ] || complete=no
done

# mint FILE ROLE [SUBJECT]: FILE gets the token, the city file's draft its line.
mint() {
    file=$1
    shift
    out=$(ergrid-token "$@")
    umask 077
    printf '%s\n' "$out" | sed -n 1p >"$file.new"
    mv "$file.new" "$file"
    printf '%s\n' "$out" | sed -n 2p >>"$city.new"
}

if [ "$complete" = yes ]; then
    echo "tokens: kept the city's tokens from an earlier run ($city)"
else
    mkdir -p "$console" "$(dirname "$city")"
    echo "# ergrid compose city: <sha256 of the token> <role> [<subject>]" >"$city.new"
    for spec in "$@"; do
        dir=${spec%%:*}
        rest=${spec#*:}
        role=${rest%%:*}
        subject=
        [ "$rest" = "$role" ] || subject=${rest#*:}
        chown ergrid:ergrid "$dir"
        chmod 0750 "$dir"
        # shellcheck disable=SC2086 # no subject: no argument
        mint "$dir/token" "$role" $subject
        chown ergrid:ergrid "$dir/token"
    done
    mint "$console/viewer.token" viewer console
    mint "$console/dispatcher.token" dispatcher console
    chmod 0644 "$city.new"
    mv "$city.new" "$city"
    echo "tokens: made $(grep -vc '^#' "$city") tokens; their hashes in $city"
fi
echo "viewer token:     $(cat "$console/viewer.token")"
echo "dispatcher token: $(cat "$console/dispatcher.token")"
echo "dashboard: http://127.0.0.1:7000/#token=$(cat "$console/viewer.token")"
