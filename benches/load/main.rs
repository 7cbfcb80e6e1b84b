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
//! VerifyClientAssertion, Client ID Metadata Documents (MatchRedirectUri
//! of a cached document client, 1,000 lookups of an uncached one), a
//! verification spray (what keeps working, and how reads fare), OTLP export
//! to a live collector, the HTTP/JSON door next to gRPC, clients
//! registering themselves (RFC 7591), the revocation window across
//! replicas, what hostile JSON bodies cost in memory, memory and start-up;
//! the change feed (1,000 watchers' delivery, an idle watcher's memory,
//! the feed's reads per change, writes with and without it) and three
//! replicas next to one.
//! Results go to `--out` (markdown) and the terminal.

// The tests' HTTPS server of metadata documents.
#[path = "../../tests/api/doc_server.rs"]
#[allow(dead_code)]
mod doc_server;
mod drive;
mod hostile;
mod seed;
mod server;
mod workloads;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use clap::Parser;
use diesel_async::AsyncPgConnection;
use oauth_apps::{
    auth::TokenIssuer,
    proto::{OAuthApplicationsClient, v1 as pb},
};

use crate::{
    drive::{Stats, auth, channels, rss_mib},
    seed::{Database, Seed, seeded_id},
    server::{Server, Wiretap, start_server},
    workloads::{Ctx, Out, Reads, additive},
};

const JWT_SECRET: &str = "benchmark-secret-0123456789abcdef0123456789";
const OWNER: &str = "bench-owner";
const BIG_ORG: &str = "big";
const AUDIENCE: &str = "https://as.bench.example";

/// Counts the in-process server's allocations (`hostile`); off otherwise.
#[global_allocator]
static ALLOC: hostile::Counting = hostile::Counting;

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
        ["get", "list", "verify", "create", "wrong", "match", "assertion", "spray", "otlp", "http", "register", "hostile", "documents",
         "watch", "watch-memory", "feed-reads", "feed-writes", "fleet", "revocation"]
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
    /// A directory for the servers' logs (one file a server); default: none.
    #[arg(long)]
    server_logs: Option<std::path::PathBuf>,
    // `cargo bench` passes `--bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Opts {
    fn wants(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == workload)
    }
}

/// The tokens of the callers the benchmark plays.
struct Callers {
    /// OWNER of every seeded organization.
    owner: String,
    /// A token endpoint (scope `oauthapps:verify`).
    verifier: String,
    /// The spray's caller, with a verify scope of its own.
    sprayer: String,
}

impl Callers {
    fn mint() -> Self {
        let issuer = TokenIssuer::hs256(JWT_SECRET.as_bytes(), None, None);
        let six_hours = Duration::from_secs(6 * 3600);
        Self {
            owner: issuer.mint(OWNER, None, six_hours),
            verifier: issuer.mint("token-endpoint", Some("oauthapps:verify"), six_hours),
            sprayer: issuer.mint("relay", Some("oauthapps:verify"), six_hours),
        }
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut sizes = opts.apps.clone();
    sizes.sort_unstable();
    sizes.dedup();
    eprintln!(
        "oauth-apps benchmark: {cores} cores, {} in flight over {} connections, {:?} a workload, sizes {sizes:?}",
        opts.concurrency, opts.connections, opts.duration
    );
    let db = Database::create().await;
    let mut conn = db.connect().await;
    let callers = Callers::mint();

    // One secret for every seeded app, minted with the database's checksum
    // key (start a server once so that the key exists). That first server
    // also shows the SQL of a Get, for pgbench.
    let mut orgs_with_owner = BTreeSet::new();
    let get_sql = get_sql(&opts, &db.url, &mut conn, &callers, &mut orgs_with_owner).await;
    let seed_data = Seed::mint(&mut conn).await;

    let mut out = Out::default();
    out.report.push_str(&format!(
        "# Benchmark results\n\n{cores} cores; {} in flight over {} HTTP/2 connections; {:?} per workload after {:?} of warm-up.\n\n",
        opts.concurrency, opts.connections, opts.duration, opts.warmup
    ));
    let env = Env {
        opts: &opts,
        database_url: &db.url,
        callers: &callers,
        cores,
        get_sql: &get_sql,
    };
    let grown = grow(&env, &mut conn, &seed_data, &sizes, orgs_with_owner).await;
    out.report.push_str(&reads_report(&grown.growth));
    let idle_rss = at_largest(&env, &grown, &mut out).await;
    let memory = startup_and_memory(&env, grown, &out.more, idle_rss).await;
    out.report.push_str(&tail_report(&out, memory));
    eprintln!("\n{}", out.report);
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&opts.out, &out.report).unwrap();
    eprintln!("written to {}", opts.out.display());
    drop(conn);
    db.drop_database().await;
}

