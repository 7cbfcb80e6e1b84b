//! gRPC handlers: translation only. Each takes the permit the auth layer
//! attached and the call's deadline, turns the request into the domain's
//! input (`convert`), calls one operation (`ops`) and turns its result into
//! the response. Errors become statuses in `error.rs`.

pub mod convert;
pub mod proto;

use std::pin::Pin;

use futures_util::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};

use crate::{
    auth::{ReadPermit, ServicePermit, WatchPermit, WritePermit},
    error::Error,
    ops::{EventKind, Ops, WatchEvent},
    store::{Deadline, changes::ChangeKind},
};
use proto::{OAuthApplications, v1 as pb};

/// The OAuthApplications service.
#[derive(Clone, Debug)]
pub struct Api {
    ops: Ops,
}

impl Api {
    pub fn new(ops: Ops) -> Self {
        Self { ops }
    }
}

/// A call's permit (which the auth layer must have attached: INTERNAL
/// otherwise, never a default), its deadline, and its message.
fn call<P: Clone + Send + Sync + 'static, T>(
    req: Request<T>,
) -> Result<(P, Option<Deadline>, T), Error> {
    let (_, mut extensions, message) = req.into_parts();
    let permit = extensions.remove::<P>().ok_or(Error::MissingPermit)?;
    Ok((permit, extensions.remove::<Deadline>(), message))
}

type RpcResult<T> = Result<Response<T>, Status>;

type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchApplicationsResponse, Status>> + Send>>;

fn watch_event(event: WatchEvent) -> pb::WatchApplicationsResponse {
    use pb::ChangeType as T;
    let kind = match event.kind {
        EventKind::Change(ChangeKind::Created) => T::Created,
        EventKind::Change(ChangeKind::Updated) => T::Updated,
        EventKind::Change(ChangeKind::Deleted) => T::Deleted,
        EventKind::Change(ChangeKind::Undeleted) => T::Undeleted,
        EventKind::Change(ChangeKind::SecretRotated) => T::SecretRotated,
        EventKind::Snapshot => T::Snapshot,
        EventKind::SnapshotEnd => T::SnapshotEnd,
        EventKind::Heartbeat => T::Heartbeat,
    };
    pb::WatchApplicationsResponse {
        r#type: kind.into(),
        application: event.application.map(convert::application),
        resume_token: event.resume_token,
        commit_time: Some(convert::timestamp(event.time)),
    }
}

#[tonic::async_trait]
impl OAuthApplications for Api {
    type WatchApplicationsStream = WatchStream;

