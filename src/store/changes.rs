//! The change feed's table, `application_changes` (the migration
//! `application_changes` writes it, by trigger, in the transaction of each
//! change), read in an order every replica agrees on, without gaps.
//!
//! # Position and order
//!
//! A change's position is `(xid, pos)`: the id of the transaction that
//! wrote it (`pg_current_xact_id()`, 64 bits, never reused) and a sequence
//! number that orders a transaction's own changes. Both are stored in the
//! row, so a position means the same on every replica and after any
//! restart: a resume token names one, and any replica continues from it.
//!
//! # Why no reader skips a transaction that commits late
//!
//! A sequence alone is not enough: a transaction can take number 10, then
//! commit after the one that took 11, and a reader that already moved past
//! 11 would never see 10. So a read returns only rows of transactions below
//! the oldest one of this database still running (`pg_snapshot_xmin`,
//! narrowed to this database: [`BOUND_SQL`]), taken before the rows are
//! read: every transaction below it has ended
//! (committed, and then visible to the read, or rolled back, and then it
//! left no row), and a transaction that has not yet written gets an xid
//! above every xid given out so far, so none can ever add a row below it.
//! The set of rows below the bound is therefore final when it is read; a
//! reader that remembers the bound as its position (`(bound, 0)`) has seen
//! everything before it, exactly once. A transaction held open holds the
//! bound back, and with it every later change, until it ends: it delays
//! the feed, never loses from it.
//!
//! The order is the xids' order: a transaction that began writing after
//! another committed comes after it, and the changes of one application
//! come in the order they were committed (the trigger refuses, as a
//! serialization failure, the rare write that would break this; see the
//! migration). Two overlapping transactions on different applications
//! come in the order they began writing.
//!
//! # Across crashes and failovers
//!
//! A position is handed out only once the read that found it has committed
//! with a transaction id of its own ([`durable_on_commit`]): that flushes,
//! and replicates to a synchronous standby, the end of every transaction
//! below the bound, so a crashed server or a promoted standby never hands
//! one of their ids out again. (What remains: a transaction of another
//! database given an id in the microseconds before its first log record,
//! at a crash.) The replicas' caches do not rely even on this: their
//! reader empties the cache when the server is another one.
//!
//! # A snapshot, then the feed
//!
//! [`snapshot`] reads the live applications and the position to continue
//! from in one REPEATABLE READ transaction, so both describe the same
//! instant: everything below the snapshot's xmin is in it, and so are the
//! transactions at or above xmin that had committed (their xids are listed
//! in the position as `skip`, so the feed does not deliver them again).

use chrono::{DateTime, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Nullable, Text, Timestamptz},
};
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _, SimpleAsyncConnection as _,
};

use super::{StoreError, StoreResult, applications::AppRow};
use crate::domain::Application;

/// Where a reader stands: after every change up to `(xid, pos)`, and after
/// the transactions in `skip` (at or above `xid`, already in a snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub xid: i64,
    pub pos: i64,
    pub skip: Vec<i64>,
}

impl Position {
    /// Moves past `(xid, pos)`, forgetting skipped transactions it passed.
    pub fn advance(&mut self, xid: i64, pos: i64) {
        if (xid, pos) > (self.xid, self.pos) {
            (self.xid, self.pos) = (xid, pos);
            self.skip.retain(|&s| s >= xid);
        }
    }

    /// Whether a change at `(xid, pos)` comes after this position.
    pub fn is_before(&self, xid: i64, pos: i64) -> bool {
        (xid, pos) > (self.xid, self.pos) && !self.skip.contains(&xid)
    }
}

/// What a change did, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
    Undeleted,
    SecretRotated,
}

impl ChangeKind {
    fn from_db(s: &str) -> Option<Self> {
        Some(match s {
            "created" => Self::Created,
            "updated" => Self::Updated,
            "deleted" => Self::Deleted,
            "undeleted" => Self::Undeleted,
            "secret_rotated" => Self::SecretRotated,
            _ => return None,
        })
    }
}

