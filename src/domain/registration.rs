//! Registration tokens (RFC 7591 initial access tokens) and registration
//! access tokens (RFC 7592): bearer secrets of 256 random bits.
//!
//! Only a keyed hash (HMAC-SHA-256, with a key every replica shares through
//! the database) of either is stored. For a secret of 256 random bits a fast
//! keyed hash is as strong as a slow one: there is nothing to guess, and a
//! stolen table without the key tells nothing. So a registration spends no
//! argon2 time on its token. Comparisons happen in the database on the hash
//! (an index lookup), or in constant time here.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use secrecy::{ExposeSecret as _, SecretSlice, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use super::{
    ids::random_base62,
    privilege::Classified,
    refusal::{FieldViolation, Refusal},
};

/// Base62 characters of a token: 43 × 5.95 ≈ 256 bits.
const TOKEN_CHARS: usize = 43;
/// Base62 characters of a registration token's id (≈ 131 bits).
const TOKEN_ID_CHARS: usize = 22;

pub const DEFAULT_LIFETIME: Duration = Duration::hours(24);
pub const MAX_LIFETIME: Duration = Duration::days(30);
pub const MAX_REGISTRATIONS: i32 = 1000;
const MAX_DESCRIPTION_CHARS: usize = 500;

/// The key of both kinds of token's hashes. `Debug` does not print it.
#[derive(Clone)]
pub struct TokenKey(SecretSlice<u8>);

impl TokenKey {
    pub fn new(key: Vec<u8>) -> Self {
        Self(key.into())
    }

    pub fn hash(&self, token: &BearerToken) -> TokenHash {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes keys of any length");
        mac.update(token.0.expose_secret().as_bytes());
        TokenHash(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// Which kind of bearer secret: the prefix tells a person (and a secret
/// scanner) what they hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An initial access token, for `POST /oauth2/register`.
    Registration,
    /// A client's RFC 7592 registration access token.
    RegistrationAccess,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Registration => "oarg_",
            Self::RegistrationAccess => "oarat_",
        }
    }
}

/// A registration or registration access token in plain text: generated for
/// the one response that shows it, or presented by a caller.
#[derive(Clone)]
pub struct BearerToken(SecretString);

impl BearerToken {
    pub fn generate(kind: TokenKind) -> Self {
        Self(format!("{}{}", kind.prefix(), random_base62(TOKEN_CHARS)).into())
    }

    pub fn from_presented(s: String) -> Self {
        Self(s.into())
    }

