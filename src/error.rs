//! The service's one error type, which nests the layers' errors (the auth
//! layer's denials, the domain's refusals, the store's and the verifier's
//! failures), and the one mapping from it to gRPC statuses.
//!
//! Policy: a client learns what it can act on (the status code, a message
//! written for it here, field violations, a retry delay) and nothing else.
//! Every status the service sends is chosen in [`From<Error> for Status`],
//! whose match has no catch-all arm. Causes from the database or the runtime
//! are logged here and replaced by a generic message, so no query,
//! constraint, stack or secret leaves the service.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::{
    auth::{
        AuthError, OwnerRequired,
        authorizer::{Denied, ORG_ID_MAX_LEN},
    },
    credentials::{HashError, VerifyError},
    domain::{FieldViolation, OwnerOnly, Refusal, watch::WatchRefusal},
    store::{NAME_UNIQUE_CONSTRAINTS, StoreError, TransactionError},
};

/// Why a call failed, whichever layer found out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// The auth layer refused the caller.
    #[error("denied: {0:?}")]
    Denied(Denied),
    #[error("owner only")]
    OwnerOnly(OwnerOnly),
    #[error("application not found")]
    NotFound,
    #[error("registration token not found")]
    RegistrationTokenNotFound,
    /// RFC 7591/7592: no, or a bad, registration token or registration
    /// access token.
    #[error("invalid registration token")]
    InvalidRegistrationToken,
    /// Open registration: the organization holds as many dynamically
    /// registered apps as it may.
    #[error("dynamic apps full")]
    DynamicAppsFull,
    /// A live application of the organization has the name.
    #[error("name taken")]
    NameTaken,
    /// Undelete: a live application took the name meanwhile.
    #[error("name taken while deleted")]
    NameTakenWhileDeleted,
    #[error("etag mismatch")]
    EtagMismatch,
    #[error("application deleted")]
    Deleted,
    #[error("no client secret")]
    NoSecret,
    /// VerifyClientAssertion without an issuer identifier configured.
    #[error("assertions not configured")]
    AssertionsNotConfigured,
    /// Hashing capacity is saturated.
    #[error("busy")]
    Busy { retry_after: Duration },
    /// The call's metadata is larger than the server takes.
    #[error("metadata too large")]
    MetadataTooLarge { size: usize, max: usize },
    /// The caller (or client_id) is over its rate limit.
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    #[error("database unavailable")]
    Unavailable,
    /// A client's metadata document could not be fetched, and no good
    /// copy of it is at hand.
    #[error("client metadata document unreachable")]
    DocumentUnreachable,
    /// A statement ran out of time: the database was too slow.
    #[error("database statement timed out")]
    DatabaseTimeout,
    /// The client's deadline passed before the work could be done.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// A handler ran without the permit the auth layer must have attached.
    #[error("missing authorization permit")]
    MissingPermit,
    /// WatchApplications refused a resume token, or ended a stream.
    #[error("watch: {0}")]
    Watch(WatchRefusal),
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(v) => Self::Invalid(v),
            Refusal::Deleted => Self::Deleted,
            Refusal::NoSecret => Self::NoSecret,
            Refusal::EtagMismatch => Self::EtagMismatch,
        }
    }
}

impl From<OwnerRequired> for Error {
    fn from(OwnerRequired(why): OwnerRequired) -> Self {
        Self::OwnerOnly(why)
    }
}

impl From<AuthError<StoreError>> for Error {
    fn from(e: AuthError<StoreError>) -> Self {
        match e {
            // The reason (never the token) is what an operator needs to
            // help a caller who is refused.
            AuthError::Denied(Denied::BadToken(e)) => {
                tracing::info!(reason = %e, "bearer token refused");
                Self::Denied(Denied::BadToken(e))
            }
            AuthError::Denied(Denied::NoBearer) => {
                tracing::info!(
                    reason = "no `authorization: Bearer` metadata",
                    "bearer token refused"
                );
                Self::Denied(Denied::NoBearer)
            }
            AuthError::Denied(d) => Self::Denied(d),
            AuthError::RateLimited(retry_after) => Self::RateLimited { retry_after },
            AuthError::RoleLookup(e) => e.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::UniqueViolation(c) if NAME_UNIQUE_CONSTRAINTS.contains(&c.as_str()) => {
                Self::NameTaken
            }
            StoreError::UniqueViolation(c) => Self::Internal(format!("unique violation on {c}")),
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::Unavailable
            }
            StoreError::TimedOut(cause) => {
                tracing::warn!(%cause, "database statement timed out");
                Self::DatabaseTimeout
            }
            StoreError::Query(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl TransactionError for Error {
    fn is_statement_timeout(&self) -> bool {
        matches!(self, Self::DatabaseTimeout)
    }

    fn deadline_exceeded() -> Self {
        Self::DeadlineExceeded
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::RateLimited(retry_after) => Self::RateLimited { retry_after },
            VerifyError::Hash(e) => e.into(),
            VerifyError::Signature => Self::Internal(e.to_string()),
        }
    }
}

impl From<HashError> for Error {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy {
                retry_after: Duration::from_secs(1),
            },
            HashError::Failed => Self::Internal(e.to_string()),
        }
    }
}

