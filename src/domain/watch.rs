//! WatchApplications' resume tokens and the reasons a stream is refused or
//! ended.
//!
//! A resume token is sealed like a page token (`page_token::PageTokenKey`,
//! a key derived for this purpose from the key every replica shares): the
//! feed position after the event that carried it, the stream it belongs to
//! (one organization, or all of them), and when it was issued. Any replica
//! accepts any replica's token; an altered one or another stream's is
//! refused, and one older than the retention is expired (the changes it
//! would need may be pruned).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::page_token::PageTokenKey;

/// Which changes a stream follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchScope {
    /// One organization's applications (a member's stream).
    Org(String),
    /// Every organization's (the watch scope).
    All,
}

impl WatchScope {
    pub fn org(&self) -> Option<&str> {
        match self {
            Self::Org(org) => Some(org),
            Self::All => None,
        }
    }

    fn label(&self) -> String {
        match self {
            Self::Org(org) => format!("o:{org}"),
            Self::All => "*".to_owned(),
        }
    }
}

/// A position in the feed (see `store::changes`): after `(xid, pos)` and
/// the transactions in `skip`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    #[serde(rename = "x")]
    pub xid: i64,
    #[serde(rename = "p")]
    pub pos: i64,
    #[serde(rename = "k", default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<i64>,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(rename = "s")]
    scope: String,
    #[serde(rename = "r")]
    point: ResumePoint,
    #[serde(rename = "a")]
    issued_at: i64,
}

/// Why a watch is refused, or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchRefusal {
    #[error("the resume token is malformed or was altered")]
    TokenInvalid,
    #[error("the resume token belongs to another stream")]
    TokenOtherStream,
    #[error("the resume token is older than the retention")]
    TokenExpired,
    #[error("initial_snapshot is only for a stream without a resume token")]
    SnapshotWithToken,
    #[error("the watcher did not keep up")]
    TooSlow,
    #[error("the caller is no longer a member of the organization")]
    NoLongerMember,
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Seals and opens resume tokens.
#[derive(Clone, Debug)]
pub struct ResumeTokens {
    key: PageTokenKey,
    retention: chrono::Duration,
}

impl ResumeTokens {
    /// Tokens under a key derived from `shared`, valid for `retention`.
    pub fn new(shared: &PageTokenKey, retention: std::time::Duration) -> Self {
        Self {
            key: shared.derive("watch resume token"),
            retention: chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX),
        }
    }

    pub fn retention(&self) -> chrono::Duration {
        self.retention
    }

    pub fn seal(&self, scope: &WatchScope, point: ResumePoint, now: DateTime<Utc>) -> String {
        self.key.seal(&Sealed {
            scope: scope.label(),
            point,
            issued_at: now.timestamp(),
        })
    }

    /// The position a token of `scope`'s stream names, at time `now`.
    pub fn open(
        &self,
        token: &str,
        scope: &WatchScope,
        now: DateTime<Utc>,
    ) -> Result<ResumePoint, WatchRefusal> {
        let sealed: Sealed = self.key.open(token).ok_or(WatchRefusal::TokenInvalid)?;
        if sealed.scope != scope.label() {
            return Err(WatchRefusal::TokenOtherStream);
        }
        let issued =
            DateTime::from_timestamp(sealed.issued_at, 0).ok_or(WatchRefusal::TokenInvalid)?;
        if now - issued > self.retention {
            return Err(WatchRefusal::TokenExpired);
        }
        Ok(sealed.point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> ResumeTokens {
        ResumeTokens::new(
            &PageTokenKey::new(vec![7; 32]),
            std::time::Duration::from_secs(3600),
        )
    }

    fn point() -> ResumePoint {
        ResumePoint {
            xid: 1234,
            pos: 56,
            skip: vec![1240],
        }
    }

    #[test]
    fn round_trips_within_the_retention() {
        let now = Utc::now();
        let org = WatchScope::Org("acme".into());
        let token = tokens().seal(&org, point(), now);
        assert_eq!(tokens().open(&token, &org, now), Ok(point()));
        let later = now + chrono::Duration::seconds(3599);
        assert_eq!(tokens().open(&token, &org, later), Ok(point()));
        let too_late = now + chrono::Duration::seconds(3601);
        assert_eq!(
            tokens().open(&token, &org, too_late),
            Err(WatchRefusal::TokenExpired)
        );
    }

    #[test]
    fn refuses_other_streams_and_forgeries() {
        let now = Utc::now();
        let acme = WatchScope::Org("acme".into());
        let token = tokens().seal(&acme, point(), now);
        for other in [WatchScope::Org("globex".into()), WatchScope::All] {
            assert_eq!(
                tokens().open(&token, &other, now),
                Err(WatchRefusal::TokenOtherStream)
            );
        }
        let page_key = PageTokenKey::new(vec![7; 32]);
        let forged = page_key.seal(&Sealed {
            scope: "o:acme".into(),
            point: point(),
            issued_at: now.timestamp(),
        });
        for bad in [forged.as_str(), "", "x.y", &token[1..]] {
            assert_eq!(
                tokens().open(bad, &acme, now),
                Err(WatchRefusal::TokenInvalid),
                "{bad}"
            );
        }
    }
}
