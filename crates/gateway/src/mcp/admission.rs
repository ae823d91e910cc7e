//! Admission: everything decided about a request before its method is
//! looked at — the token (read once), the key and its server, the key's
//! limits and concurrency permit, the request's headers and body, and (for
//! the 2025 era) its session and `MCP-Protocol-Version`.
//!
//! Order on a POST: Origin (403) → token (401) → limits (429) → Accept
//! (406) → Content-Type (415) → body size (413) → JSON-RPC parse (400).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use mcpgate_protocol::jsonrpc::{self, Incoming};
use mcpgate_protocol::{ErrorCode, ProtocolVersion, RpcError};
use std::sync::Arc;

use crate::Gateway;
use crate::cluster_limits::{ClusterLimits, Lease};
use crate::http_util::{self, BodyError};
use crate::index::{Admitted, AuthFailure, KeyEntry};
use crate::mcp::rejection::{Rejection, rpc_error};
use crate::session::{Session, Sessions};
use crate::view::ServerView;

/// Header carrying the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// Header carrying the protocol version after initialization.
pub const VERSION_HEADER: &str = "mcp-protocol-version";

/// How a route identifies the server a request is for.
#[derive(Clone, Copy)]
pub(crate) enum Gate<'a> {
    /// `/mcp/{token}`, or `/mcp` with a bearer token.
    Token(Option<&'a str>),
    /// The JSON-RPC endpoint of an integration's MCP settings: the key (in
    /// `X-API-KEY` or bearer) must belong to that tenant and integration.
    Integration {
        /// The tenant in the path.
        tenant: &'a str,
        /// The integration's id or name in the path.
        integration: &'a str,
    },
}

/// An admitted request's key, its server, and the token it presented.
pub(crate) struct Admission<'a> {
    /// The server the key opens.
    pub view: Arc<ServerView>,
    /// The key.
    pub key: Arc<KeyEntry>,
    /// The token as presented (a 2026 listen stream re-checks it).
    pub token: &'a str,
}

/// Checks shared by every method: Origin, then the key.
pub(crate) fn admit<'a>(
    gw: &Gateway,
    gate: Gate<'a>,
    headers: &'a HeaderMap,
) -> Result<Admission<'a>, Rejection> {
    if !gw.origins.allows(headers) {
        return Err(Rejection::refused(
            StatusCode::FORBIDDEN,
            crate::origin::REFUSED,
        ));
    }
    let Some(token) = presented_token(gate, headers) else {
        return Err(Rejection::unauthorized());
    };
    let admitted = match (gw.index.authenticate(token), gate) {
        (Ok(admitted), Gate::Token(_)) => admitted,
        (
            Ok(admitted),
            Gate::Integration {
                tenant,
                integration,
            },
        ) if serves(gw, &admitted.view, tenant, integration) => admitted,
        (
            Err(AuthFailure::Disabled(view)),
            Gate::Integration {
                tenant,
                integration,
            },
        ) if serves(gw, &view, tenant, integration) => {
            return Err(Rejection::refused(
                StatusCode::FORBIDDEN,
                "Forbidden: MCP is disabled for this integration; enable it in its MCP settings",
            ));
        }
        _ => return Err(Rejection::unauthorized()),
    };
    let Admitted { view, key } = admitted;
    Ok(Admission { view, key, token })
}

/// Whether a view is the server of the integration MCP settings a path names
/// (by integration id or name).
fn serves(gw: &Gateway, view: &ServerView, tenant: &str, integration: &str) -> bool {
    view.tenant == tenant
        && view.integration_id.is_some_and(|id| {
            id.to_string() == integration
                || gw
                    .index
                    .integration(id)
                    .is_some_and(|i| i.record.definition.name == integration)
        })
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
    Cluster(Lease),
}

