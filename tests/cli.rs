//! The operator's CLI against a running gateway: client configs, `server
//! show|update`, `key create|list|revoke|rotate`, `account show`,
//! `upstream`/`portal`, and `doctor`.

mod common;

use common::{ADMIN_TOKEN, Gateway, Start, cli, labelled, python};
use serde_json::{Value, json};

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run the CLI against `gw` and parse its `--output json` answer.
async fn json_cli(gw: &Gateway, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let out = cli(
        &all,
        &[
            ("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("MCPGATE_ENDPOINT", &gw.base),
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// Run the CLI against `gw` with table output.
async fn table_cli(gw: &Gateway, args: &[&str]) -> (bool, String, String) {
    let out = cli(
        args,
        &[
            ("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("MCPGATE_ENDPOINT", &gw.base),
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    (out.status.success(), stdout, stderr)
}

async fn status_of(gw: &Gateway, token: &str) -> u16 {
    gw.mcp(token)
        .post(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .await
        .status
}

#[tokio::test]
async fn client_config_prints_each_clients_current_format() {
    let url = "https://gw.example/mcp/mcpg_secret";
    let run = |client: &'static str| async move {
        let out = cli(
            &[
                "client-config",
                "--for",
                client,
                "--url",
                url,
                "--token",
                "mcpg_secret",
                "--name",
                "crm",
            ],
            &[],
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.is_empty(), "a line says where the snippet goes");
        serde_json::from_str::<Value>(&stdout).expect("stdout is only the JSON snippet")
    };
    let claude = run("claude-desktop").await;
    assert_eq!(
        claude,
        json!({"mcpServers": {"crm": {
            "command": "npx",
            "args": ["-y", "mcp-remote", "https://gw.example/mcp", "--header", "Authorization:${AUTH_HEADER}"],
            "env": {"AUTH_HEADER": "Bearer mcpg_secret"}}}})
    );
    let headers = json!({"Authorization": "Bearer mcpg_secret"});
    assert_eq!(
        run("cursor").await,
        json!({"mcpServers": {"crm": {"url": "https://gw.example/mcp", "headers": headers}}})
    );
    // VS Code asks for the token (kept in its secret storage), so the file
    // does not hold it.
    assert_eq!(
        run("vscode").await,
        json!({
            "inputs": [{"type": "promptString", "id": "crm-token",
                "description": "mcpgate token for crm (mcpg_…)", "password": true}],
            "servers": {"crm": {"type": "http", "url": "https://gw.example/mcp",
                "headers": {"Authorization": "Bearer ${input:crm-token}"}}}
        })
    );
    assert_eq!(
        run("windsurf").await["mcpServers"]["crm"]["serverUrl"],
        "https://gw.example/mcp"
    );
    assert_eq!(
        run("inspector").await["mcpServers"]["crm"]["type"],
        "streamable-http"
    );

    // The safer and the plainer forms on request.
    let with = |extra: &'static [&'static str]| async move {
        let mut args = vec![
            "client-config",
            "--url",
            url,
            "--token",
            "mcpg_secret",
            "--name",
            "crm",
        ];
        args.extend(extra);
        let out = cli(&args, &[]).await;
        let (stdout, stderr) = text(&out);
        (out.status.success(), stdout, stderr)
    };
    let (ok, stdout, stderr) = with(&["--for", "cursor", "--token-env", "CRM_TOKEN"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        json!({"mcpServers": {"crm": {"url": "https://gw.example/mcp",
            "headers": {"Authorization": "Bearer ${env:CRM_TOKEN}"}}}})
    );
    assert!(stderr.contains("Set CRM_TOKEN"), "{stderr}");
    let (ok, stdout, _) = with(&["--for", "windsurf", "--token-env", "CRM_TOKEN"]).await;
    assert!(ok && !stdout.contains("mcpg_secret"), "{stdout}");
    let (ok, stdout, _) = with(&["--for", "vscode", "--inline-token"]).await;
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        json!({"servers": {"crm": {"type": "http", "url": "https://gw.example/mcp", "headers": headers}}})
    );
    let (ok, _, stderr) = with(&["--for", "claude-desktop", "--token-env", "CRM_TOKEN"]).await;
    assert!(!ok && stderr.contains("Cursor and Windsurf"), "{stderr}");
    let (ok, _, stderr) = with(&["--for", "cursor", "--token-env", "NOT A NAME"]).await;
    assert!(
        !ok && stderr.contains("not an environment variable name"),
        "{stderr}"
    );

    // The Inspector line is a command Inspector 2.x accepts as printed.
    let (ok, _, stderr) = with(&["--for", "inspector"]).await;
    assert!(ok);
    assert!(
        stderr.contains("npx @modelcontextprotocol/inspector --transport http --server-url https://gw.example/mcp --header 'Authorization: Bearer mcpg_secret'"),
        "{stderr}"
    );
    assert!(stderr.contains("Node 22.19"), "{stderr}");

    // Without --name (only a URL and a token known) the entry is "mcpgate".
    let out = cli(
        &[
            "client-config",
            "--for",
            "cursor",
            "--url",
            url,
            "--token",
            "mcpg_secret",
        ],
        &[],
    )
    .await;
    let (stdout, _) = text(&out);
    assert!(serde_json::from_str::<Value>(&stdout).unwrap()["mcpServers"]["mcpgate"].is_object());

    let bad = cli(&["client-config", "--for", "emacs", "--url", url], &[]).await;
    let (_, stderr) = text(&bad);
    assert!(!bad.status.success());
    assert!(
        stderr.contains("claude-desktop"),
        "lists the valid clients: {stderr}"
    );
}

#[tokio::test]
async fn creating_a_server_offers_client_snippets_at_once() {
    let gw = Gateway::start().await;
    let (ok, stdout, stderr) = table_cli(
        &gw,
        &["server", "create", "--name", "crm", "--client", "vscode"],
    )
    .await;
    assert!(ok, "{stderr}");
    let token = labelled(&stdout, "Token:");
    let snippet_start = stdout.find("{\n").expect("a JSON snippet follows");
    let snippet: Value = serde_json::from_str(&stdout[snippet_start..]).unwrap();
    assert_eq!(snippet["servers"]["crm"]["url"], format!("{}/mcp", gw.base));
    // The entry is named after the server, and VS Code asks for the token
    // rather than keeping it in the file.
    assert_eq!(
        snippet["servers"]["crm"]["headers"]["Authorization"],
        "Bearer ${input:crm-token}"
    );
    assert_eq!(snippet["inputs"][0]["password"], true);
    assert!(!snippet.to_string().contains(&token));
    assert!(stderr.contains(".vscode/mcp.json"), "{stderr}");
    assert!(stderr.contains("asks for the token"), "{stderr}");

    // Without --client, the command lines for every client are offered,
    // spelled the way the binary was started (here target/debug/mcpgate,
    // so `cargo run --`) and naming the server.
    let (ok, stdout, _) = table_cli(&gw, &["server", "create", "--name", "two"]).await;
    assert!(ok);
    let token = labelled(&stdout, "Token:");
    for client in [
        "claude-desktop",
        "cursor",
        "vscode",
        "windsurf",
        "inspector",
    ] {
        let line = format!(
            "  cargo run -- client-config --for {client} --url {}/mcp --token {token} --name two\n",
            gw.base
        );
        assert!(stdout.contains(&line), "{client}: {stdout}");
    }
}

/// Every hint the CLI prints is spelled the way the binary was started, so
/// it works when pasted: a binary outside Cargo's `target/<profile>/`, run
/// as `./mcpgate`, prints `./mcpgate …`, and that line runs as printed.
#[tokio::test]
async fn hints_are_commands_that_run_as_printed() {
    let gw = Gateway::start().await;
    // A hard link outside target/debug (same file system, no copy).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::hard_link(common::binary(), dir.path().join("mcpgate")).unwrap();
    let run = |args: Vec<String>, cwd: std::path::PathBuf| {
        let base = gw.base.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut cmd = std::process::Command::new("./mcpgate");
                cmd.args(&args)
                    .current_dir(cwd)
                    .env("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN)
                    .env_remove("MCPGATE_ENDPOINT");
                if !args.iter().any(|a| a == "--endpoint") {
                    cmd.env("MCPGATE_ENDPOINT", base);
                }
                cmd.output().unwrap()
            })
            .await
            .unwrap()
        }
    };
    let out = run(
        vec![
            "server".into(),
            "create".into(),
            "--name".into(),
            "team crm".into(),
        ],
        dir.path().to_owned(),
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let token = labelled(&stdout, "Token:");
    let hint = stdout
        .lines()
        .find(|l| l.contains("--for cursor"))
        .unwrap_or_else(|| panic!("no cursor hint: {stdout}"))
        .trim()
        .to_owned();
    assert_eq!(
        hint,
        format!(
            "./mcpgate client-config --for cursor --url {}/mcp --token {token} --name 'team crm'",
            gw.base
        )
    );
    // Pasted into a shell, it prints the Cursor entry named after the server.
    let cwd = dir.path().to_owned();
    let pasted = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&hint)
            .current_dir(cwd)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = text(&pasted);
    assert!(pasted.status.success(), "{stderr}");
    let snippet: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        snippet["mcpServers"]["team crm"]["headers"]["Authorization"],
        format!("Bearer {token}")
    );

    // The admin commands' hints too, with --endpoint when it came as a flag
    // (from MCPGATE_ENDPOINT it carries over by itself).
    let definition = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/rest-integration/democrm.yaml"
    );
    let out = run(
        vec![
            "integration".into(),
            "import".into(),
            definition.into(),
            "--endpoint".into(),
            gw.base.clone(),
        ],
        dir.path().to_owned(),
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "Next: ./mcpgate account create --integration democrm --auth … --endpoint {}",
            gw.base
        )),
        "{stdout}"
    );
    let out = run(
        vec![
            "portal".into(),
            "list".into(),
            "--endpoint".into(),
            "http://127.0.0.1:9".into(),
        ],
        dir.path().to_owned(),
    )
    .await;
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("is `./mcpgate serve` running?"),
        "{stderr}"
    );
}

