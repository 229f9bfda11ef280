//! Property tests of the planner against two independent references: a simulator that replays
//! the steps under Linq's counting model, and a breadth-first search over every possible order
//! that finds the fewest waits (or proves there is no valid order).
//!
//! Neither reference uses the planner's code; both restate the counting model from scratch.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use crate::config::{Desired, DesiredChat, Settings};
use crate::handle::Handle;
use crate::state::{ChatState, State};

use super::*;

/// Handles in a case are drawn from this many, so sets overlap often.
const UNIVERSE: usize = 9;

fn member(i: usize) -> Handle {
    Handle::parse(&format!("m{i}@x.io")).unwrap()
}

/// 256 cases from a fixed seed, unless the environment asks proptest for another seed.
fn config() -> Config {
    let mut config = Config::with_cases(256);
    if matches!(config.rng_seed, RngSeed::Random) {
        config.rng_seed = RngSeed::Fixed(0x726f_7374_6572);
    }
    config.failure_persistence = None;
    config
}

/// One chat's situation: who is in it, who should be, who left, and its limits.
#[derive(Debug, Clone)]
struct Case {
    current: BTreeSet<Handle>,
    desired: BTreeSet<Handle>,
    left: BTreeSet<Handle>,
    readd_left: bool,
    floor: usize,
    cap: usize,
}

fn case() -> impl Strategy<Value = Case> {
    let set = || prop::collection::btree_set(0..UNIVERSE, 0..=UNIVERSE);
    (set(), set(), set(), any::<bool>(), 1..=5usize, 1..=10usize).prop_map(
        |(current, desired, left, readd_left, floor, cap)| {
            let current: BTreeSet<Handle> = current.into_iter().map(member).collect();
            Case {
                // Members who left are no longer current.
                left: left
                    .into_iter()
                    .map(member)
                    .filter(|handle| !current.contains(handle))
                    .collect(),
                current,
                desired: desired.into_iter().map(member).collect(),
                readd_left,
                floor,
                cap,
            }
        },
    )
}

impl Case {
    fn inputs(&self) -> (Desired, State) {
        let chat = DesiredChat {
            name: None,
            service: None,
            max_members: self.cap,
            protected: BTreeSet::new(),
            members: self.desired.clone(),
        };
        let desired = Desired {
            settings: Settings {
                min_members: self.floor,
                readd_left: self.readd_left,
                ..Settings::default()
            },
            chats: BTreeMap::from([("chat".to_owned(), chat)]),
            names: BTreeMap::new(),
            digest: String::new(),
            files: Vec::new(),
        };
        let known = ChatState {
            members: self.current.clone(),
            left: self.left.clone(),
            ..ChatState::default()
        };
        let state = State {
            version: 1,
            lineage: "l".into(),
            serial: 1,
            chats: BTreeMap::from([("chat".to_owned(), known)]),
        };
        (desired, state)
    }

    /// The members the plan should end with: desired, less those who left and are not re-added.
    fn target(&self) -> BTreeSet<Handle> {
        self.desired
            .iter()
            .filter(|handle| self.readd_left || self.current.contains(*handle) || !self.left.contains(*handle))
            .cloned()
            .collect()
    }
}

fn options() -> PlanOptions {
    PlanOptions {
        allow_mass_removal: true,
        ..PlanOptions::default()
    }
}

/// Replays `steps` on `current` under the counting model and returns the final membership, or
/// the first step that breaks a rule.
fn simulate(current: &BTreeSet<Handle>, steps: &[Step], floor: usize, cap: usize) -> Result<BTreeSet<Handle>, String> {
    let mut confirmed = current.clone();
    let mut queued_adds = BTreeSet::new();
    let mut queued_removes = BTreeSet::new();
    for (i, step) in steps.iter().enumerate() {
        let (c, qa, qr) = (
            confirmed.len() as i64,
            queued_adds.len() as i64,
            queued_removes.len() as i64,
        );
        match step {
            Step::Add { handle, .. } => {
                if confirmed.contains(handle) || !queued_adds.insert(handle.clone()) {
                    return Err(format!("step {i} adds `{handle}`, already a member"));
                }
                if c + qa + 1 > cap as i64 {
                    return Err(format!("step {i} adds `{handle}` over the cap"));
                }
                if c - qr < 2 {
                    return Err(format!("step {i} adds `{handle}` to a chat under 3"));
                }
            }
            Step::Remove { handle, .. } => {
                if !confirmed.contains(handle) || !queued_removes.insert(handle.clone()) {
                    return Err(format!("step {i} removes `{handle}`, not a member"));
                }
                if c - qr - 1 < floor as i64 {
                    return Err(format!("step {i} removes `{handle}` under the floor"));
                }
            }
            Step::Wait => {
                if i == 0 || i == steps.len() - 1 || matches!(steps[i - 1], Step::Wait) {
                    return Err(format!("step {i} is a needless wait"));
                }
                confirmed.append(&mut queued_adds);
                for handle in std::mem::take(&mut queued_removes) {
                    confirmed.remove(&handle);
                }
            }
        }
    }
    confirmed.append(&mut queued_adds);
    Ok(confirmed.difference(&queued_removes).cloned().collect())
}

