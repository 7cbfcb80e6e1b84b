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
//! (`store::app_cache`): at each read it drops the entries of every
//! application changed since its previous read, whether or not the change
//! is final in the feed's order yet (a transaction that commits after a
//! read has an id at or above that read's bound, so the changes at or
//! above the previous bound are all of them), and proves the cache current
//! as of the read's start. A reader that cannot read leaves the cache
//! unproven, and the cache falls silent within `MAX_LAG`. When the server
//! is not the one of the previous read (restarted, or failed over), the
//! earlier bound means nothing there, and the cache is emptied instead.
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
/// The least time between the starts of two reads: under a stream of
/// writes, each read takes every change since the last one, rather than
/// the reader reading once per change (its reads cost the database what
/// the writes do; see BENCHMARKS.md).
const MIN_GAP: Duration = Duration::from_millis(25);
/// How often the reader tells watchers its position when nothing changed.
const QUIET_TICK_EVERY: Duration = Duration::from_secs(1);
/// Changes read at once.
pub const BATCH: i64 = 500;
/// Batches the broadcast holds for its slowest watcher.
const CAPACITY: usize = 1024;
/// Changes since its previous read the cache forgets one by one; past
/// that, it forgets everything.
const TOUCHED_AT_MOST: i64 = 1000;

/// Where the cache's reads stand: the server read (its start time) and
/// that read's bound.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CacheMark {
    server: String,
    bound: i64,
}

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
    cache_mark: std::sync::Mutex<Option<CacheMark>>,
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
            cache_mark: std::sync::Mutex::new(None),
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
            let began = tokio::time::Instant::now();
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
            tokio::select! {
                _ = tokio::time::sleep_until(began + MIN_GAP) => {}
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
        let mark = self.lock_mark().clone();
        let Some(from) = at.clone() else {
            let (now, server) = self
                .db
                .run(async |conn| {
                    let server = changes::server_started(conn).await?;
                    Ok((changes::now(conn).await?, server))
                })
                .await?;
            self.position.send_replace(Some(now.clone()));
            let bound = now.xid;
            *at = Some(now);
            self.keep_cache(None, CacheMark { server, bound }, started);
            return Ok(false);
        };
        let (batch, server, touched) = self
            .db
            .run(async |conn| {
                let server = changes::server_started(conn).await?;
                let batch = changes::read_after(conn, &from, None, BATCH).await?;
                let touched = match &mark {
                    Some(m) if m.server == server => {
                        Some(changes::touched_since(conn, m.bound, TOUCHED_AT_MOST).await?)
                    }
                    _ => None,
                };
                Ok((batch, server, touched))
            })
            .await?;
        let bound = batch.bound;
        self.keep_cache(touched, CacheMark { server, bound }, started);
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

    fn lock_mark(&self) -> std::sync::MutexGuard<'_, Option<CacheMark>> {
        self.cache_mark.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops from the cache what changed since the previous read
    /// (`touched`; `None`: unknown, as on another server), then proves it
    /// current as of `started`.
    fn keep_cache(
        &self,
        touched: Option<Vec<(String, String)>>,
        mark: CacheMark,
        started: std::time::Instant,
    ) {
        match touched {
            Some(t) if (t.len() as i64) < TOUCHED_AT_MOST => {
                for (id, client_id) in &t {
                    self.apps.forget(id, client_id);
                }
            }
            _ => self.apps.forget_all(),
        }
        *self.lock_mark() = Some(mark);
        self.apps.proven(started);
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
