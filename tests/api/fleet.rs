//! A fleet on one database (contract section 10): a committed revocation is
//! refused by every replica within two seconds, whatever happened to the
//! replicas' connections, and a replica that cannot be sure it has seen
//! every change is slower, never stale.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use diesel_async::RunQueryDsl as _;
use oauth_apps::{Config, domain::Role, proto::v1 as pb};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream, tcp::OwnedReadHalf, tcp::OwnedWriteHalf},
    sync::watch,
};
use tonic::Code;

use crate::common::{JWT_SECRET, TestApp, TestDb, VERIFY_SCOPE, with_auth};

const ORG: &str = "org-fleet";
/// The contract's bound, from a commit to every replica refusing.
const BOUND: Duration = Duration::from_secs(2);

async fn setup() -> TestApp {
    let a = TestApp::spawn().await;
    a.set_member(ORG, "owner", Role::Owner).await;
    a.set_member(ORG, "reader", Role::Member).await;
    a
}

/// Polls `refused` on every replica until each says yes, and returns the
/// slowest replica's time from `committed` to the call that refused.
async fn all_refuse(
    replicas: &[&TestApp],
    committed: Instant,
    refused: impl AsyncFn(&TestApp) -> bool,
) -> Duration {
    let mut slowest = Duration::ZERO;
    for r in replicas {
        loop {
            // From the start of the call that refuses: a refusal of a
            // secret costs a full hash, on purpose (as slow as a yes).
            let asked = committed.elapsed();
            if refused(r).await {
                slowest = slowest.max(asked);
                break;
            }
            assert!(
                committed.elapsed() < BOUND * 3,
                "a replica still says yes {:?} after the commit",
                committed.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    slowest
}

async fn cut_listeners(a: &TestApp) {
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'oauth-apps listener'",
    )
    .execute(&mut a.db_conn().await)
    .await
    .unwrap();
}

/// Updates other applications continuously, as a busy fleet would.
fn background_writes(a: &TestApp, ids: Vec<String>) -> tokio::task::JoinHandle<()> {
    let channel = a.addr;
    let token = a.token("owner");
    tokio::spawn(async move {
        let url = format!("http://{channel}");
        let mut c = pb::o_auth_applications_client::OAuthApplicationsClient::connect(url)
            .await
            .unwrap();
        for i in 0.. {
            let id = &ids[i % ids.len()];
            let app = pb::Application {
                id: id.clone(),
                description: format!("busy {i}"),
                ..Default::default()
            };
            let req = pb::UpdateApplicationRequest {
                application: Some(app),
                update_mask: Some(pbjson_types::FieldMask {
                    paths: vec!["description".into()],
                }),
                ..Default::default()
            };
            let _ = c
                .update_application(with_auth(req, Some(&token), Some(ORG)))
                .await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
}

#[tokio::test]
async fn three_replicas_refuse_a_revocation_within_two_seconds_under_load_and_cut_listeners() {
    let a = setup().await;
    let (b, c) = (a.replica().await, a.replica().await);
    let replicas = [&a, &b, &c];
    let mut busy = Vec::new();
    for i in 0..5 {
        busy.push(a.create_app("owner", ORG, &format!("busy {i}")).await);
    }
    let load = background_writes(
        &a,
        busy.iter()
            .map(|r| r.application.clone().unwrap().id)
            .collect(),
    );
    for cut in [false, true] {
        let created = a.create_app("owner", ORG, &format!("target {cut}")).await;
        let app = created.application.unwrap();
        for r in replicas {
            // Twice: the second answer comes from each replica's cache.
            assert!(r.verify(&app.client_id, &created.client_secret).await.valid);
            assert!(r.verify(&app.client_id, &created.client_secret).await.valid);
        }
        if cut {
            cut_listeners(&a).await;
        }
        // A rotation without grace, through one replica.
        a.rotate("owner", ORG, &app.id, 0).await.unwrap();
        let committed = Instant::now();
        let secret = created.client_secret.clone();
        let took = all_refuse(&replicas, committed, async |r: &TestApp| {
            !r.verify(&app.client_id, &secret).await.valid
        })
        .await;
        assert!(
            took < BOUND,
            "revoked secret refused after {took:?} (listeners cut: {cut})"
        );
        // A deletion, by another replica: the client is gone everywhere.
        b.delete("owner", ORG, &app.id).await.unwrap();
        let committed = Instant::now();
        let took = all_refuse(&replicas, committed, async |r: &TestApp| {
            r.lookup(&app.client_id).await.is_err()
        })
        .await;
        assert!(
            took < BOUND,
            "deleted client seen after {took:?} (listeners cut: {cut})"
        );
    }
    load.abort();
}

/// A relay to PostgreSQL that can be black-holed: its connections stay
/// open, and nothing is forwarded either way until it is released.
struct BlackHole {
    addr: SocketAddr,
    holding: Arc<watch::Sender<bool>>,
}

impl BlackHole {
    async fn to(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let holding = Arc::new(watch::channel(false).0);
        let h = holding.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(pump(ri, wo, h.subscribe()));
                tokio::spawn(pump(ro, wi, h.subscribe()));
            }
        });
        Self { addr, holding }
    }

    fn hold(&self, on: bool) {
        self.holding.send_replace(on);
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut holding: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if holding.wait_for(|h| !*h).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A second replica whose every database connection goes through `hole`.
async fn replica_through(a: &TestApp, hole: &BlackHole) -> TestApp {
    let mut url = url::Url::parse(&a.db.url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(hole.addr.port())).unwrap();
    let config = Config::new(url.to_string(), JWT_SECRET);
    TestApp::spawn_on(TestDb::borrowed_url(url.to_string()), config).await
}

fn upstream(a: &TestApp) -> SocketAddr {
    let url = url::Url::parse(&a.db.url).unwrap();
    let host = url.host_str().unwrap();
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{}", url.port().unwrap_or(5432))
        .parse()
        .unwrap()
}

/// What a black-holed replica answers: never the old yes; an error is fine.
async fn verify_briefly(r: &TestApp, client_id: &str, secret: &str) -> Result<bool, Code> {
    let mut req = with_auth(
        pb::VerifyClientCredentialsRequest {
            client_id: client_id.to_owned(),
            client_secret: secret.to_owned(),
        },
        Some(&r.token_with_scope("token-endpoint", VERIFY_SCOPE)),
        None,
    );
    req.set_timeout(Duration::from_millis(700));
    match r.client().await.verify_client_credentials(req).await {
        Ok(resp) => Ok(resp.into_inner().valid),
        Err(e) => Err(e.code()),
    }
}

async fn get_briefly(r: &TestApp, sub: &str, id: &str) -> Result<(), Code> {
    let mut req = r.req(pb::GetApplicationRequest { id: id.to_owned() }, sub, ORG);
    req.set_timeout(Duration::from_millis(700));
    r.client()
        .await
        .get_application(req)
        .await
        .map(|_| ())
        .map_err(|e| e.code())
}

#[tokio::test]
async fn a_black_holed_replica_is_slower_never_stale() {
    let a = setup().await;
    let hole = BlackHole::to(upstream(&a)).await;
    let b = replica_through(&a, &hole).await;
    let created = a.create_app("owner", ORG, "Billing").await;
    let app = created.application.unwrap();
    let secret = created.client_secret;
    for _ in 0..2 {
        assert!(b.verify(&app.client_id, &secret).await.valid);
        assert!(b.get("reader", ORG, &app.id).await.is_ok());
    }
    // Every connection of b's (its pool, its listener, its feed reader) is
    // open and silent from now on.
    hole.hold(true);
    a.rotate("owner", ORG, &app.id, 0).await.unwrap();
    a.remove_member(ORG, "reader").await;
    let committed = Instant::now();
    let mut answers = Vec::new();
    while answers.len() < 3 {
        let at = committed.elapsed();
        let verified = verify_briefly(&b, &app.client_id, &secret).await;
        let read = get_briefly(&b, "reader", &app.id).await;
        if at >= BOUND {
            assert_ne!(
                verified,
                Ok(true),
                "stale yes to a revoked secret at {at:?}"
            );
            assert_ne!(read, Ok(()), "stale yes to a removed member at {at:?}");
            answers.push((verified, read));
        }
    }
    for (verified, read) in answers {
        for code in [verified.err(), read.err()].into_iter().flatten() {
            // tonic's own grpc-timeout answers CANCELLED when it fires
            // before the store's deadline does.
            assert!(
                matches!(
                    code,
                    Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
                ),
                "a black-holed replica answers {code:?}"
            );
        }
    }
    // Released, it catches up and answers right.
    hole.hold(false);
    crate::common::eventually(
        "the replica catching up",
        Duration::from_secs(15),
        || async {
            verify_briefly(&b, &app.client_id, &secret).await == Ok(false)
                && get_briefly(&b, "reader", &app.id).await == Err(Code::PermissionDenied)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_database_restart_no_replica_answers_from_what_it_missed() {
    let own = crate::failure::own_cluster();
    let url = own.cluster.url("oauth_apps");
    let a = TestApp::spawn_on(
        TestDb::borrowed_url(url.clone()),
        Config::new(url.clone(), JWT_SECRET),
    )
    .await;
    a.set_member(ORG, "owner", Role::Owner).await;
    let b = a.replica().await;
    let created = a.create_app("owner", ORG, "Billing").await;
    let app = created.application.unwrap();
    for _ in 0..2 {
        assert!(b.verify(&app.client_id, &created.client_secret).await.valid);
    }
    let cluster = own.cluster.clone();
    tokio::task::spawn_blocking(move || {
        cluster.stop().unwrap();
        cluster.start().unwrap();
    })
    .await
    .unwrap();
    // Revoked as soon as the database takes writes again, while the
    // replicas' listeners and readers are still finding their way back.
    let revoked = loop {
        match a.rotate("owner", ORG, &app.id, 0).await {
            Ok(_) => break Instant::now(),
            Err(e) => assert_eq!(e.code(), Code::Unavailable, "{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    loop {
        let at = revoked.elapsed();
        match b.try_verify(&app.client_id, &created.client_secret).await {
            Ok(r) if !r.valid => break,
            Ok(_) => assert!(at < BOUND, "stale yes {at:?} after the revocation"),
            Err(e) => assert_eq!(e.code(), Code::Unavailable, "{e:?}"),
        }
        assert!(at < BOUND * 5, "the replica never came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A DBA's psql revocations (not only the service's rotations) are changes
/// of the feed, so every replica's cache drops them within the bound.
#[tokio::test]
async fn secrets_revoked_with_psql_are_refused_by_every_replica_within_two_seconds() {
    let a = setup().await;
    let b = a.replica().await;
    let created = a.create_app("owner", ORG, "Billing").await;
    let app = created.application.unwrap();
    let old = created.client_secret;
    let new = a
        .rotate("owner", ORG, &app.id, 3600)
        .await
        .unwrap()
        .client_secret;
    for r in [&a, &b] {
        for secret in [&old, &new, &old, &new] {
            assert!(r.verify(&app.client_id, secret).await.valid);
        }
    }
    let mut conn = a.db_conn().await;
    for (sql, revoked) in [
        // The previous secret's grace, ended early.
        (
            "UPDATE client_secrets SET expire_time = now() \
             WHERE application_id = $1 AND slot = 'previous'",
            &old,
        ),
        // The current secret, deleted.
        ("DELETE FROM client_secrets WHERE application_id = $1", &new),
    ] {
        diesel::sql_query(sql)
            .bind::<diesel::sql_types::Text, _>(&app.id)
            .execute(&mut conn)
            .await
            .unwrap();
        let committed = Instant::now();
        let took = all_refuse(&[&a, &b], committed, async |r: &TestApp| {
            !r.verify(&app.client_id, revoked).await.valid
        })
        .await;
        assert!(took < BOUND, "{sql}: still verifying after {took:?}");
    }
}

/// A removed redirect URI, through one replica, stops matching on the
/// others within the bound, with their listeners cut.
#[tokio::test]
async fn a_removed_redirect_uri_stops_matching_on_every_replica_within_two_seconds() {
    use crate::authz_server::match_uri;
    let a = setup().await;
    let b = a.replica().await;
    let mut req = crate::common::web_app("Billing");
    let (kept, removed) = (
        "https://app.example.com/callback",
        "https://app.example.com/old",
    );
    req.redirect_uris.push(removed.to_owned());
    let mut c = a.client().await;
    let app = c
        .create_application(a.req(req, "owner", ORG))
        .await
        .unwrap();
    let app = app.into_inner().application.unwrap();
    for r in [&a, &b, &a, &b] {
        assert!(match_uri(r, &app.client_id, removed).await.unwrap().matched);
    }
    cut_listeners(&a).await;
    let mut changed = app.clone();
    changed.redirect_uris = vec![kept.to_owned()];
    a.update("owner", ORG, changed, &["redirect_uris"], &app.etag)
        .await
        .unwrap();
    let committed = Instant::now();
    let took = all_refuse(&[&a, &b], committed, async |r: &TestApp| {
        !match_uri(r, &app.client_id, removed).await.unwrap().matched
    })
    .await;
    assert!(
        took < BOUND,
        "a removed redirect URI matched {took:?} after"
    );
    assert!(match_uri(&b, &app.client_id, kept).await.unwrap().matched);
}

/// The sweeper's purge of an expired previous secret changes nothing
/// anyone sees: it is no change of the feed (watchers get no event).
#[tokio::test]
async fn purging_an_expired_previous_secret_is_no_change() {
    let a = setup().await;
    let created = a.create_app("owner", ORG, "Billing").await;
    let app = created.application.unwrap();
    a.rotate("owner", ORG, &app.id, 3600).await.unwrap();
    let mut conn = a.db_conn().await;
    diesel::sql_query("UPDATE client_secrets SET expire_time = now() WHERE slot = 'previous'")
        .execute(&mut conn)
        .await
        .unwrap();
    let count = "SELECT count(*) AS n FROM application_changes";
    let before = a.count(count).await;
    let purged = a
        .state
        .ops
        .db
        .run(async |c| oauth_apps::store::applications::purge_expired_secrets(c).await)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(a.count(count).await, before, "the purge recorded a change");
}
