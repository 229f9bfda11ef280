//! Did this change land? Every answer is decided here, from what roster knew of the change
//! before it read the chat ([`Known`]) and what the read found ([`Seen`]), by [`landing`].
//!
//! The rules, one per case:
//!
//! 1. A change the chat shows has landed, whatever roster knew of it: an accepted change is no
//!    longer pending, and a call of unknown outcome or refused as conflicting took effect after
//!    all (it is "already so").
//! 2. A change Linq accepted that the chat does not show is pending: Linq queues changes and
//!    applies them later. Once overdue (past `--pending-timeout`) it never landed, and is not
//!    made (rule 4 of [`crate::state::pending`]). A chat that could not be read, or is gone,
//!    tells nothing: the change stays pending.
//! 3. A call of unknown outcome (its answers lost, a server fault) that the chat does not show,
//!    or whose chat could not be read, stays unknown: the next run settles it from the journal.
//! 4. A call refused as conflicting with the chat (`409 2015`) right after an attempt of
//!    unknown outcome, and not shown: that attempt queued it, and it is pending. If the chat
//!    could not be read, it stays unknown.
//! 5. A call refused as conflicting with no earlier doubt, and not shown, was refused: the
//!    `409` stands. So it does when the chat could not be read.
//! 6. A call an interrupted run left open in the journal that its chat does not show within
//!    the grace period, or whose chat is gone (`404`), was not made. If the chat could not be
//!    read, it stays unknown, and the journal is kept for a later attempt.
//!
//! [`resolve`] applies rules 1, 3, 4 and 5 to Linq's answer to an add or a remove, reading the
//! chat when the answer leaves the outcome open; apply reads its chats back (rules 1 to 3),
//! [`super::settle`] the journal's calls (rules 1 and 6), and [`never_landed`] finds the
//! overdue changes a chat does not show (rule 2).

use crate::handle::Handle;
use crate::linq::{Accepted, AcceptedVia, ChangeAnswer, Chat, Client, LinqError};
use crate::members::Members;
use crate::op::Op;
use crate::state::{PendingChange, PendingChanges, PendingTimeout};

/// What roster knew of a change before it read the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Linq accepted it; `overdue` once `--pending-timeout` passed since.
    Accepted { overdue: bool },
    /// Its call may or may not have taken effect.
    Unknown,
    /// Its call was refused as conflicting with the chat (`409 2015`); `after_unknown` when an
    /// attempt of unknown outcome came before.
    Conflict { after_unknown: bool },
    /// An interrupted run journaled its call and no outcome; the chat is read after the grace
    /// period.
    Unsettled,
}

/// What a read of the chat found about a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The chat shows it: Linq applied it.
    Shows,
    /// The chat does not show it.
    NotShown,
    /// Linq no longer knows the chat (`404`).
    Gone,
    /// The read failed otherwise.
    Unread,
}

impl Seen {
    /// What `chat`, as read, shows of `op` on `handle`.
    pub fn in_chat(chat: &Chat, op: Op, handle: &Handle) -> Seen {
        Seen::shown(chat.shows(op, handle))
    }

    /// What a chat whose live members are `members` shows of `op` on `handle`.
    pub fn in_members(members: &Members, op: Op, handle: &Handle) -> Seen {
        Seen::shown(op.shows_in(members, handle))
    }

    /// What a read of the chat, successful or not, found of `op` on `handle`.
    pub fn of_read(read: &Result<Chat, LinqError>, op: Op, handle: &Handle) -> Seen {
        match read {
            Ok(chat) => Seen::in_chat(chat, op, handle),
            Err(error) => Seen::of_failure(error),
        }
    }

    /// What a read of the chat that failed with `error` found: the chat gone (`404`), or
    /// nothing.
    pub fn of_failure(error: &LinqError) -> Seen {
        if error.status() == Some(404) {
            Seen::Gone
        } else {
            Seen::Unread
        }
    }

    fn shown(shows: bool) -> Seen {
        if shows {
            Seen::Shows
        } else {
            Seen::NotShown
        }
    }
}

