//! Persistence for mcpgate.
//!
//! One [`Store`] over SQLite (the embedded default, one host) or PostgreSQL
//! (any number of replicas), created and migrated on first open. Secrets never reach the database in the clear: API keys are
//! kept as their SHA-256 ([`KeyHash`]).

#![warn(missing_docs)]

mod accounts;
mod backend;
mod changes;
mod integrations;
#[cfg(test)]
mod integrity_tests;
pub mod key;
mod keys;
mod lease;
mod loaded;
mod migrate;
pub mod model;
pub mod portals;
mod rows;
pub mod sandbox;
pub mod scratch;
pub mod secrets;
mod servers;
mod sessions;
mod settings;
mod store;
#[cfg(test)]
mod test_stores;
pub mod time;
pub mod upstreams;
mod write;

pub use backend::{Backend, redact};
pub use changes::ChangeListener;
pub use key::{ApiKey, KeyHash};
pub use loaded::{Loaded, Unreadable};
pub use model::{
    AccountId, AccountPatch, AccountRecord, AdminTokenRecord, IntegrationId, IntegrationRecord,
    KeyRecord, Limits, NewAccount, NewServer, Origin, SandboxSettings, ServerId, ServerPatch,
    ServerRecord, ServerSource,
};
pub use portals::{PortalRecord, PortalServer};
pub use sandbox::Fixture;
pub use secrets::MasterKey;
pub use sessions::ChangeMarks;
pub use store::Store;
pub use upstreams::{SyncWrite, UpstreamRecord};

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
    /// Other writers kept the database locked past the retry budget
    /// (contention, not a fault of the request); nothing was written, and
    /// the same request may be sent again.
    #[error("the store is busy with other writes; nothing was changed, try again")]
    Busy,
    /// The store cannot be used as configured (a bad URL or path).
    #[error("{0}")]
    Config(String),
    /// The credentials key differs from the one the store was created with.
    #[error(
        "this store's credentials were sealed with a different key: start every replica with \
         the same MCPGATE_SECRET_KEY (or, on one host, the data directory's original secret.key)"
    )]
    WrongKey,
    /// A stored row does not decode (a bug or a hand-edited database).
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// What failed to decode.
        message: String,
    },
}

impl StoreError {
    /// The database could not be reached (down, restarting, out of
    /// connections): worth retrying, unlike a rejected query.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Database(
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}
