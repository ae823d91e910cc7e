//! The egress policy end to end (all on loopback): URLs the gateway must not
//! call are refused when an admin writes them, on connect, and on redirect;
//! credentials and `Referer` never go to another origin. By default
//! (`egress.private_networks = "super-admins"`) the super-admin's loopback
//! URLs are reached and a tenant admin's are refused.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::cloudflare::{self, BASE};
use common::{ADMIN_TOKEN, Gateway, Mcp, Start};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// One request a recorder saw.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

/// What a recorder's handler holds: its log and where `/items` redirects.
type RecorderState = (Arc<Mutex<Vec<Hit>>>, Option<String>);

/// A loopback HTTP server that records every request; `GET /items`
/// answers `307` to `redirect` when set, everything else `[]`.
struct Recorder {
    base: String,
    port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Recorder {
    async fn start(redirect: Option<String>) -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = (Arc::clone(&hits), redirect);
        let app =
            axum::Router::new()
                .fallback(
                    |State((hits, redirect)): State<RecorderState>,
                     uri: Uri,
                     headers: HeaderMap| async move {
                        hits.lock().unwrap().push(Hit {
                            path: uri.path().to_owned(),
                            query: uri.query().map(str::to_owned),
                            headers,
                        });
                        let answer: Response = match redirect {
                            Some(to) if uri.path() == "/items" => {
                                (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)])
                                    .into_response()
                            }
                            _ => axum::Json(json!([{"id": 1}])).into_response(),
                        };
                        answer
                    },
                )
                .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            hits,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

fn probe_definition(name: &str, token_url: Option<&str>) -> Value {
    let auth = match token_url {
        Some(url) => json!({"type": "oauth2_client_credentials", "token_url": url}),
        None => json!({"type": "none"}),
    };
    json!({
        "name": name,
        "base_url": "https://probe.invalid",
        "auth": auth,
        "resources": [{"name": "items", "methods": [{"kind": "list", "method": "GET", "path": "/items"}]}]
    })
}

/// A gateway with `egress.private_networks = private_networks` (`None`:
/// the default) and `extra` config.
async fn gateway_with(private_networks: Option<&'static str>, extra: &str) -> Gateway {
    Gateway::start_with(Start {
        private_networks,
        extra_config: extra.to_owned(),
        ..Start::default()
    })
    .await
}

/// An admin request as `token`.
async fn admin_as(
    gw: &Gateway,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, _, body) = gw.admin_as(token, method, path, body).await;
    (status, body)
}

/// The upstream registry's path prefix for `tenant`.
fn registry_base(tenant: &str) -> String {
    format!("/accounts/{tenant}/access/ai-controls/mcp")
}

/// A 400 whose message names `field`.
fn assert_field_refused(status: u16, body: &Value, field: &str, what: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    let text = body.to_string();
    assert!(
        text.contains(field),
        "{what}: the error names {field}: {text}"
    );
}

/// As the super-admin, create the probe integration and an account at
/// `base_url` with `credentials`; returns an MCP client of a server over it.
async fn probe_client(gw: &Gateway, base_url: &str, credentials: Value) -> Mcp {
    probe_client_named(gw, "probe", base_url, credentials).await
}

async fn probe_client_named(gw: &Gateway, name: &str, base_url: &str, credentials: Value) -> Mcp {
    probe_client_as(gw, ADMIN_TOKEN, name, base_url, credentials).await
}

