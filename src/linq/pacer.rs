//! The pace of requests, shared by every task of a run: an optional fixed cap (`--rate`) and
//! an adaptive rate learnt from `429` answers that are a rate limit.
//!
//! A `429` is first a sign of too many requests in flight: the limiter (`concurrency`) lowers
//! that, and only the refused request waits its `Retry-After`. A `429` that fewer in flight
//! did not cure is a rate limit, and comes here. Until then, requests go out as fast as the
//! callers send them (or at the cap). On such a `429` every task pauses until its `Retry-After`
//! has passed, and the rate drops to
//! just under the number of requests Linq accepted in the last second: the best estimate of its
//! limit. Then the rate creeps back up: quickly while well under that estimate, very slowly near
//! it (so the limit is touched rarely, each touch costing one pause), and quickly again once past
//! it without complaint (the limit was raised). Requests are spread evenly: no bursts.
//!
//! Between a `429` that asked for fewer in flight and the answer that tells whether that cured
//! it, one request alone goes out ([`Pacer::probe`]): against a rate limit whose second's worth
//! the start spent, the refusals are then those already in flight, not another round of them
//! sent in the round trip before the verdict. Against a cap on requests in flight the wait is
//! one round trip.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Pause when a `429` names no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The longest pause a `Retry-After` may impose.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// After a `429`, the rate is this share of the requests accepted in the last second.
const BACKOFF_SHARE: f64 = 0.95;
/// Growth per second far from the estimated limit, and near it.
const FAST_GROWTH: f64 = 1.15;
const SLOW_GROWTH: f64 = 1.002;
/// Never slower than this many requests per second.
const MIN_RATE: f64 = 0.5;
/// The longest a probe holds the others back, should its answer never come (a connection
/// error tells the pacer nothing).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Spaces requests out; one per client, shared by all tasks.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<PacerState>,
    /// Told when a probe ends.
    probed: tokio::sync::Notify,
}

/// A probe after a `429` (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// The next request to go out is the probe.
    Open,
    /// The probe went out at `sent`; the others wait for its answer until `until`.
    Out { sent: Instant, until: Instant },
}

#[derive(Debug)]
struct PacerState {
    /// The fixed cap (`--rate`), requests per second.
    cap: Option<f64>,
    /// The learnt rate; `None` until the first `429`.
    adaptive: Option<f64>,
    /// Requests per second Linq accepted just before the last `429`.
    ceiling: f64,
    /// The earliest moment the next request may go out.
    next_slot: Instant,
    /// No request goes out before this (a `Retry-After` in force).
    blocked_until: Instant,
    /// When the rate was last lowered; `429`s to requests sent before it are old news.
    last_decrease: Option<Instant>,
    last_growth: Instant,
    /// When each non-`429` answer of the last second arrived.
    answered: VecDeque<Instant>,
    probe: Option<Probe>,
    /// When the last probe ended: a `429` to a request sent before it opens no other.
    probe_ended: Option<Instant>,
}

impl Pacer {
    /// A pacer with an optional fixed cap in requests per second.
    pub fn new(cap: Option<f64>) -> Pacer {
        let now = Instant::now();
        Pacer {
            state: Mutex::new(PacerState {
                cap: cap.filter(|r| *r > 0.0 && r.is_finite()),
                adaptive: None,
                ceiling: 0.0,
                next_slot: now,
                blocked_until: now,
                last_decrease: None,
                last_growth: now,
                answered: VecDeque::new(),
                probe: None,
                probe_ended: None,
            }),
            probed: tokio::sync::Notify::new(),
        }
    }

    /// Sets or clears the fixed cap (`--rate`).
    pub fn set_cap(&self, cap: Option<f64>) {
        self.lock().cap = cap.filter(|r| *r > 0.0 && r.is_finite());
    }

    /// The rate requests go out at now, `None` when unlimited.
    pub fn rate(&self) -> Option<f64> {
        self.lock().rate()
    }

