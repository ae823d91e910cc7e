//! Tool generation: one MCP tool per (resource, method), with its input
//! schema and the plan that turns arguments back into an HTTP request.

use serde_json::{Map, Value, json};

use std::collections::BTreeMap;

use crate::integration::{
    BodyKind, HttpMethod, Integration, Method, MethodKind, Pagination, ParamStyles,
    PropertyEncoding, Resource,
};
use crate::naming::{self, MAX_TOOL_NAME};
use crate::schema_keys::KeyMap;
use crate::tool::{Tool, ToolName};

/// Where an argument goes in the HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Substituted into the path template (`{name}`), percent-encoded.
    Path(String),
    /// A query parameter.
    Query(String),
    /// A request header (OpenAPI `in: header`).
    Header(String),
    /// A cookie in the `Cookie` header (OpenAPI `in: cookie`).
    Cookie(String),
    /// A property of the (JSON, form or multipart) body.
    Body(String),
    /// The whole body (JSON; text; bytes as base64).
    WholeBody,
}

/// One argument of a tool and its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Argument name in the tool's input schema.
    pub arg: String,
    /// Where it goes.
    pub location: Location,
}

/// How a tool call becomes an HTTP request.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// HTTP method.
    pub method: HttpMethod,
    /// Path template relative to the base URL.
    pub path: String,
    /// Argument destinations.
    pub bindings: Vec<Binding>,
    /// Paging, for list tools.
    pub pagination: Option<Pagination>,
    /// Whether this is a list tool (uniform `limit`/`next_cursor` contract).
    pub is_list: bool,
    /// Dotted path of a list answer's item array: the definition's
    /// (`pagination.results`, else the method's `results`), else read from
    /// the response schema. `None`: the answer is the array itself, or the
    /// executor finds the array in each answer.
    pub results: Option<String>,
    /// The input schema, for validating arguments before the call.
    pub input_schema: Value,
    /// Parameters serialized otherwise than by their location's default.
    pub styles: Option<ParamStyles>,
    /// Media type of the body (`None`: JSON).
    pub content_type: Option<String>,
    /// Per-property encoding of a form or multipart body.
    pub encoding: Option<BTreeMap<String, PropertyEncoding>>,
    /// Body properties (API names) sent as file parts of a multipart body.
    pub files: Vec<String>,
    /// Nested input-schema keys renamed for clients; restored before the
    /// request is built.
    pub keys: KeyMap,
}

/// A generated tool with what scoping and execution need.
#[derive(Debug, Clone)]
pub struct GeneratedTool {
    /// What clients see.
    pub tool: Tool,
    /// The method's kind.
    pub kind: MethodKind,
    /// The resource's tags.
    pub tags: Vec<String>,
    /// How to execute it.
    pub operation: Operation,
    /// The method's response schema, if defined.
    pub response_schema: Option<Value>,
}

/// Name of the uniform page-size argument of list tools.
pub const LIMIT_ARG: &str = "limit";
/// Name of the uniform cursor argument (and result field) of list tools.
pub const CURSOR_ARG: &str = "next_cursor";

fn annotations(kind: &MethodKind, method: HttpMethod, title: &str) -> Value {
    let (read_only, destructive, idempotent) = match kind {
        MethodKind::List => (true, false, false),
        MethodKind::Get => (true, false, true),
        MethodKind::Create => (false, false, false),
        MethodKind::Update => (false, false, true),
        MethodKind::Delete => (false, true, true),
        MethodKind::Custom(_) => (
            matches!(method, HttpMethod::Get | HttpMethod::Head),
            method == HttpMethod::Delete,
            matches!(
                method,
                HttpMethod::Get | HttpMethod::Head | HttpMethod::Put | HttpMethod::Delete
            ),
        ),
    };
    let mut a = json!({ "title": title, "readOnlyHint": read_only, "openWorldHint": true });
    if !read_only {
        a["destructiveHint"] = json!(destructive);
    }
    a["idempotentHint"] = json!(idempotent);
    a
}

