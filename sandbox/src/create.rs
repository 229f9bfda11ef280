//! Chats made and changed through the API: the bodies of `POST /v3/chats` and
//! `PUT /v3/chats/{id}` checked against Linq's schema, the service a new chat goes by, the
//! message's `idempotency_key` honoured or ignored, the faults a create meets after its chat is
//! made, and creates held between making the chat and answering.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::handle::{canonical_handle, Service};
use crate::world::{ApiError, Content, Effect, Update, World};

/// Most recipients of a create, as Linq's `CreateChatRequest.to` allows.
pub const MAX_RECIPIENTS: usize = 31;
/// Most parts of a message (`MessageContent.parts`).
const MAX_PARTS: usize = 10;
/// Longest text part, in characters (`TextPart.value`).
const MAX_TEXT: usize = 10_000;
/// Longest idempotency key (`MessageContent.idempotency_key`).
const MAX_KEY: usize = 255;

const SCREEN_EFFECTS: &[&str] = &[
    "confetti",
    "fireworks",
    "lasers",
    "sparkles",
    "celebration",
    "hearts",
    "love",
    "balloons",
    "happy_birthday",
    "echo",
    "spotlight",
];
const BUBBLE_EFFECTS: &[&str] = &["slam", "loud", "gentle", "invisible"];

/// What `POST /v3/chats` does with a message's `idempotency_key`. Linq documents that the key
/// "prevents duplicate sends", not whether it also keeps a chat from being made twice, so the
/// sandbox serves both readings, chosen at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Idempotency {
    /// A create repeating a key answers the chat and message the key first made, sending
    /// nothing; the same key with another request is refused (422 `1003`).
    #[default]
    Honour,
    /// Keys are not looked at: a repeated create makes another chat and sends another message.
    Ignore,
}

/// How a create that made its chat and sent its message fails to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateFault {
    /// Answered 500 (code 3006).
    Error,
    /// The connection is closed without an answer.
    Drop,
}

/// A `CreateChatRequest`, checked: `from` and `to` canonical, `to` without `from` and without
/// repeats, the message's text parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub from: String,
    pub to: Vec<String>,
    pub content: Content,
}

/// A create's body, or why it breaks Linq's schema.
pub type CreateBody = Result<CreateRequest, ApiError>;

/// A `PUT /v3/chats/{id}` body, or why it breaks Linq's schema.
pub type UpdateBody = Result<Update, ApiError>;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid_request(message)
}

fn object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(invalid("the body must be a JSON object")),
    }
}

/// An optional string field: `Ok(None)` when absent, an error when it is not a string.
fn string<'a>(map: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(invalid(format!("`{field}` must be a string, not `{other}`"))),
    }
}

/// Parses and checks a `CreateChatRequest` as far as the body alone tells: whether `from` is one
/// of the partner's lines is the world's to say.
pub fn create_body(bytes: &[u8]) -> CreateBody {
    let body = object(bytes)?;
    let from = string(&body, "from")?.ok_or_else(|| invalid("`from` is required"))?;
    let from = canonical_handle(from)
        .filter(|f| f.starts_with('+'))
        .ok_or_else(|| ApiError::invalid_phone("from", from))?;
    let to = match body.get("to") {
        Some(Value::Array(items)) => items,
        Some(other) => return Err(invalid(format!("`to` must be an array of handles, not `{other}`"))),
        None => return Err(invalid("`to` is required")),
    };
    if to.is_empty() || to.len() > MAX_RECIPIENTS {
        return Err(invalid(format!(
            "`to` must list 1 to {MAX_RECIPIENTS} handles, not {}",
            to.len()
        )));
    }
    let mut recipients: Vec<String> = Vec::with_capacity(to.len());
    for item in to {
        let Value::String(text) = item else {
            return Err(invalid(format!("`to` must list handles as strings, not `{item}`")));
        };
        let handle = canonical_handle(text).ok_or_else(|| ApiError::invalid_handle(text))?;
        if handle == from {
            return Err(invalid(format!("`to` lists `{handle}`, the `from` line itself")));
        }
        if recipients.contains(&handle) {
            return Err(invalid(format!("`to` lists `{handle}` twice")));
        }
        recipients.push(handle);
    }
    let message = match body.get("message") {
        Some(Value::Object(message)) => message,
        Some(other) => return Err(invalid(format!("`message` must be an object, not `{other}`"))),
        None => {
            return Err(invalid(
                "`message` is required: a chat is created with its first message",
            ))
        }
    };
    Ok(CreateRequest {
        from,
        to: recipients,
        content: content(message)?,
    })
}

