//! Clients that register themselves: registration tokens (made by people
//! through CreateRegistrationToken), RFC 7591 registration with one of them
//! or openly, and RFC 7592 reads, replacements and deletions with the
//! client's registration access token.
//!
//! A registration goes through CreateApplication's rules
//! (`domain::create::check_new`) and store functions, with the rights of an
//! ADMIN of the token's organization: never a privileged app. The token's
//! use is spent in the registration's own transaction, so concurrent
//! registrations never pass its maximum and a failed one spends nothing.
//! A registration access token is bound to its one client (its hash lives
//! on that client's row) and replaced by every RFC 7592 update.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::Ops;
use crate::{
    auth::WritePermit,
    credentials::Limiter,
    domain::{
        AppId, Application, ClientId, ClientSecret, Refusal, create,
        dcr::{self, ClientMetadata},
        page_token::{PagePosition, PageTokenError},
        registration::{
            self, BearerToken, RegistrationToken, TokenHash, TokenId, TokenInput, TokenKey,
            TokenKind,
        },
    },
    error::Error,
    store::{
        self, Deadline,
        applications::InitialSecret,
        audit::Action,
        registration_tokens::{self as tokens, TokenCursor},
    },
};

/// How clients may register themselves on this service.
#[derive(Debug)]
pub struct Registration {
    /// The key of both kinds of token's hashes, shared by every replica.
    pub key: TokenKey,
    /// Open registration (no token) lands here; `None`: off.
    pub open_org: Option<String>,
    /// Open registrations per source address (an IPv6 /64) and hour.
    pub per_source: Limiter,
    /// Live, dynamically registered apps the open organization may hold.
    pub max_dynamic_apps: i64,
}

/// Why a client's registration call is refused, as RFC 7591/7592 tell it.
#[derive(Debug)]
pub enum RegisterError {
    /// No, or a bad, registration token or registration access token: 401,
    /// saying nothing about whether the client exists.
    InvalidToken,
    /// The metadata breaks a rule (every violation, by the RFC's names).
    Invalid(Vec<crate::domain::FieldViolation>),
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
    pub access_token: BearerToken,
}

/// A new registration token: the secret, shown this once.
#[derive(Debug)]
pub struct CreatedToken {
    pub secret: BearerToken,
    pub token: RegistrationToken,
}

/// Who lets a registration in.
enum Door {
    Token(TokenHash),
    Open(String),
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
    pub async fn create_registration_token(
        &self,
        permit: &WritePermit,
        input: TokenInput,
        deadline: Option<Deadline>,
    ) -> Result<CreatedToken, Error> {
        let new = permit.authorize(registration::check_new_token(input, Utc::now())?)?;
        let id = TokenId::generate();
        let secret = BearerToken::generate(TokenKind::Registration);
        let hash = self.registration.key.hash(&secret);
        let token = self
            .db
            .transaction(deadline, async |conn| {
                let token = tokens::insert(conn, &new, &id, &hash).await?;
                let fields = ["description", "expire_time", "max_registrations"];
                store::audit::record(
                    conn,
                    &new,
                    &token.id,
                    Action::CreateRegistrationToken,
                    &fields,
                    "",
                )
                .await?;
                Ok::<_, Error>(token)
            })
            .await?;
        tracing::info!(token_id = %token.id, "registration token created");
        Ok(CreatedToken { secret, token })
    }

