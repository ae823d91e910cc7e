//! The native admin API for virtual servers (`/server`), used by the CLI.
//!
//! Bearer admin token required. Errors are `{"error": {status, message,
//! fields?}}`, with `fields` naming each bad input.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use mcpgate_store::{KeyHash, NewServer, ServerId, ServerPatch, ServerRecord, ServerSource, Store};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

use crate::Gateway;
use crate::http_util::{self, BodyError};
use crate::timefmt::{parse_rfc3339, rfc3339_ms};

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 1 << 20;
/// Default and largest page sizes of list endpoints.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// The admin tokens the gateway accepts, as hashes.
#[derive(Clone, Default)]
pub struct AdminAuth {
    hashes: Vec<KeyHash>,
}

impl AdminAuth {
    /// Accept tokens with these hashes.
    pub fn new(hashes: Vec<KeyHash>) -> Self {
        Self { hashes }
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = http_util::bearer(headers) else {
            return false;
        };
        let presented = KeyHash::of(token);
        // Check every hash so the time taken does not depend on which matched.
        self.hashes
            .iter()
            .fold(false, |ok, h| h.ct_eq(&presented) | ok)
    }
}

/// An admin API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    fields: BTreeMap<String, String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    fn field(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        let mut e = Self::new(StatusCode::BAD_REQUEST, format!("{field}: {problem}"));
        e.fields.insert(field.to_owned(), problem);
        e
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not found")
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "admin request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the gateway log has details",
        )
    }

    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Inner<'a> {
            status: u16,
            message: &'a str,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            fields: &'a BTreeMap<String, String>,
        }
        let body = serde_json::json!({ "error": Inner {
            status: self.status.as_u16(),
            message: &self.message,
            fields: &self.fields,
        }});
        let mut r = http_util::json(self.status, body.to_string());
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mcpgate-admin\""),
            );
        }
        r
    }
}

type ApiResult = Result<Response, ApiError>;

fn respond(result: ApiResult) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}

fn authorize(gw: &Gateway, headers: &HeaderMap) -> Result<(), ApiError> {
    if gw.admin.allows(headers) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized: send a valid admin token as \"Authorization: Bearer <token>\"",
        ))
    }
}

async fn json_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    if !http_util::is_media_type(headers.get(header::CONTENT_TYPE), "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let bytes = http_util::read_body(headers, body, MAX_ADMIN_BODY)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body exceeds {MAX_ADMIN_BODY} bytes"),
            ),
            BodyError::Broken => ApiError::new(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            ),
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// Deserialize a present field as `Some(value)` (value may be null), so
/// `"expires_at": null` (clear) differs from an absent field (keep).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Serialize)]
struct ServerJson {
    id: String,
    name: String,
    toolset: String,
    disabled: bool,
    expires_at: Option<String>,
    created_at: String,
    updated_at: String,
    key_prefixes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

async fn server_json(store: &Store, r: &ServerRecord) -> Result<ServerJson, ApiError> {
    let keys = store
        .list_server_keys(r.id)
        .await
        .map_err(ApiError::internal)?;
    let ServerSource::Toolset(toolset) = &r.source;
    Ok(ServerJson {
        id: r.id.to_string(),
        name: r.name.clone(),
        toolset: toolset.clone(),
        disabled: r.disabled,
        expires_at: r.expires_at.map(rfc3339_ms),
        created_at: rfc3339_ms(r.created_at),
        updated_at: rfc3339_ms(r.updated_at),
        key_prefixes: keys.into_iter().map(|k| k.prefix).collect(),
        token: None,
        url: None,
    })
}

fn ok_json(status: StatusCode, value: &impl Serialize) -> ApiResult {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    Ok(http_util::json(status, body))
}

fn parse_expiry(field: &str, value: &str) -> Result<OffsetDateTime, ApiError> {
    parse_rfc3339(value).ok_or_else(|| {
        ApiError::field(
            field,
            format!("{value:?} is not an RFC 3339 timestamp such as 2026-12-31T23:59:59Z"),
        )
    })
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be at most 200 characters"));
    }
    Ok(name.to_owned())
}

