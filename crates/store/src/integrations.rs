//! Integrations (bundled or created through the API) and their
//! per-tenant MCP settings server.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::key::ApiKey;
use crate::keys::insert_key;
use crate::model::{
    IntegrationId, IntegrationRecord, KeyRecord, NewServer, Origin, ServerPatch, ServerRecord,
};
use crate::rows::{corrupt, from_json, parse_id, parse_provenance, to_json};
use crate::servers::{server_from_row, update_server_in};
use crate::time::{from_unix_ms, now, unix_ms};
use crate::write::{refused, retrying};
use crate::{Loaded, Store, StoreError};
use mcpgate_catalog::{Integration, UrlProvenance};

impl Store {
    /// Insert or refresh a bundled integration (by tenant and name). An
    /// integration of that name created through the API is left alone.
    pub async fn upsert_config_integration(
        &self,
        tenant: &str,
        definition: &Integration,
    ) -> Result<IntegrationRecord, StoreError> {
        let now = unix_ms(now());
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
        .execute(self.pool())
        .await?;
        let row = sqlx::query("SELECT * FROM integrations WHERE tenant = $1 AND name = $2")
            .bind(tenant)
            .bind(&definition.name)
            .fetch_one(self.pool())
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
        let now = now();
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
            .bind(unix_ms(now))
            .bind(unix_ms(now))
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
            .fetch_optional(self.pool())
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
            .fetch_optional(self.pool())
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
            .fetch_all(self.pool())
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
            .fetch_all(self.pool())
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
            let rows = query.fetch_all(self.pool()).await?;
            let part = Loaded::from_rows("integrations", &rows, integration_from_row);
            loaded.records.extend(part.records);
            loaded.unreadable.extend(part.unreadable);
        }
        Ok(loaded)
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
            record.updated_at = now().max(record.updated_at + time::Duration::milliseconds(1));
            sqlx::query(
                "UPDATE integrations SET name = $1, definition = $2, updated_at = $3, url_provenance = $5 WHERE id = $4",
            )
            .bind(&record.definition.name)
            .bind(to_json(&record.definition))
            .bind(unix_ms(record.updated_at))
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
    pub(crate) async fn delete_unless_used(
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

    /// The server the per-integration MCP settings of `tenant` manage, if any.
    pub async fn integration_server(
        &self,
        tenant: &str,
        integration: IntegrationId,
    ) -> Result<Option<ServerRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM servers WHERE tenant = $1 AND integration_id = $2")
            .bind(tenant)
            .bind(integration.to_string())
            .fetch_optional(self.pool())
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
}

pub(crate) fn integration_from_row(r: &AnyRow) -> Result<IntegrationRecord, StoreError> {
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
        created_at: from_unix_ms(r.try_get("created_at")?),
        updated_at: from_unix_ms(r.try_get("updated_at")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccountPatch, NewAccount, ServerSource};
    use mcpgate_catalog::Credentials;

    use crate::test_stores::{crm, stores};

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
}
