//! End-to-end: the Cloudflare-style registry of upstream MCP servers, sync
//! states, drift, and portals proxying to real upstream servers built with
//! the official Python SDK.

mod common;

use common::cloudflare::{BASE, portal, register, sync};
use common::python::{self, Fixture};
use common::{Gateway, Mcp};
use reqwest::Method;
use serde_json::{Value, json};

/// The `alpha` fixture behind a fresh gateway's single-server portal `p`.
async fn alpha_portal() -> (Fixture, Gateway, Mcp) {
    alpha_portal_with(common::Start::default()).await
}

/// [`alpha_portal`] on a gateway started with `start`.
async fn alpha_portal_with(start: common::Start) -> (Fixture, Gateway, Mcp) {
    let alpha = started("alpha");
    let gw = Gateway::start_with(start).await;
    register(&gw, "alpha", &alpha.url).await;
    sync(&gw, "alpha", None).await;
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "alpha"}]}),
    )
    .await;
    (alpha, gw, c)
}

fn started(name: &str) -> Fixture {
    python::start(name, "base", python::free_port())
}

#[tokio::test]
async fn registry_crud_and_sync_states() {
    if !python::available() {
        return;
    }
    let alpha = started("alpha");
    let gw = Gateway::start().await;
    let created = register(&gw, "alpha", &alpha.url).await;
    for field in [
        "id",
        "name",
        "description",
        "hostname",
        "auth_type",
        "status",
        "error",
        "tools",
        "prompts",
        "last_synced",
        "last_successful_sync",
        "created_at",
        "created_by",
        "modified_at",
        "modified_by",
    ] {
        assert!(created.get(field).is_some(), "missing {field}: {created}");
    }
    assert_eq!(created["status"], "waiting");

    let ready = sync(&gw, "alpha", None).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let names: Vec<&str> = ready["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 9);
    assert!(names.contains(&"add") && names.contains(&"hello") && names.contains(&"explode"));
    assert_eq!(ready["prompts"][0]["name"], "greet");
    assert!(ready["last_successful_sync"].is_string());

    // An unreachable host: error, with a structured, retryable error.
    register(&gw, "down", "http://127.0.0.1:9/mcp").await;
    let down = sync(&gw, "down", None).await;
    assert_eq!(down["status"], "error");
    assert!(
        down["error"].as_str().unwrap().contains("cannot reach"),
        "{down}"
    );
    assert_eq!(down["error_detail"]["retryable"], true);
    assert_eq!(down["last_successful_sync"], Value::Null);
    assert!(down["last_synced"].is_string());

    // Validation and missing objects use Cloudflare's envelope.
    let (status, bad) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/servers"),
            Some(json!({"name": "x", "hostname": "ftp://nope", "auth_type": "magic"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(bad["success"], false);
    assert!(
        bad["errors"][0]["code"].is_number() && bad["errors"][0]["path"].is_array(),
        "{bad}"
    );
    let (status, missing) = gw
        .admin(Method::GET, &format!("{BASE}/servers/nope"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(missing["success"], false);
    assert!(missing["errors"][0]["message"].is_string());

    // PUT, list, DELETE (answering with the deleted object).
    let (status, put) = gw
        .admin(Method::PUT, &format!("{BASE}/servers/alpha"), Some(json!({"name": "Alpha", "hostname": alpha.url, "auth_type": "unauthenticated", "description": "first"})))
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["result"]["name"], "Alpha");
    let (_, list) = gw
        .admin(Method::GET, &format!("{BASE}/servers"), None)
        .await;
    assert_eq!(list["result"].as_array().unwrap().len(), 2);
    let (status, deleted) = gw
        .admin(Method::DELETE, &format!("{BASE}/servers/down"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(deleted["result"]["id"], "down");
    let (status, _) = gw
        .admin(Method::GET, &format!("{BASE}/servers/down"), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_portal_aggregates_two_upstreams_with_prefixes() {
    if !python::available() {
        return;
    }
    let (alpha, beta) = (started("alpha"), started("beta"));
    let gw = Gateway::start().await;
    register(&gw, "alpha", &alpha.url).await;
    register(&gw, "beta", &beta.url).await;
    sync(&gw, "alpha", None).await;
    sync(&gw, "beta", None).await;
    let c = portal(
        &gw,
        json!({"id": "both", "name": "Both", "servers": [
            {"server_id": "alpha", "disabled_tools": ["count", "wait", "cancellations", "ask", "authorization_seen", "current_log_level"]},
            {"server_id": "beta", "default_disabled": true, "enabled_tools": ["add", "hello"]}
        ]}),
    )
    .await;
    let mut names = c.tool_names().await;
    names.sort();
    assert_eq!(
        names,
        [
            "alpha_add",
            "alpha_explode",
            "alpha_hello",
            "beta_add",
            "beta_hello"
        ]
    );

    let r = c
        .call(
            "tools/call",
            json!({"name": "alpha_hello", "arguments": {"who": "ada"}}),
        )
        .await;
    assert_eq!(r["content"][0]["text"], "hello ada from alpha", "{r}");
    let r = c
        .call(
            "tools/call",
            json!({"name": "beta_add", "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert_eq!(r["content"][0]["text"], "5");
    let r = c
        .call(
            "tools/call",
            json!({"name": "alpha_explode", "arguments": {}}),
        )
        .await;
    assert_eq!(r["isError"], true, "tool errors pass through: {r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("boom from alpha")
    );
    let r = c
        .request(
            9,
            "tools/call",
            json!({"name": "beta_explode", "arguments": {}}),
        )
        .await;
    assert_eq!(r.error_code(), -32602, "a disabled tool is unknown");

    let prompts = c.call("prompts/list", json!({})).await;
    let pnames: Vec<&str> = prompts["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(pnames, ["alpha_greet", "beta_greet"]);
    let got = c
        .call(
            "prompts/get",
            json!({"name": "beta_greet", "arguments": {"person": "Bob"}}),
        )
        .await;
    assert!(
        got["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("Bob"),
        "{got}"
    );
    let resources = c.call("resources/list", json!({})).await;
    assert_eq!(resources["resources"][0]["uri"], "fixture://info");
    let read = c
        .call("resources/read", json!({"uri": "fixture://info"}))
        .await;
    assert_eq!(read["contents"][0]["text"], "info of alpha");
    let missing = c
        .request(10, "resources/read", json!({"uri": "fixture://nope"}))
        .await;
    assert_eq!(missing.error_code(), -32002);
}

#[tokio::test]
async fn a_failing_upstream_is_isolated() {
    if !python::available() {
        return;
    }
    let (alpha, beta) = (started("alpha"), started("beta"));
    let gw = Gateway::start().await;
    register(&gw, "alpha", &alpha.url).await;
    register(&gw, "beta", &beta.url).await;
    register(&gw, "never", "http://127.0.0.1:9/mcp").await;
    sync(&gw, "alpha", None).await;
    sync(&gw, "beta", None).await;
    sync(&gw, "never", None).await;
    let c = portal(
        &gw,
        json!({"id": "mixed", "name": "Mixed", "servers": [
            {"server_id": "alpha"}, {"server_id": "beta"}, {"server_id": "never"}
        ]}),
    )
    .await;
    assert_eq!(
        c.tool_names().await.len(),
        18,
        "the unreachable upstream contributes nothing"
    );
    drop(alpha);
    let r = c
        .call(
            "tools/call",
            json!({"name": "alpha_hello", "arguments": {"who": "x"}}),
        )
        .await;
    assert_eq!(r["isError"], true);
    assert!(
        r["content"][0]["text"].as_str().unwrap().contains("alpha"),
        "{r}"
    );
    let r = c
        .call(
            "tools/call",
            json!({"name": "beta_hello", "arguments": {"who": "x"}}),
        )
        .await;
    assert_eq!(
        r["content"][0]["text"], "hello x from beta",
        "the others keep working"
    );
}

#[tokio::test]
async fn drifted_tools_are_withheld_by_pinned_portals_until_accepted() {
    if !python::available() {
        return;
    }
    let port = python::free_port();
    let original = python::start("drifty", "base", port);
    let gw = Gateway::start().await;
    register(&gw, "drifty", &original.url).await;
    let first = sync(&gw, "drifty", None).await;
    assert_eq!(first["changes"], json!([]));
    let pinned = portal(
        &gw,
        json!({"id": "pinned", "name": "Pinned", "pin_tools": true, "prefix": false,
        "servers": [{"server_id": "drifty"}]}),
    )
    .await;
    let open = portal(
        &gw,
        json!({"id": "open", "name": "Open", "prefix": false,
        "servers": [{"server_id": "drifty"}]}),
    )
    .await;
    assert!(
        pinned.tool_names().await.contains(&"add".to_owned()),
        "no prefix on a single-server portal"
    );

    // The upstream rewrites `add`'s description.
    drop(original);
    let _changed = python::start("drifty", "changed", port);
    let after = sync(&gw, "drifty", None).await;
    assert_eq!(after["changes"][0]["tool"], "add", "{after}");
    assert_eq!(after["changes"][0]["change"], "modified");
    let withheld = pinned.tool_names().await;
    assert!(!withheld.contains(&"add".to_owned()), "{withheld:?}");
    assert!(withheld.contains(&"hello".to_owned()));
    let r = pinned
        .request(
            4,
            "tools/call",
            json!({"name": "add", "arguments": {"a": 1, "b": 1}}),
        )
        .await;
    assert_eq!(r.error_code(), -32602);
    assert!(
        open.tool_names().await.contains(&"add".to_owned()),
        "unpinned portals follow the upstream"
    );

    let accepted = sync(&gw, "drifty", Some(json!({"accept_changes": true}))).await;
    assert_eq!(accepted["changes"], json!([]));
    assert!(pinned.tool_names().await.contains(&"add".to_owned()));
    let tools = pinned.call("tools/list", json!({})).await;
    let add = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "add")
        .unwrap();
    assert!(
        add["description"]
            .as_str()
            .unwrap()
            .contains("evil.example.com"),
        "the accepted version is served"
    );
}

#[tokio::test]
async fn portals_crud_and_validation() {
    if !python::available() {
        return;
    }
    let alpha = started("alpha");
    let gw = Gateway::start().await;
    register(&gw, "alpha", &alpha.url).await;
    let (status, bad) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/portals"),
            Some(json!({"name": "x", "servers": [{"server_id": "ghost"}]})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        bad["errors"][0]["path"],
        json!(["servers", "0", "server_id"])
    );
    let (status, created) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/portals"),
            Some(json!({"id": "p1", "name": "P1", "servers": [{"server_id": "alpha"}]})),
        )
        .await;
    assert_eq!(status, 201);
    let token = created["result"]["token"].as_str().unwrap().to_owned();
    let (_, got) = gw
        .admin(Method::GET, &format!("{BASE}/portals/p1"), None)
        .await;
    assert!(got["result"].get("token").is_none());
    assert!(!got.to_string().contains(&token));
    let (status, _) = gw
        .admin(Method::DELETE, &format!("{BASE}/servers/alpha"), None)
        .await;
    assert_eq!(status, 409, "an upstream in use by a portal stays");
    let (status, deleted) = gw
        .admin(Method::DELETE, &format!("{BASE}/portals/p1"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(deleted["result"]["id"], "p1");
    let mut c = gw.mcp(&token);
    let r = c.post(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})).await;
    assert_eq!(r.status, 401, "the portal's key died with it");
    c.session = None;
}

/// Read an SSE body into its JSON messages.
fn sse_messages(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
                .collect();
            (!data.is_empty()).then(|| serde_json::from_str(&data.join("\n")).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn progress_and_logs_are_relayed_in_order_then_the_result() {
    if !python::available() {
        return;
    }
    let (_alpha, gw, c) = alpha_portal().await;
    let count_logs = |r: &common::Reply| {
        sse_messages(&r.text)
            .iter()
            .filter(|m| m["method"] == "notifications/message")
            .count()
    };
    let count = json!({"jsonrpc":"2.0","id":"call-0","method":"tools/call",
        "params":{"name":"alpha_count","arguments":{"n":3},"_meta":{"progressToken":"tok-0"}}});
    // Issue 17 §10: a session that never asked for logs gets none.
    let r = c.post(count.clone()).await;
    assert_eq!(count_logs(&r), 0, "{}", r.text);
    // Above the level it asked for, none either (the fixture logs at info).
    c.call("logging/setLevel", json!({"level": "warning"}))
        .await;
    let r = c.post(count).await;
    assert_eq!(count_logs(&r), 0, "{}", r.text);
    c.call("logging/setLevel", json!({"level": "info"})).await;
    let r = c
        .post(json!({"jsonrpc":"2.0","id":"call-1","method":"tools/call",
            "params":{"name":"alpha_count","arguments":{"n":3},"_meta":{"progressToken":"tok-7"}}}))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/event-stream"),
        "{:?}",
        r.headers
    );
    let messages = sse_messages(&r.text);
    let progress: Vec<f64> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            assert_eq!(
                m["params"]["progressToken"], "tok-7",
                "the client's token is kept"
            );
            m["params"]["progress"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(progress, [1.0, 2.0, 3.0], "{messages:?}");
    let logs = messages
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .count();
    assert_eq!(logs, 3, "{messages:?}");
    let last = messages.last().unwrap();
    assert_eq!(last["id"], "call-1", "the response comes last");
    assert_eq!(last["result"]["content"][0]["text"], "counted to 3");

    // A client that only takes JSON gets just the result.
    let plain = gw
        .http
        .post(&c.url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-session-id", c.session.as_deref().unwrap())
        .body(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"alpha_count","arguments":{"n":2}}}).to_string())
        .send()
        .await
        .unwrap();
    assert!(
        plain.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "counted to 2");
}

#[tokio::test]
async fn cancellations_are_forwarded_upstream() {
    if !python::available() {
        return;
    }
    let (_alpha, _gw, c) = alpha_portal().await;
    let waiting = tokio::spawn(c.call_detached("alpha_wait", json!({})));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let r = c
        .post(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"user gave up"}}))
        .await;
    assert_eq!(r.status, 202);
    let count = python::cancellations(&c, "alpha", 1).await;
    assert_eq!(count, 1, "the upstream saw the cancellation");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await;
    assert!(ended.is_ok(), "the relay stopped after the cancellation");
}

/// Issue 17 §7: a 2025 client that hangs up during a portal `tools/call`
/// gives its key's concurrency permit back at once and the upstream is told
/// (`notifications/cancelled`) — for a JSON answer and for an SSE one.
#[tokio::test]
async fn a_client_that_hangs_up_frees_its_permit_and_cancels_upstream() {
    if !python::available() {
        return;
    }
    let (_alpha, _gw, c) = alpha_portal_with(common::Start {
        extra_config: "[limits]\nmax_concurrency = 1\n".into(),
        ..Default::default()
    })
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(700))
        .build()
        .unwrap();
    for (round, accept) in [
        (1, "application/json"),
        (2, "application/json, text/event-stream"),
    ] {
        let hung_up = impatient
            .post(&c.url)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-session-id", c.session.as_deref().unwrap())
            .body(
                json!({"jsonrpc":"2.0","id":round,"method":"tools/call",
                "params":{"name":"alpha_wait","arguments":{}}})
                .to_string(),
            )
            .send()
            .await;
        // An SSE answer's headers come at once; its body never does, and
        // reading it runs into the client's timeout too.
        if let Ok(response) = hung_up {
            assert!(
                response.text().await.is_err(),
                "{accept}: the call cannot end"
            );
        }
        // With a limit of one call in flight, the next call is admitted only
        // if the abandoned one gave its permit back; the wait tool runs for
        // a minute unless cancelled.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let count = python::cancellations(&c, "alpha", round).await;
        assert_eq!(count, round, "{accept}: the upstream saw the cancellation");
    }
}

#[tokio::test]
async fn sampling_requests_round_trip_through_the_client() {
    if !python::available() {
        return;
    }
    let alpha = started("alpha");
    let gw = Gateway::start().await;
    register(&gw, "alpha", &alpha.url).await;
    sync(&gw, "alpha", None).await;
    let (status, created) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/portals"),
            Some(json!({"id": "p", "name": "P", "servers": [{"server_id": "alpha"}]})),
        )
        .await;
    assert_eq!(status, 201);
    let url = created["result"]["url"].as_str().unwrap().to_owned();

    // A client that declares sampling.
    let init = gw
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}}).to_string())
        .send()
        .await
        .unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let post = |body: Value| {
        gw.http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .body(body.to_string())
            .send()
    };
    let mut stream = post(json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"alpha_ask","arguments":{"question":"2+2?"}}}))
        .await
        .unwrap();
    // Read the SSE stream until the relayed sampling request arrives.
    let mut text = String::new();
    let request = loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
            .await
            .expect("the sampling request arrives")
            .unwrap()
            .expect("the stream is open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(m) = sse_messages(&text)
            .into_iter()
            .find(|m| m["method"] == "sampling/createMessage")
        {
            break m;
        }
    };
    assert!(
        request["id"].as_str().unwrap().starts_with("mcpg-"),
        "our own id: {request}"
    );
    assert_eq!(request["params"]["messages"][0]["content"]["text"], "2+2?");
    let answer = post(json!({"jsonrpc":"2.0","id":request["id"],"result":{"role":"assistant","content":{"type":"text","text":"four"},"model":"test-model"}}))
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 202);
    while let Some(chunk) = stream.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let last = sse_messages(&text).pop().unwrap();
    assert_eq!(last["id"], 7);
    assert_eq!(
        last["result"]["content"][0]["text"], "model said: four",
        "{last}"
    );
}

