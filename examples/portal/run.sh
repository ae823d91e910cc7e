#!/usr/bin/env bash
# Two upstream MCP servers behind one portal: register them, sync their
# tools, create a portal, then list and call the prefixed tools over MCP.
# Run from anywhere: examples/portal/run.sh
# Needs python3 with venv; the MCP Python SDK is installed into
# examples/portal/.venv on first run (or set PYTHON to one that has `mcp`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"

python=${PYTHON:-$here/.venv/bin/python}
if [[ ! -x $python ]]; then
    step "install the MCP Python SDK into examples/portal/.venv"
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

step "start two MCP servers: weather and notes"
weather_port=$(free_port)
notes_port=$(free_port)
"$python" "$here/mcp_server.py" weather "$weather_port" >"$work/weather.log" 2>&1 &
pids+=($!)
"$python" "$here/mcp_server.py" notes "$notes_port" >"$work/notes.log" 2>&1 &
pids+=($!)
wait_http "$weather_port" /mcp
wait_http "$notes_port" /mcp

step "start mcpgate"
start_gateway "$here/mcpgate.toml"

step "register both upstreams (each is synced at once)"
"$MCPGATE" upstream add --id weather --name Weather --url "http://127.0.0.1:$weather_port/mcp"
"$MCPGATE" upstream add --id notes --name Notes --url "http://127.0.0.1:$notes_port/mcp"
"$MCPGATE" upstream list

step "create a portal over both"
created=$("$MCPGATE" portal create --name "Team tools" --id team --upstream weather,notes --output json)
url=$(json_field url <<<"$created")
token=$(json_field token <<<"$created")
echo "portal URL: $url"

step "tools/list through the portal: {upstream}_{tool}"
mcp_init "$GATEWAY/mcp" "$token"
tools=$(mcp_tools)
echo "$tools"
for t in weather_forecast weather_alerts notes_add_note notes_list_notes; do
    grep -qx "$t" <<<"$tools" || die "$t missing from the portal"
done

step "call a tool on each upstream"
mcp_call weather_forecast '{"city": "Lisbon"}' | json_field result.content.0.text
mcp_call notes_add_note '{"text": "ship the portal example"}' | json_field result.content.0.text
notes=$(mcp_call notes_list_notes '{}')
json_field result.structuredContent <<<"$notes"
grep -q 'ship the portal example' <<<"$notes" || die "the note did not round-trip"

step "connect Claude Desktop to this portal"
"$MCPGATE" client-config --for claude-desktop --url "$url" --token "$token" --name team

echo
echo "portal example: OK"
