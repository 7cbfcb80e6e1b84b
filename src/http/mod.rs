//! The HTTP/JSON routes, on the same listener as gRPC: a request whose
//! `content-type` starts with `application/grpc` goes on to the gRPC stack,
//! every other request is served here (HTTP/1.1 or HTTP/2).
//!
//! Each route of [`routes`] calls the same gRPC handler as its RPC, after
//! the same [`Authorizer`] decision (the organization from the path), with
//! the same deadline, header and body limits and the same log line and
//! metrics; only the encoding differs. The server's door
//! (`server/door.rs`) splits the two, inside the connection and stream
//! layers, so the connection limits apply to both.

mod calls;
mod cors;
mod errors;
mod json;
mod openapi;
mod register;
mod reply;
pub mod routes;
mod sse;

pub use register::PeerIp;

use std::{convert::Infallible, sync::Arc, time::Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use tonic::{Code, Status, body::Body};
use tower::util::BoxCloneSyncService;
use tracing::Instrument as _;

use crate::{
    api::Api,
    auth::Authorizer,
    error::Error,
    store::{Deadline, Memberships},
    telemetry::rpc,
};
use reply::Reply;
use routes::{Route, Template};

fn telemetry_code_name(code: Code) -> &'static str {
    rpc::code_name(code as i32)
}

/// The size of a header block as HTTP/2 counts it (RFC 9113 section
/// 6.5.2): each field's name and value, plus 32.
pub fn header_bytes(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// Marks a response to a call whose caller authenticated, so that its
/// connection leaves its peer's unauthenticated share.
#[derive(Clone, Copy, Debug)]
pub struct Authenticated;

/// The HTTP/JSON routes as a service, behind CORS when origins are
/// configured.
pub type HttpService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

pub fn service(http: Http, cors_origins: &[String]) -> HttpService {
    let http = Arc::new(http);
    let service = tower::service_fn(move |req| {
        let http = http.clone();
        async move { Ok::<_, Infallible>(http.handle(req).await) }
    });
    BoxCloneSyncService::new(
        tower::ServiceBuilder::new()
            .option_layer(cors::layer(cors_origins))
            .service(service),
    )
}

/// Whether a request is gRPC (including gRPC-Web's and the `+proto`,
/// `+json` suffixes): everything else is HTTP/JSON.
pub fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// What the HTTP/JSON routes need.
#[derive(Debug)]
pub struct Settings {
    pub max_request_bytes: usize,
    pub max_metadata_bytes: usize,
    pub request_timeout: std::time::Duration,
    /// RFC 7591's `registration_client_uri` starts with it; `None`: the
    /// request's own scheme and host.
    pub public_url: Option<String>,
    /// The listener serves TLS (the scheme of a derived public URL).
    pub tls: bool,
}

/// The HTTP/JSON service.
#[derive(Debug)]
pub struct Http {
    api: Api,
    authorizer: Authorizer<Memberships>,
    settings: Settings,
    routes: Vec<(Route, Template, Arc<str>)>,
    /// The OpenAPI document, generated once.
    openapi: Result<Bytes, String>,
}

impl Http {
    pub fn new(api: Api, authorizer: Authorizer<Memberships>, settings: Settings) -> Self {
        let routes = routes::table()
            .into_iter()
            .map(|r| {
                let template = Template::parse(r.template);
                let rpc: Arc<str> = r.rpc.name().into();
                (r, template, rpc)
            })
            .collect();
        let openapi = openapi::document()
            .map_err(|e| e.to_string())
            .and_then(|doc| serde_json::to_vec(&doc).map_err(|e| e.to_string()))
            .map(Bytes::from);
        if let Err(e) = &openapi {
            tracing::error!(error = %e, "the OpenAPI document could not be generated");
        }
        Self {
            api,
            authorizer,
            settings,
            routes,
            openapi,
        }
    }

    /// Answers one HTTP/JSON request.
    pub async fn handle(self: Arc<Self>, req: Request<Body>) -> Response<Body> {
        let started = Instant::now();
        let path = req.uri().path().to_owned();
        if path == openapi::PATH {
            return self.openapi(req.method(), started).into();
        }
        if register::is_register_path(&path) {
            return self.register(req, started).await.into();
        }
        let matched = self.routes.iter().filter_map(|(route, template, rpc)| {
            Some((route, template.matches(&path)?, rpc.clone()))
        });
        let mut allowed = Vec::new();
        let mut found = None;
        for (route, params, rpc) in matched {
            if route.method == req.method() {
                found = Some((route, decoded(params), rpc));
                break;
            }
            allowed.push(route.method.as_str());
        }
        let reply = match found {
            Some((route, params, rpc)) => {
                let span =
                    rpc::http_span(route.template, route.method.as_str(), &rpc, req.headers());
                let call = self.call(route, params, req).instrument(span.clone());
                let reply = tokio::time::timeout(self.answer_within(), call)
                    .await
                    .unwrap_or_else(|_| {
                        errors::from_status(&Status::from(Error::DeadlineExceeded))
                    });
                let _enter = span.enter();
                rpc::finish_http(rpc, reply.code, reply.status.as_u16(), started.elapsed());
                reply
            }
            None => unrouted(req.method(), &allowed, started),
        };
        reply.into()
    }

    /// The server's deadline for a call, less a margin: the transport's
    /// own timeout (shared with gRPC) answers in gRPC's shape, so the HTTP
    /// answer must come first.
    fn answer_within(&self) -> std::time::Duration {
        self.settings
            .request_timeout
            .saturating_sub(std::time::Duration::from_millis(100))
    }

    async fn call(
        &self,
        route: &Route,
        params: Result<Vec<(&'static str, String)>, Error>,
        req: Request<Body>,
    ) -> Reply {
        match self.try_call(route, params, req).await {
            Ok(reply) => reply,
            Err(status) => errors::from_status(&status),
        }
    }

    async fn try_call(
        &self,
        route: &Route,
        params: Result<Vec<(&'static str, String)>, Error>,
        req: Request<Body>,
    ) -> Result<Reply, Status> {
        let size = header_bytes(req.headers());
        if size > self.settings.max_metadata_bytes {
            return Ok(errors::refusal(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                Code::ResourceExhausted,
                format!(
                    "the request's headers take {size} bytes; at most {} are accepted",
                    self.settings.max_metadata_bytes
                ),
            ));
        }
        let mut params = params?;
        let org = take(&mut params, "organization_id");
        let permit = self
            .authorizer
            .authorize_in(route.rpc.name(), req.headers(), org.as_deref())
            .await
            .map_err(Error::from)?;
        if let Some(refusal) = unsupported_media(route, &req) {
            return Ok(refusal);
        }
        let query = req.uri().query().map(str::to_owned);
        if route.query.is_empty() {
            json::no_query(query.as_deref())?;
        }
        let last_event_id = req.headers().get(sse::LAST_EVENT_ID).cloned();
        let body = match self.read_body(route, req.into_body()).await {
            Ok(body) => body,
            Err(refusal) => return Ok(refusal),
        };
        let mut extensions = http::Extensions::new();
        permit.insert_into(&mut extensions);
        extensions.insert(Deadline(std::time::Instant::now() + self.answer_within()));
        let call = calls::Call {
            route,
            params,
            query,
            body,
            extensions,
        };
        let mut reply = if route.rpc.is_stream() {
            sse::watch(&self.api, call, last_event_id).await
        } else {
            match calls::dispatch(&self.api, call).await {
                Ok(json) => reply::ok_bytes(StatusCode::OK, Code::Ok, json),
                Err(status) => errors::from_status(&status),
            }
        };
        reply.authenticated = true;
        Ok(reply)
    }

    /// `GET /openapi.json`, with no token: the document.
    fn openapi(&self, method: &Method, started: Instant) -> Reply {
        if method != Method::GET {
            return unrouted(method, &["GET"], started);
        }
        match &self.openapi {
            Ok(doc) => reply::ok_bytes(StatusCode::OK, Code::Ok, doc.clone()),
            Err(e) => errors::refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                format!("the OpenAPI document could not be generated: {e}"),
            ),
        }
    }

    /// The body, up to the request-size limit; a route without a body takes
    /// none.
    async fn read_body(&self, route: &Route, body: Body) -> Result<Bytes, Reply> {
        let max = self.settings.max_request_bytes;
        let collected = Limited::new(body, max).collect().await;
        let bytes = match collected {
            Ok(c) => c.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => {
                return Err(errors::refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Code::ResourceExhausted,
                    format!("the request body is over {max} bytes"),
                ));
            }
            Err(_) => {
                return Err(errors::refusal(
                    StatusCode::BAD_REQUEST,
                    Code::InvalidArgument,
                    "the request body could not be read",
                ));
            }
        };
        if route.body == routes::Body::None && !bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(errors::refusal(
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                format!("{} {} takes no body", route.method, route.template),
            ));
        }
        Ok(bytes)
    }
}