#[tokio::test]
async fn sampling_is_refused_for_clients_that_did_not_declare_it() {
    if !python::available() {
        return;
    }
    let (_alpha, _gw, c) = alpha_portal().await;
    let r = c
        .call(
            "tools/call",
            json!({"name": "alpha_ask", "arguments": {"question": "?"}}),
        )
        .await;
    assert_eq!(
        r["isError"], true,
        "the upstream got an error instead of hanging: {r}"
    );
}

#[tokio::test]
async fn the_gateway_sends_its_own_upstream_credential_never_the_clients_token() {
    if !python::available() {
        return;
    }
    let alpha = started("alpha");
    let gw = Gateway::start().await;
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/servers"),
            Some(
                json!({"id": "alpha", "name": "alpha", "hostname": alpha.url,
            "auth_type": "bearer", "auth_credentials": "upstream-secret-42"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        !body.to_string().contains("upstream-secret-42"),
        "credentials are never returned"
    );
    sync(&gw, "alpha", None).await;
    let (_, created) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/portals"),
            Some(json!({"id": "p", "name": "P", "servers": [{"server_id": "alpha"}]})),
        )
        .await;
    let client_token = created["result"]["token"].as_str().unwrap().to_owned();
    let mut c = gw.mcp(&client_token);
    c.initialize("2025-11-25").await;
    let seen = c
        .call(
            "tools/call",
            json!({"name": "alpha_authorization_seen", "arguments": {}}),
        )
        .await;
    let seen = seen["structuredContent"]["result"]
        .as_array()
        .unwrap()
        .clone();
    // The upstream got exactly the gateway's credential for it; echoed
    // back, it is removed before the answer reaches the client.
    assert_eq!(seen, vec![json!("[redacted]")]);
    assert!(
        !seen
            .iter()
            .any(|h| h.as_str().unwrap().contains(&client_token))
    );
}

#[tokio::test]
async fn a_list_changed_notification_triggers_a_resync() {
    if !python::available() {
        return;
    }
    let dynamic = python::start("dyn", "dynamic", python::free_port());
    let gw = Gateway::start().await;
    register(&gw, "dyn", &dynamic.url).await;
    let synced = sync(&gw, "dyn", None).await;
    assert!(
        synced["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "grow")
    );
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "dyn"}]}),
    )
    .await;
    assert!(!c.tool_names().await.contains(&"dyn_grown".to_owned()));
    // Give the gateway's listener a moment to open the upstream's stream.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // A resync opens a new upstream session; the upstream announces that
    // session's changes on its own stream, so the listener must move to it.
    sync(&gw, "dyn", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let r = c
        .call("tools/call", json!({"name": "dyn_grow", "arguments": {}}))
        .await;
    assert_eq!(r["content"][0]["text"], "grown");
    let names = c.tool_names_with("dyn_grown").await;
    assert!(
        names.contains(&"dyn_grown".to_owned()),
        "resynced after list_changed: {names:?}"
    );
    let r = c
        .call("tools/call", json!({"name": "dyn_grown", "arguments": {}}))
        .await;
    assert_eq!(r["content"][0]["text"], "I grew");
}

