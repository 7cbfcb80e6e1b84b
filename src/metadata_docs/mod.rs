//! Client ID Metadata Documents: with `OAUTH_APPS_METADATA_DOCUMENTS=true`,
//! a `client_id` that is an `https` URL is a client whose metadata the URL
//! serves; LookupClient, MatchRedirectUri and VerifyClientAssertion answer
//! for it from that document, judged by `domain::client_document`.
//!
//! Policy:
//! - Nothing is sent unless `ssrf` allows the URL and every address its
//!   host resolves to; the connection goes to those addresses (`fetch`).
//! - A valid document is cached for its `Cache-Control: max-age`, clamped
//!   to the min and max TTL (no-store, no-cache or none: the min TTL). An
//!   invalid one (any answer that is no valid document, an internal
//!   address) is remembered as such for the min TTL, so a bad client_id
//!   costs its host one request per min TTL however often it is asked for.
//! - Lookups of one URL that find no fresh copy share one fetch, whatever
//!   their number (single flight); the fetch runs to its end even when the
//!   callers that started it are gone.
//! - A refresh that fails for want of an answer (unreachable, timeout, 5xx)
//!   keeps the last good copy serving until it is max TTL old, and is tried
//!   again after the min TTL; with no good copy the lookup is UNAVAILABLE
//!   and nothing is remembered. A refresh answered with an invalid document
//!   replaces the copy at once: the client's owner has spoken.
//! - At most [`MAX_DOCUMENTS`] URLs are remembered (least recently used go
//!   first), so the cache cannot grow with the client_ids callers invent;
//!   at most [`FETCHES_AT_ONCE`] fetches run at once (one waiting longer
//!   than the fetch timeout for its turn is UNAVAILABLE), so a flood of
//!   distinct URLs cannot make the service a flood of requests.
//! - Every refusal is logged with its reason (info), every outage (warn);
//!   a document's content never is.

mod fetch;
pub mod ssrf;

use std::{
    collections::HashMap,
    fmt,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use futures_util::{
    FutureExt as _,
    future::{BoxFuture, Shared},
};
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, pem::PemObject as _},
};

pub use fetch::MAX_DOCUMENT_BYTES;
use fetch::{FetchError, Fetcher};
use ssrf::{DocumentUrl, PrivateHosts, Refused};

use crate::{
    domain::{AppWithSecrets, ClientId, Policy, client_document::check_document, jwk::KeySet},
    exit::{Misconfigured, read_setting_file},
};

/// URLs whose answers are remembered at most.
pub const MAX_DOCUMENTS: usize = 10_000;
/// Document fetches in flight at most, for all URLs together.
pub const FETCHES_AT_ONCE: usize = 64;

/// What the operator configured.
#[derive(Clone, Debug)]
pub struct DocumentSettings {
    /// Bound on a whole fetch.
    pub timeout: Duration,
    pub min_ttl: Duration,
    pub max_ttl: Duration,
    /// Hosts whose documents may live on internal addresses.
    pub private_hosts: PrivateHosts,
}

/// Why a document client is not answered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentError {
    /// No valid document at the URL (or the URL may not be fetched).
    NotFound,
    /// No answer from the URL's host, and no good copy to fall back on.
    Unreachable,
}

type Answer = Result<Arc<AppWithSecrets>, DocumentError>;
type SharedFetch = Shared<BoxFuture<'static, Answer>>;

/// The documents' resolver; off unless configured.
#[derive(Clone, Default)]
pub struct MetadataDocuments(Option<Arc<Resolver>>);

impl fmt::Debug for MetadataDocuments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataDocuments")
            .field("enabled", &self.0.is_some())
            .finish()
    }
}

