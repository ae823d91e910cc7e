//! Surface C, Cloudflare style: the registry of upstream MCP servers (with
//! `sync`) and portals, under `/accounts/{account_id}/access/ai-controls/mcp`.
//! The account id is the tenant. Every answer is the envelope
//! `{result, success, errors, messages}`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_store::{NewServer, PortalRecord, PortalServer, ServerSource, UpstreamRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use time::OffsetDateTime;

use super::servers::refresh;
use super::{
    AdminContext, ApiError, authorize, check_tenant, check_url, fault_fields, json_body,
    json_body_or_default, unreadable_json,
};
use crate::Gateway;
use crate::http_util;
use crate::registry::RecordKind;
use crate::sync::{Synced, status, sync_upstream};
use crate::timefmt::rfc3339_ms;

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn ts(ms: i64) -> String {
    rfc3339_ms(
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    )
}

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

fn server_json(gw: &Gateway, r: &UpstreamRecord) -> Value {
    let list = |key: &str| {
        r.snapshot
            .as_ref()
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or(json!([]))
    };
    // A record the gateway could not load (e.g. an unusable hostname) is in
    // error whatever its last sync said.
    let (status, error, error_detail) =
        match gw.registry.fault(RecordKind::Upstream, &r.tenant, &r.id) {
            Some(f) => (
                "error",
                Some(json!(f.reason)),
                Some(json!({"message": f.reason, "retryable": false})),
            ),
            None => (
                status(r, gw.resync_interval),
                r.error.as_ref().and_then(|e| e.get("message")).cloned(),
                r.error.clone(),
            ),
        };
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "hostname": r.hostname,
        "auth_type": r.auth_type,
        "timeout_secs": r.timeout_secs,
        "status": status,
        "error": error,
        "error_detail": error_detail,
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

fn valid_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(ApiError::field(
            field,
            "must be 1-32 characters of a-z, 0-9, '-' or '_'",
        ));
    }
    Ok(())
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

/// Check a server body; returns the credential to store.
fn check_server(b: &ServerBody) -> Result<Option<String>, ApiError> {
    if b.name.trim().is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
    }
    if b.timeout_secs.is_some_and(|t| t == 0 || t > 3600) {
        return Err(ApiError::field(
            "timeout_secs",
            "must be between 1 and 3600",
        ));
    }
    check_url("hostname", &b.hostname)?;
    match b.auth_type.as_str() {
        "unauthenticated" => Ok(None),
        "bearer" | "oauth" => match b.auth_credentials.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() => Ok(Some(c.to_owned())),
            _ => Err(ApiError::field(
                "auth_credentials",
                format!(
                    "auth_type {} needs auth_credentials (the gateway's token for this server)",
                    b.auth_type
                ),
            )),
        },
        other => Err(ApiError::field(
            "auth_type",
            format!("{other:?} is not one of unauthenticated, bearer, oauth"),
        )),
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
            let credentials = check_server(&b)?;
            super::egress::check_url(&gw, "hostname", &b.hostname, ctx.url_provenance())?;
            let id = match &b.id {
                Some(id) => {
                    valid_id("id", id)?;
                    id.clone()
                }
                None => uuid::Uuid::now_v7().simple().to_string()[..12].to_owned(),
            };
            let now = now_ms();
            let record = UpstreamRecord {
                tenant: ctx.tenant().to_owned(),
                id,
                name: b.name.trim().to_owned(),
                hostname: b.hostname,
                url_provenance: ctx.url_provenance(),
                auth_type: b.auth_type,
                timeout_secs: b.timeout_secs,
                description: b.description,
                status: "waiting".into(),
                error: None,
                snapshot: None,
                accepted: Default::default(),
                changes: Vec::new(),
                last_synced: None,
                last_successful_sync: None,
                created_at: now,
                created_by: Some(ctx.id.to_string()),
                modified_at: now,
                modified_by: Some(ctx.id.to_string()),
                config_version: 0,
                warnings: Vec::new(),
            };
            gw.store
                .create_upstream(&record, credentials.as_deref())
                .await
                .map_err(ApiError::store)?;
            gw.registry
                .load_all(&gw.store)
                .await
                .map_err(ApiError::store)?;
            Ok(envelope(StatusCode::CREATED, server_json(&gw, &record)))
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
            let all = gw.store.load_upstreams().await.map_err(ApiError::store)?;
            let mut result: Vec<Value> = all
                .records
                .iter()
                .filter(|(r, _)| r.tenant == ctx.tenant())
                .map(|(r, _)| server_json(&gw, r))
                .collect();
            // Records that do not read are listed in error, not hidden.
            result.extend(
                all.unreadable
                    .iter()
                    .filter(|u| u.tenant.as_deref() == Some(ctx.tenant()))
                    .map(unreadable_json),
            );
            Ok(envelope(StatusCode::OK, Value::Array(result)))
        }
        .await,
    )
}

