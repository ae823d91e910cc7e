//! End-to-end: REST integrations through the real binary — import, account,
//! scoped server, and real calls to a local upstream.

mod common;

use common::upstream::{self, CRM, Upstream};
use common::{Gateway, Mcp, Start, cli, labelled};
use reqwest::Method;
use serde_json::{Value, json};

fn bundled_dir() -> String {
    format!("{}/config/integrations", env!("CARGO_MANIFEST_DIR"))
}

async fn gateway() -> Gateway {
    Gateway::start_with(Start {
        extra_config: format!("integrations_dir = \"{}\"", bundled_dir()),
        ..Start::default()
    })
    .await
}

/// Import the CRM definition and connect an account to `upstream`.
async fn crm_account(gw: &Gateway, up: &Upstream, credentials: Value) -> String {
    let definition: Value =
        serde_json::to_value(mcpgate_catalog::Integration::from_yaml(CRM).unwrap()).unwrap();
    let (status, created) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({ "definition": definition })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "crm", "name": "acme", "base_url": up.base, "credentials": credentials})),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    account["id"].as_str().unwrap().to_owned()
}

async fn server(gw: &Gateway, account: &str, config: Value) -> String {
    let (status, body) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "crm-mcp", "integrated_account_id": account, "config": config})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn client(gw: &Gateway, token: &str) -> Mcp {
    let mut c = gw.mcp(token);
    c.initialize("2025-11-25").await;
    c
}

async fn call(c: &Mcp, name: &str, args: Value) -> Value {
    c.call("tools/call", json!({"name": name, "arguments": args}))
        .await
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn scoped_tools_make_real_authenticated_calls() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let account = crm_account(&gw, &up, json!({"type": "bearer", "token": "crm-secret-1"})).await;
    let token = server(&gw, &account, json!({"methods": ["read"], "tags": ["crm"]})).await;
    let c = client(&gw, &token).await;

    assert_eq!(
        c.tool_names().await,
        ["list_all_crm_contacts", "get_single_crm_contact_by_id"],
        "read AND crm: no create, no download, no reports"
    );

    // list → GET /contacts?limit=2 with the account's bearer token.
    let first = call(&c, "list_all_crm_contacts", json!({"limit": 2})).await;
    assert_eq!(first["structuredContent"]["results"], json!(["ada", "bob"]));
    let as_text: Value = serde_json::from_str(&text(&first)).unwrap();
    assert_eq!(
        as_text, first["structuredContent"],
        "the text block carries the same JSON for clients that read only content"
    );
    let cursor = first["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = call(
        &c,
        "list_all_crm_contacts",
        json!({"limit": 2, "next_cursor": cursor}),
    )
    .await;
    assert_eq!(second["structuredContent"]["results"], json!(["cy", "dee"]));
    let calls = up.api_calls();
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].path, "/contacts");
    assert_eq!(calls[0].query.get("limit").map(String::as_str), Some("2"));
    assert_eq!(calls[1].query.get("after").map(String::as_str), Some("2"));
    assert!(
        calls
            .iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer crm-secret-1"))
    );
    assert!(
        calls
            .iter()
            .all(|s| !s.authorization.as_deref().unwrap_or("").contains(&token)),
        "the client's token is never forwarded"
    );

    let got = call(&c, "get_single_crm_contact_by_id", json!({"id": "ada"})).await;
    assert_eq!(
        got["structuredContent"]["properties"]["email"],
        "ada@example.com"
    );
    assert_eq!(up.api_calls().last().unwrap().path, "/contacts/ada");
}