/// One committed change, with the application's state right after it.
#[derive(Clone, Debug)]
pub struct Change {
    pub xid: i64,
    pub pos: i64,
    pub kind: ChangeKind,
    pub application: Application,
    /// When the change was written, in its transaction (which committed
    /// soon after).
    pub time: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct ChangeRow {
    #[diesel(sql_type = BigInt)]
    change_xid: i64,
    #[diesel(sql_type = BigInt)]
    change_pos: i64,
    #[diesel(sql_type = Text)]
    change_type: String,
    #[diesel(sql_type = Timestamptz)]
    change_time: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    secret_hint: Option<String>,
    #[diesel(embed)]
    app: AppRow,
}

#[derive(QueryableByName)]
struct Bound {
    #[diesel(sql_type = BigInt)]
    bound: i64,
    #[diesel(sql_type = Array<BigInt>)]
    committed: Vec<i64>,
}

/// A batch of changes and the position after it.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub changes: Vec<Change>,
    /// Past every change returned and every transaction below the bound.
    pub end: Position,
    /// Whether the batch stopped at the limit (more may be waiting).
    pub full: bool,
    /// The transaction id below which every change was final when read.
    pub bound: i64,
}

/// The committed changes after `after` (of `org` only, when given), in
/// order, at most `limit` of them. See the module doc for why this never
/// skips nor repeats.
pub async fn read_after(
    conn: &mut AsyncPgConnection,
    after: &Position,
    org: Option<&str>,
    limit: i64,
) -> StoreResult<Batch> {
    conn.transaction::<_, StoreError, _>(async |conn| {
        durable_on_commit(conn).await?;
        rows_after(conn, after, org, limit).await
    })
    .await
}

async fn rows_after(
    conn: &mut AsyncPgConnection,
    after: &Position,
    org: Option<&str>,
    limit: i64,
) -> StoreResult<Batch> {
    // The bound first, then the rows below it: whatever the second
    // statement sees below a bound the first one took is final too.
    let bound = xmin(conn).await?;
    let rows: Vec<ChangeRow> = sql_query(
        "SELECT c.xid::text::int8 AS change_xid, c.pos AS change_pos, c.change_type, \
                c.create_time AS change_time, c.application->>'secret_hint' AS secret_hint, a.* \
         FROM application_changes c, \
              LATERAL jsonb_populate_record(NULL::applications, c.application) a \
         WHERE (c.xid, c.pos) > ($1::text::xid8, $2) AND c.xid < $6::text::xid8 \
           AND c.xid::text::int8 <> ALL($3) AND ($4::text IS NULL OR c.organization_id = $4) \
         ORDER BY c.xid, c.pos LIMIT $5",
    )
    .bind::<Text, _>(after.xid.to_string())
    .bind::<BigInt, _>(after.pos)
    .bind::<Array<BigInt>, _>(&after.skip)
    .bind::<Nullable<Text>, _>(org)
    .bind::<BigInt, _>(limit)
    .bind::<Text, _>(bound.to_string())
    .load(conn)
    .await?;
    let full = rows.len() as i64 >= limit;
    let mut end = after.clone();
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        end.advance(row.change_xid, row.change_pos);
        changes.push(into_change(row)?);
    }
    if !full {
        // Everything below the bound has been read: that is the position.
        end.advance(bound, 0);
    }
    Ok(Batch {
        changes,
        end,
        full,
        bound,
    })
}

/// The applications (id, client_id) of the committed changes of
/// transactions at or above `bound`, at most `limit` of them. With the
/// bound of an earlier read of the same server, that is every change
/// committed since that read (a transaction below it had ended by then),
/// whether or not it is final in the feed's order yet: what a cache must
/// forget, in any order.
pub async fn touched_since(
    conn: &mut AsyncPgConnection,
    bound: i64,
    limit: i64,
) -> StoreResult<Vec<(String, String)>> {
    #[derive(QueryableByName)]
    struct Touched {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Text)]
        client_id: String,
    }
    let rows: Vec<Touched> = sql_query(
        "SELECT application_id AS id, application->>'client_id' AS client_id \
         FROM application_changes WHERE xid >= $1::text::xid8 LIMIT $2",
    )
    .bind::<Text, _>(bound.to_string())
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|t| (t.id, t.client_id)).collect())
}

