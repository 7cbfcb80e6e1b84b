//! TLS and mutual TLS, with certificates generated here.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use oauth_apps::{domain::Role, proto::OAuthApplicationsClient, proto::v1 as pb};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _};
use tokio::{io::AsyncWriteExt as _, net::TcpStream};
use tokio_rustls::client::TlsStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::{
    common::{TestApp, eventually, with_auth},
    connections::{closed_within, http1_client, http1_get},
};

struct Pki {
    dir: PathBuf,
    ca_pem: String,
    client_cert: String,
    client_key: String,
    stranger_cert: String,
    stranger_key: String,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

fn leaf(
    issuer: &Issuer<'_, &KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let dir = std::env::temp_dir().join(format!(
        "oauth-apps-tls-{}",
        oauth_apps::domain::ids::random_base62(8)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_params, ca_key, ca_pem) = ca("oauth-apps test CA");
    let issuer = Issuer::new(ca_params, &ca_key);
    let (server_cert, server_key) = leaf(
        &issuer,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(
        &issuer,
        &["token-endpoint"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (other_params, other_key, _) = ca("someone else's CA");
    let other = Issuer::new(other_params, &other_key);
    let (stranger_cert, stranger_key) =
        leaf(&other, &["stranger"], ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
    std::fs::write(dir.join("server.pem"), server_cert).unwrap();
    std::fs::write(dir.join("server.key"), server_key).unwrap();
    Pki {
        dir,
        ca_pem,
        client_cert,
        client_key,
        stranger_cert,
        stranger_key,
    }
}

async fn tls_channel(
    app: &TestApp,
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://127.0.0.1:{}", app.addr.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

async fn list(app: &TestApp, channel: Channel) -> Result<(), tonic::Status> {
    OAuthApplicationsClient::new(channel)
        .list_applications(with_auth(
            pb::ListApplicationsRequest::default(),
            Some(&app.token("alice")),
            Some("org"),
        ))
        .await
        .map(|_| ())
}

fn path(dir: &Path, name: &str) -> Option<PathBuf> {
    Some(dir.join(name))
}

#[tokio::test]
async fn serves_tls_when_configured() {
    let pki = pki();
    let dir = pki.dir.clone();
    let app = TestApp::spawn_with(|c| {
        c.tls_cert = path(&dir, "server.pem");
        c.tls_key = path(&dir, "server.key");
    })
    .await;
    app.set_member("org", "alice", Role::Member).await;
    let channel = tls_channel(&app, &pki.ca_pem, None).await.unwrap();
    list(&app, channel).await.unwrap();
    // Plaintext is not spoken any more.
    let plain = Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await;
    match plain {
        Err(_) => {}
        Ok(ch) => assert!(
            list(&app, ch).await.is_err(),
            "plaintext call succeeded on a TLS port"
        ),
    }
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_configured_ca() {
    let pki = pki();
    let dir = pki.dir.clone();
    let app = TestApp::spawn_with(|c| {
        c.tls_cert = path(&dir, "server.pem");
        c.tls_key = path(&dir, "server.key");
        c.tls_client_ca = path(&dir, "ca.pem");
    })
    .await;
    app.set_member("org", "alice", Role::Member).await;

    let with_cert = tls_channel(&app, &pki.ca_pem, Some((&pki.client_cert, &pki.client_key)))
        .await
        .unwrap();
    list(&app, with_cert).await.unwrap();

    for (what, identity) in [
        ("no client certificate", None),
        (
            "a certificate of another CA",
            Some((pki.stranger_cert.as_str(), pki.stranger_key.as_str())),
        ),
    ] {
        let refused = match tls_channel(&app, &pki.ca_pem, identity).await {
            Err(_) => true,
            Ok(ch) => list(&app, ch).await.is_err(),
        };
        assert!(refused, "{what} was accepted");
    }
}

/// `oauth-apps health --ca` speaks TLS (and, with --cert/--key, mutual
/// TLS); in plaintext it fails, with a hint when the server's own
/// OAUTH_APPS_TLS_CERT is set (the container's HEALTHCHECK case).
#[tokio::test]
async fn health_checks_a_tls_server_with_its_ca() {
    use crate::cli::health;

    let pki = pki();
    let dir = pki.dir.clone();
    let app = TestApp::spawn_with(|c| {
        c.tls_cert = path(&dir, "server.pem");
        c.tls_key = path(&dir, "server.key");
        c.tls_client_ca = path(&dir, "ca.pem");
    })
    .await;
    std::fs::write(dir.join("client.pem"), &pki.client_cert).unwrap();
    std::fs::write(dir.join("client.key"), &pki.client_key).unwrap();
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let addr = app.addr.to_string();

    let out = health(
        &[
            "--addr",
            &addr,
            "--ca",
            &file("ca.pem"),
            "--cert",
            &file("client.pem"),
            "--key",
            &file("client.key"),
        ],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SERVING\n");

    // Without a client certificate, or with one of another CA, the server
    // refuses the handshake, and `health` says so in words.
    let out = health(&["--addr", &addr, "--ca", &file("ca.pem")], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "the server requires a client certificate (mutual TLS): give --cert and --key"
        ),
        "{err}"
    );
    std::fs::write(dir.join("stranger.pem"), &pki.stranger_cert).unwrap();
    std::fs::write(dir.join("stranger.key"), &pki.stranger_key).unwrap();
    let out = health(
        &[
            "--addr",
            &addr,
            "--ca",
            &file("ca.pem"),
            "--cert",
            &file("stranger.pem"),
            "--key",
            &file("stranger.key"),
        ],
        &[],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused the client certificate of --cert"),
        "{err}"
    );
    // Plaintext against TLS: not `h2 protocol error`, a sentence.
    let out = health(&["--addr", &addr, "--timeout", "2s"], &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("it likely speaks TLS; give --ca"), "{err}");
    assert!(!err.contains("h2 protocol error"), "{err}");
    // A CA that did not sign the server's certificate.
    let out = health(&["--addr", &addr, "--ca", &file("server.pem")], &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not signed by --ca"), "{err}");

    let out = health(
        &["--addr", &addr, "--timeout", "2s"],
        &[("OAUTH_APPS_TLS_CERT", &file("server.pem"))],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a TLS server needs --ca"), "{err}");
}

/// A TLS connection to `app` offering `alpn` (and presenting `identity`),
/// with rustls rather than tonic: any protocol, not only h2.
async fn tls_connect(
    app: &TestApp,
    ca_pem: &str,
    alpn: &[&[u8]],
    identity: Option<(&str, &str)>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(app.addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// The protocol the server chose through ALPN.
fn alpn_of(stream: &TlsStream<TcpStream>) -> Option<&[u8]> {
    stream.get_ref().1.alpn_protocol()
}

/// ALPN offers h2 and http/1.1: an HTTP/1.1-only client gets HTTP/1.1 (with
/// keep-alive past the handshake deadline), an h2 one h2, and one that
/// names no protocol is served what it speaks.
#[tokio::test]
async fn tls_negotiates_http1_and_h2_through_alpn() {
    let pki = pki();
    let dir = pki.dir.clone();
    let app = TestApp::spawn_with(|c| {
        c.tls_cert = path(&dir, "server.pem");
        c.tls_key = path(&dir, "server.key");
        c.handshake_timeout = Duration::from_millis(500);
    })
    .await;

    let http1 = tls_connect(&app, &pki.ca_pem, &[b"http/1.1"], None)
        .await
        .unwrap();
    assert_eq!(alpn_of(&http1), Some(&b"http/1.1"[..]));
    let mut http1 = http1_client(http1).await;
    let head = http1_get(&mut http1, "/").await.unwrap();
    assert_eq!(head.version, http::Version::HTTP_11);
    tokio::time::sleep(Duration::from_millis(800)).await;
    http1_get(&mut http1, "/")
        .await
        .expect("a second request on the keep-alive connection");

    let h2 = tls_connect(&app, &pki.ca_pem, &[b"h2", b"http/1.1"], None)
        .await
        .unwrap();
    assert_eq!(alpn_of(&h2), Some(&b"h2"[..]));

    let none = tls_connect(&app, &pki.ca_pem, &[], None).await.unwrap();
    assert_eq!(alpn_of(&none), None);
    let mut none = http1_client(none).await;
    http1_get(&mut none, "/").await.unwrap();
}

/// Under mutual TLS an HTTP/1.1 client without a certificate gets no
/// response; with one it does.
#[tokio::test]
async fn mutual_tls_refuses_http1_clients_without_a_certificate() {
    let pki = pki();
    let dir = pki.dir.clone();
    let app = TestApp::spawn_with(|c| {
        c.tls_cert = path(&dir, "server.pem");
        c.tls_key = path(&dir, "server.key");
        c.tls_client_ca = path(&dir, "ca.pem");
    })
    .await;
    let identity = Some((pki.client_cert.as_str(), pki.client_key.as_str()));
    let with_cert = tls_connect(&app, &pki.ca_pem, &[b"http/1.1"], identity)
        .await
        .unwrap();
    http1_get(&mut http1_client(with_cert).await, "/")
        .await
        .unwrap();

    // TLS 1.3: the client's side of the handshake ends before the server
    // has checked its (missing) certificate, so the refusal may come at the
    // first request.
    let refused = match tls_connect(&app, &pki.ca_pem, &[b"http/1.1"], None).await {
        Err(_) => true,
        Ok(stream) => http1_get(&mut http1_client(stream).await, "/")
            .await
            .is_err(),
    };
    assert!(refused, "served without a client certificate");
}

/// A client that never finishes its TLS handshake is closed at the
/// handshake deadline, and holds up no one meanwhile.
#[tokio::test]
async fn stalled_tls_handshakes_are_closed_and_block_no_one() {
    let pki = pki();
    let dir = pki.dir.clone();
    let deadline = Duration::from_millis(1500);
    let app = TestApp::spawn_with(|c| {
        c.tls_cert = path(&dir, "server.pem");
        c.tls_key = path(&dir, "server.key");
        c.handshake_timeout = deadline;
    })
    .await;
    app.set_member("org", "alice", Role::Member).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut partial = TcpStream::connect(app.addr).await.unwrap();
    // The header of a handshake record, and nothing of what it announces.
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let channel = tls_channel(&app, &pki.ca_pem, None).await.unwrap();
    list(&app, channel).await.unwrap();
    let http1 = tls_connect(&app, &pki.ca_pem, &[b"http/1.1"], None)
        .await
        .unwrap();
    http1_get(&mut http1_client(http1).await, "/")
        .await
        .unwrap();
    assert!(
        started.elapsed() < deadline,
        "other clients waited for the stalled handshakes: {:?}",
        started.elapsed()
    );

    for (what, conn) in [("silent", &mut silent), ("partial", &mut partial)] {
        let closed = closed_within(conn, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "{what}: still open");
        let after = started.elapsed();
        assert!(
            after >= deadline - Duration::from_millis(200),
            "{what}: closed after {after:?}"
        );
    }
    eventually("their slots to be free", Duration::from_secs(2), || async {
        app.state.connections.count() <= 2
    })
    .await;
}

/// A certificate and a key that do not belong together, or a TLS file that
/// cannot be read, stop `serve` before it listens, with a sentence naming
/// the setting, and exit 78 (a configuration error).
#[test]
fn a_bad_certificate_and_key_pair_fails_before_listening() {
    let pki = pki();
    let dir = &pki.dir;
    std::fs::write(dir.join("stranger.key"), &pki.stranger_key).unwrap();
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    for (cert, key, expected) in [
        (
            "server.pem",
            "stranger.key",
            "is not the key of the certificate in OAUTH_APPS_TLS_CERT",
        ),
        (
            "missing.pem",
            "server.key",
            "cannot read OAUTH_APPS_TLS_CERT",
        ),
        ("server.key", "server.key", "holds no PEM certificate"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
            .arg("serve")
            .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
            .env("OAUTH_APPS_JWT_SECRET", crate::common::JWT_SECRET)
            .env("OAUTH_APPS_LISTEN", "127.0.0.1:0")
            .env("OAUTH_APPS_TLS_CERT", file(cert))
            .env("OAUTH_APPS_TLS_KEY", file(key))
            .env_remove("OAUTH_APPS_TLS_CLIENT_CA")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{cert} {key}: {err}");
        assert!(err.contains(expected), "{cert} {key}: {err}");
        assert!(!err.contains("listening"), "{err}");
    }
}
