//! The native admin API, used by the CLI: virtual servers (`/server`),
//! integrations (`/integration`) and integrated accounts
//! (`/integrated-account`).
//!
//! Bearer admin token required. Errors are `{"error": {status, message,
//! fields?}}`, with `fields` naming each bad input.
//!
//! Every surface here (native, Truto, Fruxon, Cloudflare) is mapping only:
//! JSON in, a [`crate::control`] operation, JSON out, and a
//! [`ControlError`] in the surface's own error shape.

pub mod accounts;
pub mod cloudflare;
pub mod fruxon;
pub mod integrations;
pub mod keys;
pub mod servers;
pub mod shape;
pub mod tokens;
pub mod truto;

mod body;
pub(crate) use body::{document_body, json_body, json_body_or_default, nullable};

use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use dashmap::DashMap;
use mcpgate_store::{AdminTokenRecord, KeyHash, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

use crate::Gateway;
use crate::control::ControlError;
pub(crate) use crate::control::check::tenant as check_tenant;
use crate::http_util;

/// Default and largest page sizes of list endpoints.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub use crate::control::{AdminContext, DEFAULT_TENANT};

/// The admin tokens the gateway accepts: super-admin hashes from config,
/// plus tenant tokens from the store (reloaded after every change).
#[derive(Default)]
pub struct AdminAuth {
    fixed: Vec<KeyHash>,
    principals: DashMap<KeyHash, AdminContext>,
}

impl AdminAuth {
    /// Accept these super-admin token hashes.
    pub fn new(super_hashes: Vec<KeyHash>) -> Self {
        let auth = Self {
            fixed: super_hashes,
            principals: DashMap::new(),
        };
        auth.install(Vec::new());
        auth
    }

    fn install(&self, tokens: Vec<AdminTokenRecord>) {
        let mut fresh: Vec<(KeyHash, AdminContext)> = self
            .fixed
            .iter()
            .map(|h| {
                // A stable id for a configured token, derived from its hash.
                let mut id = [0u8; 16];
                id.copy_from_slice(&h.as_bytes()[..16]);
                (
                    *h,
                    AdminContext {
                        id: Uuid::from_bytes(id),
                        tenant: None,
                        super_admin: true,
                    },
                )
            })
            .collect();
        fresh.extend(tokens.into_iter().map(|t| {
            (
                t.hash,
                AdminContext {
                    id: t.id,
                    super_admin: t.tenant.is_none(),
                    tenant: t.tenant,
                },
            )
        }));
        let keep: std::collections::HashSet<KeyHash> = fresh.iter().map(|(h, _)| *h).collect();
        for (h, ctx) in fresh {
            self.principals.insert(h, ctx);
        }
        self.principals.retain(|h, _| keep.contains(h));
    }

    /// Re-read the tenant tokens from the store.
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        self.install(store.list_admin_tokens().await?);
        Ok(())
    }

    fn resolve(&self, headers: &HeaderMap) -> Option<AdminContext> {
        let token = http_util::bearer(headers)?;
        let presented = KeyHash::of(token);
        let entry = self.principals.get(&presented)?;
        entry.key().ct_eq(&presented).then(|| entry.value().clone())
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

    pub(crate) fn field(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        let mut e = Self::new(StatusCode::BAD_REQUEST, format!("{field}: {problem}"));
        e.fields.insert(field.to_owned(), problem);
        e
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not found")
    }

    pub(crate) fn new_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, message)
    }

    /// Map a store error: conflicts are 409, an unreachable database 503
    /// (retry later; nothing was written), anything else is internal.
    pub(crate) fn store(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            // Contention that outlasted the store's retries: not the
            // client's fault and not a fault of ours; nothing was written.
            e @ StoreError::Busy => {
                tracing::warn!(error = %e, "admin request gave up on store contention");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "admin request failed: the store is unreachable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store (database) cannot be reached; nothing was changed, try again shortly",
                )
            }
            other => Self::internal(other),
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "admin request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the gateway log has details",
        )
    }

    /// As RFC 7807 problem details (`application/problem+json`), with
    /// `errors` naming each bad field.
    pub(crate) fn into_problem(self, instance: &str) -> Response {
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.message,
            "instance": instance,
        });
        if !self.fields.is_empty() {
            body["errors"] = serde_json::json!(self.fields);
        }
        let mut r = http_util::json(self.status, body.to_string());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        self.headers(r)
    }

    /// The headers an error status calls for: the auth scheme with a 401,
    /// when to retry with a 503.
    fn headers(&self, mut r: Response) -> Response {
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mcpgate-admin\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }

    /// In Cloudflare's envelope: `{errors: [{code, message, path?}], success: false}`.
    pub(crate) fn into_cloudflare(self) -> Response {
        let code = 10000 + u32::from(self.status.as_u16());
        let errors: Vec<serde_json::Value> = if self.fields.is_empty() {
            vec![serde_json::json!({"code": code, "message": self.message})]
        } else {
            self.fields
                .iter()
                .map(|(field, problem)| {
                    let path: Vec<&str> = field.split('.').collect();
                    serde_json::json!({"code": code, "message": format!("{field}: {problem}"), "path": path})
                })
                .collect()
        };
        let body =
            serde_json::json!({"errors": errors, "success": false, "messages": [], "result": null});
        let r = http_util::json(self.status, body.to_string());
        self.headers(r)
    }

    /// The native surface's error body, `{"error": {status, message, fields?}}`.
    pub(crate) fn into_native(self) -> Response {
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
        let r = http_util::json(self.status, body.to_string());
        self.headers(r)
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::NotFound => Self::not_found(),
            ControlError::Invalid { field, reason } => Self::field(&field, reason),
            ControlError::InvalidFields { message, fields } => Self {
                status: StatusCode::BAD_REQUEST,
                message,
                fields,
            },
            ControlError::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            ControlError::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, message),
            ControlError::Store(e) => Self::store(e),
            ControlError::Internal(message) => Self::internal(message),
        }
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn respond(result: ApiResult) -> Response {
    result.unwrap_or_else(ApiError::into_native)
}

