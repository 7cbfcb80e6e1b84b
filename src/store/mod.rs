//! PostgreSQL storage through Diesel and diesel-async.
//!
//! Functions take `&mut AsyncPgConnection` so that callers decide about
//! transactions, which they run through [`Db`]. Functions touching an
//! organization's applications take the caller's permit (`auth::permit`)
//! and scope every query to its organization, so an application of another
//! organization is never seen.

pub mod app_cache;
pub mod applications;
pub mod assertions;
pub mod audit;
pub mod changes;
pub mod connect;
pub mod db;
pub mod feed;
pub mod memberships;
pub mod notifications;
pub mod outage;
pub mod registration_tokens;
pub mod schema;
pub mod settings;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::{PoolError, bb8::RunError};

pub use app_cache::AppCache;
pub use connect::{ConnectError, establish};
pub use db::{
    Db, Deadline, MIGRATIONS, Pool, PooledConn, TransactionError, build_pool, ensure_database,
    run_migrations,
};
pub use memberships::Memberships;

/// Constraints that keep names unique among an org's live applications:
/// exact (case-insensitive), and by either look-alike key.
pub const NAME_UNIQUE_CONSTRAINTS: &[&str] = &[
    "applications_org_name_live",
    "applications_org_name_key_live",
    "applications_org_visual_key_live",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("unique constraint {0:?} violated")]
    UniqueViolation(String),
    /// The database cannot be reached or dropped the connection: retryable.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement ran out of time (`statement_timeout`, which may be the
    /// call's own deadline): retryable.
    #[error("statement timed out: {0}")]
    TimedOut(String),
    #[error("database error: {0}")]
    Query(DieselError),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::UniqueViolation(info.constraint_name().unwrap_or_default().to_owned())
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::Unavailable(info.message().to_owned()),
            // A write on a server that is (or became) a standby: a
            // connection made before a switchover, or a proxy pointing at
            // the wrong host. The next connection goes to the primary
            // (`target_session_attrs=read-write`), so it is retryable.
            DieselError::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            // statement_timeout or a client deadline ran out (57014): the
            // database was too slow to answer, which is retryable.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if info
                    .message()
                    .contains("canceling statement due to statement timeout") =>
            {
                Self::TimedOut(info.message().to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if is_shutdown_message(info.message()) =>
            {
                Self::Unavailable(info.message().to_owned())
            }
            other => Self::Query(other),
        }
    }
}

/// Messages PostgreSQL sends when it terminates sessions (admin shutdown,
/// crash recovery, a restart in progress).
fn is_shutdown_message(msg: &str) -> bool {
    msg.contains("terminating connection")
        || msg.contains("the database system is shutting down")
        || msg.contains("the database system is starting up")
        || msg.contains("the database system is in recovery mode")
}

impl From<RunError> for StoreError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::TimedOut => Self::Unavailable("timed out waiting for a connection".into()),
            RunError::User(PoolError::ConnectionError(e)) => Self::Unavailable(e.to_string()),
            RunError::User(PoolError::QueryError(e)) => Self::from(e),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_refused_by_a_standby_is_retryable() {
        let refused = DieselError::DatabaseError(
            DatabaseErrorKind::ReadOnlyTransaction,
            Box::new("cannot execute INSERT in a read-only transaction".to_owned()),
        );
        assert!(matches!(
            StoreError::from(refused),
            StoreError::Unavailable(_)
        ));
    }
}
