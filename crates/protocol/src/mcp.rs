//! MCP method names and the parameter/result shapes the gateway reads or writes.
//!
//! Only what the gateway must understand is modelled; everything else stays
//! raw JSON and unknown fields are ignored.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Method names the data plane dispatches on.
pub mod method {
    /// Handshake.
    pub const INITIALIZE: &str = "initialize";
    /// Liveness check.
    pub const PING: &str = "ping";
    /// List tools (paginated).
    pub const TOOLS_LIST: &str = "tools/list";
    /// Call a tool.
    pub const TOOLS_CALL: &str = "tools/call";
    /// List prompts (paginated).
    pub const PROMPTS_LIST: &str = "prompts/list";
    /// List resources (paginated).
    pub const RESOURCES_LIST: &str = "resources/list";
    /// List resource templates (paginated).
    pub const RESOURCE_TEMPLATES_LIST: &str = "resources/templates/list";
    /// Get one prompt, filled with arguments.
    pub const PROMPTS_GET: &str = "prompts/get";
    /// Read one resource by URI.
    pub const RESOURCES_READ: &str = "resources/read";
    /// Ask to be told when a resource changes (handshake era only).
    pub const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
    /// Stop being told about a resource (handshake era only).
    pub const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
    /// Set the least severe log level the session receives (handshake era only).
    pub const LOGGING_SET_LEVEL: &str = "logging/setLevel";
    /// Argument completion for a prompt or resource template.
    pub const COMPLETION_COMPLETE: &str = "completion/complete";
    /// What a server offers, asked without a session (2026-07-28).
    pub const SERVER_DISCOVER: &str = "server/discover";
    /// A long-lived stream of list changes (2026-07-28).
    pub const SUBSCRIPTIONS_LISTEN: &str = "subscriptions/listen";
    /// Server → client: ask the client's model for a message.
    pub const SAMPLING_CREATE_MESSAGE: &str = "sampling/createMessage";
    /// Server → client: ask the user for input.
    pub const ELICITATION_CREATE: &str = "elicitation/create";
    /// Server → client: ask for the client's roots.
    pub const ROOTS_LIST: &str = "roots/list";
}

/// Notification names the data plane sends, relays or reacts to.
pub mod notification {
    /// What every notification's method starts with.
    pub const PREFIX: &str = "notifications/";
    /// The client finished the handshake.
    pub const INITIALIZED: &str = "notifications/initialized";
    /// Either side gives up on a request (`params.requestId`, `params.reason`).
    pub const CANCELLED: &str = "notifications/cancelled";
    /// Progress of a request that asked for it.
    pub const PROGRESS: &str = "notifications/progress";
    /// A log line (`params.level`, `params.data`).
    pub const MESSAGE: &str = "notifications/message";
    /// The tool list changed.
    pub const TOOLS_LIST_CHANGED: &str = "notifications/tools/list_changed";
    /// The prompt list changed.
    pub const PROMPTS_LIST_CHANGED: &str = "notifications/prompts/list_changed";
    /// The resource list changed.
    pub const RESOURCES_LIST_CHANGED: &str = "notifications/resources/list_changed";
    /// A subscribed resource changed.
    pub const RESOURCES_UPDATED: &str = "notifications/resources/updated";
    /// A `subscriptions/listen` stream's first message (2026-07-28).
    pub const SUBSCRIPTIONS_ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";
}

/// `initialize` parameters (only what negotiation needs).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// The version the client asks for.
    pub protocol_version: String,
    /// Client capabilities, kept raw.
    #[serde(default)]
    pub capabilities: Option<Box<RawValue>>,
    /// Client name and version, kept raw.
    #[serde(default)]
    pub client_info: Option<Box<RawValue>>,
}

/// Parameters of every paginated `*/list` method.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// Opaque cursor from a previous page's `nextCursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `tools/call` parameters.
#[derive(Debug, Deserialize)]
pub struct CallToolParams {
    /// The tool's name.
    pub name: String,
    /// Arguments, kept raw until the executor reads them.
    #[serde(default)]
    pub arguments: Option<Box<RawValue>>,
}

/// `serverInfo` of an `InitializeResult`.
#[derive(Debug, Clone, Serialize)]
pub struct Implementation {
    /// Machine-readable name.
    pub name: String,
    /// Display title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Version string.
    pub version: String,
}

