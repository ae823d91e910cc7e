//! The Streamable HTTP data plane: `POST|GET|DELETE /mcp/{token}` and `/mcp`
//! with a bearer token.
//!
//! Order of checks on a POST: Origin (403) → token (401) → Accept (406) →
//! Content-Type (415) → body size (413) → JSON-RPC parse (400) → session
//! (400 missing, 404 unknown) → `MCP-Protocol-Version` (400) → batch rule
//! (400) → dispatch.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use mcpgate_protocol::jsonrpc::{self, InvalidMessage};
use mcpgate_protocol::mcp::{CallToolParams, InitializeParams, ListParams, LogLevel, method};
use mcpgate_protocol::{ErrorCode, Incoming, Message, ProtocolVersion, RequestId, RpcError};
use std::sync::Arc;
use std::time::Instant;

use crate::Gateway;
use crate::fixtures::Recording;
use crate::http_util::{self, BodyError};
use crate::registry::{Admitted, AuthFailure};
use crate::session::{Session, nonce_hex};
use crate::view::ServerView;

pub(crate) mod bridge;
mod stateless;

/// How a route identifies the server a request is for.
#[derive(Clone, Copy)]
enum Gate<'a> {
    /// `/mcp/{token}`, or `/mcp` with a bearer token.
    Token(Option<&'a str>),
    /// The JSON-RPC endpoint of an integration's MCP settings: the key (in
    /// `X-API-KEY` or bearer) must belong to that tenant and integration.
    Integration {
        tenant: &'a str,
        integration: &'a str,
    },
}

/// Header carrying the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// Header carrying the protocol version after initialization.
pub const VERSION_HEADER: &str = "mcp-protocol-version";

/// POST /mcp/{token}
pub async fn post_path(
    State(gw): State<Arc<Gateway>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // `/mcp/{token}:test` is the token's sandbox twin.
    match token.strip_suffix(":test") {
        Some(t) => post(&gw, Gate::Token(Some(t)), true, headers, body).await,
        None => post(&gw, Gate::Token(Some(&token)), false, headers, body).await,
    }
}

/// POST /mcp (bearer token)
pub async fn post_bearer(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    post(&gw, Gate::Token(None), false, headers, body).await
}

/// GET /mcp/{token}
pub async fn get_path(
    State(gw): State<Arc<Gateway>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = token.strip_suffix(":test").unwrap_or(&token);
    get(&gw, Gate::Token(Some(token)), &headers)
}

/// GET /mcp (bearer token)
pub async fn get_bearer(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    get(&gw, Gate::Token(None), &headers)
}

/// DELETE /mcp/{token}
pub async fn delete_path(
    State(gw): State<Arc<Gateway>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = token.strip_suffix(":test").unwrap_or(&token);
    delete(&gw, Gate::Token(Some(token)), &headers).await
}

/// DELETE /mcp (bearer token)
pub async fn delete_bearer(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    delete(&gw, Gate::Token(None), &headers).await
}

