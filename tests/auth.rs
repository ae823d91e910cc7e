//! End-to-end: token auth on the data plane, and the server admin API that
//! drives it (expiry, disable, delete take effect on the very next request).

mod common;

use common::{ADMIN_TOKEN, Gateway};
use reqwest::Method;
use serde_json::{Value, json};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#;

async fn post_init(gw: &Gateway, url: &str, bearer: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = gw
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.body(INIT).send().await.unwrap();
    let status = r.status().as_u16();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = r.json().await.unwrap_or(Value::Null);
    (status, www, body)
}

fn assert_unauthorized((status, www, body): &(u16, Option<String>, Value)) {
    assert_eq!(*status, 401, "{body}");
    assert!(
        www.as_deref().unwrap_or("").starts_with("Bearer"),
        "{www:?}"
    );
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32000);
}

#[tokio::test]
async fn path_token_and_bearer_reach_the_same_server() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("same").await;
    let (s1, _, b1) = post_init(&gw, &gw.url(&format!("/mcp/{token}")), None).await;
    let (s2, _, b2) = post_init(&gw, &gw.url("/mcp"), Some(&token)).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(b1["result"]["serverInfo"]["name"], "same");
    assert_eq!(b1["result"], b2["result"]);
}

#[tokio::test]
async fn a_session_from_the_path_url_works_with_bearer_too() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("s").await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let r = gw
        .http
        .post(gw.url("/mcp"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("mcp-session-id", c.session.as_deref().unwrap())
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn unknown_missing_expired_disabled_and_deleted_tokens_all_look_the_same() {
    let gw = Gateway::start().await;
    let (expired_id, expired) = gw.create_server("expired").await;
    let (disabled_id, disabled) = gw.create_server("disabled").await;
    let (deleted_id, deleted) = gw.create_server("deleted").await;

    let past = json!({"expires_at": "2020-01-01T00:00:00Z"});
    assert_eq!(
        gw.admin(Method::PATCH, &format!("/server/{expired_id}"), Some(past))
            .await
            .0,
        200
    );
    assert_eq!(
        gw.admin(
            Method::PATCH,
            &format!("/server/{disabled_id}"),
            Some(json!({"disabled": true}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        gw.admin(Method::DELETE, &format!("/server/{deleted_id}"), None)
            .await
            .0,
        204
    );

    let mut bodies = Vec::new();
    for token in ["mcpg_doesnotexist", &expired, &disabled, &deleted] {
        let r = post_init(&gw, &gw.url(&format!("/mcp/{token}")), None).await;
        assert_unauthorized(&r);
        bodies.push(r.2);
    }
    let missing = post_init(&gw, &gw.url("/mcp"), None).await;
    assert_unauthorized(&missing);
    bodies.push(missing.2);
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "no hint which case: {bodies:?}"
    );
}

#[tokio::test]
async fn expiry_and_reenabling_take_effect_on_the_next_request() {
    let gw = Gateway::start().await;
    let (id, token) = gw.create_server("live").await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    assert_eq!(c.request(1, "ping", json!({})).await.status, 200);

    // An expiry a moment away: valid now, refused once it passes.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(800);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    gw.admin(
        Method::PATCH,
        &format!("/server/{id}"),
        Some(json!({"expires_at": soon})),
    )
    .await;
    assert_eq!(c.request(2, "ping", json!({})).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(c.request(3, "ping", json!({})).await.status, 401);

    // Clearing the expiry (null) restores access.
    gw.admin(
        Method::PATCH,
        &format!("/server/{id}"),
        Some(json!({"expires_at": null})),
    )
    .await;
    assert_eq!(c.request(4, "ping", json!({})).await.status, 200);

    gw.admin(
        Method::PATCH,
        &format!("/server/{id}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(c.request(5, "ping", json!({})).await.status, 401);
    gw.admin(
        Method::PATCH,
        &format!("/server/{id}"),
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(c.request(6, "ping", json!({})).await.status, 200);
}

#[tokio::test]
async fn the_token_is_shown_once_and_never_listed() {
    let gw = Gateway::start().await;
    let (status, created) = gw
        .admin(Method::POST, "/server", Some(json!({"name": "once"})))
        .await;
    assert_eq!(status, 201);
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("mcpg_"));
    assert_eq!(created["url"], format!("{}/mcp/{token}", gw.base));
    assert_eq!(created["key_prefixes"][0].as_str().unwrap(), &token[..12]);

    let id = created["id"].as_str().unwrap();
    let (_, one) = gw.admin(Method::GET, &format!("/server/{id}"), None).await;
    let (_, all) = gw.admin(Method::GET, "/server", None).await;
    for body in [&one, &all] {
        let text = body.to_string();
        assert!(!text.contains(token), "{text}");
        assert!(!text.contains("\"token\""), "{text}");
    }
    assert_eq!(one["name"], "once");
}

#[tokio::test]
async fn admin_api_requires_the_admin_token() {
    let gw = Gateway::start().await;
    for token in [None, Some("wrong-token-value"), Some("")] {
        let mut req = gw.http.get(gw.url("/server"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
    }
    // A server token is not an admin token.
    let (_, server_token) = gw.create_server("x").await;
    let r = gw
        .http
        .get(gw.url("/server"))
        .bearer_auth(&server_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn admin_validation_errors_name_the_field() {
    let gw = Gateway::start().await;
    let cases = [
        (json!({"name": ""}), "name"),
        (
            json!({"name": "a", "expires_at": "next week"}),
            "expires_at",
        ),
        (
            json!({"name": "a", "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (json!({"name": "a", "toolset": "missing"}), "toolset"),
    ];
    for (body, field) in cases {
        let (status, err) = gw.admin(Method::POST, "/server", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert!(err["error"]["fields"][field].is_string(), "{body} -> {err}");
    }
    let (status, err) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "a", "expire_at": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expire_at"),
        "{err}"
    );
    let (status, _) = gw.admin(Method::GET, "/server/not-a-uuid", None).await;
    assert_eq!(status, 404);
    let (status, _) = gw
        .admin(
            Method::GET,
            "/server/01900000-0000-7000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn admin_list_paginates_with_next_cursor() {
    let gw = Gateway::start().await;
    for i in 0..5 {
        gw.create_server(&format!("s{i}")).await;
    }
    let mut names = Vec::new();
    let mut path = "/server?limit=2".to_owned();
    loop {
        let (status, page) = gw.admin(Method::GET, &path, None).await;
        assert_eq!(status, 200);
        for s in page["result"].as_array().unwrap() {
            names.push(s["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/server?limit=2&next_cursor={c}"),
            None => break,
        }
    }
    assert_eq!(names, ["s0", "s1", "s2", "s3", "s4"]);
    let (status, _) = gw.admin(Method::GET, "/server?limit=0", None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn tokens_never_appear_in_logs() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("secret").await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    c.call(
        "tools/call",
        json!({"name":"echo","arguments":{"message":"hi"}}),
    )
    .await;
    let bearer = gw
        .http
        .post(gw.url("/mcp"))
        .bearer_auth(&token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(bearer.status().is_client_error());
    let logs = gw.stderr();
    assert!(logs.contains("server created"), "debug logs are on: {logs}");
    assert!(!logs.contains(&token), "token leaked into logs");
    assert!(!logs.contains(ADMIN_TOKEN), "admin token leaked into logs");
}
