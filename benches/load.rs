//! The shipped benchmark: closed-loop load against the real server (the
//! release binary), with the ceilings it is measured against taken in the
//! same run, on the same cores.
//!
//! ```sh
//! cargo bench --bench load                                  # 1,000 apps
//! cargo bench --bench load -- --apps 1000,10000,100000,1000000
//! cargo bench --bench load -- --only match,spray --duration 10s
//! ```
//!
//! Each size is seeded straight through SQL (one large organization of a
//! fifth of the apps, the rest in organizations of 1,000), and measured:
//! GetApplication, ListApplications page 1 and page 400 of the large
//! organization, and VerifyClientCredentials of a hot client, each next to
//! the additive ceiling `1 / (1/health Check + 1/pgbench of Get's SELECT)`.
//! At the largest size it also measures creates against argon2's capacity,
//! reads during creates, wrong secrets, MatchRedirectUri,
//! VerifyClientAssertion, a verification spray (what keeps working, and how
//! reads fare), OTLP export to a live collector, memory and start-up.
//! Results go to `--out` (markdown) and the terminal.

use std::{
    future::Future,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use diesel::sql_query;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use hdrhistogram::Histogram;
use oauth_apps::{
    auth::TokenIssuer,
    domain::{ClientSecret, Role, ids::random_base62},
    proto::{OAuthApplicationsClient, v1 as pb},
    store,
};
use tonic::{Request, metadata::MetadataValue, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const JWT_SECRET: &str = "benchmark-secret-0123456789abcdef0123456789";
const OWNER: &str = "bench-owner";
const BIG_ORG: &str = "big";
const AUDIENCE: &str = "https://as.bench.example";

#[derive(Parser, Debug, Clone)]
#[command(about = "Load benchmark of oauth-apps (see BENCHMARKS.md)")]
struct Opts {
    /// Application counts to measure at, ascending, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    apps: Vec<usize>,
    /// Requests in flight (closed loop).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// HTTP/2 connections the requests are spread over.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Measured time of each workload.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    duration: Duration,
    /// Unmeasured time before each workload.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    warmup: Duration,
    /// Only these workloads, comma separated. `get`, `list` and `verify`
    /// each run all three reads, with their ceilings.
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(
        ["get", "list", "verify", "create", "wrong", "match", "assertion", "spray", "otlp"]
    ))]
    only: Vec<String>,
    /// The markdown report.
    #[arg(long, default_value = "target/bench/results.md")]
    out: std::path::PathBuf,
    /// Calls in flight of the verification spray.
    #[arg(long, default_value_t = 250)]
    spray: usize,
    /// The server binary to run (for profiling a build with frame pointers);
    /// default: the release build of this tree.
    #[arg(long)]
    server_bin: Option<std::path::PathBuf>,
    /// RUST_LOG of the servers. `info` (the default, as in production)
    /// writes one log line per call (to /dev/null here) and enables the spans
    /// that OTLP exports.
    #[arg(long, default_value = "info")]
    log: String,
    // `cargo bench` passes `--bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Opts {
    fn wants(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == workload)
    }
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn db_url(name: &str) -> String {
    let mut u = url::Url::parse(&admin_url()).unwrap();
    u.set_path(&format!("/{name}"));
    u.to_string()
}

