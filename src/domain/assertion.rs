//! `private_key_jwt` client assertions (RFC 7523 section 3, OpenID Connect
//! Core 9), checked against the client's registered keys. Pure: the caller
//! finds the application, and spends the accepted `jti` in the database so
//! that no assertion is accepted twice.
//!
//! Each check closes a known hole: `none` and HS* (including HS256 "signed"
//! with the public key, the algorithm-confusion trick) are never accepted;
//! `aud` must be this authorization server's issuer identifier as one
//! string, never an array, even one holding it (the 2025 audience-injection
//! finding behind draft-ietf-oauth-rfc7523bis); `exp` bounds how long a
//! stolen assertion is worth anything; and a missing `jti` is refused, since
//! without one a replay cannot be told from the first use (Hydra
//! GHSA-3p3g-vpw6-4w66).

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value};

use super::jwk::{self, CLIENT_KEYS, KeySet};

/// The only `client_assertion_type` of RFC 7523.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const SKEW_SECS: i64 = 30;
/// Longest `jti` kept.
pub const MAX_JTI_BYTES: usize = 256;
/// Longest assertion looked at.
pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// What the operator configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionPolicy {
    /// The authorization server's issuer identifier: the one `aud` accepted.
    pub audience: String,
    /// How far ahead `exp` may be.
    pub max_lifetime: Duration,
}

/// Why an assertion is not valid. The caller answers `valid = false` for
/// every one of them; the reason goes to the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssertionRefusal {
    #[error("not a compact JWS")]
    Malformed,
    #[error("algorithm not accepted (RS256, PS256, ES256, EdDSA only)")]
    Algorithm,
    #[error("typ is neither JWT nor client-authentication+jwt")]
    Type,
    #[error("names critical header extensions")]
    Critical,
    #[error("iss and sub are not both the client_id")]
    IssuerSubject,
    #[error("the request's client_id is not the assertion's sub")]
    ClientIdMismatch,
    #[error("the client is unknown, inactive, deleted or not a private_key_jwt client")]
    NoSuchClient,
    #[error("no registered key fits the header's kid and alg")]
    NoKey,
    #[error("the signature does not check with the registered keys")]
    Signature,
    #[error("aud is not the issuer identifier")]
    Audience,
    #[error("aud is an array; it must be the issuer identifier as one string")]
    AudienceArray,
    #[error("exp is missing")]
    NoExpiry,
    #[error("exp has passed")]
    Expired,
    #[error("exp is further ahead than the longest lifetime accepted")]
    TooLong,
    #[error("nbf is in the future")]
    NotYetValid,
    #[error("iat is in the future")]
    IssuedInFuture,
    #[error("jti is missing or not a short string without control characters")]
    NoJti,
    #[error("jti was accepted before")]
    Replayed,
}

/// An assertion that passed every check but the `jti`'s single use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub jti: String,
    /// Until when the assertion could be accepted (`exp` and the skew), in
    /// seconds since the epoch: its `jti` must be kept that long.
    pub valid_until: i64,
}

/// Part `i` (0: header, 1: claims) of a compact JWS, read without
/// verifying anything yet. A member written twice makes it malformed:
/// JSON parsers disagree on which one wins (RFC 7515 section 5.2 and RFC
/// 7519 section 4 say to refuse), so a second `jti`, `aud` or `alg` could
/// mean one thing here and another to whoever logged the assertion.
fn raw_part(assertion: &str, i: usize) -> Option<Map<String, Value>> {
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    let bytes = B64.decode(parts[i]).ok()?;
    serde_json::from_slice::<UniqueMembers>(&bytes)
        .ok()
        .map(|m| m.0)
}

/// A JSON object whose members each appear once.
struct UniqueMembers(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object without duplicate members")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueMembers, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom("duplicate member"));
                    }
                }
                Ok(UniqueMembers(map))
            }
        }
        d.deserialize_map(Visitor)
    }
}

