//! Remembers which secret verified against which stored hash, so a hot
//! client does not pay a full argon2 hash on every token request.
//!
//! Why it can never outlive a rotation, deactivation or deletion, on this
//! replica or any other: the cache never answers "valid" on its own. Every
//! verification still reads the application and its live secrets from the
//! database (one query), and the cache is consulted only for an active, live
//! application, keyed by the stored argon2 PHC string itself. A rotation
//! writes a new PHC string (fresh salt), an expired previous secret is no
//! longer returned by the query, and an inactive or deleted application skips
//! the cache. Entries hold an HMAC of the secret under a per-process random
//! key, never the secret.

use std::{collections::HashMap, sync::Mutex};

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::domain::{ClientSecret, ids::random_base62};

const DEFAULT_CAPACITY: usize = 100_000;

pub struct VerifiedCache {
    key: Vec<u8>,
    entries: Mutex<HashMap<String, [u8; 32]>>,
    capacity: usize,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache").finish_non_exhaustive()
    }
}

impl Default for VerifiedCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl VerifiedCache {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            key: random_base62(43).into_bytes(),
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn digest(&self, secret: &ClientSecret) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(secret.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// True when `secret` has verified against the hash `phc` before.
    pub fn is_verified(&self, phc: &str, secret: &ClientSecret) -> bool {
        let digest = self.digest(secret);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(phc)
            .is_some_and(|known| bool::from(known.ct_eq(&digest)))
    }

    pub fn remember(&self, phc: &str, secret: &ClientSecret) {
        let digest = self.digest(secret);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(phc) {
            // Full: evict an arbitrary entry; a miss only costs one argon2 hash.
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(phc.to_owned(), digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_only_the_exact_pair() {
        let cache = VerifiedCache::with_capacity(2);
        let s = ClientSecret::from_presented(crate::domain::ids::random_base62(47));
        assert!(!cache.is_verified("h1", &s));
        cache.remember("h1", &s);
        assert!(cache.is_verified("h1", &s));
        assert!(
            !cache.is_verified("h2", &s),
            "another hash (a rotation) is a miss"
        );
        assert!(!cache.is_verified(
            "h1",
            &ClientSecret::from_presented(crate::domain::ids::random_base62(47))
        ));
        cache.remember("h2", &s);
        cache.remember("h3", &s);
        assert_eq!(cache.entries.lock().unwrap().len(), 2, "bounded");
    }
}