fn parse_id(id: &str) -> Result<ServerId, ApiError> {
    // A malformed id cannot name anything: answer exactly like a missing one.
    id.parse().map_err(|_| ApiError::not_found())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateServer {
    name: String,
    #[serde(default)]
    toolset: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

/// POST /server
pub async fn create(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> Response {
    respond(create_inner(&gw, &headers, body).await)
}

async fn create_inner(gw: &Gateway, headers: &HeaderMap, body: Body) -> ApiResult {
    authorize(gw, headers)?;
    let req: CreateServer = json_body(headers, body).await?;
    let name = check_name(&req.name)?;
    let toolset = req.toolset.unwrap_or_else(|| gw.default_toolset.clone());
    if !gw.registry.has_toolset(&toolset) {
        return Err(ApiError::field(
            "toolset",
            format!(
                "no toolset named {toolset:?}; configured: {}",
                gw.registry.toolset_names().join(", ")
            ),
        ));
    }
    let expires_at = match req.expires_at.as_deref() {
        None => None,
        Some(v) => {
            let t = parse_expiry("expires_at", v)?;
            if t <= OffsetDateTime::now_utc() {
                return Err(ApiError::field("expires_at", "must be in the future"));
            }
            Some(t)
        }
    };
    let (record, _key, secret) = gw
        .store
        .create_server(NewServer {
            tenant: "default".into(),
            name,
            source: ServerSource::Toolset(toolset),
            expires_at,
        })
        .await
        .map_err(ApiError::internal)?;
    gw.registry
        .refresh_server(&gw.store, record.id)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(server = %record.id, key_prefix = %secret.prefix, "server created");
    let mut json = server_json(&gw.store, &record).await?;
    json.url = Some(format!("{}/mcp/{}", gw.public_url, secret.secret));
    json.token = Some(secret.secret);
    ok_json(StatusCode::CREATED, &json)
}

/// Query of list endpoints: `?limit=N&next_cursor=C`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size (1–1000, default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// GET /server
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    respond(list_inner(&gw, &headers, query).await)
}

async fn list_inner(
    gw: &Gateway,
    headers: &HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    authorize(gw, headers)?;
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = match q.next_cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<ServerId>()
                .map_err(|_| ApiError::field("next_cursor", "is not a cursor this API returned"))?,
        ),
    };
    let (records, more) = gw
        .store
        .list_servers_page(after, limit)
        .await
        .map_err(ApiError::internal)?;
    let mut result = Vec::with_capacity(records.len());
    for r in &records {
        result.push(server_json(&gw.store, r).await?);
    }
    let next_cursor = more
        .then(|| records.last().map(|r| r.id.to_string()))
        .flatten();
    ok_json(
        StatusCode::OK,
        &serde_json::json!({ "result": result, "next_cursor": next_cursor }),
    )
}

/// GET /server/{id}
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(get_inner(&gw, &id, &headers).await)
}

async fn get_inner(gw: &Gateway, id: &str, headers: &HeaderMap) -> ApiResult {
    authorize(gw, headers)?;
    let id = parse_id(id)?;
    let record = gw
        .store
        .get_server(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(ApiError::not_found)?;
    ok_json(StatusCode::OK, &server_json(&gw.store, &record).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchServer {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<String>>,
}

/// PATCH /server/{id}
pub async fn patch(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(patch_inner(&gw, &id, &headers, body).await)
}

async fn patch_inner(gw: &Gateway, id: &str, headers: &HeaderMap, body: Body) -> ApiResult {
    authorize(gw, headers)?;
    let id = parse_id(id)?;
    let req: PatchServer = json_body(headers, body).await?;
    let patch = ServerPatch {
        name: req.name.as_deref().map(check_name).transpose()?,
        disabled: req.disabled,
        expires_at: match req.expires_at {
            None => None,
            Some(None) => Some(None),
            Some(Some(v)) => Some(Some(parse_expiry("expires_at", &v)?)),
        },
    };
    let record = gw
        .store
        .update_server(id, patch)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(ApiError::not_found)?;
    gw.registry
        .refresh_server(&gw.store, id)
        .await
        .map_err(ApiError::internal)?;
    ok_json(StatusCode::OK, &server_json(&gw.store, &record).await?)
}

/// DELETE /server/{id}
pub async fn delete(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(delete_inner(&gw, &id, &headers).await)
}

async fn delete_inner(gw: &Gateway, id: &str, headers: &HeaderMap) -> ApiResult {
    authorize(gw, headers)?;
    let id = parse_id(id)?;
    if !gw
        .store
        .delete_server(id)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(ApiError::not_found());
    }
    gw.registry
        .refresh_server(&gw.store, id)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(server = %id, "server deleted");
    Ok(http_util::empty(StatusCode::NO_CONTENT))
}
