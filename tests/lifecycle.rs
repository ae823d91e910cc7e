//! End-to-end: process lifecycle (first start, restart, graceful shutdown),
//! the CLI, and the operational endpoints.

mod common;

use common::{ADMIN_TOKEN, Gateway, Start, binary, cli, labelled};
use serde_json::json;
use std::process::Command;

#[tokio::test]
async fn first_start_creates_store_and_a_private_session_key() {
    let gw = Gateway::start().await;
    let data = gw.data_dir();
    assert!(data.join("mcpgate.db").exists());
    let key = data.join("session.key");
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The database and its WAL files are as private as the key files.
        for file in ["mcpgate.db", "mcpgate.db-wal", "mcpgate.db-shm"] {
            let mode = std::fs::metadata(data.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
}

#[tokio::test]
async fn servers_and_sessions_survive_a_restart_and_ended_sessions_stay_ended() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("durable").await;
    let mut live = gw.mcp(&token);
    live.initialize("2025-11-25").await;
    let mut ended = gw.mcp(&token);
    ended.initialize("2025-11-25").await;
    let del = ended
        .http
        .delete(&ended.url)
        .header("mcp-session-id", ended.session.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(del.status().as_u16(), 204);

    let dir = gw.stop();
    let gw = Gateway::start_with(Start {
        dir: Some(dir),
        ..Start::default()
    })
    .await;
    live.url = gw.url(&format!("/mcp/{token}"));
    ended.url = live.url.clone();
    let r = live.request(1, "tools/list", json!({})).await;
    assert_eq!(
        r.status, 200,
        "a session signed before the restart still validates"
    );
    assert_eq!(ended.request(1, "ping", json!({})).await.status, 404);
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let mut gw = Gateway::start().await;
    let (_, token) = gw.create_server("drain").await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let slow = tokio::spawn({
        let http = c.http.clone();
        let url = c.url.clone();
        let session = c.session.clone().unwrap();
        async move {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .header("mcp-session-id", session)
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1500}}}"#)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = gw.signal_and_wait("TERM");
        (s, gw)
    })
    .await
    .unwrap();
    let (code, body) = slow.await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("slept 1500 ms"), "{body}");
    assert!(
        status.0.success(),
        "clean exit after draining: {:?}",
        status.0
    );
}

