//! Fault injection, deterministic for a seed: 5xx before or after applying, dropped
//! connections, latency (fixed, stepping, jittering, queued behind a few workers) and rate limits
//! (token bucket, fixed and sliding windows) answered 429 with `Retry-After`.

use std::time::Duration;

use linq_sandbox::{CallRecord, Fault, LatencyStep, Options, RateLimitKind};

use crate::helpers::*;
use crate::schema::spec;

/// The statuses of `n` chat reads, `None` for a dropped connection.
async fn read_statuses(client: &Client, n: usize) -> Vec<Option<u16>> {
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        match client
            .send(reqwest::Method::GET, &format!("/v3/chats/{BIG}"), None)
            .await
        {
            Ok(answer) => {
                if answer.status >= 500 {
                    spec().assert_component("ErrorResponse", &answer.body);
                    let code = answer.code().unwrap();
                    assert!((3000..4000).contains(&code), "{code}");
                }
                statuses.push(Some(answer.status));
            }
            Err(_) => statuses.push(None),
        }
    }
    statuses
}

#[tokio::test]
async fn error_and_drop_rates_are_met_and_repeat_for_a_seed() {
    let options = Options {
        error_rate: 0.2,
        drop_rate: 0.1,
        seed: 42,
        ..Options::default()
    };
    let run = || async {
        let sandbox = start(seed(), options.clone()).await;
        read_statuses(&Client::new(&sandbox), 400).await
    };
    let first = run().await;
    let errors = first.iter().filter(|s| s.is_some_and(|s| s >= 500)).count();
    let dropped = first.iter().filter(|s| s.is_none()).count();
    assert!((50..=110).contains(&errors), "{errors} server errors of 400 at 20%");
    assert!((20..=65).contains(&dropped), "{dropped} dropped of 400 at 10%");
    assert_eq!(first, run().await, "the same seed fails the same requests");
}