/// A body other than JSON is refused before it is read.
fn unsupported_media(route: &Route, req: &Request<Body>) -> Option<Reply> {
    if route.body == routes::Body::None {
        return None;
    }
    let content_type = req.headers().get(header::CONTENT_TYPE)?;
    let essence = content_type
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() == Some("application/json") {
        return None;
    }
    Some(errors::refusal(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Code::InvalidArgument,
        "the request body must be JSON, sent as content-type application/json (curl: --json)",
    ))
}

/// 404 for a path no route has, 405 (with `Allow`) for a method the path's
/// routes do not take; logged and measured as the unknown method.
fn unrouted(method: &Method, allowed: &[&str], started: Instant) -> Reply {
    let reply = if allowed.is_empty() {
        errors::refusal(StatusCode::NOT_FOUND, Code::NotFound, "no such route")
    } else {
        let mut reply = errors::refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::Unimplemented,
            format!("{method} is not allowed here; use {}", allowed.join(", ")),
        );
        if let Ok(allow) = HeaderValue::from_str(&allowed.join(", ")) {
            reply.headers.insert(header::ALLOW, allow);
        }
        reply
    };
    let span = rpc::http_span(
        "unknown",
        method.as_str(),
        "unknown",
        &http::HeaderMap::new(),
    );
    let _enter = span.enter();
    rpc::finish_http(
        "unknown".into(),
        reply.code,
        reply.status.as_u16(),
        started.elapsed(),
    );
    reply
}

/// The path's parameters, percent-decoded.
fn decoded(params: Vec<(&'static str, &str)>) -> Result<Vec<(&'static str, String)>, Error> {
    params
        .into_iter()
        .map(|(name, raw)| {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map(|v| (name, v.into_owned()))
                .map_err(|_| Error::invalid(name, "is not UTF-8 once percent-decoded"))
        })
        .collect()
}

fn take(params: &mut Vec<(&'static str, String)>, name: &str) -> Option<String> {
    let at = params.iter().position(|(n, _)| *n == name)?;
    Some(params.remove(at).1)
}
