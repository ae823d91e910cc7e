//! The REST executor against a real local HTTP upstream that records every
//! request it receives.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcpgate_catalog::{Credentials, Integration, generate};
use mcpgate_upstream::{RestAccount, RestOperation, RestSettings};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: HashMap<String, String>,
    auth: Option<String>,
    body: Option<Value>,
}

#[derive(Default)]
struct Upstream {
    seen: Mutex<Vec<Seen>>,
    tokens_issued: Mutex<u32>,
}

type S = State<Arc<Upstream>>;

fn record(
    s: &Upstream,
    method: &str,
    path: String,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: Option<Value>,
) {
    s.seen.lock().unwrap().push(Seen {
        method: method.into(),
        path,
        query,
        auth: headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
        body,
    });
}

async fn contacts(State(s): S, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    record(&s, "GET", "/contacts".into(), q.clone(), &h, None);
    // Three contacts, cursor-paged by `after`, `limit` per page.
    let all = ["ada", "bob", "cy"];
    let start: usize = q.get("after").map(|a| a.parse().unwrap()).unwrap_or(0);
    let limit: usize = q.get("limit").map(|l| l.parse().unwrap()).unwrap_or(10);
    let end = (start + limit).min(all.len());
    let next = (end < all.len()).then(|| end.to_string());
    axum::Json(json!({"results": all[start..end], "paging": {"next": {"after": next}}}))
        .into_response()
}

async fn contact(State(s): S, Path(id): Path<String>, h: HeaderMap) -> Response {
    record(
        &s,
        "GET",
        format!("/contacts/{id}"),
        HashMap::new(),
        &h,
        None,
    );
    match id.as_str() {
        "missing" => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "contact not found"})),
        )
            .into_response(),
        "boom" => (StatusCode::INTERNAL_SERVER_ERROR, "kaboom").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "late".into_response()
        }
        "big" => axum::Json(json!({"blob": "x".repeat(5000)})).into_response(),
        "png" => (
            [("content-type", "image/png")],
            vec![0x89u8, b'P', b'N', b'G', 0, 1],
        )
            .into_response(),
        _ => axum::Json(json!({"id": id})).into_response(),
    }
}

async fn create(State(s): S, h: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    record(
        &s,
        "POST",
        "/contacts".into(),
        HashMap::new(),
        &h,
        Some(body.clone()),
    );
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": "new", "properties": body["properties"]})),
    )
        .into_response()
}

async fn tickets(State(s): S, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    record(&s, "GET", "/tickets".into(), q.clone(), &h, None);
    let page: usize = q["page"].parse().unwrap();
    let per: usize = q.get("per_page").map(|l| l.parse().unwrap()).unwrap_or(2);
    let all: Vec<u32> = (1..=5).collect();
    let items: Vec<u32> = all
        .iter()
        .copied()
        .skip((page - 1) * per)
        .take(per)
        .collect();
    axum::Json(json!({"tickets": items})).into_response()
}

async fn repos(State(s): S, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    record(&s, "GET", "/repos".into(), q.clone(), &h, None);
    let page: u32 = q.get("page").map(|p| p.parse().unwrap()).unwrap_or(1);
    let host = h.get("host").unwrap().to_str().unwrap().to_owned();
    let mut r = axum::Json(json!([format!("repo{page}")])).into_response();
    let link = match (page, q.get("evil")) {
        (_, Some(_)) => "<http://evil.example.com/repos?page=2>; rel=\"next\"".to_owned(),
        (1, _) => format!("<http://{host}/repos?page=2>; rel=\"next\""),
        _ => String::new(),
    };
    if !link.is_empty() {
        r.headers_mut().insert("link", link.parse().unwrap());
    }
    r
}

async fn token(State(s): S, body: String) -> Response {
    let mut n = s.tokens_issued.lock().unwrap();
    *n += 1;
    record(
        &s,
        "POST",
        "/oauth/token".into(),
        HashMap::new(),
        &HeaderMap::new(),
        Some(Value::String(body)),
    );
    axum::Json(json!({"access_token": format!("tok{n}"), "expires_in": 3600, "refresh_token": format!("refresh{n}")})).into_response()
}

async fn secure(State(s): S, h: HeaderMap) -> Response {
    record(&s, "GET", "/secure".into(), HashMap::new(), &h, None);
    // The first token is "expired" upstream: a 401 must trigger one refresh.
    match h.get("authorization").and_then(|v| v.to_str().ok()) {
        Some("Bearer tok1") | None => StatusCode::UNAUTHORIZED.into_response(),
        Some(_) => axum::Json(json!({"ok": true})).into_response(),
    }
}

