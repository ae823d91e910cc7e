//! OpenAPI 3.0 / 3.1 import: operations become resources and methods.
//!
//! The document is walked as plain JSON rather than through a typed OpenAPI
//! model: a typed parser rejects a whole document for one odd operation,
//! while an import must convert what it can and skip the rest, each skipped
//! operation named in a warning.
//!
//! Local `$ref`s to schemas are rewritten to `#/$defs/<name>` and the
//! referenced schemas (transitively) are attached to each tool's schema, so
//! recursive schemas survive; parameter, request-body and response `$ref`s
//! are inlined with a cycle guard.

use serde_json::{Map, Value, json};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::integration::{
    AuthSpec, DefinitionError, HttpMethod, Integration, KeyLocation, Method, MethodKind,
    Pagination, Resource,
};
use crate::naming::snake;

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Integration name (default: from `info.title`).
    pub name: Option<String>,
    /// Base URL (default: the first `servers` entry).
    pub base_url: Option<String>,
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The converted integration.
    pub integration: Integration,
    /// One line per skipped operation or dropped feature.
    pub warnings: Vec<String>,
    /// Operations in the document.
    pub operations: usize,
    /// Operations converted into methods.
    pub converted: usize,
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

const VERBS: [(&str, HttpMethod); 5] = [
    ("get", HttpMethod::Get),
    ("post", HttpMethod::Post),
    ("put", HttpMethod::Put),
    ("patch", HttpMethod::Patch),
    ("delete", HttpMethod::Delete),
];

/// Convert an OpenAPI 3.x document. `progress(done, total)` is called after
/// each operation so a CLI can show progress on long imports.
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
        Some(u) => u.clone(),
        None => server_url(doc)?,
    };
    let auth = auth_spec(doc, &mut warnings);
    let ctx = Ctx {
        doc,
        depth: Cell::new(0),
    };

    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let total: usize = paths
        .values()
        .filter_map(Value::as_object)
        .map(|item| VERBS.iter().filter(|(v, _)| item.contains_key(*v)).count())
        .sum();
    let path_set: HashSet<&str> = paths.keys().map(String::as_str).collect();

    let mut builder = Builder::default();
    let mut done = 0;
    for (path, item) in &paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for verb in item.keys() {
            if !VERBS.iter().any(|(v, _)| v == verb)
                && matches!(verb.as_str(), "head" | "options" | "trace")
            {
                warnings.push(format!(
                    "skipped {} {path}: method not supported",
                    verb.to_uppercase()
                ));
            }
        }
        for (verb, method) in VERBS {
            let Some(op) = item.get(verb) else { continue };
            match ctx.operation(path, item, op, method, &path_set) {
                Ok(converted) => builder.add(converted),
                Err(reason) => {
                    let id = op.get("operationId").and_then(Value::as_str).unwrap_or("-");
                    warnings.push(format!(
                        "skipped {} {path} ({id}): {reason}",
                        method.as_str()
                    ));
                }
            }
            done += 1;
            progress(done, total);
        }
    }
    let converted = builder.count;
    if converted == 0 {
        return Err(err("paths", "no operation could be converted"));
    }
    let integration = Integration {
        name,
        label: doc
            .pointer("/info/title")
            .and_then(Value::as_str)
            .map(str::to_owned),
        description: doc
            .pointer("/info/description")
            .and_then(Value::as_str)
            .map(|d| d.chars().take(1000).collect()),
        base_url,
        auth,
        timeout_secs: None,
        resources: builder.finish(),
    };
    integration.validate()?;
    Ok(Imported {
        integration,
        warnings,
        operations: total,
        converted,
    })
}

