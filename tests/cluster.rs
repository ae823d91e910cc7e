//! Several gateway processes as replicas of one deployment: they share the
//! store and count per-key limits in one Redis. Each scenario about the
//! store runs twice: on one SQLite file (replicas on one host sharing a data
//! directory) and on PostgreSQL (each replica with its own data directory,
//! as on separate hosts, sharing the database and the two secrets).

mod common;

use common::{Gateway, Mcp, Start, redis_url};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What the replicas of a test share.
enum Shared {
    /// The first replica's data directory (one SQLite file).
    Sqlite,
    /// A PostgreSQL database (a schema of its own).
    Postgres(String),
}

impl Shared {
    /// PostgreSQL, or `None` (skipped, or failed in CI) when it is absent.
    async fn postgres() -> Option<Self> {
        common::postgres_url().await.map(Self::Postgres)
    }

    /// The start of a replica with `extra` config; `first` is the replica
    /// started before it, if any.
    fn start(&self, extra: &str, first: Option<&Gateway>) -> Start {
        let mut start = Start {
            extra_config: extra.to_owned(),
            ..Start::default()
        };
        match self {
            Self::Sqlite => start.data_dir = first.map(Gateway::data_dir),
            Self::Postgres(url) => start.store_url = Some(url.clone()),
        }
        start
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    async fn first(&self, extra: &str) -> Gateway {
        Gateway::start_with(self.start(extra, None)).await
    }

    async fn next(&self, extra: &str, first: &Gateway) -> Gateway {
        Gateway::start_with(self.start(extra, Some(first))).await
    }
}

/// Two `#[tokio::test]`s running `$scenario(&Shared)`: one per store.
macro_rules! on_both_stores {
    ($scenario:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $scenario(&Shared::Sqlite).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(shared) = Shared::postgres().await else {
                return;
            };
            $scenario(&shared).await;
        }
    };
}

fn replica_config(redis: &str) -> String {
    format!(
        "mcp.reload_interval_secs = 1\n[limits]\nbackend = \"redis\"\nredis_url = \"{redis}\"\nlease_ttl_secs = 1\n"
    )
}

