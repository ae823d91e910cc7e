//! End-to-end: the admin plane's integrity (issue 18 §1, §2, §7, §8).
//! Parallel writers on every admin write route of every surface, on SQLite
//! and on PostgreSQL: no 5xx, the right number of successes and 409s, and
//! nothing half-made in the store afterwards; references the store keeps;
//! session ends that cost no reload; validation and error shapes.

mod common;

use common::{ADMIN_TOKEN, Gateway, SHARED_SECRET_KEY, Start};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Lines of the gateway's log that say it reloaded from the store.
fn reloads(gw: &Gateway) -> usize {
    gw.stderr()
        .lines()
        .filter(|l| l.contains("reloading from the store"))
        .count()
}

#[tokio::test]
async fn ending_sessions_reloads_nothing_and_the_ends_hold() {
    let gw = Gateway::start_with(Start {
        extra_config: "mcp.reload_interval_secs = 3600\n".into(),
        ..Start::default()
    })
    .await;
    let (_, token) = gw.create_server("s").await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = gw.mcp(&token);
        c.initialize("2025-11-25").await;
        clients.push(c);
    }
    // Let the creation's own reload (if any) happen first.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = reloads(&gw);
    for c in &clients {
        assert_eq!(c.delete_session().await, 204);
    }
    // Several change polls (250 ms each) go by.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for c in &clients {
        assert_eq!(c.request(1, "ping", json!({})).await.status, 404, "ended");
    }
    assert_eq!(
        reloads(&gw),
        before,
        "ending a session made the gateway reload everything"
    );
}

// ---------------------------------------------------------------------------
// Parallel writers on every admin write route, on both stores.

const N: usize = 20;
const CF: &str = "/accounts/acme/access/ai-controls/mcp";
const FRUXON: &str = "/v1/tenants/default/integrations/crm/mcp";
/// An upstream address nothing listens on: a sync fails at once.
const NOWHERE: &str = "http://127.0.0.1:1/mcp";

/// A gateway on `store_url` (PostgreSQL) or on a SQLite file of its own,
/// and the URL of its store, for counting what it wrote.
async fn gateway_on(postgres: Option<String>) -> (Gateway, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = postgres
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("integrity.db").display()));
    let gw = Gateway::start_with(Start {
        dir: Some(dir),
        store_url: Some(url.clone()),
        ..Start::default()
    })
    .await;
    (gw, url)
}

/// The store the gateway writes, opened beside it.
async fn store_of(url: &str) -> mcpgate_store::Store {
    let key = mcpgate_store::MasterKey::from_hex(SHARED_SECRET_KEY).unwrap();
    mcpgate_store::Store::connect(url, key).await.unwrap()
}

