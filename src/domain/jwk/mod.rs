//! JWK Sets (RFC 7517): the one reader of every key set the service uses,
//! the token issuers' published keys and the public keys clients register
//! for `private_key_jwt`, and the one rule for choosing the key that checks
//! a signature.
//!
//! Policy: a key is used for the algorithms its type implies (RSA: RS256
//! and PS256; EC P-256: ES256; OKP Ed25519: EdDSA), only the one its `alg`
//! names when it names one, and only those its reader accepts
//! ([`KeyRules`]). A key holding private members has leaked and is never
//! used; an encryption key never checks a signature. Each key is read on its
//! own, so one bad key leaves the others usable. Problems name a key by its
//! index or `kid`, never by what it holds.

use std::{collections::HashSet, fmt};

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::refusal::FieldViolation;

mod key;

pub use key::REFERENCE_MEMBERS;
use key::{read_key, references};

/// Largest JWK Set a client may register.
pub const JWKS_MAX_BYTES: usize = 16 * 1024;
/// Most keys a client may register.
pub const JWKS_MAX_KEYS: usize = 10;
/// Smallest RSA modulus any reader uses (NIST SP 800-131A; RFC 7518 3.3).
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus any reader uses: ring's limit, and beyond it one
/// verification costs more than a request should.
pub const RSA_MAX_BITS: usize = 8192;

/// Members that only a private (or symmetric) key has (RFC 7518 section 6).
pub const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What a reader of key sets accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRules {
    /// The algorithms a key may be used with.
    pub algorithms: &'static [Algorithm],
    /// Registration's rules besides: `use` only `sig` when given, no two
    /// keys with one `kid`. Without them, of the `use`s only `enc` keeps a
    /// key out. ([`check_client_jwks`] refuses [`REFERENCE_MEMBERS`] too.)
    pub strict: bool,
}

/// The keys a client registers, checked when it registers them and read
/// when one of its assertions is checked.
pub const CLIENT_KEYS: KeyRules = KeyRules {
    algorithms: &[
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ],
    strict: true,
};

/// The keys a token issuer publishes, read as they come: a key we cannot
/// use is skipped.
pub const ISSUER_KEYS: KeyRules = KeyRules {
    algorithms: &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
    strict: false,
};

/// How a JWS header or a JWK writes an algorithm we may name in a message.
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "an algorithm without a name here",
    }
}

/// What is wrong with one key of a set. The text never quotes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    NotAnObject,
    /// Which private members it holds (never their values).
    PrivateMembers(Vec<&'static str>),
    DuplicateKid,
    KidNotString,
    NotForSigning,
    /// An RSA key with this many bits.
    WeakRsa(usize),
    /// An RSA key with this many bits.
    LargeRsa(usize),
    RsaExponent,
    NotOnCurve,
    /// Which members naming key material elsewhere it holds.
    References(Vec<&'static str>),
    NoModulus,
    Curve,
    KeyType,
    /// Its `alg` is not one of these, the algorithms its type allows here.
    Algorithm(Vec<Algorithm>),
    Unusable,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("is not a JSON object"),
            Self::PrivateMembers(members) => write!(
                f,
                "holds private key members ({}): register the public key only, and treat this one as compromised",
                members.join(", ")
            ),
            Self::DuplicateKid => f.write_str("its kid is used by another key of the set"),
            Self::KidNotString => f.write_str("kid must be a string"),
            Self::NotForSigning => f.write_str("use must be \"sig\" (signing) when given"),
            Self::WeakRsa(bits) => write!(
                f,
                "an RSA key needs at least {RSA_MIN_BITS} bits (has {bits})"
            ),
            Self::LargeRsa(bits) => write!(
                f,
                "an RSA key may have at most {RSA_MAX_BITS} bits (has {bits})"
            ),
            Self::RsaExponent => f.write_str(
                "an RSA key's exponent e must be odd, from 3 to 2^33-1 (65537 is usual)",
            ),
            Self::NotOnCurve => f.write_str("its x and y are not a point of P-256"),
            Self::References(members) => write!(
                f,
                "must not name key material elsewhere ({}): register the bare public key",
                members.join(", ")
            ),
            Self::NoModulus => f.write_str("an RSA key needs its modulus n (base64url)"),
            Self::Curve => f.write_str("EC keys must be on P-256 and OKP keys Ed25519"),
            Self::KeyType => f.write_str("must be an RSA, EC (P-256) or OKP (Ed25519) key"),
            Self::Algorithm(allowed) => {
                let names: Vec<&str> = allowed.iter().map(|a| algorithm_name(*a)).collect();
                write!(f, "alg must be one of {} for this key", names.join(", "))
            }
            Self::Unusable => f.write_str("is not a usable public key (malformed members)"),
        }
    }
}