fn default_text(
    integration: &Integration,
    resource: &Resource,
    kind: &MethodKind,
) -> (String, String) {
    let api = integration.label.as_deref().unwrap_or(&integration.name);
    let plural = resource.name.replace('_', " ");
    let one = naming::singular(&naming::snake(&resource.name)).replace('_', " ");
    match kind {
        MethodKind::List => (
            format!("List {plural}"),
            format!(
                "List {plural} in {api}. Pass `limit` for the page size and the returned `next_cursor` to get the next page."
            ),
        ),
        MethodKind::Get => (
            format!("Get a {one}"),
            format!("Get a single {one} in {api} by its id."),
        ),
        MethodKind::Create => (
            format!("Create a {one}"),
            format!("Create a {one} in {api}."),
        ),
        MethodKind::Update => (
            format!("Update a {one}"),
            format!("Update a {one} in {api} by its id."),
        ),
        MethodKind::Delete => (
            format!("Delete a {one}"),
            format!("Delete a {one} in {api} by its id."),
        ),
        MethodKind::Custom(k) => (
            format!("{} {plural}", capitalize(&k.replace('_', " "))),
            format!("{} {plural} in {api}.", capitalize(&k.replace('_', " "))),
        ),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Take `$defs`/`definitions` out of a sub-schema so they can live at the top
/// of the input schema, where `#/$defs/...` references resolve.
fn hoist_defs(schema: &mut Value, defs: &mut Map<String, Value>) {
    if let Some(obj) = schema.as_object_mut() {
        for key in ["$defs", "definitions"] {
            if let Some(Value::Object(d)) = obj.remove(key) {
                defs.extend(d);
            }
        }
    }
}

/// The input schema of a file part or file body: bytes inline (base64) or
/// from a URL the gateway fetches.
pub fn file_schema(description: Option<&str>) -> Value {
    let mut s = json!({
        "type": "object",
        "description": description.unwrap_or("A file: give content_base64 (its bytes, base64-encoded) or url (the gateway downloads it), and optionally filename and content_type."),
        "properties": {
            "content_base64": {"type": "string", "contentEncoding": "base64", "description": "The file's bytes, base64-encoded."},
            "url": {"type": "string", "format": "uri", "description": "An http(s) URL the gateway downloads the file from."},
            "filename": {"type": "string", "description": "The file name sent with the part."},
            "content_type": {"type": "string", "description": "The file's media type (default: the part's, else application/octet-stream)."}
        },
        "oneOf": [{"required": ["content_base64"]}, {"required": ["url"]}],
        "additionalProperties": false
    });
    if description.is_some() {
        s["description"] = json!(format!(
            "{} Give content_base64 (the bytes, base64-encoded) or url (the gateway downloads it), and optionally filename and content_type.",
            description.unwrap_or("")
        ));
    }
    s
}

/// Whether a (multipart) property schema describes raw bytes: OpenAPI 3.0
/// `format: binary`, or 3.1 `contentMediaType` without `contentEncoding`.
fn is_binary(schema: &Value) -> bool {
    schema.get("format").and_then(Value::as_str) == Some("binary")
        || (schema.get("contentMediaType").is_some() && schema.get("contentEncoding").is_none())
}

/// The body schema whose properties become arguments: a top-level
/// `$ref` into the body's own `$defs` is followed for form and multipart
/// bodies (their value must be an object anyway).
fn body_object(body: &Value, defs: &Map<String, Value>) -> Option<Value> {
    let target = match body.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = crate::schema_keys::percent_decode(r.strip_prefix("#/$defs/")?)
                .replace("~1", "/")
                .replace("~0", "~");
            defs.get(&name)?
        }
        None => body,
    };
    target
        .get("properties")
        .is_some_and(Value::is_object)
        .then(|| target.clone())
}

struct Args {
    props: Map<String, Value>,
    taken: std::collections::HashSet<String>,
    required: Vec<String>,
    bindings: Vec<Binding>,
}

