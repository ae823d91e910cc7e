//! A real upstream MCP server built with the official TypeScript SDK
//! (`tests/ts-upstream`, pinned with the Node 22 it runs on).

use super::python::{Fixture, free_port, launch};
use std::path::PathBuf;
use std::process::Command;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ts-upstream")
}

/// Whether the TypeScript upstream can run (`scripts/test.sh` installs it
/// with `npm ci`); in CI it must.
pub fn available() -> bool {
    let d = dir();
    if d.join("node_modules/node/bin/node").exists()
        && d.join("node_modules/@modelcontextprotocol/sdk").exists()
    {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "tests/ts-upstream/node_modules is missing in CI: scripts/test.sh installs it"
    );
    eprintln!(
        "SKIPPED: tests/ts-upstream/node_modules is missing (run scripts/test.sh once, or `npm ci` in tests/ts-upstream)"
    );
    false
}

/// Start `server.mjs` on a free port.
pub fn start() -> Fixture {
    start_on(free_port())
}

/// Start `server.mjs` on `port` (a restarted upstream keeps its URL).
pub fn start_on(port: u16) -> Fixture {
    let d = dir();
    let mut command = Command::new(d.join("node_modules/node/bin/node"));
    command.arg(d.join("server.mjs")).arg(port.to_string());
    launch(command, "ts-upstream", port)
}