#[tokio::test]
async fn completions_and_log_levels_reach_the_owning_upstreams() {
    if !python::available() {
        return;
    }
    let (alpha, beta) = (started("alpha"), started("beta"));
    let gw = Gateway::start().await;
    register(&gw, "alpha", &alpha.url).await;
    register(&gw, "beta", &beta.url).await;
    sync(&gw, "alpha", None).await;
    sync(&gw, "beta", None).await;
    let mut c = gw.mcp("unused");
    let (_, created) = gw
        .admin(Method::POST, &format!("{BASE}/portals"), Some(json!({"id": "p", "name": "P", "servers": [{"server_id": "alpha"}, {"server_id": "beta"}]})))
        .await;
    c.url = created["result"]["url"].as_str().unwrap().to_owned();
    let init = c.initialize("2025-11-25").await;
    assert!(init["capabilities"].get("completions").is_some(), "{init}");
    assert!(init["capabilities"].get("logging").is_some(), "{init}");

    let done = c
        .call("completion/complete", json!({"ref": {"type": "ref/prompt", "name": "beta_greet"}, "argument": {"name": "person", "value": "A"}}))
        .await;
    assert_eq!(done["completion"]["values"], json!(["Ada", "Alan"]));
    let bad = c.request(5, "completion/complete", json!({"ref": {"type": "ref/prompt", "name": "nope"}, "argument": {"name": "x", "value": ""}})).await;
    assert_eq!(bad.error_code(), -32602);

    assert_eq!(
        c.call("logging/setLevel", json!({"level": "warning"}))
            .await,
        json!({})
    );
    for tool in ["alpha_current_log_level", "beta_current_log_level"] {
        let r = c
            .call("tools/call", json!({"name": tool, "arguments": {}}))
            .await;
        assert_eq!(r["content"][0]["text"], "warning", "{tool}: {r}");
    }
    let bad = c
        .request(6, "logging/setLevel", json!({"level": "loud"}))
        .await;
    assert_eq!(bad.error_code(), -32602);
}

