//! The stateless era (MCP 2026-07-28) beside the 2025 handshake, on the same
//! endpoints: one test per rule, and the official Python SDK's 2.x client
//! in its automatic and pinned modes.

mod common;

use common::{Gateway, Mcp, Reply, next_message, python};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const VERSION: &str = "2026-07-28";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// A 2026-07-28 request as a conforming client sends it: `_meta` in the
/// params and the headers that repeat the body.
async fn modern(c: &Mcp, id: i64, method: &str, mut params: Value) -> Reply {
    params["_meta"] = meta();
    let name = match method {
        "tools/call" | "prompts/get" => params["name"].as_str().map(str::to_owned),
        "resources/read" => params["uri"].as_str().map(str::to_owned),
        _ => None,
    };
    let mut headers = vec![("mcp-protocol-version", VERSION), ("mcp-method", method)];
    if let Some(name) = &name {
        headers.push(("mcp-name", name));
    }
    // The test toolset's `echo` marks `message` with `x-mcp-header: Message`.
    let message = params["arguments"]["message"].as_str().map(str::to_owned);
    if let Some(message) = &message {
        headers.push(("mcp-param-message", message));
    }
    raw(c, id, method, params, &headers).await
}

/// The headers a conforming client sends with a `tools/call` of `tool`.
fn call_headers(tool: &str) -> [(&str, &str); 3] {
    [
        ("mcp-protocol-version", VERSION),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ]
}

async fn raw(c: &Mcp, id: i64, method: &str, params: Value, headers: &[(&str, &str)]) -> Reply {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    c.post_raw(&body.to_string(), headers).await
}

async fn server(gw: &Gateway) -> (String, Mcp) {
    let (id, token) = gw.create_server("modern").await;
    (id, gw.mcp(&token))
}

#[tokio::test]
async fn discover_says_what_the_server_speaks_and_issues_no_session() {
    let gw = Gateway::start().await;
    let (_, c) = server(&gw).await;
    let r = modern(&c, 1, "server/discover", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("mcp-session-id").is_none());
    let d = &r.json()["result"];
    assert_eq!(d["resultType"], "complete");
    assert_eq!(
        d["supportedVersions"],
        json!([VERSION, "2025-11-25", "2025-06-18", "2025-03-26"])
    );
    for list in ["tools", "prompts", "resources"] {
        assert_eq!(d["capabilities"][list]["listChanged"], true, "{list}: {d}");
    }
    // A toolset server has no prompts: the list is empty, with cache hints.
    let prompts = modern(&c, 2, "prompts/list", json!({})).await;
    assert_eq!(prompts.status, 200, "{}", prompts.text);
    assert_eq!(prompts.json()["result"]["prompts"], json!([]));
    assert_eq!(prompts.json()["result"]["cacheScope"], "private");
    let completion = modern(&c, 3, "completion/complete", json!({})).await;
    assert_eq!(
        completion.status, 404,
        "no completions here: {}",
        completion.text
    );
    assert!(d["capabilities"].get("logging").is_none());
    assert_eq!(d["cacheScope"], "private");
    assert!(d["ttlMs"].as_u64().unwrap() > 0);
    assert_eq!(
        d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "modern"
    );
}

#[tokio::test]
async fn lists_and_calls_are_served_without_a_session_and_say_their_result_type() {
    let gw = Gateway::start().await;
    let (_, c) = server(&gw).await;
    // Page size 2 in the test config: follow the cursor.
    let first = modern(&c, 1, "tools/list", json!({})).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let page = &first.json()["result"];
    assert_eq!(page["resultType"], "complete");
    assert_eq!(page["cacheScope"], "private");
    assert!(page["ttlMs"].as_u64().is_some());
    let cursor = page["nextCursor"].as_str().unwrap();
    let second = modern(&c, 2, "tools/list", json!({"cursor": cursor})).await;
    let names: Vec<Value> = page["tools"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.json()["result"]["tools"].as_array().unwrap())
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("echo"), json!("sleep"), json!("time")]);

    let call = modern(
        &c,
        3,
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "stateless"}}),
    )
    .await;
    assert_eq!(call.status, 200, "{}", call.text);
    assert!(call.header("mcp-session-id").is_none());
    let result = &call.json()["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["content"][0]["text"], "stateless");
    // A tool error is still a result, not a protocol error.
    let unknown = modern(
        &c,
        4,
        "tools/call",
        json!({"name": "nope", "arguments": {}}),
    )
    .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.error_code(), -32602, "{}", unknown.text);

    // The sandbox twin of the same key speaks it too.
    let twin = Mcp {
        url: format!("{}:test", c.url),
        ..c.clone_to(&gw)
    };
    let r = modern(
        &twin,
        5,
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "twin"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["result"]["resultType"], "complete");

    // And a 2025 session still works on the same endpoint.
    let mut legacy = c.clone_to(&gw);
    legacy.initialize("2025-11-25").await;
    let r = legacy
        .call(
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "old"}}),
        )
        .await;
    assert_eq!(r["content"][0]["text"], "old");
    assert!(
        r.get("resultType").is_none(),
        "2025 results are unchanged: {r}"
    );
}