/// CPU time (user and system) a process used so far.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which is in parentheses, and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(Duration::from_secs_f64(
        ticks as f64 / per_second.max(1) as f64,
    ))
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn pid(&self) -> u32 {
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
async fn start_server(opts: &Opts, database_url: &str, env: &[(&str, &str)]) -> (Server, Duration) {
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
    loop {
        if let Ok(ch) = Channel::from_shared(url.clone()).unwrap().connect().await {
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
    (Server { child, url }, started.elapsed())
}

fn auth<T>(msg: T, token: &str, org: Option<&str>) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    if let Some(org) = org {
        r.metadata_mut()
            .insert("x-organization-id", MetadataValue::try_from(org).unwrap());
    }
    r
}

#[derive(Clone, Debug)]
struct Stats {
    name: String,
    requests: u64,
    errors: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    peak_rss_mib: Option<f64>,
    /// The server's CPU time (user + system) per call, in microseconds.
    server_cpu_us: Option<f64>,
}

impl Stats {
    fn row(&self) -> String {
        format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            self.name,
            self.requests,
            self.rps,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.errors,
            self.server_cpu_us
                .map_or("n/a".into(), |c| format!("{c:.0}")),
            self.peak_rss_mib
                .map_or("n/a".into(), |m| format!("{m:.1}"))
        )
    }
}

/// Closed loop: `concurrency` workers each send the next request as soon as
/// the last one answered, for `duration` after a `warmup`. An `Err` counts
/// as an error.
async fn drive<F, Fut>(
    name: &str,
    opts: &Opts,
    concurrency: usize,
    pid: Option<u32>,
    op: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let first_call = {
        use std::hash::BuildHasher as _;
        std::collections::hash_map::RandomState::new().hash_one(name) % (1 << 32)
    };
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let op = op.clone();
        let (stop, measuring, errors, first_error) = (
            stop.clone(),
            measuring.clone(),
            errors.clone(),
            first_error.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            // Every workload starts its calls somewhere else, so that none
            // re-reads what an earlier one left in the server's caches.
            let mut i = first_call;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = op(w, i).await;
                i += 1;
                if measuring.load(Ordering::Relaxed) {
                    match r {
                        Ok(()) => h.saturating_record(t.elapsed().as_micros() as u64),
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert(e);
                        }
                    }
                }
            }
            h
        }));
    }
    tokio::time::sleep(opts.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let cpu_before = pid.and_then(cpu_time);
    let mut peak: Option<f64> = None;
    while started.elapsed() < opts.duration {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(rss) = pid.and_then(rss_mib) {
            peak = Some(peak.map_or(rss, |p: f64| p.max(rss)));
        }
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu = cpu_before.zip(pid.and_then(cpu_time)).map(|(a, b)| b - a);
    stop.store(true, Ordering::Relaxed);
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for w in workers {
        total.add(w.await.unwrap()).unwrap();
    }
    if let Some(e) = first_error.lock().unwrap().take() {
        eprintln!("  {name}: first error: {e}");
    }
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    let stats = Stats {
        name: name.to_owned(),
        requests: total.len(),
        errors: errors.load(Ordering::Relaxed),
        rps: total.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        peak_rss_mib: peak,
        server_cpu_us: cpu
            .filter(|_| !total.is_empty())
            .map(|c| c.as_secs_f64() * 1e6 / total.len() as f64),
    };
    eprintln!(
        "  {:<44} {:>8.0} rps  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  errors {}",
        stats.name, stats.rps, stats.p50_ms, stats.p99_ms, stats.p999_ms, stats.errors
    );
    stats
}

/// `n` HTTP/2 connections, as a real client pool would hold.
async fn channels(url: &str, n: usize) -> Vec<Channel> {
    let mut out = Vec::new();
    for _ in 0..n.max(1) {
        out.push(
            Channel::from_shared(url.to_owned())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    out
}

/// The seeded app that worker `w`'s `i`th call reads: a stride prime to
/// every size, so each worker walks all apps before it repeats one, and the
/// workers start apart.
fn spread(w: usize, i: u64, apps: usize) -> usize {
    (w * 7919 + i as usize * 104_729) % apps
}

/// Worker `w`'s `i`th GetApplication of a seeded app (see [`spread`]).
fn get_seeded(
    api: &[Api],
    token: &str,
    apps: usize,
    w: usize,
    i: u64,
) -> impl Future<Output = Result<(), String>> + Send + use<> {
    let mut cl = api[w % api.len()].clone();
    let n = spread(w, i, apps);
    let req = auth(
        pb::GetApplicationRequest { id: seeded_id(n) },
        token,
        Some(&seeded_org(n)),
    );
    async move { ok(cl.get_application(req).await) }
}

/// The seeded applications: `app_` + the number, zero-padded, so that ids
/// (and pgbench) can be computed.
fn seeded_id(i: usize) -> String {
    format!("app_{i:0>22}")
}

/// Organization of seeded app `i`: every fifth in the large one, the rest
/// in organizations of about 1,000.
fn seeded_org(i: usize) -> String {
    if i % 5 == 0 {
        BIG_ORG.into()
    } else {
        format!("org-{}", i / 1250)
    }
}

/// The one secret (and hash) every seeded app shares: hashing a million
/// secrets would take hours, and verification reads only the row it needs.
struct Seed {
    secret: ClientSecret,
    hash: String,
    hint: String,
}

/// Adds applications `from..to` in one statement per batch, with the shared
/// secret, look-alike keys and default grants, as a create would leave them.
async fn seed(conn: &mut AsyncPgConnection, seed: &Seed, from: usize, to: usize) {
    use diesel_async::RunQueryDsl as _;
    const BATCH: usize = 100_000;
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        sql_query(format!(
            "INSERT INTO applications (id, organization_id, name, app_type, redirect_uris, scopes, \
                client_id, created_by, create_time, name_key, visual_key, name_keys_version, grant_types) \
             SELECT 'app_' || lpad(i::text, 22, '0'), \
                    CASE WHEN i % 5 = 0 THEN '{BIG_ORG}' ELSE 'org-' || (i / 1250) END, \
                    'seed ' || i, 'web', ARRAY['https://app' || i || '.example.com/callback'], \
                    '{{read:user,write:user}}', 'client' || lpad(i::text, 20, '0'), '{OWNER}', \
                    now() - make_interval(secs => (10000000 - i) / 100.0), \
                    'seed ' || i, 'seed ' || i, 1, '{{authorization_code,refresh_token}}' \
             FROM generate_series({start}, {}) AS i",
            end - 1
        ))
        .execute(conn)
        .await
        .unwrap();
        sql_query(format!(
            "INSERT INTO client_secrets (application_id, slot, secret_hash, hint, checksummed) \
             SELECT 'app_' || lpad(i::text, 22, '0'), 'current', '{}', '{}', true \
             FROM generate_series({start}, {}) AS i",
            seed.hash,
            seed.hint,
            end - 1
        ))
        .execute(conn)
        .await
        .unwrap();
        start = end;
    }
    sql_query("ANALYZE applications")
        .execute(conn)
        .await
        .unwrap();
    sql_query("ANALYZE client_secrets")
        .execute(conn)
        .await
        .unwrap();
}

/// pgbench of the exact SELECT GetApplication runs on a cache miss
/// (prepared), on random seeded apps: the database's side of the ceiling.
fn pgbench_get(database_url: &str, apps: usize, opts: &Opts) -> f64 {
    let script = std::env::temp_dir().join(format!("oauth-apps-get-{}.sql", std::process::id()));
    let sql = store::applications::get_with_secrets_sql().unwrap();
    assert!(
        sql.contains("$2") && !sql.contains("$3"),
        "Get's query has changed its parameters: {sql}"
    );
    let org = format!("(CASE WHEN :n % 5 = 0 THEN '{BIG_ORG}' ELSE 'org-' || (:n / 1250) END)");
    let id = "('app_' || lpad(:n::text, 22, '0'))";
    std::fs::write(
        &script,
        format!(
            "\\set n random(0, {})\n{};\n",
            apps - 1,
            sql.replace("$1", &org).replace("$2", id)
        ),
    )
    .unwrap();
    let out = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-f"])
        .arg(&script)
        .args([
            "-c",
            &opts.concurrency.to_string(),
            "-j",
            "2",
            "-T",
            &opts.duration.as_secs().max(1).to_string(),
            database_url,
        ])
        .output()
        .expect("pgbench (PostgreSQL's) must be on PATH");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let l = l.trim_start();
            l.strip_prefix("tps = ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| {
            panic!(
                "pgbench said:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// 1 / (1/a + 1/b): what a call costing one of each would reach if the two
/// costs simply added up.
fn additive(a: f64, b: f64) -> f64 {
    1.0 / (1.0 / a + 1.0 / b)
}

/// argon2 capacity: cores ÷ the time of one hash, at its fastest (memory
/// reused, the best of three batches).
async fn argon2_capacity(cores: usize) -> (Duration, f64) {
    let per_hash = tokio::task::spawn_blocking(|| {
        let s = ClientSecret::from_presented(random_base62(47));
        let mut memory = Vec::new();
        let _ = oauth_apps::credentials::hashing::hash_in(&s, &mut memory);
        (0..3)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..10 {
                    let _ = oauth_apps::credentials::hashing::hash_in(&s, &mut memory);
                }
                t.elapsed() / 10
            })
            .min()
            .unwrap()
    })
    .await
    .unwrap();
    (per_hash, cores as f64 / per_hash.as_secs_f64())
}

type Api = OAuthApplicationsClient<Channel>;

fn clients(chans: &[Channel]) -> Arc<Vec<Api>> {
    Arc::new(
        chans
            .iter()
            .cloned()
            .map(OAuthApplicationsClient::new)
            .collect(),
    )
}

fn ok<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| e.to_string())
}

/// A call that answered, and answered yes (`answer` picks the yes out of
/// the response); a no counts as an error named `no`.
fn yes<T>(
    r: Result<tonic::Response<T>, tonic::Status>,
    answer: impl FnOnce(T) -> bool,
    no: &str,
) -> Result<(), String> {
    let r = r.map_err(|e| e.to_string())?;
    if answer(r.into_inner()) {
        Ok(())
    } else {
        Err(no.into())
    }
}

/// The reads measured at every size.
struct Reads {
    get: Stats,
    list_first: Stats,
    list_deep: Stats,
    verify_hot: Stats,
    health: Stats,
    select_tps: f64,
}

#[allow(clippy::too_many_arguments)]
async fn measure_reads(
    opts: &Opts,
    server: &Server,
    database_url: &str,
    apps: usize,
    owner: &str,
    verifier: &str,
    hot_client: &str,
    seed_secret: &str,
) -> Reads {
    let c = opts.concurrency;
    let pid = Some(server.pid());
    let chans = channels(&server.url, opts.connections).await;
    let api = clients(&chans);
    let hc: Arc<Vec<_>> = Arc::new(chans.iter().cloned().map(HealthClient::new).collect());
    let health = drive("health Check", opts, c, pid, move |w, _| {
        let mut h = hc[w % hc.len()].clone();
        async move { ok(h.check(HealthCheckRequest::default()).await) }
    })
    .await;
    let select_tps = pgbench_get(database_url, apps, opts);
    eprintln!(
        "  {:<44} {select_tps:>8.0} tps (pgbench, prepared)",
        "Get's SELECT"
    );

    let (a, t) = (api.clone(), owner.to_owned());
    let get = drive("GetApplication", opts, c, pid, move |w, i| {
        get_seeded(&a, &t, apps, w, i)
    })
    .await;

    let list = |token: String, page_token: String| {
        let a = api.clone();
        move |w: usize, _| {
            let mut cl = a[w % a.len()].clone();
            let req = auth(
                pb::ListApplicationsRequest {
                    page_size: 50,
                    page_token: page_token.clone(),
                    show_deleted: false,
                },
                &token,
                Some(BIG_ORG),
            );
            async move { ok(cl.list_applications(req).await) }
        }
    };
    let list_first = drive(
        "ListApplications page 1 (large org)",
        opts,
        c,
        pid,
        list(owner.to_owned(), String::new()),
    )
    .await;
    // Page 400 (20,000 rows in), reached by walking there once.
    let mut walker = api[0].clone();
    let mut token = String::new();
    for _ in 0..399 {
        let page = walker
            .list_applications(auth(
                pb::ListApplicationsRequest {
                    page_size: 50,
                    page_token: token.clone(),
                    show_deleted: false,
                },
                owner,
                Some(BIG_ORG),
            ))
            .await
            .unwrap()
            .into_inner();
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let deep_name = if token.is_empty() {
        "ListApplications page 400 (org too small: page 1)".to_owned()
    } else {
        "ListApplications page 400 (large org)".to_owned()
    };
    let list_deep = drive(&deep_name, opts, c, pid, list(owner.to_owned(), token)).await;

    let (a, t, id, s) = (
        api.clone(),
        verifier.to_owned(),
        hot_client.to_owned(),
        seed_secret.to_owned(),
    );
    let verify_hot = drive(
        "VerifyClientCredentials (hot)",
        opts,
        c,
        pid,
        move |w, _| {
            let mut cl = a[w % a.len()].clone();
            let req = auth(
                pb::VerifyClientCredentialsRequest {
                    client_id: id.clone(),
                    client_secret: s.clone(),
                },
                &t,
                None,
            );
            async move {
                yes(
                    cl.verify_client_credentials(req).await,
                    |r| r.valid,
                    "not valid",
                )
            }
        },
    )
    .await;
    Reads {
        get,
        list_first,
        list_deep,
        verify_hot,
        health,
        select_tps,
    }
}

/// A minimal OTLP collector: accepts traces and metrics, counts spans.
mod collector {
    use std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    };

    use opentelemetry_proto::tonic::collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    };
    use tonic::{Request, Response, Status};

    #[derive(Clone, Default)]
    pub struct Collector {
        pub spans: Arc<AtomicU64>,
    }

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            req: Request<ExportTraceServiceRequest>,
        ) -> Result<Response<ExportTraceServiceResponse>, Status> {
            let n: usize = req
                .into_inner()
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            self.spans.fetch_add(n as u64, Ordering::Relaxed);
            Ok(Response::new(ExportTraceServiceResponse::default()))
        }
    }

    #[tonic::async_trait]
    impl MetricsService for Collector {
        async fn export(
            &self,
            _req: Request<ExportMetricsServiceRequest>,
        ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
            Ok(Response::new(ExportMetricsServiceResponse::default()))
        }
    }

    /// Starts one on a free port; returns its endpoint.
    pub async fn start() -> (Collector, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let c = Collector::default();
        let (t, m) = (c.clone(), c.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(t))
                .add_service(MetricsServiceServer::new(m))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
        });
        (c, format!("http://{addr}"))
    }
}

