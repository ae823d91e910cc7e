//! Refusals and errors as HTTP responses: the HTTP status a refusal gets,
//! the JSON-RPC error body that explains it, and the headers that go with it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use mcpgate_protocol::{ErrorCode, RequestId, RpcError, jsonrpc};

use crate::http_util;

/// A JSON-RPC error (`{"jsonrpc":"2.0","id":…,"error":…}`, `id` `null`
/// when unknown) as an HTTP response with `status`.
pub(crate) fn rpc_error(status: StatusCode, id: Option<&RequestId>, error: &RpcError) -> Response {
    http_util::json(status, jsonrpc::error_body(id, error))
}

/// A request refused before dispatch: an HTTP status, the JSON-RPC error
/// body that explains it, at most one extra header and a `Retry-After`.
pub(crate) struct Rejection {
    status: StatusCode,
    error: RpcError,
    header: Option<(header::HeaderName, &'static str)>,
    retry_after: Option<u64>,
}

impl Rejection {
    /// A refusal with this status and error.
    pub(crate) fn new(status: StatusCode, error: RpcError) -> Self {
        Self {
            status,
            error,
            header: None,
            retry_after: None,
        }
    }

    /// A refusal with the gateway's "request refused" code and `message`.
    pub(crate) fn refused(status: StatusCode, message: &str) -> Self {
        Self::new(status, RpcError::new(ErrorCode::REQUEST_REFUSED, message))
    }

    /// The same refusal with a header (e.g. `Allow`, `WWW-Authenticate`).
    pub(crate) fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.header = Some((name, value));
        self
    }

    /// The same refusal saying when to retry, in seconds.
    pub(crate) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 401 with a `WWW-Authenticate: Bearer` challenge: the token is
    /// missing, unknown, expired or revoked, or its server is disabled.
    pub(crate) fn unauthorized() -> Self {
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
    pub(crate) fn into_response(self) -> Response {
        self.answering(None)
    }

    /// The refusal, answering the request `id` (`null` when it is unknown).
    pub(crate) fn answering(self, id: Option<&RequestId>) -> Response {
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

/// The HTTP status of an error answer in the 2026-07-28 era (an
/// upstream's included): 400, 404 … by code, 200 for the rest.
pub(crate) fn era_status(e: &RpcError) -> StatusCode {
    StatusCode::from_u16(mcpgate_protocol::stateless::http_status(e.code)).unwrap_or(StatusCode::OK)
}
