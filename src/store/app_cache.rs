//! Applications with their secrets, cached per replica by id and by
//! client_id, and kept correct by the change feed (`store::feed`): the
//! replica's one reader of `application_changes` drops the entries of
//! every application a committed change touched.
//!
//! Why a cached copy never lets a deleted app or a revoked secret verify
//! more than [`MAX_LAG`] after the change is committed: every committed
//! change to an application or its secrets is a row of the feed (triggers,
//! in the change's own transaction), and the reader reads every row
//! committed since its last read, at least every half second (woken sooner
//! by the feed's NOTIFY, which is only a wake-up: a lost one costs a poll
//! interval, nothing more). Each read proves the cache current as of the
//! read's start ([`Freshness`]); the cache answers only while that proof is
//! younger than [`MAX_LAG`]. A reader that cannot read (connection lost or
//! black-holed, database restarted or failed over) therefore silences the
//! cache within that bound; when it reads again it continues from its last
//! position, so it catches up instead of guessing. A read that raced with
//! a change does not store its (possibly older) answer: fills and
//! forgetting are ordered by a generation counter. The replica that made a
//! change drops its own entries as soon as the change commits, before it
//! answers, so it reads its own writes. A previous secret's expiry is
//! checked at each use, never cached away, and entries also expire after
//! their time to live (`OAUTH_APPS_CACHE_TTL`), which also bounds what a
//! change made with triggers off (`session_replication_role = replica`)
//! leaves behind. Mutations never use the cache.
//!
//! Reads demand the same permits as the database's: an application by id
//! only for a [`ReadPermit`] of its organization, by client_id only for a
//! [`ServicePermit`].
//!
//! [`MAX_LAG`]: crate::domain::freshness::MAX_LAG

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use quick_cache::{Weighter, sync::Cache};

use crate::{
    auth::{ReadPermit, ServicePermit},
    domain::{AppId, AppWithSecrets, freshness::Freshness},
};

#[derive(Clone)]
struct Entry {
    data: Arc<AppWithSecrets>,
    at: Instant,
}

/// Weighs an entry by the memory it takes, allocator overhead included:
/// its key, its slot, and half the shared application (the other half is
/// weighed in the other index), so the two indexes' budgets add up to what
/// the cache takes.
#[derive(Clone)]
struct Bytes;

/// A heap allocation of `n` bytes, with the allocator's rounding and header.
fn allocation(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.next_multiple_of(16) + 16
    }
}

fn list(l: &[String]) -> usize {
    allocation(std::mem::size_of_val(l)) + l.iter().map(|s| allocation(s.len())).sum::<usize>()
}

/// The heap an application and its secrets take.
fn data_bytes(d: &AppWithSecrets) -> usize {
    let a = &d.app;
    let strings = [
        a.id.as_str(),
        &a.organization_id,
        &a.name,
        &a.description,
        &a.client_id,
        a.secret_hint.as_deref().unwrap_or_default(),
        &a.created_by,
        a.jwks.as_deref().unwrap_or_default(),
        &a.client_uri,
        &a.logo_uri,
        &a.policy_uri,
        &a.tos_uri,
    ];
    let secrets: usize = d
        .secrets
        .iter()
        .map(|s| allocation(s.hash.as_phc().len()) + allocation(s.hint.len()))
        .sum();
    // The Arc's allocation: two counters and the value.
    allocation(16 + std::mem::size_of::<AppWithSecrets>())
        + strings.iter().map(|s| allocation(s.len())).sum::<usize>()
        + list(&a.redirect_uris)
        + list(&a.scopes)
        + list(&a.contacts)
        + allocation(std::mem::size_of_val(a.grant_types.as_slice()))
        + allocation(std::mem::size_of_val(d.secrets.as_slice()))
        + secrets
}

impl Weighter<String, Entry> for Bytes {
    fn weight(&self, key: &String, entry: &Entry) -> u64 {
        // quick_cache keeps a key, a value and a few words per slot.
        let slot = std::mem::size_of::<(String, Entry)>() + 32;
        (allocation(key.len()) + slot + data_bytes(&entry.data) / 2) as u64
    }
}

pub struct AppCache {
    by_id: Cache<String, Entry, Bytes>,
    by_client_id: Cache<String, Entry, Bytes>,
    enabled: bool,
    /// The longest an entry answers, notifications or not.
    ttl: Duration,
    /// How current the feed's reader has proven the cache to be.
    freshness: Freshness,
    generation: AtomicU64,
    /// Orders fills against announcements (see the module's doc).
    fills: Mutex<()>,
}

impl std::fmt::Debug for AppCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCache")
            .field("enabled", &self.enabled)
            .field("fresh", &self.freshness.is_fresh())
            .finish_non_exhaustive()
    }
}

impl AppCache {
    /// A cache holding up to about `bytes` (each index half), each entry
    /// answering for at most `ttl`; 0 bytes turns it off.
    pub fn new(bytes: u64, ttl: Duration) -> Self {
        let half = (bytes / 2).max(1);
        let items = usize::try_from(half / 2048).unwrap_or(usize::MAX).max(16);
        Self {
            by_id: Cache::with_weighter(items, half, Bytes),
            by_client_id: Cache::with_weighter(items, half, Bytes),
            enabled: bytes > 0 && !ttl.is_zero(),
            ttl,
            freshness: Freshness::default(),
            generation: AtomicU64::new(0),
            fills: Mutex::new(()),
        }
    }

