//! The tower layer that authenticates every call to the OAuthApplications
//! service and authorizes it against [`requirement_of`] before any handler runs.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use http::{HeaderMap, Request, Response};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use super::{ORG_HEADER, OrgPermit, ServicePermit, TokenVerifier, VERIFY_SCOPE, roles::RoleCache};
use crate::{
    domain::Role,
    error::ApiError,
    limits::Limiter,
    store::{self, Pool, StoreError},
};

/// Path prefix of the methods this layer guards. Other services on the same
/// server (health, reflection) are public by design.
pub const SERVICE_PATH_PREFIX: &str = "/oauthapps.v1.OAuthApplications/";

/// Longest organization id accepted in metadata.
const ORG_ID_MAX_LEN: usize = 128;

/// What a method demands of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Org-scoped: membership in the `x-organization-id` org with at least this role.
    Org(Role),
    /// Service call, not org-scoped: the token must carry this scope.
    Service(&'static str),
}

/// The access table of the public contract. A method not listed has no
/// requirement and is therefore refused: new methods are closed until added.
pub fn requirement_of(method: &str) -> Option<Requirement> {
    use Requirement::*;
    Some(match method {
        "CreateApplication"
        | "UpdateApplication"
        | "DeleteApplication"
        | "UndeleteApplication"
        | "RotateClientSecret" => Org(Role::Admin),
        "GetApplication" | "ListApplications" => Org(Role::Member),
        "VerifyClientCredentials" | "LookupClient" => Service(VERIFY_SCOPE),
        _ => return None,
    })
}

/// Methods that change state, and so count against the caller's mutation
/// rate limit. Reads are never limited.
pub fn is_mutating(method: &str) -> bool {
    matches!(
        method,
        "CreateApplication"
            | "UpdateApplication"
            | "DeleteApplication"
            | "UndeleteApplication"
            | "RotateClientSecret"
    )
}

/// Decides whether a call may proceed, and with which permit.
#[derive(Clone, Debug)]
pub struct Authorizer {
    verifier: Arc<TokenVerifier>,
    pool: Pool,
    mutations: Limiter,
    roles: Arc<RoleCache>,
    db_timeout: std::time::Duration,
}

#[derive(Clone, Debug)]
enum Permit {
    Org(OrgPermit),
    Service(ServicePermit),
}

impl Authorizer {
    pub fn new(state: &crate::state::AppState) -> Self {
        Self {
            verifier: state.verifier.clone(),
            pool: state.pool.clone(),
            mutations: state.mutations.clone(),
            roles: state.roles.clone(),
            db_timeout: state.db_timeout,
        }
    }

    async fn authorize(&self, method: &str, headers: &HeaderMap) -> Result<Permit, Status> {
        let Some(requirement) = requirement_of(method) else {
            return Err(Status::unimplemented(format!("unknown method {method}")));
        };
        let token = bearer_token(headers)?;
        let caller = self.verifier.verify(token).map_err(|e| {
            tracing::debug!(reason = %e, "token refused");
            Status::unauthenticated(format!("invalid bearer token: {e}"))
        })?;
        crate::telemetry::rpc::record_caller(&caller.subject, None);
        match requirement {
            Requirement::Service(scope) => {
                if caller.has_scope(scope) {
                    Ok(Permit::Service(ServicePermit::new(caller.subject)))
                } else {
                    Err(Status::permission_denied(format!(
                        "this method requires a token with scope {scope}"
                    )))
                }
            }
            Requirement::Org(min_role) => {
                let org = organization_id(headers)?;
                crate::telemetry::rpc::record_caller(&caller.subject, Some(&org));
                // Mutations always read the role from the database: the power
                // to change things is withdrawn at the very next call, with no
                // notification in between. Reads may use the cache.
                let role = self
                    .role_of(&org, &caller.subject, !is_mutating(method))
                    .await?;
                match role {
                    None => Err(Status::permission_denied(
                        "the caller is not a member of this organization",
                    )),
                    Some(role) if role < min_role => Err(Status::permission_denied(format!(
                        "this method requires role {} or higher; the caller is {}",
                        min_role.as_db().to_uppercase(),
                        role.as_db().to_uppercase()
                    ))),
                    Some(role) => {
                        // Limited per caller once authorized, so refused calls
                        // keep their own status and spend nothing.
                        if is_mutating(method) {
                            if let Err(wait) = self.mutations.check(&caller.subject) {
                                return Err(ApiError::RateLimited { retry_after: wait }.into());
                            }
                        }
                        Ok(Permit::Org(OrgPermit::new(org, role, caller.subject)))
                    }
                }
            }
        }
    }

