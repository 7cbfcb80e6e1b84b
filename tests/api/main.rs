//! Integration tests: the real server against a real PostgreSQL.

mod auth;
mod authz_server;
mod cli;
mod clients;
mod common;
mod connections;
mod create;
mod dev;
mod doc_server;
mod failover;
mod failure;
mod fleet;
mod get_list;
mod hostile_input;
mod http;
mod jwks;
mod jwks_url;
mod lifecycle;
mod metadata_docs;
mod openapi;
// The private-cluster helper is the binary's (`oauth-apps dev`), not the
// library's: the tests compile the same file.
#[path = "../../src/cli/dev/cluster.rs"]
#[allow(dead_code)]
mod pgcluster;
mod process;
mod readme;
mod registration;
mod service;
mod startup;
mod telemetry;
mod tls;
mod tools;
mod verify;
mod watch;
mod watch_cli;
mod watch_http;
