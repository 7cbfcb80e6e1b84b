//! The change feed (contract section 9) under load: many WatchApplications
//! streams on one replica while another replica commits changes at a fixed
//! rate. Every delivered event is checked against what was written (each
//! change of a watcher's scope exactly once, in one order every watcher
//! agrees on, each application's changes in the order they were made), and
//! its commit-to-delivery latency is recorded; and the memory an idle
//! watcher costs the server.
//!
//! The watchers and the writers share the benchmark's process and the
//! machine's two cores with both replicas and PostgreSQL.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use futures_util::{StreamExt as _, stream};
use hdrhistogram::Histogram;
use oauth_apps::{
    auth::TokenIssuer,
    domain::{Role, ids::random_base62},
    proto::v1 as pb,
    store,
};
use tokio::{sync::watch, task::JoinHandle};
use tonic::Streaming;

use super::{Ctx, Out};
use crate::{
    JWT_SECRET, OWNER,
    drive::{Api, auth, channels, clients, cpu_time, rss_mib},
    server::start_server,
};

/// Organizations the watched applications are spread over.
const ORGS: usize = 10;
/// Applications of each of them that the writer changes in turn.
const APPS_PER_ORG: usize = 10;
/// Watchers of the latency run, and how many of them watch every
/// organization (the rest watch one each, spread evenly).
const WATCHERS: usize = 1000;
const ALL_ORG_WATCHERS: usize = 50;
/// Changes a second, and for how long.
const RATE: u32 = 200;
const WRITE_FOR: Duration = Duration::from_secs(30);
/// Streams per HTTP/2 connection (the server allows 256).
const STREAMS_PER_CONNECTION: usize = 125;

/// Now, in microseconds since the epoch (the watchers and the server share
/// this machine's clock).
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The applications the writer changes, as (id, organization).
pub type Apps = Arc<Vec<(String, String)>>;

/// Creates `APPS_PER_ORG` applications in each of `ORGS` fresh
/// organizations (through the API, so as a client would), the benchmark's
/// owner an OWNER of each.
pub async fn watched_apps(ctx: &Ctx<'_>) -> Apps {
    let mut conn = AsyncPgConnection::establish(ctx.database_url)
        .await
        .unwrap();
    let tag = random_base62(6).to_lowercase();
    let orgs: Vec<String> = (0..ORGS).map(|o| format!("watch-{tag}-{o}")).collect();
    for org in &orgs {
        store::memberships::set(&mut conn, org, OWNER, Role::Owner)
            .await
            .unwrap();
    }
    let mut apps = Vec::new();
    let mut api = ctx.api[0].clone();
    for a in 0..APPS_PER_ORG {
        for org in &orgs {
            let req = pb::CreateApplicationRequest {
                name: format!("watched {a}"),
                r#type: pb::ApplicationType::Web.into(),
                redirect_uris: vec!["https://watched.example.com/cb".into()],
                scopes: vec!["read:user".into()],
                ..Default::default()
            };
            let created = api
                .create_application(auth(req, &ctx.callers.owner, Some(org)))
                .await
                .unwrap()
                .into_inner();
            apps.push((created.application.unwrap().id, org.clone()));
        }
    }
    Arc::new(apps)
}

/// The organizations of `apps`, in the order they first appear.
fn orgs_of(apps: &Apps) -> Vec<String> {
    let mut orgs: Vec<String> = Vec::new();
    for (_, org) in apps.iter() {
        if !orgs.contains(org) {
            orgs.push(org.clone());
        }
    }
    orgs
}

/// One delivered change: which write it was (`seq`), when the watcher got
/// it and the event's `commit_time`, both in µs since the epoch.
#[derive(Clone, Copy)]
pub struct Delivered {
    pub seq: u32,
    /// The application's revision after the change (its etag, `v<n>`).
    pub revision: i64,
    pub received_us: i64,
    pub commit_us: i64,
}

