//! argon2id: the one place secrets are hashed and verified, off the async
//! runtime, behind a bound.
//!
//! Hashing takes tens of milliseconds of CPU. Running it on the async workers
//! would stall every other call, so it runs on the blocking pool, at most
//! `concurrency` at a time (the number of cores by default). Callers beyond
//! that wait in a bounded queue; when the queue is full, or a caller would
//! wait longer than `max_wait`, the call is refused as busy, which the API
//! answers with RESOURCE_EXHAUSTED and a retry delay rather than queueing
//! without limit.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use std::sync::Mutex;

use argon2::{Algorithm, Argon2, Block, Params, Version, password_hash::phc::PasswordHash};
use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD as B64};
use rand::{Rng as _, RngExt as _};
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;

use crate::domain::{ClientSecret, SecretHash};

/// Largest argon2 costs accepted from a stored hash (64 MiB, 10 passes, 4 lanes).
const MAX_M_COST: u32 = 64 * 1024;
const MAX_T_COST: u32 = 10;
const MAX_P_COST: u32 = 1 << 2;

/// Hashes with argon2id and OWASP's parameters (m=19 MiB, t=2, p=1) and a
/// fresh random salt, in `memory` (reused across hashes: allocating and
/// faulting in 19 MiB per hash costs a fifth of its time). CPU-heavy (tens
/// of milliseconds): [`Hasher`] runs it off the async runtime.
fn hash_in(secret: &ClientSecret, memory: &mut Vec<Block>) -> SecretHash {
    let params = Params::default();
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let mut out = [0u8; 32];
    memory.resize(params.block_count(), Block::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            secret.expose().as_bytes(),
            &salt,
            &mut out,
            memory.as_mut_slice(),
        )
        .expect("argon2 with default parameters and a 16-byte salt cannot fail");
    SecretHash::from_stored(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        B64.encode(salt),
        B64.encode(out)
    ))
}

/// Constant-time check of `presented` against a stored PHC string, with the
/// parameters it names, in `memory`. A malformed stored hash, another
/// algorithm or absurd costs verify nothing.
fn verify_in(stored: &SecretHash, presented: &ClientSecret, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored.as_phc()) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) = (
        Params::try_from(&parsed),
        parsed.salt.as_ref(),
        parsed.hash.as_ref(),
    ) else {
        return false;
    };
    // Stored hashes are ours, but a tampered row must not make us
    // allocate or compute without bound: only sane argon2id costs.
    if params.m_cost() > MAX_M_COST || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST
    {
        return false;
    }
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let expected = expected.as_bytes();
    if !(16..=64).contains(&expected.len()) {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    memory.resize(params.block_count(), Block::default());
    let computed = Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(
            presented.expose().as_bytes(),
            salt.as_ref(),
            &mut out,
            memory.as_mut_slice(),
        );
    computed.is_ok() && bool::from(out.ct_eq(expected))
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing task failed")]
    Failed,
}

/// argon2 memory (19 MiB a hash) kept between hashes while hashing is busy,
/// so back-to-back hashes skip allocating and faulting in fresh pages; when
/// the last hash in flight finishes, its memory goes back to the OS.
#[derive(Default)]
struct MemoryPool(Mutex<Vec<Vec<Block>>>);

impl std::fmt::Debug for MemoryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryPool")
    }
}

impl MemoryPool {
    fn take(&self) -> Vec<Block> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give_back(&self, memory: Vec<Block>, keep: bool, max: usize) {
        let default_len = Params::default().block_count();
        let mut pool = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if keep && pool.len() < max && memory.len() == default_len {
            pool.push(memory);
        } else if !keep {
            // Idle: nothing else is hashing, so hold nothing.
            pool.clear();
        }
    }

    fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// How long recent runs took: a refusal that needs no hash waits as long as
/// one of them, so that it looks like a refusal that did.
#[derive(Debug, Default)]
struct Timings {
    recent: Mutex<std::collections::VecDeque<Duration>>,
    runs: std::sync::atomic::AtomicU64,
}

/// Runs kept for sampling.
const TIMINGS_KEPT: usize = 64;

impl Timings {
    fn record(&self, took: Duration) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == TIMINGS_KEPT {
            recent.pop_front();
        }
        recent.push_back(took);
    }

    fn sample(&self) -> Duration {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.is_empty() {
            return Duration::from_millis(20);
        }
        recent[rand::rng().random_range(0..recent.len())]
    }
}

/// A lane of argon2 work: its own slots and queue, so one kind of work
/// (verifications) cannot starve another (creates and rotations).
#[derive(Clone, Debug)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    memory: Arc<MemoryPool>,
    concurrency: usize,
    /// Calls admitted (running or waiting).
    admitted: Arc<AtomicUsize>,
    max_admitted: usize,
    max_wait: Duration,
    timings: Arc<Timings>,
}