    async fn watch_applications(
        &self,
        req: Request<pb::WatchApplicationsRequest>,
    ) -> RpcResult<WatchStream> {
        let (permit, _, msg) = call::<WatchPermit, _>(req)?;
        let events = crate::ops::watch::watch(
            &self.ops.watching,
            permit,
            &msg.resume_token,
            msg.initial_snapshot,
        )
        .await?;
        let stream = events.map(|e| e.map(watch_event).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }
    async fn create_application(
        &self,
        req: Request<pb::CreateApplicationRequest>,
    ) -> RpcResult<pb::CreateApplicationResponse> {
        let (permit, deadline, msg) = call::<WritePermit, _>(req)?;
        let created = self
            .ops
            .create_application(&permit, msg.into(), deadline)
            .await?;
        Ok(Response::new(created.into()))
    }

    async fn get_application(
        &self,
        req: Request<pb::GetApplicationRequest>,
    ) -> RpcResult<pb::GetApplicationResponse> {
        let (permit, _, msg) = call::<ReadPermit, _>(req)?;
        let id = convert::app_id(&msg.id, "id")?;
        let app = self.ops.get_application(&permit, id).await?;
        Ok(Response::new(pb::GetApplicationResponse {
            application: Some(convert::application(app)),
        }))
    }

    async fn list_applications(
        &self,
        req: Request<pb::ListApplicationsRequest>,
    ) -> RpcResult<pb::ListApplicationsResponse> {
        let (permit, _, msg) = call::<ReadPermit, _>(req)?;
        let page = self
            .ops
            .list_applications(&permit, msg.into(), convert::encoded_len)
            .await?;
        Ok(Response::new(page.into()))
    }

    async fn update_application(
        &self,
        req: Request<pb::UpdateApplicationRequest>,
    ) -> RpcResult<pb::UpdateApplicationResponse> {
        let (permit, deadline, msg) = call::<WritePermit, _>(req)?;
        let input = msg.try_into()?;
        let app = self
            .ops
            .update_application(&permit, input, deadline)
            .await?;
        Ok(Response::new(pb::UpdateApplicationResponse {
            application: Some(convert::application(app)),
        }))
    }

    async fn delete_application(
        &self,
        req: Request<pb::DeleteApplicationRequest>,
    ) -> RpcResult<pb::DeleteApplicationResponse> {
        let (permit, deadline, msg) = call::<WritePermit, _>(req)?;
        let id = convert::app_id(&msg.id, "id")?;
        let app = self.ops.set_deleted(&permit, id, true, deadline).await?;
        Ok(Response::new(pb::DeleteApplicationResponse {
            application: Some(convert::application(app)),
        }))
    }

    async fn undelete_application(
        &self,
        req: Request<pb::UndeleteApplicationRequest>,
    ) -> RpcResult<pb::UndeleteApplicationResponse> {
        let (permit, deadline, msg) = call::<WritePermit, _>(req)?;
        let id = convert::app_id(&msg.id, "id")?;
        let app = self.ops.set_deleted(&permit, id, false, deadline).await?;
        Ok(Response::new(pb::UndeleteApplicationResponse {
            application: Some(convert::application(app)),
        }))
    }

    async fn rotate_client_secret(
        &self,
        req: Request<pb::RotateClientSecretRequest>,
    ) -> RpcResult<pb::RotateClientSecretResponse> {
        let (permit, deadline, msg) = call::<WritePermit, _>(req)?;
        let id = convert::app_id(&msg.id, "id")?;
        let grace = convert::grace(msg.previous_secret_grace)?;
        let rotated = self
            .ops
            .rotate_client_secret(&permit, id, grace, deadline)
            .await?;
        Ok(Response::new(rotated.into()))
    }

    async fn verify_client_credentials(
        &self,
        req: Request<pb::VerifyClientCredentialsRequest>,
    ) -> RpcResult<pb::VerifyClientCredentialsResponse> {
        let (permit, _, msg) = call::<ServicePermit, _>(req)?;
        let (client_id, secret) = convert::credentials(msg)?;
        let valid = self
            .ops
            .verify_client_credentials(&permit, &client_id, secret)
            .await?;
        Ok(Response::new(valid.into()))
    }

    async fn lookup_client(
        &self,
        req: Request<pb::LookupClientRequest>,
    ) -> RpcResult<pb::LookupClientResponse> {
        let (permit, _, msg) = call::<ServicePermit, _>(req)?;
        let client_id = convert::client_id(msg.client_id)?;
        let app = self.ops.lookup_client(&permit, &client_id).await?;
        Ok(Response::new(pb::LookupClientResponse {
            application: Some(convert::application(app)),
        }))
    }

    async fn match_redirect_uri(
        &self,
        req: Request<pb::MatchRedirectUriRequest>,
    ) -> RpcResult<pb::MatchRedirectUriResponse> {
        let (permit, _, msg) = call::<ServicePermit, _>(req)?;
        let client_id = convert::client_id(msg.client_id)?;
        let answer = self
            .ops
            .match_redirect_uri(&permit, &client_id, &msg.redirect_uri)
            .await?;
        Ok(Response::new(answer.into()))
    }

    async fn verify_client_assertion(
        &self,
        req: Request<pb::VerifyClientAssertionRequest>,
    ) -> RpcResult<pb::VerifyClientAssertionResponse> {
        let (permit, _, msg) = call::<ServicePermit, _>(req)?;
        let valid = self
            .ops
            .verify_client_assertion(
                &permit,
                &msg.client_assertion_type,
                &msg.client_assertion,
                &msg.client_id,
            )
            .await?;
        Ok(Response::new(valid.into()))
    }

    async fn create_registration_token(
        &self,
        req: Request<pb::CreateRegistrationTokenRequest>,
    ) -> RpcResult<pb::CreateRegistrationTokenResponse> {
        let (permit, deadline, msg) = call::<WritePermit, _>(req)?;
        let input = convert::token_input(msg)?;
        let created = self
            .ops
            .create_registration_token(&permit, input, deadline)
            .await?;
        Ok(Response::new(pb::CreateRegistrationTokenResponse {
            registration_token: created.secret.expose().to_owned(),
            token: Some(convert::registration_token(created.token)),
        }))
    }

    async fn list_registration_tokens(
        &self,
        req: Request<pb::ListRegistrationTokensRequest>,
    ) -> RpcResult<pb::ListRegistrationTokensResponse> {
        let (permit, _, msg) = call::<WritePermit, _>(req)?;
        let (tokens, next_page_token) = self
            .ops
            .list_registration_tokens(&permit, msg.page_size, &msg.page_token)
            .await?;
        Ok(Response::new(pb::ListRegistrationTokensResponse {
            tokens: tokens
                .into_iter()
                .map(convert::registration_token)
                .collect(),
            next_page_token,
        }))
    }

    async fn revoke_registration_token(
        &self,
        req: Request<pb::RevokeRegistrationTokenRequest>,
    ) -> RpcResult<pb::RevokeRegistrationTokenResponse> {
        let (permit, deadline, msg) = call::<WritePermit, _>(req)?;
        let token = self
            .ops
            .revoke_registration_token(&permit, &msg.id, deadline)
            .await?;
        Ok(Response::new(pb::RevokeRegistrationTokenResponse {
            token: Some(convert::registration_token(token)),
        }))
    }
}

impl Api {
    /// The operations, for the HTTP door's RFC 7591/7592 routes, which
    /// have no RPC.
    pub fn ops(&self) -> &Ops {
        &self.ops
    }
}
