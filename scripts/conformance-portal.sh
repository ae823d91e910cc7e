#!/usr/bin/env bash
# The official MCP conformance suite run against an upstream built with the
# Python SDK (or the TypeScript SDK), twice: directly, and through a
# single-upstream portal (no prefix) of a fresh gateway fronting it. Prints
# both scores.
#
#   scripts/conformance-portal.sh [--era 2026-07-28 | --upstream ts] [path/to/mcpgate]
#
# 2025 (default): every server scenario of the suite pinned in
# tests/conformance, upstream tests/py/conformance_server.py (SDK 1.x); fails
# when the portal passes fewer checks than the upstream does directly.
#
# --upstream ts: the same, upstream tests/ts-upstream/server.mjs (the
# official TypeScript SDK, pinned, on its pinned Node 22), whose tools ask the
# client (sampling, elicitation) and log on the session's standalone stream,
# as TypeScript-SDK servers do.
#
# 2026-07-28: the stateless scenarios of the pre-release pinned in
# tests/conformance-2026, upstream tests/py/modern/conformance_server.py
# (SDK 2.x, with the diagnostic tools `server-stateless` calls), run for two
# upstreams: one serving both eras (the gateway holds a 2025 session with it
# and bridges its requests into input_required) and the same server refusing
# the handshake (the gateway talks 2026-07-28 to it). Fails when a check
# fails through the portal or the portal passes fewer than the upstream.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
era=2025
upstream=py
if [[ ${1:-} == --era ]]; then
    era=$2
    shift 2
elif [[ ${1:-} == --upstream ]]; then
    upstream=$2
    shift 2
fi
bin=${1:-$root/target/debug/mcpgate}
case $era in
2025)
    suite=$root/tests/conformance
    py=$root/tests/py/.venv/bin/python
    requirements=$root/tests/py/requirements.txt
    fixture=$root/tests/py/conformance_server.py
    kinds=(both-eras)
    scenarios=("")
    extra=()
    ;;
2026-07-28)
    suite=$root/tests/conformance-2026
    py=$root/tests/py/modern/.venv/bin/python
    requirements=$root/tests/py/modern/requirements.txt
    fixture=$root/tests/py/modern/conformance_server.py
    kinds=(both-eras modern-only)
    scenarios=(server-stateless http-custom-header-server-validation tools-list caching
        http-header-validation)
    extra=(--spec-version 2026-07-28)
    ;;
*)
    echo "unknown era $era (2025 or 2026-07-28)" >&2
    exit 2
    ;;
esac

# How to start the fixture upstream: FIXTURE PORT [KIND].
launch=("$py" "$fixture")
case $upstream in
py) ;;
ts)
    [[ $era == 2025 ]] || { echo "the TypeScript SDK upstream speaks the 2025 era only" >&2; exit 2; }
    ts=$root/tests/ts-upstream
    if [[ ! -x $ts/node_modules/node/bin/node || ! -d $ts/node_modules/@modelcontextprotocol/sdk ]]; then
        (cd "$ts" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
    launch=("$ts/node_modules/node/bin/node" "$ts/server.mjs")
    ;;
*)
    echo "unknown upstream $upstream (py or ts)" >&2
    exit 2
    ;;
esac

[[ -x $bin ]] || cargo build --locked --manifest-path "$root/Cargo.toml" >&2
if [[ ! -x $suite/node_modules/.bin/conformance || ! -x $suite/node_modules/node/bin/node ]]; then
    (cd "$suite" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
if [[ ! -x $py ]]; then
    python3 -m venv "$(dirname "$(dirname "$py")")"
    "$(dirname "$py")/pip" install --quiet -r "$requirements"
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

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

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

# run LABEL URL: every scenario; prints "PASSED FAILED WARNINGS", the failed
# checks on stderr.
run() {
    local label=$1 url=$2 passed=0 failed=0 warnings=0 out line s
    for s in "${scenarios[@]}"; do
        local args=(server --url "$url" "${extra[@]}")
        [[ -n $s ]] && args+=(--scenario "$s")
        out=$(cd "$work" && timeout 600 "$suite/node_modules/.bin/conformance" "${args[@]}" 2>&1) || true
        # Failed checks: "✗ …" lines (whole suite) or "[check] FAILURE …" (one scenario).
        sed 's/\x1b\[[0-9;]*m//g' <<<"$out" | grep -E '^ *✗|\] FAILURE ' | sed "s/^ */  $label /" >&2 || true
        if [[ -z $s ]]; then
            line=$(grep -E '^Total: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1 || true)
            [[ -n $line ]] || { echo "$label: no score" >&2; echo "0 999 0"; return; }
            passed=$((passed + $(sed -E 's/^Total: ([0-9]+) passed.*/\1/' <<<"$line")))
            failed=$((failed + $(sed -E 's/^Total: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")))
        else
            line=$(grep -E '^Passed: [0-9]+/[0-9]+, [0-9]+ failed' <<<"$out" | tail -n 1 || true)
            [[ -n $line ]] || { echo "$label $s: no score" >&2; failed=$((failed + 1)); continue; }
            passed=$((passed + $(sed -E 's/^Passed: ([0-9]+)\/.*/\1/' <<<"$line")))
            failed=$((failed + $(sed -E 's/^Passed: [0-9]+\/[0-9]+, ([0-9]+) failed.*/\1/' <<<"$line")))
            warnings=$((warnings + $(sed -nE 's/.*, ([0-9]+) warnings.*/\1/p' <<<"$line" | grep . || echo 0)))
        fi
    done
    echo "$passed $failed $warnings"
}

status=0
for kind in "${kinds[@]}"; do
    port=$(free_port)
    args=("${launch[@]}" "$port")
    [[ $kind == modern-only ]] && args+=(modern-only)
    "${args[@]}" >"$work/fixture-$kind.log" 2>&1 &
    pids+=($!)
    wait_port "$port" || { cat "$work/fixture-$kind.log" >&2; exit 1; }
    upstream=http://127.0.0.1:$port/mcp
    id=fixture-${kind//-/}
    curl -sf "${auth[@]}" -X POST "$api/servers" \
        -d "{\"id\":\"$id\",\"name\":\"$id\",\"hostname\":\"$upstream\",\"auth_type\":\"unauthenticated\"}" >/dev/null
    curl -sf "${auth[@]}" -X POST "$api/servers/$id/sync" >/dev/null
    portal=$(curl -sf "${auth[@]}" -X POST "$api/portals" \
        -d "{\"id\":\"p-$id\",\"name\":\"$id\",\"prefix\":false,\"servers\":[{\"server_id\":\"$id\"}]}")
    url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' <<<"$portal")
    [[ -n $url ]] || { echo "could not create the portal: $portal" >&2; exit 1; }

    read -r dp df dw < <(run direct "$upstream")
    read -r gp gf gw < <(run portal "$url")
    label=""
    [[ $era != 2025 ]] && label=" ($era, upstream $kind)"
    [[ $upstream == ts ]] && label=" (upstream built with the TypeScript SDK)"
    echo "(direct against the fixture upstream) conformance-direct$label: $dp passed, $df failed, $dw warnings"
    echo "conformance-portal$label: $gp passed, $gf failed, $gw warnings"
    if ((gp < dp)); then
        echo "the portal passes fewer checks ($gp) than the upstream directly ($dp)" >&2
        status=1
    fi
    if [[ $era != 2025 ]] && ((gf > 0)); then
        echo "$gf checks fail through the portal" >&2
        status=1
    fi
done
exit $status
