#!/usr/bin/env bash
# Follow the README's quickstart word for word on a fresh clone.
#
#   scripts/quickstart.sh
#
# Clones the repository's committed HEAD into a temporary directory, then runs
# every `sh` block of the README between "## Quickstart" and
# "## Documentation" as written, in order. Only the placeholders a person
# would fill in are replaced: <bootstrap token> and <admin token> with the
# token the gateway printed, <token> with the server token the CLI printed,
# and <HubSpot private app token> with a dummy (HubSpot is never called).
# `cargo run --release -- serve` runs in the background; the README's other
# command, `scripts/test.sh`, is the suite this script belongs to and is only
# checked to be the one .ci/run calls. The release build shares this
# checkout's target/ as a cache (CARGO_TARGET_DIR); nothing else is shared.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
serve_pid=
cleanup() {
    if [[ -n $serve_pid ]]; then
        kill "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "quickstart: FAILED: $*" >&2
    exit 1
}

if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
    fail "127.0.0.1:8080 is taken; the README's quickstart needs it (stop what listens there)"
fi

git clone --quiet "$root" "$work/clone"
cd "$work/clone"
export CARGO_TARGET_DIR=$root/target
unset MCPGATE_ADMIN_TOKEN MCPGATE_ENDPOINT MCPGATE_DATA_DIR MCPGATE_CONFIG MCPGATE_LISTEN

# The README's sh blocks in the quickstart, one file each.
awk -v dir="$work" '
    /^## Quickstart/ { on = 1 }
    /^## Documentation/ { on = 0 }
    on && /^```sh$/ { n++; inblock = 1; next }
    inblock && /^```$/ { inblock = 0; next }
    inblock { print > (dir "/block" n ".sh") }
' README.md
blocks=$(ls "$work"/block*.sh | wc -l)
[[ $blocks -ge 4 ]] || fail "expected at least 4 sh blocks in the README's quickstart, found $blocks"

# Block 1: the two commands.
first=$(sed -n 1p "$work/block1.sh" | sed 's/[[:space:]]*#.*$//')
second=$(sed -n 2p "$work/block1.sh" | sed 's/[[:space:]]*#.*$//')
[[ $first == "cargo run --release -- serve" ]] || fail "block 1, line 1 is not the serve command: $first"
[[ $second == "scripts/test.sh" ]] || fail "block 1, line 2 is not scripts/test.sh: $second"
grep -q '^scripts/test.sh$' .ci/run || fail ".ci/run does not call scripts/test.sh"

echo "quickstart: \$ $first   (background; building in release mode)" >&2
bash -c "$first" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
token=
for _ in $(seq 1 1800); do
    token=$(grep -oE '^ +mcpg_[A-Za-z0-9_-]+$' "$work/serve.err" | tr -d ' ' | head -n1 || true)
    [[ -n $token ]] && grep -q 'server create' "$work/serve.err" && break
    kill -0 "$serve_pid" 2>/dev/null || fail "serve exited: $(tail -n 20 "$work/serve.err")"
    sleep 1
done
[[ -n $token ]] || fail "no bootstrap token printed within 30 minutes"
grep -q "MCPGATE_ADMIN_TOKEN=$token cargo run --release -- server create --name demo" "$work/serve.err" ||
    fail "serve did not print the next command to type"
for _ in $(seq 1 50); do
    curl -sf http://127.0.0.1:8080/readyz >/dev/null && break
    sleep 0.2
done

# Run one README block with its placeholders filled; its output to a file.
run_block() {
    local n=$1 out=$2
    local script
    script=$(sed -e "s|<bootstrap token>|$token|g" -e "s|<admin token>|$token|g" \
        -e "s|<HubSpot private app token>|pat-quickstart-dummy|g" \
        -e "s|<token>|${server_token:-}|g" "$work/block$n.sh")
    if grep -qE '<[a-zA-Z][a-zA-Z ]*>' <<<"$script"; then
        fail "block $n has a placeholder this script does not know: $(grep -oE '<[a-zA-Z][a-zA-Z ]*>' <<<"$script" | head -n1)"
    fi
    echo "quickstart: block $n:" >&2
    sed 's/^/    $ /' "$work/block$n.sh" >&2
    bash -euo pipefail -c "$script" >"$out" 2>"$out.err" || fail "block $n failed: $(cat "$out.err")"
}

run_block 2 "$work/created"
server_token=$(grep -oE 'Token: +mcpg_[A-Za-z0-9_-]+' "$work/created" | awk '{print $2}')
[[ -n $server_token ]] || fail "server create printed no token: $(cat "$work/created")"
grep -q '"mcpServers"' "$work/created" || fail "server create --client cursor printed no Cursor snippet"
grep -q "\"Authorization\": \"Bearer $server_token\"" "$work/created" || fail "the Cursor snippet lacks the token header"

run_block 3 "$work/claude.json"
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["mcpServers"]["mcpgate"]
assert c["command"] == "npx" and "mcp-remote" in c["args"], c
assert c["env"]["AUTH_HEADER"] == "Bearer " + sys.argv[2], c
' "$work/claude.json" "$server_token" || fail "client-config printed no valid Claude Desktop snippet"

run_block 4 "$work/curl"
grep -q '^HTTP/1.1 200' "$work/curl" || fail "the curl initialize did not answer 200: $(head -n1 "$work/curl")"
grep -q '"protocolVersion":"2025-11-25"' "$work/curl" || fail "the curl initialize did not negotiate 2025-11-25"
grep -qi '^mcp-session-id:' "$work/curl" || fail "no Mcp-Session-Id on the initialize answer"

if [[ -f $work/block5.sh ]]; then
    run_block 5 "$work/hubspot"
    grep -q 'Created server "hubspot-read"' "$work/hubspot" || fail "the REST block created no server: $(cat "$work/hubspot")"
fi

echo "quickstart: every README quickstart command ran as written ($blocks blocks)" >&2
