//! The server under load: the release binary (or `--server-bin`) started
//! as its own process with the benchmark's configuration, and stopped with
//! SIGTERM as a deployment would stop it; and a wiretap between a server
//! and PostgreSQL, which shows the SQL the server sends.

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{AUDIENCE, JWT_SECRET, Opts};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts the release binary and returns once it serves, with the time from
/// process start to health SERVING.
pub async fn start_server(
    opts: &Opts,
    database_url: &str,
    env: &[(&str, &str)],
) -> (Server, Duration) {
    let port = free_port();
    let started = Instant::now();
    let bin = opts
        .server_bin
        .clone()
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_oauth-apps").into());
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("DATABASE_URL", database_url)
        .env("OAUTH_APPS_JWT_SECRET", JWT_SECRET)
        .env("OAUTH_APPS_LISTEN", format!("127.0.0.1:{port}"))
        .env("OAUTH_APPS_MUTATIONS_PER_MINUTE", "0")
        .env("OAUTH_APPS_READS_PER_MINUTE", "0")
        .env("OAUTH_APPS_FAILED_VERIFY_PER_MINUTE", "0")
        .env("OAUTH_APPS_ASSERTION_AUDIENCE", AUDIENCE)
        .env("RUST_LOG", &opts.log)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(match &opts.server_logs {
            Some(dir) => {
                Stdio::from(std::fs::File::create(dir.join(format!("server-{port}.log"))).unwrap())
            }
            None => Stdio::null(),
        });
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start oauth-apps");
    eprintln!("  server pid {}", child.id());
    let url = format!("http://127.0.0.1:{port}");
    wait_until_serving(&url, started).await;
    (Server { child, url }, started.elapsed())
}

/// Polls the health service until it answers SERVING (two minutes at most).
async fn wait_until_serving(url: &str, started: Instant) {
    loop {
        if let Ok(ch) = Channel::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
        {
            let status = HealthClient::new(ch)
                .check(HealthCheckRequest::default())
                .await
                .map(|r| r.into_inner().status());
            if matches!(status, Ok(ServingStatus::Serving)) {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A relay between a server and PostgreSQL that keeps what the server sent
/// on each connection: the statements it prepares and the values it binds
/// to them, exactly as PostgreSQL receives them. The benchmark reads Get's
/// SELECT off it (see `get_sql` in main.rs).
pub struct Wiretap {
    port: u16,
    sent: Arc<Mutex<Vec<Sent>>>,
    accepting: JoinHandle<()>,
}

/// What the server sent on one connection.
type Sent = Arc<Mutex<Vec<u8>>>;

impl Wiretap {
    /// Listens on a free port and relays each connection to the PostgreSQL
    /// server of `database_url` (over TCP).
    pub async fn start(database_url: &str) -> Self {
        let u = url::Url::parse(database_url).unwrap();
        let upstream = format!(
            "{}:{}",
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(5432)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let log = sent.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let on_this = Sent::default();
                log.lock().unwrap().push(on_this.clone());
                tokio::spawn(relay(client, upstream.clone(), on_this));
            }
        });
        Self {
            port,
            sent,
            accepting,
        }
    }

    /// `database_url` through the relay.
    pub fn url(&self, database_url: &str) -> String {
        let mut u = url::Url::parse(database_url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }

    /// The text of the statement the server ran with exactly `params` (text
    /// values, in order), as it prepared it: the Parse message of the
    /// statement that a Bind with those values named.
    pub fn statement_run_with(&self, params: &[&str]) -> Option<String> {
        let sent = self.sent.lock().unwrap();
        sent.iter()
            .find_map(|on| statement_run_with(&on.lock().unwrap(), params))
    }

    /// The text of every statement the server prepared, in the order sent
    /// on each connection.
    pub fn prepared(&self) -> Vec<String> {
        let sent = self.sent.lock().unwrap();
        let mut out = Vec::new();
        for on in sent.iter() {
            for (kind, mut body) in messages(&on.lock().unwrap()) {
                if kind == b'P' {
                    cstr(&mut body);
                    out.extend(cstr(&mut body));
                }
            }
        }
        out
    }
}

impl Drop for Wiretap {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Copies one connection both ways, keeping what the client sent.
async fn relay(client: TcpStream, upstream: String, sent: Sent) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let back = tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from_client.read(&mut buf).await {
        // Kept before it is forwarded, so it is here before any answer.
        sent.lock().unwrap().extend_from_slice(&buf[..n]);
        if to_server.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to_server.shutdown().await;
    let _ = back.await;
}

/// In what a client sent on one connection (PostgreSQL's protocol 3), the
/// text of the statement that a Bind with exactly `params` ran.
fn statement_run_with(sent: &[u8], params: &[&str]) -> Option<String> {
    let mut prepared = std::collections::HashMap::new();
    for (kind, mut body) in messages(sent) {
        match kind {
            b'P' => {
                let name = cstr(&mut body)?;
                prepared.insert(name, cstr(&mut body)?);
            }
            b'B' => {
                let (statement, values) = bind(body)?;
                let same = values.len() == params.len()
                    && values
                        .iter()
                        .zip(params)
                        .all(|(v, p)| v.as_deref() == Some(p.as_bytes()));
                if same {
                    return prepared.get(&statement).cloned();
                }
            }
            _ => {}
        }
    }
    None
}

/// The typed messages (type byte, body) after the untyped start-up message
/// and any SSL or GSS encryption request before it (both refused, or the
/// rest would not be readable: the server connects without TLS).
fn messages(mut b: &[u8]) -> Vec<(u8, &[u8])> {
    const SSL_REQUEST: u32 = 80_877_103;
    const GSS_REQUEST: u32 = 80_877_104;
    loop {
        let (Some(len), Some(code)) = (be32(b, 0), be32(b, 4)) else {
            return Vec::new();
        };
        if len < 8 {
            return Vec::new();
        }
        b = &b[(len as usize).min(b.len())..];
        if code != SSL_REQUEST && code != GSS_REQUEST {
            break;
        }
    }
    let mut out = Vec::new();
    while let (Some(&kind), Some(len)) = (b.first(), be32(b, 1)) {
        let end = 1 + len as usize;
        if len < 4 || b.len() < end {
            break;
        }
        out.push((kind, &b[5..end]));
        b = &b[end..];
    }
    out
}

/// A Bind's statement name and parameter values (`None` for NULL).
fn bind(mut b: &[u8]) -> Option<(String, Vec<Option<Vec<u8>>>)> {
    cstr(&mut b)?; // the portal
    let statement = cstr(&mut b)?;
    let formats = u16::from_be_bytes(take(&mut b, 2)?.try_into().ok()?) as usize;
    take(&mut b, 2 * formats)?;
    let n = u16::from_be_bytes(take(&mut b, 2)?.try_into().ok()?);
    let mut values = Vec::new();
    for _ in 0..n {
        let len = i32::from_be_bytes(take(&mut b, 4)?.try_into().ok()?);
        values.push(match usize::try_from(len) {
            Ok(len) => Some(take(&mut b, len)?.to_vec()),
            Err(_) => None,
        });
    }
    Some((statement, values))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = (b.get(..n)?, b.get(n..)?);
    *b = rest;
    Some(head)
}

/// A NUL-terminated string.
fn cstr(b: &mut &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0)?;
    let s = String::from_utf8_lossy(&b[..end]).into_owned();
    *b = &b[end + 1..];
    Some(s)
}
