#!/usr/bin/env bash
# Run the official MCP conformance suite (pinned in tests/conformance) against
# a freshly started gateway serving the bundled demo toolset.
#
#   scripts/conformance.sh [path/to/mcpgate]
#
# Prints each scenario's result and a closing "N passed, N failed" line; exits
# non-zero when any check fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/debug/mcpgate}
suite=$root/tests/conformance
scenarios=(server-initialize ping tools-list server-sse-multiple-streams dns-rebinding-protection)

if [[ ! -x $bin ]]; then
    echo "building mcpgate…" >&2
    cargo build --locked --manifest-path "$root/Cargo.toml" >&2
fi

# Node >= 22 comes from the npm registry as a package, next to the suite.
if [[ ! -x $suite/node_modules/.bin/conformance || ! -x $suite/node_modules/node/bin/node ]]; then
    echo "installing the conformance suite and Node 22 (npm ci)…" >&2
    (cd "$suite" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
export PATH="$suite/node_modules/node/bin:$PATH"

work=$(mktemp -d)
gateway_pid=
cleanup() {
    [[ -n $gateway_pid ]] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

admin=conformance-admin-$RANDOM$RANDOM$RANDOM
MCPGATE_ADMIN_TOKEN=$admin "$bin" serve --config "$root/config/mcpgate.toml" \
    --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/stdout" 2>"$work/stderr" &
gateway_pid=$!
for _ in $(seq 1 100); do
    grep -q '^mcpgate listening on ' "$work/stdout" 2>/dev/null && break
    sleep 0.1
done
base=$(sed -n 's/^mcpgate listening on //p' "$work/stdout")
if [[ -z $base ]]; then
    echo "the gateway did not start:" >&2
    cat "$work/stderr" >&2
    exit 1
fi

token=$(MCPGATE_ADMIN_TOKEN=$admin "$bin" server create --name conformance --endpoint "$base" --output json |
    sed -n 's/^ *"token": "\(.*\)",\{0,1\}$/\1/p')
[[ -n $token ]] || { echo "could not create a server" >&2; exit 1; }
url=$base/mcp/$token

passed=0
failed=0
for scenario in "${scenarios[@]}"; do
    out=$(cd "$work" && timeout 120 "$suite/node_modules/.bin/conformance" server --url "$url" --scenario "$scenario" 2>&1) || true
    line=$(grep -E '^Passed: [0-9]+/[0-9]+, [0-9]+ failed' <<<"$out" | tail -n 1 || true)
    if [[ -z $line ]]; then
        echo "conformance $scenario: no result"
        echo "$out" | sed 's/^/    /' | sed "s/$token/<token>/g"
        failed=$((failed + 1))
        continue
    fi
    p=$(sed -E 's/^Passed: ([0-9]+)\/([0-9]+), ([0-9]+) failed.*/\1/' <<<"$line")
    f=$(sed -E 's/^Passed: ([0-9]+)\/([0-9]+), ([0-9]+) failed.*/\3/' <<<"$line")
    echo "conformance $scenario: $line"
    if [[ $f -gt 0 ]]; then
        echo "$out" | sed 's/^/    /' | sed "s/$token/<token>/g"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

echo "conformance: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