/// Capabilities a virtual server advertises: only what its source has.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerCapabilities {
    /// Present when the server exposes tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<ListChanged>,
    /// Present when the source has prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<ListChanged>,
    /// Present when the source has resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ListChanged>,
    /// Present when `logging/setLevel` is supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Empty>,
    /// Present when `completion/complete` is supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completions: Option<Empty>,
}

/// An empty capability object (`{}`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Empty {}

/// The `{listChanged}` object of a capability.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListChanged {
    /// Whether the server sends `notifications/*/list_changed`.
    pub list_changed: bool,
}

/// The result of `initialize`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult<'a> {
    /// The negotiated version.
    pub protocol_version: &'a str,
    /// What this server offers.
    pub capabilities: &'a ServerCapabilities,
    /// Who we are.
    pub server_info: &'a Implementation,
    /// Usage hints for the model, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<&'a str>,
}

/// A `tools/call` result built by the gateway itself (not forwarded).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    /// Content blocks.
    pub content: Vec<Content>,
    /// Structured result, when the tool produced one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<serde_json::Value>,
    /// True when the tool failed (the model should see why).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl CallToolResult {
    /// A successful result with one text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: vec![Content::text(text)],
            structured_content: None,
            is_error: false,
        }
    }

    /// A failed result whose text says what went wrong.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            is_error: true,
            ..Self::text(text)
        }
    }
}

/// A content block of a tool result.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
}

impl Content {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }
}

/// The client capability a server-to-client request needs
/// (`sampling/createMessage` → `sampling`, `elicitation/create` →
/// `elicitation`, `roots/list` → `roots`); `None` for other methods.
pub fn capability_for_request(method: &str) -> Option<&'static str> {
    match method {
        method::ELICITATION_CREATE => Some("elicitation"),
        method::SAMPLING_CREATE_MESSAGE => Some("sampling"),
        method::ROOTS_LIST => Some("roots"),
        _ => None,
    }
}

/// The severity of a log message (`notifications/message`), the eight
/// RFC 5424 levels as MCP names them, least severe first, so that
/// `level >= asked` says whether a client that asked for `asked` (2025:
/// `logging/setLevel`; 2026-07-28: `_meta` `logLevel`) receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `notice`
    Notice,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `critical`
    Critical,
    /// `alert`
    Alert,
    /// `emergency`
    Emergency,
}

impl LogLevel {
    /// Every level, least severe first.
    pub const ALL: [Self; 8] = [
        Self::Debug,
        Self::Info,
        Self::Notice,
        Self::Warning,
        Self::Error,
        Self::Critical,
        Self::Alert,
        Self::Emergency,
    ];

    /// The level's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }

    /// The level a wire name names; `None` for anything else (names are
    /// case-sensitive).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// Whether a `notifications/message` (the whole message) is at or above
    /// `asked`; a message without a known level never is.
    pub fn passes(message: &serde_json::Value, asked: Self) -> bool {
        message
            .get("params")
            .and_then(|p| p.get("level"))
            .and_then(serde_json::Value::as_str)
            .and_then(Self::parse)
            .is_some_and(|level| level >= asked)
    }
}

#[cfg(test)]
mod log_level_tests {
    use super::LogLevel;
    use serde_json::json;

    #[test]
    fn levels_order_by_severity_and_filter_messages() {
        assert!(LogLevel::Debug < LogLevel::Info && LogLevel::Alert < LogLevel::Emergency);
        for level in LogLevel::ALL {
            assert_eq!(LogLevel::parse(level.as_str()), Some(level));
        }
        assert_eq!(LogLevel::parse("Warning"), None);
        assert_eq!(LogLevel::parse("warn"), None);
        let message = |level: &str| json!({"method": "notifications/message", "params": {"level": level, "data": "x"}});
        assert!(LogLevel::passes(&message("error"), LogLevel::Warning));
        assert!(LogLevel::passes(&message("warning"), LogLevel::Warning));
        assert!(!LogLevel::passes(&message("info"), LogLevel::Warning));
        assert!(!LogLevel::passes(&message("loud"), LogLevel::Debug));
        assert!(!LogLevel::passes(
            &json!({"method": "notifications/message"}),
            LogLevel::Debug
        ));
    }
}
