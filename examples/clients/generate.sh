#!/usr/bin/env bash
# Write a config file for each MCP client with `mcpgate client-config`.
#
#   examples/clients/generate.sh [URL] [TOKEN] [OUT_DIR]
#
# Defaults: the local gateway's /mcp, a placeholder token, and this folder
# (which is how the committed files were made). Pass the URL and token that
# `mcpgate server create` printed to get files you can use as they are.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
url=${1:-http://127.0.0.1:8080/mcp}
token=${2:-<token printed by mcpgate server create>}
out=${3:-$here}
MCPGATE=$(mcpgate_bin)
mkdir -p "$out"
for pair in claude-desktop:claude_desktop_config.json cursor:cursor_mcp.json \
    vscode:vscode_mcp.json windsurf:windsurf_mcp_config.json inspector:inspector_mcp.json; do
    client=${pair%%:*}
    file=${pair#*:}
    "$MCPGATE" client-config --for "$client" --url "$url" --token "$token" --name mcpgate-demo \
        >"$out/$file" 2>/dev/null
    echo "wrote $out/$file ($client)"
done
