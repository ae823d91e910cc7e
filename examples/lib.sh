# Shared by the examples' run.sh scripts: build or find mcpgate, start it on
# a free port with a throwaway data directory, and speak MCP with curl.
# Set MCPGATE_BIN to use an already-built binary instead of a release build.

examples_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
die() {
    echo "error: $*" >&2
    exit 1
}

# The mcpgate binary: $MCPGATE_BIN, else a release build of this checkout.
mcpgate_bin() {
    if [[ -n ${MCPGATE_BIN:-} ]]; then
        echo "$MCPGATE_BIN"
        return
    fi
    cargo build --release --locked --quiet --manifest-path "$examples_root/Cargo.toml" >&2
    echo "${CARGO_TARGET_DIR:-$examples_root/target}/release/mcpgate"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until http://127.0.0.1:$1$2 answers at all (or give up after 20 s).
wait_http() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1$2" && return 0
        sleep 0.2
    done
    die "nothing answered on 127.0.0.1:$1$2"
}

# start_gateway CONFIG: runs mcpgate serve; sets MCPGATE, GATEWAY and exports
# MCPGATE_ENDPOINT / MCPGATE_ADMIN_TOKEN for the CLI.
start_gateway() {
    MCPGATE=$(mcpgate_bin)
    local port
    port=$(free_port)
    export MCPGATE_ADMIN_TOKEN=example-admin-$RANDOM$RANDOM$RANDOM$RANDOM
    export MCPGATE_ENDPOINT=http://127.0.0.1:$port
    GATEWAY=$MCPGATE_ENDPOINT
    "$MCPGATE" serve --config "$1" --listen "127.0.0.1:$port" --data-dir "$work/data" \
        >"$work/gateway.log" 2>&1 &
    pids+=($!)
    wait_http "$port" /readyz
    curl -sf -o /dev/null "$GATEWAY/readyz" || die "the gateway is not ready: $(tail -n 5 "$work/gateway.log")"
    echo "gateway on $GATEWAY (log: $work/gateway.log)"
}

# mcp_init URL TOKEN: initialize; sets MCP_URL, MCP_TOKEN and MCP_SESSION.
mcp_init() {
    MCP_URL=$1
    MCP_TOKEN=$2
    MCP_SESSION=$(curl -sf -D - -o /dev/null "$MCP_URL" -H "Authorization: Bearer $MCP_TOKEN" \
        -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
        -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"example","version":"1"}}}' |
        tr -d '\r' | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}')
    [[ -n $MCP_SESSION ]] || die "initialize gave no session"
    mcp_post '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
}

# mcp_post JSON: one message in the session; prints the answer. A streamed
# (SSE) answer, as portals give for tools/call, is reduced to its response.
mcp_post() {
    curl -sf "$MCP_URL" -H "Authorization: Bearer $MCP_TOKEN" -H "mcp-session-id: $MCP_SESSION" \
        -H 'mcp-protocol-version: 2025-11-25' \
        -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d "$1" |
        python3 -c '
import json, sys
body = sys.stdin.read()
if body.lstrip().startswith("{") or not body.strip():
    print(body, end="")
else:
    messages = [json.loads(l[5:]) for l in body.splitlines() if l.startswith("data:") and l[5:].strip()]
    print(json.dumps([m for m in messages if "id" in m][-1]))'
}

# mcp_call TOOL ARGUMENTS_JSON: prints the tools/call result.
mcp_call() {
    mcp_post "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}"
}

# mcp_tools: prints the tool names, one per line.
mcp_tools() {
    mcp_post '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' |
        python3 -c 'import json, sys; [print(t["name"]) for t in json.load(sys.stdin)["result"]["tools"]]'
}

# json_field PATH: a field of the JSON on stdin ("a.b.0.c").
json_field() {
    python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}
