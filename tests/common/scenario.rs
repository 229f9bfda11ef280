//! Random scenarios, fixed by their seed: chats whose live membership equals the state, and a
//! config that wants something else; and the check that every chat kept its floor and cap.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use linq_sandbox::{Sandbox, Seed, SeedChat};

use super::{Workspace, TOKEN};

/// Your own line in the scenarios' sandboxes.
const ME: &str = "+15550009999";
/// The floor the scenarios' configs keep: roster's default `min_members`.
const FLOOR: usize = 3;
/// The cap of a chat without `max_members`: roster's default.
const DEFAULT_CAP: usize = 31;

/// Scenarios are random but fixed by their seed.
pub struct Rng(fastrand::Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }
}

/// One chat of a scenario: what Linq (and the state) holds, and what the config wants.
pub struct ChatSpec {
    pub id: String,
    pub current: BTreeSet<String>,
    pub desired: BTreeSet<String>,
    pub cap: Option<usize>,
}

impl ChatSpec {
    fn cap(&self) -> usize {
        self.cap.unwrap_or(DEFAULT_CAP)
    }
}

/// Chats whose live membership equals the state, and a config that wants something else.
pub struct Scenario {
    pub chats: Vec<ChatSpec>,
}

/// Why a chat's landed member count left the configured floor and cap, one line per chat.
pub fn limit_problems(sandbox: &Sandbox, chats: &[(&str, usize, usize)]) -> Vec<String> {
    let mut problems = Vec::new();
    for &(id, floor, cap) in chats {
        let range = sandbox
            .member_range(id)
            .unwrap_or_else(|| panic!("the sandbox has no chat {id}"));
        if range.lowest < floor {
            problems.push(format!(
                "chat {id} fell to {} members, under its floor of {floor}",
                range.lowest
            ));
        }
        if range.highest > cap {
            problems.push(format!(
                "chat {id} rose to {} members, over its cap of {cap}",
                range.highest
            ));
        }
    }
    problems
}

impl Scenario {
    /// `n` random chats: 3 to 8 members, some at their cap, swaps at the floor among them.
    pub fn random(seed: u64, n: usize) -> Scenario {
        let mut rng = Rng::new(seed);
        let mut chats = Vec::new();
        for c in 0..n {
            let pool: Vec<String> = (0..12).map(|i| format!("+1555{c:03}{i:04}")).collect();
            let size = 3 + rng.below(6);
            let current: BTreeSet<String> = pool[..size].iter().cloned().collect();
            // At the cap, one above it, or the default cap.
            let cap = match rng.below(3) {
                0 => Some(size.max(4)),
                1 => Some(size + 1),
                _ => None,
            };
            let limit = cap.unwrap_or(31);
            let target = (3 + rng.below(6)).min(limit);
            let keep = rng.below(size.min(target) + 1);
            let mut desired: BTreeSet<String> = pool[..keep].iter().cloned().collect();
            for handle in &pool[size..] {
                if desired.len() >= target {
                    break;
                }
                desired.insert(handle.clone());
            }
            for handle in &pool[keep..size] {
                if desired.len() >= target {
                    break;
                }
                desired.insert(handle.clone());
            }
            let chat = ChatSpec {
                id: format!("00000000-0000-4000-8000-{c:012}"),
                current,
                desired,
                cap,
            };
            assert!(
                (FLOOR..=chat.cap()).contains(&chat.current.len()),
                "chats start within their limits"
            );
            chats.push(chat);
        }
        Scenario { chats }
    }

    /// The calls a correct apply makes: one per changed membership, the size of each chat's
    /// symmetric difference between what Linq holds and what the config wants.
    pub fn changes(&self) -> usize {
        self.chats
            .iter()
            .map(|chat| chat.current.symmetric_difference(&chat.desired).count())
            .sum()
    }

    /// Each chat's configured floor and cap, for [`limit_problems`].
    pub fn limits(&self) -> Vec<(&str, usize, usize)> {
        self.chats
            .iter()
            .map(|chat| (chat.id.as_str(), FLOOR, chat.cap()))
            .collect()
    }

    pub fn seed(&self) -> Seed {
        Seed {
            token: TOKEN.to_owned(),
            me: ME.to_owned(),
            chats: self
                .chats
                .iter()
                .map(|chat| {
                    let members: Vec<&str> = chat.current.iter().map(String::as_str).collect();
                    SeedChat::group(&chat.id, &members)
                })
                .collect(),
            handle_services: BTreeMap::new(),
        }
    }

    /// Writes `roster.yaml` and `roster.state.json` into the workspace.
    pub fn write(&self, ws: &Workspace) {
        // Random scenarios reshuffle whole chats: allow it, as a team that means it would.
        let mut yaml = String::from("version: 1\nsettings:\n  max_removal_ratio: 1.0\nchats:\n");
        let mut state = serde_json::Map::new();
        for chat in &self.chats {
            let _ = writeln!(yaml, "  {}:", chat.id);
            if let Some(cap) = chat.cap {
                let _ = writeln!(yaml, "    max_members: {cap}");
            }
            let members: Vec<String> = chat.desired.iter().map(|h| format!("\"{h}\"")).collect();
            let _ = writeln!(yaml, "    members: [{}]", members.join(", "));
            state.insert(chat.id.clone(), serde_json::json!({ "members": chat.current }));
        }
        ws.write("roster.yaml", yaml);
        ws.write_state("11111111-2222-4333-8444-555555555555", 1, state);
    }

    /// Every chat holds what the config wants, and none ever left its floor and cap on the way
    /// (nor fell under Linq's 3 participants).
    pub fn assert_converged(&self, sandbox: &Sandbox) {
        sandbox.land_all();
        for chat in &self.chats {
            assert_eq!(sandbox.members(&chat.id).unwrap(), chat.desired, "chat {}", chat.id);
        }
        assert!(
            sandbox.violations().is_empty(),
            "a chat fell under 3 participants: {:?}",
            sandbox.violations()
        );
        let problems = limit_problems(sandbox, &self.limits());
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
