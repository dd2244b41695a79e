//! The read-through mechanisms, driven deterministically: single flight, no stale repopulation,
//! flights keyed by generation. Each runs in memory only and over a real remote layer
//! (`kv-emulator` over HTTP).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use formula_cache::{
    Cache, CacheError, CacheOptions, CloudflareKv, CloudflareOptions, KvStore, Lookup,
};
use kv_emulator::{Faults, Options, Running};
use secrecy::SecretString;
use tokio::sync::oneshot;

type Load = Result<Vec<u32>, CacheError>;

async fn remote() -> (Arc<dyn KvStore>, Running) {
    let emulator = kv_emulator::spawn(Options::default()).await.unwrap();
    let mut options = CloudflareOptions::new("acc", "ns", SecretString::from("emulator-token"));
    options.api_base = emulator.api_base();
    (Arc::new(CloudflareKv::new(options).unwrap()), emulator)
}

/// Both configurations: memory only, and memory in front of the emulator.
async fn caches() -> Vec<(Cache, Option<Running>)> {
    let (kv, emulator) = remote().await;
    vec![
        (Cache::new(None, CacheOptions::default()), None),
        (
            Cache::new(Some(kv), CacheOptions::default()),
            Some(emulator),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_misses_cost_one_load_one_kv_read_and_one_kv_write() {
    for (cache, emulator) in caches().await {
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let (cache, loads) = (cache.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load("fixed-cost-list:herd", || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Load::Ok(vec![1, 2, 3])
                    })
                    .await
                    .unwrap()
            }));
        }
        let mut coalesced = 0;
        for task in tasks {
            let (bytes, lookup) = task.await.unwrap();
            assert_eq!(bytes, Bytes::from_static(b"[1,2,3]"));
            coalesced += usize::from(lookup == Lookup::Coalesced);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one database load");
        assert!(coalesced > 900, "{coalesced} requests shared the load");
        if let Some(emulator) = emulator {
            let stats = emulator.stats().await.unwrap();
            assert_eq!(stats.count("get"), 1, "one KV read");
            assert_eq!(stats.count("put"), 1, "one KV write");
        }
    }
}

#[tokio::test]
async fn a_load_that_began_before_a_write_never_stores_its_stale_value() {
    for (cache, _emulator) in caches().await {
        let key = "fixed-cost-list:race";
        let (started_tx, started) = oneshot::channel::<()>();
        let (proceed, proceed_rx) = oneshot::channel::<()>();
        let reader = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_load(key, || async move {
                        // Read the old rows, then stall until the write has committed.
                        let old = vec![1];
                        started_tx.send(()).unwrap();
                        proceed_rx.await.unwrap();
                        Load::Ok(old)
                    })
                    .await
                    .unwrap()
            })
        };
        started.await.unwrap();
        // The write commits and invalidates while the read is still in flight.
        cache.invalidate(&[key.to_owned()]).await;
        proceed.send(()).unwrap();
        let (stale, _) = reader.await.unwrap();
        assert_eq!(
            stale,
            Bytes::from_static(b"[1]"),
            "the early reader sees its own snapshot"
        );

        assert_eq!(
            cache.get_raw(key).await.unwrap(),
            None,
            "but nothing cached it"
        );
        let loads = AtomicUsize::new(0);
        let (fresh, lookup) = cache
            .get_or_load(key, || async {
                loads.fetch_add(1, Ordering::SeqCst);
                Load::Ok(vec![1, 2])
            })
            .await
            .unwrap();
        assert_eq!(lookup, Lookup::Miss);
        assert_eq!(fresh, Bytes::from_static(b"[1,2]"));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_read_after_a_write_does_not_join_a_flight_that_began_before_it() {
    for (cache, _emulator) in caches().await {
        let key = "equipment-cost-list:flight";
        let (started_tx, started) = oneshot::channel::<()>();
        let (proceed, proceed_rx) = oneshot::channel::<()>();
        let early = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_load(key, || async move {
                        started_tx.send(()).unwrap();
                        proceed_rx.await.unwrap();
                        Load::Ok(vec![1])
                    })
                    .await
                    .unwrap()
            })
        };
        started.await.unwrap();
        cache.invalidate(&[key.to_owned()]).await;
        // Must not wait for (or take) the early flight's pre-write value.
        let (bytes, lookup) = tokio::time::timeout(
            Duration::from_secs(2),
            cache.get_or_load(key, || async { Load::Ok(vec![1, 2]) }),
        )
        .await
        .expect("did not wait for the stale flight")
        .unwrap();
        assert_eq!(bytes, Bytes::from_static(b"[1,2]"));
        assert_ne!(lookup, Lookup::Coalesced);
        proceed.send(()).unwrap();
        early.await.unwrap();
        let (cached, lookup) = cache
            .get_or_load(key, || async { Load::Ok(vec![9]) })
            .await
            .unwrap();
        assert_eq!(lookup, Lookup::Hit);
        assert_eq!(
            cached,
            Bytes::from_static(b"[1,2]"),
            "the fresh value stayed"
        );
    }
}

