//! `/server`: virtual MCP servers over a static toolset or an integrated
//! account. Mapping only: the operations are [`crate::control::servers`].

use super::Admin;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_catalog::ScopeConfig;
use mcpgate_store::{Limits, SandboxSettings, ServerRecord, ServerSource};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::{
    AdminContext, ApiError, ApiResult, ListParams, authorize, json_body, nullable, ok_json, page,
    respond,
};
use crate::Gateway;
use crate::control::servers::{ServerChanges, ServerSpec};
use crate::http_util;
use crate::timefmt::{rfc3339_from_ms, rfc3339_ms};

#[derive(Serialize)]
struct ServerJson {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    toolset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    integrated_account_id: Option<String>,
    config: ScopeConfig,
    exposed_tool_ids: Option<Vec<String>>,
    limits: Limits,
    sandbox: SandboxSettings,
    description: Option<String>,
    disabled: bool,
    created_by: Option<String>,
    modified_by: Option<String>,
    expires_at: Option<String>,
    created_at: String,
    updated_at: String,
    key_prefixes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

async fn server_json(gw: &Gateway, r: &ServerRecord) -> Result<ServerJson, ApiError> {
    let keys = gw.control().live_keys(r.id).await?;
    let (toolset, account) = match &r.source {
        ServerSource::Toolset(t) => (Some(t.clone()), None),
        ServerSource::Account(a) => (None, Some(a.to_string())),
        ServerSource::Unbound | ServerSource::Portal(_) => (None, None),
    };
    Ok(ServerJson {
        id: r.id.to_string(),
        name: r.name.clone(),
        toolset,
        integrated_account_id: account,
        config: r.scope.clone(),
        exposed_tool_ids: r.exposed_tools.clone(),
        limits: r.limits,
        sandbox: r.sandbox.clone(),
        description: r.description.clone(),
        disabled: r.disabled,
        created_by: r.created_by.clone(),
        modified_by: r.modified_by.clone(),
        expires_at: r.expires_at.map(rfc3339_ms),
        created_at: rfc3339_ms(r.created_at),
        updated_at: rfc3339_ms(r.updated_at),
        key_prefixes: keys.into_iter().map(|k| k.prefix).collect(),
        token: None,
        url: None,
    })
}

/// A server the caller may see, or 404.
async fn visible_server(
    gw: &Gateway,
    ctx: &AdminContext,
    id: &str,
) -> Result<ServerRecord, ApiError> {
    Ok(gw.control().server(ctx, id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateServer {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    toolset: Option<String>,
    #[serde(default)]
    integrated_account_id: Option<String>,
    #[serde(default)]
    config: Option<ScopeConfig>,
    #[serde(default)]
    exposed_tool_ids: Option<Vec<String>>,
    #[serde(default)]
    expires_at: Option<String>,
}

/// POST /server
pub async fn create(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> Response {
    respond(create_inner(&gw, &headers, body).await)
}

async fn create_inner(gw: &Gateway, headers: &HeaderMap, body: Body) -> ApiResult {
    let ctx = authorize(gw, headers)?;
    let req: CreateServer = json_body(headers, body).await?;
    let spec = ServerSpec {
        name: req.name,
        description: req.description,
        limits: req.limits,
        toolset: req.toolset,
        integrated_account_id: req.integrated_account_id,
        config: req.config,
        exposed_tool_ids: req.exposed_tool_ids,
        expires_at: req.expires_at,
    };
    let (record, secret) = gw.control().create_server(&ctx, spec).await?;
    let mut json = server_json(gw, &record).await?;
    json.url = Some(gw.mcp_url(&secret));
    json.token = Some(secret);
    ok_json(StatusCode::CREATED, &json)
}

/// DELETE /server/{id}/sandbox: forget what the server's sandbox twins created.
pub async fn reset_sandbox(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    let server = visible_server(&gw, &ctx, &id).await?;
    let removed = gw.control().reset_sandbox(server.id).await?;
    ok_json(StatusCode::OK, &serde_json::json!({ "removed": removed }))
}

fn fixture_json(f: &mcpgate_store::Fixture) -> serde_json::Value {
    serde_json::json!({
        "id": f.id.to_string(),
        "tool": f.tool,
        "arguments": f.arguments,
        "result": f.result,
        "created_at": rfc3339_from_ms(f.created_at),
    })
}

/// A visible server's fixtures, as the API shows them.
async fn server_fixtures(
    gw: &Gateway,
    headers: &HeaderMap,
    id: &str,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let ctx = authorize(gw, headers)?;
    let server = visible_server(gw, &ctx, id).await?;
    let list = gw.control().fixtures(server.id).await?;
    Ok(list.iter().map(fixture_json).collect())
}

/// GET /server/{id}/fixtures
pub async fn list_fixtures(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        server_fixtures(&gw, &headers, &id)
            .await
            .and_then(|result| {
                ok_json(
                    StatusCode::OK,
                    &serde_json::json!({ "result": result, "next_cursor": null }),
                )
            }),
    )
}

/// GET /server/{id}/fixtures/export: every fixture, as a JSON array.
pub async fn export_fixtures(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        server_fixtures(&gw, &headers, &id)
            .await
            .and_then(|result| ok_json(StatusCode::OK, &result)),
    )
}

/// DELETE /server/{id}/fixtures/{fixture}
pub async fn delete_fixture(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path((id, fixture)): Path<(String, String)>,
) -> ApiResult {
    let server = visible_server(&gw, &ctx, &id).await?;
    gw.control().delete_fixture(server.id, &fixture).await?;
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}

/// GET /server
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    query: ListParams,
) -> Response {
    respond(list_inner(&gw, &headers, query).await)
}

async fn list_inner(gw: &Gateway, headers: &HeaderMap, query: ListParams) -> ApiResult {
    let ctx = authorize(gw, headers)?;
    let page = page(query)?;
    let (loaded, more) = gw
        .control()
        .list_servers(&ctx, page.after.as_deref(), page.limit)
        .await?;
    // Rows that do not read are listed in error, in id order, not hidden.
    let mut entries: Vec<(String, serde_json::Value)> = Vec::new();
    for r in &loaded.records {
        let json = serde_json::to_value(server_json(gw, r).await?).map_err(ApiError::internal)?;
        entries.push((r.id.to_string(), json));
    }
    let entries = super::with_unreadable(&ctx, entries, &loaded.unreadable);
    let next_cursor = more.then(|| entries.last().map(|e| e.0.clone())).flatten();
    let result: Vec<serde_json::Value> = entries.into_iter().map(|e| e.1).collect();
    ok_json(
        StatusCode::OK,
        &serde_json::json!({ "result": result, "next_cursor": next_cursor }),
    )
}

/// GET /server/{id}
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(get_inner(&gw, &id, &headers).await)
}

async fn get_inner(gw: &Gateway, id: &str, headers: &HeaderMap) -> ApiResult {
    let ctx = authorize(gw, headers)?;
    // A server whose row does not read is shown in error, with the reason.
    match gw.control().server_or_fault(&ctx, id).await? {
        Ok(record) => ok_json(StatusCode::OK, &server_json(gw, &record).await?),
        Err(f) => ok_json(
            StatusCode::OK,
            &serde_json::json!({"id": f.id, "status": "error", "error": f.reason}),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchServer {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<String>>,
    #[serde(default)]
    config: Option<ScopeConfig>,
    #[serde(default, deserialize_with = "nullable")]
    exposed_tool_ids: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    #[serde(default)]
    limits: Option<Limits>,
    #[serde(default)]
    sandbox: Option<SandboxSettings>,
}

/// PATCH /server/{id}
pub async fn patch(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(patch_inner(&gw, &id, &headers, body).await)
}

async fn patch_inner(gw: &Gateway, id: &str, headers: &HeaderMap, body: Body) -> ApiResult {
    let ctx = authorize(gw, headers)?;
    let current = visible_server(gw, &ctx, id).await?;
    let req: PatchServer = json_body(headers, body).await?;
    let changes = ServerChanges {
        name: req.name,
        disabled: req.disabled,
        expires_at: req.expires_at,
        config: req.config,
        exposed_tool_ids: req.exposed_tool_ids,
        description: req.description,
        limits: req.limits,
        sandbox: req.sandbox,
    };
    let record = gw.control().update_server(&ctx, &current, changes).await?;
    ok_json(StatusCode::OK, &server_json(gw, &record).await?)
}

/// DELETE /server/{id}
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(delete_inner(&gw, &id, &headers).await)
}

async fn delete_inner(gw: &Gateway, id: &str, headers: &HeaderMap) -> ApiResult {
    let ctx = authorize(gw, headers)?;
    let record = visible_server(gw, &ctx, id).await?;
    gw.control().delete_server(record.id).await?;
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}
