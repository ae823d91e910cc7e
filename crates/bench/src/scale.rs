//! Scale points: a store of 10,000 servers and 20,000 keys (startup time and
//! RSS), a server with 1,000 tools (`tools/list`), and the import of an
//! OpenAPI document with 1,200 operations.

use anyhow::Context;
use mcpgate_store::{MasterKey, NewServer, ServerSource, Store};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{ADMIN, admin, load, rpc, session, start_gateway};

/// Resident set size of a process, KiB (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// Run the scale points against the gateway at `base` (and fresh ones).
pub async fn run(bin: &Path, http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    println!("\n## Scale\n");
    openapi_import(bin, base)?;
    thousand_tools(http, base).await?;
    big_store(bin, http).await
}

fn openapi_import(bin: &Path, base: &str) -> anyhow::Result<()> {
    let mut paths = serde_json::Map::new();
    for i in 0..600 {
        let op = |verb: &str| {
            let mut op = json!({
                "operationId": format!("{verb}Widget{i}"),
                "summary": format!("{verb} widget family {i}"),
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Widget"}}}}}
            });
            // A GET with a body is skipped (with a warning) by the importer.
            if verb == "list" {
                op["parameters"] =
                    json!([{"name": "limit", "in": "query", "schema": {"type": "integer"}}]);
            } else {
                op["requestBody"] = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Widget"}}}});
            }
            op
        };
        paths.insert(
            format!("/family{i}/widgets"),
            json!({"get": op("list"), "post": op("create")}),
        );
    }
    let doc = json!({
        "openapi": "3.0.3", "info": {"title": "Widgets", "version": "1"},
        "servers": [{"url": "https://widgets.example.com"}],
        "paths": paths,
        "components": {"schemas": {"Widget": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Widget"}}}}}}
    });
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("widgets.json");
    std::fs::write(&file, doc.to_string())?;
    let started = Instant::now();
    let out = Command::new(bin)
        .args(["integration", "import"])
        .arg(&file)
        .args(["--endpoint", base, "--admin-token", ADMIN])
        .output()?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "- OpenAPI import, 1,200 operations (600 paths, a recursive $ref), CLI end to end: {:.0} ms — {}",
        elapsed.as_secs_f64() * 1000.0,
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
    );
    Ok(())
}

async fn thousand_tools(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let resources: Vec<Value> = (0..250)
        .map(|i| {
            json!({"name": format!("things{i}"), "methods": [
                {"kind": "list", "method": "GET", "path": format!("/things{i}")},
                {"kind": "get", "method": "GET", "path": format!("/things{i}/{{id}}")},
                {"kind": "create", "method": "POST", "path": format!("/things{i}"),
                 "body": {"type": "object", "properties": {"name": {"type": "string"}}}},
                {"kind": "delete", "method": "DELETE", "path": format!("/things{i}/{{id}}")}
            ]})
        })
        .collect();
    let definition = json!({"name": "big", "base_url": "http://127.0.0.1:9", "auth": {"type": "none"}, "resources": resources});
    admin(
        http,
        base,
        reqwest::Method::POST,
        "/integration",
        json!({"definition": definition}),
    )
    .await?;
    let account = admin(
        http,
        base,
        reqwest::Method::POST,
        "/integrated-account",
        json!({"integration": "big", "credentials": {"type": "none"}}),
    )
    .await?;
    let server = admin(
        http,
        base,
        reqwest::Method::POST,
        "/server",
        json!({"name": "big", "integrated_account_id": account["id"]}),
    )
    .await?;
    let url = format!("{base}/mcp/{}", server["token"].as_str().context("token")?);
    let headers = session(http, &url).await?;
    let page = rpc(
        &url,
        &headers,
        "tools/list",
        json!({}),
        "list_all_big_things0",
    );
    let m = load::run(
        http,
        &page,
        1,
        Duration::from_millis(500),
        Duration::from_secs(2),
    )
    .await;
    // A whole walk: every page, following nextCursor.
    let mut walks = Vec::new();
    let mut total = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let mut cursor: Option<String> = None;
        total = 0;
        loop {
            let params = cursor.as_ref().map_or(json!({}), |c| json!({"cursor": c}));
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params});
            let mut req = http.post(&url).body(body.to_string());
            for (k, v) in &headers {
                req = req.header(*k, v);
            }
            let answer: Value = req.send().await?.json().await?;
            total += answer["result"]["tools"].as_array().map_or(0, Vec::len);
            match answer["result"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        walks.push(started.elapsed());
    }
    walks.sort();
    println!(
        "- tools/list on a server with {total} tools: first page (100 tools) p50 {} µs, p99 {} µs ({:.0} req/s at concurrency 1); all {} pages p50 {:.2} ms",
        m.p50,
        m.p99,
        m.rps,
        total.div_ceil(100),
        walks[walks.len() / 2].as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Servers in the big store.
pub const BIG_STORE_SERVERS: usize = 10_000;

/// Seed `dir` as a data directory holding `servers` servers of the `demo`
/// toolset with two keys each. Returns the secret key (hex) the gateway must
/// be started with and the first server's token.
pub async fn seed_big_store(dir: &Path, servers: usize) -> anyhow::Result<(String, String)> {
    let (key, hex) = MasterKey::generate();
    let store = Store::open(&dir.join("mcpgate.db"), key).await?;
    let mut first_token = None;
    for i in 0..servers {
        let (record, minted) = store
            .create_server(NewServer::new(
                "default",
                format!("server-{i}"),
                ServerSource::Toolset("demo".into()),
            ))
            .await?;
        if first_token.is_none() {
            first_token = minted.map(|(_, k)| k.secret);
        }
        store.add_key(record.id, None).await?;
    }
    Ok((hex, first_token.context("a minted key")?))
}

async fn big_store(bin: &Path, http: &reqwest::Client) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let (hex, first_token) = seed_big_store(dir.path(), BIG_STORE_SERVERS).await?;
    let seeded = started.elapsed();
    let (gw, startup) = start_gateway(bin, http, Some((dir.path().to_owned(), hex))).await?;
    let rss_ready = rss_kib(gw.proc.0.id());
    let ready: Value = http
        .get(format!("{}/readyz", gw.base))
        .send()
        .await?
        .json()
        .await?;
    let url = format!("{}/mcp/{first_token}", gw.base);
    let headers = session(http, &url).await?;
    let list = rpc(&url, &headers, "tools/list", json!({}), "echo");
    let m = load::run(
        http,
        &list,
        32,
        Duration::from_millis(500),
        Duration::from_secs(2),
    )
    .await;
    let rss_loaded = rss_kib(gw.proc.0.id());
    println!(
        "- Store of {} servers / {} keys (seeded in {:.1} s): startup to ready {:.0} ms; RSS {} when ready, {} after 2 s of tools/list at concurrency 32 ({:.0} req/s, p50 {} µs)",
        ready["servers"],
        ready["keys"],
        seeded.as_secs_f64(),
        startup.as_secs_f64() * 1000.0,
        mib(rss_ready),
        mib(rss_loaded),
        m.rps,
        m.p50
    );
    Ok(())
}
