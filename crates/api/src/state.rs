//! What every request shares: built once at start-up.

use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use formula_cache::{Cache, Lookup};
use formula_db::{DbError, DynStore};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{Auth, Config};
use crate::cron::LastRuns;
use crate::error::ApiError;
use crate::loads::LoadLimiter;
use crate::outbox::Outbox;
use crate::session::SessionVerifier;

#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
    pub config: Config,
    pub db: DynStore,
    pub cache: Cache,
    /// Verifies session tokens; `None` in `AUTH_MODE=none`.
    pub sessions: Option<SessionVerifier>,
    /// When the keep-alive last wrote its heartbeat (once a minute at most) and pruned (hourly).
    pub last_runs: LastRuns,
    /// Bounds the database loads of cache misses (see `loads.rs`).
    pub loads: LoadLimiter,
    /// Applies the invalidations that writes recorded in the database.
    outbox: Outbox,
}

impl AppState {
    pub fn new(config: Config, db: DynStore, cache: Cache) -> anyhow::Result<Self> {
        let sessions = match &config.auth {
            Auth::None => None,
            Auth::Clerk(settings) => Some(
                SessionVerifier::new(settings)
                    .map_err(|reason| anyhow::anyhow!("Clerk session verification: {reason}"))?,
            ),
        };
        let loads = LoadLimiter::for_pool(config.database.max_connections);
        let outbox = Outbox::start(db.clone(), cache.clone());
        Ok(AppState(Arc::new(App {
            config,
            db,
            cache,
            outbox,
            sessions,
            last_runs: LastRuns::default(),
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

    /// Runs a database write (which records `stale`, the keys it makes stale, in the outbox in
    /// its transaction), then drops them: see `after_commit`.
    pub async fn write_then_invalidate<T>(
        &self,
        stale: &[String],
        write: impl std::future::Future<Output = Result<T, DbError>>,
    ) -> Result<T, ApiError> {
        let written = write.await;
        // A failure other than a refusal may have committed before the connection broke.
        if !matches!(written, Err(DbError::NotFound(_) | DbError::Gone(_))) {
            self.after_commit(stale).await;
        }
        Ok(written?)
    }

    /// After a commit that recorded `stale` in the outbox: drops the keys from this process's
    /// memory at once (this instance never serves the old rows), then waits for the outbox worker
    /// to apply them to KV and the other instances. Cancelling the wait loses nothing.
    pub async fn after_commit(&self, stale: &[String]) {
        self.cache.evict_local(stale).await;
        self.outbox.drained().await;
    }

    /// Waits (at most `limit`) for the outbox worker's next pass: for shutdown.
    pub async fn drain_outbox(&self, limit: std::time::Duration) {
        let _ = tokio::time::timeout(limit, self.outbox.drained()).await;
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
