//! Servers: the MCP endpoints the gateway serves (their source, scope,
//! limits, sandbox), created with their first key.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::key::ApiKey;
use crate::keys::insert_key;
use crate::model::{
    AccountId, KeyRecord, NewServer, ServerId, ServerPatch, ServerRecord, ServerSource,
};
use crate::rows::{corrupt, from_json, parse_id, to_json};
use crate::time::{from_unix_ms, now, unix_ms};
use crate::write::{refused, retrying};
use crate::{Loaded, Store, StoreError};

impl Store {
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
            .fetch_optional(self.pool())
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
            .fetch_all(self.pool())
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
        .fetch_all(self.pool())
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

    /// Servers of an integrated account, in a tenant, oldest first.
    pub async fn list_account_servers(
        &self,
        account: AccountId,
    ) -> Result<Vec<ServerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM servers WHERE source_kind = 'account' AND source_ref = $1 AND integration_id IS NULL ORDER BY id",
        )
        .bind(account.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(server_from_row).collect()
    }
}

/// The record a [`NewServer`] becomes: a fresh id, created now.
pub(crate) fn new_server_record(new: NewServer) -> ServerRecord {
    let now = now();
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
pub(crate) fn account_of(source: &ServerSource) -> Option<String> {
    match source {
        ServerSource::Account(a) => Some(a.to_string()),
        _ => None,
    }
}

pub(crate) async fn insert_server(
    tx: &mut AnyConnection,
    record: &ServerRecord,
) -> Result<(), StoreError> {
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
    .bind(record.expires_at.map(unix_ms))
    .bind(unix_ms(record.created_at))
    .bind(unix_ms(record.updated_at))
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
pub(crate) async fn update_server_in(
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
    record.updated_at = now();
    let (kind, reference) = record.source.to_columns();
    sqlx::query(
        "UPDATE servers SET name = $1, disabled = $2, expires_at = $3, scope = $4, exposed_tools = $5,
             source_kind = $6, source_ref = $7, account_id = $8, description = $9, limits = $10, sandbox = $11,
             modified_by = $12, updated_at = $13 WHERE id = $14",
    )
    .bind(&record.name)
    .bind(i16::from(record.disabled))
    .bind(record.expires_at.map(unix_ms))
    .bind(to_json(&record.scope))
    .bind(record.exposed_tools.as_ref().map(to_json))
    .bind(kind)
    .bind(reference)
    .bind(account_of(&record.source))
    .bind(&record.description)
    .bind(to_json(&record.limits))
    .bind(to_json(&record.sandbox))
    .bind(&record.modified_by)
    .bind(unix_ms(record.updated_at))
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

pub(crate) fn server_from_row(r: &AnyRow) -> Result<ServerRecord, StoreError> {
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
        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(from_unix_ms),
        created_at: from_unix_ms(r.try_get("created_at")?),
        updated_at: from_unix_ms(r.try_get("updated_at")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyHash;

    use crate::test_stores::{demo, stores};

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

            let expiry = now() + time::Duration::hours(1);
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
}
