//! Which `oauth-apps dev` run owns the folder's PostgreSQL: the run that
//! starts it writes its process id to `dev.pid`, and stops the server on
//! every way out (a signal, an error, a panic); a later run that finds the
//! server running while that process is gone stops the stale server first.

use std::path::{Path, PathBuf};

use super::cluster::LocalCluster;

const OWNER_FILE: &str = "dev.pid";

/// The owner file of the folder `dir`.
pub fn owner_file(dir: &Path) -> PathBuf {
    dir.join(OWNER_FILE)
}

/// Whether a live `oauth-apps dev` owns the folder's running server.
pub fn owned_by_a_live_run(dir: &Path) -> bool {
    let Some(pid) = std::fs::read_to_string(owner_file(dir))
        .ok()
        .and_then(|s| s.trim().parse::<libc::pid_t>().ok())
    else {
        return false;
    };
    if pid <= 0 || pid == std::process::id() as libc::pid_t {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A recycled process id is not our owner.
    exists
        && std::fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |cmd| {
            String::from_utf8_lossy(&cmd).contains("oauth-apps")
        })
}

/// Records this process as the owner.
pub fn claim(dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let file = owner_file(dir);
    std::fs::write(&file, std::process::id().to_string())
        .with_context(|| format!("writing {}", file.display()))
}

/// Stops the server this run started, once: explicitly with
/// [`StopOnExit::stop`], or when dropped (an early return, a panic).
pub struct StopOnExit {
    cluster: Option<LocalCluster>,
    dir: PathBuf,
}

impl StopOnExit {
    /// Guards `cluster` when this run started it; else guards nothing.
    pub fn new(cluster: Option<LocalCluster>, dir: &Path) -> Self {
        Self {
            cluster,
            dir: dir.to_owned(),
        }
    }

    /// Stops the server (off the runtime's threads).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let Some(cluster) = self.cluster.take() else {
            return Ok(());
        };
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || stop(&cluster, &dir)).await?
    }
}

fn stop(cluster: &LocalCluster, dir: &Path) -> anyhow::Result<()> {
    let stopped = cluster.stop();
    let _ = std::fs::remove_file(owner_file(dir));
    stopped
}

impl Drop for StopOnExit {
    fn drop(&mut self) {
        if let Some(cluster) = self.cluster.take() {
            if let Err(e) = stop(&cluster, &self.dir) {
                eprintln!("error: stopping the dev PostgreSQL: {e:#}");
            }
        }
    }
}

/// SIGINT, SIGTERM or SIGHUP (a closed terminal), registered now: from
/// here on, none of them kills the process before it stops its server.
pub fn stop_signals() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    })
}
