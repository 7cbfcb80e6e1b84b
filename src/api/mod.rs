//! gRPC handlers: each takes the permit the auth layer attached, validates
//! the request, calls the store and wraps the answer.

mod applications;
pub mod convert;
mod lifecycle;
mod verify;

use std::time::Instant;

use tonic::{Request, Response, Status};

use crate::{
    auth::{OrgPermit, ServicePermit},
    error::ApiError,
    proto::{OAuthApplications, v1 as pb},
    state::AppState,
    store::PooledConn,
};

/// The OAuthApplications service.
#[derive(Clone, Debug)]
pub struct Api {
    state: AppState,
}

impl Api {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    async fn conn(&self) -> Result<PooledConn<'_>, ApiError> {
        Ok(crate::store::db::checkout(&self.state.pool).await?)
    }

    /// Runs a call's database work under the database timeout: a database
    /// that does not answer makes the call UNAVAILABLE, never a hang.
    async fn db<T>(&self, work: impl Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
        tokio::time::timeout(self.state.db_timeout, work)
            .await
            .unwrap_or(Err(ApiError::Unavailable))
    }

    /// Runs a transaction. There is no overall timeout here, on purpose:
    /// cutting a transaction off could abandon it after COMMIT was sent, and
    /// tell the client UNAVAILABLE about a change that did happen (losing a
    /// new secret with it). Its statements are bounded by `statement_timeout`
    /// (the database timeout, or the client's deadline), the connection
    /// checkout by the pool's timeout.
    ///
    /// A statement that timed out because the call's deadline ran out is
    /// reported as DEADLINE_EXCEEDED; any other timeout or a lost connection
    /// stays UNAVAILABLE.
    async fn tx<T>(
        &self,
        deadline: Option<Deadline>,
        work: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        match work.await {
            Err(ApiError::DatabaseTimeout)
                if deadline.is_some_and(|Deadline(at)| at <= Instant::now() + DEADLINE_SLACK) =>
            {
                Err(ApiError::DeadlineExceeded)
            }
            other => other,
        }
    }

    /// At the start of a transaction: when the client's deadline is nearer
    /// than the database timeout, the transaction's statements are bounded
    /// by it, so an abandoned call stops costing the database too.
    async fn bound_by_deadline(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        deadline: Option<Deadline>,
    ) -> Result<(), ApiError> {
        let Some(Deadline(at)) = deadline else {
            return Ok(());
        };
        let remaining = at.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ApiError::DeadlineExceeded);
        }
        if remaining < self.state.db_timeout {
            crate::store::db::bound_transaction(conn, remaining).await?;
        }
        Ok(())
    }
}

/// A statement bounded by a deadline is cancelled a hair before it: errors
/// this close to the deadline are the deadline's.
const DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_millis(20);

/// When the client stops waiting (its `grpc-timeout`), set at the edge.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(pub Instant);

fn deadline<T>(req: &Request<T>) -> Option<Deadline> {
    req.extensions().get::<Deadline>().copied()
}

fn org_permit<T>(req: &Request<T>) -> Result<OrgPermit, ApiError> {
    req.extensions()
        .get::<OrgPermit>()
        .cloned()
        .ok_or(ApiError::MissingPermit)
}

fn service_permit<T>(req: &Request<T>) -> Result<ServicePermit, ApiError> {
    req.extensions()
        .get::<ServicePermit>()
        .cloned()
        .ok_or(ApiError::MissingPermit)
}

type RpcResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl OAuthApplications for Api {
    async fn create_application(
        &self,
        req: Request<pb::CreateApplicationRequest>,
    ) -> RpcResult<pb::CreateApplicationResponse> {
        let permit = org_permit(&req)?;
        let deadline = deadline(&req);
        Ok(Response::new(
            self.create(&permit, req.into_inner(), deadline).await?,
        ))
    }

    async fn get_application(
        &self,
        req: Request<pb::GetApplicationRequest>,
    ) -> RpcResult<pb::GetApplicationResponse> {
        let permit = org_permit(&req)?;
        Ok(Response::new(self.get(&permit, req.into_inner()).await?))
    }

    async fn list_applications(
        &self,
        req: Request<pb::ListApplicationsRequest>,
    ) -> RpcResult<pb::ListApplicationsResponse> {
        let permit = org_permit(&req)?;
        Ok(Response::new(self.list(&permit, req.into_inner()).await?))
    }

    async fn update_application(
        &self,
        req: Request<pb::UpdateApplicationRequest>,
    ) -> RpcResult<pb::UpdateApplicationResponse> {
        let permit = org_permit(&req)?;
        let deadline = deadline(&req);
        Ok(Response::new(
            self.update(&permit, req.into_inner(), deadline).await?,
        ))
    }

    async fn delete_application(
        &self,
        req: Request<pb::DeleteApplicationRequest>,
    ) -> RpcResult<pb::DeleteApplicationResponse> {
        let permit = org_permit(&req)?;
        let deadline = deadline(&req);
        let application = self
            .set_deleted(&permit, &req.into_inner().id, true, deadline)
            .await?;
        Ok(Response::new(pb::DeleteApplicationResponse {
            application: Some(application),
        }))
    }

    async fn undelete_application(
        &self,
        req: Request<pb::UndeleteApplicationRequest>,
    ) -> RpcResult<pb::UndeleteApplicationResponse> {
        let permit = org_permit(&req)?;
        let deadline = deadline(&req);
        let application = self
            .set_deleted(&permit, &req.into_inner().id, false, deadline)
            .await?;
        Ok(Response::new(pb::UndeleteApplicationResponse {
            application: Some(application),
        }))
    }

    async fn rotate_client_secret(
        &self,
        req: Request<pb::RotateClientSecretRequest>,
    ) -> RpcResult<pb::RotateClientSecretResponse> {
        let permit = org_permit(&req)?;
        let deadline = deadline(&req);
        Ok(Response::new(
            self.rotate(&permit, req.into_inner(), deadline).await?,
        ))
    }

    async fn verify_client_credentials(
        &self,
        req: Request<pb::VerifyClientCredentialsRequest>,
    ) -> RpcResult<pb::VerifyClientCredentialsResponse> {
        let _permit = service_permit(&req)?;
        Ok(Response::new(self.verify(req.into_inner()).await?))
    }

    async fn lookup_client(
        &self,
        req: Request<pb::LookupClientRequest>,
    ) -> RpcResult<pb::LookupClientResponse> {
        let _permit = service_permit(&req)?;
        Ok(Response::new(self.lookup(req.into_inner()).await?))
    }
}
