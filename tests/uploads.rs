//! Large integration documents through the admin API and the CLI: a
//! multi-megabyte OpenAPI document imports; one over
//! `admin.max_document_bytes` is a 413 that names both sizes and the
//! setting (received whole by the client, not a reset connection), and the
//! CLI says so instead of "cannot reach the gateway … Broken pipe".

mod common;

use common::{ADMIN_TOKEN, Gateway, Start, cli};
use serde_json::{Value, json};

/// An OpenAPI 3 document of `operations` GET operations, each with a long
/// description, so its size is about `operations` × 3 KB.
fn big_document(operations: usize) -> Value {
    let filler = "Returns the widget and everything about it. ".repeat(60);
    let mut paths = serde_json::Map::new();
    for i in 0..operations {
        paths.insert(
            format!("/widgets{i}/{{id}}"),
            json!({"get": {
                "operationId": format!("getWidget{i}"),
                "summary": format!("Get widget {i}"),
                "description": filler,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"id": {"type": "string"}}
                }}}}}
            }}),
        );
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Widgets", "version": "1"},
        "servers": [{"url": "https://widgets.example.com"}],
        "paths": paths,
    })
}

fn size(v: &Value) -> usize {
    serde_json::to_vec(v).unwrap().len()
}

#[tokio::test]
async fn a_document_over_one_megabyte_imports_through_the_api_and_the_cli() {
    let gw = Gateway::start().await;
    let doc = big_document(800);
    assert!(size(&doc) > 2 << 20, "{} bytes", size(&doc));
    let (status, body) = gw
        .admin(
            reqwest::Method::POST,
            "/integration",
            Some(json!({"openapi": doc})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["tools"].as_array().map(Vec::len), Some(800), "{body}");

    let mut other = big_document(800);
    other["info"]["title"] = json!("Gadgets");
    let file = gw.dir.path().join("gadgets.json");
    std::fs::write(&file, serde_json::to_vec(&other).unwrap()).unwrap();
    let out = cli(
        &["integration", "import", file.to_str().unwrap()],
        &[
            ("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("MCPGATE_ENDPOINT", &gw.base),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("800 tools"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn a_document_over_the_configured_limit_is_a_413_the_cli_explains() {
    let gw = Gateway::start_with(Start {
        extra_config: "admin.max_document_bytes = 200000".into(),
        ..Start::default()
    })
    .await;
    let doc = big_document(400);
    let body = serde_json::to_vec(&json!({"openapi": doc})).unwrap();
    assert!(body.len() > 1 << 20);

    // The whole answer arrives: the gateway read (and discarded) the rest
    // of the body before answering.
    let resp = gw
        .http
        .post(gw.url("/integration"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("the client gets an answer, not a reset connection");
    assert_eq!(resp.status(), 413);
    let answer: Value = resp.json().await.unwrap();
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(answer["error"]["status"], 413, "{answer}");
    assert!(
        message.contains(&format!("is {} bytes", body.len()))
            && message.contains("at most 200000 (admin.max_document_bytes)"),
        "{answer}"
    );
    // Nothing was stored.
    let (_, list) = gw.admin(reqwest::Method::GET, "/integration", None).await;
    assert_eq!(list["result"].as_array().map(Vec::len), Some(0), "{list}");

    // A small document still imports under the small limit.
    let (status, created) = gw
        .admin(
            reqwest::Method::POST,
            "/integration",
            Some(json!({"openapi": big_document(3)})),
        )
        .await;
    assert_eq!(status, 201, "{created}");

    let file = gw.dir.path().join("widgets.json");
    let mut renamed = doc.clone();
    renamed["info"]["title"] = json!("Widgets two");
    std::fs::write(&file, serde_json::to_vec(&renamed).unwrap()).unwrap();
    let out = cli(
        &["integration", "import", file.to_str().unwrap()],
        &[
            ("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("MCPGATE_ENDPOINT", &gw.base),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("413") && stderr.contains("at most 200000 (admin.max_document_bytes)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("cannot reach") && !stderr.to_lowercase().contains("broken pipe"),
        "{stderr}"
    );

    // Other admin routes keep their small limit whatever the document limit.
    let filler = "x".repeat(1 << 20);
    let (status, answer) = gw
        .admin(
            reqwest::Method::POST,
            "/server",
            Some(json!({"name": "big", "description": filler})),
        )
        .await;
    assert_eq!(status, 413, "{answer}");
}

#[tokio::test]
async fn the_cli_reports_a_timeout_as_a_timeout() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let out = cli(
        &["integration", "list", "--timeout", "1"],
        &[
            ("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("MCPGATE_ENDPOINT", &endpoint),
        ],
    )
    .await;
    hold.abort();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("did not answer within 1 s") && stderr.contains("--timeout"),
        "{stderr}"
    );
}
