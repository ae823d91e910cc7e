//! Integration definitions: an upstream REST API's resources and methods,
//! written in YAML (or imported from OpenAPI) and validated with errors that
//! name the file, the place in it and the fault.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A REST API, described well enough to generate MCP tools for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    /// Slug used in tool names, e.g. `hubspot`.
    pub name: String,
    /// Display name, e.g. `HubSpot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What the API is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Base URL; may hold `{placeholders}` filled from an account's context,
    /// e.g. `https://{subdomain}.zendesk.com/api/v2`.
    pub base_url: String,
    /// The authentication the API expects.
    #[serde(default)]
    pub auth: AuthSpec,
    /// Per-call timeout override in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// The API's resources.
    pub resources: Vec<Resource>,
    /// JSON Schemas shared by the methods' schemas, by `$defs` key: a
    /// `{"$ref": "#/$defs/<key>"}` in a method's schema that the schema does
    /// not define itself resolves here. An OpenAPI import keeps each
    /// component schema here once, not once per tool; each generated tool
    /// carries the part it references, within a byte budget
    /// ([`crate::defs::TOOL_DEFS_BUDGET`]).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub defs: serde_json::Map<String, Value>,
}

/// How the upstream API authenticates callers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthSpec {
    /// No authentication.
    #[default]
    None,
    /// An API key in a header or query parameter.
    ApiKey {
        /// `header` or `query`.
        #[serde(rename = "in")]
        location: KeyLocation,
        /// Header or parameter name.
        name: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// HTTP basic authentication.
    Basic,
    /// OAuth 2 client-credentials grant.
    Oauth2ClientCredentials {
        /// Token endpoint.
        token_url: String,
        /// Scopes to request.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scopes: Vec<String>,
    },
    /// OAuth 2 with a long-lived refresh token.
    Oauth2RefreshToken {
        /// Token endpoint.
        token_url: String,
    },
}

impl AuthSpec {
    /// The OAuth token endpoint, for the OAuth schemes.
    pub fn token_url(&self) -> Option<&str> {
        match self {
            Self::Oauth2ClientCredentials { token_url, .. }
            | Self::Oauth2RefreshToken { token_url } => Some(token_url),
            _ => None,
        }
    }
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
}

/// A collection of the API (contacts, tickets, repos…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Plural name, e.g. `contacts`.
    pub name: String,
    /// Tags used by server scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// What the resource is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Operations on it.
    pub methods: Vec<Method>,
}

/// What a method does, which decides its tool's name and annotations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// Page through the collection.
    List,
    /// Read one item by id.
    Get,
    /// Create an item.
    Create,
    /// Change an item.
    Update,
    /// Delete an item.
    Delete,
    /// Anything else, by its snake_case name (`search`, `download`…).
    Custom(String),
}

impl MethodKind {
    /// The five standard kinds.
    pub const STANDARD: [&'static str; 5] = ["list", "get", "create", "update", "delete"];

    /// The kind's name as written in definitions.
    pub fn as_str(&self) -> &str {
        match self {
            Self::List => "list",
            Self::Get => "get",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Custom(name) => name,
        }
    }

    /// Parse a kind; anything not standard is custom.
    pub fn parse(s: &str) -> Self {
        match s {
            "list" => Self::List,
            "get" => Self::Get,
            "create" => Self::Create,
            "update" => Self::Update,
            "delete" => Self::Delete,
            other => Self::Custom(other.to_owned()),
        }
    }

    /// Whether the method only reads (list and get).
    pub fn is_read(&self) -> bool {
        matches!(self, Self::List | Self::Get)
    }

    /// Whether the method writes (create, update, delete).
    pub fn is_write(&self) -> bool {
        matches!(self, Self::Create | Self::Update | Self::Delete)
    }
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MethodKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MethodKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self::parse(&s))
    }
}

/// HTTP methods an operation may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    #[serde(alias = "get")]
    Get,
    /// POST
    #[serde(alias = "post")]
    Post,
    /// PUT
    #[serde(alias = "put")]
    Put,
    /// PATCH
    #[serde(alias = "patch")]
    Patch,
    /// DELETE
    #[serde(alias = "delete")]
    Delete,
    /// HEAD (RFC 9110 §9.3.2): the answer is the status and headers only.
    #[serde(alias = "head")]
    Head,
}

