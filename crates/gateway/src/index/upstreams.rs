//! Upstream MCP servers: the gateway's client for each and the listener
//! that hears its list changes.

use mcpgate_store::UpstreamRecord;
use mcpgate_upstream::{McpClient, StreamEnd};
use serde_json::Value;
use std::sync::Arc;

use super::Index;

/// An upstream MCP server: its record and the gateway's client for it.
pub struct UpstreamEntry {
    /// The stored record (with its last snapshot).
    pub record: UpstreamRecord,
    /// The client (holds the gateway's session with the upstream).
    pub client: Arc<McpClient>,
    pub(super) credentials: Option<String>,
}

/// Whether a snapshot's capabilities promise list_changed notifications.
fn announces_changes(record: &UpstreamRecord) -> bool {
    let caps = record.snapshot.as_ref().and_then(|s| s.get("capabilities"));
    ["tools", "prompts", "resources"].iter().any(|c| {
        caps.and_then(|caps| caps.get(c))
            .and_then(|c| c.get("listChanged"))
            .and_then(Value::as_bool)
            == Some(true)
    })
}

/// Whether the gateway keeps the upstream's standalone stream open: to hear
/// its list changes, and, on a 2025 session, the requests to the client and
/// the log lines its tools may send there instead of on the call's stream
/// (as TypeScript-SDK servers do; see `mcpgate_upstream::Attending`).
pub(super) fn listens(record: &UpstreamRecord) -> bool {
    let version = record
        .snapshot
        .as_ref()
        .and_then(|s| s.get("protocol_version"))
        .and_then(Value::as_str);
    announces_changes(record) || version.is_some_and(|v| v != mcpgate_protocol::stateless::VERSION)
}

impl Index {
    /// Keep a connection to the upstream's SSE stream, asking for a resync
    /// whenever it announces a list change; reconnects with backoff.
    pub(super) fn spawn_listener(
        &self,
        record: &UpstreamRecord,
        client: &Arc<McpClient>,
    ) -> tokio::task::AbortHandle {
        let client = Arc::clone(client);
        let key = (record.tenant.clone(), record.id.clone());
        let resyncs = Arc::clone(&self.resyncs);
        tokio::spawn(async move {
            const QUICK: std::time::Duration = std::time::Duration::from_millis(100);
            let mut backoff = QUICK;
            let mut renewals = client.renewals();
            loop {
                renewals.mark_unchanged();
                let notify = |method: &str| {
                    // A burst is coalesced: one resync runs, one more is due.
                    if resyncs.announce(&key.0, &key.1) {
                        tracing::info!(upstream = %key.1, method, "upstream announced a change; resyncing");
                    } else {
                        tracing::debug!(upstream = %key.1, method, "upstream announced a change; a resync is already due");
                    }
                };
                let opened = std::time::Instant::now();
                match client.listen_for_changes(&notify).await {
                    Ok(StreamEnd::Unsupported) => return, // no stream on this upstream
                    Ok(StreamEnd::Renewed) => {
                        backoff = QUICK;
                        continue; // the new session's stream, at once
                    }
                    // A stream that lived a while is reopened soon; one that
                    // keeps ending or failing, less and less often.
                    Ok(StreamEnd::Ended) if opened.elapsed() > std::time::Duration::from_secs(5) => {
                        backoff = QUICK;
                    }
                    Ok(StreamEnd::Ended) => {}
                    Err(e) => tracing::debug!(upstream = %key.1, error = %e, "upstream stream failed"),
                }
                // A new session (a call re-initialized) needs its stream now:
                // the upstream may ask that call's client on it.
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(60));
                    }
                    _ = renewals.changed() => backoff = QUICK,
                }
            }
        })
        .abort_handle()
    }
}
