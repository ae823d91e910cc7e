//! Reading from an upstream MCP server with a cap on every read: a JSON
//! answer is refused once it passes its cap (before it is buffered whole),
//! and an SSE stream fails once one event grows past its cap — including
//! an "event" that never ends because no line end ever comes, which would
//! otherwise be buffered until the call's timeout.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sse_stream::SseByteStream;

/// Why a bounded read stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// More than the cap (in bytes) arrived.
    #[error("more than {0} bytes")]
    TooLarge(usize),
    /// The connection failed (or timed out).
    #[error(transparent)]
    Broken(#[from] reqwest::Error),
}

/// The whole body, or [`ReadError::TooLarge`] as soon as it passes `max`
/// bytes (at once when `Content-Length` says so).
pub(crate) async fn body(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(ReadError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(ReadError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most the first `max` bytes of the body, as text (for error messages);
/// the rest is not read.
pub(crate) async fn prefix(mut response: reqwest::Response, max: usize) -> String {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = max - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The SSE events of a body, failing (with a [`ReadError::TooLarge`] inside
/// [`sse_stream::Error::Body`], see [`too_large`]) once one event passes
/// `max` bytes.
pub(crate) fn events(
    response: reqwest::Response,
    max: usize,
) -> SseByteStream<impl Stream<Item = Result<Bytes, ReadError>>> {
    let mut size = EventSize::default();
    let chunks = response.bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        if size.feed(&chunk) > max {
            return Err(ReadError::TooLarge(max));
        }
        Ok(chunk)
    });
    SseByteStream::new(chunks)
}

/// Whether an SSE decoding error is [`events`]' cap.
pub(crate) fn too_large(error: &sse_stream::Error) -> bool {
    matches!(error, sse_stream::Error::Body(inner)
        if matches!(inner.downcast_ref::<ReadError>(), Some(ReadError::TooLarge(_))))
}

/// The size of the SSE event being received: bytes (line ends excluded)
/// since the last empty line, which ends an event (WHATWG HTML §9.2.6:
/// lines end with CRLF, LF or CR). A comment line (`:` first) counts only
/// until it ends: the decoder keeps nothing of it.
#[derive(Default)]
struct EventSize {
    event: usize,
    line: usize,
    comment: bool,
    after_cr: bool,
}

impl EventSize {
    /// Account for `bytes`; the largest size the current event reached.
    fn feed(&mut self, mut bytes: &[u8]) -> usize {
        let mut largest = self.event;
        while !bytes.is_empty() {
            let Some(i) = bytes.iter().position(|&b| b == b'\r' || b == b'\n') else {
                self.starts(bytes[0]);
                self.grow(bytes.len());
                return largest.max(self.event);
            };
            if i > 0 {
                self.starts(bytes[0]);
                self.grow(i);
                largest = largest.max(self.event);
            }
            let end = bytes[i];
            if end == b'\n' && self.after_cr && i == 0 {
                // The LF of a CRLF: the line already ended.
                self.after_cr = false;
            } else {
                if self.line == 0 {
                    self.event = 0; // an empty line: the event is complete
                } else if self.comment {
                    self.event -= self.line;
                }
                self.line = 0;
                self.after_cr = end == b'\r';
            }
            bytes = &bytes[i + 1..];
        }
        largest.max(self.event)
    }

    fn grow(&mut self, n: usize) {
        self.after_cr = false;
        self.line += n;
        self.event += n;
    }

    /// Account for the start of a line's content.
    fn starts(&mut self, first: u8) {
        if self.line == 0 {
            self.comment = first == b':';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(chunks: &[&str]) -> Vec<usize> {
        let mut s = EventSize::default();
        chunks.iter().map(|c| s.feed(c.as_bytes())).collect()
    }

    #[test]
    fn events_are_measured_between_empty_lines_whatever_the_line_ends() {
        // Two events of 10 bytes ("data: abcd" is 10), split anywhere.
        assert_eq!(sizes(&["data: abcd\n\ndata: abcd\n\n"]), vec![10]);
        assert_eq!(
            sizes(&["data: ab", "cd\r\n\r", "\ndata: x"]),
            vec![8, 10, 7]
        );
        assert_eq!(sizes(&["data: abcd\r\rdata: x"]), vec![10]);
        // Lines of one event add up.
        assert_eq!(sizes(&["data: a\ndata: b\n"]), vec![14]);
        // A CRLF split across chunks is one line end, not an empty line.
        assert_eq!(sizes(&["data: a\r", "\ndata: b\n\n"]), vec![7, 14]);
    }

    #[test]
    fn comment_lines_count_only_while_they_last() {
        // Keep-alive comments without empty lines between them do not add up.
        let mut s = EventSize::default();
        for _ in 0..10_000 {
            assert!(s.feed(b": keep-alive\n") <= 12);
        }
        assert_eq!(sizes(&[": ping\ndata: abcd\n\n"]), vec![10]);
        // A comment that never ends is as large as it grows.
        assert_eq!(sizes(&[": xxxx", "xxxx"]), vec![6, 10]);
    }

    #[test]
    fn an_event_without_any_line_end_keeps_growing() {
        let mut s = EventSize::default();
        for n in 1..=100 {
            assert_eq!(s.feed(&[b'x'; 1000]), n * 1000);
        }
    }
}
