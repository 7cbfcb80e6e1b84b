//! The server under load: the release binary (or `--server-bin`) started
//! as its own process with the benchmark's configuration, and stopped with
//! SIGTERM as a deployment would stop it.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{AUDIENCE, JWT_SECRET, Opts};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts the release binary and returns once it serves, with the time from
/// process start to health SERVING.
pub async fn start_server(
    opts: &Opts,
    database_url: &str,
    env: &[(&str, &str)],
) -> (Server, Duration) {
    let port = free_port();
    let started = Instant::now();
    let bin = opts
        .server_bin
        .clone()
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_oauth-apps").into());
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("DATABASE_URL", database_url)
        .env("OAUTH_APPS_JWT_SECRET", JWT_SECRET)
        .env("OAUTH_APPS_LISTEN", format!("127.0.0.1:{port}"))
        .env("OAUTH_APPS_MUTATIONS_PER_MINUTE", "0")
        .env("OAUTH_APPS_FAILED_VERIFY_PER_MINUTE", "0")
        .env("OAUTH_APPS_ASSERTION_AUDIENCE", AUDIENCE)
        .env("RUST_LOG", &opts.log)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start oauth-apps");
    eprintln!("  server pid {}", child.id());
    let url = format!("http://127.0.0.1:{port}");
    wait_until_serving(&url, started).await;
    (Server { child, url }, started.elapsed())
}

/// Polls the health service until it answers SERVING (two minutes at most).
async fn wait_until_serving(url: &str, started: Instant) {
    loop {
        if let Ok(ch) = Channel::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
        {
            let status = HealthClient::new(ch)
                .check(HealthCheckRequest::default())
                .await
                .map(|r| r.into_inner().status());
            if matches!(status, Ok(ServingStatus::Serving)) {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