/// POST /v1/tenants/{tenant}/integrations/{integration}/mcp:call
pub async fn post_integration(
    State(gw): State<Arc<Gateway>>,
    Path((tenant, integration)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let gate = Gate::Integration {
        tenant: &tenant,
        integration: &integration,
    };
    post(&gw, gate, false, headers, body).await
}

/// POST …/mcp:test — the sandbox twin of `mcp:call`.
pub async fn post_integration_test(
    State(gw): State<Arc<Gateway>>,
    Path((tenant, integration)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let gate = Gate::Integration {
        tenant: &tenant,
        integration: &integration,
    };
    post(&gw, gate, true, headers, body).await
}

/// The faults a server's sandbox is set to inject: added latency, then a
/// timeout or (at the configured rate) a failed call.
async fn inject_fault(
    sb: &Sandbox<'_>,
    view: &ServerView,
    tool: &str,
) -> Option<Box<serde_json::value::RawValue>> {
    let f = &view.sandbox;
    if let Some(ms) = f.latency_ms {
        tokio::time::sleep(std::time::Duration::from_millis(ms.min(60_000))).await;
    }
    let failure = |text: String| {
        serde_json::value::to_raw_value(&serde_json::json!({
            "content": [{"type": "text", "text": text}],
            "isError": true,
            "_meta": {"io.mcpgate/simulated": true, "io.mcpgate/fault": true},
        }))
        .expect("a result serializes")
    };
    if f.timeout {
        return Some(failure(format!(
            "The upstream API did not answer in time (simulated timeout of {tool})."
        )));
    }
    let rate = f.error_rate.unwrap_or(0.0).clamp(0.0, 1.0);
    if rate == 0.0 {
        return None;
    }
    // An even spread of failures: call n fails when the running total of the
    // rate crosses an integer.
    let n = {
        let mut calls = sb.gw.fault_calls.entry(view.id).or_insert(0);
        *calls += 1;
        (*calls - 1) as f64
    };
    if ((n + 1.0) * rate).floor() > (n * rate).floor() {
        let status = f.error_status.unwrap_or(500);
        return Some(failure(format!(
            "The upstream API answered {status} (simulated fault injected by the sandbox)."
        )));
    }
    None
}

/// A sandbox twin's context: the gateway (simulated objects, fixtures, fault
/// counters) and the key whose sandbox this is.
struct Sandbox<'a> {
    gw: &'a Gateway,
    id: String,
}

/// GET …/mcp:call
pub async fn get_integration(
    State(gw): State<Arc<Gateway>>,
    Path((tenant, integration)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let gate = Gate::Integration {
        tenant: &tenant,
        integration: &integration,
    };
    get(&gw, gate, &headers)
}

/// DELETE …/mcp:call
pub async fn delete_integration(
    State(gw): State<Arc<Gateway>>,
    Path((tenant, integration)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let gate = Gate::Integration {
        tenant: &tenant,
        integration: &integration,
    };
    delete(&gw, gate, &headers).await
}

/// A JSON-RPC error as an HTTP response.
fn rpc_error(status: StatusCode, id: Option<&RequestId>, error: &RpcError) -> Response {
    http_util::json(status, jsonrpc::error_body(id, error))
}

/// A request refused before dispatch: an HTTP status, the JSON-RPC error
/// body that explains it, and at most one extra header.
struct Rejection {
    status: StatusCode,
    error: RpcError,
    header: Option<(header::HeaderName, &'static str)>,
    retry_after: Option<u64>,
}

impl Rejection {
    fn new(status: StatusCode, error: RpcError) -> Self {
        Self {
            status,
            error,
            header: None,
            retry_after: None,
        }
    }

    fn refused(status: StatusCode, message: &str) -> Self {
        Self::new(status, RpcError::new(ErrorCode::REQUEST_REFUSED, message))
    }

    fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.header = Some((name, value));
        self
    }

    fn unauthorized() -> Self {
        Self::refused(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: the token is missing, invalid, expired or revoked, or its server is disabled",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"mcpgate\", error=\"invalid_token\"",
        )
    }

    /// The refusal of a request whose id is not known (GET, DELETE).
    fn into_response(self) -> Response {
        self.answering(None)
    }

    /// The refusal, answering the request `id` (`null` when it is unknown).
    fn answering(self, id: Option<&RequestId>) -> Response {
        let mut r = rpc_error(self.status, id, &self.error);
        if let Some((name, value)) = self.header {
            r.headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// A refusal decided before the body was read: the body is read anyway
/// (bounded by the body limit) so that the error can carry the request's
/// id; `null` when it cannot be read.
async fn refuse_unread(gw: &Gateway, r: Rejection, headers: &HeaderMap, body: Body) -> Response {
    let id = match http_util::read_body(headers, body, gw.max_body_bytes).await {
        Ok(bytes) => jsonrpc::parse(&bytes)
            .ok()
            .and_then(|incoming| incoming.request_id().cloned()),
        Err(_) => None,
    };
    r.answering(id.as_ref())
}

/// Whether a view is the server of the integration MCP settings a path names
/// (by integration id or name).
fn serves(gw: &Gateway, view: &ServerView, tenant: &str, integration: &str) -> bool {
    view.tenant == tenant
        && view.integration_id.is_some_and(|id| {
            id.to_string() == integration
                || gw
                    .registry
                    .integration(id)
                    .is_some_and(|i| i.record.definition.name == integration)
        })
}

/// Checks shared by every method: Origin, then the key.
fn admit(gw: &Gateway, gate: Gate<'_>, headers: &HeaderMap) -> Result<Admitted, Rejection> {
    if !gw.origins.allows(headers) {
        return Err(Rejection::refused(
            StatusCode::FORBIDDEN,
            crate::origin::REFUSED,
        ));
    }
    let Some(token) = presented_token(gate, headers) else {
        return Err(Rejection::unauthorized());
    };
    match (gw.registry.authenticate(token), gate) {
        (Ok(admitted), Gate::Token(_)) => Ok(admitted),
        (
            Ok(admitted),
            Gate::Integration {
                tenant,
                integration,
            },
        ) if serves(gw, &admitted.view, tenant, integration) => Ok(admitted),
        (
            Err(AuthFailure::Disabled(view)),
            Gate::Integration {
                tenant,
                integration,
            },
        ) if serves(gw, &view, tenant, integration) => Err(Rejection::refused(
            StatusCode::FORBIDDEN,
            "Forbidden: MCP is disabled for this integration; enable it in its MCP settings",
        )),
        _ => Err(Rejection::unauthorized()),
    }
}

/// The token a request presents: in the path, as a bearer token, or (on
/// integration settings endpoints) in `X-API-KEY`.
fn presented_token<'a>(gate: Gate<'a>, headers: &'a HeaderMap) -> Option<&'a str> {
    match gate {
        Gate::Token(path) => path.or_else(|| http_util::bearer(headers)),
        Gate::Integration { .. } => headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| http_util::bearer(headers)),
    }
}

/// A key's concurrency permit, given back when dropped.
pub enum Permit {
    /// From this process's semaphore.
    Local(tokio::sync::OwnedSemaphorePermit),
    /// A lease in the cluster's Redis.
    Cluster(crate::cluster_limits::Lease),
}

/// Take a rate cell and a concurrency permit of the key; the permit is
/// released when the returned guard drops (whatever ends the request).
/// With cluster limits configured, Redis decides; if it cannot, this
/// replica's own limiter does (never no limit at all).
async fn limit(gw: &Gateway, admitted: &Admitted, sandbox: bool) -> Result<Permit, Rejection> {
    // A twin counts against its own bucket, so experiments never starve production.
    let limiter = if sandbox {
        admitted.key.sandbox_limiter()
    } else {
        admitted.key.limiter()
    };
    let decided = match &gw.cluster_limits {
        Some(cluster) => {
            let bucket = if sandbox {
                format!("{}:test", admitted.key.id)
            } else {
                admitted.key.id.to_string()
            };
            cluster.admit(&bucket, limiter.limits).await.ok()
        }
        None => None,
    };
    let outcome = match decided {
        Some(outcome) => outcome.map(Permit::Cluster),
        None => limiter.admit().map(Permit::Local),
    };
    outcome.map_err(|refusal| {
        crate::ops::record_limit_rejection(refusal.kind());
        let l = limiter.limits;
        let message = match refusal {
            crate::limits::Refusal::Rate(_) => format!(
                "Too Many Requests: this key's rate limit ({} requests/s, burst {}) is used up; retry after {} s",
                l.rate_per_sec,
                l.burst,
                refusal.retry_after_secs()
            ),
            crate::limits::Refusal::Concurrency(n) => format!(
                "Too Many Requests: this key already has {n} calls in flight (its concurrency limit); retry when one finishes"
            ),
        };
        let mut r = Rejection::refused(StatusCode::TOO_MANY_REQUESTS, &message);
        r.retry_after = Some(refusal.retry_after_secs());
        r
    })
}

/// The session a non-initialize request belongs to.
fn session(gw: &Gateway, view: &ServerView, headers: &HeaderMap) -> Result<Session, Rejection> {
    let Some(value) = headers.get(SESSION_HEADER) else {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            RpcError::invalid_request(
                "Bad Request: the Mcp-Session-Id header is required; send initialize first to obtain one",
            ),
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| gw.sessions.validate(v, view.id).ok())
        .ok_or_else(|| {
            Rejection::new(
                StatusCode::NOT_FOUND,
                RpcError::new(
                    ErrorCode::SESSION_NOT_FOUND,
                    "Session not found: it expired or was terminated; send initialize to start a new one",
                ),
            )
        })
}

/// Validate `MCP-Protocol-Version`; absent means 2025-03-26.
fn header_version(headers: &HeaderMap) -> Result<ProtocolVersion, Rejection> {
    let Some(value) = headers.get(VERSION_HEADER) else {
        return Ok(ProtocolVersion::ASSUMED_WITHOUT_HEADER);
    };
    value
        .to_str()
        .ok()
        .and_then(ProtocolVersion::parse)
        .ok_or_else(|| {
            let shown = String::from_utf8_lossy(value.as_bytes()).into_owned();
            Rejection::new(
                StatusCode::BAD_REQUEST,
                RpcError::invalid_request(format!(
                    "Bad Request: unsupported MCP-Protocol-Version {shown:?}; supported: {}",
                    ProtocolVersion::supported_strings().join(", ")
                ))
                .with_data(&serde_json::json!({
                    "supported": ProtocolVersion::supported_strings(),
                    "requested": shown,
                })),
            )
        })
}

/// Label for metrics: known methods by name, anything else as "other".
fn method_label(method: &str) -> &'static str {
    match method {
        method::INITIALIZE => method::INITIALIZE,
        method::PING => method::PING,
        method::TOOLS_LIST => method::TOOLS_LIST,
        method::TOOLS_CALL => method::TOOLS_CALL,
        method::PROMPTS_LIST => method::PROMPTS_LIST,
        method::RESOURCES_LIST => method::RESOURCES_LIST,
        method::RESOURCE_TEMPLATES_LIST => method::RESOURCE_TEMPLATES_LIST,
        "server/discover" => "server/discover",
        "subscriptions/listen" => "subscriptions/listen",
        m if m.starts_with("notifications/") => "notification",
        _ => "other",
    }
}

async fn post(
    gw: &Arc<Gateway>,
    gate: Gate<'_>,
    sandbox: bool,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let mut label = "unparsed";
    let response = post_inner(gw, gate, sandbox, &headers, body, &mut label).await;
    crate::ops::record_request(label, response.status(), started.elapsed());
    response
}

async fn post_inner(
    gw: &Arc<Gateway>,
    gate: Gate<'_>,
    sandbox: bool,
    headers: &HeaderMap,
    body: Body,
    label: &mut &'static str,
) -> Response {
    let admitted = match admit(gw, gate, headers) {
        Ok(a) => a,
        Err(r) => return refuse_unread(gw, r, headers, body).await,
    };
    // Held until this function returns: success, error, timeout or a client
    // that went away (the future is dropped) all give the permit back.
    let permit = match limit(gw, &admitted, sandbox).await {
        Ok(p) => p,
        Err(r) => return refuse_unread(gw, r, headers, body).await,
    };
    let admitted_key = admitted.key.id;
    let view = admitted.view;
    let sandbox = sandbox.then(|| Sandbox {
        gw,
        id: admitted.key.id.to_string(),
    });
    if !http_util::accepts_json(headers) {
        let r = Rejection::refused(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: the Accept header must allow application/json (send \"Accept: application/json, text/event-stream\")",
        );
        return refuse_unread(gw, r, headers, body).await;
    }
    if !http_util::is_media_type(headers.get(header::CONTENT_TYPE), "application/json") {
        let r = Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RpcError::invalid_request(
                "Unsupported Media Type: Content-Type must be application/json",
            ),
        );
        return refuse_unread(gw, r, headers, body).await;
    }
    let bytes = match http_util::read_body(headers, body, gw.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                &RpcError::invalid_request(format!(
                    "Payload Too Large: the request body exceeds {} bytes",
                    gw.max_body_bytes
                )),
            );
        }
        Err(BodyError::Broken) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                &RpcError::invalid_request("Bad Request: the request body could not be read"),
            );
        }
    };
    let incoming = match jsonrpc::parse(&bytes) {
        Ok(i) => i,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, None, &e.to_error()),
    };

    // A request naming its protocol version in `_meta` is of the stateless
    // era: no session, no handshake.
    let incoming = match stateless_request(incoming) {
        Ok((id, method, params, meta)) => {
            *label = method_label(&method);
            // Long-lived and idle, a listen stream holds no permit.
            let permit = (method != "subscriptions/listen").then_some(permit);
            let req = stateless::Request {
                gw,
                view,
                token: presented_token(gate, headers).unwrap_or_default(),
                sandbox,
                id,
                method,
                params,
                meta,
                streaming: http_util::accepts(headers, "text/event-stream"),
                headers,
                key: admitted_key,
                permit,
            };
            return stateless::serve(req).await;
        }
        Err(other) => other,
    };
    if stateless::header_claims_stateless(headers) {
        return match &incoming {
            Incoming::Single(Ok(Message::Notification { .. })) => {
                http_util::empty(StatusCode::ACCEPTED)
            }
            Incoming::Single(Ok(Message::Request { id, .. })) => stateless::missing_meta(Some(id)),
            _ => rpc_error(
                StatusCode::BAD_REQUEST,
                incoming.request_id(),
                &RpcError::invalid_request(
                    "Bad Request: 2026-07-28 clients send single requests or notifications only",
                ),
            ),
        };
    }

    // initialize opens a session, so it is the one message that needs none.
    if let Incoming::Single(Ok(Message::Request { id, method, params })) = &incoming
        && method == method::INITIALIZE
    {
        *label = method::INITIALIZE;
        return initialize(gw, &view, id, params.as_deref());
    }

    let session = match session(gw, &view, headers) {
        Ok(s) => s,
        Err(r) => return r.answering(incoming.request_id()),
    };
    if let Err(r) = header_version(headers) {
        return r.answering(incoming.request_id());
    }

    match incoming {
        Incoming::Single(Err(invalid)) => rpc_error(
            StatusCode::BAD_REQUEST,
            invalid.id.as_ref(),
            &invalid.to_error(),
        ),
        Incoming::Single(Ok(message)) => {
            *label = message.method().map_or("response", method_label);
            if let Message::Notification { method, params } = &message
                && method == "notifications/cancelled"
            {
                forward_cancel(gw, &session, params.as_deref());
            }
            if let Message::Response { id, body, is_error } = &message {
                route_response(gw, &session, id, body, *is_error);
            }
            note_log_level(gw, &session, &message);
            if let Message::Request { id, method, params } = &message
                && method == method::TOOLS_CALL
                && sandbox.is_none()
                && let Some((tool, params)) = portal_tool(&view, params.as_deref())
            {
                let streaming = http_util::accepts(headers, "text/event-stream");
                let recording = Recording::new(gw, &view, &params);
                let call = PortalCall {
                    tool,
                    params,
                    recording,
                    passthrough: param_headers(headers),
                };
                let rx = start_tool_call(gw, &session, id, call, permit, streaming);
                return if streaming {
                    sse_response(rx)
                } else {
                    json_response(id, rx).await
                };
            }
            if matches!(&message, Message::Notification { method, .. } if method == method::INITIALIZE)
            {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    None,
                    &RpcError::invalid_request("initialize must be a request (it needs an id)"),
                );
            }
            let recording = match &message {
                Message::Request { method, params, .. }
                    if sandbox.is_none() && method == method::TOOLS_CALL =>
                {
                    Recording::for_raw(gw, &view, params.as_deref())
                }
                _ => None,
            };
            match handle(&view, message, sandbox.as_ref()).await {
                Some(out) => {
                    if let Some(recording) = recording {
                        recording.save_response(&out);
                    }
                    http_util::json(StatusCode::OK, out)
                }
                None => http_util::empty(StatusCode::ACCEPTED),
            }
        }
        Incoming::Batch(items) => {
            *label = "batch";
            for message in items.iter().flatten() {
                note_log_level(gw, &session, message);
            }
            batch(&view, &session, items, sandbox.as_ref()).await
        }
    }
}

