//! The client-side request budget for Cloudflare's API.
//!
//! Cloudflare allows one user 1,200 API requests per five minutes, across the whole account, and
//! refuses every call for five minutes once that is exceeded. The budget is a GCRA rate limit
//! (`governor`) whose burst plus refill over any five minutes equals the configured number, so no
//! load can exceed it. A share of it is reserved for invalidations: reads and value writes draw
//! from a smaller limit first, so when the budget runs short, they stop before deletes do.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

const WINDOW: Duration = Duration::from_secs(300);

/// Which calls a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Reads and value writes: skipped (reads go to the database, writes are dropped) when short.
    Value,
    /// Deletes that keep the cache true: queued and retried when short, never dropped.
    Invalidation,
}

pub struct Budget {
    total: DefaultDirectRateLimiter,
    values: DefaultDirectRateLimiter,
}

impl Budget {
    /// At most `per_five_minutes` calls in any five minutes; `reserved_percent` of them only for
    /// invalidations.
    pub fn new(per_five_minutes: u32, reserved_percent: u32) -> Budget {
        let values = per_five_minutes * (100 - reserved_percent.min(90)) / 100;
        Budget {
            total: limiter(per_five_minutes),
            values: limiter(values),
        }
    }

    /// Takes one call from the budget, or answers `false` (and takes nothing from the total).
    pub fn take(&self, priority: Priority) -> bool {
        match priority {
            Priority::Invalidation => self.total.check().is_ok(),
            Priority::Value => self.values.check().is_ok() && self.total.check().is_ok(),
        }
    }
}

/// A limiter allowing at most `calls` in any five-minute window: a burst of a tenth of them, and
/// the rest spread evenly over the window.
fn limiter(calls: u32) -> DefaultDirectRateLimiter {
    let calls = calls.max(2);
    let burst = (calls / 10).max(1);
    let refill = calls - burst;
    let period = WINDOW / refill;
    let quota = Quota::with_period(period)
        .expect("non-zero period")
        .allow_burst(NonZeroU32::new(burst).expect("non-zero burst"));
    RateLimiter::direct(quota)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_takes_no_more_than_its_share() {
        let budget = Budget::new(1000, 20);
        let values = (0..10_000).filter(|_| budget.take(Priority::Value)).count();
        assert_eq!(values, 80, "a tenth of the 800 value calls may burst");
        let invalidations = (0..10_000)
            .filter(|_| budget.take(Priority::Invalidation))
            .count();
        assert_eq!(
            invalidations, 20,
            "the rest of the total burst stays for invalidations"
        );
    }
}
