//! The REST executor: a `tools/call` becomes one authenticated HTTP request
//! to the integrated account's API, and the answer becomes a tool result.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcpgate_catalog::tools::{CURSOR_ARG, LIMIT_ARG, Location};
use mcpgate_catalog::{Credentials, GeneratedTool, HttpMethod, Integration, Pagination};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::time::Duration;

use crate::auth::{Auth, RotateHook};
use crate::paging::{PageCursor, at_path, at_path_mut, next_link};

/// Characters escaped in a path segment (RFC 3986 `pchar` complement, plus `/`).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// Limits that apply to every REST call.
#[derive(Debug, Clone, Copy)]
pub struct RestSettings {
    /// Timeout when the integration sets none.
    pub default_timeout: Duration,
    /// Larger responses are truncated, with a note.
    pub max_response_bytes: usize,
}

impl Default for RestSettings {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(30),
            max_response_bytes: 1 << 20,
        }
    }
}

/// A generated tool, ready to run: its plan and compiled argument validator.
pub struct RestOperation {
    /// The tool and its execution plan.
    pub tool: GeneratedTool,
    validator: Option<jsonschema::Validator>,
}

impl RestOperation {
    /// Compile the tool's input schema. A schema the validator cannot compile
    /// (an exotic imported one) leaves validation to the upstream.
    pub fn new(tool: GeneratedTool) -> Self {
        let validator = match jsonschema::validator_for(&tool.operation.input_schema) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(tool = %tool.tool.name, error = %e,
                    "input schema does not compile; arguments go unvalidated");
                None
            }
        };
        Self { tool, validator }
    }

    /// Validate arguments; the error names each bad field.
    pub fn check(&self, args: &Value) -> Result<(), String> {
        let Some(v) = &self.validator else {
            return Ok(());
        };
        let problems: Vec<String> = v
            .iter_errors(args)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{}: {e}", at.trim_start_matches('/'))
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("Invalid arguments: {}", problems.join("; ")))
        }
    }
}

/// One integrated account's connection to its API.
pub struct RestAccount {
    http: reqwest::Client,
    base_url: String,
    auth: Auth,
    timeout: Duration,
    max_response_bytes: usize,
}

/// Fill a base URL template's `{placeholders}` from an account's context.
pub fn resolve_base_url(template: &str, context: &Map<String, Value>) -> Result<String, String> {
    let mut url = template.to_owned();
    for name in mcpgate_catalog::integration::placeholders(template)? {
        let value = match context.get(name) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(format!(
                    "the base URL {template:?} needs {{{name}}}: set context.{name} on the account"
                ));
            }
        };
        url = url.replace(&format!("{{{name}}}"), &value);
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        other => Some(other.to_string()),
    }
}

fn result(value: Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(&value).expect("a tool result serializes")
}

fn error_result(text: impl Into<String>) -> Box<RawValue> {
    result(json!({"content": [{"type": "text", "text": text.into()}], "isError": true}))
}

fn trimmed(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} more bytes]", &text[..end], text.len() - end)
}

struct Prepared {
    url: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    /// The page cursor the request was built from (for computing the next one).
    page: Option<PageCursor>,
    limit: Option<u64>,
    /// A full `Link` URL replaces URL and query.
    absolute: bool,
}

impl RestAccount {
    /// Connect an account: resolve its base URL and prepare its credentials.
    pub fn new(
        http: reqwest::Client,
        integration: &Integration,
        base_url: Option<&str>,
        context: &Map<String, Value>,
        credentials: &Credentials,
        settings: RestSettings,
        on_rotate: Option<RotateHook>,
    ) -> Result<Self, String> {
        let template = base_url.unwrap_or(&integration.base_url);
        Ok(Self {
            http,
            base_url: resolve_base_url(template, context)?,
            auth: Auth::new(credentials, &integration.auth, on_rotate)?,
            timeout: integration
                .timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(settings.default_timeout),
            max_response_bytes: settings.max_response_bytes,
        })
    }

