//! One LISTEN connection per replica, for every cache kept correct by the
//! database's notifications (roles, applications).
//!
//! Why a cache cannot keep a stale answer past a committed change plus the
//! notification's delivery: every committed change is announced by a
//! trigger (so the CLI and psql count too), and the listener applies each
//! notification to its cache as it arrives. A cache answers only while the
//! listener is subscribed: the moment the connection is lost, every cache is
//! emptied and turned off, and every lookup goes to the database until a new
//! subscription is in place. Only a notification that comes back proves the
//! path works (a transaction-pooling proxy, say, would swallow them), so
//! the listener sends itself one before the caches go live, and again
//! whenever the connection has been quiet for a few seconds.

use std::{sync::Arc, time::Duration};

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection as _};
use futures_util::StreamExt as _;

use crate::{auth::RoleCache, domain::ids::random_base62};

/// How often the listener proves that its connection still delivers.
const PROBE_EVERY: Duration = Duration::from_secs(5);
/// How the listener's connection shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "oauth-apps listener";
/// The channel the listener's own probes travel on.
const PROBE_CHANNEL: &str = "oauth_apps_probe";

/// A cache that follows one channel.
pub trait Subscriber: Send + Sync {
    fn channel(&self) -> &'static str;
    /// A committed change, as the channel's trigger describes it.
    fn invalidate(&self, payload: &str);
    /// Turned on once notifications are known to arrive, off (and emptied)
    /// when that is no longer known.
    fn set_live(&self, live: bool);
}

impl Subscriber for RoleCache {
    fn channel(&self) -> &'static str {
        crate::auth::roles::CHANNEL
    }

    fn invalidate(&self, payload: &str) {
        RoleCache::invalidate(self, payload);
    }

    fn set_live(&self, live: bool) {
        RoleCache::set_live(self, live);
    }
}

/// Keeps the subscription open and applies notifications to `caches`,
/// reconnecting after failures, until `stop` changes.
pub async fn listen(
    database_url: String,
    caches: Vec<Arc<dyn Subscriber>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let all_live = |live: bool| caches.iter().for_each(|c| c.set_live(live));
    loop {
        let result = tokio::select! {
            r = subscribe_and_follow(&database_url, &caches) => r,
            _ = stop.changed() => {
                all_live(false);
                return;
            }
        };
        all_live(false);
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
    probe(&mut conn, caches).await?;
    caches.iter().for_each(|c| c.set_live(true));
    tracing::debug!("notification listener subscribed");
    loop {
        let next = {
            let mut stream = std::pin::pin!(conn.notifications_stream());
            tokio::time::timeout(PROBE_EVERY, stream.next()).await
        };
        match next {
            Ok(Some(Ok(n))) => deliver(caches, &n.channel, &n.payload),
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => anyhow::bail!("listener connection closed"),
            Err(_) => probe(&mut conn, caches).await?,
        }
    }
}

/// Sends a notification to ourselves and waits for it (applying any real
/// ones that arrive first). Fails when it does not come back in time.
async fn probe(conn: &mut AsyncPgConnection, caches: &[Arc<dyn Subscriber>]) -> anyhow::Result<()> {
    let token = random_base62(16);
    let round_trip = async {
        conn.batch_execute(&format!("NOTIFY {PROBE_CHANNEL}, '{token}'"))
            .await?;
        let mut stream = std::pin::pin!(conn.notifications_stream());
        while let Some(n) = stream.next().await {
            let n = n?;
            if n.channel == PROBE_CHANNEL {
                if n.payload == token {
                    return Ok(());
                }
                continue;
            }
            deliver(caches, &n.channel, &n.payload);
        }
        anyhow::bail!("listener connection closed")
    };
    tokio::time::timeout(PROBE_EVERY, round_trip)
        .await
        .map_err(|_| anyhow::anyhow!("the listener's own notification did not come back"))?
}