#[tokio::test]
async fn server_show_update_and_the_key_lifecycle() {
    let gw = Gateway::start().await;
    let created = json_cli(&gw, &["server", "create", "--name", "crm"]).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let first = created["token"].as_str().unwrap().to_owned();

    let shown = json_cli(&gw, &["server", "show", &id]).await;
    assert_eq!(shown["name"], "crm");
    assert!(shown.get("token").is_none(), "show never reveals a token");
    let (ok, stdout, _) = table_cli(&gw, &["server", "show", &id]).await;
    assert!(ok && stdout.contains("toolset demo"), "{stdout}");

    let updated = json_cli(
        &gw,
        &[
            "server",
            "update",
            &id,
            "--name",
            "crm-2",
            "--rate-per-sec",
            "3",
        ],
    )
    .await;
    assert_eq!(updated["name"], "crm-2");
    assert_eq!(updated["limits"]["rate_per_sec"], 3);
    let updated = json_cli(&gw, &["server", "update", &id, "--burst", "4"]).await;
    assert_eq!(
        updated["limits"],
        json!({"rate_per_sec": 3, "burst": 4}),
        "naming one limit keeps the others"
    );
    let (ok, _, stderr) = table_cli(&gw, &["server", "update", &id]).await;
    assert!(!ok && stderr.contains("nothing to change"), "{stderr}");

    let _ = json_cli(&gw, &["server", "update", &id, "--disable"]).await;
    assert_eq!(status_of(&gw, &first).await, 401, "disabled at once");
    let _ = json_cli(&gw, &["server", "update", &id, "--enable"]).await;
    assert_eq!(status_of(&gw, &first).await, 200);

    // A second key, listed without its secret, revoked at once.
    let second = json_cli(&gw, &["key", "create", "--server", &id]).await;
    let second_token = second["token"].as_str().unwrap().to_owned();
    assert_eq!(status_of(&gw, &second_token).await, 200);
    let listed = json_cli(&gw, &["key", "list", "--server", &id]).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&second_token));
    let (ok, stdout, _) = table_cli(
        &gw,
        &[
            "key",
            "revoke",
            "--server",
            &id,
            second["id"].as_str().unwrap(),
        ],
    )
    .await;
    assert!(ok && stdout.contains("revoked"), "{stdout}");
    assert_eq!(status_of(&gw, &second_token).await, 401);
    assert_eq!(status_of(&gw, &first).await, 200);

    // Rotation: the new key works, the old one does not.
    let rotated = json_cli(&gw, &["key", "rotate", "--server", &id]).await;
    let new_token = rotated["token"].as_str().unwrap();
    assert_eq!(status_of(&gw, new_token).await, 200);
    assert_eq!(status_of(&gw, &first).await, 401);

    // Mistakes get the API's message, not a bare status.
    let (ok, _, stderr) = table_cli(&gw, &["key", "list", "--server", "nope"]).await;
    assert!(!ok && stderr.contains("404"), "{stderr}");
    let (ok, _, stderr) = table_cli(
        &gw,
        &[
            "key",
            "revoke",
            "--server",
            &id,
            rotated["id"].as_str().unwrap(),
            "--grace-seconds",
            "9999999",
        ],
    )
    .await;
    assert!(!ok && stderr.contains("grace_seconds"), "{stderr}");
}

