//! Every setting of the service and its commands, each defined once: its
//! flag, its environment variable (the names are part of the public
//! contract), its default and its doc, which `--help` shows. `oauth-apps
//! serve --help` lists the service's. Parsing does no I/O: files and URLs
//! named here are read when the server state is built
//! ([`crate::server::AppState::prepare`]). The only variables read elsewhere
//! are the standard `OTEL_*` ones, which the OpenTelemetry SDK reads itself,
//! and `RUST_LOG`.

use std::{fmt, net::SocketAddr, time::Duration};

use clap::{Args, FromArgMatches as _};

use crate::{
    domain::{Policy, ScopeCatalog, assertion::AssertionPolicy, redirect::RedirectPolicy},
    telemetry::LogFormat,
};

mod cors;
mod files;
pub mod metadata_docs;
mod redact;
pub mod registration;

pub use cors::Origins;
use cors::parse_origins;
pub use files::{
    EXIT_MISCONFIGURED, FILE_VARIABLES, Misconfigured, SERVE_AFTER_HELP, read_setting_file,
    secrets_from_files,
};
pub use redact::redact_url;

/// RFC 7518 §3.2: an HS256 key should have at least 256 bits.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Where `serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// The variable of [`Config::listen`], read by `health` too.
const LISTEN_ENV: &str = "OAUTH_APPS_LISTEN";
/// The variable of [`Config::tls_cert`], read by `health` too.
const TLS_CERT_ENV: &str = "OAUTH_APPS_TLS_CERT";
/// The variable of [`DevDirArgs`], which `oauth-apps dev` prints to export.
pub const DEV_DIR_ENV: &str = "OAUTH_APPS_DEV_DIR";

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@localhost:5432/oauth_apps";

/// Where the database is.
#[derive(Args, Clone)]
pub struct DatabaseArgs {
    /// PostgreSQL URL; the database is created and migrated when needed.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
}

impl fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("database_url", &redact_url(&self.database_url))
            .finish()
    }
}

/// How bearer tokens are checked (and, for `oauth-apps token`, minted).
#[derive(Args, Clone)]
pub struct JwtArgs {
    /// Shared HS256 secret for bearer tokens (environment only: a flag would
    /// show in the process list).
    #[arg(
        long = "jwt-secret",
        env = "OAUTH_APPS_JWT_SECRET",
        hide_env_values = true,
        hide = true
    )]
    pub jwt_secret: Option<String>,
    /// JWKS file with public keys (RS256, ES256, EdDSA) of token issuers;
    /// re-read when it changes.
    #[arg(long, env = "OAUTH_APPS_JWKS_FILE")]
    pub jwks_file: Option<std::path::PathBuf>,
    /// HTTPS URL of a token issuer's JWKS (its `jwks_uri`): fetched at
    /// start-up (which fails if it cannot be within 30 s), then again every
    /// OAUTH_APPS_JWKS_REFRESH and when a token names an unknown `kid`; a
    /// failed fetch keeps the last good keys. No `http`, no user info.
    #[arg(long, env = "OAUTH_APPS_JWKS_URL")]
    pub jwks_url: Option<url::Url>,
    /// PEM CA certificate(s) trusted for OAUTH_APPS_JWKS_URL besides the
    /// public web roots (for an issuer behind a private CA).
    #[arg(long, env = "OAUTH_APPS_JWKS_CA_FILE", requires = "jwks_url")]
    pub jwks_ca_file: Option<std::path::PathBuf>,
    /// How often OAUTH_APPS_JWKS_URL is fetched again (at least 1s); after a
    /// failure, sooner, with back-off.
    #[arg(long, env = "OAUTH_APPS_JWKS_REFRESH", value_parser = humantime::parse_duration, default_value = "5m")]
    pub jwks_refresh: Duration,
    /// Required `iss` of tokens, when set.
    #[arg(long, env = "OAUTH_APPS_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of tokens, when set.
    #[arg(long, env = "OAUTH_APPS_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Longest a bearer token may live (from its `iat`, and from now); 0
    /// turns the bound off.
    #[arg(long, env = "OAUTH_APPS_JWT_MAX_LIFETIME", value_parser = humantime::parse_duration, default_value = "24h")]
    pub jwt_max_lifetime: Duration,
}

