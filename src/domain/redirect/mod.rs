//! Redirect URIs: which an application may register (`register`), and
//! whether an authorization request's URI is one it registered (`matching`).

pub mod matching;
pub mod register;

pub use matching::matched;
pub use register::{RedirectPolicy, check_redirect_uri, check_redirect_uri_under};