/// [`probe_client`] as the admin `token`, the integration named `name`.
async fn probe_client_as(
    gw: &Gateway,
    token: &str,
    name: &str,
    base_url: &str,
    credentials: Value,
) -> Mcp {
    let (status, body) = admin_as(
        gw,
        token,
        Method::POST,
        "/integration",
        Some(json!({"definition": probe_definition(name, None)})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, account) = admin_as(
        gw,
        token,
        Method::POST,
        "/integrated-account",
        Some(json!({"integration": name, "base_url": base_url, "credentials": credentials})),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    server_over(gw, token, &account).await
}

/// A server over `account`, created as `token`; an initialized client of it.
async fn server_over(gw: &Gateway, token: &str, account: &Value) -> Mcp {
    let (status, server) = admin_as(
        gw,
        token,
        Method::POST,
        "/server",
        Some(json!({"name": "probe", "integrated_account_id": account["id"]})),
    )
    .await;
    assert_eq!(status, 201, "{server}");
    let mut c = gw.mcp(server["token"].as_str().unwrap());
    c.initialize("2025-11-25").await;
    c
}

async fn list_items(c: &Mcp) -> Value {
    let names = c.tool_names().await;
    assert_eq!(names.len(), 1, "{names:?}");
    c.call("tools/call", json!({"name": names[0], "arguments": {}}))
        .await
}

/// Refused for every writer: metadata, link-local, "this network", other
/// schemes (the gateway's own URL is added per gateway).
const NEVER: [&str; 7] = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://0.0.0.0:9/mcp",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "unix:///var/run/docker.sock",
];

/// Loopback and private, in every spelling: a tenant admin's are refused by default.
const PRIVATE: [&str; 6] = [
    "http://[::1]:9/mcp",
    "http://localhost:9/mcp",
    "http://127.1:9/mcp",
    "http://0x7f.1:9/mcp",
    "http://2130706433:9/mcp",
    "http://10.0.0.5/mcp",
];

/// As `token` (an admin of `tenant`), every URL field refuses each of `urls`
/// with a 400 naming the field; public URLs are stored as before.
async fn every_url_field_refuses(gw: &Gateway, token: &str, tenant: &str, urls: &[String]) {
    let base = registry_base(tenant);
    let (status, body) = admin_as(
        gw,
        token,
        Method::POST,
        &format!("{base}/servers"),
        Some(json!({"id": "up", "name": "up", "hostname": "https://mcp.example.com/mcp", "auth_type": "unauthenticated"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for url in urls {
        let server = json!({"name": "up", "hostname": url, "auth_type": "unauthenticated"});
        let mut definition = probe_definition("probe", None);
        definition["base_url"] = json!(url);
        let openapi = json!({
            "openapi": "3.0.3",
            "info": {"title": "Probe", "version": "1"},
            "servers": [{"url": url}],
            "paths": {"/items": {"get": {"operationId": "listItems", "responses": {"200": {"description": "ok"}}}}}
        });
        for (method, path, body, field) in [
            // Upstream MCP servers (Cloudflare-style registry), create and replace.
            (
                Method::POST,
                format!("{base}/servers"),
                server.clone(),
                "hostname",
            ),
            (
                Method::PUT,
                format!("{base}/servers/up"),
                server,
                "hostname",
            ),
            // Integration base URLs, by definition and by OpenAPI import.
            (
                Method::POST,
                "/integration".into(),
                json!({"definition": definition}),
                "definition.base_url",
            ),
            (
                Method::POST,
                "/integration".into(),
                json!({"openapi": openapi}),
                "openapi.servers",
            ),
            // An integration's OAuth token endpoint.
            (
                Method::POST,
                "/integration".into(),
                json!({"definition": probe_definition("probe", Some(url))}),
                "definition.auth.token_url",
            ),
        ] {
            let (status, answer) = admin_as(gw, token, method, &path, Some(body)).await;
            // An OpenAPI server URL that is not http(s) is not a destination
            // at all: the import keeps no base URL (each account must give
            // one, and that one is judged) and says so in a warning.
            if field == "openapi.servers" && !url.starts_with("http") {
                assert_eq!(status, 201, "{url}: {answer}");
                assert_eq!(answer["base_url"], "", "{url}: nothing to call");
                assert!(
                    answer["warnings"].to_string().contains(url.as_str()),
                    "{answer}"
                );
                let id = answer["id"].as_str().expect("an id");
                let (status, _) = admin_as(
                    gw,
                    token,
                    Method::DELETE,
                    &format!("/integration/{id}"),
                    None,
                )
                .await;
                assert_eq!(status, 204);
                continue;
            }
            assert_field_refused(status, &answer, field, url);
        }
    }

    // An account's own base URL and token URL, over a valid integration.
    let (status, body) = admin_as(
        gw,
        token,
        Method::POST,
        "/integration",
        Some(json!({"definition": probe_definition("probe", None)})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for url in urls {
        for (body, field) in [
            (
                json!({"integration": "probe", "base_url": url, "credentials": {"type": "none"}}),
                "base_url",
            ),
            (
                json!({"integration": "probe", "credentials": {"type": "oauth2_client_credentials",
                    "client_id": "c", "client_secret": "s", "token_url": url}}),
                "credentials.token_url",
            ),
        ] {
            let (status, answer) =
                admin_as(gw, token, Method::POST, "/integrated-account", Some(body)).await;
            assert_field_refused(status, &answer, field, url);
        }
    }

    // Public destinations are stored as before.
    let (status, body) = admin_as(
        gw,
        token,
        Method::POST,
        "/integrated-account",
        Some(
            json!({"integration": "probe", "base_url": "https://api.example.com/v2",
            "credentials": {"type": "oauth2_client_credentials", "client_id": "c",
            "client_secret": "s", "token_url": "https://auth.example.com/token"}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn every_url_field_refuses_what_the_policy_refuses_its_writer() {
    let gw = Gateway::start().await;
    let own = format!("{}/mcp/anything", gw.base);
    let never: Vec<String> = NEVER.iter().map(|u| u.to_string()).chain([own]).collect();
    // A tenant admin: loopback and private too.
    let tenant = gw.tenant_admin("acme").await;
    let all: Vec<String> = never
        .iter()
        .cloned()
        .chain(PRIVATE.iter().map(|u| u.to_string()))
        .collect();
    every_url_field_refuses(&gw, &tenant, "acme", &all).await;
    // The super-admin: never metadata, link-local or the gateway itself.
    every_url_field_refuses(&gw, ADMIN_TOKEN, "default", &never).await;
}

#[tokio::test]
async fn of_two_loopback_ports_only_the_allowed_one_is_reached() {
    // A rule opens one address to every writer, a tenant admin included.
    let allowed = Recorder::start(None).await;
    let denied = Recorder::start(None).await;
    let gw = gateway_with(
        None,
        &format!("egress.allow = [\"127.0.0.1:{}\"]", allowed.port),
    )
    .await;
    let tenant = gw.tenant_admin("acme").await;

    let c = probe_client_as(
        &gw,
        &tenant,
        "probe",
        &allowed.base,
        json!({"type": "none"}),
    )
    .await;
    let result = list_items(&c).await;
    assert_ne!(result["isError"], true, "{result}");
    assert_eq!(allowed.hits().len(), 1);

    let (status, body) = admin_as(
        &gw,
        &tenant,
        Method::POST,
        "/integrated-account",
        Some(json!({"integration": "probe", "base_url": denied.base, "credentials": {"type": "none"}})),
    )
    .await;
    assert_field_refused(status, &body, "base_url", "the other loopback port");
    let (status, body) = admin_as(
        &gw,
        &tenant,
        Method::POST,
        &format!("{}/servers", registry_base("acme")),
        Some(json!({"id": "up", "name": "up", "hostname": format!("{}/mcp", denied.base), "auth_type": "unauthenticated"})),
    )
    .await;
    assert_field_refused(status, &body, "hostname", "the other loopback port");
    assert!(denied.hits().is_empty());
}

#[tokio::test]
async fn a_name_that_reaches_the_gateway_itself_is_refused_on_connect() {
    // The super-admin may name `localhost`, so it passes the admin check,
    // but the connection lands on the gateway's own port.
    let gw = Gateway::start().await;
    let port = gw.base.rsplit(':').next().unwrap();
    let (_, token) = gw.create_server("self").await;
    cloudflare::register(&gw, "self", &format!("http://localhost:{port}/mcp/{token}")).await;
    let synced = cloudflare::sync(&gw, "self", None).await;
    assert_eq!(synced["status"], "error", "{synced}");
    let error = synced["error"].as_str().unwrap();
    assert!(
        error.contains("refused by the gateway's egress policy"),
        "{error}"
    );
    assert!(
        !error.contains(port),
        "no address in the tenant's error: {error}"
    );
    assert_eq!(
        gw.served("initialize").await,
        0,
        "the gateway never answered its own sync"
    );
}

#[tokio::test]
async fn a_cross_origin_redirect_is_not_followed_and_carries_no_credential() {
    let target = Recorder::start(None).await;
    let upstream = Recorder::start(Some(format!("{}/items", target.base))).await;
    let gw = Gateway::start().await;
    let c = probe_client(
        &gw,
        &upstream.base,
        json!({"type": "header", "name": "X-Api-Key", "value": "k-secret-1"}),
    )
    .await;
    let result = list_items(&c).await;
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("another origin"), "{text}");
    assert_eq!(upstream.hits().len(), 1);
    assert_eq!(
        upstream.hits()[0].headers["x-api-key"],
        "k-secret-1",
        "the configured origin gets the credential"
    );
    assert!(
        target.hits().is_empty(),
        "the other origin got a request: {:?}",
        target.hits()
    );
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_not_followed() {
    let gw = Gateway::start().await;
    for (n, to) in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("{}/healthz", gw.base),
    ]
    .into_iter()
    .enumerate()
    {
        let upstream = Recorder::start(Some(to.clone())).await;
        let c = probe_client_named(
            &gw,
            &format!("probe{n}"),
            &upstream.base,
            json!({"type": "none"}),
        )
        .await;
        let result = list_items(&c).await;
        assert_eq!(result["isError"], true, "{to}: {result}");
        assert_eq!(upstream.hits().len(), 1, "{to}");
    }
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed_without_a_referer() {
    // A 307 to the trailing-slash path keeps working; the second request
    // carries the query credential (same origin) but no Referer, which
    // would repeat the first URL with its credential.
    let upstream = Recorder::start(Some("/items/".into())).await;
    let gw = Gateway::start().await;
    let c = probe_client(
        &gw,
        &upstream.base,
        json!({"type": "query", "name": "api_key", "value": "q-secret-1"}),
    )
    .await;
    let result = list_items(&c).await;
    assert_ne!(result["isError"], true, "{result}");
    let hits = upstream.hits();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[1].path, "/items/");
    for hit in &hits {
        assert!(
            !hit.headers.contains_key(header::REFERER),
            "Referer sent: {:?}",
            hit.headers.get(header::REFERER)
        );
    }
    assert!(
        hits[0]
            .query
            .as_deref()
            .unwrap_or("")
            .contains("q-secret-1")
    );
}

#[tokio::test]
async fn a_bad_egress_setting_stops_startup_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mcpgate.toml");
    let data = dir.path().join("data");
    for (text, envs, named) in [
        (
            "allow = [\"api.internal:443\"]",
            &[][..],
            &["egress.allow", "api.internal:443"][..],
        ),
        (
            "private_networks = \"nobody\"",
            &[("MCPGATE_EGRESS_PRIVATE_NETWORKS", "maybe")],
            &["MCPGATE_EGRESS_PRIVATE_NETWORKS", "super-admins"],
        ),
        // The retired boolean is refused with the key's name, not ignored.
        (
            "allow_private_networks = true",
            &[],
            &["allow_private_networks", "private_networks"],
        ),
    ] {
        common::write(&config, &format!("[egress]\n{text}\n"));
        let out = common::cli(
            &[
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            envs,
        )
        .await;
        assert!(!out.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(named.iter().all(|n| stderr.contains(n)), "{text}: {stderr}");
    }
}

/// A legacy (HTTP+SSE) upstream on raw TCP: POSTs answer 405 (so the client
/// falls back), a GET opens a stream announcing `endpoint`.
async fn legacy_upstream(endpoint: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = tcp.read(&mut buf).await.unwrap_or(0);
                if buf[..n].starts_with(b"GET") {
                    let event = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\nevent: endpoint\ndata: {endpoint}\n\n"
                    );
                    let _ = tcp.write_all(event.as_bytes()).await;
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                } else {
                    let _ = tcp
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                }
            });
        }
    });
    base
}

#[tokio::test]
async fn a_legacy_upstream_cannot_send_the_credential_to_another_origin() {
    let target = Recorder::start(None).await;
    let upstream = legacy_upstream(format!("{}/messages?session=1", target.base)).await;
    let gw = Gateway::start().await;
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/servers"),
            Some(
                json!({"id": "old", "name": "old", "hostname": format!("{upstream}/sse"),
                "auth_type": "bearer", "auth_credentials": "up-secret-7"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let synced = cloudflare::sync(&gw, "old", None).await;
    assert_eq!(synced["status"], "error", "{synced}");
    assert!(
        synced["error"].as_str().unwrap().contains("another origin"),
        "{synced}"
    );
    assert!(
        target.hits().is_empty(),
        "the announced endpoint got: {:?}",
        target.hits()
    );
}

/// A minimal MCP server on loopback (Streamable HTTP, JSON answers, one
/// tool) that counts the requests it gets.
struct McpUpstream {
    url: String,
    requests: Arc<std::sync::atomic::AtomicUsize>,
}

impl McpUpstream {
    async fn start() -> Self {
        use std::sync::atomic::Ordering;
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        let app = axum::Router::new().route(
            "/mcp",
            axum::routing::post(move |axum::Json(message): axum::Json<Value>| {
                let counted = Arc::clone(&counted);
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let result = match message["method"].as_str() {
                        Some("initialize") => json!({
                            "protocolVersion": message["params"]["protocolVersion"],
                            "capabilities": {"tools": {}},
                            "serverInfo": {"name": "loop", "version": "1"}
                        }),
                        Some("tools/list") => {
                            json!({"tools": [{"name": "ping", "inputSchema": {"type": "object"}}]})
                        }
                        // Notifications.
                        _ => return StatusCode::ACCEPTED.into_response(),
                    };
                    axum::Json(json!({"jsonrpc": "2.0", "id": message["id"], "result": result}))
                        .into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Register the upstream `id` at `url` in `tenant` as `token`.
async fn register_as(gw: &Gateway, token: &str, tenant: &str, id: &str, url: &str) -> (u16, Value) {
    admin_as(
        gw,
        token,
        Method::POST,
        &format!("{}/servers", registry_base(tenant)),
        Some(json!({"id": id, "name": id, "hostname": url, "auth_type": "unauthenticated"})),
    )
    .await
}

/// Sync the upstream `id` of `tenant` as `token`; its object afterwards.
async fn sync_as(gw: &Gateway, token: &str, tenant: &str, id: &str) -> Value {
    let path = format!("{}/servers/{id}", registry_base(tenant));
    let (status, body) = admin_as(gw, token, Method::POST, &format!("{path}/sync"), None).await;
    assert_eq!(status, 200, "{body}");
    admin_as(gw, token, Method::GET, &path, None).await.1["result"].clone()
}

#[tokio::test]
async fn by_default_a_super_admins_loopback_upstream_syncs_and_a_tenant_admins_is_refused() {
    let up = McpUpstream::start().await;
    let gw = Gateway::start().await;
    cloudflare::register(&gw, "up", &up.url).await;
    let synced = cloudflare::sync(&gw, "up", None).await;
    assert_eq!(synced["status"], "ready", "{synced}");
    assert_eq!(synced["tools"][0]["name"], "ping", "{synced}");

    let tenant = gw.tenant_admin("acme").await;
    let reached = up.requests();
    let (status, body) = register_as(&gw, &tenant, "acme", "up", &up.url).await;
    assert_field_refused(
        status,
        &body,
        "hostname",
        "a tenant admin's loopback upstream",
    );
    assert!(body.to_string().contains("super-admin"), "{body}");

    // The super-admin acting in the tenant's path is still the super-admin.
    let (status, body) = register_as(&gw, ADMIN_TOKEN, "acme", "shared", &up.url).await;
    assert_eq!(status, 201, "{body}");
    // The tenant may rename it: its URL stays the one the super-admin wrote…
    let path = format!("{}/servers/shared", registry_base("acme"));
    let renamed = json!({"name": "Shared", "hostname": up.url, "auth_type": "unauthenticated"});
    let (status, body) = admin_as(&gw, &tenant, Method::PUT, &path, Some(renamed)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sync_as(&gw, &tenant, "acme", "shared").await["status"],
        "ready"
    );
    // …but not point it at another loopback URL.
    let moved = json!({"name": "Shared", "hostname": format!("{}/", up.url), "auth_type": "unauthenticated"});
    let (status, body) = admin_as(&gw, &tenant, Method::PUT, &path, Some(moved)).await;
    assert_field_refused(
        status,
        &body,
        "hostname",
        "a tenant admin's new loopback URL",
    );
    assert!(up.requests() > reached, "the super-admin's URL was reached");
}

#[tokio::test]
async fn a_tenants_account_calls_the_super_admins_integration_url_but_cannot_override_it() {
    let api = Recorder::start(None).await;
    let gw = Gateway::start().await;
    let mut definition = probe_definition("probe", None);
    definition["base_url"] = json!(api.base);
    let (status, body) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"definition": definition})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // A tenant admin of the same tenant connects an account without a base
    // URL of its own: the account calls the integration's (the operator's).
    let tenant = gw.tenant_admin("default").await;
    let (status, account) = admin_as(
        &gw,
        &tenant,
        Method::POST,
        "/integrated-account",
        Some(json!({"integration": "probe", "credentials": {"type": "none"}})),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    let c = server_over(&gw, &tenant, &account).await;
    let result = list_items(&c).await;
    assert_ne!(result["isError"], true, "{result}");
    assert_eq!(api.hits().len(), 1);

    // Its own base URL is the tenant's: the same loopback URL is refused.
    let own =
        json!({"integration": "probe", "base_url": api.base, "credentials": {"type": "none"}});
    let (status, body) =
        admin_as(&gw, &tenant, Method::POST, "/integrated-account", Some(own)).await;
    assert_field_refused(status, &body, "base_url", "a tenant's own base URL");
    let path = format!("/integrated-account/{}", account["id"].as_str().unwrap());
    let (status, body) = admin_as(
        &gw,
        &tenant,
        Method::PATCH,
        &path,
        Some(json!({"base_url": api.base})),
    )
    .await;
    assert_field_refused(status, &body, "base_url", "a tenant's base URL override");
    // Renaming the account leaves who wrote its URLs alone.
    let (status, body) = admin_as(
        &gw,
        &tenant,
        Method::PATCH,
        &path,
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let result = list_items(&c).await;
    assert_ne!(result["isError"], true, "{result}");
    assert_eq!(api.hits().len(), 2);
}

#[tokio::test]
async fn everyone_lets_a_tenant_admin_reach_loopback() {
    let up = McpUpstream::start().await;
    let gw = gateway_with(Some("everyone"), "").await;
    let tenant = gw.tenant_admin("acme").await;
    let (status, body) = register_as(&gw, &tenant, "acme", "up", &up.url).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(sync_as(&gw, &tenant, "acme", "up").await["status"], "ready");
    // Metadata and the gateway itself stay refused.
    for url in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("{}/mcp/x", gw.base),
    ] {
        let (status, body) = register_as(&gw, &tenant, "acme", "x", &url).await;
        assert_field_refused(status, &body, "hostname", &url);
    }
}

#[tokio::test]
async fn nobody_refuses_the_super_admin_too() {
    let up = McpUpstream::start().await;
    let gw = gateway_with(Some("nobody"), "").await;
    let (status, body) = register_as(&gw, ADMIN_TOKEN, "default", "up", &up.url).await;
    assert_field_refused(
        status,
        &body,
        "hostname",
        "the super-admin's loopback upstream",
    );
    assert!(body.to_string().contains("nobody"), "{body}");
    assert_eq!(up.requests(), 0);
}

#[tokio::test]
async fn a_url_a_tenant_wrote_is_refused_at_connect_even_when_stored_directly() {
    let up = McpUpstream::start().await;
    let api = Recorder::start(None).await;
    let gw = Gateway::start().await;
    cloudflare::register(&gw, "up", &up.url).await;
    assert_eq!(cloudflare::sync(&gw, "up", None).await["status"], "ready");
    let c = probe_client(&gw, &api.base, json!({"type": "none"})).await;
    assert_ne!(list_items(&c).await["isError"], true);
    assert_eq!(api.hits().len(), 1);

    // Both records now say a tenant admin wrote their URLs, written straight
    // into the store (as a hand edit or another replica could): no admin
    // check runs, so only the connection can refuse them.
    let key = std::fs::read_to_string(gw.data_dir().join("secret.key")).unwrap();
    let store = mcpgate_store::Store::open(
        &gw.data_dir().join("mcpgate.db"),
        mcpgate_store::MasterKey::from_hex(&key).unwrap(),
    )
    .await
    .unwrap();
    let mut upstream = store.get_upstream("default", "up").await.unwrap().unwrap();
    assert_eq!(
        upstream.url_provenance,
        mcpgate_catalog::UrlProvenance::Operator
    );
    upstream.url_provenance = mcpgate_catalog::UrlProvenance::Tenant;
    store.update_upstream(&upstream, None).await.unwrap();
    let account = store.list_accounts().await.unwrap().pop().unwrap();
    assert_eq!(
        account.url_provenance,
        mcpgate_catalog::UrlProvenance::Operator
    );
    let patch = mcpgate_store::AccountPatch {
        url_provenance: Some(mcpgate_catalog::UrlProvenance::Tenant),
        ..Default::default()
    };
    store.update_account(account.id, patch).await.unwrap();

    // The gateway picks the change up (mcp.change_poll_ms) and refuses:
    // the account's calls first (polled with calls, which write nothing — a
    // sync would write its stale record back), then, as the same reload read
    // the upstream written before the account, the upstream's sync.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let result = loop {
        let result = list_items(&c).await;
        if result["isError"] == true {
            break result;
        }
        assert!(std::time::Instant::now() < deadline, "still {result}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains(REFUSED),
        "{result}"
    );
    let called = api.hits().len();
    assert_eq!(list_items(&c).await["isError"], true);
    assert_eq!(api.hits().len(), called, "no request reached the API");
    let reached = up.requests();
    let synced = cloudflare::sync(&gw, "up", None).await;
    assert_eq!(synced["status"], "error", "{synced}");
    assert!(
        synced["error"].as_str().unwrap().contains(REFUSED),
        "{synced}"
    );
    assert_eq!(up.requests(), reached, "no request reached the upstream");
}

const REFUSED: &str = "refused by the gateway's egress policy";
