//! Small HTTP helpers shared by the data plane and the admin API.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// Why a request body could not be read.
pub(crate) enum BodyError {
    /// Larger than the configured limit.
    TooLarge,
    /// The connection failed while reading.
    Broken,
    /// The whole body did not arrive within the time allowed.
    Slow,
}

/// How long an admitted MCP request's body may take to arrive in full.
/// Without a bound, a client that sends headers and part of a body holds
/// its connection (and its key's permit) for ever.
pub(crate) const BODY_TIME: std::time::Duration = std::time::Duration::from_secs(30);
/// How long the body of a request already refused (bad token, limits,
/// headers) is waited for, only to echo its JSON-RPC id in the error. An
/// unauthenticated client must not hold a connection by trickling a body.
pub(crate) const REFUSED_BODY_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Read a whole body within `within`, refusing more than `limit` bytes
/// without buffering them.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    within: std::time::Duration,
) -> Result<Bytes, BodyError> {
    tokio::time::timeout(within, read_body_untimed(headers, body, limit))
        .await
        .unwrap_or(Err(BodyError::Slow))
}

async fn read_body_untimed(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Broken),
    }
}

/// Read a whole body of at most `limit` bytes. A larger one is
/// [`BodyError::TooLarge`], returned only after the rest has been read and
/// discarded (counted, never buffered) — up to `drain_budget` bytes in all
/// and for at most `drain_time` — so that a client still sending gets the
/// error answer instead of a reset connection. Past the budget or the time
/// the connection is given up on (hyper closes it after the answer).
pub(crate) async fn read_body_draining(
    body: Body,
    limit: usize,
    drain_budget: u64,
    drain_time: std::time::Duration,
) -> Result<Bytes, BodyError> {
    let mut body = body;
    let mut kept = bytes::BytesMut::new();
    let mut seen: u64 = 0;
    let mut over = false;
    let deadline = tokio::time::Instant::now() + drain_time;
    loop {
        let frame = if over {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => return Err(BodyError::TooLarge),
            }
        } else {
            body.frame().await
        };
        let Some(frame) = frame else { break };
        let Ok(frame) = frame else {
            return Err(if over {
                BodyError::TooLarge
            } else {
                BodyError::Broken
            });
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len() as u64);
        if over {
            if seen > drain_budget {
                return Err(BodyError::TooLarge);
            }
        } else if seen > limit as u64 {
            over = true;
            kept = bytes::BytesMut::new();
        } else {
            kept.extend_from_slice(&data);
        }
    }
    if over {
        Err(BodyError::TooLarge)
    } else {
        Ok(kept.freeze())
    }
}

/// A response with a JSON body.
pub(crate) fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A response without a body.
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether a media type (ignoring parameters) is the given one.
pub(crate) fn is_media_type(value: Option<&HeaderValue>, expected: &str) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(expected))
}

/// Whether an `Accept` header explicitly lists a media type.
pub(crate) fn accepts(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            range
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(media))
        })
}

/// Whether an `Accept` header admits `application/json`. No header admits
/// everything (RFC 9110 §12.5.1).
pub(crate) fn accepts_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|range| range.split(';').next().unwrap_or("").trim())
        .any(|m| {
            m.eq_ignore_ascii_case("application/json")
                || m.eq_ignore_ascii_case("application/*")
                || m == "*/*"
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn accept_rules() {
        assert!(accepts_json(&headers(&[])));
        assert!(accepts_json(&headers(&[(
            "accept",
            "application/json, text/event-stream"
        )])));
        assert!(accepts_json(&headers(&[("accept", "*/*;q=0.8")])));
        assert!(!accepts_json(&headers(&[("accept", "text/event-stream")])));
        assert!(!accepts_json(&headers(&[("accept", "text/html")])));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(
            bearer(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            bearer(&headers(&[("authorization", "bearer abc")])),
            Some("abc")
        );
        assert_eq!(bearer(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(bearer(&headers(&[("authorization", "Bearer ")])), None);
    }
}