/// A `MessageContent`: its parts (text only), `preferred_service`, `idempotency_key` and
/// `effect`. `reply_to` is taken and ignored: a new chat has nothing to reply to.
fn content(message: &Map<String, Value>) -> Result<Content, ApiError> {
    let parts = match message.get("parts") {
        Some(Value::Array(parts)) => parts,
        Some(other) => return Err(invalid(format!("`message.parts` must be an array, not `{other}`"))),
        None => return Err(invalid("`message.parts` is required")),
    };
    if parts.is_empty() || parts.len() > MAX_PARTS {
        return Err(invalid(format!(
            "`message.parts` must hold 1 to {MAX_PARTS} parts, not {}",
            parts.len()
        )));
    }
    let mut texts = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let Value::Object(part) = part else {
            return Err(invalid(format!("`message.parts[{i}]` must be an object")));
        };
        match string(part, "type")? {
            Some("text") => {}
            Some("media") => {
                return Err(invalid(format!(
                    "`message.parts[{i}]` is a media part; the sandbox sends text parts only"
                )))
            }
            Some(other) => {
                return Err(invalid(format!(
                    "`message.parts[{i}].type` must be `text` or `media`, not `{other}`"
                )))
            }
            None => return Err(invalid(format!("`message.parts[{i}].type` is required"))),
        }
        let value = string(part, "value")?.ok_or_else(|| invalid(format!("`message.parts[{i}].value` is required")))?;
        let length = value.chars().count();
        if !(1..=MAX_TEXT).contains(&length) {
            return Err(invalid(format!(
                "`message.parts[{i}].value` must be 1 to {MAX_TEXT} characters, not {length}"
            )));
        }
        if string(part, "idempotency_key")?.is_some_and(|key| key.chars().count() > MAX_KEY) {
            return Err(invalid(format!(
                "`message.parts[{i}].idempotency_key` is longer than {MAX_KEY} characters"
            )));
        }
        if i > 0 {
            // Every part is text: two in a row break Linq's rule that text parts are separated
            // by media parts.
            return Err(invalid(
                "consecutive text parts are not allowed: text parts must be separated by media parts",
            ));
        }
        texts.push(value.to_owned());
    }
    let preferred_service = match string(message, "preferred_service")? {
        None => None,
        Some(service) => match Service::parse(service) {
            Some(service) => Some(service.as_str().to_owned()),
            None => {
                return Err(invalid(format!(
                    "`message.preferred_service` must be `iMessage`, `RCS` or `SMS`, not `{service}`"
                )))
            }
        },
    };
    let idempotency_key = string(message, "idempotency_key")?.map(str::to_owned);
    if idempotency_key
        .as_ref()
        .is_some_and(|key| key.chars().count() > MAX_KEY)
    {
        return Err(invalid(format!(
            "`message.idempotency_key` is longer than {MAX_KEY} characters"
        )));
    }
    Ok(Content {
        parts: texts,
        preferred_service,
        idempotency_key,
        effect: effect(message.get("effect"))?,
    })
}

