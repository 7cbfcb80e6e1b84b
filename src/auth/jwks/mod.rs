//! Token issuers' public keys: JWK Sets (RFC 7517) from a file or an HTTPS URL.
//!
//! Policy: both sources parse with [`parse`] and are looked up with
//! [`find`], so a key is accepted or skipped by the same rules wherever it
//! comes from: the domain's (`domain::jwk`), which read the keys clients
//! register too. Verification never waits on I/O: a call takes the current
//! set from a [`Snapshot`] (an `Arc` behind a lock held for a pointer copy),
//! and only background tasks read files or the network and swap in a new
//! set.
//! A source that turns unusable (unreadable, unreachable, not a JWK Set)
//! keeps the last good set; a well-formed set replaces it, even one without
//! a usable key, since that is how an issuer withdraws its keys.
//! Key material is never logged: only `kid`s and counts.

mod fetch;
mod file;
mod remote;

use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey};

use crate::domain::jwk::{self, ISSUER_KEYS, KeyProblem, Skipped};
pub(crate) use crate::domain::jwk::{KeySet, NotAKeySet};
pub(crate) use file::FileJwks;
pub use file::JWKS_RECHECK;
pub(crate) use remote::RemoteJwks;
pub use remote::{
    FAILURE_BACKOFF_BASE, FAILURE_BACKOFF_CAP, JWKS_STARTUP_WINDOW, MIN_REFRESH,
    RemoteJwksSettings, UNKNOWN_KID_MIN_INTERVAL, UNKNOWN_KID_WAIT,
};

/// Every signing key of a supported type, for the algorithm its type
/// implies (RSA: RS256, EC P-256: ES256, Ed25519: EdDSA), read by the
/// domain's one JWK reader ([`ISSUER_KEYS`]). Skipped, with a warning naming
/// only the `kid`: keys of other types or curves, keys whose `alg` names
/// another algorithm, keys holding private members, and keys that do not
/// parse; encryption keys are skipped without one.
pub(crate) fn parse(bytes: &[u8]) -> Result<KeySet, NotAKeySet> {
    let (set, skipped) = KeySet::read(bytes, &ISSUER_KEYS)?;
    skipped.iter().for_each(log_skipped);
    Ok(set)
}

fn log_skipped(skipped: &Skipped) {
    let kid = &skipped.kid;
    match skipped.problems.first() {
        Some(KeyProblem::NotAnObject) => {
            tracing::warn!("JWKS entry that is not a JSON object skipped");
        }
        // An issuer never needs to publish these; one that does has leaked
        // the key, and we will not verify with it.
        Some(KeyProblem::PrivateMembers(_)) => tracing::warn!(
            ?kid,
            "JWKS key with private members skipped: treat that key as compromised"
        ),
        Some(KeyProblem::NotForSigning) => {}
        Some(KeyProblem::Curve | KeyProblem::KeyType) => {
            tracing::debug!(?kid, "JWKS key of a type or curve we do not use skipped");
        }
        Some(KeyProblem::Algorithm(_)) => {
            tracing::warn!(?kid, "JWKS key for an algorithm we do not accept skipped");
        }
        // The problem names a kind of problem, never the key's bytes.
        Some(problem) => tracing::warn!(?kid, %problem, "unusable JWKS key skipped"),
        None => {}
    }
}

/// The key for a token's algorithm and `kid` among `sets`. Without a `kid`,
/// only an unambiguous key (the one key of that algorithm) will do.
pub(crate) fn find<'a>(
    sets: impl IntoIterator<Item = &'a KeySet>,
    alg: Algorithm,
    kid: Option<&str>,
) -> Option<&'a DecodingKey> {
    let keys = sets.into_iter().flat_map(|s| s.keys());
    jwk::choose(keys, alg, kid).map(jwk::PublicKey::decoding_key)
}

/// Whether any key of `sets`, of any algorithm, has this `kid`: a token with
/// a known `kid` never makes a source fetch its keys again.
pub(crate) fn knows_kid<'a>(sets: impl IntoIterator<Item = &'a KeySet>, kid: &str) -> bool {
    sets.into_iter().any(|s| s.has_kid(kid))
}

