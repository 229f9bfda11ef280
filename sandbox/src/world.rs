//! The sandbox's world: the partner's lines, chats with their landed participants and queued
//! changes, their names and icons, the messages sent, Linq's membership rules, the record of
//! every moment a group fell under 3 participants, and each chat's lowest and highest landed
//! member count.
//!
//! Plain data without I/O or clock of its own: callers pass the instant a request arrived, and
//! queued changes land lazily, in order per chat, whenever the world is looked at. Public so
//! that property tests can replay plans through Linq's rules on a clock of their own.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::handle::{canonical_handle, Service};
use crate::seed::CheckedSeed;

/// The smallest group Linq keeps working: your own line and two others.
pub const MIN_PARTICIPANTS: usize = 3;

/// When every seeded participant joined and every seeded chat was created:
/// 2025-01-06T09:00:00Z, fixed so that seeded reads are reproducible.
const SEEDED_AT_UNIX: u64 = 1_736_154_000;

/// A participant's status, as `ChatHandle.status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// Left on their own (drift made outside the API).
    Left,
    /// Taken out by a removal.
    Removed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Left => "left",
            Status::Removed => "removed",
        }
    }
}

/// One handle in a chat, current or past.
#[derive(Debug, Clone)]
pub struct Participant {
    pub id: String,
    pub handle: String,
    pub service: Service,
    pub is_me: bool,
    pub status: Status,
    pub joined_at: SystemTime,
    pub left_at: Option<SystemTime>,
}

/// What a queued participant change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Add,
    Remove,
}

/// A change the API accepted (202) that has not landed yet.
#[derive(Debug, Clone)]
struct Queued {
    change: Change,
    handle: String,
    due: Instant,
}

/// One chat as the sandbox holds it.
#[derive(Debug, Clone)]
pub struct ChatRecord {
    pub id: String,
    /// The partner's line the chat belongs to: its `is_me` participant.
    pub line: String,
    pub display_name: Option<String>,
    /// The group chat icon last set (a URL). Linq's `Chat` has no field for it, so the API never
    /// answers it; the control API shows it.
    pub icon: Option<String>,
    pub service: Service,
    pub is_group: bool,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    /// Your own line first, then everyone who ever took part, in order of first joining.
    pub participants: Vec<Participant>,
    /// The fewest and the most landed members the chat has had.
    pub range: MemberRange,
    queue: VecDeque<Queued>,
}

/// The lowest and highest landed member count of a chat over its life. Members are the
/// active participants other than your own line, as roster counts them, so these are what a
/// configured floor (`min_members`) and cap (`max_members`) are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRange {
    pub lowest: usize,
    pub highest: usize,
}

impl MemberRange {
    fn at(count: usize) -> MemberRange {
        MemberRange {
            lowest: count,
            highest: count,
        }
    }

    fn include(&mut self, count: usize) {
        self.lowest = self.lowest.min(count);
        self.highest = self.highest.max(count);
    }
}

impl ChatRecord {
    /// Landed active participants, your own line included.
    pub fn active_count(&self) -> usize {
        self.participants.iter().filter(|p| p.status == Status::Active).count()
    }

    /// Landed active members, your own line excluded.
    pub fn member_count(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| !p.is_me && p.status == Status::Active)
            .count()
    }

    fn is_active(&self, handle: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.handle == handle && p.status == Status::Active)
    }

    fn is_queued(&self, change: Change, handle: &str) -> bool {
        self.queue.iter().any(|q| q.change == change && q.handle == handle)
    }

    fn queued_removals(&self) -> usize {
        self.queue.iter().filter(|q| q.change == Change::Remove).count()
    }
}

/// Why a chat fell under [`MIN_PARTICIPANTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A removal accepted by the API landed.
    QueuedRemoval,
    /// Someone removed the handle outside the API ([`crate::Sandbox::remove_outside`]).
    OutsideRemoval,
    /// The handle left the chat on their own ([`crate::Sandbox::leave`]).
    Left,
}

/// A moment a group chat's landed participants (your own line included) numbered fewer than 3:
/// the thing roster must never cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub chat: String,
    /// Landed active participants right after the change, your own line included.
    pub participants: usize,
    /// The handle whose departure caused it.
    pub handle: String,
    pub cause: Cause,
    /// When it happened, since the sandbox started.
    #[serde(rename = "at_ms", with = "crate::millis")]
    pub at: Duration,
}