struct Resolver {
    settings: DocumentSettings,
    fetcher: Fetcher,
    /// The rules a document's client must pass, as registered apps do.
    policy: Arc<Policy>,
    cache: quick_cache::sync::Cache<String, Arc<Entry>>,
    /// The fetch in flight per URL; a fetch leaves only after storing its
    /// answer, so a lookup never misses both.
    inflight: Mutex<HashMap<String, SharedFetch>>,
    /// [`FETCHES_AT_ONCE`] permits.
    fetching: tokio::sync::Semaphore,
    fetches: AtomicU64,
}

/// Takes a URL's fetch out of the in-flight map when dropped: after its
/// answer is stored, or if the fetch panicked.
struct Leave<'a>(&'a Resolver, &'a str);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut inflight = self.0.inflight.lock().unwrap_or_else(|e| e.into_inner());
        inflight.remove(self.1);
    }
}

/// An answer remembered, and until when it answers without a fetch.
struct Entry {
    answer: Answer,
    fetched: Instant,
    fresh_until: Instant,
}

impl MetadataDocuments {
    /// Documents off: every client_id is a registered one.
    pub fn off() -> Self {
        Self(None)
    }

    /// Documents on, trusting the web roots and the PEM CA file `ca_file`.
    pub fn new(
        settings: DocumentSettings,
        ca_file: Option<&Path>,
        policy: Arc<Policy>,
    ) -> Result<Self, Misconfigured> {
        if settings.min_ttl > settings.max_ttl {
            return Err(Misconfigured(format!(
                "OAUTH_APPS_METADATA_DOCUMENT_MIN_TTL ({:?}) must not exceed OAUTH_APPS_METADATA_DOCUMENT_MAX_TTL ({:?})",
                settings.min_ttl, settings.max_ttl
            )));
        }
        let tls = tls_config(ca_file)?;
        Ok(Self(Some(Arc::new(Resolver {
            fetcher: Fetcher::new(tls, settings.timeout),
            settings,
            policy,
            cache: quick_cache::sync::Cache::new(MAX_DOCUMENTS),
            inflight: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Semaphore::new(FETCHES_AT_ONCE),
            fetches: AtomicU64::new(0),
        }))))
    }

    /// The client that `client_id` names by its document; `None` when it
    /// names none (documents are off, or it is no `https` URL): then it is
    /// a registered client's id, or nobody's.
    pub async fn resolve(&self, client_id: &str) -> Option<Answer> {
        let resolver = self.0.as_ref()?;
        if !client_id.starts_with("https://") {
            return None;
        }
        // As for any client_id: one that could not exist is unknown, and
        // is neither fetched nor logged.
        if ClientId::parse(client_id).is_none() {
            return Some(Err(DocumentError::NotFound));
        }
        Some(resolver.clone().resolve(client_id).await)
    }

    /// Fetches started so far (requests sent, or refused by the SSRF
    /// checks after resolution).
    pub fn fetches(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |r| r.fetches.load(Ordering::Relaxed))
    }
}