fn into_change(row: ChangeRow) -> StoreResult<Change> {
    let kind = ChangeKind::from_db(&row.change_type)
        .ok_or_else(|| super::applications::corrupt("change type", &row.change_type))?;
    Ok(Change {
        xid: row.change_xid,
        pos: row.change_pos,
        kind,
        application: row.app.into_domain(row.secret_hint)?,
        time: row.change_time,
    })
}

/// The bound, in SQL: a transaction id below which every transaction of
/// this database had ended when the statement's snapshot was taken. The
/// server-wide `pg_snapshot_xmin` would do, but it waits for transactions
/// of every database on the server (another application's long report
/// would hold the feed back), so it is narrowed to this database's:
///
/// - at most the snapshot's xmax (later transactions are not in it);
/// - below every transaction running in this database now
///   (`pg_stat_activity.backend_xid`, which PostgreSQL shows for every
///   session whatever the role, and prepared transactions), read after the
///   snapshot was taken;
/// - below every transaction the snapshot saw running (`xip`), except those
///   still running in another database now: one that has ended since may
///   have been ours, and the snapshot does not see what it wrote.
///
/// So a transaction of this database below the bound had ended before the
/// snapshot: the snapshot and every later one see its rows if it
/// committed, and none can add rows below the bound later. The 32-bit ids
/// of `pg_stat_activity` are widened to 64 bits by their distance from
/// xmax.
const BOUND_SQL: &str = "\
    s AS (SELECT pg_current_snapshot() AS snap), \
    t AS (SELECT pg_snapshot_xmax(snap)::text::int8 AS xmax8 FROM s), \
    backends AS ( \
        SELECT datname = current_database() AS here, backend_xid::text::int8 AS x \
        FROM pg_stat_activity WHERE backend_xid IS NOT NULL \
        UNION ALL \
        SELECT database = current_database(), transaction::text::int8 FROM pg_prepared_xacts), \
    running AS ( \
        SELECT b.here, t.xmax8 + CASE WHEN d.d >= 2147483648 THEN d.d - 4294967296 ELSE d.d END AS x \
        FROM backends b, t, \
             LATERAL (SELECT ((b.x - (t.xmax8 & 4294967295)) + 4294967296) % 4294967296 AS d) d), \
    b AS ( \
        SELECT least(t.xmax8, \
                     (SELECT min(x) FROM running WHERE here), \
                     (SELECT min(v.x::text::int8) FROM s, pg_snapshot_xip(s.snap) v(x) \
                      WHERE v.x::text::int8 NOT IN (SELECT x FROM running WHERE NOT here))) AS x \
        FROM t)";

/// Every transaction of this database below this id has ended (see
/// [`BOUND_SQL`]).
async fn xmin(conn: &mut AsyncPgConnection) -> StoreResult<i64> {
    #[derive(QueryableByName)]
    struct Xmin {
        #[diesel(sql_type = BigInt)]
        x: i64,
    }
    let x: Xmin = sql_query(format!("WITH {BOUND_SQL} SELECT x FROM b"))
        .get_result(conn)
        .await?;
    Ok(x.x)
}

/// The bound and the transactions at or above it that the statement's
/// snapshot sees (committed ones that wrote changes): in a REPEATABLE READ
/// transaction, those its snapshot holds.
async fn bound(conn: &mut AsyncPgConnection) -> StoreResult<Bound> {
    let bound: Bound = sql_query(format!(
        "WITH {BOUND_SQL} \
         SELECT b.x AS bound, \
                coalesce((SELECT array_agg(DISTINCT c.xid::text::int8) FROM application_changes c \
                          WHERE c.xid >= b.x::text::xid8), '{{}}') AS committed \
         FROM b"
    ))
    .get_result(conn)
    .await?;
    Ok(bound)
}

