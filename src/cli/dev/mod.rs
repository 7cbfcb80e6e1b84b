//! `oauth-apps dev`: a ready-to-use local setup on a machine that has
//! PostgreSQL's binaries but no server running. The cluster lives in a
//! project folder (`.oauth-apps-dev/` by default) and is reused by the next
//! run; so are its port and the development token secret.

use std::{path::Path, time::Duration};

use anyhow::Context as _;
use clap::Args;

pub mod cluster;
mod owner;

use cluster::{LocalCluster, free_port};
use oauth_apps::{
    AppState, Config,
    auth::TokenIssuer,
    config::{DEFAULT_DATABASE_URL, DEV_DIR_ENV, PgBinArgs},
    domain::{Role, ids::random_base62},
    store,
};
use owner::StopOnExit;

use super::serve::{bind, run_until};

const DEMO_ORG: &str = "demo";
const DEMO_OWNER: &str = "demo-owner";
const DEV_DATABASE: &str = "oauth_apps";

#[derive(Args)]
// The database is the folder's own cluster: --database-url is not one of
// dev's settings (a DATABASE_URL in the environment is ignored, with a note).
#[command(mut_arg("database_url", |a| a.hide(true)))]
pub struct DevArgs {
    /// Folder of the private cluster, its port and the dev token secret.
    #[arg(long, default_value = ".oauth-apps-dev")]
    dir: std::path::PathBuf,
    #[command(flatten)]
    pg_bin: PgBinArgs,
    #[command(flatten)]
    config: Config,
}

/// Serves like `serve`, on the folder's cluster (started, and stopped on
/// every way out when this run started it), with the demo organization and
/// a banner that shows how to call it.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    // First: a signal from here on ends the run through its clean-up.
    let stop = owner::stop_signals()?;
    let DevArgs {
        dir,
        pg_bin,
        mut config,
    } = args;
    let dir_shown = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
    if config.database.database_url != DEFAULT_DATABASE_URL {
        tracing::warn!(
            "DATABASE_URL is ignored: `oauth-apps dev` runs its own PostgreSQL in {} \
             (`oauth-apps serve` uses DATABASE_URL)",
            dir_shown.display()
        );
    }
    let folder = dir.clone();
    let env =
        tokio::task::spawn_blocking(move || prepare(&dir, pg_bin.pg_bin.as_deref())).await??;
    // The data stays on disk; a server we started does not outlive us.
    let guard = StopOnExit::new(env.started_here.then(|| env.cluster.clone()), &folder);
    config.database.database_url = env.cluster.url(DEV_DATABASE);
    match config.jwt.jwt_secret.as_deref() {
        None | Some("") => config.jwt.jwt_secret = Some(env.jwt_secret.clone()),
        Some(theirs) if theirs != env.jwt_secret => tracing::warn!(
            "OAUTH_APPS_JWT_SECRET is set and is not the dev folder's token secret: the server \
             checks tokens with the environment's, the banner's token included, while \
             `oauth-apps token` with only {DEV_DIR_ENV} signs with the folder's; unset it so that the server takes \
             the folder's"
        ),
        Some(_) => {}
    }
    let result = serve_with_banner(&config, &env, &dir_shown, stop).await;
    guard.stop().await?;
    result
}

async fn serve_with_banner(
    config: &Config,
    env: &DevEnvironment,
    dir_shown: &Path,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::prepare(config).await?;
    seed(&state).await?;
    let listener = bind(config).await?;
    let jwt = &config.jwt;
    let token = TokenIssuer::hs256(
        jwt.secret()?,
        jwt.jwt_issuer.as_deref(),
        jwt.jwt_audience.as_deref(),
    )
    .mint(DEMO_OWNER, None, Duration::from_secs(24 * 3600));
    println!(
        "{}",
        banner(listener.local_addr()?, &token, &env.cluster, dir_shown)
    );
    run_until(listener, state, config.shutdown_grace, stop).await
}

struct DevEnvironment {
    cluster: LocalCluster,
    /// Whether this run started the server (and so should stop it): another
    /// `dev` on the same folder may be using one that was already running.
    started_here: bool,
    /// HS256 secret of development tokens, kept in the folder.
    jwt_secret: String,
}

/// Reads `file`, or creates it with `make()`, readable by its owner only
/// from the first byte on.
fn persisted(file: &Path, make: impl FnOnce() -> anyhow::Result<String>) -> anyhow::Result<String> {
    use std::io::Write as _;
    if let Ok(v) = std::fs::read_to_string(file) {
        return Ok(v.trim().to_owned());
    }
    let v = make()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(file)
        .and_then(|mut f| f.write_all(v.as_bytes()))
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(v)
}

