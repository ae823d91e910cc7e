//! Schemas an integration's methods share ([`Integration::defs`]), and the
//! part of them each generated tool carries.
//!
//! A vendor's description references a few thousand component schemas from
//! ten thousand operations, and one entity often reaches most of the others
//! (Microsoft Graph's `user` does). Copying the whole reachable set into
//! every tool made Graph's import take 56 s and 8.4 GB. Instead the
//! integration keeps each schema once, and a tool gets the definitions its
//! schema reaches, nearest first, until [`TOOL_DEFS_BUDGET`] bytes; a
//! reference to one left out becomes an open schema that says so (a model
//! can still send that value; the API validates it).
//!
//! [`Integration::defs`]: crate::Integration::defs

use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};

/// Bytes (as compact JSON) of shared definitions one tool schema carries,
/// beyond the ones it references directly (always carried).
pub const TOOL_DEFS_BUDGET: usize = 32 * 1024;

const PREFIX: &str = "#/$defs/";

/// The `$defs` keys `v` references (`{"$ref": "#/$defs/<key>"}`), in order
/// of appearance, each once.
pub fn refs_in(v: &Value, out: &mut Vec<String>) {
    let mut seen: HashSet<String> = out.iter().cloned().collect();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if let Some(key) = m
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(PREFIX))
                    && seen.insert(key.to_owned())
                {
                    out.push(key.to_owned());
                }
                stack.extend(m.values().rev());
            }
            Value::Array(a) => stack.extend(a.iter().rev()),
            _ => {}
        }
    }
}

/// Shared definitions with their sizes measured once.
pub struct Shared<'a> {
    defs: &'a Map<String, Value>,
    sizes: HashMap<&'a str, (usize, Vec<String>)>,
}

impl<'a> Shared<'a> {
    /// Over an integration's definitions.
    pub fn new(defs: &'a Map<String, Value>) -> Self {
        Self {
            defs,
            sizes: HashMap::new(),
        }
    }

    /// Whether there is nothing shared.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    fn entry(&mut self, key: &str) -> Option<&(usize, Vec<String>)> {
        let (k, schema) = self.defs.get_key_value(key)?;
        Some(self.sizes.entry(k.as_str()).or_insert_with(|| {
            let bytes = serde_json::to_vec(schema).map_or(0, |b| b.len());
            let mut refs = Vec::new();
            refs_in(schema, &mut refs);
            (bytes, refs)
        }))
    }

    /// Give `pieces` (the schemas of one tool's input, or its response) the
    /// shared definitions they reach, within the budget: the closure is
    /// attached as `$defs` of the first piece (the tool generator hoists it
    /// to the top of the schema), and references to definitions left out
    /// are replaced in every piece and in the closure by an open schema.
    pub fn attach(&mut self, pieces: &mut [&mut Value]) {
        let mut roots = Vec::new();
        for p in pieces.iter() {
            refs_in(p, &mut roots);
        }
        // Keys a piece defines itself resolve there.
        let local: HashSet<String> = pieces
            .iter()
            .filter_map(|p| p.get("$defs").and_then(Value::as_object))
            .flat_map(|d| d.keys().cloned())
            .collect();
        roots.retain(|k| !local.contains(k) && self.defs.contains_key(k));
        if roots.is_empty() {
            return;
        }
        let mut kept = Map::new();
        let mut spent = 0usize;
        let mut queue: VecDeque<(String, bool)> = roots.into_iter().map(|k| (k, true)).collect();
        while let Some((key, root)) = queue.pop_front() {
            if kept.contains_key(&key) || local.contains(&key) {
                continue;
            }
            let Some((bytes, refs)) = self.entry(&key).cloned() else {
                continue;
            };
            if !root && spent.saturating_add(bytes) > TOOL_DEFS_BUDGET {
                continue;
            }
            spent = spent.saturating_add(bytes);
            kept.insert(key.clone(), self.defs[&key].clone());
            queue.extend(refs.into_iter().map(|r| (r, false)));
        }
        let kept_keys: HashSet<String> = kept.keys().cloned().collect();
        let keep = |k: &str| kept_keys.contains(k) || local.contains(k);
        let mut closure = kept;
        for v in closure.values_mut() {
            prune(v, &keep);
        }
        for p in pieces.iter_mut() {
            prune(p, &keep);
        }
        if let Some(Value::Object(first)) = pieces.first_mut().map(|p| &mut **p) {
            match first.get_mut("$defs") {
                Some(Value::Object(existing)) => {
                    for (k, v) in closure {
                        existing.entry(k).or_insert(v);
                    }
                }
                _ => {
                    first.insert("$defs".into(), Value::Object(closure));
                }
            }
        }
    }
}

/// Replace each `{"$ref": "#/$defs/<key>"}` whose key `keep` refuses by an
/// open schema naming what it stood for.
fn prune(v: &mut Value, keep: &dyn Fn(&str) -> bool) {
    match v {
        Value::Object(m) => {
            let dropped = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(PREFIX))
                .filter(|k| !keep(k))
                .map(str::to_owned);
            if let Some(key) = dropped {
                m.remove("$ref");
                m.entry("description").or_insert_with(|| {
                    Value::String(format!(
                        "A {key} (its schema is not expanded here: the tool's schema would be too large)"
                    ))
                });
            }
            for child in m.values_mut() {
                prune(child, keep);
            }
        }
        Value::Array(a) => {
            for child in a {
                prune(child, keep);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tool_carries_what_it_reaches_within_the_budget() {
        let big = "x".repeat(TOOL_DEFS_BUDGET);
        let defs = json!({
            "User": {"type": "object", "properties": {
                "manager": {"$ref": "#/$defs/User"},
                "group": {"$ref": "#/$defs/Group"},
                "drive": {"$ref": "#/$defs/Drive"}}},
            "Group": {"type": "object", "description": big},
            "Drive": {"type": "object", "properties": {"id": {"type": "string"}}},
            "Unused": {"type": "string"}
        });
        let defs = defs.as_object().unwrap();
        let mut shared = Shared::new(defs);
        let mut body = json!({"$ref": "#/$defs/User"});
        shared.attach(&mut [&mut body]);
        let carried = body["$defs"].as_object().unwrap();
        // The direct reference and what fits; not the oversized Group, not
        // what nothing references.
        assert!(carried.contains_key("User") && carried.contains_key("Drive"));
        assert!(!carried.contains_key("Group") && !carried.contains_key("Unused"));
        let group = &carried["User"]["properties"]["group"];
        assert!(group.get("$ref").is_none(), "{group}");
        assert!(group["description"].as_str().unwrap().contains("Group"));
        assert_eq!(
            carried["User"]["properties"]["manager"]["$ref"],
            "#/$defs/User"
        );
        let mut refs = Vec::new();
        refs_in(&body, &mut refs);
        assert!(refs.iter().all(|r| carried.contains_key(r)), "{refs:?}");
    }
}
