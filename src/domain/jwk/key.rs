//! Reading one key of a set. What makes a key unusable is the same for
//! every reader: an RSA key under [`RSA_MIN_BITS`] or over [`RSA_MAX_BITS`]
//! or with an exponent that is even, 1 or huge; an EC key whose point is
//! not on P-256. Registration refuses besides members that point elsewhere
//! for key material ([`REFERENCE_MEMBERS`], see [`references`]), which the
//! registry never fetches or checks but a consumer of the stored set might
//! trust.

use std::collections::HashSet;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, DecodingKey, jwk::Jwk};
use serde::Deserialize as _;
use serde_json::{Map, Value};

use super::{KeyProblem, KeyRules, PRIVATE_MEMBERS, PublicKey, RSA_MAX_BITS, RSA_MIN_BITS};

/// Members that name key material elsewhere (a URL, or a certificate chain
/// the registry would have to validate): refused at registration. A
/// client registers the bare public key.
pub const REFERENCE_MEMBERS: [&str; 4] = ["x5u", "jku", "jwks_uri", "x5c"];

/// The members of `entry` (a key, or the set itself) that name key
/// material elsewhere, as a problem. Registration's rule only: a key
/// stored before it stays readable, since the registry never follows them.
pub(super) fn references(entry: &Value) -> Option<KeyProblem> {
    let members = entry.as_object()?;
    let found: Vec<&'static str> = REFERENCE_MEMBERS
        .into_iter()
        .filter(|m| members.contains_key(*m))
        .collect();
    (!found.is_empty()).then_some(KeyProblem::References(found))
}

/// Largest RSA public exponent accepted (as ring and the `rsa` crate do).
const RSA_MAX_EXPONENT: u64 = (1 << 33) - 1;

/// One key of a set, or every problem found with it. `kids` holds the kids
/// of the keys before it, for the strict rules.
pub(super) fn read_key(
    entry: &Value,
    rules: &KeyRules,
    kids: &mut HashSet<String>,
) -> Result<PublicKey, Vec<KeyProblem>> {
    let Some(members) = entry.as_object() else {
        return Err(vec![KeyProblem::NotAnObject]);
    };
    let private: Vec<&'static str> = PRIVATE_MEMBERS
        .into_iter()
        .filter(|m| members.contains_key(*m))
        .collect();
    if !private.is_empty() {
        return Err(vec![KeyProblem::PrivateMembers(private)]);
    }
    let mut problems = Vec::new();
    let kid = kid_and_use(members, rules, kids, &mut problems);
    let Some(family) = family(members, &mut problems) else {
        return Err(problems);
    };
    let algorithms = algorithms(members, family, rules, &mut problems);
    let key = Jwk::deserialize(entry)
        .ok()
        .and_then(|jwk| DecodingKey::from_jwk(&jwk).ok());
    match key {
        Some(key) if problems.is_empty() => Ok(PublicKey {
            kid,
            algorithms,
            key,
        }),
        Some(_) => Err(problems),
        None => {
            problems.push(KeyProblem::Unusable);
            Err(problems)
        }
    }
}

/// The key's `kid` when it is a string, and the problems of its `kid` and
/// `use`.
fn kid_and_use(
    members: &Map<String, Value>,
    rules: &KeyRules,
    kids: &mut HashSet<String>,
    problems: &mut Vec<KeyProblem>,
) -> Option<String> {
    let kid = match members.get("kid") {
        None => None,
        Some(Value::String(kid)) => {
            if rules.strict && !kids.insert(kid.clone()) {
                problems.push(KeyProblem::DuplicateKid);
            }
            Some(kid.clone())
        }
        Some(_) => {
            problems.push(KeyProblem::KidNotString);
            None
        }
    };
    let key_use = members.get("use").map(Value::as_str);
    let not_for_signing = match key_use {
        Some(u) if rules.strict => u != Some("sig"),
        Some(u) => u == Some("enc"),
        None => false,
    };
    if not_for_signing {
        problems.push(KeyProblem::NotForSigning);
    }
    kid
}

