//! The server stack. Every call passes, outermost first: the stream layer
//! (the call in flight on its connection; public streams' share per peer
//! and lifetime), the telemetry layer
//! (one span, log line and measurement per RPC), the deadline (the client's
//! `grpc-timeout` or the server's default), the auth layer (a permit, or the
//! refusal), then the OAuthApplications service or the public health and
//! reflection services.
//!
//! One listener serves HTTP/2 and HTTP/1.1, over TLS when configured (see
//! [`accept`] and [`tls`]).

mod accept;
mod auth_layer;
pub mod connections;
mod deadline;
mod door;
mod metadata;
mod open_files;
pub mod peers;
mod reflection;
pub mod state;
pub mod streams;
mod tls;
mod tls_files;

use std::{future::Future, time::Duration};

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic_health::{ServingStatus, server::HealthReporter};

pub use state::AppState;
use state::ServerSettings;

use crate::{
    api::{Api, proto::OAuthApplicationsServer},
    telemetry::RpcTelemetryLayer,
};

/// Telemetry that names exactly the methods this server answers.
fn telemetry_layer() -> RpcTelemetryLayer {
    let ours = crate::auth::methods::METHODS
        .iter()
        .map(|(method, _)| format!("{SERVICE_NAME}/{method}"));
    let public = [
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]
    .map(String::from);
    let paths: Vec<String> = ours.chain(public).collect();
    RpcTelemetryLayer::new(paths.iter().map(String::as_str))
}

/// Full name of the service, as health and reflection know it.
pub const SERVICE_NAME: &str = "oauthapps.v1.OAuthApplications";

/// How often expired previous secrets and idle rate-limit keys are dropped.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Header blocks up to this size reach the service (and get a status of
/// their own when they are over our limit); HTTP/2 ends the connection only
/// for a block several times larger.
const HTTP2_MAX_HEADER_LIST: u32 = 128 * 1024;

/// How often the health service re-checks the database.
const HEALTH_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// A database that has not answered `SELECT 1` within this time is down.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves on `listener` until `shutdown` resolves, then stops accepting,
/// lets in-flight calls finish and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let background = Background::start(&state, reporter).await;
    let (reflection_v1, reflection_v1alpha) = reflection::services()?;
    register_gauges(&state);
    let settings = state.server.clone();
    let auth = auth_layer::layer(state.authorizer.clone());
    let api = Api::new(state.ops.clone());
    let door = door::DoorLayer(crate::http::service(
        crate::http::Http::new(
            api.clone(),
            state.authorizer.clone(),
            crate::http::Settings {
                max_request_bytes: settings.max_request_bytes,
                max_metadata_bytes: settings.max_metadata_bytes,
                request_timeout: settings.request_timeout,
                public_url: settings.public_url.clone(),
                tls: settings.tls.is_some(),
            },
        ),
        &settings.cors_origins,
    ));
    let api =
        OAuthApplicationsServer::new(api).max_decoding_message_size(settings.max_request_bytes);
    // Watch streams last until their client leaves: they are ended as the
    // shutdown begins, or it would wait for them.
    let feed = state.ops.watching.feed.clone();
    let shutdown = async move {
        shutdown.await;
        feed.close();
    };
    let tls = settings
        .tls
        .as_ref()
        .map(|tls| tls::TlsAcceptor::new(tls, settings.connections.handshake_timeout))
        .transpose()?;
    let incoming = accept::incoming(listener, settings.connections, &state.connections, tls);
    let result = builder(&settings)
        .layer(streams::StreamLayer(settings.streams))
        .layer(door)
        .layer(telemetry_layer())
        .layer(metadata::layer(settings.max_metadata_bytes))
        .layer(deadline::layer(settings.request_timeout))
        .layer(auth)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(api)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    background.stop().await;
    result?;
    Ok(())
}

/// The server's HTTP settings: HTTP/1.1 beside HTTP/2 (each connection
/// speaks what its client does), TLS being done in [`accept`].
fn builder(settings: &ServerSettings) -> Server {
    Server::builder()
        .accept_http1(true)
        .timeout(settings.request_timeout)
        .max_concurrent_streams(Some(settings.max_concurrent_streams))
        .http2_keepalive_interval(settings.keepalive)
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        // Metadata past our own limit gets a status on its call (see
        // `metadata`); HTTP/2 itself refuses only far larger blocks, which
        // end the connection.
        .http2_max_header_list_size(Some(HTTP2_MAX_HEADER_LIST))
}

