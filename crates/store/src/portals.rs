//! Portals: upstreams behind one MCP endpoint, stored as JSON documents
//! keyed by (tenant, id), each with the server that holds its keys.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::key::ApiKey;
use crate::model::{KeyRecord, NewServer, ServerRecord, ServerSource};
use crate::rows::{corrupt, to_json};
use crate::write::{refused, retrying};
use crate::{Loaded, Store, StoreError};

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

impl Store {
    /// Create a portal with its backing server (from `server`, its source
    /// set to the portal) and that server's first key, in one transaction:
    /// all of them or nothing. `portal.server_id` is set to the new
    /// server's id. A conflict when the id is taken or a listed upstream
    /// is gone; the returned [`ApiKey`] is the only copy of the secret.
    pub async fn create_portal(
        &self,
        mut portal: PortalRecord,
        mut server: NewServer,
    ) -> Result<(PortalRecord, ServerRecord, (KeyRecord, ApiKey)), StoreError> {
        server.source = ServerSource::Portal(portal.id.clone());
        server.tenant = portal.tenant.clone();
        server.mint_key = true;
        let taken = format!("a portal with id {:?} already exists", portal.id);
        let (record, key) = retrying!(async {
            let mut tx = self.begin_write().await?;
            let exists = sqlx::query("SELECT 1 FROM portals WHERE tenant = $1 AND id = $2")
                .bind(&portal.tenant)
                .bind(&portal.id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if exists {
                return Err(StoreError::Conflict(taken.clone()));
            }
            let (record, key) = self.create_server_in(&mut tx, server.clone()).await?;
            let key = key.ok_or_else(|| StoreError::Conflict("no key was minted".into()))?;
            portal.server_id = record.id.to_string();
            sqlx::query("INSERT INTO portals (tenant, id, doc, server_id) VALUES ($1, $2, $3, $4)")
                .bind(&portal.tenant)
                .bind(&portal.id)
                .bind(to_json(&portal))
                .bind(&portal.server_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| refused(e, &taken, "the portal's server is gone"))?;
            link_upstreams(&mut tx, &portal).await?;
            tx.commit().await?;
            Ok((record, key))
        })?;
        Ok((portal, record, key))
    }

    /// Replace a portal's record and the upstreams it lists; `false` when
    /// the portal is gone. A conflict when a listed upstream is gone.
    pub async fn update_portal(&self, record: &PortalRecord) -> Result<bool, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query("UPDATE portals SET doc = $1 WHERE tenant = $2 AND id = $3")
                .bind(to_json(record))
                .bind(&record.tenant)
                .bind(&record.id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM portal_upstreams WHERE tenant = $1 AND portal_id = $2")
                .bind(&record.tenant)
                .bind(&record.id)
                .execute(&mut *tx)
                .await?;
            link_upstreams(&mut tx, record).await?;
            tx.commit().await?;
            Ok(true)
        })
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

    /// Delete portal `id` of `tenant` and its backing server (with its
    /// keys) in one transaction. `None` when there is no such portal;
    /// otherwise the record as it read — `Err` with the reason when it
    /// could not be read, which does not stop the delete (the backing
    /// server is found by its column, not the document).
    pub async fn delete_portal(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Result<PortalRecord, crate::Unreadable>>, StoreError> {
        retrying!(async {
            let mut tx = self.begin_write().await?;
            let Some(row) =
                sqlx::query("SELECT doc, server_id FROM portals WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
            else {
                return Ok(None);
            };
            let doc: String = row.try_get("doc")?;
            let server_id: String = row.try_get("server_id")?;
            let portal =
                serde_json::from_str::<PortalRecord>(&doc).map_err(|e| crate::Unreadable {
                    table: "portals",
                    tenant: Some(tenant.to_owned()),
                    id: id.to_owned(),
                    reason: e.to_string(),
                });
            sqlx::query("DELETE FROM portals WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM servers WHERE id = $1")
                .bind(&server_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(portal))
        })
    }
}

/// Record, inside `tx`, which upstreams `portal` lists (the database
/// refuses one that does not exist).
async fn link_upstreams(
    tx: &mut sqlx::AnyConnection,
    portal: &PortalRecord,
) -> Result<(), StoreError> {
    let mut seen = std::collections::BTreeSet::new();
    for member in &portal.servers {
        if !seen.insert(member.server_id.as_str()) {
            continue;
        }
        sqlx::query(
            "INSERT INTO portal_upstreams (tenant, portal_id, upstream_id) VALUES ($1, $2, $3)",
        )
        .bind(&portal.tenant)
        .bind(&portal.id)
        .bind(&member.server_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            refused(
                e,
                "",
                &format!(
                    "MCP server {:?} no longer exists in this account",
                    member.server_id
                ),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_stores::{stores, upstream};

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
                server_id: String::new(),
                created_at: 1,
                created_by: None,
                modified_at: 1,
                modified_by: None,
            };
            let (portal, server, _) = store
                .create_portal(
                    portal,
                    NewServer::new("acme", "portal", ServerSource::Unbound),
                )
                .await
                .unwrap();
            assert_eq!(portal.server_id, server.id.to_string());
            assert_eq!(server.source, ServerSource::Portal("p1".into()));
            assert_eq!(store.list_portals().await.unwrap(), vec![portal.clone()]);
            let e = store.delete_upstream("acme", "crm").await.unwrap_err();
            assert!(e.to_string().contains("p1"), "{e}");
            let deleted = store.delete_portal("acme", "p1").await.unwrap();
            assert_eq!(deleted, Some(Ok(portal)));
            assert!(
                store.get_server(server.id).await.unwrap().is_none(),
                "the portal's server goes with it"
            );
            assert!(store.delete_upstream("acme", "crm").await.unwrap());
            assert!(store.get_upstream("acme", "crm").await.unwrap().is_none());
        }
    }
}
