//! The relay's 2026-07-28 half: portal tool calls of a stateless client
//! whose upstream asks the client something mid-call.
//!
//! A 2025 upstream sends `elicitation/create`, `sampling/createMessage` or
//! `roots/list` as a request on the call's stream and waits for the answer.
//! A 2026 client cannot receive requests; instead the call's result is
//! `{"resultType": "input_required", "inputRequests": {…}, "requestState": …}`
//! and the client calls again with `inputResponses` and the same
//! `requestState`. The gateway keeps the upstream call (and its upstream
//! session) open in between, in this process, and relays the answer.
//!
//! An upstream that speaks 2026-07-28 asks the same way the client does, so
//! its `input_required` goes to the client as it is, with its `requestState`
//! sealed to the client's key ([`SessionKey::seal_state`]) — nothing is kept
//! in between, and any replica can take the retry.

use axum::http::StatusCode;
use axum::response::Response;
use dashmap::DashMap;
use mcpgate_protocol::mcp::{LogLevel, notification};
use mcpgate_protocol::stateless::RequestMeta;
use mcpgate_protocol::{ErrorCode, RequestId, RpcError, jsonrpc};
use mcpgate_upstream::{McpClient, McpTool};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

use crate::fixtures::Recording;
use crate::http_util;
use crate::mcp::admission::Permit;
use crate::mcp::rejection::era_status;
use crate::session::SessionKey;

/// How long a call waits for its client's input before it is abandoned.
const WAIT_FOR_INPUT: Duration = Duration::from_secs(300);

/// Calls waiting for their clients' input, by `requestState`.
#[derive(Default)]
pub(crate) struct Waiting(DashMap<String, Paused>);

/// An upstream call paused on a request to the client.
pub(crate) struct Paused {
    /// The key that made the call: only it may continue it.
    owner: uuid::Uuid,
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
    events: mpsc::Receiver<Value>,
    result: oneshot::Receiver<Result<Value, RpcError>>,
    task: tokio::task::AbortHandle,
    recording: Option<Recording>,
    /// The upstream and its id for the call, until the call has answered.
    upstream: Option<(Arc<McpClient>, i64)>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Nobody will hear the answer: stop the upstream call. Closing the
        // client's stream cancels in 2026-07-28, but a 2025 upstream only
        // stops on `notifications/cancelled` (a disconnect is not a cancel).
        self.task.abort();
        if let Some((client, id)) = self.upstream.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let params = json!({"requestId": id, "reason": "the client closed its request"});
                client.notify(notification::CANCELLED, params).await;
            });
        }
    }
}

impl Waiting {
    /// Drop calls whose clients never came back (their upstream calls end).
    pub(crate) fn purge_expired(&self) {
        let now = Instant::now();
        self.0.retain(|_, p| p.expires > now);
    }
}

/// How the client takes the answer.
pub(crate) struct Delivery<'a> {
    pub waiting: &'a Arc<Waiting>,
    pub meta: &'a RequestMeta,
    pub id: &'a RequestId,
    /// The client accepts `text/event-stream`.
    pub streaming: bool,
    /// The client's `Mcp-Param-*` headers, passed on to the upstream.
    pub passthrough: axum::http::HeaderMap,
    /// The key of the request.
    pub key: uuid::Uuid,
    /// Seals and opens the request states of stateless upstreams.
    pub sealer: &'a SessionKey,
    /// The key's concurrency permit: held until the answer is complete or
    /// the client hangs up.
    pub permit: Option<Permit>,
}

