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
    assert_eq!(
        run("vscode").await,
        json!({"servers": {"crm": {"type": "http", "url": "https://gw.example/mcp", "headers": headers}}})
    );
    assert_eq!(
        run("windsurf").await["mcpServers"]["crm"]["serverUrl"],
        "https://gw.example/mcp"
    );
    assert_eq!(
        run("inspector").await["mcpServers"]["crm"]["type"],
        "streamable-http"
    );

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
    assert_eq!(
        snippet["servers"]["crm"]["headers"]["Authorization"],
        format!("Bearer {token}")
    );
    assert!(stderr.contains(".vscode/mcp.json"), "{stderr}");

    // Without --client, the command lines for every client are offered.
    let (ok, stdout, _) = table_cli(&gw, &["server", "create", "--name", "two"]).await;
    assert!(ok);
    for client in [
        "claude-desktop",
        "cursor",
        "vscode",
        "windsurf",
        "inspector",
    ] {
        assert!(
            stdout.contains(&format!("mcpgate client-config --for {client} --url")),
            "{client}: {stdout}"
        );
    }
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
