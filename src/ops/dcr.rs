//! Clients that register themselves: RFC 7591 registration (with a
//! registration token, or openly) and RFC 7592 reads, replacements and
//! deletions with the client's registration access token.
//!
//! Each call is admitted first ([`Ops::admit_registration`],
//! [`Ops::admit_client`]), before its body is read, so an unauthenticated
//! caller learns nothing of the rules. A registration then goes through
//! CreateApplication's rules (`domain::create::check_new`) and store
//! functions, with the rights of an ADMIN of the token's organization:
//! never a privileged app. The token's use is spent in the registration's
//! own transaction, so concurrent registrations never pass its maximum and
//! a failed one spends nothing. A registration access token is bound to its
//! one client (its hash lives on that client's row); an update replaces it
//! and a deletion clears it by compare-and-set in their own transactions,
//! so of two calls racing with one token only the first succeeds.

use std::net::IpAddr;

use chrono::Utc;

use super::Ops;
use crate::{
    auth::WritePermit,
    domain::{
        AppId, Application, ClientId, ClientSecret, FieldViolation, create,
        dcr::{self, ClientMetadata, Door as Kind},
        lifecycle, names,
        registration::{BearerToken, TokenHash, TokenKind},
    },
    error::Error,
    store::{
        self, Deadline, applications::InitialSecret, audit::Action, registration_tokens as tokens,
    },
};

/// Why a client's registration call is refused, as RFC 7591/7592 tell it.
#[derive(Debug)]
pub enum RegisterError {
    /// No, or a bad, registration token or registration access token: 401,
    /// saying nothing about whether the client exists.
    InvalidToken,
    /// The metadata breaks a rule (every violation, by the RFC's names).
    Invalid(Vec<FieldViolation>),
    /// Any other failure, as the rest of the service answers it.
    Other(Error),
}

impl<E: Into<Error>> From<E> for RegisterError {
    fn from(e: E) -> Self {
        match e.into() {
            Error::Invalid(v) => Self::Invalid(v),
            Error::InvalidRegistrationToken => Self::InvalidToken,
            other => Self::Other(other),
        }
    }
}

/// A registered client: what the 201 (or the RFC 7592 update) shows once.
#[derive(Debug)]
pub struct Registered {
    pub app: Application,
    pub secret: Option<ClientSecret>,
    /// `None` on a read: the token is shown only when issued.
    pub access_token: Option<BearerToken>,
}

/// A registration let in: through a live registration token (spent when
/// the client is stored), or the open door.
#[derive(Debug)]
pub struct Admitted {
    token: Option<TokenHash>,
    org: String,
    subject: String,
}

/// A client whose registration access token was presented.
#[derive(Debug)]
pub struct ClientGrant {
    permit: WritePermit,
    id: AppId,
    client_id: String,
    presented: TokenHash,
}

