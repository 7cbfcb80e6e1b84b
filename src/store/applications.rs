//! Applications and their secrets.
//!
//! Every function that reads or changes an organization's applications takes
//! a permit and filters by its organization: [`ReadPermit`] to read,
//! [`WritePermit`] to lock, and for a write a permit that [`Authorizes`] the
//! authority the domain classified it as needing. The service calls that
//! find an application by `client_id` across organizations take a
//! [`ServicePermit`].

use chrono::{DateTime, Utc};
use diesel::{
    AsChangeset, BoolExpressionMethods as _, ExpressionMethods as _, Insertable, IntoSql as _,
    JoinOnDsl as _, NullableExpressionMethods as _, OptionalExtension as _, QueryDsl as _,
    Queryable, Selectable, SelectableHelper as _,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use super::{
    StoreError, StoreResult,
    schema::{applications, client_secrets},
};
use crate::{
    auth::{Authorizes, OrgScope, ReadPermit, ServicePermit, WritePermit},
    domain::{
        AppChanges, AppId, AppType, Application, AuthMethod, Checked, ClientId, GrantType,
        NewApplication, SecretHash, names,
        rules::{AppUpdate, Rotation},
    },
};

pub const SLOT_CURRENT: &str = "current";
pub const SLOT_PREVIOUS: &str = "previous";

/// A stored application row. It holds no secret: hashes live in `client_secrets`.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = applications)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AppRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    pub app_type: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub active: bool,
    pub first_party: bool,
    pub created_by: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub delete_time: Option<DateTime<Utc>>,
    pub revision: i64,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub jwks: Option<String>,
    pub client_uri: String,
    pub logo_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
    pub contacts: Vec<String>,
}

/// A stored value the schema's CHECK should have kept out.
fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Query(diesel::result::Error::DeserializationError(
        format!("unknown {what} {value:?}").into(),
    ))
}

