//! The one way a streamed answer leaves the gateway: messages from a
//! channel, each as an SSE `message` event as it arrives, or — for a client
//! that does not take SSE — only the final message, as JSON.

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use mcpgate_protocol::{ErrorCode, RequestId, RpcError, jsonrpc};
use tokio::sync::mpsc;

use crate::http_util;
use crate::mcp::rejection::rpc_error;

/// A message of a stream: JSON text, or (empty) a keep-alive.
pub(crate) const KEEP_ALIVE: String = String::new();

/// Messages as an SSE response (`event: message`), each as it arrives; an
/// empty message is sent as a `: keep-alive` comment. Proxies are asked
/// not to buffer (`X-Accel-Buffering: no`).
fn sse(messages: impl Stream<Item = String> + Send + 'static) -> Response {
    use futures_util::StreamExt;
    let events = messages.map(|m| {
        let event = if m.is_empty() {
            Event::default().comment("keep-alive")
        } else {
            Event::default().event("message").data(m)
        };
        Ok::<_, std::convert::Infallible>(event)
    });
    let mut response = axum::response::IntoResponse::into_response(Sse::new(events));
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A bounded channel's messages as SSE (see [`sse`]).
pub(crate) fn sse_from(mut rx: mpsc::Receiver<String>) -> Response {
    sse(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// An unbounded channel's messages as SSE (see [`sse`]): for streams that
/// send little and rarely, such as a listen stream's notifications.
pub(crate) fn sse_from_unbounded(mut rx: mpsc::UnboundedReceiver<String>) -> Response {
    sse(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// Only the final message, as JSON (for clients that do not take SSE); a
/// stream that closed without an answer (cancelled) is answered with a
/// "Request cancelled" error for `id`.
async fn json_final(id: &RequestId, mut rx: mpsc::Receiver<String>) -> Response {
    let mut last = None;
    while let Some(m) = rx.recv().await {
        last = Some(m);
    }
    match last {
        Some(body) if body.contains("\"result\"") || body.contains("\"error\"") => {
            http_util::json(StatusCode::OK, body)
        }
        _ => rpc_error(
            StatusCode::OK,
            Some(id),
            &RpcError::new(ErrorCode::REQUEST_REFUSED, "Request cancelled"),
        ),
    }
}

/// A call's messages (interim ones, then its response) as SSE when the
/// client takes it, else its response alone as JSON.
pub(crate) async fn respond(
    id: &RequestId,
    rx: mpsc::Receiver<String>,
    streaming: bool,
) -> Response {
    if streaming {
        sse_from(rx)
    } else {
        json_final(id, rx).await
    }
}

/// `{"jsonrpc":"2.0","id":…,"result":<text>}` as a 200 JSON response.
pub(crate) fn result(id: &RequestId, text: &str) -> Response {
    let mut out = Vec::with_capacity(text.len() + 48);
    jsonrpc::write_result(&mut out, id, text);
    http_util::json(StatusCode::OK, out)
}