#[tokio::test]
async fn filtered_out_tools_look_exactly_like_missing_ones() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let account = crm_account(&gw, &up, json!({"type": "bearer", "token": "t"})).await;
    let token = server(&gw, &account, json!({"methods": ["list"]})).await;
    let c = client(&gw, &token).await;
    let filtered = c
        .request(
            7,
            "tools/call",
            json!({"name": "create_a_crm_contact", "arguments": {"properties": {}}}),
        )
        .await;
    let missing = c
        .request(
            7,
            "tools/call",
            json!({"name": "no_such_tool", "arguments": {}}),
        )
        .await;
    assert_eq!(filtered.error_code(), -32602);
    assert_eq!(missing.error_code(), -32602);
    let msg = |r: &common::Reply| {
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("create_a_crm_contact", "X")
            .replace("no_such_tool", "X")
    };
    assert_eq!(msg(&filtered), msg(&missing));
    assert!(up.api_calls().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn upstream_failures_are_tool_errors() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let account = crm_account(&gw, &up, json!({"type": "bearer", "token": "t"})).await;
    let token = server(&gw, &account, json!({})).await;
    let c = client(&gw, &token).await;

    let r = call(&c, "get_single_crm_contact_by_id", json!({"id": "missing"})).await;
    assert_eq!(r["isError"], true);
    assert!(
        text(&r).contains("404") && text(&r).contains("no such contact"),
        "{r}"
    );

    let r = call(&c, "get_single_crm_contact_by_id", json!({"id": "broken"})).await;
    assert_eq!(r["isError"], true);
    assert!(
        text(&r).contains("500") && text(&r).contains("database on fire"),
        "{r}"
    );

    let r = call(&c, "get_single_crm_contact_by_id", json!({"id": "slow"})).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("did not answer within 1 s"), "{r}");

    let before = up.api_calls().len();
    let r = call(
        &c,
        "create_a_crm_contact",
        json!({"properties": "not an object"}),
    )
    .await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("properties"), "names the bad field: {r}");
    assert_eq!(
        up.api_calls().len(),
        before,
        "validation happens before the call"
    );

    let r = call(
        &c,
        "create_a_crm_contact",
        json!({"properties": {"email": "x@example.com"}}),
    )
    .await;
    assert!(r.get("isError").is_none(), "{r}");
    let last = up.api_calls().pop().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(
        last.body,
        Some(json!({"properties": {"email": "x@example.com"}}))
    );
}

/// A session on an analytics-scoped server of an account that signs in with
/// OAuth2 client credentials at the upstream's token endpoint.
async fn analytics_over_oauth(gw: &Gateway, up: &Upstream) -> Mcp {
    let account = crm_account(
        gw,
        up,
        json!({"type": "oauth2_client_credentials", "client_id": "cid", "client_secret": "csecret",
               "token_url": format!("{}/oauth/token", up.base)}),
    )
    .await;
    let token = server(gw, &account, json!({"tags": ["analytics"]})).await;
    client(gw, &token).await
}

#[tokio::test]
async fn oauth2_client_credentials_refresh_once_on_401() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let c = analytics_over_oauth(&gw, &up).await;
    let r = call(&c, "list_all_crm_reports", json!({})).await;
    assert!(r.get("isError").is_none(), "{r}");
    assert_eq!(r["structuredContent"]["results"], json!([{"name": "q3"}]));
    let trail: Vec<(String, Option<String>)> = up
        .seen()
        .into_iter()
        .map(|s| (s.path, s.authorization))
        .collect();
    assert_eq!(
        trail,
        vec![
            ("/oauth/token".into(), None),
            ("/reports".into(), Some("Bearer tok1".into())),
            ("/oauth/token".into(), None),
            ("/reports".into(), Some("Bearer tok2".into())),
        ],
        "exactly one refresh and one retry"
    );
}

#[tokio::test]
async fn periodic_reloads_keep_an_unchanged_accounts_oauth_token() {
    let gw = Gateway::start_with(Start {
        extra_config: "mcp.reload_interval_secs = 1".into(),
        ..Start::default()
    })
    .await;
    let up = upstream::start().await;
    let c = analytics_over_oauth(&gw, &up).await;
    let r = call(&c, "list_all_crm_reports", json!({})).await;
    assert!(r.get("isError").is_none(), "{r}");
    let fetched = || {
        up.seen()
            .iter()
            .filter(|s| s.path == "/oauth/token")
            .count()
    };
    assert_eq!(fetched(), 2, "the first token, then one refresh on 401");
    // Two full reloads from the store pass; the account did not change.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let r = call(&c, "list_all_crm_reports", json!({})).await;
    assert!(r.get("isError").is_none(), "{r}");
    assert_eq!(fetched(), 2, "a reload must not drop the cached token");
    assert_eq!(
        up.seen().last().and_then(|s| s.authorization.clone()),
        Some("Bearer tok2".into())
    );
}