/// An answer other than success, in the terms of Linq's error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: u32,
    pub message: String,
    /// Seconds, for 429 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, 2004, "Unauthorized - missing or invalid authentication token")
    }

    pub fn chat_not_found(chat: &str) -> ApiError {
        ApiError::new(404, 2001, format!("Resource not found: no chat `{chat}`"))
    }

    pub fn route_not_found() -> ApiError {
        ApiError::new(404, 2001, "Resource not found")
    }

    /// A request Linq's schema rejects (malformed body or query). The code is the sandbox's
    /// choice: Linq documents none for it.
    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, 1001, message)
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(405, 1001, "Method not allowed on this resource")
    }

    pub fn invalid_handle(handle: &str) -> ApiError {
        let message = if handle.starts_with('+') || handle.bytes().all(|b| b.is_ascii_digit()) {
            format!("Phone number must be in E.164 format: `{handle}`")
        } else {
            format!("Handle must be a phone number in E.164 format or an email address: `{handle}`")
        };
        ApiError::new(400, 1002, message)
    }

    pub fn direct_message() -> ApiError {
        ApiError::new(409, 1006, "Cannot update direct message chats")
    }

    /// A `from` that is not E.164.
    pub fn invalid_phone(field: &str, value: &str) -> ApiError {
        ApiError::new(
            400,
            1002,
            format!("Phone number must be in E.164 format: `{field}` is `{value}`"),
        )
    }

    /// A `from` that is not one of the partner's lines: Linq's `Forbidden` answer, which the
    /// sandbox chooses since Linq documents none for it.
    pub fn not_your_line(from: &str) -> ApiError {
        ApiError::new(
            403,
            2005,
            format!(
                "Access denied - insufficient permissions for this resource: `{from}` is not one of your phone numbers"
            ),
        )
    }

    /// An `idempotency_key` used before for another request: Linq's `UnprocessableEntity`,
    /// which the sandbox chooses since Linq documents none for it.
    pub fn key_reused(key: &str) -> ApiError {
        ApiError::new(
            422,
            1003,
            format!("Request is valid but cannot be processed: `idempotency_key` `{key}` was used for another request"),
        )
    }

    pub fn service_mismatch(handle: &str, handle_service: Service, chat: Service) -> ApiError {
        ApiError::new(
            409,
            2017,
            format!(
                "Operation not supported on this chat's service type: `{handle}` uses {} and the chat uses {}",
                handle_service.as_str(),
                chat.as_str()
            ),
        )
    }

    /// Linq's 2015; the sandbox also answers it for a group too small to change, which Linq
    /// leaves undocumented.
    pub fn conflict(detail: impl AsRef<str>) -> ApiError {
        ApiError::new(
            409,
            2015,
            format!("Operation conflicts with current state: {}", detail.as_ref()),
        )
    }

    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(429, 1007, "Rate limit exceeded, retry later")
        }
    }

    pub fn internal() -> ApiError {
        ApiError::new(500, 3006, "Internal server error")
    }

    pub fn unavailable() -> ApiError {
        ApiError::new(503, 3003, "Service temporarily unavailable")
    }
}

/// One of the partner's lines, as `GET /v3/phone_numbers` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub id: String,
    /// E.164.
    pub phone_number: String,
}

/// The chats and what happened to them.
#[derive(Debug)]
pub struct World {
    /// The seed's own line, the first of [`World::lines`].
    pub me: String,
    lines: Vec<Line>,
    /// The seeded chats first, in the seed's order, then those created, in the order they were.
    chats: Vec<ChatRecord>,
    /// How many of `chats` the seed made.
    seeded: usize,
    index: HashMap<String, usize>,
    handle_services: HashMap<String, Service>,
    violations: Vec<Violation>,
    messages: Vec<Message>,
    /// Changes recorded for webhooks, oldest first, while `record_events` is on.
    events: Vec<Event>,
    record_events: bool,
    /// Queued changes over all chats, so that looking at an idle world costs nothing.
    queued: usize,
    ids: fastrand::Rng,
    started: Instant,
    started_wall: SystemTime,
}

