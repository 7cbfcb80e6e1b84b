//! One bounded HTTPS GET of a metadata document, to addresses checked
//! beforehand (`ssrf`): the TCP connection goes to those and nowhere else
//! (no resolution here), TLS names the URL's host (SNI, and the name the
//! certificate must hold) and is verified against the public web roots plus
//! the operator's CA file. The response head and body are capped, no
//! redirect is followed, and the whole exchange is bounded by one timeout.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::{
    client::legacy::{Client, connect::Connect},
    rt::{TokioExecutor, TokioIo},
};
use rustls::ClientConfig;
use tokio::net::TcpStream;

use super::ssrf::DocumentUrl;

/// Largest document read (the contract's 5 KiB); reading stops beyond it.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// Largest response head (status line and headers) read. hyper's floor.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most response headers read.
const MAX_HEADERS: usize = 32;

/// Why a fetch gave no document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No answer to judge: connection, TLS, timeout, or a server error
    /// (5xx, 429, 408), which may pass.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// An answer that is no document: another status, a redirect, too
    /// large.
    #[error("{0}")]
    NotADocument(String),
}

/// A 200 answer within the limits.
#[derive(Debug)]
pub struct Fetched {
    pub body: Bytes,
    /// The response's `Cache-Control`, if any.
    pub cache_control: Option<String>,
}

/// Fetches documents over rustls with ring (as tonic's tls-ring).
#[derive(Clone)]
pub struct Fetcher {
    tls: Arc<ClientConfig>,
    timeout: Duration,
}

impl Fetcher {
    pub fn new(tls: ClientConfig, timeout: Duration) -> Self {
        Self {
            tls: Arc::new(tls),
            timeout,
        }
    }

    /// GET `url` from `addrs` (every one already checked), within the
    /// timeout.
    pub async fn fetch(
        &self,
        url: &DocumentUrl,
        addrs: Vec<SocketAddr>,
    ) -> Result<Fetched, FetchError> {
        tokio::time::timeout(self.timeout, self.fetch_unbounded(url, addrs))
            .await
            .map_err(|_| {
                FetchError::Unreachable(format!("no complete answer within {:?}", self.timeout))
            })?
    }

    /// A client whose every connection goes to `addrs`, tried in order:
    /// its TCP connector ignores the URI it is given. One per fetch, so no
    /// connection is pooled or reused.
    fn client(
        &self,
        addrs: Vec<SocketAddr>,
    ) -> Client<impl Connect + Clone + Send + Sync + 'static, Empty<Bytes>> {
        let addrs: Arc<[SocketAddr]> = addrs.into();
        let tcp = tower::service_fn(move |_: http::Uri| {
            let addrs = addrs.clone();
            async move { TcpStream::connect(&*addrs).await.map(TokioIo::new) }
        });
        let https = HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .http1_max_buf_size(MAX_HEAD_BYTES)
            .http1_max_headers(MAX_HEADERS)
            .build(https)
    }

    async fn fetch_unbounded(
        &self,
        url: &DocumentUrl,
        addrs: Vec<SocketAddr>,
    ) -> Result<Fetched, FetchError> {
        let client = self.client(addrs);
        let request = Request::get(url.as_str())
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("oauth-apps/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| FetchError::NotADocument(format!("no request for the URL: {e}")))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| FetchError::Unreachable(crate::telemetry::error_chain(&e)))?;
        check_status(response.status())?;
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
            return Err(too_large());
        }
        let cache_control = response
            .headers()
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large()
                } else {
                    FetchError::Unreachable(format!(
                        "reading the body: {}",
                        crate::telemetry::error_chain(&*e)
                    ))
                }
            })?
            .to_bytes();
        Ok(Fetched {
            body,
            cache_control: (!cache_control.is_empty()).then_some(cache_control),
        })
    }
}

fn too_large() -> FetchError {
    FetchError::NotADocument(format!(
        "the document is larger than {MAX_DOCUMENT_BYTES} bytes"
    ))
}

/// Only 200 is a document; a redirect is not followed.
fn check_status(status: StatusCode) -> Result<(), FetchError> {
    match status {
        StatusCode::OK => Ok(()),
        s if s.is_server_error()
            || s == StatusCode::TOO_MANY_REQUESTS
            || s == StatusCode::REQUEST_TIMEOUT =>
        {
            Err(FetchError::Unreachable(format!("answered HTTP {s}")))
        }
        s if s.is_redirection() => Err(FetchError::NotADocument(format!(
            "answered HTTP {s}: redirects are not followed"
        ))),
        s => Err(FetchError::NotADocument(format!(
            "answered HTTP {s} (only 200 is a document)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt as _;

    use super::*;

    /// The connection goes to the checked address, whatever the name
    /// would resolve to (`.invalid` resolves to nothing), and TLS names the
    /// URL's host: its ClientHello carries it as SNI.
    #[tokio::test]
    async fn connects_to_the_checked_address_naming_the_host() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hello = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 2048];
            let n = tcp.read(&mut buf).await.unwrap();
            buf.truncate(n);
            buf
        });
        let tls =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
        let fetcher = Fetcher::new(tls, Duration::from_secs(2));
        let url = DocumentUrl::parse("https://docs.rebind.invalid/client.json").unwrap();
        let fetched = fetcher.fetch(&url, vec![addr]).await;
        assert!(
            matches!(fetched, Err(FetchError::Unreachable(_))),
            "{fetched:?}"
        );
        let hello = hello.await.unwrap();
        let sni = b"docs.rebind.invalid";
        assert!(
            hello.windows(sni.len()).any(|w| w == sni),
            "SNI names the host"
        );
    }

    #[test]
    fn statuses_are_documents_refusals_or_outages() {
        assert!(check_status(StatusCode::OK).is_ok());
        for s in [503, 500, 502, 429, 408] {
            let s = StatusCode::from_u16(s).unwrap();
            assert!(
                matches!(check_status(s), Err(FetchError::Unreachable(_))),
                "{s}"
            );
        }
        for s in [301, 302, 307, 308, 404, 410, 403, 204, 201] {
            let s = StatusCode::from_u16(s).unwrap();
            assert!(
                matches!(check_status(s), Err(FetchError::NotADocument(_))),
                "{s}"
            );
        }
    }
}