/// The current key set of a source, shared between the calls that read it
/// and the one task that replaces it.
#[derive(Default)]
pub(crate) struct Snapshot(RwLock<Arc<KeySet>>);

impl Snapshot {
    pub(crate) fn new(set: KeySet) -> Self {
        Self(RwLock::new(Arc::new(set)))
    }

    /// The current set. The lock is held for an `Arc` clone only, so readers
    /// never wait behind a fetch or a parse.
    pub(crate) fn load(&self) -> Arc<KeySet> {
        // A panic elsewhere cannot leave a half-written `Arc`: use it.
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn store(&self, set: KeySet) {
        let set = Arc::new(set);
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = set;
    }
}

/// Aborts a background task when the source that owns it goes away, so a
/// dropped verifier (a test's, a replaced one) leaves nothing running.
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/jwks/{name}.jwk.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn set(keys: Vec<serde_json::Value>) -> KeySet {
        parse(serde_json::json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    fn with(
        mut key: serde_json::Value,
        member: &str,
        value: serde_json::Value,
    ) -> serde_json::Value {
        key[member] = value;
        key
    }

    #[test]
    fn reads_rsa_ec_and_ed25519_keys_with_the_algorithm_their_type_implies() {
        let s = set(vec![fixture("rsa"), fixture("ec"), fixture("ed25519")]);
        assert_eq!(s.kids(), ["rsa-1", "ec-1", "ed-1"]);
        assert!(find([&s], Algorithm::RS256, Some("rsa-1")).is_some());
        assert!(find([&s], Algorithm::ES256, Some("ec-1")).is_some());
        assert!(find([&s], Algorithm::EdDSA, Some("ed-1")).is_some());
        // A kid names one key of one algorithm.
        assert!(find([&s], Algorithm::RS256, Some("ec-1")).is_none());
        assert!(find([&s], Algorithm::RS256, Some("nope")).is_none());
        assert!(knows_kid([&s], "ec-1"));
        assert!(!knows_kid([&s], "nope"));
    }

    #[test]
    fn skips_keys_it_must_not_use_and_keeps_the_others() {
        let cases = [
            ("encryption key", with(fixture("rsa"), "use", "enc".into())),
            (
                "named for PS256",
                with(fixture("rsa"), "alg", "PS256".into()),
            ),
            ("unknown alg", with(fixture("rsa"), "alg", "XX999".into())),
            ("private member", with(fixture("ec"), "d", "AAAA".into())),
            (
                "symmetric",
                serde_json::json!({"kty": "oct", "kid": "o", "k": "AAAA"}),
            ),
            (
                "P-384",
                serde_json::json!({"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AAAA", "y": "AAAA"}),
            ),
            ("kid not a string", with(fixture("rsa"), "kid", 5.into())),
            ("broken modulus", with(fixture("rsa"), "n", "!!!".into())),
            ("not an object", serde_json::json!("rsa-1")),
            ("unknown kty", serde_json::json!({"kty": "XYZ", "kid": "x"})),
        ];
        for (what, bad) in cases {
            let s = set(vec![bad, fixture("ed25519")]);
            assert_eq!(s.kids(), ["ed-1"], "{what}");
        }
    }

    #[test]
    fn a_token_without_kid_needs_an_unambiguous_key() {
        let one = set(vec![fixture("rsa"), fixture("ec")]);
        assert!(find([&one], Algorithm::RS256, None).is_some());
        let mut second_rsa = fixture("rsa");
        second_rsa["kid"] = "rsa-2".into();
        let two = set(vec![second_rsa]);
        // Ambiguous across sources too.
        assert!(find([&one, &two], Algorithm::RS256, None).is_none());
        assert!(find([&one, &two], Algorithm::RS256, Some("rsa-2")).is_some());
    }

    #[test]
    fn refuses_what_is_not_a_key_set_without_quoting_it() {
        for doc in [
            "",
            "<html>secret-ish</html>",
            "{\"keys\": \"secret-ish\"}",
            "{\"keys\": [",
            "[]",
        ] {
            let e = parse(doc.as_bytes()).expect_err(doc).to_string();
            assert!(e.starts_with("not a JWK Set"), "{e}");
            assert!(!e.contains("secret-ish"), "{e}");
        }
        assert!(parse(b"{\"keys\": []}").unwrap().is_empty());
    }
}