/// Remember the level a session's `logging/setLevel` asks for: the upstream
/// log lines relayed to that session are filtered by it (a session that
/// never asked gets none). Invalid levels are refused by `dispatch`.
fn note_log_level(gw: &Gateway, session: &Session, message: &Message) {
    let Message::Request { method, params, .. } = message else {
        return;
    };
    if method != "logging/setLevel" {
        return;
    }
    if let Ok(p) = jsonrpc::params::<LevelParams>(params.as_deref())
        && let Some(level) = LogLevel::parse(&p.level)
    {
        let expires = gw.sessions.expires_at(session);
        gw.log_levels.set(session.nonce, level, expires);
    }
}

/// The parts of a stateless-era request (one request whose params carry a
/// `_meta` protocol version), or the message back untouched.
#[allow(clippy::type_complexity)]
fn stateless_request(
    incoming: Incoming,
) -> Result<
    (
        RequestId,
        String,
        Option<Box<serde_json::value::RawValue>>,
        mcpgate_protocol::stateless::RequestMeta,
    ),
    Incoming,
> {
    match incoming {
        Incoming::Single(Ok(Message::Request { id, method, params })) => {
            match mcpgate_protocol::stateless::request_meta(params.as_deref()) {
                Some(meta) => Ok((id, method, params, meta)),
                None => Err(Incoming::Single(Ok(Message::Request {
                    id,
                    method,
                    params,
                }))),
            }
        }
        other => Err(other),
    }
}

