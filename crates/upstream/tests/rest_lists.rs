//! List answers through the REST executor against a loopback API: wrapped
//! item arrays keep every row, the paging each vendor uses (next URLs in the
//! body, `Link` headers, `has_more` with the last item's id) reaches every
//! page, and only on the API's own origin.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mcpgate_catalog::openapi::{self, ImportOptions};
use mcpgate_catalog::{Credentials, Integration, generate};
use mcpgate_upstream::paging::PageCursor;
use mcpgate_upstream::{RestAccount, RestOperation, RestSettings};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Q = Query<HashMap<String, String>>;
type Log = Arc<Mutex<Vec<String>>>;

fn host(h: &HeaderMap) -> String {
    h.get("host").unwrap().to_str().unwrap().to_owned()
}

fn seen(log: &Log, path: &str, q: &HashMap<String, String>) {
    let mut q: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    q.sort();
    log.lock().unwrap().push(format!("{path}?{}", q.join("&")));
}

/// The most common shape: the rows inside an object, no paging.
async fn wrapped(State(log): State<Log>, Query(q): Q) -> Response {
    seen(&log, "/wrapped", &q);
    axum::Json(json!({"results": [{"id": "1", "name": "Ada"}, {"id": "2", "name": "Bob"}], "next_cursor": null}))
        .into_response()
}

/// Microsoft Graph: `value` and `@odata.nextLink` (absolute).
async fn graph(State(log): State<Log>, Query(q): Q, h: HeaderMap) -> Response {
    seen(&log, "/v1.0/users", &q);
    let host = host(&h);
    match (q.get("$skiptoken").map(String::as_str), q.get("evil")) {
        (_, Some(how)) => {
            let next = match how.as_str() {
                "origin" => "http://evil.example.com/api/v1.0/users?$skiptoken=2".to_owned(),
                "dots" => format!("http://{host}/api/../admin?$skiptoken=2"),
                _ => format!("http://user:pw@{host}/api/v1.0/users?$skiptoken=2"),
            };
            axum::Json(json!({"value": [{"id": 1}], "@odata.nextLink": next})).into_response()
        }
        (None, _) => axum::Json(
            json!({"@odata.context": "users", "value": [{"id": 1}, {"id": 2}],
            "@odata.nextLink": format!("http://{host}/api/v1.0/users?$skiptoken=2")}),
        )
        .into_response(),
        (Some("2"), _) => {
            axum::Json(json!({"@odata.context": "users", "value": [{"id": 3}]})).into_response()
        }
        // A next link to itself would page forever.
        (Some(_), _) => axum::Json(json!({"value": [{"id": 4}],
            "@odata.nextLink": format!("http://{host}/api/v1.0/users?$skiptoken=loop")}))
        .into_response(),
    }
}

/// Twilio: the items named after the resource, a relative `next_page_uri`.
async fn twilio(State(log): State<Log>, Query(q): Q) -> Response {
    seen(&log, "/2010-04-01/Messages.json", &q);
    let page: u32 = q.get("Page").map_or(0, |p| p.parse().unwrap());
    let next =
        (page == 0).then_some("/api/2010-04-01/Messages.json?Page=1&PageSize=2&PageToken=PA1");
    axum::Json(
        json!({"messages": [{"sid": format!("SM{page}a")}, {"sid": format!("SM{page}b")}],
        "page": page, "page_size": 2, "next_page_uri": next}),
    )
    .into_response()
}

/// Stripe: `data`, `has_more`, the next page after the last item's id.
async fn stripe(State(log): State<Log>, Query(q): Q) -> Response {
    seen(&log, "/v1/customers", &q);
    let all = ["cus_1", "cus_2", "cus_3"];
    let start = q
        .get("starting_after")
        .map_or(0, |a| all.iter().position(|c| c == a).unwrap() + 1);
    let limit: usize = q.get("limit").map_or(10, |l| l.parse().unwrap());
    let end = (start + limit).min(all.len());
    let data: Vec<Value> = all[start..end].iter().map(|id| json!({"id": id})).collect();
    axum::Json(json!({"object": "list", "url": "/v1/customers", "has_more": end < all.len(), "data": data}))
        .into_response()
}

