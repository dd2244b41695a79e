//! What every request shares: built once at start-up.

use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use formula_cache::{Cache, Lookup};
use formula_db::{DbError, DynStore};
use serde::de::DeserializeOwned;
use serde::Serialize;

use secrecy::ExposeSecret;
use svix::webhooks::Webhook;

use crate::config::Config;
use crate::cron::Chores;
use crate::error::ApiError;
use crate::loads::LoadLimiter;
use crate::session::SessionVerifier;
use anyhow::Context;

#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
    pub config: Config,
    pub db: DynStore,
    pub cache: Cache,
    /// Verifies Clerk's webhooks; `None` without a configured secret.
    pub webhook: Option<Webhook>,
    /// Verifies session tokens; `None` in `AUTH_MODE=none`.
    pub sessions: Option<SessionVerifier>,
    /// The keep-alive's once-a-minute and once-an-hour chores.
    pub chores: Chores,
    /// Bounds the database loads of cache misses (see `loads.rs`).
    pub loads: LoadLimiter,
}

impl AppState {
    pub fn new(config: Config, db: DynStore, cache: Cache) -> anyhow::Result<Self> {
        let webhook = config
            .webhook_secret
            .as_ref()
            .map(|secret| Webhook::new(secret.expose_secret()))
            .transpose()
            .context("CLERK_WEBHOOK_SIGNING_SECRET")?;
        let sessions = config
            .session
            .as_ref()
            .map(SessionVerifier::new)
            .transpose()
            .map_err(|reason| anyhow::anyhow!("Clerk session verification: {reason}"))?;
        let loads = LoadLimiter::for_pool(config.database_max_connections);
        Ok(AppState(Arc::new(App {
            config,
            db,
            cache,
            webhook,
            sessions,
            chores: Chores::default(),
            loads,
        })))
    }

    /// The JSON of a cached value, or of what `load` reads from the database on a miss (the
    /// query is not even built on a hit). A load waits for a place among the bounded database
    /// loads; with none free soon enough the request answers 503 with `Retry-After`.
    pub async fn read_through<T, Fut>(
        &self,
        key: &str,
        load: impl FnOnce() -> Fut,
    ) -> Result<(Bytes, Lookup), ApiError>
    where
        T: Serialize + DeserializeOwned,
        Fut: std::future::Future<Output = Result<T, DbError>>,
    {
        self.cache
            .get_or_load(key, || async {
                let _place = self.loads.admit().await?;
                Ok(load().await?)
            })
            .await
    }

    /// Runs a database write, then drops the cache keys it made stale: invalidation after the
    /// commit, so no reader can cache the old rows after the write answered.
    pub async fn write_then_invalidate<T>(
        &self,
        stale: &[String],
        write: impl std::future::Future<Output = Result<T, DbError>>,
    ) -> Result<T, ApiError> {
        let written = write.await;
        // A failure other than "not found" may have committed before the connection broke.
        if !matches!(written, Err(DbError::NotFound(_))) {
            self.cache.invalidate(stale).await;
        }
        Ok(written?)
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
