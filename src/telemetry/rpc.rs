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
use http::{HeaderMap, Request, Response};
use opentelemetry::{KeyValue, global, propagation::Extractor};
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::{Instrument as _, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Reads W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

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

/// Also where each call's deadline is fixed: the client's `grpc-timeout` or
/// the server's default, whichever comes first.
#[derive(Clone, Debug)]
pub struct RpcTelemetryLayer {
    pub default_timeout: std::time::Duration,
}

impl<S> Layer<S> for RpcTelemetryLayer {
    type Service = RpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetry {
            inner,
            default_timeout: self.default_timeout,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RpcTelemetry<S> {
    inner: S,
    default_timeout: std::time::Duration,
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

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let client = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| parse_grpc_timeout(v.to_str().ok()?));
        let timeout = client.map_or(self.default_timeout, |c| c.min(self.default_timeout));
        req.extensions_mut()
            .insert(crate::api::Deadline(Instant::now() + timeout));
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

/// `grpc-timeout`: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(v: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_grpc_timeout;

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        for bad in ["", "m", "10", "10x", "123456789S", "-1S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }
}
