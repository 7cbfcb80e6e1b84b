//! argon2 off the async runtime, behind a bound.
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

use argon2::Block;
use std::sync::Mutex;
use tokio::sync::Semaphore;

use crate::domain::{ClientSecret, SecretHash};

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
        let default_len = argon2::Params::default().block_count();
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

#[derive(Clone, Debug)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    memory: Arc<MemoryPool>,
    concurrency: usize,
    /// Calls admitted (running or waiting).
    admitted: Arc<AtomicUsize>,
    max_admitted: usize,
    max_wait: Duration,
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
        }
    }

    pub async fn hash(&self, secret: ClientSecret) -> Result<SecretHash, HashError> {
        let (pool, admitted, max) = (self.memory.clone(), self.admitted.clone(), self.concurrency);
        self.run(move || {
            let mut memory = pool.take();
            let hash = SecretHash::hash_in(&secret, &mut memory);
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
            let ok = hash.verify_in(&presented, &mut memory);
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
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let started = Instant::now();
            let out = work();
            metrics
                .argon2_duration
                .record(started.elapsed().as_secs_f64(), &[]);
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

    #[tokio::test]
    async fn hashes_and_verifies() {
        let h = Hasher::new(2, 4, Duration::from_secs(5));
        let s = ClientSecret::generate();
        let hash = h.hash(s.clone()).await.unwrap();
        assert!(h.verify(hash.clone(), s).await.unwrap());
        assert!(!h.verify(hash, ClientSecret::generate()).await.unwrap());
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
            h.hash(ClientSecret::generate()).await,
            Err(HashError::Busy)
        ));
        release_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert!(h.hash(ClientSecret::generate()).await.is_ok());
    }
}
