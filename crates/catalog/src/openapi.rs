//! OpenAPI 3.0 / 3.1 import: operations become resources and methods.
//!
//! The document is walked as plain JSON rather than through a typed OpenAPI
//! model: a typed parser rejects a whole document for one odd operation,
//! while an import must convert what it can and skip the rest, each skipped
//! operation named with its reason ([`Skipped`]).
//!
//! Local `$ref`s (any JSON pointer into the document, RFC 6901 escapes and
//! percent-encoding included) are followed. Schema refs are rewritten to
//! `#/$defs/<key>` (a component schema keeps its name); the referenced
//! schemas (transitively) are kept once in the integration's shared
//! [`Integration::defs`], each converted once, and each generated tool
//! carries the part it reaches within a byte budget (`crate::defs`), so
//! recursive schemas survive and a 10,000-operation document does not copy
//! its schemas 10,000 times; parameter, request-body and response refs are followed. Rooms: `params` (parameters and their styles),
//! `body` (request media types and encodings), `names` (tool names).

mod body;
mod names;
mod paging;
mod params;

use serde_json::{Map, Value, json};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::rc::Rc;

use crate::integration::{
    AuthSpec, DefinitionError, HttpMethod, Integration, KeyLocation, Method, MethodKind, Resource,
};
use crate::naming::snake;

pub use params::is_reserved_header;

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Integration name (default: from `info.title`).
    pub name: Option<String>,
    /// Base URL (default: the first `servers` entry; a relative or missing
    /// one is resolved against each account's base URL at call time).
    pub base_url: Option<String>,
}

/// Why an operation was not converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// An HTTP method no tool is made for (OPTIONS, TRACE).
    UnsupportedMethod,
    /// A `$ref` into another document (only local refs are followed).
    RemoteRef(String),
    /// A local `$ref` that names nothing in the document.
    UnresolvableRef(String),
    /// A chain of `$ref`s that loops without reaching an object.
    CircularRef(String),
    /// A path template that cannot be parsed (unbalanced braces…).
    BadPath(String),
    /// The operation, or something it uses, is not valid OpenAPI.
    Malformed(String),
}

impl SkipReason {
    /// A short, stable key for summaries by reason.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnsupportedMethod => "unsupported_method",
            Self::RemoteRef(_) => "remote_ref",
            Self::UnresolvableRef(_) => "unresolvable_ref",
            Self::CircularRef(_) => "circular_ref",
            Self::BadPath(_) => "bad_path",
            Self::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedMethod => f.write_str("no tool is made for this HTTP method"),
            Self::RemoteRef(r) => write!(
                f,
                "remote reference {r:?} is not followed (only refs within the document)"
            ),
            Self::UnresolvableRef(r) => write!(f, "reference {r:?} names nothing in the document"),
            Self::CircularRef(r) => write!(f, "reference {r:?} loops"),
            Self::BadPath(e) => write!(f, "bad path template: {e}"),
            Self::Malformed(e) => f.write_str(e),
        }
    }
}

impl From<String> for SkipReason {
    fn from(e: String) -> Self {
        Self::Malformed(e)
    }
}

/// An operation the import left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// HTTP method, upper case.
    pub method: String,
    /// The path as the document writes it.
    pub path: String,
    /// The operation's `operationId`, if any.
    pub operation_id: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "skipped {} {} ({}): {}",
            self.method,
            self.path,
            self.operation_id.as_deref().unwrap_or("-"),
            self.reason
        )
    }
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The converted integration.
    pub integration: Integration,
    /// One line per skipped operation (as [`Skipped`] displays) or dropped feature.
    pub warnings: Vec<String>,
    /// Every skipped operation with its reason.
    pub skipped: Vec<Skipped>,
    /// Operations in the document.
    pub operations: usize,
    /// Operations converted into methods.
    pub converted: usize,
}

/// Skipped operations counted by [`SkipReason::kind`], most frequent first.
pub fn skip_summary(skipped: &[Skipped]) -> Vec<(&'static str, usize)> {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for s in skipped {
        *counts.entry(s.reason.kind()).or_default() += 1;
    }
    let mut out: Vec<_> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    out
}

/// Parse an OpenAPI document written in JSON or YAML.
pub fn parse_document(text: &str) -> Result<Value, DefinitionError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        serde_json::from_str(text).map_err(|e| err("", format!("invalid JSON: {e}")))
    } else {
        yaml_serde::from_str(text).map_err(|e| err("", format!("invalid YAML: {e}")))
    }
}

/// Whether a JSON document looks like OpenAPI (rather than an mcpgate definition).
pub fn is_openapi(doc: &Value) -> bool {
    doc.get("openapi").is_some() || doc.get("swagger").is_some()
}

fn err(path: &str, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        file: None,
        path: path.to_owned(),
        message: message.into(),
    }
}

const VERBS: [(&str, HttpMethod); 6] = [
    ("get", HttpMethod::Get),
    ("post", HttpMethod::Post),
    ("put", HttpMethod::Put),
    ("patch", HttpMethod::Patch),
    ("delete", HttpMethod::Delete),
    ("head", HttpMethod::Head),
];

/// A path item, or why it cannot be read.
type PathItem<'a> = Result<&'a Map<String, Value>, SkipReason>;

/// A normalized path template: the template, raw → new placeholder names,
/// and the placeholders in order.
type NormalizedPath = (String, BTreeMap<String, String>, Vec<String>);

/// Operation keys of a path item no tool is made for.
const UNSUPPORTED_VERBS: [&str; 2] = ["options", "trace"];

/// Text without HTML tags (Stripe's descriptions are HTML) and at most
/// `max` characters.
fn plain_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 8));
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let is_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match after.find('>') {
            Some(close) if is_tag && !after[..close].contains('<') => rest = &after[close + 1..],
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    out.trim().chars().take(max).collect()
}

