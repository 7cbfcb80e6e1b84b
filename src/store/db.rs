//! Database creation, migrations, the connection pool, and [`Db`]: the one
//! way a call runs its database work, statements on their own or a
//! transaction, bounded by the database timeout and the call's deadline.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use diesel::{QueryableByName, sql_query, sql_types::Bool};
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _, SimpleAsyncConnection as _,
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig, PoolError,
        bb8::{self, RunError},
    },
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};

use super::{
    StoreError, StoreResult,
    connect::{ConnectError, establish},
    outage::Outage,
};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The connection pool, and whether the database is known to be down
/// ([`Outage`]: calls then fail at once instead of waiting the connection
/// timeout). Derefs to the bb8 pool.
#[derive(Clone, Debug)]
pub struct Pool {
    inner: bb8::Pool<AsyncPgConnection>,
    outage: Arc<Outage>,
    max_size: u32,
}

impl std::ops::Deref for Pool {
    type Target = bb8::Pool<AsyncPgConnection>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

pub type PooledConn<'a> = bb8::PooledConnection<'a, AsyncPgConnection>;

/// Serialises migrations of replicas that start together.
const MIGRATION_LOCK_KEY: i64 = 0x6f61_7070_735f_6d69; // "oapps_mi"

/// Creates the database named in `url` when it does not exist yet, through the
/// server's `postgres` maintenance database. A failure that waiting cannot
/// mend (a role that may not create databases) is a [`ConnectError`] that is
/// not transient.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    match establish(url).await {
        Ok(_) => return Ok(()),
        Err(e) if e.is_missing_database() => {}
        Err(e) => return Err(e.into()),
    }
    // Through tokio-postgres's parser, which takes several hosts.
    let mut admin_config = super::connect::parse(url)?;
    let name = admin_config.get_dbname().unwrap_or_default().to_owned();
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL names no database");
    admin_config.dbname("postgres");
    let cannot_create = |why: String| ConnectError {
        message: format!(
            "database {name:?} does not exist and cannot be created ({why}): create it \
             (`createdb {name}` as the postgres user) or let the role of DATABASE_URL \
             create databases (`ALTER ROLE ... CREATEDB`)"
        ),
        transient: false,
        sqlstate: None,
    };
    let mut admin = match super::connect::establish_with(&admin_config).await {
        Ok(admin) => admin,
        Err(e) if e.transient => return Err(e.into()),
        Err(e) => {
            return Err(cannot_create(format!("through the database `postgres`: {e}")).into());
        }
    };
    let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match sql_query(create).execute(&mut admin).await {
        Ok(_) => {
            tracing::info!(database = %name, "created database");
            Ok(())
        }
        // Another replica created it first.
        Err(e) if e.to_string().contains("already exists") => Ok(()),
        Err(e) => Err(cannot_create(e.to_string()).into()),
    }
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    #[allow(dead_code)]
    locked: bool,
}

/// Applies pending migrations under an advisory lock, so replicas starting at
/// the same time do not race.
pub async fn run_migrations(url: &str) -> anyhow::Result<()> {
    let conn = establish(url).await?;
    let mut conn: AsyncConnectionWrapper<AsyncPgConnection> = AsyncConnectionWrapper::from(conn);
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let lock = sql_query(format!(
            "SELECT pg_advisory_lock({MIGRATION_LOCK_KEY}) IS NULL AS locked"
        ));
        diesel::RunQueryDsl::load::<Locked>(lock, &mut conn)
            .context("taking the migration lock")?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"));
        let unlock = sql_query(format!(
            "SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY}) AS locked"
        ));
        let unlock = diesel::RunQueryDsl::load::<Locked>(unlock, &mut conn);
        let applied = applied?;
        unlock.context("releasing the migration lock")?;
        for version in applied {
            tracing::info!(%version, "applied migration");
        }
        Ok(())
    })
    .await
    .context("migration task panicked")?
}