#[tokio::test]
async fn account_show_never_reveals_credentials_and_lists_its_servers() {
    let gw = Gateway::start_with(Start::with_bundled_integrations()).await;
    let (ok, stdout, stderr) = table_cli(
        &gw,
        &[
            "account",
            "create",
            "--integration",
            "hubspot",
            "--auth",
            "bearer:pat-hunter2",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    let account = stdout.trim().to_owned();
    assert!(
        stderr.contains(&format!(
            "Next: cargo run -- server create --account {account} --name NAME"
        )),
        "the next command, as this binary was started: {stderr}"
    );
    let _ = json_cli(
        &gw,
        &[
            "server",
            "create",
            "--name",
            "hubspot-read",
            "--account",
            &account,
            "--methods",
            "read",
        ],
    )
    .await;
    let shown = json_cli(&gw, &["account", "show", &account]).await;
    assert_eq!(shown["integration"], "hubspot");
    assert_eq!(shown["mcp_servers"][0]["name"], "hubspot-read");
    let (ok, table, _) = table_cli(&gw, &["account", "show", &account]).await;
    assert!(
        ok && table.contains("bearer") && table.contains("hubspot-read"),
        "{table}"
    );
    assert!(!shown.to_string().contains("hunter2") && !table.contains("hunter2"));
}

#[tokio::test]
async fn upstream_and_portal_commands_put_a_python_server_behind_a_portal() {
    if !python::available() {
        return;
    }
    let fixture = python::start("alpha", "base", python::free_port());
    let gw = Gateway::start().await;
    let added = json_cli(
        &gw,
        &["upstream", "add", "--id", "alpha", "--url", &fixture.url],
    )
    .await;
    assert_eq!(added["status"], "ready", "{added}");
    assert!(added["tools"].as_array().unwrap().len() >= 3);
    let (ok, listed, _) = table_cli(&gw, &["upstream", "list"]).await;
    assert!(
        ok && listed.contains("alpha") && listed.contains("ready"),
        "{listed}"
    );

    let (ok, stdout, stderr) = table_cli(
        &gw,
        &[
            "portal",
            "create",
            "--name",
            "Ops",
            "--id",
            "ops",
            "--upstream",
            "alpha",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    let token = labelled(&stdout, "Token:");
    let portals = json_cli(&gw, &["portal", "list"]).await;
    assert!(
        stdout.contains(&format!(
            "cargo run -- key create --server {}",
            portals[0]["server_id"].as_str().unwrap()
        )),
        "{stdout}"
    );
    let mut mcp = gw.mcp(&token);
    mcp.initialize("2025-11-25").await;
    let tools = mcp.tool_names().await;
    assert!(tools.contains(&"alpha_add".to_owned()), "{tools:?}");
    let result = mcp
        .call(
            "tools/call",
            json!({"name": "alpha_add", "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert_eq!(result["content"][0]["text"], "5");

    let portals = json_cli(&gw, &["portal", "list"]).await;
    assert_eq!(portals[0]["id"], "ops");
    let server = portals[0]["server_id"].as_str().unwrap().to_owned();
    let more = json_cli(&gw, &["key", "create", "--server", &server]).await;
    assert_eq!(status_of(&gw, more["token"].as_str().unwrap()).await, 200);

    let (ok, _, stderr) = table_cli(&gw, &["upstream", "delete", "alpha"]).await;
    assert!(
        !ok && stderr.contains("409"),
        "in use by a portal: {stderr}"
    );
    let (ok, _, _) = table_cli(&gw, &["portal", "delete", "ops"]).await;
    assert!(ok);
    assert_eq!(status_of(&gw, &token).await, 401);
    let (ok, _, _) = table_cli(&gw, &["upstream", "delete", "alpha"]).await;
    assert!(ok);

    let (ok, _, stderr) = table_cli(
        &gw,
        &["upstream", "add", "--id", "bad id!", "--url", "ftp://x"],
    )
    .await;
    assert!(!ok && stderr.contains("400"), "{stderr}");
}

#[tokio::test]
async fn doctor_passes_a_healthy_install_and_names_each_fix() {
    let gw = Gateway::start_with(Start::with_bundled_integrations()).await;
    let (ok, account, stderr) = table_cli(
        &gw,
        &[
            "account",
            "create",
            "--integration",
            "github",
            "--base-url",
            "http://127.0.0.1:9",
            "--auth",
            "bearer:ghp_x",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    let data = gw.data_dir();
    let config = gw.dir.path().join("mcpgate.toml");
    let doctor = |extra: Vec<(&'static str, String)>| {
        let data = data.clone();
        let config = config.clone();
        let base = gw.base.clone();
        async move {
            let mut envs: Vec<(&str, &str)> = Vec::new();
            for (k, v) in &extra {
                envs.push((k, v.as_str()));
            }
            let out = cli(
                &[
                    "doctor",
                    "--config",
                    config.to_str().unwrap(),
                    "--data-dir",
                    data.to_str().unwrap(),
                    "--endpoint",
                    &base,
                    "--timeout-secs",
                    "2",
                ],
                &envs,
            )
            .await;
            let (stdout, stderr) = text(&out);
            (out.status.success(), stdout, stderr)
        }
    };

    let (ok, stdout, stderr) = doctor(vec![]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("0 problem(s)"), "{stdout}");
    assert!(stdout.contains("is ready"), "{stdout}");
    assert!(stdout.contains("credentials decrypt"), "{stdout}");
    assert!(
        stdout.contains(&format!("account {}", account.trim()))
            && stdout.contains("cannot be reached"),
        "the account's unreachable base URL is a warning: {stdout}"
    );

    // A key file others can read is a problem with its fix.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = data.join("secret.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (ok, stdout, _) = doctor(vec![]).await;
        assert!(!ok, "{stdout}");
        assert!(
            stdout.contains(&format!("chmod 600 {}", key.display())),
            "{stdout}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // The wrong credentials key cannot open the sealed credentials.
    let (ok, stdout, _) = doctor(vec![("MCPGATE_SECRET_KEY", "ab".repeat(32))]).await;
    assert!(!ok);
    assert!(
        stdout.contains("sealed credentials") && stdout.contains("MCPGATE_SECRET_KEY"),
        "{stdout}"
    );
    let (ok, stdout, _) = doctor(vec![("MCPGATE_SECRET_KEY", "short".into())]).await;
    assert!(!ok && stdout.contains("not 64 hex characters"), "{stdout}");

    // A broken config file is reported, and nothing else is attempted.
    std::fs::write(&config, "listen = 12\n").unwrap();
    let (ok, stdout, _) = doctor(vec![]).await;
    assert!(!ok && stdout.contains("invalid config file"), "{stdout}");
}

/// `serve`'s log carries no ANSI colour codes when stderr is a file (here
/// the test gateway's stderr.log); on a terminal it is coloured unless
/// `NO_COLOR` is set.
#[tokio::test]
async fn serve_colours_its_log_only_on_a_terminal_without_no_color() {
    let gw = Gateway::start().await;
    assert_eq!(status_of(&gw, "mcpg_nope").await, 401);
    let log = gw.stderr();
    assert!(log.contains("mcpgate listening"), "{log}");
    assert!(
        !log.contains("\x1b["),
        "colour codes in a log file: {log:?}"
    );

    // On a terminal (a pty from util-linux's `script`).
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "script (util-linux) must be installed in CI"
        );
        eprintln!("SKIPPED: the terminal half needs `script` (util-linux)");
        return;
    }
    let on_a_terminal = |no_color: Option<&'static str>| async move {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mcpgate.toml"), "").unwrap();
        let command = format!(
            "exec {} serve --config mcpgate.toml --listen 127.0.0.1:0 --data-dir data",
            common::binary()
        );
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut cmd = std::process::Command::new("script");
            cmd.args(["-qefc", &command, "/dev/null"])
                .current_dir(dir.path())
                .env("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN)
                .env_remove("NO_COLOR")
                .env_remove("RUST_LOG")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped());
            if let Some(v) = no_color {
                cmd.env("NO_COLOR", v);
            }
            let mut child = cmd.spawn().unwrap();
            let mut out = child.stdout.take().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            // The plain readiness line comes after the "listening" log line.
            while !String::from_utf8_lossy(&seen).contains("mcpgate listening on http")
                && std::time::Instant::now() < deadline
            {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            // Closing the pty hangs the gateway up.
            child.kill().ok();
            child.wait().ok();
            String::from_utf8_lossy(&seen).into_owned()
        })
        .await
        .unwrap()
    };
    let coloured = on_a_terminal(None).await;
    assert!(
        coloured.contains("mcpgate listening on http"),
        "{coloured:?}"
    );
    assert!(
        coloured.contains("\x1b["),
        "a terminal gets colours: {coloured:?}"
    );
    let plain = on_a_terminal(Some("1")).await;
    assert!(plain.contains("mcpgate listening on http"), "{plain:?}");
    assert!(!plain.contains("\x1b["), "NO_COLOR is honoured: {plain:?}");
}