async fn limited_server(gw: &Gateway, limits: Value) -> String {
    let (status, body) = gw
        .admin(
            Method::POST,
            "/server",
            Some(json!({"name": "shared", "limits": limits})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A session on `gw`, once its periodic reload has picked up `token`.
async fn session_when_known(gw: &Gateway, token: &str) -> Mcp {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let probe = gw.mcp(token).request(0, "ping", json!({})).await;
        // 400 (no session yet) means the key is known; 401 that it is not yet.
        if probe.status != 401 {
            break;
        }
        assert!(Instant::now() < deadline, "replica never loaded the key");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut c = gw.mcp(token);
    c.initialize("2025-11-25").await;
    c
}

/// Two replicas over one store and one Redis, a server with `limits`
/// created through the first, and a session on each.
async fn replicas(shared: &Shared, redis: &str, limits: Value) -> (Gateway, Gateway, Mcp, Mcp) {
    let a = shared.first(&replica_config(redis)).await;
    let b = shared.next(&replica_config(redis), &a).await;
    let token = limited_server(&a, limits).await;
    let ca = session_when_known(&a, &token).await;
    let cb = session_when_known(&b, &token).await;
    (a, b, ca, cb)
}

on_both_stores!(
    concurrency_cap_and_killed_replica,
    one_concurrency_cap_across_replicas_and_a_killed_replica_frees_its_leases,
    on_postgres_one_concurrency_cap_across_replicas_and_a_killed_replica_frees_its_leases
);

async fn concurrency_cap_and_killed_replica(shared: &Shared) {
    let Some(redis) = redis_url() else { return };
    let (mut a, _b, ca, cb) = replicas(
        shared,
        redis,
        json!({"max_concurrency": 2, "rate_per_sec": 1000, "burst": 1000}),
    )
    .await;

    // Two calls hold both permits on A for longer than the lease TTL (1 s):
    // their leases must be renewed, so B still finds the cap reached.
    let a1 = tokio::spawn(ca.call_detached("sleep", json!({"ms": 2000})));
    let a2 = tokio::spawn(ca.call_detached("sleep", json!({"ms": 2000})));
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let extra = cb.call_detached("sleep", json!({"ms": 10})).await;
    assert_eq!(
        extra.status, 429,
        "N+1th call on another replica: {}",
        extra.text
    );
    assert!(extra.text.contains("concurrency limit"), "{}", extra.text);
    assert_eq!(a1.await.unwrap().status, 200);
    assert_eq!(a2.await.unwrap().status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        cb.call_detached("sleep", json!({"ms": 10})).await.status,
        200,
        "finished calls give their leases back"
    );

    // A replica killed mid-call cannot give its leases back: they expire.
    let held = [
        tokio::spawn(ca.call_detached("sleep", json!({"ms": 10_000}))),
        tokio::spawn(ca.call_detached("sleep", json!({"ms": 10_000}))),
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        cb.call_detached("sleep", json!({"ms": 10})).await.status,
        429
    );
    a.signal_and_wait("KILL");
    let killed = Instant::now();
    loop {
        let r = cb.call_detached("sleep", json!({"ms": 10})).await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 429, "{}", r.text);
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "leases of the killed replica still held after {:?}",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "[{}] permits of the killed replica free after {} ms (lease TTL 1000 ms)",
        shared.name(),
        killed.elapsed().as_millis()
    );
    for h in held {
        h.abort();
    }
}

on_both_stores!(
    rate_budget,
    one_rate_budget_across_replicas,
    on_postgres_one_rate_budget_across_replicas
);

async fn rate_budget(shared: &Shared) {
    let Some(redis) = redis_url() else { return };
    let (_a, _b, ca, cb) = replicas(
        shared,
        redis,
        json!({"max_concurrency": 10, "rate_per_sec": 1, "burst": 6}),
    )
    .await;
    // Use up the burst through A alone (quicker than one refill at 1/s)…
    let mut granted = 0;
    loop {
        let r = ca.request(granted + 1, "ping", json!({})).await;
        if r.status == 429 {
            assert!(r.header("retry-after").is_some());
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
        granted += 1;
        assert!(granted <= 6, "more than the burst was granted");
    }
    // …and B, which served none of those, finds it used up too.
    let on_b = cb.request(99, "ping", json!({})).await;
    assert_eq!(
        on_b.status, 429,
        "one budget for both replicas: {}",
        on_b.text
    );
    assert!(on_b.text.contains("rate limit"), "{}", on_b.text);
}

#[tokio::test]
async fn redis_down_falls_back_to_local_limits_and_says_so() {
    let gw = Gateway::start_with(Start {
        extra_config: replica_config("redis://127.0.0.1:1"),
        ..Start::default()
    })
    .await;
    let token = limited_server(
        &gw,
        json!({"max_concurrency": 1, "rate_per_sec": 1000, "burst": 1000}),
    )
    .await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let first = tokio::spawn(c.call_detached("sleep", json!({"ms": 800})));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = c.call_detached("sleep", json!({"ms": 10})).await;
    assert_eq!(second.status, 429, "never fail open: {}", second.text);
    assert_eq!(first.await.unwrap().status, 200);

    let ready: Value = reqwest::get(gw.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["limits"]["backend"], "redis", "{ready}");
    assert_eq!(ready["limits"]["state"], "degraded", "{ready}");
    let detail = ready["limits"]["detail"].as_str().unwrap();
    assert!(detail.contains("per-replica limits"), "{detail}");
    assert!(
        gw.stderr().contains("Redis limits unavailable"),
        "the fallback is logged"
    );
}

#[tokio::test]
async fn redis_backend_without_a_url_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mcpgate.toml");
    common::write(&config, "[limits]\nbackend = \"redis\"\n");
    let data = dir.path().join("data");
    let out = common::cli(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[("MCPGATE_REDIS_URL", "")],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("limits.backend = \"redis\" needs limits.redis_url"),
        "{stderr}"
    );
}

on_both_stores!(
    session_across,
    a_session_started_on_one_replica_continues_on_another,
    on_postgres_a_session_started_on_one_replica_continues_on_another
);

async fn session_across(shared: &Shared) {
    let Some(redis) = redis_url() else { return };
    let (a, b, ca, _cb) = replicas(
        shared,
        redis,
        json!({"max_concurrency": 4, "rate_per_sec": 1000, "burst": 1000}),
    )
    .await;
    // The same session id, presented to B, as a load balancer without
    // affinity would: B verifies A's signature and serves it.
    let on_b = ca.clone_to(&b);
    let r = on_b
        .call(
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "hi"}}),
        )
        .await;
    assert_eq!(r["content"][0]["text"], "hi", "{r}");
    // Ending it on B ends it for A too (the ended id is stored).
    assert_eq!(on_b.delete_session().await, 204);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = ca.request(7, "ping", json!({})).await.status;
        if status == 404 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            Instant::now() < deadline,
            "A still serves a session B ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(a);
}

