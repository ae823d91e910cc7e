//! Stores for unit tests, on every backend that is there.

use crate::{MasterKey, NewServer, ServerSource, Store};
use mcpgate_catalog::Integration;

/// The PostgreSQL server store tests use: `MCPGATE_TEST_POSTGRES`, else
/// the local one. `None` (with a printed reason) when it cannot be
/// reached on a developer's machine; under `CI=true` that is a failure.
pub(crate) async fn postgres() -> Option<String> {
    let base = std::env::var("MCPGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match crate::scratch::scratch_schema(&base).await {
        Ok(url) => Some(url),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL at {base} is required in CI: {e}")
        }
        Err(e) => {
            eprintln!("skipping the PostgreSQL half of this test: {base}: {e}");
            None
        }
    }
}

/// A store on each backend: in-memory SQLite, and PostgreSQL in a
/// schema of its own when the server is there.
pub(crate) async fn stores() -> Vec<Store> {
    let mut stores = vec![Store::open_in_memory().await.unwrap()];
    if let Some(url) = postgres().await {
        stores.push(Store::connect(&url, MasterKey::generate().0).await.unwrap());
    }
    stores
}

/// Stores that several connections write at once: a SQLite file (the
/// in-memory store has one connection, so it never contends) and
/// PostgreSQL when it is there. Keep the directory while the stores live.
pub(crate) async fn shared_stores() -> (Vec<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut stores = vec![
        Store::open(&dir.path().join("shared.db"), MasterKey::generate().0)
            .await
            .unwrap(),
    ];
    if let Some(url) = postgres().await {
        stores.push(Store::connect(&url, MasterKey::generate().0).await.unwrap());
    }
    (stores, dir)
}

/// An upstream record of tenant `acme` with id `id`, never synced.
pub(crate) fn upstream(id: &str) -> crate::UpstreamRecord {
    crate::UpstreamRecord {
        tenant: "acme".into(),
        id: id.into(),
        name: id.to_uppercase(),
        hostname: format!("https://{id}.example.com/mcp"),
        url_provenance: mcpgate_catalog::UrlProvenance::Operator,
        auth_type: "bearer".into(),
        timeout_secs: Some(30),
        description: None,
        status: "waiting".into(),
        error: None,
        snapshot: None,
        accepted: Default::default(),
        changes: Vec::new(),
        last_synced: None,
        last_successful_sync: None,
        created_at: 1,
        created_by: None,
        modified_at: 1,
        modified_by: None,
        config_version: 0,
        warnings: Vec::new(),
    }
}

pub(crate) fn demo(name: &str) -> NewServer {
    NewServer::new("default", name, ServerSource::Toolset("demo".into()))
}

pub(crate) fn crm() -> Integration {
    Integration::from_yaml(
        "name: crm\nbase_url: https://crm.example.com\nresources:\n  - name: contacts\n    methods:\n      - { kind: list, method: GET, path: /contacts }\n",
    )
    .unwrap()
}