#[tokio::test]
async fn bootstrap_admin_token_is_printed_once_and_works() {
    let gw = Gateway::start_with(Start {
        admin_token: false,
        ..Start::default()
    })
    .await;
    let mut logs = gw.stderr();
    for _ in 0..50 {
        if logs.contains("server create") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        logs = gw.stderr();
    }
    let token = logs
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("mcpg_"))
        .unwrap_or_else(|| panic!("no bootstrap token in: {logs}"))
        .to_owned();
    let r = gw
        .http
        .get(gw.url("/server"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // The next command to type is printed, complete, and works as printed
    // (here the binary is target/debug/mcpgate, so it reads `cargo run --`).
    let next = logs
        .lines()
        .map(str::trim)
        .find(|l| l.contains("server create"))
        .unwrap_or_else(|| panic!("no next command in: {logs}"));
    let expected_tail = format!("server create --name demo --endpoint {}", gw.base);
    assert_eq!(
        next,
        format!("MCPGATE_ADMIN_TOKEN={token} cargo run -- {expected_tail}")
    );
    let args: Vec<&str> = expected_tail.split(' ').collect();
    let out = common::cli(&args, &[("MCPGATE_ADMIN_TOKEN", &token)]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("/mcp/mcpg_"));

    let dir = gw.stop();
    let before = std::fs::read_to_string(dir.path().join("stderr.log"))
        .unwrap()
        .len();
    let gw = Gateway::start_with(Start {
        admin_token: false,
        dir: Some(dir),
        ..Start::default()
    })
    .await;
    let later = &gw.stderr()[before..];
    assert!(
        !later.contains("mcpg_"),
        "nothing secret on later starts: {later}"
    );
    let r = gw
        .http
        .get(gw.url("/server"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the bootstrap token still works");
}

#[tokio::test]
async fn cli_server_create_prints_url_and_token_once_and_they_work() {
    let gw = Gateway::start().await;
    let admin = [("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN)];
    let args = [
        "server",
        "create",
        "--name",
        "from-cli",
        "--endpoint",
        &gw.base,
    ];
    let out = cli(&args, &admin).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = labelled(&stdout, "Token:");
    assert_eq!(
        labelled(&stdout, "URL:"),
        format!("{}/mcp/{token}", gw.base)
    );
    let mut c = gw.mcp(&token);
    assert_eq!(
        c.initialize("2025-11-25").await["serverInfo"]["name"],
        "from-cli"
    );

    let list = cli(&["server", "list", "--endpoint", &gw.base], &admin).await;
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(listed.contains("from-cli"), "{listed}");
    assert!(!listed.contains(&token), "list never shows a token");
}

#[tokio::test]
async fn cli_without_admin_token_says_how_to_get_one() {
    let out = cli(&["server", "list", "--endpoint", "http://127.0.0.1:9"], &[]).await;
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("MCPGATE_ADMIN_TOKEN"), "{err}");
}

#[tokio::test]
async fn cli_direct_store_mode_creates_a_server_the_gateway_then_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = [
        "server",
        "create",
        "--name",
        "offline",
        "--toolset",
        "demo",
        "--data-dir",
    ];
    let args: Vec<&str> = args.into_iter().chain([data.to_str().unwrap()]).collect();
    let out = cli(&args, &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = labelled(&String::from_utf8(out.stdout).unwrap(), "Token:");
    let gw = Gateway::start_with(Start {
        dir: Some(dir),
        ..Start::default()
    })
    .await;
    let mut c = gw.mcp(&token);
    assert_eq!(
        c.initialize("2025-11-25").await["serverInfo"]["name"],
        "offline"
    );
}

#[tokio::test]
async fn a_bad_config_file_stops_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    common::write(&config, "listen = \"127.0.0.1:0\"\n[mcp]\npage_sise = 3\n");
    let out = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.toml") && err.contains("page_sise"),
        "{err}"
    );

    common::write(&config, "toolsets = [\"missing.yaml\"]\n");
    let out = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(err.contains("missing.yaml"), "{err}");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("m").await;
    let health = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready: serde_json::Value = gw
        .http
        .get(gw.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["servers"], 1);

    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    c.call("tools/list", json!({})).await;
    c.call("tools/list", json!({})).await;
    c.request(9, "tools/list", json!({"cursor":"bad"})).await;
    gw.mcp("mcpg_wrong").request(1, "ping", json!({})).await;

    let text = gw.metrics().await;
    let count = |needle: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{needle} not in metrics:\n{text}"))
    };
    assert_eq!(
        count(r#"mcpgate_requests_total{method="tools/list",status="200"}"#),
        3.0,
        "a JSON-RPC error inside a 200 still counts as 200"
    );
    assert_eq!(
        count(r#"mcpgate_requests_total{method="unparsed",status="401"}"#),
        1.0
    );
    assert!(text.contains(
        r#"mcpgate_request_duration_seconds_bucket{method="initialize",status="200",le="#
    ));
}

#[tokio::test]
async fn unknown_paths_are_json_404() {
    let gw = Gateway::start().await;
    let r = gw.http.get(gw.url("/nope")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["status"], 404);
}

/// The `ENV` settings of the repository's Dockerfile, in order.
fn dockerfile_env() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let mut joined = String::new();
    let mut in_env = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("ENV ") {
            in_env = true;
            joined.push_str(rest);
        } else if in_env {
            joined.push(' ');
            joined.push_str(line);
        }
        if in_env && !line.ends_with('\\') {
            in_env = false;
            joined.push(' ');
        }
    }
    joined
        .split_whitespace()
        .filter(|w| *w != "\\")
        .map(|w| {
            let (k, v) = w.split_once('=').expect("ENV KEY=VALUE");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn the_container_images_environment_configures_serve() {
    let env = dockerfile_env();
    let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "MCPGATE_CONFIG",
            "MCPGATE_LISTEN",
            "MCPGATE_DATA_DIR",
            "MCPGATE_LOG_FORMAT"
        ]
    );
    // Map the image's paths and port onto this machine; keep everything else.
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc-mcpgate");
    std::fs::create_dir_all(etc.join("toolsets")).unwrap();
    std::fs::create_dir_all(etc.join("integrations")).unwrap();
    let repo_config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for rel in [
        "mcpgate.toml",
        "toolsets/demo.yaml",
        "integrations/github.yaml",
        "integrations/hubspot.yaml",
        "integrations/zendesk.yaml",
    ] {
        std::fs::copy(repo_config.join(rel), etc.join(rel)).unwrap();
    }
    let port = common::python::free_port();
    let mut cmd = Command::new(binary());
    cmd.arg("serve");
    for (k, v) in &env {
        let v = v
            .replace("/etc/mcpgate", etc.to_str().unwrap())
            .replace("0.0.0.0:8080", &format!("0.0.0.0:{port}"));
        let v = if v == "/data" {
            dir.path().join("data").to_string_lossy().into_owned()
        } else {
            v
        };
        cmd.env(k, v);
    }
    cmd.env("MCPGATE_PUBLIC_URL", "https://mcp.example.test/")
        .env("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap());
    let mut child = cmd.spawn().unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let ready = common::ready_at(&http, &base).await.is_some();
    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(ready, "not ready: {logs}");
    let created: serde_json::Value = http
        .post(format!("{base}/server"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "in-a-container"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().ok();
    child.wait().ok();
    assert!(
        created["url"]
            .as_str()
            .unwrap()
            .starts_with("https://mcp.example.test/mcp/mcpg_"),
        "MCPGATE_PUBLIC_URL shapes the printed URL: {created}"
    );
    assert!(
        dir.path().join("data/mcpgate.db").exists(),
        "the store is on the data volume"
    );
    assert!(
        logs.lines()
            .any(|l| serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["fields"]["message"] == "mcpgate listening")),
        "JSON logs: {logs}"
    );
}

#[tokio::test]
async fn kill_9_during_a_burst_of_admin_writes_loses_nothing_acknowledged() {
    kill_9_during_a_burst(None).await;
}

#[tokio::test]
async fn on_postgres_kill_9_during_a_burst_of_admin_writes_loses_nothing_acknowledged() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    kill_9_during_a_burst(Some(url)).await;
}

/// Admin writes from several clients, the gateway killed mid-burst, then
/// restarted on the same store (`store_url`, else its data directory).
async fn kill_9_during_a_burst(store_url: Option<String>) {
    let mut gw = Gateway::start_with(Start {
        store_url: store_url.clone(),
        ..Start::default()
    })
    .await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let mut writers = Vec::new();
    for w in 0..6 {
        let (http, url, acked) = (gw.http.clone(), gw.url("/server"), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let sent = http
                    .post(&url)
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"name": format!("burst-{w}-{i}")}))
                    .send()
                    .await;
                // The process died: what was not acknowledged may or may not exist.
                let Ok(resp) = sent else { return };
                if resp.status().as_u16() != 201 {
                    return;
                }
                let Ok(body) = resp.json::<serde_json::Value>().await else {
                    return;
                };
                acked.lock().unwrap().push((
                    body["id"].as_str().unwrap().to_owned(),
                    body["token"].as_str().unwrap().to_owned(),
                ));
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    gw.signal_and_wait("KILL");
    for w in writers {
        w.await.unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(
        acked.len() > 5,
        "the burst wrote too little to test: {}",
        acked.len()
    );

    let gw = Gateway::start_with(Start {
        dir: Some(gw.stop()),
        store_url,
        ..Start::default()
    })
    .await;
    let (status, all) = gw
        .admin(reqwest::Method::GET, "/server?limit=1000", None)
        .await;
    assert_eq!(status, 200, "{all}");
    let stored: std::collections::HashSet<String> = all["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    for (id, token) in &acked {
        assert!(stored.contains(id), "acknowledged server {id} is missing");
        let probe = gw.mcp(token).request(1, "ping", json!({})).await;
        assert_ne!(probe.status, 401, "the acknowledged key of {id} is gone");
    }
    // Nothing half-written: every stored server (acknowledged or not) has its key.
    for id in &stored {
        let (status, keys) = gw
            .admin(reqwest::Method::GET, &format!("/server/{id}/keys"), None)
            .await;
        assert_eq!(status, 200, "{keys}");
        let n = keys["result"]
            .as_array()
            .or(keys.as_array())
            .map_or(0, Vec::len);
        assert!(n >= 1, "server {id} was stored without its key: {keys}");
    }
    println!(
        "{} servers acknowledged before kill -9, {} stored after restart",
        acked.len(),
        stored.len()
    );
}
