//! The cache formula-api reads through: the contract's keys, the layers that hold values (the
//! local layer in this process; Cloudflare Workers KV behind it in production), and `Cache`,
//! which does read-through, TTLs and invalidation after a database commit.

mod budget;
mod cloudflare;
mod error;
pub mod keys;
mod local;
mod metric_handles;
mod read_through;
mod store;

pub use budget::Priority;
pub use cloudflare::{CloudflareKv, CloudflareOptions, DEFAULT_API_BASE};
pub use error::{ApiMessage, CacheError};
pub use metric_handles::MetricHandles;
pub use read_through::{Cache, CacheOptions, Lookup, Peers};
pub use store::KvStore;

/// Cloudflare refuses a TTL under 60 seconds; so does this service.
pub const MIN_TTL_SECS: u64 = 60;
/// The contract's default TTL: 20 minutes.
pub const DEFAULT_TTL_SECS: u64 = 1200;
