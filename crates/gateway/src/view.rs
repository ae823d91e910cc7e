//! `ServerView`: the immutable, pre-serialized snapshot of one virtual server
//! that the hot path reads. Built when the server or its source changes;
//! requests never touch the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcpgate_catalog::{Tool, Toolset};
use mcpgate_protocol::mcp::{Implementation, InitializeResult, ListChanged, ServerCapabilities};
use mcpgate_protocol::{ProtocolVersion, RpcError};
use mcpgate_store::{ServerId, ServerRecord};
use mcpgate_upstream::{Executor, Handler, RestOperation};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// One virtual server, ready to serve.
pub struct ServerView {
    /// Its id.
    pub id: ServerId,
    /// Display name.
    pub name: String,
    /// Owning tenant.
    pub tenant: String,
    /// Set for the server of an integration's MCP settings.
    pub integration_id: Option<mcpgate_store::IntegrationId>,
    /// Refuses every request when set.
    pub disabled: bool,
    /// Expiry in Unix milliseconds.
    pub expires_at_ms: Option<i64>,
    init_results: [String; ProtocolVersion::ALL.len()],
    tool_pages: Vec<String>,
    handlers: HashMap<String, Handler>,
    executor: Executor,
}

/// `tools/list` page as serialized.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolPage<'a, T: Serialize> {
    tools: &'a [T],
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Encode a page index as an opaque cursor.
fn cursor(page: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("page:{page}"))
}

/// Decode a cursor into a page index (not yet range-checked).
fn page_of(cursor: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix("page:")?
        .parse()
        .ok()
}

impl ServerView {
    /// Build the view of a server whose tools come from a static toolset.
    /// `toolset` is `None` when the configured toolset is missing: the server
    /// then serves no tools rather than failing every request.
    pub fn from_toolset(
        record: &ServerRecord,
        toolset: Option<&Toolset>,
        page_size: usize,
    ) -> Self {
        let tools = toolset
            .map(|t| {
                t.tools
                    .iter()
                    .map(|s| (&s.tool, Handler::Builtin(s.handler)))
                    .collect()
            })
            .unwrap_or_default();
        let instructions = toolset.and_then(|t| t.instructions.as_deref());
        Self::build(record, tools, instructions, Executor::Builtin, page_size)
    }

    /// Build the view of an integrated-account server: the operations its
    /// scope allows, executed against the account.
    pub fn from_account(
        record: &ServerRecord,
        operations: &[Arc<RestOperation>],
        executor: Executor,
        instructions: Option<&str>,
        page_size: usize,
    ) -> Self {
        let tools = operations
            .iter()
            .map(|op| (&op.tool.tool, Handler::Rest(Arc::clone(op))))
            .collect();
        Self::build(record, tools, instructions, executor, page_size)
    }

