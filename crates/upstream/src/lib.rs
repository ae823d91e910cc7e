//! How a `tools/call` is executed. Today: built-in handlers for static
//! toolsets. The REST executor, the MCP upstream client and the sandbox
//! simulator join as further [`Executor`] variants.
//!
//! Every execution answers with a `CallToolResult` as raw JSON: a tool that
//! fails reports `isError: true` with a message for the model, never a
//! JSON-RPC error (those are for protocol mistakes).

pub mod builtin;

use mcpgate_catalog::Builtin;
use serde_json::value::RawValue;

/// Runs the tools of one source. Enum dispatch: the hot path pays no boxing.
#[derive(Debug, Clone)]
pub enum Executor {
    /// Tools served by handlers compiled into mcpgate.
    Builtin,
}

/// What a tool needs to run: the handler chosen by its definition.
#[derive(Debug, Clone, Copy)]
pub enum Handler {
    /// A built-in handler.
    Builtin(Builtin),
}

impl Executor {
    /// Execute one call; the result is a serialized `CallToolResult`.
    pub async fn call(&self, handler: Handler, arguments: Option<&RawValue>) -> Box<RawValue> {
        match (self, handler) {
            (Self::Builtin, Handler::Builtin(b)) => builtin::call(b, arguments).await,
        }
    }
}
