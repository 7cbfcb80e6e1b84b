//! What the change feed costs the database and the writes: how often
//! `application_changes` is read per change with few watchers and with
//! many (one reader per replica, whatever the watchers), and
//! UpdateApplication's throughput with the feed's triggers on and off.

use std::time::Duration;

use diesel::{QueryableByName, sql_query, sql_types::BigInt};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use oauth_apps::proto::v1 as pb;

use super::{
    Ctx, Out, spread,
    watch::{Watchers, watched_apps, write_changes},
};
use crate::{
    BIG_ORG, Opts,
    drive::{Stats, auth, channels, clients, cpu_time, drive, ok},
    seed::{self, Database, Seed, seeded_id, seeded_org},
    server::{Server, start_server},
};

/// Changes written in each phase of the reads' count, and how fast.
const CHANGES: u32 = 1000;
const RATE: u32 = 200;
/// Replicas reading the feed meanwhile: the one measured and the
/// benchmark's main server.
const REPLICAS: u64 = 2;
/// PostgreSQL (15) sends a session's table statistics at most once a
/// second while it works, and 10 s into its idleness at the latest: the
/// count waits that out before it reads them.
const STATS_SETTLE: Duration = Duration::from_secs(11);

/// Scans of `application_changes` so far: sequential, by index, and those
/// of the index the trigger's order check uses (`application_changes_app`).
#[derive(QueryableByName, Clone, Copy, Debug, Default)]
struct Scans {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = BigInt)]
    idx: i64,
    #[diesel(sql_type = BigInt)]
    by_app: i64,
}

async fn scans(conn: &mut AsyncPgConnection) -> Scans {
    sql_query(
        "SELECT coalesce(t.seq_scan, 0)::int8 AS seq, coalesce(t.idx_scan, 0)::int8 AS idx, \
                (SELECT coalesce(sum(i.idx_scan), 0)::int8 FROM pg_stat_user_indexes i \
                 WHERE i.indexrelname = 'application_changes_app') AS by_app \
         FROM pg_stat_user_tables t WHERE t.relname = 'application_changes'",
    )
    .get_result(conn)
    .await
    .unwrap()
}

/// One phase: `n` watchers (in all) on `server`, `CHANGES` changes through
/// the same replica, on applications of the phase's own, and the scans
/// they cost. Returns (watchers, scans, changes committed).
async fn phase(
    ctx: &Ctx<'_>,
    server: &Server,
    watchers: &mut Watchers,
    n: usize,
    conn: &mut AsyncPgConnection,
) -> (usize, Scans, u64) {
    let apps = watched_apps(ctx).await;
    let orgs: Vec<String> = apps.iter().map(|(_, o)| o.clone()).collect();
    watchers.open(n - watchers.len(), 1, &orgs).await;
    tokio::time::sleep(STATS_SETTLE).await;
    let before = scans(conn).await;
    let api = clients(&channels(&server.url, 2).await);
    let duration = Duration::from_secs(u64::from(CHANGES / RATE));
    let written = write_changes(api, &ctx.callers.owner, &apps, RATE, duration).await;
    tokio::time::sleep(STATS_SETTLE).await;
    let after = scans(conn).await;
    let committed = written.returned_us.iter().flatten().count() as u64;
    (
        watchers.len(),
        Scans {
            seq: after.seq - before.seq,
            idx: after.idx - before.idx,
            by_app: after.by_app - before.by_app,
        },
        committed,
    )
}

/// `--only feed-reads`: scans of `application_changes` while `CHANGES`
/// changes are made, with 10 watchers and then with 1,000 on the same
/// fresh replica (the only one), which makes the writes too. Each phase
/// has its own applications, so that only its changes count.
pub async fn feed_reads(ctx: &Ctx<'_>, out: &mut Out) {
    let mut conn = AsyncPgConnection::establish(ctx.database_url)
        .await
        .unwrap();
    let (server, _) = start_server(ctx.opts, ctx.database_url, &[]).await;
    let mut watchers = Watchers::connect(ctx, &server.url, 1000).await;
    let mut rows = String::new();
    let mut per_change = Vec::new();
    for n in [10, 1000] {
        let (n, s, committed) = phase(ctx, &server, &mut watchers, n, &mut conn).await;
        let reads = s.seq + s.idx - s.by_app;
        let seconds = STATS_SETTLE.as_secs() + u64::from(CHANGES / RATE);
        eprintln!("  {n} watchers: {s:?} for {committed} changes");
        rows.push_str(&format!(
            "| {n} | {committed} | {} | {} | {} | {reads} | {:.3} | {:.3} | {} |\n",
            s.seq,
            s.idx,
            s.by_app,
            reads as f64 / committed as f64,
            reads as f64 / committed as f64 / REPLICAS as f64,
            seconds * 2 * REPLICAS,
        ));
        per_change.push(reads as f64 / committed as f64);
    }
    let got = watchers.stop().await;
    let ended = got.iter().filter(|r| r.ended.is_some()).count();
    let delivered: usize = got.iter().map(|r| r.events.len()).sum();
    out.report.push_str(&format!(
        "\n## Change feed: database reads per change\n\n\
         One fresh replica takes the writes ({CHANGES} UpdateApplications at {RATE}/s a phase) and holds the watchers; \
         the benchmark's main server, without watchers, is the second of the {REPLICAS} replicas up (both read the feed). \
         Scans of `application_changes` from `pg_stat_user_tables` over each phase ({} s: the writes, and {} s for the statistics to arrive). \
         The trigger probes `application_changes_app` once per write (its order check); the rest are the feed's reads, \
         the readers' polls every 500 ms included (the last column: the polls the window would hold with no change at all).\n\n\
         | watchers | changes | seq scans | index scans | of which the trigger's | feed reads | per change | per change and replica | idle polls in the window |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n{rows}\n\
         {delivered} events delivered in all, {ended} streams ended early.\n",
        STATS_SETTLE.as_secs() + u64::from(CHANGES / RATE),
        STATS_SETTLE.as_secs(),
    ));
    out.target(
        "feed reads per change, 1,000 watchers ÷ 10 watchers",
        per_change[1] / per_change[0],
        "≈ 1 (one reader per replica)",
    );
}

