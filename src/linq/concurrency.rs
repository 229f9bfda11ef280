//! How many requests are in flight at once, shared by every task of a run: a ceiling
//! (`--parallelism`) and under it a limit that adapts to the server, as TCP Vegas and Netflix's
//! concurrency-limits (Vegas, Gradient2, AIMD) do.
//!
//! [`Controller`] is the rule, pure logic driven by the caller's clock; [`Limiter`] applies it:
//! every attempt holds a [`Permit`] from before it is paced until its answer is read.
//!
//! The rule, for a limit `L` and a request sent while `n` requests were in flight (itself
//! included):
//!
//! 1. Answers are gathered into windows of about one round trip (at least [`MIN_WINDOW`], or
//!    [`SLOW_START_WINDOW`] during slow start after the first, and a few answers). A window's latency is the mean
//!    of its answers'; the base latency is the lowest window latency of the last
//!    [`BASE_HORIZON`], the run's first window left out (it holds only the fastest answers of
//!    the first requests). Every comparison with the base allows for the window's noise (twice the
//!    standard error of its mean), so that a server whose latency jitters is not taken for one
//!    that queues.
//! 2. Growth. A window that used the whole limit (a request went out with `L` in flight during
//!    it) and whose latency holds (at most [`HOLDS`] × base + 1 ms) grows `L`: at first it doubles
//!    every [`SLOW_START_WINDOW`] of the window (slow start: twice to four times a window), and
//!    once the server has pushed back it grows by a tenth (at least one) a window. With the
//!    same latency, more requests in flight finish more requests per second (Little's law:
//!    throughput = in flight / latency), so the limit grows while throughput rises. A window
//!    that left the limit unused says nothing about more: no change. A used window whose
//!    latency is past holding but within the tolerance holds `L`; in slow start only
//!    [`WARM_WINDOWS`] of them in a row end it (one is often a hiccup of a busy host, and a
//!    later window back within holding doubles again, as in HyStart++).
//! 3. Latency. A window that used at least half the limit and whose latency is past
//!    [`TOLERANCE`] × base + 2 ms means requests queue at the server: more in flight only adds
//!    latency. `L` shrinks in proportion to the excess over the middle of the two bounds, by
//!    half at most. Answers to requests
//!    sent before the shrink are then left out of windows: they tell of the limit before it.
//!    A shrink ends slow start, except when the very next window is back within holding: a
//!    queue the limit caused would still be near the shrink's aim, so the rise was a hiccup of
//!    the host's (a burst of the slow start queued on a busy machine), and slow start goes on,
//!    once until it next begins.
//! 4. Drift. Queueing that roster causes is cured by fewer requests in flight: with a quarter
//!    fewer, latency falls. A server's own drift (load from other clients, a deploy) is not. So
//!    a window after a shrink that had at least a quarter fewer in flight than the window it is
//!    compared with, and whose latency is still within [`DRIFT`] of that window's, shows the
//!    rise was the server's. The first window after the first shrink is compared with the
//!    window that showed the rise, by that window's slowest answer (its mean may mix answers
//!    from before the rise, a step in latency or the end of slow start, and fall short of the
//!    new latency; its slowest does not); each later one with the window after the shrink
//!    before. Then its latency becomes the base (the lowest of the last
//!    [`BASE_HORIZON`] is forgotten, as Vegas and BBR re-probe their base), and `L` goes back to
//!    where it stood before the first shrink of that rise. Fewer in flight and a lower latency
//!    is queueing, and the shrinking goes on until the latency is back within the tolerance.
//! 5. A `429`: the server takes fewer than `n` at once. The first `429` to a request sent after
//!    the last decrease sets `L` to `n − 1`, within 90% and 50% of `L`; one to a request sent
//!    before it is old news, but still lowers `L` to its own `n − 1`, down to half the limit
//!    before that decrease. Growth then pauses for twice the `Retry-After` (at least
//!    [`MIN_HOLD`]), doubled again for each `429` in a row at the same level, and near that level `L` grows by one at
//!    a time: a server with a fixed cap is probed rarely, each probe costing one `429`. A `503`
//!    or a request that got no answer in time says the server is overloaded but not how much:
//!    `L` drops by a tenth, once for the requests sent before the drop.
//! 6. A `429` to a request sent after a decrease, within the limit that decrease set, shows that
//!    fewer requests in flight did not cure it: a rate limit ([`Verdict::RateLimit`]), which the
//!    pacer takes over (see `pacer`). The decrease was no cure, so `L` goes back to where it
//!    stood before it and no level is kept; every `429` until the `Retry-After` has passed is
//!    the same rate limit's, and leaves `L` alone. Any other `429` asks only for fewer in flight
//!    ([`Verdict::Concurrency`]): the request waits its own `Retry-After`, the others go on.
//! 7. `1 ≤ L ≤ ceiling`. A fixed limit (not adaptive) is the ceiling, and every `429` to it is a
//!    rate limit.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify, Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// `--parallelism` when not given: high enough that the adaptive limit, not the ceiling,
/// decides on the servers of the benchmark (`BENCHMARKS.md`).
pub const DEFAULT_PARALLELISM: usize = 256;
/// Where the adaptive limit starts (the ceiling, when lower).
pub const INITIAL_LIMIT: usize = 16;
/// The shortest window of answers once slow start has ended: long enough for a mean that a
/// jittering server does not sway.
pub const MIN_WINDOW: Duration = Duration::from_millis(100);
/// The shortest window of slow start, and how often at most it doubles the limit. Two round
/// trips of a near server: doubling every round trip would reach a high limit before a rate
/// limit's first `429` (a bucket or window of a second's worth, spent by the start) came back,
/// and every request then in flight would be refused; doubling every two, those in flight then
/// are about what the bucket had left, a few dozen.
pub const SLOW_START_WINDOW: Duration = Duration::from_millis(40);
/// Answers a window needs at least (fewer when the limit is lower).
const MIN_SAMPLES: usize = 8;
/// How long the lowest window latency stays the base.
pub const BASE_HORIZON: Duration = Duration::from_secs(10);
/// Latency holds while at most this multiple of the base (plus [`HOLD_SLACK`]).
pub const HOLDS: f64 = 1.1;
const HOLD_SLACK: Duration = Duration::from_millis(1);
/// Latency has grown past this multiple of the base (plus [`GROWN_SLACK`]).
pub const TOLERANCE: f64 = 1.5;
const GROWN_SLACK: Duration = Duration::from_millis(2);
/// Windows in a row whose latency is past holding, within the tolerance, that end slow start.
/// One such window is often the host's doing (a burst of the slow start queued on a busy
/// machine), not the server's: as HyStart++'s conservative slow start, a later window back
/// within holding resumes the doubling.
pub const WARM_WINDOWS: u32 = 3;
/// A latency still at least this share of the one before a quarter fewer were in flight has not
/// been cured by them: the server drifted.
pub const DRIFT: f64 = 0.85;
/// Windows' noise: this many standard errors of their mean.
const NOISE_ERRORS: f64 = 2.0;
/// The shortest pause in growth after a rejection, and the longest.
pub const MIN_HOLD: Duration = Duration::from_secs(1);
const MAX_HOLD: Duration = Duration::from_secs(30);

