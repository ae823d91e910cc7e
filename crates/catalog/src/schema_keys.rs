//! Input-schema property keys every client accepts, and the way back.
//!
//! An upstream's `inputSchema` may name its properties `Wine Pairing`,
//! `filter[status]` or `名前`; Claude's clients refuse a tool list in which
//! any property key fails `^[a-zA-Z0-9_.-]{1,64}$`. [`make_client_safe`]
//! rewrites every `properties` object of a schema — at any depth: nested
//! objects, `items`/`prefixItems`, `anyOf`/`oneOf`/`allOf`, `if`/`then`/
//! `else`, `$defs`/`definitions`, … — so its keys pass
//! ([`naming::exposed_property_key`], unique within the object), renames the
//! `required` and `dependentRequired` entries and the `$ref` pointers into
//! renamed properties with them, and keeps the original key visible as the
//! property's `title` when it has none.
//!
//! [`restore_arguments`] is the way back: it walks the upstream's own schema
//! beside a client's arguments (following local `$ref`s and the combinators)
//! and gives every renamed key its original name, at any depth, so the
//! upstream receives the arguments it declared.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::naming::{self, MAX_PROPERTY_KEY};

/// Deepest schema or argument nesting walked; deeper parts are left as
/// they are (JSON parsed by the gateway nests at most 128 levels).
const MAX_DEPTH: usize = 128;

/// Most schemas that may apply at one place of the arguments (`$ref`
/// chains and combinators); bounds the work a hostile schema can cause.
const MAX_APPLICABLE: usize = 256;

/// Keywords whose value is one subschema.
const ONE: [&str; 11] = [
    "additionalProperties",
    "unevaluatedProperties",
    "items",
    "additionalItems",
    "unevaluatedItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
];

/// Keywords whose value is an array of subschemas.
const MANY: [&str; 5] = ["allOf", "anyOf", "oneOf", "prefixItems", "items"];

/// Keywords whose value maps names that are not property keys to subschemas.
const NAMED: [&str; 3] = ["$defs", "definitions", "patternProperties"];

/// The exposed key for each key of one `properties` object, in order.
fn exposed_keys(keys: &[&str]) -> Vec<String> {
    naming::unique_exposed(keys, naming::exposed_property_key, MAX_PROPERTY_KEY)
}

/// Rewrite `schema` in place so that every property key in it is one every
/// client accepts (see the module docs). Returns whether anything changed;
/// when it did, keep the original schema to [`restore_arguments`] with.
pub fn make_client_safe(schema: &mut Value) -> bool {
    rewrite(schema, 0)
}

fn rewrite(schema: &mut Value, depth: usize) -> bool {
    let Some(s) = schema.as_object_mut() else {
        return false;
    };
    if depth > MAX_DEPTH {
        return false;
    }
    let mut changed = false;
    let mut renamed: HashMap<String, String> = HashMap::new();
    if let Some(Value::Object(props)) = s.get_mut("properties") {
        // The common case, checked without allocating: every key passes.
        let all_safe = props.keys().all(|k| naming::is_client_safe_property_key(k));
        let keys: Vec<&str> = if all_safe {
            Vec::new()
        } else {
            props.keys().map(String::as_str).collect()
        };
        let exposed = exposed_keys(&keys);
        if keys.iter().zip(&exposed).any(|(k, e)| k != e) {
            changed = true;
            let old = std::mem::take(props);
            for ((key, mut sub), new) in old.into_iter().zip(exposed) {
                if key != new {
                    if let Some(o) = sub.as_object_mut() {
                        o.entry("title")
                            .or_insert_with(|| Value::String(key.clone()));
                    }
                    renamed.insert(key, new.clone());
                }
                props.insert(new, sub);
            }
        }
        for sub in props.values_mut() {
            changed |= rewrite(sub, depth + 1);
        }
    }
    // Property names listed outside `properties` follow the same rule.
    let rename = |k: &str| -> Option<String> {
        renamed.get(k).cloned().or_else(|| {
            let e = naming::exposed_property_key(k);
            (e != k).then_some(e)
        })
    };
    if let Some(Value::Array(required)) = s.get_mut("required") {
        for r in required.iter_mut() {
            if let Some(new) = r.as_str().and_then(rename) {
                *r = Value::String(new);
                changed = true;
            }
        }
    }
    for keyword in ["dependentRequired", "dependentSchemas", "dependencies"] {
        if let Some(Value::Object(deps)) = s.get_mut(keyword) {
            let old = std::mem::take(deps);
            for (key, mut value) in old {
                if let Value::Array(names) = &mut value {
                    for n in names.iter_mut() {
                        if let Some(new) = n.as_str().and_then(rename) {
                            *n = Value::String(new);
                            changed = true;
                        }
                    }
                } else {
                    changed |= rewrite(&mut value, depth + 1);
                }
                let key = match rename(&key) {
                    Some(new) => {
                        changed = true;
                        new
                    }
                    None => key,
                };
                deps.insert(key, value);
            }
        }
    }
    if let Some(Value::String(pointer)) = s.get_mut("$ref")
        && let Some(new) = renamed_pointer(pointer)
    {
        *pointer = new;
        changed = true;
    }
    for keyword in ONE {
        if let Some(sub) = s.get_mut(keyword) {
            changed |= rewrite(sub, depth + 1);
        }
    }
    for keyword in MANY {
        if let Some(Value::Array(subs)) = s.get_mut(keyword) {
            for sub in subs {
                changed |= rewrite(sub, depth + 1);
            }
        }
    }
    for keyword in NAMED {
        if let Some(Value::Object(subs)) = s.get_mut(keyword) {
            for sub in subs.values_mut() {
                changed |= rewrite(sub, depth + 1);
            }
        }
    }
    changed
}

