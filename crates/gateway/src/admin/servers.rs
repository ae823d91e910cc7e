//! `/server`: virtual MCP servers over a static toolset or an integrated account.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_catalog::{Scope, ScopeConfig, ScopeError};
use mcpgate_store::{
    AccountId, AccountRecord, Limits, NewServer, SandboxSettings, ServerId, ServerPatch,
    ServerRecord, ServerSource, Store,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::{
    AdminContext, ApiError, ApiResult, ListParams, authorize, check_name, json_body, nullable,
    ok_json, page, parse_expiry, parse_future_expiry, parse_id, respond,
};
use crate::Gateway;
use crate::http_util;
use crate::timefmt::rfc3339_ms;

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

async fn server_json(store: &Store, r: &ServerRecord) -> Result<ServerJson, ApiError> {
    let keys = store
        .list_server_keys(r.id)
        .await
        .map_err(ApiError::store)?;
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

/// Turn scope problems into a 400 naming each bad entry.
pub(crate) fn scope_error(e: ScopeError, field_prefix: &str) -> ApiError {
    let mut err = ApiError::new_status(StatusCode::BAD_REQUEST, e.to_string());
    for p in &e.problems {
        let field = match p.field {
            "tools" => "exposed_tool_ids".to_owned(),
            f => format!("{field_prefix}{f}"),
        };
        err = err.with_field(&field, p.to_string());
    }
    err
}

/// An account the caller may see, or `None`.
pub(crate) async fn visible_account(
    gw: &Gateway,
    ctx: &AdminContext,
    id: AccountId,
) -> Result<Option<AccountRecord>, ApiError> {
    Ok(gw
        .store
        .get_account(id)
        .await
        .map_err(ApiError::store)?
        .filter(|a| ctx.sees(&a.tenant)))
}

/// A server the caller may see, or 404.
pub(crate) async fn visible_server(
    gw: &Gateway,
    ctx: &AdminContext,
    id: &str,
) -> Result<ServerRecord, ApiError> {
    gw.store
        .get_server(parse_id(id)?)
        .await
        .map_err(ApiError::store)?
        .filter(|s| ctx.sees(&s.tenant))
        .ok_or_else(ApiError::not_found)
}

/// Validate a scope against an account's integration.
pub(crate) async fn validate_scope(
    gw: &Gateway,
    record: &AccountRecord,
    scope: &ScopeConfig,
    tools: Option<&[String]>,
) -> Result<(), ApiError> {
    let integration = gw
        .registry
        .integration(record.integration_id)
        .ok_or_else(|| ApiError::internal("an account's integration is not loaded"))?;
    let names: Vec<&str> = integration.tool_names.iter().map(String::as_str).collect();
    Scope::parse(scope, tools, &integration.record.definition, &names)
        .map(|_| ())
        .map_err(|e| scope_error(e, "config."))
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
    let name = check_name("name", &req.name)?;
    let scope = req.config.unwrap_or_default();
    let source = match (req.toolset, req.integrated_account_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "toolset",
                "give either toolset or integrated_account_id, not both",
            ));
        }
        (None, Some(account)) => {
            let id: AccountId = account
                .parse()
                .map_err(|_| ApiError::field("integrated_account_id", "is not a UUID"))?;
            let record = visible_account(gw, &ctx, id).await?.ok_or_else(|| {
                ApiError::field("integrated_account_id", "no such integrated account")
            })?;
            validate_scope(gw, &record, &scope, req.exposed_tool_ids.as_deref()).await?;
            ServerSource::Account(id)
        }
        (toolset, None) => {
            let toolset = toolset.unwrap_or_else(|| gw.default_toolset.clone());
            if !gw.registry.has_toolset(&toolset) {
                return Err(ApiError::field(
                    "toolset",
                    format!(
                        "no toolset named {toolset:?}; configured: {}",
                        gw.registry.toolset_names().join(", ")
                    ),
                ));
            }
            if scope != ScopeConfig::default() || req.exposed_tool_ids.is_some() {
                return Err(ApiError::field(
                    "config",
                    "scopes apply to integrated-account servers only",
                ));
            }
            ServerSource::Toolset(toolset)
        }
    };
    let expires_at = req
        .expires_at
        .as_deref()
        .map(|v| parse_future_expiry("expires_at", v))
        .transpose()?;
    let (record, secret) = create_server(
        gw,
        NewServer {
            scope,
            exposed_tools: req.exposed_tool_ids,
            description: req.description,
            limits: req.limits,
            created_by: Some(ctx.id.to_string()),
            expires_at,
            ..NewServer::new(ctx.tenant(), name, source)
        },
    )
    .await?;
    let mut json = server_json(&gw.store, &record).await?;
    json.url = Some(gw.mcp_url(&secret));
    json.token = Some(secret);
    ok_json(StatusCode::CREATED, &json)
}

