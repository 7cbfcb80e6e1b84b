//! Registration tokens (RFC 7591 initial access tokens) and the counting of
//! their uses, and the RFC 7592 registration access tokens kept on their
//! clients' rows.
//!
//! A registration spends a use of its token with one conditional UPDATE in
//! the registration's own transaction: the row lock serializes concurrent
//! registrations with one token, the condition keeps the count at most the
//! maximum (a CHECK backs it), and a registration that fails afterwards
//! rolls its use back with it.

use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, OptionalExtension as _, QueryDsl as _,
    Queryable, Selectable, SelectableHelper as _, dsl::now,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use super::{
    StoreResult,
    schema::{applications, registration_tokens},
};
use crate::{
    auth::{Permitted, WritePermit},
    domain::{
        AppId,
        names::NameKeys,
        registration::{NewToken, RegistrationToken, TokenHash, TokenId},
    },
};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = registration_tokens)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct TokenRow {
    id: String,
    organization_id: String,
    description: String,
    created_by: String,
    create_time: DateTime<Utc>,
    expire_time: DateTime<Utc>,
    max_registrations: i32,
    registrations_used: i32,
    revoke_time: Option<DateTime<Utc>>,
}

impl From<TokenRow> for RegistrationToken {
    fn from(r: TokenRow) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            description: r.description,
            created_by: r.created_by,
            create_time: r.create_time,
            expire_time: r.expire_time,
            max_registrations: r.max_registrations,
            registrations_used: r.registrations_used,
            revoke_time: r.revoke_time,
        }
    }
}

