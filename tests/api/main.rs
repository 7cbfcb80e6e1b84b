//! Integration tests: the real server against a real PostgreSQL.

mod auth;
mod cli;
mod common;
mod create;
mod dev;
mod failure;
mod get_list;
mod jwks;
mod lifecycle;
mod process;
mod service;
mod telemetry;
mod tls;
mod verify;
