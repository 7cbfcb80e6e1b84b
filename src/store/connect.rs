//! Connecting to PostgreSQL with errors a person can act on.
//!
//! `AsyncPgConnection::establish` keeps only the kind of a failure
//! (`error connecting to server`, `invalid configuration`) and drops its
//! cause. Here the connection is made with tokio-postgres directly, and a
//! failure says where (host:port or socket folder), why, and whether trying
//! again can help: a refused connection or a server still starting is
//! [`ConnectError::transient`]; a wrong password, a missing one, an unknown
//! role or database, or TLS that this build does not speak never succeeds
//! by waiting, and says what to change.

use std::{error::Error as _, str::FromStr as _};

use diesel_async::AsyncPgConnection;
use tokio_postgres::{
    config::Host,
    error::{DbError, SqlState},
};

/// What a stock install accepts without a password: the Unix socket.
const SOCKET_HINT: &str = "set a password in DATABASE_URL (postgres://USER:PASSWORD@HOST/DB) \
     or connect through the Unix socket (postgres:///oauth_apps?host=/var/run/postgresql)";

/// Why a connection could not be made, with where and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    pub message: String,
    /// Whether waiting and trying again can help (the server is down,
    /// starting, or unreachable for now).
    pub transient: bool,
    /// The server's SQLSTATE, when it answered with a refusal.
    pub sqlstate: Option<String>,
}

impl ConnectError {
    fn fatal(message: String) -> Self {
        Self {
            message,
            transient: false,
            sqlstate: None,
        }
    }

    /// The database named does not exist (SQLSTATE 3D000).
    pub fn is_missing_database(&self) -> bool {
        self.sqlstate.as_deref() == Some(SqlState::INVALID_CATALOG_NAME.code())
    }
}

/// Opens one connection to `url`.
pub async fn establish(url: &str) -> Result<AsyncPgConnection, ConnectError> {
    establish_with(&parse(url)?).await
}

/// `url` as tokio-postgres reads it: a URL or key=value pairs, with one
/// host or several (`postgres://h1:5432,h2:5433/db?target_session_attrs=read-write`).
pub fn parse(url: &str) -> Result<tokio_postgres::Config, ConnectError> {
    tokio_postgres::Config::from_str(url).map_err(|e| {
        ConnectError::fatal(format!(
            "DATABASE_URL is not a valid PostgreSQL URL: {}",
            crate::telemetry::error_chain(&e)
        ))
    })
}

/// Opens one connection as `config` says: with several hosts, the first
/// that answers (and, with `target_session_attrs=read-write`, takes writes).
pub async fn establish_with(
    config: &tokio_postgres::Config,
) -> Result<AsyncPgConnection, ConnectError> {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| explain(config, &e))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection)
        .await
        .map_err(|e| ConnectError {
            message: format!("setting up the connection to {}: {e}", place(config)),
            transient: true,
            sqlstate: None,
        })
}

/// Where the connection goes: `host:port` (each of several, comma
/// separated), or the socket folder, and the database; never the password.
pub fn place(config: &tokio_postgres::Config) -> String {
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("PostgreSQL at {}, database {db:?}", hosts(config))
}

/// `host:port` of each host, comma separated (a socket: its folder).
pub fn hosts(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let port_of = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(h) if h.contains(':') => format!("[{h}]:{}", port_of(i)),
            Host::Tcp(h) => format!("{h}:{}", port_of(i)),
            #[cfg(unix)]
            Host::Unix(dir) => format!("the socket in {} (port {})", dir.display(), port_of(i)),
        })
        .collect();
    if hosts.is_empty() {
        format!("localhost:{}", port_of(0))
    } else {
        hosts.join(",")
    }
}

