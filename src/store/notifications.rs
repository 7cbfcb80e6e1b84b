//! One LISTEN connection per replica: the role cache's invalidations, and
//! the change feed's wake-ups.
//!
//! Why the role cache cannot keep a stale answer past a committed change
//! plus [`MAX_LAG`]: every committed change to `memberships` is announced
//! by a trigger (so the CLI and psql count too), and the listener applies
//! each notification to its cache as it arrives. Notifications arrive in
//! commit order, so when a notification the listener sent itself comes
//! back, every change committed before it was sent has been applied: the
//! listener sends one every [`PROBE_EVERY`], busy or not, and each that
//! returns proves the cache current as of its sending ([`Freshness`]). A
//! cache answers only while its last proof is younger than [`MAX_LAG`]: a
//! connection that is lost, or open but black-holed (nothing forwarded),
//! or a proxy that swallows notifications, silences it within that bound.
//! When the connection is lost, the caches are emptied too, and a new
//! subscription proves itself before they answer again.
//!
//! The change feed's reader does not depend on this connection for
//! correctness: its notifications only wake it sooner than its poll.
//!
//! [`MAX_LAG`]: crate::domain::freshness::MAX_LAG
//! [`Freshness`]: crate::domain::freshness::Freshness

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection as _};
use futures_util::StreamExt as _;

use crate::{auth::RoleCache, domain::ids::random_base62};

/// How often the listener proves that its connection still delivers.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long a probe may take to come back before the connection is
/// given up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How the listener's connection shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "oauth-apps listener";
/// The channel the listener's own probes travel on.
const PROBE_CHANNEL: &str = "oauth_apps_probe";

/// A cache that follows one channel.
pub trait Subscriber: Send + Sync {
    fn channel(&self) -> &'static str;
    /// A committed change, as the channel's trigger describes it.
    fn invalidate(&self, payload: &str);
    /// The subscription was lost or is new: forget everything.
    fn reset(&self);
    /// Every notification committed before `as_of` has been delivered.
    fn proven(&self, as_of: Instant);
}

impl Subscriber for RoleCache {
    fn channel(&self) -> &'static str {
        crate::auth::roles::CHANNEL
    }

    fn invalidate(&self, payload: &str) {
        RoleCache::invalidate(self, payload);
    }

    fn reset(&self) {
        RoleCache::reset(self);
    }

    fn proven(&self, as_of: Instant) {
        RoleCache::proven(self, as_of);
    }
}

/// Keeps the subscription open and applies notifications to `caches`,
/// reconnecting after failures, until `stop` changes.
pub async fn listen(
    database_url: String,
    caches: Vec<Arc<dyn Subscriber>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let reset = || caches.iter().for_each(|c| c.reset());
    loop {
        let result = tokio::select! {
            r = subscribe_and_follow(&database_url, &caches) => r,
            _ = stop.changed() => {
                reset();
                return;
            }
        };
        reset();
        if let Err(e) = result {
            tracing::warn!(error = %e, "notification listener lost; caches are off until it is back");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn deliver(caches: &[Arc<dyn Subscriber>], channel: &str, payload: &str) {
    for c in caches.iter().filter(|c| c.channel() == channel) {
        c.invalidate(payload);
    }
}

async fn subscribe_and_follow(
    database_url: &str,
    caches: &[Arc<dyn Subscriber>],
) -> anyhow::Result<()> {
    let mut conn = super::establish(database_url).await?;
    let mut listen =
        format!("SET application_name = '{APPLICATION_NAME}'; LISTEN {PROBE_CHANNEL};");
    for c in caches {
        listen.push_str(&format!("LISTEN {};", c.channel()));
    }
    conn.batch_execute(&listen).await?;
    caches.iter().for_each(|c| c.reset());
    probe(&mut conn, caches).await?;
    tracing::debug!("notification listener subscribed");
    let mut next_probe = tokio::time::Instant::now() + PROBE_EVERY;
    loop {
        let next = {
            let mut stream = std::pin::pin!(conn.notifications_stream());
            tokio::time::timeout_at(next_probe, stream.next()).await
        };
        match next {
            Ok(Some(Ok(n))) => deliver(caches, &n.channel, &n.payload),
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => anyhow::bail!("listener connection closed"),
            Err(_) => {
                probe(&mut conn, caches).await?;
                next_probe = tokio::time::Instant::now() + PROBE_EVERY;
            }
        }
    }
}

/// Sends a notification to ourselves and waits for it (applying any real
/// ones that arrive first); when it is back, the caches are proven current
/// as of its sending. Fails when it does not come back in time.
async fn probe(conn: &mut AsyncPgConnection, caches: &[Arc<dyn Subscriber>]) -> anyhow::Result<()> {
    let token = random_base62(16);
    let sent = Instant::now();
    let round_trip = async {
        conn.batch_execute(&format!("NOTIFY {PROBE_CHANNEL}, '{token}'"))
            .await?;
        let mut stream = std::pin::pin!(conn.notifications_stream());
        while let Some(n) = stream.next().await {
            let n = n?;
            if n.channel == PROBE_CHANNEL {
                if n.payload == token {
                    caches.iter().for_each(|c| c.proven(sent));
                    return Ok(());
                }
                continue;
            }
            deliver(caches, &n.channel, &n.payload);
        }
        anyhow::bail!("listener connection closed")
    };
    tokio::time::timeout(PROBE_TIMEOUT, round_trip)
        .await
        .map_err(|_| anyhow::anyhow!("the listener's own notification did not come back"))?
}
