//! The controller on tokio's paused clock: alone, and driving simulated servers (a latency that
//! grows with load, a cap on requests in flight, a rate limit) through the limiter and pacer.

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
    log: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    in_flight: usize,
    peak: usize,
    /// (answered at, latency) of every accepted request.
    accepted: Vec<(Instant, Duration)>,
    rejected: usize,
    verdicts: Vec<Verdict>,
}

impl Server {
    fn new(latency: impl Fn(usize) -> Duration + Send + Sync + 'static, cap: Option<usize>) -> Server {
        Server {
            latency: Arc::new(latency),
            cap,
            log: Arc::default(),
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
            if self.cap.is_some_and(|cap| log.in_flight >= cap) {
                log.rejected += 1;
                None
            } else {
                log.in_flight += 1;
                log.peak = log.peak.max(log.in_flight);
                Some(log.in_flight)
            }
        };
        let Some(n) = arrived else {
            let retry_after = Duration::from_secs(1);
            let verdict = permit.rejected(Rejection::TooMany(Some(retry_after)), Instant::now());
            self.log.lock().unwrap().verdicts.push(verdict);
            if let (Verdict::RateLimit, Some(pacer)) = (verdict, pacer) {
                pacer.rate_limited(sent, Some(retry_after));
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
    // Sent after the decrease, within its limit, and refused all the same: a rate limit.
    let verdict = c.rejected(
        sample(at(7), 5),
        Rejection::TooMany(Some(Duration::from_secs(1))),
        at(8),
    );
    assert_eq!(verdict, Verdict::RateLimit);
    assert_eq!(c.limit(), 4, "by half at most");
    // A request sent past the limit the last decrease set is a probe: concurrency again.
    let verdict = c.rejected(sample(at(9), 6), Rejection::TooMany(None), at(10));
    assert_eq!(verdict, Verdict::Concurrency);
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
