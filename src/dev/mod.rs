//! `oauth-apps dev`: a ready-to-use local setup on a machine that has
//! PostgreSQL's binaries but no server running. The cluster lives in a
//! project folder (`.oauth-apps-dev/` by default) and is reused by the next
//! run; so are its port and the development token secret.

use std::path::Path;

use anyhow::Context as _;

pub mod pgcluster;

use oauth_apps::{
    AppState,
    domain::{Role, ids::random_base62},
    store,
};
use pgcluster::{LocalCluster, free_port};

/// Names the folder of `oauth-apps dev` for the other commands: `members`
/// and `audit` then use its cluster (unless `DATABASE_URL` is set), and
/// `token` its token secret (unless `OAUTH_APPS_JWT_SECRET` is set).
pub const DEV_DIR_ENV: &str = "OAUTH_APPS_DEV_DIR";

pub const DEMO_ORG: &str = "demo";
pub const DEMO_OWNER: &str = "demo-owner";
pub const DEV_DATABASE: &str = "oauth_apps";

pub struct DevEnvironment {
    pub cluster: LocalCluster,
    /// Whether this run started the server (and so should stop it): another
    /// `dev` on the same folder may be using one that was already running.
    pub started_here: bool,
    /// HS256 secret of development tokens, kept in the folder.
    pub jwt_secret: String,
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

/// The folder `OAUTH_APPS_DEV_DIR` names, if it does.
pub fn env_dir() -> Option<std::path::PathBuf> {
    std::env::var_os(DEV_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(Into::into)
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
    let cluster = LocalCluster::new(dir.join("pgdata"), port, read(dir, "pg-password")?)?;
    Ok(cluster.url(DEV_DATABASE))
}

/// The dev folder's token secret.
pub fn jwt_secret(dir: &Path) -> anyhow::Result<String> {
    read(dir, "jwt-secret")
}

/// Creates (first run) or reuses the folder's cluster and starts it.
/// Blocking: runs PostgreSQL's tools.
pub fn prepare(dir: &Path) -> anyhow::Result<DevEnvironment> {
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
    let cluster = LocalCluster::new(dir.join("pgdata"), port, password)?;
    if !cluster.exists() {
        eprintln!(
            "creating a PostgreSQL cluster in {}",
            cluster.data_dir().display()
        );
    }
    cluster.init()?;
    let started_here = !cluster.is_running();
    cluster.start()?;
    Ok(DevEnvironment {
        cluster,
        started_here,
        jwt_secret,
    })
}

/// The demo organization and its owner.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    state
        .ops
        .db
        .read(async |conn| store::memberships::set(conn, DEMO_ORG, DEMO_OWNER, Role::Owner).await)
        .await?;
    Ok(())
}

/// What `dev` prints once the service listens.
pub fn banner(
    addr: std::net::SocketAddr,
    token: &str,
    cluster: &LocalCluster,
    dir: &Path,
) -> String {
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
