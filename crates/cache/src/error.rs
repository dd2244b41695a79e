use std::fmt;

use serde::Deserialize;
use thiserror::Error;

/// One entry of Cloudflare's `errors` array (its other fields ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiMessage {
    #[serde(default)]
    pub code: u64,
    #[serde(default)]
    pub message: String,
}

impl fmt::Display for ApiMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

/// The one error type of the cache layer. It never carries a credential.
#[derive(Debug, Error, Clone)]
pub enum CacheError {
    /// The backend could not be reached, timed out, failed (5xx), or calls are paused (after a
    /// 429 from Cloudflare, or while the circuit breaker is open).
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// The service's own request budget for the backend is spent for now; nothing was sent.
    #[error("cache request budget exhausted; call not sent")]
    Throttled,
    /// The backend refused the request.
    #[error("cache backend answered {status}: {}", list(.errors))]
    Backend {
        status: u16,
        errors: Vec<ApiMessage>,
    },
    /// A value could not be encoded.
    #[error("cache value could not be encoded: {0}")]
    Encode(String),
}

fn list(errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return "no error detail".into();
    }
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