/// Whether a change landed, as far as a read can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// It took effect.
    Landed,
    /// Linq accepted it and it has not shown yet: waited for, and kept as pending.
    Pending,
    /// It did not take effect, and will not: the next plan makes it again if still wanted.
    NotMade,
    /// Linq refused it.
    Refused,
    /// Nobody can tell yet: the next run settles it by reading the chat.
    Unknown,
}

/// The rules of the module doc, one arm each.
pub fn landing(known: Known, seen: Seen) -> Landing {
    match (known, seen) {
        // Rule 1.
        (_, Seen::Shows) => Landing::Landed,
        // Rule 2.
        (Known::Accepted { overdue: true }, Seen::NotShown) => Landing::NotMade,
        (Known::Accepted { .. }, _) => Landing::Pending,
        // Rule 3.
        (Known::Unknown, _) => Landing::Unknown,
        // Rule 4.
        (Known::Conflict { after_unknown: true }, Seen::NotShown) => Landing::Pending,
        (Known::Conflict { after_unknown: true }, _) => Landing::Unknown,
        // Rule 5.
        (Known::Conflict { after_unknown: false }, _) => Landing::Refused,
        // Rule 6.
        (Known::Unsettled, Seen::NotShown | Seen::Gone) => Landing::NotMade,
        (Known::Unsettled, Seen::Unread) => Landing::Unknown,
    }
}

/// Whether Linq accepted an add or a remove, from its `answer` (see [`Client::change`]):
/// a `202` was; when the answer leaves the outcome open (a conflict, failures that may have
/// taken effect), the chat is read and [`landing`] decides. A change the chat shows is
/// accepted as [`AcceptedVia::AlreadySo`], one an earlier attempt queued as
/// [`AcceptedVia::EarlierAttempt`]; otherwise the error says why not, and an outcome still
/// open is a [`LinqError::OutcomeUnknown`].
pub async fn resolve(
    client: &Client,
    op: Op,
    chat: &str,
    handle: &Handle,
    answer: Result<ChangeAnswer, LinqError>,
) -> Result<Accepted, LinqError> {
    let (known, call) = match answer? {
        ChangeAnswer::Accepted { trace_id } => {
            return Ok(Accepted {
                trace_id,
                via: AcceptedVia::Answer,
            })
        }
        ChangeAnswer::Conflict { error, after_unknown } => (Known::Conflict { after_unknown }, error),
        ChangeAnswer::Unknown { last } => (Known::Unknown, last),
    };
    let read = client.get_chat(chat).await;
    let via = |via| Ok(Accepted { trace_id: None, via });
    match landing(known, Seen::of_read(&read, op, handle)) {
        Landing::Landed => via(AcceptedVia::AlreadySo),
        Landing::Pending => via(AcceptedVia::EarlierAttempt),
        Landing::Unknown => Err(LinqError::OutcomeUnknown {
            last: Box::new(reported(call, read)),
        }),
        Landing::Refused | Landing::NotMade => Err(reported(call, read)),
    }
}

/// The error to report for a call whose chat was read to settle it: the read's when Linq
/// refused the token (the run halts for it), else the call's.
fn reported(call: LinqError, read: Result<Chat, LinqError>) -> LinqError {
    match read {
        Err(read) if read.is_unauthorized() => read,
        _ => call,
    }
}

