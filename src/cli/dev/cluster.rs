//! A private PostgreSQL cluster in a folder of its own, driven through the
//! server's own binaries (`initdb`, `pg_ctl`): `oauth-apps dev` runs against
//! one, and tests that stop and restart a database own one.
//!
//! PostgreSQL refuses to run as root; when we are root, the cluster's folder
//! is handed to the `postgres` user and the binaries run as that user.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};

#[derive(Clone)]
pub struct LocalCluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    run_as: Option<String>,
    /// Password of the `postgres` superuser: connections over TCP need it
    /// (scram-sha-256), so other local users cannot walk in.
    password: String,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("data_dir", &self.data_dir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Where PostgreSQL's binaries are: `configured` (`OAUTH_APPS_PG_BIN`), the
/// newest `/usr/lib/postgresql/*/bin`, or `pg_config --bindir`.
pub fn find_bin_dir(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = configured {
        return Ok(dir.to_owned());
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(dir) = candidates
        .into_iter()
        .rev()
        .find(|d| d.join("initdb").exists())
    {
        return Ok(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    bail!(
        "PostgreSQL's server binaries (initdb, pg_ctl) were not found; install PostgreSQL or set OAUTH_APPS_PG_BIN"
    )
}

/// The URL of `database` in the cluster on 127.0.0.1:`port`, as its
/// superuser: `postgres://postgres:PASSWORD@127.0.0.1:PORT/DB`.
pub fn cluster_url(port: u16, password: &str, database: &str) -> String {
    let password: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
    format!("postgres://postgres:{password}@127.0.0.1:{port}/{database}")
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl LocalCluster {
    /// A cluster in `data_dir` listening on 127.0.0.1:`port`, created by
    /// [`LocalCluster::init`] when the folder is new, run with the binaries
    /// of `pg_bin` (or those [`find_bin_dir`] finds).
    pub fn new(
        data_dir: impl Into<PathBuf>,
        port: u16,
        password: impl Into<String>,
        pg_bin: Option<&Path>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            data_dir: data_dir.into(),
            bin_dir: find_bin_dir(pg_bin)?,
            port,
            run_as: is_root().then(|| "postgres".to_owned()),
            password: password.into(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/DB`
    pub fn url(&self, database: &str) -> String {
        cluster_url(self.port, &self.password, database)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin_dir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn run(&self, mut cmd: Command, what: &str) -> anyhow::Result<()> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {what}"))?;
        if !out.status.success() {
            bail!(
                "{what} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Whether the folder already holds a cluster.
    pub fn exists(&self) -> bool {
        self.data_dir.join("PG_VERSION").exists()
    }

    /// Creates the cluster (superuser `postgres` with the cluster's password,
    /// scram-sha-256 over TCP) unless it exists.
    pub fn init(&self) -> anyhow::Result<()> {
        if self.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        if let Some(user) = &self.run_as {
            self.run(
                {
                    let mut c = Command::new("chown");
                    c.arg(format!("{user}:")).arg(&self.data_dir);
                    c
                },
                "chown of the cluster folder",
            )?;
        }
        // initdb reads the password from a file the server's user can read,
        // readable by nobody else, removed right after.
        let pwfile = self.data_dir.with_extension("pwfile");
        {
            use std::io::Write as _;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut f = options
                .open(&pwfile)
                .context("writing the initdb password file")?;
            f.write_all(self.password.as_bytes())?;
        }
        if let Some(user) = &self.run_as {
            let mut chown = Command::new("chown");
            chown.arg(format!("{user}:")).arg(&pwfile);
            self.run(chown, "chown of the password file")?;
        }
        let mut initdb = self.command("initdb");
        initdb
            .arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                "postgres",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        let result = self.run(initdb, "initdb");
        let _ = std::fs::remove_file(&pwfile);
        result
    }

    /// Whether the server of this folder is running.
    pub fn is_running(&self) -> bool {
        let mut status = self.command("pg_ctl");
        status.arg("status").arg("-D").arg(&self.data_dir);
        status
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts the server (TCP on 127.0.0.1 only, no Unix socket) and waits
    /// until it accepts connections.
    pub fn start(&self) -> anyhow::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=on",
            self.port
        );
        let mut start = self.command("pg_ctl");
        start
            .arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(self.data_dir.join("server.log"));
        self.run(start, "pg_ctl start")
    }

    /// Stops the server: `fast` rolls back open transactions and disconnects
    /// clients; committed data is kept.
    pub fn stop(&self) -> anyhow::Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        let mut stop = self.command("pg_ctl");
        stop.arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "60", "-m", "fast"]);
        self.run(stop, "pg_ctl stop")
    }
}
