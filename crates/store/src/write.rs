//! How the store writes: one writer at a time, whole transactions, and a
//! bounded retry when the database answers with contention.
//!
//! Every multi-statement write runs in a [`WriteTx`] from
//! [`Store::begin_write`]. On SQLite that is `BEGIN IMMEDIATE` behind an
//! in-process gate: the write lock is taken up front, so a transaction that
//! reads and then writes can never be refused with `SQLITE_BUSY` (a deferred
//! transaction upgrading its read lock is refused at once, whatever the busy
//! timeout), and writers of this process queue on the gate instead of
//! holding pool connections in SQLite's busy handler. On PostgreSQL the
//! transaction first takes a transaction-scoped advisory lock, so the admin
//! writes of every replica run one at a time (they already queue on the
//! `revision` row each of them bumps, so nothing is lost), and a
//! check-then-write inside one of them sees every write committed before it.
//! What the database still refuses for contention (another process's lock
//! outlasting the busy timeout, a PostgreSQL deadlock with a writer that
//! takes no advisory lock) is retried by [`retrying!`]; a client never sees
//! contention as a failure unless it outlasts the retry budget, and then
//! as [`StoreError::Busy`] (nothing written), never as an internal error.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::{Any, AnyConnection, Transaction};

use crate::backend::Backend;
use crate::{Store, StoreError};

/// Attempts of one write before it is given up as [`StoreError::Busy`].
pub(crate) const WRITE_ATTEMPTS: u32 = 8;

/// A write transaction holding the store's writer lock; dropped without
/// [`commit`](Self::commit), it rolls back and releases the lock.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Any>,
    // Released after the transaction ends (fields drop in order).
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commit, then let the next writer in.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Store {
    /// Begin a transaction that holds the store's writer lock (see the
    /// module docs). Use it for every write that reads first or writes more
    /// than one row; use nothing else of the pool while holding it (an
    /// in-memory store has one connection).
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        match self.backend() {
            Backend::Sqlite => {
                let gate = self.write_gate().clone().lock_owned().await;
                let tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _gate: Some(gate),
                })
            }
            Backend::Postgres => {
                let mut tx = self.pool().begin().await?;
                // Per schema, like the job leases: test schemas on one
                // server do not wait for each other.
                sqlx::query(
                    "SELECT 1 FROM pg_advisory_xact_lock(hashtextextended('mcpgate:writes:' || current_schema(), 0))",
                )
                .execute(&mut *tx)
                .await?;
                Ok(WriteTx { tx, _gate: None })
            }
        }
    }
}

impl Store {
    /// Begin a write transaction that is ordered only against writers of
    /// the same rows: on SQLite the same as [`begin_write`](Self::begin_write)
    /// (one writer per file anyway), on PostgreSQL without the admin writers'
    /// advisory lock, for writes that check nothing another write could
    /// change (ending a session) and must not queue behind admin writes.
    pub(crate) async fn begin_write_rows(&self) -> Result<WriteTx, StoreError> {
        match self.backend() {
            Backend::Sqlite => self.begin_write().await,
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool().begin().await?,
                _gate: None,
            }),
        }
    }
}

/// Whether `e` is the database refusing for contention, not for the
/// request: SQLite `SQLITE_BUSY`/`SQLITE_LOCKED` (any extended code),
/// PostgreSQL `serialization_failure` (40001), `deadlock_detected` (40P01)
/// or `lock_not_available` (55P03). Such a write did nothing and may be
/// run again as it was.
pub(crate) fn is_contention(e: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(d)) = e else {
        return false;
    };
    let Some(code) = d.code() else {
        return false;
    };
    match code.parse::<i32>() {
        // SQLite reports its (extended) result code as a number.
        Ok(n) => matches!(n & 0xff, 5 | 6),
        Err(_) => matches!(code.as_ref(), "40001" | "40P01" | "55P03"),
    }
}

/// The pause before attempt `attempt + 1` (1-based `attempt`): doubling
/// from 5 ms, capped at 400 ms, with jitter so writers that collided do
/// not collide again in step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 5u64 << attempt.min(7);
    let capped = base.min(400);
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % (capped / 2 + 1);
    Duration::from_millis(capped / 2 + jitter)
}

/// Run the async block `$body` (evaluated afresh for each attempt) until it
/// succeeds, fails for a reason other than contention, or
/// [`WRITE_ATTEMPTS`] have failed for contention ([`StoreError::Busy`]).
macro_rules! retrying {
    ($body:expr) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match $body.await {
                Err(e) if $crate::write::is_contention(&e) => {
                    drop(e);
                    if attempt >= $crate::write::WRITE_ATTEMPTS {
                        break Err($crate::StoreError::Busy);
                    }
                    tokio::time::sleep($crate::write::backoff(attempt)).await;
                }
                done => break done,
            }
        }
    }};
}
pub(crate) use retrying;

/// What a refused constraint means for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A unique or primary key (a taken id or name).
    Unique,
    /// A foreign key: a referenced row is missing, or a row being deleted
    /// is still referenced.
    ForeignKey,
}

/// The constraint `e` broke, if that is why the database refused it.
/// SQLite triggers that enforce references `RAISE(ABORT, 'FOREIGN KEY …')`,
/// and count as foreign keys.
pub(crate) fn violation(e: &sqlx::Error) -> Option<Violation> {
    let sqlx::Error::Database(d) = e else {
        return None;
    };
    if d.is_unique_violation() {
        return Some(Violation::Unique);
    }
    if d.is_foreign_key_violation() || d.message().starts_with("FOREIGN KEY") {
        return Some(Violation::ForeignKey);
    }
    None
}

/// A refused write as the request's fault: a taken unique value is the
/// conflict `unique`, a broken reference the conflict `missing`; anything
/// else stays a database error (contention included, for the retry).
pub(crate) fn refused(e: sqlx::Error, unique: &str, missing: &str) -> StoreError {
    match violation(&e) {
        Some(Violation::Unique) => StoreError::Conflict(unique.to_owned()),
        Some(Violation::ForeignKey) => StoreError::Conflict(missing.to_owned()),
        None => StoreError::Database(e),
    }
}