    /// The plaintext, for the one response that shows it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// A token's keyed hash. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A stored hash; `None` for one of the wrong length.
    pub fn from_stored(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Whether `self` equals `stored`, in time independent of where they
    /// differ.
    pub fn matches(&self, stored: &TokenHash) -> bool {
        self.0.ct_eq(&stored.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// A registration token's id: `rgt_` and 22 base62 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenId(String);

impl TokenId {
    pub const PREFIX: &'static str = "rgt_";

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, random_base62(TOKEN_ID_CHARS)))
    }

    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(Self::PREFIX)?;
        (rest.len() == TOKEN_ID_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registration token, as listed (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationToken {
    pub id: String,
    pub organization_id: String,
    pub description: String,
    pub created_by: String,
    pub create_time: DateTime<Utc>,
    pub expire_time: DateTime<Utc>,
    pub max_registrations: i32,
    pub registrations_used: i32,
    pub revoke_time: Option<DateTime<Utc>>,
}

/// CreateRegistrationToken's request, as the API received it.
#[derive(Clone, Debug, Default)]
pub struct TokenInput {
    pub description: String,
    /// `None`: [`DEFAULT_LIFETIME`] from now.
    pub expire_time: Option<DateTime<Utc>>,
    /// 0: one.
    pub max_registrations: i32,
}

/// A new registration token, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    pub description: String,
    pub expire_time: DateTime<Utc>,
    pub max_registrations: i32,
}

/// Checks a new token's fields (every violation at once) at time `now`. Any
/// OWNER or ADMIN may make one: registrations it lets in are never
/// privileged.
pub fn check_new_token(
    input: TokenInput,
    now: DateTime<Utc>,
) -> Result<Classified<NewToken>, Refusal> {
    check_token_fields(input, now).map(|t| Classified::new(t, None))
}

/// Revoking a token needs any OWNER or ADMIN.
pub fn revocation(id: TokenId) -> Classified<TokenId> {
    Classified::new(id, None)
}

fn check_token_fields(input: TokenInput, now: DateTime<Utc>) -> Result<NewToken, Refusal> {
    let mut violations = Vec::new();
    let description = input.description.trim().to_owned();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        violations.push(FieldViolation::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if description.chars().any(char::is_control) {
        violations.push(FieldViolation::new(
            "description",
            "must not contain control characters",
        ));
    }
    let expire_time = input.expire_time.unwrap_or(now + DEFAULT_LIFETIME);
    if expire_time <= now {
        violations.push(FieldViolation::new("expire_time", "must be in the future"));
    } else if expire_time > now + MAX_LIFETIME {
        violations.push(FieldViolation::new(
            "expire_time",
            "must be at most 30 days ahead",
        ));
    }
    let max_registrations = match input.max_registrations {
        0 => 1,
        n if (1..=MAX_REGISTRATIONS).contains(&n) => n,
        _ => {
            violations.push(FieldViolation::new(
                "max_registrations",
                format!("must be between 1 and {MAX_REGISTRATIONS} (0 means 1)"),
            ));
            1
        }
    };
    if !violations.is_empty() {
        return Err(Refusal::Invalid(violations));
    }
    Ok(NewToken {
        description,
        expire_time,
        max_registrations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = BearerToken::generate(TokenKind::Registration);
        let b = BearerToken::generate(TokenKind::Registration);
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("oarg_"));
        assert_eq!(a.expose().len(), 5 + TOKEN_CHARS);
        let access = BearerToken::generate(TokenKind::RegistrationAccess);
        assert!(access.expose().starts_with("oarat_"));
        assert_eq!(format!("{a:?}"), "BearerToken(<redacted>)");
    }

    #[test]
    fn hashes_depend_on_the_key_and_match_only_themselves() {
        let token = BearerToken::generate(TokenKind::Registration);
        let key = TokenKey::new(vec![1; 32]);
        let hash = key.hash(&token);
        assert!(hash.matches(&key.hash(&token.clone())));
        assert!(!hash.matches(&TokenKey::new(vec![2; 32]).hash(&token)));
        let other = BearerToken::generate(TokenKind::Registration);
        assert!(!hash.matches(&key.hash(&other)));
        assert_eq!(TokenHash::from_stored(hash.as_bytes()), Some(hash.clone()));
        assert_eq!(TokenHash::from_stored(&[0; 31]), None);
        assert!(!format!("{hash:?}{key:?}").contains(|c: char| c.is_ascii_digit()));
    }

    #[test]
    fn ids_parse_only_in_shape() {
        let id = TokenId::generate();
        assert_eq!(TokenId::parse(id.as_str()), Some(id));
        for bad in [
            "",
            "rgt_",
            "app_0123456789012345678901",
            "rgt_012345678901234567890!",
        ] {
            assert_eq!(TokenId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn new_tokens_get_defaults_and_bounds() {
        let now = Utc::now();
        let ok = check_token_fields(TokenInput::default(), now).unwrap();
        assert_eq!(ok.expire_time, now + DEFAULT_LIFETIME);
        assert_eq!(ok.max_registrations, 1);
        let fields = |input| match check_token_fields(input, now) {
            Err(Refusal::Invalid(v)) => v.into_iter().map(|v| v.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let bad = TokenInput {
            description: "x".repeat(501),
            expire_time: Some(now + Duration::days(31)),
            max_registrations: 1001,
        };
        assert_eq!(
            fields(bad),
            ["description", "expire_time", "max_registrations"]
        );
        let past = TokenInput {
            expire_time: Some(now),
            max_registrations: -1,
            ..TokenInput::default()
        };
        assert_eq!(fields(past), ["expire_time", "max_registrations"]);
        let max = TokenInput {
            expire_time: Some(now + MAX_LIFETIME),
            max_registrations: MAX_REGISTRATIONS,
            ..TokenInput::default()
        };
        assert_eq!(
            check_token_fields(max, now).unwrap().max_registrations,
            1000
        );
    }
}
