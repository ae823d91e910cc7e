#!/usr/bin/env bash
# Follow the README's quickstart word for word on a fresh clone.
#
#   scripts/quickstart.sh
#
# Clones the repository's committed HEAD into a temporary directory, then runs
# every `sh` block of the README's "## Quickstart" section (up to the next
# `## ` heading) as written, in order. Only the placeholders a person
# would fill in are replaced: <bootstrap token> and <admin token> with the
# token the gateway printed, <token> with the server token the CLI printed,
# and <HubSpot private app token> with a dummy (HubSpot is never called).
# `cargo run --release -- serve` runs in the background; the README's other
# command, `scripts/test.sh`, is the suite this script belongs to and is only
# checked to be the one .ci/run calls. The release build shares this
# checkout's target/ as a cache (CARGO_TARGET_DIR); nothing else is shared.
#
# The README's gateway listens on 127.0.0.1:8080, and a reader may well have
# it running while they run the tests, so the replay never uses that port:
# it serves on a free one through the documented environment overrides
# (MCPGATE_LISTEN for `serve`, MCPGATE_ENDPOINT for the admin commands) and
# reads 127.0.0.1:8080 in the README's commands as that address.
#
# Then, beyond the README's blocks, it checks what those commands print for
# a newcomer: hints spelled `cargo run --release -- …` (no `mcpgate` on
# PATH), client-config entries named after the server, VS Code's token
# prompt, an MCP Inspector command current releases accept (run, with the
# pinned Inspector, when tests/clients is installed), and a log without
# colour codes when stderr is a file.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
serve_pid=
cleanup() {
    if [[ -n $serve_pid ]]; then
        kill "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "quickstart: FAILED: $*" >&2
    exit 1
}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
    echo "quickstart: 127.0.0.1:8080 is in use (a gateway from the README?); the replay serves on 127.0.0.1:$port and leaves it alone" >&2
fi

git clone --quiet "$root" "$work/clone"
cd "$work/clone"
export CARGO_TARGET_DIR=$root/target
unset MCPGATE_ADMIN_TOKEN MCPGATE_ENDPOINT MCPGATE_DATA_DIR MCPGATE_CONFIG MCPGATE_LISTEN NO_COLOR
export MCPGATE_LISTEN=127.0.0.1:$port MCPGATE_ENDPOINT=http://127.0.0.1:$port
gw=http://127.0.0.1:$port

# The README's sh blocks in the quickstart, one file each.
awk -v dir="$work" '
    /^## / { on = 0 }
    /^## Quickstart/ { on = 1 }
    on && /^```sh$/ { n++; inblock = 1; next }
    inblock && /^```$/ { inblock = 0; next }
    inblock { print > (dir "/block" n ".sh") }
' README.md
blocks=$(ls "$work"/block*.sh | wc -l)
[[ $blocks -ge 4 ]] || fail "expected at least 4 sh blocks in the README's quickstart, found $blocks"

# Block 1: the two commands.
first=$(sed -n 1p "$work/block1.sh" | sed 's/[[:space:]]*#.*$//')
second=$(sed -n 2p "$work/block1.sh" | sed 's/[[:space:]]*#.*$//')
[[ $first == "cargo run --release -- serve" ]] || fail "block 1, line 1 is not the serve command: $first"
[[ $second == "scripts/test.sh" ]] || fail "block 1, line 2 is not scripts/test.sh: $second"
grep -q '^scripts/test.sh$' .ci/run || fail ".ci/run does not call scripts/test.sh"

echo "quickstart: \$ $first   (background; building in release mode)" >&2
bash -c "$first" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
token=
for _ in $(seq 1 1800); do
    token=$(grep -oE '^ +mcpg_[A-Za-z0-9_-]+$' "$work/serve.err" | tr -d ' ' | head -n1 || true)
    [[ -n $token ]] && grep -q 'server create' "$work/serve.err" && break
    kill -0 "$serve_pid" 2>/dev/null || fail "serve exited: $(tail -n 20 "$work/serve.err")"
    sleep 1
done
[[ -n $token ]] || fail "no bootstrap token printed within 30 minutes"
# Not on the default address, so the next command names it.
grep -q "MCPGATE_ADMIN_TOKEN=$token cargo run --release -- server create --name demo --endpoint $gw\$" "$work/serve.err" ||
    fail "serve did not print the next command to type: $(cat "$work/serve.err")"
for _ in $(seq 1 50); do
    curl -sf "$gw/readyz" >/dev/null && break
    sleep 0.2
done
grep -q "^mcpgate listening on $gw\$" "$work/serve.out" || fail "serve is not on $gw: $(cat "$work/serve.out")"
if grep -q $'\x1b\\[' "$work/serve.err"; then
    fail "serve wrote ANSI colour codes into a file: $(grep -m1 $'\x1b\\[' "$work/serve.err" | cat -v)"
fi

# Run one README block with its placeholders filled; its output to a file.
run_block() {
    local n=$1 out=$2
    local script
    script=$(sed -e "s|<bootstrap token>|$token|g" -e "s|<admin token>|$token|g" \
        -e "s|<HubSpot private app token>|pat-quickstart-dummy|g" \
        -e "s|<token>|${server_token:-}|g" -e "s|127\.0\.0\.1:8080|127.0.0.1:$port|g" "$work/block$n.sh")
    if grep -qE '<[a-zA-Z][a-zA-Z ]*>' <<<"$script"; then
        fail "block $n has a placeholder this script does not know: $(grep -oE '<[a-zA-Z][a-zA-Z ]*>' <<<"$script" | head -n1)"
    fi
    echo "quickstart: block $n:" >&2
    sed 's/^/    $ /' "$work/block$n.sh" >&2
    bash -euo pipefail -c "$script" >"$out" 2>"$out.err" || fail "block $n failed: $(cat "$out.err")"
}

