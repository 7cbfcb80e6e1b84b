//! A local HTTPS server of Client ID Metadata Documents, with a certificate
//! for `localhost` and `127.0.0.1` from a CA of its own. Each path answers
//! as scripted; the server counts every TCP connection it accepts (before
//! TLS, so a refused fetch is proven to have sent nothing at all) and every
//! request per path. Shared with the benchmark (`benches/load`).

use std::{
    collections::HashMap,
    convert::Infallible,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::{Request, Response, body::Frame, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

/// What a path answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this body, and `Cache-Control` when given.
    Json(String, Option<String>),
    /// This status, with a short body.
    Status(u16),
    /// 302 to this location.
    Redirect(String),
    /// The reply, after a pause.
    Slowly(Duration, Box<Reply>),
    /// 200 without a length, streaming 1 KiB chunks for ever.
    Endless,
    /// The connection is dropped without an answer.
    Close,
    /// 200 with a valid-looking body under 40 headers of 1 KiB each.
    HugeHead(String),
}

#[derive(Default)]
struct State {
    replies: Mutex<HashMap<String, Reply>>,
    requests: Mutex<HashMap<String, usize>>,
    connections: AtomicUsize,
}

pub struct DocServer {
    pub port: u16,
    pub ca_file: PathBuf,
    dir: PathBuf,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for DocServer {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Body = BoxBody<Bytes, Infallible>;

impl DocServer {
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "oauth-apps-docs-{}",
            oauth_apps::domain::ids::random_base62(8)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "test metadata documents CA");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.self_signed(&ca_key).unwrap().pem()).unwrap();
        let issuer = Issuer::new(ca, &ca_key);
        let key = KeyPair::generate().unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let mut leaf = CertificateParams::new(names).unwrap();
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let server = tokio::spawn(serve(listener, acceptor, state.clone()));
        Self {
            port,
            ca_file,
            dir,
            state,
            server,
        }
    }

    /// `https://localhost:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    pub fn reply(&self, path: &str, reply: Reply) {
        self.state
            .replies
            .lock()
            .unwrap()
            .insert(path.to_owned(), reply);
    }

    /// 200 with `doc` at `path`.
    pub fn document(&self, path: &str, doc: &serde_json::Value, cache_control: Option<&str>) {
        self.reply(
            path,
            Reply::Json(doc.to_string(), cache_control.map(str::to_owned)),
        );
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Requests for `path` so far.
    pub fn requests(&self, path: &str) -> usize {
        let requests = self.state.requests.lock().unwrap();
        requests.get(path).copied().unwrap_or(0)
    }
}

async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, state: Arc<State>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req| respond(state.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn respond(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let path = req.uri().path().to_owned();
    *state
        .requests
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default() += 1;
    let reply = state.replies.lock().unwrap().get(&path).cloned();
    answer(reply.unwrap_or(Reply::Status(404))).await
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

async fn answer(mut reply: Reply) -> Result<Response<Body>, std::io::Error> {
    while let Reply::Slowly(pause, then) = reply {
        tokio::time::sleep(pause).await;
        reply = *then;
    }
    let response = Response::builder();
    Ok(match reply {
        Reply::Json(body, cache_control) => {
            let mut r = response.header("content-type", "application/json");
            if let Some(cc) = cache_control {
                r = r.header("cache-control", cc);
            }
            r.body(full(body)).unwrap()
        }
        Reply::Status(code) => response.status(code).body(full("no document")).unwrap(),
        Reply::Redirect(location) => response
            .status(302)
            .header("location", location)
            .body(full(""))
            .unwrap(),
        Reply::Endless => {
            let chunk = Bytes::from(vec![b' '; 1024]);
            let frames = futures_util::stream::repeat_with(move || Ok(Frame::data(chunk.clone())));
            response.body(StreamBody::new(frames).boxed()).unwrap()
        }
        // An error from the service makes hyper drop the connection
        // unanswered.
        Reply::Close => return Err(std::io::Error::other("closed")),
        Reply::HugeHead(body) => {
            let mut r = response;
            for i in 0..40 {
                r = r.header(format!("x-filler-{i}"), "x".repeat(1024));
            }
            r.body(full(body)).unwrap()
        }
        Reply::Slowly(..) => unreachable!(),
    })
}
