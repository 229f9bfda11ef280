//! Did this create make its chat? Decided here, for a create whose answer was lost (a timeout,
//! a `5xx` after the send, a dropped connection, a `kill -9` before its outcome was journaled),
//! by looking for the chat it would have made: `GET /v3/chats?from=LINE`, newest first, back to
//! the create's intent ([`find_created`]).
//!
//! What the search lists is sorted by [`search`] and the outcome decided by [`settle_create`],
//! both pure. The rules, one per case:
//!
//! 1. A chat is *the create's* when it was made from the create's line at or after its intent
//!    (less [`CLOCK_ALLOWANCE`], for Linq's clock and roster's), the state knows it as no other
//!    chat, it is a group, and its participants (whatever their status) are the line and
//!    exactly the members. It *may be* the create's when it holds the line and every member
//!    and others besides (someone added since).
//! 2. Exactly one chat is the create's, and none other may be: that chat is bound to the key.
//! 3. None is or may be, and the search read back to a chat older than the intent or to the
//!    end of the list: the create made nothing, and is sent again, with the same idempotency
//!    key (so that a Linq that honours it still makes one chat if the search was wrong).
//! 4. More than one is or may be: ambiguous. Not settled: no chat is bound, nothing is sent.
//! 5. The search failed (a read error, a listing it cannot vouch for): not settled.
//!
//! A create not settled keeps its intent in the journal; its chat's other steps wait and the
//! run exits non-zero, saying so, while other chats go on. The next run searches again.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::handle::Handle;
use crate::linq::{Chat, Client, LinqError};
use crate::state::CreateIntent;

/// How much earlier than the intent a chat may be listed as made and still be the create's:
/// Linq's clock and roster's disagree by seconds, rarely more. A chat of someone else's with
/// the same line and members made in that window makes the search ambiguous (rule 4), which
/// costs a run; missing the create's own chat would cost a second chat.
pub const CLOCK_ALLOWANCE: Duration = Duration::from_secs(300);

/// What the listing holds for one create (rule 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// Chats that are the create's, as listed.
    pub exact: Vec<Chat>,
    /// Chats that may be: the line, every member, and others.
    pub near: Vec<Chat>,
}

/// How a create whose answer was lost is settled.
#[derive(Debug, Clone)]
pub enum CreateLanding {
    /// Rule 2: the create made this chat, as the search listed it.
    Made(Box<Chat>),
    /// Rule 3: it made nothing; send it again, with the same idempotency key.
    NotMade,
    /// Rules 4 and 5: nobody can tell yet.
    NotSettled(NotSettled),
}

/// Why a create is not settled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotSettled {
    /// Several chats are, or may be, the create's.
    #[error("{} chats made from `{from}` since the create may be its chat: {}", .chats.len(), crate::escape::code_list(.chats))]
    Ambiguous { from: Handle, chats: Vec<String> },
    /// The search for the chat failed.
    #[error("the search for the chat it may have made failed: {0}")]
    SearchFailed(LinqError),
}

/// Sorts `listed` (the chats of the create's line made since its intent, as
/// [`Client::chats_created_since`] answers) by rule 1; `known` are the chats the state holds,
/// none of which is a new chat.
pub fn search(intent: &CreateIntent, listed: &[Chat], known: &BTreeSet<String>) -> Search {
    let members: BTreeSet<&Handle> = intent.members.iter().collect();
    let since = intent.at.before(CLOCK_ALLOWANCE);
    let mut found = Search {
        exact: Vec::new(),
        near: Vec::new(),
    };
    for chat in listed {
        if known.contains(&chat.id) || chat.created_at.is_none_or(|at| at < since) {
            continue;
        }
        if !chat.handles.iter().any(|h| h.is_me && h.handle == intent.from) {
            continue;
        }
        let others: BTreeSet<&Handle> = (chat.handles.iter()).filter(|h| !h.is_me).map(|h| &h.handle).collect();
        if others == members && chat.is_group {
            found.exact.push(chat.clone());
        } else if others.is_superset(&members) {
            found.near.push(chat.clone());
        }
    }
    found
}

