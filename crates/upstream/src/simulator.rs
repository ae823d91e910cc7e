//! The integration simulator behind sandbox twins: answers a tool call the
//! way the real API would — same argument validation, responses that follow
//! the method's response schema (examples first, else realistic generated
//! values, deterministic for the same sandbox, tool and arguments) — without
//! any network call. `create`/`get`/`update`/`delete`/`list` keep state per
//! sandbox, so an agent's experiment behaves like a real account.

use dashmap::DashMap;
use mcpgate_catalog::MethodKind;
use mcpgate_catalog::tools::{CURSOR_ARG, LIMIT_ARG, Location};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use crate::paging::PageCursor;
use crate::rest::RestOperation;

/// Where a sandbox keeps its objects.
pub trait SandboxState: Send + Sync {
    /// An object by sandbox, resource and id; `Some(None)` when deleted.
    fn get(&self, sandbox: &str, resource: &str, id: &str) -> Option<Option<Value>>;
    /// Store (or replace) an object.
    fn put(&self, sandbox: &str, resource: &str, id: &str, value: Value);
    /// Mark an object deleted.
    fn delete(&self, sandbox: &str, resource: &str, id: &str);
    /// Live objects of a resource, oldest first.
    fn list(&self, sandbox: &str, resource: &str) -> Vec<Value>;
}

/// One collection of a sandbox: id → (creation order, object or `None`
/// once deleted).
type Collection = BTreeMap<String, (u64, Option<Value>)>;

/// Sandbox state in memory.
#[derive(Default)]
pub struct MemoryState {
    // (sandbox, resource) → its collection.
    objects: DashMap<(String, String), Collection>,
    counter: std::sync::atomic::AtomicU64,
}

impl SandboxState for MemoryState {
    fn get(&self, sandbox: &str, resource: &str, id: &str) -> Option<Option<Value>> {
        self.objects
            .get(&(sandbox.to_owned(), resource.to_owned()))
            .and_then(|m| m.get(id).map(|(_, v)| v.clone()))
    }

    fn put(&self, sandbox: &str, resource: &str, id: &str, value: Value) {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut map = self
            .objects
            .entry((sandbox.to_owned(), resource.to_owned()))
            .or_default();
        let order = map.get(id).map_or(n, |(o, _)| *o);
        map.insert(id.to_owned(), (order, Some(value)));
    }

    fn delete(&self, sandbox: &str, resource: &str, id: &str) {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.objects
            .entry((sandbox.to_owned(), resource.to_owned()))
            .or_default()
            .insert(id.to_owned(), (n, None));
    }

    fn list(&self, sandbox: &str, resource: &str) -> Vec<Value> {
        let Some(map) = self.objects.get(&(sandbox.to_owned(), resource.to_owned())) else {
            return Vec::new();
        };
        let mut live: Vec<(u64, Value)> = map
            .values()
            .filter_map(|(o, v)| v.clone().map(|v| (*o, v)))
            .collect();
        live.sort_by_key(|(o, _)| *o);
        live.into_iter().map(|(_, v)| v).collect()
    }
}

impl MemoryState {
    /// Forget everything of a sandbox.
    pub fn reset(&self, sandbox: &str) {
        self.objects.retain(|(s, _), _| s != sandbox);
    }
}

pub use crate::sample::generate;

