//! Writes: a new application, the lock that serializes changes to one, an
//! update, a rotation; and the maintenance the service runs itself
//! (expired secrets, look-alike keys). Each write takes the [`Permitted`]
//! proof for what it writes, and is scoped to its organization.

use chrono::{DateTime, Utc};
use diesel::{
    AsChangeset, ExpressionMethods as _, Insertable, IntoSql as _, NullableExpressionMethods as _,
    OptionalExtension as _, QueryDsl as _, SelectableHelper as _,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use super::{AppRow, SLOT_CURRENT, SLOT_PREVIOUS, read::pending_name_keys};
use crate::{
    auth::{Permitted, WritePermit},
    domain::{
        AppChanges, AppId, Application, ClientId, NewApplication, SecretHash, lifecycle::Rotation,
        names, registration::TokenHash, update::AppUpdate,
    },
    store::{
        StoreError, StoreResult,
        schema::{applications, client_secrets},
    },
};

#[derive(Insertable)]
#[diesel(table_name = applications)]
struct NewAppRow<'a> {
    id: &'a str,
    organization_id: &'a str,
    name: &'a str,
    name_key: String,
    visual_key: String,
    name_keys_version: i16,
    description: &'a str,
    app_type: &'a str,
    redirect_uris: &'a [String],
    scopes: &'a [String],
    client_id: &'a str,
    active: bool,
    first_party: bool,
    created_by: &'a str,
    grant_types: Vec<&'static str>,
    token_endpoint_auth_method: &'static str,
    jwks: Option<&'a str>,
    client_uri: &'a str,
    logo_uri: &'a str,
    policy_uri: &'a str,
    tos_uri: &'a str,
    contacts: &'a [String],
    dynamically_registered: bool,
    registration_access_hash: Option<&'a [u8]>,
}

#[derive(Insertable)]
#[diesel(table_name = client_secrets)]
struct NewSecretRow<'a> {
    application_id: &'a str,
    slot: &'a str,
    secret_hash: &'a str,
    hint: &'a str,
    /// Every secret minted now carries a checksum.
    checksummed: bool,
}

/// The current secret of a confidential app, already hashed.
pub struct InitialSecret<'a> {
    pub hash: &'a SecretHash,
    pub hint: &'a str,
}

/// Stores `hash` as the current secret of application `id`.
async fn insert_current(
    conn: &mut AsyncPgConnection,
    id: &str,
    hash: &SecretHash,
    hint: &str,
) -> StoreResult<()> {
    diesel::insert_into(client_secrets::table)
        .values(NewSecretRow {
            application_id: id,
            slot: SLOT_CURRENT,
            secret_hash: hash.as_phc(),
            hint,
            checksummed: true,
        })
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts the application, with its registration access token's hash when
/// it registered itself, and its current secret. Call it inside a
/// transaction (with the audit event), so that both or neither are stored.
/// (The hash goes in with the row: an UPDATE would announce a change to
/// every replica, and PostgreSQL commits announcing transactions one at a
/// time; see BENCHMARKS.md.)
#[tracing::instrument(name = "db.applications.insert", skip_all, fields(db.system = "postgresql"))]
pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &Permitted<'_, NewApplication>,
    id: &AppId,
    client_id: &ClientId,
    secret: Option<InitialSecret<'_>>,
    access_hash: Option<&TokenHash>,
) -> StoreResult<Application> {
    let (org, created_by, new) = (new.org(), new.subject(), new.get());
    let keys = names::keys(&new.name);
    let row = NewAppRow {
        id: id.as_str(),
        organization_id: org,
        name: &new.name,
        name_key: keys.folded,
        visual_key: keys.visual,
        name_keys_version: names::NAME_KEYS_VERSION,
        description: &new.description,
        app_type: new.app_type.as_db(),
        redirect_uris: &new.redirect_uris,
        scopes: &new.scopes,
        client_id: client_id.as_str(),
        active: new.active,
        first_party: new.first_party,
        created_by,
        grant_types: new.grant_types.iter().map(|g| g.as_db()).collect(),
        token_endpoint_auth_method: new.auth_method.as_db(),
        jwks: new.jwks.as_deref(),
        client_uri: &new.client_uri,
        logo_uri: &new.logo_uri,
        policy_uri: &new.policy_uri,
        tos_uri: &new.tos_uri,
        contacts: &new.contacts,
        dynamically_registered: new.dynamically_registered,
        registration_access_hash: access_hash.map(TokenHash::as_bytes),
    };
    let app: AppRow = diesel::insert_into(applications::table)
        .values(&row)
        .returning(AppRow::as_returning())
        .get_result(conn)
        .await?;
    let hint = match secret {
        Some(secret) => {
            insert_current(conn, &app.id, secret.hash, secret.hint).await?;
            Some(secret.hint.to_owned())
        }
        None => None,
    };
    app.into_domain(hint)
}

