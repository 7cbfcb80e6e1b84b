//! WatchApplications' delivery under load (`--only watch`): many
//! streams on one replica while another commits changes at a fixed rate.
//! Every delivered event is checked against what was written: each change
//! of a watcher's scope exactly once, in one order every watcher agrees on,
//! each application's changes in the order they were committed (its
//! revisions rising); and its commit-to-delivery latency is recorded.

use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};

use hdrhistogram::Histogram;

use super::{
    Ctx, Out,
    watch::{
        ALL_ORG_WATCHERS, Apps, ORGS, Received, Watchers, Written, orgs_of, watched_apps,
        write_changes,
    },
};
use crate::{
    drive::{channels, clients, cpu_time, rss_mib},
    server::start_server,
};

/// Watchers of the latency run (`ALL_ORG_WATCHERS` of them on every
/// organization, the rest on one each, spread evenly).
const WATCHERS: usize = 1000;
/// Changes a second, and for how long.
const RATE: u32 = 200;
const WRITE_FOR: Duration = Duration::from_secs(30);

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
