//! Read-through caching in two layers, and invalidation after commit.
//!
//! - **Layers.** The local layer (moka, in this process, bounded by bytes) answers hot reads. In
//!   the embedded default it is the whole cache; with a remote backend (Cloudflare KV) it sits in
//!   front of it with a short TTL, and the remote layer is shared with other instances and with
//!   the old API.
//! - **Single flight.** Concurrent misses of one key share one load: one database query, at most
//!   one remote read and one remote write. Flights are keyed by the key's generation, so a read
//!   that arrives after an invalidation never joins a load that began before it.
//! - **No stale repopulation.** Every key has a generation (striped counters). A load stores its
//!   result only if no invalidation bumped the generation since it began; after storing it checks
//!   again and drops what it stored if one did.
//! - **No lost invalidation.** A remote delete that fails is queued and retried in the background
//!   until it succeeds; while a key is queued, reads of it skip the remote layer.
//! - **Other instances.** Invalidations are published to `Peers` (Postgres NOTIFY), whose
//!   listeners call `evict_local`.

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::local::{LocalHit, LocalKv};
use crate::{CacheError, KvStore, MetricHandles, DEFAULT_TTL_SECS};

const GENERATION_STRIPES: usize = 4096;

/// How a value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// From the local layer.
    Hit,
    /// From the remote layer (Cloudflare KV).
    RemoteHit,
    /// From the database, after no layer had a usable value.
    Miss,
    /// From another request's load of the same key, in flight at the same time.
    Coalesced,
    /// From the database without the remote layer (an invalidation of the key is pending).
    Bypass,
}

impl Lookup {
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::RemoteHit => "hit-remote",
            Lookup::Miss => "miss",
            Lookup::Coalesced => "coalesced",
            Lookup::Bypass => "bypass",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// TTL of values in the remote layer, or in the local one when there is none (Cloudflare:
    /// ≥ 60 s).
    pub ttl: Duration,
    /// TTL of in-process values when a remote layer exists: how stale another instance's write
    /// can leave this one when no `Peers` tell it.
    pub local_ttl: Duration,
    /// Size bound of the in-process layer.
    pub local_max_bytes: u64,
    /// Pause between two attempts to apply queued invalidations.
    pub retry_interval: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            ttl: Duration::from_secs(DEFAULT_TTL_SECS),
            local_ttl: Duration::from_secs(60),
            local_max_bytes: 32 << 20,
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// Other instances of the service, told about invalidations so they evict their own memory.
#[async_trait]
pub trait Peers: Send + Sync + 'static {
    async fn publish(&self, keys: &[String]);
}

/// The cache as the service sees it. Cheap to clone; one per process.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

#[derive(Clone)]
enum Flight {
    Running,
    Done(Bytes),
    Failed,
}

struct Inner {
    local: LocalKv,
    local_ttl: Duration,
    remote: Option<Arc<dyn KvStore>>,
    options: CacheOptions,
    generations: Box<[AtomicU64]>,
    /// Keys whose remote invalidation failed, with the sequence number of the latest failure.
    pending: Mutex<HashMap<String, u64>>,
    sequence: AtomicU64,
    wake: Arc<Notify>,
    flights: Mutex<HashMap<(String, u64), watch::Receiver<Flight>>>,
    peers: OnceLock<Arc<dyn Peers>>,
    /// The last remote probe and when it ran: readiness checks share one call per interval.
    last_probe: Mutex<Option<(std::time::Instant, Result<(), CacheError>)>>,
}

/// Readiness probes of the remote layer cost one KV call at most this often.
const PROBE_INTERVAL: Duration = Duration::from_secs(30);

