//! oauth-apps: a gRPC service through which organizations register and
//! manage their OAuth 2.0 client applications.
//!
//! [`serve`] runs the whole stack on a listener, so tests exercise exactly
//! what production runs.

pub mod api;
pub mod auth;
pub mod config;
pub mod dev;
pub mod domain;
pub mod error;
pub mod hashing;
pub mod limits;
pub mod pgcluster;
pub mod proto;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod verify_cache;

pub use config::Config;
pub use server::serve;
pub use state::AppState;
