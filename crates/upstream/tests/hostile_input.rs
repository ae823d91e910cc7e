//! A client controls `limit` and `next_cursor`; an OAuth provider controls
//! `expires_in`. No value of theirs may make the arithmetic on them overflow
//! (a panic in debug builds, a wrapped bound that panics on slicing in
//! release). Cursors are sealed, so a client can only hand back what an
//! account issued: one it wrote itself, or one issued for another tool or
//! account, is refused before any request is made. The extreme cursors below
//! are sealed with the account's own key, as if an API had named them.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use mcpgate_catalog::{Credentials, Integration, generate};
use mcpgate_upstream::paging::PageCursor;
use mcpgate_upstream::{RestAccount, RestOperation, RestSettings};
use serde_json::{Map, Value, json};

const DEFINITION: &str = r#"
name: lists
base_url: http://{host}
resources:
  - name: all
    methods:
      - { kind: list, method: GET, path: /all }
  - name: pages
    methods:
      - kind: list
        method: GET
        path: /all
        query: { type: object, properties: { page: { type: integer }, per_page: { type: integer } } }
        pagination: { style: page, page_param: page, limit_param: per_page }
  - name: offsets
    methods:
      - kind: list
        method: GET
        path: /all
        query: { type: object, properties: { offset: { type: integer }, limit: { type: integer } } }
        pagination: { style: offset, offset_param: offset, limit_param: limit }
"#;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

fn account(host: &str, definition: &str, credentials: Credentials) -> RestAccount {
    let integration = Integration::from_yaml(definition).unwrap();
    let mut context = Map::new();
    context.insert("host".into(), json!(host));
    RestAccount::new(
        reqwest::Client::new(),
        &integration,
        None,
        &context,
        &credentials,
        RestSettings::default(),
        None,
    )
    .unwrap()
}

async fn call(account: &RestAccount, op: &RestOperation, args: Value) -> Value {
    let raw = serde_json::value::to_raw_value(&args).unwrap();
    serde_json::from_str(account.call(op, Some(&raw)).await.get()).unwrap()
}

fn op(definition: &str, name: &str) -> Arc<RestOperation> {
    let tool = generate(&Integration::from_yaml(definition).unwrap())
        .into_iter()
        .find(|t| t.tool.name.as_str() == name)
        .unwrap_or_else(|| panic!("no tool {name}"));
    Arc::new(RestOperation::new(tool))
}

#[tokio::test]
async fn huge_limits_and_forged_cursors_page_without_overflow() {
    let host =
        serve(Router::new().route("/all", get(|| async { axum::Json(json!([1, 2, 3])) }))).await;
    let account = account(&host, DEFINITION, Credentials::None);
    let structured = |r: &Value| r["structuredContent"].clone();

    // Everything at once, paged by the gateway: start + limit must not wrap.
    let all = op(DEFINITION, "list_all_lists_all");
    let r = call(&account, &all, json!({"limit": u64::MAX})).await;
    assert_eq!(
        structured(&r),
        json!({"results": [1, 2, 3], "next_cursor": null}),
        "{r}"
    );
    let cursor = account.cursor_for(&all, &PageCursor::Slice(2));
    let r = call(
        &account,
        &all,
        json!({"limit": u64::MAX, "next_cursor": cursor}),
    )
    .await;
    assert_eq!(
        structured(&r),
        json!({"results": [3], "next_cursor": null}),
        "{r}"
    );
    let cursor = account.cursor_for(&all, &PageCursor::Slice(usize::MAX));
    let r = call(&account, &all, json!({"limit": 2, "next_cursor": cursor})).await;
    assert_eq!(
        structured(&r),
        json!({"results": [], "next_cursor": null}),
        "{r}"
    );

    // The last page number and the last offset have no successor.
    let pages = op(DEFINITION, "list_all_lists_pages");
    let cursor = account.cursor_for(&pages, &PageCursor::Page(u64::MAX));
    let r = call(&account, &pages, json!({"limit": 3, "next_cursor": cursor})).await;
    assert_eq!(
        structured(&r),
        json!({"results": [1, 2, 3], "next_cursor": null}),
        "{r}"
    );
    let offsets = op(DEFINITION, "list_all_lists_offsets");
    let cursor = account.cursor_for(&offsets, &PageCursor::Offset(u64::MAX - 1));
    let r = call(
        &account,
        &offsets,
        json!({"limit": 3, "next_cursor": cursor}),
    )
    .await;
    assert_eq!(
        structured(&r),
        json!({"results": [1, 2, 3], "next_cursor": null}),
        "{r}"
    );
}

