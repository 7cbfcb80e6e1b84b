//! RFC 7591 dynamic client registration (`POST /oauth2/register`) and RFC
//! 7592 client configuration (`GET`, `PUT`, `DELETE
//! /oauth2/register/{client_id}`): HTTP only, since the RFCs define them
//! so. Their callers are clients, not members: they authenticate with a
//! registration token or their registration access token (never a JWT), and
//! errors take the RFCs' shape (`{"error", "error_description"}`, 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`). Everything else (the
//! rules, the store, the audit trail, the limits) is the operations' and so
//! the same as CreateApplication's.

use std::{net::IpAddr, time::Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Limited};
use serde_json::{Value, json};
use tonic::{Code, Status, body::Body};
use tracing::Instrument as _;

use super::{Http, reply::Reply, reply::json_reply};
use crate::{
    domain::{
        FieldViolation,
        dcr::{self, ClientMetadata, ErrorCode},
        registration::BearerToken,
    },
    error::Error,
    ops::{RegisterError, Registered},
    store::Deadline,
    telemetry::rpc,
};

pub const PATH: &str = "/oauth2/register";
const CLIENT_PATH: &str = "/oauth2/register/{client_id}";

/// The peer's address, which the server's door puts in a request's
/// extensions: the source that open registration limits.
#[derive(Clone, Copy, Debug)]
pub struct PeerIp(pub IpAddr);

/// Whether `path` is one of these routes.
pub fn is_register_path(path: &str) -> bool {
    path == PATH || path.starts_with("/oauth2/register/")
}

/// What a request asks for.
enum Action {
    Register,
    Read(String),
    Replace(String),
    Delete(String),
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Self::Register => "RegisterClient",
            Self::Read(_) => "GetClientRegistration",
            Self::Replace(_) => "UpdateClientRegistration",
            Self::Delete(_) => "DeleteClientRegistration",
        }
    }
}

fn action(method: &Method, path: &str) -> Result<Action, &'static [&'static str]> {
    let client_id = path
        .strip_prefix("/oauth2/register/")
        .filter(|c| !c.is_empty() && !c.contains('/'))
        .and_then(|c| percent_encoding::percent_decode_str(c).decode_utf8().ok())
        .map(|c| c.into_owned());
    match (client_id, method) {
        (None, &Method::POST) if path == PATH => Ok(Action::Register),
        (None, _) if path == PATH => Err(&["POST"]),
        (None, _) => Err(&[]),
        (Some(id), &Method::GET) => Ok(Action::Read(id)),
        (Some(id), &Method::PUT) => Ok(Action::Replace(id)),
        (Some(id), &Method::DELETE) => Ok(Action::Delete(id)),
        (Some(_), _) => Err(&["GET", "PUT", "DELETE"]),
    }
}

impl Http {
    /// Answers a request to one of these routes.
    pub(super) async fn register(&self, req: Request<Body>, started: Instant) -> Reply {
        let action = match action(req.method(), req.uri().path()) {
            Ok(action) => action,
            Err(allowed) => return super::unrouted(req.method(), allowed, started),
        };
        let template = if matches!(action, Action::Register) {
            PATH
        } else {
            CLIENT_PATH
        };
        let name = action.name();
        let span = rpc::http_span(template, req.method().as_str(), name, req.headers());
        let call = self.registration_call(action, req).instrument(span.clone());
        let reply = tokio::time::timeout(self.answer_within(), call)
            .await
            .unwrap_or_else(|_| other_error(&Status::from(Error::DeadlineExceeded)));
        let _enter = span.enter();
        rpc::finish_http(
            name.into(),
            reply.code,
            reply.status.as_u16(),
            started.elapsed(),
        );
        reply
    }