/// A `MessageEffects` object: one screen or one bubble effect.
fn effect(value: Option<&Value>) -> Result<Option<Effect>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let Value::Object(effect) = value else {
        return Err(invalid(format!("`message.effect` must be an object, not `{value}`")));
    };
    let screen = string(effect, "screen_effect")?;
    let bubble = string(effect, "bubble_effect")?;
    let (kind, name, known) = match (screen, bubble) {
        (Some(_), Some(_)) => return Err(invalid("only one effect can be applied per message")),
        (Some(name), None) => ("screen", name, SCREEN_EFFECTS),
        (None, Some(name)) => ("bubble", name, BUBBLE_EFFECTS),
        (None, None) => return Ok(None),
    };
    if !known.contains(&name) {
        return Err(invalid(format!("`{name}` is not a {kind} effect")));
    }
    Ok(Some(Effect {
        kind: kind.to_owned(),
        name: name.to_owned(),
    }))
}

/// Parses and checks an `UpdateChatRequest`. An empty `display_name` or `group_chat_icon`
/// clears it (the schema has no `null` for them); an icon is an `http` or `https` URL.
pub fn update_body(bytes: &[u8]) -> UpdateBody {
    let body = object(bytes)?;
    let display_name = string(&body, "display_name")?.map(|name| (!name.is_empty()).then(|| name.to_owned()));
    let icon = match string(&body, "group_chat_icon")? {
        None => None,
        Some("") => Some(None),
        Some(url) if is_web_url(url) => Some(Some(url.to_owned())),
        Some(url) => {
            return Err(invalid(format!(
                "`group_chat_icon` must be an http or https URL, not `{url}`"
            )))
        }
    };
    if display_name.is_none() && icon.is_none() {
        return Err(invalid("give `display_name`, `group_chat_icon` or both"));
    }
    Ok(Update { display_name, icon })
}

/// An absolute `http` or `https` URL with a host and no whitespace.
fn is_web_url(text: &str) -> bool {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

/// The service a new chat goes by. Without `preferred_service`, Linq's fallback chain
/// (iMessage → RCS → SMS) settles on the lowest service a recipient is known to use. `iMessage`
/// enforces iMessage, so a recipient known to use another service is refused (409 `2017`, as
/// for a cross-service add); `RCS` falls back to SMS for a recipient known to use SMS; `SMS` is
/// SMS.
fn service(world: &World, to: &[String], preferred: Option<&str>) -> Result<Service, ApiError> {
    let rank = |service: Service| match service {
        Service::Sms => 0,
        Service::Rcs => 1,
        Service::IMessage => 2,
    };
    let known: Vec<(&String, Service)> = (to.iter())
        .filter_map(|handle| world.known_service(handle).map(|service| (handle, service)))
        .collect();
    let lowest = known.iter().map(|(_, service)| *service).min_by_key(|s| rank(*s));
    match preferred.and_then(Service::parse) {
        Some(Service::IMessage) => match known.iter().find(|(_, service)| *service != Service::IMessage) {
            Some((handle, service)) => Err(ApiError::service_mismatch(handle, *service, Service::IMessage)),
            None => Ok(Service::IMessage),
        },
        Some(Service::Rcs) if lowest == Some(Service::Sms) => Ok(Service::Sms),
        Some(service) => Ok(service),
        None => Ok(lowest.unwrap_or(Service::IMessage)),
    }
}

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub chat: String,
    pub message: String,
    /// False for a create that repeated an honoured idempotency key: nothing was made or sent.
    pub sent: bool,
}

/// What an honoured idempotency key stands for.
#[derive(Debug, Clone)]
struct Keyed {
    request: CreateRequest,
    chat: String,
    message: String,
}

/// Mixed into the fault seed, so that create faults are drawn apart from the others.
const CREATE_SALT: u64 = 0x0c4e_a7e5;

