//! A 2025 session's portal call: the upstream's interim messages and its
//! requests to the client go out on the call's SSE answer as they come; the
//! client answers the requests with POSTed responses (see
//! `route_response`) and may cancel (`forward_cancel`).

use mcpgate_protocol::mcp::{LogLevel, notification};
use mcpgate_protocol::{RequestId, RpcError, jsonrpc};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use axum::http::HeaderMap;
use dashmap::DashMap;
use mcpgate_upstream::{McpClient, McpTool};
use serde_json::value::RawValue;
use std::sync::atomic::AtomicU64;

use crate::fixtures::Recording;
use crate::mcp::admission::Permit;
use crate::session::{ClientCaps, LogLevels, Session};

/// Portal calls in flight, by (session nonce, client request id): the
/// upstream, its request id, and the relay task — so a client's
/// `notifications/cancelled` can be forwarded and the relay stopped.
type InFlight = DashMap<([u8; 16], String), (Arc<McpClient>, i64, tokio::task::AbortHandle)>;

/// Server-to-client requests relayed from upstreams, awaiting the client's
/// answer: (session nonce, the id we gave it) → (upstream, its own id).
type Pending = DashMap<([u8; 16], String), (Arc<McpClient>, Value)>;

/// What the 2025 relay keeps between a session's requests.
pub(crate) struct SessionRelays {
    inflight: Arc<InFlight>,
    pending: Arc<Pending>,
    /// The counter behind the ids (`mcpg-N`) relayed requests get.
    relayed: Arc<AtomicU64>,
    /// The log level each session asked for (`logging/setLevel`).
    pub log_levels: Arc<LogLevels>,
}

impl Default for SessionRelays {
    fn default() -> Self {
        Self {
            inflight: Arc::default(),
            pending: Arc::default(),
            // Relayed ids count from `mcpg-1`.
            relayed: Arc::new(AtomicU64::new(1)),
            log_levels: Arc::default(),
        }
    }
}

/// A portal `tools/call` of a session, about to be forwarded.
pub(crate) struct Call {
    /// The upstream tool.
    pub tool: Arc<McpTool>,
    /// The client's params.
    pub params: serde_json::Map<String, Value>,
    /// Set when the server records real calls as fixtures.
    pub recording: Option<Recording>,
    /// The client's `Mcp-Param-*` headers, passed on to the upstream.
    pub passthrough: HeaderMap,
    /// The key's concurrency permit, held until the call ends.
    pub permit: Option<Permit>,
    /// The client reads this request's SSE answer.
    pub streaming: bool,
}

