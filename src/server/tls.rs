//! TLS, terminated by the server itself rather than by tonic (whose
//! acceptor offers ALPN `h2` only): ALPN offers `h2` and `http/1.1`, so
//! HTTP/1.1-only clients connect too; a client that names no protocol gets
//! whichever it speaks. With a client CA, a client certificate it signed is
//! required.

use std::{io::Cursor, sync::Arc, time::Duration};

use anyhow::Context as _;
use rustls::{
    RootCertStore, ServerConfig,
    crypto::ring,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::WebPkiClientVerifier,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use super::state::TlsMaterial;

/// The protocols offered through ALPN, preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Runs the TLS handshakes of accepted connections.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: tokio_rustls::TlsAcceptor,
    timeout: Duration,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// An acceptor for `material`, whose handshakes end after `timeout`.
    pub fn new(material: &TlsMaterial, timeout: Duration) -> anyhow::Result<Self> {
        let config = server_config(material)?;
        Ok(Self {
            inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            timeout,
        })
    }

    /// The handshake over `io`; `None` when it fails or is not done in time.
    pub async fn accept<IO>(&self, io: IO) -> Option<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(self.timeout, self.inner.accept(io)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("TLS handshake not completed in time");
                None
            }
        }
    }
}

fn certificates(pem: &[u8], what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_reader_iter(&mut Cursor::new(pem))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the TLS {what}"))?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in the TLS {what}");
    Ok(certs)
}

fn server_config(material: &TlsMaterial) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &material.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(certificates(ca, "client CA")?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .context("the TLS client CA")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let key = PrivateKeyDer::from_pem_reader(&mut Cursor::new(&material.key))
        .context("parsing the TLS key")?;
    let mut config = builder
        .with_single_cert(certificates(&material.cert, "certificate")?, key)
        .context("the TLS certificate and key")?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
