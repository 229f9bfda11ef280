//! `roster watch` through the binary: the sandbox sends its signed webhooks to the watch, and
//! what they name shows up in the state file; hostile requests are refused and change nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use linq_sandbox::sign_webhook;
use serde_json::{json, Value};

use crate::common::{roster_command, Linq, PATIENCE};

/// The sandbox's default signing secret.
const SECRET: &str = "sandbox-webhook-secret";
const ONBOARDING: &str = "16fd2706-8baf-433b-82eb-8c7fb5a1a2b3";
const SALES_WEST: &str = "550e8400-e29b-41d4-a716-446655440000";

/// A `roster watch` running in the background, its findings read as they come.
struct Watching {
    child: Child,
    addr: String,
    findings: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Watching {
    /// `roster watch --format json EXTRA` over the team example, the sandbox's webhooks
    /// pointed at it; returns once its first full refresh is done.
    fn start(linq: &Linq, extra: &[&str]) -> Watching {
        Watching::start_with(linq, extra, &[])
    }

    fn start_with(linq: &Linq, extra: &[&str], env: &[(&str, &str)]) -> Watching {
        let mut command = roster_command(&linq.ws, &linq.sandbox);
        command
            .env("LINQ_WEBHOOK_SECRET", SECRET)
            .envs(env.iter().copied())
            .args(["watch", "--listen", "127.0.0.1:0", "--format", "json", "-c", "config"])
            .args(extra);
        let mut child = command.spawn().expect("start roster watch");
        let stdout = child.stdout.take().unwrap();
        let (sender, findings) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
                if sender.send(value).is_err() {
                    return;
                }
            }
        });
        let mut watching = Watching {
            child,
            addr: String::new(),
            findings,
            seen: Vec::new(),
        };
        let listening = watching.wait_for("listening", |f| f["finding"] == "listening");
        watching.addr = listening["address"].as_str().unwrap().to_owned();
        linq.sandbox
            .set_webhook_url(Some(&format!("http://{}/webhooks/linq", watching.addr)));
        watching
    }

    /// The next finding that `matches`, the others kept in `seen`; panics after [`PATIENCE`].
    fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let finding = self
                .findings
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("gave up waiting for {what}; findings so far: {:#?}", self.seen));
            self.seen.push(finding.clone());
            assert_eq!(finding["format_version"], "1");
            if matches(&finding) {
                return finding;
            }
        }
    }

    /// Kills it with SIGKILL, as a crash would.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits: the exit code and stderr.
    fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        (status.code(), stderr)
    }

    fn post(&self, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
        post(&self.addr, headers, body)
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(
            &self.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange over a fresh connection: the status and the body.
fn http(addr: &str, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    answer(&mut stream)
}

fn answer(stream: &mut TcpStream) -> (u16, String) {
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn post(addr: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let mut request = format!(
        "POST /webhooks/linq HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    http(addr, &bytes)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Request headers, by name.
type Headers = Vec<(&'static str, String)>;

/// The headers Linq sends with `body`, signed with `secret` at `timestamp`.
fn signed(secret: &str, timestamp: u64, body: &[u8]) -> Headers {
    let ts = timestamp.to_string();
    vec![
        ("X-Webhook-Timestamp", ts.clone()),
        ("X-Webhook-Signature", sign_webhook(secret, &ts, body)),
        ("Content-Type", "application/json".to_owned()),
    ]
}

fn envelope(event_type: &str, chat: Value) -> Vec<u8> {
    json!({
        "api_version": "v3", "webhook_version": "2026-02-03", "event_type": event_type,
        "event_id": uuid::Uuid::new_v4().to_string(), "created_at": "2026-01-01T00:00:00Z",
        "trace_id": "t", "partner_id": "p",
        "data": { "chat_id": chat, "handle": "+12055550177" },
    })
    .to_string()
    .into_bytes()
}

fn metric(metrics: &str, line_start: &str) -> u64 {
    (metrics.lines())
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .map_or(0, |n| n as u64)
}

fn members(linq: &Linq, chat: &str) -> Vec<String> {
    crate::common::strings(&linq.state()["chats"][chat]["members"])
}

fn team() -> Linq {
    let linq = Linq::team();
    let mut options = linq.sandbox.options();
    options.webhooks.retry_scale = 0.01;
    linq.sandbox.set_options(options);
    linq
}

#[test]
fn a_change_made_outside_roster_reaches_the_state_through_its_webhook() {
    let linq = team();
    let mut watch = Watching::start(&linq, &[]);
    watch.wait_for("the first full refresh", |f| f["finding"] == "refreshed");
    linq.sandbox.add_outside(ONBOARDING, "+12055550177");
    let drift = watch.wait_for("the drift", |f| f["finding"] == "drift");
    assert_eq!(drift["chat"], ONBOARDING);
    assert_eq!(drift["joined"], json!(["+12055550177"]));
    let recorded = watch.wait_for("the write", |f| f["finding"] == "recorded");
    assert_eq!(recorded["chats"], json!([ONBOARDING]));
    assert!(members(&linq, ONBOARDING).contains(&"+12055550177".to_owned()));
    assert_eq!(linq.state()["serial"], recorded["serial"]);
    let (code, stderr) = watch.terminate();
    assert_eq!(code, Some(143), "{stderr}");
    assert!(
        !linq.ws.path().join("roster.state.json.lock").exists(),
        "the lock is left: {stderr}"
    );
}

#[test]
fn a_change_roster_made_is_confirmed_when_its_webhook_says_it_landed() {
    let linq = team();
    let mut options = linq.sandbox.options();
    options.land_delay = Duration::from_secs(3600);
    linq.sandbox.set_options(options);
    // Sales West at its floor: `+ sales-new`, wait, `- +12055550199`. The add stays queued.
    let mut watch = Watching::start(&linq, &[]);
    watch.wait_for("the first full refresh", |f| f["finding"] == "refreshed");
    let apply = linq.roster(&[
        "apply",
        "--auto-approve",
        "-c",
        "config",
        "--wait-timeout",
        "0",
        "--lock-timeout",
        "30",
    ]);
    let state = linq.state();
    let pending = &state["chats"][SALES_WEST]["pending"];
    assert!(
        !pending.is_null(),
        "nothing pending after apply:\n{}\n{state:#}",
        apply.combined()
    );
    linq.sandbox.land_all();
    let landed = watch.wait_for("the landing", |f| f["finding"] == "landed" && f["chat"] == SALES_WEST);
    assert_eq!(landed["changes"], 1);
    watch.wait_for("the write", |f| f["finding"] == "recorded");
    let state = linq.state();
    assert!(state["chats"][SALES_WEST]["pending"].is_null(), "{state:#}");
    assert!(
        !watch.seen.iter().any(|f| f["finding"] == "drift"),
        "roster's own change taken for drift: {:#?}",
        watch.seen
    );
}

/// A watch whose first full refresh is done, and what the state and Linq's call log held then.
fn quiet_watch(linq: &Linq) -> (Watching, Option<Vec<u8>>, usize) {
    let mut watch = Watching::start(linq, &["--read-timeout", "0.5"]);
    watch.wait_for("the first full refresh", |f| f["finding"] == "refreshed");
    (watch, linq.state_bytes(), linq.sandbox.calls().len())
}

/// Stops `watch` and checks that nothing was written or asked of Linq since `before`.
fn changed_nothing(linq: &Linq, watch: Watching, before: Option<Vec<u8>>, calls: usize) {
    let (_, metrics) = watch.get("/metrics");
    assert!(!metrics.contains("outcome=\"accepted\""), "{metrics}");
    let (code, stderr) = watch.terminate();
    assert_eq!(code, Some(143), "{stderr}");
    assert_eq!(linq.state_bytes(), before, "the state changed");
    assert_eq!(linq.sandbox.calls().len(), calls, "Linq was called");
}

#[test]
fn webhooks_not_signed_by_linq_now_are_refused_and_change_nothing() {
    let linq = team();
    let (watch, before, calls) = quiet_watch(&linq);
    let body = envelope("participant.added", json!(ONBOARDING));
    let ts = now();
    let body_only = {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(&body);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let with_signature = |signature: String| {
        vec![
            ("X-Webhook-Timestamp", ts.to_string()),
            ("X-Webhook-Signature", signature),
        ]
    };
    let cases: Vec<(&str, Headers)> = vec![
        ("a wrong signature", with_signature("ab".repeat(32))),
        ("another secret's", signed("another-secret", ts, &body)),
        ("no signature", vec![("X-Webhook-Timestamp", ts.to_string())]),
        ("one over the body alone", with_signature(body_only)),
        ("10 minutes old", signed(SECRET, ts - 600, &body)),
        ("10 minutes ahead", signed(SECRET, ts + 600, &body)),
    ];
    for (what, headers) in cases {
        let (got, answer) = watch.post(&headers, &body);
        assert_eq!(got, 401, "{what}: {answer}");
    }
    let (_, metrics) = watch.get("/metrics");
    let count = |outcome: &str| {
        metric(
            &metrics,
            &format!("roster_watch_events_total{{type=\"unverified\",outcome=\"{outcome}\""),
        )
    };
    assert_eq!((count("bad_signature"), count("bad_timestamp")), (4, 2), "{metrics}");
    changed_nothing(&linq, watch, before, calls);
}

#[test]
fn signed_webhooks_malformed_too_large_slow_or_not_for_roster_change_nothing() {
    let linq = team();
    let (watch, before, calls) = quiet_watch(&linq);
    let ts = now();
    for (what, body, status) in [
        ("not JSON", b"{not json".to_vec(), 400),
        (
            "a chat id that is not one",
            envelope("participant.added", json!("../phone_numbers")),
            400,
        ),
        (
            "a chat id that is a number",
            envelope("participant.added", json!(42)),
            400,
        ),
        (
            "an event type roster does not act on",
            envelope("message.received", json!(ONBOARDING)),
            200,
        ),
        (
            "a chat roster does not manage",
            envelope("participant.added", json!("0b9d4c9e-0000-4000-8000-000000000000")),
            200,
        ),
    ] {
        let (got, answer) = watch.post(&signed(SECRET, ts, &body), &body);
        assert_eq!(got, status, "{what}: {answer}");
    }
    // Over 1 MiB, said up front and sent.
    let huge = vec![b' '; linq_sandbox_max() + 1];
    assert_eq!(watch.post(&signed(SECRET, ts, &huge), &huge).0, 413, "over 1 MiB");
    // Sent byte by byte, then no more: the read timeout answers.
    let body = envelope("participant.added", json!(ONBOARDING));
    let mut stream = TcpStream::connect(&watch.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let head = format!(
        "POST /webhooks/linq HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\nX-Webhook-Timestamp: {ts}\r\nX-Webhook-Signature: {}\r\n\r\n",
        body.len(),
        sign_webhook(SECRET, &ts.to_string(), &body)
    );
    stream.write_all(head.as_bytes()).unwrap();
    for byte in &body[..10] {
        stream.write_all(&[*byte]).unwrap();
        stream.flush().unwrap();
    }
    assert_eq!(answer(&mut stream).0, 408, "a body that never ends");
    let (_, metrics) = watch.get("/metrics");
    for (labels, n) in [
        ("type=\"unverified\",outcome=\"not_json\"", 1),
        ("type=\"unverified\",outcome=\"not_a_chat_id\"", 2),
        ("type=\"unverified\",outcome=\"too_large\"", 1),
        ("type=\"unverified\",outcome=\"read_timeout\"", 1),
        ("type=\"other\",outcome=\"ignored_type\"", 1),
        ("type=\"participant.added\",outcome=\"unmanaged\"", 1),
    ] {
        assert_eq!(
            metric(&metrics, &format!("roster_watch_events_total{{{labels}")),
            n,
            "{labels}\n{metrics}"
        );
    }
    changed_nothing(&linq, watch, before, calls);
}

fn linq_sandbox_max() -> usize {
    roster::watch::MAX_BODY
}

#[test]
fn each_event_is_handled_once_and_health_and_metrics_say_how_it_goes() {
    let linq = team();
    let mut watch = Watching::start(&linq, &[]);
    watch.wait_for("the first full refresh", |f| f["finding"] == "refreshed");
    let body = envelope("participant.added", json!(ONBOARDING));
    let headers = signed(SECRET, now(), &body);
    assert_eq!(watch.post(&headers, &body), (200, "accepted\n".to_owned()));
    assert_eq!(watch.post(&headers, &body), (200, "duplicate\n".to_owned()));
    let (status, health) = watch.get("/healthz");
    assert_eq!(status, 200, "{health}");
    let (status, metrics) = watch.get("/metrics");
    assert_eq!(status, 200);
    assert_eq!(
        metric(
            &metrics,
            "roster_watch_events_total{type=\"participant.added\",outcome=\"accepted\""
        ),
        1,
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "roster_watch_events_total{type=\"participant.added\",outcome=\"duplicate\""
        ),
        1,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "roster_watch_full_refreshes_total"), 1, "{metrics}");
    assert!(
        metrics.contains("roster_watch_last_full_refresh_age_seconds "),
        "{metrics}"
    );
    assert!(metric(&metrics, "roster_watch_api_calls_total") >= 4, "{metrics}");
}

#[test]
fn findings_are_posted_to_notify_without_the_token() {
    use std::net::TcpListener;
    let linq = team();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (sender, posted) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap();
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                .unwrap();
            let _ = sender.send((head, String::from_utf8(body).unwrap()));
        }
    });
    let mut watch = Watching::start(&linq, &["--notify", &url]);
    watch.wait_for("the first full refresh", |f| f["finding"] == "refreshed");
    linq.sandbox.add_outside(ONBOARDING, "+12055550177");
    watch.wait_for("the drift", |f| f["finding"] == "drift");
    let token = linq.sandbox.token();
    loop {
        let (head, body) = posted.recv_timeout(PATIENCE).expect("the drift posted");
        assert!(!head.to_ascii_lowercase().contains("authorization"), "{head}");
        assert!(!head.contains(&token) && !body.contains(&token), "{head}{body}");
        let finding: Value = serde_json::from_str(&body).unwrap();
        if finding["finding"] == "drift" {
            assert_eq!(finding["joined"], json!(["+12055550177"]));
            break;
        }
    }
}

#[test]
fn heal_sets_a_drifted_chat_back_and_gives_up_on_one_that_drifts_back() {
    let linq = team();
    let mut watch = Watching::start(&linq, &["--heal", "--heal-backoff", "0.05", "--give-up-after", "2"]);
    watch.wait_for("the first full refresh", |f| f["finding"] == "refreshed");
    // The first drift is healed; each drift after a heal is a drift back: the first is healed
    // after the back-off, the second gives the chat up.
    for round in 1..=3 {
        linq.sandbox.add_outside(ONBOARDING, "+12055550177");
        watch.wait_for("the drift", |f| f["finding"] == "drift" && f["chat"] == ONBOARDING);
        if round == 3 {
            break;
        }
        let healed = watch.wait_for("the heal", |f| f["finding"] == "healed" && f["chat"] == ONBOARDING);
        assert_eq!(
            (healed["calls"].as_u64(), healed["ok"].as_bool()),
            (Some(1), Some(true)),
            "{healed}"
        );
        crate::common::wait_until("the removal to land", || {
            !linq.sandbox.members(ONBOARDING).unwrap().contains("+12055550177")
        });
    }
    let gave_up = watch.wait_for("giving up", |f| f["finding"] == "gave_up");
    assert_eq!(
        (gave_up["chat"].as_str(), gave_up["times"].as_u64()),
        (Some(ONBOARDING), Some(2))
    );
    // Given up: the outside member stays.
    assert!(linq.sandbox.members(ONBOARDING).unwrap().contains("+12055550177"));
    let removes = (linq.sandbox.calls().iter())
        .filter(|c| c.method == "DELETE" && c.status == 202 && c.chat.as_deref() == Some(ONBOARDING))
        .count();
    assert_eq!(removes, 2, "healed after giving up");
    assert!(!watch
        .seen
        .iter()
        .any(|f| f["finding"] == "healed" && f["chat"] == ONBOARDING && f["ok"] == false));
}

#[test]
fn a_changed_config_is_loaded_again_and_a_broken_one_kept_out() {
    let linq = team();
    let mut watch = Watching::start(&linq, &["--config-poll", "0.05"]);
    watch.wait_for("the first full refresh", |f| f["finding"] == "refreshed");
    let path = linq.ws.path().join("config/support.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{good}\n# touched\n")).unwrap();
    let reloaded = watch.wait_for("the reload", |f| f["finding"] == "config_reloaded");
    assert!(reloaded["chats"].as_u64().unwrap() > 0);
    std::fs::write(&path, "version: 1\nchats: [\n").unwrap();
    let invalid = watch.wait_for("the broken config", |f| f["finding"] == "config_invalid");
    assert!(
        invalid["errors"][0].as_str().unwrap().contains("support.yaml"),
        "{invalid}"
    );
}

#[test]
fn watch_needs_the_signing_secret() {
    let linq = team();
    let run = linq.roster(&["watch", "--listen", "127.0.0.1:0", "-c", "config"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(run.stderr().contains("LINQ_WEBHOOK_SECRET"), "{}", run.stderr());
}

#[test]
fn with_a_postgresql_state_one_watch_leads_and_the_other_takes_over_when_it_is_killed() {
    let Some(db) = crate::postgres::Database::new("watch_leader") else {
        return;
    };
    let url = format!("{}&lease=2", db.url("team"));
    let linq = team();
    let pushed = crate::postgres::roster_pg(&linq.ws, None, &url, &["state", "push", "roster.state.json"]);
    assert_eq!(pushed.code(), 0, "{}", pushed.combined());
    std::fs::remove_file(linq.ws.path().join("roster.state.json")).unwrap();
    let mut first = Watching::start(&linq, &["--state", &url]);
    first.wait_for("the leader's first refresh", |f| f["finding"] == "refreshed");
    let mut second = Watching::start(&linq, &["--state", &url]);
    second.wait_for("the other to stand by", |f| f["finding"] == "standby");
    assert_eq!(second.get("/healthz").0, 503, "a standby is not ready");
    let body = envelope("participant.added", json!(ONBOARDING));
    assert_eq!(
        second.post(&signed(SECRET, now(), &body), &body).0,
        503,
        "a standby takes no webhook"
    );
    // The state's own lock stays free for apply while the watches run.
    let plan = crate::postgres::roster_pg(&linq.ws, Some(&linq.sandbox), &url, &["refresh", "-c", "config"]);
    assert_eq!(plan.code(), 0, "{}", plan.combined());
    first.kill_9();
    second.wait_for("the takeover", |f| f["finding"] == "leading");
    second.wait_for("the new leader's refresh", |f| f["finding"] == "refreshed");
    assert_eq!(second.get("/healthz").0, 200);
    linq.sandbox.add_outside(ONBOARDING, "+12055550177");
    second.wait_for("the drift, seen by the new leader", |f| f["finding"] == "drift");
    second.wait_for("the write", |f| f["finding"] == "recorded");
}

#[test]
fn a_rename_and_an_icon_changed_outside_roster_are_recorded_the_icon_from_its_webhook_alone() {
    let linq = team();
    let mut watch = Watching::start(&linq, &[]);
    watch.wait_for("the first full refresh", |f| f["finding"] == "refreshed");
    linq.sandbox.rename_outside(ONBOARDING, Some("Onboarding (old)"));
    let renamed = watch.wait_for("the rename", |f| f["finding"] == "renamed");
    assert_eq!(
        (renamed["chat"].as_str(), renamed["new"].as_str()),
        (Some(ONBOARDING), Some("Onboarding (old)"))
    );
    watch.wait_for("the write", |f| f["finding"] == "recorded");
    assert_eq!(linq.state()["chats"][ONBOARDING]["display_name"], "Onboarding (old)");
    linq.sandbox
        .set_icon_outside(ONBOARDING, Some("https://example.com/new.png"));
    let icon = watch.wait_for("the icon", |f| f["finding"] == "icon_changed");
    assert_eq!(icon["new"], "https://example.com/new.png");
    watch.wait_for("the write", |f| f["finding"] == "recorded");
    assert_eq!(linq.state()["chats"][ONBOARDING]["icon"], "https://example.com/new.png");
    assert!(
        !watch.seen.iter().any(|f| f["finding"] == "drift"),
        "a rename reported as member drift: {:#?}",
        watch.seen
    );
}

#[test]
fn a_change_whose_webhook_is_lost_is_found_by_the_interval_and_duplicates_are_read_once() {
    let linq = team();
    let mut options = linq.sandbox.options();
    options.webhooks.drop_rate = 1.0;
    linq.sandbox.set_options(options);
    let mut watch = Watching::start(&linq, &["--interval", "0.2"]);
    watch.wait_for("the first full refresh", |f| f["finding"] == "refreshed");
    linq.sandbox.add_outside(ONBOARDING, "+12055550177");
    let drift = watch.wait_for("the drift", |f| f["finding"] == "drift");
    assert_eq!(drift["joined"], json!(["+12055550177"]));
    watch.wait_for("the interval's write", |f| {
        f["finding"] == "refreshed" && f["written"] == true
    });
    assert!(members(&linq, ONBOARDING).contains(&"+12055550177".to_owned()));
    assert!(
        linq.sandbox.deliveries().is_empty(),
        "a webhook went out: the interval did not find it"
    );

    // Every webhook delivered twice with one event id: the second is answered, not queued.
    let mut options = linq.sandbox.options();
    options.webhooks.drop_rate = 0.0;
    options.webhooks.duplicate_rate = 1.0;
    linq.sandbox.set_options(options);
    linq.sandbox.remove_outside(ONBOARDING, "+12055550177");
    assert!(linq.sandbox.wait_for_webhooks(PATIENCE));
    let (_, metrics) = watch.get("/metrics");
    let count = |outcome: &str| {
        metric(
            &metrics,
            &format!("roster_watch_events_total{{type=\"participant.removed\",outcome=\"{outcome}\""),
        )
    };
    assert_eq!((count("accepted"), count("duplicate")), (1, 1), "{metrics}");
}

#[test]
fn a_leader_whose_lease_is_lost_steps_down_and_stands_by() {
    let Some(db) = crate::postgres::Database::new("watch_lost") else {
        return;
    };
    let url = format!("{}&lease=2", db.url("team"));
    let linq = team();
    let pushed = crate::postgres::roster_pg(&linq.ws, None, &url, &["state", "push", "roster.state.json"]);
    assert_eq!(pushed.code(), 0, "{}", pushed.combined());
    let mut watch = Watching::start(&linq, &["--state", &url, "--config-poll", "0.1"]);
    watch.wait_for("the leader's first refresh", |f| f["finding"] == "refreshed");
    let id = db
        .value("SELECT id FROM roster.locks WHERE name = 'team.watch'")
        .expect("the election's lock row");
    let election = format!("{}&lease=2", db.url("team.watch"));
    let unlocked = crate::postgres::roster_pg(&linq.ws, None, &election, &["force-unlock", &id]);
    assert_eq!(unlocked.code(), 0, "{}", unlocked.combined());
    watch.wait_for("stepping down", |f| f["finding"] == "standby");
    watch.wait_for("leading again", |f| f["finding"] == "leading");
    watch.wait_for("the new lead's refresh", |f| f["finding"] == "refreshed");
}
