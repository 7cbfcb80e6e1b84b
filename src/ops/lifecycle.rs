//! UpdateApplication, DeleteApplication, UndeleteApplication,
//! RotateClientSecret. Each runs in one transaction that locks the
//! application's row, so concurrent changes to one application apply one
//! after another, and writes its audit event in that transaction.

use chrono::{DateTime, Utc};

use super::Ops;
use crate::{
    auth::WritePermit,
    domain::{
        AppId, Application, ClientSecret, lifecycle,
        update::{self, UpdateInput},
    },
    error::Error,
    store::{self, Deadline, audit::Action},
    telemetry::rpc::record_app,
};

/// A rotated secret: the new one, shown this once.
#[derive(Debug)]
pub struct Rotated {
    pub app: Application,
    pub secret: ClientSecret,
    /// Until when the previous secret verifies; `None` when it was revoked.
    pub previous_expire_time: Option<DateTime<Utc>>,
}

impl Ops {
    pub async fn update_application(
        &self,
        permit: &WritePermit,
        input: UpdateInput,
        deadline: Option<Deadline>,
    ) -> Result<Application, Error> {
        record_app(input.id.as_str());
        let updated = self
            .db
            .transaction(deadline, async |conn| {
                let current = store::applications::lock(conn, permit, &input.id).await?;
                let plan = permit.authorize(update::plan_update(current, &input, &self.policy)?)?;
                let updated = store::applications::update(conn, &plan).await?;
                let changed = plan.get().changes.fields();
                if !changed.is_empty() {
                    store::audit::record(
                        conn,
                        &plan,
                        updated.id.as_str(),
                        Action::Update,
                        &changed,
                        "",
                    )
                    .await?;
                }
                Ok::<_, Error>(updated)
            })
            .await?;
        self.apps.forget(updated.id.as_str(), &updated.client_id);
        Ok(updated)
    }

    /// DeleteApplication (`deleted`) and UndeleteApplication (`!deleted`),
    /// both idempotent.
    pub async fn set_deleted(
        &self,
        permit: &WritePermit,
        id: AppId,
        deleted: bool,
        deadline: Option<Deadline>,
    ) -> Result<Application, Error> {
        record_app(id.as_str());
        let result = self
            .db
            .transaction(deadline, async |conn| {
                let current = store::applications::lock(conn, permit, &id).await?;
                let plan =
                    permit.authorize(lifecycle::plan_set_deleted(current, deleted, Utc::now()))?;
                let app = store::applications::update(conn, &plan).await?;
                let changed = plan.get().changes.fields();
                if !changed.is_empty() {
                    let action = if deleted {
                        Action::Delete
                    } else {
                        Action::Undelete
                    };
                    store::audit::record(conn, &plan, app.id.as_str(), action, &changed, "")
                        .await?;
                }
                Ok(app)
            })
            .await;
        match result {
            // Only an undelete can collide: a live app took the name meanwhile.
            Err(Error::NameTaken) => Err(Error::NameTakenWhileDeleted),
            Ok(app) => {
                self.apps.forget(app.id.as_str(), &app.client_id);
                Ok(app)
            }
            other => other,
        }
    }

    pub async fn rotate_client_secret(
        &self,
        permit: &WritePermit,
        id: AppId,
        grace: Option<std::time::Duration>,
        deadline: Option<Deadline>,
    ) -> Result<Rotated, Error> {
        record_app(id.as_str());
        // Checked before hashing, so a refused rotation costs no argon2.
        let app = self
            .db
            .run(async |conn| store::applications::get(conn, permit.read(), &id).await)
            .await?;
        permit.check(&lifecycle::plan_rotation(app, grace)?)?;
        let secret = ClientSecret::generate(&self.checksum_key);
        let hash = self.minting.hash(secret.clone()).await?;
        let hint = secret.hint();
        let (app, previous_expire_time) = self
            .db
            .transaction(deadline, async |conn| {
                let current = store::applications::lock(conn, permit, &id).await?;
                let plan = permit.authorize(lifecycle::plan_rotation(current, grace)?)?;
                let rotated = store::applications::rotate_secret(conn, &plan, &hash, &hint).await?;
                let details = lifecycle::rotation_audit_details(rotated.1);
                store::audit::record(
                    conn,
                    &plan,
                    rotated.0.id.as_str(),
                    Action::RotateSecret,
                    &["client_secret"],
                    &details,
                )
                .await?;
                Ok::<_, Error>(rotated)
            })
            .await?;
        self.apps.forget(app.id.as_str(), &app.client_id);
        tracing::info!(app_id = %app.id, "client secret rotated");
        Ok(Rotated {
            app,
            secret,
            previous_expire_time,
        })
    }
}