/// The algorithms a key's type implies; `None` for a type we never use.
fn family(
    members: &Map<String, Value>,
    problems: &mut Vec<KeyProblem>,
) -> Option<&'static [Algorithm]> {
    let text = |m: &str| members.get(m).and_then(Value::as_str);
    match (text("kty"), text("crv")) {
        (Some("RSA"), _) => {
            rsa_problems(members, problems);
            Some(&[Algorithm::RS256, Algorithm::PS256])
        }
        (Some("EC"), Some("P-256")) => {
            if !on_p256(members) {
                problems.push(KeyProblem::NotOnCurve);
            }
            Some(&[Algorithm::ES256])
        }
        (Some("OKP"), Some("Ed25519")) => Some(&[Algorithm::EdDSA]),
        (Some("EC" | "OKP"), _) => {
            problems.push(KeyProblem::Curve);
            None
        }
        _ => {
            problems.push(KeyProblem::KeyType);
            None
        }
    }
}

/// The algorithms of `family` that `rules` accept, narrowed to the one the
/// key's `alg` names: a key meant for PS256 must not check RS256.
fn algorithms(
    members: &Map<String, Value>,
    family: &[Algorithm],
    rules: &KeyRules,
    problems: &mut Vec<KeyProblem>,
) -> Vec<Algorithm> {
    let allowed: Vec<Algorithm> = family
        .iter()
        .copied()
        .filter(|a| rules.algorithms.contains(a))
        .collect();
    let Some(named) = members.get("alg") else {
        return allowed;
    };
    match named.as_str().and_then(|a| a.parse::<Algorithm>().ok()) {
        Some(alg) if allowed.contains(&alg) => vec![alg],
        _ => {
            problems.push(KeyProblem::Algorithm(allowed));
            Vec::new()
        }
    }
}

/// An RSA key's size and exponent: the same rule for every reader, so an
/// issuer's 1024-bit key is skipped as a client's is refused.
fn rsa_problems(members: &Map<String, Value>, problems: &mut Vec<KeyProblem>) {
    let decoded = |m: &str| {
        members
            .get(m)
            .and_then(Value::as_str)
            .and_then(|v| B64.decode(v).ok())
    };
    match decoded("n").map(|n| modulus_bits(&n)) {
        Some(bits) if bits < RSA_MIN_BITS => problems.push(KeyProblem::WeakRsa(bits)),
        Some(bits) if bits > RSA_MAX_BITS => problems.push(KeyProblem::LargeRsa(bits)),
        Some(_) => {}
        None => problems.push(KeyProblem::NoModulus),
    }
    let exponent = decoded("e").and_then(|e| {
        let e: Vec<u8> = e.into_iter().skip_while(|b| *b == 0).collect();
        (e.len() <= 8).then(|| e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    });
    if !exponent.is_some_and(|e| e >= 3 && e % 2 == 1 && e <= RSA_MAX_EXPONENT) {
        problems.push(KeyProblem::RsaExponent);
    }
}

/// Whether an EC key's `x` and `y` are a point of P-256. Members that are
/// not base64url are left to the key parser, which calls them unusable.
fn on_p256(members: &Map<String, Value>) -> bool {
    let decoded = |m: &str| {
        members
            .get(m)
            .and_then(Value::as_str)
            .and_then(|v| B64.decode(v).ok())
    };
    let (Some(x), Some(y)) = (decoded("x"), decoded("y")) else {
        return true;
    };
    if x.len() != 32 || y.len() != 32 {
        return false;
    }
    let point = [&[0x04u8][..], &x, &y].concat();
    p256::PublicKey::from_sec1_bytes(&point).is_ok()
}

/// Bits of a big-endian unsigned integer, leading zeros aside.
fn modulus_bits(n: &[u8]) -> usize {
    let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
    match n.first() {
        None => 0,
        Some(first) => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}
