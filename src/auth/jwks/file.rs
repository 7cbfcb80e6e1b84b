//! A JWKS file, re-read by a background task when it changes.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use anyhow::Context as _;

use super::{KeySet, Snapshot, TaskGuard};

/// How often a JWKS file is checked for changes.
pub const JWKS_RECHECK: Duration = Duration::from_secs(1);

pub(crate) struct FileJwks {
    path: PathBuf,
    keys: Arc<Snapshot>,
    /// Times a changed file was read, usable or not.
    reloads: Arc<AtomicU64>,
    _watcher: TaskGuard,
}

/// What tells a rewritten file from the one last read. The length catches
/// most rewrites within one tick of a coarse modification clock.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    }
}

fn read(path: &Path) -> anyhow::Result<(KeySet, Stamp)> {
    let bytes = crate::config::read_setting_file("OAUTH_APPS_JWKS_FILE", path)?;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("reading OAUTH_APPS_JWKS_FILE {}", path.display()))?;
    let set = super::parse(&bytes)
        .with_context(|| format!("parsing OAUTH_APPS_JWKS_FILE {}", path.display()))?;
    Ok((set, stamp(&meta)))
}

impl FileJwks {
    /// Reads the file (which must hold at least one usable key) and starts
    /// watching it. Needs a Tokio runtime.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        let (set, stamp) = read(path)?;
        anyhow::ensure!(
            !set.is_empty(),
            "JWKS file {} holds no RS256, ES256 or EdDSA signing key",
            path.display()
        );
        let keys = Arc::new(Snapshot::new(set));
        let reloads = Arc::new(AtomicU64::new(0));
        let watcher = tokio::spawn(watch(path.to_owned(), stamp, keys.clone(), reloads.clone()));
        Ok(Self {
            path: path.to_owned(),
            keys,
            reloads,
            _watcher: TaskGuard(watcher),
        })
    }

    pub(crate) fn keys(&self) -> Arc<KeySet> {
        self.keys.load()
    }

    pub(crate) fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Checks the file every [`JWKS_RECHECK`] and swaps in its keys when it
/// changed. A file that turns unreadable or invalid (say, caught mid-write)
/// keeps the last good keys, and is read again once it changes again.
async fn watch(path: PathBuf, mut seen: Stamp, keys: Arc<Snapshot>, reloads: Arc<AtomicU64>) {
    // The stamp of a file that failed, so a broken file is reported once,
    // not every second.
    let mut failed = None;
    let mut ticks = tokio::time::interval(JWKS_RECHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        // A stat, and rarely a read of a small file: off the runtime's
        // threads all the same, as a slow disk must not stall calls.
        let stat_path = path.clone();
        let current = tokio::task::spawn_blocking(move || std::fs::metadata(stat_path))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|m| stamp(&m));
        let Some(current) = current.filter(|c| *c != seen && Some(*c) != failed) else {
            continue;
        };
        reloads.fetch_add(1, Ordering::Relaxed);
        let read_path = path.clone();
        match tokio::task::spawn_blocking(move || read(&read_path)).await {
            Ok(Ok((set, stamp))) => {
                tracing::info!(path = %path.display(), keys = set.len(), kids = ?set.kids(), "JWKS file reloaded");
                keys.store(set);
                seen = stamp;
                failed = None;
            }
            Ok(Err(e)) => {
                failed = Some(current);
                tracing::warn!(error = %format!("{e:#}"), "JWKS file unusable; keeping the previous keys");
            }
            Err(e) => tracing::warn!(error = %e, "JWKS file read did not finish"),
        }
    }
}
