//! Failure behaviour: the database going away and coming back, deadlines,
//! oversized requests.

use std::time::{Duration, Instant};

use diesel::{QueryableByName, sql_query, sql_types::BigInt};
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _, SimpleAsyncConnection as _,
};
use oauth_apps::{Config, domain::Role, proto::v1 as pb};

use crate::pgcluster::{self, LocalCluster};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::common::{JWT_SECRET, TestApp, TestDb, eventually, web_app};

const ORG: &str = "org-acme";

/// A PostgreSQL of this test's own, in a temporary folder.
pub(crate) struct OwnCluster {
    pub(crate) cluster: LocalCluster,
    _dir: TempDir,
}

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}

pub(crate) fn own_cluster() -> OwnCluster {
    let dir = std::env::temp_dir().join(format!(
        "oauth-apps-pg-{}-{}",
        std::process::id(),
        oauth_apps::domain::ids::random_base62(8)
    ));
    let port = pgcluster::free_port().unwrap();
    let cluster = LocalCluster::new(
        dir.join("data"),
        port,
        oauth_apps::domain::ids::random_base62(24),
        std::env::var_os("OAUTH_APPS_PG_BIN")
            .as_deref()
            .map(std::path::Path::new),
    )
    .unwrap();
    // The folder above the data must be reachable by the postgres user too.
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::process::Command::new("chmod")
        .arg("755")
        .arg(&dir)
        .status();
    cluster.init().unwrap();
    cluster.start().unwrap();
    OwnCluster {
        cluster,
        _dir: TempDir(dir),
    }
}

async fn health(app: &TestApp) -> ServingStatus {
    HealthClient::new(app.channel().await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_unavailable_then_recovers_without_losing_data() {
    let own = own_cluster();
    let db = TestDb::borrowed_url(own.cluster.url("oauth_apps"));
    let mut config = Config::new(db.url.clone(), JWT_SECRET);
    config.db_timeout = Duration::from_secs(1);
    let app = TestApp::spawn_on(db, config).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let before = app
        .create_app("owner", ORG, "Survivor")
        .await
        .application
        .unwrap();
    assert_eq!(health(&app).await, ServingStatus::Serving);

    let cluster = own.cluster.clone();
    tokio::task::spawn_blocking(move || cluster.stop().unwrap())
        .await
        .unwrap();

    // Every call answers UNAVAILABLE, promptly, and nothing panics.
    for _ in 0..3 {
        let started = Instant::now();
        let err = app.get("owner", ORG, &before.id).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let err = app
            .client()
            .await
            .create_application(app.req(web_app("During outage"), "owner", ORG))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    }
    eventually("health NOT_SERVING", Duration::from_secs(10), || async {
        health(&app).await == ServingStatus::NotServing
    })
    .await;
    // Known down: calls no longer wait the connection timeout (1 s here)
    // for a connection that cannot come; they fail at once.
    for _ in 0..10 {
        let started = Instant::now();
        let err = app.get("owner", ORG, &before.id).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "known down, yet it took {:?}",
            started.elapsed()
        );
    }

    let cluster = own.cluster.clone();
    tokio::task::spawn_blocking(move || cluster.start().unwrap())
        .await
        .unwrap();

    // Back by itself: health, reads and writes, with the data committed before.
    eventually("health SERVING again", Duration::from_secs(10), || async {
        health(&app).await == ServingStatus::Serving
    })
    .await;
    assert_eq!(app.get("owner", ORG, &before.id).await.unwrap(), before);
    app.create_app("owner", ORG, "After outage").await;
    let list = app
        .list("owner", ORG, pb::ListApplicationsRequest::default())
        .await
        .unwrap();
    let names: Vec<_> = list.applications.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["Survivor", "After outage"],
        "the failed create left nothing"
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_deadline_bounds_the_database_work() {
    let app = TestApp::spawn().await;
    deadline_bounds_a_locked_update(app, Some(Duration::from_millis(300))).await;
}

/// The server's own default deadline does the same for clients that set none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_default_deadline_bounds_the_database_work() {
    let app = TestApp::spawn_with(|c| c.request_timeout = Duration::from_millis(300)).await;
    deadline_bounds_a_locked_update(app, None).await;
}

async fn deadline_bounds_a_locked_update(app: TestApp, client_timeout: Option<Duration>) {
    app.set_member(ORG, "owner", Role::Owner).await;
    let a = app
        .create_app("owner", ORG, "Locked")
        .await
        .application
        .unwrap();

    // Another session holds the application's row lock.
    let mut holder = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM applications WHERE id = '{}' FOR UPDATE",
            a.id
        ))
        .await
        .unwrap();

    let mut req = app.req(
        pb::UpdateApplicationRequest {
            application: Some(pb::Application {
                description: "late".into(),
                ..a.clone()
            }),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec!["description".into()],
            }),
            etag: String::new(),
        },
        "owner",
        ORG,
    );
    if let Some(t) = client_timeout {
        req.set_timeout(t);
    }
    let started = Instant::now();
    let err = app
        .client()
        .await
        .update_application(req)
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // The abandoned update no longer waits on the lock in the database.
    let url = app.db.url.clone();
    eventually(
        "the update's statement to be cancelled",
        Duration::from_secs(2),
        || {
            let url = url.clone();
            async move {
                let mut observer = AsyncPgConnection::establish(&url).await.unwrap();
                sql_query(
                    "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .get_result::<Count>(&mut observer)
                .await
                .unwrap()
                .n == 0
            }
        },
    )
    .await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        app.get("owner", ORG, &a.id).await.unwrap().description,
        a.description
    );
}

#[tokio::test]
async fn oversized_requests_are_refused_and_the_service_carries_on() {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let huge = pb::CreateApplicationRequest {
        description: "x".repeat(200 * 1024),
        ..web_app("Huge")
    };
    let err = app
        .client()
        .await
        .create_application(app.req(huge, "owner", ORG))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.code(),
            Code::OutOfRange | Code::ResourceExhausted | Code::InvalidArgument
        ),
        "{err:?}"
    );
    // The largest valid request still fits.
    let largest = pb::CreateApplicationRequest {
        name: "é".repeat(100),
        description: "é".repeat(500),
        redirect_uris: (0..20)
            .map(|i| format!("https://app.example/{i:02}/{}", "p".repeat(1975)))
            .collect(),
        ..web_app("")
    };
    assert!(largest.redirect_uris.iter().all(|u| u.len() <= 2000));
    app.client()
        .await
        .create_application(app.req(largest, "owner", ORG))
        .await
        .unwrap();
}

/// A pool whose every connection is busy is saturated, not down: a
/// checkout that timed out waiting for a free connection must not make the
/// next calls fail fast (as the outage detector once did under load).
#[tokio::test]
async fn a_saturated_pool_is_busy_not_down() {
    use oauth_apps::store::db::{build_pool, checkout};
    let db = TestDb::new().await;
    let pool = build_pool(
        &db.url,
        1,
        Duration::from_millis(200),
        Duration::from_secs(5),
    );
    let held = checkout(&pool).await.unwrap();
    assert!(checkout(&pool).await.is_err(), "the one connection is busy");
    drop(held);
    assert!(
        checkout(&pool).await.is_ok(),
        "a busy pool was taken for a database that is down"
    );
}
