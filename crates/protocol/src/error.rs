//! JSON-RPC error codes and the error object MCP clients receive.

use serde::Serialize;
use serde_json::value::RawValue;

/// A JSON-RPC error code, as MCP uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    /// The body is not valid JSON.
    pub const PARSE_ERROR: Self = Self(-32700);
    /// The JSON is not a valid JSON-RPC message (or not allowed here).
    pub const INVALID_REQUEST: Self = Self(-32600);
    /// No such method.
    pub const METHOD_NOT_FOUND: Self = Self(-32601);
    /// Unknown tool, bad cursor, malformed parameters.
    pub const INVALID_PARAMS: Self = Self(-32602);
    /// The gateway failed; never used for a client's mistake.
    pub const INTERNAL_ERROR: Self = Self(-32603);
    /// Implementation-defined: the request was refused (auth, limits, origin).
    pub const REQUEST_REFUSED: Self = Self(-32000);
    /// Implementation-defined: the session named by `Mcp-Session-Id` does not exist.
    pub const SESSION_NOT_FOUND: Self = Self(-32001);
    /// 2026-07-28: a required `MCP-Protocol-Version`, `Mcp-Method` or
    /// `Mcp-Name` header is missing, malformed, or disagrees with the body.
    pub const HEADER_MISMATCH: Self = Self(-32020);
    /// 2026-07-28: the request needs a client capability the request's
    /// `_meta` does not declare.
    pub const MISSING_CLIENT_CAPABILITY: Self = Self(-32021);
    /// 2026-07-28: the `_meta` protocol version is not one the server speaks.
    pub const UNSUPPORTED_PROTOCOL_VERSION: Self = Self(-32022);
}

/// A JSON-RPC error object: a code, a message a person can act on, optional data.
#[derive(Debug, Clone, Serialize)]
pub struct RpcError {
    /// The numeric code.
    pub code: i32,
    /// Human-readable explanation.
    pub message: String,
    /// Structured detail, when there is any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

impl RpcError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.0,
            message: message.into(),
            data: None,
        }
    }

    /// Attach structured data.
    pub fn with_data(mut self, data: &impl Serialize) -> Self {
        self.data = serde_json::value::to_raw_value(data).ok();
        self
    }

    /// Shorthand for -32602.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }

    /// Shorthand for -32600.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_REQUEST, message)
    }

    /// Shorthand for -32601, naming the method.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    /// Shorthand for -32603.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INTERNAL_ERROR, message)
    }
}
