//! VerifyClientCredentials, LookupClient, MatchRedirectUri and
//! VerifyClientAssertion: the service calls of token and authorization
//! endpoints. Whether a credential proves a client is the verifier's
//! (`credentials::verifier`); these read the client and act on its verdict.
//!
//! A client is read from this replica's cache only when the cached copy
//! leads to a yes (verified, found, matched); any other answer is read from
//! the database (and cached). So a change committed through another
//! replica, whose notification has not arrived yet, can delay a refusal by
//! that moment, but never a new secret, a reactivation or an added redirect
//! URI or key.
//!
//! With Client ID Metadata Documents on, an `https` client_id is answered
//! from its document (`metadata_docs`), never from the database, by
//! LookupClient, MatchRedirectUri and VerifyClientAssertion alike;
//! VerifyClientCredentials never fetches (a document holds no secret).

use std::sync::Arc;

use chrono::Utc;

use super::Ops;
use crate::{
    auth::ServicePermit,
    credentials::{AssertionFailure, Verdict},
    domain::{
        AppWithSecrets, Application, ClientId, ClientSecret,
        assertion::{self, ASSERTION_TYPE, Accepted, AssertionPolicy, AssertionRefusal},
        redirect,
    },
    error::Error,
    metadata_docs::DocumentError,
    store,
    telemetry::rpc::record_app,
};

/// MatchRedirectUri's answer.
#[derive(Debug)]
pub struct RedirectMatch {
    pub app: Application,
    /// Where the authorization server may redirect; `None`: nowhere.
    pub redirect_uri: Option<String>,
}

/// A client as judged: the copy that said yes and what it said, or the
/// database's copy (`None`: no such client) and why not.
enum Judged<T, R> {
    Yes(Arc<AppWithSecrets>, T),
    No(Option<(Arc<AppWithSecrets>, R)>),
}

impl Ops {
    /// The application when `presented` is a live secret of an active, not
    /// deleted application with this client_id; `None` otherwise, alike.
    pub async fn verify_client_credentials(
        &self,
        permit: &ServicePermit,
        client_id: &str,
        presented: ClientSecret,
    ) -> Result<Option<Application>, Error> {
        let now = Utc::now();
        let verifier = &self.verifier;
        // Ids that cannot be ours share one budget, so that they cannot grow
        // the limiter's memory.
        let (found, budget) = match ClientId::parse(client_id) {
            Some(id) => {
                let could = |f: &AppWithSecrets| {
                    verifier
                        .could_verify(f, &presented, now)
                        .then_some(())
                        .ok_or(())
                };
                let found = match self.judged(permit, &id, could).await? {
                    Judged::Yes(f, ()) | Judged::No(Some((f, ()))) => Some(f),
                    Judged::No(None) => None,
                };
                (found, client_id)
            }
            None => (None, "<unrecognized>"),
        };
        let verdict = verifier
            .secret(permit.subject(), budget, found.as_deref(), presented, now)
            .await?;
        Ok(match verdict {
            Verdict::Valid(app) => Some(*app),
            Verdict::Refused => None,
        })
    }

    /// An active, not deleted application by client_id; NOT_FOUND otherwise.
    pub async fn lookup_client(
        &self,
        permit: &ServicePermit,
        client_id: &str,
    ) -> Result<Application, Error> {
        if let Some(document) = self.document(client_id).await {
            return Ok(document?.app.clone());
        }
        let id = ClientId::parse(client_id).ok_or(Error::NotFound)?;
        let usable = |f: &AppWithSecrets| f.app.is_usable().then_some(()).ok_or(());
        match self.judged(permit, &id, usable).await? {
            Judged::Yes(found, ()) => Ok(found.app.clone()),
            Judged::No(_) => Err(Error::NotFound),
        }
    }

