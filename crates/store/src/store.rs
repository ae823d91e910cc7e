//! The store: one set of queries over SQLite (the embedded default) or
//! PostgreSQL (many replicas), through sqlx's `Any` driver.
//!
//! Queries are written once, in the SQL both databases accept: `$n`
//! placeholders, `CASE` where SQLite's two-argument `MIN`/`MAX` would not
//! port, integers for flags and millisecond timestamps. The migrations of
//! each backend build the same tables (crates/store/migrations).

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Row};
use std::path::Path;
use std::sync::Arc;

use crate::backend::{Backend, redact, sqlite_url};
use crate::changes::ChangeListener;
use crate::lease::Leases;
use crate::secrets::MasterKey;
use crate::{StoreError, migrate};

/// Connections a replica keeps to PostgreSQL (besides one for LISTEN and one
/// per job lease): admin writes and reloads are all that use the store, the
/// request path never does.
const POSTGRES_CONNECTIONS: u32 = 8;

/// The store. Cheap to clone (a pool handle and the master key).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    key: MasterKey,
    backend: Backend,
    url: Arc<str>,
    leases: Arc<Leases>,
    /// This process's writers queue here on SQLite (see `write.rs`).
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &redact(&self.url))
            .finish_non_exhaustive()
    }
}

/// Make the database file and its WAL companions readable by their owner
/// only (0600), like the key files: they hold key hashes, sealed
/// credentials and upstream records. SQLite creates `-wal` and `-shm` with
/// the database file's mode, so the file is created 0600 before SQLite
/// opens it; files an older version made are tightened.
fn private_files(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let failed = |e: std::io::Error| StoreError::Config(format!("{}: {e}", path.display()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(e)),
        }
        let mut files = vec![path.to_owned()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            files.push(name.into());
        }
        for file in files {
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.is_file()
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(failed)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The setting that holds a value sealed with the master key the store was
/// first opened with, so that a replica started with another key is refused
/// at startup instead of failing (or sealing unreadable credentials) later.
const KEY_CHECK: &str = "credentials_key_check";

impl Store {
    /// Open (creating and migrating if needed) the SQLite file at `path`;
    /// `key` seals and opens credentials.
    pub async fn open(path: &Path, key: MasterKey) -> Result<Self, StoreError> {
        private_files(path)?;
        // WAL is a property of the file, set once here with the native
        // driver; the pool below then opens the file by URL.
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .connect()
            .await?
            .close()
            .await?;
        let url = sqlite_url(path)?;
        let pool = AnyPoolOptions::new().max_connections(4);
        Self::start(pool, &url, Backend::Sqlite, key).await
    }

    /// Connect to the database `url` names (`postgres://…` or
    /// `sqlite://…`), migrating it if needed.
    pub async fn connect(url: &str, key: MasterKey) -> Result<Self, StoreError> {
        match Backend::of(url)? {
            Backend::Sqlite => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                Self::open(Path::new(path), key).await
            }
            Backend::Postgres => {
                // One plain connection first: the pool would retry a refused
                // connection until its acquire timeout; a gateway that cannot
                // reach its database should say why at once (an orchestrator
                // restarts it).
                sqlx::any::install_default_drivers();
                AnyConnection::connect(url).await?.close().await?;
                // While the database is unreachable an admin write waits
                // this long for a connection, then fails as unavailable
                // (503), rather than the pool's default 30 s.
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(std::time::Duration::from_secs(5));
                Self::start(pool, url, Backend::Postgres, key).await
            }
        }
    }

    /// A private in-memory SQLite database with a random master key, for tests.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        // An in-memory database lives as long as its one connection.
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        Self::start(
            pool,
            "sqlite::memory:",
            Backend::Sqlite,
            MasterKey::generate().0,
        )
        .await
    }

    async fn start(
        options: AnyPoolOptions,
        url: &str,
        backend: Backend,
        key: MasterKey,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let pool = options.connect(url).await?;
        migrate::migrator(backend).await?.run(&pool).await?;
        let leases = match backend {
            Backend::Sqlite => Leases::Table,
            Backend::Postgres => Leases::Advisory {
                url: url.to_owned(),
                connections: Default::default(),
            },
        };
        let store = Self {
            pool,
            key,
            backend,
            url: url.into(),
            leases: Arc::new(leases),
            gate: Arc::default(),
        };
        store.check_key().await?;
        Ok(store)
    }

    async fn check_key(&self) -> Result<(), StoreError> {
        let sealed = self
            .init_setting(KEY_CHECK, &self.seal(KEY_CHECK, KEY_CHECK))
            .await?;
        match self.open_sealed(KEY_CHECK, &sealed) {
            Some(plain) if plain == KEY_CHECK => Ok(()),
            _ => Err(StoreError::WrongKey),
        }
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the store is, with any password hidden (for logs).
    pub fn location(&self) -> String {
        redact(&self.url)
    }

    /// A connection that hears about every change another replica (or this
    /// one) makes, on backends that can tell (PostgreSQL); `None` on SQLite,
    /// where [`revision`](Self::revision) must be polled.
    pub async fn listen(&self) -> Result<Option<ChangeListener>, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(None),
            Backend::Postgres => ChangeListener::connect(&self.url).await.map(Some),
        }
    }

    /// A number that changes whenever something the gateway serves from
    /// changes (servers, keys, integrations, accounts, upstreams, portals,
    /// admin tokens), by this process or any other sharing the database.
    /// Ending a session does not move it (see [`change_marks`](Self::change_marks)).
    /// Cheap: one row.
    pub async fn revision(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT n FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Take, or keep, the lease on a periodic `job` for `holder`. True when
    /// `holder` holds it afterwards. On SQLite the lease is a row that lapses
    /// `ttl` after the holder's last call; on PostgreSQL it is an advisory
    /// lock that lasts while this process stays connected (`ttl` unused).
    pub async fn hold_lease(
        &self,
        job: &str,
        holder: &str,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        self.leases.hold(&self.pool, job, holder, ttl).await
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn write_gate(&self) -> &Arc<tokio::sync::Mutex<()>> {
        &self.gate
    }

    /// The key that seals credentials (account rows seal JSON bytes).
    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.key
    }

    pub(crate) fn seal(&self, row: &str, plaintext: &str) -> String {
        self.key.seal(row, plaintext.as_bytes())
    }

    pub(crate) fn open_sealed(&self, row: &str, sealed: &str) -> Option<String> {
        self.key
            .open(row, sealed)
            .and_then(|b| String::from_utf8(b).ok())
    }

    /// Whether the database answers (for readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Each served table's change counter (migration 0011): a table whose
    /// head has not moved since the last read has not been written.
    pub async fn heads(&self) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let rows = sqlx::query("SELECT name, n FROM heads")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_stores::{crm, stores};
    use crate::test_stores::{demo, postgres};
    use crate::time::now;
    use crate::{NewAccount, NewServer, ServerSource};
    use mcpgate_catalog::{Credentials, UrlProvenance};
    use sqlx::AssertSqlSafe;

    #[tokio::test]
    async fn a_postgres_job_lease_is_held_while_its_holder_is_connected() {
        let Some(url) = postgres().await else { return };
        let key = MasterKey::generate().0;
        let a = Store::connect(&url, key.clone()).await.unwrap();
        let b = Store::connect(&url, key.clone()).await.unwrap();
        let ttl = time::Duration::seconds(1);
        assert!(a.hold_lease("resync", "a", ttl).await.unwrap());
        assert!(!b.hold_lease("resync", "b", ttl).await.unwrap());
        assert!(a.hold_lease("resync", "a", ttl).await.unwrap(), "kept");
        assert!(b.hold_lease("other", "b", ttl).await.unwrap(), "per job");
        // Another schema is another deployment: its jobs do not contend.
        let elsewhere = postgres().await.unwrap();
        let c = Store::connect(&elsewhere, key).await.unwrap();
        assert!(c.hold_lease("resync", "c", ttl).await.unwrap());
        // The holder goes away (as a crashed replica's connection does):
        // the lock is free as soon as the server notices.
        drop(a);
        let started = std::time::Instant::now();
        while !b.hold_lease("resync", "b", ttl).await.unwrap() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "the lease was not released"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn postgres_tells_listeners_of_changes_by_other_stores() {
        let Some(url) = postgres().await else { return };
        let key = MasterKey::generate().0;
        let writer = Store::connect(&url, key.clone()).await.unwrap();
        let reader = Store::connect(&url, key).await.unwrap();
        let mut listener = reader.listen().await.unwrap().expect("postgres listens");
        let before = reader.revision().await.unwrap();
        writer.create_server(demo("x")).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), listener.changed())
            .await
            .expect("a notification within 5 s")
            .unwrap();
        assert!(reader.revision().await.unwrap() > before);
        assert!(
            Store::open_in_memory()
                .await
                .unwrap()
                .listen()
                .await
                .unwrap()
                .is_none(),
            "SQLite has no notifications; its revision is polled"
        );
    }

    #[tokio::test]
    async fn postgres_rows_hold_no_secrets_and_refuse_another_key() {
        let Some(url) = postgres().await else { return };
        let key = MasterKey::generate().0;
        let store = Store::connect(&url, key.clone()).await.unwrap();
        let integration = store
            .create_integration("default", crm(), UrlProvenance::Tenant)
            .await
            .unwrap();
        let secret = "tok-pg-5e4d3c2b1a";
        let account = store
            .create_account(NewAccount {
                tenant: "default".into(),
                integration_id: integration.id,
                name: Some("acme".into()),
                base_url: None,
                context: Default::default(),
                credentials: Credentials::Bearer {
                    token: secret.into(),
                },
                url_provenance: UrlProvenance::Tenant,
            })
            .await
            .unwrap();
        let server = NewServer::new("default", "s", ServerSource::Account(account.id));
        let (server, minted) = store.create_server(server).await.unwrap();
        let (_, api_key) = minted.unwrap();
        assert!(matches!(
            store.delete_account(account.id).await,
            Err(StoreError::Conflict(_))
        ));
        let mut dump = String::new();
        for table in ["integrated_accounts", "server_keys", "servers", "settings"] {
            let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT CAST(t AS TEXT) FROM {table} t"
            )))
            .fetch_all(&store.pool)
            .await
            .unwrap();
            dump.extend(rows);
        }
        assert!(dump.contains(&api_key.hash.to_hex()), "the dump is real");
        assert!(!dump.contains(secret), "credentials are sealed");
        assert!(!dump.contains(&api_key.secret), "keys are hashed");

        let e = Store::connect(&url, MasterKey::generate().0)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::WrongKey), "{e}");
        let again = Store::connect(&url, key).await.unwrap();
        assert_eq!(
            again
                .get_account(account.id)
                .await
                .unwrap()
                .unwrap()
                .credentials,
            Credentials::Bearer {
                token: secret.into()
            }
        );
        assert_eq!(
            again.get_server(server.id).await.unwrap().unwrap().name,
            "s"
        );
    }

    #[tokio::test]
    async fn a_job_lease_has_one_holder_until_it_expires() {
        let store = Store::open_in_memory().await.unwrap();
        let ttl = time::Duration::milliseconds(300);
        assert!(store.hold_lease("resync", "a", ttl).await.unwrap());
        assert!(!store.hold_lease("resync", "b", ttl).await.unwrap());
        assert!(
            store.hold_lease("resync", "a", ttl).await.unwrap(),
            "renewed"
        );
        assert!(
            store.hold_lease("other", "b", ttl).await.unwrap(),
            "per job"
        );
        tokio::time::sleep(std::time::Duration::from_millis(350)).await;
        assert!(
            store.hold_lease("resync", "b", ttl).await.unwrap(),
            "taken over"
        );
        assert!(!store.hold_lease("resync", "a", ttl).await.unwrap());
    }

    #[tokio::test]
    async fn the_revision_moves_on_served_changes_only() {
        for store in stores().await {
            let start = store.revision().await.unwrap();
            let (server, minted) = store.create_server(demo("a")).await.unwrap();
            let (key, _) = minted.unwrap();
            let created = store.revision().await.unwrap();
            assert!(created > start, "creating a server and its key");
            store.touch_keys(&[(key.id, now())]).await.unwrap();
            assert_eq!(
                store.revision().await.unwrap(),
                created,
                "a last-use time changes nothing served"
            );
            store
                .revoke_key(server.id, key.id, time::Duration::ZERO)
                .await
                .unwrap();
            assert!(store.revision().await.unwrap() > created, "a revocation");
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn database_files_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .map(|m| m.permissions().mode() & 0o777)
                .ok()
        };
        let path = dir.path().join("mcpgate.db");
        let store = Store::open(&path, MasterKey::generate().0).await.unwrap();
        store
            .create_integration("default", crm(), UrlProvenance::Operator)
            .await
            .unwrap();
        for name in ["mcpgate.db", "mcpgate.db-wal", "mcpgate.db-shm"] {
            assert_eq!(mode(name), Some(0o600), "{name}");
        }
        drop(store);
        // A file an older version left readable by others is tightened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Store::open(&path, MasterKey::generate().0).await.ok();
        assert_eq!(mode("mcpgate.db"), Some(0o600));
    }

    #[tokio::test]
    async fn the_secret_is_not_in_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = Store::open(&path, MasterKey::generate().0).await.unwrap();
        let (_, minted) = store.create_server(demo("a")).await.unwrap();
        let (_, key) = minted.unwrap();
        drop(store);
        let mut bytes = std::fs::read(&path).unwrap();
        for extra in ["db.sqlite-wal", "db.sqlite-shm"] {
            if let Ok(more) = std::fs::read(dir.path().join(extra)) {
                bytes.extend(more);
            }
        }
        let needle = key.secret.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        let hash = key.hash.to_hex();
        assert!(bytes.windows(hash.len()).any(|w| w == hash.as_bytes()));
    }

    #[tokio::test]
    async fn reopening_a_file_keeps_data_and_does_not_remigrate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let key = MasterKey::generate().0;
        let id = {
            let store = Store::open(&path, key.clone()).await.unwrap();
            store.create_server(demo("kept")).await.unwrap().0.id
        };
        let store = Store::open(&path, key).await.unwrap();
        assert_eq!(store.get_server(id).await.unwrap().unwrap().name, "kept");
    }
}