/// Why a document is not a JWK Set. It never quotes the document, which
/// could hold a key published by mistake.
#[derive(Debug, thiserror::Error)]
#[error("not a JWK Set (a JSON object with a \"keys\" array): {category}{}", at(*.position))]
pub struct NotAKeySet {
    category: &'static str,
    /// Line and column, when the JSON parser knows them.
    position: Option<(usize, usize)>,
}

fn at(position: Option<(usize, usize)>) -> String {
    position
        .map(|(line, column)| format!(" at line {line}, column {column}"))
        .unwrap_or_default()
}

impl NotAKeySet {
    /// JSON, but not a JWK Set's shape.
    pub fn is_json(&self) -> bool {
        self.category == SHAPE
    }
}

const SHAPE: &str = "JSON of another shape";

/// The entries of a JWK Set's `keys`, each still to be read on its own.
fn entries(bytes: &[u8]) -> Result<Vec<Value>, NotAKeySet> {
    let mut set: Map<String, Value> = serde_json::from_slice(bytes).map_err(|e| NotAKeySet {
        category: match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Eof => "truncated JSON",
            serde_json::error::Category::Data => SHAPE,
        },
        position: Some((e.line(), e.column())),
    })?;
    match set.remove("keys") {
        Some(Value::Array(keys)) => Ok(keys),
        _ => Err(NotAKeySet {
            category: SHAPE,
            position: None,
        }),
    }
}

/// A public signing key, parsed, with the algorithms it may check.
#[derive(Clone)]
pub struct PublicKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

impl PublicKey {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether it may check a signature by `alg`.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// A key of a set that is not used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub index: usize,
    pub kid: Option<String>,
    /// In the order found; never empty.
    pub problems: Vec<KeyProblem>,
}

/// The usable keys of one JWK Set, parsed once.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<PublicKey>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeySet").field(&self.kids()).finish()
    }
}

impl KeySet {
    /// Every key of the document that `rules` accept, and the others with
    /// their problems; an error when the document is no JWK Set at all.
    pub fn read(bytes: &[u8], rules: &KeyRules) -> Result<(Self, Vec<Skipped>), NotAKeySet> {
        let mut kids = HashSet::new();
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, entry) in entries(bytes)?.iter().enumerate() {
            match read_key(entry, rules, &mut kids) {
                Ok(key) => keys.push(key),
                Err(problems) => skipped.push(Skipped {
                    index,
                    kid: entry.get("kid").and_then(Value::as_str).map(str::to_owned),
                    problems,
                }),
            }
        }
        Ok((Self { keys }, skipped))
    }

    /// The keys a client registered (`jwks` as stored, checked when it was
    /// registered): none when it has none.
    pub fn registered(jwks: Option<&str>) -> Self {
        jwks.and_then(|j| Self::read(j.as_bytes(), &CLIENT_KEYS).ok())
            .map(|(set, _)| set)
            .unwrap_or_default()
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the set, for logs ("-" for a key without one).
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid().unwrap_or("-")).collect()
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }
}