/// How the server rejected a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `429 Too Many Requests`, with its `Retry-After` if any.
    TooMany(Option<Duration>),
    /// `503 Service Unavailable`, or no answer in time.
    Overloaded,
}

/// What a rejected request says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fewer requests in flight is the cure: the limit is lowered, the request waits its own
    /// `Retry-After`, the other requests go on.
    Concurrency,
    /// Rejected although fewer were in flight: a rate limit, for the pacer.
    RateLimit,
}

/// Why the limit last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    /// The starting limit, or a new ceiling.
    #[default]
    Start,
    /// Latency held while the limit was used.
    Growth,
    /// Latency grew past the tolerance.
    Latency,
    /// The server rejected a request (`429`, `503`) or did not answer in time.
    Rejected,
    /// Latency rose and fewer requests in flight did not bring it down: the server's own
    /// drift, taken as the new base.
    Drift,
}

/// The limiter as the rest of roster sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Requests allowed in flight now.
    pub limit: usize,
    /// The highest limit so far.
    pub peak: usize,
    /// `--parallelism`.
    pub ceiling: usize,
    pub adaptive: bool,
    /// Requests sent and not yet answered.
    pub in_flight: usize,
    /// The latest window's mean latency, and the base it is compared with.
    pub latency: Option<Duration>,
    pub base: Option<Duration>,
    /// Why the limit last changed.
    pub cause: Cause,
    /// Windows evaluated and rejections seen so far: changes with every decision, even one that
    /// keeps the limit.
    pub decisions: u64,
}

