//! Throwaway PostgreSQL schemas, for tests and benchmarks that need a
//! database of their own on a shared server (CI runs many at once).

use sqlx::{AnyConnection, AssertSqlSafe, Connection};

use crate::StoreError;

const PREFIX: &str = "mcpgate_t_";

/// Schemas left behind (a test that panicked) are dropped after this long.
const STALE_SECS: i64 = 3600;

/// Create an empty schema on the server `base_url` names and return a URL
/// whose connections use it (`options[search_path]`). Schemas this made
/// more than an hour ago are dropped on the way.
pub async fn scratch_schema(base_url: &str) -> Result<String, StoreError> {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(base_url).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let existing: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1)",
    )
    .bind(PREFIX)
    .fetch_all(&mut conn)
    .await?;
    for name in existing {
        let made = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<i64>().ok());
        if made.is_some_and(|made| made < now - STALE_SECS) {
            // Another run may be dropping it too; either way it goes.
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
            )))
            .execute(&mut conn)
            .await;
        }
    }
    let name = format!("{PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let joiner = if base_url.contains('?') { '&' } else { '?' };
    Ok(format!("{base_url}{joiner}options[search_path]={name}"))
}
