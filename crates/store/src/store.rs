//! The store: one set of queries over SQLite (the embedded default) or
//! PostgreSQL (many replicas), through sqlx's `Any` driver.
//!
//! Queries are written once, in the SQL both databases accept: `$n`
//! placeholders, `CASE` where SQLite's two-argument `MIN`/`MAX` would not
//! port, integers for flags and millisecond timestamps. The migrations of
//! each backend build the same tables (crates/store/migrations).

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Row};
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::backend::{Backend, redact, sqlite_url};
use crate::changes::ChangeListener;
use crate::key::{ApiKey, KeyHash};
use crate::lease::Leases;
use crate::model::{
    AccountId, AccountPatch, AccountRecord, AdminTokenRecord, IntegrationId, IntegrationRecord,
    KeyRecord, NewAccount, NewServer, Origin, ServerId, ServerPatch, ServerRecord, ServerSource,
};
use crate::secrets::MasterKey;
use crate::write::{Violation, retrying, violation};
use crate::{Loaded, StoreError, migrate};
use mcpgate_catalog::{Credentials, Integration, UrlProvenance};

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

pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Now, truncated to milliseconds (what the store can hold), so a value
/// returned at creation equals the value read back later.
pub(crate) fn now_ms() -> OffsetDateTime {
    from_ms(to_ms(OffsetDateTime::now_utc()))
}

