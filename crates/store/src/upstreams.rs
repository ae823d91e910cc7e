//! Upstream MCP servers: stored as JSON documents keyed by (tenant, id),
//! their credentials sealed like account credentials; a sync records its
//! outcome without undoing an admin's write.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use crate::rows::{corrupt, to_json};
use crate::write::{retrying, violation};
use crate::{Loaded, Store, StoreError};

/// An upstream MCP server as registered and last synced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamRecord {
    /// Owning tenant.
    pub tenant: String,
    /// Its id (given at creation or generated).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The MCP endpoint URL.
    pub hostname: String,
    /// Who last wrote `hostname`. A document without it (written before it
    /// was recorded) counts as a tenant's.
    #[serde(default)]
    pub url_provenance: mcpgate_catalog::UrlProvenance,
    /// `unauthenticated`, `bearer` or `oauth`.
    pub auth_type: String,
    /// Timeout of one call to this upstream, in seconds (default: the gateway's).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Free text.
    pub description: Option<String>,
    /// `waiting`, `ready`, `error` (or `stale`, computed on read).
    pub status: String,
    /// The last failure: `{message, status?, retryable}`.
    pub error: Option<Value>,
    /// What the last successful sync found.
    pub snapshot: Option<Value>,
    /// Accepted fingerprint per tool name (drift detection).
    #[serde(default)]
    pub accepted: std::collections::BTreeMap<String, String>,
    /// Tools whose current definition differs from the accepted one.
    #[serde(default)]
    pub changes: Vec<Value>,
    /// Last sync attempt (ms).
    pub last_synced: Option<i64>,
    /// Last successful sync (ms).
    pub last_successful_sync: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Admin token id of the creator.
    pub created_by: Option<String>,
    /// Last change (ms).
    pub modified_at: i64,
    /// Admin token id of the last change.
    pub modified_by: Option<String>,
    /// Bumped by every change to how the upstream is reached (endpoint,
    /// credential, timeout): a sync records its outcome only while the
    /// version it started with is still current
    /// ([`Store::record_sync`]).
    #[serde(default)]
    pub config_version: u64,
    /// What the last successful sync found odd (a list whose cursor
    /// repeated, the page cap, duplicate entries).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl UpstreamRecord {
    /// Whether `other` is this upstream reached the same way: the same
    /// configuration version of the same creation (an upstream deleted and
    /// created again under its id starts its versions afresh), endpoint,
    /// auth type and timeout.
    pub fn same_config(&self, other: &UpstreamRecord) -> bool {
        self.config_version == other.config_version
            && self.created_at == other.created_at
            && self.hostname == other.hostname
            && self.auth_type == other.auth_type
            && self.timeout_secs == other.timeout_secs
    }

    /// Apply a sync's outcome — its own fields only (status, error, lists,
    /// drift, warnings, sync times) — from `outcome`, leaving everything an
    /// admin sets as it is.
    pub fn take_sync_fields(&mut self, outcome: &UpstreamRecord) {
        self.status.clone_from(&outcome.status);
        self.error.clone_from(&outcome.error);
        self.snapshot.clone_from(&outcome.snapshot);
        self.accepted.clone_from(&outcome.accepted);
        self.changes.clone_from(&outcome.changes);
        self.warnings.clone_from(&outcome.warnings);
        self.last_synced = outcome.last_synced;
        self.last_successful_sync = outcome.last_successful_sync;
    }
}

/// How [`Store::record_sync`] went.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncWrite {
    /// Recorded: the upstream as it now stands.
    Recorded(Box<UpstreamRecord>),
    /// Not recorded: the upstream's configuration changed since the sync
    /// started (its results may come from an endpoint or credential that
    /// is no longer configured).
    Superseded,
    /// Not recorded: the upstream no longer exists.
    Gone,
}

/// How often [`Store::record_sync`] re-reads a record that another write
/// changed under it before giving up.
const SYNC_WRITE_ATTEMPTS: usize = 8;

