//! The SQLite backend: one file in the data directory, WAL mode, migrated on open.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::key::{ApiKey, KeyHash};
use crate::model::{KeyRecord, NewServer, ServerId, ServerPatch, ServerRecord, ServerSource};
use crate::{StoreError, migrate};

/// The store. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

fn to_ms(t: OffsetDateTime) -> i64 {
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

impl Store {
    /// Open (creating and migrating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        Self::connect(options).await
    }

    /// A private in-memory database, for tests.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        // In-memory databases are per connection, so those get exactly one.
        let max = if options.get_filename() == Path::new(":memory:") {
            1
        } else {
            4
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await?;
        migrate::sqlite().await?.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Whether the database answers (for readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Create a server together with its first key, atomically. The returned
    /// [`ApiKey`] carries the only copy of the secret.
    pub async fn create_server(
        &self,
        new: NewServer,
    ) -> Result<(ServerRecord, KeyRecord, ApiKey), StoreError> {
        let now = now_ms();
        let record = ServerRecord {
            id: ServerId::new(),
            tenant: new.tenant,
            name: new.name,
            source: new.source,
            disabled: false,
            expires_at: new.expires_at,
            created_at: now,
            updated_at: now,
        };
        let key = ApiKey::generate();
        let key_record = KeyRecord {
            id: Uuid::now_v7(),
            server_id: record.id,
            hash: key.hash,
            prefix: key.prefix.clone(),
            created_at: now,
            expires_at: None,
            revoked_at: None,
        };
        let (kind, reference) = record.source.to_columns();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO servers (id, tenant, name, source_kind, source_ref, disabled, expires_at, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
        )
        .bind(record.id.to_string())
        .bind(&record.tenant)
        .bind(&record.name)
        .bind(kind)
        .bind(reference)
        .bind(record.expires_at.map(to_ms))
        .bind(to_ms(now))
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO server_keys (id, server_id, hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(key_record.id.to_string())
        .bind(record.id.to_string())
        .bind(key.hash.to_hex())
        .bind(&key.prefix)
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((record, key_record, key))
    }

    /// One server by id.
    pub async fn get_server(&self, id: ServerId) -> Result<Option<ServerRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM servers WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| server_from_row(&r)).transpose()
    }

    /// All servers, oldest first.
    pub async fn list_servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM servers ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(server_from_row).collect()
    }

    /// A page of servers in id order (ids are time-ordered UUIDv7), after
    /// `after` when given. Returns at most `limit` records and whether more follow.
    pub async fn list_servers_page(
        &self,
        after: Option<ServerId>,
        limit: u32,
    ) -> Result<(Vec<ServerRecord>, bool), StoreError> {
        let rows = sqlx::query("SELECT * FROM servers WHERE id > ? ORDER BY id LIMIT ?")
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let more = rows.len() > limit as usize;
        let records = rows
            .iter()
            .take(limit as usize)
            .map(server_from_row)
            .collect::<Result<_, _>>()?;
        Ok((records, more))
    }

    /// Apply a partial update; `None` when there is no such server.
    pub async fn update_server(
        &self,
        id: ServerId,
        patch: ServerPatch,
    ) -> Result<Option<ServerRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query("SELECT * FROM servers WHERE id = ?")
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
        record.updated_at = now_ms();
        sqlx::query(
            "UPDATE servers SET name = ?, disabled = ?, expires_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&record.name)
        .bind(record.disabled)
        .bind(record.expires_at.map(to_ms))
        .bind(to_ms(record.updated_at))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    /// Delete a server and its keys; false when there was no such server.
    pub async fn delete_server(&self, id: ServerId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM servers WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every key that is not revoked, for building the in-memory index.
    pub async fn list_active_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM server_keys WHERE revoked_at IS NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// The keys of one server that are not revoked.
    pub async fn list_server_keys(&self, id: ServerId) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM server_keys WHERE server_id = ? AND revoked_at IS NULL ORDER BY created_at",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// A setting's value.
    pub async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    /// Store a setting unless one exists; returns the value now in force, so
    /// racing first starts agree on one value.
    pub async fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
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
    pub async fn end_session(
        &self,
        nonce: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO ended_sessions (nonce, expires_at) VALUES (?, ?) ON CONFLICT(nonce) DO NOTHING")
            .bind(nonce)
            .bind(to_ms(expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ended sessions that have not yet expired (older ones are purged).
    pub async fn ended_sessions(&self) -> Result<Vec<(String, OffsetDateTime)>, StoreError> {
        let now = to_ms(OffsetDateTime::now_utc());
        sqlx::query("DELETE FROM ended_sessions WHERE expires_at < ?")
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

fn corrupt(table: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        message: message.into(),
    }
}

fn server_from_row(r: &SqliteRow) -> Result<ServerRecord, StoreError> {
    let id: String = r.try_get("id")?;
    let kind: String = r.try_get("source_kind")?;
    let reference: String = r.try_get("source_ref")?;
    Ok(ServerRecord {
        id: id
            .parse()
            .map_err(|_| corrupt("servers", format!("bad id {id:?}")))?,
        tenant: r.try_get("tenant")?,
        name: r.try_get("name")?,
        source: ServerSource::from_columns(&kind, reference)
            .ok_or_else(|| corrupt("servers", format!("unknown source kind {kind:?}")))?,
        disabled: r.try_get("disabled")?,
        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(from_ms),
        created_at: from_ms(r.try_get("created_at")?),
        updated_at: from_ms(r.try_get("updated_at")?),
    })
}

fn key_from_row(r: &SqliteRow) -> Result<KeyRecord, StoreError> {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(name: &str) -> NewServer {
        NewServer {
            tenant: "default".into(),
            name: name.into(),
            source: ServerSource::Toolset("demo".into()),
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn server_lifecycle_and_keys() {
        let store = Store::open_in_memory().await.unwrap();
        let (server, key, secret) = store.create_server(demo("a")).await.unwrap();
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

    #[tokio::test]
    async fn pages_cover_every_server_once() {
        let store = Store::open_in_memory().await.unwrap();
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
        let (first, more) = store.list_servers_page(None, 2).await.unwrap();
        assert!(more);
        let (second, more) = store.list_servers_page(Some(first[1].id), 2).await.unwrap();
        assert!(more);
        let (third, more) = store
            .list_servers_page(Some(second[1].id), 2)
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

    #[tokio::test]
    async fn the_secret_is_not_in_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = Store::open(&path).await.unwrap();
        let (_, _, key) = store.create_server(demo("a")).await.unwrap();
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
        let store = Store::open_in_memory().await.unwrap();
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

    #[tokio::test]
    async fn reopening_a_file_keeps_data_and_does_not_remigrate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let id = {
            let store = Store::open(&path).await.unwrap();
            store.create_server(demo("kept")).await.unwrap().0.id
        };
        let store = Store::open(&path).await.unwrap();
        assert_eq!(store.get_server(id).await.unwrap().unwrap().name, "kept");
    }
}
