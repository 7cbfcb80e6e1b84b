//! The error responses of the document: AIP-193's body (the `Error`
//! schema, as `http/errors.rs` writes it) under each HTTP status a route
//! can answer with, and which statuses those are per RPC.

use serde_json::{Map, Value, json};
use tonic::Code;

use super::super::{errors::http_status, routes::Rpc};

/// An error status: its HTTP status, component name and description.
struct ErrorResponse {
    status: u16,
    name: &'static str,
    description: &'static str,
}

const fn error(status: u16, name: &'static str, description: &'static str) -> ErrorResponse {
    ErrorResponse {
        status,
        name,
        description,
    }
}

const ERRORS: &[ErrorResponse] = &[
    error(
        400,
        "BadRequest",
        "INVALID_ARGUMENT (bad fields, with google.rpc.BadRequest field violations; \
         malformed JSON; an unknown field or query parameter), FAILED_PRECONDITION or \
         OUT_OF_RANGE.",
    ),
    error(
        401,
        "Unauthenticated",
        "UNAUTHENTICATED: no, malformed, expired or badly signed bearer token.",
    ),
    error(
        403,
        "PermissionDenied",
        "PERMISSION_DENIED: not a member, role too low, scope missing, owner-only field.",
    ),
    error(
        404,
        "NotFound",
        "NOT_FOUND: the application or client is unknown (or in another organization).",
    ),
    error(
        409,
        "Conflict",
        "ALREADY_EXISTS (the name is taken) or ABORTED (etag mismatch).",
    ),
    error(
        413,
        "PayloadTooLarge",
        "RESOURCE_EXHAUSTED: the request body is over the server's limit.",
    ),
    error(
        415,
        "UnsupportedMediaType",
        "INVALID_ARGUMENT: the body is not sent as application/json.",
    ),
    error(
        429,
        "TooManyRequests",
        "RESOURCE_EXHAUSTED: over a rate limit, or the service is busy; with \
         google.rpc.RetryInfo and Retry-After.",
    ),
    error(
        431,
        "RequestHeaderFieldsTooLarge",
        "RESOURCE_EXHAUSTED: the request's headers are over the server's limit.",
    ),
    error(500, "Internal", "INTERNAL: a failure of the service."),
    error(
        503,
        "Unavailable",
        "UNAVAILABLE: the database is unavailable; retry.",
    ),
    error(
        504,
        "DeadlineExceeded",
        "DEADLINE_EXCEEDED: the call's deadline passed.",
    ),
];

/// The HTTP statuses other than 200 an RPC's route can answer with.
pub fn statuses(rpc: Rpc, has_body: bool) -> Vec<u16> {
    use Rpc::*;
    let mut statuses = vec![400, 401, 403, 413, 429, 431, 500, 503, 504];
    let not_found = matches!(
        rpc,
        GetApplication
            | UpdateApplication
            | DeleteApplication
            | UndeleteApplication
            | RotateClientSecret
            | LookupClient
            | MatchRedirectUri
            | RevokeRegistrationToken
    );
    let conflict = matches!(
        rpc,
        CreateApplication | UpdateApplication | UndeleteApplication
    );
    for (when, status) in [(not_found, 404), (conflict, 409), (has_body, 415)] {
        if when {
            statuses.push(status);
        }
    }
    statuses.sort_unstable();
    statuses
}

/// `{"$ref": ...}` to a status's response component.
pub fn reference(status: u16) -> Value {
    let name = ERRORS
        .iter()
        .find(|e| e.status == status)
        .map_or("Internal", |e| e.name);
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// `components.responses`: one per error status.
pub fn components() -> Map<String, Value> {
    ERRORS
        .iter()
        .map(|e| {
            let mut response = json!({
                "description": e.description,
                "content": { "application/json": { "schema": {
                    "$ref": "#/components/schemas/Error"
                } } },
            });
            if e.status == 429 {
                response["headers"] = json!({ "Retry-After": {
                    "description": "Seconds to wait before retrying, rounded up.",
                    "schema": { "type": "integer", "minimum": 1 },
                } });
            }
            (e.name.to_owned(), response)
        })
        .collect()
}

/// The `Error` schema and its details' schemas.
pub fn schemas() -> Map<String, Value> {
    let codes: Vec<&str> = (0..=16)
        .map(|c| super::super::telemetry_code_name(Code::from_i32(c)))
        .collect();
    let mut http: Vec<u16> = (0..=16)
        .map(|c| http_status(Code::from_i32(c)).as_u16())
        .chain(ERRORS.iter().map(|e| e.status))
        .chain([404, 405])
        .collect();
    http.sort_unstable();
    http.dedup();
    let error = json!({
        "type": "object",
        "description": "An error, as AIP-193 writes it: google.rpc.Status in JSON.",
        "required": ["error"],
        "additionalProperties": false,
        "properties": { "error": {
            "type": "object",
            "required": ["code", "message", "status"],
            "additionalProperties": false,
            "properties": {
                "code": { "type": "integer", "enum": http, "description": "The HTTP status." },
                "message": { "type": "string" },
                "status": { "type": "string", "enum": codes, "description": "The gRPC code's name." },
                "details": { "type": "array", "items": { "oneOf": [
                    { "$ref": "#/components/schemas/BadRequest" },
                    { "$ref": "#/components/schemas/RetryInfo" },
                ] } },
            },
        } },
    });
    let mut schemas = details();
    schemas.insert("Error".to_owned(), error);
    schemas
}

/// The details an error may carry.
fn details() -> Map<String, Value> {
    let bad_request = json!({
        "type": "object",
        "description": "google.rpc.BadRequest: every invalid field at once.",
        "required": ["@type", "fieldViolations"],
        "additionalProperties": false,
        "properties": {
            "@type": { "const": "type.googleapis.com/google.rpc.BadRequest" },
            "fieldViolations": { "type": "array", "items": {
                "type": "object",
                "required": ["field", "description"],
                "additionalProperties": false,
                "properties": {
                    "field": { "type": "string", "description": "The field's path, such as `redirect_uris[1]`." },
                    "description": { "type": "string" },
                },
            } },
        },
    });
    let retry_info = json!({
        "type": "object",
        "description": "google.rpc.RetryInfo: when to retry.",
        "required": ["@type", "retryDelay"],
        "additionalProperties": false,
        "properties": {
            "@type": { "const": "type.googleapis.com/google.rpc.RetryInfo" },
            "retryDelay": { "type": "string", "pattern": super::schemas::DURATION_PATTERN },
        },
    });
    Map::from_iter([
        ("BadRequest".to_owned(), bad_request),
        ("RetryInfo".to_owned(), retry_info),
    ])
}
