//! The key-value data of every namespace, with expiry on the emulator's clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;
use serde_json::Value;

/// Cloudflare's limits.
pub const MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
pub const MAX_KEY_BYTES: usize = 512;
pub const MIN_TTL_SECS: u64 = 60;

#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Bytes,
    /// Unix seconds.
    pub expiration: Option<u64>,
    pub metadata: Option<Value>,
}

#[derive(Default)]
pub struct Store {
    namespaces: Mutex<HashMap<String, Namespace>>,
}

#[derive(Default)]
struct Namespace {
    entries: BTreeMap<String, Entry>,
    /// When each key was last written (emulator seconds), for the one-write-per-second rule.
    last_write: HashMap<String, f64>,
}

/// Why a write was refused.
pub enum WriteRefused {
    TooFrequent,
}

impl Store {
    pub fn get(&self, namespace: &str, key: &str, now: f64) -> Option<Entry> {
        let mut namespaces = self.namespaces.lock().expect("store lock");
        let ns = namespaces.entry(namespace.to_owned()).or_default();
        ns.live(key, now)
    }

    pub fn put(
        &self,
        namespace: &str,
        key: &str,
        entry: Entry,
        now: f64,
    ) -> Result<(), WriteRefused> {
        let mut namespaces = self.namespaces.lock().expect("store lock");
        let ns = namespaces.entry(namespace.to_owned()).or_default();
        if ns.last_write.get(key).is_some_and(|at| now - at < 1.0) {
            return Err(WriteRefused::TooFrequent);
        }
        ns.last_write.insert(key.to_owned(), now);
        ns.entries.insert(key.to_owned(), entry);
        Ok(())
    }

    /// Every namespace that was read or written, sorted.
    pub fn namespace_ids(&self) -> Vec<String> {
        let namespaces = self.namespaces.lock().expect("store lock");
        let mut ids: Vec<String> = namespaces.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn delete(&self, namespace: &str, key: &str) {
        let mut namespaces = self.namespaces.lock().expect("store lock");
        if let Some(ns) = namespaces.get_mut(namespace) {
            ns.entries.remove(key);
        }
    }

    /// Live keys after `cursor` with `prefix`, at most `limit`; the next cursor if more remain.
    pub fn list(
        &self,
        namespace: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
        now: f64,
    ) -> (Vec<(String, Entry)>, Option<String>) {
        let mut namespaces = self.namespaces.lock().expect("store lock");
        let ns = namespaces.entry(namespace.to_owned()).or_default();
        ns.expire(now);
        let mut keys = ns
            .entries
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .filter(|(key, _)| cursor.is_none_or(|after| key.as_str() > after));
        let page: Vec<(String, Entry)> = keys
            .by_ref()
            .take(limit)
            .map(|(key, entry)| (key.clone(), entry.clone()))
            .collect();
        let more = keys.next().is_some();
        let next = if more {
            page.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        (page, next)
    }
}

impl Namespace {
    fn live(&mut self, key: &str, now: f64) -> Option<Entry> {
        let entry = self.entries.get(key)?;
        if entry.expiration.is_some_and(|at| (at as f64) <= now) {
            self.entries.remove(key);
            return None;
        }
        Some(entry.clone())
    }

    fn expire(&mut self, now: f64) {
        self.entries
            .retain(|_, entry| entry.expiration.is_none_or(|at| (at as f64) > now));
    }
}
