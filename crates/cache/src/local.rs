//! The local layer: values in this process's memory (moka), bounded by bytes, a TTL per entry.
//!
//! moka's `future` cache, although its `get` is a future of 840 bytes that every hot read carries:
//! with the synchronous cache instead, hot reads at half of peak had a p99 of 20 to 96 ms in some
//! rounds of each of 4 runs (at most 18 ms with this one, in the same 10-round runs), so something
//! in it stalls a runtime worker now and then. Measure that tail before trying it again.

use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::future::Cache as Moka;
use moka::Expiry;

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
    /// The start of the last quarter of its TTL.
    refresh_at: Instant,
}

/// A value read from the local layer, and whether it is in the last quarter of its life.
pub struct LocalHit {
    pub value: Bytes,
    pub refresh_due: bool,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _at: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// What an entry costs besides its key and value: moka's bookkeeping and the entry's own fields
/// (an estimate, counted so that many small values cannot hold far more than the bound).
const ENTRY_OVERHEAD_BYTES: usize = 256;

/// Values in this process's memory, bounded by their total size in bytes: the bytes the bound
/// counts are the bytes held (see `put`).
pub struct LocalKv {
    /// Hashed with foldhash (seeded per process), not SipHash: keys are the contract's, with a
    /// user id in them, and a SipHash of one cost about as much as the rest of the lookup.
    entries: Moka<String, Entry, foldhash::fast::RandomState>,
}

impl LocalKv {
    pub fn new(max_bytes: u64) -> Self {
        let entries = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(ENTRY_OVERHEAD_BYTES + key.len() + entry.value.len())
                    .unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build_with_hasher(foldhash::fast::RandomState::default());
        LocalKv { entries }
    }

    /// `key`'s value, saying whether it is due for a refresh: in the last quarter of its TTL, so
    /// that a hot key is reloaded before it expires rather than after (when every reader waits).
    pub async fn get_hit(&self, key: &str) -> Option<LocalHit> {
        let entry = self.entries.get(key).await?;
        Some(LocalHit {
            refresh_due: Instant::now() >= entry.refresh_at,
            value: entry.value,
        })
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        self.entries.get(key).await.map(|entry| entry.value)
    }

    pub async fn put(&self, key: &str, value: Bytes, ttl: Duration) {
        // A value may sit in a buffer much larger than itself (serialized JSON grows its Vec by
        // doubling, and `Bytes` keeps the whole allocation): hold an exact copy instead.
        let value = Bytes::copy_from_slice(&value);
        self.entries
            .insert(
                key.to_owned(),
                Entry {
                    value,
                    ttl,
                    refresh_at: Instant::now() + ttl.mul_f64(0.75),
                },
            )
            .await;
    }

    pub async fn delete(&self, key: &str) {
        self.entries.invalidate(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_deletes_and_expires() {
        let kv = LocalKv::new(1 << 20);
        kv.put("a", Bytes::from_static(b"1"), Duration::from_millis(50))
            .await;
        assert_eq!(kv.get("a").await, Some(Bytes::from_static(b"1")));
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(kv.get("a").await, None);

        kv.put("b", Bytes::from_static(b"2"), Duration::from_secs(60))
            .await;
        kv.delete("b").await;
        kv.delete("never-there").await;
        assert_eq!(kv.get("b").await, None);
    }

    #[tokio::test]
    async fn holds_a_copy_of_the_value_not_the_buffer_around_it() {
        let kv = LocalKv::new(1 << 20);
        let buffer = Bytes::from(vec![7u8; 64 << 10]);
        let value = buffer.slice(0..16);
        kv.put("k", value.clone(), Duration::from_secs(60)).await;
        let held = kv.get("k").await.unwrap();
        assert_eq!(held, value);
        assert_ne!(held.as_ptr(), value.as_ptr(), "the 64 KiB buffer is held");
    }
}
