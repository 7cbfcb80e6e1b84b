//! `TestApp`: the real server on 127.0.0.1:0 against a fresh PostgreSQL
//! database cloned from a migrated template.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use diesel::{QueryableByName, sql_query, sql_types::Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use oauth_apps::{
    AppState, Config,
    auth::TokenIssuer,
    domain::Role,
    proto::{OAuthApplicationsClient, v1 as pb},
    store,
};
use sha2::{Digest as _, Sha256};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{Code, Request, Status, metadata::MetadataValue, transport::Channel};
use tonic_types::StatusExt as _;

pub const JWT_SECRET: &str = "integration-test-secret-0123456789abcdef";

/// Server (and database) for the tests; `TEST_DATABASE_URL` names the
/// maintenance database of the PostgreSQL server to use.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn url_for(db: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{db}"));
    url.to_string()
}

async fn admin() -> AsyncPgConnection {
    AsyncPgConnection::establish(&admin_url())
        .await
        .expect("PostgreSQL must be running (see README: TEST_DATABASE_URL)")
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)]
    name: String,
}

static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// The migrated template, named after a hash of the migrations so that a
/// changed schema gets a new one. Created once, under an advisory lock, so
/// parallel test processes and concurrent runs share it safely.
async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let mut hasher = Sha256::new();
            let mut entries: Vec<_> = walk(std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations"
            )));
            entries.sort();
            for path in entries {
                hasher.update(path.to_string_lossy().as_bytes());
                hasher.update(std::fs::read(&path).unwrap());
            }
            let digest = hasher.finalize();
            let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            let name = format!("oauth_apps_tpl_{hash}");
            let mut conn = admin().await;
            sql_query("SELECT pg_advisory_lock(727272) IS NOT NULL AS name")
                .execute(&mut conn)
                .await
                .unwrap();
            let exists: Vec<Name> = sql_query(format!(
                "SELECT datname AS name FROM pg_database WHERE datname = '{name}'"
            ))
            .load(&mut conn)
            .await
            .unwrap();
            if exists.is_empty() {
                let building = format!("{name}_building");
                sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                sql_query(format!("CREATE DATABASE {building}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                store::run_migrations(&url_for(&building)).await.unwrap();
                sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            sql_query("SELECT pg_advisory_unlock(727272) IS NOT NULL AS name")
                .execute(&mut conn)
                .await
                .unwrap();
            name
        })
        .await
        .clone()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A database for one test. One the test created is dropped (WITH FORCE)
/// when the test ends; one it was lent ([`TestDb::borrowed_url`]) is not.
pub struct TestDb {
    pub url: String,
    /// The name of the database to drop at the end, when the test owns it.
    owned: Option<String>,
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "oauth_apps_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        oauth_apps::domain::ids::random_base62(6).to_lowercase()
    )
}

