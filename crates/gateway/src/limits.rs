//! Per-key limits: a request rate (GCRA, via governor) and a cap on calls in
//! flight (a semaphore). A permit is held for the whole request and released
//! when the request's future ends — by success, error, timeout or a client
//! disconnect alike.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use mcpgate_store::Limits;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits in force for a key, after applying a server's overrides to the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    /// Sustained requests per second.
    pub rate_per_sec: u32,
    /// Burst size.
    pub burst: u32,
    /// Calls in flight at once.
    pub max_concurrency: u32,
}

impl Effective {
    /// Apply overrides to defaults.
    pub fn resolve(defaults: Effective, overrides: &Limits) -> Self {
        Self {
            rate_per_sec: overrides
                .rate_per_sec
                .unwrap_or(defaults.rate_per_sec)
                .max(1),
            burst: overrides.burst.unwrap_or(defaults.burst).max(1),
            max_concurrency: overrides
                .max_concurrency
                .unwrap_or(defaults.max_concurrency)
                .max(1),
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many requests per second; retry after the given time.
    Rate(Duration),
    /// Too many calls in flight.
    Concurrency(u32),
}

impl Refusal {
    /// Metric label.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Rate(_) => "rate",
            Self::Concurrency(_) => "concurrency",
        }
    }

    /// Seconds for `Retry-After` (at least 1).
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Self::Rate(d) => d.as_secs() + u64::from(d.subsec_nanos() > 0),
            Self::Concurrency(_) => 1,
        }
        .max(1)
    }
}

/// The live limiter of one key. Kept across index rebuilds so a write to the
/// server never resets a key's budget or forgets its calls in flight.
pub struct KeyLimiter {
    /// What it enforces.
    pub limits: Effective,
    rate: DefaultDirectRateLimiter,
    in_flight: Arc<Semaphore>,
}

impl KeyLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: Effective) -> Self {
        let rate = NonZeroU32::new(limits.rate_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limits,
            rate: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            in_flight: Arc::new(Semaphore::new(limits.max_concurrency as usize)),
        }
    }

    /// Admit one request: a rate cell, then a concurrency permit held until
    /// the returned guard drops.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Err(not_until) = self.rate.check() {
            return Err(Refusal::Rate(
                not_until.wait_time_from(DefaultClock::default().now()),
            ));
        }
        Arc::clone(&self.in_flight)
            .try_acquire_owned()
            .map_err(|_| Refusal::Concurrency(self.limits.max_concurrency))
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.limits.max_concurrency as usize - self.in_flight.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32, conc: u32) -> Effective {
        Effective {
            rate_per_sec: rate,
            burst,
            max_concurrency: conc,
        }
    }

    #[test]
    fn concurrency_permits_return_when_dropped() {
        let l = KeyLimiter::new(limits(1000, 1000, 2));
        let a = l.admit().unwrap();
        let _b = l.admit().unwrap();
        assert_eq!(l.admit().unwrap_err(), Refusal::Concurrency(2));
        drop(a);
        assert!(l.admit().is_ok());
    }

    #[test]
    fn the_rate_refuses_past_the_burst_with_a_retry_time() {
        let l = KeyLimiter::new(limits(1, 2, 100));
        drop(l.admit().unwrap());
        drop(l.admit().unwrap());
        let Err(Refusal::Rate(wait)) = l.admit() else {
            panic!("expected a rate refusal")
        };
        assert!(wait <= Duration::from_secs(1));
        assert_eq!(Refusal::Rate(wait).retry_after_secs(), 1);
    }

    #[test]
    fn overrides_apply_field_by_field() {
        let defaults = limits(10, 20, 4);
        let o = Limits {
            max_concurrency: Some(1),
            ..Limits::default()
        };
        assert_eq!(Effective::resolve(defaults, &o), limits(10, 20, 1));
    }
}
