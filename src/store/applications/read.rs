//! Reads: by id within the permit's organization, by client_id across
//! organizations (service calls), and the listing. Query shapes are
//! `auto_type` functions, so each is written once and shared by the call
//! and the plan tests.

use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, IntoSql as _, JoinOnDsl as _,
    NullableExpressionMethods as _, QueryDsl as _, SelectableHelper as _,
    dsl::{self, AsExprOf},
    expression::{SqlLiteral, UncheckedBind},
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{Bool, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use super::{AppRow, SLOT_CURRENT};
use crate::{
    auth::{ReadPermit, ServicePermit},
    domain::{AppId, AppWithSecrets, Application, LiveSecret, SecretHash, jwk::KeySet},
    store::{
        StoreError, StoreResult,
        schema::{applications, client_secrets},
    },
};

/// Slot, PHC hash, hint, checksum flag and expiry of a stored secret.
type SecretColumns = (String, String, String, bool, Option<DateTime<Utc>>);

/// Applications, each with its current secret's row if it has one.
#[dsl::auto_type]
fn apps_with_current_hint() -> _ {
    let slot: &'static str = SLOT_CURRENT;
    applications::table.left_join(
        client_secrets::table.on(client_secrets::application_id
            .eq(applications::id)
            .and(client_secrets::slot.eq(slot))),
    )
}

/// Applications with every stored secret, one row per secret (or one
/// without).
#[dsl::auto_type]
fn app_with_secrets() -> _ {
    let app: dsl::AsSelect<AppRow, Pg> = AppRow::as_select();
    applications::table
        .left_join(client_secrets::table.on(client_secrets::application_id.eq(applications::id)))
        .select((
            app,
            (
                client_secrets::slot,
                client_secrets::secret_hash,
                client_secrets::hint,
                client_secrets::checksummed,
                client_secrets::expire_time,
            )
                .nullable(),
        ))
}

/// An application of an organization by id, with its secrets: what a Get
/// runs on a cache miss (and what the benchmark's pgbench runs, read off
/// the wire).
#[dsl::auto_type]
fn app_with_secrets_by_id<'a>(org: &'a str, id: &'a str) -> _ {
    app_with_secrets()
        .filter(applications::organization_id.eq(org))
        .filter(applications::id.eq(id))
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
        Some(row) => {
            let app = row.into_domain(current_hint)?;
            let client_keys = KeySet::registered(app.jwks.as_deref());
            Ok(Some(AppWithSecrets {
                app,
                secrets,
                client_keys,
            }))
        }
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
        app_with_secrets()
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
        app_with_secrets_by_id(permit.org(), id.as_str())
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
    let (row, hint): (AppRow, Option<String>) = apps_with_current_hint()
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

/// `(applications.create_time, applications.id) > ($time, $id)`: a row
/// comparison, which Diesel's DSL cannot say.
type After<'a> = SqlLiteral<
    Bool,
    UncheckedBind<
        SqlLiteral<Bool, UncheckedBind<SqlLiteral<Bool>, AsExprOf<DateTime<Utc>, Timestamptz>>>,
        AsExprOf<&'a str, Text>,
    >,
>;

fn after<'a>(time: DateTime<Utc>, id: &'a str) -> After<'a> {
    dsl::sql::<Bool>("(applications.create_time, applications.id) > (")
        .bind::<Timestamptz, _>(time)
        .sql(", ")
        .bind::<Text, _>(id)
        .sql(")")
}

/// The listing query. The cursor is a row comparison, `(create_time, id) >
/// (t, id)`, which PostgreSQL turns into a range of the
/// `(organization_id, create_time, id)` index: a page deep in a large
/// organization starts where the previous one ended instead of scanning
/// every row before it. One static shape for every page (the first starts
/// after the epoch), so its prepared statement is cached per connection.
#[dsl::auto_type]
fn list_query<'a>(
    org: &'a str,
    show_deleted: bool,
    start: (DateTime<Utc>, &'a str),
    limit: i64,
) -> _ {
    let shown: AsExprOf<bool, Bool> = show_deleted.into_sql::<Bool>();
    let after: After<'a> = after(start.0, start.1);
    let hint: dsl::Nullable<client_secrets::hint> = client_secrets::hint.nullable();
    let app: dsl::AsSelect<AppRow, Pg> = AppRow::as_select();
    apps_with_current_hint()
        .filter(applications::organization_id.eq(org))
        .filter(applications::delete_time.is_null().or(shown))
        .filter(after)
        .select((app, hint))
        .order((applications::create_time.asc(), applications::id.asc()))
        .limit(limit)
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
    let rows: Vec<(AppRow, Option<String>)> =
        list_query(permit.org(), show_deleted, page_start(after), limit)
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
    let query = list_query(org, false, page_start(Some(after)), 50);
    Ok(Explain(query).load::<String>(conn).await?)
}

/// The next rows without look-alike keys, after `after` by id: a range of
/// the partial index `applications_name_keys_pending`, so that start-up
/// costs nothing once every row is keyed, however many there are.
#[dsl::auto_type]
pub(super) fn pending_name_keys<'a>(after: &'a str, limit: i64) -> _ {
    applications::table
        .filter(applications::name_keys_version.is_null())
        .filter(applications::id.gt(after))
        .order(applications::id.asc())
        .select((applications::id, applications::name))
        .limit(limit)
}

/// The plan of start-up's query for rows still to be keyed.
pub async fn explain_pending_name_keys(conn: &mut AsyncPgConnection) -> StoreResult<Vec<String>> {
    Ok(Explain(pending_name_keys("", 500))
        .load::<String>(conn)
        .await?)
}

/// `EXPLAIN` in front of a query, with its binds.
#[derive(Debug, Clone, Copy)]
struct Explain<Q>(Q);

impl<Q> QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<Q> {
    type SqlType = Text;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        out.push_sql("EXPLAIN ");
        self.0.walk_ast(out.reborrow())
    }
}
