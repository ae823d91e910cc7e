//! Integrated accounts: an integration bound to a base URL and sealed
//! credentials.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::{AccountId, AccountPatch, AccountRecord, NewAccount};
use crate::rows::{corrupt, from_json, parse_id, parse_provenance, to_json};
use crate::time::{from_unix_ms, now, unix_ms};
use crate::write::{refused, retrying};
use crate::{Loaded, Store, StoreError};
use mcpgate_catalog::Credentials;

impl Store {
    /// Create an integrated account; its credentials are sealed.
    pub async fn create_account(&self, new: NewAccount) -> Result<AccountRecord, StoreError> {
        let now = now();
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
        let sealed = self
            .master_key()
            .seal(&id, to_json(&record.credentials).as_bytes());
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
            .bind(unix_ms(now))
            .bind(unix_ms(now))
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
            .fetch_optional(self.pool())
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
            .fetch_all(self.pool())
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
            record.updated_at = now();
            let id = id.to_string();
            sqlx::query(
                "UPDATE integrated_accounts SET name = $1, base_url = $2, context = $3, credentials = $4, credentials_kind = $5, updated_at = $6, url_provenance = $8 WHERE id = $7",
            )
            .bind(&record.name)
            .bind(&record.base_url)
            .bind(to_json(&record.context))
            .bind(self.master_key().seal(&id, to_json(&record.credentials).as_bytes()))
            .bind(record.credentials.kind())
            .bind(unix_ms(record.updated_at))
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
        let plain = self.master_key().open(&id, &sealed).ok_or_else(|| {
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
            created_at: from_unix_ms(r.try_get("created_at")?),
            updated_at: from_unix_ms(r.try_get("updated_at")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterKey;
    use crate::test_stores::crm;
    use crate::{NewServer, ServerSource};
    use mcpgate_catalog::UrlProvenance;

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
}
