//! Keys as the hot path needs them: admitting a token, carrying each
//! key's limiters across rebuilds, and batching last-use times.

use mcpgate_store::{KeyHash, KeyRecord, ServerId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Index, ms, now_ms};
use crate::limits::{Effective, KeyLimiter};
use crate::view::ServerView;

/// A key as the hot path needs it.
pub struct KeyEntry {
    /// The key's id.
    pub id: Uuid,
    hash: KeyHash,
    /// The server it opens.
    pub server: ServerId,
    expires_at_ms: Option<i64>,
    last_used_ms: AtomicI64,
    flushed_ms: AtomicI64,
    limits: Effective,
    // Created on the key's first request (most keys of a large store are
    // idle, and a limiter is a rate cell plus a semaphore), then kept
    // across index rebuilds while the limits stay the same.
    limiter: OnceLock<Arc<KeyLimiter>>,
    sandbox_limiter: OnceLock<Arc<KeyLimiter>>,
}

impl KeyEntry {
    /// Its rate and concurrency limiter.
    pub fn limiter(&self) -> &KeyLimiter {
        self.limiter
            .get_or_init(|| Arc::new(KeyLimiter::new(self.limits)))
    }

    /// The same limits, counted separately for the key's sandbox twin.
    pub fn sandbox_limiter(&self) -> &KeyLimiter {
        self.sandbox_limiter
            .get_or_init(|| Arc::new(KeyLimiter::new(self.limits)))
    }
}

/// A request's credentials, accepted.
pub struct Admitted {
    /// The server.
    pub view: Arc<ServerView>,
    /// The key used.
    pub key: Arc<KeyEntry>,
}

/// Why a token was refused.
pub enum AuthFailure {
    /// Unknown, expired or revoked token, or an expired or missing server.
    Invalid,
    /// A valid key of a disabled server (the server, so a surface that must
    /// say "disabled" can check it is the one it serves).
    Disabled(Arc<ServerView>),
}

impl Index {
    pub(super) fn replace_keys(
        &self,
        keys: Vec<KeyRecord>,
        limits: &HashMap<ServerId, Effective>,
        in_scope: impl Fn(&KeyEntry) -> bool,
    ) {
        let fresh: HashSet<KeyHash> = keys.iter().map(|k| k.hash).collect();
        for k in keys {
            let want = limits.get(&k.server_id).copied().unwrap_or(self.limits);
            let expires_at_ms = k.expires_at.map(ms);
            let previous = self.keys.get(&k.hash).map(|e| Arc::clone(&e));
            if let Some(p) = &previous
                && p.id == k.id
                && p.expires_at_ms == expires_at_ms
                && p.limits == want
            {
                continue;
            }
            // Keep the limiters (their budgets and calls in flight) when only
            // other fields changed. A limiter first created on the old entry
            // after this point is not carried over: at worst one request's
            // worth of budget, on a key whose record just changed.
            let kept = previous.as_ref().filter(|p| p.limits == want);
            let carry = |cell: fn(&KeyEntry) -> &OnceLock<Arc<KeyLimiter>>| {
                kept.and_then(|p| cell(p).get().cloned())
                    .map(OnceLock::from)
                    .unwrap_or_default()
            };
            let limiter = carry(|e| &e.limiter);
            let sandbox_limiter = carry(|e| &e.sandbox_limiter);
            let used = previous
                .as_ref()
                .map_or(0, |p| p.last_used_ms.load(Ordering::Relaxed));
            self.keys.insert(
                k.hash,
                Arc::new(KeyEntry {
                    id: k.id,
                    hash: k.hash,
                    server: k.server_id,
                    expires_at_ms,
                    last_used_ms: AtomicI64::new(used),
                    flushed_ms: AtomicI64::new(used),
                    limits: want,
                    limiter,
                    sandbox_limiter,
                }),
            );
        }
        self.keys.retain(|h, e| !in_scope(e) || fresh.contains(h));
    }

    /// Resolve a presented token to a live server and its key. The same
    /// `Invalid` answers unknown, expired, revoked and deleted, so a caller
    /// cannot tell which; `Disabled` is for surfaces that must say so.
    pub fn authenticate(&self, token: &str) -> Result<Admitted, AuthFailure> {
        let hash = KeyHash::of(token);
        let now = now_ms();
        let key = self
            .keys
            .get(&hash)
            .map(|e| Arc::clone(&e))
            .ok_or(AuthFailure::Invalid)?;
        // The map lookup is by hash of the token, which leaks nothing useful;
        // the explicit constant-time check keeps the comparison itself
        // timing-safe regardless of the map's implementation.
        if !key.hash.ct_eq(&hash) || key.expires_at_ms.is_some_and(|e| now >= e) {
            return Err(AuthFailure::Invalid);
        }
        let view = self
            .servers
            .get(&key.server)
            .map(|v| Arc::clone(&v))
            .ok_or(AuthFailure::Invalid)?;
        if view.expires_at_ms.is_some_and(|e| now >= e) {
            return Err(AuthFailure::Invalid);
        }
        if view.disabled {
            return Err(AuthFailure::Disabled(view));
        }
        key.last_used_ms.store(now, Ordering::Relaxed);
        Ok(Admitted { view, key })
    }

    /// Last-use times recorded since the previous call, for a batched write.
    pub fn take_used(&self) -> Vec<(Uuid, OffsetDateTime)> {
        self.keys
            .iter()
            .filter_map(|e| {
                let used = e.last_used_ms.load(Ordering::Relaxed);
                let flushed = e.flushed_ms.swap(used, Ordering::Relaxed);
                (used > flushed).then(|| {
                    let at =
                        OffsetDateTime::from_unix_timestamp_nanos(i128::from(used) * 1_000_000)
                            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                    (e.id, at)
                })
            })
            .collect()
    }
}
