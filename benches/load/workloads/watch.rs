//! The change feed's (contract section 9) watchers and writers, shared by
//! its workloads (`delivery.rs`, `feed_cost.rs`): applications in
//! organizations of their own, WatchApplications streams read by a task
//! each, UpdateApplications at a fixed rate; and the memory an idle watcher
//! costs the server (`--only watch-memory`).
//!
//! The watchers and the writers share the benchmark's process and the
//! machine's two cores with the replicas and PostgreSQL.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use futures_util::{StreamExt as _, stream};
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
    drive::{Api, auth, channels, clients, rss_mib},
    server::start_server,
};

/// Organizations the watched applications are spread over.
pub const ORGS: usize = 10;
/// Applications of each of them that the writer changes in turn.
const APPS_PER_ORG: usize = 10;
/// Of each batch of watchers opened, how many watch every organization
/// (the rest watch one each, spread evenly).
pub const ALL_ORG_WATCHERS: usize = 50;
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
pub fn orgs_of(apps: &Apps) -> Vec<String> {
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
