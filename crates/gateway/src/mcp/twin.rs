//! The sandbox twin (`/mcp/<token>:test`, `…/mcp:test`) at `tools/call`:
//! the server's configured faults first, then a recorded fixture of the
//! tool if there is one, else the simulator. Nothing leaves the gateway.

use dashmap::DashMap;
use mcpgate_store::ServerId;
use mcpgate_upstream::{Handler, simulator};
use serde_json::value::RawValue;

use crate::Twins;
use crate::fixtures::Fixtures;
use crate::mcp::call::ToolCall;
use crate::sandbox::PersistentSandbox;
use crate::view::ServerView;

/// A sandbox twin's context: what its calls read and write, and the key
/// whose sandbox this is.
pub(crate) struct Twin<'a> {
    /// Simulated calls per server, so each server's error rate holds on its own.
    fault_calls: &'a DashMap<ServerId, u64>,
    /// Recorded calls to replay.
    fixtures: &'a Fixtures,
    /// The simulated objects, per key.
    objects: &'a PersistentSandbox,
    /// The key's id: its sandbox's name.
    key: String,
}

impl<'a> Twin<'a> {
    /// The twin of a request made with key `key`.
    pub(crate) fn new(twins: &'a Twins, key: uuid::Uuid) -> Self {
        Self {
            fault_calls: &twins.fault_calls,
            fixtures: &twins.fixtures,
            objects: &twins.sandbox,
            key: key.to_string(),
        }
    }

    /// Answer a `tools/call` of `handler` as the twin does; `None` for a
    /// built-in tool, which runs as it does in production.
    pub(crate) async fn call(
        &self,
        view: &ServerView,
        handler: &Handler,
        call: &ToolCall,
    ) -> Option<Box<RawValue>> {
        if let Some(fault) = self.inject_fault(view, &call.name).await {
            return Some(fault);
        }
        // A recorded real answer beats a generated one.
        if !matches!(handler, Handler::Builtin(_))
            && let Some(mut replay) = self.fixtures.find(view.id, &call.name, call.arguments())
        {
            if let Some(o) = replay.as_object_mut() {
                o.insert(
                    "_meta".into(),
                    serde_json::json!({"io.mcpgate/simulated": true, "io.mcpgate/replayed": true}),
                );
            }
            return Some(serde_json::value::to_raw_value(&replay).expect("JSON serializes"));
        }
        match handler {
            Handler::Rest(op) => Some(simulator::call(
                self.objects,
                &self.key,
                op,
                call.arguments(),
            )),
            Handler::Mcp(tool) => Some(simulator::mcp_call(
                &self.key,
                &tool.name,
                tool.output_schema.as_ref(),
                call.arguments(),
            )),
            Handler::Builtin(_) => None,
        }
    }

    /// The faults a server's sandbox is set to inject: added latency, then a
    /// timeout or (at the configured rate) a failed call.
    async fn inject_fault(&self, view: &ServerView, tool: &str) -> Option<Box<RawValue>> {
        let f = &view.sandbox;
        if let Some(ms) = f.latency_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms.min(60_000))).await;
        }
        let failure = |text: String| {
            serde_json::value::to_raw_value(&serde_json::json!({
                "content": [{"type": "text", "text": text}],
                "isError": true,
                "_meta": {"io.mcpgate/simulated": true, "io.mcpgate/fault": true},
            }))
            .expect("a result serializes")
        };
        if f.timeout {
            return Some(failure(format!(
                "The upstream API did not answer in time (simulated timeout of {tool})."
            )));
        }
        let rate = f.error_rate.unwrap_or(0.0).clamp(0.0, 1.0);
        if rate == 0.0 {
            return None;
        }
        // An even spread of failures: call n fails when the running total of
        // the rate crosses an integer.
        let n = {
            let mut calls = self.fault_calls.entry(view.id).or_insert(0);
            *calls += 1;
            (*calls - 1) as f64
        };
        if ((n + 1.0) * rate).floor() > (n * rate).floor() {
            let status = f.error_status.unwrap_or(500);
            return Some(failure(format!(
                "The upstream API answered {status} (simulated fault injected by the sandbox)."
            )));
        }
        None
    }
}
