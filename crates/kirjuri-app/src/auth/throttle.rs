//! The per-address login throttle: a token bucket per client address,
//! drained only by failed sign-ins. In memory, per process.
//!
//! Not here: the per-account lockout, which lives in the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// only failed sign-ins drain, so an office behind one NAT address can sign in
/// all at once while a guesser from any address is slowed to
/// `max_failures` per `window`. In memory, per process: it is a brake, not the
/// lockout (which is per account, in the database, shared by every node).
///
/// Time comes from the caller (the app's clock), so tests need not sleep.
#[derive(Debug)]
pub struct LoginThrottle {
    /// Failures allowed in a burst.
    max_failures: u32,
    /// Time for an empty allowance to refill completely.
    window: TimeDelta,
    /// Remaining allowance per address.
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    allowance: f64,
    at: DateTime<Utc>,
}

/// Addresses tracked before full buckets are swept away.
const THROTTLE_SWEEP_AT: usize = 10_000;

impl LoginThrottle {
    /// A throttle allowing `max_failures` per `window_seconds` per address.
    pub fn new(max_failures: u32, window_seconds: u64) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window: TimeDelta::seconds(i64::try_from(window_seconds.max(1)).unwrap_or(i64::MAX)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Bucket, now: DateTime<Utc>) -> f64 {
        let elapsed = (now - bucket.at).num_milliseconds().max(0) as f64 / 1000.0;
        let per_second =
            f64::from(self.max_failures) / (self.window.num_milliseconds().max(1) as f64 / 1000.0);
        (bucket.allowance + elapsed * per_second).min(f64::from(self.max_failures))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        // A panic elsewhere while holding the lock leaves only counters behind.
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes one attempt from `ip`'s allowance before a password is checked,
    /// or refuses with how many seconds to wait: check and take are one step
    /// under the lock, so parallel attempts from one address cannot all pass
    /// before any is counted. A success gives it back ([`Self::refund`]).
    pub fn reserve(&self, ip: IpAddr, now: DateTime<Utc>) -> std::result::Result<(), u64> {
        let mut buckets = self.lock();
        if buckets.len() >= THROTTLE_SWEEP_AT {
            let max = f64::from(self.max_failures);
            buckets.retain(|_, b| self.refilled(*b, now) < max);
        }
        let allowance = buckets
            .get(&ip)
            .map_or(f64::from(self.max_failures), |b| self.refilled(*b, now));
        if allowance < 1.0 {
            let per_second = f64::from(self.max_failures)
                / (self.window.num_milliseconds().max(1) as f64 / 1000.0);
            let wait = ((1.0 - allowance) / per_second).ceil().max(1.0);
            return Err(wait as u64);
        }
        buckets.insert(
            ip,
            Bucket {
                allowance: allowance - 1.0,
                at: now,
            },
        );
        Ok(())
    }

    /// Gives back an attempt [`Self::reserve`] took, once it succeeded: only
    /// failures drain the allowance.
    pub fn refund(&self, ip: IpAddr, now: DateTime<Utc>) {
        let mut buckets = self.lock();
        if let Some(bucket) = buckets.get(&ip).copied() {
            let allowance = (self.refilled(bucket, now) + 1.0).min(f64::from(self.max_failures));
            buckets.insert(ip, Bucket { allowance, at: now });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_refuses_an_address_after_its_burst_and_refills_over_the_window() {
        let throttle = LoginThrottle::new(3, 60);
        let ip: IpAddr = [192, 0, 2, 1].into();
        let other: IpAddr = [192, 0, 2, 2].into();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for _ in 0..3 {
            assert!(throttle.reserve(ip, t0).is_ok());
        }
        let wait = throttle.reserve(ip, t0).unwrap_err();
        assert_eq!(wait, 20, "one failure refills in 60 s / 3");
        assert!(
            throttle.reserve(other, t0).is_ok(),
            "other addresses are unaffected"
        );
        assert!(throttle.reserve(ip, t0 + TimeDelta::seconds(19)).is_err());
        assert!(throttle.reserve(ip, t0 + TimeDelta::seconds(20)).is_ok());
    }

    #[test]
    fn a_refunded_attempt_does_not_drain_the_allowance() {
        let throttle = LoginThrottle::new(2, 60);
        let ip: IpAddr = [192, 0, 2, 1].into();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for _ in 0..10 {
            assert!(throttle.reserve(ip, t0).is_ok());
            throttle.refund(ip, t0);
        }
        assert!(throttle.reserve(ip, t0).is_ok());
        assert!(throttle.reserve(ip, t0).is_ok());
        assert!(
            throttle.reserve(ip, t0).is_err(),
            "two unrefunded take it all"
        );
    }
}