/// A pool that starts empty, so the service starts even while the database is
/// briefly away, and that gives up on a connection after `connect_timeout`
/// rather than letting calls hang.
///
/// Every connection gets `statement_timeout`, so no statement outlives the
/// call that paid for it by much, even when that call was abandoned.
pub fn build_pool(
    url: &str,
    max_size: u32,
    connect_timeout: Duration,
    statement_timeout: Duration,
) -> Pool {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    let ms = statement_timeout.as_millis().max(1);
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        Box::pin(async move {
            let mut conn = establish(&url)
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.message))?;
            conn.batch_execute(&format!("SET statement_timeout = {ms}"))
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    let inner = bb8::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(connect_timeout)
        .test_on_check_out(false)
        .build_unchecked(manager);
    Pool {
        inner,
        outage: Arc::default(),
        max_size,
    }
}

impl Pool {
    /// Every connection exists and is in use: a checkout that times out
    /// then waited for a busy pool, not for a database that is down.
    fn is_saturated(&self) -> bool {
        let state = self.inner.state();
        state.connections >= self.max_size && state.idle_connections == 0
    }
}

/// When the client stops waiting: its `grpc-timeout` or the server's
/// default, whichever comes first; set at the edge for every call.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(pub Instant);

/// A statement bounded by a deadline is cancelled a hair before it: errors
/// this close to the deadline are the deadline's.
const DEADLINE_SLACK: Duration = Duration::from_millis(20);

/// What a transaction's error type must offer [`Db::transaction`]: room for
/// the store's errors, and a way to tell a statement timeout (which the
/// call's deadline may have caused) from the rest.
pub trait TransactionError: From<StoreError> + From<diesel::result::Error> + Send {
    fn is_statement_timeout(&self) -> bool;
    fn deadline_exceeded() -> Self;
}

/// An `AsyncFnOnce` whose future is `Send`, which `AsyncFnOnce` alone cannot
/// say on stable Rust (the same device diesel-async uses for its own
/// `transaction`).
pub trait SendAsyncFn<T, R>:
    AsyncFnOnce(T) -> R + FnOnce(T) -> <Self as SendAsyncFn<T, R>>::Fut
{
    type Fut: Future<Output = R> + Send;
}

impl<F, T, Fut, R> SendAsyncFn<T, R> for F
where
    F: AsyncFnOnce(T) -> R + FnOnce(T) -> Fut,
    Fut: Future<Output = R> + Send,
{
    type Fut = Fut;
}

/// The pool and the database timeout: every call's database work goes
/// through [`Db::run`] or [`Db::transaction`].
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    timeout: Duration,
}