/// A local `$ref` (`#/properties/a b/items`) with the segments that name a
/// property renamed like the property; `None` when nothing changes.
fn renamed_pointer(pointer: &str) -> Option<String> {
    let path = pointer.strip_prefix("#/")?;
    let mut changed = false;
    let mut after_properties = false;
    let segments: Vec<String> = path
        .split('/')
        .map(|seg| {
            let out = if after_properties {
                let raw = seg.replace("~1", "/").replace("~0", "~");
                let new = naming::exposed_property_key(&raw);
                if new != raw {
                    changed = true;
                    new
                } else {
                    seg.to_owned()
                }
            } else {
                seg.to_owned()
            };
            after_properties = !after_properties && seg == "properties";
            out
        })
        .collect();
    changed.then(|| format!("#/{}", segments.join("/")))
}

/// Give the keys of `arguments` — written against the client-safe form of
/// `schema` — back the names `schema` (the upstream's own inputSchema)
/// declares, at any depth. Keys the schema does not rename, and values it
/// does not describe, are left as they are. Never fails: a client's
/// arguments that fit no schema are passed on for the upstream to judge.
pub fn restore_arguments(schema: &Value, arguments: &mut Value) {
    let mut schemas = Vec::new();
    applicable(schema, schema, &mut schemas, 0);
    restore(schema, &schemas, arguments, 0);
}

/// The object schemas that apply at one place: `schema` itself, the target
/// of its local `$ref`, and its `allOf`/`anyOf`/`oneOf`/`if`/`then`/`else`
/// branches, recursively (bounded).
fn applicable<'a>(
    root: &'a Value,
    schema: &'a Value,
    out: &mut Vec<&'a Map<String, Value>>,
    hops: usize,
) {
    let Some(s) = schema.as_object() else {
        return;
    };
    if hops > 32 || out.len() >= MAX_APPLICABLE {
        return;
    }
    out.push(s);
    if let Some(target) = s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(root, r))
    {
        applicable(root, target, out, hops + 1);
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        for sub in s
            .get(keyword)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            applicable(root, sub, out, hops + 1);
        }
    }
    for keyword in ["if", "then", "else"] {
        if let Some(sub) = s.get(keyword) {
            applicable(root, sub, out, hops + 1);
        }
    }
}

/// A local reference (`#`, `#/$defs/Node`) within `root`.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    match reference.strip_prefix('#')? {
        "" => Some(root),
        pointer => root.pointer(pointer),
    }
}

fn restore(root: &Value, schemas: &[&Map<String, Value>], value: &mut Value, depth: usize) {
    if depth > MAX_DEPTH || schemas.is_empty() {
        return;
    }
    match value {
        Value::Object(args) => {
            let mut back: HashMap<String, String> = HashMap::new();
            for s in schemas {
                let Some(props) = s.get("properties").and_then(Value::as_object) else {
                    continue;
                };
                let keys: Vec<&str> = props.keys().map(String::as_str).collect();
                for (key, exposed) in keys.iter().zip(exposed_keys(&keys)) {
                    if *key != exposed {
                        back.insert(exposed, (*key).to_owned());
                    }
                }
            }
            if !back.is_empty() {
                let old = std::mem::take(args);
                for (key, v) in old {
                    let key = back.remove(&key).unwrap_or(key);
                    args.insert(key, v);
                }
            }
            for (key, v) in args.iter_mut() {
                let mut subs = Vec::new();
                for s in schemas {
                    if let Some(sub) = s
                        .get("properties")
                        .and_then(|p| p.get(key))
                        .or_else(|| s.get("additionalProperties"))
                    {
                        applicable(root, sub, &mut subs, 0);
                    }
                }
                restore(root, &subs, v, depth + 1);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                let mut subs = Vec::new();
                for s in schemas {
                    let positional = s
                        .get("prefixItems")
                        .and_then(Value::as_array)
                        .and_then(|p| p.get(i));
                    let sub = match (positional, s.get("items")) {
                        (Some(p), _) => Some(p),
                        (None, Some(Value::Array(tuple))) => tuple.get(i),
                        (None, Some(items)) => Some(items),
                        (None, None) => None,
                    };
                    if let Some(sub) = sub {
                        applicable(root, sub, &mut subs, 0);
                    }
                }
                restore(root, &subs, v, depth + 1);
            }
        }
        _ => {}
    }
}