impl World {
    /// Builds the world a checked seed describes; `started` anchors every later timestamp.
    pub fn new(seed: &CheckedSeed, started: Instant, started_wall: SystemTime) -> World {
        let seeded_at = SystemTime::UNIX_EPOCH + Duration::from_secs(SEEDED_AT_UNIX);
        let mut ids = fastrand::Rng::with_seed(0x11_4e_5a_4d);
        // Lines draw their ids apart, so that participants keep theirs whatever the lines.
        let mut line_ids = fastrand::Rng::with_seed(0x1_14e5);
        let lines = (seed.lines.iter())
            .map(|number| Line {
                id: uuid(&mut line_ids),
                phone_number: number.clone(),
            })
            .collect();
        let mut chats = Vec::with_capacity(seed.chats.len());
        let mut index = HashMap::with_capacity(seed.chats.len());
        for chat in &seed.chats {
            let service = chat.service;
            let participant = |ids: &mut fastrand::Rng, handle: &str, is_me: bool, status| Participant {
                id: uuid(ids),
                handle: handle.to_owned(),
                service,
                is_me,
                status,
                joined_at: seeded_at,
                left_at: (status != Status::Active).then_some(seeded_at),
            };
            let mut participants = vec![participant(&mut ids, &chat.line, true, Status::Active)];
            for member in &chat.members {
                participants.push(participant(&mut ids, member, false, Status::Active));
            }
            for member in &chat.left {
                participants.push(participant(&mut ids, member, false, Status::Left));
            }
            index.insert(chat.id.clone(), chats.len());
            chats.push(ChatRecord {
                id: chat.id.clone(),
                line: chat.line.clone(),
                display_name: chat.display_name.clone(),
                icon: None,
                service,
                is_group: chat.is_group,
                created_at: seeded_at,
                updated_at: seeded_at,
                participants,
                range: MemberRange::at(chat.members.len()),
                queue: VecDeque::new(),
            });
        }
        let handle_services = seed
            .handle_services
            .iter()
            .map(|(handle, service)| (handle.clone(), *service))
            .collect();
        World {
            me: seed.me.clone(),
            lines,
            seeded: chats.len(),
            chats,
            index,
            handle_services,
            violations: Vec::new(),
            messages: Vec::new(),
            events: Vec::new(),
            record_events: false,
            queued: 0,
            ids,
            started,
            started_wall,
        }
    }

