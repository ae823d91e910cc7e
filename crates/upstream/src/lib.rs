//! How a `tools/call` is executed: built-in handlers for static toolsets and
//! the REST executor for integrated accounts. The MCP upstream client and the
//! sandbox simulator join as further [`Executor`] variants.
//!
//! Every execution answers with a `CallToolResult` as raw JSON: a tool that
//! fails reports `isError: true` with a message for the model, never a
//! JSON-RPC error (those are for protocol mistakes).

#![warn(missing_docs)]

mod auth;
mod bounded;
pub mod builtin;
mod call_result;
pub mod egress;
pub mod encode;
mod legacy;
pub mod mcp_client;
mod modern;
pub mod paging;
pub mod redact;
pub mod rest;
pub mod sample;
pub mod simulator;
mod standalone;

pub use auth::RotateHook;
pub use mcp_client::{
    CallError, ClientError, Extras, McpClient, McpLimits, Snapshot, StreamEnd, UpstreamError,
};
pub use rest::{RestAccount, RestOperation, RestSettings};
pub use standalone::Attending;

use mcpgate_catalog::Builtin;
use mcpgate_protocol::RpcError;
use serde_json::value::RawValue;
use std::sync::Arc;

/// Runs the tools of one source. Enum dispatch: the hot path pays no boxing.
#[derive(Clone)]
pub enum Executor {
    /// Tools served by handlers compiled into mcpgate.
    Builtin,
    /// Tools that call an integrated account's REST API.
    Rest(Arc<RestAccount>),
    /// The source cannot run calls (a misconfigured account); says why.
    Unavailable(Arc<str>),
    /// Tools proxied to upstream MCP servers (each handler names its upstream).
    Portal,
}

/// What a tool needs to run.
#[derive(Clone)]
pub enum Handler {
    /// A built-in handler.
    Builtin(Builtin),
    /// A generated REST operation.
    Rest(Arc<RestOperation>),
    /// A tool of an upstream MCP server.
    Mcp(Arc<McpTool>),
}

/// A tool of an upstream MCP server, as a portal exposes it.
pub struct McpTool {
    /// The upstream's client.
    pub client: Arc<McpClient>,
    /// The upstream's id, for messages.
    pub upstream: String,
    /// The tool's name on the upstream.
    pub name: String,
    /// The tool's `outputSchema`, when it has one (the sandbox simulates from it).
    pub output_schema: Option<serde_json::Value>,
    /// Its arguments marked `x-mcp-header`, which a 2026-07-28 upstream
    /// expects in `Mcp-Param-*` headers too.
    pub param_headers: Vec<mcpgate_protocol::stateless::ParamHeader>,
    /// When the gateway exposes the tool's `inputSchema` with renamed
    /// property keys (`mcpgate_catalog::schema_keys`): the exposed schema and
    /// the renames, so a client's arguments get the upstream's own keys back
    /// before the call.
    pub renamed_arguments: Option<Arc<(serde_json::Value, mcpgate_catalog::schema_keys::KeyMap)>>,
}

impl Executor {
    /// Execute one call; the result is a serialized `CallToolResult`, or the
    /// JSON-RPC error an upstream MCP server answered with (forwarded as is).
    pub async fn call(
        &self,
        handler: &Handler,
        arguments: Option<&RawValue>,
    ) -> Result<Box<RawValue>, RpcError> {
        Ok(match (self, handler) {
            (Self::Unavailable(why), _) => {
                builtin::error(&format!("This tool is unavailable: {why}"))
            }
            (_, Handler::Builtin(b)) => builtin::call(*b, arguments).await,
            (Self::Rest(account), Handler::Rest(op)) => account.call(op, arguments).await,
            (_, Handler::Mcp(tool)) => return tool.call(arguments).await,
            (_, Handler::Rest(_)) => {
                builtin::error("this server has no account to call the API with")
            }
        })
    }
}

