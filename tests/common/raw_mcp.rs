//! A scriptable upstream MCP server (Streamable HTTP, JSON answers, no
//! session) for inputs an SDK would refuse to serve: tool and prompt names
//! with dots, spaces or CJK, schemas with hostile property keys. A test sets
//! and changes its lists; it records every `tools/call` and `prompts/get`
//! it receives, and answers with the params it got.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Lists {
    tools: Value,
    prompts: Value,
    received: Vec<Value>,
}

type Shared = Arc<Mutex<Lists>>;

/// A running raw upstream; its task ends with the test's runtime.
pub struct RawMcp {
    /// Its MCP endpoint.
    pub url: String,
    lists: Shared,
}

impl RawMcp {
    /// Serve `tools` and `prompts` (JSON arrays) on a free loopback port.
    pub async fn start(tools: Value, prompts: Value) -> Self {
        let lists: Shared = Arc::new(Mutex::new(Lists {
            tools,
            prompts,
            received: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/mcp", axum::routing::post(handle))
            .with_state(Arc::clone(&lists));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, lists }
    }

    /// Replace the tool list (the next sync sees it).
    pub fn set_tools(&self, tools: Value) {
        self.lists.lock().unwrap().tools = tools;
    }

    /// `{"method", "params"}` of every `tools/call` and `prompts/get` so far.
    pub fn received(&self) -> Vec<Value> {
        self.lists.lock().unwrap().received.clone()
    }
}

async fn handle(State(lists): State<Shared>, body: String) -> Response {
    let Ok(msg) = serde_json::from_str::<Value>(&body) else {
        return (axum::http::StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let Some(id) = msg.get("id").cloned() else {
        return axum::http::StatusCode::ACCEPTED.into_response();
    };
    let method = msg["method"].as_str().unwrap_or_default();
    let params = msg.get("params").cloned().unwrap_or(json!({}));
    let mut lists = lists.lock().unwrap();
    let result = match method {
        "initialize" => json!({
            "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-06-18"),
            "capabilities": {"tools": {}, "prompts": {}},
            "serverInfo": {"name": "raw", "version": "1"}
        }),
        "ping" => json!({}),
        "tools/list" => json!({"tools": lists.tools}),
        "prompts/list" => json!({"prompts": lists.prompts}),
        "tools/call" | "prompts/get" => {
            lists
                .received
                .push(json!({"method": method, "params": params}));
            let text = params.to_string();
            if method == "tools/call" {
                json!({"content": [{"type": "text", "text": text}]})
            } else {
                json!({"messages": [{"role": "user", "content": {"type": "text", "text": text}}]})
            }
        }
        _ => {
            let error = json!({"code": -32601, "message": format!("no method {method}")});
            return axum::Json(json!({"jsonrpc": "2.0", "id": id, "error": error})).into_response();
        }
    };
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}