#[tokio::test]
async fn scope_typos_are_rejected_with_a_suggestion() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let account = crm_account(&gw, &up, json!({"type": "bearer", "token": "t"})).await;
    let (status, body) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "typo", "integrated_account_id": account,
                        "config": {"methods": ["GET", "READ", "DOWNLAOD"], "tags": ["crn"]}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"DOWNLAOD\" (did you mean download?)"),
        "{message}"
    );
    assert!(message.contains("\"crn\" (did you mean crm?)"), "{message}");
    assert!(
        body["error"]["fields"]["config.methods"].is_string(),
        "{body}"
    );
    assert!(body["error"]["fields"]["config.tags"].is_string(), "{body}");
    // Nothing was created.
    let (_, list) = gw.admin(Method::GET, "/server", None).await;
    assert_eq!(list["result"], json!([]));
}

#[tokio::test]
async fn scope_changes_apply_to_the_next_request() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let account = crm_account(&gw, &up, json!({"type": "bearer", "token": "t"})).await;
    let token = server(&gw, &account, json!({"methods": ["list"], "tags": ["crm"]})).await;
    let c = client(&gw, &token).await;
    assert_eq!(c.tool_names().await, ["list_all_crm_contacts"]);
    let (_, servers) = gw.admin(Method::GET, "/server", None).await;
    let id = servers["result"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = gw
        .admin(
            Method::PATCH,
            &format!("/server/{id}"),
            Some(json!({"config": {"methods": ["write", "custom"]}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        c.tool_names().await,
        ["create_a_crm_contact", "download_crm_contacts"]
    );
    let r = c
        .request(
            3,
            "tools/call",
            json!({"name": "list_all_crm_contacts", "arguments": {}}),
        )
        .await;
    assert_eq!(
        r.error_code(),
        -32602,
        "tools/call follows the new scope too"
    );

    let (status, _) = gw
        .admin(
            Method::PATCH,
            &format!("/server/{id}"),
            Some(json!({"config": {}, "exposed_tool_ids": ["list_all_crm_reports"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(c.tool_names().await, ["list_all_crm_reports"]);
}

#[tokio::test]
async fn credentials_are_sealed_on_disk_and_never_returned() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let secret = "sk-live-7f3a9c2e51d84b06";
    let account = crm_account(
        &gw,
        &up,
        json!({"type": "header", "name": "X-Api-Key", "value": secret}),
    )
    .await;

    let (_, one) = gw
        .admin(Method::GET, &format!("/integrated-account/{account}"), None)
        .await;
    let (_, all) = gw.admin(Method::GET, "/integrated-account", None).await;
    for body in [&one, &all] {
        assert!(!body.to_string().contains(secret), "{body}");
    }
    assert_eq!(
        one["credentials"],
        json!({"type": "header", "name": "X-Api-Key"})
    );

    let data = gw.data_dir();
    let mut bytes = Vec::new();
    for f in ["mcpgate.db", "mcpgate.db-wal"] {
        if let Ok(b) = std::fs::read(data.join(f)) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 4096, "the store was read");
    assert!(
        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "plaintext credential on disk"
    );
    assert!(!gw.stderr().contains(secret), "credential in logs");
    let key = std::fs::read_to_string(data.join("secret.key")).unwrap();
    assert_eq!(key.trim().len(), 64);
}

#[tokio::test]
async fn bundled_integrations_are_listed_and_read_only() {
    let gw = gateway().await;
    let (status, list) = gw.admin(Method::GET, "/integration", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    for n in ["github", "hubspot", "zendesk"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let hubspot = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "hubspot")
        .unwrap();
    assert_eq!(hubspot["origin"], "config");
    assert!(
        hubspot["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("list_all_hubspot_contacts"))
    );
    let id = hubspot["id"].as_str().unwrap();
    let (status, _) = gw
        .admin(Method::DELETE, &format!("/integration/{id}"), None)
        .await;
    assert_eq!(status, 409);

    // A Zendesk account needs its subdomain.
    let (status, body) = gw
        .admin(Method::POST, "/integrated-account", Some(json!({"integration": "zendesk", "credentials": {"type": "basic", "username": "a@b.c/token", "password": "x"}})))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["fields"]["context"]
            .as_str()
            .unwrap()
            .contains("context.subdomain"),
        "{body}"
    );
}

#[tokio::test]
async fn accounts_and_integrations_in_use_cannot_be_deleted() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let account = crm_account(&gw, &up, json!({"type": "bearer", "token": "t"})).await;
    server(&gw, &account, json!({})).await;
    let (status, body) = gw
        .admin(
            Method::DELETE,
            &format!("/integrated-account/{account}"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server")
    );
}

#[tokio::test]
async fn cli_imports_openapi_with_progress_then_serves_its_tools() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let mut paths = serde_json::Map::new();
    paths.insert("/contacts".into(), json!({"get": {"operationId": "listContacts", "tags": ["crm"],
        "parameters": [{"name": "after", "in": "query", "schema": {"type": "string"}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "properties": {"results": {"type": "array"}, "next_cursor": {"type": "string"}}}}}}}}}));
    for i in 0..299 {
        paths.insert(
            format!("/things{i}/{{id}}"),
            json!({"get": {"operationId": format!("getThing{i}")}}),
        );
    }
    let doc = json!({"openapi": "3.0.3", "info": {"title": "Big CRM"}, "servers": [{"url": "https://big.invalid"}], "paths": paths});
    let file = gw.dir.path().join("big.json");
    std::fs::write(&file, doc.to_string()).unwrap();

    let admin = [("MCPGATE_ADMIN_TOKEN", common::ADMIN_TOKEN)];
    let out = cli(
        &[
            "integration",
            "import",
            file.to_str().unwrap(),
            "--name",
            "bigcrm",
            "--endpoint",
            &gw.base,
        ],
        &admin,
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("converting operations: 300/300"),
        "{stderr}"
    );
    assert!(
        stderr.contains("converted 300 of 300 operations"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("300 tools"), "{stdout}");

    let out = cli(
        &[
            "account",
            "create",
            "--integration",
            "bigcrm",
            "--base-url",
            &up.base,
            "--auth",
            "bearer:cli-token",
            "--endpoint",
            &gw.base,
        ],
        &admin,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let account = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let out = cli(
        &[
            "server",
            "create",
            "--name",
            "big",
            "--account",
            &account,
            "--methods",
            "list",
            "--endpoint",
            &gw.base,
        ],
        &admin,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = labelled(&String::from_utf8(out.stdout).unwrap(), "Token:");
    let c = client(&gw, &token).await;
    // Named from its operationId, readable and without the integration's slug.
    assert_eq!(c.tool_names().await, ["list_contacts"]);
    let r = call(&c, "list_contacts", json!({"limit": 1})).await;
    assert_eq!(r["structuredContent"]["results"], json!(["ada"]), "{r}");
    assert_eq!(
        up.api_calls()[0].authorization.as_deref(),
        Some("Bearer cli-token")
    );
}

#[tokio::test]
async fn openapi_import_names_every_skip_and_needs_no_server_url() {
    let gw = gateway().await;
    let up = upstream::start().await;
    // No `servers`: each account's base URL is the API's. One OPTIONS
    // operation and one with a ref into another file cannot convert.
    let doc = json!({"openapi": "3.0.3", "info": {"title": "Loose CRM"}, "paths": {
        "/contacts": {
            "get": {"operationId": "listContacts", "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}]},
            "options": {"operationId": "probeContacts"}
        },
        "/elsewhere": {"get": {"operationId": "getElsewhere", "parameters": [{"$ref": "other.yaml#/components/parameters/P"}]}}
    }});
    let (status, created) = gw
        .admin(Method::POST, "/integration", Some(json!({"openapi": doc})))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["base_url"], "");
    let mut skipped: Vec<(String, String)> = created["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["operation_id"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("getElsewhere".to_owned(), "remote_ref".to_owned()),
            ("probeContacts".to_owned(), "unsupported_method".to_owned())
        ]
    );

    // Without a base URL the account could not call anything: refused, named.
    let (status, body) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "loose_crm", "name": "a", "credentials": {"type": "none"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("base_url"), "{body}");
    let (status, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "loose_crm", "name": "a", "base_url": up.base, "credentials": {"type": "none"}})),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    let token = server(&gw, account["id"].as_str().unwrap(), json!({})).await;
    let c = client(&gw, &token).await;
    let r = call(&c, "list_contacts", json!({"limit": 1})).await;
    assert!(r.get("isError").is_none(), "{r}");
    let seen = up.api_calls();
    assert_eq!(
        seen.last().map(|s| s.path.as_str()),
        Some("/contacts"),
        "{seen:?}"
    );

    // Nothing converts: the 400 lists every operation and why.
    let (status, body) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"openapi": {"openapi": "3.0.3", "paths": {"/a": {"trace": {}}, "/b/{x": {"get": {}}}}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body.to_string();
    assert!(
        message.contains("TRACE /a")
            && message.contains("GET /b/{x")
            && message.contains("bad_path"),
        "{message}"
    );

    // The CLI sums skips up by reason, and lists them all with --verbose.
    let mut paths = serde_json::Map::new();
    paths.insert("/ok".into(), json!({"get": {"operationId": "getOk"}}));
    for i in 0..25 {
        paths.insert(format!("/odd{i}"), json!({"options": {}}));
    }
    let file = gw.dir.path().join("odd.json");
    std::fs::write(
        &file,
        json!({"openapi": "3.0.3", "info": {"title": "Odd"}, "paths": paths}).to_string(),
    )
    .unwrap();
    let admin = [("MCPGATE_ADMIN_TOKEN", common::ADMIN_TOKEN)];
    let run = |verbose: bool, name: &'static str| {
        let file = file.to_str().unwrap().to_owned();
        let base = gw.base.clone();
        async move {
            let mut args = vec![
                "integration",
                "import",
                &file,
                "--name",
                name,
                "--endpoint",
                &base,
            ];
            if verbose {
                args.push("--verbose");
            }
            let out = cli(&args, &admin).await;
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stderr).into_owned()
        }
    };
    let stderr = run(false, "odd1").await;
    assert!(
        stderr.contains("skipped 25 operations by reason: 25 unsupported_method"),
        "{stderr}"
    );
    assert!(
        stderr.contains("… and 5 more warnings (--verbose lists them all)"),
        "{stderr}"
    );
    let stderr = run(true, "odd2").await;
    assert_eq!(
        stderr.matches("warning: skipped OPTIONS /odd").count(),
        25,
        "{stderr}"
    );
}

/// A list whose answer wraps its rows in an object returns the rows (the
/// issue's `{"results":[…],"next_cursor":null}` came back with no rows).
#[tokio::test]
async fn an_imported_wrapped_list_returns_every_row() {
    let gw = gateway().await;
    let up = upstream::start().await;
    let (status, created) = gw
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"openapi": upstream::people_openapi()})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "people", "name": "a", "base_url": up.base, "credentials": {"type": "none"}})),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    let token = server(&gw, account["id"].as_str().unwrap(), json!({})).await;
    let c = client(&gw, &token).await;
    let r = call(&c, "list_people", json!({})).await;
    assert_eq!(
        r["structuredContent"],
        json!({"results": [{"id": "1", "name": "Ada"}, {"id": "2", "name": "Bob"}], "next_cursor": null}),
        "{r}"
    );
    // Paged here when the API does not page: every row, one per call.
    let first = call(&c, "list_people", json!({"limit": 1})).await;
    assert_eq!(
        first["structuredContent"]["results"],
        json!([{"id": "1", "name": "Ada"}])
    );
    let cursor = first["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = call(
        &c,
        "list_people",
        json!({"limit": 1, "next_cursor": cursor}),
    )
    .await;
    assert_eq!(
        second["structuredContent"]["results"],
        json!([{"id": "2", "name": "Bob"}])
    );
    assert_eq!(second["structuredContent"]["next_cursor"], Value::Null);
}