impl fmt::Debug for JwtArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtArgs")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwks_file", &self.jwks_file)
            .field(
                "jwks_url",
                &self.jwks_url.as_ref().map(|u| redact_url(u.as_str())),
            )
            .field("jwks_ca_file", &self.jwks_ca_file)
            .field("jwks_refresh", &self.jwks_refresh)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_max_lifetime", &self.jwt_max_lifetime)
            .finish()
    }
}

impl JwtArgs {
    pub fn secret(&self) -> Result<&[u8], Misconfigured> {
        match self.jwt_secret.as_deref() {
            // RFC 7518 section 3.2: an HS256 key of fewer than 256 bits
            // can be brute-forced from one token.
            Some(s) if !s.is_empty() && s.len() < MIN_HS256_SECRET_BYTES => {
                Err(Misconfigured(format!(
                    "OAUTH_APPS_JWT_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes (has {}): a shorter HS256 key can be brute-forced; `openssl rand -hex 32` makes one",
                    s.len()
                )))
            }
            Some(s) if !s.is_empty() => Ok(s.as_bytes()),
            _ => Err(Misconfigured(
                "OAUTH_APPS_JWT_SECRET must be set (the HS256 key of bearer tokens)".to_owned(),
            )),
        }
    }
}

/// Settings of `oauth-apps serve`.
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = LISTEN_ENV, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub jwt: JwtArgs,

    /// Scope catalog: the scopes applications may be granted, space separated.
    #[arg(long, env = "OAUTH_APPS_SCOPES", value_parser = parse_scopes, default_value = crate::domain::scopes::DEFAULT_SCOPE_LIST)]
    pub scopes: ScopeCatalog,

    /// NATIVE apps may register `http://localhost` redirect URIs (RFC 8252
    /// 8.3 calls them NOT RECOMMENDED; command-line tools use them), and
    /// MatchRedirectUri treats `localhost` like a loopback literal.
    #[arg(long, env = "OAUTH_APPS_REDIRECT_ALLOW_LOCALHOST", default_value_t = false, action = clap::ArgAction::Set)]
    pub redirect_allow_localhost: bool,

    /// Metadata URLs (`client_uri`, `logo_uri`, `policy_uri`, `tos_uri`) may
    /// name internal hosts: loopback, private, link-local, `localhost`,
    /// single-label names. Off by default: such URLs point a consumer (a
    /// consent screen fetching a logo) at the operator's own network.
    #[arg(long, env = "OAUTH_APPS_METADATA_URL_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub metadata_url_allow_private: bool,

    /// Private-use schemes NATIVE apps may use although they have no dot,
    /// space separated (such as "cursor vscode").
    #[arg(long, env = "OAUTH_APPS_NATIVE_SCHEMES", value_parser = parse_native_schemes, default_value = "")]
    pub native_schemes: NativeSchemes,

    #[command(flatten)]
    pub registration: registration::RegistrationArgs,

    /// The authorization server's issuer identifier: the one `aud` a client
    /// assertion may carry. Unset: VerifyClientAssertion is FAILED_PRECONDITION.
    #[arg(long, env = "OAUTH_APPS_ASSERTION_AUDIENCE")]
    pub assertion_audience: Option<String>,

    /// How far ahead a client assertion's `exp` may be.
    #[arg(long, env = "OAUTH_APPS_ASSERTION_MAX_LIFETIME", value_parser = humantime::parse_duration, default_value = "5m")]
    pub assertion_max_lifetime: Duration,

    /// Mutating calls per caller per minute; 0 turns the limit off.
    #[arg(long, env = "OAUTH_APPS_MUTATIONS_PER_MINUTE", default_value_t = 600)]
    pub mutations_per_minute: u32,

    /// Org-scoped reads (GetApplication, ListApplications) per caller per
    /// minute; 0 turns the limit off.
    #[arg(long, env = "OAUTH_APPS_READS_PER_MINUTE", default_value_t = 6000)]
    pub reads_per_minute: u32,

    /// Largest ListApplications response, in bytes of its applications: a
    /// page ends early, with a next_page_token, rather than pass it (one
    /// application is always sent). At least 128 KiB.
    #[arg(long, env = "OAUTH_APPS_MAX_LIST_RESPONSE_BYTES", default_value_t = 2 * 1024 * 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(128 * 1024..))]
    pub max_list_response_bytes: usize,

    /// ListApplications calls with a page_size over 100 assembled at once;
    /// more wait their turn.
    #[arg(long, env = "OAUTH_APPS_LARGE_LISTS_AT_ONCE", default_value_t = 8)]
    pub large_lists_at_once: usize,

    /// Failed credential verifications per client_id per minute; 0 turns the limit off.
    #[arg(
        long,
        env = "OAUTH_APPS_FAILED_VERIFY_PER_MINUTE",
        default_value_t = 30
    )]
    pub failed_verify_per_minute: u32,

    /// Verifications the cache cannot answer (each takes an argon2 hash's
    /// time) in flight per calling service; more wait their turn.
    #[arg(
        long,
        env = "OAUTH_APPS_UNCACHED_VERIFY_PER_CALLER",
        default_value_t = 16
    )]
    pub uncached_verify_per_caller: usize,

    /// MiB of applications (with their secrets' hashes) each replica keeps
    /// for reads, dropped on every committed change; 0 turns it off.
    #[arg(long, env = "OAUTH_APPS_CACHE_MIB", default_value_t = 64)]
    pub cache_mib: u64,

    /// The longest a cached application answers, change notifications or
    /// not: the bound on a change no notification announces (one made by a
    /// DBA with `session_replication_role = replica`, which fires no
    /// trigger). 0 turns the cache off.
    #[arg(long, env = "OAUTH_APPS_CACHE_TTL", value_parser = humantime::parse_duration, default_value = "60s")]
    pub cache_ttl: Duration,

    /// Largest number of database connections.
    #[arg(long, env = "OAUTH_APPS_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// How long a call waits for the database before UNAVAILABLE: for a
    /// connection from the pool, and for each statement (it is also every
    /// connection's PostgreSQL `statement_timeout`).
    #[arg(long, env = "OAUTH_APPS_DB_TIMEOUT", value_parser = humantime::parse_duration, default_value = "3s")]
    pub db_timeout: Duration,

    /// argon2 hashes computed at once (0: one per core).
    #[arg(long, env = "OAUTH_APPS_HASH_CONCURRENCY", default_value_t = 0)]
    pub hash_concurrency: usize,

    /// Server-side deadline of every call (a shorter client `grpc-timeout` wins).
    #[arg(long, env = "OAUTH_APPS_REQUEST_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    pub request_timeout: Duration,

    /// Largest request message accepted, in bytes (the largest valid
    /// request is about 45 KiB).
    #[arg(long, env = "OAUTH_APPS_MAX_REQUEST_BYTES", default_value_t = 64 * 1024)]
    pub max_request_bytes: usize,

    /// Largest metadata (HTTP/2 header block, counted as HTTP/2 does) of a
    /// call; a larger one is refused with RESOURCE_EXHAUSTED, on that call only.
    #[arg(long, env = "OAUTH_APPS_MAX_METADATA_BYTES", default_value_t = 16 * 1024)]
    pub max_metadata_bytes: usize,

    /// Browser origins allowed to call the HTTP/JSON routes (CORS), exact
    /// and space separated (`https://console.example.com`); empty: CORS off,
    /// no origin gets CORS headers.
    #[arg(long, env = "OAUTH_APPS_CORS_ORIGINS", default_value = "", value_parser = parse_origins)]
    pub cors_origins: Origins,

    /// Concurrent calls (HTTP/2 streams) per connection.
    #[arg(long, env = "OAUTH_APPS_MAX_CONCURRENT_STREAMS", default_value_t = 256)]
    pub max_concurrent_streams: u32,

    /// Connections open at once; more are closed as soon as accepted. Capped
    /// to what the open-files limit allows (the soft limit is raised to the
    /// hard one at start-up).
    #[arg(long, env = "OAUTH_APPS_MAX_CONNECTIONS", default_value_t = 1000)]
    pub max_connections: usize,

    /// Time a new connection has to complete the HTTP/2 handshake (over TLS:
    /// the TLS handshake and its first call) before it is closed.
    #[arg(long, env = "OAUTH_APPS_HANDSHAKE_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    pub handshake_timeout: Duration,

    /// A connection with no call in flight for this long is closed.
    #[arg(long, env = "OAUTH_APPS_IDLE_TIMEOUT", value_parser = humantime::parse_duration, default_value = "5m")]
    pub idle_timeout: Duration,

    /// The idle timeout of a connection that has not carried an
    /// authenticated call (health checks, reflection, refused calls).
    #[arg(long, env = "OAUTH_APPS_UNAUTHENTICATED_IDLE_TIMEOUT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub unauthenticated_idle_timeout: Duration,

    /// Connections one source address may hold open before any of them
    /// has carried an authenticated call (authenticated ones do not count);
    /// 0 turns the limit off.
    #[arg(
        long,
        env = "OAUTH_APPS_MAX_CONNECTIONS_PER_PEER",
        default_value_t = 100
    )]
    pub max_connections_per_peer: usize,

    /// Slots of OAUTH_APPS_MAX_CONNECTIONS (at most half) kept for health
    /// checks and authenticated callers: once the others are taken, a new
    /// connection that has not authenticated is closed after 1 s without a call.
    #[arg(long, env = "OAUTH_APPS_RESERVED_CONNECTIONS", default_value_t = 100)]
    pub reserved_connections: usize,

    /// Health Watch and reflection streams one source address may hold at
    /// once on connections that have not authenticated; more are
    /// RESOURCE_EXHAUSTED. 0 turns the limit off.
    #[arg(long, env = "OAUTH_APPS_MAX_STREAMS_PER_PEER", default_value_t = 100)]
    pub max_streams_per_peer: usize,

    /// Longest a health Watch or reflection stream lasts: it then ends with
    /// UNAVAILABLE, and the client calls again.
    #[arg(long, env = "OAUTH_APPS_STREAM_MAX_LIFETIME", value_parser = humantime::parse_duration, default_value = "5m")]
    pub stream_max_lifetime: Duration,

    /// How long the change feed keeps changes: an older resume token is
    /// FAILED_PRECONDITION (start again with `initial_snapshot`).
    #[arg(long, env = "OAUTH_APPS_WATCH_RETENTION", value_parser = humantime::parse_duration, default_value = "7d")]
    pub watch_retention: Duration,

    /// A WatchApplications stream gets a HEARTBEAT (with a fresh resume
    /// token) at least this often.
    #[arg(long, env = "OAUTH_APPS_WATCH_HEARTBEAT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub watch_heartbeat: Duration,

    /// HTTP/2 keepalive ping interval (0 turns pings off); a peer that does
    /// not answer within 20 s is disconnected.
    #[arg(long, env = "OAUTH_APPS_KEEPALIVE", value_parser = humantime::parse_duration, default_value = "30s")]
    pub keepalive: Duration,

    /// PEM certificate chain: serve TLS (with OAUTH_APPS_TLS_KEY).
    #[arg(long, env = TLS_CERT_ENV, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key of the certificate.
    #[arg(long, env = "OAUTH_APPS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// PEM CA certificate(s): require client certificates signed by them (mutual TLS).
    #[arg(long, env = "OAUTH_APPS_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub metadata_docs: metadata_docs::MetadataDocumentArgs,
    /// How long in-flight calls may take to finish after SIGTERM/SIGINT.
    #[arg(long, env = "OAUTH_APPS_SHUTDOWN_GRACE", value_parser = humantime::parse_duration, default_value = "30s")]
    pub shutdown_grace: Duration,
}

