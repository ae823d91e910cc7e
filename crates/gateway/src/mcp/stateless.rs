//! The stateless era (MCP 2026-07-28) on every MCP endpoint: servers,
//! portals, integration settings and sandbox twins.
//!
//! A request whose `params._meta` names a protocol version is served here,
//! with no session: its version and capabilities are checked, its
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers must agree
//! with the body, and its result says `resultType` (plus cache hints on
//! lists). Everything else about the request — authentication, limits,
//! scopes, the executors — is the same code the handshake era uses.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use mcpgate_protocol::jsonrpc;
use mcpgate_protocol::stateless::{
    self, META_SUBSCRIPTION_ID, METHOD_HEADER, NAME_HEADER, REMOVED_METHODS, RequestMeta, VERSION,
};
use mcpgate_protocol::{ErrorCode, RequestId, RpcError};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;

use super::{Reply, Sandbox, VERSION_HEADER, dispatch, rpc_error};
use crate::Gateway;
use crate::fixtures::Recording;
use crate::http_util;
use crate::view::ServerView;

/// How long a client may treat a list (or `server/discover`) as fresh. A
/// server's lists change only when an admin edits it, and
/// `subscriptions/listen` announces that at once.
const LIST_TTL_MS: u64 = 30_000;

/// How often a listen stream checks whether its server's lists changed (and
/// whether its key still works), and sends a keep-alive comment.
const LISTEN_CHECK: Duration = Duration::from_secs(1);
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Whether the request's `MCP-Protocol-Version` header names the stateless era.
pub(super) fn header_claims_stateless(headers: &HeaderMap) -> bool {
    headers
        .get(VERSION_HEADER)
        .is_some_and(|v| v.as_bytes() == VERSION.as_bytes())
}

/// The refusal of a request that claims the stateless era in its header but
/// carries no `_meta` protocol version (-32602, HTTP 400).
pub(super) fn missing_meta(id: Option<&RequestId>) -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        id,
        &RpcError::invalid_params(format!(
            "Invalid params: a {VERSION} request must carry \
             _meta[\"{}\"] and _meta[\"{}\"]; or send initialize to use a 2025 version",
            stateless::META_PROTOCOL_VERSION,
            stateless::META_CLIENT_CAPABILITIES
        )),
    )
}

/// One stateless request, already authenticated and admitted.
pub(super) struct Request<'a> {
    pub gw: &'a Arc<Gateway>,
    pub view: Arc<ServerView>,
    /// The token it presented (a listen stream re-checks it).
    pub token: &'a str,
    pub sandbox: Option<Sandbox<'a>>,
    pub id: RequestId,
    pub method: String,
    pub params: Option<Box<RawValue>>,
    pub meta: RequestMeta,
    /// The client accepts `text/event-stream` answers.
    pub streaming: bool,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// The id of the key it presented.
    pub key: uuid::Uuid,
    /// The key's concurrency permit, held while the request runs (a
    /// streamed portal call takes it along); none for a listen stream.
    pub permit: Option<super::Permit>,
}

/// Serve a stateless request.
pub(super) async fn serve(mut req: Request<'_>) -> Response {
    let (id, headers) = (&req.id, req.headers);
    // Headers first: a header that disagrees with the body is -32020 even
    // when the body's version is one we do not speak.
    if let Err(e) = check_headers(headers, &req) {
        return rpc_error(StatusCode::BAD_REQUEST, Some(id), &e);
    }
    if let Err(e) = req.meta.validate() {
        return rpc_error(StatusCode::BAD_REQUEST, Some(id), &e);
    }
    if let Err(e) = check_param_headers(headers, &req) {
        return rpc_error(StatusCode::BAD_REQUEST, Some(id), &e);
    }
    let method = req.method.as_str();
    // What a server does not declare in `server/discover` it does not
    // handle: clients take a successful answer as support. (Prompts and
    // resources are always declared; completions only where an upstream
    // offers them.)
    if method == "completion/complete" && !req.view.offers("completions") {
        return rpc_error(
            StatusCode::NOT_FOUND,
            Some(id),
            &RpcError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("Method not found: {method} (this server offers no completions)"),
            ),
        );
    }
    if REMOVED_METHODS.contains(&method) {
        return rpc_error(
            StatusCode::NOT_FOUND,
            Some(id),
            &RpcError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("Method not found: {method} was removed in {VERSION}"),
            ),
        );
    }
    match method {
        "server/discover" => result(id, &req.view.discover_result(LIST_TTL_MS)),
        "subscriptions/listen" => listen(&req),
        _ => call(&mut req).await,
    }
}