impl AppRow {
    fn into_domain(self, secret_hint: Option<String>) -> StoreResult<Application> {
        let app_type =
            AppType::from_db(&self.app_type).ok_or_else(|| corrupt("app_type", &self.app_type))?;
        let auth_method = AuthMethod::from_db(&self.token_endpoint_auth_method)
            .ok_or_else(|| corrupt("auth method", &self.token_endpoint_auth_method))?;
        let grant_types = self
            .grant_types
            .iter()
            .map(|g| GrantType::from_db(g).ok_or_else(|| corrupt("grant type", g)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Application {
            id: AppId::from_trusted(self.id),
            organization_id: self.organization_id,
            name: self.name,
            description: self.description,
            app_type,
            redirect_uris: self.redirect_uris,
            scopes: self.scopes,
            client_id: self.client_id,
            secret_hint,
            // A deleted application is disabled, whatever it was before; undelete
            // restores the stored flag.
            active: self.active && self.delete_time.is_none(),
            first_party: self.first_party,
            created_by: self.created_by,
            create_time: self.create_time,
            update_time: self.update_time,
            delete_time: self.delete_time,
            revision: self.revision,
            grant_types,
            auth_method,
            jwks: self.jwks,
            client_uri: self.client_uri,
            logo_uri: self.logo_uri,
            policy_uri: self.policy_uri,
            tos_uri: self.tos_uri,
            contacts: self.contacts,
        })
    }
}

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

/// The columns of an application plus its current secret's hint.
type AppWithHint = (AppRow, Option<String>);

macro_rules! apps_with_current_hint {
    () => {
        applications::table.left_join(
            client_secrets::table.on(client_secrets::application_id
                .eq(applications::id)
                .and(client_secrets::slot.eq(SLOT_CURRENT))),
        )
    };
}

/// Inserts the application and its current secret. Call it inside a
/// transaction (with the audit event), so that both or neither are stored.
#[tracing::instrument(name = "db.applications.insert", skip_all, fields(db.system = "postgresql"))]
pub async fn insert<K>(
    conn: &mut AsyncPgConnection,
    permit: &impl Authorizes<K>,
    new: &Checked<K, NewApplication>,
    id: &AppId,
    client_id: &ClientId,
    secret: Option<InitialSecret<'_>>,
) -> StoreResult<Application> {
    let new = new.get();
    let keys = names::keys(&new.name);
    let row = NewAppRow {
        id: id.as_str(),
        organization_id: permit.org(),
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
        created_by: permit.subject(),
        grant_types: new.grant_types.iter().map(|g| g.as_db()).collect(),
        token_endpoint_auth_method: new.auth_method.as_db(),
        jwks: new.jwks.as_deref(),
        client_uri: &new.client_uri,
        logo_uri: &new.logo_uri,
        policy_uri: &new.policy_uri,
        tos_uri: &new.tos_uri,
        contacts: &new.contacts,
    };
    let app: AppRow = diesel::insert_into(applications::table)
        .values(&row)
        .returning(AppRow::as_returning())
        .get_result(conn)
        .await?;
    let hint = match secret {
        Some(secret) => {
            diesel::insert_into(client_secrets::table)
                .values(NewSecretRow {
                    application_id: &app.id,
                    slot: SLOT_CURRENT,
                    secret_hash: secret.hash.as_phc(),
                    hint: secret.hint,
                    checksummed: true,
                })
                .execute(conn)
                .await?;
            Some(secret.hint.to_owned())
        }
        None => None,
    };
    app.into_domain(hint)
}

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
#[tracing::instrument(name = "db.applications.lock", skip_all, fields(db.system = "postgresql"))]
pub async fn lock(
    conn: &mut AsyncPgConnection,
    permit: &WritePermit,
    id: &AppId,
) -> StoreResult<Application> {
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
pub async fn update<K>(
    conn: &mut AsyncPgConnection,
    permit: &impl Authorizes<K>,
    update: &Checked<K, AppUpdate>,
) -> StoreResult<Application> {
    let AppUpdate { current, changes } = update.get();
    if changes.is_empty() {
        return Ok(current.clone());
    }
    let row: AppRow = diesel::update(
        applications::table
            .filter(applications::organization_id.eq(permit.org()))
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
pub async fn rotate_secret<K>(
    conn: &mut AsyncPgConnection,
    permit: &impl Authorizes<K>,
    rotation: &Checked<K, Rotation>,
    hash: &SecretHash,
    hint: &str,
) -> StoreResult<(Application, Option<DateTime<Utc>>)> {
    let Rotation { app, grace } = rotation.get();
    let row: AppRow = diesel::update(
        applications::table
            .filter(applications::organization_id.eq(permit.org()))
            .filter(applications::id.eq(app.id.as_str())),
    )
    .set((
        applications::revision.eq(applications::revision + 1),
        applications::update_time.eq(diesel::dsl::now),
    ))
    .returning(AppRow::as_returning())
    .get_result(conn)
    .await?;
    let id = row.id.as_str();
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
    let expire = match grace {
        Some(grace) => {
            let grace = chrono::Duration::from_std(*grace).map_err(|e| {
                StoreError::Query(diesel::result::Error::SerializationError(e.into()))
            })?;
            diesel::update(current)
                .set((
                    client_secrets::slot.eq(SLOT_PREVIOUS),
                    client_secrets::expire_time.eq((diesel::dsl::now
                        .into_sql::<diesel::sql_types::Timestamptz>()
                        + grace)
                        .nullable()),
                ))
                .returning(client_secrets::expire_time)
                .get_result::<Option<DateTime<Utc>>>(conn)
                .await
                .optional()?
                .flatten()
        }
        None => {
            diesel::delete(current).execute(conn).await?;
            None
        }
    };
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
    Ok((row.into_domain(Some(hint.to_owned()))?, expire))
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

/// A stored secret: the current one, or the previous one (which verifies
/// only until it expires).
#[derive(Clone, Debug)]
pub struct LiveSecret {
    pub hash: SecretHash,
    pub hint: String,
    /// Minted with a checksum (every secret since checksums exist).
    pub checksummed: bool,
    /// When a previous secret stops verifying; `None` for the current one.
    pub expires: Option<DateTime<Utc>>,
}

impl LiveSecret {
    /// Whether it verifies at `now`: expiry is checked at use, so that a
    /// copy held in a cache never outlives its grace.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

/// An application with its stored secrets, current first: what the
/// verification calls need, and what the replica-local cache holds.
#[derive(Clone, Debug)]
pub struct AppWithSecrets {
    pub app: Application,
    pub secrets: Vec<LiveSecret>,
}

/// Slot, PHC hash, hint, checksum flag and expiry of a stored secret.
type SecretColumns = (String, String, String, bool, Option<DateTime<Utc>>);

macro_rules! app_with_secrets {
    () => {
        applications::table
            .left_join(
                client_secrets::table.on(client_secrets::application_id.eq(applications::id)),
            )
            .select((
                AppRow::as_select(),
                (
                    client_secrets::slot,
                    client_secrets::secret_hash,
                    client_secrets::hint,
                    client_secrets::checksummed,
                    client_secrets::expire_time,
                )
                    .nullable(),
            ))
    };
}

/// An application of an organization by id, with its secrets: what a Get
/// runs (`get_with_secrets`).
macro_rules! app_with_secrets_by_id {
    ($org:expr, $id:expr) => {
        app_with_secrets!()
            .filter(applications::organization_id.eq($org))
            .filter(applications::id.eq($id))
    };
}

/// One application's rows (one per stored secret, or one without) as one.
fn gather(rows: Vec<(AppRow, Option<SecretColumns>)>) -> StoreResult<Option<AppWithSecrets>> {
    let mut app_row = None;
    let mut current_hint = None;
    let mut secrets = Vec::new();
    for (row, secret) in rows {
        if let Some((slot, hash, hint, checksummed, expires)) = secret {
            let stored = LiveSecret {
                hash: SecretHash::from_stored(hash),
                hint,
                checksummed,
                expires,
            };
            if slot == SLOT_CURRENT {
                current_hint = Some(stored.hint.clone());
                // The current secret is tried first.
                secrets.insert(0, stored);
            } else {
                secrets.push(stored);
            }
        }
        app_row.get_or_insert(row);
    }
    match app_row {
        Some(row) => Ok(Some(AppWithSecrets {
            app: row.into_domain(current_hint)?,
            secrets,
        })),
        None => Ok(None),
    }
}

/// The application with this client_id, in any state and any organization,
/// with its stored secrets. One round trip.
#[tracing::instrument(name = "db.applications.find_by_client_id", skip_all, fields(db.system = "postgresql"))]
pub async fn find_by_client_id(
    conn: &mut AsyncPgConnection,
    _permit: &ServicePermit,
    client_id: &str,
) -> StoreResult<Option<AppWithSecrets>> {
    gather(
        app_with_secrets!()
            .filter(applications::client_id.eq(client_id))
            .load(conn)
            .await?,
    )
}

/// One application of the permit's organization, deleted or not, with its
/// stored secrets. One round trip.
#[tracing::instrument(name = "db.applications.get_with_secrets", skip_all, fields(db.system = "postgresql"))]
pub async fn get_with_secrets(
    conn: &mut AsyncPgConnection,
    permit: &ReadPermit,
    id: &AppId,
) -> StoreResult<AppWithSecrets> {
    gather(
        app_with_secrets_by_id!(permit.org(), id.as_str())
            .load(conn)
            .await?,
    )?
    .ok_or(StoreError::NotFound)
}

/// One application of the permit's organization, deleted or not.
#[tracing::instrument(name = "db.applications.get", skip_all, fields(db.system = "postgresql"))]
pub async fn get(
    conn: &mut AsyncPgConnection,
    permit: &ReadPermit,
    id: &AppId,
) -> StoreResult<Application> {
    let (row, hint): AppWithHint = apps_with_current_hint!()
        .filter(applications::organization_id.eq(permit.org()))
        .filter(applications::id.eq(id.as_str()))
        .select((AppRow::as_select(), client_secrets::hint.nullable()))
        .first(conn)
        .await?;
    row.into_domain(hint)
}

/// Position after which a page starts: the last row of the previous page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub create_time: DateTime<Utc>,
    pub id: String,
}

/// The listing query. The cursor is a row comparison, `(create_time, id) >
/// (t, id)`, which PostgreSQL turns into a range of the
/// `(organization_id, create_time, id)` index: a page deep in a large
/// organization starts where the previous one ended instead of scanning
/// every row before it. One static shape for every page (the first starts
/// after the epoch), so its prepared statement is cached per connection.
macro_rules! list_query {
    ($org:expr, $show_deleted:expr, $after_time:expr, $after_id:expr, $limit:expr) => {
        apps_with_current_hint!()
            .filter(applications::organization_id.eq($org))
            .filter(
                applications::delete_time
                    .is_null()
                    .or($show_deleted.into_sql::<diesel::sql_types::Bool>()),
            )
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "(applications.create_time, applications.id) > (",
                )
                .bind::<diesel::sql_types::Timestamptz, _>($after_time)
                .sql(", ")
                .bind::<diesel::sql_types::Text, _>($after_id)
                .sql(")"),
            )
            .select((AppRow::as_select(), client_secrets::hint.nullable()))
            .order((applications::create_time.asc(), applications::id.asc()))
            .limit($limit)
    };
}

/// Where a page starts: after `after`, or (the first page) after the epoch.
fn page_start(after: Option<&Cursor>) -> (DateTime<Utc>, &str) {
    match after {
        Some(c) => (c.create_time, c.id.as_str()),
        None => (DateTime::<Utc>::UNIX_EPOCH, ""),
    }
}

/// Up to `limit` applications of the permit's organization after `after`, in
/// (create_time, id) order, which is stable under concurrent inserts.
#[tracing::instrument(name = "db.applications.list", skip_all, fields(db.system = "postgresql"))]
pub async fn list(
    conn: &mut AsyncPgConnection,
    permit: &ReadPermit,
    show_deleted: bool,
    after: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Vec<Application>> {
    let (after_time, after_id) = page_start(after);
    let rows: Vec<AppWithHint> =
        list_query!(permit.org(), show_deleted, after_time, after_id, limit)
            .load(conn)
            .await?;
    rows.into_iter()
        .map(|(row, hint)| row.into_domain(hint))
        .collect()
}

/// The plan PostgreSQL picks for [`list`] in `org`, one line a row, for a
/// test that keeps deep pages from turning into scans again. (`EXPLAIN`
/// without `ANALYZE` reads no rows, so no permit is involved.)
pub async fn explain_list(
    conn: &mut AsyncPgConnection,
    org: &str,
    after: &Cursor,
) -> StoreResult<Vec<String>> {
    let (after_time, after_id) = page_start(Some(after));
    let query = list_query!(org, false, after_time, after_id, 50_i64);
    Ok(Explain(query).load::<String>(conn).await?)
}

/// The next rows without look-alike keys, after `after` by id: a range of
/// the partial index `applications_name_keys_pending`, so that start-up
/// costs nothing once every row is keyed, however many there are.
macro_rules! pending_name_keys {
    ($after:expr, $limit:expr) => {
        applications::table
            .filter(applications::name_keys_version.is_null())
            .filter(applications::id.gt($after))
            .order(applications::id.asc())
            .select((applications::id, applications::name))
            .limit($limit)
    };
}

/// The plan of start-up's query for rows still to be keyed.
pub async fn explain_pending_name_keys(conn: &mut AsyncPgConnection) -> StoreResult<Vec<String>> {
    Ok(Explain(pending_name_keys!("", 500_i64))
        .load::<String>(conn)
        .await?)
}

/// `EXPLAIN` in front of a query, with its binds.
#[derive(Debug, Clone, Copy)]
struct Explain<Q>(Q);

impl<Q> diesel::query_builder::QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> diesel::query_builder::Query for Explain<Q> {
    type SqlType = diesel::sql_types::Text;
}

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for Explain<Q>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql("EXPLAIN ");
        self.0.walk_ast(out.reborrow())
    }
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
        let pending: Vec<(String, String)> = pending_name_keys!(&after, BATCH).load(conn).await?;
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