run_block 2 "$work/created"
server_token=$(grep -oE 'Token: +mcpg_[A-Za-z0-9_-]+' "$work/created" | awk '{print $2}')
[[ -n $server_token ]] || fail "server create printed no token: $(cat "$work/created")"
python3 -c '
import json, sys
text = open(sys.argv[1]).read()
c = json.loads(text[text.index("{\n"):])["mcpServers"]["demo"]
assert c["url"] == sys.argv[3] + "/mcp", c
assert c["headers"]["Authorization"] == "Bearer " + sys.argv[2], c
' "$work/created" "$server_token" "$gw" || fail "server create --client cursor printed no Cursor entry \"demo\" with the token header: $(cat "$work/created")"

run_block 3 "$work/claude.json"
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["mcpServers"]["demo"]
assert c["command"] == "npx" and "mcp-remote" in c["args"], c
assert c["env"]["AUTH_HEADER"] == "Bearer " + sys.argv[2], c
' "$work/claude.json" "$server_token" || fail "client-config printed no valid Claude Desktop snippet"

run_block 4 "$work/curl"
grep -q '^HTTP/1.1 200' "$work/curl" || fail "the curl initialize did not answer 200: $(head -n1 "$work/curl")"
grep -q '"protocolVersion":"2025-11-25"' "$work/curl" || fail "the curl initialize did not negotiate 2025-11-25"
grep -qi '^mcp-session-id:' "$work/curl" || fail "no Mcp-Session-Id on the initialize answer"

if [[ -f $work/block5.sh ]]; then
    run_block 5 "$work/hubspot"
    grep -q 'Created server "hubspot-read"' "$work/hubspot" || fail "the REST block created no server: $(cat "$work/hubspot")"
fi

# What the README's commands print for a newcomer, beyond the blocks.
echo "quickstart: the hints a newcomer is shown" >&2
MCPGATE_ADMIN_TOKEN=$token cargo run --quiet --release -- server create --name second >"$work/second" 2>"$work/second.err" ||
    fail "server create failed: $(cat "$work/second.err")"
second_token=$(grep -oE 'Token: +mcpg_[A-Za-z0-9_-]+' "$work/second" | awk '{print $2}')
for client in claude-desktop cursor vscode windsurf inspector; do
    grep -qx "  cargo run --release -- client-config --for $client --url $gw/mcp --token $second_token --name second" "$work/second" ||
        fail "server create did not offer the $client command as \`cargo run --release -- …\` for \"second\": $(cat "$work/second")"
done
# Each offered command runs as printed.
hint() { grep -x "  cargo run --release -- client-config --for $1 .*" "$work/second" | sed 's/^  //'; }
bash -c "$(hint vscode)" >"$work/vscode.json" 2>/dev/null || fail "the VS Code hint failed"
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["servers"]["second"]["headers"]["Authorization"] == "Bearer ${input:second-token}", c
assert c["inputs"][0]["password"] is True, c
assert sys.argv[2] not in json.dumps(c), "the token is in the file"
' "$work/vscode.json" "$second_token" || fail "the VS Code snippet does not ask for the token: $(cat "$work/vscode.json")"
bash -c "$(hint inspector)" >/dev/null 2>"$work/inspector.err" || fail "the Inspector hint failed"
inspector=$(grep -m1 -oE "npx @modelcontextprotocol/inspector --transport http --server-url [^ ]+ --header 'Authorization: Bearer [^']+'" "$work/inspector.err") ||
    fail "client-config --for inspector printed no Inspector 2.x command: $(cat "$work/inspector.err")"
[[ $inspector == "npx @modelcontextprotocol/inspector --transport http --server-url $gw/mcp --header 'Authorization: Bearer $second_token'" ]] ||
    fail "the Inspector command names the wrong server: $inspector"
grep -q 'Node 22.19' "$work/inspector.err" || fail "client-config --for inspector does not say the Node it needs"
# The Inspector command, run with the pinned Inspector (on its Node 22) in
# terminal mode: `--cli` first, then a method.
clients=$root/tests/clients/node_modules
if [[ -x $clients/.bin/mcp-inspector && -x $clients/node/bin/node ]]; then
    pinned=${inspector/npx @modelcontextprotocol\/inspector/$clients/.bin/mcp-inspector --cli}
    PATH=$clients/node/bin:$PATH HOME=$work timeout 120 bash -c "$pinned --method tools/list" >"$work/inspector.out" 2>&1 ||
        fail "the printed Inspector command failed: $(cat "$work/inspector.out")"
    grep -q '"echo"' "$work/inspector.out" || fail "the Inspector listed no tools: $(cat "$work/inspector.out")"
elif [[ ${CI:-} == true ]]; then
    fail "tests/clients/node_modules is missing in CI (scripts/test.sh installs it)"
else
    echo "quickstart: NOTE: tests/clients is not installed; the Inspector command was not run" >&2
fi

echo "quickstart: every README quickstart command ran as written ($blocks blocks, on $gw), and the hints it printed work" >&2
