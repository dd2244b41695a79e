//! Read-through caching and invalidation after commit.
//!
//! Two guarantees beyond "look in the cache first":
//! - **No stale repopulation.** Every key has a generation (striped counters). A read notes the
//!   generation before it loads from the database and stores its result only if no invalidation
//!   bumped it meanwhile; after storing it checks again and deletes what it stored if one did.
//! - **No lost invalidation.** A delete that fails is queued and retried in the background until
//!   it succeeds; while a key is queued, reads of it skip the cache in both directions.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Notify;

use crate::{CacheError, KvStore, DEFAULT_TTL_SECS};

const GENERATION_STRIPES: usize = 4096;

/// How a value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// From the cache.
    Hit,
    /// From the database, after the cache had no usable value.
    Miss,
    /// From the database without asking the cache (an invalidation of the key is pending).
    Bypass,
}

impl Lookup {
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Bypass => "bypass",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// TTL of every value written (Cloudflare's minimum is 60 s).
    pub ttl: Duration,
    /// Pause between two attempts to apply queued invalidations.
    pub retry_interval: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            ttl: Duration::from_secs(DEFAULT_TTL_SECS),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// The cache as the service sees it. Cheap to clone; one per process.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    kv: Arc<dyn KvStore>,
    options: CacheOptions,
    generations: Box<[AtomicU64]>,
    /// Keys whose invalidation failed, with the sequence number of the latest failure.
    pending: Mutex<HashMap<String, u64>>,
    sequence: AtomicU64,
    wake: Arc<Notify>,
}

impl Cache {
    /// Builds the cache and starts its invalidation retrier (needs a Tokio runtime).
    pub fn new(kv: Arc<dyn KvStore>, options: CacheOptions) -> Self {
        let inner = Arc::new(Inner {
            kv,
            options,
            generations: (0..GENERATION_STRIPES).map(|_| AtomicU64::new(0)).collect(),
            pending: Mutex::new(HashMap::new()),
            sequence: AtomicU64::new(0),
            wake: Arc::new(Notify::new()),
        });
        tokio::spawn(retry_invalidations(
            Arc::downgrade(&inner),
            inner.wake.clone(),
            inner.options.retry_interval,
        ));
        Cache { inner }
    }

    pub fn backend_name(&self) -> &'static str {
        self.inner.kv.name()
    }

    pub fn ttl(&self) -> Duration {
        self.inner.options.ttl
    }

    /// The JSON of `key`'s value: from the cache when it holds a value that parses as `T`,
    /// otherwise from `load`, then stored unless an invalidation happened meanwhile.
    pub async fn get_or_load<T, E, F, Fut>(&self, key: &str, load: F) -> Result<(Bytes, Lookup), E>
    where
        T: Serialize + DeserializeOwned,
        E: From<CacheError>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let generation = self.inner.generation(key).load(Ordering::SeqCst);
        if self.inner.is_pending(key) {
            let value = load().await?;
            return Ok((encode(&value)?, Lookup::Bypass));
        }
        let cache_answered = match self.inner.kv.get(key).await {
            Ok(Some(bytes)) if serde_json::from_slice::<T>(&bytes).is_ok() => {
                return Ok((bytes, Lookup::Hit));
            }
            Ok(Some(_)) => {
                tracing::warn!(key, "cached value does not parse; replacing it");
                true
            }
            Ok(None) => true,
            Err(error) => {
                log_failure(key, &error, "cache read failed; reading the database");
                false
            }
        };
        let value = load().await?;
        let bytes = encode(&value)?;
        if cache_answered {
            self.store_if_current(key, bytes.clone(), generation).await;
        }
        Ok((bytes, Lookup::Miss))
    }

    /// Drops `keys` after a database commit made them stale. Never fails: what the backend
    /// refuses now is queued and retried until it succeeds.
    pub async fn invalidate(&self, keys: &[String]) {
        for key in keys {
            self.inner.generation(key).fetch_add(1, Ordering::SeqCst);
        }
        if let Err(error) = self.inner.kv.delete_many(keys).await {
            tracing::warn!(?keys, %error, "cache invalidation failed; queued for retry");
            self.inner.queue(keys);
        }
    }

    /// Replaces `key`'s value with `value`, fresh from a database commit. If that cannot be
    /// written, the key is invalidated instead (queued if need be), so the old value is not served.
    pub async fn refresh<T: Serialize>(&self, key: &str, value: &T) {
        let generation = self.inner.generation(key).fetch_add(1, Ordering::SeqCst) + 1;
        let written = match encode(value) {
            Ok(bytes) if !self.inner.is_pending(key) => {
                self.store_if_current(key, bytes, generation).await
            }
            _ => false,
        };
        if !written {
            self.invalidate(&[key.to_owned()]).await;
        }
    }

    /// Writes a value that no database row stands behind (the keep-alive heartbeat).
    pub async fn put_raw(&self, key: &str, value: Bytes) -> Result<(), CacheError> {
        self.inner.kv.put(key, value, self.inner.options.ttl).await
    }

    /// Reads a key as the backend holds it, bypassing nothing. For diagnostics and tests.
    pub async fn get_raw(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        self.inner.kv.get(key).await
    }

    /// How many invalidations are waiting to be retried.
    pub fn pending_invalidations(&self) -> usize {
        self.inner.pending.lock().expect("pending lock").len()
    }

    /// Tries the queued invalidations now; `true` when none is left.
    pub async fn flush_invalidations(&self) -> bool {
        self.inner.retry_pending().await
    }

    /// Writes `bytes` unless `key` was invalidated since `generation`; `true` once written.
    async fn store_if_current(&self, key: &str, bytes: Bytes, generation: u64) -> bool {
        let current = self.inner.generation(key);
        if current.load(Ordering::SeqCst) != generation || self.inner.is_pending(key) {
            return false;
        }
        let written = match self.inner.kv.put(key, bytes, self.inner.options.ttl).await {
            Ok(()) => true,
            Err(error) => {
                log_failure(key, &error, "cache write failed; value dropped");
                false
            }
        };
        // An invalidation that ran while we wrote may have deleted before our write landed.
        if current.load(Ordering::SeqCst) != generation {
            self.invalidate(&[key.to_owned()]).await;
            return false;
        }
        written
    }
}

