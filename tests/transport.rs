//! End-to-end: every Streamable HTTP rule of the foundation issue, one test
//! each, against the real binary over HTTP.

mod common;

use common::{Gateway, Start};
use serde_json::{Value, json};

async fn ready() -> (Gateway, String) {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("demo").await;
    (gw, token)
}

#[tokio::test]
async fn initialize_echoes_each_supported_version() {
    let (gw, token) = ready().await;
    for v in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let mut c = gw.mcp(&token);
        let result = c.initialize(v).await;
        assert_eq!(result["protocolVersion"], v);
        assert_eq!(result["serverInfo"]["name"], "demo");
    }
}

#[tokio::test]
async fn initialize_offers_latest_for_an_unknown_version() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    let result = c.initialize("2024-11-05").await;
    assert_eq!(result["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn initialize_without_protocol_version_is_invalid_params() {
    let (gw, token) = ready().await;
    let r = gw
        .mcp(&token)
        .post(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}))
        .await;
    assert_eq!(r.error_code(), -32602);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("protocolVersion")
    );
    assert!(r.header("mcp-session-id").is_none());
}

#[tokio::test]
async fn capabilities_advertise_only_tools() {
    let (gw, token) = ready().await;
    let result = gw.mcp(&token).initialize("2025-11-25").await;
    let caps = result["capabilities"].as_object().unwrap();
    assert!(caps.contains_key("tools"));
    assert!(!caps.contains_key("prompts"));
    assert!(!caps.contains_key("resources"));
}

#[tokio::test]
async fn notifications_get_202_without_body() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let r = c
        .post(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}))
        .await;
    assert_eq!(r.status, 202);
    assert!(r.text.is_empty());
}

#[tokio::test]
async fn client_responses_get_202_without_body() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let r = c
        .post(json!({"jsonrpc":"2.0","id":"srv-1","result":{}}))
        .await;
    assert_eq!(r.status, 202);
    assert!(r.text.is_empty());
}

#[tokio::test]
async fn ping_answers_empty_object() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    assert_eq!(c.call("ping", json!({})).await, json!({}));
}

#[tokio::test]
async fn tools_list_pages_with_cursor_in_stable_order() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let walk = || async {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let page = c.call("tools/list", params).await;
            pages += 1;
            for t in page["tools"].as_array().unwrap() {
                assert_eq!(t["inputSchema"]["type"], "object");
                names.push(t["name"].as_str().unwrap().to_owned());
            }
            match page["nextCursor"].as_str() {
                Some(n) => cursor = Some(n.to_owned()),
                None => break,
            }
        }
        (names, pages)
    };
    let (first, pages) = walk().await;
    assert_eq!(first, ["echo", "sleep", "time"]);
    assert_eq!(pages, 2, "page size 2 over 3 tools");
    assert_eq!(walk().await.0, first, "order is stable");
}

#[tokio::test]
async fn bad_cursor_is_invalid_params() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let r = c
        .request(3, "tools/list", json!({"cursor": "not-a-cursor"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.error_code(), -32602);
    assert_eq!(r.json()["id"], 3);
}

#[tokio::test]
async fn tools_call_runs_the_tool() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let result = c
        .call(
            "tools/call",
            json!({"name":"echo","arguments":{"message":"hello"}}),
        )
        .await;
    assert_eq!(result["content"][0], json!({"type":"text","text":"hello"}));
    assert_eq!(result["structuredContent"]["message"], "hello");
}

#[tokio::test]
async fn tool_argument_errors_are_results_not_protocol_errors() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let result = c
        .call("tools/call", json!({"name":"echo","arguments":{}}))
        .await;
    assert_eq!(result["isError"], true);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("message")
    );
}

#[tokio::test]
async fn unknown_tool_is_invalid_params() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let r = c
        .request(4, "tools/call", json!({"name":"nope","arguments":{}}))
        .await;
    assert_eq!(r.error_code(), -32602);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope")
    );
}

#[tokio::test]
async fn malformed_params_are_invalid_params() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let r = c.request(5, "tools/call", json!({"arguments":{}})).await;
    assert_eq!(r.error_code(), -32602);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("name")
    );
}

#[tokio::test]
async fn prompts_and_resources_lists_are_empty() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    assert_eq!(
        c.call("prompts/list", json!({})).await,
        json!({"prompts": []})
    );
    assert_eq!(
        c.call("resources/list", json!({})).await,
        json!({"resources": []})
    );
    assert_eq!(
        c.call("resources/templates/list", json!({})).await,
        json!({"resourceTemplates": []})
    );
}