impl HttpMethod {
    /// Every method, for scope validation.
    pub const ALL: [Self; 6] = [
        Self::Get,
        Self::Post,
        Self::Put,
        Self::Patch,
        Self::Delete,
        Self::Head,
    ];

    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
        }
    }
}

/// One operation of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Method {
    /// What it does.
    pub kind: MethodKind,
    /// HTTP method.
    pub method: HttpMethod,
    /// Path template relative to the base URL, e.g. `/contacts/{id}`.
    pub path: String,
    /// Explicit tool name, overriding the generated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Short display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the call does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Schemas of path parameters by name (default: a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_params: Option<serde_json::Map<String, Value>>,
    /// JSON Schema (`type: object`) of the query parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    /// JSON Schema (`type: object`) of header parameters (OpenAPI `in:
    /// header`), sent as request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    /// JSON Schema (`type: object`) of cookie parameters (OpenAPI `in:
    /// cookie`), sent in one `Cookie` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Value>,
    /// How parameters are serialized when not by their location's default
    /// (OpenAPI 3 `style`/`explode`/`allowReserved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub styles: Option<ParamStyles>,
    /// JSON Schema of the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Media type of the request body (default `application/json`):
    /// `application/x-www-form-urlencoded`, `multipart/form-data`, any
    /// `text/*` or XML type (a string argument), or any other type (the
    /// bytes as a base64 argument).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Per-property encoding of a form or multipart body (OpenAPI 3
    /// Encoding Object), by property name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<BTreeMap<String, PropertyEncoding>>,
    /// How a `list` pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Dotted path of the item array in a `list` answer that wraps it in an
    /// object (`data`, `paging.items`), for lists that do not page (a
    /// paging list may say it in `pagination.results`). Default: read from
    /// the `response` schema, else found in each answer
    /// ([`crate::listing::items_in_value`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<String>,
    /// JSON Schema of a successful response (used by the sandbox simulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// A parameter serialization style (OpenAPI 3.0.3 §4.7.12.4 "Style Values").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Style {
    /// `;name=value` path segments (RFC 6570 path-style expansion).
    Matrix,
    /// `.value` path segments (RFC 6570 label expansion).
    Label,
    /// `name=value` pairs (query, cookie, form bodies).
    Form,
    /// Comma-separated values (path, header).
    Simple,
    /// Array values separated by spaces.
    SpaceDelimited,
    /// Array values separated by `|`.
    PipeDelimited,
    /// Nested objects as `name[key]=value` (and, as Stripe's API does,
    /// arrays as `name[0]=value`).
    DeepObject,
}

/// How one parameter or form property is written (OpenAPI 3 `style`,
/// `explode`, `allowReserved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamStyle {
    /// The style.
    pub style: Style,
    /// Whether arrays and objects become separate parameters.
    pub explode: bool,
    /// Whether RFC 3986 reserved characters are sent unescaped (query only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_reserved: bool,
}

impl ParamStyle {
    /// OpenAPI's default for a location: `form` exploded for query and
    /// cookie parameters and form bodies, `simple` for path and header.
    pub fn default_for(location: ParamIn) -> Self {
        let style = match location {
            ParamIn::Query | ParamIn::Cookie => Style::Form,
            ParamIn::Path | ParamIn::Header => Style::Simple,
        };
        Self {
            style,
            explode: style == Style::Form,
            allow_reserved: false,
        }
    }
}

/// Where a parameter goes (OpenAPI `in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamIn {
    /// A `{placeholder}` of the path.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
    /// The `Cookie` header.
    Cookie,
}

/// Parameters serialized otherwise than by their location's default, by
/// location and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamStyles {
    /// Path parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub path: BTreeMap<String, ParamStyle>,
    /// Query parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, ParamStyle>,
    /// Header parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, ParamStyle>,
    /// Cookie parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cookie: BTreeMap<String, ParamStyle>,
}

