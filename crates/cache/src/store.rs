use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::CacheError;

/// A key-value backend: what `Cache` needs of Cloudflare KV or of its in-process stand-in.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// A short name for logs and metrics ("cloudflare").
    fn name(&self) -> &'static str;
    /// The value, or `None` for a missing or expired key.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError>;
    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError>;
    /// Deleting a missing key succeeds.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    async fn delete_many(&self, keys: &[String]) -> Result<(), CacheError> {
        for key in keys {
            self.delete(key).await?;
        }
        Ok(())
    }
}