/// Handlers of the native and Truto surfaces return [`ApiResult`]; an error
/// answers in the native shape.
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_native()
    }
}

/// The authenticated caller of a native or Truto admin route, as an axum
/// extractor: a request without a valid admin token is refused with the
/// native 401 before any other argument (path, query, body) is read.
pub struct Admin(pub(crate) AdminContext);

impl axum::extract::FromRequestParts<Arc<Gateway>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        authorize(gw, &parts.headers).map(Admin)
    }
}

pub(crate) fn authorize(gw: &Gateway, headers: &HeaderMap) -> Result<AdminContext, ApiError> {
    gw.admin.resolve(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized: send a valid admin token as \"Authorization: Bearer <token>\"",
        )
    })
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

/// The query extractor of list endpoints, with its rejection kept for our own error.
pub type ListParams = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

/// A stored record that does not read, as the admin API lists it: its id,
/// `status: "error"` and the reason, so an admin sees it and can act.
pub(crate) fn unreadable_json(u: &mcpgate_store::Unreadable) -> serde_json::Value {
    let reason = format!("the stored record cannot be read: {}", u.reason);
    serde_json::json!({"id": u.id, "status": "error", "error": reason})
}

/// A list's entries (id, JSON) with the caller's unreadable records added
/// in error, in id order (for [`paginate`]).
pub(crate) fn with_unreadable(
    ctx: &AdminContext,
    mut entries: Vec<(String, serde_json::Value)>,
    unreadable: &[mcpgate_store::Unreadable],
) -> Vec<(String, serde_json::Value)> {
    entries.extend(
        unreadable
            .iter()
            .filter(|u| u.tenant.as_deref().is_some_and(|t| ctx.sees(t)))
            .map(|u| (u.id.clone(), unreadable_json(u))),
    );
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

pub(crate) fn ok_json(status: StatusCode, value: &impl Serialize) -> ApiResult {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    Ok(http_util::json(status, body))
}

/// Validated `?limit=&next_cursor=` of a list endpoint.
pub(crate) struct Page {
    pub limit: u32,
    pub after: Option<String>,
}

pub(crate) fn page(query: ListParams) -> Result<Page, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = q.next_cursor.filter(|c| !c.is_empty());
    if let Some(c) = &after
        && uuid::Uuid::parse_str(c).is_err()
    {
        return Err(ApiError::field(
            "next_cursor",
            "is not a cursor this API returned",
        ));
    }
    Ok(Page { limit, after })
}

/// Page through items already sorted by id (time-ordered UUIDv7 strings).
pub(crate) fn paginate<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> String,
    page: &Page,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| page.after.as_ref().is_none_or(|a| id(i) > *a))
        .collect();
    let more = rest.len() > page.limit as usize;
    rest.truncate(page.limit as usize);
    let next = more.then(|| rest.last().map(&id)).flatten();
    (rest, next)
}