    async fn registration_call(&self, action: Action, req: Request<Body>) -> Reply {
        if super::header_bytes(req.headers()) > self.settings.max_metadata_bytes {
            return error(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                Code::ResourceExhausted,
                "invalid_request",
                "the request's headers are too large",
            );
        }
        let bearer = bearer(req.headers());
        let source = req.extensions().get::<PeerIp>().map(|p| p.0);
        let base = self.registration_base(&req);
        let deadline = Some(Deadline(Instant::now() + self.answer_within()));
        let ops = self.api.ops();
        let status = if matches!(action, Action::Register) {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let result = match action {
            Action::Register => match self.metadata(req).await {
                Ok(m) => ops.register_client(bearer, source, m, deadline).await,
                Err(reply) => return reply,
            },
            Action::Replace(client_id) => match self.metadata(req).await {
                Ok(m) => {
                    ops.replace_registration(&client_id, bearer, m, deadline)
                        .await
                }
                Err(reply) => return reply,
            },
            Action::Read(client_id) => {
                ops.read_registration(&client_id, bearer)
                    .await
                    .map(|app| Registered {
                        app,
                        secret: None,
                        access_token: BearerToken::from_presented(String::new()),
                    })
            }
            Action::Delete(client_id) => {
                return match ops.delete_registration(&client_id, bearer, deadline).await {
                    Ok(()) => no_content(),
                    Err(e) => refused(e),
                };
            }
        };
        match result {
            Ok(registered) => {
                let mut reply = json_reply(status, Code::Ok, &response(registered, &base));
                reply.authenticated = true;
                reply
            }
            Err(e) => refused(e),
        }
    }

    /// The body as RFC 7591 client metadata: JSON, within the size limit.
    async fn metadata(&self, req: Request<Body>) -> Result<ClientMetadata, Reply> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                "invalid_client_metadata",
                "the client metadata must be JSON, sent as content-type application/json",
            ));
        }
        let max = self.settings.max_request_bytes;
        let body: Bytes = match Limited::new(req.into_body(), max).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => {
                return Err(error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Code::ResourceExhausted,
                    "invalid_client_metadata",
                    &format!("the client metadata is over {max} bytes"),
                ));
            }
        };
        let de = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let at = e.path().to_string();
            let why = e.into_inner();
            let description = if at == "." {
                format!("the body is not a JSON object of client metadata: {why}")
            } else {
                format!("{at}: {why}")
            };
            error(
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                ErrorCode::InvalidClientMetadata.as_str(),
                &description,
            )
        })
    }

    /// Where this service's registration routes are reached: the
    /// configured public URL, or the request's own scheme and host.
    fn registration_base(&self, req: &Request<Body>) -> String {
        if let Some(url) = &self.settings.public_url {
            return url.clone();
        }
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "localhost".to_owned());
        let scheme =
            req.uri()
                .scheme_str()
                .unwrap_or(if self.settings.tls { "https" } else { "http" });
        format!("{scheme}://{host}")
    }
}

/// `Authorization: Bearer <token>`, the scheme in any case.
fn bearer(headers: &http::HeaderMap) -> Option<BearerToken> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .then(|| BearerToken::from_presented(token.to_owned()))
}

/// RFC 7591 section 3.2.1's response: the registered metadata and what the
/// service issued.
fn response(r: Registered, base: &str) -> Value {
    let mut out = dcr::registered_metadata(&r.app);
    let encoded: String =
        percent_encoding::utf8_percent_encode(&r.app.client_id, percent_encoding::NON_ALPHANUMERIC)
            .collect();
    out.insert(
        "registration_client_uri".into(),
        format!("{base}{PATH}/{encoded}").into(),
    );
    if !r.access_token.expose().is_empty() {
        out.insert(
            "registration_access_token".into(),
            r.access_token.expose().into(),
        );
    }
    if let Some(secret) = &r.secret {
        out.insert("client_secret".into(), secret.expose().into());
    }
    if r.app.secret_hint.is_some() {
        // Secrets do not expire; they are rotated.
        out.insert("client_secret_expires_at".into(), 0.into());
    }
    Value::Object(out)
}

fn no_content() -> Reply {
    let mut reply = json_reply(StatusCode::NO_CONTENT, Code::Ok, &json!({}));
    reply.body = Bytes::new();
    reply.headers.remove(header::CONTENT_TYPE);
    reply.authenticated = true;
    reply
}

/// An RFC 7591 error body with its HTTP status.
fn error(status: StatusCode, code: Code, error: &str, description: &str) -> Reply {
    json_reply(
        status,
        code,
        &json!({"error": error, "error_description": description}),
    )
}

fn refused(e: RegisterError) -> Reply {
    match e {
        RegisterError::InvalidToken => {
            let mut reply = error(
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                "invalid_token",
                "the registration token or registration access token is missing, unknown, \
                 expired, revoked or used up",
            );
            reply.headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            reply
        }
        RegisterError::Invalid(violations) => invalid(&violations),
        RegisterError::Other(e) => other_error(&Status::from(e)),
    }
}

fn invalid(violations: &[FieldViolation]) -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        Code::InvalidArgument,
        ErrorCode::of(violations).as_str(),
        &dcr::describe(violations),
    )
}

/// Any other failure: its HTTP status as the other routes map it, with
/// `Retry-After` on 429, in the RFC's shape.
fn other_error(status: &Status) -> Reply {
    let aip = super::errors::from_status(status);
    let error_code = match aip.status {
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => "temporarily_unavailable",
        StatusCode::BAD_REQUEST => "invalid_client_metadata",
        _ => "server_error",
    };
    let mut reply = error(aip.status, aip.code, error_code, status.message());
    if let Some(retry) = aip.headers.get(header::RETRY_AFTER) {
        reply.headers.insert(header::RETRY_AFTER, retry.clone());
    }
    reply
}
