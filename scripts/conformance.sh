#!/usr/bin/env bash
# Run the official MCP conformance suite against a freshly started gateway
# serving the bundled demo toolset.
#
#   scripts/conformance.sh [--era 2026-07-28] [path/to/mcpgate]
#
# By default the 2025 (handshake) era, with the suite pinned in
# tests/conformance. With --era 2026-07-28, the stateless era's scenarios,
# with the pre-release that carries them (tests/conformance-2026) and its
# baseline of checks that need the suite's own reference server
# (tests/conformance-2026/expected-failures.yaml).
#
# Prints each scenario's result and a closing "N passed, N failed" line; exits
# non-zero when any check fails (for 2026-07-28: any not in the baseline).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
era=2025
if [[ ${1:-} == --era ]]; then
    era=$2
    shift 2
fi
bin=${1:-$root/target/debug/mcpgate}
case $era in
2025)
    suite=$root/tests/conformance
    scenarios=(server-initialize ping tools-list server-sse-multiple-streams dns-rebinding-protection)
    extra=()
    ;;
2026-07-28)
    suite=$root/tests/conformance-2026
    scenarios=(server-stateless tools-list caching http-header-validation
        http-custom-header-server-validation dns-rebinding-protection server-sse-multiple-streams)
    extra=(--spec-version 2026-07-28 --expected-failures "$suite/expected-failures.yaml")
    ;;
*)
    echo "unknown era $era (2025 or 2026-07-28)" >&2
    exit 2
    ;;
esac

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
unexpected=0
for scenario in "${scenarios[@]}"; do
    rc=0
    out=$(cd "$work" && timeout 120 "$suite/node_modules/.bin/conformance" server --url "$url" \
        --scenario "$scenario" "${extra[@]}" 2>&1) || rc=$?
    [[ $rc -eq 0 ]] || unexpected=$((unexpected + 1))
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
    if [[ $rc -ne 0 ]]; then
        echo "$out" | sed 's/^/    /' | sed "s/$token/<token>/g"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

if [[ $era == 2025 ]]; then
    echo "conformance: $passed passed, $failed failed"
    [[ $failed -eq 0 ]]
else
    echo "conformance ($era): $passed passed, $failed failed (the failures are the baseline's: checks that need the suite's reference server)"
    [[ $unexpected -eq 0 ]]
fi
