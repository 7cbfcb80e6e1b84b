//! Create, get and list.

use chrono::{DateTime, Utc};

use super::{Api, Deadline, convert};
use crate::{
    auth::OrgPermit,
    domain::{
        AppId, ClientId, ClientSecret, FieldViolation, NewApplication,
        page_token::{PagePosition, PageTokenError},
        validation::{self, is_owner_only_scope},
    },
    error::ApiError,
    proto::v1 as pb,
    store::{
        self,
        applications::{Cursor, InitialSecret},
        audit::Action,
    },
};
use diesel_async::AsyncConnection as _;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 1000;

/// The owner-only rules of the contract: only an OWNER may set first_party or
/// grant admin scopes. `granted` are the scopes being newly given.
pub(super) fn check_owner_only_grant(
    permit: &OrgPermit,
    sets_first_party: bool,
    granted: &[String],
) -> Result<(), ApiError> {
    if permit.is_owner() {
        return Ok(());
    }
    if sets_first_party {
        return Err(ApiError::PermissionDenied(
            "only an OWNER may set first_party".into(),
        ));
    }
    if let Some(scope) = granted.iter().find(|s| is_owner_only_scope(s)) {
        return Err(ApiError::PermissionDenied(format!(
            "only an OWNER may grant the scope {scope}"
        )));
    }
    Ok(())
}

/// An empty id is a bad request; any other unknown id is simply not found.
pub(super) fn parse_app_id(id: &str, field: &str) -> Result<AppId, ApiError> {
    if id.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    let id = AppId::parse(id).ok_or(ApiError::NotFound)?;
    crate::telemetry::rpc::record_app(id.as_str());
    Ok(id)
}

impl Api {
    pub(super) async fn create(
        &self,
        permit: &OrgPermit,
        req: pb::CreateApplicationRequest,
        deadline: Option<Deadline>,
    ) -> Result<pb::CreateApplicationResponse, ApiError> {
        check_owner_only_grant(permit, req.first_party, &req.scopes)?;

        let mut violations: Vec<FieldViolation> = Vec::new();
        let app_type = convert::app_type_from_proto(req.r#type);
        if app_type.is_none() {
            violations.push(FieldViolation::new(
                "type",
                format!("unknown application type {}", req.r#type),
            ));
        }
        validation::validate_name(&req.name, "name", &mut violations);
        validation::validate_description(&req.description, "description", &mut violations);
        if let Some(t) = app_type {
            validation::validate_redirect_uris(
                t,
                &req.redirect_uris,
                "redirect_uris",
                &mut violations,
            );
        }
        validation::validate_scopes(&req.scopes, &self.state.scopes, "scopes", &mut violations);
        let (Some(app_type), true) = (app_type, violations.is_empty()) else {
            return Err(ApiError::Invalid(violations));
        };

        let new = NewApplication {
            name: req.name,
            description: req.description,
            app_type,
            redirect_uris: req.redirect_uris,
            scopes: req.scopes,
            active: req.active.unwrap_or(true),
            first_party: req.first_party,
        };
        let id = AppId::generate();
        crate::telemetry::rpc::record_app(id.as_str());
        let client_id = ClientId::generate();
        let secret = if app_type.is_confidential() {
            let secret = ClientSecret::generate();
            let hash = self.state.hasher.hash(secret.clone()).await?;
            Some((secret, hash))
        } else {
            None
        };
        let hint = secret.as_ref().map(|(s, _)| s.hint());
        let initial = secret
            .as_ref()
            .zip(hint.as_deref())
            .map(|((_, hash), hint)| InitialSecret { hash, hint });

        let app = self
            .tx(deadline, async {
                let mut conn = self.conn().await?;
                conn.transaction::<_, ApiError, _>(async |conn| {
                    self.bound_by_deadline(conn, deadline).await?;
                    let app =
                        store::applications::insert(conn, permit, &new, &id, &client_id, initial)
                            .await?;
                    let fields: Vec<String> = [
                        "name",
                        "description",
                        "type",
                        "redirect_uris",
                        "scopes",
                        "active",
                        "first_party",
                    ]
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                    store::audit::record(
                        conn,
                        permit,
                        app.id.as_str(),
                        Action::Create,
                        &fields,
                        "",
                    )
                    .await?;
                    Ok(app)
                })
                .await
            })
            .await?;
        tracing::info!(app_id = %app.id, org = permit.org(), by = permit.subject(), "application created");
        Ok(pb::CreateApplicationResponse {
            application: Some(convert::application(app)),
            client_secret: secret.map(|(s, _)| s.into_exposed()).unwrap_or_default(),
        })
    }

    pub(super) async fn get(
        &self,
        permit: &OrgPermit,
        req: pb::GetApplicationRequest,
    ) -> Result<pb::GetApplicationResponse, ApiError> {
        let id = parse_app_id(&req.id, "id")?;
        let app = self
            .db(async {
                let mut conn = self.conn().await?;
                Ok(store::applications::get(&mut conn, permit, &id).await?)
            })
            .await?;
        Ok(pb::GetApplicationResponse {
            application: Some(convert::application(app)),
        })
    }

    pub(super) async fn list(
        &self,
        permit: &OrgPermit,
        req: pb::ListApplicationsRequest,
    ) -> Result<pb::ListApplicationsResponse, ApiError> {
        let page_size = match i64::from(req.page_size) {
            n if n < 0 => return Err(ApiError::invalid("page_size", "must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let now = Utc::now();
        let after = if req.page_token.is_empty() {
            None
        } else {
            let position = self
                .state
                .page_tokens
                .decode(&req.page_token, permit.org(), req.show_deleted, now)
                .map_err(|e: PageTokenError| ApiError::invalid("page_token", e.to_string()))?;
            let create_time =
                DateTime::<Utc>::from_timestamp_micros(position.after_create_time_micros)
                    .ok_or_else(|| {
                        ApiError::invalid("page_token", PageTokenError::Invalid.to_string())
                    })?;
            Some(Cursor {
                create_time,
                id: position.after_id,
            })
        };
        let mut apps = self
            .db(async {
                let mut conn = self.conn().await?;
                Ok(store::applications::list(
                    &mut conn,
                    permit,
                    req.show_deleted,
                    after.as_ref(),
                    page_size + 1,
                )
                .await?)
            })
            .await?;
        // One row more than the page was fetched: if it came, there is a
        // next page, which starts after the page's last row.
        let more = apps.len() as i64 > page_size;
        apps.truncate(page_size as usize);
        let next_page_token = match apps.last() {
            Some(last) if more => self.state.page_tokens.encode(&PagePosition {
                org: permit.org().to_owned(),
                show_deleted: req.show_deleted,
                after_create_time_micros: last.create_time.timestamp_micros(),
                after_id: last.id.as_str().to_owned(),
                issued_at: now.timestamp(),
            }),
            _ => String::new(),
        };
        Ok(pb::ListApplicationsResponse {
            applications: apps.into_iter().map(convert::application).collect(),
            next_page_token,
        })
    }
}
