//! How a `tools/call` is executed: built-in handlers for static toolsets and
//! the REST executor for integrated accounts. The MCP upstream client and the
//! sandbox simulator join as further [`Executor`] variants.
//!
//! Every execution answers with a `CallToolResult` as raw JSON: a tool that
//! fails reports `isError: true` with a message for the model, never a
//! JSON-RPC error (those are for protocol mistakes).

mod auth;
pub mod builtin;
pub mod paging;
pub mod rest;

pub use auth::RotateHook;
pub use rest::{RestAccount, RestOperation, RestSettings};

use mcpgate_catalog::Builtin;
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
}

/// What a tool needs to run.
#[derive(Clone)]
pub enum Handler {
    /// A built-in handler.
    Builtin(Builtin),
    /// A generated REST operation.
    Rest(Arc<RestOperation>),
}

impl Executor {
    /// Execute one call; the result is a serialized `CallToolResult`.
    pub async fn call(&self, handler: &Handler, arguments: Option<&RawValue>) -> Box<RawValue> {
        match (self, handler) {
            (Self::Unavailable(why), _) => {
                builtin::error(&format!("This tool is unavailable: {why}"))
            }
            (_, Handler::Builtin(b)) => builtin::call(*b, arguments).await,
            (Self::Rest(account), Handler::Rest(op)) => account.call(op, arguments).await,
            (Self::Builtin, Handler::Rest(_)) => {
                builtin::error("this server has no account to call the API with")
            }
        }
    }
}