    /// The resolved base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn prepare(&self, op: &RestOperation, args: &Map<String, Value>) -> Result<Prepared, String> {
        let plan = &op.tool.operation;
        let mut path = plan.path.clone();
        let mut query = Vec::new();
        let mut body_props = Map::new();
        let mut whole_body = None;
        for binding in &plan.bindings {
            let Some(value) = args.get(&binding.arg) else {
                continue;
            };
            match &binding.location {
                Location::Path(name) => {
                    let text = value_text(value).ok_or_else(|| {
                        format!("Invalid arguments: {} must not be null", binding.arg)
                    })?;
                    path = path.replace(
                        &format!("{{{name}}}"),
                        &utf8_percent_encode(&text, SEGMENT).to_string(),
                    );
                }
                Location::Query(name) => match value {
                    Value::Array(items) => {
                        query.extend(
                            items
                                .iter()
                                .filter_map(value_text)
                                .map(|v| (name.clone(), v)),
                        );
                    }
                    other => {
                        if let Some(v) = value_text(other) {
                            query.push((name.clone(), v));
                        }
                    }
                },
                Location::Body(name) => {
                    body_props.insert(name.clone(), value.clone());
                }
                Location::WholeBody => whole_body = Some(value.clone()),
            }
        }
        let body = whole_body.or_else(|| {
            let has_body_bindings = plan
                .bindings
                .iter()
                .any(|b| matches!(b.location, Location::Body(_)));
            (has_body_bindings
                && matches!(
                    plan.method,
                    HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch
                ))
            .then_some(Value::Object(body_props))
        });

