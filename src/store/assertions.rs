//! The `jti` of every accepted client assertion, kept until the assertion
//! expires: the one record every replica consults, so that no assertion is
//! accepted twice, anywhere.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use super::{StoreResult, schema::assertion_jtis};
use crate::auth::ServicePermit;

/// Records `jti` of `client_id` as spent until `valid_until`; `false` when it
/// was spent already. Of concurrent presentations of one assertion, on any
/// replicas, exactly one gets `true` (the primary key decides).
#[tracing::instrument(name = "db.assertions.spend_jti", skip_all, fields(db.system = "postgresql"))]
pub async fn spend_jti(
    conn: &mut AsyncPgConnection,
    _permit: &ServicePermit,
    client_id: &str,
    jti: &str,
    valid_until: DateTime<Utc>,
) -> StoreResult<bool> {
    let inserted = diesel::insert_into(assertion_jtis::table)
        .values((
            assertion_jtis::client_id.eq(client_id),
            assertion_jtis::jti.eq(jti),
            assertion_jtis::expire_time.eq(valid_until),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Forgets the `jti`s of assertions that can no longer be accepted anyway.
#[tracing::instrument(name = "db.assertions.purge_expired", skip_all, fields(db.system = "postgresql"))]
pub async fn purge_expired(conn: &mut AsyncPgConnection) -> StoreResult<usize> {
    Ok(diesel::delete(
        assertion_jtis::table.filter(assertion_jtis::expire_time.lt(diesel::dsl::now)),
    )
    .execute(conn)
    .await?)
}
