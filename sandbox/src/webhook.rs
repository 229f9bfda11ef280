//! Webhooks as Linq sends them: each event the world recorded put in Linq's envelope
//! (`WebhookEnvelopeBase`, its `data` shaped as the event's payload schema), signed with
//! HMAC-SHA256 over `{timestamp}.{body}` as Linq's "Verifying Webhook Signatures" says, the
//! delivery faults drawn for it, and the log of what was sent: every event with its fate and
//! every delivery attempt with the answer it got.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use serde::Serialize;
use serde_json::{json, Value};

use crate::subscription::WebhookOptions;
use crate::wire::{self, timestamp};
use crate::world::{uuid, Event, Participant, World};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Mixed into the fault seed, so that webhook faults are drawn apart from the others.
const WEBHOOK_SALT: u64 = 0x00ee_b00c;

/// The hex HMAC-SHA256 of `{timestamp}.{body}` under `secret`: `X-Webhook-Signature`.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// `X-Webhook-Timestamp` for a webhook sent at `at`: unix seconds, moved by `offset`.
pub fn unix_seconds(at: SystemTime, offset: i64) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let secs = i64::try_from(secs).unwrap_or(i64::MAX).saturating_add(offset);
    secs.to_string()
}

/// One webhook ready to send: its envelope's body, and what the log and headers say of it.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub event_id: String,
    pub event_type: &'static str,
    pub chat_id: String,
    pub body: Vec<u8>,
}

/// The event type (`X-Webhook-Event`), chat and `data` payload of an event.
fn payload(event: &Event) -> (&'static str, &str, Value) {
    let at = |at: &SystemTime| timestamp(*at);
    let handle = |p: &Participant| serde_json::to_value(wire::ChatHandle::new(p)).expect("handles serialize");
    match event {
        Event::ParticipantAdded {
            chat,
            participant,
            at: when,
        } => (
            "participant.added",
            chat,
            json!({ "chat_id": chat, "handle": participant.handle, "participant": handle(participant),
                    "added_at": at(when) }),
        ),
        Event::ParticipantRemoved {
            chat,
            participant,
            at: when,
        } => (
            "participant.removed",
            chat,
            json!({ "chat_id": chat, "handle": participant.handle, "participant": handle(participant),
                    "removed_at": at(when) }),
        ),
        Event::ChatCreated { chat } => (
            "chat.created",
            &chat.id,
            serde_json::to_value(wire::Chat::new(chat)).expect("chats serialize"),
        ),
        Event::NameUpdated {
            chat,
            old,
            new,
            by,
            at: when,
        }
        | Event::IconUpdated {
            chat,
            old,
            new,
            by,
            at: when,
        } => (
            if matches!(event, Event::NameUpdated { .. }) {
                "chat.group_name_updated"
            } else {
                "chat.group_icon_updated"
            },
            chat,
            json!({ "chat_id": chat, "old_value": old, "new_value": new,
                    "changed_by_handle": by.as_ref().map(handle), "updated_at": at(when) }),
        ),
        Event::NameUpdateFailed {
            chat,
            error_code,
            at: when,
        }
        | Event::IconUpdateFailed {
            chat,
            error_code,
            at: when,
        } => (
            if matches!(event, Event::NameUpdateFailed { .. }) {
                "chat.group_name_update_failed"
            } else {
                "chat.group_icon_update_failed"
            },
            chat,
            json!({ "chat_id": chat, "error_code": error_code, "failed_at": at(when) }),
        ),
    }
}

/// When an event happened: its `created_at`.
fn happened(event: &Event) -> SystemTime {
    match event {
        Event::ParticipantAdded { at, .. }
        | Event::ParticipantRemoved { at, .. }
        | Event::NameUpdated { at, .. }
        | Event::IconUpdated { at, .. }
        | Event::NameUpdateFailed { at, .. }
        | Event::IconUpdateFailed { at, .. } => *at,
        Event::ChatCreated { chat } => chat.created_at,
    }
}

/// Where an event's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Being delivered, or waiting to be.
    Pending,
    /// Answered 2xx (and so was its duplicate, if it had one).
    Delivered,
    /// Not delivered: a 4xx other than 429, or every attempt failed.
    Failed,
    /// Never sent: the drop fault took it.
    Dropped,
}

/// One event made into a webhook, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEvent {
    pub event_id: String,
    pub event_type: String,
    pub chat_id: String,
    pub fate: Fate,
    /// Delivered a second time once the first delivery succeeded.
    pub duplicate: bool,
    /// Held back until the next webhook went out.
    pub late: bool,
    /// When it was made, since the sandbox started.
    #[serde(rename = "at_ms", with = "crate::millis")]
    pub at: Duration,
}

/// One attempt to deliver a webhook, and the answer it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub chat_id: String,
    /// 1 to 6 within a delivery.
    pub attempt: usize,
    /// The second delivery of a duplicated event.
    pub duplicate: bool,
    /// The status answered; `None` when none came (refused, timed out, cut off).
    pub status: Option<u16>,
    /// Why no status came.
    pub error: Option<String>,
    /// When the attempt ended, since the sandbox started.
    #[serde(rename = "at_ms", with = "crate::millis")]
    pub at: Duration,
}

