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
cargo test --workspace --locked
scripts/conformance.sh "$root/target/debug/mcpgate"
scripts/conformance-portal.sh "$root/target/debug/mcpgate"