impl Hasher {
    /// `concurrency` hashes at once, and up to `queue` more callers waiting.
    pub fn new(concurrency: usize, queue: usize, max_wait: Duration) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            slots: Arc::new(Semaphore::new(concurrency)),
            memory: Arc::default(),
            concurrency,
            admitted: Arc::new(AtomicUsize::new(0)),
            max_admitted: concurrency + queue,
            max_wait,
            timings: Arc::default(),
        }
    }

    /// Runs one hash and one verification, so that [`Hasher::sample_duration`]
    /// knows this machine from the start.
    pub async fn calibrate(&self) -> Result<(), HashError> {
        let secret = ClientSecret::from_presented(crate::domain::ids::random_base62(47));
        let hash = self.hash(secret.clone()).await?;
        self.verify(hash, secret).await?;
        Ok(())
    }

    /// How long one of the recent runs took, picked at random: what a
    /// refusal that needs no hash waits, to take as long as one that did.
    pub fn sample_duration(&self) -> Duration {
        self.timings.sample()
    }

    /// Hashes and verifications computed so far.
    pub fn runs(&self) -> u64 {
        self.timings.runs.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, secret: ClientSecret) -> Result<SecretHash, HashError> {
        let (pool, admitted, max) = (self.memory.clone(), self.admitted.clone(), self.concurrency);
        self.run(move || {
            let mut memory = pool.take();
            let hash = hash_in(&secret, &mut memory);
            pool.give_back(memory, admitted.load(Ordering::Acquire) > 1, max);
            hash
        })
        .await
    }

    pub async fn verify(
        &self,
        hash: SecretHash,
        presented: ClientSecret,
    ) -> Result<bool, HashError> {
        let (pool, admitted, max) = (self.memory.clone(), self.admitted.clone(), self.concurrency);
        self.run(move || {
            let mut memory = pool.take();
            let ok = verify_in(&hash, &presented, &mut memory);
            pool.give_back(memory, admitted.load(Ordering::Acquire) > 1, max);
            ok
        })
        .await
    }

    /// Calls running or waiting for a slot.
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let span = tracing::info_span!("argon2", queue_wait_ms = tracing::field::Empty);
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel) + 1;
        let _admission = Admission(&self.admitted, &self.memory);
        if admitted > self.max_admitted {
            return Err(HashError::Busy);
        }
        let metrics = crate::telemetry::metrics::get();
        let waiting = Instant::now();
        let permit = tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Failed)?;
        let waited = waiting.elapsed();
        metrics.argon2_wait.record(waited.as_secs_f64(), &[]);
        span.record("queue_wait_ms", waited.as_secs_f64() * 1000.0);
        let timings = self.timings.clone();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let started = Instant::now();
            let out = work();
            let took = started.elapsed();
            metrics.argon2_duration.record(took.as_secs_f64(), &[]);
            timings.record(took);
            drop(permit);
            out
        })
        .await
        .map_err(|_| HashError::Failed)
    }
}

struct Admission<'a>(&'a AtomicUsize, &'a MemoryPool);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        // The last call out turns off the lights: hashes that finished
        // together may each have kept their memory for the other.
        if self.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.1.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    #[test]
    fn our_format_is_the_librarys_both_ways() {
        let mut memory = Vec::new();
        for _ in 0..3 {
            let s = ClientSecret::from_presented(crate::domain::ids::random_base62(47));
            let ours = hash_in(&s, &mut memory);
            assert!(ours.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
            assert!(!ours.as_phc().contains(s.expose()));
            // The library verifies ours, and we verify the library's.
            let parsed = PasswordHash::new(ours.as_phc()).unwrap();
            assert!(
                Argon2::default()
                    .verify_password(s.expose().as_bytes(), &parsed)
                    .is_ok()
            );
            let theirs = Argon2::default()
                .hash_password(s.expose().as_bytes())
                .unwrap();
            let theirs = SecretHash::from_stored(theirs.to_string());
            assert!(verify_in(&theirs, &s, &mut memory));
            assert!(verify_in(&ours, &s, &mut memory));
            assert!(!verify_in(
                &theirs,
                &ClientSecret::from_presented(crate::domain::ids::random_base62(47)),
                &mut memory
            ));
            assert!(!verify_in(
                &ours,
                &ClientSecret::from_presented(crate::domain::ids::random_base62(47)),
                &mut memory
            ));
        }
        for garbage in ["garbage", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"] {
            let stored = SecretHash::from_stored(garbage.into());
            assert!(!verify_in(
                &stored,
                &ClientSecret::from_presented(crate::domain::ids::random_base62(47)),
                &mut memory
            ));
        }
    }

    #[test]
    fn a_stored_hash_asking_for_absurd_costs_is_refused_not_attempted() {
        let mut memory = Vec::new();
        let salt = B64.encode([7u8; 16]);
        let out = B64.encode([9u8; 32]);
        for params in [
            "m=4294967295,t=1,p=1",
            "m=19456,t=4294967295,p=1",
            "m=19456,t=2,p=64",
        ] {
            let stored = SecretHash::from_stored(format!("$argon2id$v=19${params}${salt}${out}"));
            assert!(!verify_in(
                &stored,
                &ClientSecret::from_presented(crate::domain::ids::random_base62(47)),
                &mut memory
            ));
        }
        assert!(
            memory.len() <= Params::default().block_count(),
            "nothing huge was allocated"
        );
    }

    #[tokio::test]
    async fn hashes_and_verifies() {
        let h = Hasher::new(2, 4, Duration::from_secs(5));
        let s = ClientSecret::from_presented(crate::domain::ids::random_base62(47));
        let hash = h.hash(s.clone()).await.unwrap();
        assert!(h.verify(hash.clone(), s).await.unwrap());
        assert!(
            !h.verify(
                hash,
                ClientSecret::from_presented(crate::domain::ids::random_base62(47))
            )
            .await
            .unwrap()
        );
    }

    #[tokio::test]
    async fn refuses_when_saturated() {
        let h = Hasher::new(1, 0, Duration::from_secs(5));
        let busy = h.clone();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let running = tokio::spawn(async move {
            busy.run(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
            .await
        });
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        assert!(matches!(
            h.hash(ClientSecret::from_presented(
                crate::domain::ids::random_base62(47)
            ))
            .await,
            Err(HashError::Busy)
        ));
        release_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert!(
            h.hash(ClientSecret::from_presented(
                crate::domain::ids::random_base62(47)
            ))
            .await
            .is_ok()
        );
    }
}