#[tokio::test]
async fn legacy_http_sse_upstreams_are_reached_through_the_fallback() {
    if !python::available() {
        return;
    }
    let port = python::free_port();
    let _old = python::start("oldie", "sse", port);
    let gw = Gateway::start().await;
    register(&gw, "oldie", &format!("http://127.0.0.1:{port}/sse")).await;
    let synced = sync(&gw, "oldie", None).await;
    assert_eq!(synced["status"], "ready", "{synced}");
    assert!(
        synced["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "hello")
    );
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "oldie"}]}),
    )
    .await;
    let r = c
        .call(
            "tools/call",
            json!({"name": "oldie_hello", "arguments": {"who": "legacy"}}),
        )
        .await;
    assert_eq!(r["content"][0]["text"], "hello legacy from oldie", "{r}");
    let got = c
        .call(
            "prompts/get",
            json!({"name": "oldie_greet", "arguments": {"person": "Ann"}}),
        )
        .await;
    assert!(
        got["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("Ann")
    );
}

#[tokio::test]
async fn ready_turns_stale_when_the_last_success_is_older_than_the_resync_interval() {
    if !python::available() {
        return;
    }
    let alpha = started("alpha");
    let gw = Gateway::start_with(common::Start {
        extra_config: "[upstream]\nmcp_resync_secs = 1\nmcp_periodic_resync = false".into(),
        ..common::Start::default()
    })
    .await;
    register(&gw, "alpha", &alpha.url).await;
    assert_eq!(sync(&gw, "alpha", None).await["status"], "ready");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (_, one) = gw
        .admin(Method::GET, &format!("{BASE}/servers/alpha"), None)
        .await;
    assert_eq!(one["result"]["status"], "stale", "{one}");
    assert_eq!(
        sync(&gw, "alpha", None).await["status"],
        "ready",
        "a sync freshens it"
    );
}