/// The fewest waits over every order of `adds` adds and `removes` removes on a chat of
/// `members`, by 0-1 breadth-first search over (confirmed, queued adds, queued removes, adds
/// left, removes left); `None` when no order keeps the rules.
fn fewest_waits(members: usize, adds: usize, removes: usize, floor: usize, cap: usize) -> Option<usize> {
    type Node = (i64, i64, i64, i64, i64);
    let (floor, cap) = (floor as i64, cap as i64);
    let start: Node = (members as i64, 0, 0, adds as i64, removes as i64);
    let mut best: HashMap<Node, usize> = HashMap::from([(start, 0)]);
    let mut queue = VecDeque::from([(start, 0)]);
    while let Some((node, waits)) = queue.pop_front() {
        if best[&node] < waits {
            continue;
        }
        let (c, qa, qr, a, r) = node;
        if a == 0 && r == 0 {
            return Some(waits);
        }
        let mut next = Vec::new();
        if a > 0 && c + qa < cap && c - qr >= 2 {
            next.push(((c, qa + 1, qr, a - 1, r), waits));
        }
        if r > 0 && c - qr > floor {
            next.push(((c, qa, qr + 1, a, r - 1), waits));
        }
        if qa + qr > 0 {
            next.push(((c + qa - qr, 0, 0, a, r), waits + 1));
        }
        for (node, cost) in next {
            if best.get(&node).is_none_or(|&known| cost < known) {
                best.insert(node, cost);
                if cost == waits {
                    queue.push_front((node, cost));
                } else {
                    queue.push_back((node, cost));
                }
            }
        }
    }
    None
}

proptest! {
    #![proptest_config(config())]

    /// Every plan keeps the rules at every step, ends at the desired set with one call per
    /// change and the fewest waits; a plan is refused exactly when no order exists.
    #[test]
    fn plans_are_valid_minimal_and_complete(case in case()) {
        let (desired, state) = case.inputs();
        let target = case.target();
        let adds = target.difference(&case.current).count();
        let removes = case.current.difference(&case.desired).count();
        let oracle = fewest_waits(case.current.len(), adds, removes, case.floor, case.cap);
        match plan(&desired, &state, &options()) {
            Ok(plan) => {
                let oracle = oracle.ok_or("the plan found an order the search says is impossible");
                let waits = oracle.map_err(TestCaseError::fail)?;
                let steps = plan.chats.first().map(|chat| chat.steps.clone()).unwrap_or_default();
                let end = simulate(&case.current, &steps, case.floor, case.cap)
                    .map_err(TestCaseError::fail)?;
                prop_assert_eq!(&end, &target);
                prop_assert_eq!(plan.summary.add, adds);
                prop_assert_eq!(plan.summary.remove, removes);
                prop_assert_eq!(plan.summary.wait, waits);
                prop_assert_eq!(steps.len(), adds + removes + waits);
            }
            Err(errors) => {
                prop_assert!(oracle.is_none(), "refused a feasible chat: {}", errors);
                prop_assert!(
                    matches!(errors.0.as_slice(), [PlanError::NoValidOrder { .. }]),
                    "unexpected errors: {}",
                    errors
                );
            }
        }
    }

    /// Within each round adds come first, then removes, each in sorted handle order; `after`
    /// is the sorted end set and `before` the sorted current set.
    #[test]
    fn rounds_are_sorted_and_before_after_match(case in case()) {
        let (desired, state) = case.inputs();
        let Ok(plan) = plan(&desired, &state, &options()) else {
            return Ok(());
        };
        let Some(chat) = plan.chats.first() else {
            prop_assert_eq!(&case.current, &case.target());
            return Ok(());
        };
        for round in chat.steps.split(|step| matches!(step, Step::Wait)) {
            let keys: Vec<(u8, &Handle)> = round
                .iter()
                .map(|step| match step {
                    Step::Add { handle, .. } => (0, handle),
                    Step::Remove { handle, .. } => (1, handle),
                    Step::Wait => unreachable!("split on waits"),
                })
                .collect();
            prop_assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "unsorted round {:?}", keys);
        }
        let before: Vec<Handle> = case.current.iter().cloned().collect();
        let after: Vec<Handle> = case.target().into_iter().collect();
        prop_assert_eq!(chat.before.as_ref(), Some(&before));
        prop_assert_eq!(chat.after.as_ref(), Some(&after));
    }

    /// The greedy rounds agree with the search on raw counts too, over wider ranges than the
    /// handle universe allows.
    #[test]
    fn schedule_matches_the_search(
        members in 0..=14usize,
        adds in 0..=8usize,
        removes in 0..=8usize,
        floor in 1..=6usize,
        cap in 1..=16usize,
    ) {
        let removes = removes.min(members);
        let oracle = fewest_waits(members, adds, removes, floor, cap);
        match schedule(members, adds, removes, Limits { floor, cap }) {
            Ok(rounds) => {
                prop_assert_eq!(rounds.len().saturating_sub(1), oracle.unwrap_or(usize::MAX));
                prop_assert_eq!(rounds.iter().map(|r| r.adds).sum::<usize>(), adds);
                prop_assert_eq!(rounds.iter().map(|r| r.removes).sum::<usize>(), removes);
            }
            Err(reason) => prop_assert!(oracle.is_none(), "refused a feasible order: {}", reason),
        }
    }
}
