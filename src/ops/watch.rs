//! WatchApplications: one task per watcher, between the replica's feed
//! reader (`store::feed`) and the watcher's bounded channel.
//!
//! A watcher starts at its resume token's position, at "now", or after a
//! snapshot (`store::changes::snapshot`). It subscribes to the reader's
//! broadcast first, then catches up with reads of its own until it stands
//! at or past where the reader stood when it subscribed: every batch
//! broadcast before that is behind it, every later one reaches it, and the
//! positions drop what it already has. No gap, no repeat.
//!
//! The stream ends with RESOURCE_EXHAUSTED when the watcher's channel is
//! full or it lagged behind the broadcast (it resumes with its last token),
//! and with PERMISSION_DENIED when an organization's member is no longer
//! one (checked every [`MEMBER_CHECK_EVERY`]).

use std::{
    future::Future as _,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::{broadcast::error::RecvError, mpsc, oneshot};

use crate::{
    auth::{RoleCache, WatchPermit},
    domain::{
        Application,
        watch::{ResumePoint, ResumeTokens, WatchRefusal, WatchScope},
    },
    error::Error,
    store::{
        Db,
        changes::{self, ChangeKind, Position},
        feed::{BATCH, Feed, POLL_EVERY},
        memberships,
    },
};

/// How often an organization stream checks that its caller is a member.
const MEMBER_CHECK_EVERY: Duration = Duration::from_secs(2);
/// Events a watcher's channel holds before the watcher counts as too slow.
const BUFFER: usize = 256;

/// What a watch event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Change(ChangeKind),
    Snapshot,
    SnapshotEnd,
    Heartbeat,
}

#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub kind: EventKind,
    pub application: Option<Application>,
    /// Empty on SNAPSHOT events: resume from SNAPSHOT_END or later.
    pub resume_token: String,
    pub time: DateTime<Utc>,
}

/// The feed and its settings, shared by the watchers of a replica.
#[derive(Debug)]
pub struct Watching {
    pub feed: Arc<Feed>,
    pub tokens: ResumeTokens,
    pub heartbeat: Duration,
    pub roles: Arc<RoleCache>,
    pub db: Db,
}

/// The events of one watch, ending with its error if it has one.
pub struct WatchStream {
    events: mpsc::Receiver<WatchEvent>,
    end: Option<oneshot::Receiver<Error>>,
}

impl Stream for WatchStream {
    type Item = Result<WatchEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // An error ends the stream at once: the events still buffered are
        // dropped, and the watcher resumes from the last one it received.
        if let Some(end) = self.end.as_mut() {
            match Pin::new(end).poll(cx) {
                Poll::Ready(Ok(e)) => {
                    self.end = None;
                    self.events.close();
                    while self.events.try_recv().is_ok() {}
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Err(_)) => self.end = None,
                Poll::Pending => {}
            }
        }
        self.events.poll_recv(cx).map(|e| e.map(Ok))
    }
}

/// Where a watch starts.
enum Start {
    Snapshot,
    At(Position),
}

/// One watcher's task: its scope, its position, its channel.
struct Watcher {
    watching: Arc<Watching>,
    permit: WatchPermit,
    scope: WatchScope,
    pos: Position,
    out: mpsc::Sender<WatchEvent>,
}

/// Why a watcher stopped: its client left, or an error to send.
enum Stop {
    Gone,
    Fail(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Fail(e)
    }
}

impl From<crate::store::StoreError> for Stop {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Fail(e.into())
    }
}

type Step<T = ()> = Result<T, Stop>;

/// Starts a watch for `permit`'s caller. A stream "from now" has its
/// position before this returns: every change committed after the call's
/// response reaches it.
pub async fn watch(
    watching: &Arc<Watching>,
    permit: WatchPermit,
    resume_token: &str,
    initial_snapshot: bool,
) -> Result<WatchStream, Error> {
    let scope = match permit.org() {
        Some(org) => WatchScope::Org(org.to_owned()),
        None => WatchScope::All,
    };
    let start = match (resume_token.is_empty(), initial_snapshot) {
        (false, true) => return Err(Error::Watch(WatchRefusal::SnapshotWithToken)),
        (true, true) => Start::Snapshot,
        (true, false) => Start::At(watching.db.run(async |c| changes::now(c).await).await?),
        (false, false) => {
            let p = watching
                .tokens
                .open(resume_token, &scope, Utc::now())
                .map_err(Error::Watch)?;
            Start::At(Position {
                xid: p.xid,
                pos: p.pos,
                skip: p.skip,
            })
        }
    };
    let (out, events) = mpsc::channel(BUFFER);
    let (fail, end) = oneshot::channel();
    let watcher = Watcher {
        watching: watching.clone(),
        permit,
        scope,
        pos: Position::default(),
        out,
    };
    tokio::spawn(async move {
        if let Err(Stop::Fail(e)) = watcher.run(start).await {
            let _ = fail.send(e);
        }
    });
    Ok(WatchStream {
        events,
        end: Some(end),
    })
}