fn read(dir: &Path, file: &str) -> anyhow::Result<String> {
    let path = dir.join(file);
    let v = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} ({DEV_DIR_ENV} names a folder that `oauth-apps dev` made)",
            path.display()
        )
    })?;
    Ok(v.trim().to_owned())
}

/// The URL of the dev folder's database (its cluster must be running).
pub fn database_url(dir: &Path) -> anyhow::Result<String> {
    let port: u16 = read(dir, "port")?
        .parse()
        .context("the port file of the dev folder is corrupt")?;
    Ok(cluster::cluster_url(
        port,
        &read(dir, "pg-password")?,
        DEV_DATABASE,
    ))
}

/// The dev folder's token secret.
pub fn jwt_secret(dir: &Path) -> anyhow::Result<String> {
    read(dir, "jwt-secret")
}

/// Creates (first run) or reuses the folder's cluster and starts it.
/// Blocking: runs PostgreSQL's tools.
fn prepare(dir: &Path, pg_bin: Option<&Path>) -> anyhow::Result<DevEnvironment> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // PostgreSQL may run as another user (when we are root): it must be
        // able to reach the folder we made for it (its data stays 0700).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    let port: u16 = persisted(&dir.join("port"), || Ok(free_port()?.to_string()))?
        .parse()
        .context("the port file of the dev folder is corrupt")?;
    let jwt_secret = persisted(&dir.join("jwt-secret"), || Ok(random_base62(43)))?;
    let password = persisted(&dir.join("pg-password"), || Ok(random_base62(32)))?;
    let cluster = LocalCluster::new(dir.join("pgdata"), port, password, pg_bin)?;
    if !cluster.exists() {
        eprintln!(
            "creating a PostgreSQL cluster in {}",
            cluster.data_dir().display()
        );
    }
    cluster.init()?;
    let started_here = if !cluster.is_running() {
        true
    } else if owner::owned_by_a_live_run(dir) {
        // Another `oauth-apps dev` on this folder: share its server.
        false
    } else {
        eprintln!(
            "stopping the PostgreSQL an earlier `oauth-apps dev` left running in {}",
            cluster.data_dir().display()
        );
        cluster.stop()?;
        true
    };
    cluster.start()?;
    if started_here {
        owner::claim(dir)?;
    }
    Ok(DevEnvironment {
        cluster,
        started_here,
        jwt_secret,
    })
}

/// The demo organization and its owner.
async fn seed(state: &AppState) -> anyhow::Result<()> {
    state
        .ops
        .db
        .run(async |conn| store::memberships::set(conn, DEMO_ORG, DEMO_OWNER, Role::Owner).await)
        .await?;
    Ok(())
}

/// What `dev` prints once the service listens.
fn banner(addr: std::net::SocketAddr, token: &str, cluster: &LocalCluster, dir: &Path) -> String {
    // A fresh name each run, so the ready-made create works every time.
    let name = format!("My app {}", random_base62(4));
    format!(
        r#"oauth-apps dev is ready on {addr}
  PostgreSQL: {db} (data in {data}; kept for the next run)
  Organization "{DEMO_ORG}" with OWNER "{DEMO_OWNER}". Token (24 h):

export TOKEN={token}

buf curl --protocol grpc --http2-prior-knowledge \
  -H "authorization: Bearer $TOKEN" -H "x-organization-id: {DEMO_ORG}" \
  -d '{{"name": "{name}", "redirect_uris": ["https://app.example.com/callback"], "scopes": ["read:user"]}}' \
  http://{addr}/oauthapps.v1.OAuthApplications/CreateApplication

grpcurl -plaintext -H "authorization: Bearer $TOKEN" -H "x-organization-id: {DEMO_ORG}" \
  -d '{{"page_size": 10}}' {addr} oauthapps.v1.OAuthApplications/ListApplications

The other commands use this cluster and token secret once you
export {DEV_DIR_ENV}={dir}
oauth-apps members set --org {DEMO_ORG} --user alice --role admin
oauth-apps token --sub alice
oauth-apps audit --org {DEMO_ORG}
"#,
        db = oauth_apps::config::redact_url(&cluster.url(DEV_DATABASE)),
        data = cluster.data_dir().display(),
        dir = dir.display(),
    )
}