impl Args {
    /// Add an argument for API name `name`; its key is client-safe and
    /// unique (`{prefix}_{name}` first when `name` is taken).
    fn add(
        &mut self,
        name: &str,
        prefix: &str,
        schema: Value,
        required: bool,
        location: Location,
    ) -> String {
        let safe = crate::schema_keys::safe_key(name);
        let arg = if self.taken.contains(&safe) {
            crate::schema_keys::unique_key(&format!("{prefix}_{name}"), &mut self.taken)
        } else {
            crate::schema_keys::unique_key(name, &mut self.taken)
        };
        self.props.insert(arg.clone(), schema);
        if required {
            self.required.push(arg.clone());
        }
        self.bindings.push(Binding {
            arg: arg.clone(),
            location,
        });
        arg
    }

    /// Add the properties of an object schema (query, header, cookie).
    fn add_object(
        &mut self,
        schema: Option<&Value>,
        prefix: &str,
        defs: &mut Map<String, Value>,
        skip: &[&str],
        location: fn(String) -> Location,
    ) {
        let Some(mut schema) = schema.cloned() else {
            return;
        };
        hoist_defs(&mut schema, defs);
        let required = string_list(schema.get("required"));
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (name, s) in props {
                if skip.contains(&name.as_str()) {
                    continue;
                }
                self.add(
                    name,
                    prefix,
                    s.clone(),
                    required.contains(name),
                    location(name.clone()),
                );
            }
        }
    }
}

