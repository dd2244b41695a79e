//! The invalidation outbox's worker. Every write records the cache keys it made stale in
//! `cache_outbox`, in its own transaction (see `formula_db::Store`); this worker applies them to
//! the cache (memory, Cloudflare KV, other instances) and forgets them once applied, retrying
//! until it can. It runs in its own task: a request cancelled after its commit (client gone,
//! timeout) cannot lose its invalidation, and a process killed after a commit leaves the entry
//! for the next start, whose first pass applies it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use formula_cache::Cache;
use formula_db::DynStore;
use tokio::sync::{watch, Notify};

/// Outbox entries applied in one KV call at most.
const BATCH: i64 = 200;
/// Pause before retrying after the database or the cache failed, doubled after each failure up
/// to `MAX_RETRY_INTERVAL` (the cache's own queue retries the keys every second meanwhile).
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// How many passes over the outbox began and ended.
#[derive(Debug, Clone, Copy, Default)]
struct Passes {
    started: u64,
    finished: u64,
}

/// The handle requests hold: wakes the worker and waits for its passes.
pub struct Outbox {
    wake: Arc<Notify>,
    passes: watch::Receiver<Passes>,
}

impl Outbox {
    /// Starts the worker (needs Tokio); its first pass applies what a previous process left.
    pub fn start(db: DynStore, cache: Cache) -> Outbox {
        let wake = Arc::new(Notify::new());
        let (sender, passes) = watch::channel(Passes::default());
        tokio::spawn(run(db, cache, wake.clone(), sender));
        Outbox { wake, passes }
    }

    /// Waits until a pass that began after this call ended, so after the caller's commit: its
    /// entries were applied, or failed and are being retried. The pass runs in the worker's task,
    /// so dropping this future cancels nothing.
    pub async fn drained(&self) {
        let mut passes = self.passes.clone();
        let target = passes.borrow().started + 1;
        self.wake.notify_one();
        let _ = passes.wait_for(|passes| passes.finished >= target).await;
    }
}

/// Drains the outbox whenever woken, and after a growing pause while entries are left; ends when
/// no `Outbox` handle is left.
async fn run(db: DynStore, cache: Cache, wake: Arc<Notify>, passes: watch::Sender<Passes>) {
    let mut retry = RETRY_INTERVAL;
    let mut tried = HashSet::new();
    loop {
        passes.send_modify(|passes| passes.started += 1);
        let clean = drain(&db, &cache, &mut tried).await;
        passes.send_modify(|passes| passes.finished = passes.started);
        if passes.is_closed() {
            return;
        }
        if clean {
            retry = RETRY_INTERVAL;
            wake.notified().await;
        } else {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(MAX_RETRY_INTERVAL);
        }
    }
}

/// Applies the outbox, oldest first, until it is empty; `false` when the database or the cache
/// failed (what is left is retried). `tried` holds the entries whose keys this process already
/// evicted from its memory: a retry does not evict what reads loaded fresh since.
async fn drain(db: &DynStore, cache: &Cache, tried: &mut HashSet<i64>) -> bool {
    loop {
        let rows = match db.outbox_batch(BATCH).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "cache outbox unreadable; retrying");
                return false;
            }
        };
        let count = rows.len();
        if count == 0 {
            return true;
        }
        let mut evict: Vec<String> = rows
            .iter()
            .filter(|(id, _)| tried.insert(*id))
            .map(|(_, key)| key.clone())
            .collect();
        let (ids, mut keys): (Vec<i64>, Vec<String>) = rows.into_iter().unzip();
        for list in [&mut keys, &mut evict] {
            list.sort_unstable();
            list.dedup();
        }
        if !cache.apply_recorded(&keys, &evict).await {
            return false;
        }
        if let Err(error) = db.outbox_delete(&ids).await {
            tracing::warn!(%error, "applied cache outbox entries not forgotten; retrying");
            return false;
        }
        for id in &ids {
            tried.remove(id);
        }
        if count < BATCH as usize {
            return true;
        }
    }
}
