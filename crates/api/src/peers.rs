//! Other instances sharing this Postgres: each invalidation is published with NOTIFY, and every
//! instance's listener evicts the keys from its in-process cache within moments. On SQLite there is
//! one process and nothing to do.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use formula_cache::{Cache, Peers};
use formula_db::{DbKind, DynStore, PgNotifier, PgSubscription};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::Config;

#[derive(Serialize, Deserialize)]
struct Message {
    /// The instance that published it (which ignores its own messages).
    from: u64,
    keys: Vec<String>,
}

struct PostgresPeers {
    notifier: PgNotifier,
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
        if let Err(error) = self.notifier.publish(&payload).await {
            // Peers' in-process values then expire with LOCAL_CACHE_TTL_SECONDS.
            tracing::warn!(%error, "could not notify other instances of an invalidation");
        }
    }
}

/// On Postgres: publishes this cache's invalidations and applies everyone else's.
pub async fn connect(config: &Config, db: &DynStore, cache: &Cache) -> anyhow::Result<()> {
    if db.kind() != DbKind::Postgres {
        return Ok(());
    }
    let notifier = PgNotifier::connect(config.database_url.expose_secret())
        .await
        .context("connecting for cache invalidation messages (LISTEN/NOTIFY)")?;
    let subscription = notifier
        .subscribe()
        .await
        .context("listening for cache invalidation messages")?;
    let instance = rand::random::<u64>();
    tokio::spawn(apply_messages(subscription, cache.clone(), instance));
    cache.set_peers(Arc::new(PostgresPeers { notifier, instance }));
    Ok(())
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
