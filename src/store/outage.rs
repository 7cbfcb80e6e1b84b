//! Failing fast while the database is known to be down.
//!
//! Without this, every call during an outage waits the whole connection
//! timeout (`OAUTH_APPS_DB_TIMEOUT`, 3 s) for a connection that cannot come,
//! then answers UNAVAILABLE: callers pile up, and so do their retries. Once
//! a checkout has failed for want of a connection (not for want of a free
//! one: a pool whose every connection is busy is saturated, not down, and
//! its callers keep waiting their turn), the database is known down: every call answers UNAVAILABLE at once, and one background task
//! (never a caller) tries to connect every [`PROBE_EVERY`]. The first
//! connection it gets marks the database up again, so a restarted or
//! failed-over database serves the next call.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// How often the background probe tries to connect while the database is
/// down.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Whether the database is known to be down, shared by the pool's clones.
#[derive(Debug, Default)]
pub struct Outage {
    down: AtomicBool,
    probing: AtomicBool,
}

impl Outage {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// A checkout found no connection: down, until a probe connects.
    /// Returns whether a probe should be started (none is running).
    pub fn went_down(&self) -> bool {
        self.down.store(true, Ordering::Release);
        !self.probing.swap(true, Ordering::AcqRel)
    }

    /// A connection was made.
    pub fn came_back(&self) {
        self.down.store(false, Ordering::Release);
    }

    /// The probe stops.
    pub fn probe_done(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// Runs `connect` every [`PROBE_EVERY`] until it succeeds, in the
    /// background; `connect` says whether it got a usable connection.
    pub fn probe<F, Fut>(self: &Arc<Self>, mut connect: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = bool> + Send,
    {
        let outage = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if connect().await {
                    outage.came_back();
                    tracing::info!("the database answers again");
                    break;
                }
            }
            outage.probe_done();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_probe_runs_until_the_database_answers() {
        let outage = Arc::new(Outage::default());
        assert!(!outage.is_down());
        assert!(outage.went_down(), "the first failure starts a probe");
        assert!(!outage.went_down(), "one probe at a time");
        let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = tries.clone();
        outage.probe(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move { n >= 2 }
        });
        assert!(outage.is_down());
        tokio::time::sleep(PROBE_EVERY * 10).await;
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert!(!outage.is_down());
        assert!(outage.went_down(), "a later outage starts a new probe");
    }
}
