//! JSON-RPC 2.0 envelope: parsing a POST body into messages, writing responses.
//!
//! Parameters and results stay [`RawValue`]s: the gateway forwards what it does
//! not need to understand, byte for byte, and unknown fields are ignored.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::value::RawValue;
use std::fmt;

use crate::error::{ErrorCode, RpcError};

/// A request id: a JSON string or integer (negative too), kept as its exact
/// bytes so the response echoes it verbatim.
#[derive(Clone)]
pub struct RequestId(Box<RawValue>);

impl PartialEq for RequestId {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for RequestId {}

impl RequestId {
    fn validate(raw: Box<RawValue>) -> Result<Self, &'static str> {
        let text = raw.get();
        let ok = if text.starts_with('"') {
            // A lone surrogate escape (`"\ud800"`) is JSON syntax but no
            // text: echoed back, it would make the answer unreadable to
            // strict parsers (serde_json among them).
            if serde_json::from_str::<String>(text).is_err() {
                return Err(
                    "\"id\" must be a string of Unicode characters (it has an unpaired surrogate escape)",
                );
            }
            true
        } else {
            let digits = text.strip_prefix('-').unwrap_or(text);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        };
        if ok {
            Ok(Self(raw))
        } else if text == "null" {
            Err("\"id\" must be a string or an integer, not null")
        } else {
            Err("\"id\" must be a string or an integer")
        }
    }

    /// The id as it appeared on the wire (`42`, `"abc"`).
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    /// An integer id, for building requests of our own.
    pub fn from_i64(n: i64) -> Self {
        Self(RawValue::from_string(n.to_string()).expect("an integer is valid JSON"))
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

/// One valid JSON-RPC message.
#[derive(Debug)]
pub enum Message {
    /// A call that expects a response.
    Request {
        /// Echoed in the response.
        id: RequestId,
        /// e.g. `tools/call`.
        method: String,
        /// Raw parameters, when present.
        params: Option<Box<RawValue>>,
    },
    /// A message without an id; it gets no response.
    Notification {
        /// e.g. `notifications/initialized`.
        method: String,
        /// Raw parameters, when present.
        params: Option<Box<RawValue>>,
    },
    /// A client's answer to a server-initiated request.
    Response {
        /// The id of the server request it answers.
        id: RequestId,
        /// The raw `result` or `error` member.
        body: Box<RawValue>,
        /// Whether `body` is an error object.
        is_error: bool,
    },
}

impl Message {
    /// The method name for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match self {
            Self::Request { method, .. } | Self::Notification { method, .. } => Some(method),
            Self::Response { .. } => None,
        }
    }
}

/// A message that is valid JSON but not a valid JSON-RPC message. It carries
/// the id when one could be read, so the error can be matched to the request.
#[derive(Debug)]
pub struct InvalidMessage {
    /// The request id, if the message had a usable one.
    pub id: Option<RequestId>,
    /// What is wrong, for the error message.
    pub reason: String,
}

impl InvalidMessage {
    /// The -32600 error to answer with.
    pub fn to_error(&self) -> RpcError {
        RpcError::invalid_request(format!("Invalid JSON-RPC message: {}", self.reason))
    }
}

/// What a POST body held: one message, or a batch (JSON array).
#[derive(Debug)]
pub enum Incoming {
    /// A single JSON object.
    Single(Result<Message, InvalidMessage>),
    /// A JSON array; each element parsed on its own.
    Batch(Vec<Result<Message, InvalidMessage>>),
}

impl Incoming {
    /// The id of the request this body holds, when one can be read: a
    /// single request, or an invalid message with a usable id. Errors about
    /// a whole batch, a notification or a response have none.
    pub fn request_id(&self) -> Option<&RequestId> {
        match self {
            Self::Single(Ok(Message::Request { id, .. })) => Some(id),
            Self::Single(Err(invalid)) => invalid.id.as_ref(),
            _ => None,
        }
    }
}