#[tokio::test]
async fn headers_must_agree_with_the_body() {
    let gw = Gateway::start().await;
    let (_, c) = server(&gw).await;
    let call = |args: Value| json!({"name": "echo", "arguments": args, "_meta": meta()});
    let cases: [(&str, Vec<(&str, &str)>); 6] = [
        (
            "no MCP-Protocol-Version",
            vec![("mcp-method", "tools/call"), ("mcp-name", "echo")],
        ),
        (
            "MCP-Protocol-Version disagrees",
            vec![
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
        ),
        (
            "no Mcp-Method",
            vec![("mcp-protocol-version", VERSION), ("mcp-name", "echo")],
        ),
        (
            "Mcp-Method disagrees",
            vec![
                ("mcp-protocol-version", VERSION),
                ("mcp-method", "tools/list"),
                ("mcp-name", "echo"),
            ],
        ),
        ("Mcp-Name disagrees", call_headers("time").to_vec()),
        (
            "Mcp-Name is broken base64",
            vec![
                ("mcp-protocol-version", VERSION),
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?%%%?="),
            ],
        ),
    ];
    for (what, headers) in cases {
        let r = raw(&c, 1, "tools/call", call(json!({"message": "x"})), &headers).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        assert_eq!(r.error_code(), -32020, "{what}: {}", r.text);
        assert_eq!(r.json()["id"], 1, "{what}: the error names the request");
    }
    // A base64-encoded name ("echo") is decoded before comparing.
    let r = raw(
        &c,
        2,
        "tools/call",
        call(json!({"message": "encoded"})),
        &[
            ("mcp-protocol-version", VERSION),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?ZWNobw==?="),
            ("mcp-param-message", "encoded"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["result"]["content"][0]["text"], "encoded");
}

#[tokio::test]
async fn arguments_marked_x_mcp_header_must_arrive_in_their_header_too() {
    let gw = Gateway::start().await;
    let (_, c) = server(&gw).await;
    let listed = modern(&c, 1, "tools/list", json!({})).await.json();
    assert_eq!(
        listed["result"]["tools"][0]["inputSchema"]["properties"]["message"]["x-mcp-header"],
        "Message",
        "the annotation is listed as the toolset defines it"
    );
    let call =
        |message: &str| json!({"name": "echo", "arguments": {"message": message}, "_meta": meta()});
    let send = |message: &'static str, param: Option<&'static str>| {
        let c = &c;
        async move {
            let mut headers = call_headers("echo").to_vec();
            if let Some(p) = param {
                headers.push(("mcp-param-message", p));
            }
            raw(c, 7, "tools/call", call(message), &headers).await
        }
    };
    // "Hello" as padded base64, and values that only look like base64 are literal.
    for (message, header) in [
        ("Hello", "=?base64?SGVsbG8=?="),
        ("SGVsbG8=", "SGVsbG8="),
        ("=?base64?SGVsbG8=", "=?base64?SGVsbG8="),
    ] {
        let r = send(message, Some(header)).await;
        assert_eq!(r.status, 200, "{header}: {}", r.text);
        assert_eq!(r.json()["result"]["content"][0]["text"], message);
    }
    for (what, header) in [
        ("missing", None),
        ("different", Some("Goodbye")),
        ("unpadded base64", Some("=?base64?SGVsbG8?=")),
        ("non-alphabet base64", Some("=?base64?SGVs!!!bG8=?=")),
    ] {
        let r = send("Hello", header).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        assert_eq!(r.error_code(), -32020, "{what}: {}", r.text);
        assert!(r.text.contains("Mcp-Param-Message"), "{what}: {}", r.text);
    }
}

#[tokio::test]
async fn versions_and_capabilities_are_checked_per_request() {
    let gw = Gateway::start().await;
    let (_, c) = server(&gw).await;
    let future = json!({
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2027-01-01",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    });
    let r = raw(
        &c,
        1,
        "tools/list",
        future,
        &[
            ("mcp-protocol-version", "2027-01-01"),
            ("mcp-method", "tools/list"),
        ],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), -32022);
    let data = &r.json()["error"]["data"];
    assert_eq!(data["requested"], "2027-01-01");
    assert_eq!(data["supported"][0], VERSION);

    let bare = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": VERSION}});
    let r = raw(
        &c,
        2,
        "tools/list",
        bare,
        &[
            ("mcp-protocol-version", VERSION),
            ("mcp-method", "tools/list"),
        ],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), -32602);
    assert!(r.text.contains("clientCapabilities"), "{}", r.text);

    // The header says 2026-07-28 but the body has no _meta.
    let r = raw(
        &c,
        3,
        "tools/list",
        json!({}),
        &[
            ("mcp-protocol-version", VERSION),
            ("mcp-method", "tools/list"),
        ],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), -32602);
}

#[tokio::test]
async fn unknown_and_removed_methods_are_404_and_get_and_delete_are_405() {
    let gw = Gateway::start().await;
    let (_, c) = server(&gw).await;
    for method in [
        "no/such/method",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
    ] {
        let r = modern(&c, 1, method, json!({})).await;
        assert_eq!(r.status, 404, "{method}: {}", r.text);
        assert_eq!(r.error_code(), -32601, "{method}");
    }
    let get = c
        .http
        .get(&c.url)
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    let delete = c
        .http
        .delete(&c.url)
        .header("mcp-protocol-version", VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);
    assert_eq!(delete.headers()["allow"], "POST");
    // Authentication comes first, as in every era.
    let stranger = gw.mcp("mcpg_not_a_key");
    assert_eq!(
        modern(&stranger, 1, "tools/list", json!({})).await.status,
        401
    );
}

/// The next JSON message of an SSE stream, within `secs`.
/// Open a `subscriptions/listen` stream on `url` with `filter`.
async fn listen(http: &reqwest::Client, url: &str, filter: Value) -> reqwest::Response {
    let mut params = json!({ "notifications": filter });
    params["_meta"] = meta();
    let body = json!({"jsonrpc": "2.0", "id": "sub-1", "method": "subscriptions/listen", "params": params});
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "subscriptions/listen")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    resp
}

#[tokio::test]
async fn listen_agrees_to_the_lists_asked_for_and_holds_no_permit() {
    let gw = Gateway::start().await;
    let (_, c) = server(&gw).await;
    let mut resp = listen(
        &c.http,
        &c.url,
        json!({"toolsListChanged": true, "promptsListChanged": true, "resourceSubscriptions": ["file:///x"]}),
    )
    .await;
    let mut buffer = String::new();
    let ack = next_message(&mut resp, &mut buffer, 5)
        .await
        .expect("an acknowledgement");
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "sub-1"
    );
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true, "promptsListChanged": true}),
        "what was asked for, less resource subscriptions (not offered)"
    );
    // The stream holds no concurrency permit: calls go on beside it.
    let r = modern(
        &c,
        9,
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "x"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn listen_announces_list_changes_and_ends_when_the_server_goes() {
    if !python::available() {
        return;
    }
    let upstream = python::start("alpha", "base", python::free_port());
    let gw = Gateway::start().await;
    let portal = common::cloudflare::portal_over(&gw, "alpha", &upstream.url).await;
    let mut resp = listen(&portal.http, &portal.url, json!({"toolsListChanged": true})).await;
    let mut buffer = String::new();
    let ack = next_message(&mut resp, &mut buffer, 5)
        .await
        .expect("an acknowledgement");
    assert_eq!(
        ack["params"]["notifications"]["toolsListChanged"], true,
        "{ack}"
    );

    // An admin hides a tool of the portal: the listener hears of it.
    let base = common::cloudflare::BASE;
    let (status, body) = gw
        .admin(
            Method::PUT,
            &format!("{base}/portals/p"),
            Some(json!({"name": "P", "servers": [{"server_id": "alpha", "disabled_tools": ["hello"]}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let changed = next_message(&mut resp, &mut buffer, 5)
        .await
        .expect("a list_changed notification");
    assert_eq!(changed["method"], "notifications/tools/list_changed");
    assert_eq!(
        changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "sub-1"
    );

    // The portal is deleted (its key with it): the stream ends with the
    // listen result.
    let (status, body) = gw
        .admin(Method::DELETE, &format!("{base}/portals/p"), None)
        .await;
    assert!((200..300).contains(&status), "{body}");
    let end = next_message(&mut resp, &mut buffer, 5)
        .await
        .expect("the listen result");
    assert_eq!(end["id"], "sub-1");
    assert_eq!(end["result"]["resultType"], "complete");
    assert_eq!(
        end["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        "sub-1"
    );
}

/// Run the SDK 2.x client script; its report.
async fn python_client(url: &str, mode: &str, tool: &str, arguments: Value) -> Value {
    python_client_sampling(url, mode, tool, arguments, None).await
}

/// [`python_client`] declaring sampling and answering every question of
/// the server with `reply`, when given.
async fn python_client_sampling(
    url: &str,
    mode: &str,
    tool: &str,
    arguments: Value,
    reply: Option<&str>,
) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/modern/client.py");
    let mut cmd = Command::new(python::modern_python().expect("checked by the caller"));
    cmd.arg(script)
        .arg(url)
        .arg(mode)
        .arg(tool)
        .arg(arguments.to_string());
    if let Some(reply) = reply {
        cmd.arg(reply);
    }
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || cmd.output().unwrap()),
    )
    .await
    .expect("the client finished in time")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{mode}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

#[tokio::test]
async fn the_python_sdk_2_speaks_2026_to_servers_in_auto_and_pinned_modes() {
    if python::modern_python().is_none() {
        return;
    }
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("py2").await;
    let url = gw.url(&format!("/mcp/{token}"));
    for mode in ["auto", VERSION] {
        let report = python_client(&url, mode, "echo", json!({"message": "from sdk 2"})).await;
        assert_eq!(report["era"], "modern", "{mode}: {report}");
        assert_eq!(
            report["tools"],
            json!(["echo", "sleep", "time"]),
            "{mode}: all pages"
        );
        assert_eq!(report["result"]["content"][0]["text"], "from sdk 2");
        assert_eq!(report["result"]["resultType"], "complete");
    }
    assert!(
        gw.served("server/discover").await >= 1,
        "auto mode probed discover"
    );
    assert_eq!(gw.served("initialize").await, 0, "and never fell back");
    // Forced to the handshake, the same client still works.
    let report = python_client(&url, "legacy", "echo", json!({"message": "old way"})).await;
    assert_eq!(report["era"], "legacy");
    assert_eq!(report["result"]["content"][0]["text"], "old way");
    assert_eq!(gw.served("initialize").await, 1);
}

#[tokio::test]
async fn the_python_sdk_2_speaks_2026_to_a_portal_over_a_2025_upstream() {
    if !python::available() || python::modern_python().is_none() {
        return;
    }
    // The upstream is the 1.x SDK's server: handshake era only.
    let upstream = python::start("alpha", "base", python::free_port());
    let gw = Gateway::start().await;
    let portal = common::cloudflare::portal_over(&gw, "alpha", &upstream.url).await;
    for mode in ["auto", VERSION] {
        let report = python_client(&portal.url, mode, "alpha_hello", json!({"who": "ada"})).await;
        assert_eq!(report["era"], "modern", "{mode}: {report}");
        assert!(
            report["tools"]
                .as_array()
                .unwrap()
                .contains(&json!("alpha_hello")),
            "{report}"
        );
        assert_eq!(
            report["result"]["content"][0]["text"], "hello ada from alpha",
            "{report}"
        );
    }
}

/// `_meta` declaring the `sampling` client capability.
fn meta_with_sampling() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
    })
}

/// The first question of an `input_required` reply: its key, the request
/// and the `requestState`.
fn question(reply: &Reply) -> (String, Value, String) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    let paused = reply.json()["result"].clone();
    assert_eq!(paused["resultType"], "input_required", "{paused}");
    let (key, request) = paused["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    let state = paused["requestState"].as_str().unwrap().to_owned();
    (key, request, state)
}

async fn ask(c: &Mcp, id: i64, meta: Value, extra: Value) -> Reply {
    let mut params = json!({"name": "alpha_ask", "arguments": {"question": "6x7?"}, "_meta": meta});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    raw(c, id, "tools/call", params, &call_headers("alpha_ask")).await
}

#[tokio::test]
async fn a_2025_upstreams_sampling_request_becomes_input_required_and_the_answer_goes_back() {
    if !python::available() {
        return;
    }
    let upstream = python::start("alpha", "base", python::free_port());
    let gw = Gateway::start().await;
    let portal = common::cloudflare::portal_over(&gw, "alpha", &upstream.url).await;
    let c = portal.stateless_to(&gw);

    // The upstream asks the client's model; the 2026 client gets the question.
    let first = ask(&c, 1, meta_with_sampling(), json!({})).await;
    let (key, request, state) = question(&first);
    assert_eq!(request["method"], "sampling/createMessage");
    assert_eq!(request["params"]["messages"][0]["content"]["text"], "6x7?");

    // A tampered state is refused; so is a retry that does not answer.
    let tampered = ask(
        &c,
        2,
        meta_with_sampling(),
        json!({"requestState": format!("{state}x"), "inputResponses": {}}),
    )
    .await;
    assert_eq!(tampered.error_code(), -32602, "{}", tampered.text);
    let unanswered = ask(
        &c,
        3,
        meta_with_sampling(),
        json!({"requestState": state, "inputResponses": {}}),
    )
    .await;
    assert_eq!(unanswered.error_code(), -32602, "{}", unanswered.text);
    assert!(unanswered.text.contains(&key), "{}", unanswered.text);

    // The answer goes to the upstream, whose result completes the call.
    let answer =
        json!({"role": "assistant", "content": {"type": "text", "text": "42"}, "model": "m"});
    // Only the key that made the call may continue it: another key of the
    // same portal is told the state is unknown (and the call waits on).
    let (_, servers) = gw.admin(Method::GET, "/server", None).await;
    let server = servers["result"][0]["id"].as_str().unwrap().to_owned();
    let (status, second) = gw
        .admin(
            Method::POST,
            &format!("/server/{server}/keys"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let other = gw.mcp(second["token"].as_str().unwrap());
    let stolen = ask(
        &other,
        40,
        meta_with_sampling(),
        json!({"requestState": state, "inputResponses": {key.clone(): answer.clone()}}),
    )
    .await;
    assert_eq!(stolen.error_code(), -32602, "{}", stolen.text);
    let done = ask(
        &c,
        4,
        meta_with_sampling(),
        json!({"requestState": state, "inputResponses": {key.clone(): answer}}),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let result = &done.json()["result"];
    assert_eq!(result["resultType"], "complete", "{result}");
    assert_eq!(result["content"][0]["text"], "model said: 42");
    // The state was used up.
    let again = ask(
        &c,
        5,
        meta_with_sampling(),
        json!({"requestState": state, "inputResponses": {key: answer}}),
    )
    .await;
    assert_eq!(again.error_code(), -32602, "{}", again.text);

    // A client that did not declare sampling cannot be asked: -32021, HTTP 400.
    let refused = ask(&c, 6, meta(), json!({})).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.error_code(), -32021, "{}", refused.text);
    assert!(
        refused.json()["error"]["data"]["requiredCapabilities"]
            .get("sampling")
            .is_some(),
        "{}",
        refused.text
    );

    // The official SDK's 2026 client resolves it by itself.
    if python::modern_python().is_some() {
        let arguments = json!({"question": "and 6x9?"});
        let report =
            python_client_sampling(&c.url, VERSION, "alpha_ask", arguments, Some("54")).await;
        assert_eq!(report["sampled"], json!(["and 6x9?"]));
        assert_eq!(report["result"]["content"][0]["text"], "model said: 54");
    }
}

#[tokio::test]
async fn a_portal_call_streams_progress_and_only_requested_logs_before_its_result() {
    if !python::available() {
        return;
    }
    let upstream = python::start("alpha", "base", python::free_port());
    let gw = Gateway::start().await;
    let portal = common::cloudflare::portal_over(&gw, "alpha", &upstream.url).await;
    let c = portal.stateless_to(&gw);
    let count = |meta: Value| json!({"name": "alpha_count", "arguments": {"n": 3}, "_meta": meta});
    let headers = call_headers("alpha_count");
    let messages = |r: &Reply| -> Vec<Value> {
        r.text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| serde_json::from_str(d.trim()).unwrap())
            .collect()
    };

    let mut with_token = meta();
    with_token["progressToken"] = json!("p-1");
    let r = raw(&c, 1, "tools/call", count(with_token.clone()), &headers).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let all = messages(&r);
    let progress: Vec<&Value> = all
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{all:?}");
    assert_eq!(progress[0]["params"]["progressToken"], "p-1");
    assert!(
        !all.iter().any(|m| m["method"] == "notifications/message"),
        "no logs unless the request sets logLevel: {all:?}"
    );
    let last = all.last().unwrap();
    assert_eq!(last["id"], 1);
    assert_eq!(last["result"]["resultType"], "complete");
    assert_eq!(last["result"]["content"][0]["text"], "counted to 3");

    // With a logLevel, the upstream's log lines come too.
    with_token["io.modelcontextprotocol/logLevel"] = json!("info");
    let r = raw(&c, 2, "tools/call", count(with_token), &headers).await;
    let all = messages(&r);
    assert!(
        all.iter().any(|m| m["method"] == "notifications/message"),
        "{all:?}"
    );

    // A client that takes only JSON gets the result alone.
    let r = c
        .http
        .post(&c.url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "alpha_count")
        .body(
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": count(meta())})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["result"]["content"][0]["text"], "counted to 3",
        "{body}"
    );
}

#[tokio::test]
async fn mcp_param_headers_are_passed_on_to_upstream_mcp_servers() {
    if !python::available() {
        return;
    }
    let upstream = python::start("alpha", "base", python::free_port());
    let gw = Gateway::start().await;
    let mut portal = common::cloudflare::portal_over(&gw, "alpha", &upstream.url).await;
    // A header the gateway does not know, on a 2026 call…
    let params = json!({"name": "alpha_hello", "arguments": {"who": "ada"}, "_meta": meta()});
    let r = raw(
        &portal.stateless_to(&gw),
        1,
        "tools/call",
        params,
        &[
            ("mcp-protocol-version", VERSION),
            ("mcp-method", "tools/call"),
            ("mcp-name", "alpha_hello"),
            ("mcp-param-region", "eu-west"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["result"]["content"][0]["text"],
        "hello ada from alpha"
    );
    // …and on a 2025 session's call.
    portal.version_header = Some("2025-11-25".into());
    let r = portal
        .post_raw(
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "alpha_hello", "arguments": {"who": "bo"}}})
            .to_string(),
            &[("mcp-param-tenant", "=?base64?YWNtZQ==?=")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let seen = upstream.param_headers_seen();
    assert!(seen.contains("mcp-param-region: eu-west"), "{seen:?}");
    assert!(
        seen.contains("mcp-param-tenant: =?base64?YWNtZQ==?="),
        "passed on as sent: {seen:?}"
    );
}

/// SSE `data:` messages of a reply, in order.
fn sse_messages(r: &Reply) -> Vec<Value> {
    r.text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect()
}

#[tokio::test]
async fn an_upstream_that_speaks_only_2026_is_synced_and_served_to_clients_of_both_eras() {
    if python::modern_python().is_none() {
        return;
    }
    // The 2.x SDK's server, refusing `initialize` with 404/-32601.
    let upstream = python::start_stateless("beta", python::free_port());
    let gw = Gateway::start().await;
    let portal = common::cloudflare::portal_over(&gw, "beta", &upstream.url).await;
    let (_, synced) = gw
        .admin(
            Method::GET,
            &format!("{}/servers/beta", common::cloudflare::BASE),
            None,
        )
        .await;
    let synced = &synced["result"];
    assert_eq!(synced["status"], "ready", "{synced}");
    let tools: Vec<&str> = synced["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        ["hello", "count", "ask", "grow", "locate"],
        "{synced}"
    );
    assert_eq!(synced["prompts"][0]["name"], "greet");

    // A 2025 session: calls, prompts and resources go through statelessly,
    // without the era's fields (`resultType`, the upstream's serverInfo).
    let hello = portal
        .call(
            "tools/call",
            json!({"name": "beta_hello", "arguments": {"who": "ada"}}),
        )
        .await;
    assert_eq!(
        hello["content"][0]["text"], "hello ada from beta",
        "{hello}"
    );
    assert!(hello.get("resultType").is_none(), "{hello}");
    assert!(hello.get("_meta").is_none(), "{hello}");
    let prompt = portal
        .call(
            "prompts/get",
            json!({"name": "beta_greet", "arguments": {"person": "Bo"}}),
        )
        .await;
    assert!(
        prompt["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("Bo"),
        "{prompt}"
    );
    let read = portal
        .call("resources/read", json!({"uri": "fixture://info"}))
        .await;
    assert_eq!(read["contents"][0]["text"], "info of beta", "{read}");
    // The upstream wants `region` in Mcp-Param-Region too; a 2025 client
    // sends no such header, so the gateway writes it.
    let located = portal
        .call(
            "tools/call",
            json!({"name": "beta_locate", "arguments": {"region": "eu-west"}}),
        )
        .await;
    assert_eq!(located["content"][0]["text"], "region eu-west", "{located}");

    // Progress of a stateless upstream reaches the 2025 client's stream.
    let r = portal
        .request(
            2,
            "tools/call",
            json!({"name": "beta_count", "arguments": {"n": 3}, "_meta": {"progressToken": "p"}}),
        )
        .await;
    let all = sse_messages(&r);
    let progress = all
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .count();
    assert_eq!(progress, 3, "{all:?}");
    assert_eq!(
        all.last().unwrap()["result"]["content"][0]["text"],
        "counted to 3"
    );

    // A 2026 client's logLevel reaches the stateless upstream, whose log
    // lines then stream to it with the progress.
    let c = portal.stateless_to(&gw);
    let mut with_logs = meta();
    with_logs["progressToken"] = json!("p");
    with_logs["io.modelcontextprotocol/logLevel"] = json!("info");
    let r = raw(
        &c,
        5,
        "tools/call",
        json!({"name": "beta_count", "arguments": {"n": 2}, "_meta": with_logs}),
        &call_headers("beta_count"),
    )
    .await;
    let all = sse_messages(&r);
    let logs = all
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .count();
    assert_eq!(logs, 2, "{all:?}");
    assert_eq!(
        all.last().unwrap()["result"]["content"][0]["text"],
        "counted to 2"
    );

    // This session declared no sampling, so the upstream says what it needs.
    let refused = portal
        .request(
            3,
            "tools/call",
            json!({"name": "beta_ask", "arguments": {"question": "?"}}),
        )
        .await;
    assert_eq!(refused.error_code(), -32021, "{}", refused.text);
    // To a 2026 client the upstream's -32021 comes with the era's HTTP 400.
    let refused = modern(
        &c,
        4,
        "tools/call",
        json!({"name": "beta_ask", "arguments": {"question": "?"}}),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.error_code(), -32021, "{}", refused.text);

    // The official SDK in both eras, answering the upstream's question:
    // as a 2025 client it gets a sampling request mid-call (bridged from
    // input_required); as a 2026 client, an input_required of the gateway's.
    for (mode, era, reply) in [("legacy", "legacy", "42"), (VERSION, "modern", "54")] {
        let question = json!({"question": format!("6x? ({mode})")});
        let report =
            python_client_sampling(&portal.url, mode, "beta_ask", question, Some(reply)).await;
        assert_eq!(report["era"], era, "{report}");
        assert!(
            report["tools"]
                .as_array()
                .unwrap()
                .contains(&json!("beta_hello"))
        );
        assert_eq!(
            report["sampled"],
            json!([format!("6x? ({mode})")]),
            "{report}"
        );
        assert_eq!(
            report["result"]["content"][0]["text"],
            format!("model said: {reply}"),
            "{report}"
        );
    }
}

#[tokio::test]
async fn a_2026_only_upstreams_list_changes_arrive_by_subscriptions_listen() {
    if python::modern_python().is_none() {
        return;
    }
    let upstream = python::start_stateless("beta", python::free_port());
    let gw = Gateway::start().await;
    let portal = common::cloudflare::portal_over(&gw, "beta", &upstream.url).await;
    assert!(!portal.tool_names().await.contains(&"beta_grown".to_owned()));
    // Give the gateway's listener a moment to open its subscription.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let grown = portal
        .call("tools/call", json!({"name": "beta_grow", "arguments": {}}))
        .await;
    assert_eq!(grown["content"][0]["text"], "grown");
    let names = portal.tool_names_with("beta_grown").await;
    assert!(
        names.contains(&"beta_grown".to_owned()),
        "resynced after the upstream's list_changed: {names:?}"
    );
}

#[tokio::test]
async fn a_2026_client_closing_its_request_cancels_the_2025_upstream_call() {
    if !python::available() {
        return;
    }
    let upstream = python::start("alpha", "base", python::free_port());
    let gw = Gateway::start().await;
    let portal = common::cloudflare::portal_over(&gw, "alpha", &upstream.url).await;
    // `alpha_wait` sleeps a minute unless cancelled; the client gives up
    // after a second and closes the connection.
    let gave_up = gw
        .http
        .post(&portal.url)
        .timeout(Duration::from_secs(1))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "alpha_wait")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "alpha_wait", "arguments": {}, "_meta": meta()}})
            .to_string(),
        )
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    // A 2025 upstream stops only on notifications/cancelled.
    let count = python::cancellations(&portal, "alpha", 1).await;
    assert_eq!(count, 1, "the upstream saw the cancellation");
}

