//! The closed-loop load driver: workers that each send the next call when
//! the last one answered, HDR histograms of their latencies, the server's
//! CPU time and memory read from `/proc`, and the client side of a call.

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use oauth_apps::proto::OAuthApplicationsClient;
use tonic::{Request, metadata::MetadataValue, transport::Channel};

use crate::Opts;

/// CPU time (user and system) a process used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
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
pub fn rss_mib(pid: u32) -> Option<f64> {
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

pub fn auth<T>(msg: T, token: &str, org: Option<&str>) -> Request<T> {
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
pub struct Stats {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub peak_rss_mib: Option<f64>,
    /// The server's CPU time (user + system) per call, in microseconds.
    pub server_cpu_us: Option<f64>,
}

impl Stats {
    pub fn row(&self) -> String {
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

/// What the workers and the driver share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    measuring: AtomicBool,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// The measured window: its length, the server's CPU time in it and the
/// server's peak RSS.
struct Window {
    elapsed: Duration,
    cpu: Option<Duration>,
    peak: Option<f64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap()
}

/// Closed loop: `concurrency` workers each send the next request as soon as
/// the last one answered, for `duration` after a `warmup`. An `Err` counts
/// as an error.
pub async fn drive<F, Fut>(
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
    let shared = Arc::new(Shared::default());
    let first_call = {
        use std::hash::BuildHasher as _;
        std::collections::hash_map::RandomState::new().hash_one(name) % (1 << 32)
    };
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (op, shared) = (op.clone(), shared.clone());
        workers.push(tokio::spawn(async move {
            worker(w, first_call, op, &shared).await
        }));
    }
    let window = measure(opts, pid, &shared).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut total = histogram();
    for w in workers {
        total.add(w.await.unwrap()).unwrap();
    }
    if let Some(e) = shared.first_error.lock().unwrap().take() {
        eprintln!("  {name}: first error: {e}");
    }
    summarize(name, &total, shared.errors.load(Ordering::Relaxed), window)
}

/// One worker of [`drive`]: calls until told to stop, recording only while
/// the driver measures.
async fn worker<F, Fut>(w: usize, first_call: u64, op: F, shared: &Shared) -> Histogram<u64>
where
    F: Fn(usize, u64) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut h = histogram();
    // Every workload starts its calls somewhere else, so that none
    // re-reads what an earlier one left in the server's caches.
    let mut i = first_call;
    while !shared.stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let r = op(w, i).await;
        i += 1;
        if shared.measuring.load(Ordering::Relaxed) {
            match r {
                Ok(()) => h.saturating_record(t.elapsed().as_micros() as u64),
                Err(e) => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    shared.first_error.lock().unwrap().get_or_insert(e);
                }
            }
        }
    }
    h
}

/// Waits out the warm-up, then measures for `duration`, sampling the
/// server's RSS every 100 ms.
async fn measure(opts: &Opts, pid: Option<u32>, shared: &Shared) -> Window {
    tokio::time::sleep(opts.warmup).await;
    shared.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let cpu_before = pid.and_then(cpu_time);
    let mut peak: Option<f64> = None;
    while started.elapsed() < opts.duration {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(rss) = pid.and_then(rss_mib) {
            peak = Some(peak.map_or(rss, |p: f64| p.max(rss)));
        }
    }
    shared.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu = cpu_before.zip(pid.and_then(cpu_time)).map(|(a, b)| b - a);
    Window { elapsed, cpu, peak }
}

fn summarize(name: &str, total: &Histogram<u64>, errors: u64, window: Window) -> Stats {
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    let stats = Stats {
        name: name.to_owned(),
        requests: total.len(),
        errors,
        rps: total.len() as f64 / window.elapsed.as_secs_f64(),
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        peak_rss_mib: window.peak,
        server_cpu_us: window
            .cpu
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
pub async fn channels(url: &str, n: usize) -> Vec<Channel> {
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

pub type Api = OAuthApplicationsClient<Channel>;

pub fn clients(chans: &[Channel]) -> Arc<Vec<Api>> {
    Arc::new(
        chans
            .iter()
            .cloned()
            .map(OAuthApplicationsClient::new)
            .collect(),
    )
}

pub fn ok<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| e.to_string())
}

/// A call that answered, and answered yes (`answer` picks the yes out of
/// the response); a no counts as an error named `no`.
pub fn yes<T>(
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
