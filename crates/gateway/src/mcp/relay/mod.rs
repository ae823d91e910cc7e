//! The relay: a portal's `tools/call` forwarded to its upstream on a task
//! of its own, with what the upstream says mid-call (progress, log lines,
//! requests to the client — on the call's stream or its standalone one)
//! relayed to the calling client, and the client's answers and
//! cancellations relayed back.
//!
//! One entry, [`portal_call`], two halves, one per client era: a 2025
//! session's call streams on its SSE answer (`session.rs`); a 2026-07-28
//! client gets the upstream's questions as `input_required` results
//! (`input.rs`). Each half owns what it keeps between requests; [`Relays`]
//! holds both.

use axum::http::HeaderMap;
use axum::response::Response;
use mcpgate_protocol::RequestId;
use mcpgate_protocol::stateless::RequestMeta;
use mcpgate_upstream::{Handler, McpTool};
use std::sync::Arc;

use crate::fixtures::Recording;
use crate::mcp::admission::Permit;
use crate::mcp::call::ToolCall;
use crate::session::{Session, SessionKey};
use crate::view::ServerView;

mod input;
mod session;

use input::Waiting;

/// What the relay keeps between a client's requests, for every request of
/// this process.
#[derive(Default)]
pub(crate) struct Relays {
    /// 2025 sessions' calls in flight, relayed requests, log levels.
    sessions: session::SessionRelays,
    /// Portal calls of 2026-07-28 clients paused on a question to the client.
    waiting: Arc<Waiting>,
}

impl Relays {
    /// Forget what expired: calls whose 2026 clients never came back (their
    /// upstream calls end) and log levels of sessions past their lifetime.
    pub(crate) fn purge_expired(&self) {
        self.waiting.purge_expired();
        self.sessions.log_levels.purge_expired();
    }

    /// The 2025 half: a session's relayed requests (answered by POSTed
    /// responses) and calls in flight (cancelled by
    /// `notifications/cancelled`).
    pub(crate) fn sessions(&self) -> &session::SessionRelays {
        &self.sessions
    }
}

/// Who is calling, as the relay needs to know it.
pub(crate) enum Caller<'a> {
    /// A 2025 session: its answers stream on the request's SSE response.
    Session(&'a Session),
    /// A 2026-07-28 request.
    Stateless {
        /// What the request's `_meta` declares.
        meta: &'a RequestMeta,
        /// The key of the request: only it may continue a paused call.
        key: uuid::Uuid,
        /// Seals and opens the request states of stateless upstreams.
        sealer: &'a SessionKey,
    },
}

/// A portal `tools/call` about to be forwarded.
pub(crate) struct PortalCall {
    /// The upstream tool.
    pub tool: Arc<McpTool>,
    /// The client's call.
    pub call: ToolCall,
    /// Set when the server records real calls as fixtures.
    pub recording: Option<Recording>,
    /// The client's `Mcp-Param-*` headers, passed on to the upstream.
    pub passthrough: HeaderMap,
    /// The key's concurrency permit: held until the answer is complete or
    /// the client hangs up.
    pub permit: Option<Permit>,
    /// The client accepts `text/event-stream` answers.
    pub streaming: bool,
}

/// The upstream tool a `tools/call` names, when it is a portal's.
pub(crate) fn portal_tool(view: &ServerView, call: &ToolCall) -> Option<Arc<McpTool>> {
    match view.handler(&call.name)? {
        Handler::Mcp(tool) => Some(Arc::clone(tool)),
        _ => None,
    }
}

/// Forward a portal `tools/call` and answer the client in its era's way.
pub(crate) async fn portal_call(
    relays: &Relays,
    caller: Caller<'_>,
    id: &RequestId,
    call: PortalCall,
) -> Response {
    let PortalCall {
        tool,
        call,
        recording,
        passthrough,
        permit,
        streaming,
    } = call;
    match caller {
        Caller::Session(s) => {
            let call = session::Call {
                tool,
                params: call.into_params(),
                recording,
                passthrough,
                permit,
                streaming,
            };
            let rx = session::start(&relays.sessions, s, id, call);
            crate::mcp::stream::respond(id, rx, streaming).await
        }
        Caller::Stateless { meta, key, sealer } => {
            let reply = input::Delivery {
                waiting: &relays.waiting,
                meta,
                id,
                streaming,
                passthrough,
                key,
                sealer,
                permit,
            };
            let log_level = call.log_level();
            input::call(reply, tool, call.into_params(), log_level, recording).await
        }
    }
}
