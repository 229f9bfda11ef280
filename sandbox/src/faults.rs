//! Fault injection: how slow, how rate-limited and how unreliable the sandbox pretends to be,
//! drawn from a seeded generator so that a run with the same requests fails the same way.
//!
//! The servers a client meets, each a knob here: latency that is fixed, that steps to another
//! value at a moment ([`LatencyStep`]) or jitters ([`Options::latency_max`]) whatever the load;
//! latency that grows with the load ([`Options::workers`] serve at once, the rest queue); a rate
//! limit counted as a token bucket, per fixed whole-second window or over any sliding second
//! ([`RateLimitKind`]), each refusing with a whole-second `Retry-After`; and a cap on requests in
//! flight ([`Options::max_in_flight`]).

use std::collections::{BTreeSet, VecDeque};
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
    /// Added to every API request before it is handled (with [`Options::workers`], the time a
    /// worker takes to serve it).
    pub latency: Duration,
    /// With a value, each request's latency is drawn evenly between `latency` and this (both
    /// moved by a [`LatencyStep`] once it has happened), whatever the load: jitter.
    pub latency_max: Option<Duration>,
    /// The latency changes at a moment, whatever the load: a server drifting for its own
    /// reasons (other clients, a deploy).
    pub latency_step: Option<LatencyStep>,
    /// API requests served at once; the others wait in arrival order for a free worker, so
    /// that latency grows with the load (a request's answer comes after its wait and its
    /// latency). `None` serves every request at once.
    pub workers: Option<usize>,
    /// Requests per second above which API requests get 429, counted as `rate_limit_kind`
    /// says; `None` for no limit.
    pub rate_limit: Option<f64>,
    /// How the rate limit counts.
    pub rate_limit_kind: RateLimitKind,
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
            latency_max: None,
            latency_step: None,
            workers: None,
            rate_limit: None,
            rate_limit_kind: RateLimitKind::TokenBucket,
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

/// A latency that changes once: requests arriving `after` the sandbox started take `to`
/// instead of [`Options::latency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyStep {
    pub after: Duration,
    pub to: Duration,
}

/// How a rate limit of `R` requests a second counts. Each answers `429` with the whole seconds
/// (at least 1) until a request would be taken, as `Retry-After` and `error.retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitKind {
    /// A bucket refilled at `R` a second, holding one second's worth and full at the start:
    /// a burst of `R`, then `R` a second.
    #[default]
    TokenBucket,
    /// `R` requests in each whole second since the sandbox started, the count starting over at
    /// each: a client may send `R` at the end of one window and `R` more at the start of the
    /// next.
    FixedWindow,
    /// At most `R` requests accepted in any second.
    SlidingWindow,
}

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

/// The state behind the faults: generators and rate limiter.
#[derive(Debug)]
pub struct Faults {
    rng: fastrand::Rng,
    /// Apart from `rng`, so that jitter leaves the seeded faults as they were.
    jitter: fastrand::Rng,
    limit: Option<RateLimit>,
    started: Instant,
}

/// Seeds the jitter generator apart from the faults'.
const JITTER_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

impl Faults {
    pub fn new(options: &Options, now: Instant) -> Faults {
        Faults {
            rng: fastrand::Rng::with_seed(options.seed),
            jitter: fastrand::Rng::with_seed(options.seed ^ JITTER_SEED),
            limit: options
                .rate_limit
                .map(|rate| RateLimit::new(options.rate_limit_kind, rate, now)),
            started: now,
        }
    }

    /// Takes a request out of the rate limit, or says how many seconds to wait.
    pub fn admit(&mut self, now: Instant) -> Result<(), ApiError> {
        match &mut self.limit {
            Some(limit) => limit.take(now).map_err(ApiError::rate_limited),
            None => Ok(()),
        }
    }

    /// The latency of a request arriving at `now`: the step's once it has happened, drawn up
    /// to the jitter's top.
    pub fn latency(&mut self, options: &Options, now: Instant) -> Duration {
        let since = now.saturating_duration_since(self.started);
        let (low, high) = match options.latency_step {
            Some(step) if since >= step.after => {
                let spread = options
                    .latency_max
                    .map_or(Duration::ZERO, |max| max.saturating_sub(options.latency));
                (step.to, step.to + spread)
            }
            _ => (options.latency, options.latency_max.unwrap_or(options.latency)),
        };
        if high <= low {
            return low;
        }
        low + (high - low).mul_f64(self.jitter.f64())
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

/// A rate limit as [`RateLimitKind`] counts it.
#[derive(Debug)]
enum RateLimit {
    Bucket(TokenBucket),
    Fixed(FixedWindow),
    Sliding(SlidingWindow),
}

impl RateLimit {
    fn new(kind: RateLimitKind, rate: f64, now: Instant) -> RateLimit {
        match kind {
            RateLimitKind::TokenBucket => RateLimit::Bucket(TokenBucket::new(rate, now)),
            RateLimitKind::FixedWindow => RateLimit::Fixed(FixedWindow::new(rate, now)),
            RateLimitKind::SlidingWindow => RateLimit::Sliding(SlidingWindow::new(rate)),
        }
    }

    /// Takes one request, or returns the whole seconds (at least 1) until one would be taken.
    fn take(&mut self, now: Instant) -> Result<(), u64> {
        match self {
            RateLimit::Bucket(bucket) => bucket.take(now),
            RateLimit::Fixed(window) => window.take(now),
            RateLimit::Sliding(window) => window.take(now),
        }
    }
}

/// Whole seconds (at least 1) of `wait`, as `Retry-After` counts them.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().clamp(1.0, 86_400.0) as u64
}

/// Requests a window of a second takes: the rate, at least one.
fn per_second(rate: f64) -> usize {
    rate.round().max(1.0) as usize
}

/// `allowed` requests in each whole second since `start`.
#[derive(Debug)]
struct FixedWindow {
    allowed: usize,
    start: Instant,
    /// The current window (seconds since `start`) and the requests it took.
    window: u64,
    taken: usize,
}

impl FixedWindow {
    fn new(rate: f64, now: Instant) -> FixedWindow {
        FixedWindow {
            allowed: per_second(rate),
            start: now,
            window: 0,
            taken: 0,
        }
    }

