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
use sha2::{Digest, Sha256};
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

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn new(seed: &str) -> Self {
        let d = Sha256::digest(seed.as_bytes());
        Self(u64::from_le_bytes(d[..8].try_into().expect("8 bytes")))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Most items a simulated array gets, whatever `minItems` says: a
/// schema's bounds are someone else's numbers, the memory is ours.
const MAX_ITEMS: u64 = 100;

/// Most characters a simulated string gets, whatever `minLength` says.
const MAX_CHARS: usize = 4096;

const WORDS: [&str; 12] = [
    "alpha", "harbor", "maple", "quartz", "river", "summit", "cobalt", "meadow", "orbit",
    "pioneer", "lumen", "vertex",
];
const NAMES: [&str; 8] = [
    "Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Dennis",
];

/// Generate a value for `schema` (with `defs` for `$ref`s).
pub fn generate(schema: &Value, defs: &Map<String, Value>, seed: &str) -> Value {
    let mut rng = Rng::new(seed);
    value(schema, defs, &mut rng, 0, "")
}

fn value(
    schema: &Value,
    defs: &Map<String, Value>,
    rng: &mut Rng,
    depth: usize,
    key: &str,
) -> Value {
    let Some(s) = schema.as_object() else {
        return Value::Null;
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or("");
        return match defs.get(name) {
            // Recursive schemas end after a few levels.
            Some(target) if depth < 4 => value(target, defs, rng, depth + 1, key),
            _ => Value::Null,
        };
    }
    if let Some(examples) = s
        .get("examples")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    {
        return examples[rng.below(examples.len() as u64) as usize].clone();
    }
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        let non_null: Vec<&Value> = options.iter().filter(|v| !v.is_null()).collect();
        if !non_null.is_empty() {
            return non_null[rng.below(non_null.len() as u64) as usize].clone();
        }
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(first) = s
            .get(combinator)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return value(first, defs, rng, depth + 1, key);
        }
    }
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(o) = value(part, defs, rng, depth + 1, key) {
                merged.extend(o);
            }
        }
        return Value::Object(merged);
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "string",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (name, sub) in props {
                    out.insert(name.clone(), value(sub, defs, rng, depth + 1, name));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let min = s
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .min(MAX_ITEMS);
            let max = s
                .get("maxItems")
                .and_then(Value::as_u64)
                .unwrap_or(3)
                .max(min);
            let n = if depth >= 3 {
                min
            } else {
                min + rng.below((max - min).saturating_add(1)).min(2)
            };
            let items = s.get("items").cloned().unwrap_or(json!({}));
            Value::Array(
                (0..n)
                    .map(|_| value(&items, defs, rng, depth + 1, key))
                    .collect(),
            )
        }
        "integer" => {
            let (lo, hi) = bounds(s, 1.0, 1000.0);
            // Float-to-integer casts saturate; the sum must too.
            let offset = rng.below(((hi.floor() - lo.ceil()) as u64).max(1));
            json!((lo.ceil() as i64).saturating_add(i64::try_from(offset).unwrap_or(i64::MAX)))
        }
        "number" => {
            let (lo, hi) = bounds(s, 0.0, 1000.0);
            let x = lo + (hi - lo) * (rng.below(10_000) as f64 / 10_000.0);
            json!((x * 100.0).round() / 100.0)
        }
        "boolean" => json!(rng.below(2) == 1),
        "null" => Value::Null,
        _ => json!(string(s, rng, key)),
    }
}

fn bounds(s: &Map<String, Value>, lo: f64, hi: f64) -> (f64, f64) {
    let min = s
        .get("minimum")
        .and_then(Value::as_f64)
        .or_else(|| {
            s.get("exclusiveMinimum")
                .and_then(Value::as_f64)
                .map(|m| m + 1.0)
        })
        .unwrap_or(lo);
    let max = s
        .get("maximum")
        .and_then(Value::as_f64)
        .or_else(|| {
            s.get("exclusiveMaximum")
                .and_then(Value::as_f64)
                .map(|m| m - 1.0)
        })
        .unwrap_or(hi.max(min + 1.0));
    (min, max.max(min))
}

