//! Token issuers' public keys: JWK Sets (RFC 7517) from a file or an HTTPS URL.
//!
//! Policy: both sources parse with [`KeySet::parse`] and are looked up with
//! [`find`], so a key is accepted or skipped by the same rules wherever it
//! comes from. Verification never waits on I/O: a call takes the current set
//! from a [`Snapshot`] (an `Arc` behind a lock held for a pointer copy), and
//! only background tasks read files or the network and swap in a new set.
//! A source that turns unusable (unreadable, unreachable, not a JWK Set)
//! keeps the last good set; a well-formed set replaces it, even one without
//! a usable key, since that is how an issuer withdraws its keys.
//! Key material is never logged: only `kid`s and counts.

mod fetch;
mod file;
mod remote;

use std::sync::{Arc, RwLock};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse},
};

pub(crate) use file::FileJwks;
pub use file::JWKS_RECHECK;
pub(crate) use remote::RemoteJwks;
pub use remote::{
    FAILURE_BACKOFF_BASE, FAILURE_BACKOFF_CAP, JWKS_STARTUP_WINDOW, MIN_REFRESH,
    RemoteJwksSettings, UNKNOWN_KID_MIN_INTERVAL, UNKNOWN_KID_WAIT,
};

/// Members that only a private (or symmetric) key has (RFC 7518 section 6).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// The usable signing keys of one JWK Set.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Why a document is not a JWK Set. It never quotes the document, which
/// could hold a key published by mistake.
#[derive(Debug, thiserror::Error)]
#[error(
    "not a JWK Set (a JSON object with a \"keys\" array): {category} at line {line}, column {column}"
)]
pub(crate) struct NotAKeySet {
    category: &'static str,
    line: usize,
    column: usize,
}

#[derive(serde::Deserialize)]
struct RawSet {
    // Each key is parsed on its own, so one malformed key cannot make the
    // whole set (and the removal of a compromised key in it) unusable.
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Every signing key of a supported type, with the algorithm its type
    /// implies (RSA: RS256, EC P-256: ES256, Ed25519: EdDSA). Skipped, with a
    /// warning naming only the `kid`: encryption keys, keys of other types
    /// or curves, keys whose `alg` names another algorithm, keys holding
    /// private members, and keys that do not parse.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, NotAKeySet> {
        let raw: RawSet = serde_json::from_slice(bytes).map_err(|e| NotAKeySet {
            category: match e.classify() {
                serde_json::error::Category::Io => "unreadable",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Eof => "truncated JSON",
                serde_json::error::Category::Data => "JSON of another shape",
            },
            line: e.line(),
            column: e.column(),
        })?;
        let keys = raw.keys.into_iter().filter_map(usable_key).collect();
        Ok(Self { keys })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the set, for logs ("-" for a key without one).
    pub(crate) fn kids(&self) -> Vec<&str> {
        self.keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect()
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn usable_key(value: serde_json::Value) -> Option<Key> {
    let kid = value
        .get("kid")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let Some(members) = value.as_object() else {
        tracing::warn!("JWKS entry that is not a JSON object skipped");
        return None;
    };
    // An issuer never needs to publish these; one that does has leaked the
    // key, and we will not verify with it.
    if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
        tracing::warn!(
            ?kid,
            "JWKS key with private members skipped: treat that key as compromised"
        );
        return None;
    }
    let jwk: Jwk = match serde_json::from_value(value) {
        Ok(jwk) => jwk,
        Err(_) => {
            tracing::warn!(?kid, "malformed JWKS key skipped");
            return None;
        }
    };
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => {
            tracing::debug!(?kid, "JWKS key of a type or curve we do not use skipped");
            return None;
        }
    };
    // A key that names its algorithm is used for that one only: an RSA key
    // meant for PS256 must not verify RS256 tokens.
    if let Some(named) = jwk.common.key_algorithm
        && named_algorithm(named) != Some(alg)
    {
        tracing::warn!(?kid, "JWKS key for an algorithm we do not accept skipped");
        return None;
    }
    match DecodingKey::from_jwk(&jwk) {
        Ok(key) => Some(Key { kid, alg, key }),
        Err(e) => {
            // The error names a kind of problem, never the key's bytes.
            tracing::warn!(?kid, error = %e, "unusable JWKS key skipped");
            None
        }
    }
}

fn named_algorithm(named: KeyAlgorithm) -> Option<Algorithm> {
    match named {
        KeyAlgorithm::RS256 => Some(Algorithm::RS256),
        KeyAlgorithm::ES256 => Some(Algorithm::ES256),
        KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
        _ => None,
    }
}

/// The key for a token's algorithm and `kid` among `sets`. Without a `kid`,
/// only an unambiguous key (the one key of that algorithm) will do.
pub(crate) fn find<'a>(
    sets: impl IntoIterator<Item = &'a KeySet>,
    alg: Algorithm,
    kid: Option<&str>,
) -> Option<&'a DecodingKey> {
    let mut candidates = sets
        .into_iter()
        .flat_map(|s| s.keys.iter())
        .filter(|k| k.alg == alg);
    let found = match kid {
        Some(kid) => candidates.find(|k| k.kid.as_deref() == Some(kid)),
        None => {
            let first = candidates.next();
            if candidates.next().is_some() {
                None
            } else {
                first
            }
        }
    };
    found.map(|k| &k.key)
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
        KeySet::parse(serde_json::json!({ "keys": keys }).to_string().as_bytes()).unwrap()
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
            let e = KeySet::parse(doc.as_bytes()).err().expect(doc).to_string();
            assert!(e.starts_with("not a JWK Set"), "{e}");
            assert!(!e.contains("secret-ish"), "{e}");
        }
        assert!(KeySet::parse(b"{\"keys\": []}").unwrap().is_empty());
    }
}