    fn take(&mut self, now: Instant) -> Result<(), u64> {
        let since = now.saturating_duration_since(self.start);
        let window = since.as_secs();
        if window != self.window {
            self.window = window;
            self.taken = 0;
        }
        if self.taken < self.allowed {
            self.taken += 1;
            return Ok(());
        }
        Err(whole_seconds(Duration::from_secs(window + 1).saturating_sub(since)))
    }
}

/// At most `allowed` requests taken in any second: the moments of those of the last second.
#[derive(Debug)]
struct SlidingWindow {
    allowed: usize,
    taken: VecDeque<Instant>,
}

impl SlidingWindow {
    fn new(rate: f64) -> SlidingWindow {
        SlidingWindow {
            allowed: per_second(rate),
            taken: VecDeque::new(),
        }
    }

    fn take(&mut self, now: Instant) -> Result<(), u64> {
        const SECOND: Duration = Duration::from_secs(1);
        while self
            .taken
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= SECOND)
        {
            self.taken.pop_front();
        }
        if self.taken.len() < self.allowed {
            self.taken.push_back(now);
            return Ok(());
        }
        let oldest = self.taken.front().copied().unwrap_or(now);
        Err(whole_seconds((oldest + SECOND).saturating_duration_since(now)))
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
            Err(whole_seconds(Duration::from_secs_f64(wait.min(86_400.0))))
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
    fn a_fixed_window_starts_over_each_whole_second() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut window = FixedWindow::new(3.0, start);
        for _ in 0..3 {
            window.take(at(900)).unwrap();
        }
        assert_eq!(window.take(at(950)), Err(1), "a twentieth of a second, rounded up");
        // The next window takes three more at once: six within 0.2 s.
        for _ in 0..3 {
            window.take(at(1_000)).unwrap();
        }
        assert_eq!(window.take(at(1_100)), Err(1));
        window.take(at(2_000)).unwrap();
    }

    #[test]
    fn a_sliding_window_takes_at_most_the_rate_in_any_second() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut window = SlidingWindow::new(3.0);
        window.take(at(0)).unwrap();
        window.take(at(900)).unwrap();
        window.take(at(950)).unwrap();
        // Unlike a fixed window, a new second does not start the count over.
        assert_eq!(
            window.take(at(999)),
            Err(1),
            "a millisecond until the first leaves, rounded up"
        );
        window.take(at(1_000)).unwrap();
        assert_eq!(window.take(at(1_500)), Err(1), "the second one leaves at 1.9 s");
        window.take(at(1_900)).unwrap();
        // Refusals are not counted: the limit is on requests taken.
        assert_eq!(window.take(at(1_920)), Err(1));
        window.take(at(1_950)).unwrap();
    }

    #[test]
    fn latency_steps_and_jitters_whatever_the_load() {
        let start = Instant::now();
        let options = Options {
            latency: Duration::from_millis(20),
            latency_max: Some(Duration::from_millis(80)),
            latency_step: Some(LatencyStep {
                after: Duration::from_millis(500),
                to: Duration::from_millis(60),
            }),
            ..Options::default()
        };
        let mut faults = Faults::new(&options, start);
        let draw = |faults: &mut Faults, ms| -> Vec<Duration> {
            (0..1_000)
                .map(|_| faults.latency(&options, start + Duration::from_millis(ms)))
                .collect()
        };
        let before = draw(&mut faults, 499);
        let after = draw(&mut faults, 500);
        let range = |d: &[Duration]| (*d.iter().min().unwrap(), *d.iter().max().unwrap());
        let (low, high) = range(&before);
        assert!(
            low >= Duration::from_millis(20) && low < Duration::from_millis(23),
            "{low:?}"
        );
        assert!(
            high <= Duration::from_millis(80) && high > Duration::from_millis(77),
            "{high:?}"
        );
        // The step moves the whole spread.
        let (low, high) = range(&after);
        assert!(
            low >= Duration::from_millis(60) && low < Duration::from_millis(63),
            "{low:?}"
        );
        assert!(
            high <= Duration::from_millis(120) && high > Duration::from_millis(117),
            "{high:?}"
        );
        // Jitter draws from its own generator: the seeded faults stay as they were.
        let mut plain = Faults::new(&Options::default(), start);
        let fates: Vec<f64> = (0..10).map(|_| plain.rng.f64()).collect();
        assert_eq!(fates, (0..10).map(|_| faults.rng.f64()).collect::<Vec<_>>());
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
