//! Authentication and authorization, decided once at the edge.
//!
//! Policy: fail closed. A call to the OAuthApplications service reaches a
//! handler only with a permit in its extensions, made by the [`Authorizer`]
//! after it checked the bearer token and the method's entry in the
//! [access table](methods): a [`ReadPermit`] or [`WritePermit`] for
//! org-scoped methods (caller authenticated, member of the organization named
//! by `x-organization-id`, role high enough), or a [`ServicePermit`] for
//! service methods (token has the required scope). A method the table does
//! not know is refused. Permits have private constructors, and the store's
//! functions and the application cache demand them (a write, the
//! [`Permitted`] proof a `WritePermit` gives only for what the caller's
//! role allows), so a store call or cached read without its check does not
//! compile. Handlers that find no permit answer INTERNAL, never a default.

pub mod authorizer;
pub mod jwks;
pub mod methods;
pub mod permit;
pub mod roles;
pub mod token;

pub use authorizer::{AuthError, Authorizer, Permit, RoleSource};
pub use methods::{Access, SERVICE_PATH_PREFIX, access_of};
pub use permit::{OwnerRequired, Permitted, ReadPermit, ServicePermit, WatchPermit, WritePermit};
pub use roles::RoleCache;
pub use token::{Caller, KeySources, TokenError, TokenIssuer, TokenVerifier};

/// Scope a token needs to call VerifyClientCredentials and LookupClient.
pub const VERIFY_SCOPE: &str = "oauthapps:verify";
/// Scope a token needs to follow every organization's changes
/// (WatchApplications without `x-organization-id`).
pub const WATCH_SCOPE: &str = "oauthapps:watch";
/// Metadata key naming the organization of an org-scoped call.
pub const ORG_HEADER: &str = "x-organization-id";
