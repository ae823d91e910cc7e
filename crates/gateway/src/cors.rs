//! CORS for the MCP endpoints, so that browser clients (MCP Inspector, web
//! apps) on an allowed origin can connect with `fetch` (Fetch standard,
//! "CORS protocol").
//!
//! The origins are the ones [`OriginPolicy`] admits (`http.allowed_origins`,
//! `http.allow_loopback_origins`): an allowed origin's preflight (`OPTIONS`)
//! is answered 200 with what an MCP client sends, and its answers expose the
//! headers it must read; a refused origin's preflight is answered 403, like
//! its requests, and gets no CORS headers.

use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::MethodRouter;
use mcpgate_protocol::{RpcError, jsonrpc};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer, ExposeHeaders};

use crate::Gateway;
use crate::http_util;
use crate::origin::{OriginPolicy, REFUSED};

/// How long a browser may reuse a preflight's answer (Chromium caps it at
/// two hours).
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Answer headers a browser client must be able to read: the session id
/// (2025 era), the negotiated version, the authentication challenge of a
/// 401, and when to retry after a 429.
const EXPOSED: [HeaderName; 4] = [
    HeaderName::from_static("mcp-session-id"),
    HeaderName::from_static("mcp-protocol-version"),
    header::WWW_AUTHENTICATE,
    header::RETRY_AFTER,
];

/// `route` with CORS for browser clients on the origins `policy` admits.
///
/// Allowed request headers mirror the preflight's
/// `Access-Control-Request-Headers`: besides the fixed MCP headers
/// (`Content-Type`, `Authorization`, `Mcp-Session-Id`,
/// `MCP-Protocol-Version`, `Last-Event-ID`, `Mcp-Method`, `Mcp-Name`,
/// `X-API-KEY`), a 2026-07-28 client sends an `Mcp-Param-<Name>` header for
/// each tool argument marked `x-mcp-header`, whose names no fixed list can
/// hold. The origin is what is checked; no cookies are used
/// (`Access-Control-Allow-Credentials` is not sent).
pub(crate) fn mcp(
    route: MethodRouter<Arc<Gateway>>,
    policy: &OriginPolicy,
) -> MethodRouter<Arc<Gateway>> {
    let allowed = policy.clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            allowed.allows_origin(origin)
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(ExposeHeaders::list(EXPOSED))
        .max_age(PREFLIGHT_MAX_AGE);
    route
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(
            policy.clone(),
            refuse_foreign_preflight,
        ))
}

/// A preflight from an origin the gateway refuses is answered 403, as the
/// request it announces would be (the CORS layer alone would answer 200
/// without `Access-Control-Allow-Origin`).
async fn refuse_foreign_preflight(
    State(policy): State<OriginPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::OPTIONS && !policy.allows(request.headers()) {
        let error = RpcError::new(mcpgate_protocol::ErrorCode::REQUEST_REFUSED, REFUSED);
        return http_util::json(StatusCode::FORBIDDEN, jsonrpc::error_body(None, &error));
    }
    next.run(request).await
}
