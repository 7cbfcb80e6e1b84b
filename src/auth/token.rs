//! Bearer JWT verification and (for development) minting.
//!
//! Only the configured algorithm is accepted, so `alg: none` and algorithm
//! confusion are refused by construction. Signature, `exp` and `nbf` are
//! always checked, `iss` and `aud` when configured. Errors never echo the
//! token or the key.

use std::{fmt, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's signature or algorithm is not accepted")]
    BadSignature,
    #[error("the token's issuer or audience is not accepted")]
    WrongIssuerOrAudience,
    #[error("the token has no subject")]
    NoSubject,
    #[error("the token is malformed")]
    Malformed,
}

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub scopes: Vec<String>,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// What the service reads from a verified token. `exp`, `nbf`, `iss` and
/// `aud` are checked by the decoder on the raw claims (so an array `aud` or a
/// fractional NumericDate is fine); only the caller's identity is kept.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    /// Space-separated (RFC 8693 `scope`), or an array of scopes as some
    /// issuers write it.
    #[serde(default)]
    scope: Option<serde_json::Value>,
}

/// What `oauth-apps token` writes.
#[derive(Debug, Serialize)]
struct MintClaims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// Checks bearer tokens signed with the shared HS256 secret.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier").finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn hs256(secret: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // A configured issuer or audience must be present, not merely match when present.
        let mut required = vec!["exp", "sub"];
        required.extend(issuer.map(|_| "iss"));
        required.extend(audience.map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        match issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        use jsonwebtoken::errors::ErrorKind as K;
        let data =
            decode::<Claims>(token, &self.key, &self.validation).map_err(|e| match e.kind() {
                K::ExpiredSignature => TokenError::Expired,
                K::ImmatureSignature => TokenError::NotYetValid,
                K::InvalidSignature | K::InvalidAlgorithm | K::InvalidAlgorithmName => {
                    TokenError::BadSignature
                }
                K::InvalidIssuer | K::InvalidAudience => TokenError::WrongIssuerOrAudience,
                K::MissingRequiredClaim(c) if c == "sub" => TokenError::NoSubject,
                _ => TokenError::Malformed,
            })?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() {
            return Err(TokenError::NoSubject);
        }
        let scopes = match claims.scope {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(serde_json::Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(_) => return Err(TokenError::Malformed),
        };
        Ok(Caller {
            subject: claims.sub,
            scopes,
        })
    }
}

/// Mints HS256 tokens for `oauth-apps token`, development and tests.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer").finish_non_exhaustive()
    }
}

impl TokenIssuer {
    pub fn hs256(secret: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
        }
    }

    pub fn mint(&self, subject: &str, scope: Option<&str>, ttl: Duration) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = MintClaims {
            sub: subject,
            scope: scope.filter(|s| !s.trim().is_empty()),
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl.as_secs()),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .expect("HS256 signing of plain JSON claims cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};

    const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

    fn verifier() -> TokenVerifier {
        TokenVerifier::hs256(SECRET, None, None)
    }

    fn forge(header: &str, claims: &serde_json::Value, sig: &str) -> String {
        format!(
            "{}.{}.{}",
            B64.encode(header),
            B64.encode(claims.to_string()),
            sig
        )
    }

    #[test]
    fn accepts_a_fresh_token_and_reads_scopes() {
        let t = TokenIssuer::hs256(SECRET, None, None).mint(
            "alice",
            Some("oauthapps:verify other"),
            Duration::from_secs(60),
        );
        let c = verifier().verify(&t).unwrap();
        assert_eq!(c.subject, "alice");
        assert!(c.has_scope("oauthapps:verify"));
        assert!(!c.has_scope("oauthapps"));
    }

    #[test]
    fn refuses_bad_tokens() {
        let now = jsonwebtoken::get_current_timestamp();
        let other = TokenIssuer::hs256(b"another-secret-of-at-least-32-bytes", None, None).mint(
            "alice",
            None,
            Duration::from_secs(60),
        );
        assert_eq!(verifier().verify(&other), Err(TokenError::BadSignature));

        let expired = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "alice", "exp": now - 3600}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(verifier().verify(&expired), Err(TokenError::Expired));

        let future = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "alice", "nbf": now + 3600, "exp": now + 7200}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(verifier().verify(&future), Err(TokenError::NotYetValid));

        let no_sub = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"exp": now + 60}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(verifier().verify(&no_sub).is_err());

        let none = forge(
            r#"{"alg":"none","typ":"JWT"}"#,
            &serde_json::json!({"sub": "alice", "exp": now + 60}),
            "",
        );
        assert!(verifier().verify(&none).is_err());

        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &serde_json::json!({"sub": "alice", "exp": now + 60}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(verifier().verify(&hs512), Err(TokenError::BadSignature));

        assert_eq!(verifier().verify("not-a-jwt"), Err(TokenError::Malformed));
    }

    #[test]
    fn checks_issuer_and_audience_when_configured() {
        let v = TokenVerifier::hs256(SECRET, Some("https://issuer"), Some("oauth-apps"));
        let good = TokenIssuer::hs256(SECRET, Some("https://issuer"), Some("oauth-apps")).mint(
            "a",
            None,
            Duration::from_secs(60),
        );
        assert!(v.verify(&good).is_ok());
        let wrong = TokenIssuer::hs256(SECRET, Some("https://other"), Some("oauth-apps")).mint(
            "a",
            None,
            Duration::from_secs(60),
        );
        assert_eq!(v.verify(&wrong), Err(TokenError::WrongIssuerOrAudience));
        let missing =
            TokenIssuer::hs256(SECRET, None, None).mint("a", None, Duration::from_secs(60));
        assert!(v.verify(&missing).is_err());
    }
}
