//! Real MCP clients against the real gateway, each listing tools and calling
//! one: the official Python SDK, the MCP Inspector CLI and `mcp-remote` over
//! stdio exactly as Claude Desktop runs it (from the snippet that
//! `mcpgate client-config` prints). The Node clients and Node 22 are pinned
//! in `tests/clients/package.json`; `scripts/test.sh` installs them.

mod common;

use common::{Gateway, cli, python};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `tests/clients`, when its pinned packages are installed; in CI they must be.
fn node_clients() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let ready = [
        "node_modules/node/bin/node",
        "node_modules/.bin/mcp-inspector",
        "node_modules/.bin/mcp-remote",
    ]
    .iter()
    .all(|p| dir.join(p).exists());
    if ready {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "tests/clients/node_modules is missing in CI: scripts/test.sh installs it"
    );
    eprintln!(
        "SKIPPED: tests/clients/node_modules is missing (run scripts/test.sh once, or `npm ci` in tests/clients)"
    );
    None
}

/// PATH with the pinned Node 22 first.
fn node_path(dir: &std::path::Path) -> String {
    format!(
        "{}:{}:{}",
        dir.join("node_modules/node/bin").display(),
        dir.join("node_modules/.bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `mcpgate client-config` output for `client`, parsed.
async fn snippet(client: &str, url: &str, token: &str) -> Value {
    let out = cli(
        &[
            "client-config",
            "--for",
            client,
            "--url",
            url,
            "--token",
            token,
            "--name",
            "gw",
        ],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Run a command off the async runtime with a deadline.
async fn run(mut cmd: Command, secs: u64) -> (bool, String, String) {
    tokio::time::timeout(
        Duration::from_secs(secs),
        tokio::task::spawn_blocking(move || {
            let out = cmd.output().expect("start the client");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }),
    )
    .await
    .expect("the client finished in time")
    .unwrap()
}

#[tokio::test]
async fn the_python_sdk_lists_and_calls_tools_by_path_token_and_by_bearer_header() {
    if !python::available() {
        return;
    }
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("py").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/client.py");
    for (url, header_token) in [
        (gw.url(&format!("/mcp/{token}")), "-".to_owned()),
        (gw.url("/mcp"), token.clone()),
    ] {
        let mut cmd = Command::new(python::python().unwrap());
        cmd.arg(&script)
            .arg(&url)
            .arg(&header_token)
            .arg("echo")
            .arg(r#"{"message": "hello from python"}"#);
        let (ok, stdout, stderr) = run(cmd, 60).await;
        assert!(ok, "{url}: {stderr}");
        let report: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(
            report["protocolVersion"], "2025-11-25",
            "the SDK's newest version is negotiated"
        );
        assert_eq!(report["server"], "py");
        assert_eq!(
            report["tools"],
            json!(["echo", "sleep", "time"]),
            "every page of tools/list (page size 2)"
        );
        assert_eq!(report["result"]["content"][0]["text"], "hello from python");
        assert_ne!(report["result"]["isError"], json!(true));
    }
}

#[tokio::test]
async fn the_mcp_inspector_cli_connects_with_the_config_client_config_prints() {
    let Some(dir) = node_clients() else { return };
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("inspector").await;
    let config = snippet("inspector", &gw.url(&format!("/mcp/{token}")), &token).await;
    assert_eq!(
        config["mcpServers"]["gw"]["url"],
        gw.url("/mcp"),
        "token moved to a header"
    );
    let file = gw.dir.path().join("inspector.json");
    std::fs::write(&file, config.to_string()).unwrap();

    let inspector = |extra: &[&str]| {
        let mut cmd = Command::new(dir.join("node_modules/.bin/mcp-inspector"));
        cmd.args(["--cli", "--config"])
            .arg(&file)
            .args(["--server", "gw"])
            .args(extra)
            .env("PATH", node_path(&dir))
            .env("HOME", gw.dir.path())
            .current_dir(&dir);
        cmd
    };
    let (ok, stdout, stderr) = run(inspector(&["--method", "tools/list"]), 60).await;
    assert!(ok, "{stderr}");
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["echo", "sleep", "time"],
        "the Inspector pages through the list"
    );

    let (ok, stdout, stderr) = run(
        inspector(&[
            "--method",
            "tools/call",
            "--tool-name",
            "echo",
            "--tool-arg",
            "message=from the inspector",
        ]),
        60,
    )
    .await;
    assert!(ok, "{stderr}");
    let called: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(called["content"][0]["text"], "from the inspector");

    // The command client-config prints for current (2.x) Inspectors, as
    // printed, in terminal mode: `--cli` first (mode flags lead in 2.x).
    let out = cli(
        &[
            "client-config",
            "--for",
            "inspector",
            "--url",
            &gw.url(&format!("/mcp/{token}")),
            "--token",
            &token,
        ],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let printed = stderr
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("npx @modelcontextprotocol/inspector "))
        .unwrap_or_else(|| panic!("no Inspector command: {stderr}"));
    assert!(
        printed.starts_with("--transport http --server-url "),
        "{printed}"
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!(
            "\"$INSPECTOR\" --cli {printed} --method tools/list"
        ))
        .env("INSPECTOR", dir.join("node_modules/.bin/mcp-inspector"))
        .env("PATH", node_path(&dir))
        .env("HOME", gw.dir.path())
        .current_dir(&dir);
    let (ok, stdout, stderr) = run(cmd, 60).await;
    assert!(ok, "{printed}: {stderr}");
    assert!(stdout.contains("\"echo\""), "{stdout}");

    // The path-token URL works as well, with no header at all.
    let mut cmd = Command::new(dir.join("node_modules/.bin/mcp-inspector"));
    cmd.args(["--cli"])
        .arg(gw.url(&format!("/mcp/{token}")))
        .args(["--transport", "http", "--method", "tools/list"])
        .env("PATH", node_path(&dir))
        .env("HOME", gw.dir.path())
        .current_dir(&dir);
    let (ok, stdout, stderr) = run(cmd, 60).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\"echo\""), "{stdout}");
}

#[tokio::test]
async fn the_mcp_inspector_cli_speaks_2026_to_a_server_and_to_a_portal() {
    let Some(dir) = node_clients() else { return };
    if !python::available() {
        return;
    }
    let inspector = |url: &str, home: &std::path::Path, extra: &[&str]| {
        let mut cmd = Command::new(dir.join("node_modules/.bin/mcp-inspector"));
        cmd.args([
            "--cli",
            url,
            "--transport",
            "http",
            "--protocol-era",
            "modern",
        ])
        .args(extra)
        .env("PATH", node_path(&dir))
        .env("HOME", home)
        .current_dir(&dir);
        cmd
    };
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("inspector").await;
    let upstream = python::start("alpha", "base", python::free_port());
    let portal = common::cloudflare::portal_over(&gw, "alpha", &upstream.url).await;
    let before = gw.served("initialize").await;
    for (url, tool, arg, expected) in [
        (
            gw.url(&format!("/mcp/{token}")),
            "echo",
            "message=modern inspector",
            "modern inspector",
        ),
        (
            portal.url.clone(),
            "alpha_hello",
            "who=ada",
            "hello ada from alpha",
        ),
    ] {
        let (ok, stdout, stderr) = run(
            inspector(&url, gw.dir.path(), &["--method", "tools/list"]),
            60,
        )
        .await;
        assert!(ok, "{url}: {stderr}");
        let listed: Value = serde_json::from_str(&stdout).unwrap();
        assert!(
            listed["tools"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == tool),
            "{listed}"
        );
        let (ok, stdout, stderr) = run(
            inspector(
                &url,
                gw.dir.path(),
                &[
                    "--method",
                    "tools/call",
                    "--tool-name",
                    tool,
                    "--tool-arg",
                    arg,
                ],
            ),
            60,
        )
        .await;
        assert!(ok, "{url}: {stderr}");
        let called: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(called["content"][0]["text"], expected, "{called}");
    }
    assert!(
        gw.served("server/discover").await >= 4,
        "each run discovered"
    );
    assert_eq!(
        gw.served("initialize").await,
        before,
        "and none used the 2025 handshake"
    );
}

#[tokio::test]
async fn mcp_remote_over_stdio_runs_the_claude_desktop_snippet() {
    let Some(dir) = node_clients() else { return };
    let gw = Gateway::start().await;
    let (_, token) = gw.create_server("claude").await;
    let config = snippet("claude-desktop", &gw.url(&format!("/mcp/{token}")), &token).await;
    let entry = &config["mcpServers"]["gw"];
    assert!(
        !entry["args"].to_string().contains(&token),
        "the token stays in env"
    );

    // Start it as Claude Desktop does: command, args and env from the config.
    // `npx -y mcp-remote` resolves to the pinned copy in tests/clients.
    let mut cmd = Command::new(entry["command"].as_str().unwrap());
    cmd.args(
        entry["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap()),
    )
    .env("PATH", node_path(&dir))
    .env("HOME", gw.dir.path())
    .env("npm_config_cache", gw.dir.path().join("npm-cache"))
    .current_dir(&dir)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in entry["env"].as_object().unwrap() {
        cmd.env(k, v.as_str().unwrap());
    }
    let transcript = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("start mcp-remote through npx");
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<Value>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        let mut answers = Vec::new();
        let mut send = |message: Value, wait_for: Option<i64>| {
            writeln!(stdin, "{message}").unwrap();
            stdin.flush().unwrap();
            let Some(id) = wait_for else { return };
            loop {
                let v = rx
                    .recv_timeout(Duration::from_secs(60))
                    .expect("mcp-remote answered in time");
                if v["id"] == json!(id) {
                    answers.push(v);
                    return;
                }
            }
        };
        send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "claude-ai", "version": "0.1.0"}}}),
            Some(1),
        );
        send(
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            None,
        );
        send(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            Some(2),
        );
        send(
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                   "params": {"name": "echo", "arguments": {"message": "from claude"}}}),
            Some(3),
        );
        drop(stdin);
        child.kill().ok();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).ok();
        child.wait().ok();
        (answers, stderr)
    })
    .await
    .unwrap();
    let (answers, stderr) = transcript;
    assert_eq!(answers.len(), 3, "{stderr}");
    assert_eq!(
        answers[0]["result"]["protocolVersion"], "2025-06-18",
        "{stderr}"
    );
    assert_eq!(answers[0]["result"]["serverInfo"]["name"], "claude");
    let names: Vec<&str> = answers[1]["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: {stderr}", answers[1]))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"echo"), "{names:?}");
    assert_eq!(answers[2]["result"]["content"][0]["text"], "from claude");
    assert!(!stderr.contains(&token), "mcp-remote never logs the token");
}