/// The definitions a schema's `$ref`s point into.
fn defs_of(schema: &Value) -> Map<String, Value> {
    schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn simulated(structured: Value) -> Box<RawValue> {
    let structured = if structured.is_object() {
        structured
    } else {
        json!({ "result": structured })
    };
    crate::call_result::structured(&structured, Some(r#"{"io.mcpgate/simulated":true}"#))
}

fn simulated_error(text: String) -> Box<RawValue> {
    serde_json::value::to_raw_value(&json!({
        "content": [{"type": "text", "text": text}],
        "isError": true,
        "_meta": {"io.mcpgate/simulated": true},
    }))
    .expect("a result serializes")
}

/// Query or body parameters by which a client names the fields it wants
/// (HubSpot `properties`, `fields`, OData `$select`, Asana `opt_fields`).
const ASKED: &[&str] = &[
    "properties",
    "fields",
    "$select",
    "select",
    "opt_fields",
    "attributes",
];

/// The field names a call asks for, and whether they go into the object's
/// `properties` map (HubSpot's `properties`).
fn asked_fields(op: &RestOperation, args: &Map<String, Value>) -> Option<(Vec<String>, bool)> {
    op.tool.operation.bindings.iter().find_map(|b| {
        let name = match &b.location {
            Location::Query(n) | Location::Body(n) => n,
            _ => return None,
        };
        let lower = name.to_ascii_lowercase();
        if !ASKED.contains(&lower.as_str()) {
            return None;
        }
        let names: Vec<String> = match args.get(&b.arg)? {
            Value::String(s) => s.split(',').map(str::to_owned).collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => return None,
        };
        // `assignee.name` asks for the `assignee` field.
        let mut names: Vec<String> = names
            .iter()
            .filter_map(|n| n.trim().split('.').next().map(str::to_owned))
            .filter(|n| !n.is_empty())
            .collect();
        names.dedup();
        (!names.is_empty()).then_some((names, lower == "properties"))
    })
}

/// Answer a REST tool call in `sandbox` without calling the API.
pub fn call(
    state: &dyn SandboxState,
    sandbox: &str,
    op: &RestOperation,
    arguments: Option<&RawValue>,
) -> Box<RawValue> {
    let args: Map<String, Value> = match arguments.map(|a| serde_json::from_str::<Value>(a.get())) {
        None | Some(Ok(Value::Null)) => Map::new(),
        Some(Ok(Value::Object(m))) => m,
        Some(_) => {
            return simulated_error("Invalid arguments: arguments must be a JSON object".into());
        }
    };
    // Validation is the production path's own: a bad argument fails the same way.
    if let Err(e) = op.check(&Value::Object(args.clone())) {
        return simulated_error(e);
    }
    let plan = &op.tool.operation;
    let resource = collection(&plan.path);
    let id_arg = plan.bindings.iter().rev().find_map(|b| match &b.location {
        Location::Path(_) => args.get(&b.arg).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        _ => None,
    });
    let body: Map<String, Value> = plan
        .bindings
        .iter()
        .filter_map(|b| match &b.location {
            Location::Body(name) => args.get(&b.arg).map(|v| (name.clone(), v.clone())),
            Location::WholeBody => args
                .get(&b.arg)
                .and_then(|v| v.as_object().cloned())
                .map(|o| (String::new(), Value::Object(o))),
            _ => None,
        })
        .fold(Map::new(), |mut m, (k, v)| {
            match (k.is_empty(), v) {
                (true, Value::Object(o)) => m.extend(o),
                (false, v) => {
                    m.insert(k, v);
                }
                _ => {}
            }
            m
        });
    let canonical = serde_json::to_string(&Value::Object(args.clone())).expect("JSON serializes");
    let seed = format!("{sandbox}|{}|{canonical}", op.tool.tool.name);
    let schema = op
        .tool
        .response_schema
        .clone()
        .unwrap_or(json!({"type": "object"}));
    let defs = defs_of(&schema);
    let items_path = list_items_path(op, &schema);
    let object_schema = item_schema(&schema, items_path.as_deref());
    let ids = IdField::of(&object_schema, &defs);
    let fresh = |seed: &str| generate(&object_schema, &defs, seed);
    let asked = asked_fields(op, &args);
    let answer = |mut v: Value, generated: bool, seed: &str| {
        if let Some((names, into_properties)) = &asked {
            crate::sample::fill_asked(&mut v, names, *into_properties, generated, seed);
        }
        v
    };
    match &op.tool.kind {
        MethodKind::Create => {
            let n = state.list(sandbox, &resource).len() + 1;
            let mut object = as_object(fresh(&format!("{seed}|{n}")));
            let supplied = ids.supplied(&body);
            merge(&mut object, &body);
            // The client's id, else a realistic generated one (from a
            // pattern or format), else the next in sequence.
            let id = match supplied {
                Some(id) => id,
                None => match object.get(&ids.field) {
                    Some(v) if ids.realistic && !v.is_null() => v.clone(),
                    _ => ids.value(&format!("{}", 1000 + n)),
                },
            };
            object.insert(ids.field.clone(), id.clone());
            let object = Value::Object(object);
            state.put(sandbox, &resource, &id_text(&id), object.clone());
            simulated(answer(object, false, &seed))
        }
        MethodKind::Get | MethodKind::Update | MethodKind::Delete => {
            let Some(id) = id_arg else {
                return simulated(answer(generate(&schema, &defs, &seed), true, &seed));
            };
            let (current, generated) = match state.get(sandbox, &resource, &id) {
                Some(None) => {
                    return simulated_error(format!(
                        "The upstream API answered 404 Not Found (simulated): no {resource} with id {id}"
                    ));
                }
                Some(Some(v)) => (v, false),
                None => {
                    let mut o = as_object(fresh(&format!("{sandbox}|{resource}|{id}")));
                    o.insert(ids.field.clone(), ids.value(&id));
                    (Value::Object(o), true)
                }
            };
            match op.tool.kind {
                MethodKind::Get => simulated(answer(current, generated, &seed)),
                MethodKind::Update => {
                    let mut o = as_object(current);
                    merge(&mut o, &body);
                    let mut v = Value::Object(o);
                    crate::sample::touch(&mut v, &seed);
                    state.put(sandbox, &resource, &id, v.clone());
                    simulated(answer(v, false, &seed))
                }
                _ => {
                    state.delete(sandbox, &resource, &id);
                    simulated(json!({"status": 204}))
                }
            }
        }
        MethodKind::List => {
            // Stored objects first, then a few generated ones.
            let mut all: Vec<Value> = state
                .list(sandbox, &resource)
                .into_iter()
                .map(|o| answer(o, false, &seed))
                .collect();
            for i in 0..3 {
                let item_seed = format!("{sandbox}|{resource}|generated-{i}");
                let mut o = as_object(fresh(&item_seed));
                let keep = ids.realistic && o.get(&ids.field).is_some_and(|v| !v.is_null());
                if !keep
                    && (o.contains_key(&ids.field) || object_schema.get("properties").is_none())
                {
                    o.insert(ids.field.clone(), ids.value(&format!("{}", 100 + i)));
                }
                all.push(answer(Value::Object(o), true, &item_seed));
            }
            let start = match args
                .get(CURSOR_ARG)
                .and_then(Value::as_str)
                .and_then(PageCursor::decode)
            {
                Some(PageCursor::Slice(n)) => n.min(all.len()),
                _ => 0,
            };
            let limit = args
                .get(LIMIT_ARG)
                .and_then(Value::as_u64)
                .map_or(all.len(), |l| usize::try_from(l).unwrap_or(usize::MAX));
            let end = start.saturating_add(limit).min(all.len());
            let next = (end < all.len()).then(|| PageCursor::Slice(end).encode());
            let page: Vec<Value> = all.drain(start..end).collect();
            let wrapper = list_wrapper(op, &schema, &defs, items_path.as_deref(), sandbox);
            simulated(crate::paging::page(page, next, wrapper))
        }
        MethodKind::Custom(_) => simulated(answer(generate(&schema, &defs, &seed), true, &seed)),
    }
}

/// The collection a path's objects are kept in: its last literal segment
/// without a file extension (`/Messages.json` and `/Messages/{Sid}.json`
/// share `Messages`).
fn collection(path: &str) -> String {
    path.split('/')
        .filter_map(|s| s.split('.').next())
        .rfind(|s| !s.is_empty() && !s.starts_with('{'))
        .unwrap_or("items")
        .to_owned()
}

/// Where a list answer's items are: the operation's path, else none when
/// the schema is an array, else read from the schema.
fn list_items_path(op: &RestOperation, schema: &Value) -> Option<String> {
    use mcpgate_catalog::listing;
    op.tool.operation.results.clone().or_else(|| {
        (!listing::schema_is_array(schema))
            .then(|| listing::items_in_schema(schema))
            .flatten()
    })
}

/// The fields a list answer carries beside its items (generated from the
/// response schema), without the paging fields the uniform `next_cursor`
/// replaces.
fn list_wrapper(
    op: &RestOperation,
    schema: &Value,
    defs: &Map<String, Value>,
    items_path: Option<&str>,
    sandbox: &str,
) -> Value {
    use mcpgate_catalog::listing;
    let Some(path) = items_path else {
        return Value::Null;
    };
    let seed = format!("{sandbox}|{}|page", op.tool.tool.name);
    let mut wrapper = generate(schema, defs, &seed);
    listing::remove_at(&mut wrapper, path);
    let mut paging: Vec<String> = op
        .tool
        .operation
        .pagination
        .iter()
        .flat_map(|p| p.answer_paths().into_iter().map(|(_, p)| p.to_owned()))
        .collect();
    paging.extend(listing::paging_paths(&wrapper));
    for p in paging {
        listing::remove_at(&mut wrapper, &p);
    }
    wrapper
}

/// The field that identifies an object of a collection, and how its values
/// are typed.
struct IdField {
    /// `id`, else `sid` (Twilio), `gid` (Asana), `uuid`…, as the schema has it.
    field: String,
    /// Whether the schema types it as a number.
    numeric: bool,
    /// Whether generated values look real (a `pattern` or `format`), so a
    /// created object keeps its generated id.
    realistic: bool,
}

impl IdField {
    fn of(object_schema: &Value, defs: &Map<String, Value>) -> Self {
        fn deref<'a>(s: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
            s.get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| defs.get(r.rsplit('/').next().unwrap_or("")))
                .unwrap_or(s)
        }
        let resolved = deref(object_schema, defs);
        let props = resolved.get("properties").and_then(Value::as_object);
        let field = ["id", "sid", "gid", "uuid", "uid", "_id", "key"]
            .iter()
            .find_map(|f| props.and_then(|p| p.keys().find(|k| k.eq_ignore_ascii_case(f))))
            .cloned()
            .unwrap_or_else(|| "id".to_owned());
        let s = props.and_then(|p| p.get(&field)).map(|s| deref(s, defs));
        let numeric = match s.and_then(|s| s.get("type")) {
            Some(Value::String(t)) => t == "integer" || t == "number",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer" || t == "number"),
            _ => false,
        };
        let realistic = s.is_some_and(|s| s.get("pattern").is_some() || s.get("format").is_some());
        Self {
            field,
            numeric,
            realistic,
        }
    }

    /// An id as the schema types it (a number when it is an integer).
    fn value(&self, id: &str) -> Value {
        match id.parse::<i64>() {
            Ok(n) if self.numeric => json!(n),
            _ => json!(id),
        }
    }

    /// The id a create call's body gives (by the field's name, any case:
    /// Twilio's `Sid` for `sid`).
    fn supplied(&self, body: &Map<String, Value>) -> Option<Value> {
        body.iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(&self.field) && !v.is_null())
            .map(|(_, v)| v.clone())
    }
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A sandbox answer for an upstream MCP tool: data that follows its
/// `outputSchema` when it has one, else a clearly marked generic result.
pub fn mcp_call(
    sandbox: &str,
    tool: &str,
    output_schema: Option<&Value>,
    arguments: Option<&RawValue>,
) -> Box<RawValue> {
    let args = arguments.map_or("{}", RawValue::get);
    match output_schema {
        Some(schema) => simulated(generate(schema, &defs_of(schema), &format!("{sandbox}|{tool}|{args}"))),
        None => serde_json::value::to_raw_value(&json!({
            "content": [{"type": "text", "text": format!(
                "[sandbox] {tool} was not run: it has no output schema to simulate from. This is a generic simulated result."
            )}],
            "_meta": {"io.mcpgate/simulated": true, "io.mcpgate/generic": true},
        }))
        .expect("a result serializes"),
    }
}

/// The schema of one object: the list items (at the results path, or of an
/// array schema) or the schema itself.
fn item_schema(schema: &Value, results: Option<&str>) -> Value {
    use mcpgate_catalog::listing;
    let array = match results {
        Some(path) => listing::schema_at(schema, path),
        None if listing::schema_is_array(schema) => Some(schema),
        None => None,
    };
    match array {
        Some(a) => {
            let a = match a.get("$ref").and_then(Value::as_str) {
                Some(r) => schema.pointer(r.trim_start_matches('#')).unwrap_or(a),
                None => a,
            };
            a.get("items").cloned().unwrap_or(json!({"type": "object"}))
        }
        None => schema.clone(),
    }
}

fn as_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(o) => o,
        other => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
    }
}

/// Shallow merge with one level of nested objects (so `{"properties": {…}}`
/// updates fields inside `properties`, as APIs like HubSpot do).
///
/// A body field lands on the object's field of the same name compared
/// without case or `_` (Twilio's `To` is the message's `to`,
/// `StatusCallback` its `status_callback`).
fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    let norm = |k: &str| -> String {
        k.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    for (k, v) in from {
        let found = (!into.contains_key(k))
            .then(|| into.keys().find(|e| norm(e) == norm(k)).cloned())
            .flatten();
        let k = found.as_ref().unwrap_or(k);
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => {
                for (bk, bv) in b {
                    a.insert(bk.clone(), bv.clone());
                }
            }
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}
