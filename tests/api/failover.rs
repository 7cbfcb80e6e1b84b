//! Failover (contract section 10): a primary and a synchronous streaming
//! standby of the test's own, two replicas of the service on a
//! `DATABASE_URL` naming both hosts with `target_session_attrs=read-write`,
//! writes going on through both while the primary dies (`pg_ctl stop -m
//! immediate`) and the standby is promoted. Every error meanwhile is
//! UNAVAILABLE, both replicas write again within 10 s of the promotion, and
//! every acknowledged write is there afterwards, whole.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use diesel::{QueryableByName, sql_query, sql_types::BigInt};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use oauth_apps::{Config, domain::Role, proto::v1 as pb};
use tonic::Code;

use crate::{
    common::{JWT_SECRET, TestApp, TestDb, eventually, web_app, with_auth},
    failure::TempDir,
    pgcluster::{self, LocalCluster},
};

const ORG: &str = "org-failover";
/// The standby's name, in `synchronous_standby_names` and its conninfo.
const STANDBY: &str = "standby1";
/// What the contract allows between the promotion and serving writes.
const SERVE_WITHIN: Duration = Duration::from_secs(10);

/// A primary with a synchronous standby streaming from it, in a folder of
/// the test's own; both are stopped and the folder removed at the end.
struct Pair {
    primary: LocalCluster,
    standby: LocalCluster,
    password: String,
    ports: (u16, u16),
    _dir: TempDir,
}

impl Drop for Pair {
    fn drop(&mut self) {
        for cluster in [&self.primary, &self.standby] {
            if cluster.is_running() {
                let _ = pg(cluster_bin(), "pg_ctl")
                    .arg("stop")
                    .arg("-D")
                    .arg(cluster.data_dir())
                    .args(["-w", "-m", "immediate"])
                    .status();
            }
        }
    }
}

