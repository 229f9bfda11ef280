//! The controller on tokio's paused clock: alone, and driving simulated servers (a latency that
//! grows with load, steps or jitters whatever the load, a cap on requests in flight, rate limits
//! counted per window) through the limiter and pacer.

use std::sync::{Arc, Mutex};

use futures_util::FutureExt;

use super::*;
use crate::linq::Pacer;

/// A server simulated on the paused clock.
#[derive(Clone)]
struct Server {
    /// Latency of a request arriving with `n` in flight (itself included).
    latency: Arc<dyn Fn(usize) -> Duration + Send + Sync>,
    /// Requests served at once; one more is rejected at once with `Retry-After: 1`.
    cap: Option<usize>,
    /// A rate limit; a request past it is rejected at once with `Retry-After: 1`.
    rate: Option<RateWindow>,
    start: Instant,
    log: Arc<Mutex<Log>>,
}

/// A rate limit counted over windows of a second, as Linq's documentation describes them.
#[derive(Clone, Copy, Debug)]
enum RateWindow {
    /// This many accepted in each whole second since the server started.
    Fixed(usize),
    /// This many accepted in any second.
    Sliding(usize),
}

#[derive(Default)]
struct Log {
    in_flight: usize,
    peak: usize,
    /// (answered at, latency) of every accepted request.
    accepted: Vec<(Instant, Duration)>,
    rejected: usize,
    verdicts: Vec<Verdict>,
    /// When each accepted request arrived, for the rate limit.
    taken: Vec<Instant>,
}

impl Server {
    fn new(latency: impl Fn(usize) -> Duration + Send + Sync + 'static, cap: Option<usize>) -> Server {
        Server {
            latency: Arc::new(latency),
            cap,
            rate: None,
            start: Instant::now(),
            log: Arc::default(),
        }
    }

    fn limited(self, rate: RateWindow) -> Server {
        Server {
            rate: Some(rate),
            ..self
        }
    }

    /// Whether the rate limit refuses a request arriving at `now`.
    fn over_rate(&self, log: &Log, now: Instant) -> bool {
        let window = |at: &Instant| match self.rate {
            Some(RateWindow::Fixed(_)) => {
                at.duration_since(self.start).as_secs() == now.duration_since(self.start).as_secs()
            }
            _ => now.duration_since(*at) < Duration::from_secs(1),
        };
        match self.rate {
            Some(RateWindow::Fixed(allowed) | RateWindow::Sliding(allowed)) => {
                log.taken.iter().rev().take_while(|at| window(at)).count() >= allowed
            }
            None => false,
        }
    }