/// Send `N` requests at once (`request(i)` gives method, path and body)
/// and return each (status, body). No answer may be a 5xx.
async fn burst(
    gw: &Gateway,
    what: &str,
    request: impl Fn(usize) -> (Method, String, Option<Value>),
) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (method, path, body) = request(i);
            let mut req = gw
                .http
                .request(method, gw.url(&path))
                .bearer_auth(ADMIN_TOKEN);
            if let Some(b) = body {
                req = req.json(&b);
            }
            tokio::spawn(async move {
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap();
                (status, serde_json::from_str(&text).unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut out = Vec::with_capacity(N);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    for (status, body) in &out {
        assert!(*status < 500, "{what}: a {status}: {body}");
    }
    out
}

/// How many answers had each status, e.g. `[(201, 1), (409, 19)]`.
fn tally(answers: &[(u16, Value)]) -> Vec<(u16, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for (status, _) in answers {
        *counts.entry(*status).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

fn same(n: usize, status: u16) -> Vec<(u16, usize)> {
    vec![(status, n)]
}

fn one_wins(won: u16, lost: u16) -> Vec<(u16, usize)> {
    let mut v = vec![(won, 1), (lost, N - 1)];
    v.sort();
    v
}

async fn created(gw: &Gateway, path: &str, body: Value) -> Value {
    let (status, answer) = gw.admin(Method::POST, path, Some(body)).await;
    assert!(status == 201 || status == 200, "{path}: {status} {answer}");
    answer
}

fn crm_definition() -> Value {
    serde_json::to_value(mcpgate_catalog::Integration::from_yaml(common::upstream::CRM).unwrap())
        .unwrap()
}

fn account_body() -> Value {
    json!({"integration": "crm", "name": "Acme", "base_url": "https://crm.example.com",
           "credentials": {"type": "bearer", "token": "t"}})
}

async fn live_keys(store: &mcpgate_store::Store, server: &str) -> usize {
    store
        .list_server_keys(server.parse().unwrap())
        .await
        .unwrap()
        .len()
}

async fn every_admin_write_route_under_parallel_writers(postgres: Option<String>) {
    let (gw, url) = gateway_on(postgres).await;
    let store = store_of(&url).await;

    // --- native: servers and keys
    let servers = burst(&gw, "POST /server", |i| {
        (
            Method::POST,
            "/server".into(),
            Some(json!({"name": format!("s{i}")})),
        )
    })
    .await;
    assert_eq!(tally(&servers), same(N, 201));
    for (_, s) in &servers {
        assert_eq!(
            live_keys(&store, s["id"].as_str().unwrap()).await,
            1,
            "server with its key"
        );
    }
    let s = servers[0].1["id"].as_str().unwrap().to_owned();
    let t = servers[1].1["id"].as_str().unwrap().to_owned();
    let a = burst(&gw, "PATCH /server", |i| {
        (
            Method::PATCH,
            format!("/server/{s}"),
            Some(json!({"name": format!("n{i}")})),
        )
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    let a = burst(&gw, "POST keys", |_| {
        (Method::POST, format!("/server/{s}/keys"), Some(json!({})))
    })
    .await;
    assert_eq!(tally(&a), same(N, 201));
    assert_eq!(live_keys(&store, &s).await, N + 1);
    let a = burst(&gw, "POST rotate", |_| {
        (Method::POST, format!("/server/{s}/rotate"), None)
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    assert_eq!(
        live_keys(&store, &s).await,
        1,
        "rotations leave one live key"
    );
    let key = store.list_server_keys(s.parse().unwrap()).await.unwrap()[0].id;
    let a = burst(&gw, "DELETE key", |_| {
        (Method::DELETE, format!("/server/{s}/keys/{key}"), None)
    })
    .await;
    assert_eq!(tally(&a), one_wins(204, 404));
    let a = burst(&gw, "DELETE sandbox", |_| {
        (Method::DELETE, format!("/server/{s}/sandbox"), None)
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    // A recorded fixture (written as the recorder does), deleted at once by all.
    let fixture = mcpgate_store::Fixture {
        id: "01900000-0000-7000-8000-000000000001".parse().unwrap(),
        server_id: s.parse().unwrap(),
        tool: "echo".into(),
        arguments: json!({}),
        result: json!({}),
        created_at: 1,
    };
    store.add_fixture(&fixture).await.unwrap();
    let a = burst(&gw, "DELETE fixture", |_| {
        (
            Method::DELETE,
            format!("/server/{s}/fixtures/{}", fixture.id),
            None,
        )
    })
    .await;
    assert_eq!(tally(&a), one_wins(204, 404));
    let a = burst(&gw, "DELETE /server", |_| {
        (Method::DELETE, format!("/server/{t}"), None)
    })
    .await;
    assert_eq!(tally(&a), one_wins(204, 404));
    assert!(
        store
            .get_server(t.parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // --- native: integrations, accounts, admin tokens
    let a = burst(&gw, "POST /integration", |_| {
        (
            Method::POST,
            "/integration".into(),
            Some(json!({"definition": crm_definition()})),
        )
    })
    .await;
    assert_eq!(tally(&a), one_wins(201, 409));
    let integration = a.iter().find(|(st, _)| *st == 201).unwrap().1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = burst(&gw, "PATCH /integration", |_| {
        (
            Method::PATCH,
            format!("/integration/{integration}"),
            Some(json!({"definition": crm_definition()})),
        )
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    let accounts = burst(&gw, "POST /integrated-account", |_| {
        (
            Method::POST,
            "/integrated-account".into(),
            Some(account_body()),
        )
    })
    .await;
    assert_eq!(tally(&accounts), same(N, 201));
    assert_eq!(store.list_accounts().await.unwrap().len(), N);
    let account = accounts[0].1["id"].as_str().unwrap().to_owned();
    let doomed = accounts[1].1["id"].as_str().unwrap().to_owned();
    let a = burst(&gw, "PATCH account", |i| {
        (
            Method::PATCH,
            format!("/integrated-account/{account}"),
            Some(json!({"name": format!("a{i}")})),
        )
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    let a = burst(&gw, "DELETE account", |_| {
        (
            Method::DELETE,
            format!("/integrated-account/{doomed}"),
            None,
        )
    })
    .await;
    assert_eq!(tally(&a), one_wins(204, 404));
    let tokens = burst(&gw, "POST /admin-token", |i| {
        (
            Method::POST,
            "/admin-token".into(),
            Some(json!({"tenant": format!("t{i}")})),
        )
    })
    .await;
    assert_eq!(tally(&tokens), same(N, 201));
    let token = tokens[0].1["id"].as_str().unwrap().to_owned();
    let a = burst(&gw, "DELETE /admin-token", |_| {
        (Method::DELETE, format!("/admin-token/{token}"), None)
    })
    .await;
    assert_eq!(tally(&a), one_wins(204, 404));
    let spare = created(
        &gw,
        "/integration",
        json!({"definition": crm_definition(), "name": "spare"}),
    )
    .await;
    let spare = spare["id"].as_str().unwrap().to_owned();
    let a = burst(&gw, "DELETE /integration", |_| {
        (Method::DELETE, format!("/integration/{spare}"), None)
    })
    .await;
    assert_eq!(tally(&a), one_wins(204, 404));

    // --- Truto
    let mcps = burst(&gw, "Truto POST", |_| {
        (
            Method::POST,
            format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "m"})),
        )
    })
    .await;
    assert_eq!(tally(&mcps), same(N, 201));
    for (_, m) in &mcps {
        assert_eq!(live_keys(&store, m["id"].as_str().unwrap()).await, 1);
    }
    let m = mcps[0].1["id"].as_str().unwrap().to_owned();
    let a = burst(&gw, "Truto PATCH", |i| {
        (
            Method::PATCH,
            format!("/integrated-account/{account}/mcp/{m}"),
            Some(json!({"name": format!("m{i}")})),
        )
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    let a = burst(&gw, "Truto DELETE", |_| {
        (
            Method::DELETE,
            format!("/integrated-account/{account}/mcp/{m}"),
            None,
        )
    })
    .await;
    assert_eq!(tally(&a), one_wins(204, 404));

    // --- Fruxon: the first enable creates one server and mints one key
    let a = burst(&gw, "Fruxon first PATCH", |_| {
        (
            Method::PATCH,
            FRUXON.into(),
            Some(json!({"enabled": true, "configId": account})),
        )
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    let minted = a.iter().filter(|(_, b)| b["apiKey"].is_string()).count();
    assert_eq!(minted, 1, "the key is minted and shown once");
    let settings = store
        .integration_server("default", integration.parse().unwrap())
        .await
        .unwrap()
        .expect("the settings server");
    assert_eq!(
        store.all_server_keys(settings.id).await.unwrap().len(),
        1,
        "with its one key"
    );
    let a = burst(&gw, "Fruxon rotateKey", |_| {
        (Method::POST, format!("{FRUXON}:rotateKey"), None)
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    assert_eq!(live_keys(&store, &settings.id.to_string()).await, 1);
    let a = burst(&gw, "Fruxon PATCH", |i| {
        (
            Method::PATCH,
            FRUXON.into(),
            Some(json!({"description": format!("d{i}")})),
        )
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));

    // --- Cloudflare: upstreams and portals
    let upstream = |id: &str| json!({"id": id, "name": id, "hostname": NOWHERE, "auth_type": "unauthenticated"});
    let a = burst(&gw, "CF POST server", |_| {
        (Method::POST, format!("{CF}/servers"), Some(upstream("up")))
    })
    .await;
    assert_eq!(tally(&a), one_wins(201, 409));
    let a = burst(&gw, "CF PUT server", |i| {
        (Method::PUT, format!("{CF}/servers/up"), Some(json!({"name": format!("u{i}"), "hostname": NOWHERE, "auth_type": "unauthenticated"})))
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    let a = burst(&gw, "CF sync", |_| {
        (Method::POST, format!("{CF}/servers/up/sync"), None)
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    let portal = |id: &str, up: &str| json!({"id": id, "name": id, "servers": [{"server_id": up}]});
    let a = burst(&gw, "CF POST portal", |_| {
        (
            Method::POST,
            format!("{CF}/portals"),
            Some(portal("p", "up")),
        )
    })
    .await;
    assert_eq!(tally(&a), one_wins(201, 409));
    let backing = a.iter().find(|(st, _)| *st == 201).unwrap().1["result"]["server_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(live_keys(&store, &backing).await, 1);
    let a = burst(&gw, "CF PUT portal", |i| {
        (
            Method::PUT,
            format!("{CF}/portals/p"),
            Some(json!({"name": format!("p{i}"), "servers": [{"server_id": "up"}]})),
        )
    })
    .await;
    assert_eq!(tally(&a), same(N, 200));
    let a = burst(&gw, "CF DELETE used server", |_| {
        (Method::DELETE, format!("{CF}/servers/up"), None)
    })
    .await;
    assert_eq!(tally(&a), same(N, 409));
    let a = burst(&gw, "DELETE backing server", |_| {
        (Method::DELETE, format!("/server/{backing}"), None)
    })
    .await;
    assert_eq!(tally(&a), same(N, 409));
    let a = burst(&gw, "CF DELETE portal", |_| {
        (Method::DELETE, format!("{CF}/portals/p"), None)
    })
    .await;
    assert_eq!(tally(&a), one_wins(200, 404));
    assert!(
        store
            .get_server(backing.parse().unwrap())
            .await
            .unwrap()
            .is_none(),
        "its server went with it"
    );
    let a = burst(&gw, "CF DELETE server", |_| {
        (Method::DELETE, format!("{CF}/servers/up"), None)
    })
    .await;
    assert_eq!(tally(&a), one_wins(200, 404));

    // --- races between a write and the delete of what it refers to
    for round in 0..N {
        let up = format!("r{round}");
        created(&gw, &format!("{CF}/servers"), upstream(&up)).await;
        let (portals_path, upstream_path) = (format!("{CF}/portals"), format!("{CF}/servers/{up}"));
        let create = gw.admin(
            Method::POST,
            &portals_path,
            Some(portal(&format!("q{round}"), &up)),
        );
        let delete = gw.admin(Method::DELETE, &upstream_path, None);
        let ((made, _), (gone, _)) = tokio::join!(create, delete);
        assert!(
            matches!((made, gone), (201, 409) | (400 | 409, 200)),
            "portal {made} / delete of its upstream {gone}"
        );
    }
    for round in 0..N {
        let doomed = created(&gw, "/integrated-account", account_body()).await;
        let doomed = doomed["id"].as_str().unwrap().to_owned();
        let (mcp_path, account_path) = (
            format!("/integrated-account/{doomed}/mcp"),
            format!("/integrated-account/{doomed}"),
        );
        let create = gw.admin(Method::POST, &mcp_path, Some(json!({})));
        let delete = gw.admin(Method::DELETE, &account_path, None);
        let ((made, _), (gone, _)) = tokio::join!(create, delete);
        assert!(
            matches!((made, gone), (201, 409) | (404 | 409, 204)),
            "round {round}: server {made} / delete of its account {gone}"
        );
    }

    // --- nothing half-made
    let all_servers = store.list_servers().await.unwrap();
    let portals = store.list_portals().await.unwrap();
    let upstreams: Vec<_> = store
        .list_upstreams()
        .await
        .unwrap()
        .into_iter()
        .map(|(u, _)| (u.tenant, u.id))
        .collect();
    let accounts: Vec<_> = store
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    let backed: Vec<_> = all_servers
        .iter()
        .filter(|s| matches!(s.source, mcpgate_store::ServerSource::Portal(_)))
        .collect();
    assert_eq!(
        backed.len(),
        portals.len(),
        "one backing server per portal, no orphans"
    );
    for p in &portals {
        assert!(
            backed.iter().any(|s| s.id.to_string() == p.server_id),
            "portal {} has its server",
            p.id
        );
        assert_eq!(
            live_keys(&store, &p.server_id).await,
            1,
            "portal {} has its key",
            p.id
        );
        for m in &p.servers {
            assert!(
                upstreams.contains(&(p.tenant.clone(), m.server_id.clone())),
                "portal {} lists a deleted upstream",
                p.id
            );
        }
    }
    for s in &all_servers {
        if let mcpgate_store::ServerSource::Account(a) = s.source {
            assert!(
                accounts.contains(&a),
                "server {} is over a deleted account",
                s.id
            );
        }
    }
}

#[tokio::test]
async fn every_admin_write_route_under_parallel_writers_on_sqlite() {
    every_admin_write_route_under_parallel_writers(None).await;
}

#[tokio::test]
async fn every_admin_write_route_under_parallel_writers_on_postgres() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    every_admin_write_route_under_parallel_writers(Some(url)).await;
}

// ---------------------------------------------------------------------------
// Validation and error shapes.

/// A raw admin request: the body text as given, JSON content type when there
/// is one. Returns (status, headers, body as JSON or Null).
async fn raw(
    gw: &Gateway,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = gw
        .http
        .request(method, gw.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// A 400 naming `field` in the native shape.
fn field_error(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["fields"].get(field).is_some(),
        "no field error for {field}: {body}"
    );
}

/// A Cloudflare error envelope with this status and `path` on its first error.
fn cloudflare_error(status: u16, body: &Value, want: u16, path: Option<&[&str]>) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["success"], false, "{body}");
    let first = &body["errors"][0];
    assert!(
        first["code"].is_number() && first["message"].is_string(),
        "{body}"
    );
    if let Some(path) = path {
        assert_eq!(first["path"], json!(path), "{body}");
        // A field error names the field, not where serde was in the text.
        let message = first["message"].as_str().unwrap();
        assert!(!message.contains(" at line "), "{body}");
    }
}

#[tokio::test]
async fn keys_and_servers_born_expired_are_refused_on_every_route() {
    let gw = Gateway::start().await;
    let (server, _) = gw.create_server("s").await;
    let past = json!({"expires_at": "2020-01-01T00:00:00Z"});
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("/server/{server}/keys"),
            Some(past.clone()),
        )
        .await;
    field_error(status, &body, "expires_at");
    let mut new = past.clone();
    new["name"] = json!("x");
    let (status, body) = gw.admin(Method::POST, "/server", Some(new)).await;
    field_error(status, &body, "expires_at");
    created(&gw, "/integration", json!({"definition": crm_definition()})).await;
    let account = created(&gw, "/integrated-account", account_body()).await;
    let account = account["id"].as_str().unwrap();
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(past.clone()),
        )
        .await;
    field_error(status, &body, "expires_at");
    // Still fine: a future expiry; and a PATCH that expires a server now.
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("/server/{server}/keys"),
            Some(json!({"expires_at": "2999-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = gw
        .admin(Method::PATCH, &format!("/server/{server}"), Some(past))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn urls_without_a_host_and_oauth_without_a_token_url_are_refused() {
    let gw = Gateway::start().await;
    for hostname in [
        "http://",
        "https://",
        "http:///etc/passwd",
        "https:///x",
        "ftp://h/mcp",
        "mcp.example.com",
    ] {
        let (status, _, body) = raw(
            &gw,
            Method::POST,
            &format!("{CF}/servers"),
            Some(
                &json!({"name": "u", "hostname": hostname, "auth_type": "unauthenticated"})
                    .to_string(),
            ),
        )
        .await;
        cloudflare_error(status, &body, 400, Some(&["hostname"]));
    }
    created(
        &gw,
        &format!("{CF}/servers"),
        json!({"id": "u", "name": "u", "hostname": NOWHERE, "auth_type": "unauthenticated"}),
    )
    .await;
    let (status, _, body) = raw(
        &gw,
        Method::PUT,
        &format!("{CF}/servers/u"),
        Some(
            &json!({"name": "u", "hostname": "http:///etc/passwd", "auth_type": "unauthenticated"})
                .to_string(),
        ),
    )
    .await;
    cloudflare_error(status, &body, 400, Some(&["hostname"]));

    // Integrations and accounts: base URLs and token endpoints.
    let mut bad = crm_definition();
    bad["base_url"] = json!("https://");
    let (status, body) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"definition": bad})),
        )
        .await;
    field_error(status, &body, "definition.base_url");
    created(&gw, "/integration", json!({"definition": crm_definition()})).await;
    for base in ["http://", "http:///etc/passwd"] {
        let mut account = account_body();
        account["base_url"] = json!(base);
        let (status, body) = gw
            .admin(Method::POST, "/integrated-account", Some(account))
            .await;
        field_error(status, &body, "base_url");
    }
    for kind in ["oauth2_refresh_token", "oauth2_client_credentials"] {
        let mut account = account_body();
        account["credentials"] =
            json!({"type": kind, "client_id": "c", "client_secret": "s", "refresh_token": "r"});
        if kind == "oauth2_client_credentials" {
            account["credentials"]
                .as_object_mut()
                .unwrap()
                .remove("refresh_token");
        }
        let (status, body) = gw
            .admin(Method::POST, "/integrated-account", Some(account.clone()))
            .await;
        field_error(status, &body, "credentials.token_url");
        account["credentials"]["token_url"] = json!("https://");
        let (status, body) = gw
            .admin(Method::POST, "/integrated-account", Some(account.clone()))
            .await;
        field_error(status, &body, "credentials.token_url");
        account["credentials"]["token_url"] = json!("https://auth.example.com/token");
        let (status, body) = gw
            .admin(Method::POST, "/integrated-account", Some(account))
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

#[tokio::test]
async fn tenants_in_paths_follow_the_admin_token_rule() {
    let gw = Gateway::start().await;
    for tenant in ["a%20b", "a%00b", "%20", "a%2Fb", "caf%C3%A9"] {
        let (status, _, body) = raw(
            &gw,
            Method::POST,
            &format!("/accounts/{tenant}/access/ai-controls/mcp/servers"),
            Some(
                &json!({"name": "u", "hostname": NOWHERE, "auth_type": "unauthenticated"})
                    .to_string(),
            ),
        )
        .await;
        cloudflare_error(status, &body, 400, Some(&["account_id"]));
        let (status, headers, body) = raw(
            &gw,
            Method::PATCH,
            &format!("/v1/tenants/{tenant}/integrations/crm/mcp"),
            Some(r#"{"enabled": true}"#),
        )
        .await;
        assert_eq!(status, 400, "{tenant}: {body}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(body["errors"].get("tenant").is_some(), "{body}");
        let (status, body) = gw
            .admin(
                Method::POST,
                "/admin-token",
                Some(json!({"tenant": tenant.replace("%20", " ")})),
            )
            .await;
        assert_eq!(status, 400, "/admin-token refuses it too: {body}");
    }
}

#[tokio::test]
async fn wrong_methods_answer_405_in_each_surfaces_shape() {
    let gw = Gateway::start().await;
    let (server, _) = gw.create_server("s").await;
    let native = [
        (Method::PUT, "/server".to_owned()),
        (Method::POST, format!("/server/{server}")),
        (Method::GET, format!("/server/{server}/rotate")),
        (Method::PUT, "/integration".to_owned()),
        (Method::PUT, "/integrated-account/x/mcp".to_owned()),
        (Method::POST, "/admin-token/x".to_owned()),
    ];
    for (method, path) in native {
        let (status, headers, body) = raw(&gw, method.clone(), &path, None).await;
        assert_eq!(status, 405, "{method} {path}");
        assert!(headers.contains_key("allow"), "{method} {path}");
        assert_eq!(body["error"]["status"], 405, "{method} {path}: {body}");
    }
    for (method, path) in [
        (Method::DELETE, FRUXON.to_owned()),
        (Method::GET, format!("{FRUXON}:rotateKey")),
    ] {
        let (status, headers, body) = raw(&gw, method.clone(), &path, None).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(body["status"], 405, "{body}");
        assert!(headers.contains_key("allow"));
    }
    for (method, path) in [
        (Method::PATCH, format!("{CF}/servers")),
        (Method::POST, format!("{CF}/servers/x")),
        (Method::GET, format!("{CF}/servers/x/sync")),
        (Method::PATCH, format!("{CF}/portals/x")),
    ] {
        let (status, headers, body) = raw(&gw, method.clone(), &path, None).await;
        cloudflare_error(status, &body, 405, None);
        assert!(headers.contains_key("allow"), "{method} {path}");
    }
}

#[tokio::test]
async fn the_cloudflare_surface_answers_every_error_in_its_envelope() {
    let gw = Gateway::start().await;
    let servers = format!("{CF}/servers");
    let portals = format!("{CF}/portals");
    // Input validation names the field in `path`.
    let cases: &[(&str, &str, &[&str])] = &[
        (
            &servers,
            r#"{"name":"u","auth_type":"unauthenticated"}"#,
            &["hostname"],
        ),
        (
            &servers,
            r#"{"name":5,"hostname":"https://h/mcp","auth_type":"unauthenticated"}"#,
            &["name"],
        ),
        (
            &servers,
            r#"{"name":"u","hostname":"https://h/mcp","auth_type":"unauthenticated","timeout_secs":"x"}"#,
            &["timeout_secs"],
        ),
        (
            &servers,
            r#"{"name":"u","hostname":"https://h/mcp","auth_type":"unauthenticated","bogus":1}"#,
            &["bogus"],
        ),
        (
            &servers,
            r#"{"name":"u","hostname":"https://h/mcp","auth_type":"magic"}"#,
            &["auth_type"],
        ),
        (
            &portals,
            r#"{"name":"p","servers":[{}]}"#,
            &["servers", "0", "server_id"],
        ),
        (
            &portals,
            r#"{"name":"p","servers":[{"server_id":7}]}"#,
            &["servers", "0", "server_id"],
        ),
        (
            &portals,
            r#"{"name":"p","servers":[{"server_id":"nope"}]}"#,
            &["servers", "0", "server_id"],
        ),
        (&portals, r#"{"servers":[]}"#, &["name"]),
    ];
    for (path, body, want) in cases {
        let (status, _, answer) = raw(&gw, Method::POST, path, Some(body)).await;
        cloudflare_error(status, &answer, 400, Some(want));
    }
    // Not JSON, not an object, no content type, no token, unknown ids and paths.
    for body in ["{", "[]", "\"x\"", "{} {}"] {
        let (status, _, answer) = raw(&gw, Method::POST, &servers, Some(body)).await;
        cloudflare_error(status, &answer, 400, None);
    }
    // A path that does not decode is still answered in the envelope.
    let (status, _, answer) = raw(
        &gw,
        Method::GET,
        "/accounts/%FF/access/ai-controls/mcp/servers",
        None,
    )
    .await;
    cloudflare_error(status, &answer, 400, None);
    let r = gw
        .http
        .post(gw.url(&servers))
        .bearer_auth(ADMIN_TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    cloudflare_error(status, &r.json().await.unwrap(), 415, None);
    let r = gw.http.get(gw.url(&servers)).send().await.unwrap();
    let status = r.status().as_u16();
    cloudflare_error(status, &r.json().await.unwrap(), 401, None);
    for (method, path) in [
        (Method::GET, format!("{servers}/nope")),
        (Method::PUT, format!("{servers}/nope")),
        (Method::DELETE, format!("{servers}/nope")),
        (Method::POST, format!("{servers}/nope/sync")),
        (Method::GET, format!("{portals}/nope")),
        (Method::DELETE, format!("{portals}/nope")),
        (Method::GET, format!("{CF}/elsewhere")),
        (Method::GET, format!("{servers}/a/b/c")),
    ] {
        let body = (method == Method::PUT)
            .then_some(r#"{"name":"u","hostname":"https://h/mcp","auth_type":"unauthenticated"}"#);
        let (status, headers, answer) = raw(&gw, method.clone(), &path, body).await;
        cloudflare_error(status, &answer, 404, None);
        assert_eq!(
            headers["content-type"], "application/json",
            "{method} {path}"
        );
    }
}

// ---------------------------------------------------------------------------
// A crash in the middle of multi-step creates.

async fn kill_9_during_a_burst_of_portal_creates(postgres: Option<String>) {
    let (mut gw, url) = gateway_on(postgres).await;
    created(
        &gw,
        &format!("{CF}/servers"),
        json!({"id": "up", "name": "up", "hostname": NOWHERE, "auth_type": "unauthenticated"}),
    )
    .await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, path, acked) = (
            gw.http.clone(),
            gw.url(&format!("{CF}/portals")),
            acknowledged.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let id = format!("p{w}-{i}");
                let sent = http
                    .post(&path)
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"id": id, "name": id, "servers": [{"server_id": "up"}]}))
                    .send()
                    .await;
                let Ok(resp) = sent else { return };
                if resp.status().as_u16() != 201 {
                    return;
                }
                acked.lock().unwrap().push(id);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    gw.signal_and_wait("KILL");
    for w in writers {
        w.await.unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(
        acked.len() > 3,
        "the burst wrote too little: {}",
        acked.len()
    );

    let store = store_of(&url).await;
    let portals = store.list_portals().await.unwrap();
    for id in &acked {
        assert!(
            portals.iter().any(|p| &p.id == id),
            "acknowledged portal {id} is missing"
        );
    }
    let backing: Vec<_> = store
        .list_servers()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| matches!(s.source, mcpgate_store::ServerSource::Portal(_)))
        .collect();
    assert_eq!(
        backing.len(),
        portals.len(),
        "orphan backing servers after kill -9"
    );
    for p in &portals {
        assert_eq!(
            live_keys(&store, &p.server_id).await,
            1,
            "portal {} lost its key",
            p.id
        );
    }
    // And the restarted gateway serves them.
    let gw = Gateway::start_with(Start {
        dir: Some(gw.stop()),
        store_url: Some(url),
        ..Start::default()
    })
    .await;
    let (status, listed) = gw.admin(Method::GET, &format!("{CF}/portals"), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["result"].as_array().unwrap().len(), portals.len());
}

#[tokio::test]
async fn kill_9_during_a_burst_of_portal_creates_leaves_no_orphans() {
    kill_9_during_a_burst_of_portal_creates(None).await;
}

#[tokio::test]
async fn on_postgres_kill_9_during_a_burst_of_portal_creates_leaves_no_orphans() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    kill_9_during_a_burst_of_portal_creates(Some(url)).await;
}
