//! Per-key limits shared by every replica, kept in Redis (`limits.backend =
//! "redis"`). The rate is a GCRA cell and the concurrency cap a set of
//! leases, both checked and taken in one Lua script, so one round trip
//! admits a request atomically across replicas. Leases expire: a replica
//! that dies mid-call cannot leak its permits past the lease TTL, and a
//! live call renews its lease until it ends.
//!
//! When Redis cannot be reached the caller falls back to the local limiter
//! (see `mcp::admission::limit`); this module says so in the logs once per outage and
//! in `/readyz`, and retries Redis after a short pause — it never admits a
//! request unlimited.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::limits::{Effective, Refusal};

/// Rate cell (GCRA, in microseconds of the Redis clock) then a lease.
/// KEYS: rate key, lease set. ARGV: emission interval µs, burst, max
/// concurrency, lease TTL ms, lease id. Returns {0, 0} granted, {1, wait µs}
/// refused by the rate, {2, 0} refused by the concurrency cap.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
if tat < now_us then tat = now_us end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now_us then return {1, allow_at - now_us} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {2, 0} end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now_us) / 1000) + 1)
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[4]), ARGV[5])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]) * 2)
return {0, 0}
";

/// Push a live lease's expiry forward (only if it still exists).
const RENEW: &str = r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now_ms + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 1
";

/// How long Redis is left alone after a failure before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why the cluster limits could not decide (the caller falls back to
/// local limits): Redis failed now, or recently and is not retried yet.
#[derive(Debug, thiserror::Error)]
#[error("Redis is unavailable: {0}")]
pub struct Unavailable(pub String);

#[derive(Default)]
struct Health {
    /// When Redis last failed and why; `None` while it answers.
    down: Option<(Instant, String)>,
}

/// Limits enforced across replicas through one Redis.
pub struct ClusterLimits {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    admit: redis::Script,
    renew: redis::Script,
    lease_ttl: Duration,
    health: Mutex<Health>,
}

impl std::fmt::Debug for ClusterLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("ClusterLimits")
            .field("lease_ttl", &self.lease_ttl)
            .field("degraded", &self.degraded())
            .finish_non_exhaustive()
    }
}

/// A concurrency permit held in Redis, renewed while held and given back
/// when dropped.
pub struct Lease {
    conn: ConnectionManager,
    set: String,
    id: String,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
        let (mut conn, set, id) = (self.conn.clone(), self.set.clone(), self.id.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let r: redis::RedisResult<i64> = redis::cmd("ZREM")
                    .arg(&set)
                    .arg(&id)
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = r {
                    // The lease expires on its own within its TTL.
                    tracing::debug!(error = %e, "could not release a concurrency lease");
                }
            });
        }
    }
}

/// Why cluster limits could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterLimitsError {
    /// The Redis URL does not parse.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(redis::RedisError),
}

impl ClusterLimits {
    /// Limits over the Redis at `url` (`redis://host:port/db`). Connects on
    /// first use, so a gateway starts (on local limits) while Redis is down.
    pub fn new(url: &str, lease_ttl: Duration) -> Result<Self, ClusterLimitsError> {
        let client = redis::Client::open(url).map_err(ClusterLimitsError::InvalidUrl)?;
        Ok(Self {
            client,
            conn: OnceCell::new(),
            admit: redis::Script::new(ADMIT),
            renew: redis::Script::new(RENEW),
            lease_ttl: lease_ttl.max(Duration::from_millis(100)),
            health: Mutex::new(Health::default()),
        })
    }

    /// `None` while Redis answers; otherwise why it does not.
    pub fn degraded(&self) -> Option<String> {
        let health = self.health.lock().expect("health lock");
        health.down.as_ref().map(|(_, why)| why.clone())
    }

    fn failed(&self, e: impl std::fmt::Display) -> Unavailable {
        let why = e.to_string();
        let mut health = self.health.lock().expect("health lock");
        if health.down.is_none() {
            tracing::warn!(error = %why,
                "Redis limits unavailable: enforcing per-replica (local) limits until it is back");
        }
        health.down = Some((Instant::now(), why.clone()));
        Unavailable(why)
    }

    fn recovered(&self) {
        let mut health = self.health.lock().expect("health lock");
        if health.down.take().is_some() {
            tracing::info!("Redis limits available again: enforcing cluster-wide limits");
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, Unavailable> {
        if let Some((since, why)) = &self.health.lock().expect("health lock").down
            && since.elapsed() < RETRY_AFTER
        {
            return Err(Unavailable(why.clone()));
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        self.conn
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
            .map_err(|e| self.failed(e))
    }

    /// Ask Redis whether it answers (for readiness); returns
    /// [`Self::degraded`] afterwards.
    pub async fn check(&self) -> Option<String> {
        if let Ok(mut conn) = self.connection().await {
            match redis::cmd("PING").query_async::<String>(&mut conn).await {
                Ok(_) => self.recovered(),
                Err(e) => {
                    self.failed(e);
                }
            }
        }
        self.degraded()
    }

    /// Take a rate cell and a concurrency lease of `bucket` (a key id, with a
    /// suffix for its sandbox twin). `Ok(Err(_))` is a refusal by the limits;
    /// `Err(_)` means Redis could not decide.
    pub async fn admit(
        &self,
        bucket: &str,
        limits: Effective,
    ) -> Result<Result<Lease, Refusal>, Unavailable> {
        let mut conn = self.connection().await?;
        // A hash tag keeps both keys of a bucket in one Redis Cluster slot.
        let (rate, set) = (
            format!("mcpgate:{{{bucket}}}:rate"),
            format!("mcpgate:{{{bucket}}}:leases"),
        );
        let id = Uuid::new_v4().to_string();
        let ttl_ms = self.lease_ttl.as_millis() as u64;
        let interval_us = 1_000_000 / u64::from(limits.rate_per_sec.max(1));
        let (code, wait_us): (i64, i64) = self
            .admit
            .key(&rate)
            .key(&set)
            .arg(interval_us.max(1))
            .arg(limits.burst.max(1))
            .arg(limits.max_concurrency.max(1))
            .arg(ttl_ms)
            .arg(&id)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        self.recovered();
        match code {
            0 => {}
            1 => {
                let wait = Duration::from_micros(wait_us.max(0) as u64);
                return Ok(Err(Refusal::Rate(wait)));
            }
            _ => return Ok(Err(Refusal::Concurrency(limits.max_concurrency))),
        }
        let renewer = {
            let (mut conn, script) = (conn.clone(), self.renew.clone());
            let (set, id) = (set.clone(), id.clone());
            let every = self.lease_ttl / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let r: redis::RedisResult<i64> = script
                        .key(&set)
                        .arg(ttl_ms)
                        .arg(&id)
                        .invoke_async(&mut conn)
                        .await;
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "could not renew a concurrency lease");
                    }
                }
            })
        };
        Ok(Ok(Lease {
            conn,
            set,
            id,
            renewer,
        }))
    }
}