    fn build(
        record: &ServerRecord,
        tools: Vec<(&Tool, Handler)>,
        instructions: Option<&str>,
        executor: Executor,
        page_size: usize,
    ) -> Self {
        let capabilities = ServerCapabilities {
            tools: Some(ListChanged::default()),
            prompts: None,
            resources: None,
        };
        let info = Implementation {
            name: record.name.clone(),
            title: None,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let init_results = ProtocolVersion::ALL.map(|v| {
            serde_json::to_string(&InitializeResult {
                protocol_version: v.as_str(),
                capabilities: &capabilities,
                server_info: &info,
                instructions,
            })
            .expect("initialize result serializes")
        });
        let page_size = page_size.max(1);
        let listed: Vec<&Tool> = tools.iter().map(|(t, _)| *t).collect();
        let chunks: Vec<&[&Tool]> = if listed.is_empty() {
            vec![&[]]
        } else {
            listed.chunks(page_size).collect()
        };
        let last = chunks.len() - 1;
        let tool_pages = chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                serde_json::to_string(&ToolPage {
                    tools: chunk,
                    next_cursor: (i < last).then(|| cursor(i + 1)),
                })
                .expect("tool page serializes")
            })
            .collect();
        let handlers = tools
            .into_iter()
            .map(|(t, h)| (t.name.as_str().to_owned(), h))
            .collect();
        Self {
            id: record.id,
            name: record.name.clone(),
            tenant: record.tenant.clone(),
            integration_id: record.integration_id,
            disabled: record.disabled,
            expires_at_ms: record
                .expires_at
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
            init_results,
            tool_pages,
            handlers,
            executor,
        }
    }

    /// The serialized `initialize` result for a negotiated version.
    pub fn initialize_result(&self, version: ProtocolVersion) -> &str {
        &self.init_results[(version.code() - 1) as usize]
    }

    /// The serialized `tools/list` result for a cursor.
    pub fn tools_page(&self, cursor: Option<&str>) -> Result<&str, RpcError> {
        let page = match cursor {
            None => 0,
            Some(c) => page_of(c)
                .filter(|p| *p < self.tool_pages.len())
                .ok_or_else(|| RpcError::invalid_params(format!("Invalid cursor: {c:?}")))?,
        };
        Ok(&self.tool_pages[page])
    }

    /// The handler of a tool this server exposes.
    pub fn handler(&self, tool: &str) -> Option<&Handler> {
        self.handlers.get(tool)
    }

    /// The executor for this server's tools.
    pub fn executor(&self) -> &Executor {
        &self.executor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgate_store::ServerSource;
    use std::path::Path;

    fn record() -> ServerRecord {
        ServerRecord {
            id: ServerId::new(),
            tenant: "default".into(),
            name: "demo".into(),
            source: ServerSource::Toolset("t".into()),
            scope: Default::default(),
            exposed_tools: None,
            description: None,
            limits: Default::default(),
            integration_id: None,
            created_by: None,
            modified_by: None,
            disabled: false,
            expires_at: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn toolset(n: usize) -> Toolset {
        let mut yaml = String::from("name: t\ntools:\n");
        for i in 0..n {
            yaml.push_str(&format!("  - name: tool{i:03}\n    handler: echo\n"));
        }
        Toolset::parse(&yaml, Path::new("t.yaml")).unwrap()
    }

    fn names(page: &str) -> (Vec<String>, Option<String>) {
        let v: serde_json::Value = serde_json::from_str(page).unwrap();
        let names = v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        (names, v["nextCursor"].as_str().map(str::to_owned))
    }

    #[test]
    fn pages_walk_every_tool_once_in_order() {
        let view = ServerView::from_toolset(&record(), Some(&toolset(7)), 3);
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = names(view.tools_page(cursor.as_deref()).unwrap());
            seen.extend(page);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let expected: Vec<_> = (0..7).map(|i| format!("tool{i:03}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn bad_cursors_are_invalid_params() {
        let view = ServerView::from_toolset(&record(), Some(&toolset(2)), 10);
        for bad in ["nope", &cursor(1), &cursor(99)] {
            let err = view.tools_page(Some(bad)).unwrap_err();
            assert_eq!(err.code, -32602, "{bad}");
        }
    }

    #[test]
    fn empty_and_missing_toolsets_give_one_empty_page() {
        let view = ServerView::from_toolset(&record(), None, 10);
        assert_eq!(view.tools_page(None).unwrap(), r#"{"tools":[]}"#);
        assert!(view.handler("echo").is_none());
    }

    #[test]
    fn initialize_result_carries_version_and_only_tools_capability() {
        let view = ServerView::from_toolset(&record(), Some(&toolset(1)), 10);
        let v: serde_json::Value =
            serde_json::from_str(view.initialize_result(ProtocolVersion::V2025_06_18)).unwrap();
        assert_eq!(v["protocolVersion"], "2025-06-18");
        assert_eq!(v["serverInfo"]["name"], "demo");
        assert!(v["capabilities"].get("tools").is_some());
        assert!(v["capabilities"].get("prompts").is_none());
        assert!(v["capabilities"].get("resources").is_none());
    }
}
