//! Rate limits (contract §4): mutating calls per caller, and failed (uncached)
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
    /// Keys whose budget ran out, and until when: lets a caller be refused
    /// up front without spending budget on attempts that may succeed.
    blocked: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Limiter {
    pub fn per_minute(n: u32) -> Self {
        Self {
            inner: NonZeroU32::new(n).map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n)))),
            blocked: Arc::default(),
        }
    }

    /// How long `key` stays refused, when an earlier [`Limiter::charge`]
    /// found its budget spent. Spends nothing.
    pub fn blocked_for(&self, key: &str) -> Option<Duration> {
        self.inner.as_ref()?;
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let until = *blocked.get(key)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Spends one unit of `key`'s budget for something that happened (a
    /// failed verification). When none is left, `key` is blocked until the
    /// next unit comes back, and the wait is returned.
    pub fn charge(&self, key: &str) -> Result<(), Duration> {
        let result = self.check(key);
        if let Err(wait) = result {
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            blocked.insert(key.to_owned(), Instant::now() + wait);
        }
        result
    }

    /// Takes one unit of `key`'s budget, or says how long until one is free.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            not_until
                .wait_time_from(limiter.clock().now())
                .max(Duration::from_millis(1))
        })
    }

    /// Forgets keys whose budget is full again, so memory stays bounded.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.inner {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked.retain(|_, until| *until > now);
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
        assert!(l.check("b").is_ok(), "other keys have their own budget");
        assert!(l.blocked_for("a").is_none(), "check alone blocks nothing");
        assert!(l.charge("a").is_err());
        assert!(l.blocked_for("a").is_some());
        assert!(l.blocked_for("b").is_none());
        let off = Limiter::per_minute(0);
        assert!(off.charge("a").is_ok() && off.blocked_for("a").is_none());
        for _ in 0..1000 {
            assert!(off.check("a").is_ok());
        }
    }
}
