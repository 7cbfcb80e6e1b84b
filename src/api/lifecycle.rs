//! Update, delete/undelete and secret rotation. Each runs in one transaction
//! that locks the application's row, so concurrent changes to one application
//! apply one after another, and writes its audit event in that transaction.

use std::{collections::BTreeSet, time::Duration};

use diesel_async::AsyncConnection as _;

use super::{
    Api, Deadline,
    applications::{check_owner_only_grant, parse_app_id},
    convert,
};
use crate::{
    auth::OrgPermit,
    domain::{Application, ClientSecret, FieldViolation, validation},
    error::ApiError,
    proto::v1 as pb,
    store::{self, applications::AppChanges, audit::Action},
};

/// Fields UpdateApplication may change.
pub const UPDATABLE: &[&str] = &[
    "name",
    "description",
    "redirect_uris",
    "scopes",
    "active",
    "first_party",
];
/// Fields of Application that exist but never change through an update.
const IMMUTABLE: &[&str] = &[
    "id",
    "organization_id",
    "type",
    "client_id",
    "client_secret_hint",
    "created_by",
    "create_time",
    "update_time",
    "delete_time",
    "etag",
];
/// Longest grace a rotated-out secret may keep verifying.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

impl Api {
    pub(super) async fn update(
        &self,
        permit: &OrgPermit,
        req: pb::UpdateApplicationRequest,
        deadline: Option<Deadline>,
    ) -> Result<pb::UpdateApplicationResponse, ApiError> {
        let Some(input) = req.application else {
            return Err(ApiError::invalid("application", "is required"));
        };
        let id = parse_app_id(&input.id, "application.id")?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();

        // What can be checked without the stored application.
        let mut violations = Vec::new();
        let mut fields = BTreeSet::new();
        if paths.is_empty() {
            violations.push(FieldViolation::new(
                "update_mask",
                format!("must name at least one of: {}", UPDATABLE.join(", ")),
            ));
        }
        for (i, path) in paths.iter().enumerate() {
            let field = format!("update_mask.paths[{i}]");
            if UPDATABLE.contains(&path.as_str()) {
                fields.insert(path.as_str());
            } else if IMMUTABLE.contains(&path.as_str()) {
                violations.push(FieldViolation::new(
                    field,
                    format!("{path} cannot be changed"),
                ));
            } else {
                violations.push(FieldViolation::new(
                    field,
                    format!(
                        "unknown field {path:?}; updatable: {}",
                        UPDATABLE.join(", ")
                    ),
                ));
            }
        }
        if fields.contains("name") {
            validation::validate_name(&input.name, "application.name", &mut violations);
        }
        if fields.contains("description") {
            validation::validate_description(
                &input.description,
                "application.description",
                &mut violations,
            );
        }
        if fields.contains("scopes") {
            validation::validate_scopes(
                &input.scopes,
                &self.state.scopes,
                "application.scopes",
                &mut violations,
            );
        }
        // Only the request's etag is checked: `application.etag` is output
        // only, so clients that send back a whole stale message are not refused.
        let expected_etag = req.etag;

        let updated = self
            .tx(deadline, async {
                let mut conn = self.conn().await?;
                conn.transaction::<_, ApiError, _>(async move |conn| {
                self.bound_by_deadline(conn, deadline).await?;
                let current = store::applications::lock(conn, permit, &id).await?;
                check_may_change(permit, &current)?;
                if fields.contains("redirect_uris") {
                    validation::validate_redirect_uris(
                        current.app_type,
                        &input.redirect_uris,
                        "application.redirect_uris",
                        &mut violations,
                    );
                }
                if !violations.is_empty() {
                    return Err(ApiError::Invalid(violations));
                }
                let changes = AppChanges {
                    name: fields.contains("name").then(|| input.name.clone()).filter(|v| *v != current.name),
                    description: fields
                        .contains("description")
                        .then(|| input.description.clone())
                        .filter(|v| *v != current.description),
                    redirect_uris: fields
                        .contains("redirect_uris")
                        .then(|| input.redirect_uris.clone())
                        .filter(|v| *v != current.redirect_uris),
                    scopes: fields
                        .contains("scopes")
                        .then(|| input.scopes.clone())
                        .filter(|v| *v != current.scopes),
                    active: fields.contains("active").then_some(input.active).filter(|v| *v != current.active),
                    first_party: fields
                        .contains("first_party")
                        .then_some(input.first_party)
                        .filter(|v| *v != current.first_party),
                    delete_time: None,
                };
                // Owner-only: changing first_party, or granting an admin scope the app lacks.
                let granted: Vec<String> = changes
                    .scopes
                    .iter()
                    .flatten()
                    .filter(|s| !current.scopes.contains(s))
                    .cloned()
                    .collect();
                check_owner_only_grant(permit, changes.first_party.is_some(), &granted)?;
                if current.delete_time.is_some() {
                    return Err(ApiError::FailedPrecondition(
                        "the application is deleted; undelete it first".into(),
                    ));
                }
                if !expected_etag.is_empty() && expected_etag != current.etag() {
                    return Err(ApiError::Aborted(
                        "the application changed since it was read (etag mismatch); read it again and retry".into(),
                    ));
                }
                let changed = changed_fields(&changes);
                if changed.is_empty() {
                    return Ok(current);
                }
                let updated = store::applications::update(conn, &current, &changes).await?;
                store::audit::record(conn, permit, updated.id.as_str(), Action::Update, &changed, "").await?;
                Ok(updated)
            })
            .await
            })
            .await?;
        Ok(pb::UpdateApplicationResponse {
            application: Some(convert::application(updated)),
        })
    }