    async fn role_of(
        &self,
        org: &str,
        subject: &str,
        cached: bool,
    ) -> Result<Option<Role>, Status> {
        if cached && let Some(role) = self.roles.get(org, subject) {
            return Ok(role);
        }
        let generation = self.roles.generation();
        let lookup = async {
            let mut conn = store::db::checkout(&self.pool).await?;
            store::memberships::role_of(&mut conn, org, subject).await
        };
        let result: Result<Option<Role>, StoreError> =
            tokio::time::timeout(self.db_timeout, lookup)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(
                        "membership lookup timed out".into(),
                    ))
                });
        if let Ok(role) = &result {
            self.roles.insert(org, subject, *role, generation);
        }
        // The one mapping of error.rs, which also logs what clients don't see.
        result.map_err(|e| ApiError::from(e).into())
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, Status> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token> metadata"))?;
    let value = value
        .to_str()
        .map_err(|_| Status::unauthenticated("malformed authorization metadata"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        Status::unauthenticated("authorization metadata must be `Bearer <token>`")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Status::unauthenticated(
            "authorization metadata must be `Bearer <token>`",
        ));
    }
    Ok(token.trim())
}

fn organization_id(headers: &HeaderMap) -> Result<String, Status> {
    let value = headers
        .get(ORG_HEADER)
        .ok_or_else(|| Status::invalid_argument(format!("{ORG_HEADER} metadata is required")))?;
    let org = value
        .to_str()
        .map_err(|_| Status::invalid_argument(format!("{ORG_HEADER} must be printable ASCII")))?
        .trim();
    if org.is_empty() || org.len() > ORG_ID_MAX_LEN {
        return Err(Status::invalid_argument(format!(
            "{ORG_HEADER} must be 1 to {ORG_ID_MAX_LEN} characters"
        )));
    }
    Ok(org.to_owned())
}

/// The tower layer around the tonic router.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    authorizer: Authorizer,
}

impl AuthLayer {
    pub fn new(authorizer: Authorizer) -> Self {
        Self { authorizer }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authorizer: self.authorizer.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    authorizer: Authorizer,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authorizer = self.authorizer.clone();
        Box::pin(async move {
            let Some(method) = req.uri().path().strip_prefix(SERVICE_PATH_PREFIX) else {
                return inner.call(req).await;
            };
            let method = method.to_owned();
            let decision = authorizer.authorize(&method, req.headers()).await;
            // Handlers need the permit, not the token: it goes no further.
            req.headers_mut().remove(http::header::AUTHORIZATION);
            match decision {
                Ok(Permit::Org(permit)) => {
                    req.extensions_mut().insert(permit);
                    inner.call(req).await
                }
                Ok(Permit::Service(permit)) => {
                    req.extensions_mut().insert(permit);
                    inner.call(req).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_method_has_a_requirement() {
        use Requirement::*;
        let table = [
            ("CreateApplication", Org(Role::Admin)),
            ("GetApplication", Org(Role::Member)),
            ("ListApplications", Org(Role::Member)),
            ("UpdateApplication", Org(Role::Admin)),
            ("DeleteApplication", Org(Role::Admin)),
            ("UndeleteApplication", Org(Role::Admin)),
            ("RotateClientSecret", Org(Role::Admin)),
            ("VerifyClientCredentials", Service(VERIFY_SCOPE)),
            ("LookupClient", Service(VERIFY_SCOPE)),
        ];
        for (method, req) in table {
            assert_eq!(requirement_of(method), Some(req), "{method}");
        }
        assert_eq!(requirement_of("DropEverything"), None);
        for (method, req) in table {
            // Exactly the methods that need ADMIN are mutations.
            assert_eq!(is_mutating(method), req == Org(Role::Admin), "{method}");
        }
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert!(bearer_token(&h).is_err());
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert!(bearer_token(&h).is_err());
        h.insert("authorization", "Bearer ".parse().unwrap());
        assert!(bearer_token(&h).is_err());
        h.insert("authorization", "bearer tok.en.x".parse().unwrap());
        assert_eq!(bearer_token(&h).unwrap(), "tok.en.x");
    }
}