/// A request as the controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When it went out.
    pub sent: Instant,
    /// Requests in flight as it went out, itself included.
    pub in_flight: usize,
}

/// The answers of one window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    samples: usize,
    total: Duration,
    /// The sum of the squared latencies, in seconds², for the noise of the mean.
    squares: f64,
    /// The slowest answer: a window lasts at least as long, or it would hold only the fast
    /// answers of a server whose latency varies (the slow ones still on their way).
    slowest: Duration,
    max_in_flight: usize,
}

impl Window {
    fn new(start: Instant) -> Window {
        Window {
            start,
            samples: 0,
            total: Duration::ZERO,
            squares: 0.0,
            slowest: Duration::ZERO,
            max_in_flight: 0,
        }
    }

    fn add(&mut self, rtt: Duration, in_flight: usize) {
        self.samples += 1;
        self.total += rtt;
        self.squares += rtt.as_secs_f64().powi(2);
        self.slowest = self.slowest.max(rtt);
        self.max_in_flight = self.max_in_flight.max(in_flight);
    }

    fn mean(&self) -> Duration {
        self.total / self.samples.max(1) as u32
    }

    /// How far the mean may stray by chance: [`NOISE_ERRORS`] standard errors.
    fn noise(&self) -> Duration {
        let n = self.samples.max(1) as f64;
        let mean = self.total.as_secs_f64() / n;
        let variance = (self.squares / n - mean * mean).max(0.0);
        Duration::from_secs_f64(NOISE_ERRORS * (variance / n).sqrt())
    }
}

/// A rise in latency answered by shrinking, until a window tells whether fewer requests in
/// flight cured it (rule 4).
#[derive(Debug, Clone, Copy)]
struct Rise {
    /// The limit before the first shrink: where a drift puts it back.
    held: f64,
    /// The window that showed the rise: its slowest answer and the most in flight during it.
    /// Its mean may mix answers from before the rise with answers from after, its slowest does
    /// not fall short of the new latency: the first window after the shrink is compared with it.
    first: (Duration, usize),
    /// The latest window after a shrink (its answers all sent after it), to compare the next
    /// with; `None` while the only window seen mixed answers from before.
    after: Option<(Duration, usize)>,
}

/// The adaptive limit: pure logic, every moment passed in. See the module doc for the rule.
#[derive(Debug, Clone)]
pub struct Controller {
    ceiling: usize,
    adaptive: bool,
    limit: f64,
    slow_start: bool,
    /// Windows in a row, in slow start, whose latency was past holding but within the tolerance.
    warm: u32,
    /// Set by a shrink that ended slow start: the next window, back within holding, resumes it.
    resume: bool,
    /// Whether slow start was resumed so since it last began (once at most).
    resumed: bool,
    window: Window,
    /// Window latencies of the last [`BASE_HORIZON`], for the base.
    recent: VecDeque<(Instant, Duration)>,
    latency: Option<Duration>,
    /// When the limit was last lowered for a rejection; rejections of requests sent before it
    /// are old news.
    last_decrease: Option<Instant>,
    /// Old news lowers the limit down to this at most.
    round_floor: f64,
    /// The limit the last decrease left: a `429` within it, after it, is a rate limit.
    cured: Option<usize>,
    /// Requests in flight at the last rejection, while it holds; growth is careful near it.
    level: Option<usize>,
    /// The limit before the last decrease for a rejection: where a rate limit puts it back.
    before_decrease: f64,
    /// Until then, every `429` is the rate limit's that a `429` showed (rule 6).
    rate_limited_until: Option<Instant>,
    /// Answers to requests sent before this (the last shrink for latency) are left out of
    /// windows.
    epoch: Option<Instant>,
    /// The rise in latency being answered, if any.
    rise: Option<Rise>,
    /// Rejections in a row at about the same level.
    strikes: u32,
    hold_until: Option<Instant>,
    /// When the limit first reached the level: a window begun after it, used and unrejected,
    /// shows the level has moved.
    probed_at: Option<Instant>,
    peak: usize,
    cause: Cause,
    decisions: u64,
}

