//! A 2026-07-28 client in front of a 2025 upstream: portal tool calls whose
//! upstream asks the client something mid-call.
//!
//! A 2025 upstream sends `elicitation/create`, `sampling/createMessage` or
//! `roots/list` as a request on the call's stream and waits for the answer.
//! A 2026 client cannot receive requests; instead the call's result is
//! `{"resultType": "input_required", "inputRequests": {…}, "requestState": …}`
//! and the client calls again with `inputResponses` and the same
//! `requestState`. The gateway keeps the upstream call (and its upstream
//! session) open in between, in this process, and relays the answer.

use axum::http::StatusCode;
use axum::response::Response;
use dashmap::DashMap;
use mcpgate_protocol::stateless::RequestMeta;
use mcpgate_protocol::{ErrorCode, RequestId, RpcError, jsonrpc};
use mcpgate_upstream::{McpClient, McpTool};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

use super::rpc_error;
use crate::fixtures::Recording;
use crate::http_util;

/// How long a call waits for its client's input before it is abandoned.
const WAIT_FOR_INPUT: Duration = Duration::from_secs(300);

/// `_meta` keys of the stateless era, which a 2025 upstream has no use for.
const ERA_META: [&str; 4] = [
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
    "io.modelcontextprotocol/clientInfo",
    "io.modelcontextprotocol/logLevel",
];

/// Calls waiting for their clients' input, by `requestState`.
#[derive(Default)]
pub struct Waiting(DashMap<String, Paused>);

/// An upstream call paused on a request to the client.
pub(crate) struct Paused {
    client: Arc<McpClient>,
    /// The id the upstream gave its request.
    upstream_request: Value,
    /// The `inputRequests` key the client answers under.
    key: String,
    call: Running,
    expires: Instant,
}

/// An upstream call in flight: its interim messages and its result.
struct Running {
    events: mpsc::UnboundedReceiver<Value>,
    result: oneshot::Receiver<Result<Value, RpcError>>,
    task: tokio::task::AbortHandle,
    recording: Option<Recording>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Nobody will hear the answer: stop the upstream call.
        self.task.abort();
    }
}

