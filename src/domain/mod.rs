//! The domain: identifiers, secrets, roles, validation and the business
//! rules. Nothing here does I/O, so every rule is unit-tested in isolation.

pub mod application;
pub mod assertion;
pub mod ids;
pub mod metadata;
pub mod names;
pub mod page_token;
pub mod privilege;
pub mod redirect;
pub mod rules;
pub mod secret;
pub mod types;
pub mod validation;

pub use application::{AppChanges, Application, NewApplication};
pub use ids::{AppId, ClientId};
pub use privilege::{Classified, OwnerOnly};
pub use rules::{Policy, Refusal};
pub use secret::{ChecksumKey, ClientSecret, SecretHash};
pub use types::{AppType, AuthMethod, GrantType, Role};
pub use validation::{FieldViolation, ScopeCatalog};
