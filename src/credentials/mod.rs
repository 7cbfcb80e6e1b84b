//! Secrets at work: argon2id hashing off the async runtime, the cache that
//! lets a hot client skip the hash, and the rate limits that bound guessing
//! and churn.

pub mod hashing;
pub mod limits;
pub mod slots;
pub mod verify_cache;

pub use hashing::{HashError, Hasher};
pub use limits::Limiter;
pub use slots::CallerSlots;
pub use verify_cache::VerifiedCache;
