//! The audit trail. Callers record an event inside the transaction of the
//! change it describes, so there is never a change without its event or an
//! event without its change. Events name fields, never their secret values.

use chrono::{DateTime, Utc};
use diesel::{
    ExpressionMethods as _, Insertable, QueryDsl as _, Queryable, Selectable, SelectableHelper as _,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use super::{StoreResult, schema::audit_events};
use crate::auth::Permitted;

/// What happened to an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
    Undelete,
    RotateSecret,
    CreateRegistrationToken,
    RevokeRegistrationToken,
}

impl Action {
    pub fn as_db(self) -> &'static str {
        self.into()
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewEvent<'a> {
    organization_id: &'a str,
    application_id: &'a str,
    actor: &'a str,
    action: &'a str,
    changed_fields: &'a [&'a str],
    details: &'a str,
}

/// Records `action` on `app_id` by the subject of the write's proof, in
/// its organization.
#[tracing::instrument(name = "db.audit.record", skip_all, fields(db.system = "postgresql"))]
pub async fn record<T>(
    conn: &mut AsyncPgConnection,
    permit: &Permitted<'_, T>,
    app_id: &str,
    action: Action,
    changed_fields: &[&str],
    details: &str,
) -> StoreResult<()> {
    diesel::insert_into(audit_events::table)
        .values(NewEvent {
            organization_id: permit.org(),
            application_id: app_id,
            actor: permit.subject(),
            action: action.as_db(),
            changed_fields,
            details,
        })
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub organization_id: String,
    pub application_id: String,
    pub actor: String,
    pub action: String,
    pub changed_fields: Vec<String>,
    pub details: String,
    pub create_time: DateTime<Utc>,
}

/// An organization's events, oldest first, optionally of one application.
#[tracing::instrument(name = "db.audit.list", skip_all, fields(db.system = "postgresql"))]
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: &str,
    app_id: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<AuditEvent>> {
    let mut query = audit_events::table
        .filter(audit_events::organization_id.eq(org))
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .into_boxed();
    if let Some(app_id) = app_id {
        query = query.filter(audit_events::application_id.eq(app_id));
    }
    let mut events: Vec<AuditEvent> = query.load(conn).await?;
    events.reverse();
    Ok(events)
}