on_both_stores!(
    revocation,
    a_key_revoked_on_one_replica_is_refused_by_another_within_a_second,
    on_postgres_a_key_revoked_on_one_replica_is_refused_by_another_within_a_second
);

async fn revocation(shared: &Shared) {
    // No Redis needed: the replicas share the store, and the full reload
    // (30 s by default) is left as is, so only the change watch can be fast.
    let a = shared.first("").await;
    let b = shared.next("", &a).await;
    let (id, token) = a.create_server("shared").await;
    let created = Instant::now();
    let cb = session_when_known(&b, &token).await;
    println!(
        "[{}] a server created on A served by B after {} ms",
        shared.name(),
        created.elapsed().as_millis()
    );
    assert!(created.elapsed() < Duration::from_secs(2));
    assert_eq!(cb.request(1, "ping", json!({})).await.status, 200);

    let (status, keys) = a
        .admin(Method::GET, &format!("/server/{id}/keys"), None)
        .await;
    assert_eq!(status, 200, "{keys}");
    let key_id = keys["result"][0]["id"]
        .as_str()
        .or_else(|| keys[0]["id"].as_str())
        .unwrap_or_else(|| panic!("a key id in {keys}"))
        .to_owned();
    let (status, body) = a
        .admin(Method::DELETE, &format!("/server/{id}/keys/{key_id}"), None)
        .await;
    assert!((200..300).contains(&status), "{body}");
    let revoked = Instant::now();
    loop {
        let status = cb.request(2, "ping", json!({})).await.status;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "B still accepts a key revoked on A after {:?}",
            revoked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "[{}] a key revoked on A refused by B after {} ms (target: 1000 ms)",
        shared.name(),
        revoked.elapsed().as_millis()
    );
}

/// How long until `gw` logs `line`, if it does within `within`.
async fn logged_within(gw: &Gateway, line: &str, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if gw.stderr().contains(line) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

on_both_stores!(
    resync_runner,
    one_replica_runs_the_periodic_resync_and_another_takes_over_when_it_dies,
    on_postgres_one_replica_runs_the_periodic_resync_and_another_takes_over_when_it_dies
);

async fn resync_runner(shared: &Shared) {
    const RUNS: &str = "this replica now runs the periodic upstream resync";
    let config = "[upstream]\nmcp_resync_secs = 1\nmcp_periodic_resync = true\n";
    let mut a = shared.first(config).await;
    assert!(
        logged_within(&a, RUNS, Duration::from_secs(3))
            .await
            .is_some(),
        "A took the job"
    );
    let b = shared.next(config, &a).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!b.stderr().contains(RUNS), "B must not run it while A does");

    a.signal_and_wait("KILL");
    let took_over = logged_within(&b, RUNS, Duration::from_secs(6))
        .await
        .expect("B never took over the resync after A died");
    println!(
        "[{}] resync taken over {} ms after the runner was killed (ticks of 1 s)",
        shared.name(),
        took_over.as_millis()
    );
}

on_both_stores!(
    portal_session,
    a_portal_session_started_on_one_replica_continues_on_another,
    on_postgres_a_portal_session_started_on_one_replica_continues_on_another
);