impl Controller {
    /// A controller under `ceiling` (at least 1), adaptive or fixed at the ceiling.
    pub fn new(ceiling: usize, adaptive: bool, now: Instant) -> Controller {
        let ceiling = ceiling.max(1);
        let limit = if adaptive { INITIAL_LIMIT.min(ceiling) } else { ceiling };
        Controller {
            ceiling,
            adaptive,
            limit: limit as f64,
            slow_start: true,
            warm: 0,
            resume: false,
            resumed: false,
            window: Window::new(now),
            recent: VecDeque::new(),
            latency: None,
            last_decrease: None,
            round_floor: 1.0,
            cured: None,
            level: None,
            before_decrease: limit as f64,
            rate_limited_until: None,
            epoch: None,
            rise: None,
            strikes: 0,
            hold_until: None,
            probed_at: None,
            peak: limit,
            cause: Cause::Start,
            decisions: 0,
        }
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        (self.limit.floor() as usize).clamp(1, self.ceiling)
    }

    pub fn ceiling(&self) -> usize {
        self.ceiling
    }

    pub fn adaptive(&self) -> bool {
        self.adaptive
    }

    /// Sets a new ceiling and mode; the limit is kept under the ceiling (or set to it when fixed).
    pub fn set_ceiling(&mut self, ceiling: usize, adaptive: bool) {
        self.ceiling = ceiling.max(1);
        self.adaptive = adaptive;
        self.limit = if adaptive {
            self.limit.min(self.ceiling as f64)
        } else {
            self.ceiling as f64
        };
        self.peak = self.limit();
        self.cause = Cause::Start;
    }

    /// The state as [`Snapshot`], `in_flight` filled in by the caller.
    pub fn snapshot(&self, in_flight: usize) -> Snapshot {
        Snapshot {
            limit: self.limit(),
            peak: self.peak,
            ceiling: self.ceiling,
            adaptive: self.adaptive,
            in_flight,
            latency: self.latency,
            base: self.base(),
            cause: self.cause,
            decisions: self.decisions,
        }
    }

    fn base(&self) -> Option<Duration> {
        self.recent.iter().map(|(_, latency)| *latency).min()
    }

    /// What a request takes when nothing queues, as far as known yet: the base, else the
    /// latest window's latency, else the mean of the answers of the window under way (the
    /// run's first, which is no base).
    pub fn expected_latency(&self) -> Option<Duration> {
        let running = (self.window.samples > 0).then(|| self.window.mean());
        self.base().or(self.latency).or(running)
    }

    /// A request went out as `sample`: the window records how far the limit was used. A
    /// window with nothing sent or answered yet starts with its first request, so that the
    /// time before the first request (reading files, planning) is no part of it.
    pub fn sent(&mut self, sample: Sample) {
        let window = &mut self.window;
        if window.samples == 0 && window.max_in_flight == 0 {
            window.start = window.start.max(sample.sent);
        }
        window.max_in_flight = window.max_in_flight.max(sample.in_flight);
    }

