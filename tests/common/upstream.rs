//! A small REST API for end-to-end tests, recording every request it gets.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the upstream saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

#[derive(Default)]
pub struct Log {
    pub seen: Mutex<Vec<Seen>>,
    tokens: Mutex<u32>,
}

/// A running upstream.
pub struct Upstream {
    pub base: String,
    pub log: Arc<Log>,
}

impl Upstream {
    pub fn seen(&self) -> Vec<Seen> {
        self.log.seen.lock().unwrap().clone()
    }

    /// Requests other than to the token endpoint.
    pub fn api_calls(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path != "/oauth/token")
            .collect()
    }
}

type S = State<Arc<Log>>;

fn note(
    log: &Log,
    method: &str,
    path: String,
    query: HashMap<String, String>,
    h: &HeaderMap,
    body: Option<Value>,
) {
    log.seen.lock().unwrap().push(Seen {
        method: method.into(),
        path,
        query,
        authorization: h
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
        body,
    });
}

async fn list(State(log): S, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    note(&log, "GET", "/contacts".into(), q.clone(), &h, None);
    let all = ["ada", "bob", "cy", "dee", "eve"];
    let start: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let end = (start + limit).min(all.len());
    let next = (end < all.len()).then(|| end.to_string());
    axum::Json(json!({"results": all[start..end], "paging": {"next": {"after": next}}}))
        .into_response()
}

async fn one(State(log): S, Path(id): Path<String>, h: HeaderMap) -> Response {
    note(
        &log,
        "GET",
        format!("/contacts/{id}"),
        HashMap::new(),
        &h,
        None,
    );
    match id.as_str() {
        "missing" => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "no such contact"})),
        )
            .into_response(),
        "broken" => (StatusCode::INTERNAL_SERVER_ERROR, "database on fire").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            axum::Json(json!({"id": id})).into_response()
        }
        _ => axum::Json(json!({"id": id, "properties": {"email": format!("{id}@example.com")}}))
            .into_response(),
    }
}

async fn create(State(log): S, h: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    note(
        &log,
        "POST",
        "/contacts".into(),
        HashMap::new(),
        &h,
        Some(body.clone()),
    );
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": "c-1", "properties": body["properties"]})),
    )
        .into_response()
}

async fn token(State(log): S, body: String) -> Response {
    let n = {
        let mut n = log.tokens.lock().unwrap();
        *n += 1;
        *n
    };
    note(
        &log,
        "POST",
        "/oauth/token".into(),
        HashMap::new(),
        &HeaderMap::new(),
        Some(Value::String(body)),
    );
    axum::Json(json!({"access_token": format!("tok{n}"), "expires_in": 3600})).into_response()
}

async fn reports(State(log): S, h: HeaderMap) -> Response {
    note(&log, "GET", "/reports".into(), HashMap::new(), &h, None);
    // The first token counts as expired upstream: only a refreshed one works.
    match h.get("authorization").and_then(|v| v.to_str().ok()) {
        Some("Bearer tok1") | None => (StatusCode::UNAUTHORIZED, "token expired").into_response(),
        Some(_) => axum::Json(json!([{"name": "q3"}])).into_response(),
    }
}

/// The most common list shape: the rows wrapped in an object.
async fn people(State(log): S, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    note(&log, "GET", "/people".into(), q, &h, None);
    axum::Json(json!({"results": [{"id": "1", "name": "Ada"}, {"id": "2", "name": "Bob"}], "next_cursor": null}))
        .into_response()
}

/// An OpenAPI document for `/people`: its answer wraps the rows in an
/// object (behind `$ref`s), and no parameter says how it pages.
pub fn people_openapi() -> Value {
    json!({"openapi": "3.0.3", "info": {"title": "People"}, "paths": {
        "/people": {"get": {"operationId": "listPeople",
            "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PersonPage"}}}}}}}},
        "components": {"schemas": {
            "PersonPage": {"type": "object", "properties": {
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}},
                "next_cursor": {"type": "string", "nullable": true}}},
            "Person": {"type": "object", "required": ["id", "name"], "properties": {
                "id": {"type": "string", "pattern": "^[0-9]{1,6}$"}, "name": {"type": "string"}}}}}})
}

/// Start the upstream on a free loopback port.
pub async fn start() -> Upstream {
    let log = Arc::new(Log::default());
    let app = Router::new()
        .route("/contacts", get(list).post(create))
        .route("/contacts/{id}", get(one))
        .route("/oauth/token", post(token))
        .route("/reports", get(reports))
        .route("/people", get(people))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Upstream {
        base: format!("http://{addr}"),
        log,
    }
}

/// An integration definition for the upstream above.
pub const CRM: &str = r#"
name: crm
label: Test CRM
base_url: https://crm.invalid
auth: { type: bearer }
timeout_secs: 1
resources:
  - name: contacts
    tags: [crm, people]
    methods:
      - kind: list
        method: GET
        path: /contacts
        query: { type: object, properties: { after: { type: string }, limit: { type: integer } } }
        pagination: { style: cursor, cursor_param: after, next_cursor: paging.next.after, limit_param: limit, results: results }
      - kind: get
        method: GET
        path: /contacts/{id}
      - kind: create
        method: POST
        path: /contacts
        body: { type: object, required: [properties], properties: { properties: { type: object } } }
      - kind: download
        method: GET
        path: /contacts/{id}/vcard
  - name: reports
    tags: [analytics]
    methods:
      - kind: list
        method: GET
        path: /reports
"#;

/// Import [`CRM`], connect an account with `credentials` to the API at
/// `base`, and open an initialized session on a server over it.
pub async fn crm_server(gw: &super::Gateway, base: &str, credentials: Value) -> super::Mcp {
    let definition =
        serde_json::to_value(mcpgate_catalog::Integration::from_yaml(CRM).unwrap()).unwrap();
    let created = [
        ("/integration", json!({ "definition": definition })),
        (
            "/integrated-account",
            json!({"integration": "crm", "name": "acme", "base_url": base, "credentials": credentials}),
        ),
    ];
    let mut account = Value::Null;
    for (path, body) in created {
        let (status, answer) = gw.admin(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, 201, "{path}: {answer}");
        account = answer;
    }
    let (status, server) = gw
        .admin(
            reqwest::Method::POST,
            "/server",
            Some(json!({"name": "crm", "integrated_account_id": account["id"]})),
        )
        .await;
    assert_eq!(status, 201, "{server}");
    let mut c = gw.mcp(server["token"].as_str().unwrap());
    c.initialize("2025-11-25").await;
    c
}
