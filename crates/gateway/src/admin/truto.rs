//! Surface A, Truto style: MCP servers of an integrated account.
//!
//! `POST|GET /integrated-account/{integrated_account_id}/mcp`,
//! `GET|PATCH|DELETE /integrated-account/{integrated_account_id}/mcp/{id}`.
//! A thin facade over the server model: the same operations, scope
//! validation, keys and limits as `/server` ([`crate::control::servers`]),
//! in the field names Truto documents.

use super::{Admin, ApiResult};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use mcpgate_catalog::ScopeConfig;
use mcpgate_store::{AccountRecord, Limits, ServerRecord, ServerSource};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::{AdminContext, ApiError, ListParams, json_body, nullable, ok_json, page, paginate};
use crate::Gateway;
use crate::control::servers::{AccountServerSpec, ServerChanges};
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
    let control = gw.control();
    let account = control.account(ctx, account).await?;
    let server = control.server(ctx, id).await?;
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
    Admin(ctx): Admin,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let control = gw.control();
    let account = control.account(&ctx, &account).await?;
    let req: CreateMcp = json_body(&headers, body).await?;
    let spec = AccountServerSpec {
        name: req.name,
        config: req.config,
        expires_at: req.expires_at,
        limits: req.limits,
    };
    let (record, secret) = control.create_account_server(&ctx, &account, spec).await?;
    let mut v = mcp_json(&record, &account);
    v["url"] = json!(gw.mcp_url(&secret));
    v["token"] = json!(secret);
    ok_json(StatusCode::CREATED, &v)
}

/// GET /integrated-account/{integrated_account_id}/mcp
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(account): Path<String>,
    query: ListParams,
) -> ApiResult {
    let control = gw.control();
    let account = control.account(&ctx, &account).await?;
    let page = page(query)?;
    let all = control.account_servers(account.id).await?;
    let (records, next) = paginate(all, |r| r.id.to_string(), &page);
    let result: Vec<Value> = records.iter().map(|r| mcp_json(r, &account)).collect();
    ok_json(
        StatusCode::OK,
        &json!({ "result": result, "next_cursor": next }),
    )
}

/// GET /integrated-account/{integrated_account_id}/mcp/{id}
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path((account, id)): Path<(String, String)>,
) -> ApiResult {
    let (account, server) = server_of(&gw, &ctx, &account, &id).await?;
    ok_json(StatusCode::OK, &mcp_json(&server, &account))
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
    Admin(ctx): Admin,
    Path((account, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (account, server) = server_of(&gw, &ctx, &account, &id).await?;
    let req: PatchMcp = json_body(&headers, body).await?;
    let changes = ServerChanges {
        name: req.name,
        expires_at: req.expires_at,
        config: req.config,
        limits: req.limits,
        ..ServerChanges::default()
    };
    let record = gw.control().update_server(&ctx, &server, changes).await?;
    ok_json(StatusCode::OK, &mcp_json(&record, &account))
}

/// DELETE /integrated-account/{integrated_account_id}/mcp/{id}
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path((account, id)): Path<(String, String)>,
) -> ApiResult {
    let (_, server) = server_of(&gw, &ctx, &account, &id).await?;
    gw.control().delete_server(server.id).await?;
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}
