//! The load generator: N tasks, each sending one request after another for a
//! fixed time over a shared connection pool, latencies into HDR histograms.
//! A small reqwest client rather than `wrk` or `oha`: MCP needs a session
//! header, JSON-RPC bodies and a check that each answer carries a `result`,
//! and the same client measures every row, so its own cost cancels in the
//! ratios.

use bytes::Bytes;
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request, sent again and again.
#[derive(Clone)]
pub struct Target {
    /// GET when `body` is None, else POST.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// POST body.
    pub body: Option<Bytes>,
    /// A substring every good answer contains.
    pub expect: &'static str,
}

/// What one run measured.
pub struct Measured {
    /// Requests per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50: u64,
    /// 99th percentile latency, µs.
    pub p99: u64,
    /// Answers that were not 2xx or lacked `expect`.
    pub errors: u64,
}

/// Send `target` from `concurrency` tasks for `secs` (after `warmup` secs).
pub async fn run(
    client: &reqwest::Client,
    target: &Target,
    concurrency: usize,
    warmup: Duration,
    secs: Duration,
) -> Measured {
    let target = Arc::new(target.clone());
    let start = Instant::now() + warmup;
    let end = start + secs;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let (mut done, mut errors) = (0u64, 0u64);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let ok = send(&client, &target).await;
                let t1 = Instant::now();
                if t0 >= start {
                    hist.saturating_record(t1.duration_since(t0).as_micros() as u64);
                    done += 1;
                    errors += u64::from(!ok);
                }
            }
            (hist, done, errors)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let (mut done, mut errors) = (0u64, 0u64);
    for t in tasks {
        let (h, d, e) = t.await.expect("a load task panicked");
        all.add(h).unwrap();
        done += d;
        errors += e;
    }
    Measured {
        rps: done as f64 / secs.as_secs_f64(),
        p50: all.value_at_quantile(0.5),
        p99: all.value_at_quantile(0.99),
        errors,
    }
}

async fn send(client: &reqwest::Client, target: &Target) -> bool {
    let mut req = match &target.body {
        Some(b) => client.post(&target.url).body(b.clone()),
        None => client.get(&target.url),
    };
    for (k, v) in &target.headers {
        req = req.header(*k, v);
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => r
            .bytes()
            .await
            .is_ok_and(|b| memchr_contains(&b, target.expect.as_bytes())),
        _ => false,
    }
}

fn memchr_contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
