//! The HTTP side of `roster watch`: `POST /webhooks/linq`, `GET /healthz` and `GET
//! /metrics`. A webhook is answered as soon as it is checked and queued; the worker reads its
//! chat afterwards, so Linq never waits on a read of Linq.
//!
//! What each webhook is answered, checked in this order (nothing is queued unless it ends in
//! `200 accepted`):
//!
//! 1. `413` for a body over [`MAX_BODY`] (by `Content-Length`, or as it is read).
//! 2. `408` for a body not read whole within the read timeout (a sender trickling bytes).
//! 3. `401` for a missing or wrong signature, or a timestamp more than 5 minutes away
//!    ([`verify`](super::verify)).
//! 4. `400` for a signed body that is not an envelope roster can read ([`Malformed`]).
//! 5. `503` while this process stands by for a leader, so Linq retries (perhaps elsewhere).
//! 6. `200` ignored: an event type roster does not act on, or a chat it does not manage.
//! 7. `200` duplicate: an `event_id` taken before ([`Seen`]).
//! 8. `503` when the queue is full, so Linq retries later; else `200 accepted`.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::event::{self, Envelope, Kind, Malformed};
use super::metrics::Metrics;
use super::seen::Seen;
use super::verify::{verify, Secret};

/// The largest webhook body taken: 1 MiB, as the spec says; Linq's are a few hundred bytes.
pub const MAX_BODY: usize = 1 << 20;

/// What the routes share with each other and with the worker.
pub struct Receiver {
    pub secret: Secret,
    pub seen: Mutex<Seen>,
    pub queue: mpsc::Sender<Envelope>,
    /// The chats the state manages, as the worker last read it.
    pub managed: Arc<RwLock<BTreeSet<String>>>,
    pub metrics: Arc<Metrics>,
    /// How long a body may take to arrive whole.
    pub read_timeout: Duration,
    /// The interval of full refreshes: health allows three.
    pub interval: Duration,
}

/// The routes, over `receiver`.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/webhooks/linq", post(webhook))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(receiver)
}

fn answer(status: StatusCode, text: &str) -> Response {
    (status, format!("{text}\n")).into_response()
}

async fn webhook(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Body) -> Response {
    let body = match read_body(&headers, body, rx.read_timeout).await {
        Ok(body) => body,
        Err((status, outcome)) => {
            rx.metrics.event(None, outcome);
            return answer(status, outcome);
        }
    };
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let checked = verify(
        &rx.secret,
        header("x-webhook-timestamp"),
        header("x-webhook-signature"),
        &body,
        now,
    );
    if let Err(rejected) = checked {
        rx.metrics.event(None, rejected.outcome());
        return answer(StatusCode::UNAUTHORIZED, &rejected.to_string());
    }
    match event::parse(&body) {
        Ok(envelope) => take(&rx, envelope),
        Err(malformed) => {
            rx.metrics.event(None, malformed_outcome(&malformed));
            answer(StatusCode::BAD_REQUEST, &malformed.to_string())
        }
    }
}

fn malformed_outcome(malformed: &Malformed) -> &'static str {
    match malformed {
        Malformed::NotJson(_) => "not_json",
        Malformed::Missing(_) => "malformed",
        Malformed::NotAChatId => "not_a_chat_id",
    }
}

/// Rules 5 to 8 of the module doc, for a verified envelope.
fn take(rx: &Receiver, envelope: Envelope) -> Response {
    let kind = Some(envelope.event_type.as_str());
    if !rx.metrics.leading.load(Relaxed) {
        rx.metrics.event(kind, "standby");
        return answer(StatusCode::SERVICE_UNAVAILABLE, "standing by for the leader");
    }
    let managed = match &envelope.chat_id {
        Some(chat) if envelope.kind != Kind::Other => {
            rx.managed.read().unwrap_or_else(|e| e.into_inner()).contains(chat)
        }
        _ => false,
    };
    if envelope.kind == Kind::Other || !managed {
        let outcome = if envelope.kind == Kind::Other {
            "ignored_type"
        } else {
            "unmanaged"
        };
        rx.metrics.event(kind, outcome);
        return answer(StatusCode::OK, "ignored");
    }
    // Held across the check and the queueing, so that two deliveries of one event at once
    // queue it once.
    let mut seen = rx.seen.lock().unwrap_or_else(|e| e.into_inner());
    if seen.contains(&envelope.event_id) {
        rx.metrics.event(kind, "duplicate");
        return answer(StatusCode::OK, "duplicate");
    }
    let id = envelope.event_id.clone();
    let label = envelope.event_type.clone();
    match rx.queue.try_send(envelope) {
        Ok(()) => {
            seen.insert(&id);
            rx.metrics.event(Some(&label), "accepted");
            answer(StatusCode::OK, "accepted")
        }
        Err(_) => {
            rx.metrics.event(Some(&label), "queue_full");
            answer(StatusCode::SERVICE_UNAVAILABLE, "busy: retry later")
        }
    }
}

/// The body, read whole within `timeout` and at most [`MAX_BODY`] bytes; else the status and
/// the outcome to count.
async fn read_body(headers: &HeaderMap, body: Body, timeout: Duration) -> Result<Vec<u8>, (StatusCode, &'static str)> {
    let too_large = (StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    let declared = (headers.get(header::CONTENT_LENGTH))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY as u64) {
        return Err(too_large);
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| (StatusCode::BAD_REQUEST, "unreadable"))?;
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(too_large);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err((StatusCode::REQUEST_TIMEOUT, "read_timeout")))
}

async fn healthz(State(rx): State<Arc<Receiver>>) -> Response {
    let now = Instant::now();
    let age = rx.metrics.refresh_age(now).as_secs();
    if !rx.metrics.leading.load(Relaxed) {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "standing by for the leader");
    }
    let last = if rx.metrics.full_refreshes.load(Relaxed) == 0 {
        format!("no full refresh yet, started {age}s ago")
    } else {
        format!("last full refresh {age}s ago")
    };
    if rx.metrics.healthy(now, rx.interval) {
        answer(StatusCode::OK, &format!("ok: {last}"))
    } else {
        answer(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("stale: {last}, more than 3 intervals"),
        )
    }
}

async fn metrics(State(rx): State<Arc<Receiver>>) -> Response {
    let text = rx.metrics.render(Instant::now());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
