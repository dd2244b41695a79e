//! A local stand-in for Cloudflare Workers KV's REST API (`docs/cloudflare-kv.md`), so
//! the real client can be developed, tested and benchmarked without Cloudflare.
//!
//! Paths are Cloudflare's, under `/client/v4/accounts/{account}/storage/kv/namespaces/{ns}`.
//! Control endpoints under `/__emulator` read request counts, change injected faults and move the
//! emulator's clock (for TTL expiry without waiting).

mod api;
mod control;
mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::DefaultBodyLimit;
use axum::Router;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

pub use store::MAX_VALUE_BYTES;

/// Faults to inject into every KV request (not into control requests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Delay before answering, in milliseconds.
    pub latency_ms: u64,
    /// Share of requests (0 to 1) answered with a 500.
    pub error_rate: f64,
    /// Answer the next N requests with a 500, then behave.
    pub fail_next: u32,
    /// Never answer (until the client gives up).
    pub hang: bool,
    /// Answer every request with 429, as Cloudflare does once the account's API limit is exceeded.
    pub force_429: bool,
    /// `retry-after` of forced 429s, in seconds (Cloudflare: 300).
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The API token requests must carry as `Authorization: Bearer …`.
    pub token: String,
    /// The namespaces that exist; `None` accepts any namespace id.
    pub namespaces: Option<Vec<String>>,
    pub faults: Faults,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token: "emulator-token".into(),
            namespaces: None,
            faults: Faults::default(),
        }
    }
}

/// Requests served, by operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub total: u64,
    pub by_operation: BTreeMap<String, u64>,
    /// `expiration_ttl` of every value write, in order (for checking what a client sends).
    pub write_ttls: Vec<Option<u64>>,
}

impl Stats {
    pub fn count(&self, operation: &str) -> u64 {
        self.by_operation.get(operation).copied().unwrap_or(0)
    }
}

pub(crate) struct Emulator {
    options: Options,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    store: store::Store,
    /// Seconds the clock was moved forward through the control API.
    clock_offset: AtomicU64,
}

impl Emulator {
    /// Unix seconds on the emulator's clock.
    pub(crate) fn now(&self) -> f64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        real + self.clock_offset.load(Ordering::SeqCst) as f64
    }

    /// Whether requests may name this namespace (any, unless a list was configured).
    pub(crate) fn knows_namespace(&self, namespace: &str) -> bool {
        self.options
            .namespaces
            .as_ref()
            .is_none_or(|known| known.iter().any(|ns| ns == namespace))
    }

    /// The namespaces a listing shows: the configured ones, or else those written to.
    pub(crate) fn namespace_ids(&self) -> Vec<String> {
        match &self.options.namespaces {
            Some(known) => known.clone(),
            None => self.store.namespace_ids(),
        }
    }
}

type Shared = Arc<Emulator>;

/// The emulator's routes.
pub fn router(options: Options) -> Router {
    let faults = options.faults.clone();
    let emulator = Arc::new(Emulator {
        options,
        faults: Mutex::new(faults),
        stats: Mutex::new(Stats::default()),
        store: store::Store::default(),
        clock_offset: AtomicU64::new(0),
    });
    Router::new()
        .nest(
            "/client/v4/accounts/{account}/storage/kv/namespaces",
            api::router(),
        )
        .nest("/__emulator", control::router())
        .layer(DefaultBodyLimit::max(2 * MAX_VALUE_BYTES))
        .with_state(emulator)
}

/// A running emulator, for tests and benchmarks.
pub struct Running {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The base URL to give a client, like Cloudflare's `https://api.cloudflare.com/client/v4`.
    pub fn api_base(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    /// The control endpoints' base URL.
    pub fn control_base(&self) -> String {
        format!("http://{}/__emulator", self.addr)
    }

    /// Requests served so far.
    pub async fn stats(&self) -> reqwest::Result<Stats> {
        reqwest::get(format!("{}/stats", self.control_base()))
            .await?
            .json()
            .await
    }

    /// Replaces the injected faults.
    pub async fn set_faults(&self, faults: &Faults) -> reqwest::Result<()> {
        reqwest::Client::new()
            .put(format!("{}/faults", self.control_base()))
            .json(faults)
            .send()
            .await?
            .error_for_status()
            .map(|_| ())
    }

    /// Moves the emulator's clock forward.
    pub async fn advance_clock(&self, seconds: u64) -> reqwest::Result<()> {
        reqwest::Client::new()
            .post(format!("{}/clock/advance", self.control_base()))
            .json(&serde_json::json!({ "seconds": seconds }))
            .send()
            .await?
            .error_for_status()
            .map(|_| ())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves on `listener` until the process ends.
pub async fn serve(listener: TcpListener, options: Options) -> std::io::Result<()> {
    axum::serve(listener, router(options)).await
}

/// Starts an emulator on a free loopback port in this runtime.
pub async fn spawn(options: Options) -> std::io::Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = serve(listener, options).await;
    });
    Ok(Running { addr, task })
}
