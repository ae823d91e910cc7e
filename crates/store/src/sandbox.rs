//! Sandbox persistence: simulated objects and recorded fixtures.

use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use crate::{ServerId, Store, StoreError};

/// A recorded real call, replayed by the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    /// Its id.
    pub id: Uuid,
    /// The server it was recorded on.
    pub server_id: ServerId,
    /// Tool name.
    pub tool: String,
    /// Arguments (secrets redacted).
    pub arguments: Value,
    /// The tool result (secrets redacted).
    pub result: Value,
    /// When it was recorded (ms).
    pub created_at: i64,
}

fn corrupt(table: &'static str, e: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table,
        message: e.to_string(),
    }
}

impl Store {
    /// Record a sandbox object (`None`: deleted), in write order.
    pub async fn sandbox_write(
        &self,
        sandbox: &str,
        resource: &str,
        id: &str,
        seq: i64,
        doc: Option<&Value>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sandbox_objects (sandbox, resource, id, seq, doc) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(sandbox, resource, id) DO UPDATE SET seq = MIN(sandbox_objects.seq, excluded.seq), doc = excluded.doc",
        )
        .bind(sandbox)
        .bind(resource)
        .bind(id)
        .bind(seq)
        .bind(doc.map(|d| d.to_string()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every sandbox object, in creation order.
    pub async fn sandbox_load(
        &self,
    ) -> Result<Vec<(String, String, String, Option<Value>)>, StoreError> {
        let rows =
            sqlx::query("SELECT sandbox, resource, id, doc FROM sandbox_objects ORDER BY seq")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| {
                let doc: Option<String> = r.get(3);
                Ok((
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    doc.map(|d| {
                        serde_json::from_str(&d).map_err(|e| corrupt("sandbox_objects", e))
                    })
                    .transpose()?,
                ))
            })
            .collect()
    }

    /// Forget a sandbox's objects.
    pub async fn sandbox_reset(&self, sandbox: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sandbox_objects WHERE sandbox = ?")
            .bind(sandbox)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Store a recorded call.
    pub async fn add_fixture(&self, f: &Fixture) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fixtures (id, server_id, tool, arguments, result, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(f.id.to_string())
        .bind(f.server_id.to_string())
        .bind(&f.tool)
        .bind(f.arguments.to_string())
        .bind(f.result.to_string())
        .bind(f.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The fixtures of a server (or of all servers), oldest first.
    pub async fn list_fixtures(
        &self,
        server: Option<ServerId>,
    ) -> Result<Vec<Fixture>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, server_id, tool, arguments, result, created_at FROM fixtures
             WHERE (? IS NULL OR server_id = ?) ORDER BY created_at, id",
        )
        .bind(server.map(|s| s.to_string()))
        .bind(server.map(|s| s.to_string()))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let parse = |i: usize| {
                    serde_json::from_str::<Value>(&r.get::<String, _>(i))
                        .map_err(|e| corrupt("fixtures", e))
                };
                Ok(Fixture {
                    id: r
                        .get::<String, _>(0)
                        .parse()
                        .map_err(|e| corrupt("fixtures", e))?,
                    server_id: r
                        .get::<String, _>(1)
                        .parse()
                        .map_err(|e| corrupt("fixtures", e))?,
                    tool: r.get(2),
                    arguments: parse(3)?,
                    result: parse(4)?,
                    created_at: r.get(5),
                })
            })
            .collect()
    }

    /// Delete a fixture of a server; `false` when missing.
    pub async fn delete_fixture(&self, server: ServerId, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM fixtures WHERE id = ? AND server_id = ?")
            .bind(id.to_string())
            .bind(server.to_string())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
