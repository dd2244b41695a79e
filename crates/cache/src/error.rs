use thiserror::Error;

/// The one error type of the cache layer. It never carries a credential.
#[derive(Debug, Error, Clone)]
pub enum CacheError {
    /// The backend could not be reached, timed out, or is paused (rate limit, open breaker).
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with an error.
    #[error("cache backend answered {status}: {message}")]
    Backend { status: u16, message: String },
    /// A value could not be encoded.
    #[error("cache value could not be encoded: {0}")]
    Encode(String),
}
