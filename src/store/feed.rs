//! The replica's one reader of the change feed: it reads each new change
//! from the database once, and fans it out to every watcher of this
//! replica through a bounded broadcast. A watcher that falls behind the
//! broadcast's capacity is told it lagged (and its stream ends); nothing
//! is buffered without bound.
//!
//! The reader is woken by the trigger's NOTIFY at each commit, through the
//! replica's one LISTEN connection, and reads every [`POLL_EVERY`] anyway:
//! a lost notification, or a held transaction ending without writing
//! (which moves the bound without a notification), delays a change by that
//! much at most.
//!
//! The reader also keeps the replica's application cache current
//! (`store::app_cache`): it drops the entries of every application a
//! change touched, both the changes it delivers and those committed above
//! the feed's bound (not yet final in its order, but already true), and
//! after each complete read it proves the cache current as of the read's
//! start. A reader that cannot read leaves the cache unproven, and the
//! cache falls silent within `MAX_LAG`.
//!
//! [`Feed::position`] is where the reader stands; it is published before
//! the batch that reached it is broadcast, so a watcher that subscribes and
//! then catches up with its own reads to at least that position has missed
//! nothing (`ops::watch`).

use std::{sync::Arc, time::Duration};

use tokio::sync::{Notify, broadcast, watch};

use super::{
    AppCache, Db,
    changes::{self, Change, Position},
    notifications::Subscriber,
};

/// The channel the change triggers notify on.
pub const CHANNEL: &str = "oauth_apps_changes";
/// How often the reader reads without having been woken.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// How often the reader tells watchers its position when nothing changed.
const QUIET_TICK_EVERY: Duration = Duration::from_secs(1);
/// Changes read at once.
pub const BATCH: i64 = 500;
/// Batches the broadcast holds for its slowest watcher.
const CAPACITY: usize = 1024;
/// Changes above the bound the cache forgets one by one; past that, it
/// forgets everything.
const TOUCHED_AT_MOST: i64 = 1000;

/// A batch of changes (possibly none) and the reader's position after it.
#[derive(Debug)]
pub struct Tick {
    pub changes: Vec<Change>,
    pub end: Position,
}

#[derive(Debug)]
pub struct Feed {
    db: Db,
    /// The replica's application cache, which this reader keeps current.
    apps: Arc<AppCache>,
    wake: Notify,
    ticks: broadcast::Sender<Arc<Tick>>,
    position: watch::Sender<Option<Position>>,
    /// Set when the server begins to shut down: watchers end then, so
    /// their streams do not hold the shutdown up.
    closing: watch::Sender<bool>,
}

impl Feed {
    pub fn new(db: Db, apps: Arc<AppCache>) -> Self {
        Self {
            db,
            apps,
            wake: Notify::new(),
            ticks: broadcast::channel(CAPACITY).0,
            position: watch::channel(None).0,
            closing: watch::channel(false).0,
        }
    }

    /// Tells every watcher to end: the server is shutting down.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Self::close`] was called.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|c| *c).await;
    }

    /// Batches from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Tick>> {
        self.ticks.subscribe()
    }

    /// Where the reader stands; `None` before its first read.
    pub fn position(&self) -> Option<Position> {
        self.position.borrow().clone()
    }

    /// Reads and broadcasts until `stop` changes.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut at: Option<Position> = None;
        let mut last_tick = tokio::time::Instant::now();
        loop {
            let more = match self.step(&mut at, &mut last_tick).await {
                Ok(more) => more,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the change feed failed; retrying");
                    false
                }
            };
            if more {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One read; whether a full batch suggests more are waiting.
    async fn step(
        &self,
        at: &mut Option<Position>,
        last_tick: &mut tokio::time::Instant,
    ) -> super::StoreResult<bool> {
        let started = std::time::Instant::now();
        let Some(from) = at.clone() else {
            // The cache starts empty: current as of now.
            let now = self.db.run(async |conn| changes::now(conn).await).await?;
            self.position.send_replace(Some(now.clone()));
            *at = Some(now);
            self.apps.proven(started);
            return Ok(false);
        };
        let (batch, touched) = self
            .db
            .run(async |conn| {
                let batch = changes::read_after(conn, &from, None, BATCH).await?;
                let touched = if batch.full {
                    None
                } else {
                    let t = changes::touched_at_or_above(conn, batch.bound, TOUCHED_AT_MOST);
                    Some(t.await?)
                };
                Ok((batch, touched))
            })
            .await?;
        self.forget(&batch.changes, touched.as_deref());
        if touched.is_some() {
            // Every change committed before the read began is applied.
            self.apps.proven(started);
        }
        let moved = batch.end != from;
        let quiet_due = last_tick.elapsed() >= QUIET_TICK_EVERY;
        if !batch.changes.is_empty() || (moved && quiet_due) {
            self.position.send_replace(Some(batch.end.clone()));
            // No receiver is not an error: no one is watching.
            let _ = self.ticks.send(Arc::new(Tick {
                changes: batch.changes,
                end: batch.end.clone(),
            }));
            *last_tick = tokio::time::Instant::now();
            *at = Some(batch.end);
        }
        Ok(batch.full)
    }

    /// Drops from the cache what `changes` and `touched` changed.
    fn forget(&self, changes: &[Change], touched: Option<&[(String, String)]>) {
        for c in changes {
            self.apps
                .forget(c.application.id.as_str(), &c.application.client_id);
        }
        match touched {
            Some(t) if t.len() as i64 >= TOUCHED_AT_MOST => self.apps.forget_all(),
            Some(t) => t
                .iter()
                .for_each(|(id, client_id)| self.apps.forget(id, client_id)),
            None => {}
        }
    }
}

impl Subscriber for Feed {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    fn invalidate(&self, _payload: &str) {
        self.wake.notify_one();
    }

    fn reset(&self) {
        // The reader polls anyway; notifications only make it sooner.
    }

    fn proven(&self, _as_of: std::time::Instant) {}
}