    /// Waits for the moment the next request may go out and returns it (the send time to pass
    /// back to [`Pacer::answered`] or [`Pacer::rate_limited`]).
    pub async fn acquire(&self) -> Instant {
        loop {
            let probed = self.probed.notified();
            let (until, reserved) = {
                let mut s = self.lock();
                let now = Instant::now();
                if now < s.blocked_until {
                    (s.blocked_until, false)
                } else if let Some(until) = s.probing(now) {
                    (until, false)
                } else if let Some(rate) = s.rate() {
                    let slot = s.next_slot.max(now);
                    s.next_slot = slot + Duration::from_secs_f64(1.0 / rate);
                    (slot, true)
                } else {
                    return now;
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = probed, if !reserved => {}
            }
            if reserved {
                let s = self.lock();
                let now = Instant::now();
                if now >= s.blocked_until && s.probe.is_none() {
                    return now;
                }
            }
        }
    }

    /// A `429` to a request sent at `sent` asked for fewer in flight: until the answer of the
    /// next request to go out, it goes out alone. Old news (sent before the last probe ended)
    /// opens none.
    pub fn probe(&self, sent: Instant) {
        let mut s = self.lock();
        if s.probe.is_some() || s.probe_ended.is_some_and(|ended| sent < ended) {
            return;
        }
        s.probe = Some(Probe::Open);
    }

    /// Records an answer other than `429` to a request sent at `sent`.
    pub fn answered(&self, sent: Instant) {
        self.end_probe(sent);
        self.answered_at(Instant::now());
    }

    /// An answer to a request sent at `sent`: the probe's, or one sent after it, ends it.
    fn end_probe(&self, sent: Instant) {
        let mut s = self.lock();
        if let Some(Probe::Out { sent: probe, .. }) = s.probe {
            if sent >= probe {
                s.probe = None;
                s.probe_ended = Some(Instant::now());
                drop(s);
                self.probed.notify_waiters();
            }
        }
    }

    fn answered_at(&self, now: Instant) {
        let mut s = self.lock();
        s.answered.push_back(now);
        s.prune(now);
        let Some(rate) = s.adaptive else { return };
        let elapsed = now.duration_since(s.last_growth).as_secs_f64();
        if elapsed < 0.05 {
            return;
        }
        s.last_growth = now;
        // Grow only while the rate is what holds requests back, not the callers.
        if (s.answered.len() as f64) < 0.8 * rate.min(s.cap.unwrap_or(f64::INFINITY)) {
            return;
        }
        let near_ceiling = rate >= 0.9 * s.ceiling && rate <= 1.02 * s.ceiling;
        let growth = if near_ceiling { SLOW_GROWTH } else { FAST_GROWTH };
        s.adaptive = Some(rate * growth.powf(elapsed));
    }

    /// Records a `429` to a request sent at `sent`: every task pauses for `retry_after`, and the
    /// rate drops unless this answer is to a request sent before the last drop.
    pub fn rate_limited(&self, sent: Instant, retry_after: Option<Duration>) {
        self.rate_limited_at(sent, retry_after, Instant::now());
        self.end_probe(sent);
    }

    fn rate_limited_at(&self, sent: Instant, retry_after: Option<Duration>, now: Instant) {
        let mut s = self.lock();
        let pause = retry_after.unwrap_or(DEFAULT_RETRY_AFTER).min(MAX_RETRY_AFTER);
        s.blocked_until = s.blocked_until.max(now + pause);
        if s.last_decrease.is_some_and(|t| sent <= t) {
            return;
        }
        s.prune(now);
        let accepted = s.answered.len() as f64;
        let estimate = (accepted * BACKOFF_SHARE).max(MIN_RATE);
        let rate = match s.adaptive {
            // Lower, but by at most half at once: a short window can undercount.
            Some(current) => estimate.min(current * 0.95).max(current * 0.5),
            None => estimate,
        };
        s.adaptive = Some(rate.max(MIN_RATE));
        s.ceiling = accepted.max(rate);
        s.last_decrease = Some(now);
        s.last_growth = now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().expect("pacer lock")
    }
}

impl PacerState {
    /// Until when a request asking at `now` waits for a probe's answer, if it does; a request
    /// finding the probe open is the probe.
    fn probing(&mut self, now: Instant) -> Option<Instant> {
        match self.probe {
            Some(Probe::Open) => {
                self.probe = Some(Probe::Out {
                    sent: now,
                    until: now + PROBE_TIMEOUT,
                });
                None
            }
            Some(Probe::Out { until, .. }) if now < until => Some(until),
            Some(Probe::Out { .. }) => {
                self.probe = None;
                self.probe_ended = Some(now);
                None
            }
            None => None,
        }
    }

    fn rate(&self) -> Option<f64> {
        match (self.cap, self.adaptive) {
            (Some(c), Some(a)) => Some(c.min(a)),
            (c, a) => c.or(a),
        }
    }