/// Rules 2 to 5: what a search, done or failed, says of the create.
pub fn settle_create(intent: &CreateIntent, searched: Result<Search, LinqError>) -> CreateLanding {
    let found = match searched {
        Ok(found) => found,
        Err(error) => return CreateLanding::NotSettled(NotSettled::SearchFailed(error)),
    };
    match (found.exact.as_slice(), found.near.as_slice()) {
        ([chat], []) => CreateLanding::Made(Box::new(chat.clone())),
        ([], []) => CreateLanding::NotMade,
        _ => CreateLanding::NotSettled(NotSettled::Ambiguous {
            from: intent.from.clone(),
            chats: found.exact.into_iter().chain(found.near).map(|chat| chat.id).collect(),
        }),
    }
}

/// Looks for the chat `intent` may have made, and decides ([`search`], [`settle_create`]).
/// `known` are the chats the state holds.
pub async fn find_created(client: &Client, intent: &CreateIntent, known: &BTreeSet<String>) -> CreateLanding {
    let since = intent.at.before(CLOCK_ALLOWANCE);
    let listed = client.chats_created_since(&intent.from, since).await;
    settle_create(intent, listed.map(|listed| search(intent, &listed, known)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::Timestamp;

    fn h(text: &str) -> Handle {
        Handle::parse(text).unwrap()
    }

    const LINE: &str = "+15550000000";
    /// The intent's time: 2026-01-05T09:30:00Z.
    const AT: u64 = 1_767_605_400;

    fn intent() -> CreateIntent {
        CreateIntent {
            id: 1,
            key: "support".into(),
            from: h(LINE),
            members: vec![h("+15550000001"), h("+15550000002")],
            idempotency_key: "roster-x".into(),
            at: Timestamp::from_unix(AT),
        }
    }

    /// A chat of `line` made `offset` seconds after the intent, with `others` besides the line
    /// (`"+1555…:left"` for one who left).
    fn listed(id: &str, line: &str, offset: i64, others: &[&str]) -> Chat {
        let at = Timestamp::from_unix(AT.checked_add_signed(offset).unwrap());
        let mut handles = vec![json!({"handle": line, "is_me": true})];
        for other in others {
            let (handle, status) = other.split_once(':').unwrap_or((other, "active"));
            handles.push(json!({"handle": handle, "status": status}));
        }
        let body = json!({"id": id, "display_name": null, "is_group": others.len() > 1, "handles": handles,
                          "created_at": serde_json::to_value(at).unwrap()});
        Chat::parse(body.to_string().as_bytes()).unwrap()
    }

    /// [`listed`], a group whatever its participants (as Linq lists a chat made as a group).
    fn listed_at(id: &str, line: &str, offset: i64, others: &[&str]) -> Chat {
        let mut chat = listed(id, line, offset, others);
        chat.is_group = true;
        chat
    }

    fn settled(chats: &[Chat], known: &[&str]) -> CreateLanding {
        let known = known.iter().map(|k| k.to_string()).collect();
        settle_create(&intent(), Ok(search(&intent(), chats, &known)))
    }

    const BOTH: &[&str] = &["+15550000001", "+15550000002"];

    #[test]
    fn the_one_chat_of_the_line_and_exactly_the_members_made_since_the_intent_is_the_create_s() {
        let chats = [
            listed("other-line", "+15550000099", 5, BOTH),
            listed("ours", LINE, 2, BOTH),
            listed("fewer", LINE, 1, &["+15550000001", "+15550000003"]),
            // Just inside the allowance for clocks, and well before it.
            listed("old", LINE, -400, BOTH),
        ];
        assert!(matches!(settled(&chats, &[]), CreateLanding::Made(chat) if chat.id == "ours"));
        // Someone who left since is still listed: still exactly the members.
        let left = [listed("ours", LINE, 2, &["+15550000001", "+15550000002:left"])];
        assert!(matches!(settled(&left, &[]), CreateLanding::Made(chat) if chat.id == "ours"));
        let skewed = [listed("ours", LINE, -200, BOTH)];
        assert!(matches!(settled(&skewed, &[]), CreateLanding::Made(_)));
    }

    #[test]
    fn nothing_that_is_or_may_be_the_create_s_means_it_made_nothing() {
        assert!(matches!(settled(&[], &[]), CreateLanding::NotMade));
        let chats = [
            listed("old", LINE, -400, BOTH),
            listed("fewer", LINE, 1, &["+15550000001", "+15550000003"]),
            // The state's own chat with the same members is not a new one.
            listed("known", LINE, 3, BOTH),
        ];
        assert!(matches!(settled(&chats, &["known"]), CreateLanding::NotMade));
    }

    #[test]
    fn two_candidates_or_one_with_others_besides_is_not_settled() {
        let two = [listed("a", LINE, 1, BOTH), listed("b", LINE, 2, BOTH)];
        let CreateLanding::NotSettled(why) = settled(&two, &[]) else {
            panic!("two chats are ambiguous")
        };
        assert_eq!(
            why.to_string(),
            "2 chats made from `+15550000000` since the create may be its chat: `a`, `b`"
        );
        let grown = [listed("a", LINE, 1, &["+15550000001", "+15550000002", "+15550000003"])];
        assert!(matches!(settled(&grown, &[]), CreateLanding::NotSettled(_)));
        let both = [grown[0].clone(), listed("b", LINE, 2, BOTH)];
        assert!(matches!(settled(&both, &[]), CreateLanding::NotSettled(_)));
    }

    #[test]
    fn a_failed_search_is_not_settled() {
        let error = LinqError::Protocol {
            status: 200,
            message: "the list is not newest first".into(),
        };
        let CreateLanding::NotSettled(why) = settle_create(&intent(), Err(error)) else {
            panic!("a failed search settles nothing")
        };
        assert!(why
            .to_string()
            .contains("the search for the chat it may have made failed"));
    }

    /// One listed chat, drawn: whose line, when made, its participants among four handles
    /// (the members are the first two), whether the state knows it.
    fn drawn() -> impl proptest::strategy::Strategy<Value = (bool, i64, Vec<bool>, bool, bool)> {
        use proptest::prelude::*;
        (
            any::<bool>(),
            -700i64..700,
            proptest::collection::vec(any::<bool>(), 4),
            any::<bool>(),
            any::<bool>(),
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Whatever the listing: a chat is bound only when it is the one chat of the line made
        /// since the intent (less the allowance), unknown, with exactly the members, and no
        /// other such chat holds every member; the create is sent again only when no chat of
        /// the line made since, unknown, holds every member. Checked against the rules stated
        /// afresh, not against `search`.
        #[test]
        fn a_create_is_bound_or_sent_again_only_when_the_listing_says_so(
            chats in proptest::collection::vec(drawn(), 0..6)
        ) {
            let handles = ["+15550000001", "+15550000002", "+15550000003", "ann@example.com"];
            let mut listed = Vec::new();
            let mut known = BTreeSet::new();
            for (n, (ours, offset, holds, is_known, left)) in chats.iter().enumerate() {
                let others: Vec<String> = (handles.iter().zip(holds))
                    .filter(|(_, held)| **held)
                    .enumerate()
                    .map(|(i, (h, _))| if *left && i == 0 { format!("{h}:left") } else { h.to_string() })
                    .collect();
                let others: Vec<&str> = others.iter().map(String::as_str).collect();
                let line = if *ours { LINE } else { "+15550000099" };
                listed.push(listed_at(&format!("c{n}"), line, *offset, &others));
                if *is_known {
                    known.insert(format!("c{n}"));
                }
            }
            let may_be = |(ours, offset, holds, is_known, _): &(bool, i64, Vec<bool>, bool, bool)| {
                *ours && *offset >= -300 && !is_known && holds[0] && holds[1]
            };
            let is = |chat: &(bool, i64, Vec<bool>, bool, bool)| may_be(chat) && !chat.2[2] && !chat.2[3];
            let landing = settle_create(&intent(), Ok(search(&intent(), &listed, &known)));
            match landing {
                CreateLanding::Made(chat) => {
                    let n: usize = chat.id[1..].parse().unwrap();
                    proptest::prop_assert!(is(&chats[n]));
                    proptest::prop_assert_eq!(chats.iter().filter(|c| may_be(c)).count(), 1);
                }
                CreateLanding::NotMade => proptest::prop_assert!(!chats.iter().any(may_be)),
                CreateLanding::NotSettled(_) => {
                    let candidates = chats.iter().filter(|c| may_be(c)).count();
                    proptest::prop_assert!(candidates > 1 || (candidates == 1 && !chats.iter().any(is)));
                }
            }
        }
    }
}
