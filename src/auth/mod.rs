//! Authentication and authorization, done once at the edge by a tower layer.
//!
//! Policy: the layer fails closed. A call to the OAuthApplications service
//! reaches a handler only with a permit in its extensions: an [`OrgPermit`]
//! for org-scoped methods (caller authenticated, member of the organization
//! named by `x-organization-id`, role high enough for the method) or a
//! [`ServicePermit`] for service methods (token has the required scope). A
//! method the layer does not know is refused. Handlers that find no permit
//! answer INTERNAL, never a default.

pub mod layer;
pub mod permit;
pub mod roles;
pub mod token;

pub use layer::{AuthLayer, Authorizer, Requirement, is_mutating, requirement_of};
pub use permit::{OrgPermit, ServicePermit};
pub use token::{Caller, TokenError, TokenIssuer, TokenVerifier};

/// Scope a token needs to call VerifyClientCredentials and LookupClient.
pub const VERIFY_SCOPE: &str = "oauthapps:verify";
/// Metadata key naming the organization of an org-scoped call.
pub const ORG_HEADER: &str = "x-organization-id";
