//! ListApplications' paging: the page size, and opaque, tamper-proof page
//! tokens for keyset pagination.
//!
//! A token is `base64url(json).base64url(hmac)`: the position after which the
//! next page starts, bound to the organization and the query it belongs to,
//! with its issue time. The HMAC key is shared by every replica (it lives in
//! the database), so any replica accepts any replica's token. A token that was
//! altered, belongs to another organization or query, or is older than
//! [`PAGE_TOKEN_TTL_SECS`] is refused.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::refusal::Refusal;

pub const PAGE_TOKEN_TTL_SECS: i64 = 24 * 3600;

/// Key that signs page tokens. `Debug` does not print it.
#[derive(Clone)]
pub struct PageTokenKey(Vec<u8>);

impl PageTokenKey {
    pub fn new(key: Vec<u8>) -> Self {
        Self(key)
    }

    /// A key of its own for another listing's tokens, so that one
    /// listing's token is never another's.
    pub fn derive(&self, purpose: &str) -> Self {
        Self(
            self.mac(purpose.as_bytes())
                .finalize()
                .into_bytes()
                .to_vec(),
        )
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(payload);
        mac
    }
}

impl fmt::Debug for PageTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PageTokenKey(<redacted>)")
    }
}

/// The decoded content of a page token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagePosition {
    #[serde(rename = "o")]
    pub org: String,
    #[serde(rename = "d")]
    pub show_deleted: bool,
    #[serde(rename = "t")]
    pub after_create_time_micros: i64,
    #[serde(rename = "i")]
    pub after_id: String,
    #[serde(rename = "a")]
    pub issued_at: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageTokenError {
    #[error("the page token is malformed or was altered")]
    Invalid,
    #[error("the page token belongs to another query; restart from the first page")]
    OtherQuery,
    #[error("the page token has expired; restart from the first page")]
    Expired,
}

impl PageTokenKey {
    pub fn encode(&self, position: &PagePosition) -> String {
        self.seal(position)
    }

    /// `value` as `base64url(json).base64url(hmac)`: any of this key's
    /// tokens (a key [derived](Self::derive) for each kind).
    pub fn seal<T: Serialize>(&self, value: &T) -> String {
        let payload = serde_json::to_vec(value).expect("plain struct serializes");
        let tag = self.mac(&payload).finalize().into_bytes();
        format!("{}.{}", B64.encode(&payload), B64.encode(tag))
    }

    /// What [`Self::seal`] sealed, or `None` when the token was altered or
    /// is not this key's.
    pub fn open<T: serde::de::DeserializeOwned>(&self, token: &str) -> Option<T> {
        let (payload, tag) = token.split_once('.')?;
        let payload = B64.decode(payload).ok()?;
        let tag = B64.decode(tag).ok()?;
        self.mac(&payload).verify_slice(&tag).ok()?;
        serde_json::from_slice(&payload).ok()
    }

    /// Decodes a token for a query of `org` with `show_deleted`, at time `now`.
    pub fn decode(
        &self,
        token: &str,
        org: &str,
        show_deleted: bool,
        now: DateTime<Utc>,
    ) -> Result<PagePosition, PageTokenError> {
        let position: PagePosition = self.open(token).ok_or(PageTokenError::Invalid)?;
        if position.org != org || position.show_deleted != show_deleted {
            return Err(PageTokenError::OtherQuery);
        }
        let age = now.timestamp() - position.issued_at;
        if !(-60..=PAGE_TOKEN_TTL_SECS).contains(&age) {
            return Err(PageTokenError::Expired);
        }
        Ok(position)
    }
}

/// ListApplications' request, as the API received it.
#[derive(Clone, Debug, Default)]
pub struct ListInput {
    pub page_size: i32,
    /// Empty for the first page.
    pub page_token: String,
    pub show_deleted: bool,
}

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 1000;

/// ListApplications' page size: 0 means the default, more than the most is
/// capped, negative is refused.
pub fn page_size(requested: i32) -> Result<i64, Refusal> {
    match i64::from(requested) {
        n if n < 0 => Err(Refusal::invalid("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(now: DateTime<Utc>) -> PagePosition {
        PagePosition {
            org: "org-1".into(),
            show_deleted: false,
            after_create_time_micros: 1_700_000_000_123_456,
            after_id: "app_x".into(),
            issued_at: now.timestamp(),
        }
    }

    #[test]
    fn round_trips() {
        let key = PageTokenKey::new(vec![7; 32]);
        let now = Utc::now();
        let token = key.encode(&position(now));
        assert_eq!(key.decode(&token, "org-1", false, now), Ok(position(now)));
    }

    #[test]
    fn refuses_tampering_other_queries_and_old_tokens() {
        let key = PageTokenKey::new(vec![7; 32]);
        let now = Utc::now();
        let token = key.encode(&position(now));
        let (payload, tag) = token.split_once('.').unwrap();
        let mut forged = position(now);
        forged.org = "org-2".into();
        let forged_payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        for bad in [
            "".to_string(),
            "garbage".into(),
            format!("{forged_payload}.{tag}"),
            format!("{payload}.{}", B64.encode([0u8; 32])),
            format!("{payload}x.{tag}"),
        ] {
            assert_eq!(
                key.decode(&bad, "org-1", false, now),
                Err(PageTokenError::Invalid),
                "{bad}"
            );
        }
        let other_key = PageTokenKey::new(vec![8; 32]);
        assert_eq!(
            other_key.decode(&token, "org-1", false, now),
            Err(PageTokenError::Invalid)
        );
        assert_eq!(
            key.decode(&token, "org-2", false, now),
            Err(PageTokenError::OtherQuery)
        );
        assert_eq!(
            key.decode(&token, "org-1", true, now),
            Err(PageTokenError::OtherQuery)
        );
        let later = now + chrono::Duration::seconds(PAGE_TOKEN_TTL_SECS + 1);
        assert_eq!(
            key.decode(&token, "org-1", false, later),
            Err(PageTokenError::Expired)
        );
    }

    #[test]
    fn page_sizes() {
        for (asked, want) in [
            (0, Some(50)),
            (1, Some(1)),
            (1000, Some(1000)),
            (5000, Some(1000)),
            (-1, None),
        ] {
            assert_eq!(page_size(asked).ok(), want, "{asked}");
        }
    }
}
