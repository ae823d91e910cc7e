//! Surface A, Truto style: MCP servers of an integrated account.
//!
//! `POST|GET /integrated-account/{integrated_account_id}/mcp`,
//! `GET|PATCH|DELETE /integrated-account/{integrated_account_id}/mcp/{id}`.
//! A thin facade over the server model: the same scope validation, keys and
//! limits as `/server`, in the field names Truto documents.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_catalog::ScopeConfig;
use mcpgate_store::{AccountRecord, Limits, NewServer, ServerPatch, ServerRecord, ServerSource};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::accounts::find as find_account;
use super::servers::{create_server, delete_server, update_server, validate_scope, visible_server};
use super::{
    AdminContext, ApiError, ListParams, authorize, check_name, json_body, nullable, ok_json, page,
    paginate, parse_expiry, parse_future_expiry, respond,
};
use crate::Gateway;
use crate::http_util;
use crate::timefmt::rfc3339_ms;

fn mcp_json(r: &ServerRecord, account: &AccountRecord) -> Value {
    json!({
        "id": r.id.to_string(),
        "name": r.name,
        "config": r.scope,
        "integrated_account_id": account.id.to_string(),
        "created_by": r.created_by,
        "created_at": rfc3339_ms(r.created_at),
        "updated_at": rfc3339_ms(r.updated_at),
        "expires_at": r.expires_at.map(rfc3339_ms),
        "limits": r.limits,
    })
}

/// The account and one of its (Truto-managed) servers, or 404.
async fn server_of(
    gw: &Gateway,
    ctx: &AdminContext,
    account: &str,
    id: &str,
) -> Result<(AccountRecord, ServerRecord), ApiError> {
    let account = find_account(gw, ctx, account).await?;
    let server = visible_server(gw, ctx, id).await?;
    if server.source != ServerSource::Account(account.id) || server.integration_id.is_some() {
        return Err(ApiError::not_found());
    }
    Ok((account, server))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMcp {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    config: Option<ScopeConfig>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    limits: Limits,
}

/// POST /integrated-account/{integrated_account_id}/mcp
pub async fn create(
    State(gw): State<Arc<Gateway>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let account = find_account(&gw, &ctx, &account).await?;
            let req: CreateMcp = json_body(&headers, body).await?;
            let name = match req.name {
                Some(n) => check_name("name", &n)?,
                None => account.name.clone().unwrap_or_else(|| "MCP server".into()),
            };
            let scope = req.config.unwrap_or_default();
            validate_scope(&gw, &account, &scope, None).await?;
            let expires_at = req
                .expires_at
                .as_deref()
                .map(|v| parse_future_expiry("expires_at", v))
                .transpose()?;
            let (record, secret) = create_server(
                &gw,
                NewServer {
                    scope,
                    limits: req.limits,
                    created_by: Some(ctx.id.to_string()),
                    expires_at,
                    ..NewServer::new(
                        account.tenant.clone(),
                        name,
                        ServerSource::Account(account.id),
                    )
                },
            )
            .await?;
            let mut v = mcp_json(&record, &account);
            v["url"] = json!(gw.mcp_url(&secret));
            v["token"] = json!(secret);
            ok_json(StatusCode::CREATED, &v)
        }
        .await,
    )
}

/// GET /integrated-account/{integrated_account_id}/mcp
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    query: ListParams,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let account = find_account(&gw, &ctx, &account).await?;
            let page = page(query)?;
            let all = gw
                .store
                .list_account_servers(account.id)
                .await
                .map_err(ApiError::store)?;
            let (records, next) = paginate(all, |r| r.id.to_string(), &page);
            let result: Vec<Value> = records.iter().map(|r| mcp_json(r, &account)).collect();
            ok_json(
                StatusCode::OK,
                &json!({ "result": result, "next_cursor": next }),
            )
        }
        .await,
    )
}

/// GET /integrated-account/{integrated_account_id}/mcp/{id}
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let (account, server) = server_of(&gw, &ctx, &account, &id).await?;
            ok_json(StatusCode::OK, &mcp_json(&server, &account))
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchMcp {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    config: Option<ScopeConfig>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<String>>,
    #[serde(default)]
    limits: Option<Limits>,
}

/// PATCH /integrated-account/{integrated_account_id}/mcp/{id}
pub async fn patch(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let (account, server) = server_of(&gw, &ctx, &account, &id).await?;
            let req: PatchMcp = json_body(&headers, body).await?;
            if let Some(scope) = &req.config {
                validate_scope(&gw, &account, scope, server.exposed_tools.as_deref()).await?;
            }
            let patch = ServerPatch {
                name: req
                    .name
                    .as_deref()
                    .map(|n| check_name("name", n))
                    .transpose()?,
                expires_at: match req.expires_at {
                    None => None,
                    Some(None) => Some(None),
                    // A past instant expires the server at once, on purpose.
                    Some(Some(v)) => Some(Some(parse_expiry("expires_at", &v)?)),
                },
                scope: req.config,
                limits: req.limits,
                modified_by: Some(ctx.id.to_string()),
                ..ServerPatch::default()
            };
            let record = update_server(&gw, server.id, patch).await?;
            ok_json(StatusCode::OK, &mcp_json(&record, &account))
        }
        .await,
    )
}

/// DELETE /integrated-account/{integrated_account_id}/mcp/{id}
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let (_, server) = server_of(&gw, &ctx, &account, &id).await?;
            delete_server(&gw, server.id).await?;
            Ok(http_util::empty(StatusCode::NO_CONTENT))
        }
        .await,
    )
}
