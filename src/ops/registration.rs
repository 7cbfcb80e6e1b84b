//! CreateRegistrationToken, ListRegistrationTokens, RevokeRegistrationToken:
//! the initial access tokens of RFC 7591 registration (`ops::dcr`), made
//! and revoked by an organization's OWNERs and ADMINs, each in a
//! transaction with its audit event.

use chrono::{DateTime, Utc};

use super::Ops;
use crate::{
    auth::WritePermit,
    credentials::Limiter,
    domain::{
        Refusal,
        page_token::{PagePosition, PageTokenError},
        registration::{
            self, BearerToken, RegistrationToken, TokenId, TokenInput, TokenKey, TokenKind,
        },
    },
    error::Error,
    store::{
        self, Deadline,
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

/// A new registration token: the secret, shown this once.
#[derive(Debug)]
pub struct CreatedToken {
    pub secret: BearerToken,
    pub token: RegistrationToken,
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
}