impl Cache {
    /// The cache over an optional remote layer; starts the invalidation retrier (needs Tokio).
    pub fn new(remote: Option<Arc<dyn KvStore>>, options: CacheOptions) -> Self {
        let local_ttl = match remote {
            Some(_) => options.local_ttl.min(options.ttl),
            None => options.ttl,
        };
        let inner = Arc::new(Inner {
            local: LocalKv::new(options.local_max_bytes),
            local_ttl,
            remote,
            options,
            generations: (0..GENERATION_STRIPES).map(|_| AtomicU64::new(0)).collect(),
            pending: Mutex::new(HashMap::new()),
            sequence: AtomicU64::new(0),
            wake: Arc::new(Notify::new()),
            flights: Mutex::new(HashMap::new()),
            peers: OnceLock::new(),
            last_probe: Mutex::new(None),
        });
        tokio::spawn(retry_invalidations(
            Arc::downgrade(&inner),
            inner.wake.clone(),
            inner.options.retry_interval,
        ));
        Cache { inner }
    }

    /// Tells other instances about every invalidation from now on (set once, at start-up).
    pub fn set_peers(&self, peers: Arc<dyn Peers>) {
        let _ = self.inner.peers.set(peers);
    }

    pub fn backend_name(&self) -> &'static str {
        self.inner.remote.as_ref().map_or("local", |kv| kv.name())
    }

    /// The JSON of `key`'s value: from the local layer, else from the remote layer when it holds a value
    /// that parses as `T`, else from `load` (shared with concurrent misses of the key), then
    /// stored unless an invalidation happened meanwhile.
    pub async fn get_or_load<T, E, F, Fut>(&self, key: &str, load: F) -> Result<(Bytes, Lookup), E>
    where
        T: Serialize + DeserializeOwned,
        E: From<CacheError>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let hit = match self.inner.local.get_hit(key).await {
            Some(hit) if !hit.refresh_due => return Ok(local_hit(hit.value)),
            hit => hit,
        };
        // The rest waits on other readers, the remote layer or the database. Its future is boxed:
        // inline, it made every hit's future (moved whole when a request's future is built and
        // boxed) several times the size a hit needs.
        Box::pin(self.refresh_or_load(key, hit, load)).await
    }

    /// A miss, or a hit due for a refresh: joins the flight loading `key`, or leads it.
    async fn refresh_or_load<T, E, F, Fut>(
        &self,
        key: &str,
        hit: Option<LocalHit>,
        load: F,
    ) -> Result<(Bytes, Lookup), E>
    where
        T: Serialize + DeserializeOwned,
        E: From<CacheError>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let generation = self.inner.generation(key).load(Ordering::SeqCst);
        let role = match hit {
            // Near its expiry, one reader reloads it while the others go on reading it.
            Some(hit) => match self.inner.join_or_lead(key, generation) {
                Role::Leader(sender) => {
                    count_lookup("local", "refresh");
                    Role::Leader(sender)
                }
                Role::Follower(_) => return Ok(local_hit(hit.value)),
            },
            None => {
                count_lookup("local", "miss");
                self.inner.join_or_lead(key, generation)
            }
        };
        match role {
            Role::Leader(sender) => {
                let guard = FlightGuard {
                    inner: &self.inner,
                    flight: (key.to_owned(), generation),
                    sender,
                };
                let result = self.lookup(key, generation, load).await;
                guard.finish(result.as_ref().ok().map(|(bytes, _)| bytes.clone()));
                return result;
            }
            Role::Follower(mut receiver) => {
                let outcome = receiver
                    .wait_for(|flight| !matches!(flight, Flight::Running))
                    .await
                    .map(|flight| flight.clone());
                if let Ok(Flight::Done(bytes)) = outcome {
                    metrics::counter!("cache_loads_coalesced_total").increment(1);
                    return Ok((bytes, Lookup::Coalesced));
                }
            }
        }
        // The flight we joined failed or was abandoned: load for ourselves.
        self.lookup(key, generation, load).await
    }

    /// One request's way through the remote layer and the database.
    async fn lookup<T, E, F, Fut>(
        &self,
        key: &str,
        generation: u64,
        load: F,
    ) -> Result<(Bytes, Lookup), E>
    where
        T: Serialize + DeserializeOwned,
        E: From<CacheError>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let remote = match &self.inner.remote {
            Some(remote) if !self.inner.is_pending(key) => Some(remote),
            Some(_) => {
                let bytes = encode(&load_counted(load).await?)?;
                self.store_local_if_current(key, bytes.clone(), generation)
                    .await;
                return Ok((bytes, Lookup::Bypass));
            }
            None => None,
        };
        let mut remote_answered = false;
        if let Some(remote) = remote {
            match remote.get(key).await {
                Ok(Some(bytes)) if serde_json::from_slice::<T>(&bytes).is_ok() => {
                    count_lookup("remote", "hit");
                    self.store_local_if_current(key, bytes.clone(), generation)
                        .await;
                    return Ok((bytes, Lookup::RemoteHit));
                }
                Ok(Some(_)) => {
                    count_lookup("remote", "corrupt");
                    tracing::warn!(key, "cached value does not parse; replacing it");
                    remote_answered = true;
                }
                Ok(None) => {
                    count_lookup("remote", "miss");
                    remote_answered = true;
                }
                Err(error) => {
                    count_lookup("remote", "error");
                    log_failure(key, &error, "cache read failed; reading the database");
                }
            }
        }
        let bytes = encode(&load_counted(load).await?)?;
        if self
            .store_local_if_current(key, bytes.clone(), generation)
            .await
            && remote_answered
        {
            self.store_remote_if_current(key, bytes.clone(), generation)
                .await;
        }
        Ok((bytes, Lookup::Miss))
    }

    /// Drops `keys` after a database commit made them stale, here, in the remote layer and in
    /// other instances. Never fails: what the remote layer refuses now is queued and retried.
    pub async fn invalidate(&self, keys: &[String]) {
        self.inner.evict_local(keys).await;
        if let Some(remote) = &self.inner.remote {
            if let Err(error) = remote.delete_many(keys).await {
                log_failure(
                    &keys.join(","),
                    &error,
                    "cache invalidation failed; queued for retry",
                );
                self.inner.queue(keys);
            }
        }
        self.publish(keys).await;
    }

    /// Applies an invalidation that the database's outbox recorded: drops `keys` in the remote
    /// layer, and `evict` (the keys not tried before) in this process's memory; tells other
    /// instances on the first try and once applied. While the remote delete is under way or
    /// failing, reads of the keys skip the remote layer (and the queue's retrier retries them).
    /// `true` once the remote layer applied it (the caller then forgets the outbox entry).
    pub async fn apply_recorded(&self, keys: &[String], evict: &[String]) -> bool {
        let Some(remote) = &self.inner.remote else {
            self.inner.evict_local(evict).await;
            self.publish(evict).await;
            return true;
        };
        // Marked before the eviction: a read that starts after it cannot fetch the old value.
        let sequence = self.inner.hold(keys);
        self.inner.evict_local(evict).await;
        let applied = match remote.delete_many(keys).await {
            Ok(()) => {
                self.inner.release(keys, sequence);
                true
            }
            Err(error) => {
                log_failure(
                    &keys.join(","),
                    &error,
                    "cache invalidation failed; retrying",
                );
                self.inner.wake.notify_one();
                false
            }
        };
        if applied {
            self.publish(keys).await;
        } else if !evict.is_empty() {
            self.publish(evict).await;
        }
        applied
    }

    /// Drops `keys` from this process's memory only: what another instance's invalidation calls.
    pub async fn evict_local(&self, keys: &[String]) {
        self.inner.evict_local(keys).await;
    }

    /// Drops everything this process holds in memory (e.g. after missing peer messages).
    pub fn clear_local(&self) {
        for generation in self.inner.generations.iter() {
            generation.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.local.clear();
    }

    /// Writes a value no database row stands behind (the keep-alive heartbeat).
    pub async fn put_raw(&self, key: &str, value: Bytes) -> Result<(), CacheError> {
        match &self.inner.remote {
            Some(remote) => remote.put(key, value, self.inner.options.ttl).await,
            None => {
                self.inner.local.put(key, value, self.inner.local_ttl).await;
                Ok(())
            }
        }
    }

    /// A key as the cache holds it: in memory, else in the remote layer. For diagnostics and tests.
    pub async fn get_raw(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        if let Some(bytes) = self.inner.local.get(key).await {
            return Ok(Some(bytes));
        }
        match &self.inner.remote {
            Some(remote) => remote.get(key).await,
            None => Ok(None),
        }
    }

    /// Whether the remote layer answers (the local one always does). Probes with one read of the
    /// heartbeat key at most every 30 s; between probes, the last answer.
    pub async fn probe(&self) -> Result<(), CacheError> {
        let Some(remote) = &self.inner.remote else {
            return Ok(());
        };
        if let Some((at, result)) = &*self.inner.last_probe.lock().expect("probe lock") {
            if at.elapsed() < PROBE_INTERVAL {
                return result.clone();
            }
        }
        let result = remote.get(crate::keys::KEEP_ALIVE).await.map(|_| ());
        *self.inner.last_probe.lock().expect("probe lock") =
            Some((std::time::Instant::now(), result.clone()));
        result
    }

    /// How many invalidations are waiting to be retried.
    pub fn pending_invalidations(&self) -> usize {
        self.inner.pending.lock().expect("pending lock").len()
    }

    /// Tries the queued invalidations now; `true` when none is left.
    pub async fn flush_invalidations(&self) -> bool {
        self.inner.retry_pending().await
    }

    async fn publish(&self, keys: &[String]) {
        if let Some(peers) = self.inner.peers.get() {
            peers.publish(keys).await;
        }
    }

    /// Stores in the local layer unless `key` was invalidated since `generation`; `true` if
    /// stored.
    async fn store_local_if_current(&self, key: &str, bytes: Bytes, generation: u64) -> bool {
        let current = self.inner.generation(key);
        if current.load(Ordering::SeqCst) != generation {
            return false;
        }
        self.inner.local.put(key, bytes, self.inner.local_ttl).await;
        if current.load(Ordering::SeqCst) != generation {
            self.inner.local.delete(key).await;
            return false;
        }
        true
    }

    /// Writes to the remote layer unless `key` was invalidated since `generation`; `true` once
    /// written and still current.
    async fn store_remote_if_current(&self, key: &str, bytes: Bytes, generation: u64) -> bool {
        let Some(remote) = &self.inner.remote else {
            return false;
        };
        let current = self.inner.generation(key);
        if current.load(Ordering::SeqCst) != generation || self.inner.is_pending(key) {
            return false;
        }
        let written = match remote.put(key, bytes, self.inner.options.ttl).await {
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

/// Ends a flight: tells its followers how it went, and removes it. Dropped unfinished (the
/// leader's request was cancelled), it tells them to load for themselves.
struct FlightGuard<'a> {
    inner: &'a Inner,
    flight: (String, u64),
    sender: watch::Sender<Flight>,
}

impl FlightGuard<'_> {
    fn finish(self, result: Option<Bytes>) {
        let _ = self.sender.send(match result {
            Some(bytes) => Flight::Done(bytes),
            None => Flight::Failed,
        });
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        self.inner
            .flights
            .lock()
            .expect("flights lock")
            .remove(&self.flight);
        self.sender.send_if_modified(|flight| {
            if matches!(flight, Flight::Running) {
                *flight = Flight::Failed;
                true
            } else {
                false
            }
        });
    }
}

/// What a request does about a key the local layer does not hold (or holds near its expiry).
enum Role {
    /// Loads it, then tells the followers.
    Leader(watch::Sender<Flight>),
    /// Waits for the leader's load.
    Follower(watch::Receiver<Flight>),
}

impl Inner {
    /// Joins the flight of `key` at `generation`, or starts it.
    fn join_or_lead(&self, key: &str, generation: u64) -> Role {
        let mut flights = self.flights.lock().expect("flights lock");
        let flight = (key.to_owned(), generation);
        if let Some(receiver) = flights.get(&flight) {
            return Role::Follower(receiver.clone());
        }
        let (sender, receiver) = watch::channel(Flight::Running);
        flights.insert(flight, receiver);
        Role::Leader(sender)
    }

    /// The stripe of `key`. A key shares its stripe with others (an invalidation of one then
    /// only costs the others a stored value), so a fast hash with a fixed seed serves.
    fn generation(&self, key: &str) -> &AtomicU64 {
        let hash = foldhash::fast::FixedState::with_seed(0).hash_one(key);
        &self.generations[(hash as usize) % GENERATION_STRIPES]
    }

    /// Marks `key` invalidated; returns its new generation.
    fn bump(&self, key: &str) -> u64 {
        self.generation(key).fetch_add(1, Ordering::SeqCst) + 1
    }

    async fn evict_local(&self, keys: &[String]) {
        for key in keys {
            self.bump(key);
            self.local.delete(key).await;
        }
    }

    fn is_pending(&self, key: &str) -> bool {
        self.pending.lock().expect("pending lock").contains_key(key)
    }

    fn queue(&self, keys: &[String]) {
        self.hold(keys);
        self.wake.notify_one();
    }

    /// Marks `keys` pending (reads skip the remote layer); the sequence number of this mark.
    fn hold(&self, keys: &[String]) -> u64 {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        let mut pending = self.pending.lock().expect("pending lock");
        for key in keys {
            pending.insert(key.clone(), sequence);
        }
        metrics::gauge!("cache_pending_invalidations").set(pending.len() as f64);
        sequence
    }

    /// Unmarks `keys`, unless a later mark (a newer failure) holds them.
    fn release<'k>(&self, keys: impl IntoIterator<Item = &'k String>, sequence: u64) {
        let mut pending = self.pending.lock().expect("pending lock");
        for key in keys {
            if pending.get(key).is_some_and(|held| *held <= sequence) {
                pending.remove(key);
            }
        }
        metrics::gauge!("cache_pending_invalidations").set(pending.len() as f64);
    }

    /// One attempt at every queued invalidation; `true` when the queue is empty afterwards.
    async fn retry_pending(&self) -> bool {
        let snapshot: Vec<(String, u64)> = {
            let pending = self.pending.lock().expect("pending lock");
            pending.iter().map(|(k, s)| (k.clone(), *s)).collect()
        };
        let Some(remote) = &self.remote else {
            return true;
        };
        if snapshot.is_empty() {
            return true;
        }
        let keys: Vec<String> = snapshot.iter().map(|(key, _)| key.clone()).collect();
        match remote.delete_many(&keys).await {
            Ok(()) => {
                for (key, sequence) in &snapshot {
                    // A newer failure of the same key stays queued.
                    self.release([key], *sequence);
                }
                tracing::info!(count = keys.len(), "queued cache invalidations applied");
                self.pending.lock().expect("pending lock").is_empty()
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

async fn load_counted<T, E, Fut: Future<Output = Result<T, E>>>(
    load: impl FnOnce() -> Fut,
) -> Result<T, E> {
    metrics::counter!("cache_loads_total").increment(1);
    load().await
}

fn local_hit(bytes: Bytes) -> (Bytes, Lookup) {
    count_lookup("local", "hit");
    (bytes, Lookup::Hit)
}

/// Counts in `cache_lookups_total{layer,result}`, each label pair's counter registered once.
fn count_lookup(layer: &'static str, result: &'static str) {
    static COUNTERS: MetricHandles<(&str, &str), metrics::Counter> = MetricHandles::new();
    let register =
        || metrics::counter!("cache_lookups_total", "layer" => layer, "result" => result);
    COUNTERS.get((layer, result), register).increment(1);
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
