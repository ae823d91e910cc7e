//! The REST executor: a `tools/call` becomes one authenticated HTTP request
//! to the integrated account's API, and the answer becomes a tool result.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcpgate_catalog::integration::{BodyKind, ParamIn, ParamStyle, ParamStyles};
use mcpgate_catalog::tools::{CURSOR_ARG, LIMIT_ARG, Location};
use mcpgate_catalog::{Credentials, GeneratedTool, HttpMethod, Integration, Pagination};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::time::Duration;

use crate::auth::{Auth, RotateHook};
use crate::encode;
use crate::paging::{CursorKey, PageCursor, at_path, next_link};
use crate::redact::{Redactor, secrets_of};
use mcpgate_catalog::listing;

/// Longest next-page URL the gateway follows (a `Link` header or an
/// answer's next URL; the cursor carrying it comes back from the client).
const MAX_NEXT_URL: usize = 8 << 10;

/// Limits that apply to every REST call.
#[derive(Debug, Clone, Copy)]
pub struct RestSettings {
    /// Timeout when the integration sets none.
    pub default_timeout: Duration,
    /// Larger responses are truncated, with a note.
    pub max_response_bytes: usize,
    /// Largest file a multipart part may download from a `url` argument.
    pub max_upload_bytes: usize,
    /// Seals the `next_cursor` values list tools return; replicas share it.
    pub cursor_key: CursorKey,
}

impl Default for RestSettings {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(30),
            max_response_bytes: 1 << 20,
            max_upload_bytes: 16 << 20,
            cursor_key: CursorKey::generate(),
        }
    }
}

/// A generated tool, ready to run: its plan and compiled argument validator.
pub struct RestOperation {
    /// The tool and its execution plan.
    pub tool: GeneratedTool,
    /// Compiled on the first call: most tools of a large integration are
    /// never called, and a compiled validator is many times its schema.
    validator: std::sync::OnceLock<Option<jsonschema::Validator>>,
}

impl RestOperation {
    /// The tool, with its input schema compiled on first use. A schema the
    /// validator cannot compile (an exotic imported one) leaves validation
    /// to the upstream.
    pub fn new(tool: GeneratedTool) -> Self {
        Self {
            tool,
            validator: std::sync::OnceLock::new(),
        }
    }

    fn validator(&self) -> Option<&jsonschema::Validator> {
        self.validator
            .get_or_init(
                || match jsonschema::validator_for(&self.tool.operation.input_schema) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::warn!(tool = %self.tool.tool.name, error = %e,
                        "input schema does not compile; arguments go unvalidated");
                        None
                    }
                },
            )
            .as_ref()
    }

    /// Validate arguments; the error names each bad field.
    pub fn check(&self, args: &Value) -> Result<(), String> {
        let Some(v) = self.validator() else {
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
    max_upload_bytes: usize,
    /// Keeps the account's credentials out of error text built from the
    /// API's answers.
    redactor: Redactor,
    cursor_key: CursorKey,
    /// Who the account's cursors are sealed for (with the tool's name).
    cursor_scope: String,
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

/// The base URL an account calls: the account's own (placeholders filled)
/// when the integration's is absolute; when the integration's is a path
/// (`/api/v1`, from an OpenAPI document with a relative or no server), that
/// path resolved against the account's base URL (RFC 3986 §5.2).
///
/// Errors: a placeholder without its context value; a relative integration
/// URL with no account base URL.
pub fn account_base_url(
    integration: &str,
    account: Option<&str>,
    context: &Map<String, Value>,
) -> Result<String, String> {
    let absolute = |u: &str| u.starts_with("http://") || u.starts_with("https://");
    if absolute(integration) || account.is_none() {
        let template = account.unwrap_or(integration);
        if !absolute(template) {
            return Err(format!(
                "the integration's base URL is {:?}, not an absolute URL: give the account a base_url (e.g. https://api.example.com)",
                template
            ));
        }
        return resolve_base_url(template, context);
    }
    let account = resolve_base_url(account.unwrap_or_default(), context)?;
    let relative = resolve_base_url(integration, context)?;
    if relative.is_empty() {
        return Ok(account);
    }
    let base = reqwest::Url::parse(&format!("{account}/"))
        .map_err(|e| format!("the account's base_url {account:?} is not a URL: {e}"))?;
    let joined = base
        .join(&relative)
        .map_err(|e| format!("cannot resolve {relative:?} against {account:?}: {e}"))?;
    Ok(joined.as_str().trim_end_matches('/').to_owned())
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        other => Some(other.to_string()),
    }
}

/// A body as text, decoded per the `charset` its media type declares
/// (RFC 9110 §8.3.2; labels as the WHATWG Encoding Standard reads them:
/// `iso-8859-1`, `Shift_JIS`, `windows-1252`…), else as UTF-8 with
/// replacement characters. Also returns the declared encoding, if known.
fn decode_text<'b>(
    body: &'b [u8],
    content_type: &str,
) -> (
    std::borrow::Cow<'b, str>,
    Option<&'static encoding_rs::Encoding>,
) {
    let charset = content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"'))
    });
    match charset.and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes())) {
        Some(enc) => (enc.decode(body).0, Some(enc)),
        None => (String::from_utf8_lossy(body), None),
    }
}