/// A failed connection, in words: where, why, and what to do.
fn explain(config: &tokio_postgres::Config, e: &tokio_postgres::Error) -> ConnectError {
    let place = place(config);
    let user = config.get_user().unwrap_or("(the OS user)");
    if let Some(db) = e.as_db_error() {
        return explain_refusal(&place, user, db);
    }
    let kind = e.to_string();
    let why = e
        .source()
        .map_or_else(|| kind.clone(), crate::telemetry::error_chain);
    let fatal = ConnectError::fatal;
    match kind.as_str() {
        _ if why.contains("password missing") => fatal(format!(
            "{place} asks for a password for role {user:?} and DATABASE_URL has none: {SOCKET_HINT}"
        )),
        "error performing TLS handshake" => fatal(format!(
            "cannot connect to {place}: DATABASE_URL requires TLS (sslmode=require), which \
             this build does not speak to PostgreSQL; set sslmode=prefer or disable over a \
             private network, or the Unix socket ({why})"
        )),
        "invalid configuration" | "invalid connection string" | "authentication error" => {
            fatal(format!("cannot connect to {place}: {why}"))
        }
        _ => ConnectError {
            message: format!("cannot reach {place}: {kind}: {why}"),
            transient: true,
            sqlstate: None,
        },
    }
}

/// The server answered, and refused: most refusals never change by waiting.
fn explain_refusal(place: &str, user: &str, db: &DbError) -> ConnectError {
    let said = db.message();
    let code = db.code();
    let todo = if *code == SqlState::INVALID_PASSWORD {
        format!("check the password of role {user:?} in DATABASE_URL, or {SOCKET_HINT}")
    } else if said.contains("no encryption") {
        "the server takes only TLS connections from here (a hostssl line in pg_hba.conf), \
         which this build does not speak to PostgreSQL: allow a non-TLS `host` line for this \
         address, or connect through the Unix socket"
            .to_owned()
    } else if said.contains("does not exist") && said.starts_with("role") {
        format!(
            "create it (`createuser --createdb {user}`, as the postgres user) or name \
             another in DATABASE_URL"
        )
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        "create it, or let the role create it (`ALTER ROLE ... CREATEDB`)".to_owned()
    } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        "allow this role, database and address in pg_hba.conf, or connect through the Unix socket"
            .to_owned()
    } else {
        String::new()
    };
    // Class 08 (connection exception), 53 (too many connections, out of
    // memory) and 57 (shutting down, starting up): the server will be back.
    let transient = ["08", "53", "57"]
        .iter()
        .any(|class| code.code().starts_with(class));
    let todo = if todo.is_empty() {
        String::new()
    } else {
        format!("; {todo}")
    };
    ConnectError {
        message: format!("{place} refused the connection: {said}{todo}"),
        transient,
        sqlstate: Some(code.code().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn several_hosts_are_named_each_with_its_port() {
        let config = super::parse(
            "postgres://u:secret@h1:5432,h2:5433/apps?target_session_attrs=read-write",
        )
        .unwrap();
        assert_eq!(
            super::place(&config),
            "PostgreSQL at h1:5432,h2:5433, database \"apps\""
        );
    }

    use super::*;

    fn place_of(url: &str) -> String {
        place(&tokio_postgres::Config::from_str(url).unwrap())
    }

    #[test]
    fn the_place_names_host_port_and_database_never_the_password() {
        assert_eq!(
            place_of("postgres://u:secret@db.example:6543/apps"),
            "PostgreSQL at db.example:6543, database \"apps\""
        );
        assert_eq!(
            place_of("postgres:///apps?host=/var/run/postgresql"),
            "PostgreSQL at the socket in /var/run/postgresql (port 5432), database \"apps\""
        );
    }

    #[tokio::test]
    async fn an_unparseable_url_is_not_worth_retrying() {
        let e = establish("postgres://x/y?sslmode=sometimes")
            .await
            .err()
            .unwrap();
        assert!(!e.transient);
        assert!(e.message.starts_with("DATABASE_URL is not a valid"), "{e}");
        assert!(e.message.contains("sslmode"), "{e}");
    }

    #[tokio::test]
    async fn a_refused_port_is_retried_and_named() {
        let e = establish("postgres://postgres@127.0.0.1:1/x")
            .await
            .err()
            .unwrap();
        assert!(e.transient, "{e}");
        assert!(e.message.contains("127.0.0.1:1"), "{e}");
        assert!(e.message.contains("refused"), "{e}");
    }
}
