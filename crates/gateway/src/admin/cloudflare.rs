//! Surface C, Cloudflare style: the registry of upstream MCP servers (with
//! `sync`) and portals, under `/accounts/{account_id}/access/ai-controls/mcp`.
//! The account id is the tenant. Every answer is the envelope
//! `{result, success, errors, messages}`. Mapping only: the operations are
//! [`crate::control::upstreams`] and [`crate::control::portals`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_store::PortalServer;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::{
    AdminContext, ApiError, authorize, check_tenant, json_body, json_body_or_default,
    unreadable_json,
};
use crate::Gateway;
use crate::control::portals::{PortalSpec, PortalView};
use crate::control::upstreams::{UpstreamSpec, UpstreamView};
use crate::http_util;
use crate::timefmt::rfc3339_from_ms as ts;

fn envelope(status: StatusCode, result: Value) -> Response {
    http_util::json(
        status,
        json!({"result": result, "success": true, "errors": [], "messages": []}).to_string(),
    )
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(ApiError::into_cloudflare)
}

fn caller(gw: &Gateway, headers: &HeaderMap, account: &str) -> Result<AdminContext, ApiError> {
    let ctx = authorize(gw, headers)?;
    check_tenant("account_id", account)?;
    ctx.within(account).ok_or_else(ApiError::not_found)
}

/// A list in the envelope: the readable records, then those in error.
fn listed(
    shown: impl Iterator<Item = Value>,
    unreadable: &[mcpgate_store::Unreadable],
) -> Response {
    let result: Vec<Value> = shown
        .chain(unreadable.iter().map(unreadable_json))
        .collect();
    envelope(StatusCode::OK, Value::Array(result))
}

fn server_json(v: &UpstreamView) -> Value {
    let r = &v.record;
    let list = |key: &str| {
        r.snapshot
            .as_ref()
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or(json!([]))
    };
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "hostname": r.hostname,
        "auth_type": r.auth_type,
        "timeout_secs": r.timeout_secs,
        "status": v.status,
        "error": v.error,
        "error_detail": v.error_detail,
        "tools": list("tools"),
        "prompts": list("prompts"),
        "changes": r.changes,
        "warnings": r.warnings,
        "last_synced": r.last_synced.map(ts),
        "last_successful_sync": r.last_successful_sync.map(ts),
        "created_at": ts(r.created_at),
        "created_by": r.created_by,
        "modified_at": ts(r.modified_at),
        "modified_by": r.modified_by,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerBody {
    #[serde(default)]
    id: Option<String>,
    name: String,
    hostname: String,
    auth_type: String,
    #[serde(default)]
    auth_credentials: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

impl From<ServerBody> for UpstreamSpec {
    fn from(b: ServerBody) -> Self {
        Self {
            id: b.id,
            name: b.name,
            hostname: b.hostname,
            auth_type: b.auth_type,
            auth_credentials: b.auth_credentials,
            description: b.description,
            timeout_secs: b.timeout_secs,
        }
    }
}

/// POST …/mcp/servers
pub async fn create_server_handler(
    State(gw): State<Arc<Gateway>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let b: ServerBody = json_body(&headers, body).await?;
            let created = gw.control().create_upstream(&ctx, b.into()).await?;
            Ok(envelope(StatusCode::CREATED, server_json(&created)))
        }
        .await,
    )
}

/// GET …/mcp/servers
pub async fn list_servers(
    State(gw): State<Arc<Gateway>>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let (views, unreadable) = gw.control().list_upstreams(&ctx).await?;
            Ok(listed(views.iter().map(server_json), &unreadable))
        }
        .await,
    )
}

/// An upstream, or its unreadable record in error.
fn shown(v: &Result<UpstreamView, mcpgate_store::Unreadable>) -> Value {
    match v {
        Ok(v) => server_json(v),
        Err(u) => unreadable_json(u),
    }
}

/// GET …/mcp/servers/{id}
pub async fn get_server(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let found = gw.control().upstream(&ctx, &id).await?;
            Ok(envelope(StatusCode::OK, shown(&found)))
        }
        .await,
    )
}

