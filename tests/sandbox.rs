//! End-to-end: sandbox twins (`/mcp/{token}:test`, Fruxon `mcp:test`) answer
//! from the simulator with the production scope and tools, never calling the
//! upstream.

mod common;

use common::upstream::{self, CRM};
use common::{Gateway, Mcp};
use reqwest::Method;
use serde_json::{Value, json};

async fn crm_server(gw: &Gateway, up: &upstream::Upstream, limits: Value) -> (String, String) {
    let definition =
        serde_json::to_value(mcpgate_catalog::Integration::from_yaml(CRM).unwrap()).unwrap();
    let (_, integration) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({ "definition": definition })),
        )
        .await;
    let (_, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "crm", "base_url": up.base,
            "credentials": {"type": "bearer", "token": "t"}})),
        )
        .await;
    let account = account["id"].as_str().unwrap().to_owned();
    let (status, server) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "crm", "integrated_account_id": account,
            "config": {"tags": ["crm"]}, "limits": limits})),
        )
        .await;
    assert_eq!(status, 201, "{server}");
    (
        integration["id"].as_str().unwrap().to_owned(),
        server["token"].as_str().unwrap().to_owned(),
    )
}

/// The id of the gateway's only server.
async fn only_server(gw: &Gateway) -> String {
    let (_, servers) = gw.admin(Method::GET, "/server", None).await;
    servers["result"][0]["id"].as_str().unwrap().to_owned()
}

fn at(gw: &Gateway, url: String) -> Mcp {
    Mcp {
        http: gw.http.clone(),
        url,
        session: None,
        version_header: None,
    }
}

#[tokio::test]
async fn the_twin_serves_the_same_tools_and_never_reaches_the_upstream() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let (_, token) = crm_server(&gw, &up, json!({})).await;
    let mut prod = gw.mcp(&token);
    prod.initialize("2025-11-25").await;
    let mut twin = at(&gw, gw.url(&format!("/mcp/{token}:test")));
    twin.initialize("2025-11-25").await;
    let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    assert_eq!(
        prod.post(list.clone()).await.text,
        twin.post(list).await.text,
        "same tools/list bytes"
    );

    // Create → get → update → list → delete, all simulated.
    let created = twin.call("tools/call", json!({"name": "create_a_crm_contact", "arguments": {"properties": {"email": "ada@example.com"}}})).await;
    assert_eq!(created["_meta"]["io.mcpgate/simulated"], true);
    let id = created["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = twin
        .call(
            "tools/call",
            json!({"name": "get_single_crm_contact_by_id", "arguments": {"id": id}}),
        )
        .await;
    assert_eq!(
        got["structuredContent"]["properties"]["email"],
        "ada@example.com"
    );
    let again = twin
        .call(
            "tools/call",
            json!({"name": "get_single_crm_contact_by_id", "arguments": {"id": id}}),
        )
        .await;
    assert_eq!(got, again, "deterministic");
    twin.call("tools/call", json!({"name": "create_a_crm_contact", "arguments": {"properties": {"email": "bob@example.com"}}})).await;
    let listed = twin
        .call(
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {"limit": 1}}),
        )
        .await;
    assert_eq!(listed["structuredContent"]["results"][0]["id"], id.as_str());
    let next = listed["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let page2 = twin.call("tools/call", json!({"name": "list_all_crm_contacts", "arguments": {"limit": 1, "next_cursor": next}})).await;
    assert_eq!(
        page2["structuredContent"]["results"][0]["properties"]["email"],
        "bob@example.com"
    );
    twin.call(
        "tools/call",
        json!({"name": "download_crm_contacts", "arguments": {"id": id}}),
    )
    .await;
    let bad = twin
        .call(
            "tools/call",
            json!({"name": "create_a_crm_contact", "arguments": {"properties": 5}}),
        )
        .await;
    assert_eq!(bad["isError"], true, "validation as in production");

    assert!(
        up.api_calls().is_empty(),
        "the twin never called the upstream: {:?}",
        up.api_calls()
    );
    // Production still does.
    prod.call(
        "tools/call",
        json!({"name": "list_all_crm_contacts", "arguments": {"limit": 1}}),
    )
    .await;
    assert_eq!(up.api_calls().len(), 1);
    // A tool outside the scope is unknown on the twin too.
    let r = twin
        .request(
            9,
            "tools/call",
            json!({"name": "list_all_crm_reports", "arguments": {}}),
        )
        .await;
    assert_eq!(r.error_code(), -32602);
}