    fn fresh(&self, entry: Option<Entry>) -> Option<Arc<AppWithSecrets>> {
        if !self.answers() {
            return None;
        }
        entry.filter(|e| e.at.elapsed() < self.ttl).map(|e| e.data)
    }

    /// An application of the permit's organization: another
    /// organization's is not there, cached or not, as in the database.
    pub fn by_id(&self, permit: &ReadPermit, id: &AppId) -> Option<Arc<AppWithSecrets>> {
        self.fresh(self.by_id.get(id.as_str()))
            .filter(|found| found.app.organization_id == permit.org())
    }

    /// An application by client_id, in any organization: for the service
    /// calls, which hold a service permit.
    pub fn by_client_id(
        &self,
        _permit: &ServicePermit,
        client_id: &str,
    ) -> Option<Arc<AppWithSecrets>> {
        self.fresh(self.by_client_id.get(client_id))
    }

    /// Take before reading the database; pass to [`AppCache::fill`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores what was read from the database, unless anything was
    /// announced since `generation` was taken (the read may predate it).
    pub fn fill(&self, data: Arc<AppWithSecrets>, generation: u64) {
        if !self.answers() {
            return;
        }
        let _fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        let entry = Entry {
            data,
            at: Instant::now(),
        };
        self.by_id
            .insert(entry.data.app.id.as_str().to_owned(), entry.clone());
        self.by_client_id
            .insert(entry.data.app.client_id.clone(), entry);
    }

    /// Drops what is cached about one application: after this replica's own
    /// change, and on every announcement.
    pub fn forget(&self, id: &str, client_id: &str) {
        let _fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.by_id.remove(id);
        self.by_client_id.remove(client_id);
    }

    /// Drops everything (the reader could not tell what changed).
    pub fn forget_all(&self) {
        let _fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.by_id.clear();
        self.by_client_id.clear();
    }

    /// Every change committed before `as_of` has been applied.
    pub fn proven(&self, as_of: Instant) {
        self.freshness.proven(as_of);
    }

    /// Whether the cache may answer: on, and proven current lately.
    pub fn answers(&self) -> bool {
        self.enabled && self.freshness.is_fresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(org: &str) -> ReadPermit {
        ReadPermit::for_test(org, "u")
    }

    fn service() -> ServicePermit {
        ServicePermit::for_test("as")
    }

    fn id() -> AppId {
        AppId::parse(ID).unwrap()
    }

    fn entry(id: &str, client_id: &str) -> Arc<AppWithSecrets> {
        let mut app = crate::domain::application::tests::app(false, &[]);
        app.id = AppId::parse(id).unwrap();
        app.organization_id = "o".into();
        app.client_id = client_id.into();
        Arc::new(AppWithSecrets {
            app,
            secrets: vec![],
            client_keys: Default::default(),
        })
    }

    const ID: &str = "app_aaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn answers_only_while_proven_current_and_forgets_what_changed() {
        let c = AppCache::new(1 << 20, Duration::from_secs(60));
        c.fill(entry(ID, "c1"), c.generation());
        assert!(
            c.by_id(&member("o"), &id()).is_none(),
            "never proven current: nothing cached"
        );
        c.proven(Instant::now());
        c.fill(entry(ID, "c1"), c.generation());
        assert!(c.by_id(&member("o"), &id()).is_some());
        assert!(c.by_client_id(&service(), "c1").is_some());
        c.forget(ID, "c1");
        assert!(c.by_id(&member("o"), &id()).is_none());
        assert!(c.by_client_id(&service(), "c1").is_none());
        c.fill(entry(ID, "c1"), c.generation());
        c.forget_all();
        assert!(c.by_client_id(&service(), "c1").is_none());
    }

    #[test]
    fn a_cache_whose_reader_fell_silent_stops_answering() {
        let mut c = AppCache::new(1 << 20, Duration::from_secs(60));
        c.freshness = Freshness::new(Duration::from_millis(100));
        c.proven(Instant::now());
        c.fill(entry(ID, "c1"), c.generation());
        assert!(c.by_client_id(&service(), "c1").is_some());
        std::thread::sleep(Duration::from_millis(150));
        assert!(
            c.by_client_id(&service(), "c1").is_none(),
            "no proof within the lag: silent"
        );
        c.proven(Instant::now());
        assert!(
            c.by_client_id(&service(), "c1").is_some(),
            "caught up: answers again"
        );
    }

    #[test]
    fn another_organizations_member_gets_nothing() {
        let c = AppCache::new(1 << 20, Duration::from_secs(60));
        c.proven(Instant::now());
        c.fill(entry(ID, "c1"), c.generation());
        assert!(c.by_id(&member("o"), &id()).is_some());
        assert!(c.by_id(&member("other"), &id()).is_none());
    }

    #[test]
    fn a_read_that_raced_an_announcement_is_not_stored() {
        let c = AppCache::new(1 << 20, Duration::from_secs(60));
        c.proven(Instant::now());
        let before = c.generation();
        c.forget(ID, "c1"); // changed while we read
        c.fill(entry(ID, "c1"), before);
        assert!(c.by_id(&member("o"), &id()).is_none());
    }

    #[test]
    fn zero_bytes_turns_it_off() {
        let c = AppCache::new(0, Duration::from_secs(60));
        c.proven(Instant::now());
        c.fill(entry(ID, "c1"), c.generation());
        assert!(c.by_id(&member("o"), &id()).is_none());
    }
}
