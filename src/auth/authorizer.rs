//! Decides whether a call may proceed, and with which permit: the bearer
//! token, then the method's requirement from [`methods`](super::methods),
//! then (for org-scoped methods) the caller's role in the named organization.
//! It knows nothing of gRPC; the server's auth layer turns its refusals into
//! statuses through `error.rs`.

use std::{future::Future, sync::Arc, time::Duration};

use http::HeaderMap;

use super::{
    ORG_HEADER, ReadPermit, ServicePermit, TokenError, TokenVerifier, WatchPermit, WritePermit,
    methods::{Access, access_of},
    roles::RoleCache,
};
use crate::{credentials::Limiter, domain::Role};

/// Longest organization id accepted in metadata.
pub const ORG_ID_MAX_LEN: usize = 128;

/// Where roles come from (the database, in the service).
pub trait RoleSource: Send + Sync + 'static {
    type Error: Send;
    fn role_of(
        &self,
        org: &str,
        user: &str,
    ) -> impl Future<Output = Result<Option<Role>, Self::Error>> + Send;
}

/// Why a call did not get a permit.
#[derive(Debug)]
pub enum AuthError<E> {
    /// The caller may not make this call.
    Denied(Denied),
    /// Over the caller's mutation or read rate limit.
    RateLimited(Duration),
    /// The role could not be read.
    RoleLookup(E),
}

/// Why a caller may not make a call.
#[derive(Debug)]
pub enum Denied {
    /// A method of the service that the access table does not list.
    UnknownMethod,
    /// No `authorization` metadata, or not `Bearer <token>`.
    NoBearer,
    BadToken(TokenError),
    /// Org-scoped call without a usable `x-organization-id`.
    MissingOrg,
    BadOrg,
    NotMember,
    RoleTooLow {
        need: Role,
        have: Role,
    },
    MissingScope(&'static str),
}

impl<E> From<Denied> for AuthError<E> {
    fn from(d: Denied) -> Self {
        Self::Denied(d)
    }
}

/// What the layer hands the handler.
#[derive(Clone, Debug)]
pub enum Permit {
    Read(ReadPermit),
    Write(WritePermit),
    Service(ServicePermit),
    Watch(WatchPermit),
}

impl Permit {
    /// Puts the permit where handlers look for it.
    pub fn insert_into(self, extensions: &mut http::Extensions) {
        match self {
            Self::Read(p) => {
                extensions.insert(p);
            }
            Self::Write(p) => {
                extensions.insert(p);
            }
            Self::Service(p) => {
                extensions.insert(p);
            }
            Self::Watch(p) => {
                extensions.insert(p);
            }
        }
    }
}

impl Permit {
    /// A service's permit for a method that demands `access`.
    fn for_service(access: Access, subject: String) -> Self {
        let permit = ServicePermit::new(subject);
        match access {
            Access::ReadOrService(_) => Self::Watch(WatchPermit::All(permit)),
            _ => Self::Service(permit),
        }
    }

    /// A member's permit to read, for a method that demands `access`.
    fn for_reader(access: Access, org: String, subject: String) -> Self {
        let read = ReadPermit::new(org, subject);
        match access {
            Access::ReadOrService(_) => Self::Watch(WatchPermit::Org(read)),
            _ => Self::Read(read),
        }
    }
}

/// What a method demands of this call: one that may be a member's or a
/// service's is a member's read when the call names an organization, else
/// a service's.
fn resolved(access: Access, names_org: bool) -> Access {
    match access {
        Access::ReadOrService(_) if names_org => Access::Read,
        Access::ReadOrService(scope) => Access::Service(scope),
        other => other,
    }
}

#[derive(Clone, Debug)]
pub struct Authorizer<R> {
    verifier: Arc<TokenVerifier>,
    roles: R,
    cache: Arc<RoleCache>,
    mutations: Limiter,
    reads: Limiter,
}

impl<R: RoleSource + Clone> Authorizer<R> {
    pub fn new(
        verifier: Arc<TokenVerifier>,
        roles: R,
        cache: Arc<RoleCache>,
        mutations: Limiter,
        reads: Limiter,
    ) -> Self {
        Self {
            verifier,
            roles,
            cache,
            mutations,
            reads,
        }
    }

    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// The permit for a call of `method` (the name after the service path),
    /// with the organization from the `x-organization-id` metadata.
    pub async fn authorize(
        &self,
        method: &str,
        headers: &HeaderMap,
    ) -> Result<Permit, AuthError<R::Error>> {
        self.authorize_in(method, headers, None).await
    }

