//! Asymmetric tokens from a JWKS URL. An HTTPS server started here plays the
//! identity provider; each test scripts its answers and counts its requests.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use jsonwebtoken::Algorithm;
use oauth_apps::{Config, domain::Role, server::state::token_verifier};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tonic::Code;

use crate::{
    common::{TestApp, eventually},
    jwks::{ORG, claims, jwk, list_as, sign},
};

/// What the identity provider answers.
#[derive(Clone)]
enum Answer {
    /// 200 with a JWK Set of these fixture keys.
    Keys(Vec<&'static str>),
    /// The keys, after a pause.
    Slowly(Duration, Vec<&'static str>),
    /// This status and no set.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// The connection is closed without an answer.
    Close,
}

struct Script {
    answer: Mutex<Answer>,
    requests: AtomicUsize,
}

/// A local HTTPS identity provider, with a certificate from a CA of its own.
struct IdentityProvider {
    url: String,
    ca_file: PathBuf,
    dir: PathBuf,
    script: Arc<Script>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl IdentityProvider {
    async fn start(answer: Answer) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "oauth-apps-idp-{}",
            oauth_apps::domain::ids::random_base62(8)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "test identity provider CA");
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let issuer = Issuer::new(ca, &ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
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
        let url = format!(
            "https://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let script = Arc::new(Script {
            answer: Mutex::new(answer),
            requests: AtomicUsize::new(0),
        });
        let server = tokio::spawn(serve(listener, acceptor, script.clone()));
        Self {
            url,
            ca_file,
            dir,
            script,
            server,
        }
    }

    fn answer(&self, answer: Answer) {
        *self.script.answer.lock().unwrap() = answer;
    }

    /// Requests received so far (a closed connection counts as one).
    fn requests(&self) -> usize {
        self.script.requests.load(Ordering::SeqCst)
    }

    /// The service with its JWKS from here (and no HS256 secret).
    async fn app(&self, refresh: Duration) -> TestApp {
        let (url, ca) = (self.url.clone(), self.ca_file.clone());
        let app = TestApp::spawn_with(move |c| configure(c, url, ca, refresh)).await;
        app.set_member(ORG, "alice", Role::Member).await;
        app
    }
}

fn configure(c: &mut Config, url: String, ca: PathBuf, refresh: Duration) {
    c.jwt.jwt_secret = None;
    c.jwt.jwks_url = Some(url.parse().unwrap());
    c.jwt.jwks_ca_file = Some(ca);
    c.jwt.jwks_refresh = refresh;
    c.jwt.jwt_issuer = Some("https://id.example".into());
    c.jwt.jwt_audience = Some("oauth-apps".into());
}

async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, script: Arc<Script>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        if matches!(*script.answer.lock().unwrap(), Answer::Close) {
            script.requests.fetch_add(1, Ordering::SeqCst);
            drop(tcp);
            continue;
        }
        let acceptor = acceptor.clone();
        let script = script.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req| respond(script.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn respond(
    script: Arc<Script>,
    _req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    script.requests.fetch_add(1, Ordering::SeqCst);
    let answer = script.answer.lock().unwrap().clone();
    let keys = |names: &[&str]| {
        let set = serde_json::json!({ "keys": names.iter().map(|k| jwk(k)).collect::<Vec<_>>() });
        Response::new(Full::new(Bytes::from(set.to_string())))
    };
    match answer {
        Answer::Keys(names) => Ok(keys(&names)),
        Answer::Slowly(pause, names) => {
            tokio::time::sleep(pause).await;
            Ok(keys(&names))
        }
        Answer::Status(code) => Ok(Response::builder()
            .status(code)
            .body(Full::new(Bytes::from_static(b"unavailable")))
            .unwrap()),
        Answer::Garbage => Ok(Response::new(Full::new(Bytes::from_static(
            b"<html>maintenance</html>",
        )))),
        // An error from the service makes hyper drop the connection
        // unanswered (a pooled connection bypasses the accept loop).
        Answer::Close => Err(std::io::Error::other("closed")),
    }
}

fn rsa_token() -> String {
    sign(Algorithm::RS256, "rsa.pem", Some("rsa-1"), claims("alice"))
}

fn ec_token() -> String {
    sign(Algorithm::ES256, "ec.pem", Some("ec-1"), claims("alice"))
}

fn ed_token() -> String {
    sign(
        Algorithm::EdDSA,
        "ed25519.pem",
        Some("ed-1"),
        claims("alice"),
    )
}

/// Signed with the RSA key, under a `kid` nobody published.
fn unknown_kid_token() -> String {
    let kid = format!("made-up-{}", oauth_apps::domain::ids::random_base62(12));
    sign(Algorithm::RS256, "rsa.pem", Some(&kid), claims("alice"))
}

const FIVE_MINUTES: Duration = Duration::from_secs(300);

#[tokio::test]
async fn keys_from_the_url_verify_and_a_new_kid_is_fetched_on_first_use() {
    let idp = IdentityProvider::start(Answer::Keys(vec!["rsa", "ec"])).await;
    let app = idp.app(FIVE_MINUTES).await;
    assert_eq!(idp.requests(), 1, "one fetch at start-up");

    assert_eq!(list_as(&app, &rsa_token()).await, Ok(()));
    assert_eq!(list_as(&app, &ec_token()).await, Ok(()));
    assert_eq!(
        list_as(
            &app,
            &sign(Algorithm::RS256, "rsa.pem", Some("ec-1"), claims("alice"))
        )
        .await,
        Err(Code::Unauthenticated),
        "a key presented under another key's kid"
    );
    assert_eq!(idp.requests(), 1, "known kids cost the issuer nothing");

    // Rotation: the issuer publishes a new key and signs with it at once.
    idp.answer(Answer::Keys(vec!["rsa", "ec", "ed25519"]));
    assert_eq!(
        list_as(&app, &ed_token()).await,
        Ok(()),
        "the first call with the new kid fetches the set and verifies"
    );
    assert_eq!(idp.requests(), 2);
    assert_eq!(app.state.authorizer.verifier().jwks_fetches(), 1);

    // Right after that fetch, another unknown kid is refused without one.
    let started = Instant::now();
    assert_eq!(
        list_as(&app, &unknown_kid_token()).await,
        Err(Code::Unauthenticated)
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(idp.requests(), 2, "unknown-kid fetches are rate-limited");
}

#[tokio::test]
async fn a_removed_key_stops_verifying_after_the_next_refresh() {
    let idp = IdentityProvider::start(Answer::Keys(vec!["rsa", "ec"])).await;
    let app = idp.app(Duration::from_secs(1)).await;
    let rsa = rsa_token();
    assert_eq!(list_as(&app, &rsa).await, Ok(()));

    idp.answer(Answer::Keys(vec!["ec"]));
    eventually(
        "the retired RSA key to be dropped",
        Duration::from_secs(10),
        || async { list_as(&app, &rsa).await == Err(Code::Unauthenticated) },
    )
    .await;
    assert_eq!(list_as(&app, &ec_token()).await, Ok(()));
}

#[tokio::test]
async fn outages_and_garbage_keep_the_last_good_keys() {
    let idp = IdentityProvider::start(Answer::Keys(vec!["rsa"])).await;
    let app = idp.app(Duration::from_secs(1)).await;
    let verifier = app.state.authorizer.verifier().clone();
    let rsa = rsa_token();
    assert_eq!(list_as(&app, &rsa).await, Ok(()));

    for (what, answer) in [
        ("503", Answer::Status(503)),
        ("404", Answer::Status(404)),
        ("closed connection", Answer::Close),
        ("not JSON", Answer::Garbage),
    ] {
        let failed = verifier.jwks_failed_fetches();
        idp.answer(answer);
        eventually(
            &format!("a failed fetch ({what})"),
            Duration::from_secs(10),
            || async { verifier.jwks_failed_fetches() > failed },
        )
        .await;
        assert_eq!(list_as(&app, &rsa).await, Ok(()), "{what}");
        // During an outage an unknown kid waits for nothing.
        let started = Instant::now();
        assert_eq!(
            list_as(&app, &unknown_kid_token()).await,
            Err(Code::Unauthenticated),
            "{what}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "{what}");
    }

    // The issuer is back, with a new key: picked up by the retries.
    idp.answer(Answer::Keys(vec!["rsa", "ec"]));
    let ec = ec_token();
    eventually(
        "the keys to be fetched again",
        Duration::from_secs(10),
        || async { list_as(&app, &ec).await.is_ok() },
    )
    .await;
    assert_eq!(list_as(&app, &rsa).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_issuer_never_delays_calls_with_a_known_kid() {
    let idp = IdentityProvider::start(Answer::Keys(vec!["rsa"])).await;
    let app = Arc::new(idp.app(FIVE_MINUTES).await);
    let rsa = rsa_token();
    assert_eq!(list_as(&app, &rsa).await, Ok(()));

    // An unknown kid starts a fetch that the issuer takes 5 s to answer
    // (the fetch itself may take 10 s).
    idp.answer(Answer::Slowly(Duration::from_secs(5), vec!["rsa"]));
    let unknown = tokio::spawn({
        let app = app.clone();
        async move {
            let started = Instant::now();
            let result = list_as(&app, &unknown_kid_token()).await;
            (result, started.elapsed())
        }
    });
    eventually(
        "the slow fetch to reach the issuer",
        Duration::from_secs(5),
        || async { idp.requests() == 2 },
    )
    .await;

    // While it hangs, known kids are answered at once.
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(list_as(&app, &rsa).await, Ok(()));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "a known kid took {took:?}");
    }

    // The call that asked waited at most its bound, not for the issuer.
    let (result, took) = unknown.await.unwrap();
    assert_eq!(result, Err(Code::Unauthenticated));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "the unknown kid waited {took:?}"
    );
    assert_eq!(idp.requests(), 2, "one fetch, however many waited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_storms_cost_the_issuer_at_most_a_couple_of_fetches() {
    let idp = IdentityProvider::start(Answer::Keys(vec!["rsa"])).await;
    let app = idp.app(FIVE_MINUTES).await;
    let before = idp.requests();

    // Half at once (single flight), half one after another (rate limit).
    let burst: Vec<_> = (0..25)
        .map(|_| {
            let token = unknown_kid_token();
            let app = &app;
            async move { list_as(app, &token).await }
        })
        .collect();
    let results = futures_util::future::join_all(burst).await;
    assert!(results.iter().all(|r| *r == Err(Code::Unauthenticated)));
    for _ in 0..25 {
        let started = Instant::now();
        assert_eq!(
            list_as(&app, &unknown_kid_token()).await,
            Err(Code::Unauthenticated)
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    let fetches = idp.requests() - before;
    assert!(
        (1..=2).contains(&fetches),
        "50 unknown kids caused {fetches} fetches"
    );
    assert_eq!(list_as(&app, &rsa_token()).await, Ok(()));
}

#[tokio::test]
async fn start_up_needs_a_usable_set_from_a_trusted_server() {
    let idp = IdentityProvider::start(Answer::Garbage).await;
    let mut config = Config::new("postgres://unused", "");
    configure(
        &mut config,
        idp.url.clone(),
        idp.ca_file.clone(),
        FIVE_MINUTES,
    );
    let window = Duration::from_millis(500);
    let e = format!(
        "{:#}",
        token_verifier(&config.jwt, window).await.err().unwrap()
    );
    assert!(e.contains(&idp.url) && e.contains("not a JWK Set"), "{e}");

    idp.answer(Answer::Keys(vec![]));
    let e = format!(
        "{:#}",
        token_verifier(&config.jwt, window).await.err().unwrap()
    );
    assert!(e.contains("no RS256, ES256 or EdDSA signing key"), "{e}");

    // Without the CA that signed its certificate, the server is not trusted.
    idp.answer(Answer::Keys(vec!["rsa"]));
    config.jwt.jwks_ca_file = None;
    let e = format!(
        "{:#}",
        token_verifier(&config.jwt, window).await.err().unwrap()
    );
    assert!(e.contains("certificate"), "{e}");

    config.jwt.jwks_ca_file = Some(idp.ca_file.clone());
    let verifier = token_verifier(&config.jwt, window).await.unwrap();
    assert!(verifier.verify(&rsa_token()).await.is_ok());

    // Plain HTTP is refused before anything is fetched.
    config.jwt.jwks_url = Some(idp.url.replace("https:", "http:").parse().unwrap());
    let e = token_verifier(&config.jwt, window).await.err().unwrap();
    assert!(e.to_string().contains("https"), "{e}");
}

/// Issue 22, finding 9: an issuer's RSA key under 2048 bits, published at
/// the URL, is skipped as it is from a file; the other keys verify.
#[tokio::test]
async fn an_rsa_key_under_2048_bits_from_the_url_is_skipped() {
    let idp = IdentityProvider::start(Answer::Keys(vec!["rsa1024", "rsa"])).await;
    let app = idp.app(FIVE_MINUTES).await;
    assert_eq!(list_as(&app, &rsa_token()).await, Ok(()));
    let weak = sign(
        Algorithm::RS256,
        "rsa1024.pem",
        Some("rsa-weak"),
        claims("alice"),
    );
    assert_eq!(list_as(&app, &weak).await, Err(Code::Unauthenticated));
}