#[tokio::test]
async fn unknown_method_is_method_not_found() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let r = c.request(6, "sampling/teleport", json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.error_code(), -32601);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sampling/teleport")
    );
}

#[tokio::test]
async fn missing_session_is_400() {
    let (gw, token) = ready().await;
    let r = gw.mcp(&token).request(1, "tools/list", json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), -32600);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Mcp-Session-Id")
    );
}

#[tokio::test]
async fn unknown_session_is_404() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.session = Some("forged-session-id".into());
    let r = c.request(1, "tools/list", json!({})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), -32001);
}

#[tokio::test]
async fn a_session_of_another_server_is_404() {
    let (gw, token_a) = ready().await;
    let (_, token_b) = gw.create_server("other").await;
    let mut a = gw.mcp(&token_a);
    a.initialize("2025-11-25").await;
    let mut b = gw.mcp(&token_b);
    b.session = a.session.clone();
    let r = b.request(1, "tools/list", json!({})).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn delete_ends_the_session_then_404() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let del = c
        .http
        .delete(&c.url)
        .header("mcp-session-id", c.session.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(del.status().as_u16(), 204);
    let r = c.request(1, "ping", json!({})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), -32001);
}

#[tokio::test]
async fn delete_without_session_is_400() {
    let (gw, token) = ready().await;
    let c = gw.mcp(&token);
    let del = c.http.delete(&c.url).send().await.unwrap();
    assert_eq!(del.status().as_u16(), 400);
}

#[tokio::test]
async fn get_without_stream_is_405() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let r = c
        .http
        .get(&c.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", c.session.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "POST, DELETE");
}

#[tokio::test]
async fn missing_version_header_is_treated_as_2025_03_26() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    c.version_header = None;
    let r = c.request(1, "ping", json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"], json!({}));
}

#[tokio::test]
async fn unsupported_version_header_is_400() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    c.version_header = Some("1999-01-01".into());
    let r = c.request(1, "ping", json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), -32600);
    assert_eq!(r.json()["error"]["data"]["requested"], "1999-01-01");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2025-11-25")
    );
}

#[tokio::test]
async fn any_supported_version_header_is_accepted_on_any_session() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    for v in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        c.version_header = Some(v.into());
        assert_eq!(c.call("ping", json!({})).await, json!({}), "{v}");
    }
}

#[tokio::test]
async fn batches_are_accepted_on_2025_03_26_sessions() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-03-26").await;
    let r = c
        .post(json!([
            {"jsonrpc":"2.0","id":1,"method":"ping"},
            {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},
            {"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}}},
            {"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}
        ]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json();
    let items = items.as_array().unwrap();
    assert_eq!(
        items.len(),
        3,
        "the notification gets no response: {items:?}"
    );
    assert_eq!(items[0]["id"], 1);
    assert_eq!(items[0]["result"], json!({}));
    assert_eq!(items[1]["id"], "b");
    assert_eq!(items[1]["result"]["content"][0]["text"], "x");
    assert_eq!(items[2]["id"], 3);
    assert_eq!(
        items[2]["error"]["code"], -32600,
        "initialize may not be batched"
    );
}

#[tokio::test]
async fn a_batch_of_notifications_gets_202() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-03-26").await;
    let r = c
        .post(json!([{"jsonrpc":"2.0","method":"notifications/initialized"}]))
        .await;
    assert_eq!(r.status, 202);
    assert!(r.text.is_empty());
}

#[tokio::test]
async fn batches_are_rejected_on_later_versions() {
    let (gw, token) = ready().await;
    for v in ["2025-06-18", "2025-11-25"] {
        let mut c = gw.mcp(&token);
        c.initialize(v).await;
        let r = c
            .post(json!([{"jsonrpc":"2.0","id":1,"method":"ping"}]))
            .await;
        assert_eq!(r.status, 400, "{v}");
        assert_eq!(r.error_code(), -32600);
        assert!(r.json()["error"]["message"].as_str().unwrap().contains(v));
    }
}

#[tokio::test]
async fn accept_without_json_is_406() {
    let (gw, token) = ready().await;
    let c = gw.mcp(&token);
    let r = c
        .http
        .post(&c.url)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 406);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let (gw, token) = ready().await;
    let c = gw.mcp(&token);
    let r = c
        .http
        .post(&c.url)
        .header("content-type", "text/plain")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
}

#[tokio::test]
async fn foreign_origin_is_403_and_loopback_or_absent_origin_is_allowed() {
    let (gw, token) = ready().await;
    let c = gw.mcp(&token);
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}).to_string();
    let evil = c
        .post_raw(&init, &[("origin", "http://evil.example.com")])
        .await;
    assert_eq!(evil.status, 403);
    assert_eq!(evil.error_code(), -32000);
    let local = c
        .post_raw(&init, &[("origin", "http://localhost:6274")])
        .await;
    assert_eq!(local.status, 200);
    let none = c.post_raw(&init, &[]).await;
    assert_eq!(none.status, 200);
}