    /// An answer (anything but a rejection) at `now` to a request sent as `sample` says. True
    /// when a window ended, whatever was decided.
    pub fn answered(&mut self, sample: Sample, now: Instant) -> bool {
        if !self.adaptive || self.epoch.is_some_and(|epoch| sample.sent < epoch) {
            return false;
        }
        let rtt = now.saturating_duration_since(sample.sent);
        // The run's first window is a whole [`MIN_WINDOW`]: a rate limit's second's worth is
        // spent by then, if it is a small one, before the limit first grows.
        let shortest = if self.slow_start && self.latency.is_some() {
            SLOW_START_WINDOW
        } else {
            MIN_WINDOW
        };
        let needed = MIN_SAMPLES.min(self.limit());
        self.window.add(rtt, sample.in_flight);
        let window = &self.window;
        let length = self.latency.unwrap_or(rtt).max(shortest).max(window.slowest);
        if now.saturating_duration_since(window.start) < length || window.samples < needed {
            return false;
        }
        let done = std::mem::replace(&mut self.window, Window::new(now));
        self.evaluate(done, now);
        true
    }

    /// Ends a window: see rules 1 to 4 of the module doc.
    fn evaluate(&mut self, window: Window, now: Instant) {
        self.decisions += 1;
        let resume = std::mem::take(&mut self.resume);
        let latency = window.mean();
        // The first window of a run holds the fastest answers of the first requests, the slow
        // ones still on their way: too low for a base against a server whose latency varies.
        if self.latency.is_some() {
            self.recent.push_back((now, latency));
        }
        self.latency = Some(latency);
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > BASE_HORIZON)
        {
            self.recent.pop_front();
        }
        let base = self.base().unwrap_or(latency);
        let limit = self.limit();
        let used = window.max_in_flight >= limit;
        let busy = window.max_in_flight * 2 >= limit;
        let noise = window.noise();
        let grown = base.mul_f64(TOLERANCE) + GROWN_SLACK + noise;
        if latency > grown && self.drifted(latency, window.max_in_flight) {
            self.rebase(latency, now);
        } else if busy && latency > grown {
            // Aim between holding and the tolerance, so as not to settle at its edge.
            let target = base.mul_f64((HOLDS + TOLERANCE) / 2.0) + GROWN_SLACK;
            self.shrink(target, &window, now);
        } else if used && latency <= base.mul_f64(HOLDS) + HOLD_SLACK + noise {
            // Back near the base: the rise, if any, is over.
            self.rise = None;
            self.warm = 0;
            if resume {
                // The shrink just before ended slow start, yet at once the latency is back at
                // the base: a queue the limit caused would still be near the shrink's aim (past
                // holding). It was the host's hiccup; slow start goes on, once.
                self.slow_start = true;
                self.resumed = true;
            }
            self.grow(window.start, now);
        } else if used {
            // A queue may be forming, not yet past the tolerance (or what is left of a rise):
            // hold. In slow start one such window may be a hiccup of the host's: slow start
            // ends, and growth turns gentle, only after [`WARM_WINDOWS`] in a row.
            self.warm += 1;
            if self.warm >= WARM_WINDOWS {
                self.slow_start = false;
            }
        }
    }

    /// Rule 3: fewer in flight, in proportion to the excess of `latency` over `target`. The
    /// first window after a shrink becomes the one later windows are compared with (rule 4),
    /// and so does any later one whose latency fewer in flight did bring down.
    fn shrink(&mut self, target: Duration, window: &Window, now: Instant) {
        let (latency, slowest, in_flight) = (window.mean(), window.slowest, window.max_in_flight);
        let first = self.rise.is_none();
        let rise = self.rise.get_or_insert(Rise {
            held: self.limit,
            first: (slowest, in_flight),
            after: None,
        });
        // The first window of a rise may mix answers from before it with answers from after (a
        // step in latency, the end of slow start): only its slowest answer is compared, and
        // means only of windows after a shrink.
        let cured_some = rise.after.is_none_or(|(before, _)| latency < before.mul_f64(DRIFT));
        if !first && cured_some {
            rise.after = Some((latency, in_flight));
        }
        let factor = (target.as_secs_f64() / latency.as_secs_f64()).clamp(0.5, 1.0);
        self.set(self.limit * factor, Cause::Latency);
        self.resume = self.slow_start && !self.resumed;
        self.slow_start = false;
        self.epoch = Some(now);
    }

    /// Rule 4: whether a window of `latency` with `in_flight` at most shows the rise being
    /// answered was the server's: a quarter fewer in flight than the window it is compared with,
    /// and the latency not cured. The first window after the shrink is compared with the
    /// slowest answer of the window that showed the rise; later ones with the window before.
    fn drifted(&self, latency: Duration, in_flight: usize) -> bool {
        let Some(rise) = self.rise else {
            return false;
        };
        let (before, then) = rise.after.unwrap_or(rise.first);
        in_flight * 4 <= then * 3 && latency >= before.mul_f64(DRIFT)
    }

    /// The server's latency is now `latency`: the base from here on, and the limit back where it
    /// stood before the rise. What was learnt of the server is stale, so slow start probes it
    /// again, as TCP does after an idle spell.
    fn rebase(&mut self, latency: Duration, now: Instant) {
        let held = self.rise.take().map_or(self.limit, |rise| rise.held);
        self.recent.clear();
        self.recent.push_back((now, latency));
        self.slow_start = self.level.is_none();
        self.warm = 0;
        self.resumed = false;
        self.set(held.max(self.limit), Cause::Drift);
        // Said even when the limit was already back: the base changed.
        self.cause = Cause::Drift;
    }

    fn grow(&mut self, window_start: Instant, now: Instant) {
        let limit = self.limit();
        let mut next = if self.slow_start {
            // Doubling for every [`SLOW_START_WINDOW`] the window lasted (two at most): the limit
            // grows as fast in time against a distant server as against a near one.
            let windows = now.saturating_duration_since(window_start).as_secs_f64() / SLOW_START_WINDOW.as_secs_f64();
            // The first windows only double: the first lasted long only to wait for a rate
            // limit.
            let most = if self.recent.is_empty() { 1.0 } else { 2.0 };
            self.limit * 2f64.powf(windows.clamp(1.0, most))
        } else {
            self.limit + (self.limit * 0.1).max(1.0)
        };
        if let Some(level) = self.level {
            let holding = self.hold_until.is_some_and(|until| now < until);
            if limit >= level && !holding && self.probed_at.is_some_and(|at| window_start >= at) {
                // A whole window at the level without a rejection: the server takes more now.
                self.level = None;
                self.strikes = 0;
                self.probed_at = None;
            } else if limit + 1 >= level {
                if holding || limit >= level {
                    return;
                }
                next = (limit + 1) as f64;
                self.probed_at = Some(now);
            } else {
                next = next.min((level - 1) as f64);
            }
        }
        self.set(next, Cause::Growth);
    }

    /// A rejection at `now` of a request sent as `sample`. See rules 5 and 6 of the module doc.
    pub fn rejected(&mut self, sample: Sample, rejection: Rejection, now: Instant) -> Verdict {
        if !self.adaptive {
            return Verdict::RateLimit;
        }
        self.decisions += 1;
        let fresh = self.last_decrease.is_none_or(|at| sample.sent > at);
        let Rejection::TooMany(retry_after) = rejection else {
            // Overloaded, without saying how much it takes: a tenth less, once a round.
            if fresh {
                self.set(self.limit * 0.9, Cause::Rejected);
                self.last_decrease = Some(now);
                self.slow_start = false;
                self.resume = false;
                self.window = Window::new(now);
            }
            return Verdict::Concurrency;
        };
        if self.rate_limited_until.is_some_and(|until| now < until) {
            return Verdict::RateLimit;
        }
        let n = sample.in_flight.max(1);
        let cured = fresh && self.cured.is_some_and(|cured| n <= cured);
        if cured {
            return self.rate_limited(retry_after, now);
        }
        if fresh {
            self.decrease(n, retry_after, now);
        } else {
            let lowered = self.limit.min((n - 1) as f64).max(self.round_floor);
            if lowered < self.limit {
                self.set(lowered, Cause::Rejected);
            }
            self.level = Some(self.level.map_or(n, |level| level.min(n)));
        }
        self.cured = Some(self.limit());
        Verdict::Concurrency
    }

    /// Rule 5: the first `429` to a request sent after the last decrease, `n` in flight as it
    /// went out.
    fn decrease(&mut self, n: usize, retry_after: Option<Duration>, now: Instant) {
        let limit = self.limit;
        self.before_decrease = limit;
        self.round_floor = (limit * 0.5).max(1.0);
        self.set((limit * 0.9).min((n - 1) as f64).max(self.round_floor), Cause::Rejected);
        self.strikes = match self.level {
            Some(level) if n <= level + 1 => self.strikes + 1,
            _ => 0,
        };
        self.level = Some(n);
        // Twice the `Retry-After` at first: a probe's refused request waits its `Retry-After`,
        // and a run that ends soon after pays it whole.
        let hold = retry_after
            .unwrap_or(MIN_HOLD)
            .max(MIN_HOLD)
            .saturating_mul(2 << self.strikes.min(4))
            .min(MAX_HOLD);
        self.hold_until = Some(now + hold);
        self.probed_at = None;
        self.last_decrease = Some(now);
        self.slow_start = false;
        self.resume = false;
        self.window = Window::new(now);
    }

    /// Rule 6: fewer in flight did not cure the `429`s: the pace is what the server limits. The
    /// decrease is undone, no level is kept, and until `retry_after` has passed every `429` is
    /// the same limit's.
    fn rate_limited(&mut self, retry_after: Option<Duration>, now: Instant) -> Verdict {
        let pause = retry_after.unwrap_or(MIN_HOLD).max(MIN_HOLD);
        self.rate_limited_until = Some(now + pause);
        self.level = None;
        self.strikes = 0;
        self.probed_at = None;
        self.hold_until = None;
        self.last_decrease = Some(now);
        self.resume = false;
        self.set(self.limit.max(self.before_decrease), Cause::Rejected);
        self.cured = Some(self.limit());
        self.window = Window::new(now);
        Verdict::RateLimit
    }

    fn set(&mut self, limit: f64, cause: Cause) {
        let limit = limit.clamp(1.0, self.ceiling as f64);
        if limit.floor() != self.limit.floor() {
            self.cause = cause;
        }
        self.limit = limit;
        self.peak = self.peak.max(self.limit());
    }
}

