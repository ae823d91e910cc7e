//! Harness for end-to-end tests: starts the real `mcpgate` binary on a free
//! loopback port with its own data directory, and speaks HTTP to it.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod cloudflare;
pub mod hostile;
pub mod python;
pub mod raw_mcp;
pub mod typescript;
pub mod upstream;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Toolset used by the tests: three tools so pagination (page size 2) shows.
const TEST_TOOLSET: &str = r#"
name: demo
tools:
  - name: echo
    description: Echo a message
    handler: echo
    inputSchema:
      type: object
      properties: { message: { type: string, x-mcp-header: Message } }
      required: [message]
  - name: sleep
    description: Wait a while
    handler: sleep
    inputSchema:
      type: object
      properties: { ms: { type: integer } }
      required: [ms]
  - name: time
    description: Current time
    handler: time
"#;

/// A running gateway process.
pub struct Gateway {
    child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    stderr_path: PathBuf,
}

/// How to start a gateway.
pub struct Start {
    /// Extra TOML appended to the test config.
    pub extra_config: String,
    /// Set MCPGATE_ADMIN_TOKEN.
    pub admin_token: bool,
    /// Reuse this data directory (restart tests).
    pub dir: Option<tempfile::TempDir>,
    /// Serve this data directory instead of the one in `dir` (a second
    /// replica over the same store).
    pub data_dir: Option<PathBuf>,
    /// Use this database (`--store`) instead of the data directory's SQLite
    /// file, with the credentials key and session secret every replica of a
    /// test shares (as replicas on several hosts must).
    pub store_url: Option<String>,
    /// Set `egress.private_networks` (`"everyone"`, `"nobody"`); `None`
    /// keeps the default, under which the super-admin token's loopback
    /// upstreams are reached and a tenant admin's are refused.
    pub private_networks: Option<&'static str>,
}

impl Start {
    /// The default start, serving the repository's bundled integrations.
    pub fn with_bundled_integrations() -> Self {
        Self {
            extra_config: format!(
                "integrations_dir = \"{}/config/integrations\"",
                env!("CARGO_MANIFEST_DIR")
            ),
            ..Self::default()
        }
    }
}

impl Default for Start {
    fn default() -> Self {
        Self {
            extra_config: String::new(),
            admin_token: true,
            dir: None,
            data_dir: None,
            store_url: None,
            private_networks: None,
        }
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mcpgate")
}

impl Gateway {
    pub async fn start() -> Self {
        Self::start_with(Start::default()).await
    }

