//! `ServerView`: the immutable, pre-serialized snapshot of one virtual server
//! that the hot path reads. Built when the server or its source changes;
//! requests never touch the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcpgate_catalog::{Tool, Toolset};
use mcpgate_protocol::mcp::{
    Empty, Implementation, InitializeResult, ListChanged, ServerCapabilities,
};
use mcpgate_protocol::{ProtocolVersion, RpcError};
use mcpgate_store::{ServerId, ServerRecord};
use mcpgate_upstream::{Executor, Handler, RestOperation};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;

/// One virtual server, ready to serve: who it is (per server) and what it
/// offers (an [`Offering`], shared by every server that offers the same
/// tools, so ten thousand servers of one toolset hold one copy).
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
    /// Sandbox twin settings (faults, recording).
    pub sandbox: mcpgate_store::SandboxSettings,
    offering: Arc<Offering>,
    executor: Executor,
}

/// What a server offers, pre-serialized: its list pages, the handler of each
/// tool, where prompts and resources go, and what `initialize` announces.
pub struct Offering {
    tools: Pages,
    prompts: Pages,
    resources: Pages,
    templates: Pages,
    handlers: HashMap<String, Handler>,
    routes: Routes,
    capabilities: ServerCapabilities,
    instructions: Option<String>,
    /// Per tool, the arguments its schema marks `x-mcp-header` and the
    /// header name of each (only tools that have any).
    param_headers: HashMap<String, Vec<ParamHeader>>,
}

pub use mcpgate_protocol::stateless::ParamHeader;

mod routes;
pub use routes::{Routes, matches_template};

/// The `x-mcp-header` arguments of a tool definition.
fn param_headers_of(tool: &RawValue) -> Vec<ParamHeader> {
    #[derive(serde::Deserialize)]
    struct Tool {
        #[serde(rename = "inputSchema")]
        input_schema: Option<serde_json::Value>,
    }
    serde_json::from_str::<Tool>(tool.get())
        .map(|t| mcpgate_protocol::stateless::param_headers(t.input_schema.as_ref()))
        .unwrap_or_default()
}

/// What a portal offers besides tools, already in wire form.
#[derive(Default)]
pub struct Extras {
    /// Prompt objects (names already the exposed names).
    pub prompts: Vec<Box<RawValue>>,
    /// Resource objects.
    pub resources: Vec<Box<RawValue>>,
    /// Resource template objects.
    pub templates: Vec<Box<RawValue>>,
    /// Routing of prompts and resources.
    pub routes: Routes,
}

/// A paginated list, serialized once: one result document per page.
struct Pages(Vec<String>);

impl Pages {
    fn build(key: &str, items: &[&RawValue], page_size: usize) -> Self {
        let chunks: Vec<&[&RawValue]> = if items.is_empty() {
            vec![&[]]
        } else {
            items.chunks(page_size.max(1)).collect()
        };
        let last = chunks.len() - 1;
        Self(
            chunks
                .into_iter()
                .enumerate()
                .map(|(i, chunk)| {
                    let mut out = format!("{{\"{key}\":[");
                    for (n, item) in chunk.iter().enumerate() {
                        if n > 0 {
                            out.push(',');
                        }
                        out.push_str(item.get());
                    }
                    out.push(']');
                    if i < last {
                        out.push_str(&format!(",\"nextCursor\":\"{}\"", cursor(i + 1)));
                    }
                    out.push('}');
                    out
                })
                .collect(),
        )
    }

    fn page(&self, cursor: Option<&str>) -> Result<&str, RpcError> {
        let page = match cursor {
            None => 0,
            Some(c) => page_of(c)
                .filter(|p| *p < self.0.len())
                .ok_or_else(|| RpcError::invalid_params(format!("Invalid cursor: {c:?}")))?,
        };
        Ok(&self.0[page])
    }

