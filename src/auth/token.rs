//! Bearer JWT verification and (for development) minting.
//!
//! Only the configured algorithm is accepted, so `alg: none` and algorithm
//! confusion are refused by construction. Signature, `exp` and `nbf` are
//! always checked, `iss` and `aud` when configured. Errors never echo the
//! token or the key.

use std::{fmt, path::PathBuf, sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use super::jwks::{self, FileJwks, KeySet, RemoteJwks, RemoteJwksSettings};

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
    #[error("the token's subject is not a usable user id (1 to 256 bytes, no control characters)")]
    BadSubject,
    #[error("the token names critical header extensions this service does not support")]
    CriticalExtension,
    #[error("the token lives longer than this service accepts")]
    LivesTooLong,
    #[error("the token is malformed")]
    Malformed,
}

/// Whether `sub` is a subject the service accepts: the verifier's rule, which
/// `oauth-apps token` applies before it mints.
pub fn check_subject(sub: &str) -> Result<(), TokenError> {
    if sub.trim().is_empty() {
        return Err(TokenError::NoSubject);
    }
    if sub.len() > MAX_SUBJECT_BYTES || sub.chars().any(char::is_control) {
        return Err(TokenError::BadSubject);
    }
    Ok(())
}

/// Longest `sub` accepted: the longest user id a membership may have.
pub const MAX_SUBJECT_BYTES: usize = 256;

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
    /// Checked by the decoder; read again here for the lifetime bound.
    exp: f64,
    #[serde(default)]
    iat: Option<f64>,
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

/// Checks bearer tokens: HS256 with the shared secret, and RS256, ES256 or
/// EdDSA with the public keys of a JWKS file and/or a JWKS URL, picked by the
/// token's `kid`.
///
/// Keys rotate without a restart: a JWKS file is re-read when it changes
/// (checked every [`JWKS_RECHECK`](super::jwks::JWKS_RECHECK) by a background task), a JWKS URL is
/// fetched again periodically and when a token names an unknown `kid` (see
/// [`jwks`](super::jwks) for the guarantees). A call whose key is known never
/// waits on a disk or the network.
#[derive(Clone)]
pub struct TokenVerifier {
    hs256: Option<DecodingKey>,
    file: Option<Arc<FileJwks>>,
    remote: Option<Arc<RemoteJwks>>,
    issuer: Option<String>,
    audience: Option<String>,
    validations: Vec<(Algorithm, Validation)>,
    /// Longest a token may live (from `iat`, and from now); `None`: no bound.
    max_lifetime: Option<Duration>,
}

/// Where asymmetric keys come from; either, both or neither.
#[derive(Clone, Debug, Default)]
pub struct KeySources {
    /// A JWKS file, re-read when it changes.
    pub file: Option<PathBuf>,
    /// A JWKS at an HTTPS URL, cached and refreshed.
    pub url: Option<RemoteJwksSettings>,
}

const ACCEPTED: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

fn validations(issuer: Option<&str>, audience: Option<&str>) -> Vec<(Algorithm, Validation)> {
    ACCEPTED
        .iter()
        .map(|alg| (*alg, build_validation(*alg, issuer, audience)))
        .collect()
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("hs256", &self.hs256.is_some())
            .field(
                "jwks_file",
                &self.file.as_ref().map(|j| j.path().display().to_string()),
            )
            .field("jwks_url", &self.remote.as_ref().map(|r| r.url()))
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn hs256(secret: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Self {
        Self {
            hs256: Some(DecodingKey::from_secret(secret)),
            file: None,
            remote: None,
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
            validations: validations(issuer, audience),
            max_lifetime: None,
        }
    }

    /// Refuses tokens that live longer than `max` (none: no bound).
    pub fn with_max_lifetime(mut self, max: Option<Duration>) -> Self {
        self.max_lifetime = max;
        self
    }

    /// Builds a verifier from an optional HS256 secret and optional key
    /// sources; at least one is required. A JWKS URL is fetched before this
    /// returns (see [`RemoteJwksSettings::startup_window`]). Needs a Tokio
    /// runtime: the sources are kept fresh by background tasks, which end
    /// when the last clone of the verifier is dropped.
    pub async fn new(
        secret: Option<&[u8]>,
        keys: &KeySources,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.is_some() || keys.file.is_some() || keys.url.is_some(),
            "set OAUTH_APPS_JWT_SECRET (HS256), OAUTH_APPS_JWKS_FILE or OAUTH_APPS_JWKS_URL (RS256, ES256, EdDSA) to check bearer tokens"
        );
        let file = keys
            .file
            .as_deref()
            .map(FileJwks::open)
            .transpose()?
            .map(Arc::new);
        let remote = match &keys.url {
            Some(settings) => Some(Arc::new(RemoteJwks::start(settings).await?)),
            None => None,
        };
        Ok(Self {
            hs256: secret.map(DecodingKey::from_secret),
            file,
            remote,
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
            validations: validations(issuer, audience),
            max_lifetime: None,
        })
    }

    /// How many times a changed JWKS file was read (usable or not).
    pub fn jwks_reloads(&self) -> u64 {
        self.file.as_ref().map_or(0, |f| f.reloads())
    }

    /// Fetches of the JWKS URL finished since start-up (after the first),
    /// successful or not.
    pub fn jwks_fetches(&self) -> u64 {
        self.remote.as_ref().map_or(0, |r| r.fetches())
    }

    /// Fetches of the JWKS URL since start-up that failed (the previous keys
    /// were kept).
    pub fn jwks_failed_fetches(&self) -> u64 {
        self.remote.as_ref().map_or(0, |r| r.failed_fetches())
    }

    fn validation(&self, alg: Algorithm) -> std::borrow::Cow<'_, Validation> {
        // Built once per accepted algorithm (they allocate), not per call.
        match self.validations.iter().find(|(a, _)| *a == alg) {
            Some((_, v)) => std::borrow::Cow::Borrowed(v),
            None => std::borrow::Cow::Owned(build_validation(
                alg,
                self.issuer.as_deref(),
                self.audience.as_deref(),
            )),
        }
    }
}