/// Non-empty text of a string field.
fn text_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Convert an OpenAPI 3.x document. `progress(done, total)` is called after
/// each operation so a CLI can show progress on long imports.
///
/// Errors: not OpenAPI 3, or no operation converts (the message then lists
/// every skipped operation with its reason).
pub fn import(
    doc: &Value,
    options: &ImportOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Imported, DefinitionError> {
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with("3.") {
        let what = if doc.get("swagger").is_some() {
            "Swagger 2.0 is not supported; convert it to OpenAPI 3 first".to_owned()
        } else {
            format!("\"openapi\" must be 3.0.x or 3.1.x (found {version:?})")
        };
        return Err(err("openapi", what));
    }
    let mut warnings = Vec::new();
    let name = match &options.name {
        Some(n) => n.clone(),
        None => {
            let title = doc
                .pointer("/info/title")
                .and_then(Value::as_str)
                .unwrap_or("api");
            let s = snake(title);
            if s.is_empty() { "api".to_owned() } else { s }
        }
    };
    let base_url = match &options.base_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => server_url(doc, &mut warnings),
    };
    let auth = auth_spec(doc, &mut warnings);
    let ctx = Ctx {
        doc,
        auth: &auth,
        depth: Cell::new(0),
        defs: RefCell::default(),
        sound: RefCell::default(),
        used: RefCell::default(),
    };

    let empty = Map::new();
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    // Path items may themselves be `$ref`s.
    let items: Vec<(&String, PathItem)> = paths
        .iter()
        .map(|(p, item)| {
            let item = ctx.deref(item).and_then(|i| {
                i.as_object()
                    .ok_or_else(|| SkipReason::Malformed("the path item is not an object".into()))
            });
            (p, item)
        })
        .collect();
    let is_op = |k: &str| VERBS.iter().any(|(v, _)| *v == k) || UNSUPPORTED_VERBS.contains(&k);
    let total: usize = items
        .iter()
        .map(|(_, item)| match item {
            Ok(item) => item.keys().filter(|k| is_op(k)).count(),
            Err(_) => 1,
        })
        .sum();
    let path_set: HashSet<&str> = paths.keys().map(String::as_str).collect();

    let mut builder = Builder::default();
    let mut skipped = Vec::new();
    let mut done = 0;
    for (path, item) in &items {
        let item = match item {
            Ok(item) => *item,
            Err(reason) => {
                skipped.push(Skipped {
                    method: "*".into(),
                    path: (*path).clone(),
                    operation_id: None,
                    reason: reason.clone(),
                });
                done += 1;
                progress(done, total);
                continue;
            }
        };
        for (verb, op) in item.iter().filter(|(k, _)| is_op(k)) {
            let method = VERBS.iter().find(|(v, _)| v == verb).map(|(_, m)| *m);
            let result = match method {
                Some(method) => ctx.operation(path, item, op, method, &path_set),
                None => Err(SkipReason::UnsupportedMethod),
            };
            match result {
                Ok(converted) => builder.add(converted),
                Err(reason) => skipped.push(Skipped {
                    method: verb.to_uppercase(),
                    path: (*path).clone(),
                    operation_id: op
                        .get("operationId")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    reason,
                }),
            }
            done += 1;
            progress(done, total);
        }
    }
    let converted = builder.count;
    if converted == 0 {
        let mut message = format!("no operation could be converted ({total} in the document)");
        if !skipped.is_empty() {
            let summary: Vec<String> = skip_summary(&skipped)
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            message.push_str(&format!("; skipped by reason: {}", summary.join(", ")));
            for s in &skipped {
                message.push_str(&format!("\n  {s}"));
            }
        }
        return Err(err("paths", message));
    }
    warnings.splice(0..0, skipped.iter().map(ToString::to_string));
    let defs = ctx.closure(&ctx.used.borrow(), usize::MAX);
    drop(ctx);
    let integration = Integration {
        name,
        label: doc
            .pointer("/info/title")
            .and_then(Value::as_str)
            .map(str::to_owned),
        description: doc
            .pointer("/info/description")
            .and_then(Value::as_str)
            .map(|d| plain_text(d, 1000))
            .filter(|d| !d.is_empty()),
        base_url,
        auth,
        timeout_secs: None,
        resources: builder.finish(),
        defs,
    };
    integration.validate()?;
    Ok(Imported {
        integration,
        warnings,
        skipped,
        operations: total,
        converted,
    })
}

/// The first server's URL with its variables' defaults filled in. A
/// scheme-relative URL (`//host/v1`) becomes `https:`; a relative one
/// (`/api/v1`) or none at all stays relative: each account's base URL
/// completes it at call time.
fn server_url(doc: &Value, warnings: &mut Vec<String>) -> String {
    let Some(server) = doc.pointer("/servers/0") else {
        return String::new();
    };
    let mut url = server
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    if let Some(vars) = server.get("variables").and_then(Value::as_object) {
        for (k, v) in vars {
            let value = v
                .get("default")
                .and_then(Value::as_str)
                .or_else(|| v.pointer("/enum/0").and_then(Value::as_str));
            if let Some(value) = value {
                url = url.replace(&format!("{{{k}}}"), value);
            }
        }
    }
    if url.starts_with("//") {
        url = format!("https:{url}");
    } else if !url.is_empty() && !url.contains("://") && !url.starts_with('/') {
        url = format!("/{url}");
    }
    let absolute = url.starts_with("http://") || url.starts_with("https://");
    let usable = crate::integration::placeholders(&url).is_ok();
    if !(absolute || url.starts_with('/') || url.is_empty()) || !usable {
        warnings.push(format!(
            "server URL {url:?} is not an http(s) URL or a path; each account must give its base_url"
        ));
        return String::new();
    }
    url.trim_end_matches('/').to_owned()
}

fn auth_spec(doc: &Value, warnings: &mut Vec<String>) -> AuthSpec {
    let schemes = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object);
    let Some(schemes) = schemes else {
        return AuthSpec::None;
    };
    // The first scheme the document requires globally, else the first defined.
    let chosen = doc
        .pointer("/security/0")
        .and_then(Value::as_object)
        .and_then(|req| req.keys().next().cloned())
        .or_else(|| schemes.keys().next().cloned());
    let Some(name) = chosen else {
        return AuthSpec::None;
    };
    let Some(s) = schemes.get(&name) else {
        return AuthSpec::None;
    };
    let s = if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        doc.pointer(r.trim_start_matches('#')).unwrap_or(s)
    } else {
        s
    };
    let field = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("");
    match field("type") {
        "http" if field("scheme").eq_ignore_ascii_case("bearer") => AuthSpec::Bearer,
        "http" if field("scheme").eq_ignore_ascii_case("basic") => AuthSpec::Basic,
        "apiKey" if field("in") == "header" || field("in") == "query" => AuthSpec::ApiKey {
            location: if field("in") == "header" {
                KeyLocation::Header
            } else {
                KeyLocation::Query
            },
            name: field("name").to_owned(),
        },
        "oauth2" => {
            let flows = s.get("flows");
            if let Some(cc) = flows.and_then(|f| f.get("clientCredentials")) {
                AuthSpec::Oauth2ClientCredentials {
                    token_url: cc
                        .get("tokenUrl")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    scopes: cc
                        .get("scopes")
                        .and_then(Value::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default(),
                }
            } else if let Some(ac) = flows.and_then(|f| f.get("authorizationCode")) {
                AuthSpec::Oauth2RefreshToken {
                    token_url: ac
                        .get("tokenUrl")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                }
            } else {
                warnings.push(format!(
                    "security scheme {name:?}: OAuth flow not supported; no auth set"
                ));
                AuthSpec::None
            }
        }
        other => {
            warnings.push(format!(
                "security scheme {name:?} ({other}) not supported; no auth set"
            ));
            AuthSpec::None
        }
    }
}

