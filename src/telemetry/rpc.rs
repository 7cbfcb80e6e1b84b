//! One server span, one log line and one measurement per RPC.
//!
//! The span is named after the RPC (`oauthapps.v1.OAuthApplications/CreateApplication`),
//! continues the caller's trace when the call carries a W3C `traceparent`,
//! and gets the caller, organization, application id and gRPC status as the
//! call goes through the auth layer and the handler. No metadata value is
//! ever copied into it: only these named fields.

use std::{
    task::{Context, Poll},
    time::Instant,
};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use opentelemetry::{KeyValue, global};
use opentelemetry_http::HeaderExtractor;
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::{Instrument as _, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

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

#[derive(Clone, Copy, Debug)]
pub struct RpcTelemetryLayer;

impl<S> Layer<S> for RpcTelemetryLayer {
    type Service = RpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetry { inner }
    }
}

#[derive(Clone, Debug)]
pub struct RpcTelemetry<S> {
    inner: S,
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
        let path = req.uri().path().trim_start_matches('/').to_owned();
        let (service, method) = path.split_once('/').unwrap_or((path.as_str(), ""));
        let span = tracing::info_span!(
            "rpc",
            otel.name = %path,
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = Empty,
            caller = Empty,
            org = Empty,
            app_id = Empty,
        );
        let parent =
            global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
        let _ = span.set_parent(parent);
        let started = Instant::now();
        let method = method.to_owned();
        Box::pin(
            async move {
                let result = inner.call(req).await;
                let code = match &result {
                    // Unary errors travel as trailers-only responses, with
                    // grpc-status in the headers; OK comes in the trailers.
                    Ok(resp) => resp
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .unwrap_or(0),
                    Err(_) => tonic::Code::Unknown as i32,
                };
                let elapsed = started.elapsed();
                let status = code_name(code);
                let span = tracing::Span::current();
                span.record("rpc.grpc.status_code", code);
                if is_server_error(code) {
                    span.record("otel.status_code", "ERROR");
                }
                let latency_ms = elapsed.as_secs_f64() * 1000.0;
                if is_server_error(code) {
                    tracing::warn!(method = %method, status, latency_ms, "rpc");
                } else {
                    tracing::info!(method = %method, status, latency_ms, "rpc");
                }
                let attrs = [
                    KeyValue::new("rpc.method", method.clone()),
                    KeyValue::new("rpc.grpc.status_code", status),
                ];
                let m = super::metrics::get();
                m.rpc_calls.add(1, &attrs);
                m.rpc_duration.record(elapsed.as_secs_f64(), &attrs);
                result
            }
            .instrument(span),
        )
    }
}

/// Statuses that mean the service failed, not the caller.
fn is_server_error(code: i32) -> bool {
    use tonic::Code::*;
    matches!(
        tonic::Code::from_i32(code),
        Unknown | DeadlineExceeded | Unimplemented | Internal | Unavailable | DataLoss
    )
}

/// Notes the authenticated caller and organization on the RPC's span.
pub fn record_caller(subject: &str, org: Option<&str>) {
    let span = tracing::Span::current();
    span.record("caller", subject);
    if let Some(org) = org {
        span.record("org", org);
    }
}

/// Notes the application a call is about on the RPC's span.
pub fn record_app(app_id: &str) {
    tracing::Span::current().record("app_id", app_id);
}
