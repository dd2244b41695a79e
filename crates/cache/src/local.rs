//! The local layer: values in this process's memory (moka), bounded by bytes, a TTL per entry.
//!
//! moka's synchronous cache, not its `future` one: nothing here waits on anything but moka's own
//! bookkeeping, which both run on the caller's thread, and the `future` cache's `get` is a future
//! of 840 bytes that became part of every request's future (moved whole when it is boxed). One
//! difference: when moka's queue of writes (384) is full while another thread runs its upkeep, a
//! `put` or `delete` here sleeps in steps of 50 µs until there is room, where the `future` cache
//! would yield. Writes here follow misses and invalidations only (a hit writes nothing), and each
//! `put` or `delete` first runs the upkeep itself when it is due; the token cache (`session.rs`)
//! has had the same property since it was written.

use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::sync::Cache as Moka;
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
    pub fn get_hit(&self, key: &str) -> Option<LocalHit> {
        let entry = self.entries.get(key)?;
        Some(LocalHit {
            refresh_due: Instant::now() >= entry.refresh_at,
            value: entry.value,
        })
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.entries.get(key).map(|entry| entry.value)
    }

    pub fn put(&self, key: &str, value: Bytes, ttl: Duration) {
        // A value may sit in a buffer much larger than itself (serialized JSON grows its Vec by
        // doubling, and `Bytes` keeps the whole allocation): hold an exact copy instead.
        let value = Bytes::copy_from_slice(&value);
        self.entries.insert(
            key.to_owned(),
            Entry {
                value,
                ttl,
                refresh_at: Instant::now() + ttl.mul_f64(0.75),
            },
        );
    }

    pub fn delete(&self, key: &str) {
        self.entries.invalidate(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_deletes_and_expires() {
        let kv = LocalKv::new(1 << 20);
        kv.put("a", Bytes::from_static(b"1"), Duration::from_millis(50));
        assert_eq!(kv.get("a"), Some(Bytes::from_static(b"1")));
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(kv.get("a"), None);

        kv.put("b", Bytes::from_static(b"2"), Duration::from_secs(60));
        kv.delete("b");
        kv.delete("never-there");
        assert_eq!(kv.get("b"), None);
    }

    #[tokio::test]
    async fn holds_a_copy_of_the_value_not_the_buffer_around_it() {
        let kv = LocalKv::new(1 << 20);
        let buffer = Bytes::from(vec![7u8; 64 << 10]);
        let value = buffer.slice(0..16);
        kv.put("k", value.clone(), Duration::from_secs(60));
        let held = kv.get("k").unwrap();
        assert_eq!(held, value);
        assert_ne!(held.as_ptr(), value.as_ptr(), "the 64 KiB buffer is held");
    }
}