        let limit = args.get(LIMIT_ARG).and_then(Value::as_u64);
        let page = match args.get(CURSOR_ARG).and_then(Value::as_str) {
            None | Some("") => None,
            Some(token) => Some(PageCursor::decode(token).ok_or_else(|| {
                "Invalid arguments: next_cursor is not a value this tool returned; omit it to start from the first page".to_owned()
            })?),
        };
        let mut url = format!("{}{}", self.base_url, path);
        let mut absolute = false;
        if plan.is_list
            && let Some(p) = &plan.pagination
        {
            if let (Some(limit), Some(param)) = (limit, p.limit_param()) {
                query.push((param.to_owned(), limit.to_string()));
            }
            match (p, &page) {
                (Pagination::Cursor { cursor_param, .. }, Some(PageCursor::Cursor(c))) => {
                    query.push((cursor_param.clone(), c.clone()));
                }
                (
                    Pagination::Page {
                        page_param,
                        first_page,
                        ..
                    },
                    page,
                ) => {
                    let n = match page {
                        Some(PageCursor::Page(n)) => *n,
                        _ => *first_page,
                    };
                    query.push((page_param.clone(), n.to_string()));
                }
                (Pagination::Offset { offset_param, .. }, page) => {
                    let n = match page {
                        Some(PageCursor::Offset(n)) => *n,
                        _ => 0,
                    };
                    query.push((offset_param.clone(), n.to_string()));
                }
                (Pagination::LinkHeader { .. }, Some(PageCursor::Url(next))) => {
                    // Never follow a link off the API's origin: the request
                    // carries the account's credentials.
                    if !next.starts_with(&format!("{}/", self.base_url)) && next != &self.base_url {
                        return Err("Invalid arguments: next_cursor points outside this API".into());
                    }
                    url = next.clone();
                    absolute = true;
                }
                _ => {}
            }
        }
        Ok(Prepared {
            url,
            query,
            body,
            page,
            limit,
            absolute,
        })
    }

    fn request(&self, op: &RestOperation, p: &Prepared) -> reqwest::RequestBuilder {
        let method = match op.tool.operation.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        let mut r = self
            .http
            .request(method, &p.url)
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json, */*;q=0.5");
        if !p.absolute && !p.query.is_empty() {
            r = r.query(&p.query);
        }
        if let Some(body) = &p.body {
            r = r.json(body);
        }
        r
    }

    /// Execute a tool call. Always answers with a `CallToolResult`: failures
    /// of the call itself are `isError` results the model can read.
    pub async fn call(&self, op: &RestOperation, arguments: Option<&RawValue>) -> Box<RawValue> {
        let args = match arguments.map(|a| serde_json::from_str::<Value>(a.get())) {
            None | Some(Ok(Value::Null)) => Value::Object(Map::new()),
            Some(Ok(v @ Value::Object(_))) => v,
            Some(_) => return error_result("Invalid arguments: arguments must be a JSON object"),
        };
        if let Err(e) = op.check(&args) {
            return error_result(e);
        }
        let Value::Object(args) = args else {
            unreachable!("matched as an object above")
        };
        let prepared = match self.prepare(op, &args) {
            Ok(p) => p,
            Err(e) => return error_result(e),
        };
        let shown = format!(
            "{} {}",
            op.tool.operation.method.as_str(),
            prepared.url.split('?').next().unwrap_or("")
        );

        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let (request, token) = match self
                .auth
                .apply(&self.http, self.request(op, &prepared))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    return error_result(format!(
                        "Could not authenticate to the upstream API: {e}"
                    ));
                }
            };
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if e.is_timeout() => {
                    return error_result(format!(
                        "The upstream API did not answer within {} s ({shown}).",
                        self.timeout.as_secs_f64()
                    ));
                }
                Err(e) => {
                    return error_result(format!(
                        "Could not reach the upstream API ({shown}): {}",
                        e.without_url()
                    ));
                }
            };
            if response.status() == reqwest::StatusCode::UNAUTHORIZED
                && attempt == 1
                && self.auth.refreshes_on_401()
                && let Some(token) = token
            {
                self.auth.invalidate(&token).await;
                continue;
            }
            break response;
        };
        self.map_response(op, &prepared, &shown, response).await
    }

    async fn read_capped(
        &self,
        mut response: reqwest::Response,
    ) -> Result<(Vec<u8>, bool), String> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the upstream response broke off: {}", e.without_url()))?
        {
            let room = self.max_response_bytes.saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                return Ok((body, true));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, false))
    }

    async fn map_response(
        &self,
        op: &RestOperation,
        prepared: &Prepared,
        shown: &str,
        response: reqwest::Response,
    ) -> Box<RawValue> {
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let link = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let (body, truncated) = match self.read_capped(response).await {
            Ok(b) => b,
            Err(e) => return error_result(format!("{e} ({shown})")),
        };
        let note = if truncated {
            format!(
                "\n[truncated: the response exceeded {} bytes]",
                self.max_response_bytes
            )
        } else {
            String::new()
        };
        let text = String::from_utf8_lossy(&body);

        if !status.is_success() {
            let reason = status.canonical_reason().unwrap_or("");
            return result(json!({
                "content": [{"type": "text", "text": format!(
                    "The upstream API answered {} {reason} ({shown}): {}{note}",
                    status.as_u16(), trimmed(text.trim(), 2000))}],
                "isError": true,
            }));
        }
        if body.is_empty() {
            return result(json!({
                "content": [{"type": "text", "text": format!("OK ({} {})", status.as_u16(), status.canonical_reason().unwrap_or(""))}],
                "structuredContent": {"status": status.as_u16()},
            }));
        }
        let is_json = content_type.contains("json") || (content_type.is_empty() && !truncated);
        let parsed = if is_json && !truncated {
            serde_json::from_slice::<Value>(&body).ok()
        } else {
            None
        };
        if let Some(value) = parsed {
            let structured = if op.tool.operation.is_list {
                self.list_result(op, prepared, value, link)
            } else if value.is_object() {
                value
            } else {
                json!({ "result": value })
            };
            return crate::call_result::structured(&structured, None);
        }
        if content_type.starts_with("text/")
            || content_type.contains("json")
            || content_type.contains("xml")
            || std::str::from_utf8(&body).is_ok()
        {
            return result(json!({"content": [{"type": "text", "text": format!("{text}{note}")}]}));
        }
        let mime = if content_type.is_empty() {
            "application/octet-stream"
        } else {
            &content_type
        };
        let data = STANDARD.encode(&body);
        let block = if mime.starts_with("image/") {
            json!({"type": "image", "data": data, "mimeType": mime})
        } else {
            json!({"type": "resource", "resource": {"uri": prepared.url.split('?').next().unwrap_or(""), "mimeType": mime, "blob": data}})
        };
        let mut content = vec![block];
        if truncated {
            content.push(json!({"type": "text", "text": note.trim()}));
        }
        result(json!({ "content": content }))
    }

    /// Apply the uniform list contract: `{results, next_cursor}`.
    fn list_result(
        &self,
        op: &RestOperation,
        p: &Prepared,
        body: Value,
        link: Option<String>,
    ) -> Value {
        let pagination = op.tool.operation.pagination.as_ref();
        // Read the cursor before the items are taken out of the body.
        let cursor = match pagination {
            Some(Pagination::Cursor { next_cursor, .. }) => at_path(&body, next_cursor)
                .and_then(value_text)
                .filter(|c| !c.is_empty()),
            _ => None,
        };
        let mut body = body;
        let items = match pagination.and_then(Pagination::results_path) {
            Some(path) => at_path_mut(&mut body, path)
                .map(Value::take)
                .unwrap_or(Value::Array(Vec::new())),
            None => std::mem::take(&mut body),
        };
        let count = items.as_array().map(Vec::len);
        let next = match pagination {
            None => {
                // The API returns everything at once: page through it here.
                let mut all = match items {
                    Value::Array(all) => all,
                    _ => Vec::new(),
                };
                let total = all.len();
                let start = match p.page {
                    Some(PageCursor::Slice(n)) => n.min(total),
                    _ => 0,
                };
                // The client's limit may be any u64: saturate, never wrap.
                let end = p.limit.map_or(total, |l| {
                    start
                        .saturating_add(usize::try_from(l).unwrap_or(usize::MAX))
                        .min(total)
                });
                let next = (end < total).then(|| PageCursor::Slice(end).encode());
                all.truncate(end);
                all.drain(..start);
                return json!({ "results": all, "next_cursor": next });
            }
            Some(Pagination::Cursor { .. }) => cursor.map(|c| PageCursor::Cursor(c).encode()),
            Some(Pagination::Page { first_page, .. }) => {
                let current = match p.page {
                    Some(PageCursor::Page(n)) => n,
                    _ => *first_page,
                };
                let full = match (count, p.limit) {
                    (Some(0), _) | (None, _) => false,
                    (Some(n), Some(l)) => n as u64 >= l,
                    (Some(_), None) => true,
                };
                // The last page number has no successor.
                full.then(|| current.checked_add(1))
                    .flatten()
                    .map(|n| PageCursor::Page(n).encode())
            }
            Some(Pagination::Offset { .. }) => {
                let current = match p.page {
                    Some(PageCursor::Offset(n)) => n,
                    _ => 0,
                };
                let more = match (count, p.limit) {
                    (Some(n), Some(l)) if n > 0 && n as u64 >= l => Some(n),
                    (Some(n), None) if n > 0 => Some(n),
                    _ => None,
                };
                more.and_then(|n| current.checked_add(n as u64))
                    .map(|n| PageCursor::Offset(n).encode())
            }
            Some(Pagination::LinkHeader { .. }) => link.map(|u| PageCursor::Url(u).encode()),
        };
        json!({ "results": items, "next_cursor": next })
    }
}
