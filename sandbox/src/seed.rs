//! The seed: the token, the partner's lines and the chats a sandbox starts with, read from JSON
//! or built in code by tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::handle::{canonical_handle, Service};

/// What a sandbox starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The bearer token every API request must carry.
    pub token: String,
    /// Your own Linq line: the first of the partner's lines (`GET /v3/phone_numbers`), and the
    /// participant reported with `is_me: true` of every chat that names no [`SeedChat::line`].
    pub me: String,
    #[serde(default)]
    pub chats: Vec<SeedChat>,
    /// The known service of some handles (`iMessage`, `RCS`, `SMS`): adding one of them to a
    /// chat of another service is refused, as Linq refuses cross-service additions.
    #[serde(default)]
    pub handle_services: BTreeMap<String, String>,
}

/// One chat of a seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedChat {
    /// The chat id; Linq's are UUIDs.
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `iMessage`, `RCS` or `SMS`.
    #[serde(default = "default_service")]
    pub service: String,
    /// False for a direct-message chat, whose membership cannot change.
    #[serde(default = "default_is_group")]
    pub is_group: bool,
    /// Active participants other than your own line.
    #[serde(default)]
    pub members: Vec<String>,
    /// Former participants who left (`status: "left"`).
    #[serde(default)]
    pub left: Vec<String>,
    /// The partner's line this chat belongs to (E.164): its `is_me` participant, the `from` of
    /// `GET /v3/chats` that lists it. `None` for [`Seed::me`]. Every line a chat names is one of
    /// the partner's lines, after `me`, in the order chats first name them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

fn default_service() -> String {
    Service::IMessage.as_str().to_owned()
}

fn default_is_group() -> bool {
    true
}

impl SeedChat {
    /// An iMessage group chat with these members and nobody who left.
    pub fn group(id: &str, members: &[&str]) -> SeedChat {
        SeedChat {
            id: id.to_owned(),
            display_name: None,
            service: default_service(),
            is_group: true,
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            left: Vec::new(),
            line: None,
        }
    }
}

/// A seed that passed [`Seed::validated`]: every handle canonical and every service known. The
/// world is built from it and checks nothing again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSeed {
    pub token: String,
    /// Your own line, canonical.
    pub me: String,
    /// The partner's lines: `me` first, then those the chats name, each once.
    pub lines: Vec<String>,
    pub chats: Vec<CheckedChat>,
    pub handle_services: BTreeMap<String, Service>,
}

/// One chat of a [`CheckedSeed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedChat {
    pub id: String,
    /// The chat's line (its `is_me` participant), canonical.
    pub line: String,
    pub display_name: Option<String>,
    pub service: Service,
    pub is_group: bool,
    /// Canonical, the chat's line not among them, none twice.
    pub members: Vec<String>,
    pub left: Vec<String>,
}

/// Everything wrong with a seed, one problem a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError(pub Vec<String>);

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid sandbox seed: {}", self.0.join("; "))
    }
}

impl std::error::Error for SeedError {}

/// The canonical spelling of `text`, or `text` itself with a problem noted.
fn handle(text: &str, problems: &mut Vec<String>) -> String {
    canonical_handle(text).unwrap_or_else(|| {
        problems.push(format!(
            "`{text}` is neither an E.164 phone number nor an email address"
        ));
        text.to_owned()
    })
}

impl Seed {
    /// Reads a seed from a JSON file and checks it.
    pub fn load(path: impl AsRef<Path>) -> anyhow::Result<Seed> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("failed to read seed file `{}`", path.display()))?;
        let seed: Seed =
            serde_json::from_str(&text).with_context(|| format!("failed to parse seed file `{}`", path.display()))?;
        seed.validated()
            .with_context(|| format!("seed file `{}` is not usable", path.display()))?;
        Ok(seed)
    }

    /// The seed checked, every handle canonical and every service known, or every problem
    /// found in it.
    pub fn validated(&self) -> Result<CheckedSeed, SeedError> {
        let mut problems = Vec::new();
        if self.token.is_empty() {
            problems.push("`token` is empty".to_owned());
        }
        let me = handle(&self.me, &mut problems);
        let mut lines = vec![me.clone()];
        let mut ids = BTreeSet::new();
        let mut chats = Vec::with_capacity(self.chats.len());
        for chat in &self.chats {
            if chat.id.is_empty() {
                problems.push("a chat has an empty `id`".to_owned());
            } else if !ids.insert(chat.id.as_str()) {
                problems.push(format!("chat `{}` appears twice", chat.id));
            }
            chats.push(chat.checked(&me, &mut lines, &mut problems));
        }
        let mut handle_services = BTreeMap::new();
        for (h, service) in &self.handle_services {
            let parsed = Service::parse(service);
            if parsed.is_none() {
                problems.push(format!(
                    "handle `{h}` has service `{service}`; expected `iMessage`, `RCS` or `SMS`"
                ));
            }
            let canonical = handle(h, &mut problems);
            if let Some(service) = parsed {
                handle_services.insert(canonical, service);
            }
        }
        if !problems.is_empty() {
            return Err(SeedError(problems));
        }
        Ok(CheckedSeed {
            token: self.token.clone(),
            me,
            lines,
            chats,
            handle_services,
        })
    }
}

