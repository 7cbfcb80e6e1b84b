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
    tracing::info!(addr = %listener.local_addr()?, "oauth-apps listening");
    Ok(listener)
}

/// Serves until a signal; then in-flight calls get `grace` to finish.
pub async fn run_until_signalled(
    listener: TcpListener,
    state: AppState,
    grace: Duration,
) -> anyhow::Result<()> {
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown_signal().await;
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