struct Ctx<'a> {
    doc: &'a Value,
    /// The integration's auth: its credential parameter is not an argument.
    auth: &'a AuthSpec,
    /// How deep [`Ctx::schema`] is now: a reference cycle outside
    /// `#/components/schemas`, or a very deep schema, ends in an error
    /// instead of overflowing the stack.
    depth: Cell<usize>,
    /// Each referenced schema converted once, by JSON pointer (or why it
    /// does not convert).
    defs: RefCell<HashMap<String, Result<Rc<Def>, SkipReason>>>,
    /// Pointers whose every reachable schema is known to convert.
    sound: RefCell<HashSet<String>>,
    /// Pointers the converted operations reference: with what they reach,
    /// the integration's shared definitions.
    used: RefCell<BTreeSet<String>>,
}

/// A referenced schema, converted.
struct Def {
    key: String,
    schema: Value,
    /// The pointers it references.
    refs: Vec<String>,
    /// Its size as compact JSON.
    bytes: usize,
}

/// Bytes of definitions attached to a response schema for reading its
/// shape at import (list items, paging); the stored response carries none.
const ANALYSIS_DEFS_BUDGET: usize = 64 * 1024;

/// Deepest schema nesting converted (each level is a stack frame).
const MAX_SCHEMA_DEPTH: usize = 64;

struct Converted {
    resource_key: String,
    resource_name: String,
    tags: Vec<String>,
    method: Method,
    operation_id: Option<String>,
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Whether a segment holds a parameter (`{id}`, `{Sid}.json`, `{name}:run`).
fn is_param(segment: &str) -> bool {
    segment.contains('{')
}

/// A path template made usable: a leading `/`, and placeholder names
/// outside `A–Z a–z 0–9 _ - .` renamed (the API never sees them). Returns the
/// template, raw → new placeholder names, and the placeholders in order.
fn normalize_path(path: &str) -> Result<NormalizedPath, SkipReason> {
    let mut out = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        out.push('/');
    }
    let mut renamed = BTreeMap::new();
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let (before, after) = rest.split_at(open);
        if before.contains('}') {
            return Err(SkipReason::BadPath(format!("unmatched '}}' in {path:?}")));
        }
        out.push_str(before);
        let after = &after[1..];
        let close = after
            .find('}')
            .ok_or_else(|| SkipReason::BadPath(format!("unclosed '{{' in {path:?}")))?;
        let raw = &after[..close];
        if raw.contains('{') {
            return Err(SkipReason::BadPath(format!("nested '{{' in {path:?}")));
        }
        let ok = !raw.is_empty()
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        let name = if ok {
            raw.to_owned()
        } else {
            let mut n = crate::schema_keys::safe_key(raw);
            while names.contains(&n) {
                n.push('_');
            }
            renamed.insert(raw.to_owned(), n.clone());
            n
        };
        out.push('{');
        out.push_str(&name);
        out.push('}');
        names.push(name);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(SkipReason::BadPath(format!("unmatched '}}' in {path:?}")));
    }
    out.push_str(rest);
    Ok((out, renamed, names))
}

/// Item-array property names of list answers (as `infer_pagination` reads them).
const LIST_FIELDS: [&str; 7] = [
    "results", "data", "items", "records", "values", "entries", "value",
];
/// Paging fields that mark an answer as one page of a list.
const PAGE_FIELDS: [&str; 8] = [
    "next_cursor",
    "nextCursor",
    "next_page_token",
    "nextPageToken",
    "has_more",
    "next",
    "@odata.nextLink",
    "next_page_uri",
];

