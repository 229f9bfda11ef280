//! Fault injection: how slow, how rate-limited and how unreliable the sandbox pretends to be,
//! drawn from a seeded generator so that a run with the same requests fails the same way.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::create::Idempotency;
use crate::subscription::WebhookOptions;
use crate::world::ApiError;

/// How the sandbox behaves beyond the rules: landing delay and faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// How long an accepted change stays queued before it lands.
    pub land_delay: Duration,
    /// Added to every API request before it is handled.
    pub latency: Duration,
    /// Requests per second above which API requests get 429 (a token bucket holding one
    /// second's worth); `None` for no limit.
    pub rate_limit: Option<f64>,
    /// API requests the sandbox serves at once; one arriving while this many are in flight
    /// (latency included) is answered 429 (code 1007) with `Retry-After:` [`IN_FLIGHT_RETRY_AFTER`]
    /// at once, as a server or proxy capping concurrent requests does. `None` for no cap.
    pub max_in_flight: Option<usize>,
    /// Share of API requests answered 5xx (code 3xxx) without being applied.
    pub error_rate: f64,
    /// Share of participant calls applied but answered 500 (code 3006).
    pub applied_error_rate: f64,
    /// Share of API requests handled (a participant call is applied) whose connection is then
    /// closed without an answer.
    pub drop_rate: f64,
    /// Share of participant calls answered `202 accepted` as usual (after the same checks) but
    /// never queued: the change never lands.
    pub lost_rate: f64,
    /// Handles (canonical) whose participant calls are always lost, as with `lost_rate`.
    pub lost_handles: BTreeSet<String>,
    /// Give each accepted change a landing time drawn between none and twice `land_delay`,
    /// instead of exactly `land_delay`: the changes of one chat then land out of the order Linq
    /// accepted them, as a queue that does not keep order might land them. A remove sent
    /// without waiting for the add it relies on then lands first, and the chat dips.
    pub scramble_landing: bool,
    /// Whether `POST /v3/chats` honours the message's `idempotency_key` (a repeat answers the
    /// chat the key made and sends nothing) or ignores it (a repeat makes another chat).
    pub idempotency: Idempotency,
    /// Share of creates that make the chat and send its message, then answer 500 (code 3006).
    pub create_error_rate: f64,
    /// Share of creates that make the chat and send its message, then close the connection
    /// without an answer.
    pub create_drop_rate: f64,
    /// The webhook subscription: where webhooks go (none by default), Linq's retries and the
    /// delivery faults.
    pub webhooks: WebhookOptions,
    /// Seed of the fault generator.
    pub seed: u64,
    /// Once this many API requests have been answered, the token stops working: every later
    /// request is answered 401 (code 2004), as when a token is revoked during a run.
    pub revoke_token_after: Option<usize>,
}

impl Default for Options {
    /// No delay and no faults: changes land as soon as the next request looks.
    fn default() -> Options {
        Options {
            land_delay: Duration::ZERO,
            latency: Duration::ZERO,
            rate_limit: None,
            max_in_flight: None,
            error_rate: 0.0,
            applied_error_rate: 0.0,
            drop_rate: 0.0,
            lost_rate: 0.0,
            lost_handles: BTreeSet::new(),
            scramble_landing: false,
            idempotency: Idempotency::Honour,
            create_error_rate: 0.0,
            create_drop_rate: 0.0,
            webhooks: WebhookOptions::default(),
            seed: 0,
            revoke_token_after: None,
        }
    }
}

/// The `Retry-After` (seconds) of a request refused for [`Options::max_in_flight`].
pub const IN_FLIGHT_RETRY_AFTER: u64 = 1;

/// The fault a request met, as recorded in the call log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Answered 429 for the rate limit; nothing applied.
    RateLimited,
    /// Answered 429 at once because [`Options::max_in_flight`] requests were in flight; nothing
    /// applied.
    TooManyInFlight,
    /// Answered 5xx; nothing applied.
    ServerError,
    /// Applied, then answered 500.
    AppliedServerError,
    /// Handled (and applied), then the connection was closed without an answer.
    Dropped,
    /// A participant call answered `202 accepted` that was never queued: it never lands.
    Lost,
    /// Answered as a [`crate::Tamper`] scripts; nothing applied.
    Tampered,
}

