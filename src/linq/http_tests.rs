//! The client against a real local HTTP server whose answers each test scripts.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::*;
use crate::handle::Handle;
use crate::linq::client::MAX_ANSWER_BYTES;
use crate::stop::{Halt, Signal};

const TOKEN: &str = "sk-test-7f3a9c";

/// Throughput tests measure time: they run one at a time so they do not slow each other down.
pub(crate) static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: Method,
    pub path_and_query: String,
    pub authorization: String,
    pub user_agent: String,
    pub body: String,
    /// When the server received it: its own record, not the client's clock.
    pub arrived: Instant,
}

/// What the server answers next.
pub(crate) enum Reply {
    Json(u16, Value),
    /// `429` with this `Retry-After`, in seconds.
    RateLimited(f64),
    /// Answer after a pause (longer than the client's timeout: the client gives up).
    Slow(Duration, u16, Value),
    /// A redirect with this `Location` header (raw bytes).
    Redirect(u16, &'static [u8]),
    /// A JSON body given as bytes (built once, for large ones).
    Raw(u16, axum::body::Bytes),
}

type Script = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

pub(crate) struct Server {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub async fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let script = script.clone();
            let log = log.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let request = Seen {
                    arrived: Instant::now(),
                    method,
                    path_and_query: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                    authorization: header("authorization"),
                    user_agent: header("user-agent"),
                    body,
                };
                let reply = script(&request);
                log.lock().unwrap().push(request);
                answer(reply).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            base_url: format!("http://127.0.0.1:{port}/api/partner"),
            seen,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// A client that gives a request ten seconds: only a hang runs into it, however busy the
    /// machine.
    pub fn client(&self) -> Client {
        self.client_with_timeout(Duration::from_secs(10))
    }

