//! Single-runner jobs: which process runs each cluster-wide periodic job.
//!
//! On SQLite (replicas on one host sharing the file) a lease is a row with
//! an expiry that its holder renews. On PostgreSQL it is a session advisory
//! lock held on a connection of its own: it lasts exactly as long as the
//! holding process is alive and connected, so a crashed replica's jobs move
//! on as soon as the server notices the connection is gone, with no clock
//! shared between hosts.

use std::collections::HashMap;

use sqlx::{AnyConnection, Connection};
use tokio::sync::Mutex;

use crate::StoreError;
use crate::time::{now, unix_ms};

/// The lease bookkeeping of one store.
pub(crate) enum Leases {
    /// Rows in `job_leases` (SQLite).
    Table,
    /// Advisory locks (PostgreSQL), one connection per (job, holder).
    Advisory {
        url: String,
        connections: Mutex<HashMap<(String, String), Held>>,
    },
}

/// A lock connection and whether it holds its lock.
pub(crate) struct Held {
    conn: AnyConnection,
    locked: bool,
}

impl Leases {
    /// See [`Store::hold_lease`](crate::Store::hold_lease).
    pub(crate) async fn hold(
        &self,
        pool: &sqlx::AnyPool,
        job: &str,
        holder: &str,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Table => {
                let now = now();
                let done = sqlx::query(
                    "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT(job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= $4",
                )
                .bind(job)
                .bind(holder)
                .bind(unix_ms(now + ttl))
                .bind(unix_ms(now))
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
            Self::Advisory { url, connections } => {
                let mut connections = connections.lock().await;
                let slot = (job.to_owned(), holder.to_owned());
                if let Some(held) = connections.get_mut(&slot) {
                    match try_lock(held, job).await {
                        Ok(locked) => return Ok(locked),
                        // The connection is gone, and with it any lock it held.
                        Err(_) => {
                            connections.remove(&slot);
                        }
                    }
                }
                let mut held = Held {
                    conn: AnyConnection::connect(url).await?,
                    locked: false,
                };
                let locked = try_lock(&mut held, job).await?;
                connections.insert(slot, held);
                Ok(locked)
            }
        }
    }
}

/// Take the job's lock unless this connection has it; checking a held lock
/// costs one round trip, which also proves the connection (and so the
/// lock) is still there. Locks are per database, so the key names the
/// schema too: stores in different schemas of one database do not contend.
async fn try_lock(held: &mut Held, job: &str) -> Result<bool, StoreError> {
    if held.locked {
        sqlx::query("SELECT 1").execute(&mut held.conn).await?;
        return Ok(true);
    }
    held.locked = sqlx::query_scalar(
        "SELECT pg_try_advisory_lock(hashtextextended('mcpgate:' || current_schema() || ':' || $1, 0))",
    )
    .bind(job)
    .fetch_one(&mut held.conn)
    .await?;
    Ok(held.locked)
}
