//! A JWKS at an HTTPS URL (an identity provider's `jwks_uri`), cached.
//!
//! Guarantees:
//! - A token whose `kid` is in the cached set is verified without waiting on
//!   the network: one background task does every fetch and swaps the set in.
//! - The set is fetched again every `refresh` period, and when a token names
//!   a `kid` the set does not have (the issuer rotated). Such unknown-kid
//!   fetches are single-flight and rate-limited: at most one per
//!   [`UNKNOWN_KID_MIN_INTERVAL`], and after failures not before the
//!   back-off has passed, so a storm of made-up `kid`s costs the issuer one
//!   request. The call that saw the unknown `kid` waits for the fetch at most
//!   [`UNKNOWN_KID_WAIT`]; a call that may not start one is answered at once.
//! - A failed fetch (unreachable, timeout, non-200, too large, not a JWK
//!   Set) keeps the last good set and is retried with exponential back-off
//!   (from [`FAILURE_BACKOFF_BASE`] up to [`FAILURE_BACKOFF_CAP`], never later
//!   than the next periodic fetch).
//! - Start-up needs one successful fetch with at least one usable key within
//!   the start-up window, or fails: a service that could verify no token
//!   would refuse every call while looking healthy.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use tokio::sync::{Notify, watch};

use super::{
    KeySet, Snapshot, TaskGuard,
    fetch::{FetchError, Fetcher},
};

/// Longest a call with an unknown `kid` waits for the fetch it asked for.
pub const UNKNOWN_KID_WAIT: Duration = Duration::from_secs(2);
/// Least time between two fetches caused by unknown `kid`s.
pub const UNKNOWN_KID_MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Wait after the first failed fetch; doubled with each further failure.
pub const FAILURE_BACKOFF_BASE: Duration = Duration::from_secs(10);
pub const FAILURE_BACKOFF_CAP: Duration = Duration::from_secs(300);
/// Shortest periodic refresh accepted: a shorter one would hammer the issuer.
pub const MIN_REFRESH: Duration = Duration::from_secs(1);
/// How long start-up keeps trying to fetch the set (the issuer may be
/// starting too); the same window as for the database.
pub const JWKS_STARTUP_WINDOW: Duration = Duration::from_secs(30);

/// Where and how to fetch the set.
#[derive(Clone, Debug)]
pub struct RemoteJwksSettings {
    /// `https` URL without user info.
    pub url: url::Url,
    /// PEM CA certificates trusted besides the public web roots.
    pub ca_file: Option<PathBuf>,
    pub refresh: Duration,
    pub startup_window: Duration,
}

pub(crate) struct RemoteJwks {
    shared: Arc<Shared>,
    _refresher: TaskGuard,
}

struct Shared {
    /// For logs: checked to hold no credentials.
    url: String,
    fetcher: Fetcher,
    keys: Snapshot,
    control: Mutex<Control>,
    /// Wakes the refresher for an unknown-kid fetch.
    wake: Notify,
    /// Counts finished fetch attempts; callers waiting for one watch it.
    finished: watch::Sender<u64>,
    failures_total: AtomicU64,
    refresh: Duration,
}

/// When fetches may happen; changed under the lock, never across an await.
#[derive(Default)]
struct Control {
    in_flight: bool,
    /// An unknown `kid` asked for a fetch that has not started yet.
    wanted: bool,
    last_on_demand: Option<Instant>,
    /// Failed fetches in a row.
    failures: u32,
    last_failure: Option<Instant>,
}

fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FAILURE_BACKOFF_BASE
        .saturating_mul(1 << doublings)
        .min(FAILURE_BACKOFF_CAP)
}

impl Control {
    fn may_fetch_on_demand(&self, now: Instant) -> bool {
        let spaced = self
            .last_on_demand
            .is_none_or(|t| now.duration_since(t) >= UNKNOWN_KID_MIN_INTERVAL);
        let backed_off = self.failures == 0
            || self
                .last_failure
                .is_none_or(|t| now.duration_since(t) >= backoff(self.failures));
        spaced && backed_off
    }
}