/// Issue 17 §7, the stateless side: a portal call answered as a stream holds
/// its key's concurrency permit while it streams, and gives it back as soon
/// as the client closes the stream.
#[tokio::test]
async fn a_streamed_portal_call_holds_its_permit_until_the_client_hangs_up() {
    if !python::available() {
        return;
    }
    let upstream = python::start("alpha", "base", python::free_port());
    let gw = Gateway::start_with(common::Start {
        extra_config: "[limits]\nmax_concurrency = 1\n".into(),
        ..Default::default()
    })
    .await;
    let c = common::cloudflare::portal_over(&gw, "alpha", &upstream.url)
        .await
        .stateless_to(&gw);
    let mut with_token = meta();
    with_token["progressToken"] = json!("p-1");
    // Counting to 100 streams progress for about five seconds.
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "alpha_count", "arguments": {"n": 100}, "_meta": with_token}});
    let mut streaming = gw
        .http
        .post(&c.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .headers(
            call_headers("alpha_count")
                .iter()
                .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                .collect(),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        streaming.chunk().await.unwrap().is_some(),
        "the stream started"
    );
    let busy = modern(&c, 2, "tools/list", json!({})).await;
    assert_eq!(
        busy.status, 429,
        "the streaming call holds the permit: {}",
        busy.text
    );
    drop(streaming);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let free = modern(&c, 3, "tools/list", json!({})).await;
    assert_eq!(free.status, 200, "the permit came back: {}", free.text);
}