async fn find_server(
    gw: &Gateway,
    ctx: &AdminContext,
    id: &str,
) -> Result<UpstreamRecord, ApiError> {
    gw.store
        .get_upstream(ctx.tenant(), id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(ApiError::not_found)
}

/// The caller's upstream `id` when its stored record does not read.
async fn unreadable_upstream(
    gw: &Gateway,
    ctx: &AdminContext,
    id: &str,
) -> Result<Option<mcpgate_store::Unreadable>, ApiError> {
    if gw
        .registry
        .fault(RecordKind::Upstream, ctx.tenant(), id)
        .is_none()
    {
        return Ok(None);
    }
    let all = gw.store.load_upstreams().await.map_err(ApiError::store)?;
    Ok(all
        .unreadable
        .into_iter()
        .find(|u| u.id == id && u.tenant.as_deref() == Some(ctx.tenant())))
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
            if let Some(u) = unreadable_upstream(&gw, &ctx, &id).await? {
                return Ok(envelope(StatusCode::OK, unreadable_json(&u)));
            }
            let record = find_server(&gw, &ctx, &id).await?;
            Ok(envelope(StatusCode::OK, server_json(&gw, &record)))
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
            let mut record = find_server(&gw, &ctx, &id).await?;
            let b: ServerBody = json_body(&headers, body).await?;
            if b.id.as_deref().is_some_and(|given| given != id) {
                return Err(ApiError::field("id", "cannot change a server's id"));
            }
            let credentials = check_server(&b)?;
            let endpoint_changed = record.hostname != b.hostname;
            // A new URL is the caller's; an unchanged one stays the
            // operator's when the operator wrote it (a tenant renaming the
            // server does not take its URL over), and a super-admin saving
            // it makes it the operator's.
            if endpoint_changed || ctx.super_admin {
                record.url_provenance = ctx.url_provenance();
            }
            super::egress::check_url(&gw, "hostname", &b.hostname, record.url_provenance)?;
            record.name = b.name.trim().to_owned();
            record.hostname = b.hostname;
            record.auth_type = b.auth_type;
            record.timeout_secs = b.timeout_secs;
            record.description = b.description;
            record.modified_at = now_ms();
            record.modified_by = Some(ctx.id.to_string());
            // A sync running on the previous configuration must not record
            // its outcome (see `Store::record_sync`).
            record.config_version += 1;
            if endpoint_changed {
                record.status = "waiting".into();
            }
            if !gw
                .store
                .update_upstream(&record, Some(credentials.as_deref()))
                .await
                .map_err(ApiError::store)?
            {
                return Err(ApiError::not_found());
            }
            gw.registry
                .load_all(&gw.store)
                .await
                .map_err(ApiError::store)?;
            Ok(envelope(StatusCode::OK, server_json(&gw, &record)))
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
            // An unreadable record can still be deleted (then created anew).
            let shown = match unreadable_upstream(&gw, &ctx, &id).await? {
                Some(u) => unreadable_json(&u),
                None => server_json(&gw, &find_server(&gw, &ctx, &id).await?),
            };
            if !gw
                .store
                .delete_upstream(ctx.tenant(), &id)
                .await
                .map_err(ApiError::store)?
            {
                return Err(ApiError::not_found());
            }
            gw.registry
                .load_all(&gw.store)
                .await
                .map_err(ApiError::store)?;
            Ok(envelope(StatusCode::OK, shown))
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
            let synced = sync_upstream(&gw, ctx.tenant(), &id, b.accept_changes)
                .await
                .map_err(ApiError::store)?
                .ok_or_else(ApiError::not_found)?;
            if let Synced::Superseded = synced {
                return Err(ApiError::new_status(
                    StatusCode::CONFLICT,
                    "the MCP server's configuration changed while it synced, so that sync's \
                     outcome was dropped; sync again",
                ));
            }
            Ok(envelope(StatusCode::OK, json!({})))
        }
        .await,
    )
}

