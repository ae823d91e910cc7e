//! `/integrated-account`: one customer's connection to an integration. The
//! credentials are write-only: responses only describe their type.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mcpgate_catalog::{AuthSpec, Credentials, UrlProvenance};
use mcpgate_store::{AccountId, AccountPatch, AccountRecord, IntegrationId, NewAccount};
use mcpgate_upstream::rest::account_base_url;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

use super::integrations::find_by_id_or_name;
use super::servers::visible_account;
use super::{
    AdminContext, ApiError, ApiResult, ListParams, authorize, check_url_template, json_body,
    nullable, ok_json, page, paginate, parse_id, respond,
};
use crate::Gateway;
use crate::http_util;
use crate::timefmt::rfc3339_ms;

fn account_json(gw: &Gateway, r: &AccountRecord) -> Value {
    let integration = gw.registry.integration(r.integration_id);
    json!({
        "id": r.id.to_string(),
        "integration_id": r.integration_id.to_string(),
        "integration": integration.as_ref().map(|i| i.record.definition.name.clone()),
        "name": r.name,
        "base_url": r.base_url,
        "context": r.context,
        "credentials": r.credentials.describe(),
        "created_at": rfc3339_ms(r.created_at),
        "updated_at": rfc3339_ms(r.updated_at),
    })
}

/// Check that the account can reach its API: a usable base URL with every
/// placeholder filled, complete credentials, and URLs the egress policy
/// lets the account's calls reach, its own URL fields written by `by`.
fn check_connection(
    gw: &Gateway,
    integration: IntegrationId,
    base_url: Option<&str>,
    context: &Map<String, Value>,
    credentials: &Credentials,
    by: UrlProvenance,
) -> Result<(), ApiError> {
    credentials
        .validate()
        .map_err(|e| ApiError::field("credentials", e))?;
    let entry = gw
        .registry
        .integration(integration)
        .ok_or_else(|| ApiError::field("integration_id", "no such integration"))?;
    if let Some(url) = base_url {
        check_url_template("base_url", url)?;
    }
    // The URL the account will call: a relative integration URL completed
    // by the account's, placeholders filled from its context.
    let resolved =
        account_base_url(&entry.record.definition.base_url, base_url, context).map_err(|e| {
            // A relative integration URL needs the account's: name that field.
            let field = if e.contains("base_url") {
                "base_url"
            } else {
                "context"
            };
            ApiError::field(field, e)
        })?;
    // The context fills the template: what it makes must still be a URL
    // the egress policy lets the gateway call.
    let field = if base_url.is_none() && entry.record.definition.base_url.contains('{') {
        "context"
    } else {
        "base_url"
    };
    super::egress::check_account(
        gw,
        &entry.record,
        by,
        base_url,
        (field, &resolved),
        credentials,
    )?;
    require_token_url(credentials, &entry.record.definition.auth)
}

/// OAuth credentials need a token endpoint: their own `token_url`, else
/// the integration's. Without either the account could never get a token.
fn require_token_url(credentials: &Credentials, auth: &AuthSpec) -> Result<(), ApiError> {
    let (Credentials::Oauth2ClientCredentials { .. } | Credentials::Oauth2RefreshToken { .. }) =
        credentials
    else {
        return Ok(());
    };
    if credentials.token_url().is_some() || auth.token_url().is_some() {
        return Ok(());
    }
    Err(ApiError::field(
        "credentials.token_url",
        format!(
            "{} credentials need a token URL, and this integration's auth names none: \
             set credentials.token_url",
            credentials.kind()
        ),
    ))
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
    let integration_id = match (req.integration_id, req.integration) {
        (Some(id), None) => {
            id.parse::<IntegrationId>()
                .map_err(|_| ApiError::field("integration_id", "is not a UUID"))?;
            find_by_id_or_name(gw, &ctx, &id)
                .await?
                .ok_or_else(|| ApiError::field("integration_id", "no such integration"))?
                .id
        }
        (None, Some(name)) => {
            find_by_id_or_name(gw, &ctx, &name)
                .await?
                .ok_or_else(|| {
                    ApiError::field("integration", format!("no integration named {name:?}"))
                })?
                .id
        }
        _ => {
            return Err(ApiError::field(
                "integration_id",
                "give either integration_id or integration (a name)",
            ));
        }
    };
    check_connection(
        gw,
        integration_id,
        req.base_url.as_deref(),
        &req.context,
        &req.credentials,
        ctx.url_provenance(),
    )?;
    let record = gw
        .store
        .create_account(NewAccount {
            tenant: ctx.tenant().to_owned(),
            integration_id,
            name: req.name,
            base_url: req.base_url,
            context: req.context,
            credentials: req.credentials,
            url_provenance: ctx.url_provenance(),
        })
        .await
        .map_err(ApiError::store)?;
    gw.registry
        .load_all(&gw.store)
        .await
        .map_err(ApiError::store)?;
    tracing::info!(account = %record.id, kind = record.credentials.kind(), "integrated account created");
    ok_json(StatusCode::CREATED, &account_json(gw, &record))
}

/// GET /integrated-account
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    query: ListParams,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let page = page(query)?;
            let loaded = gw.store.load_accounts().await.map_err(ApiError::store)?;
            // Accounts that do not read (e.g. credentials sealed under
            // another key) are listed in error, not hidden.
            let readable = loaded
                .records
                .iter()
                .filter(|a| ctx.sees(&a.tenant))
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
        .await,
    )
}

pub(crate) async fn find(
    gw: &Gateway,
    ctx: &AdminContext,
    id: &str,
) -> Result<AccountRecord, ApiError> {
    visible_account(gw, ctx, parse_id::<AccountId>(id)?)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// GET /integrated-account/{id}
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let record = find(&gw, &ctx, &id).await?;
            ok_json(StatusCode::OK, &account_json(&gw, &record))
        }
        .await,
    )
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
    let current = find(gw, &ctx, id).await?;
    let req: PatchAccount = json_body(headers, body).await?;
    let base_url = match &req.base_url {
        Some(b) => b.clone(),
        None => current.base_url.clone(),
    };
    let context = req.context.clone().unwrap_or(current.context.clone());
    let credentials = req
        .credentials
        .clone()
        .unwrap_or(current.credentials.clone());
    // A patch that writes a URL field (the base URL, the context filling
    // its placeholders, credentials naming a token URL) makes the
    // account's URLs the caller's; one that does not keeps who wrote them.
    let writes_urls = req.base_url.is_some()
        || req.context.is_some()
        || req
            .credentials
            .as_ref()
            .is_some_and(|c| c.token_url().is_some());
    let url_provenance = writes_urls.then(|| ctx.url_provenance());
    check_connection(
        gw,
        current.integration_id,
        base_url.as_deref(),
        &context,
        &credentials,
        url_provenance.unwrap_or(current.url_provenance),
    )?;
    let record = gw
        .store
        .update_account(
            current.id,
            AccountPatch {
                name: req.name,
                base_url: req.base_url,
                context: req.context,
                credentials: req.credentials,
                url_provenance,
            },
        )
        .await
        .map_err(ApiError::store)?
        .ok_or_else(ApiError::not_found)?;
    gw.registry
        .load_all(&gw.store)
        .await
        .map_err(ApiError::store)?;
    ok_json(StatusCode::OK, &account_json(gw, &record))
}

/// DELETE /integrated-account/{id}
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let ctx = authorize(&gw, &headers)?;
            let record = find(&gw, &ctx, &id).await?;
            if !gw
                .store
                .delete_account(record.id)
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