impl McpTool {
    async fn call(&self, arguments: Option<&RawValue>) -> Result<Box<RawValue>, RpcError> {
        let mut arguments: serde_json::Value = arguments
            .and_then(|a| serde_json::from_str(a.get()).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        self.restore_arguments(&mut arguments);
        let params = serde_json::json!({ "name": self.name, "arguments": arguments });
        match self
            .client
            .request(mcpgate_protocol::mcp::method::TOOLS_CALL, params)
            .await
        {
            Ok(result) => Ok(serde_json::value::to_raw_value(&result).expect("JSON serializes")),
            Err(CallError::Rpc(error)) => Err(forwarded(&error)),
            Err(CallError::Transport(e)) => Ok(builtin::error(&format!(
                "The upstream MCP server {:?} failed: {e}",
                self.upstream
            ))),
        }
    }
}

impl McpTool {
    /// Forward a `tools/call` with the client's own params (its `_meta` and
    /// progress token included) under upstream request id `id`; interim
    /// messages (progress, logs) go to `events` as they arrive. `passthrough`
    /// holds the client's `Mcp-Param-*` headers, which a proxy passes on;
    /// `capabilities` says what the client can answer (sampling,
    /// elicitation, roots), for upstreams that ask before they call; with
    /// `hand_back_input`, a stateless upstream's `input_required` result is
    /// returned as it is rather than asked of the client through `events`.
    pub async fn call_streaming(
        &self,
        mut params: serde_json::Map<String, serde_json::Value>,
        id: i64,
        events: tokio::sync::mpsc::Sender<serde_json::Value>,
        passthrough: &reqwest::header::HeaderMap,
        capabilities: &serde_json::Value,
        hand_back_input: bool,
    ) -> Result<serde_json::Value, RpcError> {
        params.insert("name".into(), serde_json::Value::String(self.name.clone()));
        if let Some(arguments) = params.get_mut("arguments") {
            self.restore_arguments(arguments);
        }
        let headers = self.param_headers_for(&params, passthrough);
        let params = serde_json::Value::Object(params);
        match self
            .client
            .request_streaming(
                id,
                mcpgate_protocol::mcp::method::TOOLS_CALL,
                params,
                Extras {
                    events: Some(&events),
                    passthrough: Some(&headers),
                    capabilities: Some(capabilities),
                    hand_back_input,
                },
            )
            .await
        {
            Ok(result) => Ok(result),
            Err(CallError::Rpc(error)) => Err(forwarded(&error)),
            Err(CallError::Transport(e)) => Ok(serde_json::json!({
                "content": [{"type": "text", "text": format!("The upstream MCP server {:?} failed: {e}", self.upstream)}],
                "isError": true,
            })),
        }
    }
}

impl McpTool {
    /// Give the client's arguments the upstream's own property keys back.
    fn restore_arguments(&self, arguments: &mut serde_json::Value) {
        if let Some(renamed) = &self.renamed_arguments {
            let (exposed, keys) = &**renamed;
            keys.restore(exposed, "", arguments);
        }
    }

    /// The client's `Mcp-Param-*` headers, plus one for each argument marked
    /// `x-mcp-header` that the client did not send (a 2025 client sends
    /// none; a 2026-07-28 upstream requires them).
    fn param_headers_for(
        &self,
        params: &serde_json::Map<String, serde_json::Value>,
        passthrough: &reqwest::header::HeaderMap,
    ) -> reqwest::header::HeaderMap {
        let mut headers = passthrough.clone();
        let arguments = params.get("arguments");
        for marked in &self.param_headers {
            let name = format!("mcp-param-{}", marked.header.to_ascii_lowercase());
            let value = mcpgate_protocol::stateless::param_header_value(
                arguments.and_then(|a| a.get(&marked.argument)),
            );
            let (Ok(name), Some(value)) = (reqwest::header::HeaderName::try_from(name), value)
            else {
                continue;
            };
            if headers.contains_key(&name) {
                continue;
            }
            let encoded = mcpgate_protocol::stateless::encode_header(&value);
            if let Ok(value) = reqwest::header::HeaderValue::try_from(encoded) {
                headers.insert(name, value);
            }
        }
        headers
    }
}

/// An upstream's JSON-RPC error object as our error type, unchanged.
pub fn forwarded(error: &serde_json::Value) -> RpcError {
    let code = error
        .get("code")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(-32603) as i32;
    let message = error
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("upstream error");
    let mut e = RpcError::new(mcpgate_protocol::ErrorCode(code), message);
    e.data = error
        .get("data")
        .and_then(|d| serde_json::value::to_raw_value(d).ok());
    e
}
