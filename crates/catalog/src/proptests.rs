//! Property tests over input other people control (issue 17 §1): names and
//! shortening, input-schema keys and the way back, and OpenAPI conversion
//! through the public `import` API. Case counts are bounded so `cargo test`
//! stays fast; `PROPTEST_CASES=10000` runs deeper.

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::naming::{
    self, MAX_PROPERTY_KEY, MAX_TOOL_NAME, exposed_tool_name, fit, is_client_safe_property_key,
    is_client_safe_tool_name, unique_exposed,
};
use crate::schema_keys::{make_safe, property_keys};
use crate::strategies::{hostile_schema, hostile_string};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // No regression files in the tree: failures print their input.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_string_gets_a_stable_client_safe_name_and_key(raw in hostile_string(120)) {
        let name = exposed_tool_name(&raw);
        prop_assert!(is_client_safe_tool_name(&name), "{raw:?} -> {name:?}");
        prop_assert_eq!(&name, &exposed_tool_name(&raw));
        if is_client_safe_tool_name(&raw) {
            prop_assert_eq!(&name, &raw);
        }
        let key = crate::schema_keys::safe_key(&raw);
        prop_assert!(is_client_safe_property_key(&key), "{raw:?} -> {key:?}");
        prop_assert!(is_client_safe_tool_name(&fit(&naming::tool_name(&raw), MAX_TOOL_NAME)));
        prop_assert!(is_client_safe_property_key(&fit(&naming::property_key(&raw), MAX_PROPERTY_KEY)));
    }

    #[test]
    fn fitting_cuts_on_character_boundaries_within_the_budget(
        raw in hostile_string(120),
        other in hostile_string(120),
        max in 0usize..80,
    ) {
        let fitted = fit(&raw, max);
        if raw.len() <= max {
            prop_assert_eq!(&fitted, &raw);
        } else {
            prop_assert!(fitted.len() <= max, "{fitted:?}");
        }
        if raw.len() > max && max >= 10 && other.len() > max && other != raw {
            // The hash of the whole name keeps long names apart.
            prop_assert_ne!(fitted, fit(&other, max));
        }
    }

    #[test]
    fn adding_a_name_renames_no_other(
        raws in btree_set(hostile_string(30), 0..12),
        extra in hostile_string(30),
        at in any::<proptest::sample::Index>(),
    ) {
        prop_assume!(!raws.contains(&extra));
        let before: Vec<String> = raws.iter().cloned().collect();
        let names = unique_exposed(&before, exposed_tool_name, MAX_TOOL_NAME);
        let mut after = before.clone();
        let at = at.index(after.len() + 1);
        after.insert(at, extra);
        let mut renamed = unique_exposed(&after, exposed_tool_name, MAX_TOOL_NAME);
        prop_assert!(renamed.iter().all(|n| is_client_safe_tool_name(n)));
        let mut distinct = renamed.clone();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), renamed.len());
        renamed.remove(at);
        prop_assert_eq!(names, renamed);
    }

    #[test]
    fn schema_keys_are_client_safe_and_arguments_come_back(schema in hostile_schema()) {
        let mut exposed = schema.clone();
        let keys = make_safe(&mut exposed);
        for key in property_keys(&exposed) {
            prop_assert!(is_client_safe_property_key(key), "{key:?} in {exposed}");
        }
        // Arguments as a client writes them from the exposed schema, and
        // as the upstream must receive them (the original key is the
        // renamed property's title).
        let (mut args, expected) = arguments_for(&exposed, &exposed, 0);
        keys.restore(&exposed, "", &mut args);
        prop_assert_eq!(args, expected);
    }
}

/// Arguments filling every declared property of `schema` (following local
/// `$ref`s a few levels), keyed as exposed and as originally declared.
fn arguments_for(root: &Value, schema: &Value, depth: usize) -> (Value, Value) {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) if depth < 3 => match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => target,
            None => return (json!(1), json!(1)),
        },
        _ => schema,
    };
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        if let Some(items) = schema.get("items") {
            let (a, e) = arguments_for(root, items, depth + 1);
            return (json!([a]), json!([e]));
        }
        return (json!("v"), json!("v"));
    };
    let (mut args, mut expected) = (Map::new(), Map::new());
    for (key, sub) in props {
        // A boolean schema cannot carry the original as its title.
        if !sub.is_object() {
            continue;
        }
        let original = sub.get("title").and_then(Value::as_str).unwrap_or(key);
        let (a, e) = arguments_for(root, sub, depth + 1);
        args.insert(key.clone(), a);
        expected.insert(original.to_owned(), e);
    }
    (Value::Object(args), Value::Object(expected))
}

/// An OpenAPI 3 document whose paths, operationIds and parameter names are
/// hostile strings.
fn hostile_document() -> impl Strategy<Value = Value> {
    let operation = (
        hostile_string(30),
        vec(
            (hostile_string(20), prop_oneof!["query", "path", "header"]),
            0..4,
        ),
        hostile_schema(),
    );
    (
        hostile_string(20),
        vec((vec(hostile_string(12), 1..4), operation), 1..6),
    )
        .prop_map(|(title, ops)| {
            let mut paths = Map::new();
            for (segments, (operation_id, params, body)) in ops {
                let path = format!("/{}", segments.join("/"));
                let parameters: Vec<Value> = params
                    .into_iter()
                    .map(|(name, place)| {
                        json!({"name": name, "in": place, "required": place == "path",
                            "schema": {"type": "string"}})
                    })
                    .collect();
                paths.insert(
                    path,
                    json!({
                        "get": {"operationId": operation_id, "parameters": parameters,
                            "responses": {"200": {"description": "ok",
                                "content": {"application/json": {"schema": body}}}}},
                        "post": {"operationId": format!("{operation_id}-create"),
                            "requestBody": {"content": {"application/json": {"schema": body}}},
                            "responses": {"201": {"description": "created"}}}
                    }),
                );
            }
            json!({"openapi": "3.0.3", "info": {"title": title},
                "servers": [{"url": "https://api.example.test"}], "paths": paths})
        })
}