    /// One page of the organization's tokens, oldest first.
    pub async fn list_registration_tokens(
        &self,
        permit: &WritePermit,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<RegistrationToken>, String), Error> {
        let size = crate::domain::page_token::page_size(page_size)?;
        let now = Utc::now();
        let keys = self.page_tokens.derive("registration_tokens");
        let after = if page_token.is_empty() {
            None
        } else {
            let bad = |e: PageTokenError| Refusal::invalid("page_token", e.to_string());
            let p = keys
                .decode(page_token, permit.org(), true, now)
                .map_err(bad)?;
            let create_time = DateTime::<Utc>::from_timestamp_micros(p.after_create_time_micros)
                .ok_or_else(|| bad(PageTokenError::Invalid))?;
            Some(TokenCursor {
                create_time,
                id: p.after_id,
            })
        };
        let mut page = self
            .db
            .run(async |conn| tokens::list(conn, permit, after.as_ref(), size + 1).await)
            .await?;
        let more = page.len() as i64 > size;
        page.truncate(size as usize);
        let next = match page.last() {
            Some(last) if more => keys.encode(&PagePosition {
                org: permit.org().to_owned(),
                show_deleted: true,
                after_create_time_micros: last.create_time.timestamp_micros(),
                after_id: last.id.clone(),
                issued_at: now.timestamp(),
            }),
            _ => String::new(),
        };
        Ok((page, next))
    }

    pub async fn revoke_registration_token(
        &self,
        permit: &WritePermit,
        id: &str,
        deadline: Option<Deadline>,
    ) -> Result<RegistrationToken, Error> {
        let id = TokenId::parse(id)
            .ok_or_else(|| Error::invalid("id", "is not a registration token id (rgt_...)"))?;
        let target = permit.authorize(registration::revocation(id))?;
        let token = self
            .db
            .transaction(deadline, async |conn| {
                let token = tokens::revoke(conn, &target).await?;
                store::audit::record(
                    conn,
                    &target,
                    &token.id,
                    Action::RevokeRegistrationToken,
                    &["revoke_time"],
                    "",
                )
                .await?;
                Ok::<_, Error>(token)
            })
            .await
            .map_err(|e| match e {
                Error::NotFound => Error::RegistrationTokenNotFound,
                e => e,
            })?;
        tracing::info!(token_id = %token.id, "registration token revoked");
        Ok(token)
    }

