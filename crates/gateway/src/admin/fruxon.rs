//! Surface B, Fruxon style: per-integration MCP settings of a tenant.
//!
//! `GET|PATCH /v1/tenants/{tenant}/integrations/{integration}/mcp` and
//! `POST …/mcp:rotateKey`; the JSON-RPC endpoint `…/mcp:call` lives in the
//! data plane. Errors are RFC 7807 problem details. The settings are one
//! server per (tenant, integration), managed here.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_catalog::{Scope, ScopeConfig};
use mcpgate_store::{
    IntegrationRecord, KeyRecord, Limits, NewServer, ServerPatch, ServerRecord, ServerSource,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use super::integrations::find_by_id_or_name;
use super::keys::{grace, rotate};
use super::servers::{scope_error, visible_account};
use super::{
    AdminContext, ApiError, authorize, check_tenant, json_body, json_body_or_default, ok_json,
};
use crate::Gateway;

fn ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Answer with problem details on error.
fn problem(result: Result<Response, ApiError>, uri: &Uri) -> Response {
    result.unwrap_or_else(|e| e.into_problem(uri.path()))
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
    let integration = find_by_id_or_name(gw, &ctx, integration)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((ctx, integration))
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
        "createdAt": server.map_or(0, |s| ms(s.created_at)),
        "modifiedAt": server.map_or(0, |s| ms(s.updated_at)),
        "keyPrefix": key.map(|k| k.prefix.clone()),
        "apiKey": secret,
        "limits": server.map(|s| s.limits),
    })
}

/// The settings server and its newest live key.
async fn current(
    gw: &Gateway,
    tenant: &str,
    integration: &IntegrationRecord,
) -> Result<(Option<ServerRecord>, Option<KeyRecord>), ApiError> {
    let server = gw
        .store
        .integration_server(tenant, integration.id)
        .await
        .map_err(ApiError::store)?;
    let key = match &server {
        Some(s) => gw
            .store
            .list_server_keys(s.id)
            .await
            .map_err(ApiError::store)?
            .into_iter()
            .next_back(),
        None => None,
    };
    Ok((server, key))
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
            let (server, key) = current(&gw, ctx.tenant(), &integration).await?;
            ok_json(
                StatusCode::OK,
                &settings_json(
                    &gw,
                    ctx.tenant(),
                    &integration,
                    server.as_ref(),
                    key.as_ref(),
                    None,
                ),
            )
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
        patch_inner(&gw, &tenant, &integration, &headers, body).await,
        &uri,
    )
}

async fn patch_inner(
    gw: &Gateway,
    tenant: &str,
    integration: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (ctx, integration) = resolve(gw, headers, tenant, integration).await?;
    let req: PatchSettings = json_body(headers, body).await?;

    // configId: an account of this tenant and integration; all zeros unbinds.
    let source = match req.config_id.as_deref() {
        None => None,
        Some(raw) => {
            let id: Uuid = raw
                .parse()
                .map_err(|_| ApiError::field("configId", "is not a UUID"))?;
            if id.is_nil() {
                Some(ServerSource::Unbound)
            } else {
                let account = visible_account(gw, &ctx, mcpgate_store::AccountId(id))
                    .await?
                    .filter(|a| a.integration_id == integration.id)
                    .ok_or_else(|| {
                        ApiError::field(
                            "configId",
                            "no integrated account of this integration has that id",
                        )
                    })?;
                Some(ServerSource::Account(account.id))
            }
        }
    };
    // exposedToolIds: every id must be a tool of the integration; [] clears
    // the list (all tools), since null means "keep".
    let exposed = match req.exposed_tool_ids {
        None => None,
        Some(list) if list.is_empty() => Some(None),
        Some(list) => {
            let entry = gw
                .registry
                .integration(integration.id)
                .ok_or_else(|| ApiError::internal("integration not loaded"))?;
            let names: Vec<&str> = entry.tool_names.iter().map(String::as_str).collect();
            Scope::parse(
                &ScopeConfig::default(),
                Some(&list),
                &integration.definition,
                &names,
            )
            .map_err(|e| scope_error(e, ""))?;
            Some(Some(list))
        }
    };

    // Creating the settings, changing them and minting the first key are
    // one store transaction: concurrent first PATCHes all succeed, one of
    // them creates the server and one (the first to enable it) gets the key.
    let label = integration
        .definition
        .label
        .clone()
        .unwrap_or_else(|| integration.definition.name.clone());
    let (server, minted) = gw
        .store
        .save_integration_settings(
            NewServer {
                exposed_tools: exposed.clone().flatten(),
                description: req.description.clone(),
                limits: req.limits.unwrap_or_default(),
                integration_id: Some(integration.id),
                disabled: !req.enabled.unwrap_or(false),
                created_by: Some(ctx.id.to_string()),
                mint_key: false,
                ..NewServer::new(
                    ctx.tenant(),
                    format!("{label} MCP"),
                    source.clone().unwrap_or(ServerSource::Unbound),
                )
            },
            ServerPatch {
                disabled: req.enabled.map(|e| !e),
                source,
                exposed_tools: exposed,
                description: req.description.map(Some),
                limits: req.limits,
                modified_by: Some(ctx.id.to_string()),
                ..ServerPatch::default()
            },
        )
        .await
        .map_err(ApiError::store)?;
    gw.registry
        .refresh_server(&gw.store, server.id)
        .await
        .map_err(ApiError::store)?;
    let secret = minted.map(|(_, key)| {
        tracing::info!(server = %server.id, key_prefix = %key.prefix, "integration MCP key minted");
        key.secret
    });
    let (server, key) = current(gw, ctx.tenant(), &integration).await?;
    ok_json(
        StatusCode::OK,
        &settings_json(
            gw,
            ctx.tenant(),
            &integration,
            server.as_ref(),
            key.as_ref(),
            secret.as_deref(),
        ),
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
            let grace = grace(req.grace_seconds).map_err(|_| {
                ApiError::field("graceSeconds", "must be at most 604800 (a week)")
            })?;
            let (server, key) = current(&gw, ctx.tenant(), &integration).await?;
            let (Some(server), Some(_)) = (server, key) else {
                return Err(ApiError::new_status(
                    StatusCode::CONFLICT,
                    "this integration's MCP has no key yet; enable it first (PATCH …/mcp {\"enabled\": true})",
                ));
            };
            let (_, secret) = rotate(&gw, server.id, grace).await?;
            let (server, key) = current(&gw, ctx.tenant(), &integration).await?;
            ok_json(
                StatusCode::OK,
                &settings_json(&gw, ctx.tenant(), &integration, server.as_ref(), key.as_ref(), Some(&secret)),
            )
        }
        .await,
        &uri,
    )
}
