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
            "INSERT INTO sandbox_objects (sandbox, resource, id, seq, doc) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(sandbox, resource, id) DO UPDATE SET seq = CASE WHEN excluded.seq < sandbox_objects.seq THEN excluded.seq ELSE sandbox_objects.seq END, doc = excluded.doc",
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
        let done = sqlx::query("DELETE FROM sandbox_objects WHERE sandbox = $1")
            .bind(sandbox)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Store a recorded call.
    pub async fn add_fixture(&self, f: &Fixture) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fixtures (id, server_id, tool, arguments, result, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
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
             WHERE ($1 IS NULL OR server_id = $2) ORDER BY created_at, id",
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
        let done = sqlx::query("DELETE FROM fixtures WHERE id = $1 AND server_id = $2")
            .bind(id.to_string())
            .bind(server.to_string())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_stores::stores;
    use crate::{NewServer, ServerSource};
    use serde_json::json;

    #[tokio::test]
    async fn sandbox_objects_keep_their_first_position_and_fixtures_round_trip() {
        for store in stores().await {
            store
                .sandbox_write("k1", "contacts", "a", 5, Some(&json!({"v": 1})))
                .await
                .unwrap();
            store
                .sandbox_write("k1", "contacts", "b", 6, Some(&json!({"v": 2})))
                .await
                .unwrap();
            // A later write of `a` changes its document, not its place.
            store
                .sandbox_write("k1", "contacts", "a", 9, Some(&json!({"v": 3})))
                .await
                .unwrap();
            store
                .sandbox_write("k2", "contacts", "c", 7, None)
                .await
                .unwrap();
            let loaded = store.sandbox_load().await.unwrap();
            let ids: Vec<_> = loaded.iter().map(|o| o.2.as_str()).collect();
            assert_eq!(ids, ["a", "b", "c"]);
            assert_eq!(loaded[0].3, Some(json!({"v": 3})));
            assert_eq!(loaded[2].3, None, "a deletion marker");
            assert_eq!(store.sandbox_reset("k1").await.unwrap(), 2);
            assert_eq!(store.sandbox_load().await.unwrap().len(), 1);

            let (server, _) = store
                .create_server(NewServer::new(
                    "default",
                    "s",
                    ServerSource::Toolset("demo".into()),
                ))
                .await
                .unwrap();
            let fixture = Fixture {
                id: Uuid::now_v7(),
                server_id: server.id,
                tool: "list_contacts".into(),
                arguments: json!({"limit": 2}),
                result: json!({"content": []}),
                created_at: 1_700_000_000_000,
            };
            store.add_fixture(&fixture).await.unwrap();
            assert_eq!(
                store.list_fixtures(Some(server.id)).await.unwrap(),
                vec![fixture.clone()]
            );
            assert_eq!(store.list_fixtures(None).await.unwrap().len(), 1);
            assert!(store.delete_fixture(server.id, fixture.id).await.unwrap());
            assert!(store.list_fixtures(None).await.unwrap().is_empty());
        }
    }
}