#[tokio::test]
async fn configured_origins_are_allowed() {
    let gw = Gateway::start_with(Start {
        extra_config: "[http]\nallowed_origins = [\"https://app.example.com\"]\nallow_loopback_origins = false".into(),
        ..Start::default()
    })
    .await;
    let (_, token) = gw.create_server("demo").await;
    let c = gw.mcp(&token);
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}).to_string();
    assert_eq!(
        c.post_raw(&init, &[("origin", "https://app.example.com")])
            .await
            .status,
        200
    );
    assert_eq!(
        c.post_raw(&init, &[("origin", "http://localhost:1")])
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn invalid_json_is_parse_error() {
    let (gw, token) = ready().await;
    let r = gw
        .mcp(&token)
        .post_raw("{\"jsonrpc\": \"2.0\", ", &[])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), -32700);
    // JSON-RPC 2.0 §5: an id that cannot be read is null.
    assert!(r.json()["id"].is_null(), "{}", r.json());
}

#[tokio::test]
async fn invalid_messages_are_invalid_request() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    for (body, why) in [
        (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, "jsonrpc"),
        (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, "null"),
        (r#"{"jsonrpc":"2.0","id":1}"#, "method"),
        (r#"17"#, "object"),
    ] {
        let r = c.post_raw(body, &[]).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error_code(), -32600, "{body}");
        assert!(
            r.json()["error"]["message"].as_str().unwrap().contains(why),
            "{}",
            r.text
        );
    }
}

#[tokio::test]
async fn ids_of_any_string_or_integer_are_echoed_and_unknown_fields_ignored() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    for id in ["-42", "\"req-α\"", "9007199254740993"] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"ping","params":{{"_meta":{{"x":1}}}},"future":true}}"#
        );
        let r = c.post_raw(&body, &[]).await;
        assert_eq!(r.status, 200);
        assert!(r.text.contains(&format!("\"id\":{id}")), "{}", r.text);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let gw = Gateway::start_with(Start {
        extra_config: "[http]\nmax_body_bytes = 2048".into(),
        ..Start::default()
    })
    .await;
    let (_, token) = gw.create_server("demo").await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let big = "x".repeat(4096);
    let r = c
        .request(
            1,
            "tools/call",
            json!({"name":"echo","arguments":{"message": big}}),
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_code(), -32600);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2048")
    );
    // Just under the limit still works.
    let ok = c
        .request(
            2,
            "tools/call",
            json!({"name":"echo","arguments":{"message":"x".repeat(1500)}}),
        )
        .await;
    assert_eq!(ok.status, 200);
}