/// The upstream tool and the client's params, when a `tools/call` is for a
/// portal tool.
fn portal_tool(
    view: &ServerView,
    params: Option<&serde_json::value::RawValue>,
) -> Option<(
    Arc<mcpgate_upstream::McpTool>,
    serde_json::Map<String, serde_json::Value>,
)> {
    let params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(params?.get()).ok()?;
    let name = params.get("name")?.as_str()?;
    match view.handler(name)? {
        mcpgate_upstream::Handler::Mcp(tool) => Some((Arc::clone(tool), params)),
        _ => None,
    }
}

/// A portal `tools/call` about to be forwarded.
struct PortalCall {
    tool: Arc<mcpgate_upstream::McpTool>,
    params: serde_json::Map<String, serde_json::Value>,
    /// Set when the server records real calls as fixtures.
    recording: Option<crate::fixtures::Recording>,
    /// The client's `Mcp-Param-*` headers, passed on to the upstream.
    passthrough: HeaderMap,
}

/// The request's `Mcp-Param-*` headers: a proxy passes them on (2026-07-28
/// clients mirror `x-mcp-header` arguments into them).
fn param_headers(headers: &HeaderMap) -> HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("mcp-param-"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Start a portal `tools/call` on its own task, registered so that a
/// client's `notifications/cancelled` can be forwarded upstream. The
/// receiver yields the upstream's interim messages (progress, logs) in
/// order, then the response; it closes without a response when cancelled.
fn start_tool_call(
    gw: &Gateway,
    session: &Session,
    id: &RequestId,
    call: PortalCall,
    permit: Permit,
    streaming: bool,
) -> tokio::sync::mpsc::Receiver<String> {
    let PortalCall {
        tool,
        params,
        recording,
        passthrough,
    } = call;
    let client = Arc::clone(&tool.client);
    let upstream_id = client.next_request_id();
    let key = (session.nonce, id.as_json().to_owned());
    // Bounded, like the channel from the upstream client: a client that does
    // not read holds up the upstream's stream instead of filling memory.
    let (out_tx, out_rx) =
        tokio::sync::mpsc::channel::<String>(mcpgate_upstream::mcp_client::EVENTS_BUFFER);
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let id = id.clone();
    let inflight = Arc::clone(&gw.inflight);
    let pending = Arc::clone(&gw.pending);
    let relayed = Arc::clone(&gw.relayed);
    let (nonce, caps) = (session.nonce, session.caps);
    let log_levels = Arc::clone(&gw.log_levels);
    let relay_client = Arc::clone(&client);
    let task_key = key.clone();
    let task = tokio::spawn(async move {
        // Registered for cancellation before the call starts.
        let _ = go_rx.await;
        // The key's permit is held until the upstream call ends or the
        // client hangs up (its response stream, and so `out_rx`, is dropped).
        let permit = permit;
        // Bounded: a client that does not read holds up the upstream.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(
            mcpgate_upstream::mcp_client::EVENTS_BUFFER,
        );
        // The ids this call's relayed requests got: unanswered ones are
        // forgotten when the call ends.
        let mut asked: Vec<String> = Vec::new();
        let relay = async {
            while let Some(mut msg) = rx.recv().await {
                // Log lines only at or above the level the session asked for.
                if msg.get("method").and_then(|m| m.as_str()) == Some("notifications/message")
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
                    let allowed = crate::session::ClientCaps::needed_for(&method)
                        .is_some_and(|need| caps & need != 0);
                    if !(allowed && streaming) {
                        let refusal = serde_json::json!({"jsonrpc": "2.0", "id": upstream_request,
                            "error": {"code": -32601, "message": format!("the client cannot answer {method} (capability not declared, or no stream open)")}});
                        let client = Arc::clone(&relay_client);
                        tokio::spawn(async move { client.send_response(refusal).await });
                        continue;
                    }
                    let ours = serde_json::Value::String(format!(
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
        let answerable = crate::session::ClientCaps::to_json(if streaming { caps } else { 0 });
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
                    "notifications/cancelled",
                    serde_json::json!({"requestId": upstream_id, "reason": reason}),
                )
                .await;
            return;
        };
        drop(permit);
        let mut out = Vec::with_capacity(256);
        match result {
            Ok(v) => {
                jsonrpc::write_result(&mut out, &id, &v.to_string());
                if let Some(recording) = recording {
                    tokio::spawn(recording.save(v));
                }
            }
            Err(e) => jsonrpc::write_error(&mut out, Some(&id), &e),
        }
        let _ = out_tx
            .send(String::from_utf8(out).expect("JSON is UTF-8"))
            .await;
    });
    gw.inflight
        .insert(key, (client, upstream_id, task.abort_handle()));
    let _ = go_tx.send(());
    out_rx
}

/// The messages as an SSE response, each as it arrives.
fn sse_response(rx: tokio::sync::mpsc::Receiver<String>) -> Response {
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|m| {
            (
                Ok::<_, std::convert::Infallible>(
                    axum::response::sse::Event::default()
                        .event("message")
                        .data(m),
                ),
                rx,
            )
        })
    });
    let mut response =
        axum::response::IntoResponse::into_response(axum::response::sse::Sse::new(events));
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Only the final message, as JSON (for clients that do not take SSE).
async fn json_response(id: &RequestId, mut rx: tokio::sync::mpsc::Receiver<String>) -> Response {
    let mut last = None;
    while let Some(m) = rx.recv().await {
        last = Some(m);
    }
    match last {
        Some(body) if body.contains("\"result\"") || body.contains("\"error\"") => {
            http_util::json(StatusCode::OK, body)
        }
        _ => rpc_error(
            StatusCode::OK,
            Some(id),
            &RpcError::new(ErrorCode::REQUEST_REFUSED, "Request cancelled"),
        ),
    }
}

