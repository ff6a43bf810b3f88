//! Per-user and per-address rate limits.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A request that exceeded a limit may retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Returns the wait in whole seconds, rounded up, for the `Retry-After` header.
    pub fn seconds(self) -> u64 {
        self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)
    }
}

/// Token-bucket limits keyed by client address and by user id.
#[derive(Debug, Clone)]
pub struct RateLimits {
    per_address: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    per_user: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<Arc<DefaultKeyedRateLimiter<K>>> {
    let per_minute = NonZeroU32::new(per_minute)?;
    // The whole minute's allowance may arrive as one burst.
    Some(Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))))
}

impl RateLimits {
    /// Builds the limits; a limit of 0 turns that limit off.
    pub fn new(per_address_per_minute: u32, per_user_per_minute: u32) -> Self {
        Self { per_address: limiter(per_address_per_minute), per_user: limiter(per_user_per_minute) }
    }

    pub fn check_address(&self, address: IpAddr) -> Result<(), RetryAfter> {
        match &self.per_address {
            Some(limiter) => limiter
                .check_key(&address)
                .map_err(|not_until| RetryAfter(not_until.wait_time_from(DefaultClock::default().now()))),
            None => Ok(()),
        }
    }

    pub fn check_user(&self, user_id: &str) -> Result<(), RetryAfter> {
        match &self.per_user {
            Some(limiter) => limiter
                .check_key(&user_id.to_owned())
                .map_err(|not_until| RetryAfter(not_until.wait_time_from(DefaultClock::default().now()))),
            None => Ok(()),
        }
    }

    /// Drops the state of keys whose buckets are full again, bounding memory.
    pub fn forget_idle_keys(&self) {
        if let Some(limiter) = &self.per_address {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_user {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_limit_allows_burst_then_rejects() {
        let limits = RateLimits::new(0, 3);
        for _ in 0..3 {
            assert!(limits.check_user("alice").is_ok());
        }
        let retry = limits.check_user("alice").unwrap_err();
        assert!(retry.seconds() >= 1, "{retry:?}");
        assert!(retry.seconds() <= 20, "{retry:?}");
        assert!(limits.check_user("bob").is_ok(), "users are limited separately");
    }

    #[test]
    fn address_limit_is_per_address() {
        let limits = RateLimits::new(1, 0);
        let first: IpAddr = "127.0.0.1".parse().unwrap();
        let second: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limits.check_address(first).is_ok());
        assert!(limits.check_address(first).is_err());
        assert!(limits.check_address(second).is_ok());
    }

    #[test]
    fn zero_turns_limits_off() {
        let limits = RateLimits::new(0, 0);
        for _ in 0..1000 {
            assert!(limits.check_user("alice").is_ok());
            assert!(limits.check_address("127.0.0.1".parse().unwrap()).is_ok());
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).seconds(), 1);
        assert_eq!(RetryAfter(Duration::from_secs(2)).seconds(), 2);
    }
}
