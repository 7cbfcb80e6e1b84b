//! Caller roles, cached per replica and invalidated through PostgreSQL
//! LISTEN/NOTIFY (the listener is `store::notifications`).
//!
//! Why a cache cannot keep a removed member in for more than [`MAX_LAG`]:
//! every committed change to `memberships` fires a notification (a
//! trigger, so the CLI and psql count too), and each replica's listener
//! drops the entry it names. The cache only answers while its listener has
//! proven, less than [`MAX_LAG`] ago, that every notification committed
//! before some instant has arrived (a notification it sent itself came
//! back: they arrive in commit order; see `store::notifications`). A lost
//! or black-holed connection therefore silences the cache within that
//! bound, and every lookup goes to the database until a new subscription
//! has proven itself. A lookup that raced with an invalidation does not
//! store its (possibly stale) answer: entries carry the invalidation
//! generation they were read under. Entries also expire after
//! [`ROLE_TTL`], a last bound should a notification ever be missed.
//! Mutating calls never use the cache: the power to change things is
//! checked against the database on every call.
//!
//! [`MAX_LAG`]: crate::domain::freshness::MAX_LAG

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use quick_cache::{Equivalent, sync::Cache};

use crate::domain::{Role, freshness::Freshness};

/// Where every committed change to `memberships` is announced.
pub const CHANNEL: &str = "oauth_apps_memberships";
pub const ROLE_TTL: Duration = Duration::from_secs(30);
const CAPACITY: usize = 100_000;

/// A lookup's key, borrowing the caller's strings: it hashes and compares
/// like the stored `(org, user)` pair, so no key is allocated per call.
#[derive(Hash)]
struct Lookup<'a>(&'a str, &'a str);

impl Equivalent<(String, String)> for Lookup<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// Roles by (organization, user), `None` for "not a member", with the time
/// each was read. When full, the least useful entry goes.
#[derive(Debug)]
pub struct RoleCache {
    entries: Cache<(String, String), (Option<Role>, Instant)>,
    generation: AtomicU64,
    /// How current the listener has proven the cache to be.
    freshness: Freshness,
    /// Orders inserts against invalidations (see the module's doc).
    writes: Mutex<()>,
}

impl Default for RoleCache {
    fn default() -> Self {
        Self {
            entries: Cache::new(CAPACITY),
            generation: AtomicU64::new(0),
            freshness: Freshness::default(),
            writes: Mutex::new(()),
        }
    }
}

impl RoleCache {
    /// The cached role (`Some(None)`: cached as not a member), if the cache
    /// may answer at all.
    pub fn get(&self, org: &str, user: &str) -> Option<Option<Role>> {
        if !self.is_live() {
            return None;
        }
        let (role, at) = self.entries.get(&Lookup(org, user))?;
        (at.elapsed() < ROLE_TTL).then_some(role)
    }

    /// Take before reading the database; pass to [`RoleCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores a role read from the database, unless anything was invalidated
    /// since `generation` was taken (the read may predate the change).
    pub fn insert(&self, org: &str, user: &str, role: Option<Role>, generation: u64) {
        if !self.is_live() {
            return;
        }
        let _writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        self.entries
            .insert((org.to_owned(), user.to_owned()), (role, Instant::now()));
    }

    /// A notification: `org\nuser`, or `*` for everything.
    pub fn invalidate(&self, payload: &str) {
        let _writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        match payload.split_once('\n') {
            Some((org, user)) => {
                self.entries.remove(&Lookup(org, user));
            }
            None => self.entries.clear(),
        }
    }

    /// The subscription was lost or is new: empty, and silent until
    /// proven current.
    pub fn reset(&self) {
        let _writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
        self.freshness.lost();
    }

    /// Every change committed before `as_of` has been applied.
    pub fn proven(&self, as_of: Instant) {
        self.freshness.proven(as_of);
    }

    /// Whether the cache may answer: proven current lately.
    pub fn is_live(&self) -> bool {
        self.freshness.is_fresh()
    }
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
        c.proven(Instant::now());
        let g = c.generation();
        c.insert("o", "u", Some(Role::Admin), g);
        c.insert("o", "x", None, g);
        assert_eq!(c.get("o", "u"), Some(Some(Role::Admin)));
        assert_eq!(c.get("o", "x"), Some(None));
        c.invalidate("o\nu");
        assert_eq!(c.get("o", "u"), None);
        assert_eq!(c.get("o", "x"), Some(None));
        c.invalidate("*");
        assert_eq!(c.get("o", "x"), None);
        c.reset();
        assert!(!c.is_live());
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_stored() {
        let c = RoleCache::default();
        c.proven(Instant::now());
        let before = c.generation();
        c.invalidate("o\nu"); // the member was removed while we read
        c.insert("o", "u", Some(Role::Owner), before);
        assert_eq!(c.get("o", "u"), None);
    }
}
