//! Client secrets and their argon2id hashes, as types that cannot leak.
//!
//! Policy: a secret is generated here, shown once in the response that created
//! it and then dropped (its memory zeroed); only its argon2id PHC string is
//! stored. Neither type prints its content through `Debug`, and neither
//! compares with `==`, so neither can leak through logs, traces, error
//! messages or timing by accident. Hashing and verification themselves live in
//! `credentials::hashing`, off the async runtime.
//!
//! A secret is `oas_`, 43 random base62 characters (256 bits), and a 6-character
//! checksum: an HMAC of the random part under the service's
//! [`ChecksumKey`]. The checksum proves nothing about which application a
//! secret belongs to; it tells, without argon2, that a presented string was
//! never minted here, so a guess costs no hash and cannot spend the budget
//! that protects the right secret.

use std::fmt;

use hmac::{Hmac, KeyInit as _, Mac as _};
use secrecy::{ExposeSecret as _, SecretSlice, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use chrono::{DateTime, Utc};

use super::{
    application::Application,
    ids::{BASE62, random_base62},
    jwk::KeySet,
};

/// Prefix that lets secret scanners recognise a leaked secret.
pub const SECRET_PREFIX: &str = "oas_";
/// 43 base62 characters carry 43 × log2(62) ≈ 256.03 random bits.
pub const SECRET_CHARS: usize = 43;
/// Base62 characters of the checksum: about 35.7 bits, so a guess passes it
/// once in some 57 billion tries.
pub const CHECKSUM_CHARS: usize = 6;

/// The key of secret checksums, shared by every replica (it lives in the
/// database). `Debug` does not print it.
#[derive(Clone)]
pub struct ChecksumKey(SecretSlice<u8>);

impl ChecksumKey {
    pub fn new(key: Vec<u8>) -> Self {
        Self(key.into())
    }

    fn checksum(&self, body: &str) -> [u8; CHECKSUM_CHARS] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        let tag = mac.finalize().into_bytes();
        std::array::from_fn(|i| BASE62[usize::from(tag[i]) % BASE62.len()])
    }
}

impl fmt::Debug for ChecksumKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChecksumKey(<redacted>)")
    }
}
/// Characters of the secret shown back as a hint.
const HINT_CHARS: usize = 4;

/// A plaintext client secret: generated for the one response that shows it,
/// or presented by a caller for verification.
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// A new secret, with its checksum under `key`.
    pub fn generate(key: &ChecksumKey) -> Self {
        let body = random_base62(SECRET_CHARS);
        let checksum = key.checksum(&body);
        let checksum = std::str::from_utf8(&checksum).expect("base62 is ASCII");
        Self(format!("{SECRET_PREFIX}{body}{checksum}").into())
    }

    /// Whether this has the shape and checksum of a secret minted under
    /// `key` (by any replica, for any application). Constant time in the
    /// checksum.
    pub fn has_checksum(&self, key: &ChecksumKey) -> bool {
        let Some(rest) = self.expose().strip_prefix(SECRET_PREFIX) else {
            return false;
        };
        if rest.len() != SECRET_CHARS + CHECKSUM_CHARS || !rest.is_ascii() {
            return false;
        }
        let (body, checksum) = rest.split_at(SECRET_CHARS);
        bool::from(key.checksum(body).ct_eq(checksum.as_bytes()))
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

/// A stored secret: the current one, or the previous one (which verifies
/// only until it expires).
#[derive(Clone, Debug)]
pub struct LiveSecret {
    pub hash: SecretHash,
    pub hint: String,
    /// Minted with a checksum (every secret since checksums exist).
    pub checksummed: bool,
    /// When a previous secret stops verifying; `None` for the current one.
    pub expires: Option<DateTime<Utc>>,
}

impl LiveSecret {
    /// Whether it verifies at `now`: expiry is checked at use, so that a
    /// copy held in a cache never outlives its grace.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

/// An application with its stored secrets, current first, and its parsed
/// keys: what verification needs, and what the replica-local cache holds.
#[derive(Clone, Debug)]
pub struct AppWithSecrets {
    pub app: Application,
    pub secrets: Vec<LiveSecret>,
    /// The app's registered public keys (`app.jwks`), parsed once per
    /// version of the app, where its row is read.
    pub client_keys: KeySet,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> ChecksumKey {
        ChecksumKey::new(vec![b; 32])
    }

    #[test]
    fn secrets_are_long_prefixed_and_distinct() {
        let s = ClientSecret::generate(&key(1));
        assert!(s.expose().starts_with("oas_"));
        assert_eq!(s.expose().len(), 4 + SECRET_CHARS + CHECKSUM_CHARS);
        assert!(s.expose()[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(s.expose(), ClientSecret::generate(&key(1)).expose());
        assert_eq!(s.hint(), s.expose()[s.expose().len() - 4..]);
    }

    #[test]
    fn only_secrets_minted_under_the_key_have_a_checksum() {
        let k = key(1);
        let s = ClientSecret::generate(&k);
        assert!(s.has_checksum(&k));
        assert!(!s.has_checksum(&key(2)), "another service's key");
        let text = s.expose();
        // Any change to the body or the checksum is caught.
        for i in 4..text.len() {
            let mut bytes = text.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let forged = ClientSecret::from_presented(String::from_utf8(bytes).unwrap());
            assert!(!forged.has_checksum(&k), "byte {i}");
        }
        for bad in [
            "",
            "oas_",
            "x",
            &format!("oas_{}", "a".repeat(60)),
            &text[..text.len() - 1],
        ] {
            assert!(
                !ClientSecret::from_presented(bad.to_owned()).has_checksum(&k),
                "{bad:?}"
            );
        }
        let unicode = format!("oas_{}é", "a".repeat(SECRET_CHARS + CHECKSUM_CHARS - 2));
        assert!(!ClientSecret::from_presented(unicode).has_checksum(&k));
    }

    #[test]
    fn debug_never_prints_the_secret_or_hash() {
        let s = ClientSecret::generate(&key(1));
        let h = SecretHash::from_stored("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into());
        let printed = format!("{s:?} {h:?}");
        assert!(!printed.contains(s.expose()));
        assert!(!printed.contains("argon2id"));
    }
}