#[tokio::test]
async fn a_server_error_applies_nothing() {
    let sandbox = start(
        seed(),
        Options {
            error_rate: 1.0,
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    let answer = client.add(BIG, NEW).await;
    assert!(
        matches!(answer.error(), (500, Some(3006)) | (503, Some(3003))),
        "{answer:?}"
    );
    spec().assert_component("ErrorResponse", &answer.body);
    sandbox.land_all();
    assert!(!sandbox.members(BIG).unwrap().contains(NEW));
    assert_eq!(sandbox.mutating_calls_applied(), 0);
    assert_eq!(sandbox.calls()[0].fault, Some(Fault::ServerError));
}

#[tokio::test]
async fn an_applied_error_answers_500_but_the_change_lands() {
    let sandbox = start(
        seed(),
        Options {
            applied_error_rate: 1.0,
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    let answer = client.add(BIG, NEW).await;
    assert_eq!(answer.error(), (500, Some(3006)));
    spec().assert_component("ErrorResponse", &answer.body);
    // A retry finds it done: the duplicate is a conflict.
    assert_eq!(client.add(BIG, NEW).await.error(), (409, Some(2015)));
    assert!(sandbox.members(BIG).unwrap().contains(NEW));
    assert_eq!(sandbox.mutating_calls_applied(), 1);
    assert_eq!(sandbox.calls()[0].fault, Some(Fault::AppliedServerError));
    // Reads have nothing to apply: they are answered normally.
    assert_eq!(client.chat(BIG).await.status, 200);
}

#[tokio::test]
async fn a_dropped_connection_gives_no_answer_but_the_change_lands() {
    let sandbox = start(
        seed(),
        Options {
            drop_rate: 1.0,
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    // No status line at all: `send` itself fails, before any body is read.
    let error = reqwest::Client::new()
        .post(format!("{}/v3/chats/{BIG}/participants", sandbox.base_url()))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "handle": NEW }))
        .send()
        .await
        .expect_err("no answer");
    assert!(
        error.status().is_none() && error.is_request(),
        "a transport error: {error:?}"
    );
    sandbox.land_all();
    assert!(sandbox.members(BIG).unwrap().contains(NEW));
    let call = &sandbox.calls()[0];
    assert_eq!((call.applied, call.fault), (true, Some(Fault::Dropped)));
    // A rejected change is answered, not dropped.
    sandbox.set_options(Options {
        drop_rate: 1.0,
        ..Options::default()
    });
    assert_eq!(client.add(DM, NEW).await.error(), (409, Some(1006)));
}

/// What a token bucket of `rate` a second, holding one second's worth and full when the sandbox
/// started, answers to each of `calls` at the time the sandbox handled it: 200 while a token is
/// left, 429 otherwise.
fn bucket(rate: f64, calls: &[CallRecord]) -> Vec<u16> {
    let capacity = rate.max(1.0);
    let (mut tokens, mut last) = (capacity, Duration::ZERO);
    let mut statuses = Vec::new();
    for call in calls {
        tokens = (tokens + (call.at - last).as_secs_f64() * rate).min(capacity);
        last = call.at;
        if tokens >= 1.0 {
            tokens -= 1.0;
            statuses.push(200);
        } else {
            statuses.push(429);
        }
    }
    statuses
}

#[tokio::test]
async fn above_the_rate_limit_the_answer_is_429_with_retry_after() {
    let sandbox = start(
        seed(),
        Options {
            rate_limit: Some(2.0),
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    // Reads back to back: the first two spend the burst, the next are refused until a token
    // comes back half a second later. Which read it lets through depends on when each came, so
    // the statuses are those of the bucket at the times the sandbox's log gives.
    let mut statuses = Vec::new();
    let mut limited = None;
    while statuses.len() < 6 || limited.is_none() {
        assert!(statuses.len() < 1_000, "never refused: {statuses:?}");
        let answer = client.chat(BIG).await;
        statuses.push(answer.status);
        if answer.status == 429 {
            limited = Some(answer);
        }
    }
    assert_eq!(statuses[..2], [200, 200]);
    assert_eq!(statuses, bucket(2.0, &sandbox.calls()));
    let limited = limited.unwrap();
    assert_eq!(limited.code(), Some(1007));
    spec().assert_component("ErrorResponse", &limited.body);
    let header: u64 = limited
        .retry_after
        .as_deref()
        .expect("Retry-After header")
        .parse()
        .unwrap();
    assert_eq!(
        header, 1,
        "half a second to the next token, rounded up to whole seconds"
    );
    assert_eq!(limited.body["error"]["retry_after"], header);
    assert!(sandbox
        .calls()
        .iter()
        .filter(|c| c.status == 429)
        .all(|c| c.fault == Some(Fault::RateLimited)));
    // Nothing is applied while limited: adds (each of a handle of its own) until one is refused,
    // which is the first unless a token came back in between; only those accepted are applied.
    let mut accepted = 0;
    loop {
        let answer = client.add(BIG, &format!("+120555590{accepted:02}")).await;
        if answer.status == 429 {
            break;
        }
        assert_eq!(answer.status, 202, "{answer:?}");
        accepted += 1;
        assert!(accepted < 50, "adds never refused");
    }
    assert_eq!(sandbox.mutating_calls_applied(), accepted);
    // After a pause (longer than a token takes to come back) requests go through again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(client.add(BIG, NEW).await.status, 202);
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let sandbox = start(
        seed(),
        Options {
            latency: Duration::from_millis(250),
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    client.chat(BIG).await;
    client.add(BIG, NEW).await;
    // As the sandbox logged them: each was handled the latency after it arrived.
    for call in sandbox.calls() {
        assert!(call.at - call.arrived >= Duration::from_millis(250), "{call:?}");
    }
    sandbox.set_options(Options::default());
    assert_eq!(client.chat(BIG).await.status, 200);
}

#[tokio::test]
async fn thousands_of_concurrent_requests_are_all_served() {
    let (sandbox, _) = sandbox().await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = Client::new(&sandbox);
            tokio::spawn(async move {
                for _ in 0..250 {
                    assert_eq!(client.chat(BIG).await.status, 200);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(sandbox.calls().len(), 2000);
}

#[tokio::test]
async fn a_lost_call_is_answered_202_and_never_lands() {
    let sandbox = start(
        seed(),
        Options {
            lost_handles: [NEW.to_owned(), A.to_owned()].into(),
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    let added = client.add(BIG, NEW).await;
    assert_eq!(added.status, 202, "{added:?}");
    assert_eq!(added.body["status"], "accepted");
    let removed = client.remove(BIG, A).await;
    assert_eq!(removed.status, 202, "{removed:?}");
    // Checked as usual: a call Linq would refuse is refused, not lost.
    assert_eq!(client.add(DM, NEW).await.error(), (409, Some(1006)));
    // Another handle is not affected.
    let other = "+12055550151";
    let applied = client.add(BIG, other).await;
    assert_eq!(applied.status, 202);
    let keys = |body: &serde_json::Value| body.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&added.body),
        keys(&applied.body),
        "a lost call looks like any other"
    );
    sandbox.land_all();
    let members = sandbox.members(BIG).unwrap();
    assert!(!members.contains(NEW) && members.contains(A), "{members:?}");
    assert!(members.contains(other));
    let faults: Vec<_> = sandbox.calls().iter().map(|c| (c.status, c.applied, c.fault)).collect();
    assert_eq!(
        faults,
        [
            (202, false, Some(Fault::Lost)),
            (202, false, Some(Fault::Lost)),
            (409, false, None),
            (202, true, None),
        ]
    );
    // The same call again is accepted again: nothing was queued.
    assert_eq!(client.add(BIG, NEW).await.status, 202);
}

#[tokio::test]
async fn a_share_of_participant_calls_is_lost_the_same_way_for_a_seed() {
    let options = Options {
        lost_rate: 0.5,
        seed: 5,
        ..Options::default()
    };
    let run = || async {
        let sandbox = start(seed(), options.clone()).await;
        let client = Client::new(&sandbox);
        for i in 0..40 {
            assert_eq!(client.add(BIG, &format!("+1205556{i:04}")).await.status, 202);
            // Reads are never lost.
            assert_eq!(client.chat(BIG).await.status, 200);
        }
        sandbox.land_all();
        sandbox.members(BIG).unwrap()
    };
    let first = run().await;
    let lost = (0..40).filter(|i| !first.contains(&format!("+1205556{i:04}"))).count();
    assert!((10..=30).contains(&lost), "{lost} of 40 lost at 50%");
    assert_eq!(first, run().await, "the same seed loses the same calls");
}

#[tokio::test]
async fn past_the_cap_on_requests_in_flight_the_answer_is_429_at_once() {
    let sandbox = start(
        seed(),
        Options {
            latency: Duration::from_millis(300),
            max_in_flight: Some(2),
            ..Options::default()
        },
    )
    .await;
    let client = std::sync::Arc::new(Client::new(&sandbox));
    // Two reads hold the sandbox; three more arrive while they do.
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.chat(BIG).await.status })
        })
        .collect();
    while sandbox.peak_in_flight() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut refused = Vec::new();
    for _ in 0..3 {
        refused.push(client.add(BIG, NEW).await);
    }
    // As the sandbox logged them: answered when they arrived, not after the latency.
    for call in sandbox
        .calls()
        .iter()
        .filter(|c| c.fault == Some(Fault::TooManyInFlight))
    {
        assert_eq!(
            call.at, call.arrived,
            "refused at once, not after the latency: {call:?}"
        );
    }
    for answer in &refused {
        assert_eq!(answer.error(), (429, Some(1007)), "{answer:?}");
        assert_eq!(answer.retry_after.as_deref(), Some("1"));
        assert_eq!(answer.body["error"]["retry_after"], 1);
        spec().assert_component("ErrorResponse", &answer.body);
    }
    for task in slow {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(sandbox.mutating_calls_applied(), 0, "nothing applied while refused");
    // Once they are answered, a request goes through again.
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    assert_eq!(sandbox.peak_in_flight(), 2);
    let log: Vec<_> = sandbox
        .calls()
        .iter()
        .map(|c| (c.method.clone(), c.status, c.fault, c.in_flight))
        .collect();
    let refusal = ("POST".to_owned(), 429, Some(Fault::TooManyInFlight), 3);
    assert_eq!(
        log,
        [
            refusal.clone(),
            refusal.clone(),
            refusal,
            ("GET".to_owned(), 200, None, 1),
            ("GET".to_owned(), 200, None, 2),
            ("POST".to_owned(), 202, None, 1),
        ],
        "refusals are logged when they are answered, the rest after their latency"
    );
    let read = &sandbox.calls()[3];
    assert!(read.at - read.arrived >= Duration::from_millis(300), "{read:?}");
}

/// `n` reads of a chat sent at once, each on a connection of its own.
async fn reads_at_once(sandbox: &linq_sandbox::Sandbox, n: usize) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = Client::new(sandbox);
            tokio::spawn(async move { client.chat(BIG).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn a_few_workers_serve_in_turn_so_latency_grows_with_the_load() {
    let sandbox = start(
        seed(),
        Options {
            latency: Duration::from_millis(100),
            workers: Some(2),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(reads_at_once(&sandbox, 6).await, [200; 6]);
    let calls = sandbox.calls();
    // As the sandbox logged them: two at a time, each 100 ms, so the k-th answer came at least
    // (k / 2 + 1) × 100 ms after the first request arrived, however close they arrived.
    let first = calls.iter().map(|c| c.arrived).min().unwrap();
    let mut answered: Vec<_> = calls.iter().map(|c| c.at - first).collect();
    answered.sort();
    for (k, at) in answered.iter().enumerate() {
        let turn = Duration::from_millis(100 * (k as u64 / 2 + 1));
        assert!(*at >= turn, "answer {k} at {at:?}: {answered:?}");
    }
    // Those waiting in line count as in flight, as a queue at the server does (how many were
    // in line at once depends on how close the six arrived).
    assert!(sandbox.peak_in_flight() > 2, "{}", sandbox.peak_in_flight());
}

#[tokio::test]
async fn latency_steps_or_jitters_whatever_the_load() {
    let step = Duration::from_millis(300);
    let sandbox = start(
        seed(),
        Options {
            latency: Duration::from_millis(10),
            latency_step: Some(LatencyStep {
                after: step,
                to: Duration::from_millis(150),
            }),
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    while sandbox.calls().iter().filter(|c| c.arrived >= step).count() < 2 {
        assert_eq!(client.chat(BIG).await.status, 200);
    }
    for call in sandbox.calls() {
        let floor = if call.arrived >= step { 150 } else { 10 };
        assert!(call.at - call.arrived >= Duration::from_millis(floor), "{call:?}");
    }

    // Jitter: one request at a time, so the load is the same for each, and yet latencies
    // spread between 10 and 60 ms (drawn from the seed).
    let sandbox = start(
        seed(),
        Options {
            latency: Duration::from_millis(10),
            latency_max: Some(Duration::from_millis(60)),
            seed: 3,
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    for _ in 0..20 {
        assert_eq!(client.chat(BIG).await.status, 200);
    }
    let latencies: Vec<_> = sandbox.calls().iter().map(|c| c.at - c.arrived).collect();
    assert!(
        latencies.iter().all(|l| *l >= Duration::from_millis(10)),
        "{latencies:?}"
    );
    assert!(
        latencies.iter().filter(|l| **l >= Duration::from_millis(35)).count() >= 5,
        "about half past the middle of the spread: {latencies:?}"
    );
}

/// What a window limit of 3 a second answers to each of `calls` at the time the sandbox
/// handled it: fixed, 3 in each whole second since the start; sliding, 3 in any second.
fn windows(kind: RateLimitKind, calls: &[CallRecord]) -> Vec<u16> {
    let mut taken: Vec<Duration> = Vec::new();
    calls
        .iter()
        .map(|call| {
            let counted = match kind {
                RateLimitKind::FixedWindow => taken.iter().filter(|t| t.as_secs() == call.at.as_secs()).count(),
                _ => taken.iter().filter(|t| call.at - **t < Duration::from_secs(1)).count(),
            };
            if counted < 3 {
                taken.push(call.at);
                200
            } else {
                429
            }
        })
        .collect()
}

#[tokio::test]
async fn window_limits_refuse_past_the_rate_with_a_whole_second_retry_after() {
    for kind in [RateLimitKind::FixedWindow, RateLimitKind::SlidingWindow] {
        let sandbox = start(
            seed(),
            Options {
                rate_limit: Some(3.0),
                rate_limit_kind: kind,
                ..Options::default()
            },
        )
        .await;
        let client = Client::new(&sandbox);
        // Reads back to back for over a second: refused once three are taken, taken again once
        // the window allows.
        let mut statuses = Vec::new();
        while sandbox
            .calls()
            .last()
            .is_none_or(|c| c.at < Duration::from_millis(1_300))
        {
            let answer = client.chat(BIG).await;
            if answer.status == 429 {
                assert_eq!(answer.code(), Some(1007));
                assert_eq!(answer.retry_after.as_deref(), Some("1"), "{kind:?}");
                assert_eq!(answer.body["error"]["retry_after"], 1);
                spec().assert_component("ErrorResponse", &answer.body);
            }
            statuses.push(answer.status);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let calls = sandbox.calls();
        assert_eq!(statuses[..4], [200, 200, 200, 429], "{kind:?}");
        assert_eq!(statuses, windows(kind, &calls), "{kind:?}");
        assert!(
            statuses.iter().filter(|s| **s == 200).count() >= 6,
            "{kind:?}: {statuses:?}"
        );
        assert!(calls
            .iter()
            .filter(|c| c.status == 429)
            .all(|c| c.fault == Some(Fault::RateLimited)));
    }
}
