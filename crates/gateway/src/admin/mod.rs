//! The native admin API, used by the CLI: virtual servers (`/server`),
//! integrations (`/integration`) and integrated accounts
//! (`/integrated-account`).
//!
//! Bearer admin token required. Errors are `{"error": {status, message,
//! fields?}}`, with `fields` naming each bad input.

pub mod accounts;
pub mod cloudflare;
mod egress;
pub mod fruxon;
pub mod integrations;
pub mod keys;
pub mod servers;
pub mod shape;
pub mod tokens;
pub mod truto;

use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use dashmap::DashMap;
use mcpgate_store::{AdminTokenRecord, KeyHash, Store, StoreError};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Gateway;
use crate::http_util::{self, BodyError};
use crate::timefmt::parse_rfc3339;

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 1 << 20;
/// How long the rest of a too-large admin body is read (and discarded) so
/// the client sees the 413.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(120);
/// Default and largest page sizes of list endpoints.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// The tenant objects go to when a super-admin creates them.
pub const DEFAULT_TENANT: &str = "default";

/// Who is calling the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminContext {
    /// The admin token's id (recorded as `created_by`/`modified_by`).
    pub id: Uuid,
    /// The one tenant it may act on; `None` for a super-admin.
    pub tenant: Option<String>,
    /// The token is a super-admin's, also while it acts within one tenant
    /// ([`AdminContext::within`]): the URLs it writes are the operator's.
    pub super_admin: bool,
}

impl AdminContext {
    /// The same caller acting inside `tenant` (a path names it), or `None`
    /// when it may not see that tenant.
    pub fn within(&self, tenant: &str) -> Option<Self> {
        self.sees(tenant).then(|| Self {
            id: self.id,
            tenant: Some(tenant.to_owned()),
            super_admin: self.super_admin,
        })
    }

    /// The tenant new objects are created in.
    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
    }

    /// Whether objects of `tenant` are visible to this caller. Everything
    /// else answers 404, exactly like a missing object.
    pub fn sees(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }

    /// A super-admin (bootstrap or `MCPGATE_ADMIN_TOKEN`).
    pub fn is_super(&self) -> bool {
        self.tenant.is_none()
    }

    /// Whose the URLs this caller writes are: the operator's for a
    /// super-admin token, else a tenant's (`egress.private_networks`).
    pub fn url_provenance(&self) -> mcpgate_catalog::UrlProvenance {
        mcpgate_catalog::UrlProvenance::of_writer(self.super_admin)
    }
}

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

    /// Add a field problem to an error.
    pub(crate) fn with_field(mut self, field: &str, problem: impl Into<String>) -> Self {
        self.fields.insert(field.to_owned(), problem.into());
        self
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

    pub(crate) fn into_response(self) -> Response {
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

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn respond(result: ApiResult) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}

pub(crate) fn authorize(gw: &Gateway, headers: &HeaderMap) -> Result<AdminContext, ApiError> {
    gw.admin.resolve(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized: send a valid admin token as \"Authorization: Bearer <token>\"",
        )
    })
}

/// Read a JSON request body (`Content-Type: application/json`, at most
/// 1 MiB; see [`document_body`] for integration documents) into `T`. A body that is not JSON is a 400 saying where it
/// breaks; a body of the wrong shape is a 400 naming the field at fault
/// (`fields: {"servers.0.server_id": "is required"}`; Cloudflare's
/// envelope turns that name into `path`).
pub(crate) async fn json_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    if !http_util::is_media_type(headers.get(header::CONTENT_TYPE), "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    parse_body(&read_admin_body(headers, body).await?)
}

/// Like [`json_body`], but an empty body (or none) reads as the default.
pub(crate) async fn json_body_or_default<T: for<'de> Deserialize<'de> + Default>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = read_admin_body(headers, body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_body(&bytes)
}

async fn read_admin_body(headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, ApiError> {
    read_limited(headers, body, MAX_ADMIN_BODY, |declared| match declared {
        Some(n) => {
            format!("the request body is {n} bytes; admin requests take at most {MAX_ADMIN_BODY}")
        }
        None => format!("the request body exceeds {MAX_ADMIN_BODY} bytes"),
    })
    .await
}

/// Like [`json_body`], for the routes that take an integration document:
/// at most `admin.max_document_bytes` (64 MiB by default) instead of 1 MiB.
pub(crate) async fn document_body<T: for<'de> Deserialize<'de>>(
    gw: &Gateway,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    if !http_util::is_media_type(headers.get(header::CONTENT_TYPE), "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let limit = gw.max_document_bytes;
    let bytes = read_limited(headers, body, limit, |declared| {
        let size = declared.map_or_else(|| format!("more than {limit}"), |n| n.to_string());
        format!(
            "the integration document is {size} bytes; this gateway accepts at most {limit} (admin.max_document_bytes)"
        )
    })
    .await?;
    parse_body(&bytes)
}

/// Read at most `limit` bytes of a body. A larger one is a 413 with
/// `message(declared Content-Length)`, sent only after the rest of the body
/// has been read and discarded: a client still writing its request would
/// otherwise see a reset connection ("broken pipe") instead of the answer.
async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    message: impl FnOnce(Option<u64>) -> String,
) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Counted, not buffered; cut off (the connection then closes) past what
    // draining is worth: a client that sends gigabytes does not get them read.
    let drain_budget = (limit as u64).saturating_mul(4).max(256 << 20);
    if declared.is_some_and(|n| n > drain_budget) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            message(declared),
        ));
    }
    match http_util::read_body_draining(body, limit, drain_budget, DRAIN_TIME).await {
        Ok(bytes) => Ok(bytes),
        Err(BodyError::TooLarge) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            message(declared),
        )),
        Err(BodyError::Broken) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )),
    }
}

