//! The stateless era (MCP 2026-07-28) on every MCP endpoint: servers,
//! portals, integration settings and sandbox twins.
//!
//! A request whose `params._meta` names a protocol version is served here,
//! with no session: its version and capabilities are checked, its
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers must agree
//! with the body, and its result says `resultType` (plus cache hints on
//! lists). Everything else about the request — authentication, limits,
//! scopes, the executors — is the same code the handshake era uses.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_protocol::mcp::{method, notification};
use mcpgate_protocol::stateless::{
    self, META_SUBSCRIPTION_ID, METHOD_HEADER, NAME_HEADER, REMOVED_METHODS, RequestMeta, VERSION,
};
use mcpgate_protocol::{ErrorCode, Incoming, Message, RequestId, RpcError, jsonrpc};
use std::sync::Arc;
use std::time::Duration;

use crate::http_util;
use crate::mcp::admission::{Permit, VERSION_HEADER};
use crate::mcp::call::{Params, Request};
use crate::mcp::dispatch::{self, Answer, Ctx};
use crate::mcp::rejection::{era_status, rpc_error};
use crate::mcp::relay::Caller;
use crate::mcp::stream;

/// How long a client may treat a list (or `server/discover`) as fresh. A
/// server's lists change only when an admin edits it, and
/// `subscriptions/listen` announces that at once.
const LIST_TTL_MS: u64 = 30_000;

/// How often a listen stream checks whether its server's lists changed (and
/// whether its key still works), and sends a keep-alive comment.
const LISTEN_CHECK: Duration = Duration::from_secs(1);
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

/// Whether the request's `MCP-Protocol-Version` header names the stateless era.
pub(crate) fn header_claims_stateless(headers: &HeaderMap) -> bool {
    headers
        .get(VERSION_HEADER)
        .is_some_and(|v| v.as_bytes() == VERSION.as_bytes())
}

/// The refusal of a request that claims the stateless era in its header but
/// carries no `_meta` protocol version (-32602, HTTP 400).
pub(crate) fn missing_meta(id: Option<&RequestId>) -> Response {
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

/// One stateless request, already admitted.
pub(crate) struct Stateless<'a> {
    /// The request.
    pub request: Request,
    /// What its `_meta` says about the client.
    pub meta: RequestMeta,
    /// The token it presented (a listen stream re-checks it).
    pub token: &'a str,
    /// The id of the key it presented.
    pub key: uuid::Uuid,
    /// The key's concurrency permit, held while the request runs (a
    /// streamed portal call takes it along); a listen stream gives it back.
    pub permit: Option<Permit>,
}

