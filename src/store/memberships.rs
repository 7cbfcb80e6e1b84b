//! Who belongs to which organization, with which role.

use chrono::{DateTime, Utc};
use diesel::{
    ExpressionMethods as _, OptionalExtension as _, QueryDsl as _, Queryable, Selectable,
    SelectableHelper as _,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use super::{Db, StoreError, StoreResult, schema::memberships};
use crate::{auth::RoleSource, domain::Role};

/// Roles as the auth layer reads them: from the database, under its timeout.
#[derive(Clone, Debug)]
pub struct Memberships(pub Db);

impl RoleSource for Memberships {
    type Error = StoreError;

    async fn role_of(&self, org: &str, user: &str) -> StoreResult<Option<Role>> {
        self.0
            .run(async |conn| role_of(conn, org, user).await)
            .await
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = memberships)]
pub struct MembershipRow {
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// The caller's role in `org`, or `None` when they are not a member.
#[tracing::instrument(name = "db.memberships.role_of", skip_all, fields(db.system = "postgresql"))]
pub async fn role_of(
    conn: &mut AsyncPgConnection,
    org: &str,
    user: &str,
) -> StoreResult<Option<Role>> {
    let role: Option<String> = memberships::table
        .filter(memberships::organization_id.eq(org))
        .filter(memberships::user_id.eq(user))
        .select(memberships::role)
        .first(conn)
        .await
        .optional()?;
    Ok(role.as_deref().and_then(Role::parse))
}

/// Adds a member or changes their role.
#[tracing::instrument(name = "db.memberships.set", skip_all, fields(db.system = "postgresql"))]
pub async fn set(
    conn: &mut AsyncPgConnection,
    org: &str,
    user: &str,
    role: Role,
) -> StoreResult<()> {
    diesel::insert_into(memberships::table)
        .values((
            memberships::organization_id.eq(org),
            memberships::user_id.eq(user),
            memberships::role.eq(role.as_db()),
        ))
        .on_conflict((memberships::organization_id, memberships::user_id))
        .do_update()
        .set((
            memberships::role.eq(role.as_db()),
            memberships::update_time.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a member; `false` when they were not one.
#[tracing::instrument(name = "db.memberships.remove", skip_all, fields(db.system = "postgresql"))]
pub async fn remove(conn: &mut AsyncPgConnection, org: &str, user: &str) -> StoreResult<bool> {
    let n = diesel::delete(
        memberships::table
            .filter(memberships::organization_id.eq(org))
            .filter(memberships::user_id.eq(user)),
    )
    .execute(conn)
    .await?;
    Ok(n > 0)
}

#[tracing::instrument(name = "db.memberships.list", skip_all, fields(db.system = "postgresql"))]
pub async fn list(conn: &mut AsyncPgConnection, org: &str) -> StoreResult<Vec<MembershipRow>> {
    Ok(memberships::table
        .filter(memberships::organization_id.eq(org))
        .order(memberships::user_id.asc())
        .select(MembershipRow::as_select())
        .load(conn)
        .await?)
}
