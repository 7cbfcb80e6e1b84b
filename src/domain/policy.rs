//! What the operator configured that the rules of create and update
//! depend on.

use super::{redirect::RedirectPolicy, scopes::ScopeCatalog};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The scopes applications may be granted.
    pub scopes: ScopeCatalog,
    /// What redirect URIs development tools may register beyond the rules.
    pub redirects: RedirectPolicy,
    /// Metadata URLs (`client_uri`...) may name internal hosts (loopback,
    /// private, link-local): for deployments whose users are all inside.
    pub metadata_urls_allow_private: bool,
}
