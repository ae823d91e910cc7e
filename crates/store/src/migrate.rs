//! Migrations embedded in the binary, one list per backend, so a fresh
//! database needs nothing from disk. (sqlx's `migrate!` macro would do the same but needs the
//! `macros` feature, which compiles SQLite a second time.)

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::backend::Backend;

#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "integrations",
        include_str!("../migrations/sqlite/0002_integrations.sql"),
    ),
    (
        3,
        "tenancy_keys_limits",
        include_str!("../migrations/sqlite/0003_tenancy_keys_limits.sql"),
    ),
    (
        4,
        "upstreams_portals",
        include_str!("../migrations/sqlite/0004_upstreams_portals.sql"),
    ),
    (
        5,
        "sandbox",
        include_str!("../migrations/sqlite/0005_sandbox.sql"),
    ),
    (
        6,
        "revision",
        include_str!("../migrations/sqlite/0006_revision.sql"),
    ),
    (
        7,
        "job_leases",
        include_str!("../migrations/sqlite/0007_job_leases.sql"),
    ),
    (
        8,
        "references",
        include_str!("../migrations/sqlite/0008_references.sql"),
    ),
    (
        9,
        "session_ends",
        include_str!("../migrations/sqlite/0009_session_ends.sql"),
    ),
    (
        10,
        "url_provenance",
        include_str!("../migrations/sqlite/0010_url_provenance.sql"),
    ),
    (
        11,
        "heads",
        include_str!("../migrations/sqlite/0011_heads.sql"),
    ),
];

// PostgreSQL support arrived after SQLite's seventh migration, so its first
// migration is the schema those seven build; later changes get a file on
// each side with the same number.
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        7,
        "initial",
        include_str!("../migrations/postgres/0007_initial.sql"),
    ),
    (
        8,
        "references",
        include_str!("../migrations/postgres/0008_references.sql"),
    ),
    (
        9,
        "session_ends",
        include_str!("../migrations/postgres/0009_session_ends.sql"),
    ),
    (
        10,
        "url_provenance",
        include_str!("../migrations/postgres/0010_url_provenance.sql"),
    ),
    (
        11,
        "heads",
        include_str!("../migrations/postgres/0011_heads.sql"),
    ),
];

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>>
                + Send,
        >,
    > {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        (*description).into(),
                        MigrationType::Simple,
                        AssertSqlSafe(*sql).into_sql_str(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The migrator for `backend`.
pub(crate) async fn migrator(backend: Backend) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::any::AnyPoolOptions;
    use sqlx::{AnyPool, Row};

    /// What earlier versions could leave behind: a portal whose server was
    /// deleted, a backing server no portal points at (with a live key), a
    /// portal listing an upstream that is gone, a server over an account,
    /// and settings of a deleted integration.
    const LEFT_BEHIND: &[&str] = &[
        "INSERT INTO mcp_upstreams (tenant, id, doc) VALUES ('acme', 'up1', '{}')",
        "INSERT INTO portals (tenant, id, doc, server_id) VALUES ('acme', 'lost', \
         '{\"name\": \"Lost\", \"servers\": [{\"server_id\": \"up1\"}, {\"server_id\": \"gone\"}]}', 'srv-missing')",
        "INSERT INTO servers (id, tenant, name, source_kind, source_ref, created_at, updated_at) \
         VALUES ('srv-orphan', 'acme', 'o', 'portal', 'ghost', 1, 1)",
        "INSERT INTO server_keys (id, server_id, hash, prefix, created_at) VALUES ('k1', 'srv-orphan', 'h1', 'p', 1)",
        "INSERT INTO integrations (id, tenant, name, origin, definition, created_at, updated_at) \
         VALUES ('i1', 'acme', 'crm', 'api', '{}', 1, 1)",
        "INSERT INTO integrated_accounts (id, tenant, integration_id, credentials, credentials_kind, created_at, updated_at) \
         VALUES ('a1', 'acme', 'i1', 'x', 'none', 1, 1)",
        "INSERT INTO servers (id, tenant, name, source_kind, source_ref, created_at, updated_at) \
         VALUES ('srv-acct', 'acme', 'a', 'account', 'a1', 1, 1)",
        "INSERT INTO servers (id, tenant, name, source_kind, source_ref, integration_id, created_at, updated_at) \
         VALUES ('srv-settings', 'acme', 's', 'unbound', '', 'i-gone', 1, 1)",
    ];

    async fn migrate_over_leftovers(pool: &AnyPool, backend: Backend, before: usize) {
        let all = match backend {
            Backend::Sqlite => SQLITE,
            Backend::Postgres => POSTGRES,
        };
        Migrator::new(Embedded(&all[..before]))
            .await
            .unwrap()
            .run(pool)
            .await
            .unwrap();
        for sql in LEFT_BEHIND {
            sqlx::query(AssertSqlSafe(*sql))
                .execute(pool)
                .await
                .unwrap();
        }
        migrator(backend).await.unwrap().run(pool).await.unwrap();

        let name = |id: &'static str| async move {
            sqlx::query(
                "SELECT name, source_kind, account_id, integration_id FROM servers WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .unwrap()
        };
        let restored = name("srv-missing")
            .await
            .expect("the portal's server is back");
        assert_eq!(restored.get::<String, _>(0), "Lost");
        assert_eq!(restored.get::<String, _>(1), "portal");
        assert!(name("srv-orphan").await.is_none(), "the orphan is gone");
        let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM server_keys")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(keys, 0, "with its key");
        let members: Vec<String> =
            sqlx::query_scalar("SELECT upstream_id FROM portal_upstreams WHERE portal_id = 'lost'")
                .fetch_all(pool)
                .await
                .unwrap();
        assert_eq!(members, vec!["up1".to_owned()]);
        let over = name("srv-acct").await.unwrap();
        assert_eq!(over.get::<Option<String>, _>(2).as_deref(), Some("a1"));
        let settings = name("srv-settings").await.unwrap();
        assert_eq!(settings.get::<Option<String>, _>(3), None);
        // From now on the database keeps it so.
        assert!(
            sqlx::query("DELETE FROM servers WHERE id = 'srv-missing'")
                .execute(pool)
                .await
                .is_err(),
            "a portal's server cannot be deleted under it"
        );
        assert!(
            sqlx::query("DELETE FROM mcp_upstreams WHERE id = 'up1'")
                .execute(pool)
                .await
                .is_err(),
            "an upstream a portal lists cannot be deleted"
        );
    }

    #[tokio::test]
    async fn the_references_migration_repairs_what_it_finds_on_both_backends() {
        sqlx::any::install_default_drivers();
        let sqlite = AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        migrate_over_leftovers(&sqlite, Backend::Sqlite, 7).await;
        if let Some(url) = crate::test_stores::postgres().await {
            let pg = AnyPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .unwrap();
            migrate_over_leftovers(&pg, Backend::Postgres, 1).await;
        }
    }
}