/// The advisory locks of applications (the first key; the second is the
/// id's hash), apart from any other advisory lock.
const APP_LOCK_SPACE: i32 = 0x6f61_7070; // "oapp"

async fn current_hint(conn: &mut AsyncPgConnection, id: &str) -> StoreResult<Option<String>> {
    Ok(client_secrets::table
        .filter(client_secrets::application_id.eq(id))
        .filter(client_secrets::slot.eq(SLOT_CURRENT))
        .select(client_secrets::hint)
        .first::<String>(conn)
        .await
        .optional()?)
}

/// Reads an application of the permit's organization and locks its row until
/// the surrounding transaction ends, so concurrent changes to one application
/// happen one after the other.
///
/// An advisory lock on the application's id is taken first, and the row
/// lock only once it is held: waiting in line for a row lock, PostgreSQL
/// may give a waiter its transaction id before an earlier waiter gets the
/// row, and the change feed delivers in transaction-id order (see
/// `store::changes`; the feed's trigger refuses such a write). Waiting for
/// an advisory lock takes no transaction id, so the writer that gets the
/// row takes its id after the previous one committed.
#[tracing::instrument(name = "db.applications.lock", skip_all, fields(db.system = "postgresql"))]
pub async fn lock(
    conn: &mut AsyncPgConnection,
    permit: &WritePermit,
    id: &AppId,
) -> StoreResult<Application> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind::<diesel::sql_types::Integer, _>(APP_LOCK_SPACE)
        .bind::<diesel::sql_types::Text, _>(id.as_str())
        .execute(conn)
        .await?;
    let row: AppRow = applications::table
        .filter(applications::organization_id.eq(permit.org()))
        .filter(applications::id.eq(id.as_str()))
        .select(AppRow::as_select())
        .for_update()
        .first(conn)
        .await?;
    let hint = current_hint(conn, &row.id).await?;
    row.into_domain(hint)
}

/// The columns an update may set; `None` leaves a column alone.
#[derive(AsChangeset)]
#[diesel(table_name = applications)]
struct AppChangeset<'a> {
    name: Option<&'a str>,
    name_key: Option<String>,
    visual_key: Option<String>,
    name_keys_version: Option<i16>,
    description: Option<&'a str>,
    redirect_uris: Option<&'a [String]>,
    scopes: Option<&'a [String]>,
    active: Option<bool>,
    first_party: Option<bool>,
    grant_types: Option<Vec<&'static str>>,
    jwks: Option<&'a str>,
    client_uri: Option<&'a str>,
    logo_uri: Option<&'a str>,
    policy_uri: Option<&'a str>,
    tos_uri: Option<&'a str>,
    contacts: Option<&'a [String]>,
    delete_time: Option<Option<DateTime<Utc>>>,
}

impl<'a> From<&'a AppChanges> for AppChangeset<'a> {
    fn from(c: &'a AppChanges) -> Self {
        let keys = c.name.as_deref().map(names::keys);
        Self {
            name: c.name.as_deref(),
            name_keys_version: keys.as_ref().map(|_| names::NAME_KEYS_VERSION),
            name_key: keys.as_ref().map(|k| k.folded.clone()),
            visual_key: keys.map(|k| k.visual),
            description: c.description.as_deref(),
            redirect_uris: c.redirect_uris.as_deref(),
            scopes: c.scopes.as_deref(),
            active: c.active,
            first_party: c.first_party,
            grant_types: c
                .grant_types
                .as_ref()
                .map(|g| g.iter().map(|g| g.as_db()).collect()),
            jwks: c.jwks.as_deref(),
            client_uri: c.client_uri.as_deref(),
            logo_uri: c.logo_uri.as_deref(),
            policy_uri: c.policy_uri.as_deref(),
            tos_uri: c.tos_uri.as_deref(),
            contacts: c.contacts.as_deref(),
            delete_time: c.delete_time,
        }
    }
}

/// Applies an update to a locked application of the permit's organization,
/// bumping its revision (hence its etag) and update time. An update that
/// changes nothing writes nothing and returns the application as it is.
#[tracing::instrument(name = "db.applications.update", skip_all, fields(db.system = "postgresql"))]
pub async fn update(
    conn: &mut AsyncPgConnection,
    update: &Permitted<'_, AppUpdate>,
) -> StoreResult<Application> {
    let AppUpdate { current, changes } = update.get();
    if changes.is_empty() {
        return Ok(current.clone());
    }
    let row: AppRow = diesel::update(
        applications::table
            .filter(applications::organization_id.eq(update.org()))
            .filter(applications::id.eq(current.id.as_str())),
    )
    .set((
        AppChangeset::from(changes),
        applications::revision.eq(applications::revision + 1),
        applications::update_time.eq(diesel::dsl::now),
    ))
    .returning(AppRow::as_returning())
    .get_result(conn)
    .await?;
    row.into_domain(current.secret_hint.clone())
}