/// The SQL a GetApplication runs on a cache miss (`$1` the organization,
/// `$2` the id), exactly as the server sends it to PostgreSQL: read off the
/// wire ([`Wiretap`]) while a server answers one Get, from the statement
/// whose Bind carried that Get's organization and id. pgbench then runs the
/// very same statement for the database's side of the ceiling, and the
/// library needs no public function for it. PostgreSQL's own views fit
/// less well: `pg_stat_activity.query` holds each backend's latest
/// statement, cut without a word at `track_activity_query_size` (1 kB by
/// default; this SELECT is about 1,000 bytes, so one more column would cut
/// it), and which backend's latest is the Get's would be guessed from its
/// shape; `pg_stat_statements` needs a preloaded library and
/// `log_statement` the server's log file. The service logs its
/// dependencies (tokio-postgres, which logs what it prepares) at `info` at
/// most.
async fn get_sql(
    opts: &Opts,
    database_url: &str,
    conn: &mut AsyncPgConnection,
    callers: &Callers,
    orgs_with_owner: &mut BTreeSet<String>,
) -> String {
    // Reading needs a member: the large organization gets its owner now
    // rather than when seeded.
    seed::add_owner(conn, BIG_ORG, orgs_with_owner).await;
    let wiretap = Wiretap::start(database_url).await;
    let (server, _) = start_server(opts, &wiretap.url(database_url), &[]).await;
    let id = seeded_id(0);
    let mut api = OAuthApplicationsClient::new(channels(&server.url, 1).await.remove(0));
    // Nothing is seeded yet: NOT_FOUND, once the SELECT has run.
    let request = pb::GetApplicationRequest { id: id.clone() };
    let _ = api
        .get_application(auth(request, &callers.owner, Some(BIG_ORG)))
        .await;
    drop(server);
    wiretap
        .statement_run_with(&[BIG_ORG, &id])
        .expect("the server ran no statement with a Get's organization and id")
}

/// What every size runs with.
struct Env<'a> {
    opts: &'a Opts,
    database_url: &'a str,
    callers: &'a Callers,
    cores: usize,
    /// The SELECT of a Get on a cache miss (see [`get_sql`]).
    get_sql: &'a str,
}