impl Resolver {
    async fn resolve(self: Arc<Self>, client_id: &str) -> Answer {
        if let Some(answer) = self.fresh(client_id) {
            return answer;
        }
        let url = match DocumentUrl::parse(client_id) {
            Ok(url) => url,
            Err(reason) => {
                let client_id = without_user_info(client_id);
                tracing::info!(%client_id, %reason, "client_id URL refused; nothing fetched");
                return Err(DocumentError::NotFound);
            }
        };
        let fetch = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            // Again under the lock: a fetch that has just left stored first.
            if let Some(answer) = self.fresh(client_id) {
                return answer;
            }
            inflight
                .entry(client_id.to_owned())
                .or_insert_with(|| self.clone().start(url))
                .clone()
        };
        fetch.await
    }

    /// The remembered answer, while fresh.
    fn fresh(&self, client_id: &str) -> Option<Answer> {
        let entry = self.cache.get(client_id)?;
        (Instant::now() < entry.fresh_until).then(|| entry.answer.clone())
    }

    /// A fetch of `url` that runs to its end on its own task, stores its
    /// answer, then leaves the in-flight map.
    fn start(self: Arc<Self>, url: DocumentUrl) -> SharedFetch {
        let task = tokio::spawn(async move {
            let _leave = Leave(&self, url.as_str());
            self.refresh(&url).await
        });
        async move { task.await.unwrap_or(Err(DocumentError::Unreachable)) }
            .boxed()
            .shared()
    }

    /// Fetches and judges the document, and remembers the answer.
    async fn refresh(&self, url: &DocumentUrl) -> Answer {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let key = url.as_str().to_owned();
        let now = Instant::now();
        let (min, max) = (self.settings.min_ttl, self.settings.max_ttl);
        let (answer, ttl) = match self.fetch_client(url).await {
            Ok((client, ttl)) => (Ok(client), ttl),
            Err(FetchError::NotADocument(reason)) => {
                tracing::info!(client_id = %key, %reason, "client metadata document refused");
                (Err(DocumentError::NotFound), min)
            }
            Err(FetchError::Unreachable(reason)) => {
                let previous = self.cache.get(&key).filter(|p| p.answer.is_ok());
                let Some(previous) = previous.filter(|p| now < p.fetched + max) else {
                    tracing::warn!(client_id = %key, %reason, "client metadata document unreachable");
                    return Err(DocumentError::Unreachable);
                };
                let age = now - previous.fetched;
                tracing::warn!(client_id = %key, %reason, ?age, "client metadata document unreachable; the copy fetched before still answers");
                let entry = Entry {
                    answer: previous.answer.clone(),
                    fetched: previous.fetched,
                    fresh_until: (now + min).min(previous.fetched + max),
                };
                self.cache.insert(key, Arc::new(entry));
                return previous.answer.clone();
            }
        };
        let entry = Entry {
            answer: answer.clone(),
            fetched: now,
            fresh_until: now + ttl,
        };
        self.cache.insert(key, Arc::new(entry));
        answer
    }

    /// The client of the document at `url`, and how long it may be cached.
    async fn fetch_client(
        &self,
        url: &DocumentUrl,
    ) -> Result<(Arc<AppWithSecrets>, Duration), FetchError> {
        let turn = tokio::time::timeout(self.settings.timeout, self.fetching.acquire()).await;
        let Ok(Ok(_permit)) = turn else {
            let busy = format!("{FETCHES_AT_ONCE} other fetches took every turn");
            return Err(FetchError::Unreachable(busy));
        };
        let addrs = ssrf::checked_addresses(url, &self.settings.private_hosts)
            .await
            .map_err(|e| match e {
                Refused::Internal { .. } => FetchError::NotADocument(e.to_string()),
                Refused::Unresolved { .. } => FetchError::Unreachable(e.to_string()),
            })?;
        let fetched = self.fetcher.fetch(url, addrs).await?;
        let app = check_document(
            url.as_str(),
            url.host_str(),
            &fetched.body,
            &self.policy,
            Utc::now(),
        )
        .map_err(FetchError::NotADocument)?;
        let client_keys = KeySet::registered(app.jwks.as_deref());
        let ttl = ttl(
            fetched.cache_control.as_deref(),
            self.settings.min_ttl,
            self.settings.max_ttl,
        );
        let client = AppWithSecrets {
            app,
            secrets: Vec::new(),
            client_keys,
        };
        Ok((Arc::new(client), ttl))
    }
}

/// `client_id` as it may be logged: user information (a password, maybe)
/// removed.
fn without_user_info(client_id: &str) -> String {
    match url::Url::parse(client_id) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            format!("{u} (user information removed)")
        }
        Ok(_) => client_id.to_owned(),
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

