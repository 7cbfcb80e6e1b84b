//! Client secrets and their argon2id hashes.
//!
//! Policy: a secret is generated here, shown once in the response that created
//! it and then dropped; only its argon2id PHC string is stored. Neither type
//! prints its content through `Debug`, so neither can leak through logs,
//! traces or error messages by accident.

use std::fmt;

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};
use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD as B64};
use rand::Rng as _;
use subtle::ConstantTimeEq as _;

use super::ids::random_base62;

/// Prefix that lets secret scanners recognise a leaked secret.
const SECRET_PREFIX: &str = "oas_";
/// 43 base62 characters carry 43 × log2(62) ≈ 256.03 random bits.
const SECRET_CHARS: usize = 43;
/// Largest argon2 costs accepted from a stored hash (64 MiB, 10 passes, 4 lanes).
const MAX_M_COST: u32 = 64 * 1024;
const MAX_T_COST: u32 = 10;
const MAX_P_COST: u32 = 1 << 2;
/// Characters of the secret shown back as a hint.
const HINT_CHARS: usize = 4;

/// A plaintext client secret. Shown to the caller exactly once.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn generate() -> Self {
        Self(format!("{SECRET_PREFIX}{}", random_base62(SECRET_CHARS)))
    }

    /// Wraps a secret presented by a caller (for verification).
    pub fn from_presented(s: String) -> Self {
        Self(s)
    }

    /// The plaintext, for the one response that shows it and for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_exposed(self) -> String {
        self.0
    }

    /// The last characters, which the API shows to help people tell secrets apart.
    pub fn hint(&self) -> String {
        let n = self.0.chars().count();
        self.0.chars().skip(n.saturating_sub(HINT_CHARS)).collect()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// An argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    /// Hashes with argon2id and OWASP's parameters (m=19 MiB, t=2, p=1) and a
    /// fresh random salt. CPU-heavy (tens of milliseconds): call it off the
    /// async runtime.
    pub fn hash(secret: &ClientSecret) -> Self {
        let hash = Argon2::default()
            .hash_password(secret.expose().as_bytes())
            .expect("argon2 with default parameters and a random salt cannot fail");
        Self(hash.to_string())
    }

    /// [`SecretHash::hash`], computed in caller-provided argon2 memory (reused
    /// across hashes; see `hashing`). Produces the same PHC string format.
    pub fn hash_in(secret: &ClientSecret, memory: &mut Vec<Block>) -> Self {
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
        Self(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
            B64.encode(salt),
            B64.encode(out)
        ))
    }

    /// [`SecretHash::verify`], computed in caller-provided argon2 memory,
    /// with the parameters the stored hash names.
    pub fn verify_in(&self, presented: &ClientSecret, memory: &mut Vec<Block>) -> bool {
        let Ok(parsed) = PasswordHash::new(&self.0) else {
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
        if params.m_cost() > MAX_M_COST
            || params.t_cost() > MAX_T_COST
            || params.p_cost() > MAX_P_COST
        {
            return false;
        }
        let version = match parsed.version {
            Some(v) => match Version::try_from(v) {
                Ok(v) => v,
                Err(_) => return false,
            },
            None => Version::V0x13,
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

    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// Constant-time check of a presented secret. A malformed stored hash
    /// verifies nothing.
    pub fn verify(&self, presented: &ClientSecret) -> bool {
        let Ok(parsed) = PasswordHash::new(&self.0) else {
            return false;
        };
        Argon2::default()
            .verify_password(presented.expose().as_bytes(), &parsed)
            .is_ok()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_prefixed_and_distinct() {
        let s = ClientSecret::generate();
        assert!(s.expose().starts_with("oas_"));
        assert_eq!(s.expose().len(), 4 + SECRET_CHARS);
        assert_ne!(s, ClientSecret::generate());
        assert_eq!(s.hint(), s.expose()[s.expose().len() - 4..]);
    }

    #[test]
    fn hash_verifies_only_the_same_secret() {
        let s = ClientSecret::generate();
        let h = SecretHash::hash(&s);
        assert!(h.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!h.as_phc().contains(s.expose()));
        assert!(h.verify(&s));
        assert!(!h.verify(&ClientSecret::generate()));
        assert!(!SecretHash::from_stored("garbage".into()).verify(&s));
    }

    #[test]
    fn hashing_in_reused_memory_matches_the_library_format_both_ways() {
        let mut memory = Vec::new();
        for _ in 0..3 {
            let s = ClientSecret::generate();
            let ours = SecretHash::hash_in(&s, &mut memory);
            assert!(ours.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
            // The library verifies ours, and we verify the library's.
            assert!(ours.verify(&s));
            assert!(!ours.verify(&ClientSecret::generate()));
            let theirs = SecretHash::hash(&s);
            assert!(theirs.verify_in(&s, &mut memory));
            assert!(ours.verify_in(&s, &mut memory));
            assert!(!theirs.verify_in(&ClientSecret::generate(), &mut memory));
        }
        assert!(
            !SecretHash::from_stored("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into())
                .verify_in(&ClientSecret::generate(), &mut memory)
        );
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
            let stored = format!("$argon2id$v=19${params}${salt}${out}");
            assert!(
                !SecretHash::from_stored(stored).verify_in(&ClientSecret::generate(), &mut memory)
            );
        }
        assert!(
            memory.len() <= Params::default().block_count(),
            "nothing huge was allocated"
        );
    }

    #[test]
    fn debug_never_prints_the_secret_or_hash() {
        let s = ClientSecret::generate();
        let h = SecretHash::hash(&s);
        let printed = format!("{s:?} {h:?}");
        assert!(!printed.contains(s.expose()));
        assert!(!printed.contains(h.as_phc()));
    }
}