    /// `workers` tasks, each sending one request after another through `limiter` (and `pacer`)
    /// until `run` has passed, as chats of an apply do. A rejected request waits its
    /// `Retry-After`, as the client does.
    async fn drive(&self, limiter: Arc<Limiter>, pacer: Option<Arc<Pacer>>, workers: usize, run: Duration) {
        let end = Instant::now() + run;
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (server, limiter, pacer) = (self.clone(), limiter.clone(), pacer.clone());
                tokio::spawn(async move {
                    while Instant::now() < end {
                        server.one(&limiter, pacer.as_deref()).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }

    async fn one(&self, limiter: &Limiter, pacer: Option<&Pacer>) {
        let mut permit = limiter.acquire().await;
        let sent = match pacer {
            Some(pacer) => pacer.acquire().await,
            None => Instant::now(),
        };
        permit.sent(sent);
        let arrived = {
            let mut log = self.log.lock().unwrap();
            if self.cap.is_some_and(|cap| log.in_flight >= cap) || self.over_rate(&log, Instant::now()) {
                log.rejected += 1;
                None
            } else {
                log.taken.push(Instant::now());
                log.in_flight += 1;
                log.peak = log.peak.max(log.in_flight);
                Some(log.in_flight)
            }
        };
        let Some(n) = arrived else {
            let retry_after = Duration::from_secs(1);
            let verdict = permit.rejected(Rejection::TooMany(Some(retry_after)), Instant::now());
            self.log.lock().unwrap().verdicts.push(verdict);
            // As the client does.
            match (verdict, pacer) {
                (Verdict::RateLimit, Some(pacer)) => pacer.rate_limited(sent, Some(retry_after)),
                (Verdict::Concurrency, Some(pacer)) => pacer.probe(sent),
                (_, None) => {}
            }
            tokio::time::sleep(retry_after).await;
            return;
        };
        let latency = (self.latency)(n);
        tokio::time::sleep(latency).await;
        let now = Instant::now();
        {
            let mut log = self.log.lock().unwrap();
            log.in_flight -= 1;
            log.accepted.push((now, latency));
        }
        if let Some(pacer) = pacer {
            pacer.answered(sent);
        }
        permit.answered(now);
    }

    /// Accepted requests per second, and their mean latency, from `from` on.
    fn since(&self, from: Instant) -> (f64, Duration) {
        let log = self.log.lock().unwrap();
        let recent: Vec<_> = log.accepted.iter().filter(|(at, _)| *at >= from).collect();
        let (Some(first), Some(last)) = (recent.first(), recent.last()) else {
            return (0.0, Duration::ZERO);
        };
        let span = last.0.duration_since(first.0).as_secs_f64().max(1e-9);
        let mean = recent.iter().map(|(_, l)| *l).sum::<Duration>() / recent.len() as u32;
        (recent.len() as f64 / span, mean)
    }
}

/// The limit every `every` while `work` runs.
async fn trace(limiter: &Limiter, every: Duration, work: impl std::future::Future<Output = ()>) -> Vec<usize> {
    let mut limits = vec![limiter.snapshot().limit];
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            () = &mut work => return limits,
            _ = tick.tick() => limits.push(limiter.snapshot().limit),
        }
    }
}

/// Every cause the limiter gives for a change of its state, until the task is aborted.
fn record_causes(limiter: &Limiter) -> (Arc<Mutex<Vec<Cause>>>, tokio::task::JoinHandle<()>) {
    let mut changes = limiter.subscribe();
    let causes = Arc::new(Mutex::new(Vec::new()));
    let seen = causes.clone();
    let watch = tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let cause = changes.borrow_and_update().cause;
            seen.lock().unwrap().push(cause);
        }
    });
    (causes, watch)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn grows_while_latency_holds_and_never_passes_the_ceiling() {
    let server = Server::new(|_| ms(50), None);
    let limiter = Arc::new(Limiter::new(100, true));
    assert_eq!(limiter.snapshot().limit, INITIAL_LIMIT);
    let start = Instant::now();
    let limits = trace(
        &limiter,
        ms(50),
        server.drive(limiter.clone(), None, 300, Duration::from_secs(3)),
    )
    .await;
    // Slow start: the limit doubles every window (a round trip, 100 ms at least): 16, 32, 64,
    // then the ceiling.
    let at_ceiling = limits.iter().position(|l| *l == 100).expect("reaches the ceiling");
    assert!(at_ceiling <= 8, "ceiling after {at_ceiling} ticks of 50 ms: {limits:?}");
    assert!(limits.windows(2).all(|w| w[0] <= w[1]), "only grows: {limits:?}");
    assert_eq!(
        server.log.lock().unwrap().peak,
        100,
        "never more in flight than the ceiling"
    );
    let snapshot = limiter.snapshot();
    assert_eq!((snapshot.limit, snapshot.peak), (100, 100));
    assert_eq!(snapshot.cause, Cause::Growth);
    // 100 in flight at 50 ms each: 2,000 a second once grown.
    let (throughput, _) = server.since(start + Duration::from_secs(1));
    assert!(throughput > 1_950.0, "{throughput:.0}/s");
}