    pub fn client_with_timeout(&self, request_timeout: Duration) -> Client {
        let mut config = ClientConfig::new(&self.base_url, Token::new(TOKEN));
        config.retry = RetryPolicy {
            max_attempts: 4,
            max_rate_limited: 10,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
        };
        config.request_timeout = request_timeout;
        config.jitter_seed = Some(1);
        Client::new(config).unwrap()
    }
}

async fn answer(reply: Reply) -> Response {
    match reply {
        Reply::Json(status, body) => (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response(),
        Reply::RateLimited(seconds) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", seconds.to_string())],
            axum::Json(envelope(429, 1007, "Too many requests")),
        )
            .into_response(),
        Reply::Raw(status, body) => (
            StatusCode::from_u16(status).unwrap(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Reply::Redirect(status, location) => (
            StatusCode::from_u16(status).unwrap(),
            [(
                axum::http::header::LOCATION,
                axum::http::HeaderValue::from_bytes(location).unwrap(),
            )],
        )
            .into_response(),
        Reply::Slow(pause, status, body) => {
            tokio::time::sleep(pause).await;
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
        }
    }
}

pub(crate) fn envelope(status: u16, code: i64, message: &str) -> Value {
    json!({"success": false, "error": {"status": status, "code": code, "message": message}, "trace_id": format!("trace-{code}")})
}

pub(crate) fn chat(id: &str, members: &[&str]) -> Value {
    let mut handles = vec![json!({"id": "me", "handle": "+15550000000", "service": "iMessage",
                                 "status": "active", "is_me": true, "joined_at": "2025-01-01T00:00:00Z"})];
    for (i, m) in members.iter().enumerate() {
        handles.push(
            json!({"id": format!("h{i}"), "handle": m, "service": "iMessage", "status": null,
                            "is_me": false, "joined_at": "2025-01-01T00:00:00Z", "left_at": null}),
        );
    }
    json!({"id": id, "display_name": null, "service": "iMessage", "handles": handles, "is_group": true,
           "is_archived": false, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"})
}

pub(crate) fn accepted(message: &str) -> Value {
    json!({"message": message, "status": "accepted", "trace_id": "trace-ok"})
}

pub(crate) fn handle(text: &str) -> Handle {
    Handle::parse(text).unwrap()
}

/// Answers from a fixed sequence, then repeats the last one.
fn sequence(replies: Vec<fn() -> Reply>) -> impl Fn(&Seen) -> Reply + Send + Sync {
    let queue = Mutex::new(VecDeque::from(replies));
    move |_| {
        let mut queue = queue.lock().unwrap();
        let next = if queue.len() > 1 {
            queue.pop_front().unwrap()
        } else {
            queue[0]
        };
        next()
    }
}

#[tokio::test]
async fn get_chat_sends_token_and_user_agent_and_reads_members() {
    let server = Server::start(|_| Reply::Json(200, chat("c1", &["+15550000001", "Ann@Example.com"]))).await;
    let chat = server.client().get_chat("c1").await.unwrap();
    assert_eq!(
        chat.members(),
        [handle("+15550000001"), handle("ann@example.com")].into()
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path_and_query, "/api/partner/v3/chats/c1");
    assert_eq!(seen[0].authorization, format!("Bearer {TOKEN}"));
    assert_eq!(seen[0].user_agent, format!("roster/{}", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn a_chat_id_that_is_not_one_path_segment_is_never_sent() {
    let server = Server::start(|_| Reply::Json(200, chat("c1", &["+15550000001"]))).await;
    let client = server.client();
    for id in ["..", ".", "", "c\t1", "c1\n", "c\u{1b}1"] {
        let err = client.get_chat(id).await.unwrap_err();
        assert!(matches!(err, LinqError::ChatId(_)), "{id:?}: {err:?}");
        let err = client.add_participant(id, &handle("+15550000009")).await.unwrap_err();
        assert!(!err.may_have_taken_effect(), "{id:?}: {err:?}");
    }
    assert!(server.seen().is_empty(), "{:?}", server.seen());
}

#[tokio::test]
async fn a_redirect_is_an_error_naming_its_target_safely_and_is_never_followed() {
    let server = Server::start(|seen: &Seen| match seen.path_and_query.as_str() {
        "/api/partner/v3/chats/c1" => Reply::Redirect(302, b"../moved/c1?from=1"),
        "/api/partner/v3/chats/c2" => Reply::Redirect(301, b"http://user:hunter2@other.example/c2"),
        "/api/partner/v3/chats/c3/participants" => Reply::Redirect(307, b"/\xff\tx"),
        _ => Reply::Json(200, chat("c9", &["+15550000001"])),
    })
    .await;
    let client = server.client();
    let err = client.get_chat("c1").await.unwrap_err();
    let LinqError::Redirect { status, location } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 302);
    let expected = format!("{}/v3/moved/c1?from=1", server.base_url);
    assert_eq!(
        location.as_deref(),
        Some(expected.as_str()),
        "resolved against the request"
    );
    assert!(!err.may_have_taken_effect() && !err.is_transient());
    let err = client.get_chat("c2").await.unwrap_err().to_string();
    assert!(err.contains("`http://other.example/c2`"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = client.add_participant("c3", &handle("+15550000009")).await.unwrap_err();
    assert!(err.to_string().contains("a redirect to `http://127.0.0.1:"), "{err}");
    assert!(!err.to_string().contains('\t'), "{err}");
    let paths: Vec<_> = server.seen().iter().map(|s| s.path_and_query.clone()).collect();
    assert_eq!(
        paths,
        [
            "/api/partner/v3/chats/c1",
            "/api/partner/v3/chats/c2",
            "/api/partner/v3/chats/c3/participants"
        ],
        "one request each, nothing followed"
    );
}

#[tokio::test]
async fn a_chat_answer_that_breaks_the_contract_is_a_protocol_error_naming_the_chat() {
    let huge = axum::body::Bytes::from(
        serde_json::to_vec(&json!({"id": "c4", "padding": "x".repeat(MAX_ANSWER_BYTES)})).unwrap(),
    );
    let server = Server::start(move |seen: &Seen| match seen.path_and_query.as_str() {
        "/api/partner/v3/chats/c1" => Reply::Json(200, chat("c2", &["+15550000001"])),
        "/api/partner/v3/chats/c3" => {
            let mut answer = chat("c3", &["+15550000001"]);
            answer.as_object_mut().unwrap().remove("handles");
            Reply::Json(200, answer)
        }
        // Past the cap, its size announced in `Content-Length`.
        _ => Reply::Raw(200, huge.clone()),
    })
    .await;
    let client = server.client();
    let err = client.get_chat("c1").await.unwrap_err();
    assert!(matches!(err, LinqError::Protocol { status: 200, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "unexpected answer from Linq (200): chat `c1`: Linq answered with another chat, `c2`"
    );
    let err = client.get_chat("c3").await.unwrap_err().to_string();
    assert!(
        err.contains("chat `c3`: the answer breaks Linq's schema: missing field `handles`"),
        "{err}"
    );
    let err = client.get_chat("c4").await.unwrap_err().to_string();
    assert!(err.contains("the answer is larger than 8 MiB"), "{err}");
    assert_eq!(server.seen().len(), 3, "protocol errors are not retried");
}

#[tokio::test]
async fn error_envelope_is_typed_and_400_is_not_retried() {
    let server = Server::start(|_| Reply::Json(400, envelope(400, 1002, "Invalid phone number format"))).await;
    let err = server
        .client()
        .add_participant("c1", &handle("+15550000009"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.code(), Some(1002));
    assert_eq!(err.message(), "Invalid phone number format");
    assert_eq!(err.trace_id(), Some("trace-1002"));
    assert!(!err.may_have_taken_effect());
    assert_eq!(server.seen().len(), 1, "a 400 must not be retried");
}

#[tokio::test]
async fn server_errors_are_retried_until_an_answer() {
    let server = Server::start(sequence(vec![
        || Reply::Json(503, envelope(503, 3001, "Service unavailable")),
        || Reply::Json(500, json!("oops")),
        || Reply::Json(200, chat("c1", &["+15550000001"])),
    ]))
    .await;
    let chat = server.client().get_chat("c1").await.unwrap();
    assert_eq!(chat.members().len(), 1);
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn retries_give_up_after_max_attempts() {
    let server = Server::start(|_| Reply::Json(409, envelope(409, 2009, "The chat is still being created"))).await;
    let err = server.client().get_chat("c1").await.unwrap_err();
    assert_eq!(err.code(), Some(2009));
    assert_eq!(server.seen().len(), 4);
}

#[tokio::test]
async fn a_429_waits_its_retry_after_before_the_retry_and_first_asks_for_fewer_in_flight() {
    let server = Server::start(sequence(vec![|| Reply::RateLimited(1.0), || {
        Reply::Json(200, chat("c1", &[]))
    }]))
    .await;
    let client = server.client();
    client.get_chat("c1").await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].arrived - seen[0].arrived;
    assert!(waited >= Duration::from_millis(990), "retried after {waited:?}");
    assert_eq!(client.pacer().rate(), None, "one 429 does not slow every request down");
    let limiter = client.limiter().snapshot();
    assert_eq!(limiter.limit, INITIAL_LIMIT / 2, "but fewer are sent at once");
    assert_eq!(limiter.cause, Cause::Rejected);
}

#[tokio::test]
async fn a_429_that_fewer_in_flight_did_not_cure_slows_the_pace() {
    let server = Server::start(sequence(vec![
        || Reply::RateLimited(0.2),
        || Reply::RateLimited(0.2),
        || Reply::Json(200, chat("c1", &[])),
    ]))
    .await;
    let client = server.client();
    client.get_chat("c1").await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let waited = seen[2].arrived - seen[0].arrived;
    assert!(waited >= Duration::from_millis(390), "{waited:?}");
    // The retry went out alone, after the limit was cut, and was refused all the same: a rate
    // limit, which the pacer now paces.
    assert!(
        client.pacer().rate().is_some(),
        "the second 429 makes the pace adaptive"
    );
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_never_shows_the_token() {
    let server = Server::start(|_| Reply::Json(401, envelope(401, 2004, "Unauthorized"))).await;
    let err = server
        .client()
        .remove_participant("c1", &handle("+15550000001"))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(server.seen().len(), 1);
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

/// A `401` halts the client's stop with Linq's answer: every later request gets the same
/// refusal without going out.
#[tokio::test]
async fn a_401_halts_the_stop_and_every_later_request_gets_it_unsent() {
    let server = Server::start(|_| Reply::Json(401, envelope(401, 2004, "Unauthorized"))).await;
    let client = server.client();
    let first = client.get_chat("c1").await.unwrap_err();
    let Some(Halt::Unauthorized(answer)) = client.stop().halted() else {
        panic!("{:?}", client.stop().halted())
    };
    assert_eq!(answer, first.to_string());
    let later = client.add_participant("c2", &handle("+15550000009")).await.unwrap_err();
    assert!(later.is_unauthorized(), "{later:?}");
    assert_eq!(later.to_string(), first.to_string());
    assert_eq!(server.seen().len(), 1, "nothing after the 401");
}

/// After a signal a read still goes out, but a failed one is not tried again (cut short by
/// the stop) and no add or remove goes out; after a halt nothing goes out, not even a read.
#[tokio::test]
async fn after_a_signal_only_reads_go_out_untried_again_and_after_a_halt_nothing_does() {
    let server = Server::start(|seen: &Seen| match seen.path_and_query.as_str() {
        "/api/partner/v3/chats/c1" => Reply::Json(200, chat("c1", &["+15550000001"])),
        "/api/partner/v3/chats/c2" => Reply::Json(503, envelope(503, 3001, "Service unavailable")),
        _ => Reply::Json(202, accepted("Participant addition queued")),
    })
    .await;
    let client = server.client();
    client.stop().signal(Signal::Interrupt);
    assert_eq!(client.get_chat("c1").await.unwrap().id, "c1");
    let cut = client.get_chat("c2").await.unwrap_err();
    assert!(cut.is_cut_short(), "{cut:?}");
    assert_eq!(cut.status(), Some(503));
    assert_eq!(cut.message(), "Service unavailable");
    let add = client.add_participant("c1", &handle("+15550000009")).await.unwrap_err();
    assert!(matches!(add, LinqError::NotSent(NotSent::Stopped)), "{add:?}");
    let paths: Vec<_> = server.seen().iter().map(|s| s.path_and_query.clone()).collect();
    assert_eq!(paths, ["/api/partner/v3/chats/c1", "/api/partner/v3/chats/c2"]);

    client.stop().halt(Halt::Unrecorded("the disk is full".to_owned()));
    let read = client.get_chat("c1").await.unwrap_err();
    assert!(matches!(read, LinqError::NotSent(NotSent::Halted)), "{read:?}");
    assert_eq!(server.seen().len(), 2, "nothing after the halt");
}

#[tokio::test]
async fn transport_errors_never_show_the_token() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}/api/partner"), Token::new(TOKEN));
    config.retry.max_attempts = 2;
    config.retry.base_delay = Duration::from_millis(1);
    let err = Client::new(config).unwrap().get_chat("c1").await.unwrap_err();
    let LinqError::Transport(transport) = &err else {
        panic!("{err:?}")
    };
    assert!(!transport.maybe_sent, "a refused connection sent nothing");
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[tokio::test]
async fn list_all_chats_follows_the_cursor() {
    let server = Server::start(|seen: &Seen| {
        let page = if seen.path_and_query.contains("cursor=p2") {
            json!({"chats": [chat("c3", &[])], "next_cursor": null})
        } else {
            json!({"chats": [chat("c1", &[]), chat("c2", &[])], "next_cursor": "p2"})
        };
        Reply::Json(200, page)
    })
    .await;
    let chats = server.client().list_all_chats(Some("+15550000000")).await.unwrap();
    let ids: Vec<_> = chats.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2", "c3"]);
    let queries: Vec<_> = server.seen().iter().map(|s| s.path_and_query.clone()).collect();
    assert_eq!(
        queries,
        [
            "/api/partner/v3/chats?from=%2B15550000000&limit=100",
            "/api/partner/v3/chats?from=%2B15550000000&limit=100&cursor=p2"
        ]
    );
}

/// Against a server that answers 429 above `limit` requests in any one-second window, the
/// adaptive pace gets at least 90% of the allowed throughput with at most 5% refused. Wall-clock
/// throughput is at the mercy of a loaded machine, so it runs on demand:
/// `cargo test -- --ignored pace`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures wall-clock throughput; run alone with --ignored"]
async fn the_pace_adapts_to_a_rate_limit() {
    let _alone = TIMING.lock().await;
    let limit = 60usize;
    let window = Arc::new(Mutex::new(VecDeque::<Instant>::new()));
    let server = Server::start(move |_| {
        let mut window = window.lock().unwrap();
        let now = Instant::now();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= limit {
            Reply::RateLimited(1.0)
        } else {
            window.push_back(now);
            Reply::Json(200, chat("c1", &[]))
        }
    })
    .await;
    let client = server.client();
    let total = 420;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = client.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < total {
                client.get_chat("c1").await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let seen = server.seen().len();
    let refused = seen - total;
    let achieved = total as f64 / elapsed;
    assert!(achieved >= 0.9 * limit as f64, "{achieved:.1} req/s of {limit}");
    assert!(refused as f64 <= 0.05 * seen as f64, "{refused} of {seen} refused");
}