/// A client's answer to a request we relayed from an upstream: send it back
/// to that upstream under the upstream's own id.
fn route_response(
    gw: &Gateway,
    session: &Session,
    id: &RequestId,
    body: &serde_json::value::RawValue,
    is_error: bool,
) {
    let Some((_, (client, upstream_id))) =
        gw.pending.remove(&(session.nonce, id.as_json().to_owned()))
    else {
        return;
    };
    let Ok(body) = serde_json::from_str::<serde_json::Value>(body.get()) else {
        return;
    };
    let key = if is_error { "error" } else { "result" };
    let message = serde_json::json!({"jsonrpc": "2.0", "id": upstream_id, key: body});
    tokio::spawn(async move { client.send_response(message).await });
}

/// Forward a client's `notifications/cancelled` to the upstream running that
/// request, and stop relaying it.
fn forward_cancel(gw: &Gateway, session: &Session, params: Option<&serde_json::value::RawValue>) {
    let Some(params) = params.and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok())
    else {
        return;
    };
    let Some(request) = params.get("requestId") else {
        return;
    };
    let key = (session.nonce, request.to_string());
    let Some((_, (client, upstream_id, task))) = gw.inflight.remove(&key) else {
        return;
    };
    task.abort();
    let reason = params
        .get("reason")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    tokio::spawn(async move {
        client
            .notify(
                "notifications/cancelled",
                serde_json::json!({"requestId": upstream_id, "reason": reason}),
            )
            .await;
    });
}