    /// DeleteApplication (`deleted`) and UndeleteApplication (`!deleted`),
    /// both idempotent.
    pub(super) async fn set_deleted(
        &self,
        permit: &OrgPermit,
        id: &str,
        deleted: bool,
        deadline: Option<Deadline>,
    ) -> Result<pb::Application, ApiError> {
        let id = parse_app_id(id, "id")?;
        let app = self
            .tx(deadline, async {
                let mut conn = self.conn().await?;
                conn.transaction::<_, ApiError, _>(async |conn| {
                self.bound_by_deadline(conn, deadline).await?;
                let current = store::applications::lock(conn, permit, &id).await?;
                check_may_change(permit, &current)?;
                if current.delete_time.is_some() == deleted {
                    return Ok(current);
                }
                let changes = AppChanges {
                    delete_time: Some(deleted.then(chrono::Utc::now)),
                    ..AppChanges::default()
                };
                let app = store::applications::update(conn, &current, &changes).await?;
                let action = if deleted { Action::Delete } else { Action::Undelete };
                store::audit::record(conn, permit, app.id.as_str(), action, &["delete_time".to_owned()], "").await?;
                Ok(app)
            })
            .await
            })
            .await
            .map_err(|e| match e {
                ApiError::AlreadyExists(_) => ApiError::AlreadyExists(
                    "another live application of the organization has taken this name; rename that one first".into(),
                ),
                other => other,
            })?;
        Ok(convert::application(app))
    }

