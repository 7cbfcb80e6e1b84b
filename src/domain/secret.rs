//! Client secrets and their argon2id hashes.
//!
//! Policy: a secret is generated here, shown once in the response that created
//! it and then dropped; only its argon2id PHC string is stored. Neither type
//! prints its content through `Debug`, so neither can leak through logs,
//! traces or error messages by accident.

use std::fmt;

use argon2::{
    Argon2,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};

use super::ids::random_base62;

/// Prefix that lets secret scanners recognise a leaked secret.
const SECRET_PREFIX: &str = "oas_";
/// 43 base62 characters carry 43 × log2(62) ≈ 256.03 random bits.
const SECRET_CHARS: usize = 43;
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
    fn debug_never_prints_the_secret_or_hash() {
        let s = ClientSecret::generate();
        let h = SecretHash::hash(&s);
        let printed = format!("{s:?} {h:?}");
        assert!(!printed.contains(s.expose()));
        assert!(!printed.contains(h.as_phc()));
    }
}
