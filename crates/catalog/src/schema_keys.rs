//! Client-safe property keys inside a tool's input schema, and the way back.
//!
//! Claude's clients refuse a whole tool list when one input-schema property
//! key, at any depth, falls outside `^[a-zA-Z0-9_.-]{1,64}$` (see
//! [`crate::naming`]). Real APIs use keys such as `DateSent<` (Twilio) or
//! `Wine Pairing`. [`make_safe`] renames such keys wherever a schema lists
//! `properties` (also inside `$defs`, `items`, `allOf`…) and records each
//! rename in a [`KeyMap`] under the JSON pointer of the schema that owns the
//! properties; [`KeyMap::restore`] walks an argument value along the schema
//! and gives every renamed key its API name back before the request is built.

use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

use crate::naming::{self, MAX_PROPERTY_KEY};

/// Renamed property keys of one input schema: for the JSON pointer of each
/// schema whose `properties` had keys renamed, exposed key → API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyMap {
    renamed: BTreeMap<String, BTreeMap<String, String>>,
}

/// Operators that carry meaning in API keys (`DateSent<`, `price>=`): they
/// become words, so `DateSent<` and `DateSent>` stay distinct and readable.
const OPERATORS: [(&str, &str); 6] = [
    ("<=", "_lte"),
    (">=", "_gte"),
    ("!=", "_ne"),
    ("<", "_lt"),
    (">", "_gt"),
    ("=", "_eq"),
];

/// The client-safe form of a property key: readable words for comparison
/// operators, then [`naming::property_key`], within 64 characters.
pub fn safe_key(raw: &str) -> String {
    if naming::is_client_safe_property_key(raw) {
        return raw.to_owned();
    }
    let mut text = raw.to_owned();
    for (op, word) in OPERATORS {
        text = text.replace(op, word);
    }
    naming::fit(&naming::property_key(&text), MAX_PROPERTY_KEY)
}