#[tokio::test(start_paused = true)]
async fn backs_off_when_latency_grows_and_keeps_the_throughput() {
    // Serves 24 at once in 20 ms; more wait their turn, so latency grows with the load.
    let server = Server::new(|n| ms(20).mul_f64((n as f64 / 24.0).max(1.0)), None);
    let limiter = Arc::new(Limiter::new(256, true));
    let start = Instant::now();
    let limits = trace(
        &limiter,
        ms(100),
        server.drive(limiter.clone(), None, 400, Duration::from_secs(6)),
    )
    .await;
    // Slow start sees the latency of a limit a window late, so it overshoots, then backs off.
    let peak = limiter.snapshot().peak;
    assert!(peak <= 128, "peak {peak}: {limits:?}");
    assert!(
        limits[4..].iter().all(|l| *l <= 48),
        "backs off within 0.4 s: {limits:?}"
    );
    assert!(
        limits[10..].iter().all(|l| (20..=48).contains(l)),
        "settles near the 24 the server serves at once: {limits:?}"
    );
    let (throughput, latency) = server.since(start + Duration::from_secs(3));
    assert!(throughput >= 0.9 * 1_200.0, "{throughput:.0}/s of 1,200");
    assert!(latency <= ms(32), "latency held near the base: {latency:?}");
    assert_eq!(server.log.lock().unwrap().rejected, 0);
}

#[tokio::test(start_paused = true)]
async fn backs_off_on_429_to_a_cap_on_requests_in_flight_and_probes_it_rarely() {
    let server = Server::new(|_| ms(20), Some(8));
    let limiter = Arc::new(Limiter::new(256, true));
    let pacer = Arc::new(Pacer::new(None));
    let start = Instant::now();
    let limits = trace(
        &limiter,
        ms(100),
        server.drive(limiter.clone(), Some(pacer.clone()), 200, Duration::from_secs(20)),
    )
    .await;
    let log = server.log.lock().unwrap();
    let total = log.accepted.len() + log.rejected;
    assert!(
        (log.rejected as f64) <= 0.01 * total as f64,
        "{} of {total} rejected",
        log.rejected
    );
    assert!(
        log.verdicts.iter().all(|v| *v == Verdict::Concurrency),
        "fewer in flight was the cure every time: {:?}",
        log.verdicts
    );
    drop(log);
    assert_eq!(pacer.rate(), None, "the pace was never limited");
    assert!(limits[5..].iter().all(|l| (7..=9).contains(l)), "{limits:?}");
    // 8 in flight at 20 ms: 400 a second.
    let (throughput, _) = server.since(start + Duration::from_secs(2));
    assert!(throughput >= 0.9 * 400.0, "{throughput:.0}/s of 400");
}

#[test]
fn a_429_within_the_limit_that_cured_nothing_is_a_rate_limit() {
    let t0 = Instant::now();
    let mut c = Controller::new(256, true, t0);
    let sample = |sent: Instant, in_flight| Sample { sent, in_flight };
    let at = |n| t0 + ms(n);
    // The first 429: fewer in flight, by a tenth at most.
    let verdict = c.rejected(sample(t0, 16), Rejection::TooMany(Some(Duration::from_secs(1))), at(5));
    assert_eq!((verdict, c.limit()), (Verdict::Concurrency, 14));
    // Old news (sent before that decrease) still tells where the server refused.
    let verdict = c.rejected(sample(at(1), 12), Rejection::TooMany(None), at(6));
    assert_eq!((verdict, c.limit()), (Verdict::Concurrency, 11));
    // Old news never takes it under half the limit before the decrease.
    c.rejected(sample(at(1), 2), Rejection::TooMany(None), at(6));
    assert_eq!(c.limit(), 8);
    // Sent after the decrease, within its limit, and refused all the same: a rate limit. The
    // decrease cured nothing, so it is undone.
    let verdict = c.rejected(
        sample(at(7), 5),
        Rejection::TooMany(Some(Duration::from_secs(1))),
        at(8),
    );
    assert_eq!(verdict, Verdict::RateLimit);
    assert_eq!(c.limit(), 16, "back where it stood before the decrease");
    // Until its Retry-After has passed, every 429 is that rate limit's, and leaves the limit.
    let verdict = c.rejected(sample(at(9), 16), Rejection::TooMany(None), at(10));
    assert_eq!((verdict, c.limit()), (Verdict::RateLimit, 16));
    // After it, a request sent past the limit is a probe: concurrency again.
    let verdict = c.rejected(sample(at(1_010), 17), Rejection::TooMany(None), at(1_011));
    assert_eq!((verdict, c.limit()), (Verdict::Concurrency, 14));
    assert_eq!(c.snapshot(0).cause, Cause::Rejected);
}