/// Applies a [`Controller`] to the requests of every task: at most its limit hold a [`Permit`].
/// Shared by the clones of a client.
#[derive(Debug)]
pub struct Limiter {
    semaphore: Semaphore,
    state: Mutex<LimiterState>,
    /// Told when the demand falls or the limit rises, so that apply can start another chat.
    room: Notify,
    changes: watch::Sender<Snapshot>,
}

#[derive(Debug)]
struct LimiterState {
    controller: Controller,
    /// The limit the semaphore carries out: its permits, less `debt`.
    allowed: usize,
    /// Permits to retire as they come back (the limit fell while they were held).
    debt: usize,
    /// Permits held, and tasks waiting for one.
    holders: usize,
    waiting: usize,
    /// Requests sent and not yet answered.
    sent: usize,
}

impl Limiter {
    /// A limiter under `ceiling`, adaptive or fixed.
    pub fn new(ceiling: usize, adaptive: bool) -> Limiter {
        let controller = Controller::new(ceiling, adaptive, Instant::now());
        let allowed = controller.limit();
        let (changes, _) = watch::channel(controller.snapshot(0));
        Limiter {
            semaphore: Semaphore::new(allowed),
            state: Mutex::new(LimiterState {
                controller,
                allowed,
                debt: 0,
                holders: 0,
                waiting: 0,
                sent: 0,
            }),
            room: Notify::new(),
            changes,
        }
    }