/// The two `serve` settings `health` reads, to find the server it asks:
/// hidden from `health --help`, documented on `serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeAddressArgs {
    /// Where `serve` listens (the default of --addr).
    #[arg(long, env = LISTEN_ENV, default_value = DEFAULT_LISTEN, hide = true)]
    pub listen: SocketAddr,
    /// Set when `serve` speaks TLS (for a hint when a check fails).
    #[arg(long = "tls-cert", env = TLS_CERT_ENV, hide = true)]
    pub tls_cert: Option<std::path::PathBuf>,
}

/// How every command but `health` writes its log lines.
#[derive(Args, Clone, Debug)]
pub struct LogArgs {
    /// Log line format: text (coloured only when stderr is a terminal) or
    /// json (one object per line).
    #[arg(
        long,
        env = "OAUTH_APPS_LOG_FORMAT",
        default_value = "text",
        value_name = "FORMAT",
        global = true
    )]
    pub log_format: String,
}

impl LogArgs {
    /// The format; an unknown name is an error that names the variable.
    pub fn format(&self) -> anyhow::Result<LogFormat> {
        match self.log_format.as_str() {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => anyhow::bail!("OAUTH_APPS_LOG_FORMAT must be text or json, not {other:?}"),
        }
    }
}

/// The folder of `oauth-apps dev`, for the commands that use its cluster and
/// token secret.
#[derive(Args, Clone, Debug)]
pub struct DevDirArgs {
    /// Folder of a running `oauth-apps dev` (it prints this export): its
    /// cluster is the database of `members` and `audit` unless DATABASE_URL
    /// is given, its token secret that of `token` unless
    /// OAUTH_APPS_JWT_SECRET is set.
    #[arg(long, env = DEV_DIR_ENV, value_name = "DIR")]
    pub dev_dir: Option<std::path::PathBuf>,
}

