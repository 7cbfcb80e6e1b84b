//! The real `oauth-apps` binary as a child process, for what only a process
//! shows: signals, exit codes, logs and exported telemetry.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use crate::common::JWT_SECRET;

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `oauth-apps serve` on a free port with JSON logs and waits
    /// until it listens.
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_command(
            &["serve"],
            &[
                ("DATABASE_URL", database_url),
                ("OAUTH_APPS_JWT_SECRET", JWT_SECRET),
            ],
            env,
        )
    }

    /// Starts `oauth-apps ARGS` with a clean environment plus `base` and `env`.
    pub fn start_command(args: &[&str], base: &[(&str, &str)], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauth-apps"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OAUTH_APPS_LISTEN", "127.0.0.1:0")
            .env("OAUTH_APPS_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in base.iter().chain(env) {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn oauth-apps");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["fields"]["message"] == "oauth-apps listening" {
                        if let Some(addr) =
                            v["fields"]["addr"].as_str().and_then(|a| a.parse().ok())
                        {
                            let _ = tx.send(addr);
                        }
                    }
                }
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; logs:\n{}", logs.lock().unwrap());
            }
        };
        Self { child, addr, logs }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits (up to 30 s) for a line of output starting with `prefix` and
    /// returns the rest of it.
    pub fn wait_for_line(&self, prefix: &str) -> String {
        for _ in 0..300 {
            if let Some(line) = self.logs().lines().find_map(|l| l.strip_prefix(prefix)) {
                return line.to_owned();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no line starting with {prefix:?}; output:\n{}", self.logs());
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!(
            "server did not exit within 15 s of SIGTERM; logs:\n{}",
            self.logs()
        );
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