#[tokio::test]
async fn the_twin_has_its_own_limit_bucket() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let (_, token) = crm_server(&gw, &up, json!({"rate_per_sec": 1, "burst": 3})).await;
    let mut prod = gw.mcp(&token);
    prod.initialize("2025-11-25").await; // two of three
    assert_eq!(prod.request(1, "ping", json!({})).await.status, 200);
    assert_eq!(
        prod.request(2, "ping", json!({})).await.status,
        429,
        "production is used up"
    );
    let mut twin = at(&gw, gw.url(&format!("/mcp/{token}:test")));
    twin.initialize("2025-11-25").await;
    assert_eq!(
        twin.request(3, "ping", json!({})).await.status,
        200,
        "the twin is not"
    );
}

#[tokio::test]
async fn the_fruxon_test_url_is_the_twin_of_mcp_call() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let definition =
        serde_json::to_value(mcpgate_catalog::Integration::from_yaml(CRM).unwrap()).unwrap();
    let (_, integration) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({ "definition": definition })),
        )
        .await;
    let integration = integration["id"].as_str().unwrap().to_owned();
    let (_, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "crm", "base_url": up.base,
            "credentials": {"type": "bearer", "token": "t"}})),
        )
        .await;
    let (_, settings) = gw
        .admin(
            Method::PATCH,
            &format!("/v1/tenants/default/integrations/{integration}/mcp"),
            Some(json!({"enabled": true, "configId": account["id"]})),
        )
        .await;
    let key = settings["apiKey"].as_str().unwrap().to_owned();
    let mut twin = at(&gw, settings["testUrl"].as_str().unwrap().to_owned());
    twin.http = reqwest::Client::builder()
        .default_headers(
            [("x-api-key".parse().unwrap(), key.parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap();
    twin.initialize("2025-11-25").await;
    let r = twin
        .call(
            "tools/call",
            json!({"name": "list_all_crm_reports", "arguments": {}}),
        )
        .await;
    assert_eq!(r["_meta"]["io.mcpgate/simulated"], true, "{r}");
    assert!(up.api_calls().is_empty());
}

#[tokio::test]
async fn sandbox_state_survives_a_restart_and_resets_on_request() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let (_, token) = crm_server(&gw, &up, json!({})).await;
    let mut twin = at(&gw, gw.url(&format!("/mcp/{token}:test")));
    twin.initialize("2025-11-25").await;
    let created = twin.call("tools/call", json!({"name": "create_a_crm_contact", "arguments": {"properties": {"email": "kept@example.com"}}})).await;
    let id = created["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // written behind

    let dir = gw.stop();
    let gw = Gateway::start_with(common::Start {
        dir: Some(dir),
        ..common::Start::default()
    })
    .await;
    let mut twin = at(&gw, gw.url(&format!("/mcp/{token}:test")));
    twin.initialize("2025-11-25").await;
    let got = twin
        .call(
            "tools/call",
            json!({"name": "get_single_crm_contact_by_id", "arguments": {"id": id}}),
        )
        .await;
    assert_eq!(
        got["structuredContent"]["properties"]["email"], "kept@example.com",
        "{got}"
    );

    let server = only_server(&gw).await;
    let (status, reset) = gw
        .admin(Method::DELETE, &format!("/server/{server}/sandbox"), None)
        .await;
    assert_eq!(status, 200, "{reset}");
    assert!(reset["removed"].as_u64().unwrap() >= 1);
    let after = twin
        .call(
            "tools/call",
            json!({"name": "get_single_crm_contact_by_id", "arguments": {"id": id}}),
        )
        .await;
    assert_ne!(
        after["structuredContent"]["properties"]["email"], "kept@example.com",
        "forgotten"
    );
}

#[tokio::test]
async fn injected_faults_are_observed() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let (_, token) = crm_server(&gw, &up, json!({})).await;
    let server = only_server(&gw).await;
    let (status, patched) = gw
        .admin(
            Method::PATCH,
            &format!("/server/{server}"),
            Some(json!({"sandbox": {"latency_ms": 250, "error_rate": 0.5, "error_status": 503}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["sandbox"]["error_status"], 503);
    let mut twin = at(&gw, gw.url(&format!("/mcp/{token}:test")));
    twin.initialize("2025-11-25").await;
    let mut failures = 0;
    for _ in 0..4 {
        let started = std::time::Instant::now();
        let r = twin
            .call(
                "tools/call",
                json!({"name": "list_all_crm_contacts", "arguments": {}}),
            )
            .await;
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(250),
            "latency injected"
        );
        if r["isError"] == true {
            assert!(
                r["content"][0]["text"].as_str().unwrap().contains("503"),
                "{r}"
            );
            failures += 1;
        }
    }
    assert_eq!(failures, 2, "half of the calls fail");

    gw.admin(
        Method::PATCH,
        &format!("/server/{server}"),
        Some(json!({"sandbox": {"timeout": true}})),
    )
    .await;
    let r = twin
        .call(
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {}}),
        )
        .await;
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{r}"
    );
    let (status, bad) = gw
        .admin(
            Method::PATCH,
            &format!("/server/{server}"),
            Some(json!({"sandbox": {"error_rate": 2}})),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(up.api_calls().is_empty());
}

#[tokio::test]
async fn recorded_real_calls_are_replayed_by_the_twin() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let (_, token) = crm_server(&gw, &up, json!({})).await;
    let server = only_server(&gw).await;
    let (status, patched) = gw
        .admin(
            Method::PATCH,
            &format!("/server/{server}"),
            Some(json!({"sandbox": {"recording": true}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["sandbox"]["recording"], true);

    let mut prod = gw.mcp(&token);
    prod.initialize("2025-11-25").await;
    let get = json!({"name": "get_single_crm_contact_by_id", "arguments": {"id": "42"}});
    let real = prod.call("tools/call", get.clone()).await;
    assert_eq!(up.api_calls().len(), 1);

    // Recording happens off the request path; wait for it to land.
    let mut fixtures = Value::Null;
    for _ in 0..50 {
        let (_, list) = gw
            .admin(Method::GET, &format!("/server/{server}/fixtures"), None)
            .await;
        if list["result"].as_array().is_some_and(|l| !l.is_empty()) {
            fixtures = list;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let recorded = &fixtures["result"][0];
    assert_eq!(
        recorded["tool"], "get_single_crm_contact_by_id",
        "{fixtures}"
    );
    assert_eq!(recorded["arguments"], json!({"id": "42"}));

    let mut twin = at(&gw, gw.url(&format!("/mcp/{token}:test")));
    twin.initialize("2025-11-25").await;
    let replayed = twin.call("tools/call", get.clone()).await;
    assert_eq!(replayed["_meta"]["io.mcpgate/replayed"], true);
    assert_eq!(
        replayed["content"], real["content"],
        "the real answer replayed"
    );
    // A call that shares no recorded arguments falls back to the simulator.
    let listed = twin
        .call(
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {}}),
        )
        .await;
    assert!(
        listed["_meta"].get("io.mcpgate/replayed").is_none(),
        "{listed}"
    );
    assert_eq!(
        up.api_calls().len(),
        1,
        "the twin never reached the upstream"
    );

    // Secrets in arguments and in results (structured and as text) are redacted.
    prod.call(
        "tools/call",
        json!({"name": "create_a_crm_contact", "arguments": {"properties": {"email": "a@b.c", "password": "hunter2"}}}),
    )
    .await;
    let mut export = Value::Null;
    for _ in 0..50 {
        let (_, list) = gw
            .admin(
                Method::GET,
                &format!("/server/{server}/fixtures/export"),
                None,
            )
            .await;
        if list.as_array().is_some_and(|l| l.len() == 2) {
            export = list;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let text = export.to_string();
    assert!(text.contains("a@b.c"), "{text}");
    assert!(!text.contains("hunter2"), "a secret was stored: {text}");
    assert_eq!(up.api_calls().len(), 2);

    let (_, export) = gw
        .admin(
            Method::GET,
            &format!("/server/{server}/fixtures/export"),
            None,
        )
        .await;
    assert_eq!(export.as_array().map(Vec::len), Some(2), "{export}");

    let fixture = recorded["id"].as_str().unwrap();
    let (status, _) = gw
        .admin(
            Method::DELETE,
            &format!("/server/{server}/fixtures/{fixture}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let simulated = twin.call("tools/call", get).await;
    assert!(
        simulated["_meta"].get("io.mcpgate/replayed").is_none(),
        "{simulated}"
    );
    let (status, _) = gw
        .admin(
            Method::DELETE,
            &format!("/server/{server}/fixtures/{fixture}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "deleting twice is a clear 404");
}

#[tokio::test]
async fn cli_sandbox_reset_forgets_the_twins_objects() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let (_, token) = crm_server(&gw, &up, json!({})).await;
    let mut twin = at(&gw, gw.url(&format!("/mcp/{token}:test")));
    twin.initialize("2025-11-25").await;
    let created = twin.call("tools/call", json!({"name": "create_a_crm_contact", "arguments": {"properties": {"email": "gone@example.com"}}})).await;
    let id = created["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = only_server(&gw).await;

    let admin = [("MCPGATE_ADMIN_TOKEN", common::ADMIN_TOKEN)];
    let out = common::cli(
        &["sandbox", "reset", &server, "--endpoint", &gw.base],
        &admin,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 object(s) removed"), "{stdout}");
    let after = twin
        .call(
            "tools/call",
            json!({"name": "get_single_crm_contact_by_id", "arguments": {"id": id}}),
        )
        .await;
    assert_ne!(
        after["structuredContent"]["properties"]["email"],
        "gone@example.com"
    );

    let missing = common::cli(
        &["sandbox", "reset", "not-a-server", "--endpoint", &gw.base],
        &admin,
    )
    .await;
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("404"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[tokio::test]
async fn a_bundled_integrations_twin_round_trips_create_get_update_list_delete() {
    let gw = Gateway::start_with(common::Start::with_bundled_integrations()).await;
    let up = upstream::start().await;
    let (status, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "hubspot", "base_url": up.base,
            "credentials": {"type": "bearer", "token": "pat-sandbox"}})),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    let (status, server) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "hubspot", "integrated_account_id": account["id"]})),
        )
        .await;
    assert_eq!(status, 201, "{server}");
    let token = server["token"].as_str().unwrap();
    let mut twin = at(&gw, gw.url(&format!("/mcp/{token}:test")));
    twin.initialize("2025-11-25").await;
    let call = async |name: &str, arguments: Value| {
        twin.call("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    };

    let created = call(
        "create_a_hubspot_contact",
        json!({"properties": {"email": "ada@example.com"}}),
    )
    .await;
    let id = created["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = call("get_single_hubspot_contact_by_id", json!({"contactId": id})).await;
    assert_eq!(got["structuredContent"], created["structuredContent"]);
    let updated = call(
        "update_a_hubspot_contact_by_id",
        json!({"contactId": id, "properties": {"firstname": "Ada"}}),
    )
    .await;
    assert_eq!(
        updated["structuredContent"]["properties"]["firstname"],
        "Ada"
    );
    let listed = call("list_all_hubspot_contacts", json!({"limit": 5})).await;
    assert_eq!(
        listed["structuredContent"]["results"][0]["properties"]["firstname"], "Ada",
        "{listed}"
    );
    call("delete_a_hubspot_contact_by_id", json!({"contactId": id})).await;
    let gone = call("get_single_hubspot_contact_by_id", json!({"contactId": id})).await;
    assert_eq!(gone["isError"], true, "{gone}");
    assert!(
        up.api_calls().is_empty(),
        "the twin never called the upstream: {:?}",
        up.api_calls()
    );
}

/// The twin of a list whose answer wraps its rows answers with rows built
/// from the item schema (it used to return whole page objects as items).
#[tokio::test]
async fn the_twin_of_a_wrapped_list_returns_rows() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let (status, created) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"openapi": upstream::people_openapi()})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (_, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "people", "base_url": up.base, "credentials": {"type": "none"}})),
        )
        .await;
    let (status, server) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "people", "integrated_account_id": account["id"], "config": {}})),
        )
        .await;
    assert_eq!(status, 201, "{server}");
    let token = server["token"].as_str().unwrap();
    let mut twin = at(&gw, gw.url(&format!("/mcp/{token}:test")));
    twin.initialize("2025-11-25").await;
    let r = twin
        .call(
            "tools/call",
            json!({"name": "list_people", "arguments": {"limit": 2}}),
        )
        .await;
    assert_eq!(r["_meta"]["io.mcpgate/simulated"], true, "{r}");
    let rows = r["structuredContent"]["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{r}");
    for row in rows {
        let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "name"], "{row}");
        let id = row["id"].as_str().unwrap();
        assert!(
            !id.is_empty() && id.len() <= 6 && id.chars().all(|c| c.is_ascii_digit()),
            "{row}"
        );
    }
    assert!(r["structuredContent"]["next_cursor"].is_string(), "{r}");
    assert!(up.api_calls().is_empty());
}
