//! `/integrated-account`: one customer's connection to an integration. The
//! credentials are write-only: responses only describe their type. Mapping
//! only: the operations are [`crate::control::accounts`].

use super::Admin;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_catalog::Credentials;
use mcpgate_store::AccountRecord;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

use super::{
    ApiResult, ListParams, authorize, json_body, nullable, ok_json, page, paginate, respond,
};
use crate::Gateway;
use crate::control::accounts::{AccountChanges, AccountSpec};
use crate::http_util;
use crate::timefmt::rfc3339_ms;

fn account_json(gw: &Gateway, r: &AccountRecord) -> Value {
    json!({
        "id": r.id.to_string(),
        "integration_id": r.integration_id.to_string(),
        "integration": gw.control().integration_name(r.integration_id),
        "name": r.name,
        "base_url": r.base_url,
        "context": r.context,
        "credentials": r.credentials.describe(),
        "created_at": rfc3339_ms(r.created_at),
        "updated_at": rfc3339_ms(r.updated_at),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAccount {
    #[serde(default)]
    integration_id: Option<String>,
    #[serde(default)]
    integration: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    context: Map<String, Value>,
    credentials: Credentials,
}

/// POST /integrated-account
pub async fn create(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> Response {
    respond(create_inner(&gw, &headers, body).await)
}

async fn create_inner(gw: &Gateway, headers: &HeaderMap, body: Body) -> ApiResult {
    let ctx = authorize(gw, headers)?;
    let req: CreateAccount = json_body(headers, body).await?;
    let spec = AccountSpec {
        integration_id: req.integration_id,
        integration: req.integration,
        name: req.name,
        base_url: req.base_url,
        context: req.context,
        credentials: req.credentials,
    };
    let record = gw.control().create_account(&ctx, spec).await?;
    ok_json(StatusCode::CREATED, &account_json(gw, &record))
}

/// GET /integrated-account
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    query: ListParams,
) -> ApiResult {
    let page = page(query)?;
    let loaded = gw.control().list_accounts(&ctx).await?;
    // Accounts that do not read (e.g. credentials sealed under
    // another key) are listed in error, not hidden.
    let readable = loaded
        .records
        .iter()
        .map(|a| (a.id.to_string(), account_json(&gw, a)))
        .collect();
    let all = super::with_unreadable(&ctx, readable, &loaded.unreadable);
    let (entries, next) = paginate(all, |(id, _)| id.clone(), &page);
    let result: Vec<Value> = entries.into_iter().map(|(_, v)| v).collect();
    ok_json(
        StatusCode::OK,
        &json!({ "result": result, "next_cursor": next }),
    )
}

/// GET /integrated-account/{id}
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    let record = gw.control().account(&ctx, &id).await?;
    ok_json(StatusCode::OK, &account_json(&gw, &record))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchAccount {
    #[serde(default, deserialize_with = "nullable")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    base_url: Option<Option<String>>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
    #[serde(default)]
    credentials: Option<Credentials>,
}

/// PATCH /integrated-account/{id}
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
    let control = gw.control();
    let current = control.account(&ctx, id).await?;
    let req: PatchAccount = json_body(headers, body).await?;
    let changes = AccountChanges {
        name: req.name,
        base_url: req.base_url,
        context: req.context,
        credentials: req.credentials,
    };
    let record = control.update_account(&ctx, &current, changes).await?;
    ok_json(StatusCode::OK, &account_json(gw, &record))
}

/// DELETE /integrated-account/{id}
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    let control = gw.control();
    let record = control.account(&ctx, &id).await?;
    control.delete_account(record.id).await?;
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}
