//! VerifyClientCredentials and LookupClient, for token endpoints.
//!
//! Verification is built so that a caller cannot tell an unknown client, a
//! wrong secret, an inactive or a deleted application apart, in content or in
//! timing: each of them costs one database query and exactly one argon2
//! verification (against a dummy hash when there is no usable stored one)
//! and answers "not valid". Only a correct secret of a usable application
//! can be answered from the verification cache, which skips the hash.

use super::Ops;
use crate::{
    auth::ServicePermit,
    domain::{Application, ClientSecret, ids::CLIENT_ID_CHARS},
    error::ApiError,
    store::{self, applications::LiveSecret},
    telemetry::rpc::record_app,
};

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

        let found = if oversized {
            None
        } else {
            self.db
                .read(async |conn| {
                    store::applications::find_by_client_id(conn, permit, client_id).await
                })
                .await?
        };
        if let Some((app, _)) = &found {
            record_app(app.id.as_str());
        }
        let usable = found.as_ref().filter(|(app, secrets)| {
            app.is_usable() && !secrets.is_empty() && presented.expose().len() <= MAX_SECRET_LEN
        });

        // Fast path: this exact secret verified against this stored hash before.
        if let Some((app, secrets)) = usable
            && secrets
                .iter()
                .any(|s| self.verified.is_verified(s.hash.as_phc(), &presented))
        {
            return Ok(Some(app.clone()));
        }

        // Every other path costs an argon2 verification, so it spends a unit
        // of this client_id's budget (known or not) before the hash: a burst
        // of parallel guesses cannot all slip past the limit. A client's
        // right secret pays once, before it is cached.
        if let Err(retry_after) = self.failed_verifications.check(limit_key) {
            return Err(ApiError::RateLimited { retry_after });
        }

        // Candidates: the live secrets whose hint matches the presented
        // secret's last characters (almost always one), else the dummy hash,
        // so that every refusal costs the same one hash.
        let hint = presented.hint();
        let candidates: Vec<&LiveSecret> = usable
            .map(|(_, secrets)| secrets.iter().filter(|s| s.hint == hint).collect())
            .unwrap_or_default();
        let mut matched: Option<&LiveSecret> = None;
        if candidates.is_empty() {
            let truncated: String = presented.expose().chars().take(MAX_SECRET_LEN).collect();
            self.hasher
                .verify(
                    self.dummy_hash.clone(),
                    ClientSecret::from_presented(truncated),
                )
                .await?;
        } else {
            for candidate in candidates {
                if self
                    .hasher
                    .verify(candidate.hash.clone(), presented.clone())
                    .await?
                {
                    matched = Some(candidate);
                    break;
                }
            }
        }
        match (usable, matched) {
            (Some((app, _)), Some(secret)) => {
                self.verified.remember(secret.hash.as_phc(), &presented);
                Ok(Some(app.clone()))
            }
            _ => {
                let shown = if looks_like_client_id(client_id) {
                    client_id
                } else {
                    "<unrecognized>"
                };
                tracing::info!(client_id = shown, "client credentials refused");
                Ok(None)
            }
        }
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
        let found = self
            .db
            .read(async |conn| {
                store::applications::find_by_client_id(conn, permit, client_id).await
            })
            .await?;
        match found {
            Some((app, _)) if app.is_usable() => {
                record_app(app.id.as_str());
                Ok(app)
            }
            _ => Err(ApiError::NotFound),
        }
    }
}

/// Only ids shaped like ours are logged: anything else may be a secret
/// pasted into the wrong field, or an attempt to forge log lines.
fn looks_like_client_id(s: &str) -> bool {
    s.len() == CLIENT_ID_CHARS && s.bytes().all(|b| b.is_ascii_alphanumeric())
}