    /// The permit for a call of `method`; an org-scoped call's organization
    /// is `org` when given (the HTTP door takes it from the path), else the
    /// `x-organization-id` metadata's.
    pub async fn authorize_in(
        &self,
        method: &str,
        headers: &HeaderMap,
        org: Option<&str>,
    ) -> Result<Permit, AuthError<R::Error>> {
        let original = access_of(method).ok_or(Denied::UnknownMethod)?;
        let token = bearer_token(headers).ok_or(Denied::NoBearer)?;
        let caller = self
            .verifier
            .verify(token)
            .await
            .map_err(Denied::BadToken)?;
        crate::telemetry::rpc::record_caller(&caller.subject);
        let access = resolved(original, org.is_some() || headers.contains_key(ORG_HEADER));
        // The least role each org-scoped kind of method needs.
        let min_role = match access {
            Access::Service(scope) if caller.has_scope(scope) => {
                return Ok(Permit::for_service(original, caller.subject));
            }
            Access::Service(scope) => return Err(Denied::MissingScope(scope).into()),
            Access::Read | Access::ReadOrService(_) => Role::Member,
            Access::Write => Role::Admin,
        };
        let org = match org {
            Some(org) => checked_org(org)?,
            None => organization_id(headers)?,
        };
        crate::telemetry::rpc::record_org(&org);
        // Mutations always read the role from the database: the power to
        // change things is withdrawn at the very next call, with no
        // notification in between. Reads may use the cache.
        let role = self
            .role_of(&org, &caller.subject, !access.is_mutating())
            .await
            .map_err(AuthError::RoleLookup)?
            .ok_or(Denied::NotMember)?;
        if role < min_role {
            let too_low = Denied::RoleTooLow {
                need: min_role,
                have: role,
            };
            return Err(too_low.into());
        }
        // Limited per caller once authorized, so refused calls keep their
        // own status and spend nothing.
        let limit = if access.is_mutating() {
            &self.mutations
        } else {
            &self.reads
        };
        limit
            .check(&caller.subject)
            .map_err(AuthError::RateLimited)?;
        if !access.is_mutating() {
            return Ok(Permit::for_reader(original, org, caller.subject));
        }
        Ok(Permit::Write(WritePermit::new(org, caller.subject, role)))
    }

    async fn role_of(
        &self,
        org: &str,
        subject: &str,
        cached: bool,
    ) -> Result<Option<Role>, R::Error> {
        if cached && let Some(role) = self.cache.get(org, subject) {
            return Ok(role);
        }
        let generation = self.cache.generation();
        let role = self.roles.role_of(org, subject).await?;
        self.cache.insert(org, subject, role, generation);
        Ok(role)
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn organization_id(headers: &HeaderMap) -> Result<String, Denied> {
    let value = headers.get(ORG_HEADER).ok_or(Denied::MissingOrg)?;
    checked_org(value.to_str().map_err(|_| Denied::BadOrg)?)
}

fn checked_org(org: &str) -> Result<String, Denied> {
    let org = org.trim();
    if org.is_empty() || org.len() > ORG_ID_MAX_LEN {
        return Err(Denied::BadOrg);
    }
    Ok(org.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        for bad in ["Basic abc", "Bearer ", "Bearer", "tok.en.x"] {
            h.insert("authorization", bad.parse().unwrap());
            assert_eq!(bearer_token(&h), None, "{bad}");
        }
        h.insert("authorization", "bearer tok.en.x".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("tok.en.x"));
    }

    #[test]
    fn organization_ids() {
        let mut h = HeaderMap::new();
        assert!(matches!(organization_id(&h), Err(Denied::MissingOrg)));
        h.insert(ORG_HEADER, " acme ".parse().unwrap());
        assert_eq!(organization_id(&h).unwrap(), "acme");
        h.insert(ORG_HEADER, "x".repeat(ORG_ID_MAX_LEN + 1).parse().unwrap());
        assert!(matches!(organization_id(&h), Err(Denied::BadOrg)));
    }
}
