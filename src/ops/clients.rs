//! VerifyClientCredentials and LookupClient, for token endpoints.
//!
//! A caller cannot tell an unknown client, a wrong secret, an inactive or a
//! deleted application apart, in content or in timing, and no amount of
//! wrong guesses keeps the right secret from verifying:
//!
//! - A secret this replica verified before against the stored hash is
//!   answered from the cache, at once.
//! - Any other attempt takes an uncached slot of its caller
//!   (`credentials::slots`), then costs the time of one argon2 hash. When
//!   it could be right (the application is usable, a live secret has its
//!   hint, and it carries our checksum, or the stored secret predates
//!   checksums), it is hashed, in the verification lane, so a flood of them
//!   never starves creates and rotations. When it cannot be right, no hash
//!   is computed: it waits as long as a recent hash took, then is refused.
//! - Failures spend the client_id's budget (`OAUTH_APPS_FAILED_VERIFY_PER_MINUTE`),
//!   known or not, so a limit reveals nothing. Once it is spent, failures are
//!   RESOURCE_EXHAUSTED, but an attempt that could be right is still hashed
//!   and verifies: a guesser, who cannot produce our checksum, never locks
//!   the right secret out. (A secret from before checksums has only its
//!   hint to go on, so its attempts spend the budget before the hash.)

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Ops;
use crate::{
    auth::ServicePermit,
    domain::{
        Application, AuthMethod, ClientSecret,
        assertion::{self, ASSERTION_TYPE, AssertionPolicy, AssertionRefusal},
        ids::CLIENT_ID_CHARS,
        redirect,
    },
    error::ApiError,
    store::{
        self,
        applications::{AppWithSecrets, LiveSecret},
    },
    telemetry::rpc::record_app,
};

/// MatchRedirectUri's answer.
#[derive(Debug)]
pub struct RedirectMatch {
    pub app: Application,
    /// Where the authorization server may redirect; `None`: nowhere.
    pub redirect_uri: Option<String>,
}

/// Longer inputs are not hashed as given (they cannot be ours anyway).
const MAX_CLIENT_ID_LEN: usize = 256;
const MAX_SECRET_LEN: usize = 512;

impl Ops {
    /// The application when `presented` is a live secret of an active, not
    /// deleted application with this client_id; `None` otherwise, alike.
    pub async fn verify_client_credentials(
        &self,
        permit: &ServicePermit,
        client_id: &str,
        presented: ClientSecret,
    ) -> Result<Option<Application>, ApiError> {
        // Ids longer than any we issue cannot exist; they share one limiter
        // key so that they cannot grow the limiter's memory.
        let oversized = client_id.len() > MAX_CLIENT_ID_LEN;
        let limit_key = if oversized { "<oversized>" } else { client_id };
        let now = Utc::now();
        // The live secrets this one could be: same hint (the last
        // characters, almost always one candidate) and, for a checksummed
        // secret, our checksum.
        let hint = presented.hint();
        let ours = presented.has_checksum(&self.checksum_key);
        let could_be =
            |s: &LiveSecret| s.is_live(now) && s.hint == hint && (ours || !s.checksummed);
        let found = if oversized {
            None
        } else {
            self.client(permit, client_id, |f| {
                f.app.is_usable() && f.secrets.iter().any(could_be)
            })
            .await?
        };
        let usable = found
            .as_deref()
            .filter(|f| f.app.is_usable() && presented.expose().len() <= MAX_SECRET_LEN)
            .map(|f| {
                let live: Vec<&LiveSecret> = f.secrets.iter().filter(|s| s.is_live(now)).collect();
                (&f.app, live)
            });

        // Fast path: this exact secret verified against this stored hash before.
        if let Some((app, secrets)) = &usable
            && secrets
                .iter()
                .any(|s| self.verified.is_verified(s.hash.as_phc(), &presented))
        {
            return Ok(Some((*app).clone()));
        }

        let _slot = self.uncached.acquire(permit.subject()).await;
        let candidates: Vec<&LiveSecret> = usable
            .as_ref()
            .map(|(_, secrets)| secrets.iter().copied().filter(|s| could_be(s)).collect())
            .unwrap_or_default();
        let legacy = candidates.iter().any(|s| !s.checksummed);
        if candidates.is_empty() || legacy {
            // Nothing to hash, or a pre-checksum secret whose guessers we
            // cannot tell apart: the budget is spent first.
            self.spend_failure(limit_key)?;
        }
        if candidates.is_empty() {
            tokio::time::sleep(self.verifying.sample_duration()).await;
            refused(client_id);
            return Ok(None);
        }
        for candidate in candidates {
            if self
                .verifying
                .verify(candidate.hash.clone(), presented.clone())
                .await?
            {
                self.verified.remember(candidate.hash.as_phc(), &presented);
                return Ok(usable.map(|(app, _)| app.clone()));
            }
        }
        if !legacy {
            self.spend_failure(limit_key)?;
        }
        refused(client_id);
        Ok(None)
    }