impl ParamStyles {
    /// The style of parameter `name` in `location` (the default if unset).
    pub fn get(styles: Option<&Self>, location: ParamIn, name: &str) -> ParamStyle {
        let map = styles.map(|s| match location {
            ParamIn::Path => &s.path,
            ParamIn::Query => &s.query,
            ParamIn::Header => &s.header,
            ParamIn::Cookie => &s.cookie,
        });
        map.and_then(|m| m.get(name))
            .copied()
            .unwrap_or_else(|| ParamStyle::default_for(location))
    }

    /// Whether no parameter has a non-default style.
    pub fn is_empty(&self) -> bool {
        self.path.is_empty()
            && self.query.is_empty()
            && self.header.is_empty()
            && self.cookie.is_empty()
    }
}

/// How one property of a form or multipart body is encoded (OpenAPI 3
/// Encoding Object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyEncoding {
    /// Serialization of a form property (default `form`, exploded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<ParamStyle>,
    /// Media type of a multipart part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// What a request body's media type asks of the request builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// JSON (`application/json`, `*/*+json`, `text/json`).
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data` (and other `multipart/*`).
    Multipart,
    /// Text (`text/*`, XML, YAML…): one string argument sent as it is.
    Text,
    /// Anything else: one base64 argument sent as bytes.
    Binary,
}

impl BodyKind {
    /// Classify a media type (parameters such as `charset` ignored).
    pub fn of(media_type: &str) -> Self {
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence.is_empty()
            || essence == "*/*"
            || essence == "application/*"
            || essence.ends_with("/json")
            || essence.ends_with("+json")
            || essence.contains("json")
        {
            Self::Json
        } else if essence == "application/x-www-form-urlencoded" {
            Self::Form
        } else if essence.starts_with("multipart/") || essence == "application/form-data" {
            Self::Multipart
        } else if essence.starts_with("text/")
            || essence.ends_with("/xml")
            || essence.ends_with("+xml")
            || essence.contains("yaml")
            || essence == "application/javascript"
            || essence == "application/graphql"
            || essence == "application/sql"
        {
            Self::Text
        } else {
            Self::Binary
        }
    }
}

/// How a list endpoint pages. Whatever the style, the generated tool takes
/// `limit` and `next_cursor` and returns `next_cursor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// The response names the next cursor; it is sent back as a parameter.
    Cursor {
        /// Query parameter that carries the cursor.
        cursor_param: String,
        /// Dotted path of the next cursor in the response body. An array
        /// step may count from the end: `data.-1.id` is the last item's id
        /// (Stripe's `starting_after`).
        next_cursor: String,
        /// Query parameter for the page size.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_param: Option<String>,
        /// Dotted path of the items array in the response body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        results: Option<String>,
    },
    /// Numbered pages.
    Page {
        /// Query parameter for the page number.
        page_param: String,
        /// Number of the first page (0 or 1).
        #[serde(default = "one")]
        first_page: u64,
        /// Query parameter for the page size.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_param: Option<String>,
        /// Dotted path of the items array in the response body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        results: Option<String>,
    },
    /// Item offsets.
    Offset {
        /// Query parameter for the offset.
        offset_param: String,
        /// Query parameter for the page size.
        limit_param: String,
        /// Dotted path of the items array in the response body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        results: Option<String>,
    },
    /// The answer names the next page's URL in its body (OData's
    /// `@odata.nextLink`, Twilio's `next_page_uri`, JSON:API's
    /// `links.next`); the gateway requests that URL (same origin only).
    NextUrl {
        /// Dotted path of the next page's URL (absolute, or a path on the
        /// API's host) in the response body.
        next_url: String,
        /// Query parameter for the page size.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_param: Option<String>,
        /// Dotted path of the items array in the response body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        results: Option<String>,
    },
    /// RFC 8288 `Link: <…>; rel="next"` headers.
    LinkHeader {
        /// Query parameter for the page size.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_param: Option<String>,
        /// Dotted path of the items array in the response body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        results: Option<String>,
    },
}

fn one() -> u64 {
    1
}