/// The public keys a client registers: 1 to 10 keys, at most 16 KiB; RSA
/// of at least 2048 bits, EC P-256 or OKP Ed25519; no private members;
/// unique kids. Violations say which key and why, never what it holds.
pub fn check_client_jwks(jwks: &str, field: &str, out: &mut Vec<FieldViolation>) {
    if jwks.len() > JWKS_MAX_BYTES {
        out.push(FieldViolation::new(
            field,
            format!(
                "must be at most {JWKS_MAX_BYTES} bytes (has {})",
                jwks.len()
            ),
        ));
        return;
    }
    let keys = match entries(jwks.as_bytes()) {
        Ok(keys) => keys,
        Err(e) => {
            out.push(FieldViolation::new(
                field,
                if e.is_json() {
                    "is not a JWK Set: it needs a \"keys\" array"
                } else {
                    "is not JSON (a JWK Set: {\"keys\": [...]})"
                },
            ));
            return;
        }
    };
    if keys.is_empty() || keys.len() > JWKS_MAX_KEYS {
        out.push(FieldViolation::new(
            field,
            format!("must hold 1 to {JWKS_MAX_KEYS} keys (has {})", keys.len()),
        ));
        return;
    }
    let set: Value = serde_json::from_str(jwks).unwrap_or_default();
    if let Some(p) = references(&set) {
        out.push(FieldViolation::new(field, p.to_string()));
    }
    let mut kids = HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let mut problems = read_key(key, &CLIENT_KEYS, &mut kids)
            .err()
            .unwrap_or_default();
        problems.extend(references(key));
        out.extend(
            problems
                .iter()
                .map(|p| FieldViolation::new(field, format!("keys[{i}]: {p}"))),
        );
    }
}

/// Most keys one signature is tried with. A header without a `kid` may
/// match every key of its algorithm: trying all ten for each forged
/// assertion would make refusing one cost ten RSA verifications. A client
/// with more keys than this for one algorithm names them by `kid`.
pub const MAX_KEYS_TRIED: usize = 3;

/// The keys that may check a signature by `alg` whose header names `kid`:
/// keys for that algorithm, with that `kid` when the header names one, the
/// first [`MAX_KEYS_TRIED`] of them in the set's order.
pub fn candidates<'a>(
    keys: impl IntoIterator<Item = &'a PublicKey>,
    alg: Algorithm,
    kid: Option<&str>,
) -> impl Iterator<Item = &'a PublicKey> {
    keys.into_iter()
        .filter(move |k| k.fits(alg) && kid.is_none_or(|kid| k.kid() == Some(kid)))
        .take(MAX_KEYS_TRIED)
}

