//! The curl examples in docs/api.md work: every `sh` block runs, in order,
//! against a real gateway, and must succeed (`curl -f` fails on HTTP errors).

mod common;

use common::Gateway;
use reqwest::Method;
use serde_json::json;
use std::process::Command;

fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().unwrap()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[tokio::test]
async fn every_curl_example_in_the_api_docs_runs() {
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(std::env::var("CI").is_err(), "curl must be installed in CI");
        eprintln!("SKIPPED: curl is not installed on this machine");
        return;
    }
    let gw = Gateway::start_with(common::Start::with_bundled_integrations()).await;

    // The objects the examples refer to.
    let (status, account) = gw
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "hubspot",
            "credentials": {"type": "bearer", "token": "pat-docs"}})),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    let account = account["id"].as_str().unwrap().to_owned();
    let (id, server_token) = gw.create_server("docs").await;
    let (_, mcp) = gw
        .admin(
            Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "docs"})),
        )
        .await;
    let (_, key) = gw
        .admin(Method::POST, &format!("/server/{id}/keys"), Some(json!({})))
        .await;
    let (_, token) = gw
        .admin(
            Method::POST,
            "/admin-token",
            Some(json!({"tenant": "docs"})),
        )
        .await;
    let (_, settings) = gw
        .admin(
            Method::PATCH,
            "/v1/tenants/default/integrations/hubspot/mcp",
            Some(json!({"enabled": true, "configId": account})),
        )
        .await;
    let env = [
        ("GW", gw.base.clone()),
        ("ADMIN", common::ADMIN_TOKEN.to_owned()),
        ("ACCOUNT", account),
        ("ID", id),
        ("TOKEN", server_token),
        ("MCP", mcp["id"].as_str().unwrap().to_owned()),
        ("KEY_ID", key["id"].as_str().unwrap().to_owned()),
        ("TOKEN_ID", token["id"].as_str().unwrap().to_owned()),
        ("API_KEY", settings["apiKey"].as_str().unwrap().to_owned()),
    ];

    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
    let blocks = sh_blocks(&docs);
    assert!(blocks.len() >= 15, "found {} sh blocks", blocks.len());
    let mut commands = 0;
    for block in blocks {
        commands += block.matches("curl ").count();
        let env = env.clone();
        let b = block.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("bash")
                .arg("-c")
                .arg(format!("set -euo pipefail\n{b}"))
                .envs(env)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "this example failed:\n{block}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(commands >= 25, "ran {commands} curl commands");
}
