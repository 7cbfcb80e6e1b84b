//! What the server runs on, built once at start-up from the configuration
//! and passed down explicitly: no global singletons. The I/O that settings
//! call for happens here, not while they are parsed: files are read, the
//! JWKS URL fetched, the database created, migrated and keyed.

use std::{sync::Arc, time::Duration};

use super::{
    connections::{ConnectionLimits, OpenConnections},
    open_files::fit_to_open_files,
    streams::StreamLimits,
    tls_files::read_tls,
};
use crate::{
    auth::{
        Authorizer, KeySources, RoleCache, TokenVerifier,
        jwks::{JWKS_STARTUP_WINDOW, RemoteJwksSettings},
    },
    config::{Config, DatabaseArgs, JwtArgs},
    credentials::{CallerSlots, Hasher, Limiter, SignatureLane, VerifiedCache, Verifier},
    domain::{
        ChecksumKey, Policy, ids::random_base62, page_token::PageTokenKey, registration::TokenKey,
        watch::ResumeTokens,
    },
    metadata_docs::MetadataDocuments,
    ops::{ListLimits, Ops, Registration, Watching},
    store::{self, AppCache, Db, Memberships, Pool, feed::Feed},
};

/// Name of the shared page-token key in `service_settings`.
const PAGE_TOKEN_KEY_SETTING: &str = "page_token_hmac_key";
/// Name of the shared key of client-secret checksums in `service_settings`.
const CHECKSUM_KEY_SETTING: &str = "client_secret_checksum_key";
/// The setting holding the key of registration tokens' hashes.
const REGISTRATION_KEY_SETTING: &str = "registration_token_hmac_key";
/// Uncached verifications in flight, for all callers together, per caller's share.
const UNCACHED_CALLERS_AT_ONCE: usize = 4;
/// Callers that may wait for an argon2 slot, per core.
const HASH_QUEUE_PER_CORE: usize = 64;
/// How long start-up keeps retrying a database that does not answer yet.
const STARTUP_RETRY_FOR: Duration = Duration::from_secs(30);

pub use super::tls_files::TlsMaterial;

/// Transport settings of the server.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub connections: ConnectionLimits,
    /// Limits on health Watch and reflection streams.
    pub streams: StreamLimits,
    pub request_timeout: Duration,
    pub max_request_bytes: usize,
    pub max_metadata_bytes: usize,
    pub max_concurrent_streams: u32,
    /// Origins allowed to call the HTTP/JSON routes from a browser.
    pub cors_origins: Vec<String>,
    pub keepalive: Option<Duration>,
    pub tls: Option<TlsMaterial>,
    /// RFC 7591's `registration_client_uri` base.
    pub public_url: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: Pool,
    pub ops: Ops,
    pub authorizer: Authorizer<Memberships>,
    /// Roles cached per replica, invalidated through LISTEN/NOTIFY.
    pub roles: Arc<RoleCache>,
    pub mutations: Limiter,
    /// Org-scoped reads per caller.
    pub reads: Limiter,
    /// For the LISTEN connection (its `Debug` hides the password).
    pub database: DatabaseArgs,
    pub server: ServerSettings,
    /// Connections open now, under `server.connections.max_connections`.
    pub connections: OpenConnections,
}

impl AppState {
    /// Prepares the database (creating and migrating it when needed) and
    /// everything the service needs to answer calls.
    pub async fn prepare(config: &Config) -> anyhow::Result<Self> {
        // Settings first: a bad one fails at once, not after the database.
        let verifier = Arc::new(token_verifier(&config.jwt, JWKS_STARTUP_WINDOW).await?);
        let tls = read_tls(config)?;
        let url = &config.database.database_url;
        wait_for_database(url).await?;
        backfill_name_keys(url).await?;
        let pool = store::build_pool(
            url,
            config.db_pool_size,
            config.db_timeout,
            config.db_timeout,
        );
        let db = Db::new(pool.clone(), config.db_timeout);
        let roles = Arc::new(RoleCache::default());
        let ops = ops(config, db.clone(), roles.clone()).await?;
        let mutations = Limiter::per_minute(config.mutations_per_minute);
        let reads = Limiter::per_minute(config.reads_per_minute);
        let server = server_settings(config, tls);
        Ok(Self {
            ops,
            authorizer: Authorizer::new(
                verifier,
                Memberships(db),
                roles.clone(),
                mutations.clone(),
                reads.clone(),
            ),
            pool,
            roles,
            mutations,
            reads,
            database: config.database.clone(),
            connections: OpenConnections::new(&server.connections),
            server,
        })
    }
}

/// The verifier of bearer tokens that `jwt` describes. A JWKS URL is fetched
/// before this returns, and must answer within `startup_window`
/// ([`JWKS_STARTUP_WINDOW`] at start-up; shorter in tests).
pub async fn token_verifier(
    jwt: &JwtArgs,
    startup_window: Duration,
) -> anyhow::Result<TokenVerifier> {
    let secret = match jwt.jwt_secret.as_deref() {
        Some(s) if !s.is_empty() => Some(jwt.secret()?),
        _ => None,
    };
    let keys = KeySources {
        file: jwt.jwks_file.clone(),
        url: jwt.jwks_url.clone().map(|url| RemoteJwksSettings {
            url,
            ca_file: jwt.jwks_ca_file.clone(),
            refresh: jwt.jwks_refresh,
            startup_window,
        }),
    };
    let verifier = TokenVerifier::new(
        secret,
        &keys,
        jwt.jwt_issuer.as_deref(),
        jwt.jwt_audience.as_deref(),
    )
    .await?;
    let max_lifetime = (!jwt.jwt_max_lifetime.is_zero()).then_some(jwt.jwt_max_lifetime);
    Ok(verifier.with_max_lifetime(max_lifetime))
}