/// Every method but the two the stateless era added: the same dispatch as
/// a session's, with the result marked and cache hints on lists.
async fn call(req: &mut Request<'_>) -> Response {
    let (id, method, params) = (&req.id, req.method.as_str(), req.params.as_deref());
    // A portal tool: its upstream may ask the client something mid-call.
    if method == "tools/call"
        && req.sandbox.is_none()
        && let Some((tool, params)) = super::portal_tool(&req.view, params)
    {
        let recording = Recording::new(req.gw, &req.view, &params);
        let reply = super::bridge::Reply {
            waiting: &req.gw.waiting,
            meta: &req.meta,
            id,
            streaming: req.streaming,
            passthrough: super::param_headers(req.headers),
            key: req.key,
            sealer: req.gw.sessions.key(),
            permit: req.permit.take(),
        };
        return super::bridge::call(reply, tool, params, recording).await;
    }
    let recording = match &req.sandbox {
        None if method == "tools/call" => Recording::for_raw(req.gw, &req.view, params),
        _ => None,
    };
    match dispatch(&req.view, method, params, req.sandbox.as_ref()).await {
        Ok(reply) => {
            let text = match &reply {
                Reply::Borrowed(text) => text,
                Reply::Owned(raw) => raw.get(),
            };
            if let Some(recording) = recording {
                let mut legacy = Vec::with_capacity(text.len() + 64);
                jsonrpc::write_result(&mut legacy, id, text);
                recording.save_response(&legacy);
            }
            let fields = match method {
                "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                    format!(
                        r#""resultType":"complete","ttlMs":{LIST_TTL_MS},"cacheScope":"private""#
                    )
                }
                // Upstream content may change at any time.
                "resources/read" => {
                    r#""resultType":"complete","ttlMs":0,"cacheScope":"private""#.to_owned()
                }
                _ => r#""resultType":"complete""#.to_owned(),
            };
            result(id, &stateless::with_fields(text, &fields))
        }
        // A missing resource is -32602 in this era (-32002 before).
        Err(e) if e.code == -32002 => {
            let mut e = e;
            e.code = ErrorCode::INVALID_PARAMS.0;
            http_util::json(StatusCode::OK, jsonrpc::error_body(Some(id), &e))
        }
        Err(e) => rpc_error(era_status(&e), Some(id), &e),
    }
}

/// The HTTP status of an error answer in this era (an upstream's included).
pub(super) fn era_status(e: &RpcError) -> StatusCode {
    StatusCode::from_u16(stateless::http_status(e.code)).unwrap_or(StatusCode::OK)
}

fn result(id: &RequestId, text: &str) -> Response {
    let mut out = Vec::with_capacity(text.len() + 48);
    jsonrpc::write_result(&mut out, id, text);
    http_util::json(StatusCode::OK, out)
}

/// The header rules: `MCP-Protocol-Version` equal to the `_meta` version,
/// `Mcp-Method` equal to the method, and for `tools/call`, `prompts/get` and
/// `resources/read` an `Mcp-Name` equal to the name (or URI) — each after
/// `=?base64?…?=` decoding.
fn check_headers(headers: &HeaderMap, req: &Request<'_>) -> Result<(), RpcError> {
    let header = |name: &str| -> Result<Option<String>, RpcError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => stateless::decode_header(v.as_bytes()).map(Some).ok_or_else(|| {
                stateless::header_mismatch(format!(
                    "Header mismatch: {name} is not valid (a =?base64?…?= value must decode to UTF-8)"
                ))
            }),
        }
    };
    let agree = |name: &str, expected: &str| -> Result<(), RpcError> {
        match header(name)? {
            Some(got) if got == expected => Ok(()),
            Some(got) => Err(stateless::header_mismatch(format!(
                "Header mismatch: {name} is {got:?} but the request body says {expected:?}"
            ))),
            None => Err(stateless::header_mismatch(format!(
                "Header mismatch: the {name} header is required on {VERSION} requests \
                 (it must be {expected:?})"
            ))),
        }
    };
    agree(VERSION_HEADER, &req.meta.version)?;
    agree(METHOD_HEADER, &req.method)?;
    if let Some(Some(name)) = stateless::expected_name(&req.method, req.params.as_deref()) {
        agree(NAME_HEADER, &name)?;
    }
    Ok(())
}

/// `Mcp-Param-*` headers of a `tools/call`: each argument the tool's schema
/// marks `x-mcp-header` must arrive in its header too, with the same value
/// (strings as they are, numbers and booleans as JSON writes them; a
/// `=?base64?…?=` value decoded first, and strictly), and a header must not
/// name an argument the body leaves out.
fn check_param_headers(headers: &HeaderMap, req: &Request<'_>) -> Result<(), RpcError> {
    if req.method != "tools/call" {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct Call {
        name: String,
        #[serde(default)]
        arguments: serde_json::Map<String, serde_json::Value>,
    }
    let Some(call) = req
        .params
        .as_deref()
        .and_then(|p| serde_json::from_str::<Call>(p.get()).ok())
    else {
        // A malformed call gets its -32602 from the dispatch.
        return Ok(());
    };
    for marked in req.view.param_headers(&call.name) {
        let name = format!("{}{}", stateless::PARAM_HEADER_PREFIX, marked.header);
        let sent = headers.get(&name);
        let expected = stateless::param_header_value(call.arguments.get(&marked.argument));
        match (expected, sent) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(stateless::header_mismatch(format!(
                    "Header mismatch: {name} is sent but the arguments have no {:?}",
                    marked.argument
                )));
            }
            (Some(_), None) => {
                return Err(stateless::header_mismatch(format!(
                    "Header mismatch: argument {:?} of {} must also be sent in the {name} header",
                    marked.argument, call.name
                )));
            }
            (Some(expected), Some(value)) => {
                let got = stateless::decode_header(value.as_bytes()).ok_or_else(|| {
                    stateless::header_mismatch(format!(
                        "Header mismatch: {name} is not valid (a =?base64?…?= value must be \
                         padded standard base64 of UTF-8 text)"
                    ))
                })?;
                if got != expected {
                    return Err(stateless::header_mismatch(format!(
                        "Header mismatch: {name} is {got:?} but argument {:?} is {expected:?}",
                        marked.argument
                    )));
                }
            }
        }
    }
    Ok(())
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    tools_list_changed: bool,
    #[serde(default)]
    prompts_list_changed: bool,
    #[serde(default)]
    resources_list_changed: bool,
}