/// The client capability an upstream request needs.
fn capability_for(method: &str) -> Option<&'static str> {
    match method {
        "elicitation/create" => Some("elicitation"),
        "sampling/createMessage" => Some("sampling"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

/// Serve a stateless `tools/call` of a portal tool: a new call, or the
/// continuation of a paused one (`requestState` in the params).
pub(super) async fn call(
    waiting: &Waiting,
    tool: Arc<McpTool>,
    mut params: Map<String, Value>,
    meta: &RequestMeta,
    id: &RequestId,
    recording: Option<Recording>,
) -> Response {
    let state = params.remove("requestState");
    let responses = params.remove("inputResponses");
    let running = match state {
        Some(state) => {
            let paused = match state.as_str().and_then(|s| waiting.0.remove(s)) {
                Some((_, paused)) if paused.expires > Instant::now() => paused,
                _ => {
                    return invalid(
                        id,
                        "Invalid params: requestState is unknown or expired (or was \
                         handled by another gateway replica); call the tool again without it",
                    );
                }
            };
            let Some(answer) = responses.as_ref().and_then(|r| r.get(&paused.key)).cloned() else {
                let key = paused.key.clone();
                // Keep waiting: the client may still send the answer.
                if let Some(state) = state.as_str() {
                    waiting.0.insert(state.to_owned(), paused);
                }
                return invalid(
                    id,
                    &format!("Invalid params: inputResponses must answer {key:?}"),
                );
            };
            let reply = json!({"jsonrpc": "2.0", "id": paused.upstream_request, "result": answer});
            paused.client.send_response(reply).await;
            paused.call
        }
        None => start(tool.clone(), params, recording),
    };
    drive(waiting, &tool.client, running, meta, id).await
}

/// Start the upstream call.
fn start(
    tool: Arc<McpTool>,
    mut params: Map<String, Value>,
    recording: Option<Recording>,
) -> Running {
    if let Some(Value::Object(meta)) = params.get_mut("_meta") {
        for key in ERA_META {
            meta.remove(key);
        }
        if meta.is_empty() {
            params.remove("_meta");
        }
    }
    let (tx, events) = mpsc::unbounded_channel();
    let (done, result) = oneshot::channel();
    let upstream_id = tool.client.next_request_id();
    let task = tokio::spawn(async move {
        let _ = done.send(tool.call_streaming(params, upstream_id, tx).await);
    });
    Running {
        events,
        result,
        task: task.abort_handle(),
        recording,
    }
}

/// Wait for the call's result, or its next request to the client.
async fn drive(
    waiting: &Waiting,
    client: &Arc<McpClient>,
    mut call: Running,
    meta: &RequestMeta,
    id: &RequestId,
) -> Response {
    loop {
        tokio::select! {
            // Interim messages first: a request sent just before the result
            // must still be seen.
            biased;
            Some(message) = call.events.recv() => {
                let (Some(upstream_request), Some(method)) = (
                    message.get("id").cloned(),
                    message.get("method").and_then(Value::as_str).map(str::to_owned),
                ) else {
                    // Progress and log notifications: this era's JSON answer
                    // has no place for them.
                    continue;
                };
                let needed = capability_for(&method);
                if let Some(capability) = needed.filter(|c| !meta.declares(c)) {
                    refuse(client, upstream_request, &method).await;
                    return rpc_error(
                        StatusCode::BAD_REQUEST,
                        Some(id),
                        &RpcError::new(
                            ErrorCode::MISSING_CLIENT_CAPABILITY,
                            format!(
                                "Missing client capability: the tool asked for {method}, which \
                                 needs the {capability:?} client capability in _meta"
                            ),
                        )
                        .with_data(&json!({"requiredCapabilities": {capability: {}}})),
                    );
                }
                if needed.is_none() {
                    refuse(client, upstream_request, &method).await;
                    continue;
                }
                let params = message.get("params").cloned().unwrap_or_else(|| json!({}));
                return pause(waiting, client, call, upstream_request, &method, params, id);
            }
            result = &mut call.result => {
                let result = result.unwrap_or_else(|_| {
                    Err(RpcError::internal("the upstream call ended without an answer"))
                });
                return match result {
                    Ok(value) => {
                        if let Some(recording) = call.recording.take() {
                            tokio::spawn(recording.save(value.clone()));
                        }
                        let text = mcpgate_protocol::stateless::with_fields(
                            &value.to_string(),
                            r#""resultType":"complete""#,
                        );
                        let mut out = Vec::with_capacity(text.len() + 48);
                        jsonrpc::write_result(&mut out, id, &text);
                        http_util::json(StatusCode::OK, out)
                    }
                    Err(e) => http_util::json(StatusCode::OK, jsonrpc::error_body(Some(id), &e)),
                };
            }
        }
    }
}

/// Park the call and hand the client its question.
fn pause(
    waiting: &Waiting,
    client: &Arc<McpClient>,
    call: Running,
    upstream_request: Value,
    method: &str,
    params: Value,
    id: &RequestId,
) -> Response {
    let now = Instant::now();
    waiting.0.retain(|_, p| p.expires > now);
    let state = format!("mcpg-rs-{}", uuid::Uuid::new_v4().simple());
    let key = "input-1".to_owned();
    let result = json!({
        "resultType": "input_required",
        "inputRequests": { key.clone(): {"method": method, "params": params} },
        "requestState": state,
    });
    waiting.0.insert(
        state,
        Paused {
            client: Arc::clone(client),
            upstream_request,
            key,
            call,
            expires: now + WAIT_FOR_INPUT,
        },
    );
    let mut out = Vec::with_capacity(256);
    jsonrpc::write_result(&mut out, id, &result.to_string());
    http_util::json(StatusCode::OK, out)
}

/// Answer an upstream request the client cannot take.
async fn refuse(client: &McpClient, upstream_request: Value, method: &str) {
    let refusal = json!({"jsonrpc": "2.0", "id": upstream_request, "error": {
        "code": -32601,
        "message": format!("the client cannot answer {method}"),
    }});
    client.send_response(refusal).await;
}

fn invalid(id: &RequestId, message: &str) -> Response {
    http_util::json(
        StatusCode::OK,
        jsonrpc::error_body(Some(id), &RpcError::invalid_params(message)),
    )
}
