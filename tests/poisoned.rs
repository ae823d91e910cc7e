//! End-to-end: one stored record that does not load never stops the
//! gateway (issue 17 §1). Records are poisoned straight in the SQLite
//! store of a stopped gateway — JSON that does not decode, credentials that
//! do not open, a definition that used to panic tool generation, a tool
//! name that used to panic shortening, an odd stored time — and the real
//! binary is started on it: it serves everything else, shows each broken
//! record in error with its reason in the admin API, and `doctor` names
//! each.

mod common;

use common::cloudflare::{BASE, portal, register, sync};
use common::raw_mcp::RawMcp;
use common::{Gateway, Start, cli};
use reqwest::Method;
use serde_json::{Value, json};

const CJK: &str = "查询用户订单历史记录并导出为表格文件格式数据和统计结果";

async fn db(gw_dir: &std::path::Path) -> sqlx::SqlitePool {
    let path = gw_dir.join("data/mcpgate.db");
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

async fn exec(pool: &sqlx::SqlitePool, sql: &'static str, args: &[&str]) {
    let mut q = sqlx::query(sql);
    for a in args {
        q = q.bind(*a);
    }
    let done = q.execute(pool).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

#[tokio::test]
async fn poisoned_records_are_marked_in_error_and_everything_else_serves() {
    let up = RawMcp::start(
        json!([{"name": "plain", "inputSchema": {"type": "object"}},
               {"name": CJK, "inputSchema": {"type": "object"}}]),
        json!([]),
    )
    .await;
    let gw = Gateway::start_with(Start::with_bundled_integrations()).await;
    // What stays good: an upstream behind a portal, a toolset server.
    register(&gw, "good", &up.url).await;
    sync(&gw, "good", None).await;
    let before = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "good"}]}),
    )
    .await;
    let (status, toolset) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "demo", "toolset": "demo"})),
        )
        .await;
    assert_eq!(status, 201, "{toolset}");
    // What gets poisoned.
    register(&gw, "bad", &up.url).await;
    sync(&gw, "bad", None).await;
    portal(
        &gw,
        json!({"id": "p3", "name": "P3", "servers": [{"server_id": "bad"}]}),
    )
    .await;
    let (status, broken_server) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "broken", "toolset": "demo"})),
        )
        .await;
    assert_eq!(status, 201, "{broken_server}");
    let definition = json!({"name": "crm", "base_url": "https://crm.example.test", "resources": [
        {"name": "contacts", "methods": [{"kind": "get", "method": "GET", "path": "/contacts/{id}"}]}
    ]});
    let (status, crm) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"definition": definition})),
        )
        .await;
    assert_eq!(status, 201, "{crm}");
    let (status, crm2) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"definition": {"name": "crm2", "base_url": "https://crm.example.test",
                "resources": [{"name": "deals", "methods": [{"kind": "list", "method": "GET", "path": "/deals"}]}]}})),
        )
        .await;
    assert_eq!(status, 201, "{crm2}");
    let (status, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "github", "credentials": {"type": "bearer", "token": "t"}})),
        )
        .await;
    assert_eq!(status, 201, "{account}");

    let dir = gw.stop();
    let pool = db(dir.path()).await;
    exec(
        &pool,
        "UPDATE mcp_upstreams SET doc = '{not json' WHERE id = $1",
        &["bad"],
    )
    .await;
    exec(
        &pool,
        "UPDATE portals SET doc = '[]' WHERE id = $1",
        &["p3"],
    )
    .await;
    exec(
        &pool,
        "UPDATE servers SET scope = '{bad' WHERE id = $1",
        &[broken_server["id"].as_str().unwrap()],
    )
    .await;
    exec(
        &pool,
        "UPDATE integrations SET definition = '{\"name\": 5}' WHERE id = $1",
        &[crm2["id"].as_str().unwrap()],
    )
    .await;
    exec(
        &pool,
        "UPDATE integrated_accounts SET credentials = 'not sealed' WHERE id = $1",
        &[account["id"].as_str().unwrap()],
    )
    .await;
    // Valid JSON that older builds could not load: a boolean path
    // parameter schema (tool generation panicked), and an odd stored time.
    let mut crm_def = definition.clone();
    crm_def["resources"][0]["methods"][0]["path_params"] = json!({"id": true});
    exec(
        &pool,
        "UPDATE integrations SET definition = $1 WHERE id = $2",
        &[&crm_def.to_string(), crm["id"].as_str().unwrap()],
    )
    .await;
    let doc: String = sqlx::query_scalar("SELECT doc FROM mcp_upstreams WHERE id = 'good'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut doc: Value = serde_json::from_str(&doc).unwrap();
    doc["last_successful_sync"] = json!(i64::MIN);
    exec(
        &pool,
        "UPDATE mcp_upstreams SET doc = $1 WHERE id = 'good'",
        &[&doc.to_string()],
    )
    .await;
    pool.close().await;

    let gw = Gateway::start_with(Start {
        dir: Some(dir),
        ..Start::with_bundled_integrations()
    })
    .await;
    // Everything else serves: the portal (with its CJK-named tool), the toolset.
    let p = before.clone_to(&gw);
    let names = p.tool_names().await;
    assert_eq!(names.len(), 2, "{names:?}");
    let cjk = names.iter().find(|n| *n != "good_plain").unwrap();
    let r = p
        .call("tools/call", json!({"name": cjk, "arguments": {}}))
        .await;
    assert!(
        r["content"][0]["text"].as_str().unwrap().contains(CJK),
        "{r}"
    );
    let mut demo = gw.mcp(toolset["token"].as_str().unwrap());
    demo.initialize("2025-11-25").await;
    assert_eq!(demo.tool_names().await.len(), 3);

    // Each broken record is in error, with its reason, where an admin looks.
    let (_, good) = gw
        .admin(Method::GET, &format!("{BASE}/servers/good"), None)
        .await;
    assert_eq!(good["result"]["status"], "stale", "{good}");
    let (status, bad) = gw
        .admin(Method::GET, &format!("{BASE}/servers/bad"), None)
        .await;
    assert_eq!(status, 200, "{bad}");
    assert_eq!(bad["result"]["status"], "error", "{bad}");
    assert!(
        bad["result"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot be read"),
        "{bad}"
    );
    let (_, list) = gw
        .admin(Method::GET, &format!("{BASE}/servers"), None)
        .await;
    let statuses: Vec<(String, String)> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("bad".into(), "error".into())),
        "{statuses:?}"
    );
    let (_, p3) = gw
        .admin(Method::GET, &format!("{BASE}/portals/p3"), None)
        .await;
    assert_eq!(p3["result"]["status"], "error", "{p3}");
    let (_, portals) = gw
        .admin(Method::GET, &format!("{BASE}/portals"), None)
        .await;
    assert_eq!(portals["result"].as_array().unwrap().len(), 2, "{portals}");
    let (_, integrations) = gw.admin(Method::GET, "/integration?limit=100", None).await;
    let find = |list: &Value, id: &Value| {
        list["result"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == *id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {list}"))
    };
    assert_eq!(find(&integrations, &crm2["id"])["status"], "error");
    let crm_now = find(&integrations, &crm["id"]);
    assert_eq!(crm_now["status"], "ready", "{crm_now}");
    assert_eq!(crm_now["tools"], json!(["get_single_crm_contact_by_id"]));
    let (_, accounts) = gw.admin(Method::GET, "/integrated-account", None).await;
    let broken = find(&accounts, &account["id"]);
    assert!(
        broken["error"]
            .as_str()
            .unwrap()
            .contains("cannot be opened"),
        "{broken}"
    );

    let broken_id = broken_server["id"].as_str().unwrap();
    let (status, one) = gw
        .admin(Method::GET, &format!("/server/{broken_id}"), None)
        .await;
    assert_eq!((status, &one["status"]), (200, &json!("error")), "{one}");
    let (status, servers) = gw.admin(Method::GET, "/server?limit=100", None).await;
    assert_eq!(status, 200, "{servers}");
    assert_eq!(find(&servers, &broken_server["id"])["status"], "error");
    assert!(find(&servers, &toolset["id"])["name"] == "demo");

    // doctor names each one and fails.
    let config = gw.dir.path().join("mcpgate.toml");
    let data = gw.data_dir();
    let out = cli(
        &[
            "doctor",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--endpoint",
            &gw.base,
            "--timeout-secs",
            "2",
        ],
        &[],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    for expected in [
        "unreadable record: mcp_upstreams \"bad\"",
        "unreadable record: portals \"p3\"",
        "unreadable record: servers",
        "unreadable record: integrations",
        "unreadable record: integrated_accounts",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }

    // An unreadable portal can be deleted; then the broken upstream it
    // used can be too (and then created anew): while a portal names it,
    // deleting it is a conflict.
    let (status, refused) = gw
        .admin(Method::DELETE, &format!("{BASE}/servers/bad"), None)
        .await;
    assert_eq!(status, 409, "{refused}");
    let (status, deleted) = gw
        .admin(Method::DELETE, &format!("{BASE}/portals/p3"), None)
        .await;
    assert_eq!(status, 200, "{deleted}");
    let (status, deleted) = gw
        .admin(Method::DELETE, &format!("{BASE}/servers/bad"), None)
        .await;
    assert_eq!(status, 200, "{deleted}");
    let (_, list) = gw
        .admin(Method::GET, &format!("{BASE}/servers"), None)
        .await;
    assert_eq!(list["result"].as_array().unwrap().len(), 1, "{list}");
    assert!(!gw.stderr().contains("panicked"), "{}", gw.stderr());
}