/// The one key for `alg` and `kid`: the first with that `kid`, or without
/// a `kid`, only an unambiguous key (the one key for that algorithm).
pub fn choose<'a>(
    keys: impl IntoIterator<Item = &'a PublicKey>,
    alg: Algorithm,
    kid: Option<&str>,
) -> Option<&'a PublicKey> {
    let mut found = candidates(keys, alg, kid);
    let first = found.next()?;
    (kid.is_some() || found.next().is_none()).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};

    const RSA_JWK: &str = include_str!("../../../tests/fixtures/jwks/rsa.jwk.json");

    fn rsa_key(bits_bytes: usize) -> serde_json::Value {
        let mut n = vec![0xC5u8; bits_bytes];
        n[0] = 0xC5;
        serde_json::json!({"kty": "RSA", "n": B64.encode(&n), "e": "AQAB", "kid": "r1"})
    }

    fn jwks(keys: Vec<serde_json::Value>) -> String {
        serde_json::json!({ "keys": keys }).to_string()
    }

    #[test]
    fn jwks_rules() {
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "e1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let ed = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "d1",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let check = |s: &str| {
            let mut out = vec![];
            check_client_jwks(s, "jwks", &mut out);
            out
        };
        assert_eq!(
            check(&jwks(vec![rsa_key(256), ec.clone(), ed.clone()])),
            vec![]
        );
        let mut private = ec.clone();
        private["d"] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI".into();
        let mut dup = ed.clone();
        dup["kid"] = "e1".into();
        let mut p384 = ec.clone();
        p384["crv"] = "P-384".into();
        let mut enc = ec.clone();
        enc["use"] = "enc".into();
        let mut wrong_alg = ec.clone();
        wrong_alg["alg"] = "RS256".into();
        let bad: Vec<(&str, String)> = vec![
            ("not JSON", "{".into()),
            ("no keys", "{}".into()),
            ("empty", jwks(vec![])),
            ("eleven", jwks(vec![ed.clone(); 11])),
            (
                "huge",
                format!(
                    "{{\"keys\": [], \"x\": \"{}\"}}",
                    "a".repeat(JWKS_MAX_BYTES)
                ),
            ),
            ("private", jwks(vec![private.clone()])),
            ("dup kid", jwks(vec![ec.clone(), dup])),
            ("weak RSA", jwks(vec![rsa_key(128)])),
            ("P-384", jwks(vec![p384])),
            (
                "oct",
                jwks(vec![serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})]),
            ),
            ("enc", jwks(vec![enc])),
            ("wrong alg", jwks(vec![wrong_alg])),
            (
                "garbage EC",
                jwks(vec![
                    serde_json::json!({"kty": "EC", "crv": "P-256", "x": "!!", "y": "??"}),
                ]),
            ),
        ];
        for (what, set) in bad {
            let out = check(&set);
            assert!(!out.is_empty(), "{what} accepted");
            assert!(out.iter().all(|v| v.field == "jwks"), "{what}");
        }
        // The private key's value is never echoed.
        let out = check(&jwks(vec![private]));
        assert!(!out[0].description.contains("jpsQnn"), "{:?}", out[0]);
        assert!(out[0].description.contains("private"));
    }

    fn read(keys: Vec<serde_json::Value>, rules: &KeyRules) -> (KeySet, Vec<Skipped>) {
        KeySet::read(jwks(keys).as_bytes(), rules).unwrap()
    }

    fn rsa() -> serde_json::Value {
        serde_json::from_str(RSA_JWK).unwrap()
    }

    #[test]
    fn a_key_checks_the_algorithms_its_type_implies_narrowed_by_alg_and_the_reader() {
        let mut any_rsa = rsa();
        any_rsa.as_object_mut().unwrap().remove("alg");
        let (clients, _) = read(vec![any_rsa.clone()], &CLIENT_KEYS);
        assert!(clients.keys()[0].fits(Algorithm::RS256));
        assert!(clients.keys()[0].fits(Algorithm::PS256));
        let (issuers, _) = read(vec![any_rsa.clone()], &ISSUER_KEYS);
        assert!(issuers.keys()[0].fits(Algorithm::RS256));
        assert!(!issuers.keys()[0].fits(Algorithm::PS256));
        // The fixture names RS256.
        let (named, _) = read(vec![rsa()], &CLIENT_KEYS);
        assert!(!named.keys()[0].fits(Algorithm::PS256));
        let mut ps = any_rsa;
        ps["alg"] = "PS256".into();
        let (issuers, skipped) = read(vec![ps], &ISSUER_KEYS);
        assert!(issuers.is_empty());
        assert_eq!(
            skipped[0].problems,
            [KeyProblem::Algorithm(vec![Algorithm::RS256])]
        );
    }

    #[test]
    fn every_reader_refuses_private_members_including_oth() {
        for member in PRIVATE_MEMBERS {
            let mut key = rsa();
            key[member] = "AAAA".into();
            for rules in [&CLIENT_KEYS, &ISSUER_KEYS] {
                let (set, skipped) = read(vec![key.clone()], rules);
                assert!(set.is_empty(), "{member}");
                assert_eq!(
                    skipped[0].problems,
                    [KeyProblem::PrivateMembers(vec![member])]
                );
            }
        }
    }

    #[test]
    fn only_registration_is_strict_about_use_kids_and_references() {
        let mut sign_or_so = rsa_key(256);
        sign_or_so["use"] = "signing".into();
        let mut x5c = rsa_key(256);
        x5c["x5c"] = serde_json::json!(["MIIB"]);
        let (set, skipped) = read(vec![sign_or_so, x5c], &ISSUER_KEYS);
        assert_eq!(set.kids(), ["r1", "r1"]);
        assert!(skipped.is_empty());
        let (set, skipped) = read(vec![rsa_key(128), rsa_key(256)], &CLIENT_KEYS);
        assert!(set.is_empty());
        assert_eq!(skipped[0].problems, [KeyProblem::WeakRsa(1024)]);
        assert_eq!(skipped[1].problems, [KeyProblem::DuplicateKid]);
        for member in REFERENCE_MEMBERS {
            let mut key = rsa();
            key[member] = if member == "x5c" {
                serde_json::json!(["MIIB"])
            } else {
                "https://evil.example/keys".into()
            };
            // Refused at registration, still read when stored before.
            let mut out = vec![];
            check_client_jwks(&jwks(vec![key.clone()]), "jwks", &mut out);
            assert_eq!(out.len(), 1, "{member}: {out:?}");
            assert!(out[0].description.contains(member), "{out:?}");
            let (set, _) = read(vec![key.clone()], &CLIENT_KEYS);
            assert_eq!(set.len(), 1, "{member}");
            let mut out = vec![];
            let mut set = serde_json::json!({"keys": [rsa()]});
            set[member] = "https://evil.example/keys".into();
            check_client_jwks(&set.to_string(), "jwks", &mut out);
            assert_eq!(out.len(), 1, "{member}: {out:?}");
        }
    }

    #[test]
    fn every_reader_skips_unusable_rsa_and_ec_keys() {
        let with = |member: &str, value: Vec<u8>| {
            let mut key = rsa_key(256);
            key[member] = B64.encode(value).into();
            key
        };
        let cases = [
            (rsa_key(128), KeyProblem::WeakRsa(1024)),
            (rsa_key(1025), KeyProblem::LargeRsa(8200)),
            (with("e", vec![1]), KeyProblem::RsaExponent),
            (with("e", vec![1, 0, 0]), KeyProblem::RsaExponent),
            (with("e", vec![0xff; 9]), KeyProblem::RsaExponent),
            (with("e", vec![]), KeyProblem::RsaExponent),
            (
                serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "off",
                    "x": B64.encode([1u8; 32]), "y": B64.encode([2u8; 32])}),
                KeyProblem::NotOnCurve,
            ),
            (
                serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "short",
                    "x": B64.encode([1u8; 31]), "y": B64.encode([2u8; 32])}),
                KeyProblem::NotOnCurve,
            ),
        ];
        for (key, problem) in cases {
            for rules in [&CLIENT_KEYS, &ISSUER_KEYS] {
                let (set, skipped) = read(vec![key.clone()], rules);
                assert!(set.is_empty(), "{problem:?}");
                assert_eq!(skipped[0].problems, std::slice::from_ref(&problem));
            }
        }
        let (set, _) = read(vec![with("e", vec![3])], &ISSUER_KEYS);
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn key_choice() {
        let mut second = rsa();
        second["kid"] = "rsa-2".into();
        let (set, _) = read(vec![rsa(), second], &CLIENT_KEYS);
        let kid = |k: Option<&PublicKey>| k.and_then(PublicKey::kid).map(str::to_owned);
        assert_eq!(
            kid(choose(set.keys(), Algorithm::RS256, Some("rsa-2"))),
            Some("rsa-2".into())
        );
        // Without a kid: every key that fits is a candidate, and none is the choice.
        assert_eq!(candidates(set.keys(), Algorithm::RS256, None).count(), 2);
        // But never more than a few, however many fit.
        let mut many = vec![];
        for i in 0..6 {
            let mut k = rsa();
            k["kid"] = format!("k{i}").into();
            many.push(k);
        }
        let (set6, _) = read(many, &CLIENT_KEYS);
        assert_eq!(set6.len(), 6);
        assert_eq!(
            candidates(set6.keys(), Algorithm::RS256, None).count(),
            MAX_KEYS_TRIED
        );
        assert_eq!(kid(choose(set.keys(), Algorithm::RS256, None)), None);
        assert_eq!(
            kid(choose(set.keys(), Algorithm::ES256, Some("rsa-2"))),
            None
        );
        assert_eq!(
            candidates(set.keys(), Algorithm::RS256, Some("nope")).count(),
            0
        );
    }

    #[test]
    fn stored_keys_are_read_once_and_a_missing_set_has_none() {
        assert!(KeySet::registered(None).is_empty());
        assert!(KeySet::registered(Some("{")).is_empty());
        let set = KeySet::registered(Some(&jwks(vec![rsa()])));
        assert_eq!(set.kids(), ["rsa-1"]);
        assert!(set.has_kid("rsa-1"));
        assert_eq!(format!("{set:?}"), "KeySet([\"rsa-1\"])");
    }

    #[test]
    fn not_a_key_set_never_quotes_the_document() {
        for (doc, json) in [
            ("<secret-ish>", false),
            ("{\"keys\": [", false),
            ("{\"keys\": \"secret-ish\"}", true),
            ("[\"secret-ish\"]", true),
        ] {
            let e = KeySet::read(doc.as_bytes(), &ISSUER_KEYS).unwrap_err();
            assert_eq!(e.is_json(), json, "{doc}");
            assert!(!e.to_string().contains("secret-ish"), "{e}");
        }
    }
}