fn input_schema(method: &Method) -> (Value, Vec<Binding>, Vec<String>) {
    let mut args = Args {
        props: Map::new(),
        taken: Default::default(),
        required: Vec::new(),
        bindings: Vec::new(),
    };
    let mut defs = Map::new();
    let mut files = Vec::new();
    // The list contract's own arguments keep their names.
    if method.kind == MethodKind::List {
        args.taken.insert(LIMIT_ARG.into());
        args.taken.insert(CURSOR_ARG.into());
    }

    for name in crate::integration::placeholders(&method.path).unwrap_or_default() {
        let mut schema = method
            .path_params
            .as_ref()
            .and_then(|p| p.get(name))
            .cloned()
            .unwrap_or_else(|| json!({ "type": "string" }));
        hoist_defs(&mut schema, &mut defs);
        // A stored definition is not re-validated: a boolean schema here
        // must not panic the load (IndexMut on a non-object does).
        if let Some(fields) = schema.as_object_mut()
            && !fields.contains_key("description")
        {
            fields.insert(
                "description".into(),
                json!(format!("The {name} path parameter.")),
            );
        }
        args.add(name, "path", schema, true, Location::Path(name.to_owned()));
    }

    let controlled = method
        .pagination
        .as_ref()
        .map(Pagination::controlled_params)
        .unwrap_or_default();
    args.add_object(
        method.query.as_ref(),
        "query",
        &mut defs,
        &controlled,
        Location::Query,
    );
    args.add_object(
        method.headers.as_ref(),
        "header",
        &mut defs,
        &[],
        Location::Header,
    );
    args.add_object(
        method.cookies.as_ref(),
        "cookie",
        &mut defs,
        &[],
        Location::Cookie,
    );

    if let Some(mut body) = method.body.clone() {
        hoist_defs(&mut body, &mut defs);
        let kind = BodyKind::of(method.content_type.as_deref().unwrap_or(""));
        let object = match kind {
            BodyKind::Form | BodyKind::Multipart => body_object(&body, &defs),
            BodyKind::Json => {
                let is_object = body.get("type").is_none_or(|t| t == "object");
                body.get("properties")
                    .is_some_and(Value::is_object)
                    .then(|| body.clone())
                    .filter(|_| is_object)
            }
            BodyKind::Text | BodyKind::Binary => None,
        };
        match object {
            Some(object) => {
                let b_required = string_list(object.get("required"));
                let props = object.get("properties").and_then(Value::as_object);
                for (name, schema) in props.into_iter().flatten() {
                    let mut schema = schema.clone();
                    if kind == BodyKind::Multipart {
                        let description = schema
                            .get("description")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        if is_binary(&schema) {
                            schema = file_schema(description.as_deref());
                            files.push(name.clone());
                        } else if schema.get("type") == Some(&json!("array"))
                            && schema.get("items").is_some_and(is_binary)
                        {
                            schema = json!({"type": "array", "items": file_schema(None)});
                            if let Some(d) = description {
                                schema["description"] = json!(d);
                            }
                            files.push(name.clone());
                        }
                    }
                    args.add(
                        name,
                        "body",
                        schema,
                        b_required.contains(name),
                        Location::Body(name.clone()),
                    );
                }
            }
            None => {
                let ct = method.content_type.as_deref().unwrap_or("application/json");
                let schema = match kind {
                    BodyKind::Text => {
                        let mut s = if body.get("type") == Some(&json!("string")) {
                            body
                        } else {
                            json!({"type": "string"})
                        };
                        if s.get("description").is_none() {
                            s["description"] = json!(format!("The request body, sent as {ct}."));
                        }
                        s
                    }
                    BodyKind::Binary => json!({
                        "type": "string",
                        "contentEncoding": "base64",
                        "description": format!("The request body's bytes, base64-encoded; sent as {ct}."),
                    }),
                    _ => body,
                };
                let arg = if args.taken.contains("body") {
                    "request_body"
                } else {
                    "body"
                };
                args.add(arg, "request", schema, true, Location::WholeBody);
            }
        }
    }

    let Args {
        mut props,
        required,
        bindings,
        ..
    } = args;
    if method.kind == MethodKind::List {
        props.insert(
            LIMIT_ARG.into(),
            json!({"type": "integer", "minimum": 1, "description": "Maximum number of items to return in this page."}),
        );
        props.insert(
            CURSOR_ARG.into(),
            json!({"type": "string", "description": "The next_cursor from a previous call, to fetch the following page. Omit for the first page."}),
        );
    }

    let mut schema = json!({
        "type": "object",
        "properties": Value::Object(props),
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    if !defs.is_empty() {
        schema["$defs"] = Value::Object(defs);
    }
    (schema, bindings, files)
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The names [`generate`] gives an integration's tools, in order, without
/// building the tools (cheap: no schema is touched).
pub fn tool_names(integration: &Integration) -> Vec<String> {
    let pairs: Vec<(&Resource, &Method)> = integration
        .resources
        .iter()
        .flat_map(|r| r.methods.iter().map(move |m| (r, m)))
        .collect();
    tool_names_of(integration, &pairs)
}

fn tool_names_of(integration: &Integration, pairs: &[(&Resource, &Method)]) -> Vec<String> {
    naming::unique(
        pairs
            .iter()
            .map(|(r, m)| {
                // A stored definition is not re-validated: a tool name
                // outside the rules is cleaned rather than panicking below.
                match &m.tool_name {
                    Some(n) if ToolName::new(n.clone()).is_ok() => n.clone(),
                    Some(n) => naming::tool_name(n),
                    None => naming::tool_base_name(&integration.name, &r.name, &m.kind),
                }
            })
            .collect(),
        MAX_TOOL_NAME,
    )
}

/// Generate every tool of an integration, in definition order, with unique
/// names of at most 64 characters.
pub fn generate(integration: &Integration) -> Vec<GeneratedTool> {
    let pairs: Vec<(&Resource, &Method)> = integration
        .resources
        .iter()
        .flat_map(|r| r.methods.iter().map(move |m| (r, m)))
        .collect();
    let names = tool_names_of(integration, &pairs);
    let mut shared = crate::defs::Shared::new(&integration.defs);
    pairs
        .into_iter()
        .zip(names)
        .map(|((resource, method), name)| {
            let carried = with_shared_defs(&mut shared, method);
            let method = carried.as_ref().unwrap_or(method);
            let (default_title, default_description) =
                default_text(integration, resource, &method.kind);
            let title = method.title.clone().unwrap_or(default_title);
            let description = method.description.clone().unwrap_or(default_description);
            let (mut schema, bindings, files) = input_schema(method);
            let keys = crate::schema_keys::make_safe(&mut schema);
            GeneratedTool {
                tool: Tool {
                    name: ToolName::new(name).expect("generated names follow the rules"),
                    title: Some(title.clone()),
                    description: Some(description),
                    input_schema: serde_json::value::to_raw_value(&schema)
                        .expect("a schema serializes"),
                    annotations: Some(
                        serde_json::value::to_raw_value(&annotations(
                            &method.kind,
                            method.method,
                            &title,
                        ))
                        .expect("annotations serialize"),
                    ),
                },
                kind: method.kind.clone(),
                tags: resource.tags.clone(),
                operation: Operation {
                    method: method.method,
                    path: method.path.clone(),
                    bindings,
                    pagination: method.pagination.clone(),
                    is_list: method.kind == MethodKind::List,
                    results: list_results(method),
                    input_schema: schema,
                    styles: method.styles.clone(),
                    content_type: method.content_type.clone(),
                    encoding: method.encoding.clone(),
                    files,
                    keys,
                },
                response_schema: method.response.clone(),
            }
        })
        .collect()
}

/// The method with the shared definitions its schemas reach attached
/// (input and response apart), or `None` when it needs none.
fn with_shared_defs(shared: &mut crate::defs::Shared<'_>, method: &Method) -> Option<Method> {
    if shared.is_empty() {
        return None;
    }
    let mut m = method.clone();
    {
        // The closure rides on the first piece, as an import used to put it.
        let mut pieces: Vec<&mut Value> = Vec::new();
        pieces.extend(m.body.as_mut());
        pieces.extend(m.query.as_mut());
        pieces.extend(m.headers.as_mut());
        pieces.extend(m.cookies.as_mut());
        pieces.extend(m.path_params.iter_mut().flat_map(|p| p.values_mut()));
        shared.attach(&mut pieces);
    }
    if let Some(response) = m.response.as_mut() {
        shared.attach(&mut [response]);
    }
    Some(m)
}

/// Where a list method's answer holds its items (see [`Operation::results`]).
fn list_results(method: &Method) -> Option<String> {
    if method.kind != MethodKind::List {
        return None;
    }
    method
        .pagination
        .as_ref()
        .and_then(Pagination::results_path)
        .or(method.results.as_deref())
        .map(str::to_owned)
        .or_else(|| {
            method
                .response
                .as_ref()
                .and_then(crate::listing::items_in_schema)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRM: &str = r#"
name: crm
base_url: https://crm.example.com
resources:
  - name: contacts
    tags: [crm]
    methods:
      - kind: list
        method: GET
        path: /contacts
        query:
          type: object
          properties:
            email: { type: string }
            after: { type: string }
            limit: { type: integer }
          required: [email]
        pagination: { style: cursor, cursor_param: after, next_cursor: paging.next, limit_param: limit }
      - kind: get
        method: GET
        path: /contacts/{id}
        path_params: { id: { type: integer, description: Contact id } }
      - kind: update
        method: PATCH
        path: /contacts/{id}
        body:
          type: object
          properties: { id: { type: string }, name: { type: string } }
          required: [name]
      - kind: delete
        method: DELETE
        path: /contacts/{id}
      - kind: import
        method: POST
        path: /contacts/import
        body: { type: array, items: { type: object } }
"#;

    fn tools() -> Vec<GeneratedTool> {
        generate(&Integration::from_yaml(CRM).unwrap())
    }

    fn schema(t: &GeneratedTool) -> Value {
        serde_json::from_str(t.tool.input_schema.get()).unwrap()
    }

    #[test]
    fn list_tools_use_the_uniform_contract() {
        let t = &tools()[0];
        assert_eq!(t.tool.name.as_str(), "list_all_crm_contacts");
        let s = schema(t);
        let props = s["properties"].as_object().unwrap();
        let keys: Vec<_> = props.keys().map(String::as_str).collect();
        assert!(
            keys.contains(&"email") && keys.contains(&"limit") && keys.contains(&"next_cursor")
        );
        assert!(
            !keys.contains(&"after"),
            "the upstream cursor param is hidden"
        );
        assert_eq!(
            props["limit"]["type"], "integer",
            "limit is ours, not upstream's"
        );
        assert_eq!(s["required"], json!(["email"]));
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(
            t.operation.bindings,
            vec![Binding {
                arg: "email".into(),
                location: Location::Query("email".into())
            }]
        );
    }

    #[test]
    fn path_params_are_required_and_keep_their_schema() {
        let t = &tools()[1];
        assert_eq!(t.tool.name.as_str(), "get_single_crm_contact_by_id");
        let s = schema(t);
        assert_eq!(s["properties"]["id"]["type"], "integer");
        assert_eq!(s["required"], json!(["id"]));
    }

    #[test]
    fn body_properties_merge_and_clashes_are_renamed() {
        let t = &tools()[2];
        let s = schema(t);
        assert!(s["properties"]["body_id"].is_object());
        assert_eq!(s["required"], json!(["id", "name"]));
        assert!(t.operation.bindings.contains(&Binding {
            arg: "body_id".into(),
            location: Location::Body("id".into())
        }));
    }

    #[test]
    fn non_object_bodies_become_one_argument() {
        let t = &tools()[4];
        assert_eq!(t.tool.name.as_str(), "import_crm_contacts");
        let s = schema(t);
        assert_eq!(s["properties"]["body"]["type"], "array");
        assert_eq!(t.operation.bindings[0].location, Location::WholeBody);
    }

    #[test]
    fn annotations_follow_the_method() {
        let ann = |i: usize| -> Value {
            serde_json::from_str(tools()[i].tool.annotations.as_ref().unwrap().get()).unwrap()
        };
        assert_eq!(ann(0)["readOnlyHint"], true);
        assert_eq!(ann(1)["readOnlyHint"], true);
        assert_eq!(ann(1)["idempotentHint"], true);
        assert_eq!(ann(2)["readOnlyHint"], false);
        assert_eq!(ann(2)["destructiveHint"], false);
        assert_eq!(ann(2)["idempotentHint"], true);
        assert_eq!(ann(3)["destructiveHint"], true);
        assert_eq!(ann(3)["idempotentHint"], true);
        assert_eq!(ann(4)["idempotentHint"], false);
    }

    #[test]
    fn names_are_unique_and_fit_64() {
        let long = CRM.replace(
            "name: contacts",
            &format!("name: {}", "very_long_resource_name_".repeat(4)),
        );
        let tools = generate(&Integration::from_yaml(&long).unwrap());
        let mut names: Vec<_> = tools
            .iter()
            .map(|t| t.tool.name.as_str().to_owned())
            .collect();
        assert!(names.iter().all(|n| n.len() <= 64), "{names:?}");
        names.sort();
        names.dedup();
        assert_eq!(names.len(), tools.len());
    }
}

#[cfg(test)]
mod bundled {
    use super::*;

    /// Every bundled integration loads, and every generated tool has a
    /// spec-valid name of at most 64 characters and an object input schema.
    #[test]
    fn bundled_integrations_generate_valid_tools() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/integrations");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let integration = Integration::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let tools = generate(&integration);
            assert!(
                tools.len() >= 8,
                "{}: {} tools",
                path.display(),
                tools.len()
            );
            for t in &tools {
                assert!(t.tool.name.as_str().len() <= 64);
                let schema: Value = serde_json::from_str(t.tool.input_schema.get()).unwrap();
                assert_eq!(schema["type"], "object");
            }
            let lists = tools.iter().filter(|t| t.kind == MethodKind::List);
            assert!(lists.clone().count() >= 2);
            assert!(
                lists.clone().any(|t| t.operation.pagination.is_some()),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 3, "at least three bundled integrations");
    }
}