/// A client-safe key for `raw` that is not in `taken` (then added to it):
/// `safe_key(raw)`, else with `_2`, `_3`…
pub fn unique_key(raw: &str, taken: &mut HashSet<String>) -> String {
    let base = safe_key(raw);
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = naming::fit(&format!("{base}_{n}"), MAX_PROPERTY_KEY);
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Keywords whose value is one schema or a list of schemas.
const SUBSCHEMA: [&str; 15] = [
    "items",
    "additionalProperties",
    "not",
    "allOf",
    "anyOf",
    "oneOf",
    "prefixItems",
    "contains",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contentSchema",
];

/// Keywords whose value maps names to schemas (the names are not property keys).
const SCHEMA_MAPS: [&str; 4] = [
    "$defs",
    "definitions",
    "patternProperties",
    "dependentSchemas",
];

/// Rename every property key outside the client-safe pattern, at any depth
/// of `schema` (its own top-level `properties` included), and return where
/// each rename happened. `required` and `dependentRequired` follow their
/// properties, and a renamed property without a `title` gets its original
/// key as one.
pub fn make_safe(schema: &mut Value) -> KeyMap {
    let mut map = KeyMap::default();
    walk(schema, String::new(), &mut map, 0);
    map
}

fn walk(schema: &mut Value, at: String, map: &mut KeyMap, depth: usize) {
    // Schemas nest far less than this; the bound keeps hostile documents
    // from exhausting the stack.
    if depth > 256 {
        return;
    }
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        if !props.keys().all(|k| naming::is_client_safe_property_key(k)) {
            let mut taken: HashSet<String> = props
                .keys()
                .filter(|k| naming::is_client_safe_property_key(k))
                .cloned()
                .collect();
            let mut renamed = BTreeMap::new();
            let old = std::mem::take(props);
            for (k, v) in old {
                if naming::is_client_safe_property_key(&k) {
                    props.insert(k, v);
                } else {
                    let new = unique_key(&k, &mut taken);
                    let mut v = v;
                    // The model still sees the API's own name.
                    if let Value::Object(sub) = &mut v {
                        sub.entry("title")
                            .or_insert_with(|| Value::String(k.clone()));
                    }
                    props.insert(new.clone(), v);
                    renamed.insert(new, k);
                }
            }
            let back: BTreeMap<&String, &String> = renamed.iter().map(|(n, o)| (o, n)).collect();
            if let Some(Value::Array(required)) = obj.get_mut("required") {
                for r in required.iter_mut() {
                    if let Some(new) = r.as_str().and_then(|s| back.get(&s.to_owned())) {
                        *r = Value::String((*new).clone());
                    }
                }
            }
            if let Some(Value::Object(dep)) = obj.get_mut("dependentRequired") {
                let old = std::mem::take(dep);
                for (k, mut v) in old {
                    if let Value::Array(list) = &mut v {
                        for r in list.iter_mut() {
                            if let Some(new) = r.as_str().and_then(|s| back.get(&s.to_owned())) {
                                *r = Value::String((*new).clone());
                            }
                        }
                    }
                    let k = back.get(&k).map(|n| (*n).clone()).unwrap_or(k);
                    dep.insert(k, v);
                }
            }
            map.renamed.insert(at.clone(), renamed);
        }
        if let Some(Value::Object(props)) = obj.get_mut("properties") {
            for (k, v) in props.iter_mut() {
                walk(v, format!("{at}/properties/{}", escape(k)), map, depth + 1);
            }
        }
    }
    for key in SCHEMA_MAPS {
        if let Some(Value::Object(m)) = obj.get_mut(key) {
            for (k, v) in m.iter_mut() {
                walk(v, format!("{at}/{key}/{}", escape(k)), map, depth + 1);
            }
        }
    }
    for key in SUBSCHEMA {
        match obj.get_mut(key) {
            Some(Value::Array(list)) => {
                for (i, v) in list.iter_mut().enumerate() {
                    walk(v, format!("{at}/{key}/{i}"), map, depth + 1);
                }
            }
            Some(v @ Value::Object(_)) => walk(v, format!("{at}/{key}"), map, depth + 1),
            _ => {}
        }
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

impl KeyMap {
    /// Whether no key was renamed (then [`Self::restore`] has nothing to do).
    pub fn is_empty(&self) -> bool {
        self.renamed.is_empty()
    }

    /// Give the API's own keys back to `value`, an argument whose schema is
    /// at JSON pointer `at` of `root` (the input schema [`make_safe`] ran
    /// on). Follows local `$ref`s and `allOf`/`anyOf`/`oneOf` branches;
    /// keys the schema does not know are left as they are.
    pub fn restore(&self, root: &Value, at: &str, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        self.restore_at(root, at.to_owned(), value, 0);
    }

    fn restore_at(&self, root: &Value, at: String, value: &mut Value, depth: usize) {
        if depth > 64 {
            return;
        }
        let at = resolve(root, at);
        let Some(schema) = root.pointer(&at) else {
            return;
        };
        match value {
            Value::Object(fields) => {
                let mut known = Vec::new();
                self.gather(root, at.clone(), &mut known, 0);
                let extra = schema
                    .get("additionalProperties")
                    .filter(|a| a.is_object())
                    .map(|_| format!("{at}/additionalProperties"));
                let old = std::mem::take(fields);
                for (k, mut v) in old {
                    match known.iter().find(|(exposed, _, _)| *exposed == k) {
                        Some((_, original, child)) => {
                            self.restore_at(root, child.clone(), &mut v, depth + 1);
                            fields.insert(original.clone(), v);
                        }
                        None => {
                            if let Some(extra) = &extra {
                                self.restore_at(root, extra.clone(), &mut v, depth + 1);
                            }
                            fields.insert(k, v);
                        }
                    }
                }
            }
            Value::Array(items) => {
                let prefix = schema
                    .get("prefixItems")
                    .and_then(Value::as_array)
                    .map(Vec::len);
                for (i, item) in items.iter_mut().enumerate() {
                    let child = match prefix {
                        Some(n) if i < n => format!("{at}/prefixItems/{i}"),
                        _ if schema.get("items").is_some_and(Value::is_object) => {
                            format!("{at}/items")
                        }
                        _ => continue,
                    };
                    self.restore_at(root, child, item, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// The properties a schema (with its combinator branches) declares:
    /// (exposed key, API key, pointer of the property's schema).
    fn gather(
        &self,
        root: &Value,
        at: String,
        out: &mut Vec<(String, String, String)>,
        depth: usize,
    ) {
        if depth > 16 {
            return;
        }
        let at = resolve(root, at);
        let Some(schema) = root.pointer(&at) else {
            return;
        };
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            let renamed = self.renamed.get(&at);
            for k in props.keys() {
                if out.iter().any(|(e, _, _)| e == k) {
                    continue;
                }
                let original = renamed.and_then(|r| r.get(k)).unwrap_or(k);
                out.push((
                    k.clone(),
                    original.clone(),
                    format!("{at}/properties/{}", escape(k)),
                ));
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(list) = schema.get(key).and_then(Value::as_array) {
                for i in 0..list.len() {
                    self.gather(root, format!("{at}/{key}/{i}"), out, depth + 1);
                }
            }
        }
    }
}

/// Follow `$ref`s (local ones only) from the schema at `at`.
fn resolve(root: &Value, mut at: String) -> String {
    for _ in 0..32 {
        let next = root
            .pointer(&at)
            .and_then(|s| s.get("$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .map(percent_decode);
        match next {
            Some(p) if p != at => at = p,
            _ => break,
        }
    }
    at
}

/// Decode `%XX` escapes of a URI fragment (RFC 3986 §2.1); invalid ones stay.
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operator_keys_become_words_and_stay_distinct() {
        assert_eq!(safe_key("DateSent<"), "DateSent_lt");
        assert_eq!(safe_key("DateSent>"), "DateSent_gt");
        assert_eq!(safe_key("price>="), "price_gte");
        assert_eq!(safe_key("Wine Pairing"), "Wine_Pairing");
        assert_eq!(safe_key("ok.key-1"), "ok.key-1");
        assert!(naming::is_client_safe_property_key(&safe_key(
            &"k".repeat(100)
        )));
    }

    #[test]
    fn nested_keys_are_renamed_and_restored_through_refs_and_branches() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "body": {"$ref": "#/$defs/Recipe"},
                "plain": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Recipe"}}
            },
            "$defs": {
                "Recipe": {
                    "type": "object",
                    "required": ["Wine Pairing"],
                    "properties": {
                        "Wine Pairing": {"type": "string"},
                        "Wine_Pairing": {"type": "string"},
                        "steps": {"type": "array", "items": {"allOf": [{"properties": {"Time (min)": {"type": "integer"}}}]}}
                    }
                }
            }
        });
        let map = make_safe(&mut schema);
        let recipe = &schema["$defs"]["Recipe"];
        assert!(
            recipe["properties"]["Wine_Pairing_2"].is_object(),
            "{recipe}"
        );
        assert_eq!(recipe["required"], json!(["Wine_Pairing_2"]));
        let step = &recipe["properties"]["steps"]["items"]["allOf"][0]["properties"];
        assert!(step["Time_min"].is_object(), "{step}");

        let mut value = json!({"Wine_Pairing_2": "red", "Wine_Pairing": "keep", "steps": [{"Time_min": 5}], "other": 1});
        map.restore(&schema, "/properties/body", &mut value);
        assert_eq!(
            value,
            json!({"Wine Pairing": "red", "Wine_Pairing": "keep", "steps": [{"Time (min)": 5}], "other": 1})
        );
        let mut value = json!({"x": {"Wine_Pairing_2": "white"}});
        map.restore(&schema, "/properties/plain", &mut value);
        assert_eq!(value, json!({"x": {"Wine Pairing": "white"}}));
    }

    #[test]
    fn safe_schemas_record_nothing() {
        let mut schema = json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b.c": {}}}}});
        assert!(make_safe(&mut schema).is_empty());
    }

    #[test]
    fn fragments_are_percent_decoded() {
        assert_eq!(
            percent_decode("/paths/~1pets~1%7Bid%7D"),
            "/paths/~1pets~1{id}"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
