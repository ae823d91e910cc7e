//! `/server`: virtual MCP servers over a static toolset or an integrated account.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_catalog::{Scope, ScopeConfig, ScopeError};
use mcpgate_store::{
    AccountId, NewServer, ServerId, ServerPatch, ServerRecord, ServerSource, Store,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;

use super::{
    ApiError, ApiResult, ListParams, authorize, check_name, json_body, nullable, ok_json, page,
    parse_expiry, parse_id, respond,
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
    disabled: bool,
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
    };
    Ok(ServerJson {
        id: r.id.to_string(),
        name: r.name.clone(),
        toolset,
        integrated_account_id: account,
        config: r.scope.clone(),
        exposed_tool_ids: r.exposed_tools.clone(),
        disabled: r.disabled,
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

/// Validate a scope against an account's integration.
pub(crate) async fn validate_scope(
    gw: &Gateway,
    account: AccountId,
    scope: &ScopeConfig,
    tools: Option<&[String]>,
) -> Result<(), ApiError> {
    let record = gw
        .store
        .get_account(account)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::field("integrated_account_id", "no such integrated account"))?;
    let integration = gw
        .registry
        .integration(record.integration_id)
        .ok_or_else(|| ApiError::internal("an account's integration is not loaded"))?;
    let names: Vec<&str> = integration
        .operations
        .iter()
        .map(|o| o.tool.tool.name.as_str())
        .collect();
    Scope::parse(scope, tools, &integration.record.definition, &names)
        .map(|_| ())
        .map_err(|e| scope_error(e, "config."))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateServer {
    name: String,
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
    authorize(gw, headers)?;
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
            validate_scope(gw, id, &scope, req.exposed_tool_ids.as_deref()).await?;
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
    let expires_at = match req.expires_at.as_deref() {
        None => None,
        Some(v) => {
            let t = parse_expiry("expires_at", v)?;
            if t <= OffsetDateTime::now_utc() {
                return Err(ApiError::field("expires_at", "must be in the future"));
            }
            Some(t)
        }
    };
    let (record, _key, secret) = gw
        .store
        .create_server(NewServer {
            tenant: "default".into(),
            name,
            source,
            scope,
            exposed_tools: req.exposed_tool_ids,
            expires_at,
        })
        .await
        .map_err(ApiError::store)?;
    gw.registry
        .refresh_server(&gw.store, record.id)
        .await
        .map_err(ApiError::store)?;
    tracing::info!(server = %record.id, key_prefix = %secret.prefix, "server created");
    let mut json = server_json(&gw.store, &record).await?;
    json.url = Some(format!("{}/mcp/{}", gw.public_url, secret.secret));
    json.token = Some(secret.secret);
    ok_json(StatusCode::CREATED, &json)
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
    authorize(gw, headers)?;
    let page = page(query)?;
    let after = page
        .after
        .as_deref()
        .map(parse_id::<ServerId>)
        .transpose()?;
    let (records, more) = gw
        .store
        .list_servers_page(after, page.limit)
        .await
        .map_err(ApiError::store)?;
    let mut result = Vec::with_capacity(records.len());
    for r in &records {
        result.push(server_json(&gw.store, r).await?);
    }
    let next_cursor = more
        .then(|| records.last().map(|r| r.id.to_string()))
        .flatten();
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
    authorize(gw, headers)?;
    let record = gw
        .store
        .get_server(parse_id(id)?)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(ApiError::not_found)?;
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
    authorize(gw, headers)?;
    let id: ServerId = parse_id(id)?;
    let req: PatchServer = json_body(headers, body).await?;
    let current = gw
        .store
        .get_server(id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(ApiError::not_found)?;
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
        validate_scope(gw, account, &scope, tools.as_deref()).await?;
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
            Some(Some(v)) => Some(Some(parse_expiry("expires_at", &v)?)),
        },
        scope: req.config,
        exposed_tools: req.exposed_tool_ids,
    };
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
    authorize(gw, headers)?;
    let id: ServerId = parse_id(id)?;
    if !gw.store.delete_server(id).await.map_err(ApiError::store)? {
        return Err(ApiError::not_found());
    }
    gw.registry
        .refresh_server(&gw.store, id)
        .await
        .map_err(ApiError::store)?;
    tracing::info!(server = %id, "server deleted");
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}
