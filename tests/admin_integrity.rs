//! End-to-end: the admin plane's integrity (issue 18 §1, §2, §7, §8).
//! Parallel writers on every admin write route of every surface, on SQLite
//! and on PostgreSQL: no 5xx, the right number of successes and 409s, and
//! nothing half-made in the store afterwards; references the store keeps;
//! session ends that cost no reload; validation and error shapes.

mod common;

use common::{ADMIN_TOKEN, Gateway, SHARED_SECRET_KEY, Start};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Lines of the gateway's log that say it reloaded from the store.
fn reloads(gw: &Gateway) -> usize {
    gw.stderr()
        .lines()
        .filter(|l| l.contains("reloading from the store"))
        .count()
}

#[tokio::test]
async fn ending_sessions_reloads_nothing_and_the_ends_hold() {
    let gw = Gateway::start_with(Start {
        extra_config: "mcp.reload_interval_secs = 3600\n".into(),
        ..Start::default()
    })
    .await;
    let (_, token) = gw.create_server("s").await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = gw.mcp(&token);
        c.initialize("2025-11-25").await;
        clients.push(c);
    }
    // Let the creation's own reload (if any) happen first.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = reloads(&gw);
    for c in &clients {
        assert_eq!(c.delete_session().await, 204);
    }
    // Several change polls (250 ms each) go by.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for c in &clients {
        assert_eq!(c.request(1, "ping", json!({})).await.status, 404, "ended");
    }
    assert_eq!(
        reloads(&gw),
        before,
        "ending a session made the gateway reload everything"
    );
}