fn server_url(doc: &Value) -> Result<String, DefinitionError> {
    let server = doc.pointer("/servers/0").ok_or_else(|| {
        err(
            "servers",
            "the document names no server; give a base URL (--base-url)",
        )
    })?;
    let mut url = server
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(vars) = server.get("variables").and_then(Value::as_object) {
        for (k, v) in vars {
            if let Some(default) = v.get("default").and_then(Value::as_str) {
                url = url.replace(&format!("{{{k}}}"), default);
            }
        }
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(err(
            "servers[0].url",
            format!("{url:?} is not an absolute http(s) URL; give a base URL (--base-url)"),
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
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
    /// How deep [`Ctx::schema`] is now: a reference cycle outside
    /// `#/components/schemas`, or a very deep schema, ends in an error
    /// instead of overflowing the stack.
    depth: Cell<usize>,
}

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

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

impl Ctx<'_> {
    /// Resolve a local `$ref` (any component), following chains, with a guard.
    fn deref<'v>(&'v self, mut v: &'v Value) -> Result<&'v Value, String> {
        let mut seen = HashSet::new();
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            if !seen.insert(r) {
                return Err(format!("circular reference {r}"));
            }
            let pointer = r
                .strip_prefix('#')
                .ok_or_else(|| format!("remote reference {r:?} is not supported"))?;
            v = self
                .doc
                .pointer(pointer)
                .ok_or_else(|| format!("unresolvable reference {r}"))?;
        }
        Ok(v)
    }

    fn operation(
        &self,
        path: &str,
        item: &Map<String, Value>,
        op: &Value,
        verb: HttpMethod,
        all_paths: &HashSet<&str>,
    ) -> Result<Converted, String> {
        crate::integration::placeholders(path)?;
        let segs = segments(path);
        let last_is_param = segs.last().is_some_and(|s| is_param(s));
        let static_segs: Vec<&str> = segs.iter().copied().filter(|s| !is_param(s)).collect();
        if static_segs.is_empty() {
            return Err("the path has no static segment to name a resource".into());
        }
        let op_id = op
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let custom_name = || {
            let base = op_id
                .as_deref()
                .map(snake)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| snake(static_segs.last().copied().unwrap_or("action")));
            if base.starts_with(|c: char| c.is_ascii_lowercase()) {
                base
            } else {
                format!("op_{base}")
            }
        };

        // The collection a path belongs to, and the method's kind.
        let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let parent_is_collection = !parent.is_empty()
            && all_paths.contains(parent)
            && !segments(parent).last().is_some_and(|s| is_param(s));
        let (collection, kind) = if last_is_param {
            let kind = match verb {
                HttpMethod::Get => MethodKind::Get,
                HttpMethod::Put | HttpMethod::Patch => MethodKind::Update,
                HttpMethod::Delete => MethodKind::Delete,
                HttpMethod::Post => MethodKind::Custom(custom_name()),
            };
            (parent.to_owned(), kind)
        } else if parent_is_collection && matches!(verb, HttpMethod::Post | HttpMethod::Get) {
            // `/contacts/search` beside `/contacts`: an action on contacts.
            (parent.to_owned(), MethodKind::Custom(custom_name()))
        } else {
            let kind = match verb {
                HttpMethod::Get => MethodKind::List,
                HttpMethod::Post => MethodKind::Create,
                _ => MethodKind::Custom(custom_name()),
            };
            (path.to_owned(), kind)
        };
        let coll_static: Vec<&str> = segments(&collection)
            .into_iter()
            .filter(|s| !is_param(s))
            .collect();
        let resource_name = coll_static
            .last()
            .map(|s| snake(s))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "root".into());
        let resource_key = coll_static.join("/");

        // Parameters: path-level, overridden by operation-level (same name+in).
        let mut params: BTreeMap<(String, String), Value> = BTreeMap::new();
        for list in [item.get("parameters"), op.get("parameters")]
            .into_iter()
            .flatten()
        {
            for p in list.as_array().ok_or("parameters must be a list")? {
                let p = self.deref(p)?;
                let name = p
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("a parameter has no name")?;
                let location = p
                    .get("in")
                    .and_then(Value::as_str)
                    .ok_or("a parameter has no \"in\"")?;
                params.insert((location.to_owned(), name.to_owned()), p.clone());
            }
        }
        let mut defs = BTreeSet::new();
        let mut path_params = Map::new();
        let mut query_props = Map::new();
        let mut query_required = Vec::new();
        for ((location, name), p) in &params {
            let mut schema = match p.get("schema") {
                Some(s) => self.schema(s, &mut defs)?,
                None => json!({"type": "string"}),
            };
            if let Some(d) = p.get("description").and_then(Value::as_str)
                && schema.get("description").is_none()
                && let Some(obj) = schema.as_object_mut()
            {
                obj.insert("description".into(), json!(d));
            }
            match location.as_str() {
                "path" => {
                    path_params.insert(name.clone(), schema);
                }
                "query" => {
                    if p.get("required") == Some(&Value::Bool(true)) {
                        query_required.push(name.clone());
                    }
                    query_props.insert(name.clone(), schema);
                }
                _ => {} // header and cookie parameters are the gateway's business
            }
        }
        for name in crate::integration::placeholders(path)? {
            path_params
                .entry(name.to_owned())
                .or_insert_with(|| json!({"type": "string"}));
        }

        let body = match op.get("requestBody") {
            None => None,
            Some(rb) => {
                let rb = self.deref(rb)?;
                let content = rb
                    .get("content")
                    .and_then(Value::as_object)
                    .ok_or("requestBody has no content")?;
                let json_media = content
                    .iter()
                    .find(|(k, _)| k.starts_with("application/json") || k.ends_with("+json"));
                match json_media {
                    Some((_, media)) => Some(match media.get("schema") {
                        Some(s) => self.schema(s, &mut defs)?,
                        None => json!({"type": "object"}),
                    }),
                    None => {
                        let kinds: Vec<_> = content.keys().cloned().collect();
                        return Err(format!("request body is not JSON ({})", kinds.join(", ")));
                    }
                }
            }
        };
        if body.is_some() && verb == HttpMethod::Get {
            return Err("a GET operation with a request body".into());
        }

        let mut response_defs = BTreeSet::new();
        let response = self.success_schema(op, &mut response_defs)?;
        let pagination = if kind == MethodKind::List {
            infer_pagination(&query_props, response.as_ref())
        } else {
            None
        };

        let mut query = None;
        if !query_props.is_empty() {
            let mut q = json!({"type": "object", "properties": Value::Object(query_props)});
            if !query_required.is_empty() {
                q["required"] = json!(query_required);
            }
            query = Some(q);
        }
        let attach =
            |schema: Option<Value>, defs: &BTreeSet<String>| -> Result<Option<Value>, String> {
                match schema {
                    Some(mut s) if !defs.is_empty() => {
                        let closure = self.defs_closure(defs)?;
                        if let Some(obj) = s.as_object_mut() {
                            obj.insert("$defs".into(), Value::Object(closure));
                        }
                        Ok(Some(s))
                    }
                    other => Ok(other),
                }
            };
        // Definitions referenced by parameters ride on the body or query schema
        // (the tool generator hoists them to the top of the input schema).
        let (query, body, path_params) = if let Some(b) = body {
            (query, attach(Some(b), &defs)?, path_params)
        } else if let Some(q) = query {
            (attach(Some(q), &defs)?, None, path_params)
        } else {
            (None, None, path_params)
        };
        let response = attach(response, &response_defs)?;

        let summary = op.get("summary").and_then(Value::as_str);
        let description = op.get("description").and_then(Value::as_str);
        let text = match (summary, description) {
            (Some(s), Some(d)) if d.starts_with(s) => Some(d.to_owned()),
            (Some(s), Some(d)) => Some(format!("{s}\n\n{d}")),
            (Some(s), None) => Some(s.to_owned()),
            (None, d) => d.map(str::to_owned),
        }
        .map(|t| t.chars().take(2000).collect());

        Ok(Converted {
            resource_key,
            resource_name,
            tags: op
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            method: Method {
                kind,
                method: verb,
                path: path.to_owned(),
                tool_name: None,
                title: summary.map(|s| s.chars().take(120).collect()),
                description: text,
                path_params: if path_params.is_empty() {
                    None
                } else {
                    Some(path_params)
                },
                query,
                body,
                pagination,
                response,
            },
            operation_id: op_id,
        })
    }

    fn success_schema(
        &self,
        op: &Value,
        defs: &mut BTreeSet<String>,
    ) -> Result<Option<Value>, String> {
        let Some(responses) = op.get("responses").and_then(Value::as_object) else {
            return Ok(None);
        };
        let ok = ["200", "201", "202", "2XX", "default"]
            .iter()
            .find_map(|code| responses.get(*code));
        let Some(ok) = ok else { return Ok(None) };
        let ok = self.deref(ok)?;
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

    /// Convert a schema: component refs become `#/$defs/…` (collected in
    /// `defs`), OpenAPI 3.0 idioms become JSON Schema 2020-12.
    fn schema(&self, s: &Value, defs: &mut BTreeSet<String>) -> Result<Value, String> {
        let depth = self.depth.get();
        if depth >= MAX_SCHEMA_DEPTH {
            return Err(format!(
                "a schema nests more than {MAX_SCHEMA_DEPTH} levels deep (a reference cycle outside #/components/schemas?)"
            ));
        }
        self.depth.set(depth + 1);
        let converted = self.convert_schema(s, defs);
        self.depth.set(depth);
        converted
    }

    fn convert_schema(&self, s: &Value, defs: &mut BTreeSet<String>) -> Result<Value, String> {
        Ok(match s {
            Value::Object(obj) => {
                if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
                    if let Some(name) = r.strip_prefix("#/components/schemas/") {
                        if self.doc.pointer(r.trim_start_matches('#')).is_none() {
                            return Err(format!("unresolvable reference {r}"));
                        }
                        defs.insert(name.to_owned());
                        return Ok(json!({ "$ref": format!("#/$defs/{name}") }));
                    }
                    let target = self.deref(s)?;
                    return self.schema(target, defs);
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
                                    .collect::<Result<_, String>>()?,
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

    /// The named component schemas and everything they reference, converted.
    fn defs_closure(&self, roots: &BTreeSet<String>) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        let mut queue: Vec<String> = roots.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            if out.contains_key(&name) {
                continue;
            }
            let raw = self
                .doc
                .pointer(&format!(
                    "/components/schemas/{}",
                    name.replace('~', "~0").replace('/', "~1")
                ))
                .ok_or_else(|| format!("unresolvable schema {name:?}"))?;
            let mut found = BTreeSet::new();
            let converted = self.schema(raw, &mut found)?;
            out.insert(name, converted);
            queue.extend(found.into_iter().filter(|n| !out.contains_key(n)));
        }
        Ok(out)
    }
}

/// Recognise the common pagination parameter conventions of list endpoints.
fn infer_pagination(query: &Map<String, Value>, response: Option<&Value>) -> Option<Pagination> {
    let has = |n: &str| query.contains_key(n);
    let limit = [
        "limit",
        "per_page",
        "page_size",
        "pageSize",
        "size",
        "max_results",
    ]
    .into_iter()
    .find(|n| has(n))
    .map(str::to_owned);
    let results = response.and_then(|r| {
        let props = r.get("properties")?.as_object()?;
        ["results", "data", "items", "records", "values", "entries"]
            .into_iter()
            .find(|k| props.get(*k).and_then(|p| p.get("type")) == Some(&json!("array")))
            .map(str::to_owned)
    });
    if let Some(cursor) = [
        "cursor",
        "after",
        "starting_after",
        "page_token",
        "pageToken",
        "next_token",
    ]
    .into_iter()
    .find(|n| has(n))
    {
        let props = response
            .and_then(|r| r.get("properties"))
            .and_then(Value::as_object);
        let next = [
            "next_cursor",
            "nextCursor",
            "next_page_token",
            "nextPageToken",
            "next_token",
            "cursor",
        ]
        .into_iter()
        .find(|k| props.is_some_and(|p| p.contains_key(*k)));
        if let Some(next) = next {
            return Some(Pagination::Cursor {
                cursor_param: cursor.to_owned(),
                next_cursor: next.to_owned(),
                limit_param: limit,
                results,
            });
        }
    }
    if has("page") {
        return Some(Pagination::Page {
            page_param: "page".into(),
            first_page: 1,
            limit_param: limit,
            results,
        });
    }
    if has("offset")
        && let Some(limit) = limit
    {
        return Some(Pagination::Offset {
            offset_param: "offset".into(),
            limit_param: limit,
            results,
        });
    }
    None
}

/// Groups converted operations into resources.
#[derive(Default)]
struct Builder {
    /// Resource key (static segments of the collection path) → index.
    keys: BTreeMap<String, usize>,
    resources: Vec<Resource>,
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
            method.kind = kind;
        }
        resource.methods.push(method);
        self.count += 1;
    }

    fn finish(self) -> Vec<Resource> {
        self.resources
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let pet = &body["$defs"]["NewPet"];
        assert_eq!(
            pet["properties"]["nickname"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(pet["properties"]["age"]["exclusiveMinimum"], 0);
        // The multipart upload could not be converted: skipped, named, import goes on.
        assert!(
            imported
                .warnings
                .iter()
                .any(|w| w.contains("uploadPetPhoto") && w.contains("multipart")),
            "{:?}",
            imported.warnings
        );
        assert_eq!(imported.converted + 1, imported.operations);
    }

    #[test]
    fn openapi_31_json_with_ref_cycles_survives() {
        let imported = run(&fixture("tree-3.1.json"));
        let i = &imported.integration;
        let create = method(i, "nodes", "create");
        let body = create.body.as_ref().unwrap();
        assert_eq!(body["$ref"], "#/$defs/Node");
        let node = &body["$defs"]["Node"];
        assert_eq!(
            node["properties"]["children"]["items"]["$ref"],
            "#/$defs/Node"
        );
        assert_eq!(node["properties"]["owner"]["$ref"], "#/$defs/Person");
        assert_eq!(
            body["$defs"]["Person"]["properties"]["manager"]["$ref"],
            "#/$defs/Person"
        );
        // The generated tool schema keeps the cycle resolvable at its top level.
        let tools = generate(i);
        let tool = tools
            .iter()
            .find(|t| t.tool.name.as_str() == "create_a_tree_node")
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
        assert!(
            imported.warnings.iter().any(|w| w.contains("/{only}")),
            "{:?}",
            imported.warnings
        );
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
        let e = import(
            &json!({"openapi": "3.0.0", "paths": {}}),
            &ImportOptions::default(),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("servers"), "{e}");
        let e = import(
            &json!({"openapi": "3.0.0", "servers": [{"url": "/rel"}], "paths": {}}),
            &ImportOptions::default(),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("--base-url"), "{e}");
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