impl Pagination {
    /// Query parameters the uniform `limit`/`next_cursor` contract replaces.
    pub fn controlled_params(&self) -> Vec<&str> {
        match self {
            Self::Cursor {
                cursor_param,
                limit_param,
                ..
            } => std::iter::once(cursor_param.as_str())
                .chain(limit_param.as_deref())
                .collect(),
            Self::Page {
                page_param,
                limit_param,
                ..
            } => std::iter::once(page_param.as_str())
                .chain(limit_param.as_deref())
                .collect(),
            Self::Offset {
                offset_param,
                limit_param,
                ..
            } => vec![offset_param, limit_param],
            Self::NextUrl { limit_param, .. } | Self::LinkHeader { limit_param, .. } => {
                limit_param.as_deref().into_iter().collect()
            }
        }
    }

    /// Dotted paths into the answer this style reads (the next cursor or
    /// URL), with the field names they appear under in errors.
    pub fn answer_paths(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::Cursor { next_cursor, .. } => vec![("next_cursor", next_cursor)],
            Self::NextUrl { next_url, .. } => vec![("next_url", next_url)],
            _ => Vec::new(),
        }
    }

    /// Dotted path of the items array, when configured.
    pub fn results_path(&self) -> Option<&str> {
        match self {
            Self::Cursor { results, .. }
            | Self::Page { results, .. }
            | Self::Offset { results, .. }
            | Self::NextUrl { results, .. }
            | Self::LinkHeader { results, .. } => results.as_deref(),
        }
    }

    /// Query parameter for the page size, when the API has one.
    pub fn limit_param(&self) -> Option<&str> {
        match self {
            Self::Cursor { limit_param, .. }
            | Self::Page { limit_param, .. }
            | Self::NextUrl { limit_param, .. }
            | Self::LinkHeader { limit_param, .. } => limit_param.as_deref(),
            Self::Offset { limit_param, .. } => Some(limit_param),
        }
    }
}

/// A definition that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", .file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default(), if .path.is_empty() { "(document)".to_owned() } else { format!("at {}", .path) })]
pub struct DefinitionError {
    /// Source file, when loaded from one.
    pub file: Option<PathBuf>,
    /// Where in the document, e.g. `resources[0].methods[1].path`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl DefinitionError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            path: path.into(),
            message: message.into(),
        }
    }

    /// Attach the file name.
    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_owned());
        self
    }
}

/// The placeholders of a path or URL template, in order.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in {template:?}"))?;
        let name = &after[..close];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(format!("bad placeholder {{{name}}} in {template:?}"));
        }
        out.push(name);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("unmatched '}}' in {template:?}"));
    }
    Ok(out)
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn check_object_schema(path: &str, schema: &Value) -> Result<(), DefinitionError> {
    if !schema.is_object() {
        return Err(DefinitionError::at(path, "must be a JSON Schema object"));
    }
    if let Some(t) = schema.get("type")
        && t != "object"
    {
        return Err(DefinitionError::at(path, "must have \"type\": \"object\""));
    }
    if let Some(p) = schema.get("properties")
        && !p.is_object()
    {
        return Err(DefinitionError::at(
            format!("{path}.properties"),
            "must be a mapping of parameter name to schema",
        ));
    }
    Ok(())
}

/// The answer paths of a list method (its `results` and the pagination's
/// fields) are dotted paths; an item array the `response` schema types as
/// something else is a mistake that would hide the answer's rows.
fn check_answer_paths(mp: &str, method: &Method) -> Result<(), DefinitionError> {
    let mut paths: Vec<(String, &str)> = Vec::new();
    if let Some(r) = &method.results {
        paths.push((format!("{mp}.results"), r));
    }
    if let Some(p) = &method.pagination {
        if let Some(r) = p.results_path() {
            paths.push((format!("{mp}.pagination.results"), r));
        }
        for (field, path) in p.answer_paths() {
            paths.push((format!("{mp}.pagination.{field}"), path));
        }
    }
    for (at, path) in &paths {
        if !crate::listing::is_path(path) {
            return Err(DefinitionError::at(
                at.clone(),
                format!(
                    "{path:?} is not a dotted path of answer fields (such as data or paging.next.after)"
                ),
            ));
        }
        let is_results = at.ends_with(".results");
        if is_results
            && let Some(schema) = method.response.as_ref()
            && let Some(found) = crate::listing::schema_at(schema, path)
            && found.get("type").is_some_and(|t| {
                t != "array" && !t.as_array().is_some_and(|a| a.iter().any(|t| t == "array"))
            })
        {
            return Err(DefinitionError::at(
                at.clone(),
                format!(
                    "{path:?} is not an array in the response schema (its type is {})",
                    found["type"]
                ),
            ));
        }
    }
    Ok(())
}

