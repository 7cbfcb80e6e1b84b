//! Caller roles, cached per replica and invalidated through PostgreSQL
//! LISTEN/NOTIFY.
//!
//! Why a cache cannot keep a removed member in: every committed change to
//! `memberships` fires a notification (a trigger, so the CLI and psql count
//! too), and each replica's listener drops the entry it names. The cache only
//! answers while its listener is subscribed; the moment the listener's
//! connection is lost, the cache is emptied and every lookup goes to the
//! database until a new subscription is in place. A lookup that raced with an
//! invalidation does not store its (possibly stale) answer: entries carry the
//! invalidation generation they were read under. Entries also expire after
//! [`ROLE_TTL`], a last bound should a notification ever be missed.
//!
//! The listener proves its subscription works before the cache goes live,
//! and again whenever the channel has been quiet for a few seconds, by
//! sending itself a notification and waiting for it. Mutating calls never
//! use the cache: the power to change things is checked against the database
//! on every call.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use futures_util::StreamExt as _;

use crate::domain::Role;

pub const CHANNEL: &str = "oauth_apps_memberships";
pub const ROLE_TTL: Duration = Duration::from_secs(30);
const CAPACITY: usize = 100_000;
/// How often the listener checks that its connection still answers.
const LISTENER_PING: Duration = Duration::from_secs(5);

/// Roles by organization, then user: lookups borrow the caller's strings
/// instead of allocating a key on every call.
#[derive(Debug, Default)]
struct Entries {
    by_org: HashMap<String, HashMap<String, (Option<Role>, Instant)>>,
    len: usize,
}

impl Entries {
    fn get(&self, org: &str, user: &str) -> Option<&(Option<Role>, Instant)> {
        self.by_org.get(org)?.get(user)
    }

    fn insert(&mut self, org: &str, user: &str, entry: (Option<Role>, Instant)) {
        let users = self.by_org.entry(org.to_owned()).or_default();
        if users.insert(user.to_owned(), entry).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, org: &str, user: &str) {
        if let Some(users) = self.by_org.get_mut(org) {
            if users.remove(user).is_some() {
                self.len -= 1;
            }
            if users.is_empty() {
                self.by_org.remove(org);
            }
        }
    }

    fn clear(&mut self) {
        self.by_org.clear();
        self.len = 0;
    }
}

#[derive(Debug, Default)]
pub struct RoleCache {
    entries: Mutex<Entries>,
    generation: AtomicU64,
    live: AtomicBool,
}

impl RoleCache {
    /// The cached role (`Some(None)`: cached as not a member), if the cache
    /// may answer at all.
    pub fn get(&self, org: &str, user: &str) -> Option<Option<Role>> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (role, at) = entries.get(org, user)?;
        (at.elapsed() < ROLE_TTL).then_some(*role)
    }

    /// Take before reading the database; pass to [`RoleCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores a role read from the database, unless anything was invalidated
    /// since `generation` was taken (the read may predate the change).
    pub fn insert(&self, org: &str, user: &str, role: Option<Role>, generation: u64) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len >= CAPACITY {
            entries.clear();
        }
        entries.insert(org, user, (role, Instant::now()));
    }

    /// A notification: `org\nuser`, or `*` for everything (a probe of the
    /// listener, `probe:...`, changes nothing).
    pub fn invalidate(&self, payload: &str) {
        if payload.starts_with("probe:") {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        match payload.split_once('\n') {
            Some((org, user)) => {
                entries.remove(org, user);
            }
            None => entries.clear(),
        }
    }

    fn set_live(&self, live: bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        self.live.store(live, Ordering::Release);
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }
}

/// Keeps a LISTEN subscription open and applies its notifications to
/// `cache`, reconnecting after failures, until `stop` changes.
pub async fn listen(
    database_url: String,
    cache: std::sync::Arc<RoleCache>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let result = tokio::select! {
            r = subscribe_and_follow(&database_url, &cache) => r,
            _ = stop.changed() => {
                cache.set_live(false);
                return;
            }
        };
        cache.set_live(false);
        if let Err(e) = result {
            tracing::warn!(error = %e, "membership listener lost; roles are read from the database until it is back");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn subscribe_and_follow(database_url: &str, cache: &RoleCache) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(database_url).await?;
    conn.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    // Only a notification that comes back proves the path works (a
    // transaction-pooling proxy, say, would swallow them): probe first, and
    // again whenever the channel has been quiet.
    probe(&mut conn, cache).await?;
    cache.set_live(true);
    tracing::debug!("membership listener subscribed");
    loop {
        let next = {
            let mut stream = std::pin::pin!(conn.notifications_stream());
            tokio::time::timeout(LISTENER_PING, stream.next()).await
        };
        match next {
            Ok(Some(Ok(n))) => cache.invalidate(&n.payload),
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => anyhow::bail!("listener connection closed"),
            Err(_) => probe(&mut conn, cache).await?,
        }
    }
}

/// Sends a notification to ourselves and waits for it (applying any real
/// ones that arrive first). Fails when it does not come back in time.
async fn probe(conn: &mut AsyncPgConnection, cache: &RoleCache) -> anyhow::Result<()> {
    let token = format!("probe:{}", crate::domain::ids::random_base62(16));
    let round_trip = async {
        conn.batch_execute(&format!("NOTIFY {CHANNEL}, '{token}'"))
            .await?;
        let mut stream = std::pin::pin!(conn.notifications_stream());
        while let Some(n) = stream.next().await {
            let n = n?;
            if n.payload == token {
                return Ok(());
            }
            cache.invalidate(&n.payload);
        }
        anyhow::bail!("listener connection closed")
    };
    tokio::time::timeout(LISTENER_PING, round_trip)
        .await
        .map_err(|_| anyhow::anyhow!("the listener's own notification did not come back"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_while_live_and_drops_invalidated_entries() {
        let c = RoleCache::default();
        let g = c.generation();
        c.insert("o", "u", Some(Role::Admin), g);
        assert_eq!(c.get("o", "u"), None, "not live: nothing cached");
        c.set_live(true);
        let g = c.generation();
        c.insert("o", "u", Some(Role::Admin), g);
        c.insert("o", "x", None, g);
        assert_eq!(c.get("o", "u"), Some(Some(Role::Admin)));
        assert_eq!(c.get("o", "x"), Some(None));
        c.invalidate("o\nu");
        assert_eq!(c.get("o", "u"), None);
        assert_eq!(c.get("o", "x"), Some(None));
        c.invalidate("probe:abc");
        assert_eq!(
            c.get("o", "x"),
            Some(None),
            "a listener probe invalidates nothing"
        );
        c.invalidate("*");
        assert_eq!(c.get("o", "x"), None);
        c.set_live(false);
        assert!(!c.is_live());
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_stored() {
        let c = RoleCache::default();
        c.set_live(true);
        let before = c.generation();
        c.invalidate("o\nu"); // the member was removed while we read
        c.insert("o", "u", Some(Role::Owner), before);
        assert_eq!(c.get("o", "u"), None);
    }
}