    /// RFC 7591: registers the client `metadata` describes, with the
    /// registration token `bearer`, or openly (from `source`) when there is
    /// none and open registration is on.
    pub async fn register_client(
        &self,
        bearer: Option<BearerToken>,
        source: Option<IpAddr>,
        metadata: ClientMetadata,
        deadline: Option<Deadline>,
    ) -> Result<Registered, RegisterError> {
        // Who first: an unauthenticated caller learns nothing of the rules.
        let door = self.door(bearer, source).await?;
        let (org, subject) = match &door {
            Door::Token(hash) => {
                // Checked before argon2 (a bad token costs no hash) and
                // spent below, in the registration's transaction.
                let live = self
                    .db
                    .run(async |conn| tokens::is_live(conn, hash).await)
                    .await?;
                let spent = live.ok_or(Error::InvalidRegistrationToken)?;
                (
                    spent.organization_id,
                    format!("registration:{}", spent.token_id),
                )
            }
            Door::Open(org) => (org.clone(), "registration:open".to_owned()),
        };
        let input = dcr::to_create_input(metadata)?;
        let checked = create::check_new(input, &self.policy).map_err(dcr::rfc_names)?;
        let permit = WritePermit::for_registration(org, subject);
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
                match &door {
                    Door::Token(hash) => {
                        tokens::spend(conn, hash)
                            .await?
                            .ok_or(Error::InvalidRegistrationToken)?;
                    }
                    Door::Open(org) => {
                        if tokens::lock_and_count_dynamic(conn, org).await? >= max {
                            return Err(Error::DynamicAppsFull);
                        }
                    }
                }
                let initial = secret
                    .as_ref()
                    .zip(hint.as_deref())
                    .map(|((_, hash), hint)| InitialSecret { hash, hint });
                let app = store::applications::insert(conn, &new, &id, &client_id, initial).await?;
                tokens::set_access_hash(conn, &permit, &app.id, Some(&access_hash)).await?;
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
            access_token,
        })
    }

    /// Which door a registration comes through: its token, or the open one
    /// (within the source's hourly limit).
    async fn door(
        &self,
        bearer: Option<BearerToken>,
        source: Option<IpAddr>,
    ) -> Result<Door, RegisterError> {
        let r = &self.registration;
        match (bearer, &r.open_org) {
            (Some(token), _) => Ok(Door::Token(r.key.hash(&token))),
            (None, Some(org)) => {
                let key = source.map_or_else(|| "unknown".to_owned(), source_key);
                r.per_source
                    .check(&key)
                    .map_err(|retry_after| Error::RateLimited { retry_after })?;
                Ok(Door::Open(org.clone()))
            }
            (None, None) => Err(RegisterError::InvalidToken),
        }
    }

    /// The client `client_id` if `bearer` is its registration access token,
    /// with a permit for its organization (an ADMIN's rights).
    async fn registered_client(
        &self,
        client_id: &str,
        bearer: Option<BearerToken>,
    ) -> Result<(WritePermit, AppId), RegisterError> {
        let bearer = bearer.ok_or(RegisterError::InvalidToken)?;
        let presented = self.registration.key.hash(&bearer);
        let found = self
            .db
            .run(async |conn| tokens::find_registered(conn, client_id).await)
            .await?;
        // Compared in constant time, and against a stand-in when there is
        // no such client, so the answer's timing tells nothing either.
        let (org, id, stored) = match found {
            Some(f) => f,
            None => {
                let _ = presented.matches(&presented);
                return Err(RegisterError::InvalidToken);
            }
        };
        if !presented.matches(&stored) {
            return Err(RegisterError::InvalidToken);
        }
        let permit = WritePermit::for_registration(org, format!("client:{client_id}"));
        Ok((permit, id))
    }

    /// RFC 7592 read.
    pub async fn read_registration(
        &self,
        client_id: &str,
        bearer: Option<BearerToken>,
    ) -> Result<Application, RegisterError> {
        let (permit, id) = self.registered_client(client_id, bearer).await?;
        let app = self
            .db
            .run(async |conn| store::applications::get(conn, permit.read(), &id).await)
            .await?;
        Ok(app)
    }

    /// RFC 7592 delete: the app is soft-deleted and its registration access
    /// token stops working.
    pub async fn delete_registration(
        &self,
        client_id: &str,
        bearer: Option<BearerToken>,
        deadline: Option<Deadline>,
    ) -> Result<(), RegisterError> {
        let (permit, id) = self.registered_client(client_id, bearer).await?;
        self.set_deleted(&permit, id.clone(), true, deadline)
            .await?;
        self.db
            .run(async |conn| tokens::set_access_hash(conn, &permit, &id, None).await)
            .await?;
        Ok(())
    }

    /// RFC 7592 update: the metadata replaces the client's (type and
    /// authentication method cannot change), and the client gets a new
    /// registration access token, the old one refused from the same commit.
    pub async fn replace_registration(
        &self,
        client_id: &str,
        bearer: Option<BearerToken>,
        metadata: ClientMetadata,
        deadline: Option<Deadline>,
    ) -> Result<Registered, RegisterError> {
        let (permit, id) = self.registered_client(client_id, bearer).await?;
        if metadata
            .client_id
            .as_deref()
            .is_some_and(|c| c != client_id)
        {
            return Err(RegisterError::Invalid(vec![
                crate::domain::FieldViolation::new("client_id", "differs from the registration's"),
            ]));
        }
        let input = dcr::to_create_input(metadata)?;
        let access_token = BearerToken::generate(TokenKind::RegistrationAccess);
        let access_hash = self.registration.key.hash(&access_token);
        let app = self
            .db
            .transaction(deadline, async |conn| {
                let current = store::applications::lock(conn, &permit, &id).await?;
                let update =
                    dcr::plan_replacement(current, input, &self.policy).map_err(dcr::rfc_names)?;
                let plan = permit.authorize(update)?;
                let updated = store::applications::update(conn, &plan).await?;
                tokens::set_access_hash(conn, &permit, &id, Some(&access_hash)).await?;
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
            access_token,
        })
    }
}

/// For the open-registration limiter's unit test.
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