/// Start a portal `tools/call` on its own task, registered so that a
/// client's `notifications/cancelled` can be forwarded upstream. The
/// receiver yields the upstream's interim messages (progress, logs,
/// requests) in order, then the response; it closes without a response
/// when cancelled.
pub(crate) fn start(
    relays: &SessionRelays,
    session: &Session,
    id: &RequestId,
    call: Call,
) -> mpsc::Receiver<String> {
    let Call {
        tool,
        params,
        recording,
        passthrough,
        permit,
        streaming,
    } = call;
    let client = Arc::clone(&tool.client);
    let upstream_id = client.next_request_id();
    let key = (session.nonce, id.as_json().to_owned());
    // Bounded, like the channel from the upstream client: a client that does
    // not read holds up the upstream's stream instead of filling memory.
    let (out_tx, out_rx) = mpsc::channel::<String>(mcpgate_upstream::mcp_client::EVENTS_BUFFER);
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let id = id.clone();
    let inflight = Arc::clone(&relays.inflight);
    let pending = Arc::clone(&relays.pending);
    let relayed = Arc::clone(&relays.relayed);
    let (nonce, caps) = (session.nonce, session.caps);
    let log_levels = Arc::clone(&relays.log_levels);
    let relay_client = Arc::clone(&client);
    let task_key = key.clone();
    let task = tokio::spawn(async move {
        // Registered for cancellation before the call starts.
        let _ = go_rx.await;
        // The key's permit is held until the upstream call ends or the
        // client hangs up (its response stream, and so `out_rx`, is dropped).
        let permit = permit;
        // Bounded: a client that does not read holds up the upstream.
        let (tx, mut rx) = mpsc::channel::<Value>(mcpgate_upstream::mcp_client::EVENTS_BUFFER);
        // The ids this call's relayed requests got: unanswered ones are
        // forgotten when the call ends.
        let mut asked: Vec<String> = Vec::new();
        let relay = async {
            while let Some(mut msg) = rx.recv().await {
                // Log lines only at or above the level the session asked for.
                if msg.get("method").and_then(|m| m.as_str()) == Some(notification::MESSAGE)
                    && !log_levels
                        .get(&nonce)
                        .is_some_and(|asked| LogLevel::passes(&msg, asked))
                {
                    continue;
                }
                // A request from the upstream (sampling, elicitation, roots)
                // goes to the client under an id of ours, only if the client
                // declared the capability and is listening on this stream.
                if let (Some(upstream_request), Some(method)) = (
                    msg.get("id").cloned(),
                    msg.get("method")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned),
                ) {
                    let allowed =
                        ClientCaps::needed_for(&method).is_some_and(|need| caps & need != 0);
                    if !(allowed && streaming) {
                        let refusal = serde_json::json!({"jsonrpc": "2.0", "id": upstream_request,
                            "error": {"code": -32601, "message": format!("the client cannot answer {method} (capability not declared, or no stream open)")}});
                        let client = Arc::clone(&relay_client);
                        tokio::spawn(async move { client.send_response(refusal).await });
                        continue;
                    }
                    let ours = Value::String(format!(
                        "mcpg-{}",
                        relayed.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    ));
                    pending.insert(
                        (nonce, ours.to_string()),
                        (Arc::clone(&relay_client), upstream_request),
                    );
                    asked.push(ours.to_string());
                    msg["id"] = ours;
                }
                let _ = out_tx.send(msg.to_string()).await;
            }
        };
        // What the client can answer on this stream, for upstreams that ask first.
        let answerable = ClientCaps::to_json(if streaming { caps } else { 0 });
        // What the upstream asks or logs on its standalone stream may be
        // for this call (see `mcpgate_upstream::Attending`).
        // The relay channel is bounded: when the client does not read, the
        // message is not taken (try_send), never buffered without end.
        let attending = {
            let tx = tx.clone();
            let owner = u128::from_be_bytes(nonce);
            relay_client.attend(owner, &answerable, move |m| tx.try_send(m).is_ok())
        };
        let call = async {
            let result = tool
                .call_streaming(params, upstream_id, tx, &passthrough, &answerable, false)
                .await;
            // The upstream has answered: nothing more is this call's, and the
            // relay ends once the last sender is gone.
            drop(attending);
            result
        };
        let outcome = tokio::select! {
            (result, ()) = async { tokio::join!(call, relay) } => Some(result),
            () = out_tx.closed() => None,
        };
        inflight.remove(&task_key);
        for id in asked {
            pending.remove(&(nonce, id));
        }
        let Some(result) = outcome else {
            // The client hung up. Nobody will read the answer, so the permit
            // goes back now; a 2025 upstream stops only when told (a
            // disconnect is not a cancellation), so tell it.
            drop(permit);
            let reason = "the client disconnected";
            relay_client
                .notify(
                    notification::CANCELLED,
                    serde_json::json!({"requestId": upstream_id, "reason": reason}),
                )
                .await;
            return;
        };
        drop(permit);
        let _ = out_tx.send(write_outcome(&id, result, recording)).await;
    });
    relays
        .inflight
        .insert(key, (client, upstream_id, task.abort_handle()));
    let _ = go_tx.send(());
    out_rx
}

impl SessionRelays {
    /// A client's answer to a request we relayed from an upstream: send it
    /// back to that upstream under the upstream's own id.
    pub(crate) fn route_response(
        &self,
        session: &Session,
        id: &RequestId,
        body: &RawValue,
        is_error: bool,
    ) {
        let Some((_, (client, upstream_id))) = self
            .pending
            .remove(&(session.nonce, id.as_json().to_owned()))
        else {
            return;
        };
        let Ok(body) = serde_json::from_str::<Value>(body.get()) else {
            return;
        };
        let key = if is_error { "error" } else { "result" };
        let message = serde_json::json!({"jsonrpc": "2.0", "id": upstream_id, key: body});
        tokio::spawn(async move { client.send_response(message).await });
    }

    /// Forward a client's `notifications/cancelled` to the upstream running
    /// that request, and stop relaying it.
    pub(crate) fn forward_cancel(&self, session: &Session, params: Option<&RawValue>) {
        let Some(params) = params.and_then(|p| serde_json::from_str::<Value>(p.get()).ok()) else {
            return;
        };
        let Some(request) = params.get("requestId") else {
            return;
        };
        let key = (session.nonce, request.to_string());
        let Some((_, (client, upstream_id, task))) = self.inflight.remove(&key) else {
            return;
        };
        task.abort();
        let reason = params.get("reason").cloned().unwrap_or(Value::Null);
        tokio::spawn(async move {
            client
                .notify(
                    notification::CANCELLED,
                    serde_json::json!({"requestId": upstream_id, "reason": reason}),
                )
                .await;
        });
    }
}

/// An upstream's result or error as the JSON-RPC response to `id`; a
/// result is recorded (off the request path) when the server records.
fn write_outcome(
    id: &RequestId,
    outcome: Result<Value, RpcError>,
    recording: Option<Recording>,
) -> String {
    let mut out = Vec::with_capacity(256);
    match outcome {
        Ok(v) => {
            jsonrpc::write_result(&mut out, id, &v.to_string());
            if let Some(recording) = recording {
                tokio::spawn(recording.save(v));
            }
        }
        Err(e) => jsonrpc::write_error(&mut out, Some(id), &e),
    }
    String::from_utf8(out).expect("JSON is UTF-8")
}
