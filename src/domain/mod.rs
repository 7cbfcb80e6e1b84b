//! The domain: identifiers, secrets, roles, validation and the business
//! rules, one file per subject. Nothing here does I/O, so every rule is
//! unit-tested in isolation.
//!
//! Arrows point one way: a module here never imports one that imports it
//! back, and none imports this one (siblings name each other's paths).

pub mod application;
pub mod assertion;
pub mod client_document;
pub mod create;
pub mod dcr;
pub mod freshness;
pub mod grants;
pub mod ids;
pub mod jwk;
pub mod kinds;
pub mod lifecycle;
pub mod metadata;
pub mod names;
pub mod page_token;
pub mod policy;
pub mod privilege;
pub mod redirect;
pub mod refusal;
pub mod registration;
pub mod scopes;
pub mod secret;
pub mod update;
pub mod update_mask;
pub mod watch;

pub use application::{AppChanges, Application, NewApplication};
pub use ids::{AppId, ClientId};
pub use kinds::{AppType, AuthMethod, GrantType, Requested, Role};
pub use policy::Policy;
pub use privilege::{Classified, OwnerOnly};
pub use refusal::{FieldViolation, Refusal};
pub use scopes::ScopeCatalog;
pub use secret::{AppWithSecrets, ChecksumKey, ClientSecret, LiveSecret, SecretHash};
