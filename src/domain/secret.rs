//! Client secrets and their argon2id hashes, as types that cannot leak.
//!
//! Policy: a secret is generated here, shown once in the response that created
//! it and then dropped (its memory zeroed); only its argon2id PHC string is
//! stored. Neither type prints its content through `Debug`, and neither
//! compares with `==`, so neither can leak through logs, traces, error
//! messages or timing by accident. Hashing and verification themselves live in
//! `credentials::hashing`, off the async runtime.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};

use super::ids::random_base62;

/// Prefix that lets secret scanners recognise a leaked secret.
pub const SECRET_PREFIX: &str = "oas_";
/// 43 base62 characters carry 43 × log2(62) ≈ 256.03 random bits.
pub const SECRET_CHARS: usize = 43;
/// Characters of the secret shown back as a hint.
const HINT_CHARS: usize = 4;

/// A plaintext client secret: generated for the one response that shows it,
/// or presented by a caller for verification.
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    pub fn generate() -> Self {
        Self(format!("{SECRET_PREFIX}{}", random_base62(SECRET_CHARS)).into())
    }

    /// Wraps a secret presented by a caller (for verification).
    pub fn from_presented(s: String) -> Self {
        Self(s.into())
    }

    /// The plaintext, for the one response that shows it and for hashing.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The last characters, which the API shows to help people tell secrets apart.
    pub fn hint(&self) -> String {
        let s = self.expose();
        let n = s.chars().count();
        s.chars().skip(n.saturating_sub(HINT_CHARS)).collect()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// An argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
#[derive(Clone)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_phc(&self) -> &str {
        &self.0
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
        assert_ne!(s.expose(), ClientSecret::generate().expose());
        assert_eq!(s.hint(), s.expose()[s.expose().len() - 4..]);
    }

    #[test]
    fn debug_never_prints_the_secret_or_hash() {
        let s = ClientSecret::generate();
        let h = SecretHash::from_stored("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into());
        let printed = format!("{s:?} {h:?}");
        assert!(!printed.contains(s.expose()));
        assert!(!printed.contains("argon2id"));
    }
}