/// Take a rate cell and a concurrency permit of the key (a sandbox twin's
/// own bucket when `sandbox`); the permit is released when the returned
/// guard drops (whatever ends the request). With cluster limits
/// configured, Redis decides; if it cannot, this replica's own limiter
/// does (never no limit at all). 429 with `Retry-After` when refused.
pub(crate) async fn limit(
    cluster: Option<&ClusterLimits>,
    key: &KeyEntry,
    sandbox: bool,
) -> Result<Permit, Rejection> {
    // A twin counts against its own bucket, so experiments never starve production.
    let limiter = if sandbox {
        key.sandbox_limiter()
    } else {
        key.limiter()
    };
    let decided = match cluster {
        Some(cluster) => {
            let bucket = if sandbox {
                format!("{}:test", key.id)
            } else {
                key.id.to_string()
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
        Rejection::refused(StatusCode::TOO_MANY_REQUESTS, &message)
            .retry_after(refusal.retry_after_secs())
    })
}

/// A refusal decided before the body was read: the body is read anyway
/// (at most `max_body` bytes) so that the error can carry the request's
/// id; `null` when it cannot be read.
pub(crate) async fn refuse_unread(
    r: Rejection,
    headers: &HeaderMap,
    body: Body,
    max_body: usize,
) -> axum::response::Response {
    let id = match http_util::read_body(headers, body, max_body, http_util::REFUSED_BODY_TIME).await
    {
        Ok(bytes) => jsonrpc::parse(&bytes)
            .ok()
            .and_then(|incoming| incoming.request_id().cloned()),
        Err(_) => None,
    };
    r.answering(id.as_ref())
}

/// Read an admitted POST's message(s): `Accept` must allow JSON (406),
/// `Content-Type` must be JSON (415), the body at most `max_body` bytes
/// (413) and JSON-RPC (400); the error response otherwise.
pub(crate) async fn read_message(
    headers: &HeaderMap,
    body: Body,
    max_body: usize,
) -> Result<Incoming, axum::response::Response> {
    if !http_util::accepts_json(headers) {
        let r = Rejection::refused(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: the Accept header must allow application/json (send \"Accept: application/json, text/event-stream\")",
        );
        return Err(refuse_unread(r, headers, body, max_body).await);
    }
    if !http_util::is_media_type(headers.get(header::CONTENT_TYPE), "application/json") {
        let r = Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RpcError::invalid_request(
                "Unsupported Media Type: Content-Type must be application/json",
            ),
        );
        return Err(refuse_unread(r, headers, body, max_body).await);
    }
    let bytes = match http_util::read_body(headers, body, max_body, http_util::BODY_TIME).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return Err(rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                &RpcError::invalid_request(format!(
                    "Payload Too Large: the request body exceeds {max_body} bytes"
                )),
            ));
        }
        Err(BodyError::Broken) => {
            return Err(rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                &RpcError::invalid_request("Bad Request: the request body could not be read"),
            ));
        }
        Err(BodyError::Slow) => {
            return Err(rpc_error(
                StatusCode::REQUEST_TIMEOUT,
                None,
                &RpcError::invalid_request(format!(
                    "Request Timeout: the request body did not arrive within {} s",
                    http_util::BODY_TIME.as_secs()
                )),
            ));
        }
    };
    jsonrpc::parse(&bytes).map_err(|e| rpc_error(StatusCode::BAD_REQUEST, None, &e.to_error()))
}

/// The session a non-initialize request belongs to: 400 without the
/// `Mcp-Session-Id` header, 404 when it is not one of this server's live
/// sessions.
pub(crate) fn session(
    sessions: &Sessions,
    view: &ServerView,
    headers: &HeaderMap,
) -> Result<Session, Rejection> {
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
        .and_then(|v| sessions.validate(v, view.id).ok())
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

/// Validate `MCP-Protocol-Version` (400 for one not spoken); absent means
/// 2025-03-26.
pub(crate) fn header_version(headers: &HeaderMap) -> Result<ProtocolVersion, Rejection> {
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

/// The request's `Mcp-Param-*` headers: a proxy passes them on (2026-07-28
/// clients mirror `x-mcp-header` arguments into them).
pub(crate) fn param_headers(headers: &HeaderMap) -> HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("mcp-param-"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}
