//! The examples in `examples/` run end to end with the binary under test,
//! and the committed client config files are what `generate.sh` writes.

mod common;

use common::{binary, python};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run an example script with this build of mcpgate; returns its output.
async fn run_example(script: &str, envs: Vec<(&'static str, PathBuf)>) -> String {
    let path = root().join(script);
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("bash");
        cmd.arg(&path).env("MCPGATE_BIN", binary());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.env_remove("MCPGATE_ADMIN_TOKEN").output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test]
async fn the_rest_integration_example_runs() {
    let out = run_example("examples/rest-integration/run.sh", vec![]).await;
    assert!(out.contains("rest-integration example: OK"), "{out}");
    assert!(
        out.contains("Katherine Johnson"),
        "the second page came back: {out}"
    );
    assert!(
        out.contains("authorization='Bearer demo-crm-token'"),
        "the CRM saw the account's credential: {out}"
    );
}

#[tokio::test]
async fn the_portal_example_runs() {
    if !python::available() {
        return;
    }
    let out = run_example(
        "examples/portal/run.sh",
        vec![("PYTHON", python::python().unwrap())],
    )
    .await;
    assert!(out.contains("portal example: OK"), "{out}");
    assert!(out.contains("Lisbon: 18°C"), "{out}");
}

#[tokio::test]
async fn the_committed_client_configs_are_what_generate_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_owned();
    let script = root().join("examples/clients/generate.sh");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(script)
            .arg("http://127.0.0.1:8080/mcp")
            .arg("<token printed by mcpgate server create>")
            .arg(&out_dir)
            .env("MCPGATE_BIN", binary())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = root().join("examples/clients");
    let mut compared = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let generated = entry.unwrap().path();
        let name = generated.file_name().unwrap();
        let kept = std::fs::read_to_string(Path::new(&committed).join(name))
            .unwrap_or_else(|_| panic!("{name:?} is not committed in examples/clients"));
        assert_eq!(
            kept,
            std::fs::read_to_string(&generated).unwrap(),
            "{name:?} differs from what generate.sh writes; rerun it"
        );
        compared += 1;
    }
    assert_eq!(compared, 5, "one file per client");
}