    /// Sets the ceiling (`--parallelism`) and whether the limit adapts under it.
    pub fn set_ceiling(&self, ceiling: usize, adaptive: bool) {
        let mut state = self.lock();
        state.controller.set_ceiling(ceiling, adaptive);
        self.resize(&mut state);
    }

    /// The limiter's state now.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        state.controller.snapshot(state.sent)
    }

    /// What a request takes when nothing queues, as far as the answers so far tell
    /// ([`Controller::expected_latency`]); `None` before the first answer, or with a fixed limit.
    pub fn expected_latency(&self) -> Option<Duration> {
        self.lock().controller.expected_latency()
    }

    /// Every change of the limiter's state (each decision), latest first.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.changes.subscribe()
    }

    /// How many more tasks could hold a permit without waiting: the limit less the permits held
    /// and asked for.
    pub fn room(&self) -> usize {
        let state = self.lock();
        state.allowed.saturating_sub(state.holders + state.waiting)
    }

    /// Resolves once the room may have grown (a permit came back, a waiter left, the limit
    /// rose) since the last time it resolved.
    pub async fn room_changed(&self) {
        self.room.notified().await;
    }

    /// Waits for a permit: at most the limit are held at once, granted in the order asked.
    pub async fn acquire(&self) -> Permit<'_> {
        self.lock().waiting += 1;
        let waiting = Waiting(self);
        let permit = self.semaphore.acquire().await.expect("the limiter never closes");
        self.lock().holders += 1;
        drop(waiting);
        Permit {
            limiter: self,
            permit: Some(permit),
            sample: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the semaphore carry out the controller's limit, and tells who listens.
    fn resize(&self, state: &mut LimiterState) {
        let target = state.controller.limit();
        if target > state.allowed {
            let mut grow = target - state.allowed;
            let paid = grow.min(state.debt);
            state.debt -= paid;
            grow -= paid;
            self.semaphore.add_permits(grow);
            self.room.notify_one();
        } else if target < state.allowed {
            let shrink = state.allowed - target;
            let retired = self.semaphore.forget_permits(shrink);
            state.debt += shrink - retired;
        }
        state.allowed = target;
        self.changes.send_replace(state.controller.snapshot(state.sent));
    }
}

