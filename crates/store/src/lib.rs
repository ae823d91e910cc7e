//! Persistence for mcpgate.
//!
//! One [`Store`] over SQLite, the embedded default, created and migrated on
//! first open. Secrets never reach the database in the clear: API keys are
//! kept as their SHA-256 ([`KeyHash`]).

pub mod key;
mod migrate;
pub mod model;
pub mod registry;
pub mod sandbox;
pub mod secrets;
mod sqlite;

pub use key::{ApiKey, KeyHash};
pub use model::{
    AccountId, AccountPatch, AccountRecord, AdminTokenRecord, IntegrationId, IntegrationRecord,
    KeyRecord, Limits, NewAccount, NewServer, Origin, SandboxSettings, ServerId, ServerPatch,
    ServerRecord, ServerSource,
};
pub use registry::{PortalRecord, PortalServer, UpstreamRecord};
pub use sandbox::Fixture;
pub use secrets::MasterKey;
pub use sqlite::Store;

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The write would break a rule (a duplicate name, a row still in use).
    #[error("{0}")]
    Conflict(String),
    /// A stored row does not decode (a bug or a hand-edited database).
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// What failed to decode.
        message: String,
    },
}
