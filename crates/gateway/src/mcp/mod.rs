//! The Streamable HTTP data plane: `POST|GET|DELETE /mcp/{token}` and `/mcp`
//! with a bearer token, and the JSON-RPC endpoints of integrations' MCP
//! settings (`…/mcp:call`, sandbox twin `…/mcp:test`).
//!
//! A POST goes through rooms named for its steps, in order:
//! [`admission`] (Origin, token, key, limits, Accept/Content-Type/body,
//! JSON-RPC parse) → the era: [`stateless`] (2026-07-28: `_meta` and header
//! rules) or [`handshake`] (2025: initialize, session, version header,
//! batches) → [`dispatch`] (method → handler; a `tools/call` parsed once
//! into a [`call::ToolCall`]) → the handler: the view, the [`twin`], or the
//! [`relay`] for portal tools → [`stream`] (SSE or JSON). Refusals are
//! written by [`rejection`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;

use crate::Gateway;
use crate::http_util;
use admission::{Gate, admit};
use dispatch::Ctx;
use rejection::Rejection;

mod admission;
mod call;
mod dispatch;
mod handshake;
mod rejection;
pub(crate) mod relay;
mod stateless;
mod stream;
mod twin;

pub use admission::{Permit, SESSION_HEADER, VERSION_HEADER};

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

/// The path of an integration's MCP settings endpoint: tenant, integration.
type IntegrationPath = Path<(String, String)>;

/// The gate of an integration's MCP settings endpoint.
fn integration((tenant, integration): &(String, String)) -> Gate<'_> {
    Gate::Integration {
        tenant,
        integration,
    }
}

/// POST /v1/tenants/{tenant}/integrations/{integration}/mcp:call
pub async fn post_integration(
    State(gw): State<Arc<Gateway>>,
    Path(path): IntegrationPath,
    headers: HeaderMap,
    body: Body,
) -> Response {
    post(&gw, integration(&path), false, headers, body).await
}

/// POST …/mcp:test — the sandbox twin of `mcp:call`.
pub async fn post_integration_test(
    State(gw): State<Arc<Gateway>>,
    Path(path): IntegrationPath,
    headers: HeaderMap,
    body: Body,
) -> Response {
    post(&gw, integration(&path), true, headers, body).await
}

/// GET …/mcp:call
pub async fn get_integration(
    State(gw): State<Arc<Gateway>>,
    Path(path): IntegrationPath,
    headers: HeaderMap,
) -> Response {
    get(&gw, integration(&path), &headers)
}

/// DELETE …/mcp:call
pub async fn delete_integration(
    State(gw): State<Arc<Gateway>>,
    Path(path): IntegrationPath,
    headers: HeaderMap,
) -> Response {
    delete(&gw, integration(&path), &headers).await
}

/// A POST, counted in the request metrics by method and status.
async fn post(
    gw: &Arc<Gateway>,
    gate: Gate<'_>,
    sandbox: bool,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let mut label = "unparsed";
    let response = pipeline(gw, gate, sandbox, &headers, body, &mut label).await;
    crate::ops::record_request(label, response.status(), started.elapsed());
    response
}

/// The pipeline of a POST: admission, then the era that claims the message.
async fn pipeline(
    gw: &Arc<Gateway>,
    gate: Gate<'_>,
    sandbox: bool,
    headers: &HeaderMap,
    body: Body,
    label: &mut &'static str,
) -> Response {
    let max_body = gw.max_body_bytes;
    let admission = match admit(gw, gate, headers) {
        Ok(a) => a,
        Err(r) => return admission::refuse_unread(r, headers, body, max_body).await,
    };
    // Held until the answer is complete: success, error, timeout or a
    // client that went away (the future is dropped) all give it back.
    let permit = match admission::limit(gw.cluster_limits.as_deref(), &admission.key, sandbox).await
    {
        Ok(p) => p,
        Err(r) => return admission::refuse_unread(r, headers, body, max_body).await,
    };
    let incoming = match admission::read_message(headers, body, max_body).await {
        Ok(incoming) => incoming,
        Err(response) => return response,
    };
    let twin = sandbox.then(|| twin::Twin::new(&gw.twins, admission.key.id));
    let ctx = Ctx {
        gw,
        view: &admission.view,
        twin: twin.as_ref(),
        headers,
        streaming: http_util::accepts(headers, "text/event-stream"),
    };
    // A request naming its protocol version in `_meta` is of the stateless
    // era: no session, no handshake.
    match stateless::classify(incoming) {
        Ok((request, meta)) => {
            *label = call::method_label(&request.method);
            let req = stateless::Stateless {
                request,
                meta,
                token: admission.token,
                key: admission.key.id,
                permit: Some(permit),
            };
            stateless::serve(&ctx, req).await
        }
        Err(incoming) => handshake::serve(&ctx, incoming, permit, label).await,
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
        Ok(admitted) => handshake::end_session(gw, &admitted.view, headers).await,
    };
    crate::ops::record_request("delete", response.status(), started.elapsed());
    response
}