#[tokio::test]
async fn a_failed_leader_lets_its_followers_load_for_themselves() {
    let cache = Cache::new(None, CacheOptions::default());
    let (started_tx, started) = oneshot::channel::<()>();
    let (proceed, proceed_rx) = oneshot::channel::<()>();
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load("k", || async move {
                    started_tx.send(()).unwrap();
                    proceed_rx.await.unwrap();
                    Load::Err(CacheError::Unavailable("database down".into()))
                })
                .await
        })
    };
    started.await.unwrap();
    let follower = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get_or_load("k", || async { Load::Ok(vec![7]) }).await })
    };
    tokio::task::yield_now().await;
    proceed.send(()).unwrap();
    assert!(leader.await.unwrap().is_err());
    let (bytes, _) = follower.await.unwrap().unwrap();
    assert_eq!(bytes, Bytes::from_static(b"[7]"));
}

#[tokio::test]
async fn with_kv_down_reads_fall_through_and_invalidations_wait_in_the_queue() {
    let (kv, emulator) = remote().await;
    let cache = Cache::new(Some(kv), CacheOptions::default());
    emulator
        .set_faults(&Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .await
        .unwrap();
    let (bytes, _) = cache
        .get_or_load("k", || async { Load::Ok(vec![1]) })
        .await
        .unwrap();
    assert_eq!(bytes, Bytes::from_static(b"[1]"));
    cache.invalidate(&["k".to_owned()]).await;
    assert_eq!(cache.pending_invalidations(), 1);
    let (_, lookup) = cache
        .get_or_load("k", || async { Load::Ok(vec![2]) })
        .await
        .unwrap();
    assert_eq!(
        lookup,
        Lookup::Bypass,
        "a key with a queued invalidation skips KV"
    );
    emulator.set_faults(&Faults::default()).await.unwrap();
}

/// A hot key is reloaded by one reader during the last quarter of its in-memory life, so it never
/// expires under its readers (who would all wait for KV or the database together).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_key_is_refreshed_by_one_reader_before_it_expires() {
    const LIFE: Duration = Duration::from_millis(1000);
    let (kv, _emulator) = remote().await;
    let memory_only = CacheOptions {
        ttl: LIFE,
        ..CacheOptions::default()
    };
    let in_front_of_kv = CacheOptions {
        local_ttl: LIFE,
        ..CacheOptions::default()
    };
    for cache in [
        Cache::new(None, memory_only),
        Cache::new(Some(kv), in_front_of_kv),
    ] {
        let loads = Arc::new(AtomicUsize::new(0));
        let read = |cache: Cache, loads: Arc<AtomicUsize>| async move {
            cache
                .get_or_load("fixed-cost-list:hot", || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Load::Ok(vec![7])
                })
                .await
                .unwrap()
                .1
        };
        assert_eq!(read(cache.clone(), loads.clone()).await, Lookup::Miss);
        tokio::time::sleep(LIFE.mul_f64(0.8)).await;
        let readers: Vec<_> = (0..20)
            .map(|_| tokio::spawn(read(cache.clone(), loads.clone())))
            .collect();
        let mut lookups = Vec::new();
        for reader in readers {
            lookups.push(reader.await.unwrap());
        }
        let hits = lookups.iter().filter(|l| **l == Lookup::Hit).count();
        assert_eq!(
            hits, 19,
            "one reader refreshes, the others read: {lookups:?}"
        );
        tokio::time::sleep(LIFE.mul_f64(0.5)).await;
        assert_eq!(
            read(cache.clone(), loads.clone()).await,
            Lookup::Hit,
            "past the first value's life, the refreshed value is served"
        );
        assert!(loads.load(Ordering::SeqCst) <= 2);
    }
}
