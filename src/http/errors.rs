//! Errors of the HTTP/JSON door in AIP-193's shape: the HTTP status from the
//! gRPC code as the contract maps it, and the status's details
//! (`google.rpc.BadRequest`, `RetryInfo`) rendered as proto3 JSON, with
//! `Retry-After` on 429. Every refusal has this body: never HTML, never
//! empty.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use super::reply::{Reply, json_reply};

/// The HTTP status of a gRPC code (AIP-193; google.rpc.Code's mapping).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A refusal with an HTTP status of its own (404, 405, 413, 415, 431) and
/// the gRPC code whose name goes in `status`.
pub fn refusal(http: StatusCode, code: Code, message: impl Into<String>) -> Reply {
    let body = json!({"error": {
        "code": http.as_u16(),
        "message": message.into(),
        "status": super::telemetry_code_name(code),
    }});
    json_reply(http, code, &body)
}

/// The response for a failed call.
pub fn from_status(status: &Status) -> Reply {
    let http = http_status(status.code());
    let details = status.get_error_details();
    let mut rendered = Vec::new();
    if let Some(bad) = details.bad_request() {
        let violations: Vec<Value> = bad
            .field_violations
            .iter()
            .map(|v| json!({"field": v.field, "description": v.description}))
            .collect();
        rendered.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": violations,
        }));
    }
    let mut retry_after = None;
    if let Some(delay) = details.retry_info().and_then(|r| r.retry_delay) {
        let seconds = delay.as_secs_f64();
        rendered.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{}s", trim_seconds(seconds)),
        }));
        // Whole seconds, rounded up: never earlier than the server said.
        retry_after = Some(seconds.ceil().max(1.0) as u64);
    }
    let mut error = json!({
        "code": http.as_u16(),
        "message": status.message(),
        "status": super::telemetry_code_name(status.code()),
    });
    if !rendered.is_empty() {
        error["details"] = Value::Array(rendered);
    }
    let mut reply = json_reply(http, status.code(), &json!({ "error": error }));
    if let Some(seconds) = retry_after {
        reply
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    reply
}

/// Seconds as proto3 JSON writes a Duration: no trailing zeros.
fn trim_seconds(seconds: f64) -> String {
    let s = format!("{seconds:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic_types::{ErrorDetails, StatusExt as _};

    use super::*;

    #[test]
    fn the_contract_maps_codes_to_http_statuses() {
        for (code, http) in [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::OutOfRange, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::ResourceExhausted, 429),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::Internal, 500),
        ] {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }

    #[test]
    fn details_become_json_and_a_retry_delay_a_retry_after() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("redirect_uris[1]", "must be absolute");
        let status = Status::with_error_details(Code::InvalidArgument, "bad", details);
        let reply = from_status(&status);
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(body["error"]["code"], 400);
        let detail = &body["error"]["details"][0];
        assert_eq!(detail["@type"], "type.googleapis.com/google.rpc.BadRequest");
        assert_eq!(detail["fieldViolations"][0]["field"], "redirect_uris[1]");

        let details = ErrorDetails::with_retry_info(Some(Duration::from_millis(1500)));
        let status = Status::with_error_details(Code::ResourceExhausted, "slow down", details);
        let reply = from_status(&status);
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(reply.headers[header::RETRY_AFTER], "2");
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["error"]["details"][0]["retryDelay"], "1.5s");
    }
}
