//! Rate limits: mutating calls per caller, and failed (uncached)
//! credential verifications per client_id. Each is a keyed GCRA limiter with
//! a burst of the per-minute quota; 0 turns a limit off.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};

#[derive(Clone, Debug)]
pub struct Limiter {
    inner: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl Limiter {
    pub fn per_minute(n: u32) -> Self {
        Self {
            inner: NonZeroU32::new(n).map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n)))),
        }
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
        let off = Limiter::per_minute(0);
        for _ in 0..1000 {
            assert!(off.check("a").is_ok());
        }
    }
}
