//! The one mapping from the service's errors to gRPC statuses.
//!
//! Policy: a client learns what it can act on (the status code, a message
//! written for it, field violations, a retry delay) and nothing else. Causes
//! from the database or the runtime are logged here and replaced by a generic
//! message, so no query, constraint, stack or secret leaves the service.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::{
    domain::FieldViolation,
    hashing::HashError,
    store::{NAME_UNIQUE_CONSTRAINT, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("application not found")]
    NotFound,
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("aborted: {0}")]
    Aborted(String),
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// Hashing capacity is saturated.
    #[error("busy")]
    Busy { retry_after: Duration },
    /// The caller (or client_id) is over its rate limit.
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    #[error("database unavailable")]
    Unavailable,
    /// A statement ran out of time: the database was too slow, or the call's
    /// deadline (see `Api::tx`) bounded it.
    #[error("database statement timed out")]
    DatabaseTimeout,
    /// The client's deadline passed before the work could be done.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// A handler ran without the permit the auth layer must have attached.
    #[error("missing authorization permit")]
    MissingPermit,
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::UniqueViolation(c) if c == NAME_UNIQUE_CONSTRAINT => Self::AlreadyExists(
                "an application with this name already exists in the organization".into(),
            ),
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

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy {
                retry_after: Duration::from_secs(1),
            },
            HashError::Failed => Self::Internal(e.to_string()),
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(violations) => {
                let n = violations.len();
                let details = ErrorDetails::with_bad_request(
                    violations
                        .into_iter()
                        .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                        .collect::<Vec<_>>(),
                );
                let message = if n == 1 {
                    "the request has an invalid field (see BadRequest details)".to_owned()
                } else {
                    format!("the request has {n} invalid fields (see BadRequest details)")
                };
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ApiError::PermissionDenied(m) => Status::permission_denied(m),
            ApiError::NotFound => Status::not_found("application not found"),
            ApiError::AlreadyExists(m) => Status::already_exists(m),
            ApiError::Aborted(m) => Status::aborted(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::Busy { retry_after } => Status::with_error_details(
                Code::ResourceExhausted,
                "the service is busy; retry later",
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            ApiError::RateLimited { retry_after } => Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "rate limit exceeded; retry in {} ms",
                    retry_after.as_millis().max(1)
                ),
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            ApiError::Unavailable | ApiError::DatabaseTimeout => {
                Status::unavailable("the database is unavailable; retry later")
            }
            ApiError::DeadlineExceeded => Status::deadline_exceeded("the call's deadline passed"),
            ApiError::MissingPermit => {
                tracing::error!("handler reached without an authorization permit");
                Status::internal("internal error")
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                Status::internal("internal error")
            }
        }
    }
}
