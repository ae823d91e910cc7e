//! Real upstream MCP servers from the official Python SDK (`tests/py`).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running fixture server; killed on drop.
pub struct Fixture {
    child: Child,
    pub port: u16,
    pub url: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The venv's interpreter, when `scripts/test.sh` has made it.
pub fn python() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/.venv/bin/python");
    p.exists().then_some(p)
}

/// Whether the Python fixtures can run; in CI they must.
pub fn available() -> bool {
    if python().is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "tests/py/.venv is missing in CI: scripts/test.sh creates it"
    );
    eprintln!("SKIPPED: tests/py/.venv is missing (run scripts/test.sh once to create it)");
    false
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start `fixture_server.py` as `name` (variant `base` or `changed`) on `port`.
pub fn start(name: &str, variant: &str, port: u16) -> Fixture {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/fixture_server.py");
    let header_log = header_log(port);
    let _ = std::fs::remove_file(&header_log);
    let mut command = Command::new(python().expect("checked by available()"));
    command
        .arg(script)
        .arg(port.to_string())
        .arg(name)
        .arg(variant)
        .env("FIXTURE_HEADER_LOG", &header_log);
    launch(command, name, port)
}

/// Start `modern/upstream_server.py` (the 2.x SDK's server, refusing the
/// 2025 handshake: a 2026-07-28-only upstream) as `name` on `port`.
pub fn start_stateless(name: &str, port: u16) -> Fixture {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/modern/upstream_server.py");
    let mut command = Command::new(modern_python().expect("checked by the caller"));
    command.arg(script).arg(port.to_string()).arg(name);
    launch(command, name, port)
}

/// Run a fixture server and wait until it listens.
pub fn launch(mut command: Command, name: &str, port: u16) -> Fixture {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the Python fixture");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "fixture {name} did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Fixture {
        child,
        port,
        url: format!("http://127.0.0.1:{port}/mcp"),
    }
}

/// Where the fixture on `port` notes the `Mcp-Param-*` headers it receives.
fn header_log(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("mcpgate-fixture-{port}.headers"))
}

impl Fixture {
    /// The `Mcp-Param-*` headers this fixture has received, one
    /// `name: value` per line.
    pub fn param_headers_seen(&self) -> String {
        std::fs::read_to_string(header_log(self.port)).unwrap_or_default()
    }
}

/// How many `wait` calls the fixture behind `portal` saw cancelled (its
/// tool `<prefix>_cancellations`), once it is `want` or after 4 s.
pub async fn cancellations(portal: &super::Mcp, prefix: &str, want: i64) -> i64 {
    let tool = format!("{prefix}_cancellations");
    let mut count = 0;
    for _ in 0..40 {
        let n = portal
            .call(
                "tools/call",
                serde_json::json!({"name": tool, "arguments": {}}),
            )
            .await;
        count = n["structuredContent"]["result"].as_i64().unwrap_or(0);
        if count == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    count
}

/// The interpreter of the venv with the SDK's 2.x (dual-era) client, when
/// `scripts/test.sh` has made it; in CI it must have.
pub fn modern_python() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/modern/.venv/bin/python");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").is_err(),
        "tests/py/modern/.venv is missing in CI: scripts/test.sh creates it"
    );
    eprintln!("SKIPPED: tests/py/modern/.venv is missing (run scripts/test.sh once to create it)");
    None
}
