//! The verifier: whether a presented credential (a client secret, or a
//! private_key_jwt assertion) proves a client, as one [`Verdict`].
//!
//! A caller cannot tell an unknown client, a wrong secret, an inactive or a
//! deleted application apart, in content or in timing, and no amount of
//! wrong guesses keeps the right secret from verifying:
//!
//! - A secret this replica verified before against the stored hash is
//!   answered from the [verified cache](super::verify_cache), at once.
//! - Any other attempt takes one of its caller's
//!   [verification slots](super::caller_slots), then costs the time of one
//!   argon2 hash. When it could be right (the application is usable, a live
//!   secret has its hint, and it carries our checksum, or the stored secret
//!   predates checksums), it is hashed, in the verification lane, so a flood
//!   of them never starves creates and rotations. When it cannot be right,
//!   no hash is computed: it waits as long as a recent hash took, then is
//!   refused.
//! - Failures spend the client_id's budget (`OAUTH_APPS_FAILED_VERIFY_PER_MINUTE`),
//!   known or not, so a limit reveals nothing. Once it is spent, failures are
//!   RESOURCE_EXHAUSTED, but an attempt that could be right is still hashed
//!   and verifies: the right secret is never locked out. That holds for a
//!   secret from before checksums too, whose guesses we cannot tell from it
//!   by its hint alone: they are hashed as well, so what bounds them is the
//!   caller's slots and the verification lane, not the budget (a guesser
//!   learns only a yes, at the rate of argon2 hashes, against a secret of
//!   256 random bits).
//! - Assertions are judged by the domain's rules (`domain::assertion`), the
//!   signature in a lane of its own off the async runtime. A refusal that
//!   proves no key (malformed, unknown client or key, bad signature,
//!   replayed: anyone with a client_id can send those) spends the client's
//!   assertion budget, never the one of secrets; a signed assertion whose
//!   claims fail spends the failure budget shared with secrets. While the
//!   assertion budget is spent, signature work is done only for an
//!   assertion that names one key (its `kid`, or the client's one key for
//!   its algorithm): at most one signature check, so a valid assertion
//!   still verifies and a flood costs no more; others are
//!   RESOURCE_EXHAUSTED before any. A valid assertion verifies whatever
//!   either budget.
//!
//! The verifier does no I/O of its own: the operation reads the client (a
//! cached copy only when [`Verifier::could_verify`] or the assertion's
//! verdict says yes on it) and spends an accepted assertion's `jti`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};

use super::{CallerSlots, HashError, Hasher, Limiter, VerifiedCache};
use crate::domain::{
    AppWithSecrets, Application, AuthMethod, ChecksumKey, ClientSecret, LiveSecret,
    assertion::{self, Accepted, AssertionPolicy, AssertionRefusal},
    ids::CLIENT_ID_CHARS,
    jwk,
};

/// Longer secrets are not hashed as given (they cannot be ours anyway).
const MAX_SECRET_LEN: usize = 512;

/// The answer to a presented credential.
#[derive(Debug)]
pub enum Verdict {
    /// It proves this application.
    Valid(Box<Application>),
    /// It proves nothing; why is logged, never told.
    Refused,
}

/// Why a verification could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The client_id's failure budget is spent.
    #[error("too many failed verifications")]
    RateLimited(Duration),
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A signature check could not be run (its task panicked).
    #[error("signature check failed to run")]
    Signature,
}

/// Why an assertion did not verify.
#[derive(Debug)]
pub enum AssertionFailure {
    /// Refused: the caller answers `valid = false`.
    Refused(AssertionRefusal),
    /// Not answered (its budget is spent, or the check failed to run).
    Stopped(VerifyError),
}

/// Signature checks at once, off the async runtime: few, so that a flood
/// of assertions cannot take every core from other calls.
const SIGNATURE_LANES: usize = 2;

/// The lane signature checks run in, and how many ran.
#[derive(Clone, Debug)]
pub struct SignatureLane {
    slots: Arc<tokio::sync::Semaphore>,
    runs: Arc<AtomicU64>,
}

impl Default for SignatureLane {
    fn default() -> Self {
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(SIGNATURE_LANES)),
            runs: Arc::default(),
        }
    }
}

impl SignatureLane {
    /// Assertions whose signature was checked so far.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, VerifyError> {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| VerifyError::Signature)?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|_| VerifyError::Signature)
    }
}

/// Everything verification needs, built once at start-up.
#[derive(Clone, Debug)]
pub struct Verifier {
    /// argon2 for verifications: a lane of its own, so no flood of them can
    /// starve creates and rotations.
    pub hasher: Hasher,
    pub checksum_key: ChecksumKey,
    pub verified: Arc<VerifiedCache>,
    /// Failed verifications per client_id: secrets, and assertions signed
    /// with a registered key whose claims fail.
    pub failures: Limiter,
    /// Refused assertions that prove no key, per client_id.
    pub assertion_failures: Limiter,
    pub signatures: SignatureLane,
    pub slots: Arc<CallerSlots>,
}

impl Verifier {
    /// Whether `presented` could be a live secret of `found` at `now`: the
    /// test a cached copy must pass to be used at all.
    pub fn could_verify(
        &self,
        found: &AppWithSecrets,
        presented: &ClientSecret,
        now: DateTime<Utc>,
    ) -> bool {
        found.app.is_usable() && !self.candidates(found, presented, now).is_empty()
    }