/// Deserialize a request body, keeping where in it a problem is.
pub(crate) fn parse_body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(body_error)?;
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// A body that did not deserialize: not JSON at all (where it breaks), or
/// JSON of the wrong shape (which field, and what is wrong with it).
fn body_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_path_to_error::Segment;
    let inner = e.inner();
    if !inner.is_data() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid JSON: {inner}"),
        );
    }
    // serde_json appends the position; a field path says more.
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    let mut path: Vec<String> = e
        .path()
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, rest)| (name.to_owned(), rest.to_owned()))
    };
    let problem = if let Some((name, _)) = quoted("missing field `") {
        path.push(name);
        "is required".to_owned()
    } else if let Some((name, rest)) = quoted("unknown field `") {
        // The path already ends at an unknown key.
        if path.last() != Some(&name) {
            path.push(name);
        }
        format!("is not a field here{rest}")
    } else if path.is_empty() && message.starts_with("invalid type") {
        "the request body must be a JSON object".to_owned()
    } else {
        message.to_owned()
    };
    if path.is_empty() {
        return ApiError::new(StatusCode::BAD_REQUEST, problem);
    }
    ApiError::field(&path.join("."), problem)
}

/// Deserialize a present field as `Some(value)` (value may be null), so
/// `"expires_at": null` (clear) differs from an absent field (keep).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
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

/// `status` (`ready` or `error`) and `error` (the reason or null) of a
/// record, from the registry's load faults.
pub(crate) fn fault_fields(
    gw: &Gateway,
    kind: crate::registry::RecordKind,
    tenant: &str,
    id: &str,
) -> (&'static str, Option<String>) {
    match gw.registry.fault(kind, tenant, id) {
        Some(f) => ("error", Some(f.reason)),
        None => ("ready", None),
    }
}

pub(crate) fn ok_json(status: StatusCode, value: &impl Serialize) -> ApiResult {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    Ok(http_util::json(status, body))
}

pub(crate) fn parse_expiry(field: &str, value: &str) -> Result<OffsetDateTime, ApiError> {
    parse_rfc3339(value).ok_or_else(|| {
        ApiError::field(
            field,
            format!("{value:?} is not an RFC 3339 timestamp such as 2026-12-31T23:59:59Z"),
        )
    })
}

/// The expiry of an object being created: an RFC 3339 instant still in the
/// future (a key or server born expired could never be used). A PATCH may
/// still set a past instant, which expires an existing server at once.
pub(crate) fn parse_future_expiry(field: &str, value: &str) -> Result<OffsetDateTime, ApiError> {
    let t = parse_expiry(field, value)?;
    if t <= OffsetDateTime::now_utc() {
        return Err(ApiError::field(
            field,
            format!("{value:?} is in the past; an expiry must be in the future"),
        ));
    }
    Ok(t)
}

/// A tenant name: non-empty, at most 128 of `A-Z a-z 0-9 - _ .`. The one
/// rule for a tenant wherever it is given (`/admin-token`, and the account
/// or tenant in a Cloudflare or Fruxon path), so no object can be made in a
/// tenant no admin token can be minted for.
pub(crate) fn check_tenant(field: &str, tenant: &str) -> Result<(), ApiError> {
    if tenant.is_empty()
        || tenant.len() > 128
        || !tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::field(
            field,
            "must be a name of 1-128 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

/// An outbound URL an admin configures (an upstream MCP server's endpoint,
/// an account's or integration's base URL, an OAuth token endpoint): an
/// absolute `http://` or `https://` URL with a host. The one place such
/// fields are judged, so every rule about where the gateway may connect
/// belongs here. `http://`, `https://` and `http:///etc/passwd` (which URL
/// parsers would read as host `etc`) have no host and are refused.
pub(crate) fn check_url(field: &str, value: &str) -> Result<reqwest::Url, ApiError> {
    let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    let authority = if lower.starts_with("https://") {
        &value[8..]
    } else if lower.starts_with("http://") {
        &value[7..]
    } else {
        return Err(ApiError::field(
            field,
            format!("{value:?} must be an http:// or https:// URL"),
        ));
    };
    if authority.is_empty() || authority.starts_with(['/', '\\', '?', '#', '@']) {
        return Err(ApiError::field(
            field,
            format!("{value:?} has no host; give one, as in https://mcp.example.com/mcp"),
        ));
    }
    let url = reqwest::Url::parse(value)
        .map_err(|e| ApiError::field(field, format!("{value:?} is not a valid URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::field(
            field,
            format!("{value:?} has no host; give one, as in https://mcp.example.com/mcp"),
        ));
    }
    Ok(url)
}

/// [`check_url`] for a URL template whose `{placeholders}` an account's
/// context fills in later: judged with each placeholder as a plain name.
pub(crate) fn check_url_template(field: &str, template: &str) -> Result<(), ApiError> {
    let names = mcpgate_catalog::integration::placeholders(template)
        .map_err(|e| ApiError::field(field, e))?;
    let mut sample = template.to_owned();
    for name in names {
        sample = sample.replace(&format!("{{{name}}}"), "x");
    }
    check_url(field, &sample).map(drop)
}

pub(crate) fn check_name(field: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(ApiError::field(field, "must be at most 200 characters"));
    }
    Ok(name.to_owned())
}

/// A malformed id cannot name anything: answer exactly like a missing one.
pub(crate) fn parse_id<T: std::str::FromStr>(id: &str) -> Result<T, ApiError> {
    id.parse().map_err(|_| ApiError::not_found())
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
