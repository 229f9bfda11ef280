//! The HTTP face: the Linq routes under `/api/partner`, the control routes under `/_sandbox`
//! (no auth, for a sandbox running as its own process), and the answers, dropped ones included.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::api::{participant_body, Endpoint, Reply, Shared};
use crate::create::{create_body, update_body, CreateFault};
use crate::tamper::Tamper;
use crate::world::{ApiError, Outside, Update};

/// Where the Linq routes live, as on the real host.
pub const BASE_PATH: &str = "/api/partner";

pub fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/v3/chats", get(list_chats).post(create_chat))
        .route("/v3/chats/{id}", get(get_chat).put(update_chat))
        .route("/v3/phone_numbers", get(list_lines))
        .route(
            "/v3/chats/{id}/participants",
            post(add_participant).delete(remove_participant),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method);
    let control = Router::new()
        .route("/calls", get(calls))
        .route("/violations", get(violations))
        .route("/chats", get(chats))
        .route("/chats/{id}", get(chat_details))
        .route("/chats/{id}/tamper", post(set_tamper).delete(clear_tamper))
        .route("/chats/{id}/outside-rename", post(outside_rename))
        .route("/chats/{id}/outside-icon", post(outside_icon))
        .route("/member-ranges", get(member_ranges))
        .route("/chats/{id}/{change}", post(outside_change))
        .route("/land", post(land))
        .route("/lines", post(add_line))
        .route("/messages", get(messages))
        .route("/create-faults", post(create_faults))
        .route("/creates/hold", post(hold_creates))
        .route("/creates/release", post(release_creates))
        .route("/creates/held", get(held_creates))
        .route("/webhook", post(set_webhook))
        .route("/webhooks/events", get(webhook_events))
        .route("/webhooks/deliveries", get(deliveries));
    Router::new()
        .nest(BASE_PATH, api)
        .nest("/_sandbox", control)
        .with_state(shared)
}

async fn list_chats(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let endpoint = match query {
        Ok(Query(query)) => Endpoint::ListChats(query),
        Err(e) => Endpoint::Refused {
            method: "GET".into(),
            path: "/v3/chats".into(),
            error: ApiError::invalid_request(format!("the query string does not parse: {e}")),
        },
    };
    serve(&shared, endpoint, &headers).await
}

async fn get_chat(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    serve(&shared, Endpoint::GetChat(id), &headers).await
}

async fn list_lines(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    serve(&shared, Endpoint::ListLines, &headers).await
}

async fn create_chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    serve(&shared, Endpoint::CreateChat(create_body(&body)), &headers).await
}

async fn update_chat(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&shared, Endpoint::UpdateChat(id, update_body(&body)), &headers).await
}

async fn add_participant(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&shared, Endpoint::AddParticipant(id, participant_body(&body)), &headers).await
}

async fn remove_participant(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(
        &shared,
        Endpoint::RemoveParticipant(id, participant_body(&body)),
        &headers,
    )
    .await
}

async fn unknown_route(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let endpoint = Endpoint::Refused {
        method: method.to_string(),
        path: uri.path().to_owned(),
        error: ApiError::route_not_found(),
    };
    serve(&shared, endpoint, &headers).await
}

async fn wrong_method(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let endpoint = Endpoint::Refused {
        method: method.to_string(),
        path: uri.path().to_owned(),
        error: ApiError::method_not_allowed(),
    };
    serve(&shared, endpoint, &headers).await
}

/// Counts the request in (or refuses it past the cap on requests in flight), waits for a
/// worker if there are few, waits the injected latency, answers under the lock, and lets a
/// create that made its chat wait while creates are held.
async fn serve(shared: &Shared, endpoint: Endpoint, headers: &HeaderMap) -> Response {
    let arrived = Instant::now();
    let admitted = {
        let mut core = shared.lock();
        core.arrive(&endpoint, arrived)
            .map(|in_flight| (in_flight, core.service(arrived)))
    };
    let (in_flight, (latency, workers)) = match admitted {
        Ok(admitted) => admitted,
        Err(refused) => return respond(refused, shared.lock().oversize_sent.clone()),
    };
    // Counted out however this ends, a client closing the connection included.
    let _leave = Leave(shared);
    // Held until answered; the semaphore is never closed.
    let _worker = match workers {
        Some(workers) => workers.acquire_owned().await.ok(),
        None => None,
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let (reply, sent) = {
        let mut core = shared.lock();
        (
            core.serve(endpoint, authorization, arrived, in_flight, Instant::now()),
            core.oversize_sent.clone(),
        )
    };
    if let Some(chat) = &reply.hold {
        shared.holds.pass(chat).await;
    }
    respond(reply, sent)
}

/// Counts a request out of those in flight when dropped: once it is answered, or when its
/// client gave up and the handler was cancelled.
struct Leave<'a>(&'a Shared);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.lock().leave();
    }
}

