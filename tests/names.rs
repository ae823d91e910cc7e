//! End-to-end: every tool name and argument key a server exposes is one
//! every client accepts (`^[a-zA-Z0-9_-]{1,64}$` for names,
//! `^[a-zA-Z0-9_.-]{1,64}$` for input-schema keys), unique, stable across
//! syncs, and mapped back to the upstream's real names on the call.

mod common;

use common::cloudflare::{portal, register, sync};
use common::raw_mcp::RawMcp;
use common::{Gateway, Mcp};
use mcpgate_catalog::schema_keys::property_keys;
use serde_json::{Value, json};

const CJK: &str = "查询用户订单历史记录并导出为表格文件格式数据和统计结果";

fn client_safe_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn client_safe_key(k: &str) -> bool {
    (1..=64).contains(&k.len())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Every entry of a paginated list.
async fn all(c: &Mcp, method: &str, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = cursor.as_ref().map_or(json!({}), |c| json!({"cursor": c}));
        let page = c.call(method, params).await;
        items.extend(page[key].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return items,
        }
    }
}

/// Assert the client rules over a whole `tools/list`; returns the names.
pub fn assert_client_safe(tools: &[Value]) -> Vec<String> {
    let names: Vec<String> = tools
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    for (t, n) in tools.iter().zip(&names) {
        assert!(client_safe_name(n), "tool name {n:?}");
        for k in property_keys(&t["inputSchema"]) {
            assert!(client_safe_key(k), "{n}: property key {k:?}");
        }
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "names are unique: {names:?}");
    names
}

/// The exposed key of the property `original` of `properties` (kept as
/// its `title`).
fn key_for(properties: &Value, original: &str) -> String {
    properties
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, v)| *k == original || v["title"] == original)
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| panic!("no property {original:?} in {properties}"))
}

fn hostile_tools() -> Value {
    json!([
        {"name": "files.read", "inputSchema": {
            "type": "object",
            "properties": {
                "Wine Pairing": {"type": "string"},
                "filter[status]": {"type": "object", "properties": {"名前": {"type": "string"}}},
                "rows": {"type": "array", "items": {"$ref": "#/$defs/Row"}},
                "plain": {"type": "integer"}
            },
            "required": ["Wine Pairing"],
            "$defs": {"Row": {"type": "object", "properties": {"DateSent<": {"type": "string"}}}}
        }},
        {"name": "files/write", "inputSchema": {"type": "object"}},
        {"name": "get weather", "title": "Weather now", "inputSchema": {"type": "object"}},
        {"name": "plain_tool", "inputSchema": {"type": "object"}},
        {"name": CJK, "inputSchema": {"type": "object"}},
        {"name": "x".repeat(70), "inputSchema": {"type": "object"}},
        {"name": "plain_tool", "inputSchema": {"type": "object"}}
    ])
}