fn cluster_bin() -> PathBuf {
    pgcluster::find_bin_dir(
        std::env::var_os("OAUTH_APPS_PG_BIN")
            .as_deref()
            .map(Path::new),
    )
    .unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// One of PostgreSQL's programs, as the `postgres` user when we are root
/// (the server refuses to run as root), as [`LocalCluster`] runs them.
fn pg(bin: PathBuf, program: &str) -> Command {
    let path = bin.join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// An empty folder for a cluster's data, the server's user's own.
fn data_folder(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    if is_root() {
        let mut chown = Command::new("chown");
        chown.arg("postgres:").arg(path);
        run(chown, "chown");
    }
    let mut chmod = Command::new("chmod");
    chmod.arg("700").arg(path);
    run(chmod, "chmod");
}

/// The primary (replication allowed from 127.0.0.1 with the password, its
/// commits waiting for [`STANDBY`]), then the standby, made with
/// `pg_basebackup -R -X stream` and started; returns once the primary
/// reports it as its synchronous standby.
fn start_pair() -> Pair {
    let dir = std::env::temp_dir().join(format!(
        "oauth-apps-failover-{}-{}",
        std::process::id(),
        oauth_apps::domain::ids::random_base62(8)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    run(
        {
            let mut c = Command::new("chmod");
            c.arg("755").arg(&dir);
            c
        },
        "chmod",
    );
    let dir = TempDir(dir);
    let password = oauth_apps::domain::ids::random_base62(24);
    let ports = (
        pgcluster::free_port().unwrap(),
        pgcluster::free_port().unwrap(),
    );
    let primary =
        LocalCluster::new(dir.0.join("primary"), ports.0, password.clone(), None).unwrap();
    primary.init().unwrap();
    append(
        &primary.data_dir().join("pg_hba.conf"),
        "host replication postgres 127.0.0.1/32 scram-sha-256\n",
    );
    append(
        &primary.data_dir().join("postgresql.conf"),
        &format!("synchronous_standby_names = '{STANDBY}'\n"),
    );
    primary.start().unwrap();

    let standby_dir = dir.0.join("standby");
    data_folder(&standby_dir);
    let mut backup = pg(cluster_bin(), "pg_basebackup");
    backup
        .arg("-D")
        .arg(&standby_dir)
        .args(["-R", "-X", "stream", "--checkpoint=fast", "-d"])
        .arg(format!(
            "host=127.0.0.1 port={} user=postgres application_name={STANDBY}",
            ports.0
        ))
        // Through the environment (runuser passes it on), so it shows in
        // no command line.
        .env("PGPASSWORD", &password);
    run(backup, "pg_basebackup");
    // Once promoted, the standby stands alone: its own commits must not
    // wait for a standby of its own (a real deployment points this at the
    // next standby it gets).
    append(
        &standby_dir.join("postgresql.conf"),
        "synchronous_standby_names = ''\n",
    );
    let standby = LocalCluster::new(standby_dir, ports.1, password.clone(), None).unwrap();
    standby.start().unwrap();
    Pair {
        primary,
        standby,
        password,
        ports,
        _dir: dir,
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(url: &str, sql: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    diesel_async::RunQueryDsl::get_result::<Count>(sql_query(sql), &mut conn)
        .await
        .unwrap()
        .n
}

impl Pair {
    /// The service's `DATABASE_URL`: both hosts, the writable one wanted.
    fn service_url(&self) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{},127.0.0.1:{}/oauth_apps?target_session_attrs=read-write",
            self.password, self.ports.0, self.ports.1
        )
    }

    async fn wait_for_sync_standby(&self) {
        let url = self.primary.url("postgres");
        eventually(
            "the standby to stream synchronously",
            Duration::from_secs(20),
            || async {
                count(
                    &url,
                    &format!(
                        "SELECT count(*) AS n FROM pg_stat_replication \
                         WHERE application_name = '{STANDBY}' AND sync_state = 'sync' \
                         AND state = 'streaming'"
                    ),
                )
                .await
                    == 1
            },
        )
        .await;
    }

    /// `pg_ctl stop -m immediate` on the primary: a crash, no shutdown
    /// checkpoint, sessions cut.
    fn crash_primary(&self) {
        let mut stop = pg(cluster_bin(), "pg_ctl");
        stop.arg("stop")
            .arg("-D")
            .arg(self.primary.data_dir())
            .args(["-w", "-m", "immediate"]);
        run(stop, "pg_ctl stop -m immediate");
    }

    fn promote_standby(&self) {
        let mut promote = pg(cluster_bin(), "pg_ctl");
        promote
            .arg("promote")
            .arg("-D")
            .arg(self.standby.data_dir())
            .args(["-w", "-t", "60"]);
        run(promote, "pg_ctl promote");
    }
}

/// What one write (CreateApplication) came to, through which replica.
#[derive(Debug)]
struct Outcome {
    replica: usize,
    sent: Instant,
    done: Instant,
    result: Result<pb::CreateApplicationResponse, Code>,
}

type Log = Arc<Mutex<Vec<Outcome>>>;

/// Creates applications through `app` one after another until `stop`,
/// logging every outcome.
async fn writer(app: Arc<TestApp>, replica: usize, name: String, log: Log, stop: Arc<AtomicBool>) {
    let mut client = app.client().await;
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let mut req = app.req(web_app(&format!("{name}-{i}")), "owner", ORG);
        // A hang would show as DEADLINE_EXCEEDED, which fails the test.
        req.set_timeout(Duration::from_secs(15));
        let sent = Instant::now();
        let result = client
            .create_application(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| s.code());
        log.lock().unwrap().push(Outcome {
            replica,
            sent,
            done: Instant::now(),
            result,
        });
    }
}

/// Whether `log` holds at least `n` acknowledged writes through each
/// replica that were sent after `after`.
fn acked_since(log: &Log, after: Instant, n: usize) -> bool {
    let log = log.lock().unwrap();
    (0..2).all(|r| {
        log.iter()
            .filter(|o| o.replica == r && o.sent >= after && o.result.is_ok())
            .count()
            >= n
    })
}

/// Every application of [`ORG`], read through `app`, page by page.
async fn all_apps(app: &TestApp) -> Vec<pb::Application> {
    let mut apps = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .list(
                "owner",
                ORG,
                pb::ListApplicationsRequest {
                    page_size: 1000,
                    page_token,
                    show_deleted: false,
                },
            )
            .await
            .unwrap();
        apps.extend(page.applications);
        if page.next_page_token.is_empty() {
            return apps;
        }
        page_token = page.next_page_token;
    }
}

/// What a watcher of [`ORG`] saw: the applications created, in order, the
/// last resume token, and how its stream ended (if it did).
#[derive(Debug, Default)]
struct Seen {
    created: Vec<String>,
    last_token: String,
    /// The server answered the call: changes from here on are streamed.
    started: bool,
    ended: Option<Code>,
}

type Watched = Arc<Mutex<Seen>>;

/// Follows WatchApplications through `app` from `resume_token`, in the
/// background, into the returned [`Seen`].
fn watch(app: Arc<TestApp>, resume_token: String) -> Watched {
    let seen = Watched::default();
    let into = seen.clone();
    tokio::spawn(async move {
        let req = pb::WatchApplicationsRequest {
            resume_token,
            initial_snapshot: false,
        };
        let mut client = app.client().await;
        let mut events = match client.watch_applications(app.req(req, "owner", ORG)).await {
            Ok(r) => {
                into.lock().unwrap().started = true;
                r.into_inner()
            }
            Err(status) => return into.lock().unwrap().ended = Some(status.code()),
        };
        loop {
            let next = events.message().await;
            let mut seen = into.lock().unwrap();
            match next {
                Ok(Some(e)) => {
                    if e.r#type() == pb::ChangeType::Created {
                        seen.created.push(e.application.unwrap().id);
                    }
                    seen.last_token = e.resume_token;
                }
                Ok(None) => return seen.ended = Some(Code::Ok),
                Err(status) => return seen.ended = Some(status.code()),
            }
        }
    });
    seen
}

/// Whether the watchers together saw every application in `acked`.
fn saw_all(parts: &[&[String]], acked: &[String]) -> bool {
    let seen: std::collections::HashSet<&String> = parts.iter().flat_map(|p| p.iter()).collect();
    acked.iter().all(|id| seen.contains(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_primary_dies_the_promoted_standby_serves_and_no_acknowledged_write_is_lost() {
    let pair = tokio::task::spawn_blocking(start_pair).await.unwrap();
    pair.wait_for_sync_standby().await;
    let url = pair.service_url();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let config = Config::new(url.clone(), JWT_SECRET);
        replicas.push(Arc::new(
            TestApp::spawn_on(TestDb::borrowed_url(url.clone()), config).await,
        ));
    }
    replicas[0].set_member(ORG, "owner", Role::Owner).await;
    let live = watch(replicas[0].clone(), String::new());
    eventually("the watch to start", Duration::from_secs(10), || async {
        live.lock().unwrap().started
    })
    .await;

    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let replica = w % 2;
            tokio::spawn(writer(
                replicas[replica].clone(),
                replica,
                format!("w{w}"),
                log.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    eventually(
        "writes through both replicas",
        Duration::from_secs(20),
        || async { acked_since(&log, started, 5) },
    )
    .await;

    eventually(
        "the watch to see writes",
        Duration::from_secs(10),
        || async { live.lock().unwrap().created.len() >= 5 },
    )
    .await;
    let (before_crash, token_at_crash) = {
        let seen = live.lock().unwrap();
        (seen.created.clone(), seen.last_token.clone())
    };
    let crashed_at = Instant::now();
    let p = Arc::new(pair);
    let crash = p.clone();
    tokio::task::spawn_blocking(move || crash.crash_primary())
        .await
        .unwrap();
    // The outage is seen by both before the standby takes over.
    eventually(
        "both replicas to refuse writes",
        Duration::from_secs(10),
        || async {
            let log = log.lock().unwrap();
            (0..2).all(|r| {
                log.iter()
                    .any(|o| o.replica == r && o.sent > crashed_at && o.result.is_err())
            })
        },
    )
    .await;
    let promote = p.clone();
    tokio::task::spawn_blocking(move || promote.promote_standby())
        .await
        .unwrap();
    let promoted_at = Instant::now();
    eventually("both replicas to write again", SERVE_WITHIN, || async {
        acked_since(&log, promoted_at, 1)
    })
    .await;
    eventually(
        "more writes on the new primary",
        Duration::from_secs(20),
        || async { acked_since(&log, promoted_at, 5) },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    let log = std::mem::take(&mut *log.lock().unwrap());
    check_outcomes(&log, crashed_at, promoted_at);
    check_every_acknowledged_write_is_whole(&replicas, &log, &p).await;
    let sample = verify_sample(&log, crashed_at, promoted_at);
    check_secrets_verify(&replicas[1], &sample).await;

    // Watchers miss nothing acknowledged: one resumed on the other replica
    // from the last token seen before the crash, and the live one (resumed
    // where it stopped, if its stream ended).
    let acked: Vec<String> = log
        .iter()
        .filter_map(|o| Some(o.result.as_ref().ok()?.application.as_ref()?.id.clone()))
        .collect();
    let resumed = watch(replicas[1].clone(), token_at_crash);
    let (live_seen, live_end) = {
        let seen = live.lock().unwrap();
        (seen.created.clone(), seen.ended)
    };
    assert!(
        matches!(live_end, None | Some(Code::Unavailable)),
        "the live watch ended with {live_end:?}"
    );
    let live_rest = match live_end {
        None => live.clone(),
        Some(_) => {
            let token = live.lock().unwrap().last_token.clone();
            watch(replicas[0].clone(), token)
        }
    };
    eventually(
        "the watchers to see every acknowledged write",
        Duration::from_secs(10),
        || async {
            let (resumed, rest) = (resumed.lock().unwrap(), live_rest.lock().unwrap());
            saw_all(&[&before_crash, &resumed.created], &acked)
                && saw_all(&[&live_seen, &rest.created], &acked)
        },
    )
    .await;
    let resumed = resumed.lock().unwrap();
    eprintln!(
        "failover: the live watch {}; {} changes seen before the crash, {} after resuming",
        live_end.map_or("went on".to_owned(), |c| format!("ended with {c:?}")),
        before_crash.len(),
        resumed.created.len()
    );
    let mut once: Vec<_> = before_crash.iter().chain(&resumed.created).collect();
    let all = once.len();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), all, "a change delivered twice");
}

/// Every error is UNAVAILABLE; reports the numbers.
fn check_outcomes(log: &[Outcome], crashed_at: Instant, promoted_at: Instant) {
    let errors: Vec<_> = log.iter().filter_map(|o| o.result.as_ref().err()).collect();
    assert!(
        errors.iter().all(|c| **c == Code::Unavailable),
        "errors other than UNAVAILABLE: {errors:?}"
    );
    let back: Vec<Duration> = (0..2)
        .map(|r| {
            log.iter()
                .filter(|o| o.replica == r && o.sent >= promoted_at && o.result.is_ok())
                .map(|o| o.done - promoted_at)
                .min()
                .unwrap()
        })
        .collect();
    assert!(back.iter().all(|b| *b < SERVE_WITHIN), "{back:?}");
    let acked = log.iter().filter(|o| o.result.is_ok()).count();
    eprintln!(
        "failover: {acked} writes acknowledged, {} UNAVAILABLE; promotion {:?} after the crash; \
         writes acknowledged again {back:?} after the promotion",
        errors.len(),
        promoted_at - crashed_at,
    );
}

/// Every acknowledged application is on the new primary, through both
/// replicas, and has its secret: the secret shown at creation verifies.
async fn check_every_acknowledged_write_is_whole(
    replicas: &[Arc<TestApp>],
    log: &[Outcome],
    pair: &Pair,
) {
    let acked: Vec<&pb::CreateApplicationResponse> =
        log.iter().filter_map(|o| o.result.as_ref().ok()).collect();
    for replica in replicas {
        let present: std::collections::HashMap<String, pb::Application> = all_apps(replica)
            .await
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        for created in &acked {
            let app = created.application.as_ref().unwrap();
            let found = present
                .get(&app.id)
                .unwrap_or_else(|| panic!("acknowledged {} ({}) was lost", app.id, app.name));
            assert_eq!(found.client_id, app.client_id);
        }
    }
    // No application without its secret, acknowledged or not.
    let url = pair.standby.url("oauth_apps");
    let orphans = count(
        &url,
        "SELECT count(*) AS n FROM applications a WHERE NOT EXISTS \
         (SELECT 1 FROM client_secrets s WHERE s.application_id = a.id)",
    )
    .await;
    assert_eq!(orphans, 0, "applications without a secret");
}

/// The last writes acknowledged before the crash and the first after the
/// promotion: their secrets are checked (argon2 makes checking all slow).
fn verify_sample(
    log: &[Outcome],
    crashed_at: Instant,
    promoted_at: Instant,
) -> Vec<&pb::CreateApplicationResponse> {
    let before = log
        .iter()
        .filter(|o| o.done < crashed_at)
        .filter_map(|o| o.result.as_ref().ok());
    let after = log
        .iter()
        .filter(|o| o.sent > promoted_at)
        .filter_map(|o| o.result.as_ref().ok());
    let mut sample: Vec<_> = before.rev().take(2).collect();
    sample.extend(after.take(2));
    assert_eq!(sample.len(), 4);
    sample
}

/// The secret shown at creation verifies through `app`: the application
/// was written whole.
async fn check_secrets_verify(app: &TestApp, sample: &[&pb::CreateApplicationResponse]) {
    let token = app.token_with_scope("token-endpoint", "oauthapps:verify");
    for created in sample {
        let app_pb = created.application.as_ref().unwrap();
        let verdict = app
            .client()
            .await
            .verify_client_credentials(with_auth(
                pb::VerifyClientCredentialsRequest {
                    client_id: app_pb.client_id.clone(),
                    client_secret: created.client_secret.clone(),
                },
                Some(&token),
                None,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(verdict.valid, "{}: {verdict:?}", app_pb.id);
    }
}
