//! End-to-end: the Truto-style and Fruxon-style management surfaces, tenant
//! isolation, the key lifecycle and per-key limits, over HTTP against the
//! real binary.

mod common;

use common::upstream::{self, CRM};
use common::{ADMIN_TOKEN, Gateway, Mcp, Start};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const ZERO: &str = "00000000-0000-0000-0000-000000000000";

/// Mint an admin token for a tenant; returns (id, token).
async fn tenant_token(gw: &Gateway, tenant: &str) -> (String, String) {
    let (status, body) = gw
        .admin(
            Method::POST,
            "/admin-token",
            Some(json!({ "tenant": tenant })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

/// A gateway where tenant admins may reach loopback: the tests below connect
/// tenants' accounts to the loopback test API, which the default egress
/// policy (`private_networks = "super-admins"`) refuses a tenant admin.
async fn tenants_reach_loopback() -> Gateway {
    Gateway::start_with(Start {
        private_networks: Some("everyone"),
        ..Start::default()
    })
    .await
}

/// As `token`: import the CRM integration and connect an account to `base`.
async fn setup_account(gw: &Gateway, token: &str, base: &str) -> (String, String) {
    let definition =
        serde_json::to_value(mcpgate_catalog::Integration::from_yaml(CRM).unwrap()).unwrap();
    let (status, _, integration) = gw
        .admin_as(
            token,
            Method::POST,
            "/integration",
            Some(json!({ "definition": definition })),
        )
        .await;
    assert_eq!(status, 201, "{integration}");
    let (status, _, account) = gw
        .admin_as(
            token,
            Method::POST,
            "/integrated-account",
            Some(
                json!({"integration": "crm", "name": "Acme", "base_url": base,
                        "credentials": {"type": "bearer", "token": "upstream-secret"}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    (
        integration["id"].as_str().unwrap().to_owned(),
        account["id"].as_str().unwrap().to_owned(),
    )
}

fn client_at(gw: &Gateway, url: &str) -> Mcp {
    Mcp {
        http: gw.http.clone(),
        url: url.to_owned(),
        session: None,
        version_header: None,
    }
}

fn is_rfc3339_ms(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn truto_surface_every_endpoint_and_field() {
    let gw = tenants_reach_loopback().await;
    let up = upstream::start().await;
    let (token_id, token) = tenant_token(&gw, "acme").await;
    let (_, account) = setup_account(&gw, &token, &up.base).await;
    let base = format!("/integrated-account/{account}/mcp");

    // Create: every documented field, the token and URL exactly once.
    let (status, _, created) = gw
        .admin_as(&token, Method::POST, &base, Some(json!({"name": "Read-only CRM", "config": {"methods": ["list", "get"], "tags": ["crm"]}})))
        .await;
    assert_eq!(status, 201, "{created}");
    for field in [
        "id",
        "name",
        "config",
        "integrated_account_id",
        "created_by",
        "created_at",
        "updated_at",
        "expires_at",
        "token",
        "url",
    ] {
        assert!(created.get(field).is_some(), "missing {field}: {created}");
    }
    assert_eq!(created["integrated_account_id"], account.as_str());
    assert_eq!(
        created["created_by"],
        token_id.as_str(),
        "records the admin token's id"
    );
    assert_eq!(
        created["config"],
        json!({"methods": ["list", "get"], "tags": ["crm"]})
    );
    assert!(
        is_rfc3339_ms(&created["created_at"]),
        "{}",
        created["created_at"]
    );
    assert_eq!(created["expires_at"], Value::Null);
    let secret = created["token"].as_str().unwrap().to_owned();
    assert_eq!(created["url"], format!("{}/mcp/{secret}", gw.base));
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(uuid_like(&id));

    // The URL works and the scope applies.
    let mut c = client_at(&gw, created["url"].as_str().unwrap());
    c.initialize("2025-11-25").await;
    assert_eq!(
        c.tool_names().await,
        ["list_all_crm_contacts", "get_single_crm_contact_by_id"]
    );

    // Read and list: same shape, never the token.
    let (status, _, one) = gw
        .admin_as(&token, Method::GET, &format!("{base}/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert!(
        one.get("token").is_none() && one.get("url").is_none(),
        "{one}"
    );
    assert_eq!(one["name"], "Read-only CRM");
    for i in 0..2 {
        gw.admin_as(
            &token,
            Method::POST,
            &base,
            Some(json!({ "name": format!("extra {i}") })),
        )
        .await;
    }
    let (_, _, page1) = gw
        .admin_as(&token, Method::GET, &format!("{base}?limit=2"), None)
        .await;
    assert_eq!(page1["result"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let (_, _, page2) = gw
        .admin_as(
            &token,
            Method::GET,
            &format!("{base}?limit=2&next_cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(page2["result"].as_array().unwrap().len(), 1);
    assert_eq!(page2["next_cursor"], Value::Null);
    assert!(!page1.to_string().contains(&secret));

    // Patch: any subset; the change applies on the next request.
    let soon = "2099-01-01T00:00:00.000Z";
    let (status, _, patched) = gw
        .admin_as(
            &token,
            Method::PATCH,
            &format!("{base}/{id}"),
            Some(json!({"config": {"methods": ["write"]}, "expires_at": soon})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "Read-only CRM", "untouched fields stay");
    assert_eq!(patched["expires_at"], soon);
    assert!(patched.get("token").is_none());
    assert_eq!(c.tool_names().await, ["create_a_crm_contact"]);
    let r = c
        .request(
            9,
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {}}),
        )
        .await;
    assert_eq!(
        r.error_code(),
        -32602,
        "tools/call follows the new config too"
    );
    let (_, _, cleared) = gw
        .admin_as(
            &token,
            Method::PATCH,
            &format!("{base}/{id}"),
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(cleared["expires_at"], Value::Null);

    // Validation: 400 naming each bad field, with the typo suggestion.
    let (status, _, bad) = gw
        .admin_as(&token, Method::POST, &base, Some(json!({"name": "x", "config": {"methods": ["GET", "READ", "DOWNLAOD"]}, "expires_at": "soon"})))
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]["message"].is_string() && bad["error"]["fields"].is_object(),
        "{bad}"
    );
    let (status, _, bad) = gw
        .admin_as(
            &token,
            Method::POST,
            &base,
            Some(json!({"name": "x", "config": {"methods": ["GET", "READ", "DOWNLAOD"]}})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]["fields"]["config.methods"]
            .as_str()
            .unwrap()
            .contains("did you mean download?"),
        "{bad}"
    );

    // Expiry mid-test: refused at once; delete: gone.
    let when = (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(700))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    gw.admin_as(
        &token,
        Method::PATCH,
        &format!("{base}/{id}"),
        Some(json!({"expires_at": when})),
    )
    .await;
    assert_eq!(c.request(1, "ping", json!({})).await.status, 200);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(c.request(2, "ping", json!({})).await.status, 401);
    let (status, _, _) = gw
        .admin_as(&token, Method::DELETE, &format!("{base}/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = gw
        .admin_as(&token, Method::GET, &format!("{base}/{id}"), None)
        .await;
    assert_eq!(status, 404);
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn another_tenants_objects_are_404_on_every_route() {
    let gw = tenants_reach_loopback().await;
    let up = upstream::start().await;
    let (_, a) = tenant_token(&gw, "tenant-a").await;
    let (_, b) = tenant_token(&gw, "tenant-b").await;
    let (integration, account) = setup_account(&gw, &a, &up.base).await;
    let (_, _, truto) = gw
        .admin_as(
            &a,
            Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "a"})),
        )
        .await;
    let mcp = truto["id"].as_str().unwrap().to_owned();
    gw.admin_as(
        &a,
        Method::PATCH,
        &format!("/v1/tenants/tenant-a/integrations/{integration}/mcp"),
        Some(json!({"enabled": true, "configId": account})),
    )
    .await;

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/integration/{integration}"), None),
        (
            Method::PATCH,
            format!("/integration/{integration}"),
            Some(json!({"definition": {}})),
        ),
        (Method::DELETE, format!("/integration/{integration}"), None),
        (Method::GET, format!("/integrated-account/{account}"), None),
        (
            Method::PATCH,
            format!("/integrated-account/{account}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::DELETE,
            format!("/integrated-account/{account}"),
            None,
        ),
        (
            Method::POST,
            format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::GET,
            format!("/integrated-account/{account}/mcp"),
            None,
        ),
        (
            Method::GET,
            format!("/integrated-account/{account}/mcp/{mcp}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/integrated-account/{account}/mcp/{mcp}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::DELETE,
            format!("/integrated-account/{account}/mcp/{mcp}"),
            None,
        ),
        (Method::GET, format!("/server/{mcp}"), None),
        (
            Method::PATCH,
            format!("/server/{mcp}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/server/{mcp}"), None),
        (Method::GET, format!("/server/{mcp}/keys"), None),
        (Method::POST, format!("/server/{mcp}/keys"), Some(json!({}))),
        (
            Method::POST,
            format!("/server/{mcp}/rotate"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/v1/tenants/tenant-a/integrations/{integration}/mcp"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/tenants/tenant-a/integrations/{integration}/mcp"),
            Some(json!({"enabled": false})),
        ),
        (
            Method::POST,
            format!("/v1/tenants/tenant-a/integrations/{integration}/mcp:rotateKey"),
            Some(json!({})),
        ),
    ];
    let missing = "01900000-0000-7000-8000-000000000000";
    for (method, path, body) in routes {
        let (status, _, answer) = gw.admin_as(&b, method.clone(), &path, body.clone()).await;
        assert_eq!(status, 404, "{method} {path} as another tenant: {answer}");
        // Exactly like a missing object.
        let ghost = path
            .replace(&mcp, missing)
            .replace(&account, missing)
            .replace(&integration, missing);
        let (status, _, _) = gw.admin_as(&b, method.clone(), &ghost, body).await;
        assert_eq!(status, 404, "{method} {ghost}");
    }
    for list in ["/server", "/integrated-account"] {
        let (_, _, body) = gw.admin_as(&b, Method::GET, list, None).await;
        assert_eq!(body["result"], json!([]), "{list} leaks: {body}");
    }
    let (_, _, body) = gw.admin_as(&b, Method::GET, "/integration", None).await;
    assert!(
        body["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["name"] != "crm")
    );
    // Still all there for their owner.
    let (status, _, _) = gw
        .admin_as(&a, Method::GET, &format!("/server/{mcp}"), None)
        .await;
    assert_eq!(status, 200);
    // Tenant admins cannot mint admin tokens.
    let (status, _, _) = gw
        .admin_as(
            &a,
            Method::POST,
            "/admin-token",
            Some(json!({"tenant": "tenant-b"})),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn fruxon_surface_settings_keys_and_call_endpoint() {
    let gw = tenants_reach_loopback().await;
    let up = upstream::start().await;
    let (_, token) = tenant_token(&gw, "t1").await;
    let (integration, account) = setup_account(&gw, &token, &up.base).await;
    let settings = format!("/v1/tenants/t1/integrations/{integration}/mcp");

    // Before anything: defaults, nothing minted.
    let (status, ct, fresh) = gw.admin_as(&token, Method::GET, &settings, None).await;
    assert_eq!(status, 200, "{fresh}");
    assert!(ct.starts_with("application/json"));
    for field in [
        "integrationId",
        "enabled",
        "configId",
        "exposedToolIds",
        "description",
        "apiKeyId",
        "callUrl",
        "testUrl",
        "createdAt",
        "modifiedAt",
        "keyPrefix",
        "apiKey",
    ] {
        assert!(fresh.get(field).is_some(), "missing {field}: {fresh}");
    }
    assert_eq!(fresh["enabled"], false);
    assert_eq!(fresh["configId"], ZERO);
    assert_eq!(fresh["apiKeyId"], ZERO);
    let call_url = fresh["callUrl"].as_str().unwrap().to_owned();
    assert_eq!(call_url, format!("{}{settings}:call", gw.base));
    assert_eq!(fresh["testUrl"], format!("{}{settings}:test", gw.base));

    // Bind the account while disabled: no key yet.
    let (status, _, bound) = gw
        .admin_as(
            &token,
            Method::PATCH,
            &settings,
            Some(json!({"configId": account, "description": "CRM for agents"})),
        )
        .await;
    assert_eq!(status, 200, "{bound}");
    assert_eq!(bound["configId"], account.as_str());
    assert_eq!(bound["apiKey"], Value::Null);
    let created_at = bound["createdAt"].as_i64().unwrap();
    assert!(created_at > 1_700_000_000_000, "epoch milliseconds");

    // First enable: the key, once.
    let (_, _, enabled) = gw
        .admin_as(
            &token,
            Method::PATCH,
            &settings,
            Some(json!({"enabled": true})),
        )
        .await;
    let key = enabled["apiKey"]
        .as_str()
        .expect("minted on first enable")
        .to_owned();
    assert_eq!(enabled["enabled"], true);
    assert_eq!(
        enabled["description"], "CRM for agents",
        "null/absent fields are preserved"
    );
    assert!(key.starts_with(enabled["keyPrefix"].as_str().unwrap()));
    assert_ne!(enabled["apiKeyId"], ZERO);
    let (_, _, again) = gw.admin_as(&token, Method::GET, &settings, None).await;
    assert_eq!(again["apiKey"], Value::Null);
    assert_eq!(again["apiKeyId"], enabled["apiKeyId"]);
    assert!(again["modifiedAt"].as_i64().unwrap() >= created_at);

    // The production endpoint, with X-API-KEY: all tools, then the allow-list.
    let call = |k: &str| {
        let mut c = client_at(&gw, &call_url);
        c.http = reqwest::Client::builder()
            .default_headers(
                [("x-api-key".parse().unwrap(), k.parse().unwrap())]
                    .into_iter()
                    .collect(),
            )
            .build()
            .unwrap();
        c
    };
    let mut c = call(&key);
    c.initialize("2025-11-25").await;
    assert_eq!(
        c.tool_names().await.len(),
        5,
        "every tool of the integration"
    );
    gw.admin_as(
        &token,
        Method::PATCH,
        &settings,
        Some(json!({"exposedToolIds": ["list_all_crm_contacts"]})),
    )
    .await;
    assert_eq!(c.tool_names().await, ["list_all_crm_contacts"]);
    let r = c
        .call(
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {"limit": 1}}),
        )
        .await;
    assert_eq!(r["structuredContent"]["results"], json!(["ada"]));
    assert_eq!(
        up.api_calls()[0].authorization.as_deref(),
        Some("Bearer upstream-secret")
    );

    // Disabled: 403 with a JSON-RPC error, key kept; re-enabled: the same key works.
    gw.admin_as(
        &token,
        Method::PATCH,
        &settings,
        Some(json!({"enabled": false})),
    )
    .await;
    let r = c.request(3, "ping", json!({})).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["jsonrpc"], "2.0");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    let (_, _, re) = gw
        .admin_as(
            &token,
            Method::PATCH,
            &settings,
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(re["apiKey"], Value::Null, "only the first enable mints");
    assert_eq!(c.request(4, "ping", json!({})).await.status, 200);

    // The key opens only this integration's endpoint path, not another tenant's.
    let mut wrong = call(&key);
    wrong.url = call_url.replace("/tenants/t1/", "/tenants/t2/");
    assert_eq!(wrong.post(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})).await.status, 401);

    // Rotation: the old key dies at once.
    let (status, _, rotated) = gw
        .admin_as(&token, Method::POST, &format!("{settings}:rotateKey"), None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    let key2 = rotated["apiKey"].as_str().unwrap().to_owned();
    assert_ne!(key2, key);
    assert_ne!(rotated["apiKeyId"], enabled["apiKeyId"]);
    assert_eq!(c.request(5, "ping", json!({})).await.status, 401);
    let mut c2 = call(&key2);
    c2.initialize("2025-11-25").await;

    // With grace: valid until the grace ends.
    let (_, _, graced) = gw
        .admin_as(
            &token,
            Method::POST,
            &format!("{settings}:rotateKey"),
            Some(json!({"graceSeconds": 2})),
        )
        .await;
    let key3 = graced["apiKey"].as_str().unwrap().to_owned();
    assert_eq!(
        c2.request(6, "ping", json!({})).await.status,
        200,
        "old key in grace"
    );
    let mut c3 = call(&key3);
    c3.initialize("2025-11-25").await;
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(
        c2.request(7, "ping", json!({})).await.status,
        401,
        "grace over"
    );
    assert_eq!(c3.request(8, "ping", json!({})).await.status, 200);

    // configId all zeros unbinds; errors are problem details.
    let (_, _, unbound) = gw
        .admin_as(
            &token,
            Method::PATCH,
            &settings,
            Some(json!({"configId": ZERO})),
        )
        .await;
    assert_eq!(unbound["configId"], ZERO);
    let (status, ct, problem) = gw
        .admin_as(
            &token,
            Method::PATCH,
            &settings,
            Some(json!({"configId": "01900000-0000-7000-8000-000000000000"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(ct, "application/problem+json");
    for field in ["type", "title", "status", "detail", "instance"] {
        assert!(problem.get(field).is_some(), "{problem}");
    }
    assert_eq!(problem["status"], 400);
    assert_eq!(problem["instance"], settings.as_str());
    assert!(problem["errors"]["configId"].is_string());
    let (status, ct, _) = gw
        .admin_as(
            &token,
            Method::GET,
            &format!("/v1/tenants/t1/integrations/{ZERO}/mcp"),
            None,
        )
        .await;
    assert_eq!((status, ct.as_str()), (404, "application/problem+json"));
}

#[tokio::test]
async fn server_keys_add_revoke_rotate_and_record_use() {
    let gw = Gateway::start().await;
    let (id, first) = gw.create_server("keys").await;
    let (status, second) = gw
        .admin(Method::POST, &format!("/server/{id}/keys"), Some(json!({})))
        .await;
    assert_eq!(status, 201, "{second}");
    let second_token = second["token"].as_str().unwrap().to_owned();
    for t in [&first, &second_token] {
        let mut c = gw.mcp(t);
        c.initialize("2025-11-25").await;
    }
    let (_, keys) = gw
        .admin(Method::GET, &format!("/server/{id}/keys"), None)
        .await;
    let keys = keys["result"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert!(!serde_json::to_string(&keys).unwrap().contains(&first));

    // Use is recorded in batches (flush every second in tests).
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (_, after) = gw
        .admin(Method::GET, &format!("/server/{id}/keys"), None)
        .await;
    assert!(
        after["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["last_used_at"].is_string()),
        "{after}"
    );

    // Revoke the second: refused on the very next request; the first lives on.
    let key_id = second["id"].as_str().unwrap();
    let (status, _) = gw
        .admin(Method::DELETE, &format!("/server/{id}/keys/{key_id}"), None)
        .await;
    assert_eq!(status, 204);
    let mut c = gw.mcp(&second_token);
    let r = c.post(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})).await;
    assert_eq!(r.status, 401);
    c = gw.mcp(&first);
    c.initialize("2025-11-25").await;

    // Rotate: a new key, the old one gone.
    let (status, rotated) = gw
        .admin(Method::POST, &format!("/server/{id}/rotate"), None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(c.request(2, "ping", json!({})).await.status, 401);
    let mut fresh = gw.mcp(rotated["token"].as_str().unwrap());
    fresh.initialize("2025-11-25").await;
}

async fn limited(max_concurrency: u32, rate: u32, burst: u32) -> (Gateway, String, String) {
    let gw = Gateway::start_with(Start::default()).await;
    let (status, body) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "limited",
            "limits": {"max_concurrency": max_concurrency, "rate_per_sec": rate, "burst": burst}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        gw,
        body["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn concurrency_limit_refuses_the_extra_call_and_frees_permits() {
    let (gw, _, token) = limited(2, 1000, 1000).await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let a = tokio::spawn(c.call_detached("sleep", json!({"ms": 800})));
    let b = tokio::spawn(c.call_detached("sleep", json!({"ms": 800})));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = c.request(3, "ping", json!({})).await;
    assert_eq!(third.status, 429, "{}", third.text);
    assert_eq!(third.header("retry-after"), Some("1"));
    assert!(
        third.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight")
    );
    assert_eq!(a.await.unwrap().status, 200);
    assert_eq!(b.await.unwrap().status, 200);
    assert_eq!(
        c.request(4, "ping", json!({})).await.status,
        200,
        "permits came back"
    );

    // A client that gives up mid-call gives its permit back.
    let quitter = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut q = gw.mcp(&token);
    q.http = quitter;
    q.session = c.session.clone();
    let (x, y) = tokio::join!(
        q.call_detached("sleep", json!({"ms": 5000})).catch(),
        q.call_detached("sleep", json!({"ms": 5000})).catch()
    );
    assert!(x.is_err() && y.is_err(), "both clients timed out");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        c.request(5, "ping", json!({})).await.status,
        200,
        "disconnects released their permits"
    );

    let metrics = gw.metrics().await;
    assert!(
        metrics.contains(r#"mcpgate_limit_rejections_total{limit="concurrency"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn rate_limit_refuses_past_the_burst_and_nothing_reaches_the_upstream() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let (_, account) = setup_account(&gw, ADMIN_TOKEN, &up.base).await;
    let (status, body) = gw
        .admin(
            Method::POST,
            "/server",
            Some(
                json!({"name": "slow-lane", "integrated_account_id": account,
            "limits": {"rate_per_sec": 1, "burst": 3}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut c = gw.mcp(body["token"].as_str().unwrap());
    c.initialize("2025-11-25").await; // 1 + the initialized notification = 2
    let ok = c
        .request(
            1,
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {}}),
        )
        .await;
    assert_eq!(ok.status, 200);
    let refused = c
        .request(
            2,
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {}}),
        )
        .await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(
        refused
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );
    assert_eq!(
        up.api_calls().len(),
        1,
        "the refused call never went upstream"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(c.request(3, "ping", json!({})).await.status, 200);
}

trait Catch: std::future::Future + Sized {
    /// Run the future on a task and report a panic (a client error) as Err.
    fn catch(self) -> tokio::task::JoinHandle<Self::Output>
    where
        Self: Send + 'static,
        Self::Output: Send + 'static,
    {
        tokio::spawn(self)
    }
}

impl<F: std::future::Future + Sized> Catch for F {}

#[tokio::test]
async fn a_slow_upstream_holds_permits_until_timeout_and_errors_release_them() {
    let gw = Gateway::start().await;
    let up = upstream::start().await;
    let (_, account) = setup_account(&gw, ADMIN_TOKEN, &up.base).await;
    let (_, body) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "slow", "integrated_account_id": account,
            "limits": {"max_concurrency": 2, "rate_per_sec": 1000, "burst": 1000}})),
        )
        .await;
    let mut c = gw.mcp(body["token"].as_str().unwrap());
    c.initialize("2025-11-25").await;
    // Two calls to the slow upstream (it answers after 4 s; the integration
    // times out after 1 s) occupy both permits…
    let slow = || c.call_detached("get_single_crm_contact_by_id", json!({"id": "slow"}));
    let a = tokio::spawn(slow());
    let b = tokio::spawn(slow());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // …so a third is refused while they run, and never reaches the upstream.
    let before = up.api_calls().len();
    let third = c
        .request(
            3,
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {}}),
        )
        .await;
    assert_eq!(third.status, 429);
    assert_eq!(up.api_calls().len(), before);
    // The timeouts end the calls (as tool errors) and give the permits back.
    for r in [a.await.unwrap(), b.await.unwrap()] {
        assert_eq!(r.json()["result"]["isError"], true, "{}", r.text);
    }
    // Upstream errors release them too: two failing calls in a row, then more.
    for _ in 0..2 {
        let r = c
            .call(
                "tools/call",
                json!({"name": "get_single_crm_contact_by_id", "arguments": {"id": "broken"}}),
            )
            .await;
        assert_eq!(r["isError"], true);
    }
    let a = c
        .call(
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {"limit": 1}}),
        )
        .await;
    assert_eq!(a["structuredContent"]["results"], json!(["ada"]));
}