/// The state behind creates: the idempotency keys seen, the create faults to come, and their
/// generator.
#[derive(Debug)]
pub struct Creates {
    keys: HashMap<String, Keyed>,
    /// The next creates that make a chat fail this way, and how many more.
    forced: Option<(CreateFault, usize)>,
    rng: fastrand::Rng,
}

impl Creates {
    pub fn new(seed: u64) -> Creates {
        Creates {
            keys: HashMap::new(),
            forced: None,
            // Apart from the other faults' generator, so that creates leave its draws alone.
            rng: fastrand::Rng::with_seed(seed ^ CREATE_SALT),
        }
    }

    /// Restarts the generator from `seed` (the forced faults and the keys stay).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = fastrand::Rng::with_seed(seed ^ CREATE_SALT);
    }

    /// Makes the chat `request` asks for and sends its first message, or, for a repeated
    /// honoured key, answers what that key made. A direct chat (one recipient) that the line
    /// has already with that handle gets the message instead of a second chat.
    pub fn create(
        &mut self,
        world: &mut World,
        idempotency: Idempotency,
        request: CreateRequest,
        now: Instant,
    ) -> Result<Created, ApiError> {
        let key = match idempotency {
            Idempotency::Honour => request.content.idempotency_key.clone(),
            Idempotency::Ignore => None,
        };
        if let Some(keyed) = key.as_ref().and_then(|key| self.keys.get(key)) {
            return if keyed.request == request {
                Ok(Created {
                    chat: keyed.chat.clone(),
                    message: keyed.message.clone(),
                    sent: false,
                })
            } else {
                Err(ApiError::key_reused(key.as_deref().unwrap_or_default()))
            };
        }
        if !world.is_line(&request.from) {
            return Err(ApiError::not_your_line(&request.from));
        }
        let service = service(world, &request.to, request.content.preferred_service.as_deref())?;
        let direct = match request.to.as_slice() {
            [handle] => world.direct_chat(&request.from, handle).map(|chat| chat.id.clone()),
            _ => None,
        };
        let chat = match direct {
            Some(chat) => chat,
            None => world.create(&request.from, &request.to, service, now),
        };
        let message = world.send(&chat, request.content.clone(), now).id.clone();
        if let Some(key) = key {
            self.keys.insert(
                key,
                Keyed {
                    request,
                    chat: chat.clone(),
                    message: message.clone(),
                },
            );
        }
        Ok(Created {
            chat,
            message,
            sent: true,
        })
    }

    /// The next `count` creates that make a chat fail as `fault` says (replacing any earlier
    /// such order; a count of 0 ends it).
    pub fn force(&mut self, fault: CreateFault, count: usize) {
        self.forced = (count > 0).then_some((fault, count));
    }

    /// The fault a create that made its chat meets: a forced one first, else one drawn at
    /// `error_rate` (500) and `drop_rate` (dropped).
    pub fn fault(&mut self, error_rate: f64, drop_rate: f64) -> Option<CreateFault> {
        if let Some((fault, count)) = &mut self.forced {
            let fault = *fault;
            *count -= 1;
            if *count == 0 {
                self.forced = None;
            }
            return Some(fault);
        }
        if error_rate <= 0.0 && drop_rate <= 0.0 {
            return None;
        }
        let r = self.rng.f64();
        if r < error_rate {
            Some(CreateFault::Error)
        } else if r < error_rate + drop_rate {
            Some(CreateFault::Drop)
        } else {
            None
        }
    }
}

