//! Values every replica sharing the database must agree on.

use diesel::{ExpressionMethods as _, OptionalExtension as _, QueryDsl as _};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use super::{StoreResult, schema::service_settings};

/// Returns the stored value of `name`, first storing `candidate` if no
/// replica has stored one yet. Concurrent callers all get the same value.
pub async fn get_or_init(
    conn: &mut AsyncPgConnection,
    name: &str,
    candidate: &[u8],
) -> StoreResult<Vec<u8>> {
    diesel::insert_into(service_settings::table)
        .values((
            service_settings::name.eq(name),
            service_settings::value.eq(candidate),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let value = service_settings::table
        .filter(service_settings::name.eq(name))
        .select(service_settings::value)
        .first::<Vec<u8>>(conn)
        .await
        .optional()?;
    value.ok_or(super::StoreError::NotFound)
}