    /// Whether the authorization endpoint may redirect to `redirect_uri`
    /// for this client (see `domain::redirect`); NOT_FOUND for a client
    /// that is unknown, inactive or deleted.
    pub async fn match_redirect_uri(
        &self,
        permit: &ServicePermit,
        client_id: &str,
        redirect_uri: &str,
    ) -> Result<RedirectMatch, Error> {
        let allow_localhost = self.policy.redirects.allow_localhost;
        // Usable and matched is a yes; usable and not matched still answers.
        let matched = |f: &AppWithSecrets| {
            if !f.app.is_usable() {
                return Err(false);
            }
            redirect::matched(&f.app.redirect_uris, redirect_uri, allow_localhost)
                .map(str::to_owned)
                .ok_or(true)
        };
        let (app, redirect_uri) = if let Some(document) = self.document(client_id).await {
            let document = document?;
            let to = matched(&document).ok();
            (document, to)
        } else {
            let id = ClientId::parse(client_id).ok_or(Error::NotFound)?;
            match self.judged(permit, &id, matched).await? {
                Judged::Yes(found, to) => (found, Some(to)),
                Judged::No(Some((found, true))) => (found, None),
                Judged::No(_) => return Err(Error::NotFound),
            }
        };
        if redirect_uri.is_none() {
            tracing::info!(client_id, "redirect_uri not registered");
        }
        Ok(RedirectMatch {
            app: app.app.clone(),
            redirect_uri,
        })
    }

    /// The application when `client_assertion` is a valid private_key_jwt
    /// assertion, seen for the first time; `None` otherwise. Failures spend
    /// a budget (see `credentials::verifier`); a valid assertion verifies
    /// whatever the budgets.
    pub async fn verify_client_assertion(
        &self,
        permit: &ServicePermit,
        assertion_type: &str,
        client_assertion: &str,
        client_id: &str,
    ) -> Result<Option<Application>, Error> {
        if assertion_type != ASSERTION_TYPE {
            return Err(Error::invalid(
                "client_assertion_type",
                format!("must be {ASSERTION_TYPE}"),
            ));
        }
        let Some(policy) = &self.assertions else {
            return Err(Error::AssertionsNotConfigured);
        };
        let verdict = match self.claimed_client(client_assertion, client_id) {
            Ok(claimed) => {
                self.judge_assertion(permit, client_assertion, &claimed, policy)
                    .await?
            }
            Err((budget, reason)) => self.verifier.refuse_assertion(&budget, reason)?,
        };
        Ok(match verdict {
            Verdict::Valid(app) => Some(*app),
            Verdict::Refused => None,
        })
    }

    /// The client an assertion claims to be, which must be `client_id` when
    /// that is given; or whose budget pays for the refusal, and why.
    fn claimed_client(
        &self,
        client_assertion: &str,
        client_id: &str,
    ) -> Result<ClientId, (String, AssertionRefusal)> {
        let given = ClientId::parse(client_id)
            .map(|id| id.as_str().to_owned())
            .unwrap_or_else(|| "<unrecognized>".to_owned());
        let claimed =
            assertion::claimed_client(client_assertion).map_err(|r| (given.clone(), r))?;
        let claimed = ClientId::parse(&claimed).ok_or((given, AssertionRefusal::NoSuchClient))?;
        if !client_id.is_empty() && client_id != claimed.as_str() {
            let budget = claimed.as_str().to_owned();
            return Err((budget, AssertionRefusal::ClientIdMismatch));
        }
        Ok(claimed)
    }

    /// The verdict on an assertion from `claimed`, its `jti` spent when it
    /// is valid.
    async fn judge_assertion(
        &self,
        permit: &ServicePermit,
        client_assertion: &str,
        claimed: &ClientId,
        policy: &AssertionPolicy,
    ) -> Result<Verdict, Error> {
        let (found, accepted) = match self
            .judged_assertion(permit, client_assertion, claimed, policy)
            .await?
        {
            Ok(yes) => yes,
            Err(reason) => return Ok(self.verifier.refuse_assertion(claimed.as_str(), reason)?),
        };
        if !self.spend_jti(permit, claimed, &accepted).await? {
            let replayed = AssertionRefusal::Replayed;
            return Ok(self.verifier.refuse_assertion(claimed.as_str(), replayed)?);
        }
        Ok(Verdict::Valid(Box::new(found.app.clone())))
    }

