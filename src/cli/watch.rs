//! `oauth-apps watch`: follows a running server's WatchApplications over
//! gRPC and prints each event as one line of JSON (proto3 JSON, as the
//! HTTP routes write it) on stdout, flushed as it comes, for scripts and
//! for a look at what changes. A stream that fails is an error on stderr
//! and a non-zero exit (the last line printed holds the token to resume
//! from); Ctrl-C (or SIGTERM) ends it with success.

use std::{io::Write as _, time::Duration};

use anyhow::Context as _;
use clap::Args;
use oauth_apps::{
    auth::{ORG_HEADER, WATCH_SCOPE},
    config::{DevDirArgs, JwtArgs},
    proto::{OAuthApplicationsClient, v1 as pb},
};
use tonic::{Request, Streaming, metadata::MetadataValue};

use super::health::ServerArgs;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a minted token lives: it is checked when the stream starts.
const MINTED_TTL: Duration = Duration::from_secs(600);

#[derive(Args)]
pub struct WatchArgs {
    /// Organization to follow, as any of its members; omit to follow every
    /// organization (a token with scope oauthapps:watch).
    #[arg(long, value_name = "ORG")]
    org: Option<String>,
    /// Continue after this resume token (the `resumeToken` of the last
    /// event received): nothing missed, nothing repeated.
    #[arg(long, value_name = "TOKEN", conflicts_with = "snapshot")]
    resume: Option<String>,
    /// First every live application (SNAPSHOT events), then SNAPSHOT_END,
    /// then the changes after it.
    #[arg(long)]
    snapshot: bool,
    /// Bearer token. Default: one minted with OAUTH_APPS_JWT_SECRET (or the
    /// dev folder's) for --sub, with scope oauthapps:watch without --org.
    #[arg(long, env = "OAUTH_APPS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Subject of a minted token (a member of --org, when given).
    #[arg(long, value_name = "USER", default_value = "oauth-apps-watch")]
    sub: String,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    jwt: JwtArgs,
    #[command(flatten)]
    dev: DevDirArgs,
}

impl WatchArgs {
    /// The bearer: --token, else one minted as `oauth-apps token` would.
    fn bearer(&mut self) -> anyhow::Result<String> {
        if let Some(token) = self.token.as_deref().filter(|t| !t.trim().is_empty()) {
            return Ok(token.trim().to_owned());
        }
        let secret = self
            .jwt
            .jwt_secret
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        anyhow::ensure!(
            secret || self.dev.dir().is_some(),
            "no token: give --token (or OAUTH_APPS_TOKEN), or set OAUTH_APPS_JWT_SECRET to mint one"
        );
        let scope = self.org.is_none().then_some(WATCH_SCOPE);
        super::token::mint(&mut self.jwt, &self.dev, &self.sub, scope, MINTED_TTL)
    }

    fn request(&self, token: &str) -> anyhow::Result<Request<pb::WatchApplicationsRequest>> {
        let mut request = Request::new(pb::WatchApplicationsRequest {
            resume_token: self.resume.clone().unwrap_or_default(),
            initial_snapshot: self.snapshot,
        });
        let bearer = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| anyhow::anyhow!("the token is not a valid header value"))?;
        request.metadata_mut().insert("authorization", bearer);
        if let Some(org) = &self.org {
            let org = MetadataValue::try_from(org.as_str())
                .map_err(|_| anyhow::anyhow!("--org {org:?} is not a valid header value"))?;
            request.metadata_mut().insert(ORG_HEADER, org);
        }
        Ok(request)
    }
}

/// Prints events until the stream fails (an error) or a signal (success).
pub async fn run(mut args: WatchArgs) -> anyhow::Result<()> {
    let token = args.bearer()?;
    let request = args.request(&token)?;
    tokio::select! {
        result = follow(&args, request) => result,
        () = stop_signal() => Ok(()),
    }
}

async fn follow(
    args: &WatchArgs,
    request: Request<pb::WatchApplicationsRequest>,
) -> anyhow::Result<()> {
    let server = &args.server;
    let target = server.target()?;
    let failed = |e: String| match super::health::explain(server, &e) {
        Some(why) => anyhow::anyhow!("watching {target} failed: {why}{}", server.hint()),
        None => anyhow::anyhow!("watching {target} failed: {e}{}", server.hint()),
    };
    let channel = server
        .endpoint(&target)?
        .connect_timeout(CONNECT_TIMEOUT)
        // A stream may be quiet for long (heartbeats aside): pings find a
        // connection that died on the way.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect()
        .await
        .map_err(|e| failed(format!("{e:#}")))?;
    let events = OAuthApplicationsClient::new(channel)
        .watch_applications(request)
        .await
        .map_err(|s| failed(super::health::said(&s)))?
        .into_inner();
    print_events(events).await
}

/// Each event as one line, flushed; a closed stdout (`| head`) ends it.
async fn print_events(mut events: Streaming<pb::WatchApplicationsResponse>) -> anyhow::Result<()> {
    loop {
        let event = match events.message().await {
            Ok(Some(event)) => event,
            Ok(None) => anyhow::bail!("the server ended the stream"),
            Err(s) => anyhow::bail!(
                "the stream ended: {}: {}",
                oauth_apps::telemetry::rpc::code_name(s.code() as i32),
                s.message()
            ),
        };
        let line = serde_json::to_string(&event).context("writing an event as JSON")?;
        let mut out = std::io::stdout().lock();
        let written = writeln!(out, "{line}").and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("writing to stdout"),
        }
    }
}

/// Ctrl-C, or SIGTERM where there is one.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        // No handler to be had: only the stream's end stops it.
        std::future::pending::<()>().await;
    }
}