/// Cheap marks of how far the store has moved; see [`Store::change_marks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMarks {
    /// The [`Store::revision`]: moves when anything served changes.
    pub revision: i64,
    /// The number of the latest ended session: moves when a session ends.
    pub sessions_ended: i64,
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

    /// Create a server together with its first key (unless `mint_key` is
    /// off), in one transaction. The returned [`ApiKey`] carries the only
    /// copy of the secret. A conflict when the account or integration it
    /// names is gone, or the integration already has its MCP settings server.
    pub async fn create_server(
        &self,
        new: NewServer,
    ) -> Result<(ServerRecord, Option<(KeyRecord, ApiKey)>), StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let created = self.create_server_in(&mut tx, new.clone()).await?;
            tx.commit().await?;
            Ok(created)
        })
    }

    /// [`create_server`](Self::create_server) inside a write transaction.
    pub(crate) async fn create_server_in(
        &self,
        tx: &mut AnyConnection,
        new: NewServer,
    ) -> Result<(ServerRecord, Option<(KeyRecord, ApiKey)>), StoreError> {
        let mint = new.mint_key;
        let record = new_server_record(new);
        insert_server(tx, &record).await?;
        let key = if mint {
            Some(insert_key(tx, record.id, None).await?)
        } else {
            None
        };
        Ok((record, key))
    }

    /// One server by id.
    pub async fn get_server(&self, id: ServerId) -> Result<Option<ServerRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM servers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| server_from_row(&r)).transpose()
    }

    /// All servers, oldest first.
    pub async fn list_servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
        self.load_servers().await?.strict()
    }

    /// All servers, oldest first, with the rows that do not read set aside.
    pub async fn load_servers(&self) -> Result<Loaded<ServerRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM servers ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(Loaded::from_rows("servers", &rows, server_from_row))
    }

    /// A page of servers in id order (ids are time-ordered UUIDv7), after
    /// `after` when given. Returns at most `limit` records and whether more follow.
    pub async fn list_servers_page(
        &self,
        tenant: Option<&str>,
        after: Option<ServerId>,
        limit: u32,
    ) -> Result<(Vec<ServerRecord>, bool), StoreError> {
        let (loaded, more) = self.load_servers_page(tenant, after, limit).await?;
        Ok((loaded.strict()?, more))
    }

    /// [`Store::list_servers_page`] with the rows that do not read set
    /// aside (they count toward `limit`; a cursor moves past them).
    pub async fn load_servers_page(
        &self,
        tenant: Option<&str>,
        after: Option<ServerId>,
        limit: u32,
    ) -> Result<(Loaded<ServerRecord>, bool), StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM servers WHERE id > $1 AND ($2 IS NULL OR tenant = $3) ORDER BY id LIMIT $4",
        )
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(tenant)
        .bind(tenant)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        Ok((Loaded::from_rows("servers", rows, server_from_row), more))
    }

    /// Apply a partial update; `None` when there is no such server. A
    /// conflict when a new source names an account that is gone.
    pub async fn update_server(
        &self,
        id: ServerId,
        patch: ServerPatch,
    ) -> Result<Option<ServerRecord>, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let updated = update_server_in(&mut tx, id, patch.clone()).await?;
            tx.commit().await?;
            Ok(updated)
        })
    }

    /// Delete a server and its keys; false when there was no such server.
    /// A conflict while the server holds a portal's keys (delete the portal).
    pub async fn delete_server(&self, id: ServerId) -> Result<bool, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let portal: Option<String> =
                sqlx::query_scalar("SELECT id FROM portals WHERE server_id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(portal) = portal {
                return Err(StoreError::Conflict(format!(
                    "this server holds the keys of portal {portal:?}; delete the portal instead"
                )));
            }
            let done = sqlx::query("DELETE FROM servers WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| refused(e, "", "another object still refers to this server"))?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Every key that is not revoked, for building the in-memory index.
    pub async fn list_active_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.load_active_keys().await?.strict()
    }

    /// Every key that is not revoked, with the rows that do not read set aside.
    pub async fn load_active_keys(&self) -> Result<Loaded<KeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM server_keys WHERE revoked_at IS NULL")
            .fetch_all(&self.pool)
            .await?;
        Ok(Loaded::from_rows("server_keys", &rows, key_from_row))
    }

    /// The keys of one server that are not revoked.
    pub async fn list_server_keys(&self, id: ServerId) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM server_keys WHERE server_id = $1 AND revoked_at IS NULL ORDER BY created_at",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Insert or refresh a bundled integration (by tenant and name). An
    /// integration of that name created through the API is left alone.
    pub async fn upsert_config_integration(
        &self,
        tenant: &str,
        definition: &Integration,
    ) -> Result<IntegrationRecord, StoreError> {
        let now = to_ms(now_ms());
        sqlx::query(
            "INSERT INTO integrations (id, tenant, name, origin, definition, created_at, updated_at)
             VALUES ($1, $2, $3, 'config', $4, $5, $6)
             ON CONFLICT(tenant, name) DO UPDATE SET definition = excluded.definition,
                 updated_at = CASE WHEN excluded.updated_at > integrations.updated_at
                     THEN excluded.updated_at ELSE integrations.updated_at + 1 END
             WHERE integrations.origin = 'config' AND integrations.definition != excluded.definition",
        )
        .bind(IntegrationId::new().to_string())
        .bind(tenant)
        .bind(&definition.name)
        .bind(to_json(definition))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT * FROM integrations WHERE tenant = $1 AND name = $2")
            .bind(tenant)
            .bind(&definition.name)
            .fetch_one(&self.pool)
            .await?;
        integration_from_row(&row)
    }

    /// Create an integration through the API, written by `by`; a taken
    /// name is a conflict.
    pub async fn create_integration(
        &self,
        tenant: &str,
        definition: Integration,
        by: UrlProvenance,
    ) -> Result<IntegrationRecord, StoreError> {
        let now = now_ms();
        let record = IntegrationRecord {
            id: IntegrationId::new(),
            tenant: tenant.to_owned(),
            origin: Origin::Api,
            definition,
            url_provenance: by,
            created_at: now,
            updated_at: now,
        };
        let done = retrying!(async {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                "INSERT INTO integrations (id, tenant, name, origin, definition, url_provenance, created_at, updated_at)
                 VALUES ($1, $2, $3, 'api', $4, $5, $6, $7) ON CONFLICT(tenant, name) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(tenant)
            .bind(&record.definition.name)
            .bind(to_json(&record.definition))
            .bind(by.as_str())
            .bind(to_ms(now))
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done)
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "an integration named {:?} already exists",
                record.definition.name
            )));
        }
        Ok(record)
    }

    /// One integration by id.
    pub async fn get_integration(
        &self,
        id: IntegrationId,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM integrations WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| integration_from_row(&r)).transpose()
    }

    /// One integration by tenant and name.
    pub async fn find_integration(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM integrations WHERE tenant = $1 AND name = $2")
            .bind(tenant)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| integration_from_row(&r)).transpose()
    }

    /// Every integration.
    pub async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.load_integrations().await?.strict()
    }

    /// Every integration, with the rows that do not read set aside.
    pub async fn load_integrations(&self) -> Result<Loaded<IntegrationRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM integrations ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(Loaded::from_rows(
            "integrations",
            &rows,
            integration_from_row,
        ))
    }

    /// Every integration's id (as stored) and `updated_at` in Unix
    /// milliseconds, without the definitions: what a reload compares with
    /// what it holds to read only the rows that changed
    /// ([`load_integrations_by_id`](Self::load_integrations_by_id)). Every
    /// write of a row moves its `updated_at` (see
    /// [`update_integration`](Self::update_integration)).
    pub async fn integration_stamps(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT id, updated_at FROM integrations")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }

    /// The integrations with these ids (as stored), with the rows that do
    /// not read set aside; ids no longer stored are simply absent.
    pub async fn load_integrations_by_id(
        &self,
        ids: &[String],
    ) -> Result<Loaded<IntegrationRecord>, StoreError> {
        let mut loaded = Loaded {
            records: Vec::with_capacity(ids.len()),
            unreadable: Vec::new(),
        };
        // Bounded statements: SQLite allows 32,766 parameters, PostgreSQL 65,535.
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT * FROM integrations WHERE id IN ({}) ORDER BY id",
                marks.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            let rows = query.fetch_all(&self.pool).await?;
            let part = Loaded::from_rows("integrations", &rows, integration_from_row);
            loaded.records.extend(part.records);
            loaded.unreadable.extend(part.unreadable);
        }
        Ok(loaded)
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

    /// Replace an integration's definition, written by `by` (same name
    /// rules as create).
    pub async fn update_integration(
        &self,
        id: IntegrationId,
        definition: Integration,
        by: UrlProvenance,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        let taken = format!("an integration named {:?} already exists", definition.name);
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let Some(row) = sqlx::query("SELECT * FROM integrations WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            let mut record = integration_from_row(&row)?;
            record.definition = definition.clone();
            record.url_provenance = by;
            // Strictly later than the last write, even within one
            // millisecond: reloads find changed rows by this stamp.
            record.updated_at = now_ms().max(record.updated_at + time::Duration::milliseconds(1));
            sqlx::query(
                "UPDATE integrations SET name = $1, definition = $2, updated_at = $3, url_provenance = $5 WHERE id = $4",
            )
            .bind(&record.definition.name)
            .bind(to_json(&record.definition))
            .bind(to_ms(record.updated_at))
            .bind(id.to_string())
            .bind(by.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| refused(e, &taken, ""))?;
            tx.commit().await?;
            Ok(Some(record))
        })
    }

    /// Delete an integration that no account uses; `false` when missing.
    pub async fn delete_integration(&self, id: IntegrationId) -> Result<bool, StoreError> {
        self.delete_unless_used(
            "SELECT COUNT(*) FROM integrated_accounts WHERE integration_id = $1",
            "DELETE FROM integrations WHERE id = $1",
            &id.to_string(),
            "integrated account(s) use this integration",
        )
        .await
    }

    /// In one transaction: refuse with a conflict when `count_sql` finds
    /// users of the row, else delete it. `false` when there was no such row.
    async fn delete_unless_used(
        &self,
        count_sql: &'static str,
        delete_sql: &'static str,
        id: &str,
        users: &str,
    ) -> Result<bool, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let used: i64 = sqlx::query(count_sql)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .get(0);
            if used > 0 {
                return Err(StoreError::Conflict(format!(
                    "{used} {users}; delete them first"
                )));
            }
            // The database refuses what the count missed (a row written by
            // a process that takes no writer lock).
            let done = sqlx::query(delete_sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| refused(e, "", &format!("{users}; delete them first")))?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Create an integrated account; its credentials are sealed.
    pub async fn create_account(&self, new: NewAccount) -> Result<AccountRecord, StoreError> {
        let now = now_ms();
        let record = AccountRecord {
            id: AccountId::new(),
            tenant: new.tenant,
            integration_id: new.integration_id,
            name: new.name,
            base_url: new.base_url,
            context: new.context,
            credentials: new.credentials,
            url_provenance: new.url_provenance,
            created_at: now,
            updated_at: now,
        };
        let id = record.id.to_string();
        let sealed = self.key.seal(&id, to_json(&record.credentials).as_bytes());
        retrying!(async {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO integrated_accounts (id, tenant, integration_id, name, base_url, context, credentials, credentials_kind, created_at, updated_at, url_provenance)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&id)
            .bind(&record.tenant)
            .bind(record.integration_id.to_string())
            .bind(&record.name)
            .bind(&record.base_url)
            .bind(to_json(&record.context))
            .bind(&sealed)
            .bind(record.credentials.kind())
            .bind(to_ms(now))
            .bind(to_ms(now))
            .bind(record.url_provenance.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| refused(e, "", "the integration was deleted"))?;
            tx.commit().await
        })?;
        Ok(record)
    }

    /// One account by id.
    pub async fn get_account(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM integrated_accounts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| self.account_from_row(&r)).transpose()
    }

    /// Every account.
    pub async fn list_accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        self.load_accounts().await?.strict()
    }

    /// Every account, with the rows that do not read (or whose credentials
    /// do not open) set aside.
    pub async fn load_accounts(&self) -> Result<Loaded<AccountRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM integrated_accounts ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(Loaded::from_rows("integrated_accounts", &rows, |r| {
            self.account_from_row(r)
        }))
    }

    /// Apply a partial update to an account.
    pub async fn update_account(
        &self,
        id: AccountId,
        patch: AccountPatch,
    ) -> Result<Option<AccountRecord>, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let Some(row) = sqlx::query("SELECT * FROM integrated_accounts WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            let mut record = self.account_from_row(&row)?;
            let patch = patch.clone();
            if let Some(name) = patch.name {
                record.name = name;
            }
            if let Some(base_url) = patch.base_url {
                record.base_url = base_url;
            }
            if let Some(context) = patch.context {
                record.context = context;
            }
            if let Some(credentials) = patch.credentials {
                record.credentials = credentials;
            }
            if let Some(by) = patch.url_provenance {
                record.url_provenance = by;
            }
            record.updated_at = now_ms();
            let id = id.to_string();
            sqlx::query(
                "UPDATE integrated_accounts SET name = $1, base_url = $2, context = $3, credentials = $4, credentials_kind = $5, updated_at = $6, url_provenance = $8 WHERE id = $7",
            )
            .bind(&record.name)
            .bind(&record.base_url)
            .bind(to_json(&record.context))
            .bind(self.key.seal(&id, to_json(&record.credentials).as_bytes()))
            .bind(record.credentials.kind())
            .bind(to_ms(record.updated_at))
            .bind(&id)
            .bind(record.url_provenance.as_str())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(record))
        })
    }

    /// Delete an account no server uses; `false` when missing.
    pub async fn delete_account(&self, id: AccountId) -> Result<bool, StoreError> {
        self.delete_unless_used(
            "SELECT COUNT(*) FROM servers WHERE account_id = $1 OR (source_kind = 'account' AND source_ref = $1)",
            "DELETE FROM integrated_accounts WHERE id = $1",
            &id.to_string(),
            "MCP server(s) use this account",
        )
        .await
    }

    fn account_from_row(&self, r: &AnyRow) -> Result<AccountRecord, StoreError> {
        let id: String = r.try_get("id")?;
        let sealed: String = r.try_get("credentials")?;
        let plain = self.key.open(&id, &sealed).ok_or_else(|| {
            corrupt(
                "integrated_accounts",
                format!("credentials of account {id} cannot be opened: wrong MCPGATE_SECRET_KEY?"),
            )
        })?;
        let credentials: Credentials = serde_json::from_slice(&plain)
            .map_err(|e| corrupt("integrated_accounts", e.to_string()))?;
        Ok(AccountRecord {
            id: parse_id("integrated_accounts", &id)?,
            tenant: r.try_get("tenant")?,
            integration_id: parse_id(
                "integrated_accounts",
                &r.try_get::<String, _>("integration_id")?,
            )?,
            name: r.try_get("name")?,
            base_url: r.try_get("base_url")?,
            context: from_json("integrated_accounts", &r.try_get::<String, _>("context")?)?,
            credentials,
            url_provenance: parse_provenance("integrated_accounts", r)?,
            created_at: from_ms(r.try_get("created_at")?),
            updated_at: from_ms(r.try_get("updated_at")?),
        })
    }

    /// Servers of an integrated account, in a tenant, oldest first.
    pub async fn list_account_servers(
        &self,
        account: AccountId,
    ) -> Result<Vec<ServerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM servers WHERE source_kind = 'account' AND source_ref = $1 AND integration_id IS NULL ORDER BY id",
        )
        .bind(account.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(server_from_row).collect()
    }

    /// The server the per-integration MCP settings of `tenant` manage, if any.
    pub async fn integration_server(
        &self,
        tenant: &str,
        integration: IntegrationId,
    ) -> Result<Option<ServerRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM servers WHERE tenant = $1 AND integration_id = $2")
            .bind(tenant)
            .bind(integration.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| server_from_row(&r)).transpose()
    }

    /// Create or change the MCP settings server of `new.integration_id` in
    /// `new.tenant`, in one transaction: create it from `new` when there is
    /// none, else apply `patch`; then, when it is enabled and has never had
    /// a key, mint its key (returned with its only copy of the secret).
    /// Concurrent calls run one after another, so exactly one of them
    /// creates the server and exactly one mints the key. A conflict when
    /// the integration or the account named is gone.
    pub async fn save_integration_settings(
        &self,
        new: NewServer,
        patch: ServerPatch,
    ) -> Result<(ServerRecord, Option<(KeyRecord, ApiKey)>), StoreError> {
        let integration = new
            .integration_id
            .ok_or_else(|| StoreError::Conflict("MCP settings need an integration".into()))?;
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT id FROM servers WHERE tenant = $1 AND integration_id = $2",
            )
            .bind(&new.tenant)
            .bind(integration.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            let record = match existing {
                None => {
                    let mut first = new.clone();
                    first.mint_key = false;
                    self.create_server_in(&mut tx, first).await?.0
                }
                Some(id) => {
                    let id = parse_id("servers", &id)?;
                    update_server_in(&mut tx, id, patch.clone())
                        .await?
                        .ok_or_else(|| corrupt("servers", "the settings server vanished"))?
                }
            };
            let keyed = sqlx::query("SELECT 1 FROM server_keys WHERE server_id = $1")
                .bind(record.id.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            let key = if !record.disabled && !keyed {
                Some(insert_key(&mut tx, record.id, None).await?)
            } else {
                None
            };
            tx.commit().await?;
            Ok((record, key))
        })
    }

    /// Mint another key for a server; `None` when the server is gone.
    pub async fn add_key(
        &self,
        server: ServerId,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<Option<(KeyRecord, ApiKey)>, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            if !server_exists(&mut tx, server).await? {
                return Ok(None);
            }
            let minted = insert_key(&mut tx, server, expires_at).await?;
            tx.commit().await?;
            Ok(Some(minted))
        })
    }

    /// Every key of a server, revoked ones included, oldest first.
    pub async fn all_server_keys(&self, id: ServerId) -> Result<Vec<KeyRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM server_keys WHERE server_id = $1 ORDER BY created_at, id")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revoke a key of a server, now or after a grace period (it then stays
    /// valid until `now + grace`). `false` when there is no such live key.
    pub async fn revoke_key(
        &self,
        server: ServerId,
        key: Uuid,
        grace: time::Duration,
    ) -> Result<bool, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let done = revoke(&mut tx, server, key, grace).await?;
            tx.commit().await?;
            Ok(done)
        })
    }

    /// Replace every live key of a server with one new key, atomically; the
    /// old keys stop working now, or after `grace`. `None` when the server is gone.
    pub async fn rotate_keys(
        &self,
        server: ServerId,
        grace: time::Duration,
    ) -> Result<Option<(KeyRecord, ApiKey)>, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let minted = rotate_in(&mut tx, server, grace).await?;
            tx.commit().await?;
            Ok(minted)
        })
    }

    /// Record last-use times gathered in memory (one write per batch, never
    /// one per request).
    pub async fn touch_keys(&self, used: &[(Uuid, OffsetDateTime)]) -> Result<(), StoreError> {
        if used.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (id, at) in used {
            sqlx::query("UPDATE server_keys SET last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $1 THEN $1 ELSE last_used_at END WHERE id = $2")
                .bind(to_ms(*at))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Mint an admin token for a tenant (`None`: a super-admin).
    pub async fn create_admin_token(
        &self,
        tenant: Option<&str>,
    ) -> Result<(AdminTokenRecord, ApiKey), StoreError> {
        let key = ApiKey::generate();
        let record = AdminTokenRecord {
            id: Uuid::now_v7(),
            tenant: tenant.map(str::to_owned),
            hash: key.hash,
            prefix: key.prefix.clone(),
            created_at: now_ms(),
        };
        retrying!(async {
            sqlx::query(
                "INSERT INTO admin_tokens (id, tenant, hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(record.id.to_string())
            .bind(&record.tenant)
            .bind(record.hash.to_hex())
            .bind(&record.prefix)
            .bind(to_ms(record.created_at))
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)
        })?;
        Ok((record, key))
    }

    /// Admin tokens that are not revoked.
    pub async fn list_admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM admin_tokens WHERE revoked_at IS NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AdminTokenRecord {
                    id: parse_id("admin_tokens", &r.try_get::<String, _>("id")?)?,
                    tenant: r.try_get("tenant")?,
                    hash: KeyHash::from_hex(&r.try_get::<String, _>("hash")?)
                        .ok_or_else(|| corrupt("admin_tokens", "bad hash"))?,
                    prefix: r.try_get("prefix")?,
                    created_at: from_ms(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// Revoke an admin token; `false` when there is no such live token.
    pub async fn revoke_admin_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = retrying!(async {
            sqlx::query(
                "UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(to_ms(now_ms()))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)
        })?;
        Ok(done.rows_affected() > 0)
    }

    /// A setting's value.
    pub async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    /// Store a setting unless one exists; returns the value now in force, so
    /// racing first starts agree on one value.
    pub async fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT(name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(self
            .get_setting(name)
            .await?
            .unwrap_or_else(|| value.to_owned()))
    }

    /// Remember that a session was terminated, until it would have expired.
    /// One insert and one counter step, in one transaction: it does not
    /// move the [`revision`](Self::revision) (nothing served changes), so it
    /// causes no reload anywhere; other processes find it through
    /// [`change_marks`](Self::change_marks) and
    /// [`ended_sessions_after`](Self::ended_sessions_after). Ending a session
    /// twice is one record.
    pub async fn end_session(
        &self,
        nonce: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        retrying!(async {
            let mut tx = self.begin_write_rows().await?;
            let exists = sqlx::query("SELECT 1 FROM ended_sessions WHERE nonce = $1")
                .bind(nonce)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                let seq: i64 = sqlx::query_scalar(
                    "UPDATE session_ends SET n = n + 1 WHERE id = 1 RETURNING n",
                )
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO ended_sessions (nonce, expires_at, seq) VALUES ($1, $2, $3) ON CONFLICT(nonce) DO NOTHING")
                    .bind(nonce)
                    .bind(to_ms(expires_at))
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })
    }

    /// Where the store is now, cheaply (one row each): the
    /// [`revision`](Self::revision) of what is served, and the number of the
    /// latest session ended. Compare with the marks seen last to choose
    /// between a full reload, reading only the sessions ended since, or
    /// nothing.
    pub async fn change_marks(&self) -> Result<ChangeMarks, StoreError> {
        let row = sqlx::query(
            "SELECT r.n, s.n FROM revision r, session_ends s WHERE r.id = 1 AND s.id = 1",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(ChangeMarks {
            revision: row.try_get(0)?,
            sessions_ended: row.try_get(1)?,
        })
    }

    /// Sessions ended after the mark `after` (a
    /// [`ChangeMarks::sessions_ended`] seen earlier; 0 for all) that have
    /// not expired yet, with the mark to pass next time.
    pub async fn ended_sessions_after(
        &self,
        after: i64,
    ) -> Result<(Vec<(String, OffsetDateTime)>, i64), StoreError> {
        let rows = sqlx::query(
            "SELECT nonce, expires_at, seq FROM ended_sessions WHERE seq > $1 AND expires_at >= $2 ORDER BY seq",
        )
        .bind(after)
        .bind(to_ms(OffsetDateTime::now_utc()))
        .fetch_all(&self.pool)
        .await?;
        let mut last = after;
        let mut ended = Vec::with_capacity(rows.len());
        for r in &rows {
            ended.push((r.try_get::<String, _>(0)?, from_ms(r.try_get(1)?)));
            last = last.max(r.try_get(2)?);
        }
        Ok((ended, last))
    }

    /// Ended sessions that have not yet expired (older ones are purged).
    pub async fn ended_sessions(&self) -> Result<Vec<(String, OffsetDateTime)>, StoreError> {
        let now = to_ms(OffsetDateTime::now_utc());
        sqlx::query("DELETE FROM ended_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query("SELECT nonce, expires_at FROM ended_sessions")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), from_ms(r.get(1))))
            .collect())
    }
}

/// The record a [`NewServer`] becomes: a fresh id, created now.
fn new_server_record(new: NewServer) -> ServerRecord {
    let now = now_ms();
    ServerRecord {
        id: ServerId::new(),
        tenant: new.tenant,
        name: new.name,
        source: new.source,
        scope: new.scope,
        exposed_tools: new.exposed_tools,
        description: new.description,
        limits: new.limits,
        integration_id: new.integration_id,
        sandbox: Default::default(),
        created_by: new.created_by.clone(),
        modified_by: new.created_by,
        disabled: new.disabled,
        expires_at: new.expires_at,
        created_at: now,
        updated_at: now,
    }
}

/// The account a server's source names (the `account_id` column, which
/// the database checks against `integrated_accounts`).
fn account_of(source: &ServerSource) -> Option<String> {
    match source {
        ServerSource::Account(a) => Some(a.to_string()),
        _ => None,
    }
}

/// A refused write as the request's fault: a taken unique value is the
/// conflict `unique`, a broken reference the conflict `missing`; anything
/// else stays a database error (contention included, for the retry).
pub(crate) fn refused(e: sqlx::Error, unique: &str, missing: &str) -> StoreError {
    match violation(&e) {
        Some(Violation::Unique) => StoreError::Conflict(unique.to_owned()),
        Some(Violation::ForeignKey) => StoreError::Conflict(missing.to_owned()),
        None => StoreError::Database(e),
    }
}

async fn insert_server(tx: &mut AnyConnection, record: &ServerRecord) -> Result<(), StoreError> {
    let (kind, reference) = record.source.to_columns();
    sqlx::query(
        "INSERT INTO servers (id, tenant, name, source_kind, source_ref, account_id, scope, exposed_tools, disabled, expires_at, created_at, updated_at,
                              description, limits, integration_id, created_by, modified_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(record.id.to_string())
    .bind(&record.tenant)
    .bind(&record.name)
    .bind(kind)
    .bind(reference)
    .bind(account_of(&record.source))
    .bind(to_json(&record.scope))
    .bind(record.exposed_tools.as_ref().map(to_json))
    .bind(i16::from(record.disabled))
    .bind(record.expires_at.map(to_ms))
    .bind(to_ms(record.created_at))
    .bind(to_ms(record.updated_at))
    .bind(&record.description)
    .bind(to_json(&record.limits))
    .bind(record.integration_id.map(|i| i.to_string()))
    .bind(&record.created_by)
    .bind(&record.modified_by)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        refused(
            e,
            "this integration already has MCP settings",
            "the integrated account or integration this server is over no longer exists",
        )
    })?;
    Ok(())
}

/// Apply `patch` to the server `id` inside `tx`; `None` when it is missing.
async fn update_server_in(
    tx: &mut AnyConnection,
    id: ServerId,
    patch: ServerPatch,
) -> Result<Option<ServerRecord>, StoreError> {
    let Some(row) = sqlx::query("SELECT * FROM servers WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let mut record = server_from_row(&row)?;
    if let Some(name) = patch.name {
        record.name = name;
    }
    if let Some(disabled) = patch.disabled {
        record.disabled = disabled;
    }
    if let Some(expires_at) = patch.expires_at {
        record.expires_at = expires_at;
    }
    if let Some(scope) = patch.scope {
        record.scope = scope;
    }
    if let Some(tools) = patch.exposed_tools {
        record.exposed_tools = tools;
    }
    if let Some(source) = patch.source {
        record.source = source;
    }
    if let Some(description) = patch.description {
        record.description = description;
    }
    if let Some(limits) = patch.limits {
        record.limits = limits;
    }
    if let Some(sandbox) = patch.sandbox {
        record.sandbox = sandbox;
    }
    if patch.modified_by.is_some() {
        record.modified_by = patch.modified_by;
    }
    record.updated_at = now_ms();
    let (kind, reference) = record.source.to_columns();
    sqlx::query(
        "UPDATE servers SET name = $1, disabled = $2, expires_at = $3, scope = $4, exposed_tools = $5,
             source_kind = $6, source_ref = $7, account_id = $8, description = $9, limits = $10, sandbox = $11,
             modified_by = $12, updated_at = $13 WHERE id = $14",
    )
    .bind(&record.name)
    .bind(i16::from(record.disabled))
    .bind(record.expires_at.map(to_ms))
    .bind(to_json(&record.scope))
    .bind(record.exposed_tools.as_ref().map(to_json))
    .bind(kind)
    .bind(reference)
    .bind(account_of(&record.source))
    .bind(&record.description)
    .bind(to_json(&record.limits))
    .bind(to_json(&record.sandbox))
    .bind(&record.modified_by)
    .bind(to_ms(record.updated_at))
    .bind(id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        refused(
            e,
            "this integration already has MCP settings",
            "the integrated account this server is over no longer exists",
        )
    })?;
    Ok(Some(record))
}

async fn insert_key(
    tx: &mut AnyConnection,
    server: ServerId,
    expires_at: Option<OffsetDateTime>,
) -> Result<(KeyRecord, ApiKey), StoreError> {
    let key = ApiKey::generate();
    let record = KeyRecord {
        id: Uuid::now_v7(),
        server_id: server,
        hash: key.hash,
        prefix: key.prefix.clone(),
        created_at: now_ms(),
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    sqlx::query(
        "INSERT INTO server_keys (id, server_id, hash, prefix, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(record.id.to_string())
    .bind(server.to_string())
    .bind(key.hash.to_hex())
    .bind(&key.prefix)
    .bind(to_ms(record.created_at))
    .bind(expires_at.map(to_ms))
    .execute(&mut *tx)
    .await?;
    Ok((record, key))
}

async fn server_exists(tx: &mut AnyConnection, server: ServerId) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT 1 FROM servers WHERE id = $1")
        .bind(server.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .is_some())
}

/// Revoke every live key of `server` (now, or after `grace`) and mint one
/// new key, inside `tx`; `None` when the server is gone.
async fn rotate_in(
    tx: &mut AnyConnection,
    server: ServerId,
    grace: time::Duration,
) -> Result<Option<(KeyRecord, ApiKey)>, StoreError> {
    if !server_exists(tx, server).await? {
        return Ok(None);
    }
    let old: Vec<String> =
        sqlx::query("SELECT id FROM server_keys WHERE server_id = $1 AND revoked_at IS NULL")
            .bind(server.to_string())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    for id in old {
        let id = parse_id("server_keys", &id)?;
        revoke(tx, server, id, grace).await?;
    }
    Ok(Some(insert_key(tx, server, None).await?))
}

/// Revoke now (grace 0), or shorten the key's life to `now + grace`.
async fn revoke(
    tx: &mut AnyConnection,
    server: ServerId,
    key: Uuid,
    grace: time::Duration,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let done = if grace.is_positive() {
        let until = to_ms(now + grace);
        sqlx::query(
            "UPDATE server_keys SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > $1 THEN $1 ELSE expires_at END
             WHERE id = $2 AND server_id = $3 AND revoked_at IS NULL",
        )
        .bind(until)
        .bind(key.to_string())
        .bind(server.to_string())
        .execute(&mut *tx)
        .await?
    } else {
        sqlx::query(
            "UPDATE server_keys SET revoked_at = $1 WHERE id = $2 AND server_id = $3 AND revoked_at IS NULL",
        )
        .bind(to_ms(now))
        .bind(key.to_string())
        .bind(server.to_string())
        .execute(&mut *tx)
        .await?
    };
    Ok(done.rows_affected() > 0)
}

fn corrupt(table: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        message: message.into(),
    }
}

fn to_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("a model value serializes")
}

fn from_json<T: serde::de::DeserializeOwned>(
    table: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(table, e.to_string()))
}

fn parse_id<T: std::str::FromStr>(table: &'static str, text: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| corrupt(table, format!("bad id {text:?}")))
}

fn server_from_row(r: &AnyRow) -> Result<ServerRecord, StoreError> {
    let id: String = r.try_get("id")?;
    let kind: String = r.try_get("source_kind")?;
    let reference: String = r.try_get("source_ref")?;
    let exposed: Option<String> = r.try_get("exposed_tools")?;
    Ok(ServerRecord {
        id: parse_id("servers", &id)?,
        tenant: r.try_get("tenant")?,
        name: r.try_get("name")?,
        source: ServerSource::from_columns(&kind, reference)
            .ok_or_else(|| corrupt("servers", format!("unknown source kind {kind:?}")))?,
        scope: from_json("servers", &r.try_get::<String, _>("scope")?)?,
        exposed_tools: exposed.map(|t| from_json("servers", &t)).transpose()?,
        description: r.try_get("description")?,
        limits: r
            .try_get::<Option<String>, _>("limits")?
            .map(|l| from_json("servers", &l))
            .transpose()?
            .unwrap_or_default(),
        integration_id: r
            .try_get::<Option<String>, _>("integration_id")?
            .map(|i| parse_id("servers", &i))
            .transpose()?,
        sandbox: r
            .try_get::<Option<String>, _>("sandbox")?
            .map(|s| from_json("servers", &s))
            .transpose()?
            .unwrap_or_default(),
        created_by: r.try_get("created_by")?,
        modified_by: r.try_get("modified_by")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(from_ms),
        created_at: from_ms(r.try_get("created_at")?),
        updated_at: from_ms(r.try_get("updated_at")?),
    })
}

/// The `url_provenance` column of a row.
fn parse_provenance(table: &'static str, r: &AnyRow) -> Result<UrlProvenance, StoreError> {
    r.try_get::<String, _>("url_provenance")?
        .parse()
        .map_err(|e: String| corrupt(table, e))
}

fn integration_from_row(r: &AnyRow) -> Result<IntegrationRecord, StoreError> {
    let origin: String = r.try_get("origin")?;
    let definition: Integration =
        from_json("integrations", &r.try_get::<String, _>("definition")?)?;
    let origin = if origin == "config" {
        Origin::Config
    } else {
        Origin::Api
    };
    Ok(IntegrationRecord {
        id: parse_id("integrations", &r.try_get::<String, _>("id")?)?,
        tenant: r.try_get("tenant")?,
        origin,
        // The config directory is the operator's.
        url_provenance: match origin {
            Origin::Config => UrlProvenance::Operator,
            Origin::Api => parse_provenance("integrations", r)?,
        },
        definition,
        created_at: from_ms(r.try_get("created_at")?),
        updated_at: from_ms(r.try_get("updated_at")?),
    })
}

fn key_from_row(r: &AnyRow) -> Result<KeyRecord, StoreError> {
    let id: String = r.try_get("id")?;
    let server_id: String = r.try_get("server_id")?;
    let hash: String = r.try_get("hash")?;
    Ok(KeyRecord {
        id: id
            .parse()
            .map_err(|_| corrupt("server_keys", format!("bad id {id:?}")))?,
        server_id: server_id
            .parse()
            .map_err(|_| corrupt("server_keys", "bad server_id"))?,
        hash: KeyHash::from_hex(&hash).ok_or_else(|| corrupt("server_keys", "bad hash"))?,
        prefix: r.try_get("prefix")?,
        created_at: from_ms(r.try_get("created_at")?),
        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(from_ms),
        revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(from_ms),
        last_used_at: r.try_get::<Option<i64>, _>("last_used_at")?.map(from_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_stores::{postgres, stores};
    use sqlx::AssertSqlSafe;

    fn demo(name: &str) -> NewServer {
        NewServer::new("default", name, ServerSource::Toolset("demo".into()))
    }

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
            store.touch_keys(&[(key.id, now_ms())]).await.unwrap();
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

    #[tokio::test]
    async fn ending_a_session_moves_no_revision_and_others_read_only_what_is_new() {
        for store in stores().await {
            let future = now_ms() + time::Duration::minutes(5);
            let before = store.change_marks().await.unwrap();
            store.end_session("aa", future).await.unwrap();
            let after = store.change_marks().await.unwrap();
            assert_eq!(after.revision, before.revision, "nothing served changed");
            assert!(after.sessions_ended > before.sessions_ended);
            let (ended, mark) = store
                .ended_sessions_after(before.sessions_ended)
                .await
                .unwrap();
            assert_eq!(
                ended.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                ["aa"]
            );
            assert_eq!(mark, after.sessions_ended);

            store.end_session("aa", future).await.unwrap();
            store.end_session("bb", future).await.unwrap();
            let (ended, next) = store.ended_sessions_after(mark).await.unwrap();
            assert_eq!(
                ended.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                ["bb"],
                "only what ended since, once"
            );
            assert_eq!(store.ended_sessions_after(next).await.unwrap().0, vec![]);
            assert_eq!(
                store.change_marks().await.unwrap().revision,
                before.revision
            );
            let (all, _) = store.ended_sessions_after(0).await.unwrap();
            assert_eq!(all.len(), 2);
        }
    }

    #[tokio::test]
    async fn server_lifecycle_and_keys() {
        for store in stores().await {
            let (server, minted) = store.create_server(demo("a")).await.unwrap();
            let (key, secret) = minted.unwrap();
            assert_eq!(
                store.get_server(server.id).await.unwrap(),
                Some(server.clone())
            );
            assert_eq!(key.hash, KeyHash::of(&secret.secret));

            let keys = store.list_active_keys().await.unwrap();
            assert_eq!(keys, vec![key.clone()]);

            let expiry = now_ms() + time::Duration::hours(1);
            let patched = store
                .update_server(
                    server.id,
                    ServerPatch {
                        name: Some("b".into()),
                        disabled: Some(true),
                        expires_at: Some(Some(expiry)),
                        ..ServerPatch::default()
                    },
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(patched.name, "b");
            assert!(patched.disabled);
            assert_eq!(patched.expires_at, Some(expiry));
            assert_eq!(store.get_server(server.id).await.unwrap(), Some(patched));

            assert!(store.delete_server(server.id).await.unwrap());
            assert!(!store.delete_server(server.id).await.unwrap());
            assert!(
                store.list_active_keys().await.unwrap().is_empty(),
                "keys cascade"
            );
            assert!(
                store
                    .update_server(server.id, ServerPatch::default())
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }

    #[tokio::test]
    async fn pages_cover_every_server_once() {
        for store in stores().await {
            let mut ids = Vec::new();
            for i in 0..5 {
                ids.push(
                    store
                        .create_server(demo(&format!("s{i}")))
                        .await
                        .unwrap()
                        .0
                        .id,
                );
            }
            ids.sort();
            let (first, more) = store.list_servers_page(None, None, 2).await.unwrap();
            assert!(more);
            let (second, more) = store
                .list_servers_page(None, Some(first[1].id), 2)
                .await
                .unwrap();
            assert!(more);
            let (third, more) = store
                .list_servers_page(None, Some(second[1].id), 2)
                .await
                .unwrap();
            assert!(!more);
            let got: Vec<_> = first
                .iter()
                .chain(&second)
                .chain(&third)
                .map(|s| s.id)
                .collect();
            assert_eq!(got, ids);
        }
    }

    /// What a reload relies on to read only what changed: a write moves
    /// its table's head and no other; every write of an integration moves
    /// its stamp, even twice in one millisecond; rows are read by id.
    #[tokio::test]
    async fn heads_and_stamps_say_what_changed() {
        for store in crate::test_stores::stores().await {
            let before = store.heads().await.unwrap();
            for table in [
                "integrations",
                "integrated_accounts",
                "mcp_upstreams",
                "portals",
                "servers",
                "server_keys",
            ] {
                assert!(before.contains_key(table), "{table}: {before:?}");
            }
            let record = store
                .create_integration("acme", crm(), UrlProvenance::Operator)
                .await
                .unwrap();
            let after = store.heads().await.unwrap();
            assert!(after["integrations"] > before["integrations"]);
            assert_eq!(after["servers"], before["servers"]);
            assert_eq!(after["integrated_accounts"], before["integrated_accounts"]);

            let stamp = |stamps: Vec<(String, i64)>| {
                stamps
                    .into_iter()
                    .find(|(id, _)| *id == record.id.to_string())
                    .map(|(_, at)| at)
                    .unwrap()
            };
            let first = stamp(store.integration_stamps().await.unwrap());
            let mut seen = first;
            for _ in 0..3 {
                store
                    .update_integration(record.id, crm(), UrlProvenance::Operator)
                    .await
                    .unwrap();
                let now = stamp(store.integration_stamps().await.unwrap());
                assert!(now > seen, "{now} after {seen}");
                seen = now;
            }
            let loaded = store
                .load_integrations_by_id(&[record.id.to_string(), "missing".into()])
                .await
                .unwrap();
            assert_eq!(loaded.records.len(), 1);
            assert_eq!(loaded.records[0].id, record.id);
            assert!(loaded.unreadable.is_empty());
        }
    }

    fn crm() -> Integration {
        Integration::from_yaml(
            "name: crm\nbase_url: https://crm.example.com\nresources:\n  - name: contacts\n    methods:\n      - { kind: list, method: GET, path: /contacts }\n",
        )
        .unwrap()
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
    async fn accounts_keep_credentials_sealed_and_block_deletes_while_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let key = MasterKey::generate().0;
        let store = Store::open(&path, key.clone()).await.unwrap();
        let integration = store
            .create_integration("default", crm(), UrlProvenance::Tenant)
            .await
            .unwrap();
        let dup = store
            .create_integration("default", crm(), UrlProvenance::Tenant)
            .await
            .unwrap_err();
        assert!(matches!(dup, StoreError::Conflict(_)), "{dup}");

        let secret = "tok-9f8e7d6c5b4a";
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
        assert_eq!(
            store.get_account(account.id).await.unwrap(),
            Some(account.clone())
        );

        let server = NewServer::new("default", "scoped", ServerSource::Account(account.id));
        let (server, _) = store.create_server(server).await.unwrap();
        assert!(matches!(
            store.delete_account(account.id).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.delete_integration(integration.id).await,
            Err(StoreError::Conflict(_))
        ));
        store.delete_server(server.id).await.unwrap();
        assert!(store.delete_account(account.id).await.unwrap());
        assert!(store.delete_integration(integration.id).await.unwrap());

        // Re-create, rotate credentials, and check the file never holds them.
        let integration = store
            .create_integration("default", crm(), UrlProvenance::Tenant)
            .await
            .unwrap();
        let account = store
            .create_account(NewAccount {
                tenant: "default".into(),
                integration_id: integration.id,
                name: None,
                base_url: None,
                context: Default::default(),
                credentials: Credentials::Bearer {
                    token: secret.into(),
                },
                url_provenance: UrlProvenance::Tenant,
            })
            .await
            .unwrap();
        let rotated = "tok-rotated-0a1b2c";
        store
            .update_account(
                account.id,
                AccountPatch {
                    credentials: Some(Credentials::Bearer {
                        token: rotated.into(),
                    }),
                    ..AccountPatch::default()
                },
            )
            .await
            .unwrap();
        drop(store);
        let mut bytes = std::fs::read(&path).unwrap();
        for extra in ["db.sqlite-wal", "db.sqlite-shm"] {
            if let Ok(more) = std::fs::read(dir.path().join(extra)) {
                bytes.extend(more);
            }
        }
        for needle in [secret, rotated] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in file"
            );
        }
        // The right key opens them; another key is refused with a clear error.
        let store = Store::open(&path, key).await.unwrap();
        let back = store.get_account(account.id).await.unwrap().unwrap();
        assert_eq!(
            back.credentials,
            Credentials::Bearer {
                token: rotated.into()
            }
        );
        let e = Store::open(&path, MasterKey::generate().0)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("MCPGATE_SECRET_KEY"), "refused at open: {e}");
    }

    #[tokio::test]
    async fn bundled_integrations_upsert_without_clobbering_api_ones() {
        for store in stores().await {
            let first = store
                .upsert_config_integration("default", &crm())
                .await
                .unwrap();
            assert_eq!(first.origin, Origin::Config);
            let mut changed = crm();
            changed.label = Some("CRM v2".into());
            let second = store
                .upsert_config_integration("default", &changed)
                .await
                .unwrap();
            assert_eq!(second.id, first.id, "same row, refreshed");
            assert_eq!(second.definition.label.as_deref(), Some("CRM v2"));

            let mut other = crm();
            other.name = "other".into();
            let api = store
                .create_integration("default", other.clone(), UrlProvenance::Tenant)
                .await
                .unwrap();
            other.label = Some("from config".into());
            let after = store
                .upsert_config_integration("default", &other)
                .await
                .unwrap();
            assert_eq!(after.id, api.id);
            assert_eq!(after.origin, Origin::Api);
            assert_eq!(after.definition.label, None, "the API's version stands");
        }
    }

    #[tokio::test]
    async fn keys_rotate_with_and_without_grace_and_record_use_in_batches() {
        for store in stores().await {
            let (server, minted) = store.create_server(demo("k")).await.unwrap();
            let (first, _) = minted.unwrap();
            let (second, _) = store.add_key(server.id, None).await.unwrap().unwrap();
            assert_eq!(store.list_server_keys(server.id).await.unwrap().len(), 2);

            // Rotation with grace: old keys live on until the grace ends.
            let (third, secret) = store
                .rotate_keys(server.id, time::Duration::seconds(60))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(third.hash, KeyHash::of(&secret.secret));
            let keys = store.list_server_keys(server.id).await.unwrap();
            assert_eq!(keys.len(), 3);
            for old in [first.id, second.id] {
                let k = keys.iter().find(|k| k.id == old).unwrap();
                let left = k.expires_at.unwrap() - now_ms();
                assert!(left > time::Duration::seconds(55) && left <= time::Duration::seconds(60));
            }
            // Rotation without grace revokes at once.
            let (fourth, _) = store
                .rotate_keys(server.id, time::Duration::ZERO)
                .await
                .unwrap()
                .unwrap();
            let live: Vec<_> = store
                .list_server_keys(server.id)
                .await
                .unwrap()
                .into_iter()
                .map(|k| k.id)
                .collect();
            assert_eq!(live, vec![fourth.id]);
            assert!(
                !store
                    .revoke_key(server.id, first.id, time::Duration::ZERO)
                    .await
                    .unwrap()
            );
            assert!(
                store
                    .rotate_keys(ServerId::new(), time::Duration::ZERO)
                    .await
                    .unwrap()
                    .is_none()
            );

            let at = now_ms();
            store.touch_keys(&[(fourth.id, at)]).await.unwrap();
            store
                .touch_keys(&[(fourth.id, at - time::Duration::hours(1))])
                .await
                .unwrap();
            let all = store.all_server_keys(server.id).await.unwrap();
            assert_eq!(all.len(), 4);
            assert_eq!(
                all.last().unwrap().last_used_at,
                Some(at),
                "never moves backwards"
            );
        }
    }

    #[tokio::test]
    async fn admin_tokens_are_tenant_scoped_and_revocable() {
        for store in stores().await {
            let (acme, key) = store.create_admin_token(Some("acme")).await.unwrap();
            let (root, _) = store.create_admin_token(None).await.unwrap();
            let listed = store.list_admin_tokens().await.unwrap();
            assert_eq!(listed, vec![acme.clone(), root.clone()]);
            assert_eq!(listed[0].hash, KeyHash::of(&key.secret));
            assert!(store.revoke_admin_token(acme.id).await.unwrap());
            assert!(!store.revoke_admin_token(acme.id).await.unwrap());
            assert_eq!(store.list_admin_tokens().await.unwrap(), vec![root]);
        }
    }

    #[tokio::test]
    async fn who_wrote_the_urls_is_kept_with_them() {
        for store in stores().await {
            let integration = store
                .create_integration("t1", crm(), UrlProvenance::Operator)
                .await
                .unwrap();
            let read = |id| {
                let store = store.clone();
                async move { store.get_integration(id).await.unwrap().unwrap() }
            };
            assert_eq!(
                read(integration.id).await.url_provenance,
                UrlProvenance::Operator
            );
            store
                .update_integration(integration.id, crm(), UrlProvenance::Tenant)
                .await
                .unwrap();
            assert_eq!(
                read(integration.id).await.url_provenance,
                UrlProvenance::Tenant
            );
            // A bundled integration is the operator's whatever the column says.
            let bundled = store
                .upsert_config_integration(
                    "t1",
                    &Integration {
                        name: "bundled".into(),
                        ..crm()
                    },
                )
                .await
                .unwrap();
            assert_eq!(bundled.url_provenance, UrlProvenance::Operator);

            let account = store
                .create_account(NewAccount {
                    tenant: "t1".into(),
                    integration_id: integration.id,
                    name: None,
                    base_url: Some("http://10.0.0.5/api".into()),
                    context: Default::default(),
                    credentials: Credentials::None,
                    url_provenance: UrlProvenance::Operator,
                })
                .await
                .unwrap();
            let patch = |p: AccountPatch| {
                let store = store.clone();
                async move {
                    store.update_account(account.id, p).await.unwrap();
                    store
                        .get_account(account.id)
                        .await
                        .unwrap()
                        .unwrap()
                        .url_provenance
                }
            };
            // A patch that names no provenance (a rotated token) keeps it.
            let rotated = AccountPatch {
                credentials: Some(Credentials::None),
                ..AccountPatch::default()
            };
            assert_eq!(patch(rotated).await, UrlProvenance::Operator);
            let by_tenant = AccountPatch {
                base_url: Some(Some("http://10.0.0.6/api".into())),
                url_provenance: Some(UrlProvenance::Tenant),
                ..AccountPatch::default()
            };
            assert_eq!(patch(by_tenant).await, UrlProvenance::Tenant);
        }
    }

    #[tokio::test]
    async fn one_settings_server_per_tenant_and_integration() {
        for store in stores().await {
            let integration = store
                .create_integration("t1", crm(), UrlProvenance::Tenant)
                .await
                .unwrap();
            let new = || NewServer {
                integration_id: Some(integration.id),
                ..NewServer::new("t1", "settings", ServerSource::Unbound)
            };
            let (s, none) = store
                .create_server(NewServer {
                    mint_key: false,
                    ..new()
                })
                .await
                .unwrap();
            assert!(none.is_none());
            assert!(store.list_server_keys(s.id).await.unwrap().is_empty());
            assert!(matches!(
                store.create_server(new()).await,
                Err(StoreError::Conflict(_))
            ));
            let found = store
                .integration_server("t1", integration.id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.id, s.id);
            assert_eq!(found.source, ServerSource::Unbound);
            assert!(
                store
                    .integration_server("t2", integration.id)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
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
    async fn settings_keep_the_first_value_and_sessions_expire() {
        for store in stores().await {
            assert_eq!(store.init_setting("k", "one").await.unwrap(), "one");
            assert_eq!(store.init_setting("k", "two").await.unwrap(), "one");

            let past = now_ms() - time::Duration::minutes(1);
            let future = now_ms() + time::Duration::minutes(1);
            store.end_session("old", past).await.unwrap();
            store.end_session("new", future).await.unwrap();
            let ended: Vec<_> = store
                .ended_sessions()
                .await
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert_eq!(ended, vec!["new".to_owned()]);
        }
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