/// The URL as a request target, refusing what must not be fetched.
fn target(url: &url::Url) -> anyhow::Result<http::Uri> {
    anyhow::ensure!(
        url.scheme() == "https",
        "OAUTH_APPS_JWKS_URL must be an https URL (keys fetched over plain HTTP could be swapped by anyone on the path)"
    );
    // Credentials in the URL would end up in logs and process listings.
    anyhow::ensure!(
        url.username().is_empty() && url.password().is_none(),
        "OAUTH_APPS_JWKS_URL must not hold a user name or password"
    );
    anyhow::ensure!(
        url.host_str().is_some_and(|h| !h.is_empty()),
        "OAUTH_APPS_JWKS_URL has no host"
    );
    url.as_str()
        .parse::<http::Uri>()
        .context("OAUTH_APPS_JWKS_URL is not a usable request URL")
}

impl RemoteJwks {
    /// Fetches the set (retrying within the start-up window) and starts the
    /// refresher. Needs a Tokio runtime.
    pub(crate) async fn start(settings: &RemoteJwksSettings) -> anyhow::Result<Self> {
        let uri = target(&settings.url)?;
        anyhow::ensure!(
            settings.refresh >= MIN_REFRESH,
            "OAUTH_APPS_JWKS_REFRESH must be at least {MIN_REFRESH:?}"
        );
        let url = settings.url.to_string();
        let fetcher = Fetcher::new(uri, settings.ca_file.as_deref())?;
        let set = first_fetch(&fetcher, &url, settings.startup_window).await?;
        tracing::info!(%url, keys = set.len(), kids = ?set.kids(), "JWKS fetched");
        let shared = Arc::new(Shared {
            url,
            fetcher,
            keys: Snapshot::new(set),
            control: Mutex::default(),
            wake: Notify::new(),
            finished: watch::Sender::new(0),
            failures_total: AtomicU64::new(0),
            refresh: settings.refresh,
        });
        let refresher = tokio::spawn(refresh(shared.clone()));
        Ok(Self {
            shared,
            _refresher: TaskGuard(refresher),
        })
    }

    pub(crate) fn keys(&self) -> Arc<KeySet> {
        self.shared.keys.load()
    }

    pub(crate) fn url(&self) -> &str {
        &self.shared.url
    }

    /// Fetches finished since start-up, successful or not.
    pub(crate) fn fetches(&self) -> u64 {
        *self.shared.finished.borrow()
    }

    /// Fetches since start-up that failed.
    pub(crate) fn failed_fetches(&self) -> u64 {
        self.shared.failures_total.load(Ordering::Relaxed)
    }

    /// For a token whose `kid` no cached key has: joins the fetch in flight,
    /// or starts one when the rate limit allows, and waits for it at most
    /// [`UNKNOWN_KID_WAIT`]. True when a fetch finished (the caller then
    /// looks again); false at once when no fetch may start.
    pub(crate) async fn refresh_for_unknown_kid(&self) -> bool {
        // Subscribed before looking, so a fetch that ends in between is seen.
        let mut finished = self.shared.finished.subscribe();
        {
            let mut control = self.shared.control();
            if !(control.in_flight || control.wanted) {
                let now = Instant::now();
                if !control.may_fetch_on_demand(now) {
                    return false;
                }
                control.wanted = true;
                control.last_on_demand = Some(now);
                self.shared.wake.notify_one();
            }
        }
        matches!(
            tokio::time::timeout(UNKNOWN_KID_WAIT, finished.changed()).await,
            Ok(Ok(()))
        )
    }
}

