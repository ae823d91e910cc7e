//! Portals: one offering from the last-synced tools, prompts and
//! resources of several upstreams, under names every client accepts.

use mcpgate_store::ServerRecord;
use mcpgate_store::{PortalRecord, PortalServer, UpstreamRecord};
use mcpgate_upstream::{Executor, Handler, McpClient, McpTool};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{Index, UpstreamEntry};
use crate::view::{Extras, Offering, ServerView};

fn to_raw(v: &Value) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(v).expect("JSON serializes")
}

/// Give a portal tool or prompt (an object) its exposed `name`; when that
/// is not the name the portal would otherwise show (`wanted`: the
/// upstream's, prefixed), the original stays visible as `title` unless it
/// has one.
fn keep_original_name(item: &mut Value, wanted: &str, name: &str) {
    let Some(fields) = item.as_object_mut() else {
        return;
    };
    if wanted != name && !fields.contains_key("title") {
        let original = fields.get("name").cloned();
        if let Some(original) = original {
            fields.insert("title".into(), original);
        }
    }
    fields.insert("name".into(), Value::String(name.to_owned()));
}

/// Rename a prompt's argument names (`arguments[].name`) that some client
/// would refuse, like input-schema keys (`^[a-zA-Z0-9_.-]{1,64}$`, the
/// original kept as `title`); the exposed → upstream names when any
/// changed.
fn client_safe_prompt_arguments(prompt: &mut Value) -> Option<HashMap<String, String>> {
    use mcpgate_catalog::naming::is_client_safe_property_key;
    use mcpgate_catalog::schema_keys::unique_key;
    let mut arguments: Vec<&mut Value> = prompt
        .get_mut("arguments")?
        .as_array_mut()?
        .iter_mut()
        .filter(|a| a.get("name").is_some_and(Value::is_string))
        .collect();
    let originals: Vec<String> = arguments
        .iter()
        .map(|a| {
            a.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    // Names that pass keep themselves; the others take the key rule.
    let mut taken: HashSet<String> = originals
        .iter()
        .filter(|o| is_client_safe_property_key(o))
        .cloned()
        .collect();
    let mut renamed = HashMap::new();
    for (argument, original) in arguments.iter_mut().zip(originals) {
        if is_client_safe_property_key(&original) {
            continue;
        }
        let name = unique_key(&original, &mut taken);
        keep_original_name(argument, &original, &name);
        renamed.insert(name, original);
    }
    (!renamed.is_empty()).then_some(renamed)
}

impl Index {
    /// A portal's view: the synced tools, prompts and resources of its
    /// upstreams. An upstream that never synced (or was removed) simply
    /// contributes nothing; the others are unaffected.
    pub(super) fn portal_view(&self, record: &ServerRecord, portal_id: &str) -> ServerView {
        let Some(portal) = self.portal(&record.tenant, portal_id) else {
            let offering = Offering::from_portal(Vec::new(), Extras::default(), self.page_size);
            return ServerView::new(record, Arc::new(offering), Executor::Portal);
        };
        let members: Vec<(&PortalServer, Arc<UpstreamEntry>)> = portal
            .servers
            .iter()
            .filter_map(|m| Some((m, self.upstream(&record.tenant, &m.server_id)?)))
            .collect();
        let offering = portal_offering(
            &portal,
            members.iter().map(|(m, up)| (*m, &up.record, &up.client)),
            self.page_size,
        );
        ServerView::new(record, Arc::new(offering), Executor::Portal)
    }
}

/// A portal's offering, from what its members' upstreams last synced (no
/// I/O, so a test can build it from any tool list): tools, prompts and
/// resources under names and keys every client accepts (`naming`,
/// `schema_keys`), each routed to its upstream under its real name.
fn portal_offering<'a>(
    portal: &PortalRecord,
    members: impl Iterator<Item = (&'a PortalServer, &'a UpstreamRecord, &'a Arc<McpClient>)>,
    page_size: usize,
) -> Offering {
    let mut names = Vec::new();
    let mut tools: Vec<(Value, Handler)> = Vec::new();
    let mut extras = Extras::default();
    let mut prompts: Vec<(String, Value, Arc<McpClient>, String)> = Vec::new();
    for (member, record, client) in members {
        let Some(snapshot) = &record.snapshot else {
            continue;
        };
        let exposed = |name: &str| {
            if portal.prefix {
                format!("{}_{name}", member.server_id)
            } else {
                name.to_owned()
            }
        };
        let mut listed_here = HashSet::new();
        for tool in snapshot
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            // An upstream that lists a name twice offers one tool.
            if !listed_here.insert(name) {
                continue;
            }
            let listed =
                |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| l.iter().any(|t| t == name));
            if (member.default_disabled && !listed(&member.enabled_tools))
                || listed(&member.disabled_tools)
            {
                continue;
            }
            // A pinned portal withholds a tool whose definition changed
            // since an admin last accepted it.
            if portal.pin_tools
                && record
                    .changes
                    .iter()
                    .any(|c| c.get("tool").and_then(Value::as_str) == Some(name))
            {
                continue;
            }
            names.push(exposed(name));
            let mut shown = tool.clone();
            // Clients require an object schema; a tool without one takes none.
            if !shown.get("inputSchema").is_some_and(Value::is_object) {
                shown["inputSchema"] = serde_json::json!({"type": "object"});
            }
            // Property keys every client accepts; the call maps them back.
            let renamed = shown
                .get_mut("inputSchema")
                .map(mcpgate_catalog::schema_keys::make_safe)
                .filter(|keys| !keys.is_empty())
                .map(|keys| Arc::new((shown["inputSchema"].clone(), keys)));
            tools.push((
                shown,
                Handler::Mcp(Arc::new(McpTool {
                    client: Arc::clone(client),
                    upstream: member.server_id.clone(),
                    name: name.to_owned(),
                    output_schema: tool.get("outputSchema").cloned(),
                    param_headers: mcpgate_protocol::stateless::param_headers(
                        tool.get("inputSchema"),
                    ),
                    renamed_arguments: renamed,
                })),
            ));
        }
        for prompt in snapshot
            .get("prompts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = prompt.get("name").and_then(Value::as_str) else {
                continue;
            };
            prompts.push((
                exposed(name),
                prompt.clone(),
                Arc::clone(client),
                name.to_owned(),
            ));
        }
        for resource in snapshot
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(uri) = resource.get("uri").and_then(Value::as_str) else {
                continue;
            };
            if extras.routes.resources.contains_key(uri) {
                continue;
            }
            extras
                .routes
                .resources
                .insert(uri.to_owned(), Arc::clone(client));
            extras.resources.push(to_raw(resource));
        }
        for template in snapshot
            .get("resource_templates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = template.get("uriTemplate").and_then(Value::as_str) {
                extras
                    .routes
                    .templates
                    .entry(t.to_owned())
                    .or_insert_with(|| Arc::clone(client));
            }
            extras.templates.push(to_raw(template));
        }
        let caps = snapshot.get("capabilities");
        if caps.and_then(|c| c.get("logging")).is_some() {
            extras.routes.logging.push(Arc::clone(client));
        }
        if caps.and_then(|c| c.get("completions")).is_some() {
            extras.routes.completions = true;
        }
    }
    // Names every client accepts (`^[a-zA-Z0-9_-]{1,64}$`), unique, each
    // a function of its own upstream name (stable across syncs).
    use mcpgate_catalog::naming::{MAX_TOOL_NAME, exposed_tool_name, unique_exposed};
    let exposed_names = unique_exposed(&names, exposed_tool_name, MAX_TOOL_NAME);
    let view_tools = tools
        .into_iter()
        .zip(names.iter().zip(exposed_names))
        .map(|((mut tool, handler), (wanted, name))| {
            keep_original_name(&mut tool, wanted, &name);
            (name, to_raw(&tool), handler)
        })
        .collect();
    let wanted: Vec<&str> = prompts.iter().map(|p| p.0.as_str()).collect();
    let prompt_names = unique_exposed(&wanted, exposed_tool_name, MAX_TOOL_NAME);
    for ((wanted, mut prompt, client, original), name) in prompts.into_iter().zip(prompt_names) {
        keep_original_name(&mut prompt, &wanted, &name);
        if let Some(renamed) = client_safe_prompt_arguments(&mut prompt) {
            extras.routes.prompt_arguments.insert(name.clone(), renamed);
        }
        extras.prompts.push(to_raw(&prompt));
        extras.routes.prompts.insert(name, (client, original));
    }
    Offering::from_portal(view_tools, extras, page_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgate_catalog::naming::{is_client_safe_property_key, is_client_safe_tool_name};
    use mcpgate_catalog::schema_keys::property_keys;
    use mcpgate_catalog::strategies::{hostile_string, hostile_tool};
    use mcpgate_store::ServerId;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::OnceLock;

    fn upstream(id: &str, tools: Vec<Value>, prompts: Vec<Value>) -> UpstreamRecord {
        UpstreamRecord {
            tenant: "default".into(),
            id: id.into(),
            name: id.into(),
            hostname: "http://127.0.0.1:9/mcp".into(),
            auth_type: "unauthenticated".into(),
            timeout_secs: None,
            description: None,
            status: "ready".into(),
            error: None,
            snapshot: Some(json!({"tools": tools, "prompts": prompts})),
            accepted: Default::default(),
            changes: Vec::new(),
            last_synced: None,
            last_successful_sync: None,
            created_at: 0,
            created_by: None,
            modified_at: 0,
            modified_by: None,
            config_version: 0,
            url_provenance: mcpgate_catalog::UrlProvenance::Operator,
            warnings: Vec::new(),
        }
    }

    /// A portal over upstreams `ups` (each with its tool and prompt list).
    fn offering(ups: &[(String, Vec<Value>, Vec<Value>)], prefix: bool) -> Offering {
        // One client for every case: building an HTTP client is slow.
        static CLIENT: OnceLock<Arc<McpClient>> = OnceLock::new();
        let client = CLIENT.get_or_init(|| {
            let http = reqwest::Client::new();
            let timeout = std::time::Duration::from_secs(1);
            Arc::new(
                McpClient::new(
                    http,
                    "http://127.0.0.1:9/mcp",
                    None,
                    timeout,
                    mcpgate_upstream::McpLimits::default(),
                )
                .unwrap(),
            )
        });
        let records: Vec<(PortalServer, UpstreamRecord)> = ups
            .iter()
            .map(|(id, tools, prompts)| {
                let member = PortalServer {
                    server_id: id.clone(),
                    default_disabled: false,
                    enabled_tools: None,
                    disabled_tools: None,
                };
                (member, upstream(id, tools.clone(), prompts.clone()))
            })
            .collect();
        let portal = PortalRecord {
            tenant: "default".into(),
            id: "p".into(),
            name: "p".into(),
            description: None,
            servers: records.iter().map(|(m, _)| m.clone()).collect(),
            prefix,
            pin_tools: false,
            server_id: ServerId::new().to_string(),
            created_at: 0,
            created_by: None,
            modified_at: 0,
            modified_by: None,
        };
        portal_offering(&portal, records.iter().map(|(m, r)| (m, r, client)), 7)
    }

    /// The upstream name each listed tool calls, by exposed name.
    fn routes(o: &Offering) -> Vec<(String, String)> {
        o.listed("tools")
            .iter()
            .map(|t| {
                let name = t["name"].as_str().expect("names are strings").to_owned();
                match o.handler(&name) {
                    Some(Handler::Mcp(tool)) => (name, tool.name.clone()),
                    _ => panic!("{name} has no upstream handler"),
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any tool list an upstream sends builds a portal whose names and
        /// keys every client accepts, each routed to the upstream's name;
        /// a tool added upstream renames none of the others.
        #[test]
        fn any_upstream_tool_list_builds_a_client_safe_portal(
            first in vec(hostile_tool(), 0..12),
            second in vec(hostile_tool(), 0..6),
            added in hostile_string(40),
            prompt_args in vec(hostile_string(20), 0..4),
            prefix in any::<bool>(),
        ) {
            let prompts = vec![json!({"name": added.clone(),
                "arguments": prompt_args.iter().map(|a| json!({"name": a})).collect::<Vec<_>>()})];
            let ups = vec![
                ("up-1".to_owned(), first.clone(), prompts),
                ("up_2".to_owned(), second.clone(), Vec::new()),
            ];
            let o = offering(&ups, prefix);
            let tools = o.listed("tools");
            let mut names = Vec::new();
            for t in &tools {
                let name = t["name"].as_str().unwrap();
                prop_assert!(is_client_safe_tool_name(name), "{name:?}");
                prop_assert!(t["inputSchema"].is_object());
                for key in property_keys(&t["inputSchema"]) {
                    prop_assert!(is_client_safe_property_key(key), "{key:?} of {name}");
                }
                names.push(name.to_owned());
            }
            names.sort();
            let count = names.len();
            names.dedup();
            prop_assert_eq!(names.len(), count, "unique names");
            for p in o.listed("prompts") {
                prop_assert!(is_client_safe_tool_name(p["name"].as_str().unwrap()));
                for a in p["arguments"].as_array().unwrap() {
                    prop_assert!(is_client_safe_property_key(a["name"].as_str().unwrap()));
                }
            }
            // Every upstream tool with a name is listed once and routed to it.
            let before = routes(&o);
            let mut upstream_names: Vec<String> = ups
                .iter()
                .flat_map(|(_, tools, _)| {
                    let mut seen = HashSet::new();
                    tools
                        .iter()
                        .filter_map(|t| t.get("name")?.as_str())
                        .filter(|n| seen.insert(*n))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut routed: Vec<String> = before.iter().map(|(_, u)| u.clone()).collect();
            upstream_names.sort();
            routed.sort();
            prop_assert_eq!(routed, upstream_names);

            // The upstream adds a tool at the front of its list.
            prop_assume!(!first.iter().any(|t| t.get("name") == Some(&json!(added))));
            let mut grown = ups.clone();
            grown[0].1.insert(0, json!({"name": added, "inputSchema": {"type": "object"}}));
            let after = routes(&offering(&grown, prefix));
            for pair in &before {
                // Unprefixed, the same name on two upstreams is numbered in
                // member order; only then may the second one move.
                if prefix || !after.iter().any(|(n, u)| n == &pair.0 && u != &pair.1) {
                    prop_assert!(after.contains(pair), "{pair:?} renamed: {after:?}");
                }
            }
        }
    }
}
