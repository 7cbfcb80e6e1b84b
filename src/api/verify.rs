//! VerifyClientCredentials and LookupClient, for token endpoints.
//!
//! Verification is built so that a caller cannot tell an unknown client, a
//! wrong secret, an inactive or a deleted application apart, in content or in
//! timing: each of them costs one database query and exactly one argon2
//! verification (against a dummy hash when there is no usable stored one)
//! and answers `valid = false`. Only a correct secret of a usable application
//! can be answered from the verification cache, which skips the hash.

use super::{Api, convert};
use crate::{
    domain::{Application, ClientSecret, FieldViolation},
    error::ApiError,
    proto::v1 as pb,
    store::{self, applications::LiveSecret},
};

/// Longer inputs are not hashed as given (they cannot be ours anyway).
const MAX_CLIENT_ID_LEN: usize = 256;
const MAX_SECRET_LEN: usize = 512;

impl Api {
    pub(super) async fn verify(
        &self,
        req: pb::VerifyClientCredentialsRequest,
    ) -> Result<pb::VerifyClientCredentialsResponse, ApiError> {
        let mut violations = Vec::new();
        if req.client_id.is_empty() {
            violations.push(FieldViolation::new("client_id", "is required"));
        }
        if req.client_secret.is_empty() {
            violations.push(FieldViolation::new("client_secret", "is required"));
        }
        if !violations.is_empty() {
            return Err(ApiError::Invalid(violations));
        }
        // Ids longer than any we issue cannot exist; they share one limiter
        // key so that they cannot grow the limiter's memory.
        let oversized = req.client_id.len() > MAX_CLIENT_ID_LEN;
        let limit_key = if oversized {
            "<oversized>"
        } else {
            req.client_id.as_str()
        };
        let client_id = req.client_id.as_str();
        let presented = ClientSecret::from_presented(req.client_secret);

        let found = if oversized {
            None
        } else {
            self.db(async {
                let mut conn = self.conn().await?;
                Ok(store::applications::find_by_client_id(&mut conn, client_id).await?)
            })
            .await?
        };
        if let Some((app, _)) = &found {
            crate::telemetry::rpc::record_app(app.id.as_str());
        }
        let usable = found.as_ref().filter(|(app, secrets)| {
            is_usable(app) && !secrets.is_empty() && presented.expose().len() <= MAX_SECRET_LEN
        });

        // Fast path: this exact secret verified against this stored hash before.
        if let Some((app, secrets)) = usable
            && secrets
                .iter()
                .any(|s| self.state.verified.is_verified(s.hash.as_phc(), &presented))
        {
            return Ok(valid(app.clone()));
        }

        // Every other path costs an argon2 verification, so it spends a unit
        // of this client_id's budget (known or not) before the hash: a burst
        // of parallel guesses cannot all slip past the limit. A client's
        // right secret pays once, before it is cached.
        if let Err(wait) = self.state.failed_verifications.check(limit_key) {
            return Err(ApiError::RateLimited { retry_after: wait });
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
            self.state
                .hasher
                .verify(
                    self.state.dummy_hash.clone(),
                    ClientSecret::from_presented(truncated),
                )
                .await?;
        } else {
            for candidate in candidates {
                if self
                    .state
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
                self.state
                    .verified
                    .remember(secret.hash.as_phc(), &presented);
                Ok(valid(app.clone()))
            }
            _ => {
                let shown = if looks_like_client_id(client_id) {
                    client_id
                } else {
                    "<unrecognized>"
                };
                tracing::info!(client_id = shown, "client credentials refused");
                Ok(pb::VerifyClientCredentialsResponse {
                    valid: false,
                    application: None,
                })
            }
        }
    }

    pub(super) async fn lookup(
        &self,
        req: pb::LookupClientRequest,
    ) -> Result<pb::LookupClientResponse, ApiError> {
        if req.client_id.is_empty() {
            return Err(ApiError::invalid("client_id", "is required"));
        }
        if req.client_id.len() > MAX_CLIENT_ID_LEN {
            return Err(ApiError::NotFound);
        }
        let found = self
            .db(async {
                let mut conn = self.conn().await?;
                Ok(store::applications::find_by_client_id(&mut conn, &req.client_id).await?)
            })
            .await?;
        match found {
            Some((app, _)) if is_usable(&app) => Ok(pb::LookupClientResponse {
                application: Some(convert::application(app)),
            }),
            _ => Err(ApiError::NotFound),
        }
    }
}

/// Only ids shaped like ours are logged: anything else may be a secret
/// pasted into the wrong field, or an attempt to forge log lines.
fn looks_like_client_id(s: &str) -> bool {
    s.len() == crate::domain::ids::CLIENT_ID_CHARS && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Active and not deleted (`active` already reads false for deleted apps).
fn is_usable(app: &Application) -> bool {
    app.active && app.delete_time.is_none()
}

fn valid(app: Application) -> pb::VerifyClientCredentialsResponse {
    pb::VerifyClientCredentialsResponse {
        valid: true,
        application: Some(convert::application(app)),
    }
}
