//! One bounded HTTPS GET of a JWK Set.
//!
//! HTTPS only, verified against the public web roots (`webpki-roots`, so the
//! result does not depend on the host's CA store) plus an optional PEM
//! bundle for private CAs. Every fetch is bounded: connect time, total time,
//! and body size, so a slow or hostile endpoint costs a background task a
//! few seconds at most. Redirects are not followed: a `jwks_uri` is meant to
//! be the final address, and a redirect could lead anywhere.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, pem::PemObject as _},
};

use super::{KeySet, NotAKeySet};

/// Time to open the TCP connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole fetch: connect, TLS, request, the full body.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS body read. Real sets are a few KiB; this leaves room for
/// many keys with certificate chains, and stops an endpoint that streams.
pub(crate) const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("answered HTTP {0} (only 200 is accepted)")]
    Status(StatusCode),
    #[error("body larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("reading the body failed: {0}")]
    Body(String),
    #[error(transparent)]
    NotAKeySet(#[from] NotAKeySet),
}

pub(crate) struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    uri: http::Uri,
}

/// The trust anchors: the public web roots, and the certificates of
/// `ca_file` when given.
fn roots(ca_file: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = crate::config::read_setting_file("OAUTH_APPS_JWKS_CA_FILE", path)?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert
                .with_context(|| format!("parsing OAUTH_APPS_JWKS_CA_FILE {}", path.display()))?;
            roots.add(cert).with_context(|| {
                format!(
                    "a certificate of OAUTH_APPS_JWKS_CA_FILE {} is not a usable CA",
                    path.display()
                )
            })?;
            added += 1;
        }
        anyhow::ensure!(
            added > 0,
            "OAUTH_APPS_JWKS_CA_FILE {} holds no PEM certificate",
            path.display()
        );
    }
    Ok(roots)
}

impl Fetcher {
    /// A client for `uri` (already checked to be `https`).
    pub(crate) fn new(uri: http::Uri, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        // The provider is named here, so no process-wide default is needed
        // (and tonic's ring build cannot clash with another choice).
        let tls =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .context("TLS settings for OAUTH_APPS_JWKS_URL")?
                .with_root_certificates(roots(ca_file)?)
                .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        // The HTTPS connector below refuses `http`; this one must let the
        // `https` URI through to it.
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self { client, uri })
    }

    /// Fetches and parses the set, within [`FETCH_TIMEOUT`].
    pub(crate) async fn fetch(&self) -> Result<KeySet, FetchError> {
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch_unbounded())
            .await
            .map_err(|_| FetchError::Timeout(FETCH_TIMEOUT))?
    }

    async fn fetch_unbounded(&self) -> Result<KeySet, FetchError> {
        let request = Request::get(self.uri.clone())
            .header(header::ACCEPT, "application/jwk-set+json, application/json")
            .header(
                header::USER_AGENT,
                concat!("oauth-apps/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| FetchError::Transport(crate::telemetry::error_chain(&e)))?;
        if response.status() != StatusCode::OK {
            return Err(FetchError::Status(response.status()));
        }
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err(FetchError::TooLarge);
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FetchError::TooLarge
                } else {
                    FetchError::Body(crate::telemetry::error_chain(&*e))
                }
            })?
            .to_bytes();
        Ok(super::parse(&body)?)
    }
}