    /// The live secrets `presented` could be: same hint (the last
    /// characters, almost always one candidate) and, for a checksummed
    /// secret, our checksum.
    fn candidates<'a>(
        &self,
        found: &'a AppWithSecrets,
        presented: &ClientSecret,
        now: DateTime<Utc>,
    ) -> Vec<&'a LiveSecret> {
        let hint = presented.hint();
        let ours = presented.has_checksum(&self.checksum_key);
        found
            .secrets
            .iter()
            .filter(|s| s.is_live(now) && s.hint == hint && (ours || !s.checksummed))
            .collect()
    }

    /// The verdict on `presented` as a secret of `found` (`None`: no such
    /// client), for `caller` (whose slots an uncached attempt takes), with
    /// `client_id` as given (whose budget a failure spends).
    pub async fn secret(
        &self,
        caller: &str,
        client_id: &str,
        found: Option<&AppWithSecrets>,
        presented: ClientSecret,
        now: DateTime<Utc>,
    ) -> Result<Verdict, VerifyError> {
        let usable =
            found.filter(|f| f.app.is_usable() && presented.expose().len() <= MAX_SECRET_LEN);
        // Fast path: this exact secret verified against this stored hash before.
        if let Some(f) = usable
            && f.secrets
                .iter()
                .any(|s| s.is_live(now) && self.verified.is_verified(s.hash.as_phc(), &presented))
        {
            return Ok(Verdict::Valid(Box::new(f.app.clone())));
        }
        let _slot = self.slots.acquire(caller).await;
        let candidates = usable
            .map(|f| self.candidates(f, &presented, now))
            .unwrap_or_default();
        if candidates.is_empty() {
            self.spend_failure(client_id)?;
            tokio::time::sleep(self.hasher.sample_duration()).await;
            return Ok(refused_secret(client_id));
        }
        for candidate in candidates {
            if self
                .hasher
                .verify(candidate.hash.clone(), presented.clone())
                .await?
            {
                self.verified.remember(candidate.hash.as_phc(), &presented);
                return Ok(usable.map_or(Verdict::Refused, |f| {
                    Verdict::Valid(Box::new(f.app.clone()))
                }));
            }
        }
        self.spend_failure(client_id)?;
        Ok(refused_secret(client_id))
    }

    /// Judges `client_assertion` as one from `found` (the client it claims,
    /// `claimed`) at `now`: what remains, for a valid one, is to spend its
    /// `jti`.
    pub async fn assertion(
        &self,
        found: &Arc<AppWithSecrets>,
        client_assertion: &str,
        claimed: &str,
        policy: &AssertionPolicy,
        now: i64,
    ) -> Result<Accepted, AssertionFailure> {
        let app = &found.app;
        if !app.is_usable() || app.auth_method != AuthMethod::PrivateKeyJwt {
            return Err(AssertionFailure::Refused(AssertionRefusal::NoSuchClient));
        }
        if let Some(wait) = self.assertion_failures.spent(claimed)
            && !names_one_key(found, client_assertion)
        {
            return Err(AssertionFailure::Stopped(VerifyError::RateLimited(wait)));
        }
        let (found, client_assertion) = (found.clone(), client_assertion.to_owned());
        let (claimed, policy) = (claimed.to_owned(), policy.clone());
        let checked = self.signatures.run(move || {
            assertion::check(
                &client_assertion,
                &claimed,
                &found.client_keys,
                &policy,
                now,
            )
        });
        match checked.await {
            Ok(verdict) => verdict.map_err(AssertionFailure::Refused),
            Err(e) => Err(AssertionFailure::Stopped(e)),
        }
    }

    /// A refused assertion: logged, and paid for by `budget` (the claimed
    /// client_id, or the one given when the assertion names none): the
    /// failure budget when it was signed with a registered key, the
    /// assertion budget when not.
    pub fn refuse_assertion(
        &self,
        budget: &str,
        reason: AssertionRefusal,
    ) -> Result<Verdict, VerifyError> {
        tracing::info!(client_id = shown_client_id(budget), %reason, "client assertion refused");
        if proves_a_key(reason) {
            self.spend_failure(budget)?;
        } else {
            self.assertion_failures
                .check(budget)
                .map_err(VerifyError::RateLimited)?;
        }
        Ok(Verdict::Refused)
    }

    /// One unit of `client_id`'s failure budget, or RESOURCE_EXHAUSTED.
    fn spend_failure(&self, client_id: &str) -> Result<(), VerifyError> {
        self.failures
            .check(client_id)
            .map_err(VerifyError::RateLimited)
    }
}

/// Whether an assertion refused for `reason` was signed with a registered
/// key: refused for its claims, found only after its signature checked.
/// (A replay proves nothing: anyone who saw it can send it again.)
fn proves_a_key(reason: AssertionRefusal) -> bool {
    use AssertionRefusal as R;
    matches!(
        reason,
        R::Audience
            | R::AudienceArray
            | R::NoExpiry
            | R::Expired
            | R::TooLong
            | R::NotYetValid
            | R::IssuedInFuture
            | R::NoJti
    )
}

/// Whether the header of `client_assertion` names one of the client's keys
/// without a search: by `kid`, or the one key for its algorithm.
fn names_one_key(found: &AppWithSecrets, client_assertion: &str) -> bool {
    jsonwebtoken::decode_header(client_assertion).is_ok_and(|header| {
        jwk::choose(found.client_keys.keys(), header.alg, header.kid.as_deref()).is_some()
    })
}

/// A refused secret, logged.
fn refused_secret(client_id: &str) -> Verdict {
    tracing::info!(
        client_id = shown_client_id(client_id),
        "client credentials refused"
    );
    Verdict::Refused
}

/// A client_id as it may be logged: only ids shaped like ours (26 base62
/// characters) are; anything else may be a secret pasted into the wrong
/// field, or an attempt to forge log lines.
fn shown_client_id(client_id: &str) -> &str {
    let ours =
        client_id.len() == CLIENT_ID_CHARS && client_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if ours { client_id } else { "<unrecognized>" }
}