fn raw_claims(assertion: &str) -> Option<Map<String, Value>> {
    raw_part(assertion, 1)
}

/// The client an assertion claims to be: its `sub`, when `iss` is the same.
pub fn claimed_client(assertion: &str) -> Result<String, AssertionRefusal> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(AssertionRefusal::Malformed);
    }
    let claims = raw_claims(assertion).ok_or(AssertionRefusal::Malformed)?;
    match (claims.get("iss"), claims.get("sub")) {
        (Some(Value::String(iss)), Some(Value::String(sub))) if iss == sub && !sub.is_empty() => {
            Ok(sub.clone())
        }
        _ => Err(AssertionRefusal::IssuerSubject),
    }
}

/// Checks `assertion` for `client_id`, whose registered keys are `keys`, at
/// `now` (seconds since the epoch).
pub fn check(
    assertion: &str,
    client_id: &str,
    keys: &KeySet,
    policy: &AssertionPolicy,
    now: i64,
) -> Result<Accepted, AssertionRefusal> {
    use AssertionRefusal as R;
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(R::Malformed);
    }
    let header = check_header(assertion)?;
    let claims = raw_claims(assertion).ok_or(R::Malformed)?;
    let is_client = |c: &str| matches!(claims.get(c), Some(Value::String(v)) if v == client_id);
    if !is_client("iss") || !is_client("sub") {
        return Err(R::IssuerSubject);
    }
    check_signature(assertion, &header, keys)?;
    check_claims(&claims, policy, now)
}

/// The header: an accepted algorithm, a JWT type, nothing critical.
fn check_header(assertion: &str) -> Result<Header, AssertionRefusal> {
    use AssertionRefusal as R;
    let accepted = |alg: &Algorithm| CLIENT_KEYS.algorithms.contains(alg);
    // The algorithm first, as the header writes it: `none` and HS* never
    // get further.
    let raw_header = raw_part(assertion, 0).ok_or(R::Malformed)?;
    match raw_header.get("alg").and_then(Value::as_str) {
        Some(alg) if alg.parse::<Algorithm>().is_ok_and(|a| accepted(&a)) => {}
        Some(_) => return Err(R::Algorithm),
        None => return Err(R::Malformed),
    }
    // A `typ` that is present must be one of the two, as written in the
    // header: `""` and `null` are not "absent".
    let typ_ok = match raw_header.get("typ") {
        None => true,
        Some(Value::String(t)) => {
            t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("client-authentication+jwt")
        }
        Some(_) => false,
    };
    if !typ_ok {
        return Err(R::Type);
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| R::Malformed)?;
    if !accepted(&header.alg) {
        return Err(R::Algorithm);
    }
    if header.crit.is_some() {
        return Err(R::Critical);
    }
    Ok(header)
}

/// The signature, with the key the header names, or any that fits.
fn check_signature(
    assertion: &str,
    header: &Header,
    keys: &KeySet,
) -> Result<(), AssertionRefusal> {
    let mut candidates = jwk::candidates(keys.keys(), header.alg, header.kid.as_deref()).peekable();
    if candidates.peek().is_none() {
        return Err(AssertionRefusal::NoKey);
    }
    let mut signature_only = Validation::new(header.alg);
    signature_only.validate_exp = false;
    signature_only.validate_nbf = false;
    signature_only.validate_aud = false;
    signature_only.required_spec_claims.clear();
    let signed = candidates.any(|key| {
        jsonwebtoken::decode::<Value>(assertion, key.decoding_key(), &signature_only).is_ok()
    });
    if signed {
        Ok(())
    } else {
        Err(AssertionRefusal::Signature)
    }
}

