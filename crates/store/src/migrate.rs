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
        10,
        "url_provenance",
        include_str!("../migrations/sqlite/0010_url_provenance.sql"),
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
        10,
        "url_provenance",
        include_str!("../migrations/postgres/0010_url_provenance.sql"),
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
