//! The handshake era (2025-03-26 … 2025-11-25): `initialize` opens a
//! signed session; every later message names it (`Mcp-Session-Id`) and its
//! version (`MCP-Protocol-Version`); notifications and the client's
//! answers to relayed requests are accepted with 202; batches only where
//! the session's version allows them.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use mcpgate_protocol::jsonrpc::InvalidMessage;
use mcpgate_protocol::mcp::{InitializeParams, LogLevel, method, notification};
use mcpgate_protocol::{Incoming, Message, ProtocolVersion, RequestId, RpcError, jsonrpc};

use crate::Gateway;
use crate::http_util;
use crate::mcp::admission::{self, Permit, SESSION_HEADER};
use crate::mcp::call::{Request, method_label};
use crate::mcp::dispatch::{self, Answer, Ctx, LevelParams, Reply};
use crate::mcp::rejection::rpc_error;
use crate::mcp::relay::Caller;
use crate::mcp::stateless;
use crate::session::{ClientCaps, Session, nonce_hex};
use crate::view::ServerView;

/// Serve a POST of the handshake era (anything the stateless era did not
/// claim); `label` is set to the method for metrics.
pub(crate) async fn serve(
    ctx: &Ctx<'_>,
    incoming: Incoming,
    permit: Permit,
    label: &mut &'static str,
) -> Response {
    let gw = ctx.gw;
    if stateless::header_claims_stateless(ctx.headers) {
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
        return initialize(ctx, id, params.as_deref());
    }

    let session = match admission::session(&gw.sessions, ctx.view, ctx.headers) {
        Ok(s) => s,
        Err(r) => return r.answering(incoming.request_id()),
    };
    if let Err(r) = admission::header_version(ctx.headers) {
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
            note_log_level(ctx, &session, &message);
            match message {
                Message::Request { id, method, params } => {
                    let request = Request::new(id, method, params);
                    let id = request.id.clone();
                    let caller = Caller::Session(&session);
                    match dispatch::serve(ctx, caller, request, Some(permit)).await {
                        Answer::Relayed(response) => response,
                        Answer::Reply(reply) => {
                            http_util::json(StatusCode::OK, write_reply(&id, reply))
                        }
                    }
                }
                Message::Notification { method, .. } if method == method::INITIALIZE => rpc_error(
                    StatusCode::BAD_REQUEST,
                    None,
                    &RpcError::invalid_request("initialize must be a request (it needs an id)"),
                ),
                Message::Notification { method, params } => {
                    if method == notification::CANCELLED {
                        gw.relays
                            .sessions()
                            .forward_cancel(&session, params.as_deref());
                    }
                    http_util::empty(StatusCode::ACCEPTED)
                }
                Message::Response { id, body, is_error } => {
                    gw.relays
                        .sessions()
                        .route_response(&session, &id, &body, is_error);
                    http_util::empty(StatusCode::ACCEPTED)
                }
            }
        }
        Incoming::Batch(items) => {
            *label = "batch";
            for message in items.iter().flatten() {
                note_log_level(ctx, &session, message);
            }
            batch(ctx, &session, items).await
        }
    }
}

/// Remember the level a session's `logging/setLevel` asks for: the upstream
/// log lines relayed to that session are filtered by it (a session that
/// never asked gets none). Invalid levels are refused by the dispatch.
fn note_log_level(ctx: &Ctx<'_>, session: &Session, message: &Message) {
    let Message::Request { method, params, .. } = message else {
        return;
    };
    if method != method::LOGGING_SET_LEVEL {
        return;
    }
    if let Ok(p) = jsonrpc::params::<LevelParams>(params.as_deref())
        && let Some(level) = LogLevel::parse(&p.level)
    {
        let expires = ctx.gw.sessions.expires_at(session);
        ctx.gw
            .relays
            .sessions()
            .log_levels
            .set(session.nonce, level, expires);
    }
}

/// A reply as this era's JSON-RPC response: the result, or the error (both
/// with HTTP 200).
fn write_reply(id: &RequestId, reply: Result<Reply<'_>, RpcError>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    match reply {
        Ok(reply) => jsonrpc::write_result(&mut out, id, reply.text()),
        Err(e) => jsonrpc::write_error(&mut out, Some(id), &e),
    }
    out
}

/// A JSON-RPC batch (2025-03-26 sessions only): each request answered in
/// order, notifications and responses skipped; 202 when nothing answers.
async fn batch(
    ctx: &Ctx<'_>,
    session: &Session,
    items: Vec<Result<Message, InvalidMessage>>,
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
            Ok(Message::Request { id, method, params }) => {
                let request = Request::new(id, method, params);
                let reply = dispatch::dispatch(ctx.view, &request, ctx.twin).await;
                Some(write_reply(&request.id, reply))
            }
            Ok(_) => None,
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

/// `initialize`: negotiate the version, sign a session id for this server
/// (in `Mcp-Session-Id`), and answer with the view's pre-serialized result.
fn initialize(
    ctx: &Ctx<'_>,
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
        .map_or(0, |c| ClientCaps::from_json(&c));
    let (session_id, _) = ctx.gw.sessions.issue(ctx.view.id, version, caps);
    let mut out = Vec::with_capacity(256);
    jsonrpc::write_result(&mut out, id, &ctx.view.initialize_result(version));
    let mut response = http_util::json(StatusCode::OK, out);
    response.headers_mut().insert(
        SESSION_HEADER,
        HeaderValue::from_str(&session_id).expect("session ids are visible ASCII"),
    );
    response
}

/// `DELETE` of a session: recorded as ended in the store first (so it
/// stays ended after a restart and on other replicas), then here; 204, or
/// 503 when the store cannot record it.
pub(crate) async fn end_session(gw: &Gateway, view: &ServerView, headers: &HeaderMap) -> Response {
    let s = match admission::session(&gw.sessions, view, headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let expires = gw.sessions.expires_at(&s);
    match gw.store.end_session(&nonce_hex(&s.nonce), expires).await {
        Ok(()) => {
            gw.sessions.mark_ended(s.nonce, expires);
            gw.relays.sessions().log_levels.forget(&s.nonce);
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