/// What a caller is told when a client's metadata document cannot be
/// fetched (and no good copy is at hand).
const DOCUMENT_UNREACHABLE: &str =
    "the client's metadata document could not be fetched; retry later";

/// Field violations sent back at most: the details travel in a header.
pub const MAX_REPORTED_VIOLATIONS: usize = 50;

fn owner_only_message(why: &OwnerOnly) -> String {
    match why {
        OwnerOnly::PrivilegedApp => "only an OWNER may change a privileged application \
            (first_party, or holding admin:organization or admin:all)"
            .to_owned(),
        OwnerOnly::SetsFirstParty => "only an OWNER may set first_party".to_owned(),
        OwnerOnly::GrantsScope(scope) => format!("only an OWNER may grant the scope {scope}"),
    }
}

fn retry(code: Code, message: String, retry_after: Duration) -> Status {
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_retry_info(Some(retry_after)),
    )
}

const INVALID_REGISTRATION_TOKEN: &str = "the registration token or registration access \
    token is missing, unknown, expired, revoked or used up";
const DYNAMIC_APPS_FULL: &str = "open registration is full: the organization holds as many \
    dynamically registered applications as it may (OAUTH_APPS_MAX_DYNAMIC_APPS)";

/// INTERNAL, with the cause logged and never sent.
fn internal(cause: &str) -> Status {
    tracing::error!(%cause, "internal error");
    Status::internal("internal error")
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(violations) => invalid_status(violations),
            Error::Denied(denied) => denied_status(denied),
            Error::OwnerOnly(why) => Status::permission_denied(owner_only_message(&why)),
            Error::NotFound => Status::not_found("application not found"),
            Error::RegistrationTokenNotFound => Status::not_found("registration token not found"),
            Error::InvalidRegistrationToken => Status::unauthenticated(INVALID_REGISTRATION_TOKEN),
            Error::DynamicAppsFull => retry(
                Code::ResourceExhausted,
                DYNAMIC_APPS_FULL.to_owned(),
                Duration::from_secs(3600),
            ),
            Error::NameTaken => Status::already_exists(
                "an application with this name, or one that looks the same, already exists in the organization",
            ),
            Error::NameTakenWhileDeleted => Status::already_exists(
                "another live application of the organization has taken this name (or one that looks the same); rename that one first",
            ),
            Error::EtagMismatch => Status::aborted(
                "the application changed since it was read (etag mismatch); read it again and retry",
            ),
            Error::Deleted => {
                Status::failed_precondition("the application is deleted; undelete it first")
            }
            Error::NoSecret => Status::failed_precondition(
                "this application has no client secret: public applications (NATIVE, \
                 USER_AGENT_BASED) and PRIVATE_KEY_JWT ones authenticate otherwise",
            ),
            Error::AssertionsNotConfigured => Status::failed_precondition(
                "client assertions cannot be verified: the service has no issuer identifier \
                 (OAUTH_APPS_ASSERTION_AUDIENCE) to check their audience against",
            ),
            Error::Busy { retry_after } => retry(
                Code::ResourceExhausted,
                "the service is busy; retry later".to_owned(),
                retry_after,
            ),
            Error::RateLimited { retry_after } => retry(
                Code::ResourceExhausted,
                format!(
                    "rate limit exceeded; retry in {} ms",
                    retry_after.as_millis().max(1)
                ),
                retry_after,
            ),
            Error::MetadataTooLarge { size, max } => Status::resource_exhausted(format!(
                "the call's metadata is {size} bytes; the most this server takes is {max}"
            )),
            Error::Unavailable | Error::DatabaseTimeout => {
                Status::unavailable("the database is unavailable; retry later")
            }
            Error::DocumentUnreachable => Status::unavailable(DOCUMENT_UNREACHABLE),
            Error::DeadlineExceeded => Status::deadline_exceeded("the call's deadline passed"),
            Error::MissingPermit => internal("handler reached without an authorization permit"),
            Error::Watch(why) => watch_status(why),
            Error::Internal(cause) => internal(&cause),
        }
    }
}

