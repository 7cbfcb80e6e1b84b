//! The `jti` of every accepted client assertion, kept until no replica can
//! accept the assertion any more: the one record every replica consults, so
//! that no assertion is accepted twice, anywhere.
//!
//! An assertion is accepted while the whole second of `now` is at most its
//! `valid_until` (`exp` and the skew), that is until the end of that
//! second; its row is kept until then plus [`JTI_MARGIN`], compared in one
//! unit (microseconds, by the database's clock), so that neither the
//! sweeper's `expire_time < now()` nor a replica whose clock is behind the
//! database's by less than the margin can free a `jti` that could still be
//! accepted.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use super::{StoreResult, schema::assertion_jtis};
use crate::auth::ServicePermit;

/// How long a spent `jti` is kept beyond the last instant its assertion can
/// be accepted: covers replica clocks behind the database's.
pub const JTI_MARGIN: TimeDelta = TimeDelta::seconds(60);

/// Until when the `jti` of an assertion accepted up to the whole second
/// `valid_until` (seconds since the epoch) must be kept: the end of that
/// second, plus the margin.
pub fn kept_until(valid_until: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(valid_until.checked_add(1)?, 0)?.checked_add_signed(JTI_MARGIN)
}

/// Records `jti` of `client_id` as spent until `kept_until`; `false` when it
/// was spent already. Of concurrent presentations of one assertion, on any
/// replicas, exactly one gets `true` (the primary key decides).
#[tracing::instrument(name = "db.assertions.spend_jti", skip_all, fields(db.system = "postgresql"))]
pub async fn spend_jti(
    conn: &mut AsyncPgConnection,
    _permit: &ServicePermit,
    client_id: &str,
    jti: &str,
    kept_until: DateTime<Utc>,
) -> StoreResult<bool> {
    let inserted = diesel::insert_into(assertion_jtis::table)
        .values((
            assertion_jtis::client_id.eq(client_id),
            assertion_jtis::jti.eq(jti),
            assertion_jtis::expire_time.eq(kept_until),
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
