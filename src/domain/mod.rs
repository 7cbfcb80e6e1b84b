//! The domain: identifiers, secrets, roles and validation rules. Nothing here
//! does I/O, so every rule is unit-tested in isolation.

pub mod application;
pub mod ids;
pub mod page_token;
pub mod secret;
pub mod types;
pub mod validation;

pub use application::{Application, NewApplication};
pub use ids::{AppId, ClientId};
pub use secret::{ClientSecret, SecretHash};
pub use types::{AppType, Role};
pub use validation::{FieldViolation, ScopeCatalog};