proptest! {
    #![proptest_config(config(64))]

    /// Conversion never panics (nor overflows its stack) on any document,
    /// and every tool it produces has a name every client accepts.
    #[test]
    fn openapi_import_of_any_names_never_panics(doc in hostile_document()) {
        let options = crate::openapi::ImportOptions::default();
        if let Ok(imported) = crate::openapi::import(&doc, &options, &mut |_, _| {}) {
            for tool in crate::generate(&imported.integration) {
                let name = tool.tool.name.as_str();
                prop_assert!(is_client_safe_tool_name(name), "{name:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Input-schema keys of imported REST tools pass the client pattern
    /// (`^[a-zA-Z0-9_.-]{1,64}$`). The REST naming and the mapping back to
    /// the API's parameters is issue 19's ('openapi' lane) work.
    #[test]
    fn openapi_import_exposes_only_client_safe_keys(doc in hostile_document()) {
        let options = crate::openapi::ImportOptions::default();
        if let Ok(imported) = crate::openapi::import(&doc, &options, &mut |_, _| {}) {
            for tool in crate::generate(&imported.integration) {
                let schema: Value = serde_json::from_str(tool.tool.input_schema.get()).unwrap();
                for key in property_keys(&schema) {
                    prop_assert!(is_client_safe_property_key(key), "{key:?}");
                }
            }
        }
    }
}

/// A reference cycle outside `#/components/schemas` used to recurse until
/// the stack overflowed (the process aborts: no panic handler can catch it).
/// Every local `$ref` now becomes a `$defs` entry, so the cycle stays a
/// recursive reference and both operations convert.
#[test]
fn openapi_reference_cycles_through_any_pointer_end() {
    let doc = json!({"openapi": "3.0.0", "info": {"title": "t"},
        "servers": [{"url": "https://x.test"}],
        "paths": {
            "/a": {"get": {"operationId": "a",
                "parameters": [{"name": "q", "in": "query", "schema": {"$ref": "#/x-loop"}}],
                "responses": {"200": {"description": "ok"}}}},
            "/b": {"get": {"operationId": "b", "responses": {"200": {"description": "ok"}}}}
        },
        "x-loop": {"type": "object", "properties": {"a": {"$ref": "#/x-loop"}}}});
    let imported =
        crate::openapi::import(&doc, &Default::default(), &mut |_, _| {}).expect("both convert");
    assert_eq!(imported.converted, 2, "{:?}", imported.warnings);
    let tools = crate::generate(&imported.integration);
    let schema = tools
        .iter()
        .map(|t| serde_json::from_str::<Value>(t.tool.input_schema.get()).unwrap())
        .find(|s| s["properties"].get("q").is_some())
        .expect("the tool of /a takes q");
    let q = &schema["properties"]["q"]["$ref"];
    let target = q
        .as_str()
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| schema.pointer(p));
    assert_eq!(
        target.and_then(|t| t["properties"]["a"]["$ref"].as_str()),
        q.as_str(),
        "the loop is a recursive reference: {schema}"
    );
}

/// Any stored integration definition, valid or not: a store written by
/// another version, or by hand, is not re-validated when loaded.
fn hostile_definition() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        hostile_schema(),
        Just(json!(true)),
        Just(json!("text")),
        Just(json!(7)),
    ];
    let method = (
        prop_oneof![
            Just("list".to_owned()),
            Just("get".to_owned()),
            Just("create".to_owned()),
            hostile_string(12)
        ],
        proptest::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE"]),
        hostile_string(30),
        proptest::option::of(hostile_string(70)),
        proptest::collection::btree_map(hostile_string(8), value.clone(), 0..3),
        proptest::option::of(value.clone()),
        proptest::option::of(value),
    )
        .prop_map(|(kind, verb, path, tool_name, path_params, query, body)| {
            json!({"kind": kind, "method": verb, "path": format!("/{path}"),
                "tool_name": tool_name, "path_params": path_params, "query": query, "body": body})
        });
    (
        hostile_string(20),
        vec(
            (
                hostile_string(20),
                vec(hostile_string(8), 0..3),
                vec(method, 1..4),
            ),
            1..4,
        ),
    )
        .prop_map(|(name, resources)| {
            let resources: Vec<Value> = resources
                .into_iter()
                .map(
                    |(name, tags, methods)| json!({"name": name, "tags": tags, "methods": methods}),
                )
                .collect();
            json!({"name": name, "base_url": "https://api.example.test", "resources": resources})
        })
}

proptest! {
    #![proptest_config(config(128))]

    /// Tools are generated from any stored definition without a panic,
    /// under names that are valid and unique.
    #[test]
    fn any_stored_definition_generates_without_panicking(doc in hostile_definition()) {
        let Ok(integration) = serde_json::from_value::<crate::Integration>(doc) else {
            return Ok(());
        };
        let tools = crate::generate(&integration);
        let mut names: Vec<&str> = tools.iter().map(|t| t.tool.name.as_str()).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        prop_assert_eq!(names.len(), count);
    }
}

#[test]
fn path_parameter_schemas_must_be_objects() {
    let yaml = "name: x\nbase_url: https://x.test\nresources:\n  - name: r\n    methods:\n      - { kind: get, method: GET, path: \"/r/{id}\", path_params: { id: true } }\n";
    let err = crate::Integration::from_yaml(yaml).unwrap_err().to_string();
    assert!(
        err.contains("path_params.id") && err.contains("JSON Schema object"),
        "{err}"
    );
}
