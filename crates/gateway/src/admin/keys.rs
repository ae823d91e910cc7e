//! `/server/{id}/keys`: a server's API keys — list, add, revoke, rotate.
//! Secrets are shown once, in the answer that mints them.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_store::{KeyRecord, ServerId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use super::servers::visible_server;
use super::{ApiError, authorize, json_body, ok_json, parse_future_expiry, respond};
use crate::Gateway;
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

/// Grace period from a request, bounded to a week.
pub(crate) fn grace(seconds: Option<u64>) -> Result<time::Duration, ApiError> {
    match seconds {
        None => Ok(time::Duration::ZERO),
        Some(s) if s <= 7 * 24 * 3600 => Ok(time::Duration::seconds(s as i64)),
        Some(_) => Err(ApiError::field(
            "grace_seconds",
            "must be at most 604800 (a week)",
        )),
    }
}

/// Rotate every live key of a server: a new key now, the old ones revoked
/// now or after the grace period. Effective at once on this gateway.
pub(crate) async fn rotate(
    gw: &Gateway,
    server: ServerId,
    grace: time::Duration,
) -> Result<(KeyRecord, String), ApiError> {
    let (record, key) = gw
        .store
        .rotate_keys(server, grace)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(ApiError::not_found)?;
    gw.registry
        .refresh_server(&gw.store, server)
        .await
        .map_err(ApiError::store)?;
    tracing::info!(server = %server, key_prefix = %key.prefix, grace_secs = grace.whole_seconds(), "keys rotated");
    Ok((record, key.secret))
}

/// GET /server/{id}/keys
pub async fn list(
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
            let result: Vec<Value> = keys.iter().map(key_json).collect();
            ok_json(
                StatusCode::OK,
                &json!({ "result": result, "next_cursor": null }),
            )
        }
        .await,
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
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let server = visible_server(&gw, &ctx, &id).await?;
            let req: CreateKey = json_body(&headers, body).await?;
            let expires_at = req
                .expires_at
                .as_deref()
                .map(|e| parse_future_expiry("expires_at", e))
                .transpose()?;
            let (record, key) = gw
                .store
                .add_key(server.id, expires_at)
                .await
                .map_err(ApiError::store)?
                .ok_or_else(ApiError::not_found)?;
            gw.registry
                .refresh_server(&gw.store, server.id)
                .await
                .map_err(ApiError::store)?;
            ok_json(StatusCode::CREATED, &with_secret(&gw, &record, &key.secret))
        }
        .await,
    )
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
    Path((id, key)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<GraceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let server = visible_server(&gw, &ctx, &id).await?;
            let Query(q) = query.map_err(|e| ApiError::field("grace_seconds", e.body_text()))?;
            let key: Uuid = key.parse().map_err(|_| ApiError::not_found())?;
            if !gw
                .store
                .revoke_key(server.id, key, grace(q.grace_seconds)?)
                .await
                .map_err(ApiError::store)?
            {
                return Err(ApiError::not_found());
            }
            gw.registry
                .refresh_server(&gw.store, server.id)
                .await
                .map_err(ApiError::store)?;
            Ok(http_util::empty(StatusCode::NO_CONTENT))
        }
        .await,
    )
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
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let server = visible_server(&gw, &ctx, &id).await?;
            let req: RotateBody = super::json_body_or_default(&headers, body).await?;
            let (record, secret) = rotate(&gw, server.id, grace(req.grace_seconds)?).await?;
            ok_json(StatusCode::OK, &with_secret(&gw, &record, &secret))
        }
        .await,
    )
}
