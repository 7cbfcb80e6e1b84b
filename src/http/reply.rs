//! A response of the HTTP/JSON door, before it becomes an HTTP response:
//! the gRPC code it stands for stays beside it for the log line and metrics.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use tonic::{Code, body::Body};

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub code: Code,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The caller authenticated (see [`Authenticated`](super::Authenticated)).
    pub authenticated: bool,
    /// A body that streams (Server-Sent Events), sent instead of `body`.
    pub stream: Option<Body>,
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON body. Serializing a `serde_json::Value` or a generated message
/// cannot fail; if it did, the body says so rather than being empty.
pub fn json_reply(status: StatusCode, code: Code, body: &impl Serialize) -> Reply {
    let body = serde_json::to_vec(body).unwrap_or_else(|_| {
        br#"{"error": {"code": 500, "message": "the response could not be written", "status": "INTERNAL"}}"#
            .to_vec()
    });
    ok_bytes(status, code, body.into())
}

/// An already-encoded JSON body.
pub fn ok_bytes(status: StatusCode, code: Code, body: Bytes) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, JSON);
    Reply {
        status,
        code,
        headers,
        body,
        authenticated: false,
        stream: None,
    }
}

impl From<Reply> for http::Response<Body> {
    fn from(r: Reply) -> Self {
        let body = r
            .stream
            .unwrap_or_else(|| Body::new(http_body_util::Full::new(r.body)));
        let mut response = http::Response::new(body);
        *response.status_mut() = r.status;
        *response.headers_mut() = r.headers;
        // Answers carry secrets shown once (client secrets, registration
        // and access tokens) and per-caller data: no cache may keep one
        // (RFC 6749 5.1, RFC 7591 3.2.1).
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
        if r.authenticated {
            response.extensions_mut().insert(super::Authenticated);
        }
        response
    }
}