impl Inner {
    fn generation(&self, key: &str) -> &AtomicU64 {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        &self.generations[(hasher.finish() as usize) % GENERATION_STRIPES]
    }

    fn is_pending(&self, key: &str) -> bool {
        self.pending.lock().expect("pending lock").contains_key(key)
    }

    fn queue(&self, keys: &[String]) {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        let mut pending = self.pending.lock().expect("pending lock");
        for key in keys {
            pending.insert(key.clone(), sequence);
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// One attempt at every queued invalidation; `true` when the queue is empty afterwards.
    async fn retry_pending(&self) -> bool {
        let snapshot: Vec<(String, u64)> = {
            let pending = self.pending.lock().expect("pending lock");
            pending.iter().map(|(k, s)| (k.clone(), *s)).collect()
        };
        if snapshot.is_empty() {
            return true;
        }
        let keys: Vec<String> = snapshot.iter().map(|(key, _)| key.clone()).collect();
        match self.kv.delete_many(&keys).await {
            Ok(()) => {
                let mut pending = self.pending.lock().expect("pending lock");
                for (key, sequence) in snapshot {
                    // A newer failure of the same key stays queued.
                    if pending.get(&key) == Some(&sequence) {
                        pending.remove(&key);
                    }
                }
                tracing::info!(count = keys.len(), "queued cache invalidations applied");
                pending.is_empty()
            }
            Err(error) => {
                tracing::warn!(count = keys.len(), %error, "queued cache invalidations still failing");
                false
            }
        }
    }
}

/// Applies queued invalidations whenever one is queued, and on every tick; ends with the cache.
async fn retry_invalidations(inner: Weak<Inner>, wake: Arc<Notify>, interval: Duration) {
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
        let Some(inner) = inner.upgrade() else { return };
        if !inner.retry_pending().await {
            drop(inner);
            tokio::time::sleep(interval).await;
        }
    }
}

/// A spent request budget is the budget working as meant: not worth a warning per request.
fn log_failure(key: &str, error: &CacheError, what: &str) {
    match error {
        CacheError::Throttled => tracing::debug!(key, %error, "{what}"),
        _ => tracing::warn!(key, %error, "{what}"),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Bytes, CacheError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|error| CacheError::Encode(error.to_string()))
}
