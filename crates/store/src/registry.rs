//! Upstream MCP servers and portals: stored as JSON documents keyed by
//! (tenant, id), upstream credentials sealed like account credentials.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

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
}

/// A portal: upstreams behind one MCP endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalRecord {
    /// Owning tenant.
    pub tenant: String,
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Member upstreams and their tool selection.
    pub servers: Vec<PortalServer>,
    /// Prefix tool and prompt names with the upstream id (default true; a
    /// single-server portal may opt out).
    #[serde(default = "yes")]
    pub prefix: bool,
    /// Withhold tools whose definition changed since accepted.
    #[serde(default)]
    pub pin_tools: bool,
    /// The virtual server holding the portal's keys.
    pub server_id: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Admin token id of the creator.
    pub created_by: Option<String>,
    /// Last change (ms).
    pub modified_at: i64,
    /// Admin token id of the last change.
    pub modified_by: Option<String>,
}

fn yes() -> bool {
    true
}

/// One upstream of a portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalServer {
    /// The upstream's id.
    pub server_id: String,
    /// Tools are off unless listed in `enabled_tools`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default_disabled: bool,
    /// Tools to expose (with `default_disabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_tools: Option<Vec<String>>,
    /// Tools to hide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_tools: Option<Vec<String>>,
}

fn to_json(v: &impl Serialize) -> String {
    serde_json::to_string(v).expect("a record serializes")
}

fn corrupt(table: &'static str, e: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table,
        message: e.to_string(),
    }
}

impl Store {
    /// Insert an upstream; a taken id is a conflict.
    pub async fn create_upstream(
        &self,
        record: &UpstreamRecord,
        credentials: Option<&str>,
    ) -> Result<(), StoreError> {
        let sealed =
            credentials.map(|c| self.seal(&format!("upstream:{}:{}", record.tenant, record.id), c));
        let done = sqlx::query(
            "INSERT INTO mcp_upstreams (tenant, id, doc, credentials) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&record.tenant)
        .bind(&record.id)
        .bind(to_json(record))
        .bind(sealed)
        .execute(self.pool())
        .await?;
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

    /// Delete an upstream no portal uses; `false` when missing.
    pub async fn delete_upstream(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        // A portal whose record does not read cannot be said to use it.
        let portals = self.load_portals().await?.records;
        let users: Vec<&str> = portals
            .iter()
            .filter(|p| p.tenant == tenant && p.servers.iter().any(|s| s.server_id == id))
            .map(|p| p.id.as_str())
            .collect();
        if !users.is_empty() {
            return Err(StoreError::Conflict(format!(
                "portal(s) {} use this MCP server; remove it from them first",
                users.join(", ")
            )));
        }
        let done = sqlx::query("DELETE FROM mcp_upstreams WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Insert a portal; a taken id is a conflict.
    pub async fn create_portal(&self, record: &PortalRecord) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO portals (tenant, id, doc, server_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&record.tenant)
        .bind(&record.id)
        .bind(to_json(record))
        .bind(&record.server_id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "a portal with id {:?} already exists",
                record.id
            )));
        }
        Ok(())
    }

    /// Replace a portal's record.
    pub async fn update_portal(&self, record: &PortalRecord) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE portals SET doc = $1 WHERE tenant = $2 AND id = $3")
            .bind(to_json(record))
            .bind(&record.tenant)
            .bind(&record.id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every portal.
    pub async fn list_portals(&self) -> Result<Vec<PortalRecord>, StoreError> {
        self.load_portals().await?.strict()
    }

    /// Every portal, with the rows that do not read set aside.
    pub async fn load_portals(&self) -> Result<Loaded<PortalRecord>, StoreError> {
        let rows = sqlx::query("SELECT tenant, id, doc FROM portals ORDER BY tenant, id")
            .fetch_all(self.pool())
            .await?;
        Ok(Loaded::from_rows("portals", &rows, |r| {
            serde_json::from_str(&r.get::<String, _>("doc")).map_err(|e| corrupt("portals", e))
        }))
    }

    /// Delete a portal (its server and keys go with it).
    pub async fn delete_portal(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<PortalRecord>, StoreError> {
        let Some(portal) = self
            .list_portals()
            .await?
            .into_iter()
            .find(|p| p.tenant == tenant && p.id == id)
        else {
            return Ok(None);
        };
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM portals WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM servers WHERE id = $1")
            .bind(&portal.server_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(portal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_stores::stores;
    use crate::{NewServer, ServerSource};

    fn upstream(id: &str) -> UpstreamRecord {
        UpstreamRecord {
            tenant: "acme".into(),
            id: id.into(),
            name: id.to_uppercase(),
            hostname: format!("https://{id}.example.com/mcp"),
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
        }
    }

    #[tokio::test]
    async fn upstreams_and_portals_round_trip_with_sealed_credentials() {
        for store in stores().await {
            store
                .create_upstream(&upstream("crm"), Some("upstream-secret"))
                .await
                .unwrap();
            assert!(matches!(
                store.create_upstream(&upstream("crm"), None).await,
                Err(StoreError::Conflict(_))
            ));
            let mut synced = upstream("crm");
            synced.status = "ready".into();
            synced.last_synced = Some(42);
            assert!(store.update_upstream(&synced, None).await.unwrap());
            let listed = store.list_upstreams().await.unwrap();
            assert_eq!(
                listed,
                vec![(synced.clone(), Some("upstream-secret".to_owned()))]
            );
            assert!(store.update_upstream(&synced, Some(None)).await.unwrap());
            assert_eq!(store.list_upstreams().await.unwrap()[0].1, None);

            let (server, _) = store
                .create_server(NewServer::new(
                    "acme",
                    "portal",
                    ServerSource::Portal("p1".into()),
                ))
                .await
                .unwrap();
            let portal = PortalRecord {
                tenant: "acme".into(),
                id: "p1".into(),
                name: "P1".into(),
                description: None,
                servers: vec![PortalServer {
                    server_id: "crm".into(),
                    default_disabled: false,
                    enabled_tools: None,
                    disabled_tools: Some(vec!["delete".into()]),
                }],
                prefix: true,
                pin_tools: false,
                server_id: server.id.to_string(),
                created_at: 1,
                created_by: None,
                modified_at: 1,
                modified_by: None,
            };
            store.create_portal(&portal).await.unwrap();
            assert_eq!(store.list_portals().await.unwrap(), vec![portal.clone()]);
            let e = store.delete_upstream("acme", "crm").await.unwrap_err();
            assert!(e.to_string().contains("p1"), "{e}");
            let deleted = store.delete_portal("acme", "p1").await.unwrap();
            assert_eq!(deleted, Some(portal));
            assert!(
                store.get_server(server.id).await.unwrap().is_none(),
                "the portal's server goes with it"
            );
            assert!(store.delete_upstream("acme", "crm").await.unwrap());
            assert!(store.get_upstream("acme", "crm").await.unwrap().is_none());
        }
    }
}
