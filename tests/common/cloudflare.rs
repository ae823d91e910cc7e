//! The Cloudflare-style registry of upstream MCP servers and its portals,
//! driven through the admin API.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Gateway, Mcp};

/// The registry's path prefix for the default tenant.
pub const BASE: &str = "/accounts/default/access/ai-controls/mcp";

/// Register an upstream MCP server; returns the stored object.
pub async fn register(gw: &Gateway, id: &str, url: &str) -> Value {
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/servers"),
            Some(json!({"id": id, "name": id, "hostname": url, "auth_type": "unauthenticated"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["success"], true);
    body["result"].clone()
}

/// Sync an upstream now; returns its object afterwards.
pub async fn sync(gw: &Gateway, id: &str, body: Option<Value>) -> Value {
    let (status, answer) = gw
        .admin(Method::POST, &format!("{BASE}/servers/{id}/sync"), body)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], json!({}));
    let (_, one) = gw
        .admin(Method::GET, &format!("{BASE}/servers/{id}"), None)
        .await;
    one["result"].clone()
}

/// Create a portal and open an initialized session on it.
pub async fn portal(gw: &Gateway, body: Value) -> Mcp {
    let (status, created) = gw
        .admin(Method::POST, &format!("{BASE}/portals"), Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let url = created["result"]["url"].as_str().unwrap().to_owned();
    let mut c = Mcp {
        http: gw.http.clone(),
        url,
        session: None,
        version_header: None,
    };
    c.initialize("2025-11-25").await;
    c
}

/// Register the upstream MCP server at `url` as `id`, sync it, and put it
/// alone behind portal `p`; an initialized 2025 session on the portal.
pub async fn portal_over(gw: &Gateway, id: &str, url: &str) -> Mcp {
    register(gw, id, url).await;
    sync(gw, id, None).await;
    portal(
        gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": id}]}),
    )
    .await
}