#[tokio::test]
async fn a_2026_upstreams_question_reaches_a_2026_client_as_is_and_any_replica_takes_the_answer() {
    if python::modern_python().is_none() {
        return;
    }
    let upstream = python::start_stateless("beta", python::free_port());
    let a = Gateway::start().await;
    let portal = common::cloudflare::portal_over(&a, "beta", &upstream.url).await;
    // Replica B serves the same data directory: same store, same secrets.
    let b = Gateway::start_with(common::Start {
        data_dir: Some(a.data_dir()),
        ..common::Start::default()
    })
    .await;
    let stateless = |gw: &Gateway| portal.stateless_to(gw);
    let (on_a, on_b) = (stateless(&a), stateless(&b));
    let headers = call_headers("beta_ask");
    let ask = |extra: Value| {
        let mut params = json!({"name": "beta_ask", "arguments": {"question": "6x7?"}, "_meta": meta_with_sampling()});
        for (k, v) in extra.as_object().unwrap() {
            params[k] = v.clone();
        }
        params
    };

    // The upstream's own question and state, the state sealed to the key.
    let first = raw(&on_a, 1, "tools/call", ask(json!({})), &headers).await;
    let (key, request, state) = question(&first);
    assert_ne!(key, "input-1", "the upstream's key, not a bridge's");
    assert_eq!(request["method"], "sampling/createMessage");
    assert!(state.starts_with("mcpg-ps-"), "{state}");
    let answer =
        json!({"role": "assistant", "content": {"type": "text", "text": "42"}, "model": "m"});
    let answered = |state: &str| json!({"requestState": state, "inputResponses": {key.clone(): answer.clone()}});

    // Tampered, or another key's: refused.
    let tampered = raw(
        &on_b,
        2,
        "tools/call",
        ask(answered(&format!("{state}x"))),
        &headers,
    )
    .await;
    assert_eq!(tampered.error_code(), -32602, "{}", tampered.text);
    let (_, servers) = a.admin(Method::GET, "/server", None).await;
    let server = servers["result"][0]["id"].as_str().unwrap().to_owned();
    let (_, second) = a
        .admin(
            Method::POST,
            &format!("/server/{server}/keys"),
            Some(json!({})),
        )
        .await;
    let other = a.mcp(second["token"].as_str().unwrap());
    let stolen = raw(&other, 3, "tools/call", ask(answered(&state)), &headers).await;
    assert_eq!(stolen.error_code(), -32602, "{}", stolen.text);

    // The answer, sent to the other replica, completes the call there.
    let done = raw(&on_b, 4, "tools/call", ask(answered(&state)), &headers).await;
    assert_eq!(done.status, 200, "{}", done.text);
    let result = &done.json()["result"];
    assert_eq!(result["resultType"], "complete", "{result}");
    assert_eq!(result["content"][0]["text"], "model said: 42", "{result}");
}
