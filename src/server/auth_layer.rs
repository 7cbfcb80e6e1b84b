//! The tower layer that puts the [`Authorizer`]'s decision in front of the
//! OAuthApplications service: a permit in the request's extensions, or the
//! refusal's status (chosen in `error.rs`) without calling the service.

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tonic::{Status, body::Body};
use tower_http::auth::{AsyncAuthorizeRequest, AsyncRequireAuthorizationLayer};

use crate::{
    auth::{Authorizer, SERVICE_PATH_PREFIX},
    error::Error,
    store::Memberships,
};

/// Authorizes calls of the OAuthApplications service; other services on the
/// server (health, reflection) pass untouched.
#[derive(Clone, Debug)]
pub struct Authorize(pub Authorizer<Memberships>);

impl AsyncAuthorizeRequest<Body> for Authorize {
    type RequestBody = Body;
    type ResponseBody = Body;
    type Future = BoxFuture<'static, Result<Request<Body>, Response<Body>>>;

    fn authorize(&mut self, mut req: Request<Body>) -> Self::Future {
        let authorizer = self.0.clone();
        Box::pin(async move {
            let Some(method) = req.uri().path().strip_prefix(SERVICE_PATH_PREFIX) else {
                return Ok(req);
            };
            let decision = authorizer.authorize(method, req.headers()).await;
            if decision.is_ok()
                && let Some(connection) = super::connections::info_of(req.extensions())
            {
                // Its caller proved who they are: the connection leaves its
                // peer's unauthenticated share.
                connection.activity().authenticate();
            }
            // Handlers need the permit, not the token: it goes no further.
            req.headers_mut().remove(http::header::AUTHORIZATION);
            match decision {
                Ok(permit) => permit.insert_into(req.extensions_mut()),
                Err(e) => return Err(Status::from(Error::from(e)).into_http()),
            }
            Ok(req)
        })
    }
}

pub fn layer(authorizer: Authorizer<Memberships>) -> AsyncRequireAuthorizationLayer<Authorize> {
    AsyncRequireAuthorizationLayer::new(Authorize(authorizer))
}
