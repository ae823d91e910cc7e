//! `/integration`: integration definitions, created from a definition or
//! imported from an OpenAPI document.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_catalog::openapi::{self, ImportOptions};
use mcpgate_catalog::{DefinitionError, Integration, UrlProvenance};
use mcpgate_store::{IntegrationId, IntegrationRecord, Origin};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::{
    AdminContext, ApiError, ApiResult, ListParams, authorize, document_body, ok_json, page,
    paginate, parse_id, respond,
};
use crate::Gateway;
use crate::http_util;
use crate::timefmt::rfc3339_ms;

fn integration_json(gw: &Gateway, r: &IntegrationRecord, full: bool) -> Value {
    let d = &r.definition;
    let tools: Vec<String> = gw
        .registry
        .integration(r.id)
        .map(|e| e.tool_names.clone())
        .unwrap_or_default();
    let (status, error) = super::fault_fields(
        gw,
        crate::registry::RecordKind::Integration,
        &r.tenant,
        &r.id.to_string(),
    );
    let mut v = json!({
        "status": status,
        "error": error,
        "id": r.id.to_string(),
        "name": d.name,
        "label": d.label,
        "origin": r.origin.as_str(),
        "base_url": d.base_url,
        "auth": d.auth,
        "resources": d.resources.iter().map(|res| json!({
            "name": res.name,
            "tags": res.tags,
            "methods": res.methods.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "tools": tools,
        "created_at": rfc3339_ms(r.created_at),
        "updated_at": rfc3339_ms(r.updated_at),
    });
    if full {
        v["definition"] = serde_json::to_value(d).expect("a definition serializes");
    }
    v
}

fn definition_error(e: DefinitionError, field: &str) -> ApiError {
    let at = if e.path.is_empty() {
        field.to_owned()
    } else {
        format!("{field}.{}", e.path)
    };
    ApiError::field(&at, e.message)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIntegration {
    #[serde(default)]
    definition: Option<Value>,
    #[serde(default)]
    openapi: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
}

/// An import's skipped operations as the admin API lists them.
fn skipped_json(skipped: &[openapi::Skipped]) -> Value {
    Value::Array(
        skipped
            .iter()
            .map(|s| {
                json!({
                    "method": s.method,
                    "path": s.path,
                    "operation_id": s.operation_id,
                    "reason": s.reason.kind(),
                    "message": s.reason.to_string(),
                })
            })
            .collect(),
    )
}

/// Convert a request body's definition or OpenAPI document; also returns
/// the import's warnings and skipped operations.
fn convert(
    gw: &Gateway,
    req: CreateIntegration,
    by: UrlProvenance,
) -> Result<(Integration, Vec<String>, Value), ApiError> {
    let base_url_given = req.base_url.is_some();
    match (req.definition, req.openapi) {
        (Some(def), None) => {
            let mut integration =
                Integration::from_json(def).map_err(|e| definition_error(e, "definition"))?;
            if let Some(name) = req.name {
                integration.name = name;
            }
            if let Some(url) = req.base_url {
                integration.base_url = url;
            }
            integration
                .validate()
                .map_err(|e| definition_error(e, "definition"))?;
            super::egress::check_integration(
                gw,
                if base_url_given {
                    "base_url"
                } else {
                    "definition.base_url"
                },
                "definition.auth.token_url",
                &integration,
                by,
            )?;
            Ok((integration, Vec::new(), json!([])))
        }
        (None, Some(doc)) => {
            let doc = match doc {
                Value::String(text) => {
                    openapi::parse_document(&text).map_err(|e| definition_error(e, "openapi"))?
                }
                other => other,
            };
            let imported = openapi::import(
                &doc,
                &ImportOptions {
                    name: req.name,
                    base_url: req.base_url,
                },
                &mut |_, _| {},
            )
            .map_err(|e| definition_error(e, "openapi"))?;
            // Named as the request's fields: `base_url` overrides the
            // document's servers.
            super::egress::check_integration(
                gw,
                if base_url_given {
                    "base_url"
                } else {
                    "openapi.servers"
                },
                "openapi.components.securitySchemes",
                &imported.integration,
                by,
            )?;
            let skipped = skipped_json(&imported.skipped);
            Ok((imported.integration, imported.warnings, skipped))
        }
        _ => Err(ApiError::field(
            "definition",
            "give exactly one of definition (an mcpgate integration) or openapi (an OpenAPI 3 document)",
        )),
    }
}

/// POST /integration
pub async fn create(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> Response {
    respond(create_inner(&gw, &headers, body).await)
}

async fn create_inner(gw: &Gateway, headers: &HeaderMap, body: Body) -> ApiResult {
    let ctx = authorize(gw, headers)?;
    let by = ctx.url_provenance();
    let (integration, warnings, skipped) =
        convert(gw, document_body(gw, headers, body).await?, by)?;
    let record = gw
        .store
        .create_integration(ctx.tenant(), integration, by)
        .await
        .map_err(ApiError::store)?;
    gw.registry
        .load_all(&gw.store)
        .await
        .map_err(ApiError::store)?;
    tracing::info!(integration = %record.id, name = %record.definition.name, warnings = warnings.len(), "integration created");
    let mut v = integration_json(gw, &record, false);
    v["warnings"] = json!(warnings);
    v["skipped"] = skipped;
    ok_json(StatusCode::CREATED, &v)
}

/// GET /integration
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    query: ListParams,
) -> Response {
    respond(list_inner(&gw, &headers, query).await)
}

async fn list_inner(gw: &Gateway, headers: &HeaderMap, query: ListParams) -> ApiResult {
    let ctx = authorize(gw, headers)?;
    let page = page(query)?;
    let loaded = gw
        .store
        .load_integrations()
        .await
        .map_err(ApiError::store)?;
    // Records that do not read are listed in error (by id), not hidden.
    let readable = loaded
        .records
        .iter()
        .filter(|r| visible(&ctx, r))
        .map(|r| (r.id.to_string(), integration_json(gw, r, false)))
        .collect();
    let all = super::with_unreadable(&ctx, readable, &loaded.unreadable);
    let (entries, next) = paginate(all, |(id, _)| id.clone(), &page);
    let result: Vec<Value> = entries.into_iter().map(|(_, v)| v).collect();
    ok_json(
        StatusCode::OK,
        &json!({ "result": result, "next_cursor": next }),
    )
}

/// Bundled integrations are everyone's; the rest belong to their tenant.
pub(crate) fn visible(ctx: &AdminContext, r: &IntegrationRecord) -> bool {
    r.origin == Origin::Config || ctx.sees(&r.tenant)
}

async fn find(gw: &Gateway, ctx: &AdminContext, id: &str) -> Result<IntegrationRecord, ApiError> {
    gw.store
        .get_integration(parse_id::<IntegrationId>(id)?)
        .await
        .map_err(ApiError::store)?
        .filter(|r| visible(ctx, r))
        .ok_or_else(ApiError::not_found)
}

/// An integration visible to the caller, by id or name (the caller's own
/// first, then the bundled one of that name).
pub(crate) async fn find_by_id_or_name(
    gw: &Gateway,
    ctx: &AdminContext,
    key: &str,
) -> Result<Option<IntegrationRecord>, ApiError> {
    if key.parse::<IntegrationId>().is_ok() {
        return match find(gw, ctx, key).await {
            Ok(r) => Ok(Some(r)),
            Err(_) => Ok(None),
        };
    }
    for tenant in [ctx.tenant(), super::DEFAULT_TENANT] {
        if let Some(r) = gw
            .store
            .find_integration(tenant, key)
            .await
            .map_err(ApiError::store)?
            .filter(|r| visible(ctx, r))
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// GET /integration/{id}
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let record = find(&gw, &ctx, &id).await?;
            ok_json(StatusCode::OK, &integration_json(&gw, &record, true))
        }
        .await,
    )
}

fn refuse_bundled(record: &IntegrationRecord) -> Result<(), ApiError> {
    if record.origin == Origin::Config {
        return Err(ApiError::new_status(
            StatusCode::CONFLICT,
            format!(
                "integration {:?} is bundled from the config directory; change its file instead",
                record.definition.name
            ),
        ));
    }
    Ok(())
}

/// PATCH /integration/{id}: replace the definition (same body as create).
pub async fn patch(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let record = find(&gw, &ctx, &id).await?;
            refuse_bundled(&record)?;
            let by = ctx.url_provenance();
            let (integration, warnings, skipped) =
                convert(&gw, document_body(&gw, &headers, body).await?, by)?;
            let updated = gw
                .store
                .update_integration(record.id, integration, by)
                .await
                .map_err(ApiError::store)?
                .ok_or_else(ApiError::not_found)?;
            gw.registry
                .load_all(&gw.store)
                .await
                .map_err(ApiError::store)?;
            let mut v = integration_json(&gw, &updated, false);
            v["warnings"] = json!(warnings);
            v["skipped"] = skipped;
            ok_json(StatusCode::OK, &v)
        }
        .await,
    )
}

/// DELETE /integration/{id}
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let record = find(&gw, &ctx, &id).await?;
            refuse_bundled(&record)?;
            if !gw
                .store
                .delete_integration(record.id)
                .await
                .map_err(ApiError::store)?
            {
                return Err(ApiError::not_found());
            }
            gw.registry
                .load_all(&gw.store)
                .await
                .map_err(ApiError::store)?;
            Ok(http_util::empty(StatusCode::NO_CONTENT))
        }
        .await,
    )
}
