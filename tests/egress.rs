//! The egress policy end to end (all on loopback): URLs the gateway must not
//! call are refused when an admin writes them, on connect, and on redirect;
//! credentials and `Referer` never go to another origin.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::registry::{self, BASE};
use common::{Gateway, Mcp, Start};
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

async fn strict_gateway(extra: &str) -> Gateway {
    Gateway::start_with(Start {
        private_egress: false,
        extra_config: extra.to_owned(),
        ..Start::default()
    })
    .await
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

/// Create the probe integration and an account at `base_url` with
/// `credentials`; returns an MCP client of a server over it.
async fn probe_client(gw: &Gateway, base_url: &str, credentials: Value) -> Mcp {
    probe_client_named(gw, "probe", base_url, credentials).await
}

async fn probe_client_named(gw: &Gateway, name: &str, base_url: &str, credentials: Value) -> Mcp {
    let (status, body) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"definition": probe_definition(name, None)})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": name, "base_url": base_url, "credentials": credentials})),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    let (status, server) = gw
        .admin(
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

#[tokio::test]
async fn every_url_field_refuses_what_the_policy_refuses() {
    let gw = strict_gateway("").await;
    let refused_hosts = [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::1]:9/mcp",
        "http://localhost:9/mcp",
        "http://127.1:9/mcp",
        "http://0x7f.1:9/mcp",
        "http://2130706433:9/mcp",
        "http://10.0.0.5/mcp",
        "http://0.0.0.0:9/mcp",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "unix:///var/run/docker.sock",
    ];
    let own = format!("{}/mcp/anything", gw.base);
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/servers"),
            Some(json!({"id": "up", "name": "up", "hostname": "https://mcp.example.com/mcp", "auth_type": "unauthenticated"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for url in refused_hosts.iter().copied().chain([own.as_str()]) {
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
                format!("{BASE}/servers"),
                server.clone(),
                "hostname",
            ),
            (
                Method::PUT,
                format!("{BASE}/servers/up"),
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
            let (status, answer) = gw.admin(method, &path, Some(body)).await;
            // An OpenAPI server URL that is not http(s) is not a destination
            // at all: the import keeps no base URL (each account must give
            // one, and that one is judged) and says so in a warning.
            if field == "openapi.servers" && !url.starts_with("http") {
                assert_eq!(status, 201, "{url}: {answer}");
                assert_eq!(answer["base_url"], "", "{url}: nothing to call");
                assert!(answer["warnings"].to_string().contains(url), "{answer}");
                let id = answer["id"].as_str().expect("an id");
                let (status, _) = gw
                    .admin(Method::DELETE, &format!("/integration/{id}"), None)
                    .await;
                assert_eq!(status, 204);
                continue;
            }
            assert_field_refused(status, &answer, field, url);
        }
    }

    // An account's own base URL and token URL, over a valid integration.
    let (status, body) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"definition": probe_definition("probe", None)})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for url in refused_hosts {
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
            let (status, answer) = gw
                .admin(Method::POST, "/integrated-account", Some(body))
                .await;
            assert_field_refused(status, &answer, field, url);
        }
    }

    // Public destinations are stored as before.
    let (status, body) = gw
        .admin(
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
async fn of_two_loopback_ports_only_the_allowed_one_is_reached() {
    let allowed = Recorder::start(None).await;
    let denied = Recorder::start(None).await;
    let gw = strict_gateway(&format!("egress.allow = [\"127.0.0.1:{}\"]", allowed.port)).await;

    let c = probe_client(&gw, &allowed.base, json!({"type": "none"})).await;
    let result = list_items(&c).await;
    assert_ne!(result["isError"], true, "{result}");
    assert_eq!(allowed.hits().len(), 1);

    let (status, body) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "probe", "base_url": denied.base, "credentials": {"type": "none"}})),
        )
        .await;
    assert_field_refused(status, &body, "base_url", "the other loopback port");
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/servers"),
            Some(json!({"id": "up", "name": "up", "hostname": format!("{}/mcp", denied.base), "auth_type": "unauthenticated"})),
        )
        .await;
    assert_field_refused(status, &body, "hostname", "the other loopback port");
    assert!(denied.hits().is_empty());
}

#[tokio::test]
async fn a_name_that_reaches_the_gateway_itself_is_refused_on_connect() {
    // Private networks allowed (as in development): `localhost` passes the
    // admin check, but the connection lands on the gateway's own port.
    let gw = Gateway::start().await;
    let port = gw.base.rsplit(':').next().unwrap();
    let (_, token) = gw.create_server("self").await;
    registry::register(&gw, "self", &format!("http://localhost:{port}/mcp/{token}")).await;
    let synced = registry::sync(&gw, "self", None).await;
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
async fn a_rule_that_is_not_an_address_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mcpgate.toml");
    common::write(&config, "[egress]\nallow = [\"api.internal:443\"]\n");
    let data = dir.path().join("data");
    let serve = |envs: &'static [(&'static str, &'static str)]| {
        let (config, data) = (config.clone(), data.clone());
        async move {
            common::cli(
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
            .await
        }
    };
    let out = serve(&[]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("egress.allow") && stderr.contains("api.internal:443"),
        "{stderr}"
    );
    common::write(&config, "[egress]\nallow_private_networks = false\n");
    let out = serve(&[("MCPGATE_EGRESS_ALLOW_PRIVATE_NETWORKS", "maybe")]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MCPGATE_EGRESS_ALLOW_PRIVATE_NETWORKS"),
        "{stderr}"
    );
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
    let synced = registry::sync(&gw, "old", None).await;
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