/// When the database server started. A restart or a failover changes it,
/// and with it what a bound of an earlier read means: transaction ids that
/// were never made durable (an abort, a transaction cut off) may be handed
/// out again.
pub async fn server_started(conn: &mut AsyncPgConnection) -> StoreResult<String> {
    #[derive(QueryableByName)]
    struct Started {
        #[diesel(sql_type = Text)]
        t: String,
    }
    let s: Started = sql_query("SELECT pg_postmaster_start_time()::text AS t")
        .get_result(conn)
        .await?;
    Ok(s.t)
}

/// Gives the reading transaction an id of its own, so that its COMMIT
/// flushes the write-ahead log up to here (and waits for a synchronous
/// standby to have it) before any position it read is handed out. A
/// position stands above every transaction below its bound; each of those
/// had ended, but an aborted one's record may still be in memory only, and
/// a server that crashed, or a standby promoted, without it would hand
/// that id out again, to a change then sorted before the position and
/// skipped. Once the reader's commit is durable, every id below the bound
/// is too. (The reader's own id holds its bound below itself: harmless,
/// the next read passes it.)
async fn durable_on_commit(conn: &mut AsyncPgConnection) -> StoreResult<()> {
    conn.batch_execute("SELECT pg_current_xact_id()").await?;
    Ok(())
}

/// The position of "now": after every change committed so far.
pub async fn now(conn: &mut AsyncPgConnection) -> StoreResult<Position> {
    conn.transaction::<_, StoreError, _>(async |conn| {
        durable_on_commit(conn).await?;
        now_in(conn).await
    })
    .await
}

async fn now_in(conn: &mut AsyncPgConnection) -> StoreResult<Position> {
    let Bound { bound, committed } = bound(conn).await?;
    Ok(Position {
        xid: bound,
        pos: 0,
        skip: committed,
    })
}

/// Every live application (of `org`, when given) and the position that
/// continues after exactly them, read in one snapshot.
pub async fn snapshot(
    conn: &mut AsyncPgConnection,
    org: Option<&str>,
) -> StoreResult<(Vec<Application>, Position)> {
    conn.transaction::<_, StoreError, _>(async |conn| {
        conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await?;
        durable_on_commit(conn).await?;
        let position = now_in(conn).await?;
        let rows: Vec<SnapshotRow> = sql_query(
            "SELECT a.*, s.hint AS secret_hint FROM applications a \
             LEFT JOIN client_secrets s ON s.application_id = a.id AND s.slot = 'current' \
             WHERE a.delete_time IS NULL AND ($1::text IS NULL OR a.organization_id = $1) \
             ORDER BY a.organization_id, a.create_time, a.id",
        )
        .bind::<Nullable<Text>, _>(org)
        .load(conn)
        .await?;
        let apps = rows
            .into_iter()
            .map(|r| r.app.into_domain(r.secret_hint))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((apps, position))
    })
    .await
}

#[derive(QueryableByName)]
struct SnapshotRow {
    #[diesel(sql_type = Nullable<Text>)]
    secret_hint: Option<String>,
    #[diesel(embed)]
    app: AppRow,
}

/// The oldest change still kept, or `None` when there is none.
pub async fn oldest(conn: &mut AsyncPgConnection) -> StoreResult<Option<DateTime<Utc>>> {
    #[derive(QueryableByName)]
    struct Oldest {
        #[diesel(sql_type = Nullable<Timestamptz>)]
        t: Option<DateTime<Utc>>,
    }
    let o: Oldest = sql_query("SELECT min(create_time) AS t FROM application_changes")
        .get_result(conn)
        .await?;
    Ok(o.t)
}

/// Deletes, of the `batch` oldest changes in the feed's order, those
/// written before `before`; returns how many. The feed's order is that of
/// the changes' times but for a transaction held open; no index on the
/// time is kept for this (each write would pay for it).
pub async fn prune(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    batch: i64,
) -> StoreResult<usize> {
    Ok(sql_query(
        "DELETE FROM application_changes WHERE (xid, pos) IN \
         (SELECT xid, pos FROM (SELECT xid, pos, create_time FROM application_changes \
                                ORDER BY xid, pos LIMIT $2) oldest \
          WHERE create_time < $1)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(batch)
    .execute(conn)
    .await?)
}
