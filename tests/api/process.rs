//! The real `oauth-apps` binary as a child process, for what only a process
//! shows: signals, exit codes, logs and exported telemetry.

use std::{
    io::{BufRead as _, BufReader, Read},
    net::SocketAddr,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, mpsc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::common::JWT_SECRET;

/// Everything the process printed, and a signal for each new line.
#[derive(Default)]
struct Output {
    text: Mutex<String>,
    grew: Condvar,
}

impl Output {
    fn push(&self, line: &str) {
        let mut text = self.text.lock().unwrap();
        text.push_str(line);
        text.push('\n');
        self.grew.notify_all();
    }
}

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    output: Arc<Output>,
    readers: Vec<JoinHandle<()>>,
}

/// Copies `pipe` into `output` line by line until the process closes it,
/// passing each line to `inspect` once it is kept.
fn follow(
    pipe: impl Read + Send + 'static,
    output: Arc<Output>,
    inspect: impl Fn(&str) + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            // Kept before it is announced: whoever waits for a line finds it
            // in the logs.
            output.push(&line);
            inspect(&line);
        }
    })
}

/// The address of the "oauth-apps listening" line, in JSON or text logs.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        return (v["fields"]["message"] == "oauth-apps listening")
            .then(|| v["fields"]["addr"].as_str()?.parse().ok())
            .flatten();
    }
    let rest = line.split_once("oauth-apps listening")?.1;
    let addr = rest.split_once("addr=")?.1.split_whitespace().next()?;
    addr.trim_matches('"').parse().ok()
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
        let output = Arc::new(Output::default());
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        let tx = Mutex::new(tx);
        let stderr = follow(child.stderr.take().unwrap(), output.clone(), move |line| {
            if let Some(addr) = listening_addr(line) {
                let _ = tx.lock().unwrap().send(addr);
            }
        });
        let stdout = follow(child.stdout.take().unwrap(), output.clone(), |_| {});
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; logs:\n{}",
                    output.text.lock().unwrap()
                );
            }
        };
        Self {
            child,
            addr,
            output,
            readers: vec![stderr, stdout],
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits (up to 30 s) for a line of output starting with `prefix` and
    /// returns the rest of it.
    pub fn wait_for_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut text = self.output.text.lock().unwrap();
        loop {
            if let Some(rest) = text.lines().find_map(|l| l.strip_prefix(prefix)) {
                return rest.to_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no line starting with {prefix:?}; output:\n{text}"
            );
            text = self.output.grew.wait_timeout(text, left).unwrap().0;
        }
    }

    pub fn logs(&self) -> String {
        self.output.text.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM")
    }

    /// Sends the signal (`TERM`, `HUP`, `KILL`, ...) and waits for the exit.
    pub fn signal(&mut self, name: &str) -> ExitStatus {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The pipes close with the process: everything it printed is in.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!(
            "server did not exit within 15 s of SIG{name}; logs:\n{}",
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
