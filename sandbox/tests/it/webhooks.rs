//! Signed webhooks as Linq sends them, to a receiver on loopback: one for every landed change,
//! outside change, rename, icon and create, each body valid against Linq's schema and its
//! signature verified as Linq documents; Linq's retries; duplicates, reordering and drops drawn
//! from the seed; the control API.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use linq_sandbox::{Fate, Options, Sandbox, Tamper, WebhookOptions, MAX_ATTEMPTS};
use reqwest::Method;
use serde_json::{json, Value};

use crate::create::{body, create};
use crate::helpers::*;
use crate::schema::spec;

const SECRET: &str = "whsec_test_secret";
const ICON: &str = "https://example.com/icons/team.png";

/// One webhook as it reached the receiver.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }
}

/// A webhook endpoint: records what it gets and answers the statuses scripted, then 200.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let app = axum::Router::new()
            .route("/webhooks/linq", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/linq", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn event_types(&self) -> Vec<String> {
        self.got()
            .iter()
            .map(|r| r.json()["event_type"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver.got.lock().unwrap().push(Received { headers, body });
    let status = receiver.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

fn webhooks(url: &str) -> WebhookOptions {
    WebhookOptions {
        url: Some(url.to_owned()),
        secret: SECRET.to_owned(),
        retry_scale: 0.001,
        ..WebhookOptions::default()
    }
}

/// Waits, off the runtime, until every webhook made so far is settled.
async fn settled(sandbox: &Sandbox) {
    let sandbox = sandbox.clone();
    let done = tokio::task::spawn_blocking(move || sandbox.wait_for_webhooks(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(done, "webhooks still pending");
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Linq's "Verifying Webhook Signatures", step by step: the raw body, `{timestamp}.{payload}`,
/// HMAC-SHA256 with the signing secret, hex, compared in constant time.
fn verified(secret: &str, received: &Received) -> bool {
    let timestamp = received.header("x-webhook-timestamp");
    let signature = received.header("x-webhook-signature");
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(&received.body);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&signed);
    signature.len() == 64 && mac.verify_slice(&unhex(signature)).is_ok()
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_sends_a_signed_webhook_in_linq_s_schema() {
    let (receiver, url) = Receiver::start().await;
    let sandbox = start(
        seed(),
        Options {
            webhooks: webhooks(&url),
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    assert_eq!(client.remove(BIG, A).await.status, 202);
    sandbox.add_outside(TRIO, C);
    sandbox.remove_outside(BIG, B);
    sandbox.leave(SMS, "+12055550202");
    sandbox.rename_outside(TRIO, Some("Renamed in Messages"));
    sandbox.set_icon_outside(TRIO, Some(ICON));
    let put = client
        .send(
            Method::PUT,
            &format!("/v3/chats/{BIG}"),
            Some(json!({ "display_name": "Team", "group_chat_icon": ICON })),
        )
        .await
        .unwrap();
    assert_eq!(put.status, 200);
    let created = create(&client, body(ME, &[A, B], "Welcome", None)).await;
    let chat = created.body["chat"]["id"].as_str().unwrap().to_owned();
    sandbox.tamper(TRIO, Tamper::update_fails(4001));
    let failed = client
        .send(
            Method::PUT,
            &format!("/v3/chats/{TRIO}"),
            Some(json!({ "display_name": "Nope", "group_chat_icon": ICON })),
        )
        .await
        .unwrap();
    assert_eq!((failed.status, &failed.body["display_name"]), (200, &json!("Nope")));
    assert_eq!(
        sandbox.chat(TRIO).unwrap().display_name.as_deref(),
        Some("Renamed in Messages"),
        "the update failed"
    );
    settled(&sandbox).await;

    // In the order they happened: first attempts go one after another.
    let types = receiver.event_types();
    let expected = vec![
        "participant.added",   // NEW landed in BIG
        "participant.removed", // A's removal landed
        "participant.added",   // C added outside
        "participant.removed", // B removed outside
        "participant.removed", // left SMS
        "chat.group_name_updated",
        "chat.group_icon_updated",
        "chat.group_name_updated", // through PUT
        "chat.group_icon_updated",
        "chat.created",
        "chat.group_name_update_failed",
        "chat.group_icon_update_failed",
    ];
    assert_eq!(types, expected);

    let now = now_secs();
    let mut ids = std::collections::BTreeSet::new();
    for received in receiver.got() {
        let body = received.json();
        let event_type = body["event_type"].as_str().unwrap();
        spec().assert_webhook(event_type, &body);
        spec().assert_component("WebhookEnvelopeBase", &body);
        assert_eq!(received.header("x-webhook-event"), event_type);
        assert_eq!(
            received.header("x-webhook-subscription-id"),
            WebhookOptions::default().subscription_id
        );
        assert_eq!(received.header("content-type"), "application/json");
        assert!(verified(SECRET, &received), "{event_type}: the signature verifies");
        assert!(!verified("another secret", &received));
        let timestamp: i64 = received.header("x-webhook-timestamp").parse().unwrap();
        assert!((now - 300..=now + 5).contains(&timestamp), "{timestamp} vs {now}");
        assert_eq!(
            (body["api_version"].as_str(), body["webhook_version"].as_str()),
            (Some("v3"), Some("2026-02-03"))
        );
        assert_eq!(body["partner_id"], "partner_sandbox");
        assert!(
            ids.insert(body["event_id"].as_str().unwrap().to_owned()),
            "event ids are unique"
        );
    }

    let find = |event_type: &str, chat: &str| -> Vec<Value> {
        receiver
            .got()
            .iter()
            .map(Received::json)
            .filter(|b| b["event_type"] == event_type && (b["data"]["chat_id"] == chat || b["data"]["id"] == chat))
            .map(|b| b["data"].clone())
            .collect()
    };
    let added = &find("participant.added", BIG)[0];
    assert_eq!(
        (added["handle"].as_str(), added["participant"]["status"].as_str()),
        (Some(NEW), Some("active"))
    );
    let removed = find("participant.removed", BIG);
    let statuses: Vec<_> = removed
        .iter()
        .map(|d| (d["handle"].clone(), d["participant"]["status"].clone()))
        .collect();
    assert!(statuses.contains(&(json!(A), json!("removed"))), "{statuses:?}");
    assert!(statuses.contains(&(json!(B), json!("removed"))), "{statuses:?}");
    let left = &find("participant.removed", SMS)[0];
    assert_eq!(left["participant"]["status"], "left");
    assert!(left["participant"]["left_at"].is_string());
    let outside = &find("chat.group_name_updated", TRIO)[0];
    assert_eq!(
        (outside["old_value"].clone(), outside["new_value"].clone()),
        (Value::Null, json!("Renamed in Messages"))
    );
    assert!(outside["changed_by_handle"].is_null(), "someone outside the API");
    let through_put = &find("chat.group_name_updated", BIG)[0];
    assert_eq!(
        (through_put["old_value"].clone(), through_put["new_value"].clone()),
        (json!("Big"), json!("Team"))
    );
    assert_eq!(
        through_put["changed_by_handle"]["is_me"], true,
        "the partner's own line"
    );
    let icon = &find("chat.group_icon_updated", BIG)[0];
    assert_eq!(
        (icon["old_value"].clone(), icon["new_value"].clone()),
        (Value::Null, json!(ICON))
    );
    let made = &find("chat.created", &chat)[0];
    assert_eq!(
        (made["is_group"].clone(), made["handles"].as_array().unwrap().len()),
        (json!(true), 3)
    );
    assert_eq!(find("chat.group_name_update_failed", TRIO)[0]["error_code"], 4001);

    // Every delivery took one attempt, answered 200; the log says so.
    let deliveries = sandbox.deliveries();
    assert_eq!(deliveries.len(), 12);
    assert!(deliveries
        .iter()
        .all(|d| d.attempt == 1 && d.status == Some(200) && !d.duplicate));
    assert!(sandbox.webhook_events().iter().all(|e| e.fate == Fate::Delivered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_lands_later_sends_its_webhook_when_it_lands() {
    let (receiver, url) = Receiver::start().await;
    let sandbox = start(
        seed(),
        Options {
            land_delay: Duration::from_millis(200),
            webhooks: webhooks(&url),
            ..Options::default()
        },
    )
    .await;
    let client = Client::new(&sandbox);
    assert_eq!(client.add(BIG, NEW).await.status, 202);
    settled(&sandbox).await;
    assert!(receiver.got().is_empty(), "nothing landed yet");
    // Nobody looks at the sandbox: the deliverer lands the change when it falls due.
    let sandbox2 = sandbox.clone();
    let arrived = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while sandbox2.webhook_events().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        sandbox2.wait_for_webhooks(Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert!(arrived);
    assert_eq!(receiver.event_types(), ["participant.added"]);
    assert_eq!(receiver.got()[0].json()["data"]["handle"], NEW);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_retried_as_linq_retries_them() {
    let (receiver, url) = Receiver::start().await;
    let sandbox = start(
        seed(),
        Options {
            webhooks: webhooks(&url),
            ..Options::default()
        },
    )
    .await;
    // 5xx and 429 are retried until a 2xx.
    receiver.answer(&[500, 503, 429]);
    sandbox.add_outside(BIG, NEW);
    settled(&sandbox).await;
    let statuses: Vec<_> = sandbox.deliveries().iter().map(|d| (d.attempt, d.status)).collect();
    assert_eq!(
        statuses,
        [(1, Some(500)), (2, Some(503)), (3, Some(429)), (4, Some(200))]
    );
    let got = receiver.got();
    assert_eq!(got.len(), 4);
    let first = got[0].json();
    assert!(got.iter().all(|r| r.json() == first), "the same event each time");
    assert!(got.iter().all(|r| verified(SECRET, r)), "each attempt signed");
    assert_eq!(sandbox.webhook_events()[0].fate, Fate::Delivered);

    // A 4xx other than 429 is a permanent failure: no retry.
    receiver.answer(&[401]);
    sandbox.remove_outside(BIG, NEW);
    settled(&sandbox).await;
    assert_eq!(sandbox.deliveries().len(), 5);
    assert_eq!(sandbox.webhook_events()[1].fate, Fate::Failed);

    // At most 6 attempts.
    receiver.answer(&[500; 10]);
    sandbox.leave(BIG, C);
    settled(&sandbox).await;
    let last: Vec<_> = sandbox.deliveries()[5..]
        .iter()
        .map(|d| (d.attempt, d.status))
        .collect();
    assert_eq!(last, (1..=MAX_ATTEMPTS).map(|a| (a, Some(500))).collect::<Vec<_>>());
    assert_eq!(sandbox.webhook_events()[2].fate, Fate::Failed);

    // No answer at all (nothing listens): retried too, and logged without a status.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/webhooks/linq", closed.local_addr().unwrap());
    drop(closed);
    sandbox.set_webhook_url(Some(&dead));
    sandbox.add_outside(BIG, C);
    settled(&sandbox).await;
    let unanswered = &sandbox.deliveries()[5 + MAX_ATTEMPTS..];
    assert_eq!(unanswered.len(), MAX_ATTEMPTS);
    assert!(
        unanswered.iter().all(|d| d.status.is_none() && d.error.is_some()),
        "{unanswered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_drops_follow_the_seed() {
    let run = |options: WebhookOptions| async move {
        let (receiver, url) = Receiver::start().await;
        let sandbox = start(
            seed(),
            Options {
                webhooks: WebhookOptions {
                    url: Some(url),
                    ..options
                },
                seed: 5,
                ..Options::default()
            },
        )
        .await;
        for i in 0..30 {
            let handle = format!("+1205558{i:04}");
            sandbox.add_outside(BIG, &handle);
        }
        settled(&sandbox).await;
        (sandbox.webhook_events(), receiver)
    };
    let duplicated = WebhookOptions {
        duplicate_rate: 1.0,
        ..webhooks("http://unused")
    };
    let (events, receiver) = run(duplicated).await;
    let ids: Vec<String> = receiver
        .got()
        .iter()
        .map(|r| r.json()["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 60, "each event twice");
    for event in &events {
        assert_eq!(ids.iter().filter(|id| **id == event.event_id).count(), 2);
        assert!(event.duplicate && event.fate == Fate::Delivered);
    }

    let lossy = WebhookOptions {
        drop_rate: 0.4,
        ..webhooks("http://unused")
    };
    let (events, receiver) = run(lossy.clone()).await;
    let dropped: Vec<bool> = events.iter().map(|e| e.fate == Fate::Dropped).collect();
    let count = dropped.iter().filter(|d| **d).count();
    assert!((4..=20).contains(&count), "{count} of 30 dropped at 40%");
    let arrived: Vec<String> = receiver
        .got()
        .iter()
        .map(|r| r.json()["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(arrived.len(), 30 - count);
    for event in &events {
        assert_eq!(arrived.contains(&event.event_id), event.fate != Fate::Dropped);
    }
    let (again, _) = run(lossy).await;
    assert_eq!(
        again.iter().map(|e| e.fate == Fate::Dropped).collect::<Vec<_>>(),
        dropped,
        "the same seed drops the same webhooks"
    );
    assert!(again.iter().all(|e| e.fate != Fate::Pending));
}

/// A late webhook goes after the next one: held back until that one's first attempt ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_webhooks_arrive_after_the_next_one() {
    let (receiver, url) = Receiver::start().await;
    let sandbox = start(
        seed(),
        Options {
            webhooks: WebhookOptions {
                reorder_rate: 0.5,
                // The first retry delay (2 s) bounds the hold when nothing follows.
                retry_scale: 1.0,
                ..webhooks(&url)
            },
            seed: 3,
            ..Options::default()
        },
    )
    .await;
    for i in 0..20 {
        sandbox.add_outside(BIG, &format!("+1205559{i:04}"));
        // One change at a time, so that each is its own webhook.
        let sandbox = sandbox.clone();
        tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while sandbox.webhook_events().len() <= i && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .await
        .unwrap();
    }
    settled(&sandbox).await;
    let events = sandbox.webhook_events();
    let late: Vec<bool> = events.iter().map(|e| e.late).collect();
    assert!(late.iter().any(|l| *l) && late.iter().any(|l| !*l), "{late:?}");
    let arrived: Vec<String> = receiver
        .got()
        .iter()
        .map(|r| r.json()["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(arrived.len(), 20, "every webhook arrives once");
    // Each late webhook right after the next one on time; those at the end, last.
    let mut expected = Vec::new();
    let mut held = Vec::new();
    for event in &events {
        if event.late {
            held.push(event.event_id.clone());
        } else {
            expected.push(event.event_id.clone());
            expected.append(&mut held);
        }
    }
    expected.append(&mut held);
    assert_eq!(arrived, expected, "{late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_sets_the_subscription_and_lists_events_and_deliveries() {
    let (receiver, url) = Receiver::start().await;
    let (sandbox, _client) = sandbox().await;
    let root = format!("http://{}/_sandbox", sandbox.addr());
    let http = reqwest::Client::new();
    sandbox.add_outside(BIG, NEW);
    settled(&sandbox).await;
    assert!(sandbox.webhook_events().is_empty(), "no URL, no webhooks");

    let set = |body: Value| {
        let request = http.post(format!("{root}/webhook")).json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(set(json!({ "url": "not a url" })).await, 400);
    assert_eq!(set(json!({ "url": "ftp://example.com/hook" })).await, 400);
    assert_eq!(set(json!({ "url": url, "secret": "s2" })).await, 204);
    sandbox.remove_outside(BIG, NEW);
    settled(&sandbox).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert!(verified("s2", &got[0]), "signed with the secret set");

    let events: Value = http
        .get(format!("{root}/webhooks/events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event_id = got[0].json()["event_id"].clone();
    assert_eq!(events[0]["event_id"], event_id);
    assert_eq!(events[0]["event_type"], "participant.removed");
    assert_eq!(events[0]["chat_id"], BIG);
    assert_eq!(events[0]["fate"], "delivered");
    let deliveries: Value = http
        .get(format!("{root}/webhooks/deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries[0]["event_id"], event_id);
    assert_eq!(
        (deliveries[0]["attempt"].clone(), deliveries[0]["status"].clone()),
        (json!(1), json!(200))
    );

    assert_eq!(set(json!({ "url": null })).await, 204);
    sandbox.add_outside(BIG, NEW);
    settled(&sandbox).await;
    assert_eq!(receiver.got().len(), 1, "no URL any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timestamp_can_be_moved_and_the_version_picked_by_the_url() {
    let (receiver, url) = Receiver::start().await;
    let sandbox = start(
        seed(),
        Options {
            webhooks: WebhookOptions {
                timestamp_offset: -600,
                ..webhooks(&format!("{url}?version=2025-01-01"))
            },
            ..Options::default()
        },
    )
    .await;
    sandbox.add_outside(BIG, NEW);
    settled(&sandbox).await;
    let got = &receiver.got()[0];
    let timestamp: i64 = got.header("x-webhook-timestamp").parse().unwrap();
    let now = now_secs();
    assert!(
        (now - 605..=now - 595).contains(&timestamp),
        "ten minutes old: {timestamp} vs {now}"
    );
    assert!(verified(SECRET, got), "signed over the timestamp sent");
    assert_eq!(got.json()["webhook_version"], "2025-01-01");
    spec().assert_component("ParticipantAddedWebhook", &got.json());
}

/// The binary's webhook flags reach the deliverer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_sends_signed_webhooks_to_the_url_it_is_given() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let (receiver, url) = Receiver::start().await;
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_linq-sandbox"))
        .args(["--seed", seed, "--webhook-url", &url, "--webhook-secret", SECRET])
        .args(["--webhook-retry-scale", "0.001"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let root = base.trim_end_matches("/api/partner");
    receiver.answer(&[500]);
    let chat = "550e8400-e29b-41d4-a716-446655440000";
    let http = reqwest::Client::new();
    let outside = http
        .post(format!("{root}/_sandbox/chats/{chat}/outside-add"))
        .json(&json!({ "handle": NEW }))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 204);
    let deliveries = loop {
        let deliveries: Value = http
            .get(format!("{root}/_sandbox/webhooks/deliveries"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if deliveries.as_array().unwrap().len() >= 2 {
            break deliveries;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(
        (deliveries[0]["status"].clone(), deliveries[1]["status"].clone()),
        (json!(500), json!(200))
    );
    let got = receiver.got();
    assert!(verified(SECRET, &got[1]));
    spec().assert_webhook("participant.added", &got[1].json());
}