impl TestDb {
    /// An empty database, with no migration applied (dropped at the end).
    pub async fn empty() -> Self {
        let name = unique_name();
        sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin().await)
            .await
            .expect("creating an empty database");
        Self {
            url: url_for(&name),
            owned: Some(name),
        }
    }

    /// A migrated database of its own, cloned from the template.
    pub async fn new() -> Self {
        let template = template().await;
        let name = unique_name();
        let mut conn = admin().await;
        let mut attempt = 0;
        loop {
            match sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
                .execute(&mut conn)
                .await
            {
                Ok(_) => break,
                // Another session is briefly connected to the template.
                Err(e)
                    if attempt < 50 && e.to_string().contains("being accessed by other users") =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("creating test database: {e}"),
            }
        }
        Self {
            url: url_for(&name),
            owned: Some(name),
        }
    }

    /// A database the test does not own (nothing is dropped).
    pub fn borrowed_url(url: String) -> Self {
        Self { url, owned: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.owned.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: use
        // a runtime of its own on another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = admin().await;
                let _ = sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    issuer: TokenIssuer,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Dropped last: the server must stop before its database goes.
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new().await;
        let mut config = Config::new(db.url.clone(), JWT_SECRET);
        configure(&mut config);
        Self::spawn_on(db, config).await
    }

    /// The server with `config`, on `db` (owned or lent).
    pub async fn spawn_on(db: TestDb, config: Config) -> Self {
        let state = AppState::prepare(&config).await.expect("state");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(oauth_apps::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        Self {
            addr,
            state,
            issuer: TokenIssuer::hs256(JWT_SECRET.as_bytes(), None, None),
            shutdown: Some(tx),
            server: Some(server),
            db,
        }
    }

    /// Stops the server the way SIGTERM does and waits for it to finish.
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }

    pub async fn client(&self) -> OAuthApplicationsClient<Channel> {
        OAuthApplicationsClient::new(self.channel().await)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to test server")
    }

    pub async fn set_member(&self, org: &str, user: &str, role: Role) {
        let mut conn = self.state.pool.get().await.unwrap();
        store::memberships::set(&mut conn, org, user, role)
            .await
            .unwrap();
    }

    pub async fn remove_member(&self, org: &str, user: &str) {
        let mut conn = self.state.pool.get().await.unwrap();
        store::memberships::remove(&mut conn, org, user)
            .await
            .unwrap();
    }

    pub fn token(&self, sub: &str) -> String {
        self.issuer.mint(sub, None, Duration::from_secs(600))
    }

    pub fn token_with_scope(&self, sub: &str, scope: &str) -> String {
        self.issuer.mint(sub, Some(scope), Duration::from_secs(600))
    }

    /// A request as `sub` in `org`.
    pub fn req<T>(&self, msg: T, sub: &str, org: &str) -> Request<T> {
        with_auth(msg, Some(&self.token(sub)), Some(org))
    }

    /// Creates an app as `sub` (who must be OWNER/ADMIN of `org`).
    pub async fn create_app(
        &self,
        sub: &str,
        org: &str,
        name: &str,
    ) -> pb::CreateApplicationResponse {
        self.client()
            .await
            .create_application(self.req(web_app(name), sub, org))
            .await
            .expect("create")
            .into_inner()
    }

    /// Runs SQL on the test's database directly.
    pub async fn db_conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.db.url).await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Waits until `done` holds, checking every few milliseconds, and fails the
/// test if it does not within `within`: for what happens in the background
/// (a notification between replicas, a database coming back, a file being
/// re-read), never a fixed sleep.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if done().await {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Role changes reach each replica's cache through LISTEN/NOTIFY, which takes
/// a moment (well under a millisecond on an idle machine).
pub async fn within_a_moment<F, Fut>(what: &str, done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually(what, Duration::from_millis(500), done).await;
}

pub fn with_auth<T>(msg: T, token: Option<&str>, org: Option<&str>) -> Request<T> {
    let mut req = Request::new(msg);
    if let Some(token) = token {
        req.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
        );
    }
    if let Some(org) = org {
        req.metadata_mut()
            .insert("x-organization-id", MetadataValue::try_from(org).unwrap());
    }
    req
}

pub fn web_app(name: &str) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        name: name.to_owned(),
        description: "test app".to_owned(),
        r#type: pb::ApplicationType::Web.into(),
        redirect_uris: vec!["https://app.example.com/callback".to_owned()],
        scopes: vec!["read:user".to_owned()],
        active: None,
        first_party: false,
        ..Default::default()
    }
}

/// The BadRequest field paths of an INVALID_ARGUMENT status.
pub fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|br| br.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Scope a token endpoint's token carries.
pub const VERIFY_SCOPE: &str = "oauthapps:verify";

impl TestApp {
    /// VerifyClientCredentials as a token endpoint; panics on a non-OK status.
    pub async fn verify(
        &self,
        client_id: &str,
        secret: &str,
    ) -> pb::VerifyClientCredentialsResponse {
        self.try_verify(client_id, secret)
            .await
            .expect("verify call")
    }