/// The claims of a signed assertion: `aud`, the times, and a `jti`.
fn check_claims(
    claims: &Map<String, Value>,
    policy: &AssertionPolicy,
    now: i64,
) -> Result<Accepted, AssertionRefusal> {
    use AssertionRefusal as R;
    match claims.get("aud") {
        Some(Value::String(aud)) if *aud == policy.audience => {}
        Some(Value::Array(_)) => return Err(R::AudienceArray),
        _ => return Err(R::Audience),
    }
    let time = |c: &str| {
        claims
            .get(c)
            .and_then(Value::as_f64)
            .map(|t| t.floor() as i64)
    };
    let exp = time("exp").ok_or(R::NoExpiry)?;
    if exp + SKEW_SECS < now {
        return Err(R::Expired);
    }
    let max = i64::try_from(policy.max_lifetime.as_secs()).unwrap_or(i64::MAX);
    if exp > now.saturating_add(max).saturating_add(SKEW_SECS) {
        return Err(R::TooLong);
    }
    if claims.contains_key("nbf") && time("nbf").is_none_or(|nbf| nbf > now + SKEW_SECS) {
        return Err(R::NotYetValid);
    }
    if claims.contains_key("iat") && time("iat").is_none_or(|iat| iat > now + SKEW_SECS) {
        return Err(R::IssuedInFuture);
    }
    let jti = match claims.get("jti") {
        // Control characters (a NUL above all, which PostgreSQL text
        // cannot hold) are invalid input, not a failure of the store.
        Some(Value::String(j))
            if !j.is_empty() && j.len() <= MAX_JTI_BYTES && !j.chars().any(char::is_control) =>
        {
            j.clone()
        }
        _ => return Err(R::NoJti),
    };
    Ok(Accepted {
        jti,
        valid_until: exp + SKEW_SECS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};

    const CLIENT: &str = "client-1";
    const AUD: &str = "https://as.example";
    const RSA_PEM: &str = include_str!("../../tests/fixtures/jwks/rsa.pem");
    const EC_PEM: &str = include_str!("../../tests/fixtures/jwks/ec.pem");
    const ED_PEM: &str = include_str!("../../tests/fixtures/jwks/ed25519.pem");
    const RSA_JWK: &str = include_str!("../../tests/fixtures/jwks/rsa.jwk.json");
    const EC_JWK: &str = include_str!("../../tests/fixtures/jwks/ec.jwk.json");
    const ED_JWK: &str = include_str!("../../tests/fixtures/jwks/ed25519.jwk.json");

    fn jwks(keys: &[&str]) -> KeySet {
        let keys: Vec<Value> = keys
            .iter()
            .map(|k| serde_json::from_str(k).unwrap())
            .collect();
        KeySet::registered(Some(&serde_json::json!({ "keys": keys }).to_string()))
    }

    fn policy() -> AssertionPolicy {
        AssertionPolicy {
            audience: AUD.into(),
            max_lifetime: Duration::from_secs(300),
        }
    }

    fn now() -> i64 {
        1_800_000_000
    }

    fn claims() -> Value {
        serde_json::json!({"iss": CLIENT, "sub": CLIENT, "aud": AUD, "exp": now() + 60,
            "iat": now(), "jti": "j-1"})
    }

    fn kid_of(jwk: &str) -> String {
        serde_json::from_str::<Value>(jwk).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn sign(alg: Algorithm, pem: &str, kid: Option<String>, claims: &Value) -> String {
        let key = match alg {
            Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => unreachable!(),
        }
        .unwrap();
        let mut h = Header::new(alg);
        h.kid = kid;
        encode(&h, claims, &key).unwrap()
    }

    fn forge(header: &Value, claims: &Value, sig: &str) -> String {
        format!(
            "{}.{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string()),
            sig
        )
    }

    /// Signs header and claims exactly as written (RS256, the fixture's key).
    fn sign_raw(header: &str, claims: &str) -> String {
        let key = EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap();
        let signing_input = format!("{}.{}", B64.encode(header), B64.encode(claims));
        let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::RS256);
        format!("{signing_input}.{}", sig.unwrap())
    }

    #[test]
    fn what_is_present_must_be_well_formed() {
        use AssertionRefusal as R;
        let rsa_only = jwks(&[RSA_JWK]);
        let c = claims().to_string();
        let check = |a: &str| check(a, CLIENT, &rsa_only, &policy(), now());
        assert!(check(&sign_raw(r#"{"alg":"RS256","typ":"JWT"}"#, &c)).is_ok());
        for (what, header, want) in [
            ("typ empty", r#"{"alg":"RS256","typ":""}"#, R::Type),
            ("typ null", r#"{"alg":"RS256","typ":null}"#, R::Type),
            ("typ number", r#"{"alg":"RS256","typ":1}"#, R::Type),
            (
                "alg twice",
                r#"{"alg":"RS256","alg":"RS256"}"#,
                R::Malformed,
            ),
        ] {
            assert_eq!(check(&sign_raw(header, &c)), Err(want), "{what}");
        }
        let header = r#"{"alg":"RS256"}"#;
        let twice = c.replacen('{', r#"{"jti":"other","#, 1);
        assert_eq!(check(&sign_raw(header, &twice)), Err(R::Malformed));
        assert_eq!(claimed_client(&sign_raw(header, &twice)), Err(R::Malformed));
        for jti in [r"a\u0000b", r"\u0000", r"a\nb", r"a\u007fb", r"a\u0085b"] {
            let claims = c.replace(r#""jti":"j-1""#, &format!(r#""jti":"{jti}""#));
            assert_ne!(claims, c);
            assert_eq!(check(&sign_raw(header, &claims)), Err(R::NoJti), "{jti}");
        }
    }

    #[test]
    fn every_accepted_algorithm_verifies() {
        // The fixture's RSA key names RS256: a key for PS256 names none.
        let mut rsa_any: Value = serde_json::from_str(RSA_JWK).unwrap();
        rsa_any.as_object_mut().unwrap().remove("alg");
        rsa_any["kid"] = "rsa-any".into();
        let rsa_any = rsa_any.to_string();
        let keys = jwks(&[RSA_JWK, &rsa_any, EC_JWK, ED_JWK]);
        for (alg, pem, jwk) in [
            (Algorithm::RS256, RSA_PEM, RSA_JWK),
            (Algorithm::PS256, RSA_PEM, rsa_any.as_str()),
            (Algorithm::ES256, EC_PEM, EC_JWK),
            (Algorithm::EdDSA, ED_PEM, ED_JWK),
        ] {
            let a = sign(alg, pem, Some(kid_of(jwk)), &claims());
            let got = check(&a, CLIENT, &keys, &policy(), now());
            assert_eq!(
                got,
                Ok(Accepted {
                    jti: "j-1".into(),
                    valid_until: now() + 60 + SKEW_SECS
                }),
                "{alg:?}"
            );
            // Without a kid, any key that fits will do.
            let a = sign(alg, pem, None, &claims());
            assert!(
                check(&a, CLIENT, &keys, &policy(), now()).is_ok(),
                "{alg:?}"
            );
        }
        assert_eq!(
            claimed_client(&sign(Algorithm::ES256, EC_PEM, None, &claims())),
            Ok(CLIENT.into())
        );
    }

    #[test]
    fn one_refusal_per_check() {
        use AssertionRefusal as R;
        let rsa_kid = Some(kid_of(RSA_JWK));
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            sign(Algorithm::RS256, RSA_PEM, rsa_kid.clone(), &c)
        };
        // HS256 "signed" with the public key: the algorithm-confusion trick.
        let rsa_public: Value = serde_json::from_str(RSA_JWK).unwrap();
        let hs256_with_public_key = encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(rsa_public.to_string().as_bytes()),
        )
        .unwrap();
        let cases: Vec<(&str, String, R)> = vec![
            ("garbage", "not.a.jwt".into(), R::Malformed),
            (
                "PS256 with a key for RS256 only",
                sign(Algorithm::PS256, RSA_PEM, rsa_kid.clone(), &claims()),
                R::NoKey,
            ),
            ("two parts", "e30.e30".into(), R::Malformed),
            (
                "alg none",
                forge(&serde_json::json!({"alg": "none"}), &claims(), ""),
                R::Algorithm,
            ),
            (
                "HS256 with the public key",
                hs256_with_public_key,
                R::Algorithm,
            ),
            (
                "RS384",
                encode(
                    &Header::new(Algorithm::RS384),
                    &claims(),
                    &EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap(),
                )
                .unwrap(),
                R::Algorithm,
            ),
            (
                "typ",
                {
                    let mut h = Header::new(Algorithm::RS256);
                    h.typ = Some("at+jwt".into());
                    encode(
                        &h,
                        &claims(),
                        &EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap(),
                    )
                    .unwrap()
                },
                R::Type,
            ),
            (
                "crit",
                {
                    let mut h = Header::new(Algorithm::RS256);
                    h.crit = Some(vec!["x".into()]);
                    encode(
                        &h,
                        &claims(),
                        &EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap(),
                    )
                    .unwrap()
                },
                R::Critical,
            ),
            (
                "iss other",
                with(&|c| c["iss"] = "other".into()),
                R::IssuerSubject,
            ),
            (
                "sub other",
                with(&|c| c["sub"] = "other".into()),
                R::IssuerSubject,
            ),
            (
                "no iss",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
                R::IssuerSubject,
            ),
            (
                "unknown kid",
                sign(Algorithm::RS256, RSA_PEM, Some("nope".into()), &claims()),
                R::NoKey,
            ),
            (
                "kid of a key of another type",
                sign(Algorithm::RS256, RSA_PEM, Some(kid_of(EC_JWK)), &claims()),
                R::NoKey,
            ),
            (
                "signed by a key not registered",
                sign(Algorithm::ES256, EC_PEM, None, &claims()),
                R::NoKey, // only the RSA key is registered below
            ),
            (
                "aud other",
                with(&|c| c["aud"] = "https://evil.example".into()),
                R::Audience,
            ),
            (
                "aud array holding it",
                with(&|c| c["aud"] = serde_json::json!([AUD])),
                R::AudienceArray,
            ),
            (
                "no aud",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
                R::Audience,
            ),
            (
                "no exp",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
                R::NoExpiry,
            ),
            (
                "expired",
                with(&|c| c["exp"] = (now() - 31).into()),
                R::Expired,
            ),
            (
                "lives too long",
                with(&|c| c["exp"] = (now() + 300 + 31).into()),
                R::TooLong,
            ),
            (
                "nbf ahead",
                with(&|c| c["nbf"] = (now() + 31).into()),
                R::NotYetValid,
            ),
            (
                "iat ahead",
                with(&|c| c["iat"] = (now() + 31).into()),
                R::IssuedInFuture,
            ),
            (
                "no jti",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
                R::NoJti,
            ),
            ("empty jti", with(&|c| c["jti"] = "".into()), R::NoJti),
            ("numeric jti", with(&|c| c["jti"] = 7.into()), R::NoJti),
        ];
        let rsa_only = jwks(&[RSA_JWK]);
        for (what, assertion, want) in cases {
            assert_eq!(
                check(&assertion, CLIENT, &rsa_only, &policy(), now()),
                Err(want),
                "{what}"
            );
        }
        // A tampered payload fails the signature.
        let good = with(&|_| {});
        let mut parts: Vec<&str> = good.split('.').collect();
        let mut evil = claims();
        evil["jti"] = "j-2".into();
        let evil = B64.encode(evil.to_string());
        parts[1] = &evil;
        assert_eq!(
            check(&parts.join("."), CLIENT, &rsa_only, &policy(), now()),
            Err(R::Signature)
        );
        // Within the skew is fine.
        let skewed = with(&|c| {
            c["exp"] = (now() - 29).into();
            c["nbf"] = (now() + 29).into();
        });
        assert!(check(&skewed, CLIENT, &rsa_only, &policy(), now()).is_ok());
    }
}