fn respond(reply: Reply, oversize_sent: Arc<AtomicU64>) -> Response {
    let status = StatusCode::from_u16(reply.status).expect("the sandbox answers valid statuses");
    let body = if reply.drop {
        Body::new(Severed)
    } else if let Some(total) = reply.pad_to {
        Body::new(Padded::new(reply.body, total, oversize_sent))
    } else {
        Body::from(reply.body)
    };
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(seconds) = reply.retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    if let Some(location) = reply.location {
        // A location that is not a valid header value is sent as its bytes would allow; the
        // tamper checks nothing about it on purpose.
        if let Ok(value) = header::HeaderValue::from_bytes(location.as_bytes()) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    response
}

/// Whitespace for [`Padded`], handed out a slice at a time.
static SPACES: [u8; 64 * 1024] = [b' '; 64 * 1024];

/// A JSON document padded with whitespace before its closing brace to a total size, produced
/// chunk by chunk as the connection takes it: an answer of any size costs no memory. Its size
/// is not announced (no `Content-Length`), so a client learns it only by reading.
struct Padded {
    head: Option<Bytes>,
    padding: u64,
    tail: Option<Bytes>,
    sent: Arc<AtomicU64>,
}

impl Padded {
    fn new(mut json: Vec<u8>, total: u64, sent: Arc<AtomicU64>) -> Padded {
        let tail = json.pop().map(|last| Bytes::from(vec![last]));
        let padding = total.saturating_sub(json.len() as u64 + 1);
        Padded {
            head: Some(Bytes::from(json)),
            padding,
            tail,
            sent,
        }
    }
}

impl http_body::Body for Padded {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        let chunk = if let Some(head) = self.head.take() {
            head
        } else if self.padding > 0 {
            let n = self.padding.min(SPACES.len() as u64);
            self.padding -= n;
            Bytes::from_static(&SPACES[..n as usize])
        } else if let Some(tail) = self.tail.take() {
            tail
        } else {
            return Poll::Ready(None);
        };
        self.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }
}

/// A body that fails before its first byte: hyper then closes the connection without having
/// sent the status line, so the client sees a transport error and no answer.
struct Severed;

impl http_body::Body for Severed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the sandbox dropped the connection",
        ))))
    }
}

async fn calls(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().calls.clone()).into_response()
}

async fn violations(State(shared): State<Arc<Shared>>) -> Response {
    let mut core = shared.lock();
    core.world.land_due(Instant::now());
    Json(core.world.violations().to_vec()).into_response()
}

async fn chats(State(shared): State<Arc<Shared>>) -> Response {
    let mut core = shared.lock();
    core.world.land_due(Instant::now());
    let world = &core.world;
    let members: std::collections::BTreeMap<_, _> = world
        .chats()
        .iter()
        .map(|c| (c.id.clone(), world.members(&c.id).unwrap_or_default()))
        .collect();
    Json(members).into_response()
}

async fn member_ranges(State(shared): State<Arc<Shared>>) -> Response {
    let mut core = shared.lock();
    core.world.land_due(Instant::now());
    let ranges: std::collections::BTreeMap<_, _> = core.world.chats().iter().map(|c| (c.id.clone(), c.range)).collect();
    Json(ranges).into_response()
}

async fn land(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().world.land_all(Instant::now());
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct HandleBody {
    handle: String,
}

async fn outside_change(
    State(shared): State<Arc<Shared>>,
    Path((id, change)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let change = match change.as_str() {
        "outside-add" => Some(Outside::Add),
        "outside-remove" => Some(Outside::Remove),
        "leave" => Some(Outside::Leave),
        "land-ahead" => None,
        _ => {
            return control_error(
                StatusCode::NOT_FOUND,
                format!("no change `{change}`: use `outside-add`, `outside-remove`, `leave` or `land-ahead`"),
            )
        }
    };
    let Ok(HandleBody { handle }) = serde_json::from_slice(&body) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "the body must be JSON with a `handle` string".into(),
        );
    };
    let mut core = shared.lock();
    let now = Instant::now();
    core.world.land_due(now);
    let Some(change) = change else {
        return if core.world.land_ahead(&id, &handle, now) {
            StatusCode::NO_CONTENT.into_response()
        } else {
            control_error(
                StatusCode::NOT_FOUND,
                format!("no queued change of `{handle}` in chat `{id}`"),
            )
        };
    };
    match core.world.outside(&id, &handle, change, now) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(message) if core.world.chat(&id).is_none() => control_error(StatusCode::NOT_FOUND, message),
        Err(message) => control_error(StatusCode::BAD_REQUEST, message),
    }
}