impl DevDirArgs {
    /// The folder, unless unset or empty.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dev_dir
            .as_deref()
            .filter(|d| !d.as_os_str().is_empty())
    }
}

/// Where PostgreSQL's server binaries are, for `oauth-apps dev`.
#[derive(Args, Clone, Debug)]
pub struct PgBinArgs {
    /// Folder of PostgreSQL's server binaries (initdb, pg_ctl); default: the
    /// newest /usr/lib/postgresql/*/bin, else `pg_config --bindir`.
    #[arg(long, env = "OAUTH_APPS_PG_BIN", value_name = "DIR")]
    pub pg_bin: Option<std::path::PathBuf>,
}

fn parse_scopes(s: &str) -> Result<ScopeCatalog, String> {
    ScopeCatalog::parse(s)
}

/// The private-use schemes of `OAUTH_APPS_NATIVE_SCHEMES`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NativeSchemes(pub Vec<String>);

fn parse_native_schemes(s: &str) -> Result<NativeSchemes, String> {
    RedirectPolicy::parse_native_schemes(s).map(NativeSchemes)
}

impl Config {
    /// Every setting at the default its flag declares (the environment is
    /// not read), with the given database and token secret (tests, tools).
    pub fn new(database_url: impl Into<String>, jwt_secret: impl Into<String>) -> Self {
        let command = Self::augment_args(clap::Command::new("defaults"))
            .mut_args(|arg| arg.env(None::<&'static str>));
        let mut config = command
            .try_get_matches_from(["defaults"])
            .and_then(|matches| Self::from_arg_matches(&matches))
            .expect("every setting has a valid default");
        config.database.database_url = database_url.into();
        config.jwt.jwt_secret = Some(jwt_secret.into());
        config
    }

    /// The rules' configuration.
    pub fn policy(&self) -> Policy {
        Policy {
            scopes: self.scopes.clone(),
            redirects: RedirectPolicy {
                allow_localhost: self.redirect_allow_localhost,
                native_schemes: self.native_schemes.0.clone(),
            },
            metadata_urls_allow_private: self.metadata_url_allow_private,
        }
    }

    /// How client assertions are checked, when an issuer identifier is set.
    pub fn assertion_policy(&self) -> Option<AssertionPolicy> {
        self.assertion_audience
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .map(|audience| AssertionPolicy {
                audience: audience.to_owned(),
                max_lifetime: self.assertion_max_lifetime,
            })
    }

    pub fn hash_concurrency(&self) -> usize {
        if self.hash_concurrency > 0 {
            self.hash_concurrency
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn several_hosts_keep_their_password_out_of_logs() {
        let url = "postgres://app:s3cret@h1:5432,h2:5433/apps?target_session_attrs=read-write";
        assert_eq!(
            super::redact_url(url),
            "postgres://app:redacted@h1:5432,h2:5433/apps?target_session_attrs=read-write"
        );
        assert_eq!(
            super::redact_url("postgres://h1,h2/apps?password=s3cret"),
            "<URL with a password parameter>"
        );
    }

    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn flags_parse_and_defaults_hold() {
        let cli = Cli::try_parse_from([
            "x",
            "--listen",
            "0.0.0.0:9000",
            "--scopes",
            "a b",
            "--mutations-per-minute",
            "0",
            "--db-timeout",
            "250ms",
        ])
        .unwrap();
        assert_eq!(cli.config.listen.port(), 9000);
        assert_eq!(cli.config.scopes.scopes(), ["a", "b"]);
        assert_eq!(cli.config.mutations_per_minute, 0);
        assert_eq!(cli.config.db_timeout, Duration::from_millis(250));
        assert!(Cli::try_parse_from(["x", "--scopes", "bad\"scope"]).is_err());
        assert!(Cli::try_parse_from(["x", "--listen", "nowhere"]).is_err());
    }

    #[test]
    fn new_takes_the_defaults_the_flags_declare() {
        let c = Config::new("postgres://x/y", "s".repeat(32));
        assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(c.database.database_url, "postgres://x/y");
        assert_eq!(c.jwt.jwks_refresh, Duration::from_secs(300));
        assert_eq!(c.jwt.jwt_max_lifetime, Duration::from_secs(24 * 3600));
        assert_eq!(c.scopes, ScopeCatalog::default());
        assert_eq!(c.native_schemes, NativeSchemes::default());
        assert_eq!(c.assertion_max_lifetime, Duration::from_secs(300));
        assert_eq!(
            (c.mutations_per_minute, c.failed_verify_per_minute),
            (600, 30)
        );
        assert_eq!((c.cache_mib, c.db_pool_size), (64, 16));
        assert_eq!(c.cache_ttl, Duration::from_secs(60));
        assert_eq!(c.db_timeout, Duration::from_secs(3));
        assert_eq!(c.max_request_bytes, 64 * 1024);
        assert_eq!(c.idle_timeout, Duration::from_secs(300));
        assert_eq!(c.shutdown_grace, Duration::from_secs(30));
        assert!(c.tls_cert.is_none() && c.jwt.jwks_url.is_none());
    }

    #[test]
    fn log_formats_are_text_or_json() {
        let format = |s: &str| {
            LogArgs {
                log_format: s.to_owned(),
            }
            .format()
        };
        assert_eq!(format("text").unwrap(), LogFormat::Text);
        assert_eq!(format("").unwrap(), LogFormat::Text);
        assert_eq!(format("json").unwrap(), LogFormat::Json);
        assert_eq!(
            format("JSON").unwrap_err().to_string(),
            "OAUTH_APPS_LOG_FORMAT must be text or json, not \"JSON\""
        );
    }

    #[test]
    fn debug_redacts_the_jwt_secret_and_database_password() {
        let c = Config::new("postgres://u:db-password@x/y", "super-secret-value");
        let printed = format!("{c:?}");
        assert!(!printed.contains("super-secret-value"));
        assert!(!printed.contains("db-password"));
        assert!(printed.contains("postgres://u:redacted@x/y"));
        assert!(c.jwt.secret().is_err(), "an 18-byte HS256 key is refused");
        let c = Config::new("postgres://x/y", "s".repeat(32));
        assert_eq!(c.jwt.secret().unwrap(), "s".repeat(32).as_bytes());
    }

    #[test]
    fn cors_origins_are_exact() {
        assert_eq!(parse_origins("").unwrap(), Origins(vec![]));
        assert_eq!(
            parse_origins("https://console.example.com http://127.0.0.1:3000").unwrap(),
            Origins(vec![
                "https://console.example.com".into(),
                "http://127.0.0.1:3000".into()
            ])
        );
        for bad in [
            "https://console.example.com/",
            "https://console.example.com/app",
            "console.example.com",
            "https://*.example.com",
            "ftp://files.example.com",
            "https://Console.example.com",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
    }
}