async fn batch(
    view: &ServerView,
    session: &Session,
    items: Vec<Result<Message, InvalidMessage>>,
    sandbox: Option<&Sandbox<'_>>,
) -> Response {
    if !session.version.allows_batches() {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            &RpcError::invalid_request(format!(
                "Invalid Request: JSON-RPC batches are not allowed on a {} session (only 2025-03-26 allows them); send one message per request",
                session.version
            )),
        );
    }
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    let mut any = false;
    for item in items {
        let piece = match item {
            Err(invalid) => Some(jsonrpc::error_body(
                invalid.id.as_ref(),
                &invalid.to_error(),
            )),
            Ok(Message::Request { id, method, .. }) if method == method::INITIALIZE => {
                Some(jsonrpc::error_body(
                    Some(&id),
                    &RpcError::invalid_request("initialize must not be part of a JSON-RPC batch"),
                ))
            }
            Ok(message) => handle(view, message, sandbox).await,
        };
        if let Some(piece) = piece {
            if any {
                out.push(b',');
            }
            out.extend_from_slice(&piece);
            any = true;
        }
    }
    out.push(b']');
    if any {
        http_util::json(StatusCode::OK, out)
    } else {
        http_util::empty(StatusCode::ACCEPTED)
    }
}

fn initialize(
    gw: &Gateway,
    view: &ServerView,
    id: &RequestId,
    params: Option<&serde_json::value::RawValue>,
) -> Response {
    let params: InitializeParams = match jsonrpc::params(params) {
        Ok(p) => p,
        Err(e) => return http_util::json(StatusCode::OK, jsonrpc::error_body(Some(id), &e)),
    };
    let version = ProtocolVersion::negotiate(&params.protocol_version);
    let caps = params
        .capabilities
        .as_deref()
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c.get()).ok())
        .map_or(0, |c| crate::session::ClientCaps::from_json(&c));
    let (session_id, _) = gw.sessions.issue(view.id, version, caps);
    let mut out = Vec::with_capacity(256);
    jsonrpc::write_result(&mut out, id, &view.initialize_result(version));
    let mut response = http_util::json(StatusCode::OK, out);
    response.headers_mut().insert(
        SESSION_HEADER,
        HeaderValue::from_str(&session_id).expect("session ids are visible ASCII"),
    );
    response
}

/// Handle one message of an established session. Returns the response body
/// for requests, `None` for notifications and client responses.
async fn handle(
    view: &ServerView,
    message: Message,
    sandbox: Option<&Sandbox<'_>>,
) -> Option<Vec<u8>> {
    let Message::Request { id, method, params } = message else {
        return None;
    };
    let mut out = Vec::with_capacity(128);
    let result = dispatch(view, &method, params.as_deref(), sandbox).await;
    match result {
        Ok(Reply::Borrowed(text)) => jsonrpc::write_result(&mut out, &id, text),
        Ok(Reply::Owned(raw)) => jsonrpc::write_result(&mut out, &id, raw.get()),
        Err(e) => jsonrpc::write_error(&mut out, Some(&id), &e),
    }
    Some(out)
}

