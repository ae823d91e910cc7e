//! Reading whole tables when some rows may not read: one record that does
//! not decode (written by another version or by hand, or sealed under
//! another key) must not hide every other record, nor stop the gateway
//! from starting.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;

/// A stored record that cannot be read, named well enough to find and fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Its table (`mcp_upstreams`, `portals`, `integrations`,
    /// `integrated_accounts`, `servers`).
    pub table: &'static str,
    /// Its tenant, when that column reads.
    pub tenant: Option<String>,
    /// Its id as stored (empty when even that does not read).
    pub id: String,
    /// Why it cannot be read.
    pub reason: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.table, self.id)?;
        if let Some(t) = &self.tenant {
            write!(f, " (tenant {t:?})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Every record of a table that reads, and every one that does not.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The records that read, in the table's order.
    pub records: Vec<T>,
    /// The rows that did not.
    pub unreadable: Vec<Unreadable>,
}

impl<T> Loaded<T> {
    /// Decode each row on its own; a row that fails is set aside with its
    /// reason (the error's own words).
    pub(crate) fn from_rows(
        table: &'static str,
        rows: &[AnyRow],
        decode: impl Fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Self {
        let mut loaded = Self {
            records: Vec::with_capacity(rows.len()),
            unreadable: Vec::new(),
        };
        for row in rows {
            match decode(row) {
                Ok(record) => loaded.records.push(record),
                Err(e) => loaded.unreadable.push(Unreadable {
                    table,
                    tenant: row.try_get::<String, _>("tenant").ok(),
                    id: row.try_get::<String, _>("id").unwrap_or_default(),
                    reason: match e {
                        StoreError::Corrupt { message, .. } => message,
                        other => other.to_string(),
                    },
                }),
            }
        }
        loaded
    }

    /// All records, or the first unreadable row as an error (for callers
    /// that need the whole table).
    pub fn strict(self) -> Result<Vec<T>, StoreError> {
        match self.unreadable.into_iter().next() {
            None => Ok(self.records),
            Some(u) => Err(StoreError::Corrupt {
                table: u.table,
                message: format!("{:?}: {}", u.id, u.reason),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_stores::stores;

    #[tokio::test]
    async fn an_unreadable_row_is_set_aside_and_the_rest_still_read() {
        for store in stores().await {
            // Portal rows name their backing servers (a foreign key).
            let mut servers = Vec::new();
            for name in ["good", "bad"] {
                let new = crate::NewServer::new("t1", name, crate::ServerSource::Unbound);
                servers.push(store.create_server(new).await.unwrap().0.id.to_string());
            }
            for (tenant, id, doc) in [
                (
                    "t1",
                    "good",
                    r#"{"tenant":"t1","id":"good","name":"g","description":null,"servers":[],"server_id":"s","created_at":0,"created_by":null,"modified_at":0,"modified_by":null}"#,
                ),
                ("t1", "bad", "{not json"),
            ] {
                sqlx::query(
                    "INSERT INTO portals (tenant, id, doc, server_id) VALUES ($1, $2, $3, $4)",
                )
                .bind(tenant)
                .bind(id)
                .bind(doc.replace(
                    "\"server_id\":\"s\"",
                    &format!("\"server_id\":\"{}\"", servers[0]),
                ))
                .bind(if id == "good" {
                    &servers[0]
                } else {
                    &servers[1]
                })
                .execute(store.pool())
                .await
                .unwrap();
            }
            let loaded = store.load_portals().await.unwrap();
            assert_eq!(loaded.records.len(), 1);
            assert_eq!(loaded.records[0].id, "good");
            let bad = &loaded.unreadable[0];
            assert_eq!((bad.table, bad.id.as_str()), ("portals", "bad"));
            assert_eq!(bad.tenant.as_deref(), Some("t1"));
            assert!(bad.reason.contains("key must be a string"), "{bad}");
            // Callers that need the whole table still get the error.
            let err = store.list_portals().await.unwrap_err().to_string();
            assert!(err.contains("portals") && err.contains("\"bad\""), "{err}");
        }
    }
}
