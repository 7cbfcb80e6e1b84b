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
    domain::{Application, ClientSecret, SecretHash},
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
            violations.push(crate::domain::FieldViolation::new(
                "client_id",
                "is required",
            ));
        }
        if req.client_secret.is_empty() {
            violations.push(crate::domain::FieldViolation::new(
                "client_secret",
                "is required",
            ));
        }
        if !violations.is_empty() {
            return Err(ApiError::Invalid(violations));
        }
        let client_id = req.client_id;
        let presented = ClientSecret::from_presented(req.client_secret);

        let found = if client_id.len() <= MAX_CLIENT_ID_LEN {
            let mut conn = self.conn().await?;
            store::applications::find_by_client_id(&mut conn, &client_id).await?
        } else {
            None
        };
        if let Some((app, _)) = &found {
            crate::telemetry::rpc::record_app(app.id.as_str());
        }
        let usable = found.as_ref().filter(|(app, secrets)| {
            is_usable(app) && !secrets.is_empty() && presented.expose().len() <= MAX_SECRET_LEN
        });

        // Fast path: this exact secret verified against this stored hash before.
        if let Some((app, secrets)) = usable {
            if secrets
                .iter()
                .any(|s| self.state.verified.is_verified(s.hash.as_phc(), &presented))
            {
                return Ok(valid(app.clone()));
            }
        }

        // Every other path costs one argon2 verification, so it is rate
        // limited per client_id (known or not) before the hash is computed.
        if let Err(wait) = self.state.failed_verifications.check(&client_id) {
            return Err(ApiError::RateLimited { retry_after: wait });
        }

        // The candidate: the live secret whose hint matches the presented
        // secret's last characters (the current one first), or the dummy.
        let candidate: Option<&LiveSecret> = usable.and_then(|(_, secrets)| {
            let hint = presented.hint();
            secrets.iter().find(|s| s.hint == hint)
        });
        let (hash, presented_for_hash): (SecretHash, ClientSecret) = match candidate {
            Some(s) => (s.hash.clone(), presented.clone()),
            None => (
                self.state.dummy_hash.clone(),
                ClientSecret::from_presented(
                    presented.expose().chars().take(MAX_SECRET_LEN).collect(),
                ),
            ),
        };
        let matched = self.state.hasher.verify(hash, presented_for_hash).await?;
        match (usable, candidate) {
            (Some((app, _)), Some(secret)) if matched => {
                self.state
                    .verified
                    .remember(secret.hash.as_phc(), &presented);
                Ok(valid(app.clone()))
            }
            _ => {
                tracing::info!(client_id = %client_id, "client credentials refused");
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
        let mut conn = self.conn().await?;
        match store::applications::find_by_client_id(&mut conn, &req.client_id).await? {
            Some((app, _)) if is_usable(&app) => Ok(pb::LookupClientResponse {
                application: Some(convert::application(app)),
            }),
            _ => Err(ApiError::NotFound),
        }
    }
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
