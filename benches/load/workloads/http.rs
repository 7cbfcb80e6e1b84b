//! The HTTP/JSON door next to gRPC, in the same run at the same
//! concurrency: GetApplication of cached apps over HTTP/1.1 (keep-alive,
//! one connection per worker) and over HTTP/2 (`--connections`
//! connections, as gRPC), and CreateApplication over HTTP/1.1, each
//! alternated with its gRPC counterpart (A B C C B A) so that the machine's
//! drift falls on both sides. The HTTP client decodes each response into
//! the generated message, as the gRPC client does.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use oauth_apps::{domain::ids::random_base62, proto::v1 as pb};
use serde::de::DeserializeOwned;
use tokio::{net::TcpStream, sync::Mutex};

use super::{Ctx, Out, get_seeded, spread};
use crate::{
    BIG_ORG,
    drive::{Stats, auth, drive, ok},
    seed::{seeded_id, seeded_org},
};

/// Apps the HTTP/gRPC comparison of Get reads: few enough to stay in the
/// application cache at any size, so both doors measure themselves.
const CACHED_APPS: usize = 1000;

/// Connections of one HTTP version to the server.
#[derive(Clone)]
pub enum Client {
    /// One connection per worker.
    H1(Arc<Vec<Mutex<http1::SendRequest<Full<Bytes>>>>>),
    /// Requests spread over these.
    H2(Arc<Vec<http2::SendRequest<Full<Bytes>>>>),
}

async fn tcp(addr: &str) -> TokioIo<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    TokioIo::new(tcp)
}

impl Client {
    pub async fn h1(addr: &str, n: usize) -> Self {
        let mut conns = Vec::new();
        for _ in 0..n {
            let (send, conn) = http1::handshake(tcp(addr).await).await.unwrap();
            tokio::spawn(conn);
            conns.push(Mutex::new(send));
        }
        Self::H1(Arc::new(conns))
    }

    pub async fn h2(addr: &str, n: usize) -> Self {
        let mut conns = Vec::new();
        for _ in 0..n.max(1) {
            let (send, conn) = http2::handshake(TokioExecutor::new(), tcp(addr).await)
                .await
                .unwrap();
            tokio::spawn(conn);
            conns.push(send);
        }
        Self::H2(Arc::new(conns))
    }

    /// Worker `w`'s request; a 2xx body decoded as `T`, anything else an
    /// error.
    pub async fn call<T: DeserializeOwned>(
        &self,
        w: usize,
        req: Request<Full<Bytes>>,
    ) -> Result<T, String> {
        let (status, body) = self.send(w, req).await?;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }

    /// The status of the first connection's answer to `req`, its body read.
    pub async fn status_of(&self, req: Request<Full<Bytes>>) -> u16 {
        self.send(0, req).await.unwrap().0.as_u16()
    }

    pub(super) async fn send(
        &self,
        w: usize,
        req: Request<Full<Bytes>>,
    ) -> Result<(http::StatusCode, Bytes), String> {
        let response = match self {
            Self::H1(conns) => {
                let mut send = conns[w % conns.len()].lock().await;
                send.ready().await.map_err(|e| e.to_string())?;
                send.send_request(req).await
            }
            Self::H2(conns) => {
                let mut send = conns[w % conns.len()].clone();
                send.ready().await.map_err(|e| e.to_string())?;
                send.send_request(req).await
            }
        }
        .map_err(|e| e.to_string())?;
        // A body of known length goes out with its Content-Length, not in
        // chunks (checked once the body is read, which frees the connection).
        let sized = response.headers().contains_key(header::CONTENT_LENGTH);
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !sized {
            return Err("a response without Content-Length".into());
        }
        Ok((status, body))
    }
}

/// A request to `path` on `authority` (absolute for HTTP/2, which needs
/// `:scheme` and `:authority`; origin-form with `Host` for HTTP/1.1).
pub fn request(
    client: &Client,
    method: http::Method,
    authority: &str,
    path: &str,
    bearer: &HeaderValue,
    body: Option<Bytes>,
) -> Request<Full<Bytes>> {
    let uri = match client {
        Client::H1(_) => path.to_owned(),
        Client::H2(_) => format!("http://{authority}{path}"),
    };
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, authority)
        .header(header::AUTHORIZATION, bearer.clone());
    if body.is_some() {
        b = b.header(header::CONTENT_TYPE, "application/json");
    }
    b.body(Full::new(body.unwrap_or_default())).unwrap()
}

pub fn bearer(token: &str) -> HeaderValue {
    HeaderValue::try_from(format!("Bearer {token}")).unwrap()
}

fn mean_rps(runs: &[&Stats]) -> f64 {
    runs.iter().map(|s| s.rps).sum::<f64>() / runs.len() as f64
}

/// GetApplication and CreateApplication over HTTP/JSON next to gRPC.
pub async fn http(ctx: &Ctx<'_>, out: &mut Out) {
    http_get(ctx, out).await;
    http_create(ctx, out).await;
}

