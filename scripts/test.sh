#!/usr/bin/env bash
# The whole test suite: unit, end-to-end (real binary over HTTP) and the
# official MCP conformance scenarios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo test --workspace --locked
scripts/conformance.sh "$root/target/debug/mcpgate"
