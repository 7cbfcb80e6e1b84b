//! gRPC handlers: each takes the permit the auth layer attached, validates
//! the request, calls the store and wraps the answer.

mod applications;
pub mod convert;

use tonic::{Request, Response, Status};

use crate::{
    auth::{OrgPermit, ServicePermit},
    error::ApiError,
    proto::{OAuthApplications, v1 as pb},
    state::AppState,
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
}

fn org_permit<T>(req: &Request<T>) -> Result<OrgPermit, ApiError> {
    req.extensions()
        .get::<OrgPermit>()
        .cloned()
        .ok_or(ApiError::MissingPermit)
}

#[allow(dead_code)]
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
        Ok(Response::new(self.create(&permit, req.into_inner()).await?))
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
        let _permit = org_permit(&req)?;
        Err(Status::unimplemented(
            "UpdateApplication is not implemented yet",
        ))
    }

    async fn delete_application(
        &self,
        req: Request<pb::DeleteApplicationRequest>,
    ) -> RpcResult<pb::DeleteApplicationResponse> {
        let _permit = org_permit(&req)?;
        Err(Status::unimplemented(
            "DeleteApplication is not implemented yet",
        ))
    }

    async fn undelete_application(
        &self,
        req: Request<pb::UndeleteApplicationRequest>,
    ) -> RpcResult<pb::UndeleteApplicationResponse> {
        let _permit = org_permit(&req)?;
        Err(Status::unimplemented(
            "UndeleteApplication is not implemented yet",
        ))
    }

    async fn rotate_client_secret(
        &self,
        req: Request<pb::RotateClientSecretRequest>,
    ) -> RpcResult<pb::RotateClientSecretResponse> {
        let _permit = org_permit(&req)?;
        Err(Status::unimplemented(
            "RotateClientSecret is not implemented yet",
        ))
    }

    async fn verify_client_credentials(
        &self,
        req: Request<pb::VerifyClientCredentialsRequest>,
    ) -> RpcResult<pb::VerifyClientCredentialsResponse> {
        let _permit = service_permit(&req)?;
        Err(Status::unimplemented(
            "VerifyClientCredentials is not implemented yet",
        ))
    }

    async fn lookup_client(
        &self,
        req: Request<pb::LookupClientRequest>,
    ) -> RpcResult<pb::LookupClientResponse> {
        let _permit = service_permit(&req)?;
        Err(Status::unimplemented("LookupClient is not implemented yet"))
    }
}