/// How long a document answers: its `max-age` within `[min, max]`; the
/// min for `no-store`, `no-cache` or no `max-age`.
fn ttl(cache_control: Option<&str>, min: Duration, max: Duration) -> Duration {
    let mut max_age = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return min;
        }
        if let Some(secs) = directive.strip_prefix("max-age=") {
            max_age = secs.trim_matches('"').parse::<u64>().ok();
        }
    }
    max_age.map_or(min, Duration::from_secs).clamp(min, max)
}

/// TLS for fetches: the public web roots, and the certificates of
/// `ca_file` when given (rustls with ring, as tonic's tls-ring).
fn tls_config(ca_file: Option<&Path>) -> Result<ClientConfig, Misconfigured> {
    const SETTING: &str = "OAUTH_APPS_METADATA_DOCUMENT_CA_FILE";
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = read_setting_file(SETTING, path)?;
        let bad = |why: String| Misconfigured(format!("{SETTING} {}: {why}", path.display()));
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not valid PEM ({e})")))?;
        if certs.is_empty() {
            return Err(bad("holds no PEM certificate".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| bad(format!("a certificate is not a usable CA ({e})")))?;
        }
    }
    Ok(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Misconfigured(format!("TLS settings for metadata documents: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_clamped_and_no_store_means_the_minimum() {
        let (min, max) = (Duration::from_secs(60), Duration::from_secs(86_400));
        let cases: &[(Option<&str>, u64)] = &[
            (None, 60),
            (Some("max-age=300"), 300),
            (Some("public, max-age=3600"), 3600),
            (Some("max-age=5"), 60),
            (Some("max-age=999999999"), 86_400),
            (Some("no-store"), 60),
            (Some("max-age=3600, no-cache"), 60),
            (Some("Max-Age=120"), 120),
            (Some("max-age=junk"), 60),
            (Some("private"), 60),
        ];
        for (header, want) in cases {
            assert_eq!(
                ttl(*header, min, max),
                Duration::from_secs(*want),
                "{header:?}"
            );
        }
    }

    #[test]
    fn user_information_is_never_logged() {
        let shown = without_user_info("https://alice:hunter2@client.example.com/doc");
        assert!(
            !shown.contains("hunter2") && !shown.contains("alice"),
            "{shown}"
        );
        assert_eq!(
            without_user_info("https://client.example.com/doc#x"),
            "https://client.example.com/doc#x"
        );
    }

    #[test]
    fn min_ttl_over_max_ttl_is_refused() {
        let settings = DocumentSettings {
            timeout: Duration::from_secs(5),
            min_ttl: Duration::from_secs(120),
            max_ttl: Duration::from_secs(60),
            private_hosts: PrivateHosts::default(),
        };
        let e = MetadataDocuments::new(settings, None, Arc::default()).unwrap_err();
        assert!(e.0.contains("MIN_TTL"), "{}", e.0);
    }

    #[tokio::test]
    async fn off_resolves_nothing_and_urls_are_refused_before_any_fetch() {
        let off = MetadataDocuments::off();
        assert!(
            off.resolve("https://client.example.com/doc")
                .await
                .is_none()
        );
        let settings = DocumentSettings {
            timeout: Duration::from_secs(5),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(60),
            private_hosts: PrivateHosts::default(),
        };
        let on = MetadataDocuments::new(settings, None, Arc::default()).unwrap();
        assert!(on.resolve("client-123").await.is_none());
        assert!(on.resolve("http://client.example.com/doc").await.is_none());
        for refused in [
            "https://client.example.com",
            "https://u@client.example.com/doc",
            "https://client.example.com/doc#",
            "https://127.0.0.1:1/doc",
            "https://[::1]:1/doc",
            "https://10.0.0.1/doc",
            "https://169.254.169.254/latest/meta-data",
        ] {
            let answer = on.resolve(refused).await.unwrap();
            assert_eq!(answer.err(), Some(DocumentError::NotFound), "{refused}");
        }
        // The internal addresses reached `refresh` (and were refused
        // there, before any connection); the malformed URLs did not.
        assert_eq!(on.fetches(), 4);
    }
}