/// The source-address key of the open-registration limit: the address, or
/// an IPv6 address's /64 (one subscriber's usual allocation).
fn source_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl Ops {
    /// Who may register: the organization of the live registration token
    /// `bearer`, or with none the open door (within the source's limit).
    pub async fn admit_registration(
        &self,
        bearer: Option<BearerToken>,
        source: Option<IpAddr>,
    ) -> Result<Admitted, RegisterError> {
        let r = &self.registration;
        match (bearer, &r.open_org) {
            (Some(token), _) => {
                let hash = r.key.hash(&token);
                // Checked here (a bad token costs no hash and reads no
                // body), spent when the client is stored.
                let live = self
                    .db
                    .run(async |conn| tokens::is_live(conn, &hash).await)
                    .await?;
                let spent = live.ok_or(RegisterError::InvalidToken)?;
                Ok(Admitted {
                    token: Some(hash),
                    org: spent.organization_id,
                    subject: format!("registration:{}", spent.token_id),
                })
            }
            (None, Some(org)) => {
                let key = source.map_or_else(|| "unknown".to_owned(), source_key);
                r.per_source
                    .check(&key)
                    .map_err(|retry_after| Error::RateLimited { retry_after })?;
                Ok(Admitted {
                    token: None,
                    org: org.clone(),
                    subject: "registration:open".to_owned(),
                })
            }
            (None, None) => Err(RegisterError::InvalidToken),
        }
    }

    /// RFC 7591: registers the client `metadata` describes.
    pub async fn register_client(
        &self,
        admitted: Admitted,
        metadata: ClientMetadata,
        deadline: Option<Deadline>,
    ) -> Result<Registered, RegisterError> {
        let kind = admitted.token.as_ref().map_or(Kind::Open, |_| Kind::Token);
        let (input, ours) = dcr::to_create_input(metadata, kind);
        let checked = match (create::check_new(input, &self.policy), ours.is_empty()) {
            (Ok(checked), true) => checked,
            (Ok(_), false) => return Err(RegisterError::Invalid(ours)),
            (Err(refusal), _) => return Err(dcr::merged(ours, refusal).into()),
        };
        let permit = WritePermit::for_registration(admitted.org, admitted.subject);
        let new = permit.authorize(checked)?;
        let secret = if new.get().auth_method.uses_secret() {
            let secret = ClientSecret::generate(&self.checksum_key);
            let hash = self.minting.hash(secret.clone()).await?;
            Some((secret, hash))
        } else {
            None
        };
        let access_token = BearerToken::generate(TokenKind::RegistrationAccess);
        let access_hash = self.registration.key.hash(&access_token);
        let (id, client_id) = (AppId::generate(), ClientId::generate());
        let hint = secret.as_ref().map(|(s, _)| s.hint());
        let max = self.registration.max_dynamic_apps;
        let app = self
            .db
            .transaction(deadline, async |conn| {
                let_in(
                    conn,
                    admitted.token.as_ref(),
                    new.org(),
                    &new.get().name,
                    max,
                )
                .await?;
                let initial = secret
                    .as_ref()
                    .zip(hint.as_deref())
                    .map(|((_, hash), hint)| InitialSecret { hash, hint });
                let access = Some(&access_hash);
                let app = store::applications::insert(conn, &new, &id, &client_id, initial, access)
                    .await?;
                let fields = create::CREATE_AUDIT_FIELDS;
                store::audit::record(conn, &new, app.id.as_str(), Action::Create, fields, "")
                    .await?;
                Ok::<_, Error>(app)
            })
            .await?;
        tracing::info!(app_id = %app.id, "client registered itself");
        Ok(Registered {
            app,
            secret: secret.map(|(s, _)| s),
            access_token: Some(access_token),
        })
    }

    /// The client `client_id` if `bearer` is its registration access token,
    /// with a permit for its organization (an ADMIN's rights).
    pub async fn admit_client(
        &self,
        client_id: &str,
        bearer: Option<BearerToken>,
    ) -> Result<ClientGrant, RegisterError> {
        let bearer = bearer.ok_or(RegisterError::InvalidToken)?;
        let presented = self.registration.key.hash(&bearer);
        let found = self
            .db
            .run(async |conn| tokens::find_registered(conn, client_id).await)
            .await?;
        // Compared in constant time. An unknown client costs one indexed
        // read like a known one, and answers the same 401.
        let (org, id, stored) = found.ok_or(RegisterError::InvalidToken)?;
        if !presented.matches(&stored) {
            return Err(RegisterError::InvalidToken);
        }
        let permit = WritePermit::for_registration(org, format!("client:{client_id}"));
        Ok(ClientGrant {
            permit,
            id,
            client_id: client_id.to_owned(),
            presented,
        })
    }

    /// RFC 7592 read.
    pub async fn read_registration(
        &self,
        grant: &ClientGrant,
    ) -> Result<Registered, RegisterError> {
        let app = self
            .db
            .run(async |conn| store::applications::get(conn, grant.permit.read(), &grant.id).await)
            .await?;
        Ok(Registered {
            app,
            secret: None,
            access_token: None,
        })
    }

    /// RFC 7592 delete: the app is soft-deleted and its registration access
    /// token cleared, in one transaction.
    pub async fn delete_registration(
        &self,
        grant: ClientGrant,
        deadline: Option<Deadline>,
    ) -> Result<(), RegisterError> {
        let ClientGrant {
            permit,
            id,
            presented,
            ..
        } = grant;
        let app = self
            .db
            .transaction(deadline, async |conn| {
                let current = store::applications::lock(conn, &permit, &id).await?;
                if !tokens::swap_access_hash(conn, &permit, &id, &presented, None).await? {
                    return Err(Error::InvalidRegistrationToken);
                }
                let plan =
                    permit.authorize(lifecycle::plan_set_deleted(current, true, Utc::now()))?;
                let app = store::applications::update(conn, &plan).await?;
                let changed = plan.get().changes.fields();
                store::audit::record(conn, &plan, app.id.as_str(), Action::Delete, &changed, "")
                    .await?;
                Ok::<_, Error>(app)
            })
            .await?;
        self.apps.forget(app.id.as_str(), &app.client_id);
        Ok(())
    }

    /// RFC 7592 update: the metadata replaces the client's (type and
    /// authentication method cannot change), and the client gets a new
    /// registration access token, the old one refused from the same commit.
    pub async fn replace_registration(
        &self,
        grant: ClientGrant,
        metadata: ClientMetadata,
        deadline: Option<Deadline>,
    ) -> Result<Registered, RegisterError> {
        let mut ours = Vec::new();
        if metadata
            .client_id
            .as_deref()
            .is_some_and(|c| c != grant.client_id)
        {
            ours.push(FieldViolation::new(
                "client_id",
                "differs from the registration's",
            ));
        }
        let (input, mut theirs) = dcr::to_create_input(metadata, Kind::Token);
        ours.append(&mut theirs);
        let ClientGrant {
            permit,
            id,
            presented,
            ..
        } = grant;
        let access_token = BearerToken::generate(TokenKind::RegistrationAccess);
        let access_hash = self.registration.key.hash(&access_token);
        let app = self
            .db
            .transaction(deadline, async |conn| {
                let current = store::applications::lock(conn, &permit, &id).await?;
                let swapped = Some(&access_hash);
                if !tokens::swap_access_hash(conn, &permit, &id, &presented, swapped).await? {
                    return Err(Error::InvalidRegistrationToken);
                }
                let update = dcr::plan_replacement(current, input, ours, &self.policy)?;
                let plan = permit.authorize(update)?;
                if let Some(name) = &plan.get().changes.name
                    && tokens::looks_like_a_member_app(conn, plan.org(), &names::keys(name)).await?
                {
                    return Err(dcr::name_taken().into());
                }
                let updated = store::applications::update(conn, &plan).await?;
                let changed = plan.get().changes.fields();
                if !changed.is_empty() {
                    let id = updated.id.as_str();
                    store::audit::record(conn, &plan, id, Action::Update, &changed, "").await?;
                }
                Ok::<_, Error>(updated)
            })
            .await?;
        self.apps.forget(app.id.as_str(), &app.client_id);
        Ok(Registered {
            app,
            secret: None,
            access_token: Some(access_token),
        })
    }
}

/// In the registration's transaction: its token's use spent (or, at the
/// open door, room under the total), and a name that does not pass for one
/// of the organization's own apps.
async fn let_in(
    conn: &mut diesel_async::AsyncPgConnection,
    token: Option<&TokenHash>,
    org: &str,
    name: &str,
    max_dynamic_apps: i64,
) -> Result<(), Error> {
    match token {
        Some(hash) => {
            tokens::spend(conn, hash)
                .await?
                .ok_or(Error::InvalidRegistrationToken)?;
        }
        None if tokens::lock_and_count_dynamic(conn, org).await? >= max_dynamic_apps => {
            return Err(Error::DynamicAppsFull);
        }
        None => {}
    }
    if tokens::looks_like_a_member_app(conn, org, &names::keys(name)).await? {
        return Err(dcr::name_taken().into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_addresses_or_ipv6_slash_64s() {
        let key = |s: &str| source_key(s.parse().unwrap());
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff::1"), key("2001:db8:1:2::9"));
    }
}
