//! One server span, one log line and one measurement per RPC.
//!
//! The span is named after the RPC (`oauthapps.v1.OAuthApplications/CreateApplication`),
//! continues the caller's trace when the call carries a W3C `traceparent`,
//! and gets the caller, organization, application id and gRPC status as the
//! call goes through the auth layer and the handler. No metadata value is
//! ever copied into it: only these named fields.

use std::{
    collections::HashMap,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use opentelemetry::{KeyValue, global};
use opentelemetry_http::HeaderExtractor;
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::{Instrument as _, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The target of the per-call log line.
pub const LOG_TARGET: &str = module_path!();

/// gRPC status names, for logs and span attributes.
pub fn code_name(code: i32) -> &'static str {
    tonic::Code::from_i32(code).description_name()
}

trait CodeName {
    fn description_name(self) -> &'static str;
}

impl CodeName for tonic::Code {
    fn description_name(self) -> &'static str {
        use tonic::Code::*;
        match self {
            Ok => "OK",
            Cancelled => "CANCELLED",
            Unknown => "UNKNOWN",
            InvalidArgument => "INVALID_ARGUMENT",
            DeadlineExceeded => "DEADLINE_EXCEEDED",
            NotFound => "NOT_FOUND",
            AlreadyExists => "ALREADY_EXISTS",
            PermissionDenied => "PERMISSION_DENIED",
            ResourceExhausted => "RESOURCE_EXHAUSTED",
            FailedPrecondition => "FAILED_PRECONDITION",
            Aborted => "ABORTED",
            OutOfRange => "OUT_OF_RANGE",
            Unimplemented => "UNIMPLEMENTED",
            Internal => "INTERNAL",
            Unavailable => "UNAVAILABLE",
            DataLoss => "DATA_LOSS",
            Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

/// The names of one method, as spans and metrics carry them, shared rather
/// than copied per call.
#[derive(Debug)]
struct MethodNames {
    /// `package.Service/Method`: the span's name.
    path: Arc<str>,
    service: Arc<str>,
    method: Arc<str>,
}

/// Opens the RPC's span and records its log line and metrics. Only the
/// methods the server was built with are named: any other path is
/// `unknown`, so that made-up paths cannot grow the metrics' cardinality or
/// put a caller's string into traces.
#[derive(Clone, Debug)]
pub struct RpcTelemetryLayer {
    known: Arc<HashMap<String, MethodNames>>,
    unknown: Arc<MethodNames>,
}

impl RpcTelemetryLayer {
    /// `paths`: every `package.Service/Method` the server answers.
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let known = paths
            .into_iter()
            .map(|path| {
                let (service, method) = path.split_once('/').unwrap_or((path, ""));
                let names = MethodNames {
                    path: path.into(),
                    service: service.into(),
                    method: method.into(),
                };
                (format!("/{path}"), names)
            })
            .collect();
        let unknown: Arc<str> = "unknown".into();
        Self {
            known: Arc::new(known),
            unknown: Arc::new(MethodNames {
                path: unknown.clone(),
                service: unknown.clone(),
                method: unknown,
            }),
        }
    }
}

impl<S> Layer<S> for RpcTelemetryLayer {
    type Service = RpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetry {
            inner,
            names: self.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RpcTelemetry<S> {
    inner: S,
    names: RpcTelemetryLayer,
}

impl<S> Service<Request<Body>> for RpcTelemetry<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let names = self
            .names
            .known
            .get(req.uri().path())
            .unwrap_or(&self.names.unknown);
        let span = rpc_span(names, req.headers());
        let started = Instant::now();
        let method = names.method.clone();
        Box::pin(
            async move {
                let result = inner.call(req).await;
                let code = match &result {
                    Ok(resp) => response_code(resp.headers()),
                    Err(_) => tonic::Code::Unknown as i32,
                };
                finish(method, code, started.elapsed());
                result
            }
            .instrument(span),
        )
    }
}

/// Whether the call carries a W3C trace context to continue.
fn has_trace_context(headers: &http::HeaderMap) -> bool {
    headers.contains_key("traceparent")
}

/// Statuses that mean the service failed, not the caller.
fn is_server_error(code: i32) -> bool {
    use tonic::Code::*;
    matches!(
        tonic::Code::from_i32(code),
        Unknown | DeadlineExceeded | Unimplemented | Internal | Unavailable | DataLoss
    )
}

/// Notes the authenticated caller on the RPC's span.
pub fn record_caller(subject: &str) {
    tracing::Span::current().record("caller", subject);
}

/// Notes the organization of an org-scoped call on the RPC's span. Each
/// field is recorded once: a log line names it once.
pub fn record_org(org: &str) {
    tracing::Span::current().record("org", org);
}

/// Notes the application a call is about on the RPC's span.
pub fn record_app(app_id: &str) {
    tracing::Span::current().record("app_id", app_id);
}

/// The server span of one call, continuing the caller's trace when the
/// request carries one.
fn rpc_span(names: &MethodNames, headers: &http::HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        "rpc",
        otel.name = &*names.path,
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = &*names.service,
        rpc.method = &*names.method,
        rpc.grpc.status_code = Empty,
        caller = Empty,
        org = Empty,
        app_id = Empty,
    );
    continuing_trace(span, headers)
}

/// `span`, continuing the caller's trace when the request carries a W3C
/// `traceparent`.
fn continuing_trace(span: tracing::Span, headers: &http::HeaderMap) -> tracing::Span {
    if has_trace_context(headers) {
        let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
        let _ = span.set_parent(parent);
    }
    span
}

/// The gRPC status code of a response: unary errors travel as
/// trailers-only responses, with grpc-status in the headers; OK comes in
/// the trailers.
fn response_code(headers: &http::HeaderMap) -> i32 {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}

/// The server span of one HTTP/JSON call, named after its route template
/// (`GET /v1/organizations/{organization_id}/applications/{id}`), never the
/// concrete path with its ids; `rpc` is the RPC the route calls, so that
/// metrics carry the same labels as over gRPC.
pub fn http_span(
    route: &str,
    http_method: &str,
    rpc: &str,
    headers: &http::HeaderMap,
) -> tracing::Span {
    let span = tracing::info_span!(
        "rpc",
        otel.name = format_args!("{http_method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = http_method,
        http.route = route,
        http.response.status_code = Empty,
        rpc.method = rpc,
        rpc.grpc.status_code = Empty,
        caller = Empty,
        org = Empty,
        app_id = Empty,
    );
    continuing_trace(span, headers)
}

/// Records a finished HTTP/JSON call as [`finish`] records a gRPC one (the
/// same log line and metrics), with its HTTP status on the span.
/// Only a 5xx is the service's failure (a 405's UNIMPLEMENTED is the
/// caller's).
pub fn finish_http(rpc: Arc<str>, code: tonic::Code, http_status: u16, elapsed: Duration) {
    tracing::Span::current().record("http.response.status_code", http_status);
    finish_as(rpc, code as i32, http_status >= 500, elapsed);
}

/// Records a finished call: its status on the span, the log line, metrics.
fn finish(method: Arc<str>, code: i32, elapsed: Duration) {
    finish_as(method, code, is_server_error(code), elapsed);
}

fn finish_as(method: Arc<str>, code: i32, server_error: bool, elapsed: Duration) {
    let status = code_name(code);
    let span = tracing::Span::current();
    span.record("rpc.grpc.status_code", code);
    if server_error {
        span.record("otel.status_code", "ERROR");
    }
    // Tenths of a millisecond: finer is noise in a log line.
    let latency_ms = (elapsed.as_secs_f64() * 10_000.0).round() / 10.0;
    if server_error {
        tracing::warn!(method = &*method, status, latency_ms, "rpc");
    } else {
        tracing::info!(method = &*method, status, latency_ms, "rpc");
    }
    let attrs = [
        KeyValue::new("rpc.method", method),
        KeyValue::new("rpc.grpc.status_code", status),
    ];
    let m = super::metrics::get();
    m.rpc_calls.add(1, &attrs);
    m.rpc_duration.record(elapsed.as_secs_f64(), &attrs);
}
