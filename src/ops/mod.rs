//! The operations: one async function per RPC, in terms of the domain.
//!
//! Each reads what it needs through the store, applies the domain's rules,
//! hashes off the runtime when it must, and writes its change and the audit
//! event in one transaction. Nothing here knows about gRPC: the API layer
//! converts requests into these inputs and these outputs into responses.

mod applications;
mod clients;
mod lifecycle;

use std::sync::Arc;

pub use applications::{Created, Page};
pub use lifecycle::Rotated;

use crate::{
    credentials::{Hasher, Limiter, VerifiedCache},
    domain::{ScopeCatalog, SecretHash, page_token::PageTokenKey},
    store::Db,
};

/// What the operations share. Built once at start-up (`server::AppState`).
#[derive(Clone, Debug)]
pub struct Ops {
    pub db: Db,
    pub scopes: Arc<ScopeCatalog>,
    pub hasher: Hasher,
    pub page_tokens: PageTokenKey,
    /// Hash of a random secret nobody knows: unknown clients are checked
    /// against it, so they cost the same time as known ones.
    pub dummy_hash: SecretHash,
    pub verified: Arc<VerifiedCache>,
    pub failed_verifications: Limiter,
}