async fn portal_session(shared: &Shared) {
    if !common::python::available() {
        return;
    }
    let upstream = common::python::start("alpha", "base", common::python::free_port());
    let a = shared.first("").await;
    let on_a = common::cloudflare::portal_over(&a, "alpha", &upstream.url).await;
    let hello = json!({"name": "alpha_hello", "arguments": {"who": "ada"}});
    let r = on_a.call("tools/call", hello.clone()).await;
    assert_eq!(r["content"][0]["text"], "hello ada from alpha", "{r}");

    // B starts later; its client to the upstream opens its own upstream
    // session, which the client never sees.
    let b = shared.next("", &a).await;
    let on_b = on_a.clone_to(&b);
    let r = on_b.call("tools/call", hello).await;
    assert_eq!(r["content"][0]["text"], "hello ada from alpha", "{r}");
    assert_eq!(
        r,
        on_a.call(
            "tools/call",
            json!({"name": "alpha_hello", "arguments": {"who": "ada"}})
        )
        .await
    );
}

#[tokio::test]
async fn store_mistakes_stop_startup_with_a_clear_error() {
    let serve = |store: String, secret: &'static str| async move {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = common::cli(
            &[
                "serve",
                "--data-dir",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--store",
                &store,
            ],
            &[("MCPGATE_SECRET_KEY", secret)],
        )
        .await;
        assert!(!out.status.success(), "{store} must not start");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let unsupported = serve("mysql://root:hunter2@127.0.0.1/x".into(), "").await;
    assert!(unsupported.contains("postgres://"), "{unsupported}");
    assert!(!unsupported.contains("hunter2"), "{unsupported}");
    let unreachable = serve("postgres://app:hunter2@127.0.0.1:1/x".into(), "").await;
    assert!(
        unreachable.contains("cannot open the store at postgres://app:***@127.0.0.1:1/x"),
        "{unreachable}"
    );
    assert!(!unreachable.contains("hunter2"), "{unreachable}");

    // A replica whose credentials key differs from the one the database was
    // first used with would fail to read (and would write) credentials the
    // others cannot open: it is refused at startup.
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let first = Gateway::start_with(Start {
        store_url: Some(url.clone()),
        ..Start::default()
    })
    .await;
    drop(first);
    let other_key = "1111111111111111111111111111111111111111111111111111111111111111";
    let wrong = serve(url, other_key).await;
    assert!(
        wrong.contains("sealed with a different key") && wrong.contains("MCPGATE_SECRET_KEY"),
        "{wrong}"
    );
}

/// Every `MCPGATE_*` name in `text`.
fn env_names(text: &str) -> std::collections::BTreeSet<String> {
    text.match_indices("MCPGATE_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect()
        })
        .collect()
}

/// The text of every Rust source under `dir`.
fn sources(dir: &std::path::Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn the_deploy_examples_set_only_variables_the_gateway_reads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut code = String::new();
    sources(&root.join("src"), &mut code);
    sources(&root.join("crates"), &mut code);
    let known = env_names(&code);

    let compose = std::fs::read_to_string(root.join("deploy/compose.yaml")).unwrap();
    let parsed: Value = yaml_serde::from_str(&compose).unwrap();
    let gateways = ["gateway-a", "gateway-b"];
    for g in gateways {
        let env = &parsed["services"][g]["environment"];
        assert!(
            env["MCPGATE_STORE_URL"]
                .as_str()
                .unwrap()
                .starts_with("postgres://"),
            "{g}: {env}"
        );
        assert!(env["MCPGATE_REDIS_URL"].is_string(), "{g}: {env}");
    }
    let kubernetes = std::fs::read_to_string(root.join("deploy/kubernetes.yaml")).unwrap();
    let docs: Vec<Value> = kubernetes
        .split("\n---\n")
        .map(|d| yaml_serde::from_str(d).unwrap())
        .collect();
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    for (file, text) in [("compose.yaml", &compose), ("kubernetes.yaml", &kubernetes)] {
        for name in env_names(text) {
            assert!(
                known.contains(&name),
                "deploy/{file} sets {name}, which nothing reads"
            );
        }
    }
}

