//! `oauth-apps serve`: the service on its listener until SIGTERM or SIGINT,
//! then a graceful shutdown.

use std::time::Duration;

use anyhow::Context as _;
use oauth_apps::{AppState, Config};
use tokio::net::TcpListener;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let state = AppState::prepare(&config).await?;
    let listener = bind(&config).await?;
    run_until_signalled(listener, state, config.shutdown_grace).await
}

pub async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        tls = tls_mode(config),
        database = %database_place(&config.database.database_url),
        tokens = %token_sources(config),
        telemetry = %oauth_apps::telemetry::export_summary(),
        cache_mib = config.cache_mib,
        limits = %limits(config),
        "oauth-apps listening"
    );
    Ok(listener)
}

/// `off`, `on`, or `mutual` (client certificates required).
fn tls_mode(config: &Config) -> &'static str {
    match (&config.tls_cert, &config.tls_client_ca) {
        (None, _) => "off",
        (Some(_), None) => "on",
        (Some(_), Some(_)) => "mutual",
    }
}

/// Where the database is (each host of several), never who or with what
/// password.
fn database_place(url: &str) -> String {
    use oauth_apps::store::connect;
    connect::parse(url).map_or_else(
        |_| "<unparseable DATABASE_URL>".to_owned(),
        |config| {
            let db = config.get_dbname().unwrap_or_default();
            format!("{}/{db}", connect::hosts(&config))
        },
    )
}

/// How bearer tokens are checked: HS256, a JWKS file, a JWKS URL.
fn token_sources(config: &Config) -> String {
    let jwt = &config.jwt;
    let mut sources = Vec::new();
    if jwt.jwt_secret.as_deref().is_some_and(|s| !s.is_empty()) {
        sources.push("HS256 (OAUTH_APPS_JWT_SECRET)".to_owned());
    }
    if let Some(file) = &jwt.jwks_file {
        sources.push(format!("JWKS file {}", file.display()));
    }
    if let Some(url) = &jwt.jwks_url {
        sources.push(format!(
            "JWKS URL {}",
            oauth_apps::config::redact_url(url.as_str())
        ));
    }
    if sources.is_empty() {
        "none".to_owned()
    } else {
        sources.join(", ")
    }
}

/// The limits a caller may meet, per minute (0: off).
fn limits(config: &Config) -> String {
    format!(
        "mutations {}/min and reads {}/min per caller, failed verifications {}/min per client, \
         {} connections",
        config.mutations_per_minute,
        config.reads_per_minute,
        config.failed_verify_per_minute,
        config.max_connections
    )
}

/// Serves until SIGTERM or SIGINT; then in-flight calls get `grace` to finish.
pub async fn run_until_signalled(
    listener: TcpListener,
    state: AppState,
    grace: Duration,
) -> anyhow::Result<()> {
    run_until(listener, state, grace, shutdown_signal()).await
}

/// Serves until `signal` completes; then in-flight calls get `grace` to
/// finish.
pub async fn run_until(
    listener: TcpListener,
    state: AppState,
    grace: Duration,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        signal.await;
        tracing::info!("shutting down: no new calls; finishing in-flight ones");
        let _ = signalled_tx.send(());
    };
    let server = tokio::spawn(oauth_apps::serve(listener, state, shutdown));
    let drained = async {
        // After the signal, in-flight calls get `grace` to finish.
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.context("server task failed")??,
        () = drained => tracing::warn!(?grace, "in-flight calls did not finish within the grace period"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
