//! Surface B, Fruxon style: per-integration MCP settings of a tenant.
//!
//! `GET|PATCH /v1/tenants/{tenant}/integrations/{integration}/mcp` and
//! `POST …/mcp:rotateKey`; the JSON-RPC endpoint `…/mcp:call` lives in the
//! data plane. Errors are RFC 7807 problem details, fields in camelCase.
//! The settings are one server per (tenant, integration). Mapping only:
//! the operations are [`crate::control::settings`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_store::{IntegrationRecord, KeyRecord, Limits, ServerRecord, ServerSource};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use super::{
    AdminContext, ApiError, authorize, check_tenant, json_body, json_body_or_default, ok_json,
};
use crate::Gateway;
use crate::control::ControlError;
use crate::control::keys::grace;
use crate::control::settings::SettingsChanges;
use crate::timefmt::unix_ms;

/// Answer with problem details on error.
fn problem(result: Result<Response, ApiError>, uri: &Uri) -> Response {
    result.unwrap_or_else(|e| e.into_problem(uri.path()))
}

/// A control-plane error with the fields named as this surface names them.
fn camel(e: ControlError) -> ApiError {
    e.rename_field("config_id", "configId")
        .rename_field("grace_seconds", "graceSeconds")
        .into()
}

/// The caller inside the path's tenant, and the integration it names.
async fn resolve(
    gw: &Gateway,
    headers: &HeaderMap,
    tenant: &str,
    integration: &str,
) -> Result<(AdminContext, IntegrationRecord), ApiError> {
    let ctx = authorize(gw, headers)?;
    check_tenant("tenant", tenant)?;
    let ctx = ctx.within(tenant).ok_or_else(ApiError::not_found)?;
    let integration = gw
        .control()
        .find_integration(&ctx, integration)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((ctx, integration))
}

/// The settings as they stand now, with a freshly minted key's secret.
async fn settings(
    gw: &Gateway,
    ctx: &AdminContext,
    integration: &IntegrationRecord,
    secret: Option<&str>,
) -> Result<Response, ApiError> {
    let (server, key) = gw.control().integration_settings(ctx, integration).await?;
    ok_json(
        StatusCode::OK,
        &settings_json(
            gw,
            ctx.tenant(),
            integration,
            server.as_ref(),
            key.as_ref(),
            secret,
        ),
    )
}

fn settings_json(
    gw: &Gateway,
    tenant: &str,
    integration: &IntegrationRecord,
    server: Option<&ServerRecord>,
    key: Option<&KeyRecord>,
    secret: Option<&str>,
) -> Value {
    let base = format!(
        "{}/v1/tenants/{tenant}/integrations/{}",
        gw.public_url, integration.id
    );
    let config_id = match server.map(|s| &s.source) {
        Some(ServerSource::Account(a)) => a.0,
        _ => Uuid::nil(),
    };
    json!({
        "integrationId": integration.id.to_string(),
        "enabled": server.is_some_and(|s| !s.disabled),
        "configId": config_id.to_string(),
        "exposedToolIds": server.and_then(|s| s.exposed_tools.clone()),
        "description": server.and_then(|s| s.description.clone()),
        "apiKeyId": key.map_or(Uuid::nil(), |k| k.id).to_string(),
        "callUrl": format!("{base}/mcp:call"),
        "testUrl": format!("{base}/mcp:test"),
        "createdAt": server.map_or(0, |s| unix_ms(s.created_at)),
        "modifiedAt": server.map_or(0, |s| unix_ms(s.updated_at)),
        "keyPrefix": key.map(|k| k.prefix.clone()),
        "apiKey": secret,
        "limits": server.map(|s| s.limits),
    })
}

/// GET /v1/tenants/{tenant}/integrations/{integration}/mcp
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Path((tenant, integration)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    problem(
        async {
            let (ctx, integration) = resolve(&gw, &headers, &tenant, &integration).await?;
            settings(&gw, &ctx, &integration, None).await
        }
        .await,
        &uri,
    )
}

/// PATCH body; `null` and absent fields both leave a setting as it is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchSettings {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    config_id: Option<String>,
    #[serde(default)]
    exposed_tool_ids: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    limits: Option<Limits>,
}

/// PATCH /v1/tenants/{tenant}/integrations/{integration}/mcp
pub async fn patch(
    State(gw): State<Arc<Gateway>>,
    Path((tenant, integration)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    problem(
        async {
            let (ctx, integration) = resolve(&gw, &headers, &tenant, &integration).await?;
            let req: PatchSettings = json_body(&headers, body).await?;
            let config_id = req
                .config_id
                .as_deref()
                .map(|raw| {
                    raw.parse::<Uuid>()
                        .map_err(|_| ApiError::field("configId", "is not a UUID"))
                })
                .transpose()?;
            let changes = SettingsChanges {
                enabled: req.enabled,
                config_id,
                exposed_tool_ids: req.exposed_tool_ids,
                description: req.description,
                limits: req.limits,
            };
            let secret = gw
                .control()
                .save_integration_settings(&ctx, &integration, changes)
                .await
                .map_err(camel)?;
            settings(&gw, &ctx, &integration, secret.as_deref()).await
        }
        .await,
        &uri,
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RotateBody {
    #[serde(default)]
    grace_seconds: Option<u64>,
}

/// POST /v1/tenants/{tenant}/integrations/{integration}/mcp:rotateKey
pub async fn rotate_key(
    State(gw): State<Arc<Gateway>>,
    Path((tenant, integration)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    problem(
        async {
            let (ctx, integration) = resolve(&gw, &headers, &tenant, &integration).await?;
            let req: RotateBody = json_body_or_default(&headers, body).await?;
            let grace = grace(req.grace_seconds).map_err(camel)?;
            let secret = gw
                .control()
                .rotate_integration_key(&ctx, &integration, grace)
                .await?;
            settings(&gw, &ctx, &integration, Some(&secret)).await
        }
        .await,
        &uri,
    )
}