    /// As [`Ops::judged`], with the verifier's judgement of an assertion,
    /// which awaits the signature lane: the cached copy when it accepts,
    /// else the database's.
    async fn judged_assertion(
        &self,
        permit: &ServicePermit,
        client_assertion: &str,
        claimed: &ClientId,
        policy: &AssertionPolicy,
    ) -> Result<Result<(Arc<AppWithSecrets>, Accepted), AssertionRefusal>, Error> {
        let now = Utc::now().timestamp();
        let judge = async |f: &Arc<AppWithSecrets>| {
            self.verifier
                .assertion(f, client_assertion, claimed.as_str(), policy, now)
                .await
        };
        let found = match self.document(claimed.as_str()).await {
            // A document client's keys are its document's (cached per its
            // max-age), never the database's.
            Some(Ok(found)) => found,
            Some(Err(Error::NotFound)) => return Ok(Err(AssertionRefusal::NoSuchClient)),
            Some(Err(e)) => return Err(e),
            None => {
                // Any no from a cached copy, a spent budget's too, is asked
                // again of the database's, which may hold a key added since.
                if let Some(hit) = self.cached(permit, claimed)
                    && let Ok(accepted) = judge(&hit).await
                {
                    return Ok(Ok((hit, accepted)));
                }
                let Some(found) = self.read(permit, claimed).await? else {
                    return Ok(Err(AssertionRefusal::NoSuchClient));
                };
                found
            }
        };
        match judge(&found).await {
            Ok(accepted) => Ok(Ok((found, accepted))),
            Err(AssertionFailure::Refused(reason)) => Ok(Err(reason)),
            Err(AssertionFailure::Stopped(e)) => Err(e.into()),
        }
    }

    /// Records an accepted assertion's `jti`: false when it was seen before.
    async fn spend_jti(
        &self,
        permit: &ServicePermit,
        client: &ClientId,
        accepted: &Accepted,
    ) -> Result<bool, Error> {
        let until = store::assertions::kept_until(accepted.valid_until)
            .ok_or_else(|| Error::Internal("assertion expiry out of range".into()))?;
        let client = client.as_str();
        Ok(self
            .db
            .run(async |conn| {
                store::assertions::spend_jti(conn, permit, client, &accepted.jti, until).await
            })
            .await?)
    }

    /// The client that `client_id` names by its metadata document, when
    /// documents are on and it is an `https` URL; `None` otherwise.
    async fn document(&self, client_id: &str) -> Option<Result<Arc<AppWithSecrets>, Error>> {
        let answer = self.documents.resolve(client_id).await?;
        Some(answer.map_err(|e| match e {
            DocumentError::NotFound => Error::NotFound,
            DocumentError::Unreachable => Error::DocumentUnreachable,
        }))
    }

    /// Judges the client with this client_id: this replica's cached copy
    /// when `judge` says yes on it, else the database's (then cached).
    async fn judged<T, R>(
        &self,
        permit: &ServicePermit,
        client_id: &ClientId,
        judge: impl Fn(&AppWithSecrets) -> Result<T, R>,
    ) -> Result<Judged<T, R>, Error> {
        if let Some(hit) = self.cached(permit, client_id)
            && let Ok(yes) = judge(&hit)
        {
            return Ok(Judged::Yes(hit, yes));
        }
        let Some(found) = self.read(permit, client_id).await? else {
            return Ok(Judged::No(None));
        };
        Ok(match judge(&found) {
            Ok(yes) => Judged::Yes(found, yes),
            Err(no) => Judged::No(Some((found, no))),
        })
    }

    /// This replica's cached copy of the client, if any.
    fn cached(&self, permit: &ServicePermit, client_id: &ClientId) -> Option<Arc<AppWithSecrets>> {
        let hit = self.apps.by_client_id(permit, client_id.as_str())?;
        record_app(hit.app.id.as_str());
        Some(hit)
    }

    /// The database's copy of the client (`None`: no such client), then
    /// cached.
    async fn read(
        &self,
        permit: &ServicePermit,
        client_id: &ClientId,
    ) -> Result<Option<Arc<AppWithSecrets>>, Error> {
        let generation = self.apps.generation();
        let client_id = client_id.as_str();
        let found = self
            .db
            .run(async |conn| store::applications::find_by_client_id(conn, permit, client_id).await)
            .await?;
        let Some(found) = found.map(Arc::new) else {
            return Ok(None);
        };
        record_app(found.app.id.as_str());
        self.apps.fill(found.clone(), generation);
        Ok(Some(found))
    }
}