async fn start() -> (String, Arc<Upstream>) {
    let state = Arc::new(Upstream::default());
    let app = Router::new()
        .route("/contacts", get(contacts).post(create))
        .route("/contacts/{id}", get(contact))
        .route("/tickets", get(tickets))
        .route("/repos", get(repos))
        .route("/oauth/token", post(token))
        .route("/secure", get(secure))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

const DEFINITION: &str = r#"
name: crm
base_url: http://{host}
timeout_secs: 1
resources:
  - name: contacts
    tags: [crm]
    methods:
      - kind: list
        method: GET
        path: /contacts
        query: { type: object, properties: { after: { type: string }, limit: { type: integer }, email: { type: array, items: { type: string } } } }
        pagination: { style: cursor, cursor_param: after, next_cursor: paging.next.after, limit_param: limit, results: results }
      - kind: get
        method: GET
        path: /contacts/{id}
      - kind: create
        method: POST
        path: /contacts
        body: { type: object, properties: { properties: { type: object } }, required: [properties] }
  - name: tickets
    methods:
      - kind: list
        method: GET
        path: /tickets
        query: { type: object, properties: { page: { type: integer }, per_page: { type: integer } } }
        pagination: { style: page, page_param: page, limit_param: per_page, results: tickets }
  - name: repos
    methods:
      - kind: list
        method: GET
        path: /repos
        query: { type: object, properties: { evil: { type: string } } }
        pagination: { style: link_header }
  - name: secure
    methods:
      - kind: list
        method: GET
        path: /secure
"#;

struct Fixture {
    ops: HashMap<String, RestOperation>,
    upstream: Arc<Upstream>,
    base: String,
}

impl Fixture {
    async fn new() -> Self {
        let (base, upstream) = start().await;
        let integration = Integration::from_yaml(DEFINITION).unwrap();
        let ops = generate(&integration)
            .into_iter()
            .map(|t| (t.tool.name.as_str().to_owned(), RestOperation::new(t)))
            .collect();
        Self {
            ops,
            upstream,
            base,
        }
    }

    fn account(&self, credentials: Credentials, settings: RestSettings) -> RestAccount {
        let integration = Integration::from_yaml(DEFINITION).unwrap();
        let mut context = Map::new();
        context.insert(
            "host".into(),
            json!(self.base.trim_start_matches("http://")),
        );
        RestAccount::new(
            reqwest::Client::new(),
            &integration,
            None,
            &context,
            &credentials,
            settings,
            None,
        )
        .unwrap()
    }

    async fn call(&self, account: &RestAccount, tool: &str, args: Value) -> Value {
        let raw = serde_json::value::to_raw_value(&args).unwrap();
        let op = self
            .ops
            .get(tool)
            .unwrap_or_else(|| panic!("no tool {tool}: {:?}", self.ops.keys()));
        serde_json::from_str(account.call(op, Some(&raw)).await.get()).unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.upstream.seen.lock().unwrap().clone()
    }
}

fn bearer() -> Credentials {
    Credentials::Bearer {
        token: "secret-token".into(),
    }
}

#[tokio::test]
async fn builds_path_query_body_and_auth() {
    let f = Fixture::new().await;
    let a = f.account(bearer(), RestSettings::default());
    let r = f
        .call(&a, "get_single_crm_contact_by_id", json!({"id": "a b/c"}))
        .await;
    assert_eq!(
        r["structuredContent"]["id"], "a b/c",
        "the path segment was escaped and decoded back: {r}"
    );
    let seen = f.seen();
    assert_eq!(seen[0].path, "/contacts/a b/c");
    assert_eq!(seen[0].auth.as_deref(), Some("Bearer secret-token"));

    let r = f
        .call(
            &a,
            "create_a_crm_contact",
            json!({"properties": {"email": "ada@example.com"}}),
        )
        .await;
    assert_eq!(
        r["structuredContent"]["properties"]["email"],
        "ada@example.com"
    );
    let seen = f.seen();
    assert_eq!(seen[1].method, "POST");
    assert_eq!(
        seen[1].body,
        Some(json!({"properties": {"email": "ada@example.com"}}))
    );
}

#[tokio::test]
async fn cursor_pagination_round_trips_next_cursor() {
    let f = Fixture::new().await;
    let a = f.account(bearer(), RestSettings::default());
    let first = f
        .call(&a, "list_all_crm_contacts", json!({"limit": 2}))
        .await;
    assert_eq!(first["structuredContent"]["results"], json!(["ada", "bob"]));
    let cursor = first["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = f
        .call(
            &a,
            "list_all_crm_contacts",
            json!({"limit": 2, "next_cursor": cursor}),
        )
        .await;
    assert_eq!(second["structuredContent"]["results"], json!(["cy"]));
    assert_eq!(second["structuredContent"]["next_cursor"], Value::Null);
    let q = &f.seen()[1].query;
    assert_eq!(q.get("after").map(String::as_str), Some("2"));
    assert_eq!(q.get("limit").map(String::as_str), Some("2"));
}

#[tokio::test]
async fn page_pagination_and_link_headers() {
    let f = Fixture::new().await;
    let a = f.account(bearer(), RestSettings::default());
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut args = json!({"limit": 2});
        if let Some(c) = &cursor {
            args["next_cursor"] = json!(c);
        }
        let r = f.call(&a, "list_all_crm_tickets", args).await;
        all.extend(
            r["structuredContent"]["results"]
                .as_array()
                .unwrap()
                .clone(),
        );
        match r["structuredContent"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(all, (1..=5).map(|n| json!(n)).collect::<Vec<_>>());

    let r = f.call(&a, "list_all_crm_repos", json!({})).await;
    assert_eq!(r["structuredContent"]["results"], json!(["repo1"]));
    let next = r["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = f
        .call(&a, "list_all_crm_repos", json!({"next_cursor": next}))
        .await;
    assert_eq!(r["structuredContent"]["results"], json!(["repo2"]));
    assert_eq!(r["structuredContent"]["next_cursor"], Value::Null);

    // A Link to another origin is never followed with the account's credentials.
    let r = f.call(&a, "list_all_crm_repos", json!({"evil": "1"})).await;
    let next = r["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = f.seen().len();
    let r = f
        .call(&a, "list_all_crm_repos", json!({"next_cursor": next}))
        .await;
    assert_eq!(r["isError"], true);
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("outside this API")
    );
    assert_eq!(f.seen().len(), before);
}

#[tokio::test]
async fn lists_without_upstream_paging_are_sliced_locally() {
    let f = Fixture::new().await;
    let a = f.account(
        Credentials::Oauth2ClientCredentials {
            client_id: "id".into(),
            client_secret: "cs".into(),
            token_url: Some(format!("{}/oauth/token", f.base)),
            scopes: vec![],
        },
        RestSettings::default(),
    );
    // /secure returns one object with no item array: it comes back as it
    // is, never emptied.
    let r = f.call(&a, "list_all_crm_secure", json!({})).await;
    assert_eq!(r["structuredContent"], json!({"ok": true}), "{r}");
}

#[tokio::test]
async fn oauth_client_credentials_refresh_once_on_401() {
    let f = Fixture::new().await;
    let a = f.account(
        Credentials::Oauth2ClientCredentials {
            client_id: "client-1".into(),
            client_secret: "cs-1".into(),
            token_url: Some(format!("{}/oauth/token", f.base)),
            scopes: vec!["read".into()],
        },
        RestSettings::default(),
    );
    let r = f.call(&a, "list_all_crm_secure", json!({})).await;
    assert!(r.get("isError").is_none(), "{r}");
    let seen = f.seen();
    let paths: Vec<_> = seen
        .iter()
        .map(|s| (s.path.as_str(), s.auth.clone()))
        .collect();
    assert_eq!(
        paths,
        vec![
            ("/oauth/token", None),
            ("/secure", Some("Bearer tok1".into())),
            ("/oauth/token", None),
            ("/secure", Some("Bearer tok2".into())),
        ]
    );
    let form = seen[0].body.as_ref().unwrap().as_str().unwrap();
    assert!(
        form.contains("grant_type=client_credentials") && form.contains("scope=read"),
        "{form}"
    );
    // The cached token is reused.
    f.call(&a, "list_all_crm_secure", json!({})).await;
    assert_eq!(*f.upstream.tokens_issued.lock().unwrap(), 2);
}

#[tokio::test]
async fn rotated_refresh_tokens_are_handed_to_the_hook() {
    let f = Fixture::new().await;
    let integration = Integration::from_yaml(DEFINITION).unwrap();
    let mut context = Map::new();
    context.insert("host".into(), json!(f.base.trim_start_matches("http://")));
    let rotated: Arc<Mutex<Vec<Credentials>>> = Arc::default();
    let sink = rotated.clone();
    let a = RestAccount::new(
        reqwest::Client::new(),
        &integration,
        None,
        &context,
        &Credentials::Oauth2RefreshToken {
            client_id: "c".into(),
            client_secret: "s".into(),
            refresh_token: "refresh0".into(),
            token_url: Some(format!("{}/oauth/token", f.base)),
        },
        RestSettings::default(),
        Some(Arc::new(move |c| sink.lock().unwrap().push(c))),
    )
    .unwrap();
    f.call(&a, "list_all_crm_secure", json!({})).await;
    let form = f.seen()[0].body.clone().unwrap();
    assert!(form.as_str().unwrap().contains("refresh_token=refresh0"));
    let got = rotated.lock().unwrap().clone();
    assert!(
        matches!(got.last(), Some(Credentials::Oauth2RefreshToken { refresh_token, .. }) if refresh_token == "refresh2"),
        "{got:?}"
    );
}

#[tokio::test]
async fn upstream_errors_timeouts_and_bad_arguments_are_tool_errors() {
    let f = Fixture::new().await;
    let a = f.account(bearer(), RestSettings::default());
    let text = |v: &Value| v["content"][0]["text"].as_str().unwrap().to_owned();

    let r = f
        .call(&a, "get_single_crm_contact_by_id", json!({"id": "missing"}))
        .await;
    assert_eq!(r["isError"], true);
    assert!(
        text(&r).contains("404") && text(&r).contains("contact not found"),
        "{r}"
    );

    let r = f
        .call(&a, "get_single_crm_contact_by_id", json!({"id": "boom"}))
        .await;
    assert!(
        text(&r).contains("500") && text(&r).contains("kaboom"),
        "{r}"
    );

    let r = f
        .call(&a, "get_single_crm_contact_by_id", json!({"id": "slow"}))
        .await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("did not answer within 1 s"), "{r}");

    let before = f.seen().len();
    let r = f.call(&a, "get_single_crm_contact_by_id", json!({})).await;
    assert!(text(&r).contains("id"), "{r}");
    let r = f
        .call(&a, "list_all_crm_contacts", json!({"limit": "ten"}))
        .await;
    assert!(text(&r).starts_with("Invalid arguments: limit"), "{r}");
    let r = f
        .call(&a, "list_all_crm_contacts", json!({"bogus": 1}))
        .await;
    assert!(text(&r).contains("bogus"), "{r}");
    let r = f
        .call(
            &a,
            "list_all_crm_contacts",
            json!({"next_cursor": "forged"}),
        )
        .await;
    assert!(text(&r).contains("next_cursor"), "{r}");
    assert_eq!(
        f.seen().len(),
        before,
        "invalid calls never reach the upstream"
    );

    let unreachable = RestAccount::new(
        reqwest::Client::new(),
        &Integration::from_yaml(DEFINITION).unwrap(),
        Some("http://127.0.0.1:9"),
        &Map::new(),
        &bearer(),
        RestSettings::default(),
        None,
    )
    .unwrap();
    let r = f
        .call(
            &unreachable,
            "get_single_crm_contact_by_id",
            json!({"id": "x"}),
        )
        .await;
    assert!(text(&r).contains("Could not reach"), "{r}");
    assert!(!text(&r).contains("secret-token"));
}

#[tokio::test]
async fn large_and_binary_responses() {
    let f = Fixture::new().await;
    let a = f.account(
        bearer(),
        RestSettings {
            max_response_bytes: 1000,
            ..RestSettings::default()
        },
    );
    let r = f
        .call(&a, "get_single_crm_contact_by_id", json!({"id": "big"}))
        .await;
    let t = r["content"][0]["text"].as_str().unwrap();
    assert!(
        t.contains("truncated: the response exceeded 1000 bytes"),
        "{t}"
    );
    assert!(t.len() < 1200);

    let r = f
        .call(&a, "get_single_crm_contact_by_id", json!({"id": "png"}))
        .await;
    assert_eq!(r["content"][0]["type"], "image");
    assert_eq!(r["content"][0]["mimeType"], "image/png");
}

#[tokio::test]
async fn base_url_placeholders_need_context() {
    let integration = Integration::from_yaml(DEFINITION).unwrap();
    let e = RestAccount::new(
        reqwest::Client::new(),
        &integration,
        None,
        &Map::new(),
        &bearer(),
        RestSettings::default(),
        None,
    )
    .err()
    .unwrap();
    assert!(e.contains("context.host"), "{e}");
}

/// Every bundled integration's input and response schemas compile, so no
/// bundled tool runs unvalidated.
#[test]
fn bundled_schemas_compile() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/integrations");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let integration = Integration::load(&path).unwrap();
        for tool in generate(&integration) {
            jsonschema::validator_for(&tool.operation.input_schema)
                .unwrap_or_else(|e| panic!("{}: {}: {e}", path.display(), tool.tool.name));
            if let Some(response) = &tool.response_schema {
                jsonschema::validator_for(response).unwrap_or_else(|e| {
                    panic!("{}: {} response: {e}", path.display(), tool.tool.name)
                });
            }
        }
    }
}
