#!/usr/bin/env bash
# A REST API as MCP tools, end to end: start a demo CRM, import its
# integration, connect an account, create a read-only scoped server, then
# list and call tools over MCP. Run from anywhere: examples/rest-integration/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"

step "start the demo CRM (Python standard library)"
crm_port=$(free_port)
python3 "$here/demo_upstream.py" "$crm_port" >"$work/crm.log" 2>&1 &
pids+=($!)
wait_http "$crm_port" /contacts
echo "CRM on http://127.0.0.1:$crm_port"

step "start mcpgate"
start_gateway "$here/mcpgate.toml"

step "import the integration: mcpgate integration import democrm.yaml"
"$MCPGATE" integration import "$here/democrm.yaml"

step "connect an account (the CRM's token is sealed in the store)"
account=$("$MCPGATE" account create --integration democrm --name "Acme CRM" \
    --base-url "http://127.0.0.1:$crm_port" --auth bearer:demo-crm-token)
echo "account $account"

step "create a read-only server over it: --methods read"
created=$("$MCPGATE" server create --name crm-read --account "$account" --methods read --output json)
url=$(json_field url <<<"$created")
token=$(json_field token <<<"$created")
echo "server URL: $url"

step "tools/list (create_a_democrm_contact is out of scope)"
mcp_init "$GATEWAY/mcp" "$token"
tools=$(mcp_tools)
echo "$tools"
grep -qx list_all_democrm_contacts <<<"$tools" || die "list tool missing"
grep -q create_a_democrm_contact <<<"$tools" && die "the read scope leaked a write tool"

step "tools/call list_all_democrm_contacts {limit: 2}, then the next page"
page=$(mcp_call list_all_democrm_contacts '{"limit": 2}')
json_field result.structuredContent <<<"$page"
cursor=$(json_field result.structuredContent.next_cursor <<<"$page")
next=$(mcp_call list_all_democrm_contacts "{\"limit\": 2, \"next_cursor\": \"$cursor\"}")
json_field result.structuredContent <<<"$next"
grep -q 'Katherine Johnson' <<<"$next" || die "second page missing"

step "tools/call get_single_democrm_contact_by_id {id: 2}"
mcp_call get_single_democrm_contact_by_id '{"id": 2}' | json_field result.structuredContent

step "what the CRM saw (the gateway's credential, never the client's token)"
cat "$work/crm.log"
grep -q "$token" "$work/crm.log" && die "the client's token reached the CRM"
grep -q "Bearer demo-crm-token" "$work/crm.log" || die "the CRM saw no account credential"

step "connect Cursor to this server"
"$MCPGATE" client-config --for cursor --url "$url" --token "$token" --name crm-read

echo
echo "rest-integration example: OK"