    fn prune(&mut self, now: Instant) {
        while self
            .answered
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
        {
            self.answered.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_cap_spaces_requests_evenly() {
        let pacer = Pacer::new(Some(50.0));
        let start = Instant::now();
        for _ in 0..11 {
            pacer.acquire().await;
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(195) && elapsed < Duration::from_millis(400),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_until_the_first_429_then_everyone_waits_retry_after() {
        let pacer = Pacer::new(None);
        assert_eq!(pacer.rate(), None);
        let mut sent = Instant::now();
        for _ in 0..40 {
            sent = pacer.acquire().await;
            pacer.answered(sent);
        }
        pacer.rate_limited(sent, Some(Duration::from_millis(300)));
        let rate = pacer.rate().expect("a rate after a 429");
        assert!((37.0..=39.0).contains(&rate), "rate {rate}");
        let before = Instant::now();
        pacer.acquire().await;
        assert!(before.elapsed() >= Duration::from_millis(290), "{:?}", before.elapsed());
        // A 429 to a request sent before the drop does not lower the rate again.
        pacer.rate_limited(sent, Some(Duration::from_millis(1)));
        assert_eq!(pacer.rate(), Some(rate));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_429_one_request_goes_out_alone_until_its_answer() {
        let pacer = std::sync::Arc::new(Pacer::new(None));
        let refused = pacer.acquire().await;
        pacer.probe(refused);
        let probe = pacer.acquire().await;
        // The next waits for the probe's answer, however long it takes (under the timeout).
        let next = tokio::spawn({
            let pacer = pacer.clone();
            async move { pacer.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!next.is_finished(), "held back while the probe is out");
        // A 429 to a request sent before the probe (old news) opens no other.
        pacer.answered(probe);
        let after = next.await.unwrap();
        assert_eq!(after, probe + Duration::from_millis(300));
        pacer.probe(refused);
        let at = Instant::now();
        assert_eq!(pacer.acquire().await, at);
        assert_eq!(pacer.acquire().await, at, "no probe: nobody waits");
        // An answer that never comes holds the others back no longer than the timeout.
        pacer.probe(after);
        pacer.acquire().await;
        let waited = Instant::now();
        assert_eq!(pacer.acquire().await, waited + PROBE_TIMEOUT);
    }

    /// Feeds answers at the pacer's own rate over `seconds` of synthetic time.
    fn run_at_rate(pacer: &Pacer, from: Instant, seconds: f64) -> Instant {
        let mut now = from;
        let end = from + Duration::from_secs_f64(seconds);
        while now < end {
            now += Duration::from_secs_f64(1.0 / pacer.rate().unwrap());
            pacer.answered_at(now);
        }
        now
    }

    #[tokio::test]
    async fn the_rate_creeps_up_slowly_near_the_limit_and_fast_away_from_it() {
        let pacer = Pacer::new(None);
        let start = Instant::now();
        for i in 0..100 {
            pacer.answered_at(start + Duration::from_millis(i * 5));
        }
        let at = start + Duration::from_millis(500);
        pacer.rate_limited_at(at, None, at);
        let low = pacer.rate().unwrap();
        assert!((94.0..=96.0).contains(&low), "{low}");
        let at = run_at_rate(&pacer, at, 10.0);
        let near = pacer.rate().unwrap();
        assert!(near > low && near < low * 1.03, "{near} after 10 s from {low}");
        // Once well past the last limit without complaint, the limit has moved: grow fast.
        let at = run_at_rate(&pacer, at, 30.0);
        let past = pacer.rate().unwrap();
        assert!(past > 110.0, "{past}");
        let _ = run_at_rate(&pacer, at, 2.0);
        assert!(pacer.rate().unwrap() > past * 1.2);
    }

    #[tokio::test]
    async fn a_429_lowers_the_rate_by_at_most_half() {
        let pacer = Pacer::new(None);
        let start = Instant::now();
        for i in 0..100 {
            pacer.answered_at(start + Duration::from_millis(i * 5));
        }
        let at = start + Duration::from_millis(500);
        pacer.rate_limited_at(at, None, at);
        // Three seconds later, a 429 with no recent answers in the window.
        let later = at + Duration::from_secs(3);
        pacer.rate_limited_at(later, None, later);
        let rate = pacer.rate().unwrap();
        assert!((47.0..=48.0).contains(&rate), "{rate}");
        pacer.set_cap(Some(10.0));
        assert_eq!(pacer.rate(), Some(10.0));
    }
}