#[derive(serde::Deserialize)]
struct ListenParams {
    #[serde(default)]
    notifications: Filter,
}

/// `subscriptions/listen`: a long-lived SSE stream. First the
/// acknowledgement (the list kinds asked for; `resourceSubscriptions` is not
/// offered, so never agreed to), then a
/// `list_changed` notification of each requested kind whenever the
/// server's lists change; it ends with the listen result when the key stops
/// working (revoked, expired, server deleted or disabled). It holds no
/// concurrency permit: it is idle nearly always.
fn listen(req: &Request<'_>) -> Response {
    let params: ListenParams = match jsonrpc::params(req.params.as_deref()) {
        Ok(p) => p,
        Err(e) => return http_util::json(StatusCode::OK, jsonrpc::error_body(Some(&req.id), &e)),
    };
    // Every server declares all three lists in `server/discover`.
    let wanted = [
        params.notifications.tools_list_changed,
        params.notifications.prompts_list_changed,
        params.notifications.resources_list_changed,
    ];
    const KINDS: [(&str, &str); 3] = [
        ("toolsListChanged", "notifications/tools/list_changed"),
        ("promptsListChanged", "notifications/prompts/list_changed"),
        (
            "resourcesListChanged",
            "notifications/resources/list_changed",
        ),
    ];
    let mut agreed = serde_json::Map::new();
    for (i, (field, _)) in KINDS.iter().enumerate() {
        if wanted[i] {
            agreed.insert((*field).into(), true.into());
        }
    }
    let subscription: serde_json::Value =
        serde_json::from_str(req.id.as_json()).unwrap_or_default();
    let meta = serde_json::json!({ META_SUBSCRIPTION_ID: subscription });
    let ack = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {"notifications": agreed, "_meta": meta},
    });

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let _ = tx.send(ack.to_string());
    let (gw, token, id) = (Arc::clone(req.gw), req.token.to_owned(), req.id.clone());
    let mut seen = Arc::clone(&req.view);
    tokio::spawn(async move {
        let mut check = tokio::time::interval(LISTEN_CHECK);
        let mut idle = Duration::ZERO;
        loop {
            tokio::select! {
                _ = check.tick() => {}
                // The client went away.
                () = tx.closed() => return,
            }
            let Ok(admitted) = gw.registry.authenticate(&token) else {
                let mut out = Vec::new();
                let end = serde_json::json!({"resultType": "complete", "_meta": meta});
                jsonrpc::write_result(&mut out, &id, &end.to_string());
                let _ = tx.send(String::from_utf8(out).expect("JSON is UTF-8"));
                return;
            };
            let unchanged = seen.lists_unchanged(&admitted.view);
            let mut sent = false;
            for (i, (_, method)) in KINDS.iter().enumerate() {
                if wanted[i] && !unchanged[i] {
                    let note = serde_json::json!({
                        "jsonrpc": "2.0",
                        "method": method,
                        "params": {"_meta": meta},
                    });
                    sent |= tx.send(note.to_string()).is_ok();
                }
            }
            seen = admitted.view;
            idle = if sent {
                Duration::ZERO
            } else {
                idle + LISTEN_CHECK
            };
            if idle >= KEEP_ALIVE {
                idle = Duration::ZERO;
                // An empty message is sent as an SSE comment (see below).
                if tx.send(String::new()).is_err() {
                    return;
                }
            }
        }
    });
    listen_response(rx)
}

/// The listen stream as SSE: messages as `message` events, an empty string
/// as a `:` keep-alive comment.
fn listen_response(rx: tokio::sync::mpsc::UnboundedReceiver<String>) -> Response {
    use axum::response::sse::{Event, Sse};
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|m| {
            let event = if m.is_empty() {
                Event::default().comment("keep-alive")
            } else {
                Event::default().event("message").data(m)
            };
            (Ok::<_, std::convert::Infallible>(event), rx)
        })
    });
    let mut response = axum::response::IntoResponse::into_response(Sse::new(events));
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