    /// Time since the sandbox started, for logs.
    pub fn since_start(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    fn wall(&self, at: Instant) -> SystemTime {
        self.started_wall + self.since_start(at)
    }

    /// Every chat: the seeded ones in the seed's order, then those created, oldest first.
    pub fn chats(&self) -> &[ChatRecord] {
        &self.chats
    }

    /// Every chat newest first, the order `GET /v3/chats` pages through: those created, the
    /// last first, then the seeded ones (all created at one instant) in the seed's order.
    pub fn newest_first(&self) -> impl Iterator<Item = &ChatRecord> {
        let (seeded, created) = self.chats.split_at(self.seeded);
        created.iter().rev().chain(seeded)
    }

    /// The partner's lines, in the order they were added.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Whether `number` (canonical) is one of the partner's lines.
    pub fn is_line(&self, number: &str) -> bool {
        self.lines.iter().any(|line| line.phone_number == number)
    }

    /// Gives the partner one more line (an E.164 number); false when it has it already.
    pub fn add_line(&mut self, number: &str) -> Result<bool, String> {
        let number = canonical_handle(number)
            .filter(|n| n.starts_with('+'))
            .ok_or_else(|| format!("`{number}` is not an E.164 phone number"))?;
        if self.is_line(&number) {
            return Ok(false);
        }
        let id = uuid(&mut self.ids);
        self.lines.push(Line {
            id,
            phone_number: number,
        });
        Ok(true)
    }

    /// The service a handle is known to use, if the seed says.
    pub fn known_service(&self, handle: &str) -> Option<Service> {
        self.handle_services.get(handle).copied()
    }

    pub fn chat(&self, id: &str) -> Option<&ChatRecord> {
        self.index.get(id).map(|&i| &self.chats[i])
    }

    fn chat_index(&self, id: &str) -> Result<usize, ApiError> {
        self.index.get(id).copied().ok_or_else(|| ApiError::chat_not_found(id))
    }

    /// Landed active members other than your own line.
    pub fn members(&self, chat: &str) -> Option<BTreeSet<String>> {
        let chat = self.chat(chat)?;
        Some(
            chat.participants
                .iter()
                .filter(|p| !p.is_me && p.status == Status::Active)
                .map(|p| p.handle.clone())
                .collect(),
        )
    }

    /// What the sandbox holds of a chat, its icon and line included.
    pub fn details(&self, chat: &str) -> Option<ChatDetails> {
        let record = self.chat(chat)?;
        Some(ChatDetails {
            id: record.id.clone(),
            line: record.line.clone(),
            display_name: record.display_name.clone(),
            icon: record.icon.clone(),
            service: record.service.as_str().to_owned(),
            is_group: record.is_group,
            members: self.members(chat)?,
            pending: record.queue.len(),
        })
    }

    /// Changes accepted for `chat` that have not landed yet.
    pub fn pending(&self, chat: &str) -> Option<usize> {
        self.chat(chat).map(|c| c.queue.len())
    }

    /// The lowest and highest landed member count of `chat` so far.
    pub fn member_range(&self, chat: &str) -> Option<MemberRange> {
        self.chat(chat).map(|c| c.range)
    }

    /// Starts every chat's member range afresh at its landed count, so that the ranges tell of
    /// what happens from now on (say, roster's calls after drift made outside it).
    pub fn restart_member_ranges(&mut self) {
        for chat in &mut self.chats {
            chat.range = MemberRange::at(chat.member_count());
        }
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Checks an add against the landed membership and queues it to land at `due`.
    pub fn add(&mut self, chat: &str, handle: &str, due: Instant) -> Result<(), ApiError> {
        let (i, handle) = self.check_add(chat, handle)?;
        self.enqueue(i, Change::Add, handle, due);
        Ok(())
    }

    /// Checks an add as [`World::add`] does, without queueing it: the chat's index and the
    /// canonical handle.
    pub fn check_add(&self, chat: &str, handle: &str) -> Result<(usize, String), ApiError> {
        let i = self.chat_index(chat)?;
        let handle = canonical_handle(handle).ok_or_else(|| ApiError::invalid_handle(handle))?;
        let record = &self.chats[i];
        if !record.is_group {
            return Err(ApiError::direct_message());
        }
        if let Some(&service) = self.handle_services.get(&handle) {
            if service != record.service {
                return Err(ApiError::service_mismatch(&handle, service, record.service));
            }
        }
        if record.is_active(&handle) {
            return Err(ApiError::conflict(format!("`{handle}` is already a participant")));
        }
        if record.is_queued(Change::Add, &handle) {
            return Err(ApiError::conflict(format!("adding `{handle}` is already queued")));
        }
        let count = record.active_count();
        if count < MIN_PARTICIPANTS {
            return Err(ApiError::conflict(format!(
                "adding needs a group of {MIN_PARTICIPANTS} or more participants and this chat has {count}"
            )));
        }
        Ok((i, handle))
    }

    /// Checks a removal against the landed membership less the removals already queued, and
    /// queues it to land at `due`.
    pub fn remove(&mut self, chat: &str, handle: &str, due: Instant) -> Result<(), ApiError> {
        let (i, handle) = self.check_remove(chat, handle)?;
        self.enqueue(i, Change::Remove, handle, due);
        Ok(())
    }

    /// Checks a removal as [`World::remove`] does, without queueing it.
    pub fn check_remove(&self, chat: &str, handle: &str) -> Result<(usize, String), ApiError> {
        let i = self.chat_index(chat)?;
        let handle = canonical_handle(handle).ok_or_else(|| ApiError::invalid_handle(handle))?;
        let record = &self.chats[i];
        if !record.is_group {
            return Err(ApiError::direct_message());
        }
        if handle == record.line {
            return Err(ApiError::conflict(format!("`{handle}` is your own line")));
        }
        if !record.is_active(&handle) {
            return Err(ApiError::conflict(format!("`{handle}` is not a participant")));
        }
        if record.is_queued(Change::Remove, &handle) {
            return Err(ApiError::conflict(format!("removing `{handle}` is already queued")));
        }
        let after = (record.active_count() - record.queued_removals()).saturating_sub(1);
        if after < MIN_PARTICIPANTS {
            return Err(ApiError::conflict(format!(
                "removing `{handle}` would leave {after} participants and a group needs {MIN_PARTICIPANTS}"
            )));
        }
        Ok((i, handle))
    }

    fn enqueue(&mut self, chat: usize, change: Change, handle: String, due: Instant) {
        self.chats[chat].queue.push_back(Queued { change, handle, due });
        self.queued += 1;
    }

    /// Lands every queued change due by `now`, in the order of their landing times (which is
    /// the order they were accepted in, unless they were given scrambled times).
    pub fn land_due(&mut self, now: Instant) {
        self.land(now, false);
    }

    /// Lands every queued change at once, those not due yet as of `now`, in the order of their
    /// landing times.
    pub fn land_all(&mut self, now: Instant) {
        self.land(now, true);
    }

    fn land(&mut self, now: Instant, all: bool) {
        if self.queued == 0 {
            return;
        }
        for i in 0..self.chats.len() {
            // The earliest landing time first; of equal ones, the change accepted first.
            while let Some((at, _)) = (self.chats[i].queue.iter().enumerate())
                .filter(|(_, q)| all || q.due <= now)
                .min_by_key(|(at, q)| (q.due, *at))
            {
                let queued = self.chats[i].queue.remove(at).expect("position is in the queue");
                self.queued -= 1;
                let at = queued.due.min(now);
                match queued.change {
                    Change::Add => self.join(i, &queued.handle, at),
                    Change::Remove => self.depart(i, &queued.handle, Status::Removed, Cause::QueuedRemoval, at),
                }
            }
        }
    }

    /// Lands the queued change of `handle` in `chat` now, ahead of changes accepted before it:
    /// the worst order a queue that does not keep order could choose. False when no change of
    /// that handle is queued.
    pub fn land_ahead(&mut self, chat: &str, handle: &str, now: Instant) -> bool {
        let Some(&i) = self.index.get(chat) else {
            return false;
        };
        let handle = canonical_handle(handle).unwrap_or_else(|| handle.to_owned());
        let Some(at) = self.chats[i].queue.iter().position(|q| q.handle == handle) else {
            return false;
        };
        let queued = self.chats[i].queue.remove(at).expect("position is in the queue");
        self.queued -= 1;
        match queued.change {
            Change::Add => self.join(i, &queued.handle, now),
            Change::Remove => self.depart(i, &queued.handle, Status::Removed, Cause::QueuedRemoval, now),
        }
        true
    }

    /// A change made outside the API, applied at once.
    pub fn outside(&mut self, chat: &str, handle: &str, change: Outside, now: Instant) -> Result<(), String> {
        let i = self
            .index
            .get(chat)
            .copied()
            .ok_or_else(|| format!("no chat `{chat}`"))?;
        let handle = canonical_handle(handle)
            .ok_or_else(|| format!("`{handle}` is neither an E.164 phone number nor an email address"))?;
        if handle == self.chats[i].line {
            return Err(format!("`{handle}` is the chat's own line"));
        }
        match change {
            Outside::Add => self.join(i, &handle, now),
            Outside::Remove | Outside::Leave => {
                if !self.chats[i].is_active(&handle) {
                    return Err(format!("`{handle}` is not a participant of `{chat}`"));
                }
                let (status, cause) = match change {
                    Outside::Leave => (Status::Left, Cause::Left),
                    _ => (Status::Removed, Cause::OutsideRemoval),
                };
                self.depart(i, &handle, status, cause, now);
            }
        }
        Ok(())
    }

    /// Makes a chat of `line` (one of the partner's) with `to` (canonical, `line` not among
    /// them, none twice), every participant joined at `now`: a group for two or more, a direct
    /// chat for one. Its display name is the recipients' handles, comma-separated, as Linq's
    /// default. Returns its id.
    pub fn create(&mut self, line: &str, to: &[String], service: Service, now: Instant) -> String {
        let wall = self.wall(now);
        let id = uuid(&mut self.ids);
        let mut participants = Vec::with_capacity(to.len() + 1);
        for (handle, is_me) in std::iter::once((line, true)).chain(to.iter().map(|h| (h.as_str(), false))) {
            participants.push(Participant {
                id: uuid(&mut self.ids),
                handle: handle.to_owned(),
                service,
                is_me,
                status: Status::Active,
                joined_at: wall,
                left_at: None,
            });
        }
        self.index.insert(id.clone(), self.chats.len());
        self.chats.push(ChatRecord {
            id: id.clone(),
            line: line.to_owned(),
            display_name: Some(to.join(", ")),
            icon: None,
            service,
            is_group: to.len() > 1,
            created_at: wall,
            updated_at: wall,
            participants,
            range: MemberRange::at(to.len()),
            queue: VecDeque::new(),
        });
        if self.record_events {
            let chat = Box::new(self.chats.last().expect("just pushed").clone());
            self.events.push(Event::ChatCreated { chat });
        }
        id
    }

    /// The direct chat of `line` with `handle`, if there is one: a create to that one
    /// recipient goes there rather than making another.
    pub fn direct_chat(&self, line: &str, handle: &str) -> Option<&ChatRecord> {
        self.chats
            .iter()
            .find(|c| !c.is_group && c.line == line && c.is_active(handle))
    }

    /// Sends a message from `chat`'s line to its other active participants at `now`, and
    /// returns it as recorded.
    pub fn send(&mut self, chat: &str, content: Content, now: Instant) -> &Message {
        let wall = self.wall(now);
        let since = self.since_start(now);
        let id = uuid(&mut self.ids);
        let record = &self.chats[self.index[chat]];
        let to = (record.participants.iter())
            .filter(|p| !p.is_me && p.status == Status::Active)
            .map(|p| p.handle.clone())
            .collect();
        self.messages.push(Message {
            id,
            chat_id: chat.to_owned(),
            from: record.line.clone(),
            to,
            service: record.service.as_str().to_owned(),
            content,
            sent_at: wall,
            at: since,
        });
        self.messages.last().expect("just pushed")
    }

    /// Every message sent, in order.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// A message by id.
    pub fn message(&self, id: &str) -> Option<&Message> {
        self.messages.iter().rev().find(|m| m.id == id)
    }

    /// Sets a group chat's display name and icon through the API (`PUT /v3/chats/{id}`):
    /// `Some(None)` clears one, `None` leaves it. A direct chat cannot be updated (409 `1006`).
    pub fn update(&mut self, chat: &str, update: &Update, now: Instant) -> Result<(), ApiError> {
        let i = self.updatable(chat)?;
        let by = self.chats[i].participants.iter().find(|p| p.is_me).cloned();
        self.apply_update(i, update, by, now);
        Ok(())
    }

    /// An update the API accepted (`200`) that then fails, as Linq reports with
    /// `chat.group_name_update_failed` and `chat.group_icon_update_failed` (`error_code`):
    /// nothing changes. Returns the chat as the answer shows it, the update applied.
    pub fn update_fails(
        &mut self,
        chat: &str,
        update: &Update,
        error_code: u32,
        now: Instant,
    ) -> Result<ChatRecord, ApiError> {
        let i = self.updatable(chat)?;
        let mut answered = self.chats[i].clone();
        if let Some(name) = &update.display_name {
            answered.display_name.clone_from(name);
        }
        let at = self.wall(now);
        if self.record_events {
            let chat = chat.to_owned();
            if update.display_name.is_some() {
                self.events.push(Event::NameUpdateFailed {
                    chat: chat.clone(),
                    error_code,
                    at,
                });
            }
            if update.icon.is_some() {
                self.events.push(Event::IconUpdateFailed { chat, error_code, at });
            }
        }
        Ok(answered)
    }

    fn updatable(&self, chat: &str) -> Result<usize, ApiError> {
        let i = self.chat_index(chat)?;
        if !self.chats[i].is_group {
            return Err(ApiError::direct_message());
        }
        Ok(i)
    }

    /// Renames a chat or changes its icon at once, as someone outside the API would (drift).
    pub fn update_outside(&mut self, chat: &str, update: &Update, now: Instant) -> Result<(), String> {
        let i = (self.index.get(chat).copied()).ok_or_else(|| format!("no chat `{chat}`"))?;
        if !self.chats[i].is_group {
            return Err(format!("`{chat}` is a direct chat, whose name and icon cannot change"));
        }
        self.apply_update(i, update, None, now);
        Ok(())
    }

    /// Applies an update made by `by` (`None`: someone unknown, outside the API), recording an
    /// event for each value that changed.
    fn apply_update(&mut self, chat: usize, update: &Update, by: Option<Participant>, now: Instant) {
        let at = self.wall(now);
        let record = &mut self.chats[chat];
        let mut events = Vec::new();
        if let Some(name) = (update.display_name.as_ref()).filter(|name| **name != record.display_name) {
            let old = std::mem::replace(&mut record.display_name, name.clone());
            events.push(Event::NameUpdated {
                chat: record.id.clone(),
                old,
                new: name.clone(),
                by: by.clone(),
                at,
            });
        }
        if let Some(icon) = (update.icon.as_ref()).filter(|icon| **icon != record.icon) {
            let old = std::mem::replace(&mut record.icon, icon.clone());
            events.push(Event::IconUpdated {
                chat: record.id.clone(),
                old,
                new: icon.clone(),
                by,
                at,
            });
        }
        record.updated_at = at;
        if self.record_events {
            self.events.extend(events);
        }
    }

    /// Whether changes are recorded as [`Event`]s (for webhooks); off, nothing is kept.
    pub fn record_events(&mut self, on: bool) {
        self.record_events = on;
        if !on {
            self.events.clear();
        }
    }

    /// Takes the events recorded since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Whether events wait to be taken.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// When the next queued change is due to land, if any is queued.
    pub fn next_due(&self) -> Option<Instant> {
        if self.queued == 0 {
            return None;
        }
        self.chats.iter().flat_map(|c| c.queue.iter().map(|q| q.due)).min()
    }

    fn join(&mut self, chat: usize, handle: &str, at: Instant) {
        let wall = self.wall(at);
        let record = &mut self.chats[chat];
        if let Some(p) = record.participants.iter_mut().find(|p| p.handle == handle) {
            if p.status != Status::Active {
                p.status = Status::Active;
                p.joined_at = wall;
                p.left_at = None;
                let participant = p.clone();
                record.updated_at = wall;
                let count = record.member_count();
                record.range.include(count);
                if self.record_events {
                    self.events.push(Event::ParticipantAdded {
                        chat: record.id.clone(),
                        participant,
                        at: wall,
                    });
                }
            }
            return;
        }
        let id = uuid(&mut self.ids);
        let record = &mut self.chats[chat];
        record.participants.push(Participant {
            id,
            handle: handle.to_owned(),
            service: record.service,
            is_me: false,
            status: Status::Active,
            joined_at: wall,
            left_at: None,
        });
        record.updated_at = wall;
        let count = record.member_count();
        record.range.include(count);
        if self.record_events {
            let participant = record.participants.last().expect("just pushed").clone();
            self.events.push(Event::ParticipantAdded {
                chat: record.id.clone(),
                participant,
                at: wall,
            });
        }
    }

    fn depart(&mut self, chat: usize, handle: &str, status: Status, cause: Cause, at: Instant) {
        let wall = self.wall(at);
        let since = self.since_start(at);
        let record = &mut self.chats[chat];
        let Some(p) = record
            .participants
            .iter_mut()
            .find(|p| p.handle == handle && p.status == Status::Active)
        else {
            return;
        };
        p.status = status;
        p.left_at = Some(wall);
        if self.record_events {
            self.events.push(Event::ParticipantRemoved {
                chat: record.id.clone(),
                participant: p.clone(),
                at: wall,
            });
        }
        record.updated_at = wall;
        let members = record.member_count();
        record.range.include(members);
        let count = record.active_count();
        if record.is_group && count < MIN_PARTICIPANTS {
            self.violations.push(Violation {
                chat: record.id.clone(),
                participants: count,
                handle: handle.to_owned(),
                cause,
                at: since,
            });
        }
    }
}

/// A change the world recorded for a webhook: what happened and when, with the participant or
/// chat as it was right after.
#[derive(Debug, Clone)]
pub enum Event {
    /// A participant joined: an add landed, or someone was added outside the API.
    ParticipantAdded {
        chat: String,
        participant: Participant,
        at: SystemTime,
    },
    /// A participant left or was removed (a removal landed, or outside the API).
    ParticipantRemoved {
        chat: String,
        participant: Participant,
        at: SystemTime,
    },
    /// A chat was created through the API.
    ChatCreated { chat: Box<ChatRecord> },
    /// A group's display name changed; `by` is the participant who changed it, when known.
    NameUpdated {
        chat: String,
        old: Option<String>,
        new: Option<String>,
        by: Option<Participant>,
        at: SystemTime,
    },
    /// A group's icon changed.
    IconUpdated {
        chat: String,
        old: Option<String>,
        new: Option<String>,
        by: Option<Participant>,
        at: SystemTime,
    },
    /// A name update the API accepted failed.
    NameUpdateFailed {
        chat: String,
        error_code: u32,
        at: SystemTime,
    },
    /// An icon update the API accepted failed.
    IconUpdateFailed {
        chat: String,
        error_code: u32,
        at: SystemTime,
    },
}

/// A chat as the control API shows it: its line, name, icon (which Linq's `Chat` leaves out),
/// service, landed members (its line excluded) and queued changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatDetails {
    pub id: String,
    pub line: String,
    pub display_name: Option<String>,
    pub icon: Option<String>,
    pub service: String,
    pub is_group: bool,
    pub members: BTreeSet<String>,
    pub pending: usize,
}

/// What a message says, as its sender asked: text parts, and the options Linq's
/// `MessageContent` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Content {
    /// The text of each part, in order (the sandbox sends text parts only).
    pub parts: Vec<String>,
    /// `iMessage`, `RCS` or `SMS`, as asked.
    pub preferred_service: Option<String>,
    pub idempotency_key: Option<String>,
    pub effect: Option<Effect>,
}

