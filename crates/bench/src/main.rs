//! `mcpgate-bench`: what the gateway costs on a tool call, measured against
//! the same upstream called directly, in one run on one machine; then the
//! scale points (a big store, a big server, a big OpenAPI import).
//!
//! ```text
//! cargo run --release -p mcpgate-bench            # about three minutes
//! cargo run --release -p mcpgate-bench -- --perf  # plus a profile per row
//! cargo run --release -p mcpgate-bench -- --help
//! ```
//!
//! Three processes share the machine: the upstream (this binary with
//! `--upstream PORT`), the gateway (release build) and the load generator
//! (this process). Every figure is printed with its ratio to the direct
//! baseline measured in the same run, never against a fixed target.

mod corpus;
mod load;
mod profile;
mod scale;
mod upstream;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use load::{Measured, Target};

/// Command-line flags.
#[derive(Parser)]
#[command(about = "Benchmark mcpgate against a direct upstream in one run")]
struct Args {
    /// Seconds measured per row (after the warm-up).
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Warm-up seconds per row.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    concurrency: Vec<usize>,
    /// Only measure scenarios whose name contains this (their baselines too).
    #[arg(long)]
    only: Option<String>,
    /// Record the gateway with `perf` over each gateway row and print what
    /// dominates it (needs `perf` and perf_event_paranoid <= 2).
    #[arg(long)]
    perf: bool,
    /// Skip the scale points.
    #[arg(long)]
    skip_scale: bool,
    /// Use this mcpgate binary instead of building target/release/mcpgate.
    #[arg(long)]
    mcpgate: Option<PathBuf>,
    /// Seed DIR as a data directory with the big store of the scale point
    /// (for profiling the gateway's startup and memory by hand), print the
    /// secret key to start it with, and exit.
    #[arg(long, value_name = "DIR")]
    seed_store: Option<PathBuf>,
    /// Instead of the benchmark: convert every OpenAPI document under DIR
    /// (the corpus run; see scripts/corpus.sh) and print what converted.
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// With --corpus: also import every converted document into one
    /// gateway and measure imports over the run, RSS and a restart with
    /// 10,000 servers.
    #[arg(long, requires = "corpus")]
    corpus_import: bool,
    /// Internal: run as the upstream on this port.
    #[arg(long, hide = true)]
    upstream: Option<u16>,
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

const ADMIN: &str = "bench-admin-token-0123456789";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(port) = args.upstream {
        // The upstream gets its own small runtime, as a real service would.
        return tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(upstream::serve(port));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(dir) = &args.corpus {
        return runtime.block_on(corpus::run(dir, args.mcpgate.clone(), args.corpus_import));
    }
    if let Some(dir) = args.seed_store {
        std::fs::create_dir_all(&dir)?;
        let (hex, token) =
            runtime.block_on(scale::seed_big_store(&dir, scale::BIG_STORE_SERVERS))?;
        println!("MCPGATE_SECRET_KEY={hex}\nfirst server's token: {token}");
        return Ok(());
    }
    runtime.block_on(bench(args))
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The release binary, built now unless given.
fn mcpgate_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    eprintln!("building mcpgate (release)…");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--locked", "--bin", "mcpgate"])
        .current_dir(workspace())
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build --release --bin mcpgate failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    Ok(target.join("release/mcpgate"))
}

/// Wait until `url` answers 200.
pub async fn wait_ready(http: &reqwest::Client, url: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running gateway with its own data directory.
pub struct Gateway {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _dir: Option<tempfile::TempDir>,
}

/// Start `bin serve` on a data directory; returns once `/readyz` answers.
pub async fn start_gateway(
    bin: &std::path::Path,
    http: &reqwest::Client,
    data_dir: Option<(PathBuf, String)>,
) -> anyhow::Result<(Gateway, Duration)> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("mcpgate.toml");
    // Limits far above what the run can reach: the benchmark measures the
    // path, not the limiter refusing it.
    std::fs::write(
        dir.path().join("demo.yaml"),
        "name: demo\ntools:\n  - name: echo\n    description: Echo a message\n    handler: echo\n",
    )?;
    std::fs::write(
        &config,
        "toolsets = [\"demo.yaml\"]\n[limits]\nrate_per_sec = 10000000\nburst = 10000000\n\
         max_concurrency = 100000\n[upstream]\nmcp_periodic_resync = false\n",
    )?;
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("MCPGATE_ADMIN_TOKEN", ADMIN)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match &data_dir {
        Some((path, secret)) => {
            cmd.arg("--data-dir")
                .arg(path)
                .env("MCPGATE_SECRET_KEY", secret);
        }
        None => {
            cmd.arg("--data-dir").arg(dir.path().join("data"));
        }
    }
    let started = Instant::now();
    let proc = Proc(cmd.spawn().context("cannot start mcpgate")?);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(http, &format!("{base}/readyz"), Duration::from_secs(120)).await?;
    let startup = started.elapsed();
    Ok((
        Gateway {
            proc,
            base,
            _dir: Some(dir),
        },
        startup,
    ))
}

/// Call the admin API; a non-2xx answer is an error.
pub async fn admin(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let r = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("{path}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Initialize an MCP session at `url`; returns the headers later requests need.
pub async fn session(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("initialize at {url}: {}", r.status());
    }
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        ("accept", "application/json, text/event-stream".to_owned()),
        ("mcp-protocol-version", "2025-06-18".to_owned()),
    ];
    if let Some(s) = r.headers().get("mcp-session-id") {
        headers.push(("mcp-session-id", s.to_str()?.to_owned()));
    }
    let note = http
        .post(url)
        .headers(
            headers
                .iter()
                .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                .collect(),
        )
        .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await?;
    if !note.status().is_success() {
        bail!("notifications/initialized at {url}: {}", note.status());
    }
    Ok(headers)
}

/// A JSON-RPC request target in a session.
pub fn rpc(
    url: &str,
    headers: &[(&'static str, String)],
    method: &str,
    params: Value,
    expect: &'static str,
) -> Target {
    Target {
        url: url.to_owned(),
        headers: headers.to_vec(),
        body: Some(Bytes::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string(),
        )),
        expect,
    }
}

/// One measured row.
struct Row {
    name: &'static str,
    concurrency: usize,
    m: Measured,
    baseline: Option<usize>,
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let bin = mcpgate_binary(args.mcpgate.clone())?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let up_port = free_port();
    let _upstream = Proc(
        Command::new(std::env::current_exe()?)
            .args(["--upstream", &up_port.to_string()])
            .stdout(Stdio::null())
            .spawn()?,
    );
    let up = format!("http://127.0.0.1:{up_port}");
    wait_ready(&http, &format!("{up}/contacts"), Duration::from_secs(10)).await?;
    let (gw, _) = start_gateway(&bin, &http, None).await?;
    let base = gw.base.clone();

    // A REST integration over the upstream, an account and a server.
    let definition = json!({
        "name": "bench", "base_url": up, "auth": {"type": "none"},
        "resources": [{"name": "contacts", "tags": ["crm"], "methods": [{
            "kind": "list", "method": "GET", "path": "/contacts",
            "pagination": {"style": "cursor", "cursor_param": "after", "next_cursor": "next", "results": "results"}
        }]}]
    });
    admin(
        &http,
        &base,
        reqwest::Method::POST,
        "/integration",
        json!({"definition": definition}),
    )
    .await?;
    let account = admin(
        &http,
        &base,
        reqwest::Method::POST,
        "/integrated-account",
        json!({"integration": "bench", "credentials": {"type": "none"}}),
    )
    .await?;
    let server = admin(
        &http,
        &base,
        reqwest::Method::POST,
        "/server",
        json!({"name": "bench-rest", "integrated_account_id": account["id"]}),
    )
    .await?;
    let rest_url = format!("{base}/mcp/{}", server["token"].as_str().unwrap_or(""));
    // The upstream as an MCP server behind a portal.
    let registry = "/accounts/default/access/ai-controls/mcp";
    admin(
        &http,
        &base,
        reqwest::Method::POST,
        &format!("{registry}/servers"),
        json!({"id": "up", "name": "Up", "hostname": format!("{up}/mcp"), "auth_type": "unauthenticated"}),
    )
    .await?;
    admin(
        &http,
        &base,
        reqwest::Method::POST,
        &format!("{registry}/servers/up/sync"),
        json!({}),
    )
    .await?;
    let portal = admin(
        &http,
        &base,
        reqwest::Method::POST,
        &format!("{registry}/portals"),
        json!({"id": "p", "name": "P", "servers": [{"server_id": "up"}]}),
    )
    .await?;
    let portal_url = portal["result"]["url"]
        .as_str()
        .context("portal url")?
        .to_owned();

    let direct_mcp = format!("{up}/mcp");
    let direct_h = session(&http, &direct_mcp).await?;
    let rest_h = session(&http, &rest_url).await?;
    let twin_url = format!("{rest_url}:test");
    let twin_h = session(&http, &twin_url).await?;
    let portal_h = session(&http, &portal_url).await?;
    let list_args = json!({"name": "list_all_bench_contacts", "arguments": {"limit": 10}});

    // (name, target, index of its baseline in this list)
    let scenarios: Vec<(&'static str, Target, Option<usize>)> = vec![
        (
            "direct REST GET /contacts",
            Target {
                url: format!("{up}/contacts"),
                headers: vec![],
                body: None,
                expect: "Ada",
            },
            None,
        ),
        (
            "direct MCP tools/list",
            rpc(&direct_mcp, &direct_h, "tools/list", json!({}), "lookup"),
            None,
        ),
        (
            "direct MCP tools/call",
            rpc(
                &direct_mcp,
                &direct_h,
                "tools/call",
                json!({"name": "lookup", "arguments": {"word": "x"}}),
                "a small word",
            ),
            None,
        ),
        (
            "gateway tools/list (REST server)",
            rpc(
                &rest_url,
                &rest_h,
                "tools/list",
                json!({}),
                "list_all_bench_contacts",
            ),
            Some(1),
        ),
        (
            "gateway tools/call (REST tool)",
            rpc(&rest_url, &rest_h, "tools/call", list_args.clone(), "Ada"),
            Some(0),
        ),
        (
            "gateway tools/call (portal → MCP)",
            rpc(
                &portal_url,
                &portal_h,
                "tools/call",
                json!({"name": "up_lookup", "arguments": {"word": "x"}}),
                "a small word",
            ),
            Some(2),
        ),
        (
            "twin :test tools/call (REST tool)",
            rpc(&twin_url, &twin_h, "tools/call", list_args, "simulated"),
            Some(0),
        ),
    ];

    let mut rows: Vec<Row> = Vec::new();
    let perf_dir = args.perf.then(tempfile::tempdir).transpose()?;
    let mut profiles = Vec::new();
    for &c in &args.concurrency {
        let first = rows.len();
        for (name, target, baseline) in &scenarios {
            let wanted = args.only.as_deref().is_none_or(|o| {
                name.contains(o)
                    || scenarios.iter().any(|(n, _, b)| {
                        n.contains(o) && b.is_some_and(|b| scenarios[b].0 == *name)
                    })
            });
            if !wanted {
                continue;
            }
            eprintln!("measuring {name} at concurrency {c}…");
            let recording = match (&perf_dir, baseline) {
                (Some(dir), Some(_)) => Some(profile::start(
                    gw.proc.0.id(),
                    dir.path(),
                    rows.len(),
                    Duration::from_secs(args.warmup + args.secs),
                )?),
                _ => None,
            };
            let m = load::run(
                &http,
                target,
                c,
                Duration::from_secs(args.warmup),
                Duration::from_secs(args.secs),
            )
            .await;
            // Baselines come first in the list, so their row is already there.
            let baseline = baseline.and_then(|b| {
                rows[first..]
                    .iter()
                    .position(|r| r.name == scenarios[b].0)
                    .map(|i| first + i)
            });
            if let Some(r) = recording {
                profiles.push((format!("{name}, concurrency {c}"), r.summary()?));
            }
            rows.push(Row {
                name,
                concurrency: c,
                m,
                baseline,
            });
        }
    }
    print_table(&rows, &args);
    if !profiles.is_empty() {
        println!("\nGateway profile per row (perf, 999 Hz, warm-up included):");
        for (row, summary) in &profiles {
            println!("\n- {row}\n{summary}");
        }
    }
    let rss = scale::rss_kib(gw.proc.0.id());
    println!(
        "\nGateway RSS after the run: {} MiB",
        rss.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
    );

    if !args.skip_scale {
        scale::run(&bin, &http, &base).await?;
    }
    Ok(())
}

fn print_table(rows: &[Row], args: &Args) {
    println!(
        "\n{} s per row after {} s warm-up; ratios against the direct baseline of the same concurrency, same run.\n",
        args.secs, args.warmup
    );
    println!(
        "| scenario | conc. | req/s | p50 µs | p99 µs | req/s vs direct | p50 added µs | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let (ratio, added) = match r.baseline.map(|b| &rows[b].m) {
            Some(b) => (
                format!("{:.0}% of {:.0}", 100.0 * r.m.rps / b.rps, b.rps),
                format!("{:+}", r.m.p50 as i64 - b.p50 as i64),
            ),
            None => ("(baseline)".to_owned(), "–".to_owned()),
        };
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} |",
            r.name, r.concurrency, r.m.rps, r.m.p50, r.m.p99, ratio, added, r.m.errors
        );
    }
}