/// Counts a task out of the waiting ones however its wait ends (granted or cancelled).
struct Waiting<'a>(&'a Limiter);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.waiting = state.waiting.saturating_sub(1);
        drop(state);
        self.0.room.notify_one();
    }
}

/// The right to have one request in flight; given back when dropped. Tell it when the request
/// went out ([`Permit::sent`]) and how it ended ([`Permit::answered`], [`Permit::rejected`]);
/// dropped without either, the request taught nothing (a connection error, a `500`).
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
    permit: Option<SemaphorePermit<'a>>,
    sample: Option<Sample>,
}

impl Permit<'_> {
    /// The request went out at `at`.
    pub fn sent(&mut self, at: Instant) {
        let mut state = self.limiter.lock();
        state.sent += 1;
        let sample = Sample {
            sent: at,
            in_flight: state.sent,
        };
        state.controller.sent(sample);
        self.sample = Some(sample);
    }

    /// Its answer (anything but a rejection) was read at `now`.
    pub fn answered(mut self, now: Instant) {
        if let Some(sample) = self.sample.take() {
            let mut state = self.limiter.lock();
            state.sent -= 1;
            if state.controller.answered(sample, now) {
                self.limiter.resize(&mut state);
            }
        }
    }

    /// The server rejected it at `now`.
    pub fn rejected(mut self, rejection: Rejection, now: Instant) -> Verdict {
        let Some(sample) = self.sample.take() else {
            return Verdict::Concurrency;
        };
        let mut state = self.limiter.lock();
        state.sent -= 1;
        let verdict = state.controller.rejected(sample, rejection, now);
        self.limiter.resize(&mut state);
        verdict
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        if self.sample.take().is_some() {
            state.sent -= 1;
        }
        state.holders -= 1;
        if let Some(permit) = self.permit.take() {
            if state.debt > 0 {
                state.debt -= 1;
                permit.forget();
            } else {
                drop(permit);
            }
        }
        drop(state);
        self.limiter.room.notify_one();
    }
}

#[cfg(test)]
mod tests;
