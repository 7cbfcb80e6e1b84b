//! Each caller's share of uncached verifications, per caller and in all.
//! (Not to be confused with a secret's slot, current or previous.)
//!
//! A verification that the cache cannot answer takes the time of an argon2
//! hash: a real one, or (for a refusal that needs none) a wait as long as
//! one. Each holds a slot for that time, so a caller's stream of refusals,
//! such as a spray of made-up client_ids that a token endpoint relays, runs
//! at most `per_caller` at a time: it cannot take more than its share of the
//! database and the CPU, while verifications the cache answers never wait
//! for a slot.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct CallerSlots {
    per_caller: usize,
    all: Arc<Semaphore>,
    callers: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Held while an uncached verification runs.
#[derive(Debug)]
pub struct Slot {
    _caller: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

impl CallerSlots {
    /// `per_caller` slots for each caller, `total` for all callers together.
    pub fn new(per_caller: usize, total: usize) -> Self {
        Self {
            per_caller: per_caller.max(1),
            all: Arc::new(Semaphore::new(total.max(1))),
            callers: Mutex::default(),
        }
    }

    /// Waits for a slot of `caller` (and one of all).
    pub async fn acquire(&self, caller: &str) -> Slot {
        let mine = {
            let mut callers = self.callers.lock().unwrap_or_else(|p| p.into_inner());
            callers
                .entry(caller.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_caller)))
                .clone()
        };
        // Neither semaphore is ever closed.
        let caller = mine.acquire_owned().await.expect("never closed");
        let all = self
            .all
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        Slot {
            _caller: caller,
            _all: all,
        }
    }

    /// Forgets callers with nothing in flight, so memory stays bounded.
    pub fn forget_idle(&self) {
        let mut callers = self.callers.lock().unwrap_or_else(|p| p.into_inner());
        callers.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < self.per_caller);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_gets_its_share_and_no_more() {
        let slots = CallerSlots::new(2, 3);
        let a1 = slots.acquire("a").await;
        let _a2 = slots.acquire("a").await;
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), slots.acquire("a"));
        assert!(third.await.is_err(), "a third slot for a");
        let _b = slots.acquire("b").await;
        drop(a1);
        let _a3 = slots.acquire("a").await;
        slots.forget_idle();
        assert_eq!(slots.callers.lock().unwrap().len(), 2, "both still busy");
    }
}