/// Two list tools on an API that names its next page by URL. A client
/// allowed `list_all_lists_all` must not reach `/secret` (or any other GET
/// under the base path) by writing a cursor, nor replay a cursor across
/// tools or accounts: each is refused, and the API never sees the request.
#[tokio::test]
async fn cursors_a_client_did_not_get_are_refused_before_any_request() {
    use std::sync::Mutex;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let app = Router::new().fallback(move |uri: axum::http::Uri| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(uri.to_string());
            if uri.path() == "/secret" {
                return axum::Json(json!({"items": ["the admin's keys"], "next": null}));
            }
            let next = (uri.query().is_none()).then(|| "/all?page=2".to_owned());
            axum::Json(json!({"items": [uri.to_string()], "next": next}))
        }
    });
    let host = serve(app).await;
    let definition = format!(
        "{DEFINITION}  - name: others\n    methods:\n      - {{ kind: list, method: GET, path: /others }}\n"
    );
    let account_a = account(&host, &definition, Credentials::None).with_cursor_scope("account-a");
    let account_b = account(&host, &definition, Credentials::None).with_cursor_scope("account-b");
    let all = op(&definition, "list_all_lists_all");
    let others = op(&definition, "list_all_lists_others");

    // The cursor the API's answer earns works, for the tool and account that got it.
    let first = call(&account_a, &all, json!({})).await;
    let issued = first["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = call(&account_a, &all, json!({"next_cursor": issued})).await;
    assert_eq!(
        second["structuredContent"]["results"],
        json!(["/all?page=2"]),
        "{second}"
    );

    let forged = PageCursor::Url(format!("http://{host}/secret")).encode();
    for (who, tool, cursor) in [
        (&account_a, &all, forged.clone()),
        // A sealed cursor for the secret URL, but another tool's.
        (
            &account_a,
            &all,
            account_a.cursor_for(&others, &PageCursor::Url(format!("http://{host}/secret"))),
        ),
        // The cursor account A was issued, replayed on tool B and on account B.
        (&account_a, &others, issued.clone()),
        (&account_b, &all, issued.clone()),
    ] {
        let before = seen.lock().unwrap().len();
        let r = call(who, tool, json!({"next_cursor": cursor})).await;
        assert_eq!(r["isError"], true, "{r}");
        assert!(
            r["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("next_cursor is not a value this tool returned"),
            "{r}"
        );
        assert_eq!(
            seen.lock().unwrap().len(),
            before,
            "no request for a refused cursor"
        );
    }
    assert!(!seen.lock().unwrap().iter().any(|u| u.contains("secret")));
}

#[tokio::test]
async fn a_token_that_never_expires_by_its_own_account_is_no_panic() {
    let host = serve(
        Router::new()
            .route(
                "/oauth/token",
                post(|| async {
                    axum::Json(json!({"access_token": "tok", "token_type": "Bearer", "expires_in": u64::MAX}))
                }),
            )
            .route("/all", get(|| async { axum::Json(json!([1])) })),
    )
    .await;
    let definition = DEFINITION.replace(
        "base_url: http://{host}",
        "base_url: http://{host}\nauth: { type: oauth2_client_credentials, token_url: \"http://{host}/oauth/token\" }",
    );
    let credentials = Credentials::Oauth2ClientCredentials {
        client_id: "id".into(),
        client_secret: "secret".into(),
        token_url: Some(format!("http://{host}/oauth/token")),
        scopes: Vec::new(),
    };
    let account = account(&host, &definition, credentials);
    let all = op(&definition, "list_all_lists_all");
    for _ in 0..2 {
        let r = call(&account, &all, json!({})).await;
        assert_eq!(r["structuredContent"]["results"], json!([1]), "{r}");
    }
}

mod simulated {
    use mcpgate_upstream::simulator;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// Numbers a schema author may write, including absurd ones.
    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0u64..5).prop_map(|n| json!(n)),
            Just(json!(u64::MAX)),
            Just(json!(i64::MAX)),
            Just(json!(i64::MIN)),
            Just(json!(1e300)),
            Just(json!(-1e300)),
            Just(json!(9_223_372_036_854_775_807.0_f64)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// A sandbox twin simulates any upstream outputSchema — whatever
        /// bounds it declares — without a panic, an overflow or a huge
        /// allocation.
        #[test]
        fn any_output_schema_bounds_simulate(
            min_len in number(), max_len in number(),
            min_items in number(), max_items in number(),
            minimum in number(), maximum in number(),
        ) {
            let schema = json!({"type": "object", "properties": {
                "text": {"type": "string", "minLength": min_len, "maxLength": max_len},
                "list": {"type": "array", "minItems": min_items, "maxItems": max_items,
                    "items": {"type": "integer", "minimum": minimum, "maximum": maximum}},
                "count": {"type": "integer", "minimum": minimum, "maximum": maximum},
                "ratio": {"type": "number", "minimum": minimum, "maximum": maximum},
                "word": {"type": "string", "maxLength": max_len, "examples": ["天気😀", "ß"]},
            }});
            let out = simulator::mcp_call("sb", "t", Some(&schema), None);
            let v: Value = serde_json::from_str(out.get()).unwrap();
            prop_assert!(v["structuredContent"].is_object(), "{v}");
            prop_assert!(out.get().len() < 1 << 20, "{} bytes", out.get().len());
        }
    }
}
