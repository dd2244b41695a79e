//! A bound on the database loads that cache misses start, so a flood of distinct cold keys cannot
//! queue unbounded work on the pool: at most `running` loads query at once, at most `waiting`
//! more wait (each at most `wait`), and any beyond answer 503 with `Retry-After` at once.
//!
//! Concurrent misses of one key share one load (the cache's single flight) and so one place here.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiError;

pub struct LoadLimiter {
    /// Loads running or waiting: a request beyond this is refused without waiting.
    admitted: Semaphore,
    /// Loads querying the database.
    running: Semaphore,
    wait: Duration,
}

/// A place among the running loads; dropped when the load ends.
pub struct LoadPermit<'a> {
    _admitted: SemaphorePermit<'a>,
    _running: SemaphorePermit<'a>,
}

impl LoadLimiter {
    pub fn new(running: usize, waiting: usize, wait: Duration) -> Self {
        LoadLimiter {
            admitted: Semaphore::new(running + waiting),
            running: Semaphore::new(running),
            wait,
        }
    }

    /// Sized by the database pool: as many running loads as connections, sixteen times as many
    /// waiting (a cold query takes a few milliseconds, so they drain in tens of them), and a
    /// second of waiting at most.
    pub fn for_pool(connections: u32) -> Self {
        let running = connections.max(1) as usize;
        LoadLimiter::new(running, running * 16, Duration::from_secs(1))
    }

    /// A place to run one load, or `TryLater` when too many are queued or the wait runs out.
    pub async fn admit(&self) -> Result<LoadPermit<'_>, ApiError> {
        let admitted = self.admitted.try_acquire().map_err(|_| overloaded())?;
        let running = tokio::time::timeout(self.wait, self.running.acquire())
            .await
            .map_err(|_| overloaded())?
            .expect("the semaphore is never closed");
        Ok(LoadPermit {
            _admitted: admitted,
            _running: running,
        })
    }
}

fn overloaded() -> ApiError {
    metrics::counter!("cache_loads_refused_total").increment(1);
    ApiError::TryLater("too many requests are waiting for the database; try again shortly".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_beyond_running_plus_waiting_and_after_the_wait() {
        let limiter = LoadLimiter::new(1, 1, Duration::from_millis(50));
        let first = limiter.admit().await.expect("a free place");
        // The second waits for the first's place; meanwhile a third finds no room to wait.
        let (second, third) = tokio::join!(limiter.admit(), async {
            tokio::task::yield_now().await;
            limiter.admit().await.map(|_| ())
        });
        assert!(matches!(third, Err(ApiError::TryLater(_))));
        assert!(
            matches!(second, Err(ApiError::TryLater(_))),
            "its wait ran out"
        );
        drop(first);
        assert!(limiter.admit().await.is_ok(), "places are given back");
    }
}