#[test]
fn a_503_or_a_timeout_lowers_the_limit_by_a_tenth_once_a_round_and_growth_resumes() {
    let t0 = Instant::now();
    let mut c = Controller::new(256, true, t0);
    let sample = |sent: Instant, in_flight| Sample { sent, in_flight };
    c.rejected(sample(t0, 2), Rejection::Overloaded, t0 + ms(20));
    assert_eq!(c.limit(), 14, "not to n - 1: a 503 says nothing about how many");
    c.rejected(sample(t0 + ms(1), 16), Rejection::Overloaded, t0 + ms(21));
    assert_eq!(c.limit(), 14, "once a round");
    // The next window (100 ms at least) at the limit, latency holding: growth by a tenth, no
    // pause.
    let sent = t0 + ms(22);
    for i in 1..=14 {
        c.sent(sample(sent, i));
    }
    for i in 1..=14 {
        c.answered(sample(sent, i), t0 + ms(122));
    }
    assert_eq!(c.limit(), 15);
}

#[test]
fn a_fixed_limit_is_the_ceiling_and_every_429_a_rate_limit() {
    let t0 = Instant::now();
    let mut c = Controller::new(8, false, t0);
    assert_eq!(c.limit(), 8);
    for i in 0..50u64 {
        // Latency far past any tolerance, every window used.
        let sent = t0 + ms(i * 100);
        c.answered(Sample { sent, in_flight: 8 }, sent + ms(10 + i * 50));
    }
    let verdict = c.rejected(Sample { sent: t0, in_flight: 8 }, Rejection::TooMany(None), t0);
    assert_eq!((verdict, c.limit()), (Verdict::RateLimit, 8));
    let snapshot = c.snapshot(0);
    assert_eq!((snapshot.peak, snapshot.adaptive, snapshot.decisions), (8, false, 0));
}

