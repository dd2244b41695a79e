//! Postgres LISTEN/NOTIFY, for telling other instances of the service which cache keys a write
//! made stale. Nothing new to run: the database they already share carries the messages.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

use crate::DbError;

/// The channel every instance listens on.
pub const CHANNEL: &str = "formula_cache_invalidation";

/// Publishes to `CHANNEL` and opens listeners on it.
pub struct PgNotifier {
    pool: PgPool,
}

/// One instance's subscription to `CHANNEL`.
pub struct PgSubscription {
    listener: PgListener,
}

impl PgNotifier {
    /// Connects to `url`, which must be a direct connection (LISTEN does not work through a
    /// transaction-mode pooler).
    pub async fn connect(url: &str) -> Result<PgNotifier, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(crate::postgres_options(url)?)
            .await
            .map_err(DbError::connecting)?;
        Ok(PgNotifier { pool })
    }

    pub async fn publish(&self, payload: &str) -> Result<(), DbError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn subscribe(&self) -> Result<PgSubscription, DbError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(PgSubscription { listener })
    }
}

impl PgSubscription {
    /// The next message; `Ok(None)` when the connection was lost (it reconnects on the next call,
    /// and messages sent meanwhile are missed).
    pub async fn next(&mut self) -> Result<Option<String>, DbError> {
        Ok(self
            .listener
            .try_recv()
            .await?
            .map(|notification| notification.payload().to_owned()))
    }
}