impl Ctx<'_> {
    /// Resolve a local `$ref` (any JSON pointer into the document, with
    /// RFC 6901 `~0`/`~1` escapes and percent-encoding), following chains.
    fn deref<'v>(&'v self, mut v: &'v Value) -> Result<&'v Value, SkipReason> {
        let mut seen = HashSet::new();
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            if !seen.insert(r) {
                return Err(SkipReason::CircularRef(r.to_owned()));
            }
            let pointer = r
                .strip_prefix('#')
                .ok_or_else(|| SkipReason::RemoteRef(r.to_owned()))?;
            v = self
                .doc
                .pointer(&crate::schema_keys::percent_decode(pointer))
                .ok_or_else(|| SkipReason::UnresolvableRef(r.to_owned()))?;
        }
        Ok(v)
    }

    /// Whether the success answer is one object rather than a list (the
    /// raw schema: an object whose fields are neither an item array nor
    /// paging fields). `None` when the document does not say.
    fn answers_one_object(&self, op: &Value) -> Option<bool> {
        let responses = op.get("responses")?.as_object()?;
        let ok = ["200", "201", "202", "2XX", "default"]
            .iter()
            .find_map(|code| responses.get(*code))?;
        let ok = self.deref(ok).ok()?;
        let (_, media) = ok.get("content")?.as_object()?.iter().find(|(k, _)| {
            crate::integration::BodyKind::of(k) == crate::integration::BodyKind::Json
        })?;
        let schema = self.deref(media.get("schema")?).ok()?;
        let mut props: Vec<(&String, &Value)> = Vec::new();
        let mut stack = vec![schema];
        while let Some(s) = stack.pop() {
            if s.get("type") == Some(&json!("array")) {
                return Some(false);
            }
            if let Some(p) = s.get("properties").and_then(Value::as_object) {
                props.extend(p.iter());
            }
            for branch in s
                .get("allOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if stack.len() < 16
                    && let Ok(b) = self.deref(branch)
                {
                    stack.push(b);
                }
            }
        }
        if props.is_empty() {
            return None;
        }
        let listy = props.iter().any(|(k, v)| {
            PAGE_FIELDS.contains(&k.as_str())
                || (LIST_FIELDS.contains(&k.as_str())
                    && self
                        .deref(v)
                        .is_ok_and(|v| v.get("type") == Some(&json!("array"))))
        }) || crate::listing::next_cursor_in_schema_within(schema, self.doc).is_some();
        Some(!listy)
    }

    fn operation(
        &self,
        raw_path: &str,
        item: &Map<String, Value>,
        op: &Value,
        verb: HttpMethod,
        all_paths: &HashSet<&str>,
    ) -> Result<Converted, SkipReason> {
        if !op.is_object() {
            return Err(SkipReason::Malformed(
                "the operation is not an object".into(),
            ));
        }
        let (path, renamed, placeholders) = normalize_path(raw_path)?;
        let path = path.as_str();
        let segs = segments(path);
        let last_is_param = segs.last().is_some_and(|s| is_param(s));
        let op_id = op
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let last_static = segs
            .iter()
            .rev()
            .find_map(|s| names::clean_segment(s))
            .unwrap_or("action");
        let custom_name = || {
            let base = op_id
                .as_deref()
                .map(snake)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| match verb {
                    HttpMethod::Head => format!("check_{}", snake(last_static)),
                    _ => snake(last_static),
                });
            let base = if base.is_empty() {
                "action".to_owned()
            } else {
                base
            };
            let base = if base.starts_with(|c: char| c.is_ascii_lowercase()) {
                base
            } else {
                format!("op_{base}")
            };
            // `GET /joke/list` beside `/joke`: a custom kind named like a
            // built-in one would read as that kind in scopes and names.
            let base = if ["list", "get", "create", "update", "delete"].contains(&base.as_str()) {
                let owner = segs
                    .iter()
                    .rev()
                    .skip(1)
                    .find_map(|s| names::clean_segment(s))
                    .map(snake)
                    .filter(|w| !w.is_empty())
                    .unwrap_or_else(|| "action".to_owned());
                format!("{base}_{owner}")
            } else {
                base
            };
            // Kind names are slugs used in scopes; keep them short.
            crate::naming::fit(&base, 60)
        };

        // The collection a path belongs to, and the method's kind.
        let parent = raw_path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let parent_is_collection = !parent.is_empty()
            && all_paths.contains(parent)
            && !segments(parent).last().is_some_and(|s| is_param(s));
        let one_object = if verb == HttpMethod::Get {
            self.answers_one_object(op)
        } else {
            None
        };
        let parent_path = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        // `GET /joke/list`, `POST /jokes/{id}/delete`: a last segment that
        // names the kind is that kind on the resource before it (unless
        // that resource's own path is in the document: then an action).
        let word_kind = if last_is_param || all_paths.contains(parent) {
            None
        } else {
            let parent_is_item = segments(parent_path).last().is_some_and(|s| is_param(s));
            let has_owner = segments(parent_path)
                .iter()
                .any(|s| names::clean_segment(s).is_some());
            let word = segs.last().and_then(|s| names::clean_segment(s)).map(snake);
            match (word.as_deref(), verb, parent_is_item) {
                _ if !has_owner => None,
                (Some("list"), HttpMethod::Get, false) => Some(MethodKind::List),
                (Some("create" | "add" | "new"), HttpMethod::Post, false) => {
                    Some(MethodKind::Create)
                }
                (Some("get" | "show" | "fetch" | "read"), HttpMethod::Get, true) => {
                    Some(MethodKind::Get)
                }
                (
                    Some("update" | "edit"),
                    HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch,
                    true,
                ) => Some(MethodKind::Update),
                (Some("delete" | "remove"), HttpMethod::Post | HttpMethod::Delete, true) => {
                    Some(MethodKind::Delete)
                }
                _ => None,
            }
        };
        let (collection, kind) = if let Some(kind) = word_kind {
            let owner = if segments(parent_path).last().is_some_and(|s| is_param(s)) {
                parent_path.rsplit_once('/').map_or("", |(p, _)| p)
            } else {
                parent_path
            };
            (owner.to_owned(), kind)
        } else if last_is_param {
            let kind = match verb {
                // An item path whose answer is an array lists.
                HttpMethod::Get if one_object == Some(false) => MethodKind::List,
                HttpMethod::Get => MethodKind::Get,
                HttpMethod::Put | HttpMethod::Patch => MethodKind::Update,
                HttpMethod::Delete => MethodKind::Delete,
                HttpMethod::Post | HttpMethod::Head => MethodKind::Custom(custom_name()),
            };
            (parent_path.to_owned(), kind)
        } else if parent_is_collection && matches!(verb, HttpMethod::Post | HttpMethod::Get) {
            // `/contacts/search` beside `/contacts`: an action on contacts.
            (parent_path.to_owned(), MethodKind::Custom(custom_name()))
        } else {
            let kind = match verb {
                // A singleton (`/account`, `/v1/balance`): one object, no paging.
                HttpMethod::Get if one_object == Some(true) => MethodKind::Get,
                HttpMethod::Get => MethodKind::List,
                HttpMethod::Post => MethodKind::Create,
                _ => MethodKind::Custom(custom_name()),
            };
            (path.to_owned(), kind)
        };
        let coll_static: Vec<&str> = segments(&collection)
            .into_iter()
            .filter_map(names::clean_segment)
            .collect();
        let resource_name = coll_static
            .last()
            .map(|s| snake(s))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "root".into());
        let resource_key = coll_static.join("/");

        let mut defs = BTreeSet::new();
        let mut params = self.params(item, op, &renamed, &placeholders, &mut defs)?;
        let body = if verb == HttpMethod::Head {
            None
        } else {
            self.request_body(op, &mut defs)?
        };

        let mut response_defs = BTreeSet::new();
        let response = self.success_schema(op, &mut response_defs)?;
        // Paging reads the query parameters before they become a schema.
        let query_params = if kind == MethodKind::List {
            params.query.clone()
        } else {
            Map::new()
        };

        let query = params.query_schema();
        let headers = params.header_schema();
        let cookies = params.cookie_schema();
        // Referenced schemas are shared by the integration (and carried by
        // each tool within a budget when tools are generated); an operation
        // whose references do not all convert is skipped, as before.
        self.check_defs(&defs)?;
        self.check_defs(&response_defs)?;
        self.used.borrow_mut().extend(defs.iter().cloned());
        self.used.borrow_mut().extend(response_defs.iter().cloned());
        let (body, content_type, encoding) = match body {
            Some(b) => (Some(b.schema), b.content_type, b.encoding),
            None => (None, None, None),
        };
        let path_params = params.path;
        // The response's shape is read with the definitions it reaches.
        let analysed = match &response {
            Some(r) if !response_defs.is_empty() && kind == MethodKind::List => {
                let mut r = r.clone();
                if let Some(obj) = r.as_object_mut() {
                    obj.insert(
                        "$defs".into(),
                        Value::Object(self.closure(&response_defs, ANALYSIS_DEFS_BUDGET)),
                    );
                }
                Some(r)
            }
            _ => None,
        };
        let analysed = analysed.as_ref().or(response.as_ref());
        let (pagination, results) = if kind == MethodKind::List {
            let link_header = op
                .get("responses")
                .and_then(Value::as_object)
                .and_then(|r| {
                    ["200", "201", "202", "2XX", "default"]
                        .iter()
                        .find_map(|c| r.get(*c))
                })
                .and_then(|ok| self.deref(ok).ok())
                .is_some_and(paging::declares_link_header);
            (
                paging::infer_pagination(&query_params, analysed, link_header),
                analysed.and_then(crate::listing::items_in_schema),
            )
        } else {
            (None, None)
        };

        let summary = text_field(op, "summary").map(|s| plain_text(s, 2000));
        let description = text_field(op, "description").map(|s| plain_text(s, 2000));
        let text = match (&summary, &description) {
            (Some(s), Some(d)) if d.starts_with(s.as_str()) => Some(d.clone()),
            (Some(s), Some(d)) => Some(format!("{s}\n\n{d}")),
            (Some(s), None) => Some(s.clone()),
            (None, Some(d)) => Some(d.clone()),
            (None, None) => ["description", "summary"]
                .iter()
                .find_map(|k| item.get(*k).and_then(Value::as_str).map(str::trim))
                .filter(|d| !d.is_empty())
                .map(|d| plain_text(d, 2000)),
        }
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(2000).collect());
        let title = summary
            .as_deref()
            .or(description
                .as_deref()
                .filter(|d| d.len() <= 120 && !d.contains('\n')))
            .map(|s| s.trim_end_matches('.').chars().take(120).collect());

        let styles = (!params.styles.is_empty()).then_some(params.styles);
        Ok(Converted {
            resource_key,
            resource_name,
            tags: op
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(|s| s.as_str().map(str::trim))
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            method: Method {
                kind,
                method: verb,
                path: path.to_owned(),
                tool_name: None,
                title,
                description: text,
                path_params: if path_params.is_empty() {
                    None
                } else {
                    Some(path_params)
                },
                query,
                headers,
                cookies,
                styles,
                body,
                content_type,
                encoding,
                pagination,
                results,
                response,
            },
            operation_id: op_id,
        })
    }

    fn success_schema(
        &self,
        op: &Value,
        defs: &mut BTreeSet<String>,
    ) -> Result<Option<Value>, SkipReason> {
        let Some(responses) = op.get("responses").and_then(Value::as_object) else {
            return Ok(None);
        };
        let ok = ["200", "201", "202", "2XX", "default"]
            .iter()
            .find_map(|code| responses.get(*code));
        let Some(ok) = ok else { return Ok(None) };
        // A response the document cannot resolve only costs the simulator
        // its schema; the operation still converts.
        let Ok(ok) = self.deref(ok) else {
            return Ok(None);
        };
        let schema = ok
            .get("content")
            .and_then(Value::as_object)
            .and_then(|c| {
                c.iter()
                    .find(|(k, _)| k.starts_with("application/json") || k.ends_with("+json"))
            })
            .and_then(|(_, m)| m.get("schema"));
        schema.map(|s| self.schema(s, defs)).transpose()
    }

    /// Convert a schema: local refs become `#/$defs/…` (their JSON pointers
    /// collected in `defs`), OpenAPI 3.0 idioms become JSON Schema 2020-12.
    fn schema(&self, s: &Value, defs: &mut BTreeSet<String>) -> Result<Value, SkipReason> {
        let depth = self.depth.get();
        if depth >= MAX_SCHEMA_DEPTH {
            return Err(SkipReason::Malformed(format!(
                "a schema nests more than {MAX_SCHEMA_DEPTH} levels deep (a reference cycle outside #/components/schemas?)"
            )));
        }
        self.depth.set(depth + 1);
        let converted = self.convert_schema(s, defs);
        self.depth.set(depth);
        converted
    }

    fn convert_schema(&self, s: &Value, defs: &mut BTreeSet<String>) -> Result<Value, SkipReason> {
        Ok(match s {
            Value::Object(obj) => {
                if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
                    // Every local ref becomes a definition (component schemas
                    // under their own names), so a schema used many times
                    // or recursively is written once.
                    let pointer = r
                        .strip_prefix('#')
                        .map(crate::schema_keys::percent_decode)
                        .ok_or_else(|| SkipReason::RemoteRef(r.to_owned()))?;
                    if self.doc.pointer(&pointer).is_none() {
                        return Err(SkipReason::UnresolvableRef(r.to_owned()));
                    }
                    let key = def_key(&pointer);
                    defs.insert(pointer);
                    return Ok(json!({ "$ref": format!("#/$defs/{key}") }));
                }
                let mut out = Map::new();
                for (k, v) in obj {
                    let converted = match k.as_str() {
                        // Keywords whose values are maps of schemas.
                        "properties" | "patternProperties" | "$defs" | "definitions"
                        | "dependentSchemas" => match v.as_object() {
                            Some(m) => Value::Object(
                                m.iter()
                                    .map(|(pk, pv)| Ok((pk.clone(), self.schema(pv, defs)?)))
                                    .collect::<Result<_, SkipReason>>()?,
                            ),
                            None => v.clone(),
                        },
                        // Keywords whose values are schemas or lists of schemas.
                        "items"
                        | "additionalProperties"
                        | "not"
                        | "allOf"
                        | "anyOf"
                        | "oneOf"
                        | "prefixItems"
                        | "contains"
                        | "if"
                        | "then"
                        | "else"
                        | "propertyNames"
                        | "unevaluatedProperties"
                        | "unevaluatedItems" => match v {
                            Value::Array(a) => Value::Array(
                                a.iter()
                                    .map(|x| self.schema(x, defs))
                                    .collect::<Result<_, _>>()?,
                            ),
                            Value::Object(_) => self.schema(v, defs)?,
                            other => other.clone(),
                        },
                        // OpenAPI-only keywords that JSON Schema validators reject or misread.
                        "nullable" | "discriminator" | "xml" | "externalDocs" | "example" => {
                            continue;
                        }
                        _ => v.clone(),
                    };
                    out.insert(k.clone(), converted);
                }
                // 3.0: `nullable: true` → add "null" to the type.
                if obj.get("nullable") == Some(&Value::Bool(true))
                    && let Some(t) = out.get("type").cloned()
                {
                    out.insert(
                        "type".into(),
                        match t {
                            Value::String(t) => json!([t, "null"]),
                            Value::Array(mut a) => {
                                a.push(json!("null"));
                                Value::Array(a)
                            }
                            other => other,
                        },
                    );
                }
                // 3.0: boolean exclusiveMinimum/Maximum → the numeric form.
                for (flag, bound) in [
                    ("exclusiveMinimum", "minimum"),
                    ("exclusiveMaximum", "maximum"),
                ] {
                    if let Some(Value::Bool(b)) = out.get(flag).cloned() {
                        out.remove(flag);
                        if b && let Some(n) = out.remove(bound) {
                            out.insert(flag.into(), n);
                        }
                    }
                }
                if let Some(example) = obj.get("example")
                    && !out.contains_key("examples")
                {
                    out.insert("examples".into(), json!([example]));
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// The schema at `pointer`, converted (once).
    fn def(&self, pointer: &str) -> Result<Rc<Def>, SkipReason> {
        if let Some(done) = self.defs.borrow().get(pointer) {
            return done.clone();
        }
        let converted = self
            .doc
            .pointer(pointer)
            .ok_or_else(|| SkipReason::UnresolvableRef(format!("#{pointer}")))
            .and_then(|raw| {
                let mut found = BTreeSet::new();
                let schema = self.schema(raw, &mut found)?;
                let bytes = serde_json::to_vec(&schema).map_or(0, |b| b.len());
                Ok(Rc::new(Def {
                    key: def_key(pointer),
                    schema,
                    refs: found.into_iter().collect(),
                    bytes,
                }))
            });
        self.defs
            .borrow_mut()
            .insert(pointer.to_owned(), converted.clone());
        converted
    }

    /// Whether every schema reachable from `roots` converts. A walk that
    /// succeeds marks everything it reached as sound, so each schema is
    /// walked from about once over the whole document.
    fn check_defs(&self, roots: &BTreeSet<String>) -> Result<(), SkipReason> {
        for root in roots {
            let mut seen: HashSet<String> = HashSet::new();
            let mut stack = vec![root.clone()];
            while let Some(p) = stack.pop() {
                if self.sound.borrow().contains(&p) || !seen.insert(p.clone()) {
                    continue;
                }
                stack.extend(self.def(&p)?.refs.iter().cloned());
            }
            self.sound.borrow_mut().extend(seen);
        }
        Ok(())
    }

    /// The converted schemas reachable from `roots` (sound ones: see
    /// [`Ctx::check_defs`]), by `$defs` key, nearest first until `budget`
    /// bytes (the roots always).
    fn closure(&self, roots: &BTreeSet<String>, budget: usize) -> Map<String, Value> {
        let mut out = Map::new();
        let mut spent = 0usize;
        let mut queue: VecDeque<(String, bool)> = roots.iter().map(|r| (r.clone(), true)).collect();
        while let Some((pointer, root)) = queue.pop_front() {
            let Ok(def) = self.def(&pointer) else {
                continue;
            };
            if out.contains_key(&def.key) || (!root && spent.saturating_add(def.bytes) > budget) {
                continue;
            }
            spent = spent.saturating_add(def.bytes);
            out.insert(def.key.clone(), def.schema.clone());
            queue.extend(def.refs.iter().map(|r| (r.clone(), false)));
        }
        out
    }
}

/// The `$defs` key of a referenced schema, by its JSON pointer: a
/// component schema's own name when it is a plain key (the usual case);
/// otherwise a client-safe form of the pointer with a hash of it, so
/// `#/$defs/…` needs no escaping and distinct targets stay distinct.
fn def_key(pointer: &str) -> String {
    if let Some(token) = pointer.strip_prefix("/components/schemas/")
        && !token.contains('/')
    {
        let name = token.replace("~1", "/").replace("~0", "~");
        if crate::naming::is_client_safe_property_key(&name) {
            return name;
        }
    }
    let trimmed = pointer
        .strip_prefix("/components/schemas/")
        .unwrap_or(pointer);
    let safe = crate::naming::fit(&crate::naming::property_key(trimmed), 50);
    format!("{safe}_{:08x}", crate::naming::stable_hash(pointer))
}

/// Groups converted operations into resources.
#[derive(Default)]
struct Builder {
    /// Resource key (static segments of the collection path) → index.
    keys: BTreeMap<String, usize>,
    resources: Vec<Resource>,
    /// (resource index, method index, operationId) of every method, in order.
    order: Vec<(usize, usize, Option<String>)>,
    count: usize,
}

impl Builder {
    fn add(&mut self, c: Converted) {
        let index = match self.keys.get(&c.resource_key) {
            Some(i) => *i,
            None => {
                // Two collections with the same last segment (`/issues`,
                // `/repos/{o}/{r}/issues`) get names with more of their path.
                let mut name = c.resource_name.clone();
                if self.resources.iter().any(|r| r.name == name) {
                    name = snake(&c.resource_key.replace('/', "_"));
                    if name.is_empty() {
                        name = "root".into();
                    }
                }
                let mut unique = name.clone();
                let mut n = 2;
                while self.resources.iter().any(|r| r.name == unique) {
                    unique = format!("{name}_{n}");
                    n += 1;
                }
                self.resources.push(Resource {
                    name: unique,
                    tags: Vec::new(),
                    description: None,
                    methods: Vec::new(),
                });
                self.keys
                    .insert(c.resource_key.clone(), self.resources.len() - 1);
                self.resources.len() - 1
            }
        };
        let resource = &mut self.resources[index];
        for tag in c.tags {
            if !resource.tags.contains(&tag) {
                resource.tags.push(tag);
            }
        }
        let mut method = c.method;
        // A second operation of the same kind becomes a custom method.
        if resource.methods.iter().any(|m| m.kind == method.kind) {
            let base = c
                .operation_id
                .as_deref()
                .map(snake)
                .filter(|s| s.starts_with(|ch: char| ch.is_ascii_lowercase()))
                .map(|s| crate::naming::fit(&s, 60))
                .unwrap_or_else(|| {
                    format!("{}_{}", method.method.as_str().to_lowercase(), method.kind)
                });
            let mut kind = MethodKind::Custom(base.clone());
            let mut n = 2;
            while resource.methods.iter().any(|m| m.kind == kind)
                || MethodKind::STANDARD.contains(&kind.as_str())
            {
                kind = MethodKind::Custom(format!("{base}_{n}"));
                n += 1;
            }
            method.pagination = None;
            method.results = None;
            method.kind = kind;
        }
        resource.methods.push(method);
        self.order
            .push((index, resource.methods.len() - 1, c.operation_id));
        self.count += 1;
    }

    /// The resources, every method named ([`names::assign`]) and titled.
    fn finish(mut self) -> Vec<Resource> {
        let chosen = {
            let inputs: Vec<names::NameInput> = self
                .order
                .iter()
                .map(|(r, m, op_id)| {
                    let method = &self.resources[*r].methods[*m];
                    names::NameInput {
                        op_id: op_id.as_deref(),
                        kind: &method.kind,
                        verb: method.method,
                        path: &method.path,
                    }
                })
                .collect();
            names::assign(&inputs)
        };
        let unique = crate::naming::unique(chosen, crate::naming::MAX_TOOL_NAME);
        for ((r, m, _), name) in self.order.iter().zip(unique) {
            let method = &mut self.resources[*r].methods[*m];
            if method.title.is_none() {
                method.title = Some(names::humanize(&name));
            }
            method.tool_name = Some(name);
        }
        self.resources
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::Pagination;
    use crate::tools::generate;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        parse_document(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn run(doc: &Value) -> Imported {
        import(doc, &ImportOptions::default(), &mut |_, _| {}).unwrap()
    }

    fn method<'a>(i: &'a Integration, resource: &str, kind: &str) -> &'a Method {
        i.resources
            .iter()
            .find(|r| r.name == resource)
            .unwrap_or_else(|| {
                panic!(
                    "no resource {resource}: {:?}",
                    i.resources.iter().map(|r| &r.name).collect::<Vec<_>>()
                )
            })
            .methods
            .iter()
            .find(|m| m.kind.as_str() == kind)
            .unwrap_or_else(|| panic!("no {kind} on {resource}"))
    }

    #[test]
    fn openapi_30_yaml_converts_kinds_params_auth_and_tags() {
        let imported = run(&fixture("petstore-3.0.yaml"));
        let i = &imported.integration;
        assert_eq!(i.name, "petstore");
        assert_eq!(i.base_url, "https://petstore.example.com/v1");
        assert_eq!(
            i.auth,
            AuthSpec::ApiKey {
                location: KeyLocation::Header,
                name: "X-API-Key".into()
            }
        );
        let list = method(i, "pets", "list");
        assert_eq!(
            list.query.as_ref().unwrap()["properties"]["tag"]["type"],
            "string"
        );
        assert!(matches!(list.pagination, Some(Pagination::Page { .. })));
        assert_eq!(method(i, "pets", "get").path, "/pets/{petId}");
        assert_eq!(method(i, "pets", "create").method, HttpMethod::Post);
        assert_eq!(method(i, "pets", "update").method, HttpMethod::Patch);
        assert_eq!(method(i, "pets", "delete").method, HttpMethod::Delete);
        assert_eq!(method(i, "pets", "search_pets").path, "/pets/search");
        assert!(
            i.resources
                .iter()
                .find(|r| r.name == "pets")
                .unwrap()
                .tags
                .contains(&"pets".to_owned())
        );
        // nullable became a type union; the 3.0 boolean exclusiveMinimum the numeric form.
        let body = method(i, "pets", "create").body.as_ref().unwrap();
        assert_eq!(body["$ref"], "#/$defs/NewPet");
        // Component schemas are the integration's, once, not each tool's.
        let pet = &i.defs["NewPet"];
        assert_eq!(
            pet["properties"]["nickname"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(pet["properties"]["age"]["exclusiveMinimum"], 0);
        // The multipart upload converts too: its binary part becomes a file argument.
        assert_eq!(
            imported.converted, imported.operations,
            "{:?}",
            imported.warnings
        );
        let upload = method(i, "photo", "create");
        assert_eq!(upload.content_type.as_deref(), Some("multipart/form-data"));
        assert_eq!(upload.tool_name.as_deref(), Some("upload_pet_photo"));
    }

    #[test]
    fn openapi_31_json_with_ref_cycles_survives() {
        let imported = run(&fixture("tree-3.1.json"));
        let i = &imported.integration;
        let create = method(i, "nodes", "create");
        let body = create.body.as_ref().unwrap();
        assert_eq!(body["$ref"], "#/$defs/Node");
        assert!(body.get("$defs").is_none(), "{body}");
        let node = &i.defs["Node"];
        assert_eq!(
            node["properties"]["children"]["items"]["$ref"],
            "#/$defs/Node"
        );
        assert_eq!(node["properties"]["owner"]["$ref"], "#/$defs/Person");
        assert_eq!(
            i.defs["Person"]["properties"]["manager"]["$ref"],
            "#/$defs/Person"
        );
        // The generated tool schema keeps the cycle resolvable at its top level.
        let tools = generate(i);
        let tool = tools
            .iter()
            .find(|t| t.tool.name.as_str() == "create_node")
            .unwrap();
        let schema: Value = serde_json::from_str(tool.tool.input_schema.get()).unwrap();
        assert!(schema["$defs"]["Node"].is_object());
        assert_eq!(schema["properties"]["body"]["$ref"], "#/$defs/Node");
        assert!(matches!(
            method(i, "nodes", "list").pagination,
            Some(Pagination::Cursor { .. })
        ));
        assert_eq!(
            i.auth,
            AuthSpec::Oauth2ClientCredentials {
                token_url: "https://auth.example.com/token".into(),
                scopes: vec!["tree:read".into()],
            }
        );
    }

    #[test]
    fn same_named_collections_and_duplicate_kinds_stay_distinct() {
        let doc = json!({
            "openapi": "3.1.0", "info": {"title": "Git Hub"},
            "servers": [{"url": "https://api.example.com"}],
            "paths": {
                "/issues": {"get": {"operationId": "listMyIssues"}},
                "/repos/{owner}/{repo}/issues": {"get": {"operationId": "listRepoIssues"}},
                "/repos/{owner}/{repo}": {"get": {"operationId": "getRepo"}},
                "/weird path/{x}": {"get": {}},
                "/{only}": {"get": {}},
            }
        });
        let imported = run(&doc);
        let names: Vec<&str> = imported
            .integration
            .resources
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert!(
            names.contains(&"issues") && names.contains(&"repos_issues"),
            "{names:?}"
        );
        // A path without a static segment converts too (resource "root").
        assert!(names.contains(&"root"), "{names:?}");
        assert_eq!(imported.converted, 5, "{:?}", imported.warnings);
        assert_eq!(imported.integration.name, "git_hub");
    }

    #[test]
    fn bad_documents_are_refused_with_a_reason() {
        let e = import(
            &json!({"swagger": "2.0"}),
            &ImportOptions::default(),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("Swagger 2.0"), "{e}");
        // Nothing converts: the error names every skipped operation and why.
        let e = import(
            &json!({"openapi": "3.0.0", "paths": {
                "/a": {"get": {"operationId": "getA", "parameters": [{"$ref": "other.yaml#/P"}]}},
                "/b/{x": {"get": {}},
                "/c": {"options": {}}
            }}),
            &ImportOptions::default(),
            &mut |_, _| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no operation could be converted (3 in the document)"),
            "{e}"
        );
        assert!(
            e.contains("1 bad_path")
                && e.contains("1 remote_ref")
                && e.contains("1 unsupported_method"),
            "{e}"
        );
        assert!(
            e.contains("GET /a (getA): remote reference \"other.yaml#/P\""),
            "{e}"
        );
        assert!(e.contains("OPTIONS /c"), "{e}");
    }

    #[test]
    fn relative_or_missing_servers_import_for_the_account_to_complete() {
        let op = json!({"/x": {"get": {"operationId": "getX"}}});
        for (servers, want) in [
            (json!([]), ""),
            (json!([{"url": "/api/v1/"}]), "/api/v1"),
            (json!([{"url": "api"}]), "/api"),
            (
                json!([{"url": "//api.example.com/v2"}]),
                "https://api.example.com/v2",
            ),
            (
                json!([{"url": "{scheme}://{host}/v1", "variables": {"scheme": {"enum": ["https"]}, "host": {"default": "h.example.com"}}}]),
                "https://h.example.com/v1",
            ),
        ] {
            let doc = json!({"openapi": "3.0.0", "servers": servers, "paths": op});
            assert_eq!(run(&doc).integration.base_url, want, "{servers}");
        }
        let doc = json!({"openapi": "3.0.0", "paths": op});
        assert_eq!(run(&doc).integration.base_url, "");
    }

    #[test]
    fn thousands_of_operations_import_with_progress() {
        let mut paths = Map::new();
        for i in 0..1500 {
            paths.insert(
                format!("/things{i}/{{id}}"),
                json!({"get": {"operationId": format!("getThing{i}"), "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}}}),
            );
        }
        let doc = json!({
            "openapi": "3.0.3", "info": {"title": "big"}, "servers": [{"url": "https://big.example.com"}],
            "paths": paths,
            "components": {"schemas": {"Thing": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Thing"}}}}}
        });
        let mut calls = 0;
        let mut last = (0, 0);
        let imported = import(&doc, &ImportOptions::default(), &mut |d, t| {
            calls += 1;
            last = (d, t);
        })
        .unwrap();
        assert_eq!(imported.converted, 1500);
        assert_eq!(calls, 1500);
        assert_eq!(last, (1500, 1500));
        assert_eq!(generate(&imported.integration).len(), 1500);
    }
}

#[cfg(test)]
mod kind_named_paths {
    use super::*;

    /// `GET /joke/list` is the jokes' list, `POST /jokes/{id}/delete` a
    /// joke's delete — not a resource called "list" or "delete" with odd
    /// names like `list_list` or `create_delete`; and a custom action whose
    /// name is a kind's (`/things/list` beside `/things`) gets a distinct one.
    #[test]
    fn a_path_ending_in_a_kind_name_is_that_kind_on_its_resource() {
        let ok = |schema: Value| {
            json!({"200": {"description": "ok",
                "content": {"application/json": {"schema": schema}}}})
        };
        let doc = json!({"openapi": "3.0.0", "info": {"title": "Jokes"},
        "servers": [{"url": "https://jokes.test"}],
        "paths": {
            "/joke/list": {"get": {"responses": ok(json!({"type": "array", "items": {"type": "object"}}))}},
            "/joke/random": {"get": {"responses": ok(json!({"type": "object", "properties": {"id": {"type": "string"}}}))}},
            "/joke/create": {"post": {"responses": ok(json!({"type": "object"}))}},
            "/jokes/{id}/delete": {"post": {"responses": ok(json!({"type": "object"}))}},
            "/things": {"get": {"responses": ok(json!({"type": "array", "items": {"type": "object"}}))}},
            "/things/list": {"post": {"responses": ok(json!({"type": "object"}))}}
        }});
        let imported = import(&doc, &ImportOptions::default(), &mut |_, _| {}).unwrap();
        let mut kinds: Vec<(String, String, String)> = imported
            .integration
            .resources
            .iter()
            .flat_map(|r| {
                r.methods
                    .iter()
                    .map(|m| (r.name.clone(), m.kind.as_str().to_owned(), m.path.clone()))
            })
            .collect();
        kinds.sort();
        assert!(
            kinds.contains(&("joke".into(), "list".into(), "/joke/list".into())),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("joke".into(), "create".into(), "/joke/create".into())),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("jokes".into(), "delete".into(), "/jokes/{id}/delete".into())),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("things".into(), "list_things".into(), "/things/list".into())),
            "{kinds:?}"
        );
        let names: Vec<String> = crate::generate(&imported.integration)
            .iter()
            .map(|t| t.tool.name.to_string())
            .collect();
        for odd in ["list_list", "create_create", "create_delete", "list"] {
            assert!(!names.iter().any(|n| n == odd), "{odd}: {names:?}");
        }
    }
}