/// Store a new server, make it live, and return it with its one-time token.
pub(crate) async fn create_server(
    gw: &Gateway,
    new: NewServer,
) -> Result<(ServerRecord, String), ApiError> {
    let (record, minted) = gw.store.create_server(new).await.map_err(ApiError::store)?;
    gw.registry
        .refresh_server(&gw.store, record.id)
        .await
        .map_err(ApiError::store)?;
    let (_, key) =
        minted.ok_or_else(|| ApiError::internal("a server was created without a key"))?;
    tracing::info!(server = %record.id, key_prefix = %key.prefix, "server created");
    Ok((record, key.secret))
}

/// Apply a patch, make it live, and return the new record.
pub(crate) async fn update_server(
    gw: &Gateway,
    id: ServerId,
    patch: ServerPatch,
) -> Result<ServerRecord, ApiError> {
    let record = gw
        .store
        .update_server(id, patch)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(ApiError::not_found)?;
    gw.registry
        .refresh_server(&gw.store, id)
        .await
        .map_err(ApiError::store)?;
    Ok(record)
}

/// Rebuild one server's view now (after a change to what it serves).
pub(crate) async fn refresh(gw: &Gateway, id: &str) -> Result<(), ApiError> {
    let id: ServerId = id.parse().map_err(ApiError::internal)?;
    gw.registry
        .refresh_server(&gw.store, id)
        .await
        .map_err(ApiError::store)
}

fn check_sandbox(s: SandboxSettings) -> Result<SandboxSettings, ApiError> {
    if s.error_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        return Err(ApiError::field(
            "sandbox.error_rate",
            "must be between 0 and 1",
        ));
    }
    if s.error_status.is_some_and(|c| !(400..=599).contains(&c)) {
        return Err(ApiError::field(
            "sandbox.error_status",
            "must be an HTTP error status (400-599)",
        ));
    }
    if s.latency_ms.is_some_and(|l| l > 60_000) {
        return Err(ApiError::field(
            "sandbox.latency_ms",
            "must be at most 60000",
        ));
    }
    Ok(s)
}

/// DELETE /server/{id}/sandbox: forget what the server's sandbox twins created.
pub async fn reset_sandbox(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let server = visible_server(&gw, &ctx, &id).await?;
            let keys = gw
                .store
                .all_server_keys(server.id)
                .await
                .map_err(ApiError::store)?;
            let mut removed = 0;
            for k in keys {
                removed += gw
                    .sandbox
                    .reset(&gw.store, &k.id.to_string())
                    .await
                    .map_err(ApiError::store)?;
            }
            ok_json(StatusCode::OK, &serde_json::json!({ "removed": removed }))
        }
        .await,
    )
}

