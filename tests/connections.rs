//! Connections cannot starve the gateway (issue 18 §6): slow header senders
//! and idle connections are closed, and a flood of either does not keep a
//! normal client from being served.

mod common;

use common::{Gateway, Start};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn gateway(http: &str) -> Gateway {
    Gateway::start_with(Start {
        extra_config: http.to_owned(),
        ..Start::default()
    })
    .await
}

fn addr(gw: &Gateway) -> String {
    gw.base.trim_start_matches("http://").to_owned()
}

/// Wait until the peer closes `tcp` (EOF or reset), reading whatever comes;
/// false if it is still open after `within`.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_client_sending_its_headers_slowly_is_cut_off() {
    let gw = gateway("http.header_read_timeout_secs = 1").await;
    let mut tcp = TcpStream::connect(addr(&gw)).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    // One byte every 200 ms: always sending, never finishing.
    let drip = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if tcp.write_all(b"a").await.is_err() {
                return started.elapsed();
            }
        }
    };
    let cut = tokio::time::timeout(Duration::from_secs(6), drip).await;
    let elapsed = cut.expect("a slow client was never closed");
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed before the timeout: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_idles_is_closed() {
    let gw = gateway("http.header_read_timeout_secs = 1\nhttp.idle_timeout_secs = 2").await;
    // Connects and says nothing: the header timeout.
    let mut silent = TcpStream::connect(addr(&gw)).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);

    // One request, answered, then nothing on the kept-alive connection: the
    // idle timeout, counted from the end of the answer.
    let mut kept = TcpStream::connect(addr(&gw)).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let answered = Instant::now();
    assert!(closed_within(&mut kept, Duration::from_secs(6)).await);
    assert!(
        answered.elapsed() >= Duration::from_millis(1500),
        "an idle connection gets the idle timeout, not the header one: {:?}",
        answered.elapsed()
    );
}

#[tokio::test]
async fn a_long_answer_is_not_cut_by_the_timeouts() {
    let gw = gateway("http.header_read_timeout_secs = 1\nhttp.idle_timeout_secs = 1").await;
    let (_, token) = gw.create_server("slow").await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    let result = c
        .call(
            "tools/call",
            json!({"name": "sleep", "arguments": {"ms": 2500}}),
        )
        .await;
    assert!(result.to_string().contains("slept 2500 ms"), "{result}");
}

#[tokio::test]
async fn a_flood_of_idle_and_slow_connections_does_not_stop_a_normal_client() {
    let Ok(out) = std::process::Command::new("prlimit")
        .arg("--version")
        .output()
    else {
        assert!(
            std::env::var("CI").is_err(),
            "prlimit must be installed in CI"
        );
        eprintln!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    };
    assert!(out.status.success());
    // Timeouts far beyond the test: only the connection cap can help.
    let gw = gateway(
        "http.max_connections = 50\nhttp.header_read_timeout_secs = 60\nhttp.idle_timeout_secs = 60",
    )
    .await;
    // The process may open 256 files, fewer than the flood: a gateway that
    // accepted every connection would run out of descriptors.
    let limited = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", gw.pid()))
        .arg("--nofile=256:256")
        .status()
        .unwrap();
    assert!(limited.success());
    let (_, token) = gw.create_server("flood").await;
    let mut c = gw.mcp(&token);
    c.initialize("2025-11-25").await;
    // A request in progress when the flood arrives is not cut off.
    let mut c2 = gw.mcp(&token);
    c2.initialize("2025-11-25").await;
    let slow_call = tokio::spawn(async move {
        c2.call(
            "tools/call",
            json!({"name": "sleep", "arguments": {"ms": 3000}}),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut flood = Vec::new();
    for i in 0..300 {
        let Ok(mut tcp) = TcpStream::connect(addr(&gw)).await else {
            continue;
        };
        if i % 2 == 1 {
            // Half of them start a request head and never finish it.
            let _ = tcp
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Slow: a")
                .await;
        }
        flood.push(tcp);
    }

    let started = Instant::now();
    let health = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new().get(gw.url("/healthz")).send(),
    )
    .await
    .expect("a normal client got no answer during the flood")
    .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        c.call(
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "hi"}}),
        ),
    )
    .await
    .expect("an MCP call got no answer during the flood");
    assert!(result.to_string().contains("hi"), "{result}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "served, but only after {:?}",
        started.elapsed()
    );
    let slow = slow_call.await.unwrap();
    assert!(
        slow.to_string().contains("slept 3000 ms"),
        "the call in progress was cut off: {slow}"
    );
    drop(flood);
}

#[tokio::test]
async fn connection_settings_of_zero_stop_startup() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mcpgate.toml");
    common::write(&config, "[http]\nmax_connections = 0\n");
    let out = common::cli(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("http.max_connections"), "{stderr}");
}

/// A request refused before its body is read (no valid key) is answered
/// even when the body never arrives in full: the body is waited for only
/// briefly (to echo its JSON-RPC id), so connections that send headers and
/// a partial body cannot hold the gateway's connection slots unanswered.
/// With `max_connections = 5`, eight such connections once locked every
/// client out, `/healthz` included.
#[tokio::test]
async fn refused_requests_with_a_stalled_body_are_answered_and_do_not_lock_clients_out() {
    let gw = gateway("http.max_connections = 5").await;
    let mut stalled = Vec::new();
    for path in ["/mcp/mcpg_wrong", "/mcp"].iter().cycle().take(8) {
        let mut tcp = TcpStream::connect(addr(&gw)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{{"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        stalled.push(tcp);
    }
    // Each stalled request gets its 401 (the id unknown) instead of silence.
    for tcp in &mut stalled {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("a refused request with a stalled body was never answered")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    }
    // And a normal client is served meanwhile.
    let r = reqwest::Client::new()
        .get(format!("{}/healthz", gw.base))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("healthz answered");
    assert!(r.status().is_success());
}