fn main() {
    let opts = Opts::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(opts));
}

async fn run(opts: Opts) {
    use diesel_async::RunQueryDsl as _;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut sizes = opts.apps.clone();
    sizes.sort_unstable();
    sizes.dedup();
    eprintln!(
        "oauth-apps benchmark: {cores} cores, {} in flight over {} connections, {:?} a workload, sizes {sizes:?}",
        opts.concurrency, opts.connections, opts.duration
    );
    let db_name = format!("oauth_apps_bench_{}", random_base62(8).to_lowercase());
    let database_url = db_url(&db_name);
    store::ensure_database(&database_url).await.unwrap();
    store::run_migrations(&database_url).await.unwrap();
    let mut conn = AsyncPgConnection::establish(&database_url).await.unwrap();

    let issuer = TokenIssuer::hs256(JWT_SECRET.as_bytes(), None, None);
    let owner = issuer.mint(OWNER, None, Duration::from_secs(6 * 3600));
    let verifier = issuer.mint(
        "token-endpoint",
        Some("oauthapps:verify"),
        Duration::from_secs(6 * 3600),
    );
    let sprayer = issuer.mint(
        "relay",
        Some("oauthapps:verify"),
        Duration::from_secs(6 * 3600),
    );

    // One secret for every seeded app, minted with the database's checksum
    // key (start a server once so that the key exists).
    let (first, _) = start_server(&opts, &database_url, &[]).await;
    drop(first);
    #[derive(diesel::QueryableByName)]
    struct Key {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        value: Vec<u8>,
    }
    let key: Key =
        sql_query("SELECT value FROM service_settings WHERE name = 'client_secret_checksum_key'")
            .get_result(&mut conn)
            .await
            .unwrap();
    let secret = ClientSecret::generate(&oauth_apps::domain::ChecksumKey::new(key.value));
    let hash = {
        let s = secret.clone();
        tokio::task::spawn_blocking(move || {
            oauth_apps::credentials::hashing::hash_in(&s, &mut Vec::new())
        })
        .await
        .unwrap()
    };
    let seed_data = Seed {
        hint: secret.hint(),
        hash: hash.as_phc().to_owned(),
        secret,
    };
    let mut orgs_with_owner = std::collections::BTreeSet::new();

    let mut report = String::new();
    report.push_str(&format!(
        "# Benchmark results\n\n{cores} cores; {} in flight over {} HTTP/2 connections; {:?} per workload after {:?} of warm-up.\n\n",
        opts.concurrency, opts.connections, opts.duration, opts.warmup
    ));
    let mut growth = Vec::new();
    let mut seeded = 0;
    let mut last_server = None;
    for &apps in &sizes {
        eprintln!("seeding to {apps} applications");
        let t = Instant::now();
        seed(&mut conn, &seed_data, seeded, apps).await;
        seeded = apps;
        for i in [0usize, 1, 1251, apps.saturating_sub(1)] {
            let org = seeded_org(i.min(apps - 1));
            if orgs_with_owner.insert(org.clone()) {
                store::memberships::set(&mut conn, &org, OWNER, Role::Owner)
                    .await
                    .unwrap();
            }
        }
        // Every seeded org the reads touch gets the owner.
        for o in 0..=(apps / 1250) {
            let org = format!("org-{o}");
            if orgs_with_owner.insert(org.clone()) {
                store::memberships::set(&mut conn, &org, OWNER, Role::Owner)
                    .await
                    .unwrap();
            }
        }
        eprintln!("  seeded in {:.1} s", t.elapsed().as_secs_f64());
        drop(last_server.take());
        let (server, _) = start_server(&opts, &database_url, &[]).await;
        let hot_client = format!("client{:0>20}", 3);
        let reads = if ["get", "list", "verify"].iter().any(|w| opts.wants(w)) {
            Some(
                measure_reads(
                    &opts,
                    &server,
                    &database_url,
                    apps,
                    &owner,
                    &verifier,
                    &hot_client,
                    seed_data.secret.expose(),
                )
                .await,
            )
        } else {
            None
        };
        if let Some(r) = reads {
            growth.push((apps, r));
        }
        last_server = Some(server);
    }
    let server = last_server.expect("at least one size");
    let apps = seeded;

    report.push_str("## Reads as the registry grows\n\n");
    report.push_str("Each read next to its ceiling: the same server's health Check, pgbench of Get's own SELECT (prepared), and their additive ceiling `1 / (1/health + 1/SELECT)`.\n\n");
    report.push_str("| apps | health rps | SELECT tps | additive ceiling | Get rps (÷ ceiling) | Get p99 ms | List p1 rps | List p400 rps (÷ p1) | List p400 p99 ms | Verify hot rps (÷ ceiling) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (n, r) in &growth {
        let ceiling = additive(r.health.rps, r.select_tps);
        report.push_str(&format!(
            "| {n} | {:.0} | {:.0} | {:.0} | {:.0} ({:.2}) | {:.2} | {:.0} | {:.0} ({:.2}) | {:.2} | {:.0} ({:.2}) |\n",
            r.health.rps,
            r.select_tps,
            ceiling,
            r.get.rps,
            r.get.rps / ceiling,
            r.get.p99_ms,
            r.list_first.rps,
            r.list_deep.rps,
            r.list_deep.rps / r.list_first.rps,
            r.list_deep.p99_ms,
            r.verify_hot.rps,
            r.verify_hot.rps / ceiling,
        ));
    }
    report.push_str("\n| workload | requests | rps | p50 ms | p99 ms | p99.9 ms | errors | server CPU µs/call | server RSS peak MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (n, r) in &growth {
        for s in [
            &r.health,
            &r.get,
            &r.list_first,
            &r.list_deep,
            &r.verify_hot,
        ] {
            let mut s = s.clone();
            s.name = format!("{} ({n} apps)", s.name);
            report.push_str(&s.row());
            report.push('\n');
        }
    }

    // Everything else, at the largest size.
    let pid = Some(server.pid());
    let c = opts.concurrency;
    let chans = channels(&server.url, opts.connections).await;
    let api = clients(&chans);
    let mut more = Vec::new();
    let mut targets: Vec<(String, f64, String)> = Vec::new();
    if let Some((_, r)) = growth.last() {
        let ceiling = additive(r.health.rps, r.select_tps);
        targets.push((
            "GetApplication ÷ additive ceiling".into(),
            r.get.rps / ceiling,
            "≥ 0.85".into(),
        ));
        targets.push((
            "VerifyClientCredentials (hot) ÷ additive ceiling".into(),
            r.verify_hot.rps / ceiling,
            "≥ 0.85".into(),
        ));
        targets.push((
            format!("ListApplications page 400 ÷ page 1 ({apps} apps)"),
            r.list_deep.rps / r.list_first.rps,
            "≥ 0.8".into(),
        ));
    }
    let idle_rss = rss_mib(server.pid());

    if opts.wants("create") {
        let (per_hash, capacity) = argon2_capacity(cores).await;
        eprintln!(
            "  argon2id: {:.1} ms a hash, capacity {capacity:.1}/s on {cores} cores",
            per_hash.as_secs_f64() * 1000.0
        );
        let (a, t) = (api.clone(), owner.clone());
        let counter = Arc::new(AtomicUsize::new(0));
        let create_op = move |w: usize, _| {
            let mut cl = a[w % a.len()].clone();
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let req = auth(
                pb::CreateApplicationRequest {
                    name: format!("bench create {n} {}", random_base62(6)),
                    r#type: pb::ApplicationType::Web.into(),
                    redirect_uris: vec!["https://created.example.com/cb".into()],
                    scopes: vec!["read:user".into()],
                    ..Default::default()
                },
                &t,
                Some(BIG_ORG),
            );
            async move { ok(cl.create_application(req).await) }
        };
        let creates = drive("CreateApplication", &opts, c, pid, create_op.clone()).await;
        targets.push((
            "CreateApplication ÷ argon2 capacity".into(),
            creates.rps / capacity,
            "≥ 0.8 (kept)".into(),
        ));
        // Reads while creates hash.
        let creating = tokio::spawn({
            let o = opts.clone();
            let create_op = create_op.clone();
            async move { drive("(creates alongside)", &o, 4, None, create_op).await }
        });
        let (a, t) = (api.clone(), owner.clone());
        let get_busy = drive(
            "GetApplication during creates",
            &opts,
            c,
            pid,
            move |w, i| get_seeded(&a, &t, apps, w, i),
        )
        .await;
        let alongside = creating.await.unwrap();
        if let Some((_, r)) = growth.last() {
            targets.push((
                "Get p99 during creates ÷ Get p99 idle".into(),
                get_busy.p99_ms / r.get.p99_ms,
                "≤ 3".into(),
            ));
        }
        more.extend([creates, get_busy, alongside]);
        report.push_str(&format!("\nargon2id: {:.1} ms a hash (memory reused, best of three batches), so a capacity of {capacity:.1} hashes/s on {cores} cores.\n", per_hash.as_secs_f64() * 1000.0));
    }

    if opts.wants("wrong") {
        let (a, t) = (api.clone(), verifier.clone());
        let wrong = drive(
            "VerifyClientCredentials (wrong secret)",
            &opts,
            c,
            pid,
            move |w, i| {
                let mut cl = a[w % a.len()].clone();
                let req = auth(
                    pb::VerifyClientCredentialsRequest {
                        client_id: format!("client{:0>20}", (w * 31 + i as usize) % apps),
                        client_secret: format!("oas_wrong{w}x{i}"),
                    },
                    &t,
                    None,
                );
                async move { ok(cl.verify_client_credentials(req).await) }
            },
        )
        .await;
        more.push(wrong);
    }

    if opts.wants("match") {
        let (a, t) = (api.clone(), verifier.clone());
        let matched = drive("MatchRedirectUri", &opts, c, pid, move |w, i| {
            let mut cl = a[w % a.len()].clone();
            let n = spread(w, i, apps);
            let req = auth(
                pb::MatchRedirectUriRequest {
                    client_id: format!("client{n:0>20}"),
                    redirect_uri: format!("https://app{n}.example.com/callback"),
                },
                &t,
                None,
            );
            async move {
                yes(
                    cl.match_redirect_uri(req).await,
                    |r| r.matched,
                    "not matched",
                )
            }
        })
        .await;
        more.push(matched);
    }

    if opts.wants("assertion") {
        let jwk: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/jwks/ec.jwk.json")).unwrap();
        let created = api[0]
            .clone()
            .create_application(auth(
                pb::CreateApplicationRequest {
                    name: format!("bench keyed {}", random_base62(6)),
                    r#type: pb::ApplicationType::Service.into(),
                    scopes: vec!["read:user".into()],
                    token_endpoint_auth_method: pb::TokenEndpointAuthMethod::PrivateKeyJwt.into(),
                    jwks: serde_json::json!({ "keys": [jwk] }).to_string(),
                    ..Default::default()
                },
                &owner,
                Some(BIG_ORG),
            ))
            .await
            .unwrap()
            .into_inner();
        let client_id = created.application.unwrap().client_id;
        // One assertion per call (each jti is single use), signed ahead.
        let n = 60_000;
        let key =
            jsonwebtoken::EncodingKey::from_ec_pem(include_bytes!("../tests/fixtures/jwks/ec.pem"))
                .unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let assertions: Arc<Vec<String>> = Arc::new(
            (0..n)
                .map(|i| {
                    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
                    h.kid = Some("ec-1".into());
                    jsonwebtoken::encode(
                        &h,
                        &serde_json::json!({"iss": client_id, "sub": client_id, "aud": AUDIENCE,
                            "exp": now + 280, "jti": format!("bench-{i}")}),
                        &key,
                    )
                    .unwrap()
                })
                .collect(),
        );
        let next = Arc::new(AtomicUsize::new(0));
        let (a, t) = (api.clone(), verifier.clone());
        let verified = drive(
            "VerifyClientAssertion (hot key)",
            &opts,
            c,
            pid,
            move |w, _| {
                let mut cl = a[w % a.len()].clone();
                let i = next.fetch_add(1, Ordering::Relaxed);
                let assertion = assertions.get(i).cloned();
                let t = t.clone();
                async move {
                    let assertion = assertion.ok_or("ran out of signed assertions")?;
                    let req = auth(
                        pb::VerifyClientAssertionRequest {
                            client_assertion_type:
                                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                            client_assertion: assertion,
                            client_id: String::new(),
                        },
                        &t,
                        None,
                    );
                    yes(
                        cl.verify_client_assertion(req).await,
                        |r| r.valid,
                        "not valid",
                    )
                }
            },
        )
        .await;
        more.push(verified);
    }

    if opts.wants("spray") {
        let spray = spray(
            &opts,
            &server,
            apps,
            &owner,
            &verifier,
            &sprayer,
            growth.last().map(|(_, r)| &r.get),
        )
        .await;
        report.push_str(&spray.report);
        targets.extend(spray.targets);
        more.extend(spray.stats);
    }

    if opts.wants("otlp") {
        let (collector, endpoint) = collector::start().await;
        let (exporting, _) = start_server(
            &opts,
            &database_url,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_SERVICE_NAME", "oauth-apps-bench"),
            ],
        )
        .await;
        let get_on = |server_url: String| {
            let owner = owner.clone();
            async move {
                let chans = channels(&server_url, opts.connections).await;
                let a = clients(&chans);
                move |w: usize, i: u64| get_seeded(&a, &owner, apps, w, i)
            }
        };
        // A fresh server without export, like the exporting one, and the two
        // measured in the order A B B A, so that a drift of the machine's
        // speed during the four workloads weighs on both alike.
        let (plain, _) = start_server(&opts, &database_url, &[]).await;
        let on_plain = get_on(plain.url.clone()).await;
        let on_exporting = get_on(exporting.url.clone()).await;
        let mut without = Vec::new();
        let mut with = Vec::new();
        for round in ["A", "B", "B", "A"] {
            let stats = if round == "A" {
                let name = format!("GetApplication (no export, {} of 2)", without.len() + 1);
                drive(&name, &opts, c, Some(plain.pid()), on_plain.clone()).await
            } else {
                let name = format!(
                    "GetApplication (OTLP export, live collector, {} of 2)",
                    with.len() + 1
                );
                drive(&name, &opts, c, Some(exporting.pid()), on_exporting.clone()).await
            };
            if round == "A" {
                without.push(stats);
            } else {
                with.push(stats);
            }
        }
        drop(plain);
        let spans = AtomicU64::load(&collector.spans, Ordering::Relaxed);
        eprintln!("  the collector received {spans} spans");
        drop(exporting);
        // The same with head sampling, as a busy deployment would run it.
        let (sampling, _) = start_server(
            &opts,
            &database_url,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_SERVICE_NAME", "oauth-apps-bench"),
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
            ],
        )
        .await;
        let sampled = drive(
            "GetApplication (OTLP export, 10% of traces sampled)",
            &opts,
            c,
            Some(sampling.pid()),
            get_on(sampling.url.clone()).await,
        )
        .await;
        let rps = |s: &[Stats]| s.iter().map(|s| s.rps).sum::<f64>() / s.len() as f64;
        let cpu = |s: &[Stats]| {
            s.iter()
                .map(|s| s.server_cpu_us)
                .sum::<Option<f64>>()
                .map(|t| t / s.len() as f64)
        };
        targets.push((
            "Get with OTLP export of 10% of traces ÷ without".into(),
            sampled.rps / rps(&without),
            "(not a target: for comparison)".into(),
        ));
        drop(sampling);
        targets.push((
            "Get with OTLP export ÷ without (A B B A, means)".into(),
            rps(&with) / rps(&without),
            "≥ 0.9".into(),
        ));
        if let (Some(w), Some(wo)) = (cpu(&with), cpu(&without)) {
            targets.push((
                "the server's CPU per Get: without export ÷ with".into(),
                wo / w,
                "(the export's own cost, without the collector's)".into(),
            ));
        }
        report.push_str(&format!(
            "\nThe live collector received {spans} spans during the OTLP workload.\n"
        ));
        more.extend(without);
        more.extend(with);
        more.push(sampled);
    }

    // Start-up on the largest database: median of three.
    let mut startups = Vec::new();
    drop(server);
    let mut fresh_rss = Vec::new();
    for _ in 0..3 {
        let (s, t) = start_server(&opts, &database_url, &[]).await;
        startups.push(t);
        fresh_rss.extend(rss_mib(s.pid()));
        drop(s);
    }
    fresh_rss.sort_by(f64::total_cmp);
    startups.sort();
    let startup = startups[1];
    let peak = more
        .iter()
        .chain(
            growth
                .iter()
                .flat_map(|(_, r)| [&r.get, &r.list_first, &r.list_deep, &r.verify_hot]),
        )
        .filter_map(|s| s.peak_rss_mib)
        .fold(0.0f64, f64::max);

    report.push_str(&format!("\n## Other workloads ({apps} apps)\n\n| workload | requests | rps | p50 ms | p99 ms | p99.9 ms | errors | server CPU µs/call | server RSS peak MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"));
    for s in &more {
        report.push_str(&s.row());
        report.push('\n');
    }
    report.push_str("\n## Targets\n\n| target | measured | wanted |\n|---|---:|---|\n");
    for (name, v, want) in &targets {
        report.push_str(&format!("| {name} | {v:.2} | {want} |\n"));
    }
    report.push_str(&format!(
        "| server RSS idle (fresh) / peak | {:.1} / {peak:.1} MiB | 40 / 256 MiB (kept) |\n| server RSS at rest after the reads (application cache filled) | {:.1} MiB | (the cache's budget: `OAUTH_APPS_CACHE_MIB`, 64) |\n| process start to SERVING ({apps} apps, median of 3) | {} ms | 300 ms (kept) |\n",
        fresh_rss.get(fresh_rss.len() / 2).copied().unwrap_or(0.0),
        idle_rss.unwrap_or(0.0),
        startup.as_millis()
    ));
    eprintln!("\n{report}");
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&opts.out, &report).unwrap();
    eprintln!("written to {}", opts.out.display());
    drop(conn);
    let mut admin = AsyncPgConnection::establish(&admin_url()).await.unwrap();
    sql_query(format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

struct SprayResult {
    report: String,
    targets: Vec<(String, f64, String)>,
    stats: Vec<Stats>,
}

/// The attack review's verification spray: `--spray` calls in flight with
/// made-up client_ids, from a caller of its own, while legitimate work goes
/// on. What must keep working: creates, rotations, secrets nobody verified
/// before; and reads keep their latency.
async fn spray(
    opts: &Opts,
    server: &Server,
    apps: usize,
    owner: &str,
    verifier: &str,
    sprayer: &str,
    idle_get: Option<&Stats>,
) -> SprayResult {
    let pid = Some(server.pid());
    let c = opts.concurrency;
    let chans = channels(&server.url, opts.connections).await;
    let api = clients(&chans);
    // Fresh apps whose secrets no replica has verified yet.
    let mut fresh = Vec::new();
    for i in 0..12 {
        let r = api[0]
            .clone()
            .create_application(auth(
                pb::CreateApplicationRequest {
                    name: format!("spray fresh {i} {}", random_base62(6)),
                    r#type: pb::ApplicationType::Web.into(),
                    redirect_uris: vec!["https://fresh.example.com/cb".into()],
                    scopes: vec!["read:user".into()],
                    ..Default::default()
                },
                owner,
                Some(BIG_ORG),
            ))
            .await
            .unwrap()
            .into_inner();
        let a = r.application.unwrap();
        fresh.push((a.id, a.client_id, r.client_secret));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let spray_chans = channels(&server.url, 2).await;
    let mut sprayers = Vec::new();
    for w in 0..opts.spray {
        let (stop, sent) = (stop.clone(), sent.clone());
        let mut cl = OAuthApplicationsClient::new(spray_chans[w % spray_chans.len()].clone());
        let token = sprayer.to_owned();
        sprayers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let req = auth(
                    pb::VerifyClientCredentialsRequest {
                        client_id: random_base62(26),
                        client_secret: format!("oas_{}", random_base62(49)),
                    },
                    &token,
                    None,
                );
                let _ = cl.verify_client_credentials(req).await;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let sent_before = sent.load(Ordering::Relaxed);
    // Legitimate work alongside: creates, rotations, first verifications.
    let legit = {
        let api = api.clone();
        let (owner, verifier) = (owner.to_owned(), verifier.to_owned());
        tokio::spawn(async move {
            let mut cl = api[0].clone();
            let (mut created, mut rotated, mut verified) = (0, 0, 0);
            for i in 0..20 {
                let r = cl
                    .create_application(auth(
                        pb::CreateApplicationRequest {
                            name: format!("during spray {i} {}", random_base62(6)),
                            r#type: pb::ApplicationType::Web.into(),
                            redirect_uris: vec!["https://legit.example.com/cb".into()],
                            scopes: vec!["read:user".into()],
                            ..Default::default()
                        },
                        &owner,
                        Some(BIG_ORG),
                    ))
                    .await;
                created += usize::from(r.is_ok());
            }
            for (id, client_id, secret) in &fresh[..10] {
                let r = cl
                    .verify_client_credentials(auth(
                        pb::VerifyClientCredentialsRequest {
                            client_id: client_id.clone(),
                            client_secret: secret.clone(),
                        },
                        &verifier,
                        None,
                    ))
                    .await;
                verified += usize::from(r.is_ok_and(|r| r.into_inner().valid));
                let r = cl
                    .rotate_client_secret(auth(
                        pb::RotateClientSecretRequest {
                            id: id.clone(),
                            previous_secret_grace: None,
                        },
                        &owner,
                        Some(BIG_ORG),
                    ))
                    .await;
                rotated += usize::from(r.is_ok());
            }
            (created, rotated, verified)
        })
    };
    let (a, t) = (api.clone(), owner.to_owned());
    let get = drive(
        "GetApplication during the spray",
        opts,
        c,
        pid,
        move |w, i| get_seeded(&a, &t, apps, w, i),
    )
    .await;
    let (created, rotated, verified) = legit.await.unwrap();
    let spray_rps =
        (sent.load(Ordering::Relaxed) - sent_before) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for s in sprayers {
        let _ = s.await;
    }
    eprintln!(
        "  spray of {} in flight: {spray_rps:.0} rps; meanwhile creates {created}/20, rotations {rotated}/10, first verifications {verified}/10",
        opts.spray
    );
    let mut targets = vec![
        (
            "creates during the spray (succeeded)".into(),
            created as f64 / 20.0,
            "≥ 0.9".into(),
        ),
        (
            "rotations during the spray (succeeded)".into(),
            rotated as f64 / 10.0,
            "≥ 0.9".into(),
        ),
        (
            "first verifications of right secrets during the spray".into(),
            verified as f64 / 10.0,
            "≥ 0.9".into(),
        ),
    ];
    if let Some(idle) = idle_get {
        targets.push((
            "Get p50 during the spray ÷ idle p50".into(),
            get.p50_ms / idle.p50_ms,
            "≤ 3".into(),
        ));
        targets.push((
            "Get p99 during the spray ÷ idle p99".into(),
            get.p99_ms / idle.p99_ms,
            "≤ 3".into(),
        ));
    }
    let report = format!(
        "\n## Verification spray\n\n{} calls in flight of VerifyClientCredentials with made-up client_ids, from a caller of their own: {spray_rps:.0} calls/s answered. Meanwhile, one after another: 20 creates ({created} succeeded), 10 first verifications of right secrets nobody had verified ({verified} valid), 10 rotations ({rotated} succeeded), and GetApplication at full load (below).\n",
        opts.spray
    );
    SprayResult {
        report,
        targets,
        stats: vec![get],
    }
}