impl Shared {
    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        // Control holds plain values that are valid after any panic.
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn first_fetch(fetcher: &Fetcher, url: &str, window: Duration) -> anyhow::Result<KeySet> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let remaining = window.saturating_sub(started.elapsed());
        let error = match tokio::time::timeout(remaining, fetcher.fetch()).await {
            Ok(Ok(set)) if !set.is_empty() => return Ok(set),
            Ok(Ok(_)) => "holds no RS256, ES256 or EdDSA signing key".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => FetchError::Timeout(window).to_string(),
        };
        if started.elapsed() + pause >= window {
            anyhow::bail!(
                "the JWKS at OAUTH_APPS_JWKS_URL {url} could not be used within {window:?}: {error}"
            );
        }
        tracing::warn!(%url, %error, "JWKS not fetched yet; retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// The one task that fetches: periodically, and when an unknown `kid` asks.
async fn refresh(shared: Arc<Shared>) {
    let mut next_periodic = Instant::now() + shared.refresh;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next_periodic.into()) => {}
            () = shared.wake.notified() => {
                // A wake-up left over from a request that a fetch since has
                // already answered.
                if !shared.control().wanted {
                    continue;
                }
            }
        }
        {
            let mut control = shared.control();
            control.in_flight = true;
            // Whoever asked is answered by this fetch, periodic or not.
            control.wanted = false;
        }
        let result = shared.fetcher.fetch().await;
        let now = Instant::now();
        {
            let mut control = shared.control();
            control.in_flight = false;
            match result {
                Ok(set) => {
                    control.failures = 0;
                    let previous = shared.keys.load();
                    if previous.kids() != set.kids() {
                        tracing::info!(url = %shared.url, keys = set.len(), kids = ?set.kids(), "JWKS keys changed");
                    } else {
                        tracing::debug!(url = %shared.url, "JWKS unchanged");
                    }
                    shared.keys.store(set);
                    next_periodic = now + shared.refresh;
                }
                Err(e) => {
                    control.failures = control.failures.saturating_add(1);
                    control.last_failure = Some(now);
                    shared.failures_total.fetch_add(1, Ordering::Relaxed);
                    let retry = backoff(control.failures).min(shared.refresh);
                    tracing::warn!(
                        url = %shared.url,
                        error = %e,
                        failures = control.failures,
                        retry_in = ?retry,
                        "JWKS fetch failed; keeping the previous keys"
                    );
                    next_periodic = now + retry;
                }
            }
        }
        // After the new set is in place, so a woken caller finds it.
        shared.finished.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> RemoteJwksSettings {
        RemoteJwksSettings {
            url: url.parse().unwrap(),
            ca_file: None,
            refresh: Duration::from_secs(300),
            startup_window: Duration::from_millis(300),
        }
    }

    #[test]
    fn only_https_urls_without_credentials_are_fetched() {
        assert!(target(&"https://id.example/.well-known/jwks.json".parse().unwrap()).is_ok());
        for (url, says) in [
            ("http://id.example/jwks", "https"),
            ("file:///etc/jwks.json", "https"),
            ("https://user:pw@id.example/jwks", "user name or password"),
            ("https://user@id.example/jwks", "user name or password"),
        ] {
            let e = target(&url.parse().unwrap()).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn back_off_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(4), Duration::from_secs(80));
        assert_eq!(backoff(6), FAILURE_BACKOFF_CAP);
        assert_eq!(backoff(u32::MAX), FAILURE_BACKOFF_CAP);
    }

    #[test]
    fn unknown_kid_fetches_are_spaced_and_back_off_after_failures() {
        let t0 = Instant::now();
        let mut c = Control::default();
        assert!(c.may_fetch_on_demand(t0));
        c.last_on_demand = Some(t0);
        assert!(!c.may_fetch_on_demand(t0 + Duration::from_secs(9)));
        assert!(c.may_fetch_on_demand(t0 + UNKNOWN_KID_MIN_INTERVAL));
        c.failures = 3;
        c.last_failure = Some(t0);
        assert!(!c.may_fetch_on_demand(t0 + Duration::from_secs(39)));
        assert!(c.may_fetch_on_demand(t0 + Duration::from_secs(40)));
        // A success resets the back-off.
        c.failures = 0;
        assert!(c.may_fetch_on_demand(t0 + UNKNOWN_KID_MIN_INTERVAL));
    }

    #[tokio::test]
    async fn start_up_fails_clearly_when_the_set_cannot_be_fetched() {
        // Nothing listens on port 1: connection refused, retried, then given up.
        let e = RemoteJwks::start(&settings("https://127.0.0.1:1/jwks.json"))
            .await
            .err()
            .expect("no server");
        let e = format!("{e:#}");
        assert!(e.contains("https://127.0.0.1:1/jwks.json"), "{e}");
        assert!(e.contains("could not be used within"), "{e}");

        let mut short = settings("https://id.example/jwks");
        short.refresh = Duration::from_millis(10);
        let e = RemoteJwks::start(&short).await.err().expect("too short");
        assert!(e.to_string().contains("OAUTH_APPS_JWKS_REFRESH"), "{e}");
    }
}
