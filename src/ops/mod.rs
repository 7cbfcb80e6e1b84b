//! The operations: one async function per RPC, in terms of the domain.
//!
//! Each reads what it needs through the store, applies the domain's rules,
//! hashes off the runtime when it must, and writes its change and the audit
//! event in one transaction. Nothing here knows about gRPC: the API layer
//! converts requests into these inputs and these outputs into responses.

mod applications;
mod clients;
mod dcr;
mod lifecycle;
mod registration;
pub mod watch;

use std::sync::Arc;

pub use applications::{Created, LARGE_PAGE, ListLimits, Page};
pub use clients::RedirectMatch;
pub use dcr::{Admitted, ClientGrant, RegisterError, Registered};
pub use lifecycle::Rotated;
pub use registration::{CreatedToken, Registration};
pub use watch::{EventKind, WatchEvent, WatchStream, Watching};

use crate::{
    credentials::{Hasher, Verifier},
    domain::{ChecksumKey, Policy, assertion::AssertionPolicy, page_token::PageTokenKey},
    metadata_docs::MetadataDocuments,
    store::{AppCache, Db},
};

/// What the operations share. Built once at start-up (`server::AppState`).
#[derive(Clone, Debug)]
pub struct Ops {
    pub db: Db,
    /// The scope catalog and the redirect policy the rules apply.
    pub policy: Arc<Policy>,
    /// How client assertions are checked; `None` when no issuer identifier
    /// is configured (VerifyClientAssertion is then FAILED_PRECONDITION).
    pub assertions: Option<AssertionPolicy>,
    /// argon2 for new secrets (creates, rotations): capacity of its own, so
    /// no flood of verifications can starve it.
    pub minting: Hasher,
    pub checksum_key: ChecksumKey,
    pub page_tokens: PageTokenKey,
    /// Secrets and assertions presented by clients.
    pub verifier: Verifier,
    /// Applications and their secrets, kept per replica for the reads
    /// (never for mutations), correct by the database's notifications.
    pub apps: Arc<AppCache>,
    /// What a ListApplications response may cost.
    pub lists: ListLimits,
    /// How clients register themselves (RFC 7591/7592).
    pub registration: Arc<Registration>,
    /// Clients named by the URL of their metadata document (off unless
    /// configured).
    pub documents: MetadataDocuments,
    /// The change feed (WatchApplications).
    pub watching: Arc<Watching>,
}