/// Creates held after their chat was made and before they answer, so that a test can stop a
/// client at exactly that instant (a `kill -9` trial) and then let the answers go.
#[derive(Debug)]
pub struct Holds {
    state: Mutex<HoldState>,
    changed: Condvar,
    release: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct HoldState {
    on: bool,
    /// The chats of the creates held now, in the order they were made.
    held: Vec<String>,
}

impl Default for Holds {
    fn default() -> Holds {
        Holds {
            state: Mutex::default(),
            changed: Condvar::new(),
            release: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Holds {
    fn state(&self) -> MutexGuard<'_, HoldState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// From now on, every create that made its chat waits before answering until
    /// [`Holds::release`].
    pub fn hold(&self) {
        self.state().on = true;
    }

    /// Lets every held create answer, and holds no more.
    pub fn release(&self) {
        let mut state = self.state();
        state.on = false;
        self.release.send_modify(|generation| *generation += 1);
    }

    /// The chats of the creates held now.
    pub fn held(&self) -> Vec<String> {
        self.state().held.clone()
    }

    /// Waits until at least `count` creates are held, for at most `timeout`; whether they are.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        let state = self.state();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |state| state.held.len() < count)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.held.len() >= count
    }

    /// Called by a create that made `chat`, before it answers: waits while creates are held.
    pub async fn pass(&self, chat: &str) {
        let mut released = {
            let mut state = self.state();
            if !state.on {
                return;
            }
            state.held.push(chat.to_owned());
            self.changed.notify_all();
            // Subscribed under the lock a release takes, so no release is missed.
            self.release.subscribe()
        };
        let _held = Held(self, chat);
        // An error means the sender is gone with the sandbox: nothing to wait for then.
        let _ = released.changed().await;
    }
}

/// Takes a create off the held list however it ends: released, or its client gone.
struct Held<'a>(&'a Holds, &'a str);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        if let Some(at) = state.held.iter().position(|chat| chat == self.1) {
            state.held.remove(at);
        }
        self.0.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(body: Value) -> CreateBody {
        create_body(&serde_json::to_vec(&body).unwrap())
    }

    fn text(value: &str) -> Value {
        json!({"parts": [{"type": "text", "value": value}]})
    }

    #[test]
    fn a_create_body_is_checked_as_linq_s_schema_says() {
        let ok = create(json!({
            "from": "+12055550100", "to": ["+12055550101", "Bob@Example.com"],
            "message": {"parts": [{"type": "text", "value": "Hi"}], "preferred_service": "SMS",
                        "idempotency_key": "k1", "effect": {"screen_effect": "confetti"}}
        }))
        .unwrap();
        assert_eq!(ok.to, ["+12055550101", "bob@example.com"]);
        assert_eq!(ok.content.parts, ["Hi"]);
        assert_eq!(ok.content.preferred_service.as_deref(), Some("SMS"));
        assert_eq!(ok.content.idempotency_key.as_deref(), Some("k1"));
        assert_eq!(ok.content.effect.unwrap().kind, "screen");

        let code = |body: Value| create(body).map(|_| ()).map_err(|e| (e.status, e.code));
        let to = |to: Value| json!({"from": "+12055550100", "to": to, "message": text("Hi")});
        assert_eq!(code(to(json!(["+12055550101"]))), Ok(()));
        assert_eq!(code(to(json!([]))), Err((400, 1001)));
        let many: Vec<String> = (0..32).map(|i| format!("+1205555{i:04}")).collect();
        assert_eq!(code(to(json!(many))), Err((400, 1001)));
        assert_eq!(code(to(json!(many[..31]))), Ok(()));
        assert_eq!(code(to(json!(["2055550101"]))), Err((400, 1002)));
        assert_eq!(code(to(json!(["+12055550101", "+12055550101"]))), Err((400, 1001)));
        assert_eq!(code(to(json!(["+12055550100"]))), Err((400, 1001)), "from itself");
        assert_eq!(code(to(json!("+12055550101"))), Err((400, 1001)));
        let with = |from: Value, message: Value| json!({"from": from, "to": ["+12055550101"], "message": message});
        assert_eq!(code(with(json!("12055550100"), text("Hi"))), Err((400, 1002)));
        assert_eq!(code(with(json!("me@example.com"), text("Hi"))), Err((400, 1002)));
        assert_eq!(
            code(json!({"to": ["+12055550101"], "message": text("Hi")})),
            Err((400, 1001))
        );
        assert_eq!(
            code(json!({"from": "+12055550100", "to": ["+12055550101"]})),
            Err((400, 1001)),
            "the first message is required"
        );
        let from = json!("+12055550100");
        for bad in [
            json!({}),
            json!({"parts": []}),
            json!({"parts": [{"type": "text", "value": ""}]}),
            json!({"parts": [{"type": "text"}]}),
            json!({"parts": [{"value": "Hi"}]}),
            json!({"parts": [{"type": "media", "url": "https://example.com/a.png"}]}),
            json!({"parts": [{"type": "text", "value": "a"}, {"type": "text", "value": "b"}]}),
            json!({"parts": [{"type": "text", "value": "x".repeat(10_001)}]}),
            json!({"parts": [{"type": "text", "value": "Hi"}], "preferred_service": "Fax"}),
            json!({"parts": [{"type": "text", "value": "Hi"}], "idempotency_key": "k".repeat(256)}),
            json!({"parts": [{"type": "text", "value": "Hi"}], "effect": {"screen_effect": "slam"}}),
            json!({"parts": [{"type": "text", "value": "Hi"}],
                   "effect": {"screen_effect": "confetti", "bubble_effect": "slam"}}),
        ] {
            assert_eq!(code(with(from.clone(), bad.clone())), Err((400, 1001)), "{bad}");
        }
        assert_eq!(
            code(with(
                from,
                json!({"parts": [{"type": "text", "value": "x".repeat(10_000)}]})
            )),
            Ok(())
        );
        assert_eq!(create_body(b"not json").unwrap_err().code, 1001);
    }