#[tokio::test]
async fn portal_names_and_keys_every_client_accepts_map_back_to_the_upstream() {
    let up = RawMcp::start(
        hostile_tools(),
        json!([{"name": "greet everyone", "arguments": [
            {"name": "full name", "required": true}, {"name": "tone"}
        ]}]),
    )
    .await;
    let gw = Gateway::start().await;
    register(&gw, "srv", &up.url).await;
    assert_eq!(sync(&gw, "srv", None).await["status"], "ready");
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "srv"}]}),
    )
    .await;
    let tools = all(&c, "tools/list", "tools").await;
    let names = assert_client_safe(&tools);
    assert_eq!(names.len(), 6, "a name listed twice is one tool: {names:?}");
    assert!(names.contains(&"srv_plain_tool".to_owned()), "{names:?}");
    // A renamed tool shows its upstream name as its title, unless it has one.
    let by_title = |title: &str| {
        tools
            .iter()
            .find(|t| t["title"] == title)
            .unwrap_or_else(|| panic!("no tool titled {title:?}: {tools:?}"))
            .clone()
    };
    by_title("files/write");
    by_title(CJK);
    let weather = by_title("Weather now");
    assert!(
        weather["name"]
            .as_str()
            .unwrap()
            .starts_with("srv_get_weather")
    );

    // Each exposed name calls its own upstream tool, and renamed argument
    // keys (at every depth) reach the upstream as it declared them.
    for t in &tools {
        let r = c
            .call("tools/call", json!({"name": t["name"], "arguments": {}}))
            .await;
        let sent: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
        let expected = match (t["name"].as_str().unwrap(), t["title"].as_str()) {
            ("srv_plain_tool", _) => "plain_tool",
            (_, Some("Weather now")) => "get weather",
            (_, title) => title.expect("a renamed tool keeps its upstream name as title"),
        };
        assert_eq!(sent["name"], expected, "{t}");
    }
    let read = by_title("files.read");
    let props = &read["inputSchema"]["properties"];
    let filter = key_for(props, "filter[status]");
    let row = key_for(
        &read["inputSchema"]["$defs"]["Row"]["properties"],
        "DateSent<",
    );
    let args = json!({
        key_for(props, "Wine Pairing"): "red",
        filter.clone(): {key_for(&props[&filter]["properties"], "名前"): "ada"},
        "rows": [{row: "2024-01-01"}],
        "plain": 3,
        "unknown key": true
    });
    c.call(
        "tools/call",
        json!({"name": read["name"], "arguments": args}),
    )
    .await;
    let last = up.received().last().unwrap().clone();
    assert_eq!(last["params"]["name"], "files.read");
    assert_eq!(
        last["params"]["arguments"],
        json!({"Wine Pairing": "red", "filter[status]": {"名前": "ada"},
               "rows": [{"DateSent<": "2024-01-01"}], "plain": 3, "unknown key": true})
    );

    // Prompts: names and argument names follow the same rules.
    let prompts = all(&c, "prompts/list", "prompts").await;
    let prompt = &prompts[0];
    assert!(
        client_safe_name(prompt["name"].as_str().unwrap()),
        "{prompt}"
    );
    assert_eq!(prompt["title"], "greet everyone");
    let arguments = prompt["arguments"].as_array().unwrap();
    assert!(
        arguments
            .iter()
            .all(|a| client_safe_key(a["name"].as_str().unwrap()))
    );
    let full = arguments
        .iter()
        .find(|a| a["title"] == "full name")
        .unwrap();
    c.call(
        "prompts/get",
        json!({"name": prompt["name"], "arguments": {full["name"].as_str().unwrap(): "Ada", "tone": "warm"}}),
    )
    .await;
    let last = up.received().last().unwrap().clone();
    assert_eq!(last["method"], "prompts/get");
    assert_eq!(last["params"]["name"], "greet everyone");
    assert_eq!(
        last["params"]["arguments"],
        json!({"full name": "Ada", "tone": "warm"})
    );

    // Stable across syncs: tools added upstream — even ones whose cleaned
    // names clash with existing ones — rename none of the others.
    let mut more = hostile_tools();
    let list = more.as_array_mut().unwrap();
    list.insert(
        0,
        json!({"name": "files_read", "inputSchema": {"type": "object"}}),
    );
    list.insert(
        0,
        json!({"name": "get_weather", "inputSchema": {"type": "object"}}),
    );
    list.push(json!({"name": "files read", "inputSchema": {"type": "object"}}));
    up.set_tools(more);
    sync(&gw, "srv", None).await;
    let after = assert_client_safe(&all(&c, "tools/list", "tools").await);
    assert_eq!(after.len(), 9, "{after:?}");
    for n in &names {
        assert!(
            after.contains(n),
            "{n} was renamed by an addition: {after:?}"
        );
    }
    assert!(after.contains(&"srv_files_read".to_owned()));
}

/// The guard over every kind of server: a static toolset's and each bundled
/// integration's REST tools pass both client patterns too (portals: above).
#[tokio::test]
async fn toolset_and_bundled_rest_servers_expose_only_client_safe_names_and_keys() {
    let gw = Gateway::start_with(common::Start::with_bundled_integrations()).await;
    let mut tokens = Vec::new();
    let (status, body) = gw
        .admin(
            reqwest::Method::POST,
            "/server",
            Some(json!({"name": "demo", "toolset": "demo"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    tokens.push((
        "toolset demo".to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    ));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/integrations");
    let mut bundled: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    bundled.sort();
    for path in bundled {
        let integration = mcpgate_catalog::Integration::load(&path).unwrap();
        let credentials = match integration.auth {
            mcpgate_catalog::AuthSpec::Basic => {
                json!({"type": "basic", "username": "u", "password": "p"})
            }
            _ => json!({"type": "bearer", "token": "t"}),
        };
        let (status, account) = gw
            .admin(
                reqwest::Method::POST,
                "/integrated-account",
                Some(
                    json!({"integration": integration.name, "credentials": credentials,
                    "context": {"subdomain": "acme"}}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{}: {account}", path.display());
        let (status, body) = gw
            .admin(
                reqwest::Method::POST,
                "/server",
                Some(json!({"name": integration.name, "integrated_account_id": account["id"]})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        tokens.push((
            path.display().to_string(),
            body["token"].as_str().unwrap().to_owned(),
        ));
    }
    assert!(
        tokens.len() >= 4,
        "the toolset and the bundled integrations"
    );
    for (what, token) in tokens {
        let mut c = gw.mcp(&token);
        c.initialize("2025-11-25").await;
        let tools = all(&c, "tools/list", "tools").await;
        assert!(!tools.is_empty(), "{what} serves tools");
        assert_client_safe(&tools);
    }
}
