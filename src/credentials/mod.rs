//! Secrets at work: argon2id hashing off the async runtime, the verifier
//! (one [`Verdict`] for secrets and assertions), the cache that lets a hot
//! client skip the hash, and the limits that bound guessing and churn.

pub mod caller_slots;
pub mod hashing;
pub mod limits;
pub mod verifier;
pub mod verify_cache;

pub use caller_slots::CallerSlots;
pub use hashing::{HashError, Hasher};
pub use limits::Limiter;
pub use verifier::{AssertionFailure, SignatureLane, Verdict, Verifier, VerifyError};
pub use verify_cache::VerifiedCache;