/// Replaces the current secret of a locked application of the permit's
/// organization with `hash`, and bumps its revision. With a grace period the
/// old current secret becomes the previous one until `now + grace`; whatever
/// previous secret there was is dropped (only one is kept). Returns the
/// application as it now is and the previous secret's expiry, if one was kept.
#[tracing::instrument(name = "db.applications.rotate_secret", skip_all, fields(db.system = "postgresql"))]
pub async fn rotate_secret(
    conn: &mut AsyncPgConnection,
    rotation: &Permitted<'_, Rotation>,
    hash: &SecretHash,
    hint: &str,
) -> StoreResult<(Application, Option<DateTime<Utc>>)> {
    let Rotation { app, grace } = rotation.get();
    let row: AppRow = diesel::update(
        applications::table
            .filter(applications::organization_id.eq(rotation.org()))
            .filter(applications::id.eq(app.id.as_str())),
    )
    .set((
        applications::revision.eq(applications::revision + 1),
        applications::update_time.eq(diesel::dsl::now),
    ))
    .returning(AppRow::as_returning())
    .get_result(conn)
    .await?;
    let expire = retire_current(conn, &row.id, *grace).await?;
    insert_current(conn, &row.id, hash, hint).await?;
    Ok((row.into_domain(Some(hint.to_owned()))?, expire))
}

/// Drops application `id`'s previous secret, then revokes its current one,
/// or with a grace keeps it as the previous one until `now + grace` (which
/// is returned).
async fn retire_current(
    conn: &mut AsyncPgConnection,
    id: &str,
    grace: Option<std::time::Duration>,
) -> StoreResult<Option<DateTime<Utc>>> {
    diesel::delete(
        client_secrets::table
            .filter(client_secrets::application_id.eq(id))
            .filter(client_secrets::slot.eq(SLOT_PREVIOUS)),
    )
    .execute(conn)
    .await?;
    let current = client_secrets::table
        .filter(client_secrets::application_id.eq(id))
        .filter(client_secrets::slot.eq(SLOT_CURRENT));
    let Some(grace) = grace else {
        diesel::delete(current).execute(conn).await?;
        return Ok(None);
    };
    let grace = chrono::Duration::from_std(grace)
        .map_err(|e| StoreError::Query(diesel::result::Error::SerializationError(e.into())))?;
    let until = (diesel::dsl::now.into_sql::<diesel::sql_types::Timestamptz>() + grace).nullable();
    Ok(diesel::update(current)
        .set((
            client_secrets::slot.eq(SLOT_PREVIOUS),
            client_secrets::expire_time.eq(until),
        ))
        .returning(client_secrets::expire_time)
        .get_result::<Option<DateTime<Utc>>>(conn)
        .await
        .optional()?
        .flatten())
}

/// Deletes previous secrets whose grace period is over. They no longer
/// verify anyway; this keeps their hashes from lingering.
#[tracing::instrument(name = "db.applications.purge_expired_secrets", skip_all, fields(db.system = "postgresql"))]
pub async fn purge_expired_secrets(conn: &mut AsyncPgConnection) -> StoreResult<usize> {
    Ok(diesel::delete(
        client_secrets::table
            .filter(client_secrets::slot.eq(SLOT_PREVIOUS))
            .filter(client_secrets::expire_time.le(diesel::dsl::now)),
    )
    .execute(conn)
    .await?)
}

/// Computes the look-alike keys of applications that have none (new rows
/// from an older binary, or rows a version bump's migration reset; see
/// `names::NAME_KEYS_VERSION`), a batch at a time.
/// Run at start-up; returns how many rows it keyed. Two live applications
/// that looked the same before keys existed both stay: the second keeps no
/// keys (new look-alikes of the first are still refused), and is reported.
#[tracing::instrument(name = "db.applications.backfill_name_keys", skip_all, fields(db.system = "postgresql"))]
pub async fn backfill_name_keys(conn: &mut AsyncPgConnection) -> StoreResult<usize> {
    const BATCH: i64 = 500;
    let mut keyed = 0;
    let mut after = String::new();
    loop {
        let pending: Vec<(String, String)> = pending_name_keys(&after, BATCH).load(conn).await?;
        let Some((last, _)) = pending.last() else {
            return Ok(keyed);
        };
        after = last.clone();
        for (id, name) in pending {
            let keys = names::keys(&name);
            let row = applications::table.filter(applications::id.eq(&id));
            let set = diesel::update(row)
                .set((
                    applications::name_key.eq(&keys.folded),
                    applications::visual_key.eq(&keys.visual),
                    applications::name_keys_version.eq(names::NAME_KEYS_VERSION),
                ))
                .execute(conn)
                .await;
            match set.map_err(StoreError::from) {
                Ok(_) => keyed += 1,
                Err(StoreError::UniqueViolation(_)) => {
                    tracing::warn!(app_id = %id, "application looks the same as another live one of its organization; left without name keys");
                    diesel::update(row)
                        .set(applications::name_keys_version.eq(names::NAME_KEYS_VERSION))
                        .execute(conn)
                        .await?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
