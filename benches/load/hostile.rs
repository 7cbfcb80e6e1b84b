//! What a hostile JSON body of 64 KiB (OAUTH_APPS_MAX_REQUEST_BYTES, the
//! default) costs the server in memory while it is refused: the server runs
//! in this process, on a runtime of its own whose threads alone are
//! counted by a counting global allocator, and each body is sent to
//! `POST /v1/organizations/{org}/applications` over HTTP/1.1. The figure is
//! the peak of the bytes the server's threads hold above what they held
//! when the request was sent, divided by the body's size.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    sync::atomic::{AtomicBool, AtomicIsize, Ordering},
};

use bytes::Bytes;
use http::Method;
use oauth_apps::{
    AppState, Config,
    proto::{OAuthApplicationsClient, v1 as pb},
};
use tokio::sync::oneshot;

use crate::{
    BIG_ORG, JWT_SECRET,
    drive::{auth, channels},
    workloads::{Client, Out, bearer, request},
};

/// The body size measured: the server's default request limit.
const BODY: usize = 64 * 1024;

/// Counts what the threads marked [`COUNTED`] allocate, while [`ARMED`].
pub struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    ARMED.load(Ordering::Relaxed) && COUNTED.with(Cell::get)
}

fn grow(bytes: usize) {
    let live = LIVE.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrink(bytes: usize) {
    LIVE.fetch_sub(bytes as isize, Ordering::Relaxed);
}

// SAFETY: every call goes straight to `System`; the counting beside it
// touches only atomics and a const thread-local (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            grow(layout.size());
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            grow(layout.size());
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            shrink(layout.size());
        }
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a move: old and new both held for a moment.
        if counted() {
            grow(new_size);
            shrink(layout.size());
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The hostile bodies, each exactly [`BODY`] bytes.
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    // `open`, then `item` as often as it fits before `close`, padded with
    // spaces (whitespace JSON allows) to the full size.
    let fill = |open: &str, item: &str, sep: &str, close: &str| {
        let mut b = open.as_bytes().to_vec();
        let mut first = true;
        while b.len() + sep.len() + item.len() + close.len() <= BODY {
            if !first {
                b.extend_from_slice(sep.as_bytes());
            }
            first = false;
            b.extend_from_slice(item.as_bytes());
        }
        b.resize(BODY - close.len(), b' ');
        b.extend_from_slice(close.as_bytes());
        b
    };
    vec![
        (
            "(control) `{\"name\":1` and 64 KiB of spaces",
            fill(r#"{"name":1"#, " ", "", "}"),
        ),
        ("deeply nested arrays `[[[[…`", fill("", "[", "", "")),
        (
            "nested arrays in a repeated string field",
            fill(r#"{"redirectUris":"#, "[", "", ""),
        ),
        (
            "small numbers in a repeated string field",
            fill(r#"{"redirectUris":["#, "1", ",", "]}"),
        ),
        (
            "empty strings in a repeated string field",
            fill(r#"{"scopes":["#, r#""""#, ",", "]}"),
        ),
        (
            "small numbers in a repeated enum field",
            fill(r#"{"grantTypes":["#, "0", ",", "]}"),
        ),
        (
            "an unknown field with a huge value",
            fill(r#"{"zz":""#, "a", "", r#""}"#),
        ),
        ("a huge name", fill(r#"{"name":""#, "a", "", r#""}"#)),
        (
            "truncated: a string never closed",
            fill(r#"{"description":""#, "a", "", ""),
        ),
        (
            "truncated: a string of escapes never closed",
            fill(r#"{"description":""#, r"\u00e9", "", ""),
        ),
    ]
}

/// The peak of the counted bytes while `send` runs, the largest of three
/// sends after three unmeasured ones (the connection's read buffer adapts
/// to large bodies over the first few); with the status of the last.
async fn peak_of<F: Future<Output = String>>(send: impl Fn() -> F) -> (String, isize) {
    for _ in 0..3 {
        send().await;
    }
    let (mut status, mut peak) = (String::new(), 0);
    for _ in 0..3 {
        LIVE.store(0, Ordering::Relaxed);
        PEAK.store(0, Ordering::Relaxed);
        ARMED.store(true, Ordering::SeqCst);
        status = send().await;
        ARMED.store(false, Ordering::SeqCst);
        peak = peak.max(PEAK.load(Ordering::Relaxed));
    }
    (status, peak)
}

/// The server on a runtime of its own, whose threads alone are counted:
/// the runtime, the server's address, its shutdown and its task.
fn in_process(
    database_url: &str,
) -> (
    tokio::runtime::Runtime,
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(|| COUNTED.with(|c| c.set(true)))
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config::new(database_url, JWT_SECRET);
    let server = rt.spawn(async move {
        let state = AppState::prepare(&config).await.expect("state");
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        oauth_apps::serve(listener, state, async {
            let _ = stopped.await;
        })
        .await
    });
    (rt, addr, stop, server)
}

/// Starts the server in this process, sends each body and reports the
/// peaks; then the same for gRPC's worst shape.
pub async fn hostile(database_url: &str, owner_token: &str, out: &mut Out) {
    let (rt, addr, stop, server) = in_process(database_url);
    let mut rows = String::from(
        "\n## Hostile JSON bodies (64 KiB, refused)\n\nPeak bytes the in-process server held above its level when the request was sent (three sends after three unmeasured ones; the largest), ÷ 64 KiB.\n\n| body | status | peak KiB | peak ÷ body |\n|---|---:|---:|---:|\n",
    );
    let mut row = |name: &str, status: &str, peak: isize| {
        let ratio = peak as f64 / BODY as f64;
        eprintln!(
            "  hostile body: {name:<52} {status:>4}  peak {:>7.1} KiB  {ratio:>5.2}× the body",
            peak as f64 / 1024.0
        );
        rows.push_str(&format!(
            "| {name} | {status} | {:.1} | {ratio:.2} |\n",
            peak as f64 / 1024.0
        ));
        ratio
    };
    let client = Client::h1(&addr, 1).await;
    let bearer = bearer(owner_token);
    let path = format!("/v1/organizations/{BIG_ORG}/applications");
    let mut worst = 0.0f64;
    for (name, body) in bodies() {
        assert_eq!(body.len(), BODY, "{name}");
        let body = Bytes::from(body);
        let (status, peak) = peak_of(|| {
            let req = request(
                &client,
                Method::POST,
                &addr,
                &path,
                &bearer,
                Some(body.clone()),
            );
            let client = client.clone();
            async move { client.status_of(req).await.to_string() }
        })
        .await;
        worst = worst.max(row(name, &status, peak));
    }
    drop(client);
    let (status, peak) = grpc_empty_scopes(&addr, owner_token).await;
    row(
        "gRPC, for comparison: 32,766 empty scopes (protobuf, 64 KiB)",
        &status,
        peak,
    );
    out.report.push_str(&rows);
    out.target(
        "hostile JSON body: peak server allocation ÷ 64 KiB (worst shape)",
        worst,
        "≤ 8",
    );
    let _ = stop.send(());
    let _ = server.await;
    rt.shutdown_background();
}

/// gRPC's CreateApplication with a 64 KiB message of empty scopes (two
/// bytes each on the wire).
async fn grpc_empty_scopes(addr: &str, owner_token: &str) -> (String, isize) {
    let chan = channels(&format!("http://{addr}"), 1).await.remove(0);
    let message = pb::CreateApplicationRequest {
        scopes: vec![String::new(); 32_766],
        ..Default::default()
    };
    assert!(prost::Message::encoded_len(&message) <= BODY);
    peak_of(|| {
        let mut api = OAuthApplicationsClient::new(chan.clone());
        let req = auth(message.clone(), owner_token, Some(BIG_ORG));
        async move {
            match api.create_application(req).await {
                Ok(_) => "OK".to_owned(),
                Err(s) => format!("{:?}", s.code()),
            }
        }
    })
    .await
}