/// A webhook handed to the deliverer.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its place in [`Outbox::events`].
    pub index: usize,
    pub webhook: Webhook,
    pub duplicate: bool,
    pub late: bool,
}

/// Whether an answer ends a delivery: 2xx delivers it, a 4xx other than 429 fails it for good
/// (Linq: "HTTP 4xx responses (except 429) are considered permanent failures"); anything else,
/// or no answer, is retried.
pub fn settles(status: Option<u16>) -> Option<Fate> {
    match status {
        Some(200..=299) => Some(Fate::Delivered),
        Some(429) | None => None,
        Some(400..=499) => Some(Fate::Failed),
        Some(_) => None,
    }
}

/// The webhooks made so far, their attempts, and the generators behind their ids and faults.
#[derive(Debug)]
pub struct Outbox {
    events: Vec<WebhookEvent>,
    deliveries: Vec<Delivery>,
    /// Events taken and not yet settled (delivered, failed or dropped).
    outstanding: usize,
    faults: fastrand::Rng,
    ids: fastrand::Rng,
    traces: u64,
}

impl Outbox {
    pub fn new(seed: u64) -> Outbox {
        Outbox {
            events: Vec::new(),
            deliveries: Vec::new(),
            outstanding: 0,
            faults: fastrand::Rng::with_seed(seed ^ WEBHOOK_SALT),
            ids: fastrand::Rng::with_seed(seed ^ WEBHOOK_SALT.rotate_left(17)),
            traces: 0,
        }
    }

    /// Restarts the fault generator from `seed`.
    pub fn reseed(&mut self, seed: u64) {
        self.faults = fastrand::Rng::with_seed(seed ^ WEBHOOK_SALT);
    }

    /// Takes the world's new events and makes each a webhook, drawing its faults: the jobs to
    /// deliver, dropped ones left out.
    pub fn take(&mut self, world: &mut World, options: &WebhookOptions, since_start: Duration) -> Vec<Job> {
        let mut jobs = Vec::new();
        for event in world.take_events() {
            let (event_type, chat_id, data) = payload(&event);
            let event_id = uuid(&mut self.ids);
            self.traces += 1;
            let envelope = json!({
                "api_version": "v3",
                "webhook_version": options.version(),
                "event_type": event_type,
                "event_id": event_id,
                "created_at": timestamp(happened(&event)),
                "trace_id": format!("trace_wh_{:012x}", self.traces),
                "partner_id": options.partner_id,
                "data": data,
            });
            // Three draws an event, whatever the rates, so that one rate does not shift the
            // others' choices.
            let (dropped, duplicate, late) = (self.faults.f64(), self.faults.f64(), self.faults.f64());
            let dropped = dropped < options.drop_rate;
            let duplicate = !dropped && duplicate < options.duplicate_rate;
            let late = !dropped && late < options.reorder_rate;
            let index = self.events.len();
            self.events.push(WebhookEvent {
                event_id: event_id.clone(),
                event_type: event_type.to_owned(),
                chat_id: chat_id.to_owned(),
                fate: if dropped { Fate::Dropped } else { Fate::Pending },
                duplicate,
                late,
                at: since_start,
            });
            if dropped {
                continue;
            }
            self.outstanding += 1;
            jobs.push(Job {
                index,
                webhook: Webhook {
                    event_id,
                    event_type,
                    chat_id: chat_id.to_owned(),
                    body: serde_json::to_vec(&envelope).expect("webhooks serialize"),
                },
                duplicate,
                late,
            });
        }
        jobs
    }

    /// Logs one attempt.
    pub fn attempted(&mut self, delivery: Delivery) {
        self.deliveries.push(delivery);
    }

    /// A job's delivery is over.
    pub fn settle(&mut self, index: usize, fate: Fate) {
        if let Some(event) = self.events.get_mut(index) {
            if event.fate == Fate::Pending {
                event.fate = fate;
                self.outstanding = self.outstanding.saturating_sub(1);
            }
        }
    }

    /// Whether every webhook made so far is settled.
    pub fn idle(&self) -> bool {
        self.outstanding == 0
    }

    pub fn events(&self) -> &[WebhookEvent] {
        &self.events
    }

    pub fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Over `{timestamp}.{body}`: the same as signing the joined text at once.
        let mut mac = HmacSha256::new_from_slice(b"s3cret").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        assert_eq!(
            sign("s3cret", "1700000000", b"{\"a\":1}"),
            hex(&mac.finalize().into_bytes())
        );
        assert_ne!(
            sign("s3cret", "1700000001", b"{\"a\":1}"),
            sign("s3cret", "1700000000", b"{\"a\":1}")
        );
    }

    #[test]
    fn timestamps_are_unix_seconds_moved_by_the_offset() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        assert_eq!(unix_seconds(at, 0), "1700000000");
        assert_eq!(unix_seconds(at, -600), "1699999400");
    }

    #[test]
    fn only_2xx_and_4xx_other_than_429_settle_a_delivery() {
        assert_eq!(settles(Some(200)), Some(Fate::Delivered));
        assert_eq!(settles(Some(204)), Some(Fate::Delivered));
        assert_eq!(settles(Some(401)), Some(Fate::Failed));
        for retried in [Some(429), Some(500), Some(503), Some(302), None] {
            assert_eq!(settles(retried), None, "{retried:?}");
        }
    }
}