#[tokio::test(start_paused = true)]
async fn never_faster_than_the_rate_and_no_growth_while_the_rate_holds_requests_back() {
    let server = Server::new(|_| ms(20), None);
    let limiter = Arc::new(Limiter::new(256, true));
    let pacer = Arc::new(Pacer::new(Some(50.0)));
    let start = Instant::now();
    server
        .drive(limiter.clone(), Some(pacer), 100, Duration::from_secs(10))
        .await;
    let log = server.log.lock().unwrap();
    // Answered within the 10 s (workers that began a request before the end send it after).
    let sent = log
        .accepted
        .iter()
        .filter(|(at, _)| *at <= start + Duration::from_secs(10))
        .count();
    assert!((480..=501).contains(&sent), "{sent} requests in 10 s at 50/s");
    let first_second = log
        .accepted
        .iter()
        .filter(|(at, _)| *at < start + Duration::from_secs(1))
        .count();
    assert!(first_second <= 51, "{first_second} in the first second");
    assert!(log.peak <= 2, "paced requests barely overlap: {}", log.peak);
    let snapshot = limiter.snapshot();
    assert_eq!(
        (snapshot.limit, snapshot.peak),
        (INITIAL_LIMIT, INITIAL_LIMIT),
        "the pace, not the limit, held requests back: no growth"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lower_ceiling_takes_effect_as_permits_come_back() {
    let limiter = Limiter::new(256, true);
    let mut held = Vec::new();
    for _ in 0..INITIAL_LIMIT {
        held.push(limiter.acquire().now_or_never().expect("granted at once"));
    }
    assert!(limiter.acquire().now_or_never().is_none(), "the 17th waits");
    assert_eq!(limiter.room(), 0);
    limiter.set_ceiling(4, true);
    assert_eq!(limiter.snapshot().limit, 4);
    // Twelve of the sixteen come back and are retired; four are held still.
    held.truncate(4);
    assert!(limiter.acquire().now_or_never().is_none(), "four in flight already");
    held.clear();
    let again: Vec<_> = (0..4).map(|_| limiter.acquire().now_or_never()).collect();
    assert!(again.iter().all(Option::is_some));
    assert!(limiter.acquire().now_or_never().is_none(), "never a fifth");
    drop(again);
    // A fixed ceiling is the limit at once.
    limiter.set_ceiling(32, false);
    assert_eq!(limiter.room(), 32);
    let snapshot = limiter.snapshot();
    assert_eq!((snapshot.limit, snapshot.ceiling, snapshot.adaptive), (32, 32, false));
}

#[tokio::test(start_paused = true)]
async fn slow_start_reaches_256_by_a_quarter_second_doubling_every_two_round_trips() {
    let server = Server::new(|_| ms(20), None);
    let limiter = Arc::new(Limiter::new(256, true));
    // Time before the first request (reading files, planning) is no part of the first window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let limits = trace(
        &limiter,
        ms(20),
        server.drive(limiter.clone(), None, 400, Duration::from_secs(1)),
    )
    .await;
    // The first window is 100 ms (a small rate limit's second's worth is spent by then), then
    // a doubling every 40 ms (two round trips) or so: 256 by a quarter second.
    assert!(limits[..5].iter().all(|l| *l == INITIAL_LIMIT), "{limits:?}");
    let at_ceiling = limits.iter().position(|l| *l == 256).expect("reaches the ceiling");
    assert!(at_ceiling <= 12, "256 after {at_ceiling} ticks of 20 ms: {limits:?}");
    assert!(limits.windows(2).all(|w| w[0] <= w[1]), "only grows: {limits:?}");
}

#[tokio::test(start_paused = true)]
async fn a_rise_in_latency_that_fewer_in_flight_do_not_cure_becomes_the_base() {
    // 20 ms, then 60 ms from 1 s on, whatever the load: the server's own drift.
    let start = Instant::now();
    let step = start + Duration::from_secs(1);
    let server = Server::new(move |_| if Instant::now() < step { ms(20) } else { ms(60) }, None);
    let limiter = Arc::new(Limiter::new(100, true));
    let (causes, watch) = record_causes(&limiter);
    let limits = trace(
        &limiter,
        ms(100),
        server.drive(limiter.clone(), None, 300, Duration::from_secs(5)),
    )
    .await;
    watch.abort();
    assert_eq!(limits[9], 100, "at the ceiling before the step: {limits:?}");
    // The rise is first taken for queueing (fewer in flight), then, as fewer in flight leave the
    // latency where it is, for the server's: the limit goes back, the base moves.
    assert!(limits[10..].iter().any(|l| *l < 100), "{limits:?}");
    assert!(limits[20..].iter().all(|l| *l == 100), "back by 2 s: {limits:?}");
    assert!(causes.lock().unwrap().contains(&Cause::Drift));
    let base = limiter.snapshot().base.unwrap();
    assert!(base >= ms(58), "the new latency is the base: {base:?}");
    // 100 in flight at 60 ms each.
    let (throughput, _) = server.since(start + Duration::from_secs(2));
    assert!(throughput >= 0.95 * 100.0 / 0.060, "{throughput:.0}/s");
}

#[tokio::test(start_paused = true)]
async fn a_step_in_latency_is_told_from_queueing_one_window_after_the_first_shrink() {
    // 20 ms, then 60 ms from 1 s on, whatever the load. The first window after the shrink
    // already has half as many in flight as the window that saw the rise, and its latency is
    // the rise's slowest answer's: the step is the server's, and the limit goes back before it
    // is halved again.
    let start = Instant::now();
    let step = start + Duration::from_secs(1);
    let server = Server::new(move |_| if Instant::now() < step { ms(20) } else { ms(60) }, None);
    let limiter = Arc::new(Limiter::new(100, true));
    let limits = trace(
        &limiter,
        ms(10),
        server.drive(limiter.clone(), None, 300, Duration::from_secs(3)),
    )
    .await;
    assert_eq!(limits[99], 100, "at the ceiling before the step: {limits:?}");
    let after = &limits[100..];
    let low = after.iter().copied().min().unwrap();
    assert!((50..100).contains(&low), "one shrink, by half at most: {after:?}");
    let back = after.iter().rposition(|l| *l < 100).unwrap() + 1;
    assert!(back <= 30, "back at the ceiling {back}0 ms after the step: {after:?}");
    assert!(limiter.snapshot().base.unwrap() >= ms(58));
}

#[tokio::test(start_paused = true)]
async fn a_queue_behind_a_fixed_latency_is_not_taken_for_drift() {
    // 40 ms on the way, then 12 served at once in 20 ms and the rest queued: fewer in flight
    // cure less of the latency than of a bare queue, but they do cure it.
    let server = Server::new(|n| ms(40) + ms(20).mul_f64((n as f64 / 12.0).max(1.0)), None);
    let limiter = Arc::new(Limiter::new(256, true));
    let (causes, watch) = record_causes(&limiter);
    let limits = trace(
        &limiter,
        ms(100),
        server.drive(limiter.clone(), None, 400, Duration::from_secs(6)),
    )
    .await;
    watch.abort();
    assert!(!causes.lock().unwrap().contains(&Cause::Drift), "{limits:?}");
    let base = limiter.snapshot().base.unwrap();
    assert!(base <= ms(66), "the base stays the unqueued latency: {base:?}");
    // At most 31 in flight keep the latency within 1.5 times the base of 60 ms.
    assert!(limits[20..].iter().all(|l| *l <= 40), "{limits:?}");
}

#[tokio::test(start_paused = true)]
async fn jitter_whatever_the_load_is_not_taken_for_queueing() {
    let rng = Mutex::new(fastrand::Rng::with_seed(17));
    let server = Server::new(move |_| ms(20 + rng.lock().unwrap().u64(0..=60)), None);
    let limiter = Arc::new(Limiter::new(256, true));
    let start = Instant::now();
    let limits = trace(
        &limiter,
        ms(100),
        server.drive(limiter.clone(), None, 400, Duration::from_secs(4)),
    )
    .await;
    assert!(limits[10..].iter().all(|l| *l >= 192), "{limits:?}");
    // 256 in flight at 50 ms on average.
    let (throughput, _) = server.since(start + Duration::from_secs(1));
    assert!(throughput >= 0.9 * 256.0 / 0.050, "{throughput:.0}/s");
}

#[tokio::test(start_paused = true)]
async fn a_window_rate_limit_is_paced_without_collapsing_the_limit() {
    for rate in [RateWindow::Sliding(50), RateWindow::Fixed(50)] {
        let server = Server::new(|_| ms(20), None).limited(rate);
        let limiter = Arc::new(Limiter::new(256, true));
        let pacer = Arc::new(Pacer::new(None));
        let start = Instant::now();
        let limits = trace(
            &limiter,
            ms(100),
            server.drive(limiter.clone(), Some(pacer.clone()), 100, Duration::from_secs(20)),
        )
        .await;
        let log = server.log.lock().unwrap();
        let total = log.accepted.len() + log.rejected;
        assert!(
            (log.rejected as f64) <= 0.05 * total as f64,
            "{rate:?}: {} of {total} rejected",
            log.rejected
        );
        assert!(log.verdicts.contains(&Verdict::RateLimit), "{rate:?}");
        drop(log);
        // The 429s were the pace's, not too many in flight: the limit stays where it was.
        assert!(limits.iter().all(|l| *l >= 8), "{rate:?}: {limits:?}");
        let paced = pacer.rate().expect("paced");
        assert!((45.0..=51.0).contains(&paced), "{rate:?}: {paced}/s");
        let (throughput, _) = server.since(start + Duration::from_secs(2));
        assert!(throughput >= 0.9 * 50.0, "{rate:?}: {throughput:.1}/s");
    }
}

#[tokio::test(start_paused = true)]
async fn one_warm_window_in_slow_start_holds_the_limit_and_the_doubling_resumes() {
    // 20 ms, but 28 ms (past holding, within the tolerance) for requests arriving 140 to 180
    // ms in, whatever the load: a hiccup of a busy host as the slow start's burst arrives.
    let start = Instant::now();
    let (from, to) = (start + ms(140), start + ms(180));
    let server = Server::new(
        move |_| match (from..to).contains(&Instant::now()) {
            true => ms(28),
            false => ms(20),
        },
        None,
    );
    let limiter = Arc::new(Limiter::new(256, true));
    let (causes, watch) = record_causes(&limiter);
    let limits = trace(
        &limiter,
        ms(20),
        server.drive(limiter.clone(), None, 400, Duration::from_secs(1)),
    )
    .await;
    watch.abort();
    // One window held, then doubling again: 256 by a third of a second (a tenth a window from
    // where the hiccup found it would take over a second).
    let at_ceiling = limits.iter().position(|l| *l == 256).expect("reaches the ceiling");
    assert!(at_ceiling <= 17, "256 after {at_ceiling} ticks of 20 ms: {limits:?}");
    assert!(limits.windows(2).all(|w| w[0] <= w[1]), "only grows: {limits:?}");
    assert!(!causes.lock().unwrap().contains(&Cause::Latency), "{limits:?}");
}

#[tokio::test(start_paused = true)]
async fn warm_windows_in_a_row_end_slow_start_and_hold_the_limit() {
    // 20 ms, then 28 ms from 140 ms on, whatever the load: past holding, within the tolerance,
    // for good. After WARM_WINDOWS such windows slow start is over, and the limit holds.
    let start = Instant::now();
    let rise = start + ms(140);
    let server = Server::new(move |_| if Instant::now() < rise { ms(20) } else { ms(28) }, None);
    let limiter = Arc::new(Limiter::new(256, true));
    let limits = trace(
        &limiter,
        ms(20),
        server.drive(limiter.clone(), None, 400, Duration::from_secs(2)),
    )
    .await;
    let held = limits[20];
    assert!((32..256).contains(&held), "{limits:?}");
    assert!(limits[20..].iter().all(|l| *l == held), "holds at {held}: {limits:?}");
}

#[tokio::test(start_paused = true)]
async fn a_shrink_in_slow_start_the_next_window_does_not_bear_out_resumes_the_doubling() {
    // 20 ms, but 50 ms (past the tolerance) for requests arriving 140 to 200 ms in, whatever
    // the load: a busy host queueing the slow start's burst. The limit shrinks for it; the
    // window after is back at the base, so slow start goes on.
    let start = Instant::now();
    let (from, to) = (start + ms(140), start + ms(200));
    let server = Server::new(
        move |_| match (from..to).contains(&Instant::now()) {
            true => ms(50),
            false => ms(20),
        },
        None,
    );
    let limiter = Arc::new(Limiter::new(256, true));
    let (causes, watch) = record_causes(&limiter);
    let limits = trace(
        &limiter,
        ms(20),
        server.drive(limiter.clone(), None, 400, Duration::from_secs(1)),
    )
    .await;
    watch.abort();
    assert!(causes.lock().unwrap().contains(&Cause::Latency), "shrinks: {limits:?}");
    // Doubling again after one window: 256 by half a second (a tenth a window from where the
    // shrink left it would take over a second).
    let at_ceiling = limits.iter().position(|l| *l == 256).expect("reaches the ceiling");
    assert!(at_ceiling <= 25, "256 after {at_ceiling} ticks of 20 ms: {limits:?}");
}