/// Why a body could not be read as JSON-RPC at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON (-32700).
    #[error("Parse error: the body is not valid JSON ({0})")]
    NotJson(String),
    /// JSON, but neither an object nor a non-empty array (-32600).
    #[error("Invalid request: {0}")]
    NotAMessage(&'static str),
}

impl ParseError {
    /// The JSON-RPC error to answer with.
    pub fn to_error(&self) -> RpcError {
        let code = match self {
            Self::NotJson(_) => ErrorCode::PARSE_ERROR,
            Self::NotAMessage(_) => ErrorCode::INVALID_REQUEST,
        };
        RpcError::new(code, self.to_string())
    }
}

/// Deserializes a present field as `Some`, even when it is JSON `null`, so an
/// explicit `"id": null` can be told apart from a missing id.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    jsonrpc: Option<String>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Box<RawValue>>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Box<RawValue>>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<Box<RawValue>>,
}

/// Parse a POST body.
pub fn parse(body: &[u8]) -> Result<Incoming, ParseError> {
    let raw: &RawValue =
        serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') => Ok(Incoming::Single(parse_one(raw))),
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_str(text).map_err(|e| ParseError::NotJson(e.to_string()))?;
            if items.is_empty() {
                return Err(ParseError::NotAMessage("an empty batch is not allowed"));
            }
            Ok(Incoming::Batch(items.into_iter().map(parse_one).collect()))
        }
        _ => Err(ParseError::NotAMessage(
            "the body must be a JSON-RPC object (or, on 2025-03-26, an array of them)",
        )),
    }
}

fn parse_one(raw: &RawValue) -> Result<Message, InvalidMessage> {
    let invalid = |id, reason: &str| InvalidMessage {
        id,
        reason: reason.to_owned(),
    };
    if !raw.get().starts_with('{') {
        return Err(invalid(None, "each message must be a JSON object"));
    }
    let env: Envelope = serde_json::from_str(raw.get()).map_err(|e| InvalidMessage {
        id: None,
        reason: e.to_string(),
    })?;
    let id = match env.id {
        None => None,
        Some(raw_id) => Some(RequestId::validate(raw_id).map_err(|r| invalid(None, r))?),
    };
    if env.jsonrpc.as_deref() != Some("2.0") {
        return Err(invalid(id, "\"jsonrpc\" must be \"2.0\""));
    }
    match (env.method, id, env.result, env.error) {
        (Some(method), Some(id), None, None) => Ok(Message::Request {
            id,
            method,
            params: env.params,
        }),
        (Some(method), None, None, None) => Ok(Message::Notification {
            method,
            params: env.params,
        }),
        (None, Some(id), Some(body), None) => Ok(Message::Response {
            id,
            body,
            is_error: false,
        }),
        (None, Some(id), None, Some(body)) => Ok(Message::Response {
            id,
            body,
            is_error: true,
        }),
        (_, id, _, _) => Err(invalid(
            id,
            "a message needs \"method\" (request or notification) or exactly one of \"result\"/\"error\" with an \"id\" (response)",
        )),
    }
}

/// Deserialize method parameters, answering -32602 with serde's explanation.
/// Absent parameters read as an empty object.
pub fn params<T: DeserializeOwned>(params: Option<&RawValue>) -> Result<T, RpcError> {
    let text = params.map_or("{}", RawValue::get);
    serde_json::from_str(text).map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}")))
}

/// Append `{"jsonrpc":"2.0","id":…,"result":…}` to `out`.
pub fn write_result(out: &mut Vec<u8>, id: &RequestId, result: &str) {
    out.reserve(40 + result.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_json().as_bytes());
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result.as_bytes());
    out.push(b'}');
}

/// Append a JSON-RPC error response to `out`. Without an id (the request's
/// could not be read) the `id` member is `null` (JSON-RPC 2.0 §5).
pub fn write_error(out: &mut Vec<u8>, id: Option<&RequestId>, error: &RpcError) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.map_or("null", RequestId::as_json).as_bytes());
    out.push(b',');
    out.extend_from_slice(b"\"error\":");
    serde_json::to_writer(&mut *out, error).expect("an error object serializes");
    out.push(b'}');
}