fn fixture_json(f: &mcpgate_store::Fixture) -> serde_json::Value {
    serde_json::json!({
        "id": f.id.to_string(),
        "tool": f.tool,
        "arguments": f.arguments,
        "result": f.result,
        "created_at": crate::timefmt::rfc3339_ms(
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(f.created_at) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        ),
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
    let list = gw
        .store
        .list_fixtures(Some(server.id))
        .await
        .map_err(ApiError::store)?;
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
    Path((id, fixture)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let server = visible_server(&gw, &ctx, &id).await?;
            let fixture: uuid::Uuid = fixture.parse().map_err(|_| ApiError::not_found())?;
            if !gw
                .store
                .delete_fixture(server.id, fixture)
                .await
                .map_err(ApiError::store)?
            {
                return Err(ApiError::not_found());
            }
            gw.fixtures.remove(server.id, fixture);
            Ok(http_util::empty(StatusCode::NO_CONTENT))
        }
        .await,
    )
}

/// Delete a server and its keys, effective at once.
pub(crate) async fn delete_server(gw: &Gateway, id: ServerId) -> Result<(), ApiError> {
    if !gw.store.delete_server(id).await.map_err(ApiError::store)? {
        return Err(ApiError::not_found());
    }
    gw.registry
        .refresh_server(&gw.store, id)
        .await
        .map_err(ApiError::store)?;
    tracing::info!(server = %id, "server deleted");
    Ok(())
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
    let after = page
        .after
        .as_deref()
        .map(parse_id::<ServerId>)
        .transpose()?;
    let (loaded, more) = gw
        .store
        .load_servers_page(ctx.tenant.as_deref(), after, page.limit)
        .await
        .map_err(ApiError::store)?;
    // Rows that do not read are listed in error, in id order, not hidden.
    let mut entries: Vec<(String, serde_json::Value)> = Vec::new();
    for r in &loaded.records {
        let json =
            serde_json::to_value(server_json(&gw.store, r).await?).map_err(ApiError::internal)?;
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
    if let Err(mcpgate_store::StoreError::Corrupt { .. }) = gw.store.get_server(parse_id(id)?).await
        && let Some(f) = gw
            .registry
            .faults(crate::registry::RecordKind::Server)
            .into_iter()
            .find(|f| f.id == id && f.tenant.as_deref().is_some_and(|t| ctx.sees(t)))
    {
        return ok_json(
            StatusCode::OK,
            &serde_json::json!({"id": f.id, "status": "error", "error": f.reason}),
        );
    }
    let record = visible_server(gw, &ctx, id).await?;
    ok_json(StatusCode::OK, &server_json(&gw.store, &record).await?)
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
    if req.config.is_some() || req.exposed_tool_ids.is_some() {
        let ServerSource::Account(account) = current.source else {
            return Err(ApiError::field(
                "config",
                "scopes apply to integrated-account servers only",
            ));
        };
        let scope = req.config.clone().unwrap_or(current.scope.clone());
        let tools = match &req.exposed_tool_ids {
            Some(t) => t.clone(),
            None => current.exposed_tools.clone(),
        };
        let record = visible_account(gw, &ctx, account)
            .await?
            .ok_or_else(|| ApiError::internal("a server's account is missing"))?;
        validate_scope(gw, &record, &scope, tools.as_deref()).await?;
    }
    let patch = ServerPatch {
        name: req
            .name
            .as_deref()
            .map(|n| check_name("name", n))
            .transpose()?,
        disabled: req.disabled,
        expires_at: match req.expires_at {
            None => None,
            Some(None) => Some(None),
            // A past instant expires the server at once, on purpose.
            Some(Some(v)) => Some(Some(parse_expiry("expires_at", &v)?)),
        },
        scope: req.config,
        exposed_tools: req.exposed_tool_ids,
        description: req.description,
        limits: req.limits,
        sandbox: req.sandbox.map(check_sandbox).transpose()?,
        modified_by: Some(ctx.id.to_string()),
        source: None,
    };
    let record = update_server(gw, current.id, patch).await?;
    ok_json(StatusCode::OK, &server_json(&gw.store, &record).await?)
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
    delete_server(gw, record.id).await?;
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}