impl Db {
    pub fn new(pool: Pool, timeout: Duration) -> Self {
        Self { pool, timeout }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Runs `work` on a pooled connection, outside a transaction, under the
    /// database timeout: reads, and writes that stand alone (a `jti` spent,
    /// a purge, a shared setting). A database that does not answer makes the
    /// call UNAVAILABLE, never a hang.
    pub async fn run<'a, T, F>(&self, work: F) -> StoreResult<T>
    where
        for<'c> F: AsyncFnOnce(&'c mut AsyncPgConnection) -> StoreResult<T>
            + SendAsyncFn<&'c mut AsyncPgConnection, StoreResult<T>>
            + Send
            + 'a,
        T: Send + 'a,
    {
        let run = async {
            let mut conn = checkout(&self.pool).await?;
            work(&mut conn).await
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the database did not answer in time".into(),
                ))
            })
    }

    /// Runs `work` in one transaction: all of it is committed, or none.
    ///
    /// There is no overall timeout here, on purpose: cutting a transaction
    /// off could abandon it after COMMIT was sent, and tell the client
    /// UNAVAILABLE about a change that did happen (losing a new secret with
    /// it). Its statements are bounded instead, by `statement_timeout`: the
    /// database timeout, or the client's deadline when that is nearer, so an
    /// abandoned call stops costing the database too. A statement cut off by
    /// the deadline is reported as the deadline passing.
    pub async fn transaction<'a, T, E, F>(
        &self,
        deadline: Option<Deadline>,
        work: F,
    ) -> Result<T, E>
    where
        for<'c> F: AsyncFnOnce(&'c mut AsyncPgConnection) -> Result<T, E>
            + SendAsyncFn<&'c mut AsyncPgConnection, Result<T, E>>
            + Send
            + 'a,
        E: TransactionError + 'a,
        T: Send + 'a,
    {
        let timeout = self.timeout;
        let result = async {
            let mut conn = checkout(&self.pool).await?;
            conn.transaction::<T, E, _>(async move |conn| {
                if let Some(Deadline(at)) = deadline {
                    let remaining = at.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        return Err(E::deadline_exceeded());
                    }
                    if remaining < timeout {
                        bound_transaction(conn, remaining).await?;
                    }
                }
                work(conn).await
            })
            .await
        }
        .await;
        match result {
            Err(e)
                if e.is_statement_timeout()
                    && deadline
                        .is_some_and(|Deadline(at)| at <= Instant::now() + DEADLINE_SLACK) =>
            {
                Err(E::deadline_exceeded())
            }
            other => other,
        }
    }
}

/// Takes a connection from the pool, recording the wait as a metric and a span.
///
/// A pooled connection whose server went away (a restart, a failover) is
/// known locally as closed: it is dropped (the pool then discards it) and
/// another is taken, so a database that came back serves the very next call.
pub async fn checkout(pool: &Pool) -> StoreResult<PooledConn<'_>> {
    use tracing::Instrument as _;
    if pool.outage.is_down() {
        return Err(StoreError::Unavailable(
            "the database is down (known from an earlier call; reconnecting in the background)"
                .into(),
        ));
    }
    let started = std::time::Instant::now();
    let result = usable(&pool.inner)
        .instrument(tracing::debug_span!("db.pool.get"))
        .await;
    crate::telemetry::metrics::get()
        .pool_wait
        .record(started.elapsed().as_secs_f64(), &[]);
    let no_connection = match &result {
        Err(RunError::TimedOut) => !pool.is_saturated(),
        Err(RunError::User(PoolError::ConnectionError(_))) => true,
        _ => false,
    };
    if no_connection && pool.outage.went_down() {
        tracing::warn!("no database connection: calls fail at once until one is made");
        let inner = pool.inner.clone();
        pool.outage.probe(move || {
            let inner = inner.clone();
            async move { usable(&inner).await.is_ok() }
        });
    }
    Ok(result?)
}

/// A connection that is not known to be broken.
///
/// A pooled connection whose server went away (a restart, a failover) is
/// known locally as closed: it is dropped (the pool then discards it) and
/// another is taken, so a database that came back serves the very next call.
async fn usable(pool: &bb8::Pool<AsyncPgConnection>) -> Result<PooledConn<'_>, RunError> {
    use diesel_async::pooled_connection::PoolableConnection as _;
    for _ in 0..=pool.state().connections {
        let mut conn = pool.get().await?;
        if !conn.is_broken() {
            return Ok(conn);
        }
    }
    pool.get().await
}

/// Bounds the statements of the surrounding transaction to `remaining`, the
/// time the client is still willing to wait.
async fn bound_transaction(conn: &mut AsyncPgConnection, remaining: Duration) -> StoreResult<()> {
    let ms = remaining.as_millis().max(1);
    conn.batch_execute(&format!("SET LOCAL statement_timeout = {ms}"))
        .await?;
    Ok(())
}

/// A trivial query, to tell whether the database answers.
pub async fn ping(pool: &Pool) -> StoreResult<()> {
    let mut conn = checkout(pool).await?;
    sql_query("SELECT 1").execute(&mut *conn).await?;
    Ok(())
}
