//! `/integration`: integration definitions, created from a definition or
//! imported from an OpenAPI document. Mapping only: the operations are
//! [`crate::control::integrations`].

use super::Admin;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_catalog::openapi;
use mcpgate_store::IntegrationRecord;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::{ApiResult, ListParams, authorize, document_body, ok_json, page, paginate, respond};
use crate::Gateway;
use crate::control::integrations::{Converted, IntegrationSource};
use crate::http_util;
use crate::timefmt::rfc3339_ms;

fn integration_json(gw: &Gateway, r: &IntegrationRecord, full: bool) -> Value {
    let d = &r.definition;
    let control = gw.control();
    let tools = control.integration_tools(r.id);
    let (status, error) = control.record_status(
        crate::index::RecordKind::Integration,
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

impl From<CreateIntegration> for IntegrationSource {
    fn from(b: CreateIntegration) -> Self {
        Self {
            definition: b.definition,
            openapi: b.openapi,
            name: b.name,
            base_url: b.base_url,
        }
    }
}

/// A created or replaced integration with its import's warnings and skipped operations.
fn converted_json(gw: &Gateway, c: &Converted) -> Value {
    let mut v = integration_json(gw, &c.record, false);
    v["warnings"] = json!(c.warnings);
    v["skipped"] = skipped_json(&c.skipped);
    v
}

/// POST /integration
pub async fn create(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> Response {
    respond(create_inner(&gw, &headers, body).await)
}

async fn create_inner(gw: &Gateway, headers: &HeaderMap, body: Body) -> ApiResult {
    let ctx = authorize(gw, headers)?;
    let req: CreateIntegration = document_body(gw, headers, body).await?;
    let created = gw
        .control()
        .save_integration(&ctx, None, req.into())
        .await?;
    ok_json(StatusCode::CREATED, &converted_json(gw, &created))
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
    let loaded = gw.control().list_integrations(&ctx).await?;
    // Records that do not read are listed in error (by id), not hidden.
    let readable = loaded
        .records
        .iter()
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

/// GET /integration/{id}
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    let record = gw.control().integration(&ctx, &id).await?;
    ok_json(StatusCode::OK, &integration_json(&gw, &record, true))
}

/// PATCH /integration/{id}: replace the definition (same body as create).
pub async fn patch(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let control = gw.control();
    let record = control.editable_integration(&ctx, &id).await?;
    let req: CreateIntegration = document_body(&gw, &headers, body).await?;
    let updated = control
        .save_integration(&ctx, Some(&record), req.into())
        .await?;
    ok_json(StatusCode::OK, &converted_json(&gw, &updated))
}

/// DELETE /integration/{id}
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    gw.control().delete_integration(&ctx, &id).await?;
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}