/// Standard or URL-safe base64, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let t: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(&t)
        .or_else(|_| STANDARD_NO_PAD.decode(&t))
        .or_else(|_| URL_SAFE.decode(&t))
        .or_else(|_| URL_SAFE_NO_PAD.decode(&t))
        .ok()
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

/// A request body ready to send.
enum PreparedBody {
    /// Serialized as JSON.
    Json(Value),
    /// Bytes of a form, multipart, text or binary body, with their media type.
    Bytes { content_type: String, data: Vec<u8> },
}

struct Prepared {
    url: String,
    /// Query pieces, already percent-encoded (`name=value`).
    query: Vec<String>,
    /// Header parameters (and the `Cookie` header of cookie parameters).
    headers: Vec<(reqwest::header::HeaderName, String)>,
    body: Option<PreparedBody>,
    /// The page cursor the request was built from (for computing the next one).
    page: Option<PageCursor>,
    limit: Option<u64>,
    /// A full `Link` URL replaces URL and query.
    absolute: bool,
}

/// Substitute encoded path values into a template, one segment at a time,
/// refusing any value that would change the path's structure: an empty
/// segment, or one a server reads as `.` or `..` (also `%2e` forms), which
/// would send the request to another resource (RFC 3986 §5.2.4).
fn build_path(
    template: &str,
    values: &std::collections::HashMap<&str, (&str, String)>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    for (i, seg) in template.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if !seg.contains('{') {
            out.push_str(seg);
            continue;
        }
        let mut text = seg.to_owned();
        let mut args = Vec::new();
        for name in mcpgate_catalog::integration::placeholders(seg).unwrap_or_default() {
            if let Some((arg, value)) = values.get(name) {
                text = text.replace(&format!("{{{name}}}"), value);
                args.push(*arg);
            }
        }
        if !args.is_empty() && (text.is_empty() || encode::is_dot_segment(&text)) {
            return Err(format!(
                "Invalid arguments: {} would change the request's path: a path parameter cannot be empty, \".\" or \"..\" (or an encoded form of them)",
                args.join(", ")
            ));
        }
        out.push_str(&text);
    }
    Ok(out)
}