#[tokio::test]
async fn an_upstream_that_forgot_the_session_is_reinitialized_transparently() {
    if !python::available() {
        return;
    }
    let port = python::free_port();
    let first = python::start("phoenix", "base", port);
    let gw = Gateway::start().await;
    register(&gw, "phoenix", &first.url).await;
    sync(&gw, "phoenix", None).await;
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "phoenix"}]}),
    )
    .await;
    let r = c
        .call(
            "tools/call",
            json!({"name": "phoenix_hello", "arguments": {"who": "a"}}),
        )
        .await;
    assert_eq!(r["content"][0]["text"], "hello a from phoenix");
    // A restart loses every session; the gateway's next call gets a 404 and
    // must re-initialize on its own.
    drop(first);
    let _second = python::start("phoenix", "base", port);
    let r = c
        .call(
            "tools/call",
            json!({"name": "phoenix_hello", "arguments": {"who": "b"}}),
        )
        .await;
    assert_eq!(r["content"][0]["text"], "hello b from phoenix", "{r}");
}

#[tokio::test]
async fn each_upstream_has_its_own_timeout() {
    if !python::available() {
        return;
    }
    let alpha = started("alpha");
    let gw = Gateway::start().await;
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/servers"),
            Some(
                json!({"id": "alpha", "name": "alpha", "hostname": alpha.url,
            "auth_type": "unauthenticated", "timeout_secs": 1}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["result"]["timeout_secs"], 1);
    sync(&gw, "alpha", None).await;
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "alpha"}]}),
    )
    .await;
    let started_at = std::time::Instant::now();
    let r = c
        .call("tools/call", json!({"name": "alpha_wait", "arguments": {}}))
        .await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("within 1 s"),
        "{r}"
    );
    assert!(started_at.elapsed() < std::time::Duration::from_secs(5));
    let (status, _) = gw
        .admin(Method::POST, &format!("{BASE}/servers"), Some(json!({"name": "x", "hostname": alpha.url, "auth_type": "unauthenticated", "timeout_secs": 0})))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_portals_twin_simulates_upstream_tools_from_their_output_schema() {
    if !python::available() {
        return;
    }
    let (_alpha, gw, prod) = alpha_portal().await;
    let mut twin = Mcp {
        http: gw.http.clone(),
        url: format!("{}:test", prod.url),
        session: None,
        version_header: None,
    };
    twin.initialize("2025-11-25").await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(
        prod.post(list.clone()).await.text,
        twin.post(list).await.text,
        "same tools/list bytes"
    );
    let r = twin
        .call(
            "tools/call",
            json!({"name": "alpha_add", "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert_eq!(r["_meta"]["io.mcpgate/simulated"], true, "{r}");
    assert!(
        r["structuredContent"]["result"].is_i64(),
        "follows the outputSchema: {r}"
    );
    // `explode` always fails upstream; its twin answers without reaching it.
    let r = twin
        .call(
            "tools/call",
            json!({"name": "alpha_explode", "arguments": {}}),
        )
        .await;
    assert_eq!(r["_meta"]["io.mcpgate/simulated"], true, "{r}");
    assert_ne!(r["isError"], true, "{r}");
    let real = prod
        .call(
            "tools/call",
            json!({"name": "alpha_explode", "arguments": {}}),
        )
        .await;
    assert_eq!(real["isError"], true, "{real}");

    // Recording the portal's real calls: the twin then replays them.
    let (_, servers) = gw.admin(Method::GET, "/server", None).await;
    let server = servers["result"][0]["id"].as_str().unwrap().to_owned();
    let (status, patched) = gw
        .admin(
            Method::PATCH,
            &format!("/server/{server}"),
            Some(json!({"sandbox": {"recording": true}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let hello = json!({"name": "alpha_hello", "arguments": {"who": "ada"}});
    let real = prod.call("tools/call", hello.clone()).await;
    assert_eq!(real["content"][0]["text"], "hello ada from alpha");
    let mut replayed = Value::Null;
    for _ in 0..50 {
        let r = twin.call("tools/call", hello.clone()).await;
        if r["_meta"]["io.mcpgate/replayed"] == true {
            replayed = r;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        replayed["content"][0]["text"], "hello ada from alpha",
        "the recorded answer is replayed: {replayed}"
    );
}
