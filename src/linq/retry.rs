//! The retry policy: how many times, and how long to back off between attempts.

use std::sync::Mutex;
use std::time::Duration;

/// How transient failures are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per call for server errors, timeouts and dropped connections (1 = no retry).
    pub max_attempts: u32,
    /// Attempts per call answered `429`; higher, because a rate limit is a signal to slow down,
    /// not a fault.
    pub max_rate_limited: u32,
    /// The first backoff; it doubles with each attempt.
    pub base_delay: Duration,
    /// No backoff (nor `Retry-After`) is longer than this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_rate_limited: 30,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Jittered exponential backoff. "Equal jitter": half the exponential delay, plus a random
/// share of the other half, so retries of many tasks spread out but never come back at once.
#[derive(Debug)]
pub(crate) struct Backoff {
    rng: Mutex<fastrand::Rng>,
}

impl Backoff {
    pub(crate) fn new(seed: Option<u64>) -> Backoff {
        let rng = seed.map(fastrand::Rng::with_seed).unwrap_or_default();
        Backoff { rng: Mutex::new(rng) }
    }

    /// The delay before attempt `attempt + 1`, where `attempt` counts from 1.
    pub(crate) fn delay(&self, policy: &RetryPolicy, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let full = policy.base_delay.saturating_mul(1 << exponent).min(policy.max_delay);
        let half = full / 2;
        let share = self.rng.lock().expect("backoff rng lock").f64();
        half + half.mul_f64(share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        let backoff = Backoff::new(Some(7));
        for attempt in 1..10 {
            let full = Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            let d = backoff.delay(&policy, attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} outside {full:?}");
        }
        let delays: Vec<_> = (0..5).map(|_| backoff.delay(&policy, 4)).collect();
        assert!(delays.windows(2).any(|w| w[0] != w[1]), "no jitter: {delays:?}");
    }
}
