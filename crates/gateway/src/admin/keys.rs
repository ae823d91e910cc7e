//! `/server/{id}/keys`: a server's API keys — list, add, revoke, rotate.
//! Secrets are shown once, in the answer that mints them. Mapping only:
//! the operations are [`crate::control::keys`].

use super::{Admin, ApiResult};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use mcpgate_store::KeyRecord;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::{ApiError, json_body, ok_json};
use crate::Gateway;
use crate::control::keys::grace;
use crate::http_util;
use crate::timefmt::rfc3339_ms;

/// A key without its secret.
pub(crate) fn key_json(k: &KeyRecord) -> Value {
    json!({
        "id": k.id.to_string(),
        "prefix": k.prefix,
        "created_at": rfc3339_ms(k.created_at),
        "expires_at": k.expires_at.map(rfc3339_ms),
        "revoked_at": k.revoked_at.map(rfc3339_ms),
        "last_used_at": k.last_used_at.map(rfc3339_ms),
    })
}

fn with_secret(gw: &Gateway, k: &KeyRecord, secret: &str) -> Value {
    let mut v = key_json(k);
    v["token"] = json!(secret);
    v["url"] = json!(gw.mcp_url(secret));
    v
}

/// GET /server/{id}/keys
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    let control = gw.control();
    let server = control.server(&ctx, &id).await?;
    let keys = control.keys(server.id).await?;
    let result: Vec<Value> = keys.iter().map(key_json).collect();
    ok_json(
        StatusCode::OK,
        &json!({ "result": result, "next_cursor": null }),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    #[serde(default)]
    expires_at: Option<String>,
}

/// POST /server/{id}/keys: one more key.
pub async fn create(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let control = gw.control();
    let server = control.server(&ctx, &id).await?;
    let req: CreateKey = json_body(&headers, body).await?;
    let (record, secret) = control
        .add_key(server.id, req.expires_at.as_deref())
        .await?;
    ok_json(StatusCode::CREATED, &with_secret(&gw, &record, &secret))
}

/// Query of key revocation.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GraceQuery {
    /// Keep the key valid this long.
    #[serde(default)]
    pub grace_seconds: Option<u64>,
}

/// DELETE /server/{id}/keys/{key_id}?grace_seconds=N
pub async fn revoke(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path((id, key)): Path<(String, String)>,
    query: Result<Query<GraceQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let control = gw.control();
    let server = control.server(&ctx, &id).await?;
    let Query(q) = query.map_err(|e| ApiError::field("grace_seconds", e.body_text()))?;
    control.revoke_key(server.id, &key, q.grace_seconds).await?;
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    grace_seconds: Option<u64>,
}

/// POST /server/{id}/rotate: replace the server's keys with one new key.
pub async fn rotate_handler(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let control = gw.control();
    let server = control.server(&ctx, &id).await?;
    let req: RotateBody = super::json_body_or_default(&headers, body).await?;
    let (record, secret) = control
        .rotate_keys(server.id, grace(req.grace_seconds)?)
        .await?;
    ok_json(StatusCode::OK, &with_secret(&gw, &record, &secret))
}
