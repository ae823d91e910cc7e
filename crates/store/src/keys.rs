//! Server keys (hashed, rotated with grace, used-at batched) and admin
//! tokens.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::key::{ApiKey, KeyHash};
use crate::model::{AdminTokenRecord, KeyRecord, ServerId};
use crate::rows::{corrupt, parse_id};
use crate::time::{from_unix_ms, now, unix_ms};
use crate::write::retrying;
use crate::{Loaded, Store, StoreError};

impl Store {
    /// Every key that is not revoked, for building the in-memory index.
    pub async fn list_active_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.load_active_keys().await?.strict()
    }

    /// Every key that is not revoked, with the rows that do not read set aside.
    pub async fn load_active_keys(&self) -> Result<Loaded<KeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM server_keys WHERE revoked_at IS NULL")
            .fetch_all(self.pool())
            .await?;
        Ok(Loaded::from_rows("server_keys", &rows, key_from_row))
    }

    /// The keys of one server that are not revoked.
    pub async fn list_server_keys(&self, id: ServerId) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM server_keys WHERE server_id = $1 AND revoked_at IS NULL ORDER BY created_at",
        )
        .bind(id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(key_from_row).collect()
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
                .fetch_all(self.pool())
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
        let mut tx = self.pool().begin().await?;
        for (id, at) in used {
            sqlx::query("UPDATE server_keys SET last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $1 THEN $1 ELSE last_used_at END WHERE id = $2")
                .bind(unix_ms(*at))
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
            created_at: now(),
        };
        retrying!(async {
            sqlx::query(
                "INSERT INTO admin_tokens (id, tenant, hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(record.id.to_string())
            .bind(&record.tenant)
            .bind(record.hash.to_hex())
            .bind(&record.prefix)
            .bind(unix_ms(record.created_at))
            .execute(self.pool())
            .await
            .map_err(StoreError::from)
        })?;
        Ok((record, key))
    }

    /// Admin tokens that are not revoked.
    pub async fn list_admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM admin_tokens WHERE revoked_at IS NULL ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AdminTokenRecord {
                    id: parse_id("admin_tokens", &r.try_get::<String, _>("id")?)?,
                    tenant: r.try_get("tenant")?,
                    hash: KeyHash::from_hex(&r.try_get::<String, _>("hash")?)
                        .ok_or_else(|| corrupt("admin_tokens", "bad hash"))?,
                    prefix: r.try_get("prefix")?,
                    created_at: from_unix_ms(r.try_get("created_at")?),
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
            .bind(unix_ms(now()))
            .bind(id.to_string())
            .execute(self.pool())
            .await
            .map_err(StoreError::from)
        })?;
        Ok(done.rows_affected() > 0)
    }
}

pub(crate) async fn insert_key(
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
        created_at: now(),
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
    .bind(unix_ms(record.created_at))
    .bind(expires_at.map(unix_ms))
    .execute(&mut *tx)
    .await?;
    Ok((record, key))
}

pub(crate) async fn server_exists(
    tx: &mut AnyConnection,
    server: ServerId,
) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT 1 FROM servers WHERE id = $1")
        .bind(server.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .is_some())
}

/// Revoke every live key of `server` (now, or after `grace`) and mint one
/// new key, inside `tx`; `None` when the server is gone.
pub(crate) async fn rotate_in(
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
pub(crate) async fn revoke(
    tx: &mut AnyConnection,
    server: ServerId,
    key: Uuid,
    grace: time::Duration,
) -> Result<bool, StoreError> {
    let now = now();
    let done = if grace.is_positive() {
        let until = unix_ms(now + grace);
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
        .bind(unix_ms(now))
        .bind(key.to_string())
        .bind(server.to_string())
        .execute(&mut *tx)
        .await?
    };
    Ok(done.rows_affected() > 0)
}

pub(crate) fn key_from_row(r: &AnyRow) -> Result<KeyRecord, StoreError> {
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
        created_at: from_unix_ms(r.try_get("created_at")?),
        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(from_unix_ms),
        revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(from_unix_ms),
        last_used_at: r
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(from_unix_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_stores::{demo, stores};

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
                let left = k.expires_at.unwrap() - now();
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

            let at = now();
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
}
