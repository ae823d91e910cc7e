//! End-to-end in a real browser: headless Chromium loads a page served on
//! loopback from another origin, whose script connects to the gateway's MCP
//! endpoint with `fetch` — the CORS protocol as browsers enforce it
//! (preflights, exposed headers), which no HTTP client in a test does.
//!
//! Needs Debian's `chromium` (`/usr/bin/chromium`, or `MCPGATE_CHROMIUM`):
//! skipped with a reason when it is missing, a failure in CI.

mod common;

use axum::extract::State;
use axum::routing::{get, post};
use common::{Gateway, Start};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The browser, when installed; in CI it must be.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("MCPGATE_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "{} is missing in CI: install Debian's chromium package (scripts/test.sh does)",
        path.display()
    );
    eprintln!(
        "SKIPPED: {} is missing (apt-get install chromium)",
        path.display()
    );
    None
}

/// The page's script: the 2025 handshake (reading the session id from the
/// exposed header), `tools/list` on the session, then a 2026-07-28
/// `tools/list` with a bearer token on `/mcp`; what it saw goes back to the
/// page's own origin as `/report`.
const PAGE: &str = r#"<!doctype html><title>mcp</title><pre id="out">running</pre><script>
const gateway = "GATEWAY", token = "TOKEN";
async function run() {
  const out = {};
  try {
    const base = {"content-type": "application/json", "accept": "application/json, text/event-stream"};
    let r = await fetch(gateway + "/mcp/" + token, {method: "POST", headers: base, body: JSON.stringify(
      {jsonrpc: "2.0", id: 1, method: "initialize", params: {protocolVersion: "2025-11-25",
        capabilities: {}, clientInfo: {name: "browser", version: "1"}}})});
    out.initialize = r.status;
    const session = r.headers.get("mcp-session-id");
    out.session = session !== null;
    out.version = (await r.json()).result.protocolVersion;
    const h = {...base, "mcp-session-id": session, "mcp-protocol-version": out.version};
    r = await fetch(gateway + "/mcp/" + token, {method: "POST", headers: h,
      body: JSON.stringify({jsonrpc: "2.0", method: "notifications/initialized"})});
    out.initialized = r.status;
    r = await fetch(gateway + "/mcp/" + token, {method: "POST", headers: h,
      body: JSON.stringify({jsonrpc: "2.0", id: 2, method: "tools/list"})});
    out.list = r.status;
    out.tools = (await r.json()).result.tools.map(t => t.name);
    r = await fetch(gateway + "/mcp", {method: "POST", headers: {...base,
      "authorization": "Bearer " + token, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"},
      body: JSON.stringify({jsonrpc: "2.0", id: 3, method: "tools/list", params: {_meta: {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}})});
    out.stateless = r.status;
    out.resultType = (await r.json()).result.resultType;
  } catch (e) {
    out.error = String(e);
  }
  document.getElementById("out").textContent = JSON.stringify(out);
  await fetch("/report", {method: "POST", body: JSON.stringify(out)});
}
run();
</script>"#;

/// A browser process (and its helpers, in its own process group).
struct Browser(Child);

impl Browser {
    fn open(chromium: &PathBuf, url: &str, profile: &std::path::Path) -> Self {
        use std::os::unix::process::CommandExt;
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        Self(child)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group this test started: the browser and its renderers.
        let _ = Command::new("kill")
            .arg("--")
            .arg(format!("-{}", self.0.id()))
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the page at `page_url` reported, within 30 s.
async fn visit(chromium: &PathBuf, page_url: &str, reports: &mut mpsc::Receiver<Value>) -> Value {
    let profile = tempfile::tempdir().unwrap();
    let _browser = Browser::open(chromium, page_url, profile.path());
    tokio::time::timeout(Duration::from_secs(30), reports.recv())
        .await
        .unwrap_or_else(|_| panic!("{page_url} reported nothing within 30 s"))
        .expect("the page server runs")
}

/// Issue 17 §9: a page on an allowed origin connects (preflights pass, the
/// session id is readable); the same page on a refused origin cannot.
#[tokio::test]
async fn a_browser_page_on_an_allowed_origin_connects_with_fetch() {
    let Some(chromium) = chromium() else {
        return;
    };
    // The page server first: its origin goes into the gateway's settings.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let allowed = format!("http://localhost:{port}");
    let gw = Gateway::start_with(Start {
        extra_config: format!(
            "[http]\nallowed_origins = [\"{allowed}\"]\nallow_loopback_origins = false\n"
        ),
        ..Start::default()
    })
    .await;
    let (_, token) = gw.create_server("demo").await;
    let page = Arc::new(PAGE.replace("GATEWAY", &gw.base).replace("TOKEN", &token));
    let (tx, mut reports) = mpsc::channel::<Value>(4);
    let app = axum::Router::new()
        .route("/", get(|State((page, _)): State<(Arc<String>, mpsc::Sender<Value>)>| async move {
            axum::response::Html(page.to_string())
        }))
        .route(
            "/report",
            post(
                |State((_, tx)): State<(Arc<String>, mpsc::Sender<Value>)>, body: String| async move {
                    let _ = tx.send(serde_json::from_str(&body).unwrap_or(Value::Null)).await;
                },
            ),
        )
        .with_state((page, tx));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let seen = visit(&chromium, &format!("{allowed}/"), &mut reports).await;
    assert!(seen.get("error").is_none(), "{seen}");
    assert_eq!(seen["initialize"], 200, "{seen}");
    assert_eq!(seen["session"], true, "Mcp-Session-Id is exposed: {seen}");
    assert_eq!(seen["initialized"], 202, "{seen}");
    assert_eq!(seen["list"], 200, "{seen}");
    assert!(!seen["tools"].as_array().unwrap().is_empty(), "{seen}");
    assert_eq!(seen["stateless"], 200, "{seen}");
    assert_eq!(seen["resultType"], "complete", "{seen}");

    // The same server under another name is another origin, not allowed.
    let refused = visit(
        &chromium,
        &format!("http://127.0.0.1:{port}/"),
        &mut reports,
    )
    .await;
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("Failed to fetch")),
        "the browser refuses: {refused}"
    );
    server.abort();
}