    pub async fn start_with(opts: Start) -> Self {
        let dir = opts.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let toolset = dir.path().join("demo.yaml");
        std::fs::write(&toolset, TEST_TOOLSET).unwrap();
        let config = dir.path().join("mcpgate.toml");
        std::fs::write(
            &config,
            format!(
                // Dotted keys, so an extra config may add `mcp.*` keys too.
                "toolsets = [\"demo.yaml\"]\nmcp.page_size = 2\nmcp.usage_flush_secs = 1\n{}{}\n",
                opts.private_networks
                    .map(|p| format!("egress.private_networks = \"{p}\"\n"))
                    .unwrap_or_default(),
                opts.extra_config
            ),
        )
        .unwrap();
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(opts.data_dir.unwrap_or_else(|| dir.path().join("data")))
            .env("RUST_LOG", "debug")
            .env_remove("MCPGATE_ADMIN_TOKEN")
            .env_remove("MCPGATE_SESSION_SECRET")
            .stdout(Stdio::piped())
            .stderr(stderr);
        if opts.admin_token {
            cmd.env("MCPGATE_ADMIN_TOKEN", ADMIN_TOKEN);
        }
        if let Some(url) = &opts.store_url {
            cmd.arg("--store")
                .arg(url)
                .env("MCPGATE_SECRET_KEY", SHARED_SECRET_KEY)
                .env("MCPGATE_SESSION_SECRET", SHARED_SESSION_SECRET);
        }
        let mut child = cmd.spawn().expect("start mcpgate");
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in reader.lines() {});
            line
        });
        let line = tokio::time::timeout(Duration::from_secs(30), line)
            .await
            .expect("gateway did not start within 30 s")
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("mcpgate listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; stderr: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            })
            .to_owned();
        Self {
            child,
            base,
            dir,
            http: reqwest::Client::new(),
            stderr_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Stop the process and hand back its directory (for restart tests).
    pub fn stop(mut self) -> tempfile::TempDir {
        self.child.kill().ok();
        self.child.wait().ok();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// Send a signal and wait for the exit status.
    pub fn signal_and_wait(&mut self, signal: &str) -> std::process::ExitStatus {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An admin request with another admin token; also returns the content type.
    pub async fn admin_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        (
            status,
            ct,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// A new tenant-scoped admin token for `tenant` (minted by the super-admin).
    pub async fn tenant_admin(&self, tenant: &str) -> String {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/admin-token",
                Some(json!({ "tenant": tenant })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Create a server and return (id, token).
    pub async fn create_server(&self, name: &str) -> (String, String) {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/server",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// The `/metrics` page.
    pub async fn metrics(&self) -> String {
        let r = self.http.get(self.url("/metrics")).send().await.unwrap();
        r.text().await.unwrap()
    }

    /// How many MCP requests of `method` this gateway has counted (its
    /// `/metrics`), whatever their status.
    pub async fn served(&self, method: &str) -> u64 {
        let text = self.metrics().await;
        let label = format!("method=\"{method}\"");
        text.lines()
            .filter(|l| l.starts_with("mcpgate_requests_total{") && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    pub fn mcp(&self, token: &str) -> Mcp {
        Mcp {
            http: self.http.clone(),
            url: self.url(&format!("/mcp/{token}")),
            session: None,
            version_header: None,
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A raw HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    /// The JSON body; for an SSE answer, the last message (the response).
    pub fn json(&self) -> Value {
        let is_sse = self
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        let text = if is_sse {
            self.text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .rfind(|d| !d.is_empty())
                .unwrap_or_else(|| panic!("no SSE data in {:?}", self.text))
        } else {
            &self.text
        };
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON-RPC error code of the body.
    pub fn error_code(&self) -> i64 {
        self.json()["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no JSON-RPC error in {:?}", self.text))
    }
}

/// A minimal MCP client over the raw HTTP endpoint, so tests control every header.
pub struct Mcp {
    pub http: reqwest::Client,
    pub url: String,
    pub session: Option<String>,
    pub version_header: Option<String>,
}

impl Mcp {
    /// The same session, addressed to another replica.
    pub fn clone_to(&self, other: &Gateway) -> Mcp {
        let path = self.url.find("/mcp").map_or("", |i| &self.url[i..]);
        Mcp {
            http: self.http.clone(),
            url: other.url(path),
            session: self.session.clone(),
            version_header: self.version_header.clone(),
        }
    }

    /// The same endpoint on `other`, as a 2026-07-28 client sees it: no
    /// session, no negotiated version header.
    pub fn stateless_to(&self, other: &Gateway) -> Mcp {
        Mcp {
            session: None,
            version_header: None,
            ..self.clone_to(other)
        }
    }

    /// DELETE the session; returns the status.
    pub async fn delete_session(&self) -> u16 {
        let mut req = self.http.delete(&self.url);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        req.send().await.unwrap().status().as_u16()
    }

    pub async fn post_raw(&self, body: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        if let Some(v) = &self.version_header {
            req = req.header("mcp-protocol-version", v);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.body(body.to_owned()).send().await.unwrap();
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    pub async fn post(&self, body: Value) -> Reply {
        self.post_raw(&body.to_string(), &[]).await
    }

    /// initialize + notifications/initialized; keeps the session and
    /// sends the negotiated version header afterwards.
    pub async fn initialize(&mut self, version: &str) -> Value {
        let reply = self
            .post(
                json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion": version, "capabilities": {},
                "clientInfo": {"name": "e2e", "version": "1"}}}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        self.session = Some(
            reply
                .header("mcp-session-id")
                .expect("initialize issues a session")
                .to_owned(),
        );
        let result = reply.json()["result"].clone();
        self.version_header = Some(result["protocolVersion"].as_str().unwrap().to_owned());
        let ack = self
            .post(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        assert_eq!(ack.status, 202, "{}", ack.text);
        result
    }

    pub async fn request(&self, id: i64, method: &str, params: Value) -> Reply {
        self.post(json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}))
            .await
    }

    /// The tool names once `name` is among them (polled for up to 5 s,
    /// for changes that arrive asynchronously).
    pub async fn tool_names_with(&self, name: &str) -> Vec<String> {
        let mut names = Vec::new();
        // Gently: the key's rate limit (20/s) must hold for the test's calls.
        for _ in 0..25 {
            // A list that changes between two pages makes the cursor stale
            // (-32602): the walk starts again on the next poll.
            if let Some(walked) = self.walk_tool_names().await {
                names = walked;
                if names.iter().any(|n| n == name) {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        names
    }

    /// Every tool name, or `None` when a page's cursor was refused as
    /// stale because the list changed during the walk.
    async fn walk_tool_names(&self) -> Option<Vec<String>> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = cursor
                .as_ref()
                .map_or(json!({}), |c| json!({ "cursor": c }));
            let reply = self.request(1, "tools/list", params).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            let v = reply.json();
            if cursor.is_some() && v["error"]["code"] == -32602 {
                return None;
            }
            assert!(v.get("error").is_none(), "{v}");
            let page = &v["result"];
            for t in page["tools"].as_array().unwrap() {
                names.push(t["name"].as_str().unwrap().to_owned());
            }
            match page["nextCursor"].as_str() {
                Some(n) => cursor = Some(n.to_owned()),
                None => return Some(names),
            }
        }
    }

    /// Every tool name, walking all `tools/list` pages.
    pub async fn tool_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = cursor
                .as_ref()
                .map_or(json!({}), |c| json!({ "cursor": c }));
            let page = self.call("tools/list", params).await;
            for t in page["tools"].as_array().unwrap() {
                names.push(t["name"].as_str().unwrap().to_owned());
            }
            match page["nextCursor"].as_str() {
                Some(n) => cursor = Some(n.to_owned()),
                None => return names,
            }
        }
    }

    /// A `tools/call` as an owned future, to run on its own task (for
    /// concurrency tests). Errors (e.g. a client timeout) panic the task.
    pub fn call_detached(
        &self,
        name: &str,
        args: Value,
    ) -> impl std::future::Future<Output = Reply> + Send + 'static {
        let http = self.http.clone();
        let url = self.url.clone();
        let session = self.session.clone().expect("initialize first");
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name,"arguments":args}}).to_string();
        async move {
            let resp = http
                .post(url)
                .header("content-type", "application/json")
                .header("mcp-session-id", session)
                .body(body)
                .send()
                .await
                .unwrap();
            Reply {
                status: resp.status().as_u16(),
                headers: resp.headers().clone(),
                text: resp.text().await.unwrap(),
            }
        }
    }

    /// A request that must succeed; returns its result.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        let reply = self.request(1, method, params).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let v = reply.json();
        assert!(v.get("error").is_none(), "{v}");
        v["result"].clone()
    }
}

/// The Redis every test shares, when it answers. In CI it must: a test that
/// needs it fails there; elsewhere it prints why it is skipped.
pub fn redis_url() -> Option<&'static str> {
    const URL: &str = "redis://127.0.0.1:6379";
    if std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().unwrap(),
        Duration::from_secs(1),
    )
    .is_ok()
    {
        return Some(URL);
    }
    assert!(
        std::env::var("CI").is_err(),
        "Redis is not reachable at 127.0.0.1:6379; CI must provide it"
    );
    eprintln!("SKIPPED: Redis is not reachable at 127.0.0.1:6379");
    None
}

/// The credentials key of replicas sharing a database (tests only).
pub const SHARED_SECRET_KEY: &str =
    "8f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";
/// The session secret of replicas sharing a database (tests only).
pub const SHARED_SESSION_SECRET: &str =
    "0a1b2c3d4e5f60718293a4b5c6d7e8f98f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f";

/// A database of its own (a fresh schema) on the PostgreSQL every test
/// shares, when it answers. In CI it must: a test that needs it fails
/// there; elsewhere it prints why it is skipped.
pub async fn postgres_url() -> Option<String> {
    let base = std::env::var("MCPGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match mcpgate_store::scratch::scratch_schema(&base).await {
        Ok(url) => Some(url),
        Err(e) => {
            assert!(
                std::env::var("CI").is_err(),
                "PostgreSQL is not reachable at {base} ({e}); CI must provide it"
            );
            eprintln!("SKIPPED: PostgreSQL is not reachable at {base}: {e}");
            None
        }
    }
}

/// Write a file (helper for tests that build their own configs).
pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Run the `mcpgate` CLI off the async runtime; `envs` are set, and
/// `MCPGATE_ADMIN_TOKEN` is cleared unless given.
pub async fn cli(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(binary());
        cmd.args(&args).env_remove("MCPGATE_ADMIN_TOKEN");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

/// The value after `label` on the first line of `text` that starts with it.
pub fn labelled(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in {text:?}"))
        .trim()
        .to_owned()
}

/// A TCP relay to a service that a test can cut and restore, to play a
/// network failure between the gateway and its database.
pub struct Link {
    port: u16,
    target: std::net::SocketAddr,
    relay: Option<tokio::task::JoinHandle<()>>,
}

impl Link {
    pub async fn open(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut link = Self {
            port: listener.local_addr().unwrap().port(),
            target: target.parse().unwrap(),
            relay: None,
        };
        link.relay = Some(Self::relay(listener, link.target));
        link
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn relay(
        listener: tokio::net::TcpListener,
        target: std::net::SocketAddr,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // Dropped with this task: every relayed connection goes too.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        })
    }

    /// Close the port and every connection through it.
    pub async fn cut(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.abort();
            let _ = relay.await;
        }
    }

    /// Listen on the same port again.
    pub async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.relay = Some(Self::relay(listener, self.target));
    }
}

/// `/readyz` of the gateway at `base` once it answers 200 (within 10 s),
/// else `None`.
pub async fn ready_at(http: &reqwest::Client, base: &str) -> Option<serde_json::Value> {
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return r.json().await.ok();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The next SSE message of `resp` (`buffer` holds what was read past it),
/// or `None` when none comes within `secs` or the stream ends.
pub async fn next_message(
    resp: &mut reqwest::Response,
    buffer: &mut String,
    secs: u64,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if !data.is_empty() {
                return Some(serde_json::from_str(&data).unwrap());
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await.ok()?;
        buffer.push_str(std::str::from_utf8(&chunk.ok()??).unwrap());
    }
}
