//! A reload reads only what changed (issue 19 §4): the store's per-table
//! heads say which tables moved and the integrations' stamps which rows.
//! What another replica writes still reaches this one — created, changed
//! (twice within the poll) and deleted — and what it did not touch stays.

mod common;

use common::{Gateway, Start};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn definition(name: &str, paths: &[&str]) -> Value {
    let resources: Vec<Value> = paths
        .iter()
        .map(|p| {
            json!({"name": p.trim_start_matches('/'),
                "methods": [{"kind": "list", "method": "GET", "path": p}]})
        })
        .collect();
    json!({"name": name, "base_url": "https://api.example.com", "resources": resources})
}

/// The tool names replica `gw` serves for integration `id`, once they equal
/// `want` (the registry's view, refreshed by its change watch).
async fn tools_become(gw: &Gateway, id: &str, want: Value) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let (status, body) = gw
            .admin(Method::GET, &format!("/integration/{id}"), None)
            .await;
        last = json!({"status": status, "tools": body["tools"]});
        if body["tools"] == want {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("replica never served {want}: {last}");
}

#[tokio::test]
async fn another_replicas_integration_writes_reach_this_one_and_nothing_else_moves() {
    let a = Gateway::start().await;
    let b = Gateway::start_with(Start {
        data_dir: Some(a.data_dir()),
        ..Start::default()
    })
    .await;
    let (status, kept) = a
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"definition": definition("kept", &["/kept"])})),
        )
        .await;
    assert_eq!(status, 201, "{kept}");
    let kept_id = kept["id"].as_str().unwrap().to_owned();
    let (status, one) = a
        .admin(
            Method::POST,
            "/integration",
            Some(json!({"definition": definition("crm", &["/contacts"])})),
        )
        .await;
    assert_eq!(status, 201, "{one}");
    let id = one["id"].as_str().unwrap().to_owned();
    tools_become(&b, &id, json!(["list_all_crm_contacts"])).await;

    // Two changes in a row (likely within one millisecond and one poll):
    // the second is what B ends up serving.
    for paths in [
        &["/contacts", "/deals"][..],
        &["/contacts", "/deals", "/notes"],
    ] {
        let (status, body) = a
            .admin(
                Method::PATCH,
                &format!("/integration/{id}"),
                Some(json!({"definition": definition("crm", paths)})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    tools_become(
        &b,
        &id,
        json!([
            "list_all_crm_contacts",
            "list_all_crm_deals",
            "list_all_crm_notes"
        ]),
    )
    .await;

    let (status, _) = a
        .admin(Method::DELETE, &format!("/integration/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let mut gone = false;
    for _ in 0..100 {
        let (_, list) = b.admin(Method::GET, "/integration", None).await;
        let ids: Vec<&str> = list["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["id"].as_str())
            .collect();
        if !ids.contains(&id.as_str()) {
            assert!(ids.contains(&kept_id.as_str()), "{list}");
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the deleted integration is still listed by the other replica"
    );
    tools_become(&b, &kept_id, json!(["list_all_kept_kept"])).await;
}