/// Serve a stateless `tools/call` of a portal tool: a new call, or the
/// continuation of a paused one (`requestState` in the params). Log
/// notifications go only to a request that asked for them (`logs`, its
/// `_meta` logLevel), at or above that level.
pub(crate) async fn call(
    reply: Delivery<'_>,
    tool: Arc<McpTool>,
    mut params: Map<String, Value>,
    logs: Option<LogLevel>,
    recording: Option<Recording>,
) -> Response {
    let (waiting, id) = (reply.waiting, reply.id);
    let resumed = match params.remove("requestState") {
        // A stateless upstream's own state, sealed for this key: the
        // upstream takes it back with the client's `inputResponses`.
        Some(Value::String(sealed)) if SessionKey::is_sealed_state(&sealed) => {
            let Some(state) = reply.sealer.open_state(reply.key, &sealed) else {
                return invalid(
                    id,
                    "Invalid params: requestState is not one this gateway issued to this \
                     key; call the tool again without it",
                );
            };
            params.insert("requestState".into(), Value::String(state));
            None
        }
        // A call paused here on a 2025 upstream's question.
        Some(state) => {
            let responses = params.remove("inputResponses");
            // Another key's state is as unknown as a made-up one.
            let paused = match state
                .as_str()
                .and_then(|s| waiting.0.remove_if(s, |_, p| p.owner == reply.key))
            {
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
            Some(paused.call)
        }
        None => None,
    };
    let running = match resumed {
        Some(call) => call,
        // A new call, or a stateless upstream's next round (the upstream
        // client drops `inputResponses` for a 2025 upstream, which asks mid-call).
        None => {
            let capabilities = reply.meta.capabilities.clone().unwrap_or_else(|| json!({}));
            let call = Call {
                params,
                passthrough: reply.passthrough,
                capabilities,
                owner: reply.key.as_u128(),
            };
            start(tool.clone(), call, recording)
        }
    };
    let mut driver = Driver {
        waiting: Arc::clone(waiting),
        client: Arc::clone(&tool.client),
        call: Some(running),
        owner: reply.key,
        sealer: reply.sealer.clone(),
        meta: reply.meta.clone(),
        id: id.clone(),
        logs,
    };
    // The first thing to say decides the form of the answer: the outcome
    // alone as JSON (with its own HTTP status), or, when the upstream has
    // something to say before it and the client takes SSE, a stream.
    loop {
        match driver.step().await {
            Step::Final(status, body) => return http_util::json(status, body),
            Step::Notify(_) if !reply.streaming => continue,
            Step::Notify(first) => {
                // Bounded: a client that does not read holds up the upstream.
                let (tx, rx) = mpsc::channel(mcpgate_upstream::mcp_client::EVENTS_BUFFER);
                let _ = tx.send(first).await;
                let permit = reply.permit;
                tokio::spawn(async move {
                    let _permit = permit;
                    loop {
                        let step = tokio::select! {
                            step = driver.step() => step,
                            // The client closed the stream: that cancels
                            // the request (dropping the call tells the
                            // upstream) and frees the permit, at once.
                            () = tx.closed() => return,
                        };
                        match step {
                            Step::Notify(message) => {
                                if tx.send(message).await.is_err() {
                                    // The client closed the stream: that
                                    // cancels the request (dropping the call).
                                    return;
                                }
                            }
                            Step::Final(_, body) => {
                                let _ = tx
                                    .send(String::from_utf8(body).expect("JSON is UTF-8"))
                                    .await;
                                return;
                            }
                        }
                    }
                });
                return crate::mcp::stream::sse_from(rx);
            }
        }
    }
}

/// What an upstream call is made with.
struct Call {
    params: Map<String, Value>,
    /// The client's `Mcp-Param-*` headers.
    passthrough: axum::http::HeaderMap,
    /// The client's declared capabilities.
    capabilities: Value,
    /// The key of the client, as the upstream client's opaque owner id.
    owner: u128,
}

/// Start the upstream call.
fn start(tool: Arc<McpTool>, call: Call, recording: Option<Recording>) -> Running {
    let Call {
        params,
        passthrough,
        capabilities,
        owner,
    } = call;
    // The client's `_meta` goes on as it is: the upstream client keeps the
    // era's keys (logLevel, clientInfo, …) for a 2026-07-28 upstream and
    // drops them for a 2025 one.
    let (tx, events) = mpsc::channel(mcpgate_upstream::mcp_client::EVENTS_BUFFER);
    let (done, result) = oneshot::channel();
    let upstream_id = tool.client.next_request_id();
    let client = Arc::clone(&tool.client);
    let task = tokio::spawn(async move {
        // A 2025 upstream may ask on its standalone stream instead of the call's.
        // The relay channel is bounded: when the client does not read, the
        // message is not taken (try_send), never buffered without end.
        let attending = {
            let tx = tx.clone();
            tool.client
                .attend(owner, &capabilities, move |m| tx.try_send(m).is_ok())
        };
        let result = tool
            .call_streaming(
                params,
                upstream_id,
                tx,
                &passthrough,
                &capabilities,
                // A 2026-07-28 upstream's questions go to this client as
                // they are (a 2025 upstream's come as requests, see `Driver`).
                true,
            )
            .await;
        drop(attending);
        let _ = done.send(result);
    });
    Running {
        events,
        result,
        task: task.abort_handle(),
        recording,
        upstream: Some((client, upstream_id)),
    }
}

/// What the call says next to the client.
enum Step {
    /// A progress (or requested log) notification.
    Notify(String),
    /// The last message: the result, an `input_required` result, or an
    /// error, with the HTTP status it gets as a JSON answer.
    Final(StatusCode, Vec<u8>),
}

/// One upstream call, seen from the 2026 client's request.
struct Driver {
    waiting: Arc<Waiting>,
    client: Arc<McpClient>,
    /// `None` once the call is parked (the driver has said its last word).
    call: Option<Running>,
    owner: uuid::Uuid,
    sealer: SessionKey,
    meta: RequestMeta,
    id: RequestId,
    /// The level of log lines the client asked for, if any.
    logs: Option<LogLevel>,
}

impl Driver {
    /// Wait for the call's next message to the client.
    async fn step(&mut self) -> Step {
        let id = &self.id;
        let Some(call) = self.call.as_mut() else {
            let e = RpcError::internal("the call was already handed back to the client");
            return Step::Final(
                StatusCode::INTERNAL_SERVER_ERROR,
                jsonrpc::error_body(Some(id), &e),
            );
        };
        loop {
            tokio::select! {
                // Interim messages first: a request sent just before the
                // result must still be seen.
                biased;
                Some(message) = call.events.recv() => {
                    let (Some(upstream_request), Some(method)) = (
                        message.get("id").cloned(),
                        message.get("method").and_then(Value::as_str).map(str::to_owned),
                    ) else {
                        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
                        if method == notification::PROGRESS
                            || (method == notification::MESSAGE
                                && self.logs.is_some_and(|asked| LogLevel::passes(&message, asked)))
                        {
                            return Step::Notify(message.to_string());
                        }
                        continue;
                    };
                    let needed = mcpgate_protocol::mcp::capability_for_request(&method);
                    if let Some(capability) = needed.filter(|c| !self.meta.declares(c)) {
                        refuse(&self.client, upstream_request, &method).await;
                        let error = RpcError::new(
                            ErrorCode::MISSING_CLIENT_CAPABILITY,
                            format!(
                                "Missing client capability: the tool asked for {method}, which \
                                 needs the {capability:?} client capability in _meta"
                            ),
                        )
                        .with_data(&json!({"requiredCapabilities": {capability: {}}}));
                        return Step::Final(StatusCode::BAD_REQUEST, jsonrpc::error_body(Some(id), &error));
                    }
                    if needed.is_none() {
                        refuse(&self.client, upstream_request, &method).await;
                        continue;
                    }
                    let params = message.get("params").cloned().unwrap_or_else(|| json!({}));
                    return self.pause(upstream_request, &method, params);
                }
                result = &mut call.result => {
                    call.upstream = None; // it has answered: nothing to cancel
                    let result = result.unwrap_or_else(|_| {
                        Err(RpcError::internal("the upstream call ended without an answer"))
                    });
                    return match result {
                        // A stateless upstream's question, for the client to answer.
                        Ok(mut value) if value.get("resultType").and_then(Value::as_str)
                            == Some("input_required") =>
                        {
                            if let Some(state) = value.get("requestState").and_then(Value::as_str) {
                                let sealed = self.sealer.seal_state(self.owner, state);
                                value["requestState"] = Value::String(sealed);
                            }
                            let mut out = Vec::with_capacity(256);
                            jsonrpc::write_result(&mut out, id, &value.to_string());
                            Step::Final(StatusCode::OK, out)
                        }
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
                            Step::Final(StatusCode::OK, out)
                        }
                        Err(e) => Step::Final(
                            era_status(&e),
                            jsonrpc::error_body(Some(id), &e),
                        ),
                    };
                }
            }
        }
    }

    /// Park the call (it continues in the background, its messages
    /// buffered) and hand the client its question.
    fn pause(&mut self, upstream_request: Value, method: &str, params: Value) -> Step {
        let now = Instant::now();
        self.waiting.purge_expired();
        let state = format!("mcpg-rs-{}", uuid::Uuid::new_v4().simple());
        let key = "input-1".to_owned();
        let result = json!({
            "resultType": "input_required",
            "inputRequests": { key.clone(): {"method": method, "params": params} },
            "requestState": state,
        });
        // The driver ends with this step; its call lives on in the map.
        let Some(call) = self.call.take() else {
            let e = RpcError::internal("the call was already handed back to the client");
            return Step::Final(
                StatusCode::INTERNAL_SERVER_ERROR,
                jsonrpc::error_body(Some(&self.id), &e),
            );
        };
        self.waiting.0.insert(
            state,
            Paused {
                owner: self.owner,
                client: Arc::clone(&self.client),
                upstream_request,
                key,
                call,
                expires: now + WAIT_FOR_INPUT,
            },
        );
        let mut out = Vec::with_capacity(256);
        jsonrpc::write_result(&mut out, &self.id, &result.to_string());
        Step::Final(StatusCode::OK, out)
    }
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
