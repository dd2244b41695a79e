//! Other instances sharing this Postgres: each invalidation is published with NOTIFY, and every
//! instance's listener evicts the keys from its in-process cache within moments. On SQLite there is
//! one process and nothing to do.
//!
//! LISTEN needs a direct connection: behind a transaction-mode pooler (Neon's `-pooler` hosts) it
//! runs on `DATABASE_URL_UNPOOLED`. Publishing never holds up a write: messages go through a
//! bounded queue to one task; when the queue is full (the database is down or slow) a message is
//! dropped, and the peers' copies expire with `LOCAL_CACHE_TTL_SECONDS`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use formula_cache::{Cache, Peers};
use formula_db::{DbKind, DynStore, PgNotifier, PgSubscription};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Messages waiting to be published at most; beyond, new ones are dropped.
const QUEUE: usize = 1024;
/// One NOTIFY gives up after this long.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, Deserialize)]
struct Message {
    /// The instance that published it (which ignores its own messages).
    from: u64,
    keys: Vec<String>,
}

struct PostgresPeers {
    queue: mpsc::Sender<String>,
    instance: u64,
}

#[async_trait]
impl Peers for PostgresPeers {
    async fn publish(&self, keys: &[String]) {
        let message = Message {
            from: self.instance,
            keys: keys.to_vec(),
        };
        let Ok(payload) = serde_json::to_string(&message) else {
            return;
        };
        if self.queue.try_send(payload).is_err() {
            metrics::counter!("peer_messages_dropped_total").increment(1);
            tracing::debug!("invalidation message to other instances dropped: queue full");
        }
    }
}

/// On Postgres with a direct connection (`direct_url`): publishes this cache's invalidations and
/// applies everyone else's. Without one, says that other instances are not told.
pub async fn connect(
    direct_url: Option<&str>,
    db: &DynStore,
    cache: &Cache,
    local_ttl: Duration,
) -> anyhow::Result<()> {
    if db.kind() != DbKind::Postgres {
        return Ok(());
    }
    let Some(url) = direct_url else {
        tracing::warn!(
            seconds = local_ttl.as_secs(),
            "DATABASE_URL goes through a pooler and DATABASE_URL_UNPOOLED is not set: \
             cross-instance eviction is off; other instances' in-process values live at most \
             LOCAL_CACHE_TTL_SECONDS"
        );
        return Ok(());
    };
    let notifier = PgNotifier::connect(url)
        .await
        .context("connecting for cache invalidation messages (LISTEN/NOTIFY)")?;
    let subscription = notifier
        .subscribe()
        .await
        .context("listening for cache invalidation messages")?;
    let instance = rand::random::<u64>();
    let (queue, messages) = mpsc::channel(QUEUE);
    tokio::spawn(apply_messages(subscription, cache.clone(), instance));
    tokio::spawn(publish_messages(notifier, messages));
    cache.set_peers(Arc::new(PostgresPeers { queue, instance }));
    Ok(())
}

async fn publish_messages(notifier: PgNotifier, mut messages: mpsc::Receiver<String>) {
    while let Some(payload) = messages.recv().await {
        match tokio::time::timeout(PUBLISH_TIMEOUT, notifier.publish(&payload)).await {
            Ok(Ok(())) => {}
            // Peers' in-process values then expire with LOCAL_CACHE_TTL_SECONDS.
            Ok(Err(error)) => {
                tracing::warn!(%error, "could not notify other instances of an invalidation")
            }
            Err(_) => tracing::warn!("notifying other instances of an invalidation timed out"),
        }
    }
}

async fn apply_messages(mut subscription: PgSubscription, cache: Cache, instance: u64) {
    loop {
        match subscription.next().await {
            Ok(Some(payload)) => match serde_json::from_str::<Message>(&payload) {
                Ok(message) if message.from != instance => cache.evict_local(&message.keys).await,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "unreadable cache invalidation message"),
            },
            Ok(None) => {
                tracing::warn!("invalidation listener reconnecting; dropping the in-process cache");
                cache.clear_local();
            }
            Err(error) => {
                tracing::warn!(%error, "invalidation listener failed; retrying");
                cache.clear_local();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