    /// One unit of `key`'s failure budget, or RESOURCE_EXHAUSTED.
    fn spend_failure(&self, key: &str) -> Result<(), ApiError> {
        self.failed_verifications
            .check(key)
            .map_err(|retry_after| ApiError::RateLimited { retry_after })
    }

    /// An active, not deleted application by client_id; NOT_FOUND otherwise.
    pub async fn lookup_client(
        &self,
        permit: &ServicePermit,
        client_id: &str,
    ) -> Result<Application, ApiError> {
        if client_id.len() > MAX_CLIENT_ID_LEN {
            return Err(ApiError::NotFound);
        }
        match self
            .client(permit, client_id, |f| f.app.is_usable())
            .await?
        {
            Some(found) if found.app.is_usable() => Ok(found.app.clone()),
            _ => Err(ApiError::NotFound),
        }
    }

    /// The application with this client_id and its secrets, in any state.
    ///
    /// This replica's cached copy is used only when `says_yes` finds that
    /// it leads to a yes (verified, found, matched); any other answer is
    /// read from the database (and cached). So a change committed through
    /// another replica, whose notification has not arrived yet, can delay
    /// a refusal by that moment, but never a new secret, a reactivation or
    /// an added redirect URI or key.
    async fn client(
        &self,
        permit: &ServicePermit,
        client_id: &str,
        says_yes: impl FnOnce(&AppWithSecrets) -> bool,
    ) -> Result<Option<Arc<AppWithSecrets>>, ApiError> {
        if let Some(hit) = self.apps.by_client_id(client_id)
            && says_yes(&hit)
        {
            record_app(hit.app.id.as_str());
            return Ok(Some(hit));
        }
        let generation = self.apps.generation();
        let found = self
            .db
            .read(async |conn| {
                store::applications::find_by_client_id(conn, permit, client_id).await
            })
            .await?
            .map(Arc::new);
        if let Some(found) = &found {
            record_app(found.app.id.as_str());
            self.apps.fill(found.clone(), generation);
        }
        Ok(found)
    }
}

impl Ops {
    /// Whether the authorization endpoint may redirect to `redirect_uri`
    /// for this client (see `domain::redirect`); NOT_FOUND for a client
    /// that is unknown, inactive or deleted.
    pub async fn match_redirect_uri(
        &self,
        permit: &ServicePermit,
        client_id: &str,
        redirect_uri: &str,
    ) -> Result<RedirectMatch, ApiError> {
        if client_id.len() > MAX_CLIENT_ID_LEN {
            return Err(ApiError::NotFound);
        }
        let allow_localhost = self.policy.redirects.allow_localhost;
        let matched = |f: &AppWithSecrets| {
            redirect::matched(&f.app.redirect_uris, redirect_uri, allow_localhost)
                .map(str::to_owned)
        };
        let app = match self
            .client(permit, client_id, |f| {
                f.app.is_usable() && matched(f).is_some()
            })
            .await?
        {
            Some(found) if found.app.is_usable() => found,
            _ => return Err(ApiError::NotFound),
        };
        let to = matched(&app);
        let app = app.app.clone();
        if to.is_none() {
            tracing::info!(client_id, "redirect_uri not registered");
        }
        Ok(RedirectMatch {
            app,
            redirect_uri: to,
        })
    }

