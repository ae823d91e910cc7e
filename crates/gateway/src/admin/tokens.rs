//! `/admin-token`: tenant-scoped admin tokens. Only a super-admin mints and
//! revokes them; the secret is shown once.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

use super::{AdminContext, ApiError, authorize, check_tenant, json_body, ok_json, respond};
use crate::Gateway;
use crate::http_util;
use crate::timefmt::rfc3339_ms;

fn require_super(ctx: &AdminContext) -> Result<(), ApiError> {
    if ctx.is_super() {
        Ok(())
    } else {
        Err(ApiError::new_status(
            StatusCode::FORBIDDEN,
            "only a super-admin token (MCPGATE_ADMIN_TOKEN or the bootstrap token) manages admin tokens",
        ))
    }
}

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
            require_super(&ctx)?;
            let req: CreateToken = json_body(&headers, body).await?;
            let tenant = req.tenant.trim();
            check_tenant("tenant", tenant)?;
            let (record, key) = gw
                .store
                .create_admin_token(Some(tenant))
                .await
                .map_err(ApiError::store)?;
            gw.admin.reload(&gw.store).await.map_err(ApiError::store)?;
            tracing::info!(admin_token = %record.id, tenant, prefix = %record.prefix, "admin token created");
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
            let tokens = gw
                .store
                .list_admin_tokens()
                .await
                .map_err(ApiError::store)?;
            let result: Vec<_> = tokens
                .iter()
                .filter(|t| ctx.is_super() || t.tenant == ctx.tenant)
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
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            require_super(&ctx)?;
            let id: Uuid = id.parse().map_err(|_| ApiError::not_found())?;
            if !gw
                .store
                .revoke_admin_token(id)
                .await
                .map_err(ApiError::store)?
            {
                return Err(ApiError::not_found());
            }
            gw.admin.reload(&gw.store).await.map_err(ApiError::store)?;
            Ok(http_util::empty(StatusCode::NO_CONTENT))
        }
        .await,
    )
}
