//! What the handlers and the auth layer share. Built once at start-up and
//! passed down explicitly: no global singletons.

use std::{sync::Arc, time::Duration};

use crate::{
    auth::TokenVerifier,
    config::Config,
    domain::{ScopeCatalog, ids::random_base62, page_token::PageTokenKey},
    hashing::Hasher,
    store::{self, Pool},
};

/// Name of the shared page-token key in `service_settings`.
const PAGE_TOKEN_KEY_SETTING: &str = "page_token_hmac_key";
/// Callers that may wait for an argon2 slot, per core.
const HASH_QUEUE_PER_CORE: usize = 64;

#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: Pool,
    pub verifier: Arc<TokenVerifier>,
    pub scopes: Arc<ScopeCatalog>,
    pub hasher: Hasher,
    pub page_tokens: PageTokenKey,
}

impl AppState {
    /// Prepares the database (creating and migrating it when needed) and
    /// everything the service needs to answer calls.
    pub async fn prepare(config: &Config) -> anyhow::Result<Self> {
        let url = &config.database.database_url;
        store::ensure_database(url).await?;
        store::run_migrations(url).await?;
        let pool = store::build_pool(url, config.db_pool_size, config.db_timeout);
        let page_tokens = {
            let mut conn = pool.get().await.map_err(store::StoreError::from)?;
            let candidate = random_base62(43);
            let key = store::settings::get_or_init(
                &mut conn,
                PAGE_TOKEN_KEY_SETTING,
                candidate.as_bytes(),
            )
            .await?;
            PageTokenKey::new(key)
        };
        let jwt = &config.jwt;
        let verifier = TokenVerifier::hs256(
            jwt.secret()?,
            jwt.jwt_issuer.as_deref(),
            jwt.jwt_audience.as_deref(),
        );
        let cores = config.hash_concurrency();
        Ok(Self {
            pool,
            verifier: Arc::new(verifier),
            scopes: Arc::new(config.scopes.clone()),
            hasher: Hasher::new(cores, cores * HASH_QUEUE_PER_CORE, Duration::from_secs(5)),
            page_tokens,
        })
    }
}
