//! The fast upstream: a minimal HTTP server answering a small REST API and
//! MCP (`initialize`, `tools/list`, `tools/call`) with fixed JSON, so that the
//! direct baseline measures the machine, not the upstream.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// The REST list answer (what `list_all_bench_contacts` returns upstream).
pub const CONTACTS: &str = r#"{"results":[{"id":1,"name":"Ada Lovelace","email":"ada@example.com"},{"id":2,"name":"Grace Hopper","email":"grace@example.com"}],"next":null}"#;

const TOOLS: &str = r#"{"tools":[{"name":"lookup","description":"Look a word up.","inputSchema":{"type":"object","properties":{"word":{"type":"string"}},"required":["word"]}},{"name":"ping","description":"Answer pong.","inputSchema":{"type":"object","properties":{}}}]}"#;
const CALL: &str = r#"{"content":[{"type":"text","text":"a small word"}],"isError":false}"#;
const INIT: &str = r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":false}},"serverInfo":{"name":"bench-upstream","version":"1"}}"#;

/// Serve on `port` until killed (run as its own process by the harness).
pub async fn serve(port: u16) -> anyhow::Result<()> {
    let app = Router::new().route("/contacts", get(contacts)).route(
        "/mcp",
        post(mcp).get(|| async { StatusCode::METHOD_NOT_ALLOWED }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn contacts() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], CONTACTS).into_response()
}

/// Answer one JSON-RPC message with a fixed result.
async fn mcp(_headers: HeaderMap, body: Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let (Some(method), Some(id)) = (message["method"].as_str(), message.get("id")) else {
        return StatusCode::ACCEPTED.into_response(); // a notification or a response
    };
    let body = match method {
        "initialize" => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{INIT}}}"#),
        "tools/list" => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{TOOLS}}}"#),
        "tools/call" => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{CALL}}}"#),
        "ping" => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
        _ => format!(
            r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"message":"no such method"}}}}"#
        ),
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
