//! End-to-end: portals in front of an upstream built with the official
//! TypeScript SDK (`tests/ts-upstream`), whose tools ask the client and log
//! on the session's standalone stream — the way TypeScript-SDK servers are
//! written — or on the call's own stream (issue 17 §8).

mod common;

use common::cloudflare::portal_over;
use common::{Gateway, Mcp, next_message, typescript};
use serde_json::{Value, json};
use std::time::Duration;

/// The TypeScript upstream behind a fresh gateway's portal (tools prefixed
/// `ts_`); `None` (skipped) when it is not installed.
async fn ts_portal() -> Option<(common::python::Fixture, Gateway, Mcp)> {
    if !typescript::available() {
        return None;
    }
    let upstream = typescript::start();
    let gw = Gateway::start().await;
    let portal = portal_over(&gw, "ts", &upstream.url).await;
    Some((upstream, gw, portal))
}

/// A 2025 session on the portal `c`, declaring `capabilities`.
async fn session(c: &Mcp, capabilities: Value) -> Mcp {
    let r = c
        .http
        .post(&c.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion":"2025-11-25","capabilities":capabilities,
                "clientInfo":{"name":"e2e","version":"1"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let s = Mcp {
        http: c.http.clone(),
        url: c.url.clone(),
        session: Some(session),
        version_header: Some("2025-11-25".into()),
    };
    let r = s
        .post(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;
    assert_eq!(r.status, 202);
    s
}

/// A `tools/call` on `s` as an SSE stream.
async fn call(s: &Mcp, id: i64, tool: &str, arguments: Value, meta: Value) -> reqwest::Response {
    s.http
        .post(&s.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", s.session.as_deref().unwrap())
        .header("mcp-protocol-version", "2025-11-25")
        .body(
            json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
                "params":{"name":tool,"arguments":arguments,"_meta":meta}})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
}

/// Every message of the call `id` on `resp` up to its response (the last).
async fn until_response(resp: &mut reqwest::Response, buffer: &mut String, id: i64) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let m = next_message(resp, buffer, 15)
            .await
            .unwrap_or_else(|| panic!("no response to call {id} within 15 s; saw {seen:?}"));
        let done = m["id"] == id && (m.get("result").is_some() || m.get("error").is_some());
        seen.push(m);
        if done {
            return seen;
        }
    }
}

/// Call `tool`, answer the request it makes of the client with `answer`,
/// and return that request and the call's outcome.
async fn ask_and_answer(s: &Mcp, tool: &str, arguments: Value, answer: Value) -> (Value, Value) {
    let mut resp = call(s, 7, tool, arguments, json!({})).await;
    let mut buffer = String::new();
    let request = next_message(&mut resp, &mut buffer, 15)
        .await
        .unwrap_or_else(|| panic!("{tool}: the upstream's request never reached the client"));
    assert!(request.get("id").is_some(), "{tool}: {request}");
    let r = s
        .post(json!({"jsonrpc":"2.0","id":request["id"],"result":answer}))
        .await;
    assert_eq!(r.status, 202, "{tool}: {}", r.text);
    let outcome = until_response(&mut resp, &mut buffer, 7)
        .await
        .pop()
        .unwrap();
    (request, outcome)
}

/// A 2026-07-28 `tools/call` of `tool` on `c` as a conforming client sends
/// it: `_meta` from `meta` in the params (with the `extra` params), and the
/// headers that repeat the body.
async fn modern_call(
    c: &Mcp,
    id: i64,
    tool: &str,
    args: Value,
    meta: &Value,
    extra: Value,
) -> common::Reply {
    let mut params = json!({"name": tool, "arguments": args, "_meta": meta});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ];
    c.post_raw(&body.to_string(), &headers).await
}

fn text_of(outcome: &Value) -> String {
    outcome["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text result: {outcome}"))
        .to_owned()
}