/// The overdue changes of `pending` that a chat with live `members` does not show: accepted by
/// Linq but never landed (rule 2).
pub fn never_landed(pending: &PendingChanges, members: &Members, timeout: &PendingTimeout) -> Vec<PendingChange> {
    pending
        .list(timeout)
        .into_iter()
        .filter(|change| {
            let known = Known::Accepted {
                overdue: change.overdue,
            };
            landing(known, Seen::in_members(members, change.op, &change.handle)) == Landing::NotMade
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::Timestamp;
    use crate::op::Op;
    use crate::state::ChatState;

    fn h(text: &str) -> Handle {
        Handle::parse(text).unwrap()
    }

    fn at(seconds: u64) -> Option<Timestamp> {
        Some(Timestamp::from_unix(seconds))
    }

    #[test]
    fn only_overdue_changes_the_chat_does_not_show_never_landed_and_dropping_undoes_them() {
        let timeout = PendingTimeout {
            now: Timestamp::from_unix(10_000),
            timeout: Duration::from_secs(60),
        };
        let mut chat = ChatState {
            members: [
                h("+15550000001"),
                h("+15550000002"),
                h("+15550000003"),
                h("+15550000004"),
            ]
            .into(),
            ..ChatState::default()
        };
        // Overdue and not shown: never landed. Overdue and shown: landed. Recent: still pending.
        chat.pending.record(Op::Add, &h("+15550000003"), at(100));
        chat.pending.record(Op::Add, &h("+15550000004"), None);
        chat.pending.record(Op::Remove, &h("+15550000009"), at(100));
        chat.pending.record(Op::Add, &h("+15550000002"), at(9_990));
        let live: Members = [h("+15550000001"), h("+15550000004"), h("+15550000009")].into();
        let never = never_landed(&chat.pending, &live, &timeout);
        let listed: Vec<(Op, String)> = never.iter().map(|c| (c.op, c.handle.to_string())).collect();
        assert_eq!(
            listed,
            [
                (Op::Add, "+15550000003".to_owned()),
                (Op::Remove, "+15550000009".to_owned())
            ]
        );
        chat.drop_never_landed(&never);
        let members: Vec<String> = chat.members.iter().map(Handle::to_string).collect();
        assert_eq!(
            members,
            ["+15550000001", "+15550000002", "+15550000004", "+15550000009"]
        );
        assert_eq!(
            chat.pending.len(),
            2,
            "the landed and the recent change stay until a read ends them"
        );
    }

    /// One row per rule of the module doc, and every pair of what was known and what was seen.
    #[test]
    fn each_rule_decides_its_cases() {
        use Landing::*;
        use Seen::*;
        let accepted = Known::Accepted { overdue: false };
        let overdue = Known::Accepted { overdue: true };
        let after_doubt = Known::Conflict { after_unknown: true };
        let conflict = Known::Conflict { after_unknown: false };
        let table = [
            // (known, [shows, not shown, gone, unread])
            (accepted, [Landed, Pending, Pending, Pending]),
            (overdue, [Landed, NotMade, Pending, Pending]),
            (Known::Unknown, [Landed, Unknown, Unknown, Unknown]),
            (after_doubt, [Landed, Pending, Unknown, Unknown]),
            (conflict, [Landed, Refused, Refused, Refused]),
            (Known::Unsettled, [Landed, NotMade, NotMade, Unknown]),
        ];
        for (known, landings) in table {
            for (seen, expected) in [Shows, NotShown, Gone, Unread].into_iter().zip(landings) {
                assert_eq!(landing(known, seen), expected, "{known:?} {seen:?}");
            }
        }
    }
}

/// [`resolve`] against a scripted server: Linq's answer to an add or a remove, and the read of
/// the chat when the answer leaves the outcome open.
#[cfg(test)]
mod resolve_tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::http::Method;
    use serde_json::{json, Value};

    use super::resolve;
    use crate::handle::Handle;
    use crate::linq::http_tests::{accepted, chat, envelope, handle, Reply, Seen, Server};
    use crate::linq::{Accepted, AcceptedVia, Client, LinqError};
    use crate::op::Op;

    async fn add(client: &Client, id: &str, handle: &Handle) -> Result<Accepted, LinqError> {
        let answer = client.add_participant(id, handle).await;
        resolve(client, Op::Add, id, handle, answer).await
    }

    async fn remove(client: &Client, id: &str, handle: &Handle) -> Result<Accepted, LinqError> {
        let answer = client.remove_participant(id, handle).await;
        resolve(client, Op::Remove, id, handle, answer).await
    }

    #[tokio::test]
    async fn remove_sends_a_json_body_on_delete() {
        let server = Server::start(|_| Reply::Json(202, accepted("Participant removal queued"))).await;
        let got = remove(&server.client(), "c1", &handle("Ann@Example.com"))
            .await
            .unwrap();
        assert_eq!(
            got,
            Accepted {
                trace_id: Some("trace-ok".into()),
                via: AcceptedVia::Answer
            }
        );
        let seen = server.seen();
        assert_eq!(seen[0].method, Method::DELETE);
        assert_eq!(seen[0].path_and_query, "/api/partner/v3/chats/c1/participants");
        assert_eq!(
            serde_json::from_str::<Value>(&seen[0].body).unwrap(),
            json!({"handle": "ann@example.com"})
        );
    }

    #[tokio::test]
    async fn a_timed_out_add_then_a_duplicate_counts_as_the_earlier_attempt() {
        // The first attempt is received (and, on a real server, queued) but answered too late;
        // the retry is refused as a duplicate; the chat does not show the add yet.
        let server = Server::start(
            |seen: &Seen| match (seen.method.as_str(), seen.path_and_query.as_str()) {
                ("GET", _) => Reply::Json(200, chat("c1", &["+15550000001", "+15550000002"])),
                _ => Reply::Json(409, envelope(409, 2015, "Operation conflicts with current state")),
            },
        )
        .await;
        let first = Arc::new(Mutex::new(true));
        let slow = Server::start(move |seen: &Seen| {
            let mut first = first.lock().unwrap();
            if std::mem::take(&mut *first) {
                // Answered long after the client gave up, however slow the machine.
                Reply::Slow(Duration::from_secs(600), 202, accepted("Participant addition queued"))
            } else if seen.method == Method::GET {
                Reply::Json(200, chat("c1", &["+15550000001", "+15550000002"]))
            } else {
                Reply::Json(409, envelope(409, 2015, "Operation conflicts with current state"))
            }
        })
        .await;
        let got = add(
            &slow.client_with_timeout(Duration::from_millis(400)),
            "c1",
            &handle("+15550000003"),
        )
        .await
        .unwrap();
        assert_eq!(got.via, AcceptedVia::EarlierAttempt);
        let methods: Vec<_> = slow.seen().iter().map(|s| s.method.to_string()).collect();
        assert_eq!(methods, ["POST", "POST", "GET"]);

        // Without an earlier doubtful attempt, the same duplicate answer is a plain failure...
        let err = add(&server.client(), "c1", &handle("+15550000003")).await.unwrap_err();
        assert_eq!(err.code(), Some(2015));
        assert!(!err.may_have_taken_effect());
        // ...unless the chat shows the change is already so.
        let got = add(&server.client(), "c1", &handle("+15550000002")).await.unwrap();
        assert_eq!(
            got,
            Accepted {
                trace_id: None,
                via: AcceptedVia::AlreadySo
            }
        );
        let got = remove(&server.client(), "c1", &handle("+15550000009")).await.unwrap();
        assert_eq!(got.via, AcceptedVia::AlreadySo);
    }

    #[tokio::test]
    async fn server_errors_on_an_add_leave_the_outcome_unknown_unless_the_chat_shows_it() {
        let server = Server::start(|seen: &Seen| match seen.method.as_str() {
            "GET" => Reply::Json(200, chat("c1", &["+15550000001", "+15550000002"])),
            _ => Reply::Json(500, envelope(500, 3000, "Internal error")),
        })
        .await;
        let err = add(&server.client(), "c1", &handle("+15550000003")).await.unwrap_err();
        assert!(matches!(err, LinqError::OutcomeUnknown { .. }), "{err:?}");
        assert!(err.may_have_taken_effect());
        assert_eq!(err.status(), Some(500));
        let posts = server.seen().iter().filter(|s| s.method == Method::POST).count();
        assert_eq!(posts, 4);
        // The change is visible: then it took effect after all.
        let got = add(&server.client(), "c1", &handle("+15550000002")).await.unwrap();
        assert_eq!(got.via, AcceptedVia::AlreadySo);
    }
}