impl Integration {
    /// Parse and validate YAML (JSON is YAML too).
    pub fn from_yaml(text: &str) -> Result<Self, DefinitionError> {
        let parsed: Self =
            yaml_serde::from_str(text).map_err(|e| DefinitionError::at("", e.to_string()))?;
        parsed.validate()?;
        Ok(parsed)
    }

    /// Parse and validate a JSON value.
    pub fn from_json(value: Value) -> Result<Self, DefinitionError> {
        let parsed: Self =
            serde_json::from_value(value).map_err(|e| DefinitionError::at("", e.to_string()))?;
        parsed.validate()?;
        Ok(parsed)
    }

    /// Load and validate a definition file.
    pub fn load(file: &Path) -> Result<Self, DefinitionError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| DefinitionError::at("", format!("cannot read: {e}")).in_file(file))?;
        Self::from_yaml(&text).map_err(|e| e.in_file(file))
    }

    /// Check everything serde cannot: names, templates, schemas, pagination.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        if !is_slug(&self.name) {
            return Err(DefinitionError::at(
                "name",
                format!(
                    "{:?} must be a non-empty slug of a-z, 0-9, '_' or '-'",
                    self.name
                ),
            ));
        }
        if !(self.base_url.starts_with("http://")
            || self.base_url.starts_with("https://")
            || self.base_url.is_empty()
            || self.base_url.starts_with('/'))
        {
            return Err(DefinitionError::at(
                "base_url",
                format!(
                    "{:?} must start with http:// or https:// (or be a path such as /api/v1, resolved against each account's base_url)",
                    self.base_url
                ),
            ));
        }
        placeholders(&self.base_url).map_err(|e| DefinitionError::at("base_url", e))?;
        if self.resources.is_empty() {
            return Err(DefinitionError::at(
                "resources",
                "must list at least one resource",
            ));
        }
        let mut names = HashSet::new();
        for (r, resource) in self.resources.iter().enumerate() {
            let rp = format!("resources[{r}]");
            if resource.name.trim().is_empty() {
                return Err(DefinitionError::at(
                    format!("{rp}.name"),
                    "must not be empty",
                ));
            }
            if !names.insert(resource.name.as_str()) {
                return Err(DefinitionError::at(
                    format!("{rp}.name"),
                    format!("duplicate resource {:?}", resource.name),
                ));
            }
            for (t, tag) in resource.tags.iter().enumerate() {
                if tag.trim().is_empty() {
                    return Err(DefinitionError::at(
                        format!("{rp}.tags[{t}]"),
                        "must not be empty",
                    ));
                }
            }
            if resource.methods.is_empty() {
                return Err(DefinitionError::at(
                    format!("{rp}.methods"),
                    "must list at least one method",
                ));
            }
            let mut kinds = HashSet::new();
            for (m, method) in resource.methods.iter().enumerate() {
                self.validate_method(&format!("{rp}.methods[{m}]"), method, &mut kinds)?;
            }
        }
        Ok(())
    }

    fn validate_method<'a>(
        &self,
        mp: &str,
        method: &'a Method,
        kinds: &mut HashSet<&'a MethodKind>,
    ) -> Result<(), DefinitionError> {
        if let MethodKind::Custom(name) = &method.kind
            && !(is_slug(name) && name.starts_with(|c: char| c.is_ascii_lowercase()))
        {
            return Err(DefinitionError::at(
                format!("{mp}.kind"),
                format!(
                    "{name:?} is not list/get/create/update/delete nor a snake_case custom name"
                ),
            ));
        }
        if !kinds.insert(&method.kind) {
            return Err(DefinitionError::at(
                format!("{mp}.kind"),
                format!(
                    "a second {:?} method on the same resource",
                    method.kind.as_str()
                ),
            ));
        }
        if !method.path.starts_with('/') {
            return Err(DefinitionError::at(
                format!("{mp}.path"),
                format!("{:?} must start with '/'", method.path),
            ));
        }
        let params =
            placeholders(&method.path).map_err(|e| DefinitionError::at(format!("{mp}.path"), e))?;
        if let Some(pp) = &method.path_params {
            for (name, schema) in pp {
                if !params.contains(&name.as_str()) {
                    return Err(DefinitionError::at(
                        format!("{mp}.path_params.{name}"),
                        format!("{{{name}}} does not appear in the path {:?}", method.path),
                    ));
                }
                if !schema.is_object() {
                    return Err(DefinitionError::at(
                        format!("{mp}.path_params.{name}"),
                        "must be a JSON Schema object",
                    ));
                }
            }
        }
        if let Some(q) = &method.query {
            check_object_schema(&format!("{mp}.query"), q)?;
        }
        for (field, schema) in [("headers", &method.headers), ("cookies", &method.cookies)] {
            if let Some(s) = schema {
                check_object_schema(&format!("{mp}.{field}"), s)?;
            }
        }
        if let Some(b) = &method.body {
            if method.method == HttpMethod::Head {
                return Err(DefinitionError::at(
                    format!("{mp}.body"),
                    "a HEAD request cannot have a body",
                ));
            }
            if !b.is_object() {
                return Err(DefinitionError::at(
                    format!("{mp}.body"),
                    "must be a JSON Schema",
                ));
            }
        }
        if method.pagination.is_some() && method.kind != MethodKind::List {
            return Err(DefinitionError::at(
                format!("{mp}.pagination"),
                "only list methods page",
            ));
        }
        if method.results.is_some() && method.kind != MethodKind::List {
            return Err(DefinitionError::at(
                format!("{mp}.results"),
                "only list answers have an item array",
            ));
        }
        check_answer_paths(mp, method)?;
        if let Some(name) = &method.tool_name {
            crate::ToolName::new(name.clone())
                .map_err(|e| DefinitionError::at(format!("{mp}.tool_name"), e.to_string()))?;
        }
        Ok(())
    }

    /// Every tag used by any resource, sorted and unique.
    pub fn tags(&self) -> Vec<&str> {
        let mut tags: Vec<&str> = self
            .resources
            .iter()
            .flat_map(|r| r.tags.iter().map(String::as_str))
            .collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// Every custom method name used, sorted and unique.
    pub fn custom_kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = self
            .resources
            .iter()
            .flat_map(|r| r.methods.iter())
            .filter_map(|m| match &m.kind {
                MethodKind::Custom(name) => Some(name.as_str()),
                _ => None,
            })
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const CRM: &str = r#"
name: crm
label: Demo CRM
base_url: https://{subdomain}.crm.example.com/api
auth: { type: bearer }
resources:
  - name: contacts
    tags: [crm, people]
    methods:
      - kind: list
        method: GET
        path: /contacts
        description: List contacts.
        query:
          type: object
          properties:
            email: { type: string }
            after: { type: string }
            limit: { type: integer }
        pagination: { style: cursor, cursor_param: after, next_cursor: paging.next, limit_param: limit, results: results }
      - kind: get
        method: GET
        path: /contacts/{id}
      - kind: search
        method: post
        path: /contacts/search
        body: { type: object, properties: { query: { type: string } }, required: [query] }
"#;

    #[test]
    fn a_good_definition_loads() {
        let i = Integration::from_yaml(CRM).unwrap();
        assert_eq!(i.name, "crm");
        assert_eq!(i.auth, AuthSpec::Bearer);
        let methods = &i.resources[0].methods;
        assert_eq!(methods[2].kind, MethodKind::Custom("search".into()));
        assert_eq!(methods[2].method, HttpMethod::Post);
        assert_eq!(i.tags(), ["crm", "people"]);
        assert_eq!(i.custom_kinds(), ["search"]);
        // Round trip through JSON (how the store keeps it).
        let json = serde_json::to_value(&i).unwrap();
        assert_eq!(Integration::from_json(json).unwrap(), i);
    }

    fn err(yaml: &str) -> String {
        Integration::from_yaml(yaml).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_place_and_fault() {
        let e = err(&CRM.replace("path: /contacts/{id}", "path: contacts/{id}"));
        assert!(
            e.contains("resources[0].methods[1].path") && e.contains("start with '/'"),
            "{e}"
        );
        let e = err(&CRM.replace("path: /contacts/{id}", "path: /contacts/{id"));
        assert!(e.contains("unclosed"), "{e}");
        let e = err(&CRM.replace("kind: get", "kind: list"));
        assert!(
            e.contains("resources[0].methods[1].kind") && e.contains("second"),
            "{e}"
        );
        let e = err(&CRM.replace("kind: search", "kind: Search Me"));
        assert!(e.contains("resources[0].methods[2].kind"), "{e}");
        let e = err(&CRM.replace("name: crm", "name: \"CRM!\""));
        assert!(e.contains("at name"), "{e}");
        let e = err(&CRM.replace("method: post", "method: FETCH"));
        assert!(e.contains("FETCH"), "{e}");
        let e = err(&CRM.replace("base_url: https", "base_url: ftp"));
        assert!(e.contains("base_url"), "{e}");
        let e = err(&CRM.replace(
            "method: GET\n        path: /contacts/{id}",
            "method: HEAD\n        path: /contacts/{id}\n        body: { type: object }",
        ));
        assert!(e.contains("resources[0].methods[1].body"), "{e}");
        // GET with a body is allowed (search APIs use it; OpenAPI 3.1 allows it).
        Integration::from_yaml(&CRM.replace(
            "method: GET\n        path: /contacts/{id}",
            "method: GET\n        path: /contacts/{id}\n        body: { type: object }",
        ))
        .unwrap();
        let e = err(&CRM.replace(
            "            email: { type: string }\n",
            "            email: { type: string }\n        bogus: 1\n",
        ));
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn file_errors_carry_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("broken.yaml");
        std::fs::write(&f, CRM.replace("path: /contacts/{id}", "path: nope")).unwrap();
        let e = Integration::load(&f).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: at resources[0]", f.display())),
            "{e}"
        );
    }

    #[test]
    fn answer_paths_are_checked_against_the_response_schema() {
        let with = |extra: &str| {
            CRM.replace(
                "        pagination: { style: cursor, cursor_param: after, next_cursor: paging.next, limit_param: limit, results: results }\n",
                &format!("{extra}\n"),
            )
        };
        // A list that does not page can name its item array.
        let ok = Integration::from_yaml(&with(
            "        results: data\n        response: { type: object, properties: { data: { type: array } } }",
        ))
        .unwrap();
        assert_eq!(ok.resources[0].methods[0].results.as_deref(), Some("data"));
        let e = err(&with("        results: \"data.\""));
        assert!(
            e.contains("methods[0].results") && e.contains("dotted path"),
            "{e}"
        );
        let e = err(&with(
            "        results: data\n        response: { type: object, properties: { data: { type: object } } }",
        ));
        assert!(e.contains("not an array in the response schema"), "{e}");
        let e = err(&with(
            "        pagination: { style: next_url, next_url: \"\" }",
        ));
        assert!(e.contains("pagination.next_url"), "{e}");
        let e = err(&CRM.replace(
            "method: GET\n        path: /contacts/{id}",
            "method: GET\n        path: /contacts/{id}\n        results: data",
        ));
        assert!(e.contains("only list answers"), "{e}");
    }

    #[test]
    fn placeholder_parsing() {
        assert_eq!(placeholders("/a/{x}/b/{y_2}").unwrap(), ["x", "y_2"]);
        assert!(placeholders("/a/{}").is_err());
        assert!(placeholders("/a/}").is_err());
    }
}