/// The JSON pointer of an argument's schema in a tool's input schema.
fn arg_pointer(arg: &str) -> String {
    format!("/properties/{}", arg.replace('~', "~0").replace('/', "~1"))
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
        Ok(Self {
            http,
            base_url: account_base_url(&integration.base_url, base_url, context)?,
            auth: Auth::new(credentials, &integration.auth, on_rotate)?,
            timeout: integration
                .timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(settings.default_timeout),
            max_response_bytes: settings.max_response_bytes,
            max_upload_bytes: settings.max_upload_bytes,
            redactor: Redactor::new(secrets_of(credentials)),
            cursor_key: settings.cursor_key,
            cursor_scope: String::new(),
        })
    }

    /// Seal this account's cursors for `scope` (its stable id), so a cursor
    /// one account issued does not open for another.
    #[must_use]
    pub fn with_cursor_scope(mut self, scope: impl Into<String>) -> Self {
        self.cursor_scope = scope.into();
        self
    }

    /// The `next_cursor` this account hands out for `cursor` on `op`'s list:
    /// sealed for this account and tool ([`CursorKey::seal`]).
    pub fn cursor_for(&self, op: &RestOperation, cursor: &PageCursor) -> String {
        self.cursor_key.seal(cursor, &self.cursor_scope(op))
    }

    /// The scope a tool's cursors are sealed for: account, base URL and tool.
    fn cursor_scope(&self, op: &RestOperation) -> String {
        format!(
            "{}\0{}\0{}",
            self.cursor_scope, self.base_url, op.tool.tool.name
        )
    }

    /// The resolved base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn prepare(
        &self,
        op: &RestOperation,
        args: &Map<String, Value>,
    ) -> Result<Prepared, String> {
        let plan = &op.tool.operation;
        let styles = plan.styles.as_ref();
        let mut path_values = std::collections::HashMap::new();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        let mut cookies = Vec::new();
        let mut body_props = Map::new();
        let mut whole_body = None;
        for binding in &plan.bindings {
            let Some(value) = args.get(&binding.arg) else {
                continue;
            };
            // Nested keys renamed for clients get the API's names back.
            let restored;
            let value = if plan.keys.is_empty() || !(value.is_object() || value.is_array()) {
                value
            } else {
                let mut v = value.clone();
                plan.keys
                    .restore(&plan.input_schema, &arg_pointer(&binding.arg), &mut v);
                restored = v;
                &restored
            };
            if value.is_null() {
                if matches!(binding.location, Location::Path(_)) {
                    return Err(format!(
                        "Invalid arguments: {} must not be null",
                        binding.arg
                    ));
                }
                continue;
            }
            match &binding.location {
                Location::Path(name) => {
                    let style = ParamStyles::get(styles, ParamIn::Path, name);
                    path_values.insert(
                        name.as_str(),
                        (binding.arg.as_str(), encode::path_value(name, value, style)),
                    );
                }
                Location::Query(name) => {
                    let style = ParamStyles::get(styles, ParamIn::Query, name);
                    query.extend(encode::query_pieces(name, value, style));
                }
                Location::Header(name) => {
                    if mcpgate_catalog::openapi::is_reserved_header(name) {
                        continue;
                    }
                    let header =
                        reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                            format!(
                                "the API's header parameter {name:?} is not a valid header name"
                            )
                        })?;
                    let style = ParamStyles::get(styles, ParamIn::Header, name);
                    headers.push((
                        header,
                        encode::header_value(&binding.arg, value, style.explode)?,
                    ));
                }
                Location::Cookie(name) => {
                    let style = ParamStyles::get(styles, ParamIn::Cookie, name);
                    cookies.extend(encode::cookie_pieces(name, value, style));
                }
                Location::Body(name) => {
                    body_props.insert(name.clone(), value.clone());
                }
                Location::WholeBody => whole_body = Some(value.clone()),
            }
        }
        let path = build_path(&plan.path, &path_values)?;
        if !cookies.is_empty() {
            headers.push((reqwest::header::COOKIE, cookies.join("; ")));
        }
        let body = self.body(op, body_props, whole_body).await?;

        let limit = args.get(LIMIT_ARG).and_then(Value::as_u64);
        let page = match args.get(CURSOR_ARG).and_then(Value::as_str) {
            None | Some("") => None,
            Some(token) => Some(self.cursor_key.open(token, &self.cursor_scope(op)).ok_or_else(|| {
                "Invalid arguments: next_cursor is not a value this tool returned; omit it to start from the first page".to_owned()
            })?),
        };
        let mut url = format!("{}{}", self.base_url, path);
        let mut absolute = false;
        if let (true, Some(PageCursor::Url(next))) = (plan.is_list, &page) {
            // A next page the upstream named (any paging style, or none
            // declared): its URL replaces URL and query.
            self.check_next_url(next)?;
            url = next.clone();
            absolute = true;
        } else if plan.is_list
            && let Some(p) = &plan.pagination
        {
            let mut push = |name: &str, value: String| {
                query.extend(encode::query_pieces(
                    name,
                    &Value::String(value),
                    ParamStyle::default_for(ParamIn::Query),
                ));
            };
            if let (Some(limit), Some(param)) = (limit, p.limit_param()) {
                push(param, limit.to_string());
            }
            match (p, &page) {
                (Pagination::Cursor { cursor_param, .. }, Some(PageCursor::Cursor(c))) => {
                    push(cursor_param, c.clone());
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
                    push(page_param, n.to_string());
                }
                // The first page needs no offset (every API starts at 0).
                (Pagination::Offset { offset_param, .. }, Some(PageCursor::Offset(n))) => {
                    push(offset_param, n.to_string());
                }
                _ => {}
            }
        }
        Ok(Prepared {
            url,
            query,
            headers,
            body,
            page,
            limit,
            absolute,
        })
    }

    /// The request body in the operation's media type, from the body
    /// arguments (API names) or the whole-body argument.
    async fn body(
        &self,
        op: &RestOperation,
        props: Map<String, Value>,
        whole: Option<Value>,
    ) -> Result<Option<PreparedBody>, String> {
        let plan = &op.tool.operation;
        if plan.method == HttpMethod::Head {
            return Ok(None);
        }
        let has_props = plan
            .bindings
            .iter()
            .any(|b| matches!(b.location, Location::Body(_)));
        // A body with nothing in it is sent only where the method expects one.
        let fields = match whole {
            Some(w) => Some(w),
            None if has_props
                && (!props.is_empty()
                    || matches!(
                        plan.method,
                        HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch
                    )) =>
            {
                Some(Value::Object(props))
            }
            None => None,
        };
        let Some(fields) = fields else {
            return Ok(None);
        };
        let content_type = plan.content_type.as_deref().unwrap_or("application/json");
        let bytes = |data: Vec<u8>| {
            Ok(Some(PreparedBody::Bytes {
                content_type: content_type.to_owned(),
                data,
            }))
        };
        match BodyKind::of(content_type) {
            BodyKind::Json => Ok(Some(PreparedBody::Json(fields))),
            BodyKind::Form => {
                let Value::Object(fields) = fields else {
                    return Err("Invalid arguments: a form body must be an object".into());
                };
                let style_of = |name: &str| {
                    plan.encoding
                        .as_ref()
                        .and_then(|e| e.get(name))
                        .and_then(|e| e.style)
                        .unwrap_or_else(|| ParamStyle::default_for(ParamIn::Query))
                };
                bytes(encode::form_body(&fields, style_of).into_bytes())
            }
            BodyKind::Multipart => {
                let Value::Object(fields) = fields else {
                    return Err("Invalid arguments: a multipart body must be an object".into());
                };
                let parts = self.parts(op, fields).await?;
                let (boundary, data) = encode::multipart(&parts);
                Ok(Some(PreparedBody::Bytes {
                    content_type: format!("multipart/form-data; boundary={boundary}"),
                    data,
                }))
            }
            BodyKind::Text => match fields {
                Value::String(s) => bytes(s.into_bytes()),
                other => bytes(other.to_string().into_bytes()),
            },
            BodyKind::Binary => {
                let Value::String(b64) = fields else {
                    return Err("Invalid arguments: body must be a base64 string".into());
                };
                let data =
                    decode_base64(&b64).ok_or("Invalid arguments: body is not valid base64")?;
                self.check_upload_size(data.len())?;
                bytes(data)
            }
        }
    }

    fn check_upload_size(&self, len: usize) -> Result<(), String> {
        if len > self.max_upload_bytes {
            return Err(format!(
                "Invalid arguments: the file is larger than {} bytes (upstream.max_upload_bytes)",
                self.max_upload_bytes
            ));
        }
        Ok(())
    }

    /// The parts of a multipart body: files from base64 or a URL, other
    /// values as text (objects and arrays of objects as JSON parts).
    async fn parts(
        &self,
        op: &RestOperation,
        fields: Map<String, Value>,
    ) -> Result<Vec<encode::Part>, String> {
        let plan = &op.tool.operation;
        let mut parts = Vec::new();
        for (name, value) in fields {
            let part_type = plan
                .encoding
                .as_ref()
                .and_then(|e| e.get(&name))
                .and_then(|e| e.content_type.clone());
            if plan.files.contains(&name) {
                let files = match value {
                    Value::Array(items) => items,
                    one => vec![one],
                };
                for file in &files {
                    parts.push(self.file_part(&name, file, part_type.as_deref()).await?);
                }
                continue;
            }
            let scalars = |items: &[Value]| items.iter().all(|v| !(v.is_object() || v.is_array()));
            match value {
                Value::Null => {}
                Value::Array(items) if scalars(&items) => {
                    for item in items.iter().filter_map(encode::scalar_text) {
                        parts.push(encode::Part {
                            name: name.clone(),
                            filename: None,
                            content_type: part_type.clone(),
                            data: item.into_bytes(),
                        });
                    }
                }
                v @ (Value::Array(_) | Value::Object(_)) => parts.push(encode::Part {
                    name,
                    filename: None,
                    content_type: Some(part_type.unwrap_or_else(|| "application/json".into())),
                    data: v.to_string().into_bytes(),
                }),
                other => parts.push(encode::Part {
                    name,
                    filename: None,
                    content_type: part_type,
                    data: encode::scalar_text(&other).unwrap_or_default().into_bytes(),
                }),
            }
        }
        Ok(parts)
    }

    /// A file part from `{content_base64 | url, filename?, content_type?}`
    /// (a bare string is taken as base64 content).
    async fn file_part(
        &self,
        name: &str,
        file: &Value,
        part_type: Option<&str>,
    ) -> Result<encode::Part, String> {
        let field = |k: &str| file.get(k).and_then(Value::as_str);
        let (data, fetched_type, url_name) =
            if let Some(b64) = field("content_base64").or(file.as_str()) {
                let data = decode_base64(b64).ok_or_else(|| {
                    format!("Invalid arguments: {name}.content_base64 is not valid base64")
                })?;
                self.check_upload_size(data.len())?;
                (data, None, None)
            } else if let Some(url) = field("url") {
                let (data, ct) = self.download(name, url).await?;
                let last = url
                    .split(['?', '#'])
                    .next()
                    .and_then(|u| u.rsplit('/').next())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                (data, ct, last)
            } else {
                return Err(format!(
                    "Invalid arguments: {name} needs content_base64 or url"
                ));
            };
        Ok(encode::Part {
            name: name.to_owned(),
            filename: Some(
                field("filename")
                    .map(str::to_owned)
                    .or(url_name)
                    .unwrap_or_else(|| name.to_owned()),
            ),
            content_type: Some(
                field("content_type")
                    .map(str::to_owned)
                    .or_else(|| part_type.map(str::to_owned))
                    .or(fetched_type)
                    .unwrap_or_else(|| "application/octet-stream".into()),
            ),
            data,
        })
    }

    /// Download a file for a multipart part through the gateway's shared
    /// HTTP client (so its outbound URL policy applies), without the
    /// account's credentials, reading at most `max_upload_bytes`.
    async fn download(&self, name: &str, url: &str) -> Result<(Vec<u8>, Option<String>), String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("Invalid arguments: {name}.url is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "Invalid arguments: {name}.url must be an http(s) URL"
            ));
        }
        let fail = |e: String| format!("Could not download {name}.url: {e}");
        let mut response = self
            .http
            .get(parsed)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("the server answered {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_upload_bytes as u64)
        {
            self.check_upload_size(usize::MAX)?;
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut data = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?
        {
            self.check_upload_size(data.len() + chunk.len())?;
            data.extend_from_slice(&chunk);
        }
        Ok((data, content_type))
    }

    fn request(&self, op: &RestOperation, p: &Prepared) -> reqwest::RequestBuilder {
        let method = match op.tool.operation.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
            HttpMethod::Head => reqwest::Method::HEAD,
        };
        let url = Self::full_url(p);
        let mut r = self
            .http
            .request(method, url)
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json, */*;q=0.5");
        for (name, value) in &p.headers {
            r = r.header(name.clone(), value.as_str());
        }
        match &p.body {
            Some(PreparedBody::Json(body)) => r = r.json(body),
            Some(PreparedBody::Bytes { content_type, data }) => {
                r = r
                    .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                    .body(data.clone());
            }
            None => {}
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
        let prepared = match self.prepare(op, &args).await {
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
                        crate::egress::reason(e)
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
            break (response, token);
        };
        let (response, token) = response;
        self.map_response(op, &prepared, &shown, response, token.as_deref())
            .await
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
        token: Option<&str>,
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
        let redactor = match token {
            Some(_) => std::borrow::Cow::Owned(self.redactor.with(token)),
            None => std::borrow::Cow::Borrowed(&self.redactor),
        };
        // An API that echoes the account's credentials (a "whoami", a
        // request dump) must not hand them to the model: they go from text
        // answers whatever the status.
        let text = match std::str::from_utf8(&body) {
            Ok(text) => Some(text),
            // Cut by the cap inside a character: the text before it.
            Err(e) if e.error_len().is_none() => std::str::from_utf8(&body[..e.valid_up_to()]).ok(),
            Err(_) => None,
        };
        let body = match text.and_then(|t| redactor.strip_secrets(t)) {
            Some(clean) => clean.into_bytes(),
            None => body,
        };
        let note = if truncated {
            format!(
                "\n[truncated: the response exceeded {} bytes]",
                self.max_response_bytes
            )
        } else {
            String::new()
        };
        let (text, charset) = decode_text(&body, &content_type);

        if !status.is_success() {
            let reason = status.canonical_reason().unwrap_or("");
            // Some APIs echo the request's credentials in their errors;
            // removed before the cut, so no part of one is left.
            let text = redactor.redact(text.trim());
            return result(json!({
                "content": [{"type": "text", "text": format!(
                    "The upstream API answered {} {reason} ({shown}): {}{note}",
                    status.as_u16(), trimmed(&text, 2000))}],
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
            match charset {
                // JSON in a declared legacy charset: parse the decoded text.
                Some(enc) if enc != encoding_rs::UTF_8 => serde_json::from_str::<Value>(&text).ok(),
                _ => serde_json::from_slice::<Value>(&body).ok(),
            }
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
            || charset.is_some()
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

    /// Refuse a next-page URL that leaves the account's API: another
    /// origin, a path outside the base URL's (after dot segments are
    /// resolved), user info, or an unbounded length. The request carries
    /// the account's credentials.
    fn check_next_url(&self, next: &str) -> Result<(), String> {
        let outside = || "Invalid arguments: next_cursor points outside this API".to_owned();
        if next.len() > MAX_NEXT_URL {
            return Err(outside());
        }
        let (Ok(url), Ok(base)) = (
            reqwest::Url::parse(next),
            reqwest::Url::parse(&self.base_url),
        ) else {
            return Err(outside());
        };
        let base_path = base.path().trim_end_matches('/');
        let under = url.path() == base_path
            || url
                .path()
                .strip_prefix(base_path)
                .is_some_and(|rest| rest.starts_with('/'));
        if url.origin() != base.origin()
            || !under
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(outside());
        }
        Ok(())
    }

    /// A next-page URL from an answer (absolute, or relative to the
    /// request's URL as RFC 3986 resolves it), bounded.
    fn next_page_url(p: &Prepared, raw: &str) -> Option<PageCursor> {
        let request = reqwest::Url::parse(&Self::full_url(p)).ok()?;
        let next = request.join(raw.trim()).ok()?;
        // The same URL again would page forever.
        (next.as_str().len() <= MAX_NEXT_URL && next != request)
            .then(|| PageCursor::Url(next.into()))
    }

    /// The URL a prepared request goes to, query included.
    fn full_url(p: &Prepared) -> String {
        if !p.absolute && !p.query.is_empty() {
            let joiner = if p.url.contains('?') { '&' } else { '?' };
            format!("{}{joiner}{}", p.url, p.query.join("&"))
        } else {
            p.url.clone()
        }
    }

    /// Apply the uniform list contract ([`crate::paging::page`]). The items
    /// are the answer itself when it is an array, else the array at the
    /// declared path, else the one this answer holds
    /// ([`listing::items_in_value`]); an answer with no item array is
    /// returned as it came, never emptied.
    fn list_result(
        &self,
        op: &RestOperation,
        p: &Prepared,
        mut body: Value,
        link: Option<String>,
    ) -> Value {
        let plan = &op.tool.operation;
        let items_path = match &body {
            Value::Array(_) => String::new(),
            Value::Object(_) => match plan
                .results
                .as_deref()
                .filter(|r| at_path(&body, r).is_some_and(Value::is_array))
                .map(str::to_owned)
                .or_else(|| listing::items_in_value(&body))
            {
                Some(path) => path,
                None => return body,
            },
            other => return json!({ "result": other }),
        };
        let count = at_path(&body, &items_path)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        // A next page the answer names outright: a `Link` header or a URL
        // in the body.
        let named_url = || {
            link.as_deref()
                .and_then(|l| Self::next_page_url(p, l))
                .or_else(|| {
                    let path = listing::next_url_in_value(&body)?;
                    Self::next_page_url(p, at_path(&body, &path)?.as_str()?)
                })
        };
        // The answer field whose value `next_cursor` now carries.
        let mut carried = None;
        let next = match plan.pagination.as_ref() {
            Some(Pagination::Cursor { next_cursor, .. }) => at_path(&body, next_cursor)
                .and_then(value_text)
                .filter(|c| !c.is_empty())
                // The cursor just sent, again, would page forever.
                .filter(|c| !matches!(&p.page, Some(PageCursor::Cursor(sent)) if sent == c))
                .map(|c| {
                    carried = Some(next_cursor.as_str());
                    PageCursor::Cursor(c)
                }),
            Some(Pagination::NextUrl { next_url, .. }) => at_path(&body, next_url)
                .and_then(Value::as_str)
                .and_then(|u| Self::next_page_url(p, u))
                .inspect(|_| carried = Some(next_url.as_str())),
            Some(Pagination::LinkHeader { .. }) => named_url(),
            Some(Pagination::Page { first_page, .. }) => named_url().or_else(|| {
                let current = match p.page {
                    Some(PageCursor::Page(n)) => n,
                    _ => *first_page,
                };
                let full = count > 0 && p.limit.is_none_or(|l| count as u64 >= l);
                // The last page number has no successor (saturating would
                // hand the client the same page again, forever).
                full.then(|| current.checked_add(1))
                    .flatten()
                    .map(PageCursor::Page)
            }),
            Some(Pagination::Offset { .. }) => named_url().or_else(|| {
                let current = match p.page {
                    Some(PageCursor::Offset(n)) => n,
                    _ => 0,
                };
                let full = count > 0 && p.limit.is_none_or(|l| count as u64 >= l);
                full.then(|| current.checked_add(count as u64))
                    .flatten()
                    .map(PageCursor::Offset)
            }),
            None => named_url(),
        };
        // `has_more: false` ends the list whatever else the answer says.
        let next = next.filter(|_| listing::has_more(&body) != Some(false));
        if let Some(path) = carried
            && path != items_path
            && !path.starts_with(&format!("{items_path}."))
        {
            listing::remove_at(&mut body, path);
        }
        let items = match listing::remove_at(&mut body, &items_path) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        if plan.pagination.is_none() && next.is_none() {
            // The API returns everything at once: page through it here.
            let mut all = items;
            let total = all.len();
            let start = match p.page {
                Some(PageCursor::Slice(n)) => n.min(total),
                _ => 0,
            };
            let end = p.limit.map_or(total, |l| {
                start
                    .saturating_add(usize::try_from(l).unwrap_or(usize::MAX))
                    .min(total)
            });
            let next = (end < total).then(|| {
                self.cursor_key
                    .seal(&PageCursor::Slice(end), &self.cursor_scope(op))
            });
            all.truncate(end);
            all.drain(..start);
            return crate::paging::page(all, next, body);
        }
        let next = next.map(|c| self.cursor_key.seal(&c, &self.cursor_scope(op)));
        crate::paging::page(items, next, body)
    }
}