/// What one watcher got: its scope (`None`: every organization), the
/// changes, and how its stream ended if it ended before it was stopped.
pub struct Received {
    pub org: Option<String>,
    pub events: Vec<Delivered>,
    pub other_events: u64,
    pub ended: Option<String>,
}

/// Open streams, each read by a task of its own until [`Watchers::stop`].
pub struct Watchers {
    tasks: Vec<JoinHandle<Received>>,
    stop: watch::Sender<bool>,
    api: Arc<Vec<Api>>,
    tokens: (String, String),
}

impl Watchers {
    /// Connections for up to `n` streams to the server at `url`. The owner
    /// watches organizations; a token with scope `oauthapps:watch`, all.
    pub async fn connect(ctx: &Ctx<'_>, url: &str, n: usize) -> Self {
        let chans = channels(url, n.div_ceil(STREAMS_PER_CONNECTION)).await;
        let all = TokenIssuer::hs256(JWT_SECRET.as_bytes(), None, None).mint(
            "bench-watcher",
            Some(oauth_apps::auth::WATCH_SCOPE),
            Duration::from_secs(6 * 3600),
        );
        Self {
            tasks: Vec::new(),
            stop: watch::channel(false).0,
            api: clients(&chans),
            tokens: (ctx.callers.owner.clone(), all),
        }
    }

