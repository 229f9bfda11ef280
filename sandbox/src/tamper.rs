//! Scripted breaches of Linq's contract, one chat at a time, so that tests can prove what a
//! client refuses: answers with fields dropped or broken, another chat's id, oversized bodies,
//! redirects, and chosen error answers (such as 409 `2013`, "this chat is unavailable").
//!
//! Set with [`crate::Sandbox::tamper`] or `POST /_sandbox/chats/{id}/tamper` (the JSON form of
//! [`Tamper`]), cleared with [`crate::Sandbox::untamper`] or `DELETE` on the same path. A
//! tampered request is logged with [`crate::Fault::Tampered`] and applies nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How one chat's answers break the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Tamper {
    /// The chat's JSON is edited wherever it is answered (`GET /v3/chats/{id}` and pages of
    /// `GET /v3/chats`), after the rules ran: participant calls are not affected.
    Edit { edits: Vec<Edit> },
    /// The chat's requests of `calls` are answered with this error in Linq's envelope.
    Fail {
        status: u16,
        code: u32,
        message: String,
        #[serde(default)]
        calls: Calls,
    },
    /// The chat's requests of `calls` are answered `status` with `Location: location` and an
    /// empty body.
    Redirect {
        status: u16,
        location: String,
        #[serde(default)]
        calls: Calls,
    },
    /// `GET /v3/chats/{id}` answers the chat padded with whitespace to `bytes` in all (still
    /// valid JSON), streamed in chunks without a `Content-Length`, never held in memory whole.
    Oversize { bytes: u64 },
    /// `PUT /v3/chats/{id}` answers `200` with the chat as updated, but nothing changes: the
    /// update fails afterwards, as Linq reports with `chat.group_name_update_failed` or
    /// `chat.group_icon_update_failed` carrying `error_code` (Linq names 3007 and 4001).
    UpdateFails {
        #[serde(default = "default_update_error")]
        error_code: u32,
    },
}

fn default_update_error() -> u32 {
    3007
}

/// Which of a chat's requests a [`Tamper`] answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calls {
    /// Reads, participant calls and updates.
    #[default]
    All,
    /// `GET /v3/chats/{id}` only.
    Reads,
    /// Adds, removes and updates (`PUT /v3/chats/{id}`) only.
    Changes,
}

/// One edit of a chat's JSON, at a JSON pointer (RFC 6901) such as `/handles/0/is_me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Drops the field or array item; nothing happens when it is not there.
    Remove { path: String },
    /// Sets the field (adding it when missing) or replaces the array item.
    Set { path: String, value: Value },
}

impl Tamper {
    /// Drops the field at `path` from the chat's answers.
    pub fn remove(path: &str) -> Tamper {
        Tamper::Edit {
            edits: vec![Edit::Remove { path: path.to_owned() }],
        }
    }

    /// Sets the field at `path` of the chat's answers to `value`.
    pub fn set(path: &str, value: Value) -> Tamper {
        Tamper::Edit {
            edits: vec![Edit::Set {
                path: path.to_owned(),
                value,
            }],
        }
    }

    /// Every request about the chat answered 409 `2013`, as Linq answers for a chat that is
    /// unavailable.
    pub fn unavailable() -> Tamper {
        Tamper::Fail {
            status: 409,
            code: 2013,
            message: "This chat is unavailable".to_owned(),
            calls: Calls::All,
        }
    }

    /// The chat's requests of `calls` redirected to `location`.
    pub fn redirect(status: u16, location: &str, calls: Calls) -> Tamper {
        Tamper::Redirect {
            status,
            location: location.to_owned(),
            calls,
        }
    }

    /// Reads of the chat answered with a body of `bytes` bytes.
    pub fn oversize(bytes: u64) -> Tamper {
        Tamper::Oversize { bytes }
    }

    /// Whether this tamper answers a request that reads (`true`) or changes the chat.
    pub(crate) fn answers(&self, read: bool) -> bool {
        match self {
            Tamper::Edit { .. } | Tamper::UpdateFails { .. } => false,
            Tamper::Oversize { .. } => read,
            Tamper::Fail { calls, .. } | Tamper::Redirect { calls, .. } => match calls {
                Calls::All => true,
                Calls::Reads => read,
                Calls::Changes => !read,
            },
        }
    }