/// Stores a new token of the write's organization.
#[tracing::instrument(name = "db.registration_tokens.insert", skip_all, fields(db.system = "postgresql"))]
pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &Permitted<'_, NewToken>,
    id: &TokenId,
    hash: &TokenHash,
) -> StoreResult<RegistrationToken> {
    let token = new.get();
    let row: TokenRow = diesel::insert_into(registration_tokens::table)
        .values((
            registration_tokens::id.eq(id.as_str()),
            registration_tokens::organization_id.eq(new.org()),
            registration_tokens::token_hash.eq(hash.as_bytes()),
            registration_tokens::description.eq(&token.description),
            registration_tokens::created_by.eq(new.subject()),
            registration_tokens::expire_time.eq(token.expire_time),
            registration_tokens::max_registrations.eq(token.max_registrations),
        ))
        .returning(TokenRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(row.into())
}

/// Where a page of tokens starts: after this (create_time, id).
#[derive(Clone, Debug)]
pub struct TokenCursor {
    pub create_time: DateTime<Utc>,
    pub id: String,
}

/// Up to `limit` of the permit's organization's tokens after `after`,
/// oldest first.
#[tracing::instrument(name = "db.registration_tokens.list", skip_all, fields(db.system = "postgresql"))]
pub async fn list(
    conn: &mut AsyncPgConnection,
    permit: &WritePermit,
    after: Option<&TokenCursor>,
    limit: i64,
) -> StoreResult<Vec<RegistrationToken>> {
    let mut query = registration_tokens::table
        .filter(registration_tokens::organization_id.eq(permit.org()))
        .order((registration_tokens::create_time, registration_tokens::id))
        .limit(limit)
        .select(TokenRow::as_select())
        .into_boxed();
    if let Some(c) = after {
        query = query.filter(
            registration_tokens::create_time
                .gt(c.create_time)
                .or(registration_tokens::create_time
                    .eq(c.create_time)
                    .and(registration_tokens::id.gt(c.id.clone()))),
        );
    }
    let rows: Vec<TokenRow> = query.load(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Revokes a token of the write's organization (keeping the first
/// revocation's time); NotFound when it has no such token.
#[tracing::instrument(name = "db.registration_tokens.revoke", skip_all, fields(db.system = "postgresql"))]
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    target: &Permitted<'_, TokenId>,
) -> StoreResult<RegistrationToken> {
    let row: TokenRow = diesel::update(
        registration_tokens::table
            .filter(registration_tokens::organization_id.eq(target.org()))
            .filter(registration_tokens::id.eq(target.get().as_str())),
    )
    .set(registration_tokens::revoke_time.eq(diesel::dsl::sql::<
        diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
    >("coalesce(revoke_time, now())")))
    .returning(TokenRow::as_returning())
    .get_result(conn)
    .await?;
    Ok(row.into())
}

/// A use of a registration token, spent.
#[derive(Debug)]
pub struct Spent {
    pub token_id: String,
    pub organization_id: String,
}

/// Spends one use of the live token with this hash: `None` when there is
/// none (unknown, revoked, expired or used up), alike. Call it in the
/// registration's transaction.
#[tracing::instrument(name = "db.registration_tokens.spend", skip_all, fields(db.system = "postgresql"))]
pub async fn spend(conn: &mut AsyncPgConnection, hash: &TokenHash) -> StoreResult<Option<Spent>> {
    let spent: Option<(String, String)> = diesel::update(
        registration_tokens::table
            .filter(registration_tokens::token_hash.eq(hash.as_bytes()))
            .filter(registration_tokens::revoke_time.is_null())
            .filter(registration_tokens::expire_time.gt(now))
            .filter(
                registration_tokens::registrations_used.lt(registration_tokens::max_registrations),
            ),
    )
    .set(registration_tokens::registrations_used.eq(registration_tokens::registrations_used + 1))
    .returning((
        registration_tokens::id,
        registration_tokens::organization_id,
    ))
    .get_result(conn)
    .await
    .optional()?;
    Ok(spent.map(|(token_id, organization_id)| Spent {
        token_id,
        organization_id,
    }))
}

/// Replaces the registration access token of live application `id` (of
/// the write permit's organization) with `new` (or none) when its current
/// one is `expected`: a compare-and-set, so of two calls racing with one
/// token only the first swaps it. Whether it was swapped.
#[tracing::instrument(name = "db.applications.swap_access_hash", skip_all, fields(db.system = "postgresql"))]
pub async fn swap_access_hash(
    conn: &mut AsyncPgConnection,
    permit: &WritePermit,
    id: &AppId,
    expected: &TokenHash,
    new: Option<&TokenHash>,
) -> StoreResult<bool> {
    let updated = diesel::update(
        applications::table
            .filter(applications::organization_id.eq(permit.org()))
            .filter(applications::id.eq(id.as_str()))
            .filter(applications::delete_time.is_null())
            .filter(applications::registration_access_hash.eq(expected.as_bytes())),
    )
    .set(applications::registration_access_hash.eq(new.map(TokenHash::as_bytes)))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// Whether a live application of `org` registered by a member (not by
/// software) has a name that looks like `keys`: a client that registers
/// itself may not pass for one of the organization's own.
#[tracing::instrument(name = "db.applications.looks_like_a_member_app", skip_all, fields(db.system = "postgresql"))]
pub async fn looks_like_a_member_app(
    conn: &mut AsyncPgConnection,
    org: &str,
    keys: &NameKeys,
) -> StoreResult<bool> {
    let found: i64 = applications::table
        .filter(applications::organization_id.eq(org))
        .filter(applications::delete_time.is_null())
        .filter(applications::dynamically_registered.eq(false))
        .filter(
            applications::name_key
                .eq(&keys.folded)
                .or(applications::visual_key.eq(&keys.visual)),
        )
        .count()
        .get_result(conn)
        .await?;
    Ok(found > 0)
}

/// The organization and id of the live, dynamically registered client
/// `client_id`, with its registration access token's hash (to be compared
/// in constant time by the caller); `None` when there is no such client or
/// it has no token.
#[tracing::instrument(name = "db.applications.find_registered", skip_all, fields(db.system = "postgresql"))]
pub async fn find_registered(
    conn: &mut AsyncPgConnection,
    client_id: &str,
) -> StoreResult<Option<(String, AppId, TokenHash)>> {
    let found: Option<(String, String, Option<Vec<u8>>)> = applications::table
        .filter(applications::client_id.eq(client_id))
        .filter(applications::delete_time.is_null())
        .filter(applications::dynamically_registered)
        .select((
            applications::organization_id,
            applications::id,
            applications::registration_access_hash,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(found.and_then(|(org, id, hash)| {
        let hash = TokenHash::from_stored(&hash?)?;
        Some((org, AppId::from_trusted(id), hash))
    }))
}

/// The live token with this hash, without spending it: `None` when there
/// is none (unknown, revoked, expired or used up).
#[tracing::instrument(name = "db.registration_tokens.is_live", skip_all, fields(db.system = "postgresql"))]
pub async fn is_live(conn: &mut AsyncPgConnection, hash: &TokenHash) -> StoreResult<Option<Spent>> {
    let found: Option<(String, String)> = registration_tokens::table
        .filter(registration_tokens::token_hash.eq(hash.as_bytes()))
        .filter(registration_tokens::revoke_time.is_null())
        .filter(registration_tokens::expire_time.gt(now))
        .filter(registration_tokens::registrations_used.lt(registration_tokens::max_registrations))
        .select((
            registration_tokens::id,
            registration_tokens::organization_id,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(found.map(|(token_id, organization_id)| Spent {
        token_id,
        organization_id,
    }))
}

/// Live, dynamically registered applications of `org`, counted under a
/// transaction-scoped lock on the organization's open registration, so
/// that concurrent open registrations never pass the total limit. Call it
/// in the registration's transaction.
#[tracing::instrument(name = "db.applications.count_dynamic", skip_all, fields(db.system = "postgresql"))]
pub async fn lock_and_count_dynamic(conn: &mut AsyncPgConnection, org: &str) -> StoreResult<i64> {
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(hashtextextended('open-registration:' || $1, 0))",
    )
    .bind::<diesel::sql_types::Text, _>(org)
    .execute(conn)
    .await?;
    Ok(applications::table
        .filter(applications::organization_id.eq(org))
        .filter(applications::dynamically_registered)
        .filter(applications::delete_time.is_null())
        .count()
        .get_result(conn)
        .await?)
}