    /// The application when `client_assertion` is a valid private_key_jwt
    /// assertion, seen for the first time; `None` otherwise. Failures spend
    /// the client's budget (shared with failed secrets); a valid assertion
    /// verifies whatever the budget.
    pub async fn verify_client_assertion(
        &self,
        permit: &ServicePermit,
        assertion_type: &str,
        client_assertion: &str,
        client_id: &str,
    ) -> Result<Option<Application>, ApiError> {
        if assertion_type != ASSERTION_TYPE {
            return Err(ApiError::invalid(
                "client_assertion_type",
                format!("must be {ASSERTION_TYPE}"),
            ));
        }
        let Some(policy) = &self.assertions else {
            return Err(ApiError::AssertionsNotConfigured);
        };
        match self
            .check_assertion(permit, client_assertion, client_id, policy)
            .await?
        {
            Ok(app) => Ok(Some(app)),
            Err((reason, budget)) => {
                let shown = if looks_like_client_id(&budget) {
                    budget.as_str()
                } else {
                    "<unrecognized>"
                };
                tracing::info!(client_id = shown, %reason, "client assertion refused");
                self.spend_failure(&budget)?;
                Ok(None)
            }
        }
    }

    /// The application, or why not and whose budget pays for it.
    async fn check_assertion(
        &self,
        permit: &ServicePermit,
        client_assertion: &str,
        client_id: &str,
        policy: &AssertionPolicy,
    ) -> Result<Result<Application, (AssertionRefusal, String)>, ApiError> {
        let fallback = if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID_LEN {
            "<unrecognized>".to_owned()
        } else {
            client_id.to_owned()
        };
        let claimed = match assertion::claimed_client(client_assertion) {
            Ok(c) if c.len() <= MAX_CLIENT_ID_LEN => c,
            Ok(_) => return Ok(Err((AssertionRefusal::NoSuchClient, fallback))),
            Err(r) => return Ok(Err((r, fallback))),
        };
        if !client_id.is_empty() && client_id != claimed {
            return Ok(Err((AssertionRefusal::ClientIdMismatch, claimed)));
        }
        let now = Utc::now().timestamp();
        let judge = |f: &AppWithSecrets| {
            if !f.app.is_usable() || f.app.auth_method != AuthMethod::PrivateKeyJwt {
                return Err(AssertionRefusal::NoSuchClient);
            }
            assertion::check(client_assertion, &claimed, &f.client_keys, policy, now)
        };
        // The cached copy's verdict, kept so that its signature is checked once.
        let mut cached_verdict = None;
        let found = self
            .client(permit, &claimed, |f| {
                let verdict = judge(f);
                let yes = verdict.is_ok();
                cached_verdict = Some(verdict);
                yes
            })
            .await?;
        let Some(found) = found else {
            return Ok(Err((AssertionRefusal::NoSuchClient, claimed)));
        };
        let verdict = match cached_verdict {
            Some(Ok(accepted)) => Ok(accepted),
            // Refused on the cached copy, or read from the database.
            _ => judge(&found),
        };
        let accepted = match verdict {
            Ok(a) => a,
            Err(r) => return Ok(Err((r, claimed))),
        };
        let app = found.app.clone();
        let until = DateTime::<Utc>::from_timestamp(accepted.valid_until, 0)
            .ok_or_else(|| ApiError::Internal("assertion expiry out of range".into()))?;
        let fresh = self
            .db
            .read(async |conn| {
                store::assertions::spend_jti(conn, permit, &claimed, &accepted.jti, until).await
            })
            .await?;
        if !fresh {
            return Ok(Err((AssertionRefusal::Replayed, claimed)));
        }
        Ok(Ok(app))
    }
}

/// Ids shaped like ours (26 base62 characters).
fn looks_like_client_id(s: &str) -> bool {
    s.len() == CLIENT_ID_CHARS && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Logs a refusal. Only ids shaped like ours are logged: anything else may
/// be a secret pasted into the wrong field, or an attempt to forge log lines.
fn refused(client_id: &str) {
    let shown = if looks_like_client_id(client_id) {
        client_id
    } else {
        "<unrecognized>"
    };
    tracing::info!(client_id = shown, "client credentials refused");
}