#[tokio::test]
async fn the_deploy_config_runs_replicas_on_postgres_and_redis() {
    let Some(redis) = redis_url() else { return };
    let Some(store) = common::postgres_url().await else {
        return;
    };
    // deploy/mcpgate-replicas.toml where the image puts it, beside the
    // bundled toolsets and integrations.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let etc = tempfile::tempdir().unwrap();
    std::fs::copy(
        root.join("deploy/mcpgate-replicas.toml"),
        etc.path().join("mcpgate.toml"),
    )
    .unwrap();
    for dir in ["toolsets", "integrations"] {
        std::os::unix::fs::symlink(root.join("config").join(dir), etc.path().join(dir)).unwrap();
    }
    let config = etc.path().join("mcpgate.toml");
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let data = tempfile::tempdir().unwrap();
        let port = common::python::free_port();
        let child = std::process::Command::new(common::binary())
            .args(["serve", "--config", config.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--data-dir", data.path().to_str().unwrap()])
            .env("MCPGATE_STORE_URL", &store)
            .env("MCPGATE_REDIS_URL", redis)
            .env("MCPGATE_SECRET_KEY", common::SHARED_SECRET_KEY)
            .env("MCPGATE_SESSION_SECRET", common::SHARED_SESSION_SECRET)
            .env("MCPGATE_ADMIN_TOKEN", common::ADMIN_TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        replicas.push((child, format!("http://127.0.0.1:{port}"), data));
    }
    let http = reqwest::Client::new();
    for (_, base, _) in &replicas {
        let ready = common::ready_at(&http, base).await.unwrap_or_default();
        assert_eq!(ready["store"]["backend"], "postgres", "{base}: {ready}");
        assert_eq!(ready["limits"]["backend"], "redis", "{ready}");
        assert_eq!(ready["limits"]["state"], "ok", "{ready}");
    }
    // Written through one replica, served by the other.
    let created: Value = http
        .post(format!("{}/server", replicas[0].1))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&json!({"name": "deployed"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let on_b = http
        .get(format!("{}/server/{id}", replicas[1].1))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(on_b.status(), 200);
    for (mut child, _, _) in replicas {
        child.kill().ok();
        child.wait().ok();
    }
}

#[tokio::test]
async fn a_database_outage_keeps_tool_calls_going_and_heals_by_itself() {
    let Some(direct) = common::postgres_url().await else {
        return;
    };
    // Replica A reaches PostgreSQL through a link this test can cut; B
    // directly.
    let mut link = common::Link::open("127.0.0.1:5432").await;
    let linked = direct.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", link.port()), 1);
    assert_ne!(linked, direct);
    let a = Gateway::start_with(Start {
        store_url: Some(linked),
        ..Start::default()
    })
    .await;
    let b = Gateway::start_with(Start {
        store_url: Some(direct),
        ..Start::default()
    })
    .await;
    let (_, token) = a.create_server("before").await;
    let mut client = a.mcp(&token);
    client.initialize("2025-11-25").await;

    link.cut().await;
    // Calls are served from memory.
    let r = client
        .call(
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "still here"}}),
        )
        .await;
    assert_eq!(r["content"][0]["text"], "still here", "{r}");
    // Writes fail as unavailable, saying so; readiness drops.
    let (status, body) = a
        .admin(Method::POST, "/server", Some(json!({"name": "during"})))
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.to_string().contains("cannot be reached"), "{body}");
    let ready = reqwest::get(a.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["store"]["backend"], "postgres", "{ready}");
    // Meanwhile B (still connected) creates a server.
    let (_, made_on_b) = b.create_server("made-during-the-outage").await;

    link.restore().await;
    let healed = Instant::now();
    // A catches up with what changed while it was cut off, and writes again.
    let on_a = session_when_known(&a, &made_on_b).await;
    assert_eq!(on_a.request(1, "ping", json!({})).await.status, 200);
    let (status, body) = a
        .admin(Method::POST, "/server", Some(json!({"name": "after"})))
        .await;
    assert_eq!(status, 201, "{body}");
    println!(
        "after the database came back, A served B's new server and wrote again within {} ms",
        healed.elapsed().as_millis()
    );
}
