//! `/admin-token`: tenant-scoped admin tokens. Only a super-admin mints and
//! revokes them; the secret is shown once. Mapping only: the operations
//! are [`crate::control::tokens`].

use super::{Admin, ApiResult};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

use super::{authorize, json_body, ok_json, respond};
use crate::Gateway;
use crate::http_util;
use crate::timefmt::rfc3339_ms;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    tenant: String,
}

/// POST /admin-token
pub async fn create(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let control = gw.control();
            control.require_super(&ctx)?;
            let req: CreateToken = json_body(&headers, body).await?;
            let (record, key) = control.create_admin_token(&ctx, &req.tenant).await?;
            ok_json(
                StatusCode::CREATED,
                &json!({
                    "id": record.id.to_string(), "tenant": record.tenant, "prefix": record.prefix,
                    "created_at": rfc3339_ms(record.created_at), "token": key.secret,
                }),
            )
        }
        .await,
    )
}

/// GET /admin-token
pub async fn list(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let tokens = gw.control().admin_tokens(&ctx).await?;
            let result: Vec<_> = tokens
                .iter()
                .map(|t| {
                    json!({"id": t.id.to_string(), "tenant": t.tenant, "prefix": t.prefix,
                           "created_at": rfc3339_ms(t.created_at)})
                })
                .collect();
            ok_json(
                StatusCode::OK,
                &json!({ "result": result, "next_cursor": null }),
            )
        }
        .await,
    )
}

/// DELETE /admin-token/{id}
pub async fn revoke(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    gw.control().revoke_admin_token(&ctx, &id).await?;
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}