/// A whole error response as bytes.
pub fn error_body(id: Option<&RequestId>, error: &RpcError) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_error(&mut out, id, error);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(body: &str) -> Result<Message, InvalidMessage> {
        match parse(body.as_bytes()).expect("parses") {
            Incoming::Single(m) => m,
            Incoming::Batch(_) => panic!("expected a single message"),
        }
    }

    #[test]
    fn request_keeps_negative_and_string_ids_verbatim() {
        for id in ["-7", "\"abc\"", "0", "9007199254740993"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            match single(&body).unwrap() {
                Message::Request {
                    id: got, method, ..
                } => {
                    assert_eq!(got.as_json(), id);
                    assert_eq!(method, "ping");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn null_and_fractional_ids_are_invalid() {
        let err = single(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).unwrap_err();
        assert!(err.reason.contains("not null"), "{}", err.reason);
        assert!(single(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#).is_err());
    }

    #[test]
    fn ids_with_lone_surrogates_are_invalid_but_paired_ones_are_kept() {
        let err = single(r#"{"jsonrpc":"2.0","id":"a\ud800","method":"ping"}"#).unwrap_err();
        assert!(err.reason.contains("unpaired surrogate"), "{}", err.reason);
        assert!(err.id.is_none());
        let Ok(Message::Request { id, .. }) =
            single(r#"{"jsonrpc":"2.0","id":"\ud83d\ude00 天","method":"ping"}"#)
        else {
            panic!("a paired surrogate is a character");
        };
        assert_eq!(id.as_json(), r#""\ud83d\ude00 天""#);
    }

    #[test]
    fn notification_response_and_unknown_fields() {
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","method":"notifications/initialized","extra":1}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#),
            Ok(Message::Response {
                is_error: false,
                ..
            })
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"x"}}"#),
            Ok(Message::Response { is_error: true, .. })
        ));
    }

    #[test]
    fn wrong_version_keeps_id_for_the_error() {
        let err = single(r#"{"jsonrpc":"1.0","id":5,"method":"ping"}"#).unwrap_err();
        assert_eq!(err.id.unwrap().as_json(), "5");
    }

    #[test]
    fn body_level_errors() {
        assert!(matches!(parse(b"{not json"), Err(ParseError::NotJson(_))));
        assert!(matches!(parse(b"[]"), Err(ParseError::NotAMessage(_))));
        assert!(matches!(parse(b"42"), Err(ParseError::NotAMessage(_))));
        let Ok(Incoming::Batch(items)) = parse(br#"[{"jsonrpc":"2.0","method":"a"}, 3]"#) else {
            panic!("expected batch");
        };
        assert!(items[0].is_ok());
        assert!(items[1].is_err());
    }

    #[test]
    fn writes_responses() {
        let id = RequestId::from_i64(-1);
        let mut out = Vec::new();
        write_result(&mut out, &id, "{}");
        assert_eq!(out, br#"{"jsonrpc":"2.0","id":-1,"result":{}}"#);
        let body = error_body(None, &RpcError::method_not_found("x/y"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], -32601);
        assert!(v["id"].is_null(), "an unreadable id is null: {v}");
    }

    #[test]
    fn the_request_id_of_a_body_when_it_can_be_read() {
        let id = |body: &str| {
            parse(body.as_bytes())
                .unwrap()
                .request_id()
                .map(|i| i.as_json().to_owned())
        };
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":"a","method":"x"}"#).as_deref(),
            Some("\"a\"")
        );
        // Invalid, but its id is usable.
        assert_eq!(
            id(r#"{"jsonrpc":"1.0","id":-3,"method":"x"}"#).as_deref(),
            Some("-3")
        );
        assert_eq!(id(r#"{"jsonrpc":"2.0","method":"x"}"#), None);
        assert_eq!(id(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#), None);
        assert_eq!(id(r#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#), None);
    }
}