#[tokio::test]
async fn sampling_and_elicitation_round_trip_on_either_stream() {
    let Some((_upstream, _gw, portal)) = ts_portal().await else {
        return;
    };
    let s = session(&portal, json!({"sampling": {}, "elicitation": {}})).await;

    let said = json!({"role":"assistant","content":{"type":"text","text":"4"},"model":"m","stopReason":"endTurn"});
    // server.createMessage() (standalone stream), then extra.sendRequest (the call's).
    for tool in ["ts_test_sampling", "ts_relay_sample"] {
        let (request, outcome) =
            ask_and_answer(&s, tool, json!({"prompt": "2+2?"}), said.clone()).await;
        assert_eq!(request["method"], "sampling/createMessage", "{tool}");
        assert_eq!(request["params"]["messages"][0]["content"]["text"], "2+2?");
        assert_eq!(request["params"]["maxTokens"], 100);
        assert_eq!(text_of(&outcome), "LLM response: 4", "{tool}");
    }

    let (request, outcome) = ask_and_answer(
        &s,
        "ts_test_elicitation",
        json!({"message": "Who are you?"}),
        json!({"action":"accept","content":{"username":"ann","email":"ann@example.com"}}),
    )
    .await;
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["message"], "Who are you?");
    assert!(
        text_of(&outcome).contains(r#""username":"ann""#),
        "{outcome}"
    );

    // Defaults and enum schemas reach the client intact, on either stream.
    let filled = json!({"action":"accept","content":{"name":"Jane","age":25,"score":88,"status":"inactive","verified":false}});
    for tool in ["ts_test_elicitation_sep1034_defaults", "ts_relay_elicit"] {
        let (request, outcome) = ask_and_answer(&s, tool, json!({}), filled.clone()).await;
        let schema = &request["params"]["requestedSchema"]["properties"];
        assert_eq!(schema["name"]["default"], "John Doe", "{tool}: {request}");
        assert_eq!(schema["score"]["default"], 95.5);
        assert_eq!(
            schema["status"]["enum"],
            json!(["active", "inactive", "pending"])
        );
        assert_eq!(schema["verified"]["default"], true);
        assert!(
            text_of(&outcome).contains(r#""status":"inactive""#),
            "{tool}: {outcome}"
        );
    }
    let (request, outcome) = ask_and_answer(
        &s,
        "ts_test_elicitation_sep1330_enums",
        json!({}),
        json!({"action":"accept","content":{"untitledSingle":"option1","titledSingle":"value1",
            "legacyEnum":"opt1","untitledMulti":["option1"],"titledMulti":["value2"]}}),
    )
    .await;
    let schema = &request["params"]["requestedSchema"]["properties"];
    assert_eq!(
        schema["titledSingle"]["oneOf"][1],
        json!({"const": "value2", "title": "Second"})
    );
    assert_eq!(
        schema["legacyEnum"]["enumNames"],
        json!(["Option One", "Option Two"])
    );
    assert_eq!(schema["titledMulti"]["items"]["anyOf"][0]["title"], "First");
    assert!(
        text_of(&outcome).contains(r#""titledMulti":["value2"]"#),
        "{outcome}"
    );
}

/// An upstream that restarted forgets the gateway's session; the next call
/// opens a new one, and a question the upstream asks on the new session's
/// standalone stream must still arrive — the call waits for the change
/// listener to reopen that stream instead of racing it.
#[tokio::test]
async fn a_question_right_after_the_upstream_restarted_still_arrives() {
    let Some((upstream, _gw, portal)) = ts_portal().await else {
        return;
    };
    let s = session(&portal, json!({"sampling": {}})).await;
    let said = json!({"role":"assistant","content":{"type":"text","text":"4"},"model":"m"});
    let port = upstream.port;
    let mut upstream = upstream;
    for round in 0..3 {
        let (_, outcome) = ask_and_answer(
            &s,
            "ts_test_sampling",
            json!({"prompt": "2+2?"}),
            said.clone(),
        )
        .await;
        assert_eq!(text_of(&outcome), "LLM response: 4", "round {round}");
        drop(upstream);
        upstream = typescript::start_on(port);
    }
}

#[tokio::test]
async fn progress_and_list_changes_of_a_ts_upstream_reach_the_client() {
    let Some((_upstream, _gw, portal)) = ts_portal().await else {
        return;
    };
    let s = session(&portal, json!({})).await;

    let mut resp = call(
        &s,
        3,
        "ts_test_tool_with_progress",
        json!({}),
        json!({"progressToken": "tok"}),
    )
    .await;
    let all = until_response(&mut resp, &mut String::new(), 3).await;
    let progress: Vec<&Value> = all
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{all:?}");
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "tok")
    );
    assert_eq!(progress[2]["params"]["progress"], 100);

    // The tool list changes; the upstream says so on its standalone stream.
    let added = s
        .call(
            "tools/call",
            json!({"name": "ts_add_tool", "arguments": {}}),
        )
        .await;
    assert_eq!(added["content"][0]["text"], "added_1");
    let mut names = Vec::new();
    for _ in 0..100 {
        names = s.tool_names().await;
        if names.iter().any(|n| n == "ts_added_1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(names.iter().any(|n| n == "ts_added_1"), "{names:?}");
}

/// A request on the standalone stream while calls of two clients are in
/// flight cannot be attributed: it is refused at once (no 30 s timeout),
/// and the other client's call is untouched.
#[tokio::test]
async fn a_standalone_request_that_could_be_for_several_clients_is_refused_at_once() {
    let Some((_upstream, _gw, portal)) = ts_portal().await else {
        return;
    };
    let a = session(&portal, json!({"sampling": {}})).await;
    let b = session(&portal, json!({"sampling": {}})).await;
    let mut waiting = call(&a, 1, "ts_relay_wait", json!({}), json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let mut resp = call(&b, 2, "ts_test_sampling", json!({"prompt": "?"}), json!({})).await;
    let outcome = until_response(&mut resp, &mut String::new(), 2)
        .await
        .pop()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(outcome.to_string().contains("several clients"), "{outcome}");
    // A's call is still running and got nothing meant for B.
    let nothing = next_message(&mut waiting, &mut String::new(), 1).await;
    assert!(nothing.is_none(), "{nothing:?}");
}

/// A 2026-07-28 client over the same upstream: the question the upstream
/// asks on its standalone stream comes back as `input_required`.
#[tokio::test]
async fn a_2026_client_answers_a_standalone_stream_question_by_input_required() {
    let Some((_upstream, gw, portal)) = ts_portal().await else {
        return;
    };
    let c = portal.stateless_to(&gw);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
    });
    let ask = |id: i64, extra: Value| {
        modern_call(
            &c,
            id,
            "ts_test_sampling",
            json!({"prompt": "6x7?"}),
            &meta,
            extra,
        )
    };
    let first = ask(1, json!({})).await;
    let paused = first.json()["result"].clone();
    assert_eq!(paused["resultType"], "input_required", "{paused}");
    let (key, request) = paused["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(request["method"], "sampling/createMessage");
    let answer =
        json!({"role": "assistant", "content": {"type": "text", "text": "42"}, "model": "m"});
    let done = ask(
        2,
        json!({"requestState": paused["requestState"], "inputResponses": {key: answer}}),
    )
    .await;
    let result = &done.json()["result"];
    assert_eq!(result["resultType"], "complete", "{result}");
    assert_eq!(result["content"][0]["text"], "LLM response: 42");
}

/// The levels of the log lines among `messages`, in order.
fn log_levels(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| {
            format!(
                "{}/{}",
                m["params"]["logger"].as_str().unwrap(),
                m["params"]["level"].as_str().unwrap()
            )
        })
        .collect()
}

/// Issue 17 §10: an upstream's log lines reach a client only at or above
/// the level it asked for — none if it never asked — on the call's stream
/// and on the standalone stream alike, in both eras. `relay_logs` sends
/// debug, info, warning and error on each, whatever level it was told.
#[tokio::test]
async fn log_lines_reach_a_client_only_at_or_above_its_level() {
    let Some((_upstream, gw, portal)) = ts_portal().await else {
        return;
    };
    let s = session(&portal, json!({})).await;
    let logs = |id: i64| {
        let s = &s;
        async move {
            let mut resp = call(s, id, "ts_relay_logs", json!({}), json!({})).await;
            let all = until_response(&mut resp, &mut String::new(), id).await;
            let mut levels = log_levels(&all);
            levels.sort();
            levels
        }
    };
    assert_eq!(logs(1).await, Vec::<String>::new(), "never asked");
    s.call("logging/setLevel", json!({"level": "warning"}))
        .await;
    // The standalone stream's lines may trail the result: give them a moment.
    let mut seen = logs(2).await;
    for id in 3..6 {
        if seen.len() == 4 {
            break;
        }
        seen = logs(id).await;
    }
    assert_eq!(
        seen,
        [
            "call-stream/error",
            "call-stream/warning",
            "standalone/error",
            "standalone/warning"
        ]
    );

    // 2026-07-28: the request's own `_meta` logLevel.
    let c = portal.stateless_to(&gw);
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let r = modern_call(&c, 10, "ts_relay_logs", json!({}), &meta, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        !r.text.contains("notifications/message"),
        "never asked: {}",
        r.text
    );
    meta["io.modelcontextprotocol/logLevel"] = json!("error");
    let r = modern_call(&c, 11, "ts_relay_logs", json!({}), &meta, json!({})).await;
    let messages: Vec<Value> = r
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect();
    let levels = log_levels(&messages);
    assert!(
        levels.contains(&"call-stream/error".to_owned()),
        "{levels:?}"
    );
    assert!(levels.iter().all(|l| l.ends_with("/error")), "{levels:?}");
}
