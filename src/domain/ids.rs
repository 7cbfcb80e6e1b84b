//! Random identifiers. Each is drawn from the thread-local CSPRNG as base62
//! characters, so every character carries log2(62) ≈ 5.95 bits.

use std::fmt;

use rand::{RngExt as _, distr::Alphanumeric};

/// Base62 characters needed for at least 128 random bits (22 × 5.95 ≈ 131).
const APP_ID_CHARS: usize = 22;
/// Client ids are public but unguessable: 26 × 5.95 ≈ 155 bits.
pub const CLIENT_ID_CHARS: usize = 26;
/// Longest client_id a caller may present. We issue shorter ones; the bound
/// keeps longer input out of lookups, hashes and limiter keys.
pub const MAX_CLIENT_ID_LEN: usize = 256;

/// The base62 alphabet.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn random_base62(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// An application's id: `app_` followed by 22 base62 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppId(String);

impl AppId {
    pub const PREFIX: &'static str = "app_";

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, random_base62(APP_ID_CHARS)))
    }

    /// Accepts anything shaped like an id we could have issued; whether it
    /// exists is the store's question.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(Self::PREFIX)?;
        (rest.len() == APP_ID_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public OAuth client identifier, distinct from the application id so
/// that it can be shown to end users without exposing internal ids.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn generate() -> Self {
        Self(random_base62(CLIENT_ID_CHARS))
    }

    /// A client_id as a caller presents it: one that could exist (not
    /// empty, at most [`MAX_CLIENT_ID_LEN`] bytes, no control characters),
    /// or `None` for one that cannot, which is simply not found.
    pub fn parse(s: &str) -> Option<Self> {
        let could_exist =
            !s.is_empty() && s.len() <= MAX_CLIENT_ID_LEN && !s.chars().any(char::is_control);
        could_exist.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_are_prefixed_base62_and_distinct() {
        let a = AppId::generate();
        let b = AppId::generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("app_"));
        assert_eq!(a.as_str().len(), 4 + APP_ID_CHARS);
        assert_eq!(AppId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn app_id_parse_rejects_other_shapes() {
        for bad in [
            "",
            "app_",
            "app_short",
            "xyz_aaaaaaaaaaaaaaaaaaaaaa",
            "app_aaaaaaaaaaaaaaaaaaaaa-",
            "app_aaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(AppId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn client_ids_differ_from_each_other() {
        assert!(ClientId::parse("").is_none());
        assert!(ClientId::parse(&"a".repeat(MAX_CLIENT_ID_LEN + 1)).is_none());
        assert!(ClientId::parse("a\0b").is_none(), "NUL");
        assert!(ClientId::parse(&"a".repeat(MAX_CLIENT_ID_LEN)).is_some());
        let a = ClientId::generate();
        assert_eq!(ClientId::parse(a.as_str()).as_ref(), Some(&a));
        assert_eq!(a.as_str().len(), CLIENT_ID_CHARS);
        assert_ne!(a, ClientId::generate());
    }

    #[test]
    fn presented_client_ids_are_bounded() {
        let longest = "c".repeat(MAX_CLIENT_ID_LEN);
        assert_eq!(
            ClientId::parse(&longest).map(|c| c.as_str().len()),
            Some(MAX_CLIENT_ID_LEN)
        );
        assert_eq!(ClientId::parse(&format!("{longest}c")), None);
        assert_eq!(ClientId::parse(""), None);
        let issued = ClientId::generate();
        assert_eq!(ClientId::parse(issued.as_str()), Some(issued));
    }
}
