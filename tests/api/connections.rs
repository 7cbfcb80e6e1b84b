//! Connections before any call: the handshake deadline, the cap, idle
//! connections, failed accepts, and oversized metadata.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _},
    net::TcpStream,
};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    common::{TestApp, TestDb, eventually, with_auth},
    process::ServerProcess,
};

/// Reads until the server closes the connection; `None` if it is still open
/// after `within`.
pub async fn closed_within(
    conn: &mut (impl AsyncRead + Unpin),
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(
            within.saturating_sub(started.elapsed()),
            conn.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            // The server's own SETTINGS, after the preface: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

/// An HTTP/1.1 client on `io` (its connection runs in a task of its own).
pub async fn http1_client(
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
) -> SendRequest<Empty<Bytes>> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// `GET path` over HTTP/1.1: the response's head, its body read to the end.
pub async fn http1_get(
    sender: &mut SendRequest<Empty<Bytes>>,
    path: &str,
) -> Result<http::response::Parts, hyper::Error> {
    sender.ready().await?;
    let request = http::Request::get(path)
        .header(http::header::HOST, "localhost")
        .body(Empty::new())
        .unwrap();
    let (head, body) = sender.send_request(request).await?.into_parts();
    body.collect().await?;
    Ok(head)
}

async fn health_ok(app: &TestApp) -> bool {
    let Ok(channel) = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .is_ok()
}

#[tokio::test]
async fn connections_that_never_finish_the_handshake_are_closed() {
    let app = TestApp::spawn_with(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut half = TcpStream::connect(app.addr).await.unwrap();
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let mut no_settings = TcpStream::connect(app.addr).await.unwrap();
    no_settings
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    for (what, conn) in [
        ("silent", &mut silent),
        ("half a preface", &mut half),
        ("preface without SETTINGS", &mut no_settings),
    ] {
        let closed = closed_within(conn, Duration::from_secs(3)).await;
        assert!(closed.is_some(), "{what}: still open");
    }
    eventually("the slots to be free", Duration::from_secs(1), || async {
        app.state.connections.count() == 0
    })
    .await;
    // A real client, which completes its handshake at once, is unaffected
    // and keeps its connection past the handshake deadline.
    let channel = app.channel().await;
    let mut health = HealthClient::new(channel);
    health.check(HealthCheckRequest::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    health.check(HealthCheckRequest::default()).await.unwrap();
}

/// HTTP/1.1 beside HTTP/2: an HTTP/1.1 connection's first request ends its
/// handshake, so neither a keep-alive connection nor a call in flight is
/// cut off at the handshake deadline; half a request head is.
#[tokio::test]
async fn http1_connections_are_served_past_the_handshake_deadline() {
    let app = TestApp::spawn_with(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    let mut http1 = http1_client(TcpStream::connect(app.addr).await.unwrap()).await;
    let head = http1_get(&mut http1, "/").await.unwrap();
    assert_eq!(head.version, http::Version::HTTP_11);
    tokio::time::sleep(Duration::from_millis(600)).await;
    http1_get(&mut http1, "/")
        .await
        .expect("a second request on the keep-alive connection");

    // A health Watch over HTTP/1.1, open past the deadline.
    let mut watch = TcpStream::connect(app.addr).await.unwrap();
    watch
        .write_all(
            b"POST /grpc.health.v1.Health/Watch HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/grpc\r\nTE: trailers\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0",
        )
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = watch.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    assert_eq!(
        closed_within(&mut watch, Duration::from_millis(900)).await,
        None,
        "the Watch was cut off"
    );

    let mut half = TcpStream::connect(app.addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let closed = closed_within(&mut half, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "half a request head: still open");
}

#[tokio::test]
async fn the_connection_cap_refuses_at_once_and_frees_slots_as_they_close() {
    let app = TestApp::spawn_with(|c| {
        c.max_connections = 3;
        c.handshake_timeout = Duration::from_millis(800);
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    eventually("three open connections", Duration::from_secs(1), || async {
        app.state.connections.count() == 3
    })
    .await;
    let mut fourth = TcpStream::connect(app.addr).await.unwrap();
    let closed = closed_within(&mut fourth, Duration::from_millis(500)).await;
    assert!(
        closed.is_some(),
        "over the cap, a connection hangs instead of closing"
    );
    // Once the silent ones are gone, real clients get in.
    eventually(
        "a call once the cap has room",
        Duration::from_secs(3),
        || async { health_ok(&app).await },
    )
    .await;
    drop(held);
}

#[tokio::test]
async fn idle_connections_are_closed_but_not_while_a_call_is_in_flight() {
    let app = TestApp::spawn_with(|c| c.idle_timeout = Duration::from_millis(300)).await;
    let mut health = HealthClient::new(app.channel().await);
    health.check(HealthCheckRequest::default()).await.unwrap();
    // A Watch stream keeps its connection busy for as long as it lasts.
    let mut watcher = HealthClient::new(app.channel().await);
    let mut watch = watcher
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    watch.message().await.unwrap();
    eventually(
        "the idle connection to close",
        Duration::from_secs(3),
        || async { app.state.connections.count() == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.state.connections.count(), 1, "the streaming one stays");
    drop(watch);
    eventually(
        "the stream's connection to close",
        Duration::from_secs(3),
        || async { app.state.connections.count() == 0 },
    )
    .await;
}

/// An oversized metadata block is refused on its own call: the others on
/// its connection carry on.
#[tokio::test]
async fn oversized_metadata_fails_only_its_own_call() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    watch.message().await.unwrap();
    for size in [20 * 1024, 100 * 1024] {
        let mut req = with_auth(
            oauth_apps::proto::v1::ListApplicationsRequest::default(),
            Some(&app.token("alice")),
            Some("org"),
        );
        req.metadata_mut()
            .insert("x-padding", "p".repeat(size).parse().unwrap());
        let err = oauth_apps::proto::OAuthApplicationsClient::new(channel.clone())
            .list_applications(req)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{size}: {err:?}");
        assert!(err.message().contains("metadata"), "{err:?}");
    }
    // The stream on the same connection is still alive: no error, just no
    // news, and the connection still serves calls.
    let next = tokio::time::timeout(Duration::from_millis(300), watch.message()).await;
    assert!(next.is_err(), "the stream ended: {next:?}");
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
}

/// CPU time of a process so far, in clock ticks (user + system).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Sets the soft limit of open files of a child process; returns the old one.
fn set_open_files(pid: u32, soft: Option<u64>) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit on a child process we started, with valid structs.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    if let Some(soft) = soft {
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: old.rlim_max,
        };
        // SAFETY: as above.
        let rc = unsafe {
            libc::prlimit(
                pid as libc::pid_t,
                libc::RLIMIT_NOFILE,
                &new,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    }
    old.rlim_cur
}

/// The attack review's descriptor exhaustion: with the process out of file
/// descriptors, accepting fails; the server backs off instead of spinning,
/// and serves again once descriptors are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_accepts_back_off_instead_of_spinning() {
    let db = TestDb::new().await;
    let server = ServerProcess::start(&db.url, &[("OAUTH_APPS_HANDSHAKE_TIMEOUT", "2s")]);
    let pid = server.pid();
    let open_now = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64;
    let old = set_open_files(pid, Some(open_now + 3));
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let spent = cpu_ticks(pid) - before;
    // Spinning would burn a whole core: about 100 ticks a second.
    assert!(
        spent < 30,
        "{spent} ticks of CPU in 1 s while out of descriptors"
    );
    assert!(
        server.logs().contains("cannot accept connections"),
        "{}",
        server.logs()
    );
    set_open_files(pid, Some(old));
    drop(silent);
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
}

/// A channel (one connection) from `ip`, another loopback address than the
/// 127.0.0.1 of every other client: another peer.
async fn channel_from(app: &TestApp, ip: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .local_address(Some(ip.parse().unwrap()))
        .connect()
        .await
        .expect("connect")
}

/// A bare TCP connection from `ip`.
async fn tcp_from(app: &TestApp, ip: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(app.addr).await.unwrap()
}

/// A health Watch stream on `channel`, past its first message.
async fn watch_on(
    channel: tonic::transport::Channel,
) -> tonic::Streaming<tonic_health::pb::HealthCheckResponse> {
    let mut watch = HealthClient::new(channel)
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    watch.message().await.unwrap();
    watch
}

/// The attack review's finding: one client held every slot with Watch
/// streams. A peer now holds at most its share; once peers fill every slot
/// outside the reserve, a health check and an authenticated call still get in.
#[tokio::test]
async fn one_peer_cannot_exhaust_the_cap_and_health_checks_get_through() {
    let app = TestApp::spawn_with(|c| {
        c.max_connections = 10;
        c.reserved_connections = 2;
        c.max_connections_per_peer = 3;
    })
    .await;
    app.set_member("org", "alice", oauth_apps::domain::Role::Member)
        .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(watch_on(channel_from(&app, "127.0.0.2").await).await);
    }
    let mut fourth = tcp_from(&app, "127.0.0.2").await;
    let closed = closed_within(&mut fourth, Duration::from_millis(500)).await;
    assert!(closed.is_some(), "a peer holds more than its share");
    let hostile: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    assert_eq!(app.state.connections.unauthenticated_from(hostile), 3);
    assert!(health_ok(&app).await, "another peer's health check");
    // Two more peers take every slot outside the reserve.
    for (ip, n) in [("127.0.0.3", 3), ("127.0.0.4", 2)] {
        for _ in 0..n {
            held.push(watch_on(channel_from(&app, ip).await).await);
        }
    }
    eventually(
        "every slot outside the reserve held",
        Duration::from_secs(3),
        || async { app.state.connections.count() == 8 },
    )
    .await;
    assert!(health_ok(&app).await, "a health check in the reserve");
    let listed = oauth_apps::proto::OAuthApplicationsClient::new(app.channel().await)
        .list_applications(app.req(Default::default(), "alice", "org"))
        .await;
    assert!(listed.is_ok(), "an authenticated call: {listed:?}");
    drop(held);
}

/// Watch streams are counted per peer, and more are refused.
#[tokio::test]
async fn a_peer_holds_at_most_its_streams() {
    let app = TestApp::spawn_with(|c| c.max_streams_per_peer = 2).await;
    let channel = channel_from(&app, "127.0.0.2").await;
    let first = watch_on(channel.clone()).await;
    let _second = watch_on(channel.clone()).await;
    let err = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    // Other peers have their own share; an ended stream frees its place.
    let _other = watch_on(app.channel().await).await;
    drop(first);
    eventually("a freed stream", Duration::from_secs(3), || async {
        HealthClient::new(channel.clone())
            .watch(HealthCheckRequest::default())
            .await
            .is_ok()
    })
    .await;
}

/// A Watch stream ends with UNAVAILABLE after its lifetime, so that a
/// client calls again (and holds no slot for ever).
#[tokio::test]
async fn watch_streams_end_after_their_lifetime() {
    let app = TestApp::spawn_with(|c| c.stream_max_lifetime = Duration::from_millis(300)).await;
    let started = Instant::now();
    let mut watch = watch_on(app.channel().await).await;
    let end = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("the stream outlived its lifetime");
    let err = end.expect_err("a Watch ends with a status");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // The client calls again and gets a new stream.
    watch_on(app.channel().await).await;
}

/// A connection that never carried an authenticated call is closed after
/// the shorter idle timeout; an authenticated one keeps the long one.
#[tokio::test]
async fn never_authenticated_idle_connections_close_sooner() {
    let app = TestApp::spawn_with(|c| {
        c.idle_timeout = Duration::from_secs(60);
        c.unauthenticated_idle_timeout = Duration::from_millis(300);
    })
    .await;
    app.set_member("org", "alice", oauth_apps::domain::Role::Member)
        .await;
    let mut health = HealthClient::new(app.channel().await);
    health.check(HealthCheckRequest::default()).await.unwrap();
    let mut api = oauth_apps::proto::OAuthApplicationsClient::new(app.channel().await);
    api.list_applications(app.req(Default::default(), "alice", "org"))
        .await
        .unwrap();
    let mut refused = oauth_apps::proto::OAuthApplicationsClient::new(app.channel().await);
    let err = refused
        .list_applications(with_auth(Default::default(), None, Some("org")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(app.state.connections.count(), 3);
    eventually(
        "the unauthenticated connections to close",
        Duration::from_secs(3),
        || async { app.state.connections.count() == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        app.state.connections.count(),
        1,
        "the authenticated one stays"
    );
    api.list_applications(app.req(Default::default(), "alice", "org"))
        .await
        .unwrap();
}