fn build_validation(alg: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(alg);
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
    validation
}

impl TokenVerifier {
    /// The current key sets of the asymmetric sources: pointer copies.
    fn key_sets(&self) -> [Option<Arc<KeySet>>; 2] {
        [
            self.file.as_ref().map(|f| f.keys()),
            self.remote.as_ref().map(|r| r.keys()),
        ]
    }

    pub async fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        use jsonwebtoken::errors::ErrorKind as K;
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            K::InvalidAlgorithmName | K::InvalidAlgorithm => TokenError::BadSignature,
            _ => TokenError::Malformed,
        })?;
        // RFC 7515 section 4.1.11: extensions marked critical must be
        // understood, and we understand none.
        if header.crit.is_some() {
            return Err(TokenError::CriticalExtension);
        }
        let kid = header.kid.as_deref();
        match header.alg {
            Algorithm::HS256 => {
                let key = self.hs256.as_ref().ok_or(TokenError::BadSignature)?;
                self.check(token, key, header.alg)
            }
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA => {
                let sets = self.key_sets();
                if let Some(key) = jwks::find(sets.iter().flatten().map(|s| &**s), header.alg, kid)
                {
                    return self.check(token, key, header.alg);
                }
                // A `kid` no source has: the issuer may have rotated. Only
                // the URL source can learn keys on demand (a file is
                // re-read when it changes anyway).
                let (Some(kid), Some(remote)) = (kid, &self.remote) else {
                    return Err(TokenError::BadSignature);
                };
                if jwks::knows_kid(sets.iter().flatten().map(|s| &**s), kid)
                    || !remote.refresh_for_unknown_kid().await
                {
                    return Err(TokenError::BadSignature);
                }
                let sets = self.key_sets();
                let key = jwks::find(sets.iter().flatten().map(|s| &**s), header.alg, Some(kid))
                    .ok_or(TokenError::BadSignature)?;
                self.check(token, key, header.alg)
            }
            // Every other algorithm, `none` included, is refused.
            _ => Err(TokenError::BadSignature),
        }
    }

    /// Signature and claims, with the key the token's header chose.
    fn check(&self, token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Caller, TokenError> {
        use jsonwebtoken::errors::ErrorKind as K;
        let data =
            decode::<Claims>(token, key, &self.validation(alg)).map_err(|e| match e.kind() {
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
        check_subject(&claims.sub)?;
        if let Some(max) = self.max_lifetime {
            let max = max.as_secs_f64();
            let now = jsonwebtoken::get_current_timestamp() as f64;
            let issued = claims.iat.unwrap_or(now).min(now);
            if claims.exp - issued > max + LEEWAY_SECS as f64 {
                return Err(TokenError::LivesTooLong);
            }
        }
        let scopes = match claims.scope {
            None | Some(serde_json::Value::Null) => Vec::new(),
            // RFC 6749 section 3.3: scopes are separated by spaces (0x20),
            // and nothing else: no other whitespace splits a scope in two.
            Some(serde_json::Value::String(s)) => s
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
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

    #[tokio::test]
    async fn accepts_a_fresh_token_and_reads_scopes() {
        let t = TokenIssuer::hs256(SECRET, None, None).mint(
            "alice",
            Some("oauthapps:verify other"),
            Duration::from_secs(60),
        );
        let c = verifier().verify(&t).await.unwrap();
        assert_eq!(c.subject, "alice");
        assert!(c.has_scope("oauthapps:verify"));
        assert!(!c.has_scope("oauthapps"));
    }

    #[tokio::test]
    async fn refuses_bad_tokens() {
        let now = jsonwebtoken::get_current_timestamp();
        let other = TokenIssuer::hs256(b"another-secret-of-at-least-32-bytes", None, None).mint(
            "alice",
            None,
            Duration::from_secs(60),
        );
        assert_eq!(
            verifier().verify(&other).await,
            Err(TokenError::BadSignature)
        );

        let expired = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "alice", "exp": now - 3600}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(verifier().verify(&expired).await, Err(TokenError::Expired));

        let future = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "alice", "nbf": now + 3600, "exp": now + 7200}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            verifier().verify(&future).await,
            Err(TokenError::NotYetValid)
        );

        let no_sub = encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"exp": now + 60}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(verifier().verify(&no_sub).await.is_err());

        let none = forge(
            r#"{"alg":"none","typ":"JWT"}"#,
            &serde_json::json!({"sub": "alice", "exp": now + 60}),
            "",
        );
        assert!(verifier().verify(&none).await.is_err());

        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &serde_json::json!({"sub": "alice", "exp": now + 60}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            verifier().verify(&hs512).await,
            Err(TokenError::BadSignature)
        );

        assert_eq!(
            verifier().verify("not-a-jwt").await,
            Err(TokenError::Malformed)
        );
    }

    #[tokio::test]
    async fn scopes_split_on_spaces_only() {
        let now = jsonwebtoken::get_current_timestamp();
        let with_scope = |scope: &str| {
            encode(
                &Header::new(Algorithm::HS256),
                &serde_json::json!({"sub": "svc", "exp": now + 60, "scope": scope}),
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap()
        };
        for sneaky in [
            "x\u{00a0}oauthapps:verify",
            "x\toauthapps:verify",
            "x\noauthapps:verify",
            "x\u{2003}oauthapps:verify",
        ] {
            let c = verifier().verify(&with_scope(sneaky)).await.unwrap();
            assert!(!c.has_scope("oauthapps:verify"), "{sneaky:?}");
        }
        let c = verifier()
            .verify(&with_scope("a  oauthapps:verify"))
            .await
            .unwrap();
        assert!(c.has_scope("oauthapps:verify"));
        assert_eq!(c.scopes, ["a", "oauthapps:verify"]);
    }

    #[tokio::test]
    async fn critical_extensions_bad_subjects_and_long_lives_are_refused() {
        let now = jsonwebtoken::get_current_timestamp();
        let sign = |header: Header, claims: serde_json::Value| {
            encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap()
        };
        let mut crit = Header::new(Algorithm::HS256);
        crit.crit = Some(vec!["exp".into()]);
        assert_eq!(
            verifier()
                .verify(&sign(
                    crit,
                    serde_json::json!({"sub": "a", "exp": now + 60})
                ))
                .await,
            Err(TokenError::CriticalExtension)
        );
        for sub in ["nul\u{0}byte", "line\nbreak", &"x".repeat(257)] {
            let t = sign(
                Header::new(Algorithm::HS256),
                serde_json::json!({"sub": sub, "exp": now + 60}),
            );
            assert_eq!(
                verifier().verify(&t).await,
                Err(TokenError::BadSubject),
                "{sub:?}"
            );
        }
        let day = Duration::from_secs(24 * 3600);
        let bounded = verifier().with_max_lifetime(Some(day));
        let forever = sign(
            Header::new(Algorithm::HS256),
            serde_json::json!({"sub": "a", "exp": now + 100 * 365 * 24 * 3600}),
        );
        assert_eq!(
            bounded.verify(&forever).await,
            Err(TokenError::LivesTooLong)
        );
        assert!(
            verifier().verify(&forever).await.is_ok(),
            "no bound configured"
        );
        let long_ago = sign(
            Header::new(Algorithm::HS256),
            serde_json::json!({"sub": "a", "iat": now - 3 * 24 * 3600, "exp": now + 60}),
        );
        assert_eq!(
            bounded.verify(&long_ago).await,
            Err(TokenError::LivesTooLong)
        );
        let hour =
            TokenIssuer::hs256(SECRET, None, None).mint("a", None, Duration::from_secs(3600));
        assert!(bounded.verify(&hour).await.is_ok());
    }

    #[tokio::test]
    async fn checks_issuer_and_audience_when_configured() {
        let v = TokenVerifier::hs256(SECRET, Some("https://issuer"), Some("oauth-apps"));
        let good = TokenIssuer::hs256(SECRET, Some("https://issuer"), Some("oauth-apps")).mint(
            "a",
            None,
            Duration::from_secs(60),
        );
        assert!(v.verify(&good).await.is_ok());
        let wrong = TokenIssuer::hs256(SECRET, Some("https://other"), Some("oauth-apps")).mint(
            "a",
            None,
            Duration::from_secs(60),
        );
        assert_eq!(
            v.verify(&wrong).await,
            Err(TokenError::WrongIssuerOrAudience)
        );
        let missing =
            TokenIssuer::hs256(SECRET, None, None).mint("a", None, Duration::from_secs(60));
        assert!(v.verify(&missing).await.is_err());
    }
}