    pub async fn try_verify(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<pb::VerifyClientCredentialsResponse, Status> {
        let token = self.token_with_scope("token-endpoint", VERIFY_SCOPE);
        self.client()
            .await
            .verify_client_credentials(with_auth(
                pb::VerifyClientCredentialsRequest {
                    client_id: client_id.to_owned(),
                    client_secret: secret.to_owned(),
                },
                Some(&token),
                None,
            ))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn lookup(&self, client_id: &str) -> Result<pb::Application, Status> {
        let token = self.token_with_scope("token-endpoint", VERIFY_SCOPE);
        self.client()
            .await
            .lookup_client(with_auth(
                pb::LookupClientRequest {
                    client_id: client_id.to_owned(),
                },
                Some(&token),
                None,
            ))
            .await
            .map(|r| r.into_inner().application.expect("application"))
    }

    pub async fn get(&self, sub: &str, org: &str, id: &str) -> Result<pb::Application, Status> {
        self.client()
            .await
            .get_application(self.req(pb::GetApplicationRequest { id: id.to_owned() }, sub, org))
            .await
            .map(|r| r.into_inner().application.expect("application"))
    }

    pub async fn list(
        &self,
        sub: &str,
        org: &str,
        req: pb::ListApplicationsRequest,
    ) -> Result<pb::ListApplicationsResponse, Status> {
        self.client()
            .await
            .list_applications(self.req(req, sub, org))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn update(
        &self,
        sub: &str,
        org: &str,
        application: pb::Application,
        paths: &[&str],
        etag: &str,
    ) -> Result<pb::Application, Status> {
        self.client()
            .await
            .update_application(self.req(
                pb::UpdateApplicationRequest {
                    application: Some(application),
                    update_mask: Some(pbjson_types::FieldMask {
                        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                    }),
                    etag: etag.to_owned(),
                },
                sub,
                org,
            ))
            .await
            .map(|r| r.into_inner().application.expect("application"))
    }

    pub async fn delete(&self, sub: &str, org: &str, id: &str) -> Result<pb::Application, Status> {
        self.client()
            .await
            .delete_application(self.req(
                pb::DeleteApplicationRequest { id: id.to_owned() },
                sub,
                org,
            ))
            .await
            .map(|r| r.into_inner().application.expect("application"))
    }

    pub async fn undelete(
        &self,
        sub: &str,
        org: &str,
        id: &str,
    ) -> Result<pb::Application, Status> {
        self.client()
            .await
            .undelete_application(self.req(
                pb::UndeleteApplicationRequest { id: id.to_owned() },
                sub,
                org,
            ))
            .await
            .map(|r| r.into_inner().application.expect("application"))
    }

    pub async fn rotate(
        &self,
        sub: &str,
        org: &str,
        id: &str,
        grace_secs: i64,
    ) -> Result<pb::RotateClientSecretResponse, Status> {
        self.client()
            .await
            .rotate_client_secret(self.req(
                pb::RotateClientSecretRequest {
                    id: id.to_owned(),
                    previous_secret_grace: Some(pbjson_types::Duration {
                        seconds: grace_secs,
                        nanos: 0,
                    }),
                },
                sub,
                org,
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// Runs a `SELECT count(*) AS n ...` on the test's database.
    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.db_conn().await;
        sql_query(sql)
            .get_result::<Count>(&mut conn)
            .await
            .unwrap()
            .n
    }

    /// Creates an app of type `t` with these redirect URIs as `sub`.
    pub async fn create_typed(
        &self,
        sub: &str,
        org: &str,
        name: &str,
        t: pb::ApplicationType,
        redirect_uris: &[&str],
    ) -> pb::CreateApplicationResponse {
        let req = pb::CreateApplicationRequest {
            r#type: t.into(),
            redirect_uris: redirect_uris.iter().map(|u| (*u).to_owned()).collect(),
            ..web_app(name)
        };
        self.client()
            .await
            .create_application(self.req(req, sub, org))
            .await
            .expect("create")
            .into_inner()
    }

    /// A second server on the same database, as another replica would be.
    pub async fn replica(&self) -> TestApp {
        let config = Config::new(self.db.url.clone(), JWT_SECRET);
        Self::spawn_on(TestDb::borrowed_url(self.db.url.clone()), config).await
    }
}