/// A cursor that never advances.
async fn stuck(State(log): State<Log>, Query(q): Q) -> Response {
    seen(&log, "/stuck", &q);
    axum::Json(json!({"data": [{"id": 1}], "next": "same"})).into_response()
}

/// GitHub: a bare array and `Link` headers, with no paging declared.
async fn issues(State(log): State<Log>, Query(q): Q, h: HeaderMap) -> Response {
    seen(&log, "/issues", &q);
    let page: u32 = q.get("page").map_or(1, |p| p.parse().unwrap());
    let mut r = axum::Json(json!([{"number": page}])).into_response();
    if page < 3 {
        let link = format!(
            "<http://{}/api/issues?page={}>; rel=\"next\", <http://{}/api/issues?page=3>; rel=\"last\"",
            host(&h),
            page + 1,
            host(&h)
        );
        r.headers_mut().insert("link", link.parse().unwrap());
    }
    r
}

/// A declared item array the answer does not have.
async fn odd(State(log): State<Log>, Query(q): Q) -> Response {
    seen(&log, "/odd", &q);
    axum::Json(json!({"status": "degraded", "rows": {"1": "Ada"}})).into_response()
}

async fn start() -> (String, Log) {
    let log = Log::default();
    let app = Router::new()
        .route("/wrapped", get(wrapped))
        .route("/v1.0/users", get(graph))
        .route("/2010-04-01/Messages.json", get(twilio))
        .route("/v1/customers", get(stripe))
        .route("/issues", get(issues))
        .route("/odd", get(odd))
        .route("/stuck", get(stuck))
        .with_state(log.clone());
    // Under a path, so a next URL can try to leave the API by its path.
    let app = Router::new().nest("/api", app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/api"), log)
}

const DEFINITION: &str = r#"
name: lists
base_url: http://{host}
resources:
  - name: wrapped
    methods:
      - { kind: list, method: GET, path: /wrapped, tool_name: list_wrapped }
  - name: users
    methods:
      - kind: list
        method: GET
        path: /v1.0/users
        tool_name: list_users
        query: { type: object, properties: { $top: { type: integer }, evil: { type: string } } }
        pagination: { style: next_url, next_url: "@odata.nextLink", limit_param: $top, results: value }
  - name: messages
    methods:
      - kind: list
        method: GET
        path: /2010-04-01/Messages.json
        tool_name: list_messages
        query: { type: object, properties: { PageSize: { type: integer } } }
        pagination: { style: next_url, next_url: next_page_uri, limit_param: PageSize }
  - name: customers
    methods:
      - kind: list
        method: GET
        path: /v1/customers
        tool_name: list_customers
        query: { type: object, properties: { starting_after: { type: string }, limit: { type: integer } } }
        pagination: { style: cursor, cursor_param: starting_after, next_cursor: data.-1.id, limit_param: limit, results: data }
  - name: issues
    methods:
      - { kind: list, method: GET, path: /issues, tool_name: list_issues }
  - name: stuck
    methods:
      - kind: list
        method: GET
        path: /stuck
        tool_name: list_stuck
        query: { type: object, properties: { after: { type: string } } }
        pagination: { style: cursor, cursor_param: after, next_cursor: next }
  - name: odd
    methods:
      - { kind: list, method: GET, path: /odd, tool_name: list_odd, results: data }
"#;

struct Api {
    ops: HashMap<String, RestOperation>,
    account: RestAccount,
    log: Log,
}

impl Api {
    fn new(integration: &Integration, base: &str, log: Log) -> Self {
        let mut context = Map::new();
        context.insert("host".into(), json!(base.trim_start_matches("http://")));
        let account = RestAccount::new(
            reqwest::Client::new(),
            integration,
            Some(base),
            &context,
            &Credentials::None,
            RestSettings::default(),
            None,
        )
        .unwrap();
        let ops = generate(integration)
            .into_iter()
            .map(|t| (t.tool.name.as_str().to_owned(), RestOperation::new(t)))
            .collect();
        Self { ops, account, log }
    }

    async fn yaml() -> Self {
        let (base, log) = start().await;
        Self::new(&Integration::from_yaml(DEFINITION).unwrap(), &base, log)
    }

    async fn call(&self, tool: &str, args: Value) -> Value {
        let op = self
            .ops
            .get(tool)
            .unwrap_or_else(|| panic!("no tool {tool}: {:?}", self.ops.keys()));
        let raw = serde_json::value::to_raw_value(&args).unwrap();
        serde_json::from_str(self.account.call(op, Some(&raw)).await.get()).unwrap()
    }

    /// Every page of a list, following `next_cursor` (at most `max` calls).
    async fn all(&self, tool: &str, args: Value, max: usize) -> (Vec<Value>, Vec<Value>) {
        let (mut items, mut pages) = (Vec::new(), Vec::new());
        let mut args = args;
        for _ in 0..max {
            let r = self.call(tool, args.clone()).await;
            assert!(r.get("isError").is_none(), "{r}");
            let page = r["structuredContent"].clone();
            items.extend(page["results"].as_array().unwrap().iter().cloned());
            pages.push(page.clone());
            match page["next_cursor"].as_str() {
                Some(c) => args["next_cursor"] = json!(c),
                None => break,
            }
        }
        (items, pages)
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_wrapped_list_returns_its_rows() {
    let api = Api::yaml().await;
    let r = api.call("list_wrapped", json!({})).await;
    assert_eq!(
        r["structuredContent"],
        json!({"results": [{"id": "1", "name": "Ada"}, {"id": "2", "name": "Bob"}], "next_cursor": null}),
        "{r}"
    );
    // Sliced locally when the API pages nothing itself.
    let (items, pages) = api.all("list_wrapped", json!({"limit": 1}), 5).await;
    assert_eq!(
        items,
        [
            json!({"id": "1", "name": "Ada"}),
            json!({"id": "2", "name": "Bob"})
        ]
    );
    assert_eq!(pages.len(), 2);
    // A client's huge limit on a later page does not overflow.
    let cursor = pages[0]["next_cursor"].as_str().unwrap();
    let r = api
        .call(
            "list_wrapped",
            json!({"limit": u64::MAX, "next_cursor": cursor}),
        )
        .await;
    assert_eq!(
        r["structuredContent"]["results"],
        json!([{"id": "2", "name": "Bob"}]),
        "{r}"
    );
}

#[tokio::test]
async fn an_answer_without_the_declared_items_comes_back_unchanged() {
    let api = Api::yaml().await;
    let r = api.call("list_odd", json!({})).await;
    assert_eq!(
        r["structuredContent"],
        json!({"status": "degraded", "rows": {"1": "Ada"}}),
        "{r}"
    );
}

#[tokio::test]
async fn odata_next_links_are_followed_on_the_same_origin_only() {
    let api = Api::yaml().await;
    let (items, pages) = api.all("list_users", json!({"limit": 2}), 5).await;
    assert_eq!(
        items,
        [json!({"id": 1}), json!({"id": 2}), json!({"id": 3})]
    );
    // The wrapper's other fields stay; the next link is now the cursor.
    assert_eq!(pages[0]["@odata.context"], "users");
    assert!(pages[0].get("@odata.nextLink").is_none(), "{}", pages[0]);
    assert_eq!(
        api.log(),
        ["/v1.0/users?$top=2", "/v1.0/users?$skiptoken=2"]
    );
    // A link to itself ends the list instead of paging forever.
    let looped = PageCursor::Url(format!(
        "{}/v1.0/users?$skiptoken=loop",
        api.account.base_url()
    ));
    let r = api
        .call("list_users", json!({"next_cursor": looped.encode()}))
        .await;
    assert_eq!(r["structuredContent"]["next_cursor"], Value::Null, "{r}");
    // Another origin, a path out of the API by dot segments, user info:
    // never requested with the account's credentials.
    for how in ["origin", "dots", "userinfo"] {
        let r = api.call("list_users", json!({"evil": how})).await;
        let cursor = r["structuredContent"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        let before = api.log().len();
        let r = api.call("list_users", json!({"next_cursor": cursor})).await;
        assert_eq!(r["isError"], true, "{how}: {r}");
        let text = r["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("outside this API"), "{how}: {text}");
        assert_eq!(api.log().len(), before, "{how}");
    }
}

#[tokio::test]
async fn relative_next_page_uris_are_followed() {
    let api = Api::yaml().await;
    let (items, _) = api.all("list_messages", json!({"limit": 2}), 5).await;
    let sids: Vec<&str> = items.iter().map(|m| m["sid"].as_str().unwrap()).collect();
    assert_eq!(sids, ["SM0a", "SM0b", "SM1a", "SM1b"]);
    assert_eq!(
        api.log(),
        [
            "/2010-04-01/Messages.json?PageSize=2",
            "/2010-04-01/Messages.json?Page=1&PageSize=2&PageToken=PA1"
        ]
    );
}

#[tokio::test]
async fn the_last_items_id_pages_until_has_more_is_false() {
    let api = Api::yaml().await;
    let (items, pages) = api.all("list_customers", json!({"limit": 2}), 5).await;
    assert_eq!(
        items,
        [
            json!({"id": "cus_1"}),
            json!({"id": "cus_2"}),
            json!({"id": "cus_3"})
        ]
    );
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[1]["has_more"], false);
    assert_eq!(
        api.log(),
        [
            "/v1/customers?limit=2",
            "/v1/customers?limit=2&starting_after=cus_2"
        ]
    );
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_ends_the_list() {
    let api = Api::yaml().await;
    let (items, pages) = api.all("list_stuck", json!({}), 10).await;
    assert_eq!(items.len(), 2, "{pages:?}");
    assert_eq!(pages[1]["next_cursor"], Value::Null);
    assert_eq!(api.log(), ["/stuck?", "/stuck?after=same"]);
}

#[tokio::test]
async fn link_headers_are_followed_without_declared_paging() {
    let api = Api::yaml().await;
    let (items, _) = api.all("list_issues", json!({}), 10).await;
    assert_eq!(
        items,
        [
            json!({"number": 1}),
            json!({"number": 2}),
            json!({"number": 3})
        ]
    );
    assert_eq!(api.log(), ["/issues?", "/issues?page=2", "/issues?page=3"]);
}

/// The issue's case end to end from an OpenAPI document: a list operation
/// whose answer wraps its rows, with paging parameters the document does not
/// tie to its answer.
#[tokio::test]
async fn an_imported_wrapped_list_returns_its_rows() {
    let (base, log) = start().await;
    let doc = json!({"openapi": "3.0.3", "info": {"title": "Wrapped"}, "paths": {
        "/wrapped": {"get": {"operationId": "listWrapped",
            "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema":
                {"$ref": "#/components/schemas/Page"}}}}}}}},
        "components": {"schemas": {"Page": {"type": "object", "properties": {
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}},
            "next_cursor": {"type": "string", "nullable": true}}},
            "Row": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}}}});
    let imported = openapi::import(&doc, &ImportOptions::default(), &mut |_, _| {}).unwrap();
    let api = Api::new(&imported.integration, &base, log);
    let r = api.call("list_wrapped", json!({})).await;
    assert_eq!(
        r["structuredContent"]["results"],
        json!([{"id": "1", "name": "Ada"}, {"id": "2", "name": "Bob"}]),
        "{r}"
    );
}