/// The request and its `_meta`, when `incoming` is of the stateless era
/// (one request whose params name a protocol version in `_meta`); the
/// message back untouched otherwise.
pub(crate) fn classify(incoming: Incoming) -> Result<(Request, RequestMeta), Incoming> {
    match incoming {
        Incoming::Single(Ok(Message::Request { id, method, params })) => {
            match stateless::request_meta(params.as_deref()) {
                Some(meta) => Ok((Request::new(id, method, params), meta)),
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

/// Serve a stateless request: the era's rules, then the same dispatch as a
/// session's, with the result marked.
pub(crate) async fn serve(ctx: &Ctx<'_>, mut req: Stateless<'_>) -> Response {
    let method = req.request.method.as_str();
    // Long-lived and idle, a listen stream holds no permit.
    if method == method::SUBSCRIPTIONS_LISTEN {
        req.permit = None;
    }
    let id = &req.request.id;
    // Headers first: a header that disagrees with the body is -32020 even
    // when the body's version is one we do not speak.
    if let Err(e) = check_headers(ctx.headers, &req) {
        return rpc_error(StatusCode::BAD_REQUEST, Some(id), &e);
    }
    if let Err(e) = req.meta.validate() {
        return rpc_error(StatusCode::BAD_REQUEST, Some(id), &e);
    }
    if let Err(e) = check_param_headers(ctx, &req.request) {
        return rpc_error(StatusCode::BAD_REQUEST, Some(id), &e);
    }
    // What a server does not declare in `server/discover` it does not
    // handle: clients take a successful answer as support. (Prompts and
    // resources are always declared; completions only where an upstream
    // offers them.)
    if method == method::COMPLETION_COMPLETE && !ctx.view.offers("completions") {
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
        method::SERVER_DISCOVER => stream::result(id, &ctx.view.discover_result(LIST_TTL_MS)),
        method::SUBSCRIPTIONS_LISTEN => listen(ctx, &req.request, req.token),
        _ => call(ctx, req).await,
    }
}

/// Every method but the two the stateless era added: the same pipeline as
/// a session's, with the result marked and cache hints on lists.
async fn call(ctx: &Ctx<'_>, req: Stateless<'_>) -> Response {
    let Stateless {
        request,
        meta,
        key,
        permit,
        ..
    } = req;
    let id = request.id.clone();
    let fields = result_fields(&request.method);
    let caller = Caller::Stateless {
        meta: &meta,
        key,
        sealer: ctx.gw.sessions.key(),
    };
    match dispatch::serve(ctx, caller, request, permit).await {
        Answer::Relayed(response) => response,
        Answer::Reply(Ok(reply)) => {
            stream::result(&id, &stateless::with_fields(reply.text(), &fields))
        }
        // A missing resource is -32602 in this era (-32002 before).
        Answer::Reply(Err(mut e)) if e.code == -32002 => {
            e.code = ErrorCode::INVALID_PARAMS.0;
            http_util::json(StatusCode::OK, jsonrpc::error_body(Some(&id), &e))
        }
        Answer::Reply(Err(e)) => rpc_error(era_status(&e), Some(&id), &e),
    }
}

/// The fields this era adds to a method's result: `resultType`, and cache
/// hints on lists and reads.
fn result_fields(method: &str) -> String {
    match method {
        method::TOOLS_LIST
        | method::PROMPTS_LIST
        | method::RESOURCES_LIST
        | method::RESOURCE_TEMPLATES_LIST => {
            format!(r#""resultType":"complete","ttlMs":{LIST_TTL_MS},"cacheScope":"private""#)
        }
        // Upstream content may change at any time.
        method::RESOURCES_READ => {
            r#""resultType":"complete","ttlMs":0,"cacheScope":"private""#.to_owned()
        }
        _ => r#""resultType":"complete""#.to_owned(),
    }
}

/// The header rules: `MCP-Protocol-Version` equal to the `_meta` version,
/// `Mcp-Method` equal to the method, and for `tools/call`, `prompts/get` and
/// `resources/read` an `Mcp-Name` equal to the name (or URI) — each after
/// `=?base64?…?=` decoding.
fn check_headers(headers: &HeaderMap, req: &Stateless<'_>) -> Result<(), RpcError> {
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
    let request = &req.request;
    agree(VERSION_HEADER, &req.meta.version)?;
    agree(METHOD_HEADER, &request.method)?;
    // A `tools/call`'s name from its parsed call; a malformed one has none
    // to agree with (its -32602 comes from the dispatch).
    let name = match &request.params {
        Params::Tool(call) => call.as_ref().ok().map(|c| c.name.clone()),
        Params::Raw(params) => {
            stateless::expected_name(&request.method, params.as_deref()).flatten()
        }
    };
    if let Some(name) = name {
        agree(NAME_HEADER, &name)?;
    }
    Ok(())
}

/// `Mcp-Param-*` headers of a `tools/call`: each argument the tool's schema
/// marks `x-mcp-header` must arrive in its header too, with the same value
/// (strings as they are, numbers and booleans as JSON writes them; a
/// `=?base64?…?=` value decoded first, and strictly), and a header must not
/// name an argument the body leaves out.
fn check_param_headers(ctx: &Ctx<'_>, request: &Request) -> Result<(), RpcError> {
    // A malformed call gets its -32602 from the dispatch.
    let Some(call) = request.tool_call() else {
        return Ok(());
    };
    let marked_args = ctx.view.param_headers(&call.name);
    if marked_args.is_empty() {
        return Ok(());
    }
    // Arguments that are not an object are the executor's to refuse.
    let Some(arguments) = call.arguments_object() else {
        return Ok(());
    };
    let headers = ctx.headers;
    for marked in marked_args {
        let name = format!("{}{}", stateless::PARAM_HEADER_PREFIX, marked.header);
        let sent = headers.get(&name);
        let expected = stateless::param_header_value(arguments.get(&marked.argument));
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
fn listen(ctx: &Ctx<'_>, req: &Request, token: &str) -> Response {
    let params: ListenParams = match jsonrpc::params(req.raw_params()) {
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
        ("toolsListChanged", notification::TOOLS_LIST_CHANGED),
        ("promptsListChanged", notification::PROMPTS_LIST_CHANGED),
        ("resourcesListChanged", notification::RESOURCES_LIST_CHANGED),
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
        "method": notification::SUBSCRIPTIONS_ACKNOWLEDGED,
        "params": {"notifications": agreed, "_meta": meta},
    });

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let _ = tx.send(ack.to_string());
    let (gw, token, id) = (Arc::clone(ctx.gw), token.to_owned(), req.id.clone());
    let mut seen = Arc::clone(ctx.view);
    tokio::spawn(async move {
        let mut check = tokio::time::interval(LISTEN_CHECK);
        let mut idle = Duration::ZERO;
        loop {
            tokio::select! {
                _ = check.tick() => {}
                // The client went away.
                () = tx.closed() => return,
            }
            let Ok(admitted) = gw.index.authenticate(&token) else {
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
            if idle >= KEEP_ALIVE_EVERY {
                idle = Duration::ZERO;
                // Sent as an SSE comment (see `stream`).
                if tx.send(stream::KEEP_ALIVE).is_err() {
                    return;
                }
            }
        }
    });
    stream::sse_from_unbounded(rx)
}
