#!/usr/bin/env bash
# The official MCP conformance suite (every server scenario) run twice:
# directly against a fixture upstream built with the Python SDK
# (tests/py/conformance_server.py), and through a single-upstream portal of
# a fresh gateway fronting that same fixture. Prints both scores; fails when
# the portal passes fewer checks than the upstream does directly.
#
#   scripts/conformance-portal.sh [path/to/mcpgate]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/debug/mcpgate}
suite=$root/tests/conformance
py=$root/tests/py/.venv/bin/python

[[ -x $bin ]] || cargo build --locked --manifest-path "$root/Cargo.toml" >&2
if [[ ! -x $suite/node_modules/.bin/conformance ]]; then
    (cd "$suite" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
if [[ ! -x $py ]]; then
    python3 -m venv "$root/tests/py/.venv"
    "$root/tests/py/.venv/bin/pip" install --quiet -r "$root/tests/py/requirements.txt"
fi
export PATH="$suite/node_modules/node/bin:$PATH"

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$py" "$root/tests/py/conformance_server.py" "$port" >"$work/fixture.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
    sleep 0.1
done
upstream=http://127.0.0.1:$port/mcp

# The suite fires requests faster than the default per-key rate limit.
cat >"$work/mcpgate.toml" <<'TOML'
[limits]
rate_per_sec = 10000
burst = 10000
max_concurrency = 64
TOML
admin=conformance-admin-$RANDOM$RANDOM$RANDOM
MCPGATE_ADMIN_TOKEN=$admin "$bin" serve --config "$work/mcpgate.toml" \
    --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/stdout" 2>"$work/stderr" &
pids+=($!)
for _ in $(seq 1 100); do
    grep -q '^mcpgate listening on ' "$work/stdout" 2>/dev/null && break
    sleep 0.1
done
base=$(sed -n 's/^mcpgate listening on //p' "$work/stdout")
[[ -n $base ]] || { cat "$work/stderr" >&2; exit 1; }

api="$base/accounts/default/access/ai-controls/mcp"
auth=(-H "Authorization: Bearer $admin" -H 'content-type: application/json')
curl -sf "${auth[@]}" -X POST "$api/servers" \
    -d "{\"id\":\"fixture\",\"name\":\"fixture\",\"hostname\":\"$upstream\",\"auth_type\":\"unauthenticated\"}" >/dev/null
curl -sf "${auth[@]}" -X POST "$api/servers/fixture/sync" >/dev/null
portal=$(curl -sf "${auth[@]}" -X POST "$api/portals" \
    -d '{"id":"conformance","name":"conformance","prefix":false,"servers":[{"server_id":"fixture"}]}')
url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' <<<"$portal")
[[ -n $url ]] || { echo "could not create the portal: $portal" >&2; exit 1; }

run() { # label url
    local out
    out=$(cd "$work" && timeout 600 "$suite/node_modules/.bin/conformance" server --url "$2" 2>&1) || true
    grep -E '^✗' <<<"$out" | sed "s/^/  $1 /" >&2 || true
    grep -E '^Total: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1
}
direct=$(run direct "$upstream")
through=$(run portal "$url")
echo "(direct against the fixture upstream) conformance-direct: ${direct#Total: }"
echo "conformance-portal: ${through#Total: }"
d=$(sed -E 's/^Total: ([0-9]+) passed.*/\1/' <<<"$direct")
g=$(sed -E 's/^Total: ([0-9]+) passed.*/\1/' <<<"$through")
[[ -n $d && -n $g ]] || { echo "no score" >&2; exit 1; }
if (( g < d )); then
    echo "the portal passes fewer checks ($g) than the upstream directly ($d)" >&2
    exit 1
fi