enum Reply<'a> {
    Borrowed(&'a str),
    Owned(Box<serde_json::value::RawValue>),
}

#[derive(serde::Deserialize)]
struct NamedParams {
    name: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct LevelParams {
    level: String,
}

#[derive(serde::Deserialize)]
struct UriParams {
    uri: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// Forward a request to an upstream: its result or JSON-RPC error as is; a
/// transport failure as an internal error that says which upstream.
async fn proxy(
    client: &mcpgate_upstream::McpClient,
    method: &str,
    params: serde_json::Value,
) -> Result<Reply<'static>, RpcError> {
    match client.request(method, params).await {
        Ok(result) => Ok(Reply::Owned(
            serde_json::value::to_raw_value(&result).expect("JSON serializes"),
        )),
        Err(mcpgate_upstream::CallError::Rpc(e)) => Err(mcpgate_upstream::forwarded(&e)),
        Err(mcpgate_upstream::CallError::Transport(e)) => Err(RpcError::internal(format!(
            "the upstream MCP server at {} failed: {e}",
            client.url()
        ))),
    }
}

async fn dispatch<'a>(
    view: &'a ServerView,
    method: &str,
    params: Option<&serde_json::value::RawValue>,
    sandbox: Option<&Sandbox<'_>>,
) -> Result<Reply<'a>, RpcError> {
    match method {
        method::PING => Ok(Reply::Borrowed("{}")),
        method::TOOLS_LIST => {
            let p: ListParams = jsonrpc::params(params)?;
            view.tools_page(p.cursor.as_deref()).map(Reply::Borrowed)
        }
        method::TOOLS_CALL => {
            let p: CallToolParams = jsonrpc::params(params)?;
            let handler = view
                .handler(&p.name)
                .ok_or_else(|| RpcError::invalid_params(format!("Unknown tool: {}", p.name)))?;
            // In a sandbox twin, API and upstream tools are simulated; nothing leaves the gateway.
            if let Some(sb) = sandbox {
                use mcpgate_upstream::{Handler, simulator};
                if let Some(fault) = inject_fault(sb, view, &p.name).await {
                    return Ok(Reply::Owned(fault));
                }
                // A recorded real answer beats a generated one.
                if !matches!(handler, Handler::Builtin(_))
                    && let Some(mut replay) =
                        sb.gw
                            .fixtures
                            .find(view.id, &p.name, p.arguments.as_deref())
                {
                    if let Some(o) = replay.as_object_mut() {
                        o.insert(
                            "_meta".into(),
                            serde_json::json!({"io.mcpgate/simulated": true, "io.mcpgate/replayed": true}),
                        );
                    }
                    return Ok(Reply::Owned(
                        serde_json::value::to_raw_value(&replay).expect("JSON serializes"),
                    ));
                }
                match handler {
                    Handler::Rest(op) => {
                        return Ok(Reply::Owned(simulator::call(
                            &*sb.gw.sandbox,
                            &sb.id,
                            op,
                            p.arguments.as_deref(),
                        )));
                    }
                    Handler::Mcp(tool) => {
                        return Ok(Reply::Owned(simulator::mcp_call(
                            &sb.id,
                            &tool.name,
                            tool.output_schema.as_ref(),
                            p.arguments.as_deref(),
                        )));
                    }
                    Handler::Builtin(_) => {}
                }
            }
            Ok(Reply::Owned(
                view.executor()
                    .call(handler, p.arguments.as_deref())
                    .await?,
            ))
        }
        method::PROMPTS_LIST => {
            let p: ListParams = jsonrpc::params(params)?;
            view.prompts_page(p.cursor.as_deref()).map(Reply::Borrowed)
        }
        method::RESOURCES_LIST => {
            let p: ListParams = jsonrpc::params(params)?;
            view.resources_page(p.cursor.as_deref())
                .map(Reply::Borrowed)
        }
        method::RESOURCE_TEMPLATES_LIST => {
            let p: ListParams = jsonrpc::params(params)?;
            view.templates_page(p.cursor.as_deref())
                .map(Reply::Borrowed)
        }
        "prompts/get" => {
            let p: NamedParams = jsonrpc::params(params)?;
            let (client, name) =
                view.routes().prompts.get(&p.name).ok_or_else(|| {
                    RpcError::invalid_params(format!("Unknown prompt: {}", p.name))
                })?;
            let mut forward = p.rest;
            if let Some(arguments) = forward.get_mut("arguments") {
                view.routes().restore_prompt_arguments(&p.name, arguments);
            }
            forward.insert("name".into(), serde_json::Value::String(name.clone()));
            proxy(client, "prompts/get", serde_json::Value::Object(forward)).await
        }
        "logging/setLevel" => {
            if view.routes().logging.is_empty() {
                return Err(RpcError::method_not_found(method));
            }
            let p: LevelParams = jsonrpc::params(params)?;
            if LogLevel::parse(&p.level).is_none() {
                let names: Vec<&str> = LogLevel::ALL.iter().map(|l| l.as_str()).collect();
                return Err(RpcError::invalid_params(format!(
                    "Invalid log level {:?}; one of {}",
                    p.level,
                    names.join(", ")
                )));
            }
            // Every upstream of the portal that logs gets the same level.
            let calls =
                view.routes().logging.iter().map(|c| {
                    c.request("logging/setLevel", serde_json::json!({ "level": p.level }))
                });
            for result in futures_util::future::join_all(calls).await {
                if let Err(mcpgate_upstream::CallError::Rpc(e)) = result {
                    return Err(mcpgate_upstream::forwarded(&e));
                }
            }
            Ok(Reply::Borrowed("{}"))
        }
        "completion/complete" => {
            if !view.routes().completions {
                return Err(RpcError::method_not_found(method));
            }
            let mut p: serde_json::Map<String, serde_json::Value> = jsonrpc::params(params)?;
            let reference = p
                .get("ref")
                .cloned()
                .ok_or_else(|| RpcError::invalid_params("Invalid params: missing ref"))?;
            let kind = reference.get("type").and_then(|t| t.as_str()).unwrap_or("");
            let client = match kind {
                "ref/prompt" => {
                    let name = reference.get("name").and_then(|n| n.as_str()).unwrap_or("");
                    let (client, original) = view.routes().prompts.get(name).ok_or_else(|| {
                        RpcError::invalid_params(format!("Unknown prompt: {name}"))
                    })?;
                    p.insert(
                        "ref".into(),
                        serde_json::json!({"type": "ref/prompt", "name": original}),
                    );
                    // Argument names as the upstream declared them.
                    let routes = view.routes();
                    if let Some(arg) = p.get_mut("argument").and_then(|a| a.as_object_mut())
                        && let Some(serde_json::Value::String(n)) = arg.get_mut("name")
                    {
                        *n = routes.prompt_argument(name, n).to_owned();
                    }
                    if let Some(arguments) =
                        p.get_mut("context").and_then(|c| c.get_mut("arguments"))
                    {
                        routes.restore_prompt_arguments(name, arguments);
                    }
                    client
                }
                "ref/resource" => {
                    let uri = reference.get("uri").and_then(|n| n.as_str()).unwrap_or("");
                    view.routes()
                        .templates
                        .get(uri)
                        .or_else(|| view.routes().resources.get(uri))
                        .ok_or_else(|| {
                            RpcError::invalid_params(format!("Unknown resource: {uri}"))
                        })?
                }
                other => {
                    return Err(RpcError::invalid_params(format!(
                        "Invalid params: ref.type {other:?} is not ref/prompt or ref/resource"
                    )));
                }
            };
            proxy(client, "completion/complete", serde_json::Value::Object(p)).await
        }
        "resources/subscribe" | "resources/unsubscribe" => {
            let p: UriParams = jsonrpc::params(params)?;
            let client = view.routes().resource(&p.uri).ok_or_else(|| {
                RpcError::new(ErrorCode(-32002), format!("Resource not found: {}", p.uri))
            })?;
            let mut forward = p.rest;
            forward.insert("uri".into(), serde_json::Value::String(p.uri));
            proxy(client, method, serde_json::Value::Object(forward)).await
        }
        "resources/read" => {
            let p: UriParams = jsonrpc::params(params)?;
            let client = view.routes().resource(&p.uri).ok_or_else(|| {
                RpcError::new(ErrorCode(-32002), format!("Resource not found: {}", p.uri))
                    .with_data(&serde_json::json!({ "uri": p.uri }))
            })?;
            let mut forward = p.rest;
            forward.insert("uri".into(), serde_json::Value::String(p.uri));
            proxy(client, "resources/read", serde_json::Value::Object(forward)).await
        }
        other => Err(RpcError::method_not_found(other)),
    }
}

