//! End-to-end: upstream MCP servers that misbehave — lists that never end,
//! storms of change notifications, answers too large to hold, credentials
//! echoed back — and syncs racing admin writes. The upstream is
//! `common::hostile`, in this process (on a runtime of its own threads, so
//! it answers while a test blocks); the gateway is the real binary.

mod common;

use common::cloudflare::{BASE, portal, register, sync};
use common::hostile::{self, Hostile, Lists};
use common::{Gateway, Start};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

async fn gateway(extra_config: &str) -> Gateway {
    Gateway::start_with(Start {
        extra_config: extra_config.into(),
        ..Start::default()
    })
    .await
}

/// The gateway's resident memory, in MiB (Linux `/proc`).
fn rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024)
}

fn warnings(server: &Value) -> Vec<String> {
    server["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("no warnings array on {server}"))
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_whose_cursor_repeats_is_read_once_with_a_warning() {
    let up = hostile::start(Lists::SameCursor).await;
    let gw = gateway("").await;
    register(&gw, "nc", &up.url).await;
    let server = sync(&gw, "nc", None).await;
    assert_eq!(server["status"], "ready", "{server}");
    assert_eq!(names(&server["tools"]), ["alpha", "beta", "gamma"]);
    assert_eq!(names(&server["prompts"]), ["alpha", "beta", "gamma"]);
    // Page 2 repeats page 1's cursor: two pages per list, no more.
    for method in [
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
    ] {
        assert_eq!(up.count(method), 2, "{method}");
        let w = warnings(&server);
        assert!(
            w.iter()
                .any(|w| w.starts_with(method) && w.contains("repeated a cursor")),
            "{method}: {w:?}"
        );
    }
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "nc"}]}),
    )
    .await;
    assert_eq!(c.tool_names().await, ["nc_alpha", "nc_beta", "nc_gamma"]);
    let (mut uris, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let params = cursor.map_or(json!({}), |c| json!({ "cursor": c }));
        let page = c.call("resources/list", params).await;
        for r in page["resources"].as_array().unwrap() {
            uris.push(r["uri"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(uris, ["file:///alpha", "file:///beta", "file:///gamma"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_never_ends_stops_at_the_page_cap_without_duplicates() {
    let up = hostile::start(Lists::Endless).await;
    let gw = gateway("upstream.mcp_max_list_pages = 7").await;
    register(&gw, "endless", &up.url).await;
    let started = Instant::now();
    let server = sync(&gw, "endless", None).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(server["status"], "ready", "{server}");
    assert_eq!(names(&server["tools"]), ["alpha", "beta", "gamma"]);
    assert_eq!(up.count("tools/list"), 7);
    let w = warnings(&server);
    assert!(
        w.iter()
            .any(|w| w.starts_with("tools/list") && w.contains("upstream.mcp_max_list_pages")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("tools/list") && w.contains("18 entries")),
        "six pages of three repeats dropped: {w:?}"
    );
    // A sync of a well-behaved list clears the warnings.
    up.set_lists(Lists::Plain);
    let server = sync(&gw, "endless", None).await;
    assert_eq!(warnings(&server), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_lists_fail_the_sync_naming_the_limit() {
    // One page over upstream.max_response_bytes (1 MiB by default).
    let up = hostile::start(Lists::Plain).await;
    let gw = gateway("upstream.mcp_max_list_bytes = 2000000").await;
    register(&gw, "lists", &up.url).await;
    let good = sync(&gw, "lists", None).await;
    assert_eq!(good["status"], "ready", "{good}");
    up.set_lists(Lists::Huge(5));
    let server = sync(&gw, "lists", None).await;
    assert_eq!(server["status"], "error", "{server}");
    let error = server["error"].as_str().unwrap();
    assert!(
        error.contains("tools/list") && error.contains("upstream.max_response_bytes"),
        "{error}"
    );
    // What the last good sync found is still served.
    assert_eq!(names(&server["tools"]), ["alpha", "beta", "gamma"]);
    // Pages within the cap that add up to more than the list cap (2 MB).
    up.set_lists(Lists::Heavy);
    let server = sync(&gw, "lists", None).await;
    assert_eq!(server["status"], "error", "{server}");
    let error = server["error"].as_str().unwrap();
    assert!(error.contains("upstream.mcp_max_list_bytes"), "{error}");
    assert!(up.count("tools/list") <= 8, "stopped at the cap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_list_changed_is_coalesced_and_the_last_change_wins() {
    let up = hostile::start(Lists::Plain).await;
    up.shared.behaviour.storm.store(300, Ordering::SeqCst);
    let gw = gateway("").await;
    register(&gw, "st", &up.url).await;
    sync(&gw, "st", None).await;
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "st"}]}),
    )
    .await;
    // The last of the 300 announcements is of a real change.
    let names = c.tool_names_with("st_omega").await;
    assert_eq!(names, ["st_alpha", "st_omega"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lists = up.count("tools/list");
    // One for the admin's sync, then at most one running and one pending.
    assert!(
        lists <= 4,
        "300 announcements made {lists} tools/list calls"
    );
    assert_eq!(
        up.count("initialize"),
        1,
        "a change is resynced on the session that announced it"
    );
    // Nothing keeps running after the storm.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(up.count("tools/list"), lists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_upstream_sessions_are_ended_also_at_shutdown() {
    let up = hostile::start(Lists::Plain).await;
    let mut gw = gateway("").await;
    register(&gw, "lk", &up.url).await;
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "lk"}]}),
    )
    .await;
    for _ in 0..10 {
        sync(&gw, "lk", None).await;
        c.call("tools/call", json!({"name": "lk_alpha", "arguments": {}}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.count("initialize"), 10);
    assert_eq!(
        up.live_sessions(),
        1,
        "each sync ends the session it replaces"
    );
    assert_eq!(up.deletes(), 9);
    // A graceful stop ends the last one.
    assert!(gw.signal_and_wait("TERM").success());
    assert_eq!(up.live_sessions(), 0);
    assert_eq!(up.deletes(), 10);
}

/// A portal over a hostile upstream `up`, as `big`.
async fn big_portal(gw: &Gateway, up: &Hostile) -> common::Mcp {
    register(gw, "big", &up.url).await;
    sync(gw, "big", None).await;
    portal(
        gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "big"}]}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_answers_are_refused_and_memory_returns_to_its_baseline() {
    let up = hostile::start(Lists::Plain).await;
    up.set_tools(&["big_json", "big_sse", "small"]);
    let gw = gateway("").await;
    let c = big_portal(&gw, &up).await;
    let small = c
        .call("tools/call", json!({"name": "big_small", "arguments": {}}))
        .await;
    assert_eq!(small["content"][0]["text"], "called small");
    let Some(before) = rss_mib(gw.pid()) else {
        eprintln!("SKIPPED the memory half: no /proc here");
        return;
    };
    for (tool, what) in [
        ("big_json", "the upstream's answer"),
        ("big_sse", "an event of the upstream's SSE answer"),
    ] {
        let started = Instant::now();
        let name = format!("big_{tool}");
        let calls: Vec<_> = (0..4)
            .map(|_| tokio::spawn(c.call_detached(&name, json!({}))))
            .collect();
        for reply in futures_util::future::join_all(calls).await {
            let reply = reply.unwrap();
            assert_eq!(reply.status, 200, "{}", reply.text);
            let result = &reply.json()["result"];
            assert_eq!(result["isError"], true, "{result}");
            let text = result["content"][0]["text"].as_str().unwrap();
            assert!(
                text.contains(what) && text.contains("1048576 bytes (upstream.max_response_bytes)"),
                "{text}"
            );
        }
        // Refused as soon as the cap is passed, not at the call's timeout.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{tool}: {:?}",
            started.elapsed()
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_mib(gw.pid()).unwrap();
    eprintln!("gateway RSS: {before} MiB before eight 200 MB answers, {after} MiB after");
    // Eight calls of 200 MB each: the gateway held at most a cap's worth of each.
    assert!(
        after < before + 64,
        "RSS grew from {before} MiB to {after} MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_holds_up_the_upstream_not_memory() {
    let up = hostile::start(Lists::Plain).await;
    up.set_tools(&["flood"]);
    let gw = gateway("").await;
    let c = big_portal(&gw, &up).await;
    let Some(before) = rss_mib(gw.pid()) else {
        eprintln!("SKIPPED: no /proc here");
        return;
    };
    // The client takes the stream's headers and then reads nothing.
    let response = c
        .http
        .post(&c.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", c.session.clone().unwrap())
        .header("mcp-protocol-version", "2025-11-25")
        .body(
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": {"name": "big_flood", "arguments": {}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut peak = before;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak = peak.max(rss_mib(gw.pid()).unwrap());
    }
    drop(response);
    eprintln!("gateway RSS: {before} MiB before, {peak} MiB at most while the client did not read");
    assert!(
        peak < before + 64,
        "RSS grew from {before} MiB to {peak} MiB while the client did not read"
    );
}

/// Register `id` at `url` with a bearer credential.
async fn register_with(gw: &Gateway, id: &str, name: &str, url: &str, credential: &str) -> u16 {
    let (status, body) = gw
        .admin(
            Method::POST,
            &format!("{BASE}/servers"),
            Some(json!({"id": id, "name": name, "hostname": url,
                "auth_type": "bearer", "auth_credentials": credential})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_never_undoes_an_admins_write() {
    sync_races_an_admin_write(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_sync_never_undoes_an_admins_write() {
    if let Some(url) = common::postgres_url().await {
        sync_races_an_admin_write(Some(url)).await;
    }
}

/// An upstream's `initialize` takes 3 s; 1 s into a sync an admin changes
/// its name, endpoint and credential. The admin's values stand, and each
/// credential only ever goes to the endpoint it was configured with.
async fn sync_races_an_admin_write(store_url: Option<String>) {
    const OLD: &str = "old-credential-4f3e2d1c";
    const NEW: &str = "new-credential-9a8b7c6d";
    let old = hostile::start(Lists::Plain).await;
    let new = hostile::start(Lists::Plain).await;
    new.set_tools(&["fresh"]);
    let gw = Gateway::start_with(Start {
        store_url,
        ..Start::default()
    })
    .await;
    register_with(&gw, "crm", "Old name", &old.url, OLD).await;
    assert_eq!(sync(&gw, "crm", None).await["status"], "ready");
    old.shared
        .behaviour
        .init_delay_ms
        .store(3000, Ordering::SeqCst);

    let slow_sync = {
        let (http, url) = (gw.http.clone(), gw.url(&format!("{BASE}/servers/crm/sync")));
        tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(common::ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, put) = gw
        .admin(
            Method::PUT,
            &format!("{BASE}/servers/crm"),
            Some(json!({"name": "New name", "hostname": new.url,
                "auth_type": "bearer", "auth_credentials": NEW})),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    let (status, text) = slow_sync.await.unwrap();
    assert_eq!(
        status, 409,
        "the stale sync says its outcome was dropped: {text}"
    );

    let (_, now) = gw
        .admin(Method::GET, &format!("{BASE}/servers/crm"), None)
        .await;
    assert_eq!(now["result"]["name"], "New name", "{now}");
    assert_eq!(now["result"]["hostname"], new.url.as_str());
    // The client of the old endpoint is gone, and its session ended there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(old.live_sessions(), 0);

    // The next sync (and every call) goes to the new endpoint, with the new credential.
    let synced = sync(&gw, "crm", None).await;
    assert_eq!(synced["status"], "ready", "{synced}");
    assert_eq!(names(&synced["tools"]), ["fresh"]);
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "crm"}]}),
    )
    .await;
    let r = c
        .call("tools/call", json!({"name": "crm_fresh", "arguments": {}}))
        .await;
    assert_eq!(r["content"][0]["text"], "called fresh");
    assert!(
        !old.authorizations().contains(NEW),
        "the new credential reached the old host"
    );
    assert!(
        !new.authorizations().contains(OLD),
        "the old credential reached the new host"
    );
    assert!(new.authorizations().contains(&format!("Bearer {NEW}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_echoed_by_an_upstream_never_reach_logs_store_or_answers() {
    const SECRET: &str = "upstream-secret-7h8i9j0k";
    let up = hostile::start(Lists::Plain).await;
    up.set_tools(&["whoami"]);
    let gw = gateway("").await;
    register_with(&gw, "echo", "Echo", &up.url, SECRET).await;
    assert_eq!(sync(&gw, "echo", None).await["status"], "ready");
    let c = portal(
        &gw,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "echo"}]}),
    )
    .await;
    let r = c
        .call(
            "tools/call",
            json!({"name": "echo_whoami", "arguments": {}}),
        )
        .await;
    assert_eq!(r["content"][0]["text"], "you sent [redacted]", "{r}");

    up.shared.behaviour.echo_401.store(true, Ordering::SeqCst);
    let server = sync(&gw, "echo", None).await;
    assert_eq!(server["status"], "error", "{server}");
    assert!(up.authorizations().contains(SECRET), "the upstream got it");
    let shown = server.to_string();
    assert!(!shown.contains(SECRET), "admin answer: {shown}");
    let error = server["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 401") && error.contains("[redacted]"),
        "{error}"
    );
    assert!(error.chars().count() < 300, "a short reason: {error}");
    assert!(
        !gw.stderr().contains(SECRET),
        "the log holds the credential"
    );
    for file in ["mcpgate.db", "mcpgate.db-wal"] {
        let bytes = std::fs::read(gw.data_dir().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "{file} holds the credential in clear"
        );
    }

    // A REST API that echoes the account's token in its 401.
    let c = common::upstream::crm_server(&gw, &up.base, json!({"type": "bearer", "token": SECRET}))
        .await;
    let r = c
        .call(
            "tools/call",
            json!({"name": "list_all_crm_reports", "arguments": {}}),
        )
        .await;
    assert_eq!(r["isError"], true, "{r}");
    let text = r.to_string();
    let whoami = c
        .call(
            "tools/call",
            json!({"name": "get_single_crm_contact_by_id", "arguments": {"id": "me"}}),
        )
        .await;
    assert_eq!(
        whoami["structuredContent"]["authorization"], "Bearer [redacted]",
        "{whoami}"
    );
    assert!(
        text.contains("401") && text.contains("[redacted]"),
        "{text}"
    );
    assert!(!text.contains(SECRET), "{text}");
}