fn watch_status(why: WatchRefusal) -> Status {
    let message = why.to_string();
    match why {
        WatchRefusal::TokenInvalid
        | WatchRefusal::TokenOtherStream
        | WatchRefusal::SnapshotWithToken => Status::invalid_argument(message),
        WatchRefusal::TokenExpired => Status::failed_precondition(format!(
            "{message} (OAUTH_APPS_WATCH_RETENTION); start again with initial_snapshot"
        )),
        WatchRefusal::TooSlow => Status::resource_exhausted(format!(
            "{message}; resume with the last resume_token received"
        )),
        WatchRefusal::NoLongerMember => Status::permission_denied(message),
        WatchRefusal::ShuttingDown => Status::unavailable(format!(
            "{message}; resume with the last resume_token received, here or on another replica"
        )),
    }
}

/// INVALID_ARGUMENT with every violation (up to a cap) as BadRequest details,
/// and the first few in the message too, for tools that show details only
/// as base64 (buf curl).
fn invalid_status(violations: Vec<FieldViolation>) -> Status {
    let message = invalid_message(&violations);
    let details = ErrorDetails::with_bad_request(
        violations
            .into_iter()
            .take(MAX_REPORTED_VIOLATIONS)
            .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// Violations named in the message at most, and the longest description
/// shown there: the message travels in a header.
const VIOLATIONS_IN_MESSAGE: usize = 5;
const DESCRIPTION_IN_MESSAGE: usize = 300;

/// `the request has 2 invalid fields: name: must not be empty or blank;
/// scopes: ... (every one in the BadRequest details)`.
fn invalid_message(violations: &[FieldViolation]) -> String {
    let n = violations.len();
    let listed: Vec<String> = violations
        .iter()
        .take(VIOLATIONS_IN_MESSAGE)
        .map(|v| {
            let mut why: String = v.description.chars().take(DESCRIPTION_IN_MESSAGE).collect();
            if why.len() < v.description.len() {
                why.push('…');
            }
            format!("{}: {why}", v.field)
        })
        .collect();
    let more = n.saturating_sub(VIOLATIONS_IN_MESSAGE);
    let more = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    let details = if n > MAX_REPORTED_VIOLATIONS {
        format!("the first {MAX_REPORTED_VIOLATIONS} are in the BadRequest details")
    } else {
        "every one in the BadRequest details".to_owned()
    };
    let head = match n {
        1 => "the request has an invalid field".to_owned(),
        n => format!("the request has {n} invalid fields"),
    };
    format!("{head}: {}{more} ({details})", listed.join("; "))
}

/// Why the auth layer refused a caller, in words the caller can act on.
fn denied_status(denied: Denied) -> Status {
    use crate::auth::ORG_HEADER;
    match denied {
        Denied::NoBearer => {
            Status::unauthenticated("the authorization header must be `Bearer <token>`")
        }
        Denied::BadToken(e) => Status::unauthenticated(format!("invalid bearer token: {e}")),
        Denied::MissingOrg => {
            Status::invalid_argument(format!("{ORG_HEADER} metadata is required"))
        }
        Denied::BadOrg => Status::invalid_argument(format!(
            "the organization id ({ORG_HEADER}, or the path's) must be 1 to {ORG_ID_MAX_LEN} printable ASCII characters"
        )),
        Denied::UnknownMethod => Status::unimplemented("this method is not available"),
        Denied::NotMember => {
            Status::permission_denied("the caller is not a member of this organization")
        }
        Denied::RoleTooLow { need, have } => Status::permission_denied(format!(
            "this method requires role {} or higher; the caller is {}",
            need.upper(),
            have.upper()
        )),
        Denied::MissingScope(scope) => {
            Status::permission_denied(format!("this method requires a token with scope {scope}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_capped_and_the_message_says_so() {
        let many = (0..200)
            .map(|i| FieldViolation::new(format!("f[{i}]"), "bad"))
            .collect();
        let status = Status::from(Error::Invalid(many));
        assert_eq!(status.code(), Code::InvalidArgument);
        let reported = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(reported.len(), MAX_REPORTED_VIOLATIONS);
        assert!(
            status.message().contains("200 invalid fields"),
            "{}",
            status.message()
        );
        assert!(status.message().contains("first 50"));
        assert!(
            status.message().contains("f[4]: bad; and 195 more"),
            "{}",
            status.message()
        );
        assert!(!status.message().contains("f[5]"), "{}", status.message());
    }

    #[test]
    fn the_message_names_each_field_and_why() {
        let status = Status::from(Error::Invalid(vec![
            FieldViolation::new("name", "must not be empty or blank"),
            FieldViolation::new("redirect_uris[1]", "x".repeat(1000)),
        ]));
        let message = status.message();
        assert!(
            message.starts_with(
                "the request has 2 invalid fields: name: must not be empty or blank; redirect_uris[1]: xxx"
            ),
            "{message}"
        );
        assert!(
            message.ends_with("… (every one in the BadRequest details)"),
            "{message}"
        );
        assert!(
            message.len() < 450,
            "descriptions are cut: {}",
            message.len()
        );
    }
}