    #[test]
    fn an_update_body_sets_clears_or_is_refused() {
        let update = |body: Value| update_body(&serde_json::to_vec(&body).unwrap());
        assert_eq!(
            update(json!({"display_name": "Team"})).unwrap(),
            Update {
                display_name: Some(Some("Team".into())),
                icon: None
            }
        );
        assert_eq!(
            update(json!({"display_name": "", "group_chat_icon": "https://example.com/i.png"})).unwrap(),
            Update {
                display_name: Some(None),
                icon: Some(Some("https://example.com/i.png".into()))
            }
        );
        assert_eq!(update(json!({"group_chat_icon": ""})).unwrap().icon, Some(None));
        for bad in [
            json!({}),
            json!({"name": "Team"}),
            json!({"display_name": null}),
            json!({"display_name": 7}),
            json!({"group_chat_icon": "icon.png"}),
            json!({"group_chat_icon": "ftp://example.com/i.png"}),
            json!({"group_chat_icon": "https://"}),
            json!({"group_chat_icon": "https://example.com/a b.png"}),
            json!(["display_name"]),
        ] {
            let error = update(bad.clone()).unwrap_err();
            assert_eq!((error.status, error.code), (400, 1001), "{bad}");
        }
    }

    #[test]
    fn forced_faults_come_first_then_the_rates() {
        let mut creates = Creates::new(3);
        assert_eq!(creates.fault(0.0, 0.0), None);
        creates.force(CreateFault::Drop, 2);
        assert_eq!(creates.fault(0.0, 0.0), Some(CreateFault::Drop));
        assert_eq!(creates.fault(0.0, 0.0), Some(CreateFault::Drop));
        assert_eq!(creates.fault(0.0, 0.0), None);
        assert_eq!(creates.fault(1.0, 0.0), Some(CreateFault::Error));
        assert_eq!(creates.fault(0.0, 1.0), Some(CreateFault::Drop));
        let drawn = |seed| {
            let mut creates = Creates::new(seed);
            (0..1000).filter(|_| creates.fault(0.25, 0.0).is_some()).count()
        };
        assert_eq!(drawn(9), drawn(9), "the same seed, the same faults");
        assert!((200..300).contains(&drawn(9)), "{}", drawn(9));
    }
}