    /// Why the tamper cannot be served, if it cannot.
    pub(crate) fn check(&self) -> Result<(), String> {
        let status_in = |status: u16, range: std::ops::RangeInclusive<u16>, what: &str| {
            if range.contains(&status) {
                Ok(())
            } else {
                Err(format!("`status` {status} is not {what}"))
            }
        };
        match self {
            Tamper::Edit { edits } => edits.iter().try_for_each(|edit| {
                let path = match edit {
                    Edit::Remove { path } | Edit::Set { path, .. } => path,
                };
                if path.starts_with('/') {
                    Ok(())
                } else {
                    Err(format!("`{path}` is not a JSON pointer: it must start with `/`"))
                }
            }),
            Tamper::Fail { status, .. } => status_in(*status, 400..=599, "an error status (400 to 599)"),
            Tamper::Redirect { status, .. } => status_in(*status, 300..=399, "a redirect status (300 to 399)"),
            Tamper::Oversize { .. } | Tamper::UpdateFails { .. } => Ok(()),
        }
    }

    /// Every update of the chat answered `200` and then failing with `error_code`.
    pub fn update_fails(error_code: u32) -> Tamper {
        Tamper::UpdateFails { error_code }
    }

    /// Applies the edits to a chat's JSON.
    pub(crate) fn edit(&self, chat: &mut Value) {
        let Tamper::Edit { edits } = self else { return };
        for edit in edits {
            match edit {
                Edit::Remove { path } => {
                    if let Some((parent, key)) = parent_of(chat, path) {
                        match parent {
                            Value::Object(map) => {
                                map.remove(&key);
                            }
                            Value::Array(items) => {
                                if let Ok(i) = key.parse::<usize>() {
                                    if i < items.len() {
                                        items.remove(i);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Edit::Set { path, value } => {
                    if let Some((parent, key)) = parent_of(chat, path) {
                        match parent {
                            Value::Object(map) => {
                                map.insert(key, value.clone());
                            }
                            Value::Array(items) => {
                                if let Some(item) = key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                                    *item = value.clone();
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

/// The value holding the last token of `path`, and that token unescaped.
fn parent_of<'v>(root: &'v mut Value, path: &str) -> Option<(&'v mut Value, String)> {
    let (parent, last) = path.rsplit_once('/')?;
    let key = last.replace("~1", "/").replace("~0", "~");
    let parent = if parent.is_empty() {
        root
    } else {
        root.pointer_mut(parent)?
    };
    Some((parent, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edits_remove_and_set_at_pointers() {
        let mut chat = json!({"id": "c", "handles": [{"handle": "+1", "is_me": true}, {"handle": "+2"}]});
        Tamper::Edit {
            edits: vec![
                Edit::Remove {
                    path: "/handles/0/is_me".into(),
                },
                Edit::Set {
                    path: "/handles/1/status".into(),
                    value: json!("gone"),
                },
                Edit::Set {
                    path: "/id".into(),
                    value: json!("other"),
                },
                Edit::Remove {
                    path: "/no/such/place".into(),
                },
            ],
        }
        .edit(&mut chat);
        assert_eq!(
            chat,
            json!({"id": "other", "handles": [{"handle": "+1"}, {"handle": "+2", "status": "gone"}]})
        );
        Tamper::remove("/handles").edit(&mut chat);
        assert_eq!(chat, json!({"id": "other"}));
    }

    #[test]
    fn the_json_form_round_trips_and_is_checked() {
        let tamper: Tamper = serde_json::from_value(json!({
            "kind": "redirect", "status": 307, "location": "http://elsewhere/", "calls": "changes"
        }))
        .unwrap();
        assert_eq!(tamper, Tamper::redirect(307, "http://elsewhere/", Calls::Changes));
        assert!(tamper.answers(false) && !tamper.answers(true));
        assert!(Tamper::redirect(200, "x", Calls::All).check().is_err());
        assert!(Tamper::remove("handles").check().is_err());
        let unavailable: Tamper =
            serde_json::from_value(json!({"kind": "fail", "status": 409, "code": 2013, "message": "m"})).unwrap();
        assert!(unavailable.answers(true) && unavailable.answers(false));
        let fails: Tamper = serde_json::from_value(json!({"kind": "update_fails"})).unwrap();
        assert_eq!(fails, Tamper::update_fails(3007), "Linq's first webhook error code");
        assert!(
            !fails.answers(true) && !fails.answers(false),
            "the update itself answers 200"
        );
    }
}
