//! The simulator: stateful CRUD, determinism, identical validation, and
//! responses that conform to every bundled method's response schema.

use mcpgate_catalog::{Integration, MethodKind, generate};
use mcpgate_upstream::RestOperation;
use mcpgate_upstream::simulator::{self, MemoryState};
use serde_json::{Value, json};

fn ops(yaml: &str) -> Vec<RestOperation> {
    generate(&Integration::from_yaml(yaml).unwrap())
        .into_iter()
        .map(RestOperation::new)
        .collect()
}

fn op<'a>(ops: &'a [RestOperation], name: &str) -> &'a RestOperation {
    ops.iter()
        .find(|o| o.tool.tool.name.as_str() == name)
        .unwrap()
}

fn run(state: &MemoryState, sandbox: &str, op: &RestOperation, args: Value) -> Value {
    let raw = serde_json::value::to_raw_value(&args).unwrap();
    serde_json::from_str(simulator::call(state, sandbox, op, Some(&raw)).get()).unwrap()
}

fn hubspot() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/integrations/hubspot.yaml"
    ))
    .unwrap()
}

#[test]
fn create_get_update_list_delete_round_trip() {
    let ops = ops(&hubspot());
    let state = MemoryState::default();
    let created = run(
        &state,
        "s1",
        op(&ops, "create_a_hubspot_contact"),
        json!({"properties": {"email": "ada@example.com"}}),
    );
    assert_eq!(created["_meta"]["io.mcpgate/simulated"], true);
    let object = &created["structuredContent"];
    let id = object["id"]
        .as_str()
        .expect("HubSpot ids are strings")
        .to_owned();
    assert_eq!(object["properties"]["email"], "ada@example.com");

    let got = run(
        &state,
        "s1",
        op(&ops, "get_single_hubspot_contact_by_id"),
        json!({"contactId": id}),
    );
    assert_eq!(got["structuredContent"], *object);

    let updated = run(
        &state,
        "s1",
        op(&ops, "update_a_hubspot_contact_by_id"),
        json!({"contactId": id, "properties": {"firstname": "Ada"}}),
    );
    assert_eq!(
        updated["structuredContent"]["properties"]["firstname"],
        "Ada"
    );
    assert_eq!(
        updated["structuredContent"]["properties"]["email"],
        "ada@example.com"
    );

    let listed = run(
        &state,
        "s1",
        op(&ops, "list_all_hubspot_contacts"),
        json!({"limit": 2}),
    );
    assert_eq!(
        listed["structuredContent"]["results"][0]["id"],
        id.as_str(),
        "stored objects come first"
    );
    let cursor = listed["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let rest = run(
        &state,
        "s1",
        op(&ops, "list_all_hubspot_contacts"),
        json!({"limit": 10, "next_cursor": cursor}),
    );
    assert_eq!(
        rest["structuredContent"]["results"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    run(
        &state,
        "s1",
        op(&ops, "delete_a_hubspot_contact_by_id"),
        json!({"contactId": id}),
    );
    let gone = run(
        &state,
        "s1",
        op(&ops, "get_single_hubspot_contact_by_id"),
        json!({"contactId": id}),
    );
    assert_eq!(gone["isError"], true);
    assert!(gone["content"][0]["text"].as_str().unwrap().contains("404"));

    // Another sandbox never sees it.
    let other = run(
        &state,
        "s2",
        op(&ops, "list_all_hubspot_contacts"),
        json!({}),
    );
    assert!(
        other["structuredContent"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["id"] != id.as_str())
    );
}

#[test]
fn the_same_call_gives_the_same_answer() {
    let ops = ops(&hubspot());
    let state = MemoryState::default();
    let a = run(
        &state,
        "s",
        op(&ops, "get_single_hubspot_company_by_id"),
        json!({"companyId": "42"}),
    );
    let b = run(
        &state,
        "s",
        op(&ops, "get_single_hubspot_company_by_id"),
        json!({"companyId": "42"}),
    );
    assert_eq!(a, b);
    let c = run(
        &state,
        "s",
        op(&ops, "get_single_hubspot_company_by_id"),
        json!({"companyId": "43"}),
    );
    assert_ne!(a, c);
}

#[test]
fn bad_arguments_fail_exactly_as_in_production() {
    let ops = ops(&hubspot());
    let op = op(&ops, "create_a_hubspot_contact");
    let sim = run(
        &MemoryState::default(),
        "s",
        op,
        json!({"properties": "nope"}),
    );
    assert_eq!(sim["isError"], true);
    let expected = op.check(&json!({"properties": "nope"})).unwrap_err();
    assert_eq!(sim["content"][0]["text"], expected);
}

/// Every method of every bundled integration with a response schema answers
/// with data that validates against it.
#[test]
fn generated_responses_conform_to_every_bundled_response_schema() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/integrations");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let ops = ops(&std::fs::read_to_string(&path).unwrap());
        for op in &ops {
            let Some(schema) = &op.tool.response_schema else {
                continue;
            };
            let validator = jsonschema::validator_for(schema).unwrap();
            // Arguments: the generator fills the input schema too.
            let args =
                simulator::generate(&op.tool.operation.input_schema, &Default::default(), "args");
            let mut args = args.as_object().cloned().unwrap_or_default();
            args.remove("next_cursor");
            args.remove("limit");
            let result = run(
                &MemoryState::default(),
                "conformance",
                op,
                Value::Object(args),
            );
            assert!(
                result.get("isError").is_none(),
                "{}: {result}",
                op.tool.tool.name
            );
            let data = &result["structuredContent"];
            let instance = match op.tool.kind {
                // Lists answer with the uniform contract: check each item.
                MethodKind::List => {
                    let items = data["results"].as_array().unwrap();
                    assert!(!items.is_empty());
                    continue_items(&validator, schema, op, items);
                    checked += 1;
                    continue;
                }
                _ if schema.get("type") == Some(&json!("object"))
                    || schema.get("$ref").is_some() =>
                {
                    data.clone()
                }
                _ => data["result"].clone(),
            };
            let errors: Vec<String> = validator
                .iter_errors(&instance)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{} {}: {errors:?}\n{instance}",
                path.display(),
                op.tool.tool.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "checked {checked} methods");
}

fn continue_items(
    _whole: &jsonschema::Validator,
    schema: &Value,
    op: &RestOperation,
    items: &[Value],
) {
    // Build the item schema the same way the response nests it.
    let results = op
        .tool
        .operation
        .pagination
        .as_ref()
        .and_then(|p| p.results_path());
    let mut item = schema.clone();
    if let Some(path) = results {
        for key in path.split('.') {
            item = item["properties"][key].clone();
        }
    }
    if item.get("items").is_some() {
        item = item["items"].clone();
    }
    if let Some(defs) = schema.get("$defs") {
        item["$defs"] = defs.clone();
    }
    let v = jsonschema::validator_for(&item).unwrap();
    for it in items {
        let mut it = it.clone();
        // Generated list items carry a synthetic id the schema may not list.
        if item.get("additionalProperties") == Some(&json!(false)) {
            it.as_object_mut().unwrap().remove("id");
        }
        let errors: Vec<String> = v.iter_errors(&it).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}\n{it}", op.tool.tool.name);
    }
}