async fn chat_details(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut core = shared.lock();
    core.world.land_due(Instant::now());
    match core.world.details(&id) {
        Some(details) => Json(details).into_response(),
        None => control_error(StatusCode::NOT_FOUND, format!("no chat `{id}`")),
    }
}

/// The one field of a control body that sets or clears a value: a string, or `null` to clear.
fn set_or_clear(body: &[u8], field: &str) -> Result<Option<String>, String> {
    let refuse = || format!("the body must be JSON with a `{field}` string, or null to remove it, and nothing else");
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return Err(refuse());
    };
    match (map.len(), map.get(field)) {
        (1, Some(serde_json::Value::String(value))) => Ok(Some(value.clone())),
        (1, Some(serde_json::Value::Null)) => Ok(None),
        _ => Err(refuse()),
    }
}

async fn outside_rename(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    match set_or_clear(&body, "display_name") {
        Ok(display_name) => update_outside(
            &shared,
            &id,
            Update {
                display_name: Some(display_name),
                icon: None,
            },
        ),
        Err(message) => control_error(StatusCode::BAD_REQUEST, message),
    }
}

async fn outside_icon(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    match set_or_clear(&body, "icon") {
        Ok(icon) => update_outside(
            &shared,
            &id,
            Update {
                display_name: None,
                icon: Some(icon),
            },
        ),
        Err(message) => control_error(StatusCode::BAD_REQUEST, message),
    }
}

fn update_outside(shared: &Shared, id: &str, update: Update) -> Response {
    let mut core = shared.lock();
    let now = Instant::now();
    core.world.land_due(now);
    match core.world.update_outside(id, &update, now) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(message) if core.world.chat(id).is_none() => control_error(StatusCode::NOT_FOUND, message),
        Err(message) => control_error(StatusCode::BAD_REQUEST, message),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineBody {
    phone_number: String,
}

async fn add_line(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(LineBody { phone_number }) = serde_json::from_slice(&body) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "the body must be JSON with a `phone_number` string".into(),
        );
    };
    match shared.lock().world.add_line(&phone_number) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(message) => control_error(StatusCode::BAD_REQUEST, message),
    }
}

async fn messages(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().world.messages().to_vec()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateFaultsBody {
    fault: CreateFault,
    count: usize,
}

async fn create_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<CreateFaultsBody>(&body) {
        Ok(CreateFaultsBody { fault, count }) => {
            shared.lock().creates.force(fault, count);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => control_error(
            StatusCode::BAD_REQUEST,
            format!("the body must be JSON like {{\"fault\": \"error\" or \"drop\", \"count\": 1}}: {e}"),
        ),
    }
}

async fn hold_creates(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.holds.hold();
    StatusCode::NO_CONTENT
}

async fn release_creates(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.holds.release();
    StatusCode::NO_CONTENT
}

async fn held_creates(State(shared): State<Arc<Shared>>) -> Response {
    Json(serde_json::json!({ "held": shared.holds.held() })).into_response()
}

/// `{"url": "http://..." | null, "secret": "..."}`; `secret` may be left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: Option<String>,
    #[serde(default)]
    secret: Option<String>,
}

async fn set_webhook(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let body: WebhookBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("the body must be JSON with a `url` (a string or null) and maybe a `secret`: {e}"),
            )
        }
    };
    let web = |url: &str| reqwest::Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
    if let Some(url) = body.url.as_deref().filter(|url| !web(url)) {
        return control_error(StatusCode::BAD_REQUEST, format!("`{url}` is not an http or https URL"));
    }
    shared.lock().set_webhook(body.url, body.secret);
    StatusCode::NO_CONTENT.into_response()
}

async fn webhook_events(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock_quietly().webhooks.events().to_vec()).into_response()
}

async fn deliveries(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock_quietly().webhooks.deliveries().to_vec()).into_response()
}

async fn set_tamper(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let tamper: Tamper = match serde_json::from_slice(&body) {
        Ok(tamper) => tamper,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, format!("the body is not a tamper: {e}")),
    };
    if let Err(message) = tamper.check() {
        return control_error(StatusCode::BAD_REQUEST, message);
    }
    let mut core = shared.lock();
    if core.world.chat(&id).is_none() {
        return control_error(StatusCode::NOT_FOUND, format!("no chat `{id}`"));
    }
    core.tampers.insert(id, tamper);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_tamper(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> StatusCode {
    shared.lock().tampers.remove(&id);
    StatusCode::NO_CONTENT
}

fn control_error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