fn string(s: &Map<String, Value>, rng: &mut Rng, key: &str) -> String {
    let n = rng.next();
    let word = WORDS[(n % WORDS.len() as u64) as usize];
    let name = NAMES[((n >> 8) % NAMES.len() as u64) as usize];
    let text = match s.get("format").and_then(Value::as_str) {
        Some("email") => format!("{}.{word}@example.com", name.to_lowercase()),
        Some("date-time") => format!(
            "2026-{:02}-{:02}T{:02}:{:02}:00Z",
            1 + n % 12,
            1 + (n >> 4) % 28,
            (n >> 9) % 24,
            (n >> 14) % 60
        ),
        Some("date") => format!("2026-{:02}-{:02}", 1 + n % 12, 1 + (n >> 4) % 28),
        Some("uuid") => {
            let b = n.to_be_bytes();
            let c = rng.next().to_be_bytes();
            format!(
                "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-8{:01x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                b[0],
                b[1],
                b[2],
                b[3],
                b[4],
                b[5],
                b[6] & 0xf,
                b[7],
                c[0] & 0xf,
                c[1],
                c[2],
                c[3],
                c[4],
                c[5],
                c[6],
                c[7]
            )
        }
        Some("uri") | Some("url") => format!("https://example.com/{word}/{}", n % 10_000),
        Some("hostname") => format!("{word}.example.com"),
        Some("ipv4") => format!("192.0.2.{}", n % 254 + 1),
        _ => {
            let k = key.to_ascii_lowercase();
            if k.contains("email") {
                format!("{}.{word}@example.com", name.to_lowercase())
            } else if k.contains("name") {
                format!("{name} {}", capitalize(word))
            } else if k == "id" || k.ends_with("_id") || k.ends_with("id") {
                format!("{}", 100_000 + n % 900_000)
            } else {
                format!("{word}-{}", n % 1000)
            }
        }
    };
    // Lengths count characters (JSON Schema), not bytes.
    let min = s.get("minLength").and_then(Value::as_u64).map_or(0, |m| {
        usize::try_from(m).unwrap_or(usize::MAX).min(MAX_CHARS)
    });
    let max = s
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| usize::try_from(m).unwrap_or(usize::MAX));
    let mut text = text;
    let chars = text.chars().count();
    if chars < min {
        text.extend(std::iter::repeat_n('x', min - chars));
    }
    if let Some(max) = max.filter(|m| *m < chars.max(min)) {
        text = text.chars().take(max).collect();
    }
    text
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

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
    // Objects are kept per collection: the last literal segment of the path.
    let resource = plan
        .path
        .split('/')
        .rfind(|s| !s.is_empty() && !s.starts_with('{'))
        .unwrap_or("items")
        .to_owned();
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
    let object_schema = item_schema(
        &schema,
        plan.pagination.as_ref().and_then(|p| p.results_path()),
    );
    let fresh = |seed: &str| generate(&object_schema, &defs, seed);
    match &op.tool.kind {
        MethodKind::Create => {
            let n = state.list(sandbox, &resource).len() + 1;
            let id = format!("{}", 1000 + n);
            let mut object = as_object(fresh(&seed));
            merge(&mut object, &body);
            object.insert("id".into(), id_value(&object_schema, &defs, &id));
            let object = Value::Object(object);
            state.put(sandbox, &resource, &id, object.clone());
            simulated(object)
        }
        MethodKind::Get | MethodKind::Update | MethodKind::Delete => {
            let Some(id) = id_arg else {
                return simulated(generate(&schema, &defs, &seed));
            };
            let current = match state.get(sandbox, &resource, &id) {
                Some(None) => {
                    return simulated_error(format!(
                        "The upstream API answered 404 Not Found (simulated): no {resource} with id {id}"
                    ));
                }
                Some(Some(v)) => v,
                None => {
                    let mut o = as_object(fresh(&format!("{sandbox}|{resource}|{id}")));
                    o.insert("id".into(), id_value(&object_schema, &defs, &id));
                    Value::Object(o)
                }
            };
            match op.tool.kind {
                MethodKind::Get => simulated(current),
                MethodKind::Update => {
                    let mut o = as_object(current);
                    merge(&mut o, &body);
                    let v = Value::Object(o);
                    state.put(sandbox, &resource, &id, v.clone());
                    simulated(v)
                }
                _ => {
                    state.delete(sandbox, &resource, &id);
                    simulated(json!({"status": 204}))
                }
            }
        }
        MethodKind::List => {
            // Stored objects first, then a few generated ones.
            let mut all = state.list(sandbox, &resource);
            for i in 0..3 {
                let mut o = as_object(fresh(&format!("{sandbox}|{resource}|generated-{i}")));
                if o.contains_key("id") || object_schema.get("properties").is_none() {
                    o.insert(
                        "id".into(),
                        id_value(&object_schema, &defs, &format!("{}", 100 + i)),
                    );
                }
                all.push(Value::Object(o));
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
                .map_or(all.len(), |l| l as usize);
            let end = (start + limit).min(all.len());
            let next = (end < all.len()).then(|| PageCursor::Slice(end).encode());
            simulated(json!({"results": all[start..end], "next_cursor": next}))
        }
        MethodKind::Custom(_) => simulated(generate(&schema, &defs, &seed)),
    }
}

/// An id as the object's schema types it (a number when `id` is an integer).
fn id_value(object_schema: &Value, defs: &Map<String, Value>, id: &str) -> Value {
    let resolved = object_schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| defs.get(r.rsplit('/').next().unwrap_or("")))
        .unwrap_or(object_schema);
    let ty = resolved.pointer("/properties/id/type");
    let numeric = match ty {
        Some(Value::String(t)) => t == "integer" || t == "number",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer" || t == "number"),
        _ => false,
    };
    match id.parse::<i64>() {
        Ok(n) if numeric => json!(n),
        _ => json!(id),
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
/// array) or the schema itself.
fn item_schema(schema: &Value, results: Option<&str>) -> Value {
    let mut s = schema.clone();
    if let Some(path) = results {
        for key in path.split('.') {
            s = s
                .get("properties")
                .and_then(|p| p.get(key))
                .cloned()
                .unwrap_or(json!({}));
        }
    }
    if s.get("type") == Some(&json!("array")) || (results.is_some() && s.get("items").is_some()) {
        s = s.get("items").cloned().unwrap_or(json!({"type": "object"}));
    }
    s
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
fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
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