impl SeedChat {
    /// This chat checked: its service known, its line and handles canonical, nobody twice.
    /// Adds its line to `lines` when new.
    fn checked(&self, me: &str, lines: &mut Vec<String>, problems: &mut Vec<String>) -> CheckedChat {
        let chat = self;
        let service = Service::parse(&chat.service).unwrap_or_else(|| {
            problems.push(format!(
                "chat `{}` has service `{}`; expected `iMessage`, `RCS` or `SMS`",
                chat.id, chat.service
            ));
            Service::IMessage
        });
        let line = match &chat.line {
            None => me.to_owned(),
            Some(line) => {
                let canonical = canonical_handle(line).filter(|l| l.starts_with('+'));
                let line = canonical.unwrap_or_else(|| {
                    problems.push(format!(
                        "chat `{}` has line `{line}`, which is not an E.164 phone number",
                        chat.id
                    ));
                    line.clone()
                });
                if !lines.contains(&line) {
                    lines.push(line.clone());
                }
                line
            }
        };
        let members: Vec<String> = chat.members.iter().map(|m| handle(m, problems)).collect();
        let left: Vec<String> = chat.left.iter().map(|m| handle(m, problems)).collect();
        let mut seen = BTreeSet::from([line.as_str()]);
        for h in members.iter().chain(&left) {
            if !seen.insert(h.as_str()) {
                problems.push(format!("chat `{}` lists `{h}` twice (its own line counts)", chat.id));
            }
        }
        if !chat.is_group && (members.len() != 1 || !left.is_empty()) {
            problems.push(format!(
                "direct-message chat `{}` must have exactly one member and nobody who left",
                chat.id
            ));
        }
        CheckedChat {
            id: chat.id.clone(),
            line,
            display_name: chat.display_name.to_owned(),
            service,
            is_group: chat.is_group,
            members,
            left,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let seed = Seed {
            token: String::new(),
            me: "+12055550100".into(),
            chats: vec![
                SeedChat {
                    service: "Fax".into(),
                    ..SeedChat::group("a", &["+12055550101", "not a handle"])
                },
                SeedChat::group("a", &["+12055550100"]),
                SeedChat {
                    is_group: false,
                    ..SeedChat::group("dm", &["+12055550101", "+12055550102"])
                },
            ],
            handle_services: BTreeMap::new(),
        };
        let problems = seed.validated().unwrap_err().0;
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("`Fax`")));
        assert!(problems.iter().any(|p| p.contains("`a` appears twice")));
        assert!(problems.iter().any(|p| p.contains("lists `+12055550100` twice")));
    }

    #[test]
    fn emails_become_lower_case() {
        let seed = Seed {
            token: "t".into(),
            me: "+12055550100".into(),
            chats: vec![SeedChat::group("a", &["Bob@Example.com"])],
            handle_services: BTreeMap::from([("Ann@Example.com".into(), "SMS".into())]),
        };
        let seed = seed.validated().unwrap();
        assert_eq!(seed.chats[0].members, ["bob@example.com"]);
        assert!(seed.handle_services.contains_key("ann@example.com"));
    }

    #[test]
    fn chats_name_further_lines() {
        let seed = Seed {
            token: "t".into(),
            me: "+12055550100".into(),
            chats: vec![
                SeedChat {
                    line: Some("+12055550900".into()),
                    ..SeedChat::group("a", &["+12055550100", "+12055550101"])
                },
                SeedChat::group("b", &["+12055550101"]),
                SeedChat {
                    line: Some("+12055550900".into()),
                    ..SeedChat::group("c", &["+12055550900"])
                },
                SeedChat {
                    line: Some("line@example.com".into()),
                    ..SeedChat::group("d", &[])
                },
            ],
            handle_services: BTreeMap::new(),
        };
        let problems = seed.validated().unwrap_err().0;
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].contains("lists `+12055550900` twice"), "{problems:#?}");
        assert!(problems[1].contains("not an E.164 phone number"), "{problems:#?}");
        let seed = Seed {
            chats: seed.chats[..2].to_vec(),
            ..seed
        };
        let checked = seed.validated().unwrap();
        assert_eq!(checked.lines, ["+12055550100", "+12055550900"]);
        assert_eq!(checked.chats[0].line, "+12055550900");
        assert_eq!(
            checked.chats[0].members,
            ["+12055550100", "+12055550101"],
            "me is a member there"
        );
        assert_eq!(checked.chats[1].line, "+12055550100");
    }

    #[test]
    fn the_example_seed_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");
        let seed = Seed::load(path).unwrap();
        assert!(seed.chats.iter().any(|c| !c.is_group));
        assert!(seed.chats.iter().any(|c| c.service == "SMS"));
        assert!(seed.chats.iter().any(|c| !c.left.is_empty()));
    }
}