impl Watcher {
    async fn run(mut self, start: Start) -> Step {
        let mut ticks = self.watching.feed.subscribe();
        self.pos = match start {
            Start::At(p) => p,
            Start::Snapshot => self.snapshot().await?,
        };
        self.catch_up().await?;
        let mut heartbeat = tokio::time::interval(self.watching.heartbeat);
        heartbeat.reset();
        let mut member = tokio::time::interval(MEMBER_CHECK_EVERY);
        loop {
            tokio::select! {
                tick = ticks.recv() => match tick {
                    Ok(tick) => {
                        for change in &tick.changes {
                            self.change(change)?;
                        }
                        self.pos.advance(tick.end.xid, tick.end.pos);
                    }
                    Err(RecvError::Lagged(_)) => return Err(Error::Watch(WatchRefusal::TooSlow).into()),
                    Err(RecvError::Closed) => return Err(Stop::Gone),
                },
                _ = heartbeat.tick() => self.send(EventKind::Heartbeat, None)?,
                _ = member.tick() => self.check_member().await?,
                _ = self.out.closed() => return Err(Stop::Gone),
                _ = self.watching.feed.closed() => {
                    return Err(Error::Watch(WatchRefusal::ShuttingDown).into());
                }
            }
        }
    }

    /// Every live application as SNAPSHOT, then SNAPSHOT_END; returns the
    /// position right after the snapshot.
    async fn snapshot(&mut self) -> Step<Position> {
        let org = self.scope.org().map(str::to_owned);
        let (apps, at) = self
            .watching
            .db
            .run(async |c| changes::snapshot(c, org.as_deref()).await)
            .await?;
        for app in apps {
            self.emit(WatchEvent {
                kind: EventKind::Snapshot,
                application: Some(app),
                resume_token: String::new(),
                time: Utc::now(),
            })?;
        }
        self.pos = at.clone();
        self.send(EventKind::SnapshotEnd, None)?;
        Ok(at)
    }

    /// Reads on its own until it stands where the reader stood (or later)
    /// when it subscribed.
    async fn catch_up(&mut self) -> Step {
        let org = self.scope.org().map(str::to_owned);
        loop {
            let target = self.watching.feed.position();
            let from = self.pos.clone();
            let batch = self
                .watching
                .db
                .run(async |c| changes::read_after(c, &from, org.as_deref(), BATCH).await)
                .await?;
            for change in &batch.changes {
                self.change(change)?;
            }
            self.pos = batch.end;
            if batch.full {
                continue;
            }
            if target.is_some_and(|t| covers(&self.pos, &t)) {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = self.out.closed() => return Err(Stop::Gone),
            }
        }
    }

    fn change(&mut self, change: &changes::Change) -> Step {
        if !self.pos.is_before(change.xid, change.pos) {
            return Ok(());
        }
        self.pos.advance(change.xid, change.pos);
        if self
            .scope
            .org()
            .is_some_and(|org| org != change.application.organization_id)
        {
            return Ok(());
        }
        let token = self.token();
        self.emit(WatchEvent {
            kind: EventKind::Change(change.kind),
            application: Some(change.application.clone()),
            resume_token: token,
            time: change.time,
        })
    }

    fn token(&self) -> String {
        let point = ResumePoint {
            xid: self.pos.xid,
            pos: self.pos.pos,
            skip: self.pos.skip.clone(),
        };
        self.watching.tokens.seal(&self.scope, point, Utc::now())
    }

    fn send(&self, kind: EventKind, application: Option<Application>) -> Step {
        self.emit(WatchEvent {
            kind,
            application,
            resume_token: self.token(),
            time: Utc::now(),
        })
    }

    fn emit(&self, event: WatchEvent) -> Step {
        match self.out.try_send(event) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                Err(Error::Watch(WatchRefusal::TooSlow).into())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stop::Gone),
        }
    }

    /// Ends an organization's stream when its caller is no longer a member
    /// (the role cache, kept correct by notifications, or the database).
    async fn check_member(&self) -> Step {
        let WatchPermit::Org(read) = &self.permit else {
            return Ok(());
        };
        let (org, user) = (read.org(), read.subject());
        let role = match self.watching.roles.get(org, user) {
            Some(role) => role,
            None => {
                let generation = self.watching.roles.generation();
                let role = self
                    .watching
                    .db
                    .run(async |c| memberships::role_of(c, org, user).await)
                    .await?;
                self.watching.roles.insert(org, user, role, generation);
                role
            }
        };
        match role {
            Some(_) => Ok(()),
            None => Err(Error::Watch(WatchRefusal::NoLongerMember).into()),
        }
    }
}

/// Whether a watcher at `pos` has everything the reader at `reader` has
/// passed: it stands as far, and every transaction the reader skips is
/// behind it or skipped by it too.
fn covers(pos: &Position, reader: &Position) -> bool {
    (pos.xid, pos.pos) >= (reader.xid, reader.pos)
        && reader
            .skip
            .iter()
            .all(|s| *s < pos.xid || pos.skip.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(xid: i64, pos: i64, skip: &[i64]) -> Position {
        Position {
            xid,
            pos,
            skip: skip.to_vec(),
        }
    }

    #[test]
    fn a_watcher_covers_the_reader_only_with_its_skipped_transactions() {
        assert!(covers(&p(10, 0, &[]), &p(10, 0, &[])));
        assert!(covers(&p(11, 3, &[]), &p(10, 0, &[])));
        assert!(!covers(&p(9, 9, &[]), &p(10, 0, &[])));
        assert!(!covers(&p(10, 0, &[]), &p(10, 0, &[12])));
        assert!(covers(&p(10, 0, &[12]), &p(10, 0, &[12])));
        assert!(covers(&p(13, 0, &[]), &p(10, 0, &[12])));
    }

    #[test]
    fn positions_skip_what_a_snapshot_had() {
        let mut at = p(10, 0, &[12, 15]);
        assert!(at.is_before(11, 1));
        assert!(!at.is_before(12, 1));
        assert!(!at.is_before(9, 5));
        at.advance(13, 2);
        assert_eq!(at, p(13, 2, &[15]));
        at.advance(12, 9);
        assert_eq!(at, p(13, 2, &[15]));
    }
}