impl<'a> Env<'a> {
    async fn ctx(&self, server: &'a Server, apps: usize) -> Ctx<'a> {
        Ctx::connect(
            self.opts,
            server,
            self.database_url,
            apps,
            self.callers,
            self.cores,
        )
        .await
    }
}

/// The reads at each size, and the server left running on the largest.
struct Grown {
    growth: Vec<(usize, Reads)>,
    server: Server,
    apps: usize,
}

/// Seeds each size in turn, starts a server on it and measures the reads.
async fn grow(
    env: &Env<'_>,
    conn: &mut AsyncPgConnection,
    seed_data: &Seed,
    sizes: &[usize],
    mut orgs_with_owner: BTreeSet<String>,
) -> Grown {
    let opts = env.opts;
    let mut growth = Vec::new();
    let mut seeded = 0;
    let mut last_server = None;
    for &apps in sizes {
        eprintln!("seeding to {apps} applications");
        let t = Instant::now();
        seed::seed(conn, seed_data, seeded, apps).await;
        seeded = apps;
        seed::add_owners(conn, apps, &mut orgs_with_owner).await;
        eprintln!("  seeded in {:.1} s", t.elapsed().as_secs_f64());
        drop(last_server.take());
        let (server, _) = start_server(opts, env.database_url, &[]).await;
        let hot_client = format!("client{:0>20}", 3);
        if ["get", "list", "verify"].iter().any(|w| opts.wants(w)) {
            let ctx = env.ctx(&server, apps).await;
            let secret = seed_data.secret.expose();
            let reads = workloads::measure_reads(&ctx, &hot_client, secret, env.get_sql).await;
            growth.push((apps, reads));
        }
        last_server = Some(server);
    }
    Grown {
        growth,
        server: last_server.expect("at least one size"),
        apps: seeded,
    }
}

/// The reads' tables: each next to its ceiling, and every row in full.
fn reads_report(growth: &[(usize, Reads)]) -> String {
    let mut report = String::new();
    report.push_str("## Reads as the registry grows\n\n");
    report.push_str("Each read next to its ceiling: the same server's health Check, pgbench of Get's own SELECT (prepared), and their additive ceiling `1 / (1/health + 1/SELECT)`.\n\n");
    report.push_str("| apps | health rps | SELECT tps | additive ceiling | Get rps (÷ ceiling) | Get p99 ms | List p1 rps | List p400 rps (÷ p1) | List p400 p99 ms | Verify hot rps (÷ ceiling) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (n, r) in growth {
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
    for (n, r) in growth {
        for s in reads_of(r) {
            let mut s = s.clone();
            s.name = format!("{} ({n} apps)", s.name);
            report.push_str(&s.row());
            report.push('\n');
        }
    }
    report
}

fn reads_of(r: &Reads) -> [&Stats; 5] {
    [
        &r.health,
        &r.get,
        &r.list_first,
        &r.list_deep,
        &r.verify_hot,
    ]
}

/// Everything else, at the largest size; returns the server's RSS at rest
/// after the reads.
async fn at_largest(env: &Env<'_>, grown: &Grown, out: &mut Out) -> Option<f64> {
    let (opts, apps) = (env.opts, grown.apps);
    let ctx = env.ctx(&grown.server, apps).await;
    let idle_get = grown.growth.last().map(|(_, r)| &r.get);
    if let Some((_, r)) = grown.growth.last() {
        let ceiling = additive(r.health.rps, r.select_tps);
        out.target(
            "GetApplication ÷ additive ceiling",
            r.get.rps / ceiling,
            "≥ 0.85",
        );
        out.target(
            "VerifyClientCredentials (hot) ÷ additive ceiling",
            r.verify_hot.rps / ceiling,
            "≥ 0.85",
        );
        out.target(
            format!("ListApplications page 400 ÷ page 1 ({apps} apps)"),
            r.list_deep.rps / r.list_first.rps,
            "≥ 0.8",
        );
    }
    let idle_rss = rss_mib(grown.server.pid());
    if opts.wants("create") {
        workloads::create(&ctx, idle_get, out).await;
    }
    if opts.wants("wrong") {
        workloads::wrong(&ctx, out).await;
    }
    if opts.wants("match") {
        workloads::match_redirect(&ctx, out).await;
    }
    if opts.wants("assertion") {
        workloads::assertion(&ctx, out).await;
    }
    if opts.wants("spray") {
        workloads::spray(&ctx, idle_get, out).await;
    }
    if opts.wants("otlp") {
        workloads::otlp(&ctx, out).await;
    }
    if opts.wants("http") {
        workloads::http(&ctx, out).await;
    }
    if opts.wants("documents") {
        workloads::documents(&ctx, out).await;
    }
    if opts.wants("register") {
        workloads::register(&ctx, out).await;
    }
    if opts.wants("revocation") {
        workloads::revocation(&ctx, out).await;
    }
    if opts.wants("hostile") {
        hostile::hostile(env.database_url, &env.callers.owner, out).await;
    }
    workloads::change_feed(&ctx, out).await;
    idle_rss
}

/// The memory and start-up figures.
struct Memory {
    apps: usize,
    /// RSS of a fresh server, idle (median of three).
    fresh: f64,
    /// Peak RSS over every workload.
    peak: f64,
    /// RSS at rest after the reads.
    idle: Option<f64>,
    /// Process start to SERVING (median of three).
    startup: Duration,
}

/// Stops the largest size's server, then starts three fresh ones on the
/// largest database: start-up and idle memory, medians of three.
async fn startup_and_memory(
    env: &Env<'_>,
    grown: Grown,
    more: &[Stats],
    idle: Option<f64>,
) -> Memory {
    let mut startups = Vec::new();
    drop(grown.server);
    let mut fresh_rss = Vec::new();
    for _ in 0..3 {
        let (s, t) = start_server(env.opts, env.database_url, &[]).await;
        startups.push(t);
        fresh_rss.extend(rss_mib(s.pid()));
        drop(s);
    }
    fresh_rss.sort_by(f64::total_cmp);
    startups.sort();
    let peak = more
        .iter()
        .chain(
            grown
                .growth
                .iter()
                .flat_map(|(_, r)| [&r.get, &r.list_first, &r.list_deep, &r.verify_hot]),
        )
        .filter_map(|s| s.peak_rss_mib)
        .fold(0.0f64, f64::max);
    Memory {
        apps: grown.apps,
        fresh: fresh_rss.get(fresh_rss.len() / 2).copied().unwrap_or(0.0),
        peak,
        idle,
        startup: startups[1],
    }
}

/// The other workloads' rows, the targets, and memory and start-up.
fn tail_report(out: &Out, m: Memory) -> String {
    let apps = m.apps;
    let mut report = format!(
        "\n## Other workloads ({apps} apps)\n\n| workload | requests | rps | p50 ms | p99 ms | p99.9 ms | errors | server CPU µs/call | server RSS peak MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for s in &out.more {
        report.push_str(&s.row());
        report.push('\n');
    }
    report.push_str("\n## Targets\n\n| target | measured | wanted |\n|---|---:|---|\n");
    for (name, v, want) in &out.targets {
        report.push_str(&format!("| {name} | {v:.2} | {want} |\n"));
    }
    report.push_str(&format!(
        "| server RSS idle (fresh) / peak | {:.1} / {:.1} MiB | 40 / 256 MiB (kept) |\n| server RSS at rest after the reads (application cache filled) | {:.1} MiB | (the cache's budget: `OAUTH_APPS_CACHE_MIB`, 64) |\n| process start to SERVING ({apps} apps, median of 3) | {} ms | 300 ms (kept) |\n",
        m.fresh,
        m.peak,
        m.idle.unwrap_or(0.0),
        m.startup.as_millis()
    ));
    report
}
