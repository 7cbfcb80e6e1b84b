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
//! [`Feed::position`] is where the reader stands; it is published before
//! the batch that reached it is broadcast, so a watcher that subscribes and
//! then catches up with its own reads to at least that position has missed
//! nothing (`ops::watch`).

use std::{sync::Arc, time::Duration};

use tokio::sync::{Notify, broadcast, watch};

use super::{
    Db,
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

/// A batch of changes (possibly none) and the reader's position after it.
#[derive(Debug)]
pub struct Tick {
    pub changes: Vec<Change>,
    pub end: Position,
}

#[derive(Debug)]
pub struct Feed {
    db: Db,
    wake: Notify,
    ticks: broadcast::Sender<Arc<Tick>>,
    position: watch::Sender<Option<Position>>,
    /// Set when the server begins to shut down: watchers end then, so
    /// their streams do not hold the shutdown up.
    closing: watch::Sender<bool>,
}

impl Feed {
    pub fn new(db: Db) -> Self {
        Self {
            db,
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
        let Some(from) = at.clone() else {
            let now = self.db.run(async |conn| changes::now(conn).await).await?;
            self.position.send_replace(Some(now.clone()));
            *at = Some(now);
            return Ok(false);
        };
        let batch = self
            .db
            .run(async |conn| changes::read_after(conn, &from, None, BATCH).await)
            .await?;
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
}

impl Subscriber for Feed {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    fn invalidate(&self, _payload: &str) {
        self.wake.notify_one();
    }

    fn set_live(&self, _live: bool) {
        // The reader polls anyway; notifications only make it sooner.
    }
}
