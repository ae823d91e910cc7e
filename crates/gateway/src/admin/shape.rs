//! Every admin surface answers every error in its own shape, including the
//! errors no handler of ours writes: a wrong method (405, with `Allow`), a
//! path that does not decode, an unknown path under the surface.
//!
//! | surface | paths | shape |
//! |---|---|---|
//! | native (and Truto) | `/server…`, `/integration…`, `/integrated-account…`, `/admin-token…` | `{"error": {status, message, fields?}}` |
//! | Fruxon | `/v1/tenants/…` (not `mcp:call`/`mcp:test`, which are MCP) | RFC 7807 problem details |
//! | Cloudflare | `/accounts/…` | `{"errors": [{code, message, path?}], "success": false, …}` |

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::ApiError;
use crate::http_util;

/// An admin surface, by the shape of its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    /// `/server`, `/integration`, `/integrated-account` (Truto too), `/admin-token`.
    Native,
    /// Per-integration MCP settings: problem details.
    Fruxon,
    /// The MCP server registry and portals: Cloudflare's envelope.
    Cloudflare,
}

/// The admin surface `path` belongs to; `None` for the MCP data plane and
/// the operational endpoints.
pub(crate) fn surface(path: &str) -> Option<Surface> {
    if path.starts_with("/accounts/") {
        Some(Surface::Cloudflare)
    } else if path.starts_with("/v1/tenants/") {
        // The JSON-RPC endpoints answer as MCP does.
        (!(path.ends_with("/mcp:call") || path.ends_with("/mcp:test"))).then_some(Surface::Fruxon)
    } else if [
        "/server",
        "/integration",
        "/integrated-account",
        "/admin-token",
    ]
    .iter()
    .any(|p| path == *p || path.starts_with(&format!("{p}/")))
    {
        Some(Surface::Native)
    } else {
        None
    }
}

impl ApiError {
    /// This error in `surface`'s shape, for a request to `path`.
    pub(crate) fn into_surface(self, surface: Surface, path: &str) -> Response {
        match surface {
            Surface::Native => self.into_native(),
            Surface::Fruxon => self.into_problem(path),
            Surface::Cloudflare => self.into_cloudflare(),
        }
    }
}

/// Middleware: an error answer of an admin route that is not one of ours
/// (axum's empty 405, its plain-text rejections) is rewritten into the
/// surface's shape, keeping its status, its text and its `Allow` header.
pub async fn shape_errors(request: Request, next: Next) -> Response {
    let Some(surface) = surface(request.uri().path()) else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // axum's own error bodies are a line of text; more is not ours to relay.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        format!("method not allowed on {path}; it accepts: {allowed}")
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut shaped = ApiError::new_status(status, message).into_surface(surface, &path);
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        shaped.headers_mut().insert(header::ALLOW, allow.clone());
    }
    shaped
}

fn is_json(headers: &HeaderMap) -> bool {
    let ct = headers.get(header::CONTENT_TYPE);
    http_util::is_media_type(ct, "application/json")
        || http_util::is_media_type(ct, "application/problem+json")
}

/// The answer to a path no route serves, in the shape of the surface it
/// is under (the native shape elsewhere).
pub fn not_found(path: &str) -> Response {
    match surface(path) {
        Some(s @ (Surface::Fruxon | Surface::Cloudflare)) => {
            ApiError::new_status(StatusCode::NOT_FOUND, "no such endpoint").into_surface(s, path)
        }
        _ => http_util::json(
            StatusCode::NOT_FOUND,
            Body::from(r#"{"error":{"status":404,"message":"no such endpoint"}}"#),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_surface() {
        assert_eq!(surface("/server"), Some(Surface::Native));
        assert_eq!(surface("/server/x/keys"), Some(Surface::Native));
        assert_eq!(
            surface("/integrated-account/a/mcp/b"),
            Some(Surface::Native)
        );
        assert_eq!(surface("/serverless"), None);
        assert_eq!(
            surface("/v1/tenants/t/integrations/i/mcp:rotateKey"),
            Some(Surface::Fruxon)
        );
        assert_eq!(surface("/v1/tenants/t/integrations/i/mcp:call"), None);
        assert_eq!(
            surface("/accounts/a/access/ai-controls/mcp/servers"),
            Some(Surface::Cloudflare)
        );
        assert_eq!(surface("/mcp/abc"), None);
        assert_eq!(surface("/healthz"), None);
    }
}