/// A database of its own with 1,000 seeded applications, a server on it,
/// and the feed's triggers on or off.
async fn writes_db(opts: &Opts, feed: bool) -> (Database, Server) {
    let db = Database::create().await;
    let (server, _) = start_server(opts, &db.url, &[]).await;
    let mut conn = db.connect().await;
    let seed_data = Seed::mint(&mut conn).await;
    seed::seed(&mut conn, &seed_data, 0, 1000).await;
    let mut with_owner = Default::default();
    seed::add_owner(&mut conn, BIG_ORG, &mut with_owner).await;
    seed::add_owners(&mut conn, 1000, &mut with_owner).await;
    if !feed {
        sql_query("ALTER TABLE applications DISABLE TRIGGER applications_feed")
            .execute(&mut conn)
            .await
            .unwrap();
        sql_query("ALTER TABLE client_secrets DISABLE TRIGGER client_secrets_feed")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    (db, server)
}

/// CPU time so far of the PostgreSQL backends (local, from `/proc`) that
/// serve the database `name`: the servers' pooled connections, which stay.
fn db_cpu(name: &str) -> Duration {
    let needle = format!(" {name} ");
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let title = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let title = String::from_utf8_lossy(&title);
        if title.starts_with("postgres:") && title.contains(&needle) {
            total += cpu_time(pid).unwrap_or_default();
        }
    }
    total
}

/// Closed-loop UpdateApplication (a new description each time) of the
/// seeded applications on `server`, and the CPU time its database's
/// backends spent per call (over the warm-up and the measured window, at
/// the measured rate).
async fn updates(ctx: &Ctx<'_>, name: &str, server: &Server, db: &Database) -> (Stats, f64) {
    let api = clients(&channels(&server.url, ctx.opts.connections).await);
    let token = ctx.callers.owner.clone();
    let db_before = db_cpu(db.name());
    let t = std::time::Instant::now();
    let stats = drive(
        name,
        ctx.opts,
        ctx.opts.concurrency,
        Some(server.pid()),
        move |w, i| {
            let mut cl = api[w % api.len()].clone();
            let n = spread(w, i, 1000);
            let req = pb::UpdateApplicationRequest {
                application: Some(pb::Application {
                    id: seeded_id(n),
                    description: format!("bench {w} {i}"),
                    ..Default::default()
                }),
                update_mask: Some(pbjson_types::FieldMask {
                    paths: vec!["description".into()],
                }),
                etag: String::new(),
            };
            let req = auth(req, &token, Some(&seeded_org(n)));
            async move { ok(cl.update_application(req).await) }
        },
    )
    .await;
    let calls = stats.rps * t.elapsed().as_secs_f64();
    let db_us = (db_cpu(db.name()) - db_before).as_secs_f64() * 1e6 / calls;
    (stats, db_us)
}

/// `--only feed-writes`: UpdateApplication with the feed's triggers (on)
/// and without them (off, `ALTER TABLE .. DISABLE TRIGGER` of those two
/// only), each on a database of its own seeded alike, both servers up
/// throughout, measured on, off, off, on, off, on, on, off.
pub async fn feed_writes(ctx: &Ctx<'_>, out: &mut Out) {
    let (on_db, on) = writes_db(ctx.opts, true).await;
    let (off_db, off) = writes_db(ctx.opts, false).await;
    let mut runs: Vec<(bool, Stats, f64)> = Vec::new();
    for feed in [true, false, false, true, false, true, true, false] {
        let (name, server, db) = match feed {
            true => ("UpdateApplication, feed on", &on, &on_db),
            false => ("UpdateApplication, feed off", &off, &off_db),
        };
        let (stats, db_us) = updates(ctx, name, server, db).await;
        eprintln!("    database CPU {db_us:.0} µs a call");
        runs.push((feed, stats, db_us));
    }
    let (mut rows, mut sum) = (String::new(), [0.0f64; 2]);
    for (feed, s, db_us) in &runs {
        sum[usize::from(*feed)] += s.rps;
        rows.push_str(&format!(
            "| {} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {db_us:.0} |\n",
            if *feed { "on" } else { "off" },
            s.rps,
            s.p50_ms,
            s.p99_ms,
            s.errors,
            s.server_cpu_us.unwrap_or(f64::NAN),
        ));
    }
    let ratio = sum[1] / sum[0];
    out.report.push_str(&format!(
        "\n## Change feed: UpdateApplication with the feed and without\n\n\
         {} in flight, closed loop, {:?} each, alternated; the off database has the feed's two triggers disabled.\n\n\
         | feed | rps | p50 ms | p99 ms | errors | server CPU µs/call | database CPU µs/call |\n|---|---:|---:|---:|---:|---:|---:|\n{rows}\n\
         Sum of the on runs ÷ sum of the off runs: **{ratio:.2}**.\n",
        ctx.opts.concurrency, ctx.opts.duration,
    ));
    out.target("UpdateApplication, feed on ÷ off", ratio, "≥ 0.9");
    drop((on, off));
    on_db.drop_database().await;
    off_db.drop_database().await;
}