fn get(gw: &Gateway, gate: Gate<'_>, headers: &HeaderMap) -> Response {
    let started = Instant::now();
    let response = match admit(gw, gate, headers) {
        Err(r) => r,
        Ok(_) => Rejection::refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed: this gateway does not offer a standalone SSE stream; use POST",
        )
        .with_header(header::ALLOW, "POST, DELETE"),
    }
    .into_response();
    crate::ops::record_request("get", response.status(), started.elapsed());
    response
}

async fn delete(gw: &Gateway, gate: Gate<'_>, headers: &HeaderMap) -> Response {
    let started = Instant::now();
    let response = match admit(gw, gate, headers) {
        Err(r) => r.into_response(),
        // There are no sessions to end in the stateless era.
        Ok(_) if stateless::header_claims_stateless(headers) => Rejection::refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed: 2026-07-28 has no sessions to delete; use POST",
        )
        .with_header(header::ALLOW, "POST")
        .into_response(),
        Ok(admitted) => match session(gw, &admitted.view, headers) {
            Err(r) => r.into_response(),
            Ok(s) => {
                let expires = gw.sessions.expires_at(&s);
                // Persist first: a terminated session must stay terminated
                // after a restart and on other replicas.
                match gw.store.end_session(&nonce_hex(&s.nonce), expires).await {
                    Ok(()) => {
                        gw.sessions.mark_ended(s.nonce, expires);
                        gw.log_levels.forget(&s.nonce);
                        http_util::empty(StatusCode::NO_CONTENT)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not record session termination");
                        rpc_error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            None,
                            &RpcError::internal("the session could not be terminated; try again"),
                        )
                    }
                }
            }
        },
    };
    crate::ops::record_request("delete", response.status(), started.elapsed());
    response
}