/// Every key of every `properties` object anywhere in `schema` (what
/// clients check against `^[a-zA-Z0-9_.-]{1,64}$`).
pub fn property_keys(schema: &Value) -> Vec<&str> {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    if k == "properties"
                        && let Some(p) = v.as_object()
                    {
                        out.extend(p.keys().map(String::as_str));
                    }
                    walk(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(schema, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{exposed_property_key, is_client_safe_property_key};
    use serde_json::json;

    #[test]
    fn safe_schemas_are_left_alone() {
        let mut s = json!({"type": "object", "properties": {"a.b": {"type": "string"}, "c-d_1": {}},
            "required": ["a.b"]});
        let before = s.clone();
        assert!(!make_client_safe(&mut s));
        assert_eq!(s, before);
    }

    #[test]
    fn keys_at_every_depth_are_renamed_and_come_back() {
        let original = json!({
            "type": "object",
            "properties": {
                "Wine Pairing": {"type": "string"},
                "filter[status]": {"type": "object", "properties": {"名前": {"type": "string"}}},
                "list": {"type": "array", "items": {"$ref": "#/$defs/Row"}},
                "choice": {"anyOf": [
                    {"type": "object", "properties": {"a b": {"type": "integer"}}},
                    {"type": "object", "properties": {"c/d": {"type": "integer"}}}
                ]}
            },
            "required": ["Wine Pairing"],
            "$defs": {"Row": {"type": "object", "properties": {"DateSent<": {"type": "string"},
                "next": {"$ref": "#/$defs/Row"}}}}
        });
        let mut exposed = original.clone();
        assert!(make_client_safe(&mut exposed));
        let keys = property_keys(&exposed);
        assert_eq!(keys.len(), 9, "{keys:?}");
        assert!(
            keys.iter().all(|k| is_client_safe_property_key(k)),
            "{keys:?}"
        );
        let wine = exposed_property_key("Wine Pairing");
        assert_eq!(exposed["required"], json!([wine]));
        assert_eq!(exposed["properties"][&wine]["title"], "Wine Pairing");

        let e = exposed_property_key;
        let mut args = json!({
            wine.clone(): "red",
            e("filter[status]"): {e("名前"): "x"},
            "list": [{e("DateSent<"): "2024", "next": {e("DateSent<"): "2023"}}],
            "choice": {e("c/d"): 4},
            "extra": {"kept as is": 1}
        });
        restore_arguments(&original, &mut args);
        assert_eq!(
            args,
            json!({
                "Wine Pairing": "red",
                "filter[status]": {"名前": "x"},
                "list": [{"DateSent<": "2024", "next": {"DateSent<": "2023"}}],
                "choice": {"c/d": 4},
                "extra": {"kept as is": 1}
            })
        );
    }

    #[test]
    fn refs_into_renamed_properties_follow() {
        let mut s = json!({"properties": {"a b": {"type": "string"},
            "c": {"$ref": "#/properties/a b"}}});
        assert!(make_client_safe(&mut s));
        let a = exposed_property_key("a b");
        assert_eq!(
            s["properties"]["c"]["$ref"],
            json!(format!("#/properties/{a}"))
        );
    }

    #[test]
    fn hostile_schemas_end() {
        // A $ref cycle and a deep nesting neither loop nor overflow.
        let original = json!({"$ref": "#", "properties": {"a b": {"$ref": "#"}}});
        let mut exposed = original.clone();
        assert!(make_client_safe(&mut exposed));
        let mut args = json!({});
        let mut cur = &mut args;
        for _ in 0..100 {
            cur[exposed_property_key("a b")] = json!({});
            cur = &mut cur[exposed_property_key("a b")];
        }
        restore_arguments(&original, &mut args);
        assert!(args.get("a b").is_some());
    }
}
