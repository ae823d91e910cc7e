//! Several gateway processes as replicas of one deployment: they share the
//! store (here one data directory) and count per-key limits in one Redis.

mod common;

use common::{Gateway, Mcp, Start, redis_url};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

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
async fn replicas(redis: &str, limits: Value) -> (Gateway, Gateway, Mcp, Mcp) {
    let a = Gateway::start_with(Start {
        extra_config: replica_config(redis),
        ..Start::default()
    })
    .await;
    let b = Gateway::start_with(Start {
        extra_config: replica_config(redis),
        data_dir: Some(a.data_dir()),
        ..Start::default()
    })
    .await;
    let token = limited_server(&a, limits).await;
    let ca = session_when_known(&a, &token).await;
    let cb = session_when_known(&b, &token).await;
    (a, b, ca, cb)
}

#[tokio::test]
async fn one_concurrency_cap_across_replicas_and_a_killed_replica_frees_its_leases() {
    let Some(redis) = redis_url() else { return };
    let (mut a, _b, ca, cb) = replicas(
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
        "permits of the killed replica free after {} ms (lease TTL 1000 ms)",
        killed.elapsed().as_millis()
    );
    for h in held {
        h.abort();
    }
}

#[tokio::test]
async fn one_rate_budget_across_replicas() {
    let Some(redis) = redis_url() else { return };
    let (_a, _b, ca, cb) = replicas(
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

#[tokio::test]
async fn a_session_started_on_one_replica_continues_on_another() {
    let Some(redis) = redis_url() else { return };
    let (a, b, ca, _cb) = replicas(
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

#[tokio::test]
async fn a_key_revoked_on_one_replica_is_refused_by_another_within_a_second() {
    // No Redis needed: the replicas share the store, and the full reload
    // (30 s by default) is left as is, so only the change watch can be fast.
    let a = Gateway::start().await;
    let b = Gateway::start_with(Start {
        data_dir: Some(a.data_dir()),
        ..Start::default()
    })
    .await;
    let (id, token) = a.create_server("shared").await;
    let created = Instant::now();
    let cb = session_when_known(&b, &token).await;
    println!(
        "a server created on A served by B after {} ms",
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
        "a key revoked on A refused by B after {} ms (target: 1000 ms)",
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

#[tokio::test]
async fn one_replica_runs_the_periodic_resync_and_another_takes_over_when_it_dies() {
    const RUNS: &str = "this replica now runs the periodic upstream resync";
    let config = "[upstream]\nmcp_resync_secs = 1\nmcp_periodic_resync = true\n";
    let mut a = Gateway::start_with(Start {
        extra_config: config.into(),
        ..Start::default()
    })
    .await;
    assert!(
        logged_within(&a, RUNS, Duration::from_secs(3))
            .await
            .is_some(),
        "A took the job"
    );
    let b = Gateway::start_with(Start {
        extra_config: config.into(),
        data_dir: Some(a.data_dir()),
        ..Start::default()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!b.stderr().contains(RUNS), "B must not run it while A does");

    a.signal_and_wait("KILL");
    let took_over = logged_within(&b, RUNS, Duration::from_secs(6))
        .await
        .expect("B never took over the resync after A died");
    println!(
        "resync taken over {} ms after the runner was killed (lease: 3 ticks of 1 s)",
        took_over.as_millis()
    );
}

#[tokio::test]
async fn a_portal_session_started_on_one_replica_continues_on_another() {
    if !common::python::available() {
        return;
    }
    let upstream = common::python::start("alpha", "base", common::python::free_port());
    let a = Gateway::start().await;
    common::registry::register(&a, "alpha", &upstream.url).await;
    common::registry::sync(&a, "alpha", None).await;
    let on_a = common::registry::portal(
        &a,
        json!({"id": "p", "name": "P", "servers": [{"server_id": "alpha"}]}),
    )
    .await;
    let hello = json!({"name": "alpha_hello", "arguments": {"who": "ada"}});
    let r = on_a.call("tools/call", hello.clone()).await;
    assert_eq!(r["content"][0]["text"], "hello ada from alpha", "{r}");

    // B starts later; its client to the upstream opens its own upstream
    // session, which the client never sees.
    let b = Gateway::start_with(Start {
        data_dir: Some(a.data_dir()),
        ..Start::default()
    })
    .await;
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
