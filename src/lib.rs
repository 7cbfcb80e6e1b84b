//! oauth-apps: a gRPC service through which organizations register and
//! manage their OAuth 2.0 client applications.
//!
//! A call flows down, never up: `server` (the tower stack: telemetry,
//! deadline, auth layer) → `api` (translation between protobuf and the
//! domain) → `ops` (one operation per RPC) → `domain` (pure rules),
//! `credentials` (argon2, the verification cache, rate limits) and `store`
//! (PostgreSQL, behind permits from `auth`). `error` maps every error to its
//! gRPC status in one place; `telemetry` depends on nothing above it.
//! [`serve`] runs the whole stack on a listener, so tests exercise exactly
//! what production runs.

pub mod api;
pub mod auth;
pub mod config;
pub mod credentials;
pub mod domain;
pub mod error;
pub mod exit;
pub mod http;
pub mod metadata_docs;
pub mod ops;
pub mod server;
pub mod store;
pub mod telemetry;

pub use api::proto;
pub use config::Config;
pub use server::{AppState, serve};
