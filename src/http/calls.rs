//! Each route's request message, built from its path, query and body, then
//! handed to the same gRPC handler (and so the same `ops/` operation) the
//! gRPC door calls, with the same permit and deadline: nothing is decided
//! twice. The response message comes back as proto3 JSON.

use std::future::Future;

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};
use tonic::{Request, Response, Status};

use super::{
    json,
    routes::{Route, Rpc},
};
use crate::{
    api::{
        Api,
        proto::{OAuthApplications as _, v1 as pb},
    },
    error::Error,
};

/// What a matched request brings besides its route.
#[derive(Debug)]
pub struct Call<'r> {
    pub route: &'r Route,
    /// The path's parameters, percent-decoded, the organization excluded.
    pub params: Vec<(&'static str, String)>,
    pub query: Option<String>,
    pub body: Bytes,
    /// The permit and the deadline.
    pub extensions: http::Extensions,
}

impl Call<'_> {
    fn param(&mut self, name: &str) -> String {
        self.params
            .iter_mut()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| std::mem::take(v))
            .unwrap_or_default()
    }

    fn body<T: DeserializeOwned + Default>(&self) -> Result<T, Error> {
        json::body(&self.body)
    }

    fn query<T: DeserializeOwned>(&self) -> Result<T, Error> {
        json::query(self.query.as_deref(), self.route.query)
    }

    /// The path's `{name}`, which a body may repeat but not contradict.
    fn param_into(&mut self, name: &str, field: &mut String) -> Result<(), Error> {
        let from_path = self.param(name);
        if !field.is_empty() && *field != from_path {
            return Err(Error::invalid(name, "differs from the path's"));
        }
        *field = from_path;
        Ok(())
    }
}

/// Calls the route's RPC; the response message as JSON.
pub async fn dispatch(api: &Api, mut call: Call<'_>) -> Result<Bytes, Status> {
    use Rpc::*;
    let c = &mut call;
    match c.route.rpc {
        CreateApplication => unary(c, |c| c.body(), |r| api.create_application(r)).await,
        GetApplication => unary(c, by_id, |r| api.get_application(r)).await,
        ListApplications => unary(c, |c| c.query(), |r| api.list_applications(r)).await,
        UpdateApplication => unary(c, update, |r| api.update_application(r)).await,
        DeleteApplication => unary(c, by_id, |r| api.delete_application(r)).await,
        UndeleteApplication => unary(c, by_id, |r| api.undelete_application(r)).await,
        RotateClientSecret => unary(c, rotate, |r| api.rotate_client_secret(r)).await,
        VerifyClientCredentials => {
            unary(c, |c| c.body(), |r| api.verify_client_credentials(r)).await
        }
        LookupClient => unary(c, lookup, |r| api.lookup_client(r)).await,
        MatchRedirectUri => unary(c, |c| c.body(), |r| api.match_redirect_uri(r)).await,
        VerifyClientAssertion => unary(c, |c| c.body(), |r| api.verify_client_assertion(r)).await,
        CreateRegistrationToken => {
            unary(c, |c| c.body(), |r| api.create_registration_token(r)).await
        }
        ListRegistrationTokens => {
            unary(c, |c| c.query(), |r| api.list_registration_tokens(r)).await
        }
        RevokeRegistrationToken => unary(c, by_id, |r| api.revoke_registration_token(r)).await,
        // A stream, not one message: `sse::watch` serves it.
        WatchApplications => Err(Error::Internal("WatchApplications is not unary".into()).into()),
    }
}

/// Builds the message, calls the handler with the call's extensions, and
/// writes the response.
async fn unary<Req, Resp, Fut>(
    call: &mut Call<'_>,
    build: impl FnOnce(&mut Call<'_>) -> Result<Req, Error>,
    rpc: impl FnOnce(Request<Req>) -> Fut,
) -> Result<Bytes, Status>
where
    Fut: Future<Output = Result<Response<Resp>, Status>>,
    Resp: Serialize,
{
    let message = build(call)?;
    let mut request = Request::new(message);
    *request.extensions_mut() = std::mem::take(&mut call.extensions);
    let response = rpc(request).await?;
    serde_json::to_vec(response.get_ref())
        .map(Bytes::from)
        .map_err(|e| Error::Internal(format!("writing the JSON response: {e}")).into())
}

/// A request whose only field is the path's `{id}`.
fn by_id<T: ById>(c: &mut Call<'_>) -> Result<T, Error> {
    Ok(T::with_id(c.param("id")))
}

trait ById {
    fn with_id(id: String) -> Self;
}

macro_rules! by_id {
    ($($t:ty),*) => {$(
        impl ById for $t {
            fn with_id(id: String) -> Self {
                Self { id }
            }
        }
    )*};
}
by_id!(
    pb::GetApplicationRequest,
    pb::DeleteApplicationRequest,
    pb::UndeleteApplicationRequest,
    pb::RevokeRegistrationTokenRequest
);

fn update(c: &mut Call<'_>) -> Result<pb::UpdateApplicationRequest, Error> {
    let mut request: pb::UpdateApplicationRequest = c.query()?;
    let mut application: pb::Application = c.body()?;
    c.param_into("id", &mut application.id)?;
    request.application = Some(application);
    Ok(request)
}

fn rotate(c: &mut Call<'_>) -> Result<pb::RotateClientSecretRequest, Error> {
    let mut request: pb::RotateClientSecretRequest = c.body()?;
    c.param_into("id", &mut request.id)?;
    Ok(request)
}

fn lookup(c: &mut Call<'_>) -> Result<pb::LookupClientRequest, Error> {
    Ok(pb::LookupClientRequest {
        client_id: c.param("client_id"),
    })
}