/// PUT …/mcp/servers/{id}
pub async fn put_server(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let control = gw.control();
            let current = control.find_upstream(&ctx, &id).await?;
            let b: ServerBody = json_body(&headers, body).await?;
            let updated = control.update_upstream(&ctx, current, b.into()).await?;
            Ok(envelope(StatusCode::OK, server_json(&updated)))
        }
        .await,
    )
}

/// DELETE …/mcp/servers/{id}: the result is the deleted object.
pub async fn delete_server(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let deleted = gw.control().delete_upstream(&ctx, &id).await?;
            Ok(envelope(StatusCode::OK, shown(&deleted)))
        }
        .await,
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    #[serde(default)]
    accept_changes: bool,
}

/// POST …/mcp/servers/{id}/sync: one sync attempt; its outcome shows on the object.
pub async fn sync(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let b: SyncBody = json_body_or_default(&headers, body).await?;
            gw.control()
                .sync_upstream(&ctx, &id, b.accept_changes)
                .await?;
            Ok(envelope(StatusCode::OK, json!({})))
        }
        .await,
    )
}

fn portal_json(gw: &Gateway, v: &PortalView) -> Value {
    let p = &v.record;
    json!({
        "status": v.status,
        "error": v.error,
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "servers": p.servers,
        "prefix": p.prefix,
        "pin_tools": p.pin_tools,
        // An extension: the virtual server behind the portal, for
        // `/server/{id}/keys` and limits.
        "server_id": p.server_id,
        "url_base": format!("{}/mcp", gw.public_url),
        "created_at": ts(p.created_at),
        "created_by": p.created_by,
        "modified_at": ts(p.modified_at),
        "modified_by": p.modified_by,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortalBody {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    servers: Vec<PortalServer>,
    #[serde(default)]
    prefix: Option<bool>,
    #[serde(default)]
    pin_tools: bool,
}

impl From<PortalBody> for PortalSpec {
    fn from(b: PortalBody) -> Self {
        Self {
            id: b.id,
            name: b.name,
            description: b.description,
            servers: b.servers,
            prefix: b.prefix,
            pin_tools: b.pin_tools,
        }
    }
}

/// POST …/mcp/portals: answers with the portal, its URL and a key (once).
pub async fn create_portal(
    State(gw): State<Arc<Gateway>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let b: PortalBody = json_body(&headers, body).await?;
            let (created, secret) = gw.control().create_portal(&ctx, b.into()).await?;
            let mut v = portal_json(&gw, &created);
            v["url"] = json!(gw.mcp_url(&secret));
            v["token"] = json!(secret);
            Ok(envelope(StatusCode::CREATED, v))
        }
        .await,
    )
}

/// GET …/mcp/portals
pub async fn list_portals(
    State(gw): State<Arc<Gateway>>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let (views, unreadable) = gw.control().list_portals(&ctx).await?;
            Ok(listed(
                views.iter().map(|p| portal_json(&gw, p)),
                &unreadable,
            ))
        }
        .await,
    )
}

/// GET …/mcp/portals/{id}
pub async fn get_portal(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let shown = match gw.control().portal(&ctx, &id)? {
                Ok(p) => portal_json(&gw, &p),
                Err(reason) => json!({"id": id, "status": "error", "error": reason}),
            };
            Ok(envelope(StatusCode::OK, shown))
        }
        .await,
    )
}

/// PUT …/mcp/portals/{id}
pub async fn put_portal(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let control = gw.control();
            let current = control.find_portal(&ctx, &id)?;
            let b: PortalBody = json_body(&headers, body).await?;
            let updated = control.update_portal(&ctx, &current, b.into()).await?;
            Ok(envelope(StatusCode::OK, portal_json(&gw, &updated)))
        }
        .await,
    )
}

/// DELETE …/mcp/portals/{id}: the portal, its endpoint and keys.
pub async fn delete_portal(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = caller(&gw, &headers, &account)?;
            let shown = match gw.control().delete_portal(&ctx, &id).await? {
                Ok(p) => portal_json(&gw, &p),
                Err(unreadable) => unreadable_json(&unreadable),
            };
            Ok(envelope(StatusCode::OK, shown))
        }
        .await,
    )
}