/// Creates and migrates the database, waiting for one that is still
/// starting (or briefly away) up to [`STARTUP_RETRY_FOR`].
async fn wait_for_database(url: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        let ready = async {
            store::ensure_database(url).await?;
            store::run_migrations(url).await
        }
        .await;
        match ready {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() < STARTUP_RETRY_FOR && worth_retrying(&e) => {
                tracing::warn!(error = %format!("{e:#}"), "database not ready; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether waiting can mend the failure: not when the database refused us
/// for good (a wrong password, an unknown role, no right to create it).
fn worth_retrying(e: &anyhow::Error) -> bool {
    !e.chain()
        .filter_map(|c| c.downcast_ref::<store::ConnectError>())
        .any(|c| !c.transient)
}

/// Gives rows from before the look-alike keys of names their keys.
async fn backfill_name_keys(url: &str) -> anyhow::Result<()> {
    let mut conn = store::establish(url).await?;
    let keyed = store::applications::backfill_name_keys(&mut conn).await?;
    if keyed > 0 {
        tracing::info!(
            count = keyed,
            "computed the look-alike keys of application names"
        );
    }
    Ok(())
}

/// The operations, with the keys every replica shares (from the database),
/// the argon2 lanes, caches and limits.
async fn ops(config: &Config, db: Db, roles: Arc<RoleCache>) -> anyhow::Result<Ops> {
    let shared_key = async |name: &'static str| {
        let candidate = random_base62(43);
        db.run(async |conn| store::settings::get_or_init(conn, name, candidate.as_bytes()).await)
            .await
    };
    let page_tokens = PageTokenKey::new(shared_key(PAGE_TOKEN_KEY_SETTING).await?);
    let checksum_key = ChecksumKey::new(shared_key(CHECKSUM_KEY_SETTING).await?);
    let registration_key = TokenKey::new(shared_key(REGISTRATION_KEY_SETTING).await?);
    let cores = config.hash_concurrency();
    let lane = || Hasher::new(cores, cores * HASH_QUEUE_PER_CORE, Duration::from_secs(5));
    let (minting, verifying) = (lane(), lane());
    // Refusals that need no hash wait as long as recent ones took: from
    // the first call on.
    verifying.calibrate().await?;
    let policy = Arc::new(config.policy());
    let documents = metadata_documents(config, &policy)?;
    let apps = Arc::new(AppCache::new(
        config.cache_mib.saturating_mul(1 << 20),
        config.cache_ttl,
    ));
    let watching = Arc::new(Watching {
        feed: Arc::new(Feed::new(db.clone(), apps.clone())),
        tokens: ResumeTokens::new(&page_tokens, config.watch_retention),
        heartbeat: config.watch_heartbeat,
        roles,
        db: db.clone(),
    });
    Ok(Ops {
        watching,
        db,
        policy,
        assertions: config.assertion_policy(),
        minting,
        checksum_key: checksum_key.clone(),
        page_tokens,
        verifier: Verifier {
            hasher: verifying,
            checksum_key,
            verified: Arc::new(VerifiedCache::default()),
            failures: Limiter::per_minute(config.failed_verify_per_minute),
            assertion_failures: Limiter::per_minute(config.failed_verify_per_minute),
            signatures: SignatureLane::default(),
            slots: Arc::new(CallerSlots::new(
                config.uncached_verify_per_caller,
                config.uncached_verify_per_caller * UNCACHED_CALLERS_AT_ONCE,
            )),
        },
        apps,
        lists: ListLimits::new(config.max_list_response_bytes, config.large_lists_at_once),
        registration: Arc::new(Registration {
            key: registration_key,
            open_org: config.registration.open_registration_org.clone(),
            per_source: Limiter::per_hour(config.registration.open_registrations_per_hour),
            max_dynamic_apps: i64::from(config.registration.max_dynamic_apps),
        }),
        documents,
    })
}

/// The resolver of Client ID Metadata Documents, when they are on; its
/// CA file read now.
fn metadata_documents(
    config: &Config,
    policy: &Arc<Policy>,
) -> Result<MetadataDocuments, crate::config::Misconfigured> {
    let Some(settings) = config.metadata_docs.settings() else {
        return Ok(MetadataDocuments::off());
    };
    let ca_file = config.metadata_docs.metadata_document_ca_file.as_deref();
    MetadataDocuments::new(settings, ca_file, policy.clone())
}

/// The transport settings, with the connection limit fitted to the
/// open-files limit.
fn server_settings(config: &Config, tls: Option<TlsMaterial>) -> ServerSettings {
    // Besides connections, the process needs descriptors for the pool,
    // the listener, the LISTEN connection, files and the runtime.
    let reserve = config.db_pool_size as usize + 64;
    ServerSettings {
        connections: ConnectionLimits {
            max_connections: fit_to_open_files(config.max_connections, reserve),
            reserved_connections: config.reserved_connections,
            max_connections_per_peer: config.max_connections_per_peer,
            unauthenticated_idle_timeout: config.unauthenticated_idle_timeout,
            handshake_timeout: config.handshake_timeout,
            idle_timeout: config.idle_timeout,
        },
        streams: StreamLimits {
            per_peer: config.max_streams_per_peer,
            max_lifetime: config.stream_max_lifetime,
        },
        request_timeout: config.request_timeout,
        max_request_bytes: config.max_request_bytes,
        max_metadata_bytes: config.max_metadata_bytes,
        max_concurrent_streams: config.max_concurrent_streams,
        cors_origins: config.cors_origins.0.clone(),
        keepalive: (!config.keepalive.is_zero()).then_some(config.keepalive),
        tls,
        public_url: config.registration.public_url.clone(),
    }
}