/// An iMessage effect, as Linq's `MessageEffect` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effect {
    /// `screen` or `bubble`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `confetti`, `slam`, ...
    pub name: String,
}

/// A message the sandbox sent: who it reached, what it said, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: String,
    pub chat_id: String,
    /// The line that sent it.
    pub from: String,
    /// Whom it reached: the chat's other active participants when it was sent.
    pub to: Vec<String>,
    /// The chat's service, the one it went by.
    pub service: String,
    #[serde(flatten)]
    pub content: Content,
    #[serde(skip)]
    pub sent_at: SystemTime,
    /// When it was sent, since the sandbox started.
    #[serde(rename = "at_ms", with = "crate::millis")]
    pub at: Duration,
}

/// A change of a chat's display name and icon: for each, `None` to leave it, `Some(None)` to
/// clear it, `Some(Some(value))` to set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub display_name: Option<Option<String>>,
    pub icon: Option<Option<String>>,
}

/// Drift made outside the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    Add,
    Remove,
    Leave,
}

/// A random version-4 UUID from `rng`, so that ids are reproducible for a seed.
pub(crate) fn uuid(rng: &mut fastrand::Rng) -> String {
    let mut bits = rng.u128(..);
    bits = (bits & !(0xf << 76)) | (0x4 << 76);
    bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{Seed, SeedChat};

    const CHAT: &str = "550e8400-e29b-41d4-a716-446655440000";

    fn world(members: &[&str]) -> (World, Instant) {
        let seed = Seed {
            token: "t".into(),
            me: "+12055550100".into(),
            chats: vec![SeedChat::group(CHAT, members)],
            handle_services: Default::default(),
        };
        let now = Instant::now();
        (World::new(&seed.validated().unwrap(), now, SystemTime::now()), now)
    }

    #[test]
    fn uuids_are_version_4() {
        let id = uuid(&mut fastrand::Rng::with_seed(1));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn removals_count_those_already_queued() {
        let (mut w, now) = world(&["+12055550101", "+12055550102", "+12055550103"]);
        w.remove(CHAT, "+12055550101", now).unwrap();
        let err = w.remove(CHAT, "+12055550102", now).unwrap_err();
        assert_eq!((err.status, err.code), (409, 2015));
        w.land_due(now);
        assert_eq!(w.members(CHAT).unwrap().len(), 2);
        assert!(w.violations().is_empty());
    }

    #[test]
    fn queued_changes_land_in_order_once_due() {
        let (mut w, now) = world(&["+12055550101", "+12055550102"]);
        let later = now + Duration::from_secs(5);
        w.add(CHAT, "+12055550103", later).unwrap();
        w.land_due(now);
        assert_eq!(w.pending(CHAT), Some(1));
        assert!(!w.members(CHAT).unwrap().contains("+12055550103"));
        w.land_due(later);
        assert_eq!(w.pending(CHAT), Some(0));
        assert!(w.members(CHAT).unwrap().contains("+12055550103"));
    }

    #[test]
    fn queued_changes_land_in_the_order_of_their_landing_times() {
        let (mut w, now) = world(&["+12055550101", "+12055550102", "+12055550103"]);
        let (soon, later) = (now + Duration::from_secs(1), now + Duration::from_secs(5));
        w.add(CHAT, "+12055550104", later).unwrap();
        w.remove(CHAT, "+12055550101", soon).unwrap();
        w.land_due(soon);
        assert_eq!(w.pending(CHAT), Some(1), "the remove, accepted second, landed first");
        assert!(!w.members(CHAT).unwrap().contains("+12055550101"));
        assert!(!w.members(CHAT).unwrap().contains("+12055550104"));
        assert_eq!(
            w.member_range(CHAT).unwrap().lowest,
            2,
            "the chat dipped before the add landed"
        );
        w.land_all(now);
        assert!(w.members(CHAT).unwrap().contains("+12055550104"));
    }

    #[test]
    fn member_ranges_follow_every_landing() {
        let (mut w, now) = world(&["+12055550101", "+12055550102", "+12055550103"]);
        let at = |w: &World| w.member_range(CHAT).map(|r| (r.lowest, r.highest));
        assert_eq!(at(&w), Some((3, 3)));
        w.add(CHAT, "+12055550104", now).unwrap();
        w.add(CHAT, "+12055550105", now).unwrap();
        w.land_due(now);
        assert_eq!(at(&w), Some((3, 5)));
        w.remove(CHAT, "+12055550101", now).unwrap();
        w.remove(CHAT, "+12055550102", now).unwrap();
        w.remove(CHAT, "+12055550103", now).unwrap();
        w.land_due(now);
        assert_eq!(at(&w), Some((2, 5)), "your own line is not a member");
        assert!(w.violations().is_empty(), "3 participants is still a group");
        w.restart_member_ranges();
        assert_eq!(at(&w), Some((2, 2)));
    }

    #[test]
    fn a_change_can_land_ahead_of_one_accepted_before_it() {
        let (mut w, now) = world(&["+12055550101", "+12055550102", "+12055550103"]);
        let later = now + Duration::from_secs(60);
        w.add(CHAT, "+12055550104", later).unwrap();
        w.remove(CHAT, "+12055550101", later).unwrap();
        assert!(w.land_ahead(CHAT, "+12055550101", now));
        assert!(!w.land_ahead(CHAT, "+12055550101", now), "landed once");
        assert_eq!(w.members(CHAT).unwrap().len(), 2);
        assert_eq!(w.pending(CHAT), Some(1));
        w.land_due(later);
        assert_eq!(w.member_range(CHAT).map(|r| (r.lowest, r.highest)), Some((2, 3)));
    }

    #[test]
    fn leaving_a_three_person_group_is_a_violation() {
        let (mut w, now) = world(&["+12055550101", "+12055550102"]);
        w.outside(CHAT, "+12055550101", Outside::Leave, now).unwrap();
        assert_eq!(w.violations().len(), 1);
        assert_eq!(w.violations()[0].participants, 2);
        assert_eq!(w.violations()[0].cause, Cause::Left);
        let status = w.chat(CHAT).unwrap().participants[1].status;
        assert_eq!(status, Status::Left);
    }
}