    pub(super) async fn rotate(
        &self,
        permit: &OrgPermit,
        req: pb::RotateClientSecretRequest,
        deadline: Option<Deadline>,
    ) -> Result<pb::RotateClientSecretResponse, ApiError> {
        let id = parse_app_id(&req.id, "id")?;
        let grace = parse_grace(req.previous_secret_grace)?;
        // Checked before hashing, so a public or deleted app costs no argon2.
        let app = self
            .db(async {
                let mut conn = self.conn().await?;
                Ok(store::applications::get(&mut conn, permit, &id).await?)
            })
            .await?;
        check_may_change(permit, &app)?;
        check_rotatable(&app)?;
        let secret = ClientSecret::generate();
        let hash = self.state.hasher.hash(secret.clone()).await?;
        let hint = secret.hint();

        let (app, expire) = self
            .tx(deadline, async {
                let mut conn = self.conn().await?;
                conn.transaction::<_, ApiError, _>(async |conn| {
                    self.bound_by_deadline(conn, deadline).await?;
                    let current = store::applications::lock(conn, permit, &id).await?;
                    check_may_change(permit, &current)?;
                    check_rotatable(&current)?;
                    let grace = grace
                        .map(|g| chrono::Duration::from_std(g).unwrap_or(chrono::Duration::zero()));
                    let expire =
                        store::applications::rotate_secret(conn, &current, &hash, &hint, grace)
                            .await?;
                    let mut app =
                        store::applications::update(conn, &current, &AppChanges::default()).await?;
                    app.secret_hint = Some(hint.clone());
                    let details = match expire {
                        Some(t) => format!("previous secret verifies until {}", t.to_rfc3339()),
                        None => "previous secret revoked at once".to_owned(),
                    };
                    store::audit::record(
                        conn,
                        permit,
                        app.id.as_str(),
                        Action::RotateSecret,
                        &["client_secret".to_owned()],
                        &details,
                    )
                    .await?;
                    Ok((app, expire))
                })
                .await
            })
            .await?;
        tracing::info!(app_id = %app.id, org = permit.org(), by = permit.subject(), "client secret rotated");
        Ok(pb::RotateClientSecretResponse {
            application: Some(convert::application(app)),
            client_secret: secret.into_exposed(),
            previous_secret_expire_time: expire.map(convert::timestamp),
        })
    }
}

/// A privileged app (first_party, or holding an owner-only scope) carries an
/// OWNER's grant: an ADMIN may not change, rotate, delete or undelete it, so
/// an ADMIN can never obtain a credential or redirect that carries that grant.
fn check_may_change(permit: &OrgPermit, app: &Application) -> Result<(), ApiError> {
    if app.is_privileged() && !permit.is_owner() {
        return Err(ApiError::PermissionDenied(
            "only an OWNER may change a privileged application (first_party, or holding admin:organization or admin:all)".into(),
        ));
    }
    Ok(())
}

fn check_rotatable(app: &Application) -> Result<(), ApiError> {
    if app.delete_time.is_some() {
        return Err(ApiError::FailedPrecondition(
            "the application is deleted; undelete it first".into(),
        ));
    }
    if !app.app_type.is_confidential() {
        return Err(ApiError::FailedPrecondition(
            "public applications (NATIVE, USER_AGENT_BASED) have no client secret".into(),
        ));
    }
    Ok(())
}

/// The grace of the outgoing secret: `None` for none (the default).
fn parse_grace(grace: Option<prost_types::Duration>) -> Result<Option<Duration>, ApiError> {
    const FIELD: &str = "previous_secret_grace";
    let Some(grace) = grace else {
        return Ok(None);
    };
    if grace.seconds < 0 || grace.nanos < 0 || grace.nanos >= 1_000_000_000 {
        return Err(ApiError::invalid(FIELD, "must be a non-negative duration"));
    }
    let grace = Duration::new(grace.seconds as u64, grace.nanos as u32);
    if grace > MAX_GRACE {
        return Err(ApiError::invalid(FIELD, "must be at most 7 days (604800s)"));
    }
    Ok((!grace.is_zero()).then_some(grace))
}

fn changed_fields(changes: &AppChanges) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |set: bool, name: &str| {
        if set {
            out.push(name.to_owned());
        }
    };
    note(changes.name.is_some(), "name");
    note(changes.description.is_some(), "description");
    note(changes.redirect_uris.is_some(), "redirect_uris");
    note(changes.scopes.is_some(), "scopes");
    note(changes.active.is_some(), "active");
    note(changes.first_party.is_some(), "first_party");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_bounds() {
        let d = |seconds, nanos| Some(prost_types::Duration { seconds, nanos });
        assert_eq!(parse_grace(None).unwrap(), None);
        assert_eq!(parse_grace(d(0, 0)).unwrap(), None);
        assert_eq!(
            parse_grace(d(60, 0)).unwrap(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_grace(d(604_800, 0)).unwrap(), Some(MAX_GRACE));
        assert!(parse_grace(d(604_800, 1)).is_err());
        assert!(parse_grace(d(-1, 0)).is_err());
        assert!(parse_grace(d(0, -5)).is_err());
    }
}