impl Store {
    /// Insert an upstream; a taken id is a conflict.
    pub async fn create_upstream(
        &self,
        record: &UpstreamRecord,
        credentials: Option<&str>,
    ) -> Result<(), StoreError> {
        let sealed =
            credentials.map(|c| self.seal(&format!("upstream:{}:{}", record.tenant, record.id), c));
        let done = retrying!(async {
            sqlx::query(
                "INSERT INTO mcp_upstreams (tenant, id, doc, credentials) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&record.tenant)
            .bind(&record.id)
            .bind(to_json(record))
            .bind(&sealed)
            .execute(self.pool())
            .await
            .map_err(StoreError::from)
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "an MCP server with id {:?} already exists",
                record.id
            )));
        }
        Ok(())
    }

    /// Replace an upstream's record; `credentials`: `None` keeps them,
    /// `Some(None)` removes them.
    pub async fn update_upstream(
        &self,
        record: &UpstreamRecord,
        credentials: Option<Option<&str>>,
    ) -> Result<bool, StoreError> {
        let done = match credentials {
            None => {
                sqlx::query("UPDATE mcp_upstreams SET doc = $1 WHERE tenant = $2 AND id = $3")
                    .bind(to_json(record))
                    .bind(&record.tenant)
                    .bind(&record.id)
                    .execute(self.pool())
                    .await?
            }
            Some(c) => {
                let sealed =
                    c.map(|c| self.seal(&format!("upstream:{}:{}", record.tenant, record.id), c));
                sqlx::query(
                    "UPDATE mcp_upstreams SET doc = $1, credentials = $2 WHERE tenant = $3 AND id = $4",
                )
                .bind(to_json(record))
                .bind(sealed)
                .bind(&record.tenant)
                .bind(&record.id)
                .execute(self.pool())
                .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    /// Record a sync's outcome on an upstream without undoing any other
    /// write: `apply` gets the record as it stands now and sets the sync's
    /// own fields (see [`UpstreamRecord::take_sync_fields`]); the write is a
    /// compare-and-swap on the stored document, retried on a concurrent
    /// change, and skipped ([`SyncWrite::Superseded`]) when the record is
    /// no longer configured as `started_with`, the record the sync started
    /// from ([`UpstreamRecord::same_config`]). Credentials are never
    /// written here.
    pub async fn record_sync(
        &self,
        started_with: &UpstreamRecord,
        apply: impl Fn(&mut UpstreamRecord),
    ) -> Result<SyncWrite, StoreError> {
        let (tenant, id) = (&started_with.tenant, &started_with.id);
        for _ in 0..SYNC_WRITE_ATTEMPTS {
            let row = sqlx::query("SELECT doc FROM mcp_upstreams WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
            let Some(row) = row else {
                return Ok(SyncWrite::Gone);
            };
            let read: String = row.get(0);
            let mut record: UpstreamRecord =
                serde_json::from_str(&read).map_err(|e| corrupt("mcp_upstreams", e))?;
            if !record.same_config(started_with) {
                return Ok(SyncWrite::Superseded);
            }
            apply(&mut record);
            let done = sqlx::query(
                "UPDATE mcp_upstreams SET doc = $1 WHERE tenant = $2 AND id = $3 AND doc = $4",
            )
            .bind(to_json(&record))
            .bind(tenant)
            .bind(id)
            .bind(&read)
            .execute(self.pool())
            .await?;
            if done.rows_affected() > 0 {
                return Ok(SyncWrite::Recorded(Box::new(record)));
            }
        }
        Err(StoreError::Conflict(format!(
            "the MCP server {id:?} kept changing while a sync recorded its outcome; sync again"
        )))
    }

    /// Every upstream with its credentials (opened), for the registry.
    pub async fn list_upstreams(
        &self,
    ) -> Result<Vec<(UpstreamRecord, Option<String>)>, StoreError> {
        self.load_upstreams().await?.strict()
    }

    /// Every upstream with its credentials (opened), with the rows that do
    /// not read (or whose credentials do not open) set aside.
    pub async fn load_upstreams(
        &self,
    ) -> Result<Loaded<(UpstreamRecord, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, id, doc, credentials FROM mcp_upstreams ORDER BY tenant, id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(Loaded::from_rows("mcp_upstreams", &rows, |r| {
            let record: UpstreamRecord = serde_json::from_str(&r.get::<String, _>("doc"))
                .map_err(|e| corrupt("mcp_upstreams", e))?;
            let sealed: Option<String> = r.get("credentials");
            let credentials = sealed
                .map(|s| {
                    self.open_sealed(&format!("upstream:{}:{}", record.tenant, record.id), &s)
                        .ok_or_else(|| {
                            corrupt(
                                "mcp_upstreams",
                                "credentials cannot be opened: wrong MCPGATE_SECRET_KEY?",
                            )
                        })
                })
                .transpose()?;
            Ok((record, credentials))
        }))
    }

    /// One upstream.
    pub async fn get_upstream(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<UpstreamRecord>, StoreError> {
        let row = sqlx::query("SELECT doc FROM mcp_upstreams WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            serde_json::from_str(&r.get::<String, _>(0)).map_err(|e| corrupt("mcp_upstreams", e))
        })
        .transpose()
    }

    /// Delete an upstream no portal uses; `false` when missing. A conflict
    /// naming the portals that list it otherwise.
    pub async fn delete_upstream(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let users: Vec<String> = sqlx::query_scalar(
                "SELECT portal_id FROM portal_upstreams WHERE tenant = $1 AND upstream_id = $2 ORDER BY portal_id",
            )
            .bind(tenant)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let in_use = |users: &[String]| {
                StoreError::Conflict(format!(
                    "portal(s) {} use this MCP server; remove it from them first",
                    users.join(", ")
                ))
            };
            if !users.is_empty() {
                return Err(in_use(&users));
            }
            let done = sqlx::query("DELETE FROM mcp_upstreams WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| match violation(&e) {
                    Some(_) => in_use(&[]),
                    None => StoreError::Database(e),
                })?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_stores::{stores, upstream};

    /// A sync that started before an admin changed the upstream must not
    /// write back the old name, endpoint or anything else the admin set,
    /// and its results (from the old endpoint) are not recorded at all;
    /// one that started after records only its own fields.
    #[tokio::test]
    async fn a_sync_never_undoes_an_admins_write() {
        for store in stores().await {
            store
                .create_upstream(&upstream("crm"), Some("old-secret"))
                .await
                .unwrap();
            let started_with = store.get_upstream("acme", "crm").await.unwrap().unwrap();
            // The admin's PUT lands while the sync runs.
            let mut edited = started_with.clone();
            edited.name = "Renamed".into();
            edited.hostname = "https://new.example.com/mcp".into();
            edited.config_version += 1;
            assert!(
                store
                    .update_upstream(&edited, Some(Some("new-secret")))
                    .await
                    .unwrap()
            );
            let mut outcome = started_with.clone();
            outcome.status = "ready".into();
            outcome.snapshot = Some(serde_json::json!({"tools": [{"name": "old"}]}));
            outcome.last_synced = Some(99);
            let written = store
                .record_sync(&started_with, |r| r.take_sync_fields(&outcome))
                .await
                .unwrap();
            assert_eq!(written, SyncWrite::Superseded);
            let (now, credentials) = store.list_upstreams().await.unwrap().remove(0);
            assert_eq!(now, edited, "nothing of the stale sync was written");
            assert_eq!(credentials.as_deref(), Some("new-secret"));

            // A sync on the current configuration writes only its fields.
            let written = store
                .record_sync(&edited, |r| r.take_sync_fields(&outcome))
                .await
                .unwrap();
            let SyncWrite::Recorded(recorded) = written else {
                panic!("a current sync is recorded: {written:?}");
            };
            assert_eq!(recorded.name, "Renamed");
            assert_eq!(recorded.hostname, "https://new.example.com/mcp");
            assert_eq!(recorded.status, "ready");
            assert_eq!(recorded.last_synced, Some(99));
            assert_eq!(
                store.get_upstream("acme", "crm").await.unwrap().unwrap(),
                *recorded
            );
            assert_eq!(
                store.record_sync(&upstream("gone"), |_| {}).await.unwrap(),
                SyncWrite::Gone
            );
            // Deleted and created again under its id (versions start
            // afresh): a sync of the first one is not recorded on the second.
            store.delete_upstream("acme", "crm").await.unwrap();
            let mut again = upstream("crm");
            again.created_at = 2;
            store.create_upstream(&again, None).await.unwrap();
            assert_eq!(
                store
                    .record_sync(&upstream("crm"), |r| r.take_sync_fields(&outcome))
                    .await
                    .unwrap(),
                SyncWrite::Superseded
            );
        }
    }

    #[test]
    fn an_upstream_written_before_provenance_was_recorded_is_a_tenants() {
        let mut doc = serde_json::to_value(upstream("crm")).unwrap();
        doc.as_object_mut().unwrap().remove("url_provenance");
        let read: UpstreamRecord = serde_json::from_value(doc).unwrap();
        assert_eq!(read.url_provenance, mcpgate_catalog::UrlProvenance::Tenant);
    }
}