/// Issue 17 §10: an error the HTTP layer answers with (before or instead of
/// dispatch, in either era) carries the request's id when the body holds a
/// readable one, and `null` only when it does not.
#[tokio::test]
async fn http_layer_errors_carry_the_request_id() {
    let (gw, token) = ready().await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let session = c.session.clone().unwrap();
    let url = gw.url(&format!("/mcp/{token}"));
    let body = r#"{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/list"}"#;
    let json_accept = ("accept", "application/json, text/event-stream");
    let json_type = ("content-type", "application/json");
    let with_session = ("mcp-session-id", session.as_str());
    // (what is wrong, URL, headers, expected status)
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, u16);
    let cases: Vec<Case> = vec![
        (
            "unknown session",
            url.clone(),
            vec![json_accept, json_type, ("mcp-session-id", "made-up")],
            404,
        ),
        (
            "missing session",
            url.clone(),
            vec![json_accept, json_type],
            400,
        ),
        (
            "bad protocol version",
            url.clone(),
            vec![
                json_accept,
                json_type,
                with_session,
                ("mcp-protocol-version", "1999-01-01"),
            ],
            400,
        ),
        (
            "Accept without JSON",
            url.clone(),
            vec![("accept", "text/event-stream"), json_type, with_session],
            406,
        ),
        (
            "not JSON content",
            url.clone(),
            vec![json_accept, ("content-type", "text/plain"), with_session],
            415,
        ),
        (
            "unknown token",
            gw.url("/mcp/not-a-token"),
            vec![json_accept, json_type],
            401,
        ),
        (
            "refused Origin",
            url.clone(),
            vec![
                json_accept,
                json_type,
                with_session,
                ("origin", "http://evil.example"),
            ],
            403,
        ),
        (
            "2026 header without _meta",
            url.clone(),
            vec![
                json_accept,
                json_type,
                ("mcp-protocol-version", "2026-07-28"),
            ],
            400,
        ),
    ];
    let http = reqwest::Client::new();
    for (label, url, headers, status) in cases {
        let mut req = http.post(&url).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{label}");
        let text = resp.text().await.unwrap();
        // Byte for byte: an id beyond 2^53 survives.
        assert!(text.contains(r#""id":9007199254740993"#), "{label}: {text}");
    }
    // An unreadable id is null, not left out.
    let resp = http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-session-id", "made-up")
        .body(r#"{"jsonrpc":"2.0","method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let v: Value = resp.json().await.unwrap();
    assert!(v.get("id").is_some_and(Value::is_null), "{v}");
}

/// Issue 17 §9: CORS on the MCP endpoints follows the origin settings. An
/// allowed origin's preflight is 2xx and allows what MCP clients of both
/// eras send (including tool-defined `Mcp-Param-*` headers); its answers
/// expose the headers a client must read. A refused origin's preflight is
/// 403 without CORS headers, and the admin API offers no CORS at all.
#[tokio::test]
async fn cors_follows_the_origin_settings() {
    let gw = Gateway::start_with(Start {
        extra_config: "[http]\nallowed_origins = [\"https://app.example.com\"]\n".into(),
        ..Start::default()
    })
    .await;
    let (_, token) = gw.create_server("demo").await;
    let http = reqwest::Client::new();
    let asked = "content-type,authorization,mcp-session-id,mcp-protocol-version,last-event-id,mcp-method,mcp-name,mcp-param-region";
    let preflight = |url: String, origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", asked)
            .send()
    };
    let endpoints = [
        gw.url(&format!("/mcp/{token}")),
        gw.url("/mcp"),
        gw.url("/v1/tenants/default/integrations/any/mcp:call"),
    ];
    for url in &endpoints {
        for origin in ["https://app.example.com", "http://localhost:6274"] {
            let r = preflight(url.clone(), origin).await.unwrap();
            assert!(r.status().is_success(), "{url} {origin}: {}", r.status());
            let h = |name: &str| {
                r.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_ascii_lowercase())
                    .unwrap_or_default()
            };
            assert_eq!(h("access-control-allow-origin"), origin, "{url}");
            assert!(h("access-control-allow-methods").contains("post"), "{url}");
            for header in asked.split(',') {
                assert!(
                    h("access-control-allow-headers").contains(header),
                    "{url}: {header}"
                );
            }
        }
        let refused = preflight(url.clone(), "https://evil.example.com")
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{url}");
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    }

    // Real requests: from an allowed origin, the session id is readable.
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"web","version":"1"}}});
    let post_from = |url: String, origin: &'static str| {
        http.post(url)
            .header("origin", origin)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string())
            .send()
    };
    let allowed_origin = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let r = post_from(endpoints[0].clone(), "https://app.example.com")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        allowed_origin(&r).as_deref(),
        Some("https://app.example.com")
    );
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in ["mcp-session-id", "mcp-protocol-version", "www-authenticate"] {
        assert!(exposed.contains(header), "{exposed}");
    }
    // A 401 is readable too, challenge included.
    let r = post_from(gw.url("/mcp/not-a-token"), "https://app.example.com")
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        allowed_origin(&r).as_deref(),
        Some("https://app.example.com")
    );
    // A refused origin's request stays refused.
    let r = post_from(endpoints[0].clone(), "https://evil.example.com")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(allowed_origin(&r), None);
    // The admin API is not for browsers on other origins.
    let r = preflight(gw.url("/server"), "https://app.example.com")
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