    /// Opens `n` more streams "from now" (`all` of them on every
    /// organization, the rest spread over `orgs`); returns once every one
    /// has its position, so every change committed after this reaches them.
    pub async fn open(&mut self, n: usize, all: usize, orgs: &[String]) {
        let first = self.tasks.len();
        let opened: Vec<_> = stream::iter(first..first + n)
            .map(|i| {
                let org = (i - first >= all).then(|| orgs[i % orgs.len()].clone());
                let token = match org {
                    Some(_) => &self.tokens.0,
                    None => &self.tokens.1,
                };
                let req = auth(
                    pb::WatchApplicationsRequest::default(),
                    token,
                    org.as_deref(),
                );
                let mut api = self.api[i % self.api.len()].clone();
                async move {
                    let s = api.watch_applications(req).await.unwrap().into_inner();
                    (org, s)
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for (org, s) in opened {
            self.tasks
                .push(tokio::spawn(read(org, s, self.stop.subscribe())));
        }
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Stops reading and returns what every watcher got.
    pub async fn stop(self) -> Vec<Received> {
        self.stop.send_replace(true);
        let mut out = Vec::new();
        for t in self.tasks {
            out.push(t.await.unwrap());
        }
        out
    }
}

/// Reads one stream until told to stop.
async fn read(
    org: Option<String>,
    mut s: Streaming<pb::WatchApplicationsResponse>,
    mut stop: watch::Receiver<bool>,
) -> Received {
    let mut r = Received {
        org,
        events: Vec::new(),
        other_events: 0,
        ended: None,
    };
    loop {
        let m = tokio::select! {
            m = s.message() => m,
            _ = stop.changed() => return r,
        };
        match m {
            Ok(Some(e)) => {
                let received_us = now_us();
                let app = e.application.as_ref();
                let seq = app
                    .and_then(|a| a.description.strip_prefix("watch "))
                    .and_then(|s| s.parse().ok());
                let revision = app
                    .and_then(|a| a.etag.strip_prefix('v'))
                    .and_then(|s| s.parse().ok());
                match (seq, revision, e.commit_time) {
                    (Some(seq), Some(revision), Some(t))
                        if e.r#type() == pb::ChangeType::Updated =>
                    {
                        let commit_us = t.seconds * 1_000_000 + i64::from(t.nanos) / 1000;
                        r.events.push(Delivered {
                            seq,
                            revision,
                            received_us,
                            commit_us,
                        });
                    }
                    _ => r.other_events += 1,
                }
            }
            Ok(None) => {
                return Received {
                    ended: Some("ended".into()),
                    ..r
                };
            }
            Err(e) => {
                return Received {
                    ended: Some(e.to_string()),
                    ..r
                };
            }
        }
    }
}

/// The writes: for each `seq`, when its UpdateApplication returned (µs
/// since the epoch), or `None` if it failed.
pub struct Written {
    pub returned_us: Vec<Option<i64>>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

/// Open loop: `rate` UpdateApplications a second for `duration`, each
/// setting the description of `apps[seq % apps.len()]` to `watch <seq>`,
/// sent on time whether or not the earlier ones have answered.
pub async fn write_changes(
    api: Arc<Vec<Api>>,
    owner: &str,
    apps: &Apps,
    rate: u32,
    duration: Duration,
) -> Written {
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let started = Instant::now();
    let mut calls = Vec::with_capacity(total);
    for seq in 0..total {
        tick.tick().await;
        let (id, org) = apps[seq % apps.len()].clone();
        let mut cl = api[seq % api.len()].clone();
        let req = pb::UpdateApplicationRequest {
            application: Some(pb::Application {
                id,
                description: format!("watch {seq}"),
                ..Default::default()
            }),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec!["description".into()],
            }),
            etag: String::new(),
        };
        let req = auth(req, owner, Some(&org));
        calls.push(tokio::spawn(async move {
            cl.update_application(req).await.map(|_| now_us())
        }));
    }
    let mut w = Written {
        returned_us: Vec::with_capacity(total),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for c in calls {
        match c.await.unwrap() {
            Ok(t) => w.returned_us.push(Some(t)),
            Err(e) => {
                w.errors += 1;
                w.first_error.get_or_insert(e.to_string());
                w.returned_us.push(None);
            }
        }
    }
    w.elapsed = started.elapsed();
    w
}

/// What the check of every watcher against the writes found.
#[derive(Default, Debug)]
pub struct Check {
    /// Changes of their scope the watchers should have got, all together.
    pub expected: u64,
    pub delivered: u64,
    pub missing: u64,
    pub duplicated: u64,
    /// Delivered to a watcher of another organization.
    pub foreign: u64,
    /// An application's change delivered after a later one of it (its
    /// revision not above the one delivered before).
    pub out_of_order: u64,
    /// Watchers whose order differs from the others' (all-organization
    /// watchers against the first; organization watchers against the
    /// first's, filtered to their organization).
    pub differing_order: u64,
    /// Streams that ended before they were stopped.
    pub ended: u64,
}

impl Check {
    pub fn clean(&self) -> bool {
        self.missing
            + self.duplicated
            + self.foreign
            + self.out_of_order
            + self.differing_order
            + self.ended
            == 0
    }
}

/// Checks every watcher's changes against the successful writes.
pub fn check(got: &[Received], written: &Written, apps: &Apps) -> Check {
    let org_of = |seq: u32| &apps[seq as usize % apps.len()].1;
    let reference: Option<Vec<u32>> = got
        .iter()
        .find(|r| r.org.is_none())
        .map(|r| r.events.iter().map(|e| e.seq).collect());
    let mut c = Check::default();
    for r in got {
        let in_scope = |seq: u32| r.org.as_ref().is_none_or(|o| o == org_of(seq));
        let expected: HashSet<u32> = (0..written.returned_us.len() as u32)
            .filter(|&s| written.returned_us[s as usize].is_some() && in_scope(s))
            .collect();
        let mut seen = HashSet::new();
        let mut last_of_app = BTreeMap::new();
        for e in &r.events {
            if !seen.insert(e.seq) {
                c.duplicated += 1;
            }
            if !in_scope(e.seq) {
                c.foreign += 1;
            }
            let app = e.seq as usize % apps.len();
            if last_of_app
                .insert(app, e.revision)
                .is_some_and(|l| l >= e.revision)
            {
                c.out_of_order += 1;
            }
        }
        c.expected += expected.len() as u64;
        c.delivered += r.events.len() as u64;
        c.missing += expected.difference(&seen).count() as u64;
        c.ended += u64::from(r.ended.is_some());
        if let Some(reference) = &reference {
            let mine: Vec<u32> = r.events.iter().map(|e| e.seq).collect();
            let theirs: Vec<u32> = reference.iter().copied().filter(|&s| in_scope(s)).collect();
            c.differing_order += u64::from(mine != theirs);
        }
    }
    c
}

/// Commit-to-delivery latencies of every delivered change, in µs: from the
/// event's `commit_time` (written in the change's transaction, just before
/// its commit), and from the moment its UpdateApplication returned (after
/// the commit; a delivery that beat the response counts as 0 and is
/// counted in the third value).
pub fn latencies(got: &[Received], written: &Written) -> (Histogram<u64>, Histogram<u64>, u64) {
    let mut from_commit = Histogram::<u64>::new(3).unwrap();
    let mut from_return = Histogram::<u64>::new(3).unwrap();
    let mut before_return = 0;
    for e in got.iter().flat_map(|r| &r.events) {
        from_commit
            .record((e.received_us - e.commit_us).max(0) as u64)
            .unwrap();
        if let Some(Some(ret)) = written.returned_us.get(e.seq as usize) {
            let d = e.received_us - ret;
            before_return += u64::from(d < 0);
            from_return.record(d.max(0) as u64).unwrap();
        }
    }
    (from_commit, from_return, before_return)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// What the latency run measured.
struct LatencyRun {
    written: Written,
    check: Check,
    from_commit: Histogram<u64>,
    from_return: Histogram<u64>,
    before_return: u64,
    /// The watching replica's CPU seconds over the writes, and its RSS
    /// before and after them.
    cpu_s: f64,
    rss: (f64, f64),
}

/// `--only watch`: `WATCHERS` streams on one fresh replica, `RATE` changes
/// a second for `WRITE_FOR` through another.
pub async fn watch_latency(ctx: &Ctx<'_>, out: &mut Out) {
    let apps = watched_apps(ctx).await;
    let orgs = orgs_of(&apps);
    let (watched, _) = start_server(ctx.opts, ctx.database_url, &[]).await;
    let (writer, _) = start_server(ctx.opts, ctx.database_url, &[]).await;
    let mut watchers = Watchers::connect(ctx, &watched.url, WATCHERS).await;
    watchers.open(WATCHERS, ALL_ORG_WATCHERS, &orgs).await;
    let pid = watched.pid();
    let (rss_before, cpu_before) = (rss_mib(pid), cpu_time(pid));
    eprintln!(
        "  {} watchers open; writing {RATE}/s for {WRITE_FOR:?}",
        watchers.len()
    );
    let api = clients(&channels(&writer.url, 2).await);
    let written = write_changes(api, &ctx.callers.owner, &apps, RATE, WRITE_FOR).await;
    // The last changes' delivery, well past the one second allowed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu = cpu_before.zip(cpu_time(pid));
    let rss_after = rss_mib(pid);
    let got = watchers.stop().await;
    let (from_commit, from_return, before_return) = latencies(&got, &written);
    let run = LatencyRun {
        check: check(&got, &written, &apps),
        written,
        from_commit,
        from_return,
        before_return,
        cpu_s: cpu.map_or(f64::NAN, |(a, b)| (b - a).as_secs_f64()),
        rss: (
            rss_before.unwrap_or(f64::NAN),
            rss_after.unwrap_or(f64::NAN),
        ),
    };
    eprintln!(
        "  commit→delivery p50 {:.1} ms p99 {:.1} ms max {:.1} ms; {:?}",
        ms(&run.from_commit, 0.5),
        ms(&run.from_commit, 0.99),
        run.from_commit.max() as f64 / 1000.0,
        run.check
    );
    out.report.push_str(&latency_report(&run));
    out.target(
        "WatchApplications commit→delivery p99 (s), from commit_time",
        ms(&run.from_commit, 0.99) / 1000.0,
        "≤ 1 s",
    );
}

fn latency_row(name: &str, h: &Histogram<u64>) -> String {
    format!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
        h.len(),
        ms(h, 0.5),
        ms(h, 0.99),
        ms(h, 0.999),
        h.max() as f64 / 1000.0
    )
}

fn latency_report(r: &LatencyRun) -> String {
    let w = &r.written;
    let committed = w.returned_us.len() as u64 - w.errors;
    let c = &r.check;
    let verdict = if c.clean() {
        "every watcher got every change of its scope exactly once, in order"
    } else {
        "NOT CLEAN"
    };
    format!(
        "\n## Change feed: {WATCHERS} watchers ({ALL_ORG_WATCHERS} of every organization, the rest of one of {ORGS} each), \
         {RATE} changes/s for {WRITE_FOR:?} through another replica\n\n\
         Writes: {committed} committed in {:.1} s ({:.0}/s), {} failed{}.\n\n\
         | latency to delivery | events | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|\n{}{}\n\
         {} deliveries came before their write's response. Check ({verdict}): {c:?}.\n\
         Watching replica: {:.1} s of CPU over the writes ({:.1} µs an event delivered); RSS {:.1} MiB before the writes, {:.1} after.\n",
        w.elapsed.as_secs_f64(),
        committed as f64 / w.elapsed.as_secs_f64(),
        w.errors,
        w.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
        latency_row("from the event's commit_time", &r.from_commit),
        latency_row("from the UpdateApplication's return", &r.from_return),
        r.before_return,
        r.cpu_s,
        r.cpu_s * 1e6 / c.delivered.max(1) as f64,
        r.rss.0,
        r.rss.1,
    )
}

/// `--only watch-memory`: a fresh replica's RSS with 0, `n`/2 and `n` idle
/// watchers (a median of five samples over a second, after two seconds of
/// rest each time).
pub async fn watch_memory(ctx: &Ctx<'_>, out: &mut Out) {
    const N: usize = 2000;
    let apps = watched_apps(ctx).await;
    let orgs = orgs_of(&apps);
    let (server, _) = start_server(ctx.opts, ctx.database_url, &[]).await;
    let mut watchers = Watchers::connect(ctx, &server.url, N).await;
    let mut rss = vec![settled_rss(server.pid()).await];
    for _ in 0..2 {
        watchers.open(N / 2, ALL_ORG_WATCHERS, &orgs).await;
        rss.push(settled_rss(server.pid()).await);
    }
    let got = watchers.stop().await;
    let ended = got.iter().filter(|r| r.ended.is_some()).count();
    let per_all = (rss[2] - rss[0]) * 1024.0 / N as f64;
    let per_second_half = (rss[2] - rss[1]) * 1024.0 / (N / 2) as f64;
    out.report.push_str(&format!(
        "\n## Change feed: memory of idle watchers\n\n\
         A fresh replica; idle watchers over {} HTTP/2 connections ({STREAMS_PER_CONNECTION} streams each), \
         opened {} at a time, {ALL_ORG_WATCHERS} of each batch on every organization, the rest on one of {ORGS}: \
         RSS {:.1} MiB with none, {:.1} with {}, {:.1} with {N} ({ended} streams ended early). \
         Per watcher: {per_all:.1} KiB averaged over all {N}, {per_second_half:.1} KiB for the second {}.\n",
        N.div_ceil(STREAMS_PER_CONNECTION),
        N / 2,
        rss[0],
        rss[1],
        N / 2,
        rss[2],
        N / 2,
    ));
    out.target(
        "RSS per idle watcher (KiB), 2,000 watchers",
        per_all,
        "≤ 64 KiB",
    );
    eprintln!(
        "  RSS {rss:?} MiB: {per_all:.1} KiB a watcher ({per_second_half:.1} for the second half)"
    );
}

/// The median of five RSS samples, 200 ms apart, after two seconds of rest.
async fn settled_rss(pid: u32) -> f64 {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut s = Vec::new();
    for _ in 0..5 {
        s.extend(rss_mib(pid));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}