async fn http_get(ctx: &Ctx<'_>, out: &mut Out) {
    let (opts, c, pid) = (ctx.opts, ctx.opts.concurrency, ctx.pid());
    let authority = ctx.server.url.trim_start_matches("http://").to_owned();
    let apps = ctx.apps.min(CACHED_APPS);
    let (a, t) = (ctx.api.clone(), ctx.callers.owner.clone());
    let grpc = move |w, i| get_seeded(&a, &t, apps, w, i);
    // Connections are opened just before their run: one that carries no
    // request for 10 s (OAUTH_APPS_HANDSHAKE_TIMEOUT) is closed.
    let h1 = || Client::h1(&authority, c);
    let h2 = || Client::h2(&authority, opts.connections);
    let over = |client: Client| {
        let (authority, bearer) = (authority.clone(), bearer(&ctx.callers.owner));
        move |w, i| {
            let n = spread(w, i, apps);
            let path = format!(
                "/v1/organizations/{}/applications/{}",
                seeded_org(n),
                seeded_id(n)
            );
            let req = request(&client, http::Method::GET, &authority, &path, &bearer, None);
            let client = client.clone();
            async move {
                client
                    .call::<pb::GetApplicationResponse>(w, req)
                    .await
                    .map(drop)
            }
        }
    };
    let name = |door: &str, run: &str| format!("GetApplication {door}, cached ({run})");
    let g1 = drive(&name("gRPC", "A1"), opts, c, pid, grpc.clone()).await;
    let a1 = drive(&name("HTTP/1.1", "B1"), opts, c, pid, over(h1().await)).await;
    let b1 = drive(&name("HTTP/2", "C1"), opts, c, pid, over(h2().await)).await;
    let b2 = drive(&name("HTTP/2", "C2"), opts, c, pid, over(h2().await)).await;
    let a2 = drive(&name("HTTP/1.1", "B2"), opts, c, pid, over(h1().await)).await;
    let g2 = drive(&name("gRPC", "A2"), opts, c, pid, grpc).await;
    let grpc_rps = mean_rps(&[&g1, &g2]);
    out.target(
        "GetApplication HTTP/1.1 JSON ÷ gRPC (cached, A B C C B A)",
        mean_rps(&[&a1, &a2]) / grpc_rps,
        "≥ 0.8",
    );
    out.target(
        "GetApplication HTTP/2 JSON ÷ gRPC (cached, A B C C B A)",
        mean_rps(&[&b1, &b2]) / grpc_rps,
        "≥ 0.8",
    );
    out.more.extend([g1, a1, b1, b2, a2, g2]);
}

/// A create of its own for every call: `n` numbers the names.
fn create_request(n: usize) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        name: format!("bench http create {n} {}", random_base62(6)),
        r#type: pb::ApplicationType::Web.into(),
        redirect_uris: vec!["https://created.example.com/cb".into()],
        scopes: vec!["read:user".into()],
        ..Default::default()
    }
}

async fn http_create(ctx: &Ctx<'_>, out: &mut Out) {
    let (opts, c, pid) = (ctx.opts, ctx.opts.concurrency, ctx.pid());
    let authority = ctx.server.url.trim_start_matches("http://").to_owned();
    let counter = Arc::new(AtomicUsize::new(0));
    let (a, t, n) = (ctx.api.clone(), ctx.callers.owner.clone(), counter.clone());
    let grpc = move |w: usize, _| {
        let mut cl = a[w % a.len()].clone();
        let req = auth(
            create_request(n.fetch_add(1, Ordering::Relaxed)),
            &t,
            Some(BIG_ORG),
        );
        async move { ok(cl.create_application(req).await) }
    };
    let bearer = bearer(&ctx.callers.owner);
    let path = format!("/v1/organizations/{BIG_ORG}/applications");
    let over_h1 = |client: Client| {
        let (authority, path, bearer) = (authority.clone(), path.clone(), bearer.clone());
        let counter = counter.clone();
        move |w: usize, _| {
            let message = create_request(counter.fetch_add(1, Ordering::Relaxed));
            let body = Bytes::from(serde_json::to_vec(&message).unwrap());
            let req = request(
                &client,
                http::Method::POST,
                &authority,
                &path,
                &bearer,
                Some(body),
            );
            let client = client.clone();
            async move {
                client
                    .call::<pb::CreateApplicationResponse>(w, req)
                    .await
                    .map(drop)
            }
        }
    };
    let h1 = || Client::h1(&authority, c);
    let name = |door: &str, run: &str| format!("CreateApplication {door} ({run})");
    let g1 = drive(&name("gRPC", "A1"), opts, c, pid, grpc.clone()).await;
    let h1a = drive(&name("HTTP/1.1", "B1"), opts, c, pid, over_h1(h1().await)).await;
    let h1b = drive(&name("HTTP/1.1", "B2"), opts, c, pid, over_h1(h1().await)).await;
    let g2 = drive(&name("gRPC", "A2"), opts, c, pid, grpc).await;
    out.target(
        "CreateApplication HTTP/1.1 JSON ÷ gRPC (A B B A)",
        mean_rps(&[&h1a, &h1b]) / mean_rps(&[&g1, &g2]),
        "≥ 0.95",
    );
    out.more.extend([g1, h1a, h1b, g2]);
}