fn portal_json(gw: &Gateway, p: &PortalRecord) -> Value {
    let (status, error) = fault_fields(gw, RecordKind::Portal, &p.tenant, &p.id);
    json!({
        "status": status,
        "error": error,
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

async fn check_portal(gw: &Gateway, ctx: &AdminContext, b: &PortalBody) -> Result<bool, ApiError> {
    if b.name.trim().is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
    }
    for (i, s) in b.servers.iter().enumerate() {
        if gw
            .store
            .get_upstream(ctx.tenant(), &s.server_id)
            .await
            .map_err(ApiError::store)?
            .is_none()
        {
            return Err(ApiError::field(
                &format!("servers.{i}.server_id"),
                format!("no MCP server {:?} in this account", s.server_id),
            ));
        }
    }
    let prefix = b.prefix.unwrap_or(true);
    if !prefix && b.servers.len() > 1 {
        return Err(ApiError::field(
            "prefix",
            "only a single-server portal may turn prefixing off",
        ));
    }
    Ok(prefix)
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
            let prefix = check_portal(&gw, &ctx, &b).await?;
            let id = match &b.id {
                Some(id) => {
                    valid_id("id", id)?;
                    id.clone()
                }
                None => uuid::Uuid::now_v7().simple().to_string()[..12].to_owned(),
            };
            let now = now_ms();
            // The portal's keys live on a server row the portal points at;
            // portal, server and key are written together or not at all.
            let (record, server, (_, key)) = gw
                .store
                .create_portal(
                    PortalRecord {
                        tenant: ctx.tenant().to_owned(),
                        id,
                        name: b.name.trim().to_owned(),
                        description: b.description,
                        servers: b.servers,
                        prefix,
                        pin_tools: b.pin_tools,
                        server_id: String::new(),
                        created_at: now,
                        created_by: Some(ctx.id.to_string()),
                        modified_at: now,
                        modified_by: Some(ctx.id.to_string()),
                    },
                    NewServer {
                        created_by: Some(ctx.id.to_string()),
                        ..NewServer::new(ctx.tenant(), b.name.trim(), ServerSource::Unbound)
                    },
                )
                .await
                .map_err(ApiError::store)?;
            gw.registry
                .load_all(&gw.store)
                .await
                .map_err(ApiError::store)?;
            gw.registry
                .refresh_server(&gw.store, server.id)
                .await
                .map_err(ApiError::store)?;
            let secret = key.secret;
            let mut v = portal_json(&gw, &record);
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
            let all = gw.store.load_portals().await.map_err(ApiError::store)?;
            let mut result: Vec<Value> = all
                .records
                .iter()
                .filter(|p| p.tenant == ctx.tenant())
                .map(|p| portal_json(&gw, p))
                .collect();
            result.extend(
                all.unreadable
                    .iter()
                    .filter(|u| u.tenant.as_deref() == Some(ctx.tenant()))
                    .map(unreadable_json),
            );
            Ok(envelope(StatusCode::OK, Value::Array(result)))
        }
        .await,
    )
}

fn find_portal(gw: &Gateway, ctx: &AdminContext, id: &str) -> Result<Arc<PortalRecord>, ApiError> {
    gw.registry
        .portal(ctx.tenant(), id)
        .ok_or_else(ApiError::not_found)
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
            if let Some(f) = gw.registry.fault(RecordKind::Portal, ctx.tenant(), &id)
                && gw.registry.portal(ctx.tenant(), &id).is_none()
            {
                return Ok(envelope(
                    StatusCode::OK,
                    json!({"id": id, "status": "error", "error": f.reason}),
                ));
            }
            let p = find_portal(&gw, &ctx, &id)?;
            Ok(envelope(StatusCode::OK, portal_json(&gw, &p)))
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
            let current = find_portal(&gw, &ctx, &id)?;
            let b: PortalBody = json_body(&headers, body).await?;
            let prefix = check_portal(&gw, &ctx, &b).await?;
            let mut record = (*current).clone();
            record.name = b.name.trim().to_owned();
            record.description = b.description;
            record.servers = b.servers;
            record.prefix = prefix;
            record.pin_tools = b.pin_tools;
            record.modified_at = now_ms();
            record.modified_by = Some(ctx.id.to_string());
            if !gw
                .store
                .update_portal(&record)
                .await
                .map_err(ApiError::store)?
            {
                return Err(ApiError::not_found());
            }
            gw.registry
                .load_all(&gw.store)
                .await
                .map_err(ApiError::store)?;
            refresh(&gw, &record.server_id).await?;
            Ok(envelope(StatusCode::OK, portal_json(&gw, &record)))
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
            // An unreadable record can still be deleted (then created anew).
            let deleted = gw
                .store
                .delete_portal(ctx.tenant(), &id)
                .await
                .map_err(ApiError::store)?
                .ok_or_else(ApiError::not_found)?;
            gw.registry
                .load_all(&gw.store)
                .await
                .map_err(ApiError::store)?;
            let shown = match &deleted {
                Ok(p) => portal_json(&gw, p),
                Err(unreadable) => unreadable_json(unreadable),
            };
            Ok(envelope(StatusCode::OK, shown))
        }
        .await,
    )
}
