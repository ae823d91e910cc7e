//! Reading admin request bodies: bounded, JSON or YAML documents, and
//! errors that name the field at fault.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Deserializer};

use super::ApiError;
use crate::Gateway;
use crate::http_util::{self, BodyError};

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 1 << 20;
/// How long the rest of a too-large admin body is read (and discarded) so
/// the client sees the 413.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(120);

/// Read a JSON request body (`Content-Type: application/json`, at most
/// 1 MiB; see [`document_body`] for integration documents) into `T`. A body that is not JSON is a 400 saying where it
/// breaks; a body of the wrong shape is a 400 naming the field at fault
/// (`fields: {"servers.0.server_id": "is required"}`; Cloudflare's
/// envelope turns that name into `path`).
pub(crate) async fn json_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    if !http_util::is_media_type(headers.get(header::CONTENT_TYPE), "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    parse_body(&read_admin_body(headers, body).await?)
}

/// Like [`json_body`], but an empty body (or none) reads as the default.
pub(crate) async fn json_body_or_default<T: for<'de> Deserialize<'de> + Default>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = read_admin_body(headers, body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_body(&bytes)
}

async fn read_admin_body(headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, ApiError> {
    read_limited(headers, body, MAX_ADMIN_BODY, |declared| match declared {
        Some(n) => {
            format!("the request body is {n} bytes; admin requests take at most {MAX_ADMIN_BODY}")
        }
        None => format!("the request body exceeds {MAX_ADMIN_BODY} bytes"),
    })
    .await
}

/// Like [`json_body`], for the routes that take an integration document:
/// at most `admin.max_document_bytes` (64 MiB by default) instead of 1 MiB.
pub(crate) async fn document_body<T: for<'de> Deserialize<'de>>(
    gw: &Gateway,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    if !http_util::is_media_type(headers.get(header::CONTENT_TYPE), "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let limit = gw.max_document_bytes;
    let bytes = read_limited(headers, body, limit, |declared| {
        let size = declared.map_or_else(|| format!("more than {limit}"), |n| n.to_string());
        format!(
            "the integration document is {size} bytes; this gateway accepts at most {limit} (admin.max_document_bytes)"
        )
    })
    .await?;
    parse_body(&bytes)
}

/// Read at most `limit` bytes of a body. A larger one is a 413 with
/// `message(declared Content-Length)`, sent only after the rest of the body
/// has been read and discarded: a client still writing its request would
/// otherwise see a reset connection ("broken pipe") instead of the answer.
async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    message: impl FnOnce(Option<u64>) -> String,
) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Counted, not buffered; cut off (the connection then closes) past what
    // draining is worth: a client that sends gigabytes does not get them read.
    let drain_budget = (limit as u64).saturating_mul(4).max(256 << 20);
    if declared.is_some_and(|n| n > drain_budget) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            message(declared),
        ));
    }
    match http_util::read_body_draining(body, limit, drain_budget, DRAIN_TIME).await {
        Ok(bytes) => Ok(bytes),
        Err(BodyError::TooLarge) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            message(declared),
        )),
        Err(BodyError::Broken | BodyError::Slow) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )),
    }
}

/// Deserialize a request body, keeping where in it a problem is.
pub(crate) fn parse_body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(body_error)?;
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// A body that did not deserialize: not JSON at all (where it breaks), or
/// JSON of the wrong shape (which field, and what is wrong with it).
fn body_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_path_to_error::Segment;
    let inner = e.inner();
    if !inner.is_data() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid JSON: {inner}"),
        );
    }
    // serde_json appends the position; a field path says more.
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    let mut path: Vec<String> = e
        .path()
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, rest)| (name.to_owned(), rest.to_owned()))
    };
    let problem = if let Some((name, _)) = quoted("missing field `") {
        path.push(name);
        "is required".to_owned()
    } else if let Some((name, rest)) = quoted("unknown field `") {
        // The path already ends at an unknown key.
        if path.last() != Some(&name) {
            path.push(name);
        }
        format!("is not a field here{rest}")
    } else if path.is_empty() && message.starts_with("invalid type") {
        "the request body must be a JSON object".to_owned()
    } else {
        message.to_owned()
    };
    if path.is_empty() {
        return ApiError::new(StatusCode::BAD_REQUEST, problem);
    }
    ApiError::field(&path.join("."), problem)
}

/// Deserialize a present field as `Some(value)` (value may be null), so
/// `"expires_at": null` (clear) differs from an absent field (keep).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