/// What the generator decided for one request, before it is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Draw {
    Clean,
    /// Answer this error and apply nothing.
    Fail(ApiError),
    /// Handle the request, then answer 500 if it succeeded.
    ApplyThenFail,
    /// Handle the request, then drop the connection if it succeeded.
    ApplyThenDrop,
    /// A participant call: check it and answer as usual, but never queue it.
    Lose,
}

/// The state behind the faults: generator and rate limiter.
#[derive(Debug)]
pub struct Faults {
    rng: fastrand::Rng,
    bucket: Option<TokenBucket>,
}

impl Faults {
    pub fn new(options: &Options, now: Instant) -> Faults {
        Faults {
            rng: fastrand::Rng::with_seed(options.seed),
            bucket: options.rate_limit.map(|rate| TokenBucket::new(rate, now)),
        }
    }

    /// Takes a request out of the rate limit, or says how many seconds to wait.
    pub fn admit(&mut self, now: Instant) -> Result<(), ApiError> {
        match &mut self.bucket {
            Some(bucket) => bucket.take(now).map_err(ApiError::rate_limited),
            None => Ok(()),
        }
    }

    /// How long an accepted change stays queued: `land_delay`, or with `scramble_landing` a
    /// time drawn between none and twice it.
    pub fn landing_delay(&mut self, options: &Options) -> Duration {
        if options.scramble_landing {
            options.land_delay.mul_f64(2.0 * self.rng.f64())
        } else {
            options.land_delay
        }
    }

    /// Draws the fate of one request.
    pub fn draw(&mut self, options: &Options) -> Draw {
        let r = self.rng.f64();
        let mut bound = options.error_rate;
        if r < bound {
            return Draw::Fail(if self.rng.bool() {
                ApiError::internal()
            } else {
                ApiError::unavailable()
            });
        }
        bound += options.applied_error_rate;
        if r < bound {
            return Draw::ApplyThenFail;
        }
        bound += options.drop_rate;
        if r < bound {
            return Draw::ApplyThenDrop;
        }
        bound += options.lost_rate;
        if r < bound {
            return Draw::Lose;
        }
        Draw::Clean
    }
}

/// A token bucket refilled at `rate` per second and holding at most one second's worth.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, now: Instant) -> TokenBucket {
        let rate = rate.max(f64::MIN_POSITIVE);
        let capacity = rate.max(1.0);
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token, or returns the whole seconds (at least 1) until one is there.
    fn take(&mut self, now: Instant) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now.max(self.last);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            Err(wait.ceil().clamp(1.0, 86_400.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_second_of_burst_then_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5.0, start);
        for _ in 0..5 {
            bucket.take(start).unwrap();
        }
        assert_eq!(bucket.take(start), Err(1));
        bucket.take(start + Duration::from_millis(200)).unwrap();
        assert!(bucket.take(start + Duration::from_millis(200)).is_err());
    }

    #[test]
    fn a_slow_limit_asks_for_a_longer_wait() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0.25, start);
        bucket.take(start).unwrap();
        assert_eq!(bucket.take(start), Err(4));
    }

    #[test]
    fn draws_follow_the_rates_and_the_seed() {
        let options = Options {
            error_rate: 0.1,
            applied_error_rate: 0.2,
            drop_rate: 0.3,
            lost_rate: 0.15,
            seed: 7,
            ..Options::default()
        };
        let tally = || {
            let mut faults = Faults::new(&options, Instant::now());
            let mut counts = [0usize; 5];
            for _ in 0..10_000 {
                counts[match faults.draw(&options) {
                    Draw::Fail(_) => 0,
                    Draw::ApplyThenFail => 1,
                    Draw::ApplyThenDrop => 2,
                    Draw::Lose => 3,
                    Draw::Clean => 4,
                }] += 1;
            }
            counts
        };
        let counts = tally();
        assert_eq!(counts, tally(), "same seed, same faults");
        for (count, share) in counts.iter().zip([0.1, 0.2, 0.3, 0.15, 0.25]) {
            let expected = share * 10_000.0;
            assert!((*count as f64 - expected).abs() < expected * 0.1, "{counts:?}");
        }
    }
}
