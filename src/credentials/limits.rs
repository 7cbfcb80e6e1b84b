//! Rate limits: mutating calls per caller, and failed (uncached)
//! credential verifications per client_id. Each is a keyed GCRA limiter with
//! a burst of the per-minute quota; 0 turns a limit off.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};

#[derive(Clone, Debug)]
pub struct Limiter {
    inner: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    /// Keys found spent, and until when: what [`Limiter::spent`] reads
    /// without taking a unit.
    spent: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Limiter {
    pub fn per_minute(n: u32) -> Self {
        Self::with(NonZeroU32::new(n).map(Quota::per_minute))
    }

    pub fn per_hour(n: u32) -> Self {
        Self::with(NonZeroU32::new(n).map(Quota::per_hour))
    }

    fn with(quota: Option<Quota>) -> Self {
        Self {
            inner: quota.map(|q| Arc::new(RateLimiter::keyed(q))),
            spent: Arc::default(),
        }
    }

    /// Takes one unit of `key`'s budget, or says how long until one is free.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until
                .wait_time_from(limiter.clock().now())
                .max(Duration::from_millis(1));
            self.spent_map()
                .insert(key.to_owned(), Instant::now() + wait);
            wait
        })
    }

    /// How long until `key` has a unit again, when a [`Limiter::check`]
    /// found its budget spent and it has not refilled since; takes nothing.
    pub fn spent(&self, key: &str) -> Option<Duration> {
        let until = *self.spent_map().get(key)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    fn spent_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets keys whose budget is full again, so memory stays bounded.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.inner {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        let mut spent = self.spent_map();
        spent.retain(|_, until| *until > now);
        spent.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_zero_means_off() {
        let l = Limiter::per_minute(2);
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        let wait = l.check("a").unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(l.spent("a").is_some_and(|w| w <= wait));
        assert!(l.spent("b").is_none(), "never found spent");
        assert!(l.check("b").is_ok(), "other keys have their own budget");
        let off = Limiter::per_minute(0);
        for _ in 0..1000 {
            assert!(off.check("a").is_ok());
        }
    }
}