/// Gauges of the pool's connections and of the hashes admitted.
fn register_gauges(state: &AppState) {
    let pool = state.pool.clone();
    let (minting, verifying) = (state.ops.minting.clone(), state.ops.verifier.hasher.clone());
    crate::telemetry::metrics::register_gauges(
        move || {
            let s = pool.state();
            (s.connections, s.idle_connections)
        },
        move || (minting.admitted() + verifying.admitted()) as u64,
    );
}

/// The tasks that run beside the server: the health probe, the sweeper and
/// the LISTEN/NOTIFY listener.
struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: [tokio::task::JoinHandle<()>; 4],
}

impl Background {
    async fn start(state: &AppState, reporter: HealthReporter) -> Self {
        // The first probe runs before the first call is accepted, so health is
        // right from the start.
        let first = probe_once(state).await;
        set_status(&reporter, first).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let probe = tokio::spawn(probe_database(
            state.clone(),
            reporter,
            first,
            stopped.clone(),
        ));
        let sweeper = tokio::spawn(sweep(state.clone(), stopped.clone()));
        let feed = state.ops.watching.feed.clone();
        let reader = tokio::spawn(feed.clone().run(stopped.clone()));
        let listener = tokio::spawn(crate::store::notifications::listen(
            state.database.database_url.clone(),
            vec![state.roles.clone(), feed],
            stopped,
        ));
        Self {
            stop,
            tasks: [probe, sweeper, listener, reader],
        }
    }

    /// Tells every task to stop, and waits until they have.
    async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Keeps the health status in step with the database: SERVING only while it
/// answers.
async fn probe_database(
    state: AppState,
    reporter: HealthReporter,
    mut last: ServingStatus,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HEALTH_PROBE_INTERVAL) => {}
            _ = stop.changed() => return,
        }
        let status = probe_once(&state).await;
        if status != last {
            set_status(&reporter, status).await;
            last = status;
        }
    }
}

/// Housekeeping: deletes previous secrets past their grace (they already
/// fail verification; this removes their hashes) and the jtis of assertions
/// that can no longer be accepted, and forgets idle rate-limit keys.
async fn sweep(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            _ = stop.changed() => return,
        }
        state.mutations.forget_idle();
        state.reads.forget_idle();
        state.ops.verifier.failures.forget_idle();
        state.ops.verifier.assertion_failures.forget_idle();
        state.ops.verifier.slots.forget_idle();
        state.ops.registration.per_source.forget_idle();
        let purged = state
            .ops
            .db
            .run(async |conn| crate::store::applications::purge_expired_secrets(conn).await)
            .await;
        match purged {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "purged expired previous secrets"),
            Err(e) => tracing::warn!(error = %e, "purging expired secrets failed"),
        }
        prune_changes(&state).await;
        let purged = state
            .ops
            .db
            .run(async |conn| crate::store::assertions::purge_expired(conn).await)
            .await;
        match purged {
            Ok(0) => {}
            Ok(n) => tracing::debug!(count = n, "purged the jtis of expired assertions"),
            Err(e) => tracing::warn!(error = %e, "purging expired assertion jtis failed"),
        }
    }
}

/// Deletes the change feed's rows past the retention, a small batch at a
/// time so no statement holds many locks or runs long. A day of margin
/// beyond the retention keeps the rows a transaction held open across the
/// retention's edge would still need; tokens past it are refused anyway.
async fn prune_changes(state: &AppState) {
    const BATCH: i64 = 1000;
    const MAX_BATCHES: usize = 100;
    let keep = state.ops.watching.tokens.retention() + chrono::Duration::days(1);
    let before = chrono::Utc::now() - keep;
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let pruned = state
            .ops
            .db
            .run(async |conn| crate::store::changes::prune(conn, before, BATCH).await)
            .await;
        match pruned {
            Ok(n) => {
                total += n;
                if (n as i64) < BATCH {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "pruning the change feed failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(count = total, "pruned changes past the retention");
    }
}

async fn probe_once(state: &AppState) -> ServingStatus {
    let up = tokio::time::timeout(HEALTH_PROBE_TIMEOUT, crate::store::db::ping(&state.pool))
        .await
        .is_ok_and(|r| r.is_ok());
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

async fn set_status(reporter: &HealthReporter, status: ServingStatus) {
    if status == ServingStatus::Serving {
        tracing::info!("database reachable: SERVING");
    } else {
        tracing::warn!("database unreachable: NOT_SERVING");
    }
    reporter.set_service_status("", status).await;
    reporter.set_service_status(SERVICE_NAME, status).await;
}
