//! Remembers which secret verified against which stored hash, so a hot
//! client does not pay a full argon2 hash on every token request.
//!
//! Why it can never outlive a rotation, deactivation or deletion, on this
//! replica or any other: it never answers "valid" on its own. The verifier
//! consults it only for an active application and its live secrets, read
//! from the database or from the replica's application cache (which is
//! kept correct by the database's notifications: `store::app_cache`), and
//! it is keyed by the stored argon2 PHC string itself. A rotation writes a
//! new PHC string (fresh salt), an expired previous secret is no longer
//! live, and an inactive or deleted application skips it. Entries hold an
//! HMAC of the secret under a per-process random key, never the secret.

use hmac::{Hmac, KeyInit as _, Mac as _};
use quick_cache::sync::Cache;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::domain::{ClientSecret, ids::random_base62};

const DEFAULT_CAPACITY: usize = 100_000;

pub struct VerifiedCache {
    key: Vec<u8>,
    /// PHC string -> HMAC of the secret that verified against it. When
    /// full, the least useful entry goes: a miss only costs one argon2 hash.
    entries: Cache<String, [u8; 32]>,
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
            entries: Cache::new(capacity.max(1)),
        }
    }

    fn digest(&self, secret: &ClientSecret) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(secret.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// True when `secret` has verified against the hash `phc` before.
    pub fn is_verified(&self, phc: &str, secret: &ClientSecret) -> bool {
        self.entries
            .get(phc)
            .is_some_and(|known| bool::from(known.ct_eq(&self.digest(secret))))
    }

    pub fn remember(&self, phc: &str, secret: &ClientSecret) {
        self.entries.insert(phc.to_owned(), self.digest(secret));
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
        for i in 0..100 {
            cache.remember(&format!("h{i}"), &s);
        }
        assert!(cache.entries.len() <= 2, "bounded: {}", cache.entries.len());
    }
}
