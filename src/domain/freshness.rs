//! How current a replica's cache is known to be: the rule that bounds how
//! long any cache may answer after a change it has not seen.
//!
//! Whatever keeps a cache correct (the change feed's reader, the
//! notification listener) proves, from time to time, that the cache has
//! applied every change committed before some instant: a read of the feed
//! that found everything committed before it started, or a notification
//! sent to itself that came back (notifications arrive in commit order).
//! The cache answers only while the last such instant is less than
//! [`MAX_LAG`] ago, so a change committed at `t` is either applied or the
//! cache is silent from `t + MAX_LAG` on, whatever broke in between: a
//! dropped or black-holed connection, a restarted or failed-over database,
//! a reader that fell behind. It is then slower (every lookup reads the
//! database), never staler.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// The longest a cache answers after its last proof; the contract allows
/// two seconds from a commit to every replica refusing.
pub const MAX_LAG: Duration = Duration::from_millis(1500);

#[derive(Debug)]
pub struct Freshness {
    base: Instant,
    /// Nanoseconds after `base` of the last proof, plus one; 0: none.
    proven: AtomicU64,
    max_lag: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new(MAX_LAG)
    }
}

impl Freshness {
    pub fn new(max_lag: Duration) -> Self {
        Self {
            base: Instant::now(),
            proven: AtomicU64::new(0),
            max_lag,
        }
    }

    /// Every change committed before `as_of` has been applied. A proof
    /// from before this was made proves nothing it needs.
    pub fn proven(&self, as_of: Instant) {
        let Some(since) = as_of.checked_duration_since(self.base) else {
            return;
        };
        let mark = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX - 1) + 1;
        self.proven.fetch_max(mark, Ordering::AcqRel);
    }

    /// Nothing is known any more (the source was lost).
    pub fn lost(&self) {
        self.proven.store(0, Ordering::Release);
    }

    /// Whether the cache may answer now.
    pub fn is_fresh(&self) -> bool {
        match self.proven.load(Ordering::Acquire) {
            0 => false,
            mark => {
                let at = self.base + Duration::from_nanos(mark - 1);
                at.elapsed() < self.max_lag
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_only_within_the_lag_of_the_last_proof() {
        let f = Freshness::new(Duration::from_millis(200));
        assert!(!f.is_fresh(), "never proven");
        let early = Instant::now();
        std::thread::sleep(Duration::from_millis(5));
        f.proven(Instant::now());
        assert!(f.is_fresh());
        f.proven(early);
        assert!(f.is_fresh(), "an older proof does not undo a newer one");
        f.lost();
        assert!(!f.is_fresh());
        f.proven(Instant::now());
        assert!(f.is_fresh());
        std::thread::sleep(Duration::from_millis(250));
        assert!(!f.is_fresh(), "a proof older than the lag does not count");
    }
}