    fn is_empty(&self) -> bool {
        self.0.len() == 1 && self.0[0].ends_with("[]}")
    }
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

fn as_refs(items: &[Box<RawValue>]) -> Vec<&RawValue> {
    items.iter().map(|p| &**p).collect()
}

fn raw(tool: &Tool) -> Box<RawValue> {
    serde_json::value::to_raw_value(tool).expect("a tool serializes")
}

/// A tool as the view keeps it: exposed name, wire JSON, handler.
pub type ViewTool = (String, Box<RawValue>, Handler);

impl Offering {
    /// The tools of a static toolset. `toolset` is `None` when the configured
    /// toolset is missing: its servers then serve no tools rather than
    /// failing every request.
    pub fn from_toolset(toolset: Option<&Toolset>, page_size: usize) -> Self {
        let tools = toolset
            .map(|t| {
                t.tools
                    .iter()
                    .map(|s| {
                        (
                            s.tool.name.to_string(),
                            raw(&s.tool),
                            Handler::Builtin(s.handler),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let instructions = toolset.and_then(|t| t.instructions.as_deref());
        Self::build(tools, Extras::default(), instructions, page_size)
    }

    /// The REST operations a scope allows.
    pub fn from_operations(
        operations: &[Arc<RestOperation>],
        instructions: Option<&str>,
        page_size: usize,
    ) -> Self {
        let tools = operations
            .iter()
            .map(|op| {
                (
                    op.tool.tool.name.to_string(),
                    raw(&op.tool.tool),
                    Handler::Rest(Arc::clone(op)),
                )
            })
            .collect();
        Self::build(tools, Extras::default(), instructions, page_size)
    }

    /// A portal's upstream tools plus prompts and resources.
    pub fn from_portal(tools: Vec<ViewTool>, extras: Extras, page_size: usize) -> Self {
        Self::build(tools, extras, None, page_size)
    }

    fn build(
        tools: Vec<ViewTool>,
        extras: Extras,
        instructions: Option<&str>,
        page_size: usize,
    ) -> Self {
        let listed: Vec<&RawValue> = tools.iter().map(|(_, t, _)| &**t).collect();
        let param_headers = tools
            .iter()
            .map(|(name, t, _)| (name.clone(), param_headers_of(t)))
            .filter(|(_, marked)| !marked.is_empty())
            .collect();
        let tool_pages = Pages::build("tools", &listed, page_size);
        let prompts = Pages::build("prompts", &as_refs(&extras.prompts), page_size);
        let resources = Pages::build("resources", &as_refs(&extras.resources), page_size);
        let templates = Pages::build("resourceTemplates", &as_refs(&extras.templates), page_size);
        let capabilities = ServerCapabilities {
            tools: Some(ListChanged::default()),
            prompts: (!prompts.is_empty()).then(ListChanged::default),
            resources: (!(resources.is_empty() && templates.is_empty())).then(ListChanged::default),
            logging: (!extras.routes.logging.is_empty()).then_some(Empty {}),
            completions: extras.routes.completions.then_some(Empty {}),
        };
        Self {
            tools: tool_pages,
            prompts,
            resources,
            templates,
            handlers: tools.into_iter().map(|(name, _, h)| (name, h)).collect(),
            routes: extras.routes,
            capabilities,
            instructions: instructions.map(str::to_owned),
            param_headers,
        }
    }
}

#[cfg(test)]
impl Offering {
    /// Every entry of every page of a list (`tools`, `prompts`), parsed.
    pub(crate) fn listed(&self, key: &str) -> Vec<serde_json::Value> {
        let pages = match key {
            "tools" => &self.tools,
            "prompts" => &self.prompts,
            _ => &self.resources,
        };
        pages
            .0
            .iter()
            .flat_map(|page| {
                let page: serde_json::Value = serde_json::from_str(page).expect("pages are JSON");
                page[key].as_array().cloned().unwrap_or_default()
            })
            .collect()
    }

    /// The handler of a listed tool.
    pub(crate) fn handler(&self, tool: &str) -> Option<&Handler> {
        self.handlers.get(tool)
    }
}

impl ServerView {
    /// The view of `record` offering `offering`, its tools run by `executor`.
    pub fn new(record: &ServerRecord, offering: Arc<Offering>, executor: Executor) -> Self {
        Self {
            id: record.id,
            name: record.name.clone(),
            tenant: record.tenant.clone(),
            integration_id: record.integration_id,
            sandbox: record.sandbox.clone(),
            disabled: record.disabled,
            expires_at_ms: record
                .expires_at
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
            offering,
            executor,
        }
    }

    /// The `initialize` result for a negotiated version. Serialized per
    /// handshake (once per session, not per call) rather than kept per server
    /// and version: at ten thousand servers the copies cost megabytes.
    pub fn initialize_result(&self, version: ProtocolVersion) -> String {
        serde_json::to_string(&InitializeResult {
            protocol_version: version.as_str(),
            capabilities: &self.offering.capabilities,
            server_info: &Implementation {
                name: self.name.clone(),
                title: None,
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            instructions: self.offering.instructions.as_deref(),
        })
        .expect("initialize result serializes")
    }

    /// The `server/discover` result of the stateless era: the versions this
    /// server speaks, what it offers (without `logging`, whose
    /// `logging/setLevel` that era removed), and who it is.
    pub fn discover_result(&self, ttl_ms: u64) -> String {
        let mut capabilities = self.offering.capabilities.clone();
        capabilities.logging = None;
        // Every server answers the list methods (an empty list is an
        // answer) and says so: a portal's prompts and resources come and go
        // with its upstreams, and clients take an answer as support.
        capabilities.prompts.get_or_insert_with(Default::default);
        capabilities.resources.get_or_insert_with(Default::default);
        // `subscriptions/listen` announces every list change.
        for list in [
            &mut capabilities.tools,
            &mut capabilities.prompts,
            &mut capabilities.resources,
        ]
        .into_iter()
        .flatten()
        {
            list.list_changed = true;
        }
        let mut result = serde_json::json!({
            "resultType": "complete",
            "supportedVersions": mcpgate_protocol::stateless::supported_versions(),
            "capabilities": capabilities,
            "ttlMs": ttl_ms,
            // Lists vary by key (scopes, allow-lists), never by connection.
            "cacheScope": "private",
            "_meta": {
                mcpgate_protocol::stateless::META_SERVER_INFO: {
                    "name": self.name,
                    "version": env!("CARGO_PKG_VERSION"),
                }
            },
        });
        if let Some(instructions) = &self.offering.instructions {
            result["instructions"] = serde_json::Value::String(instructions.clone());
        }
        result.to_string()
    }

    /// The arguments of `tool` that clients mirror into `Mcp-Param-*`
    /// headers (empty for most tools).
    pub fn param_headers(&self, tool: &str) -> &[ParamHeader] {
        self.offering
            .param_headers
            .get(tool)
            .map_or(&[], Vec::as_slice)
    }

    /// Whether this server announces `capability` (`tools`, `prompts`,
    /// `resources`, `completions`, `logging`).
    pub fn offers(&self, capability: &str) -> bool {
        let c = &self.offering.capabilities;
        match capability {
            "tools" => c.tools.is_some(),
            "prompts" => c.prompts.is_some(),
            "resources" => c.resources.is_some(),
            "completions" => c.completions.is_some(),
            "logging" => c.logging.is_some(),
            _ => false,
        }
    }

    /// Whether `other` (this server after a reload) lists the same tools,
    /// prompts and resources: an unchanged offering is shared, so pointer
    /// equality answers most reloads without comparing pages.
    pub fn lists_unchanged(&self, other: &ServerView) -> [bool; 3] {
        if Arc::ptr_eq(&self.offering, &other.offering) {
            return [true; 3];
        }
        let (a, b) = (&self.offering, &other.offering);
        [
            a.tools.0 == b.tools.0,
            a.prompts.0 == b.prompts.0,
            a.resources.0 == b.resources.0 && a.templates.0 == b.templates.0,
        ]
    }

    /// The serialized `tools/list` result for a cursor.
    pub fn tools_page(&self, cursor: Option<&str>) -> Result<&str, RpcError> {
        self.offering.tools.page(cursor)
    }

    /// The serialized `prompts/list` result for a cursor.
    pub fn prompts_page(&self, cursor: Option<&str>) -> Result<&str, RpcError> {
        self.offering.prompts.page(cursor)
    }

    /// The serialized `resources/list` result for a cursor.
    pub fn resources_page(&self, cursor: Option<&str>) -> Result<&str, RpcError> {
        self.offering.resources.page(cursor)
    }

    /// The serialized `resources/templates/list` result for a cursor.
    pub fn templates_page(&self, cursor: Option<&str>) -> Result<&str, RpcError> {
        self.offering.templates.page(cursor)
    }

    /// Where prompts and resources are routed.
    pub fn routes(&self) -> &Routes {
        &self.offering.routes
    }

    /// The handler of a tool this server exposes.
    pub fn handler(&self, tool: &str) -> Option<&Handler> {
        self.offering.handlers.get(tool)
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
            sandbox: Default::default(),
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

    fn toolset_view(toolset: Option<&Toolset>, page_size: usize) -> ServerView {
        let offering = Offering::from_toolset(toolset, page_size);
        ServerView::new(&record(), Arc::new(offering), Executor::Builtin)
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
        let view = toolset_view(Some(&toolset(7)), 3);
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
        let view = toolset_view(Some(&toolset(2)), 10);
        for bad in ["nope", &cursor(1), &cursor(99)] {
            let err = view.tools_page(Some(bad)).unwrap_err();
            assert_eq!(err.code, -32602, "{bad}");
        }
    }

    #[test]
    fn empty_and_missing_toolsets_give_one_empty_page() {
        let view = toolset_view(None, 10);
        assert_eq!(view.tools_page(None).unwrap(), r#"{"tools":[]}"#);
        assert!(view.handler("echo").is_none());
    }

    #[test]
    fn servers_sharing_an_offering_keep_their_own_names() {
        let offering = Arc::new(Offering::from_toolset(Some(&toolset(2)), 10));
        let (mut a, mut b) = (record(), record());
        a.name = "alpha".into();
        b.name = "beta".into();
        let va = ServerView::new(&a, Arc::clone(&offering), Executor::Builtin);
        let vb = ServerView::new(&b, offering, Executor::Builtin);
        assert_eq!(va.tools_page(None).unwrap(), vb.tools_page(None).unwrap());
        for (view, name) in [(va, "alpha"), (vb, "beta")] {
            let init: serde_json::Value =
                serde_json::from_str(&view.initialize_result(ProtocolVersion::V2025_11_25))
                    .unwrap();
            assert_eq!(init["serverInfo"]["name"], name);
            assert_eq!(init["protocolVersion"], "2025-11-25");
        }
    }

    #[test]
    fn initialize_result_carries_version_and_only_tools_capability() {
        let view = toolset_view(Some(&toolset(1)), 10);
        let v: serde_json::Value =
            serde_json::from_str(&view.initialize_result(ProtocolVersion::V2025_06_18)).unwrap();
        assert_eq!(v["protocolVersion"], "2025-06-18");
        assert_eq!(v["serverInfo"]["name"], "demo");
        assert!(v["capabilities"].get("tools").is_some());
        assert!(v["capabilities"].get("prompts").is_none());
        assert!(v["capabilities"].get("resources").is_none());
    }
}
