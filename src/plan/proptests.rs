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
use crate::members::Members;
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
    current: Members,
    desired: Members,
    left: Members,
    readd_left: bool,
    floor: usize,
    cap: usize,
}

fn case() -> impl Strategy<Value = Case> {
    let set = || prop::collection::btree_set(0..UNIVERSE, 0..=UNIVERSE);
    (set(), set(), set(), any::<bool>(), 1..=5usize, 1..=10usize).prop_map(
        |(current, desired, left, readd_left, floor, cap)| {
            let current: Members = current.into_iter().map(member).collect();
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
            protected: Members::new(),
            members: self.desired.clone(),
            max_removals: None,
            file: 0,
            ..Default::default()
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
    fn target(&self) -> Members {
        self.desired
            .iter()
            .filter(|handle| self.readd_left || self.current.contains(handle) || !self.left.contains(handle))
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
fn simulate(current: &Members, steps: &[Step], floor: usize, cap: usize) -> Result<Members, String> {
    let mut confirmed: BTreeSet<Handle> = current.iter().cloned().collect();
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
            Step::Create | Step::Name { .. } | Step::Icon { .. } => {
                return Err(format!("step {i} is not a membership step"));
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
                    Step::Wait | Step::Create | Step::Name { .. } | Step::Icon { .. } => unreachable!("split on waits"),
                })
                .collect();
            prop_assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "unsorted round {:?}", keys);
        }
        let before: Vec<Handle> = case.current.iter().cloned().collect();
        let after: Vec<Handle> = case.target().into_iter().collect();
        prop_assert_eq!(chat.before.as_deref(), Some(&before[..]));
        prop_assert_eq!(chat.after.as_deref(), Some(&after[..]));
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

// ---- replaying plans through the sandbox's world ----

use std::time::{Duration, Instant, SystemTime};

use linq_sandbox::world::World;
use linq_sandbox::{Seed, SeedChat};

use crate::state::PendingChanges;

/// Handles of the wider cases, so that several chats share some.
const WIDE: usize = 16;
/// Your own line in the sandbox's world.
const ME: &str = "+12055550100";
/// Longer than any landing delay drawn: a wait moves the clock this far, so everything lands.
const LAND_ALL: Duration = Duration::from_secs(3600);

/// A random seed for the wider cases, printed so that a failure can be replayed with
/// `PROPTEST_RNG_SEED=…`, which wins when set; few cases, so the suite stays fast.
fn random_config(cases: u32) -> Config {
    let mut config = Config::with_cases(cases);
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => fastrand::u64(..),
    };
    eprintln!("proptest seed {seed}: rerun with PROPTEST_RNG_SEED={seed}");
    config.rng_seed = RngSeed::Fixed(seed);
    config.failure_persistence = None;
    config
}

/// One chat of a wider case: what the state holds (and what of it Linq has not applied yet),
/// what the config wants, and its cap.
#[derive(Debug, Clone)]
struct WideChat {
    current: Members,
    desired: Members,
    left: Members,
    /// Accepted by Linq, in the state's members, not landed yet.
    pending_add: Members,
    /// Accepted by Linq, out of the state's members, not landed yet.
    pending_remove: Members,
    cap: usize,
}

/// Several chats in one plan, a floor Linq can keep (2 or more), protected members, pending
/// changes, and an adversary: how far the clock moves after each call and how long each
/// accepted change takes to land.
#[derive(Debug, Clone)]
struct Scene {
    chats: Vec<WideChat>,
    floor: usize,
    protected: Members,
    readd_left: bool,
    /// Which chat sends its next step, in turn (steps of one chat stay in order).
    turns: Vec<usize>,
    /// Milliseconds each accepted change takes to land, in turn.
    delays: Vec<u64>,
    /// Milliseconds the clock moves after each call, in turn.
    advances: Vec<u64>,
}

fn wide_chat() -> impl Strategy<Value = WideChat> {
    let set = || prop::collection::btree_set(0..WIDE, 0..=10);
    (set(), set(), set(), set(), set(), 2..=14usize).prop_map(|(current, desired, left, pa, pr, cap)| {
        let current: Members = current.into_iter().map(member).collect();
        let pending_add = pa.into_iter().map(member).filter(|h| current.contains(h)).collect();
        let left: Members = left.into_iter().map(member).filter(|h| !current.contains(h)).collect();
        let pending_remove = (pr.into_iter().map(member))
            .filter(|h| !current.contains(h) && !left.contains(h))
            .collect();
        WideChat {
            desired: desired.into_iter().map(member).collect(),
            current,
            left,
            pending_add,
            pending_remove,
            cap,
        }
    })
}

fn scene() -> impl Strategy<Value = Scene> {
    (
        prop::collection::vec(wide_chat(), 1..=3),
        2..=5usize,
        prop::collection::btree_set(0..WIDE, 0..=2),
        any::<bool>(),
        prop::collection::vec(0..3usize, 64),
        // Most changes take far longer to land than the next call takes to go out.
        prop::collection::vec(0..2000u64, 64),
        prop::collection::vec(0..100u64, 64),
    )
        .prop_map(|(chats, floor, protected, readd_left, turns, delays, advances)| Scene {
            chats,
            floor,
            protected: protected.into_iter().map(member).collect(),
            readd_left,
            turns,
            delays,
            advances,
        })
}

fn chat_id(i: usize) -> String {
    format!("chat-{i}")
}

impl Scene {
    fn inputs(&self) -> (Desired, State) {
        let mut desired = BTreeMap::new();
        let mut known = BTreeMap::new();
        for (i, chat) in self.chats.iter().enumerate() {
            desired.insert(
                chat_id(i),
                DesiredChat {
                    name: None,
                    service: None,
                    max_members: chat.cap,
                    protected: self.protected.clone(),
                    members: chat.desired.clone(),
                    max_removals: None,
                    file: 0,
                    ..Default::default()
                },
            );
            known.insert(
                chat_id(i),
                ChatState {
                    members: chat.current.clone(),
                    left: chat.left.clone(),
                    pending: PendingChanges {
                        // Accepted at an unknown time: overdue, which changes no step.
                        add: chat.pending_add.iter().map(|h| (h.clone(), None)).collect(),
                        remove: chat.pending_remove.iter().map(|h| (h.clone(), None)).collect(),
                    },
                    ..ChatState::default()
                },
            );
        }
        let desired = Desired {
            settings: Settings {
                min_members: self.floor,
                readd_left: self.readd_left,
                protected: self.protected.clone(),
                ..Settings::default()
            },
            chats: desired,
            names: BTreeMap::new(),
            digest: String::new(),
            files: Vec::new(),
        };
        let state = State {
            version: 1,
            lineage: "l".into(),
            serial: 1,
            chats: known,
        };
        (desired, state)
    }

    /// What Linq holds before the plan: the state's members less its pending adds, plus its
    /// pending removes, which are then accepted again as queued changes.
    fn world(&self, now: Instant) -> Result<World, String> {
        let handles = |set: BTreeSet<&Handle>| set.into_iter().map(|h| h.as_str().to_owned()).collect::<Vec<_>>();
        let seed = Seed {
            token: "t".into(),
            me: ME.into(),
            chats: (self.chats.iter().enumerate())
                .map(|(i, chat)| SeedChat {
                    left: handles(chat.left.iter().collect()),
                    ..SeedChat::group(&chat_id(i), &[])
                })
                .map(|mut seed| {
                    let chat = &self.chats[seed.id["chat-".len()..].parse::<usize>().unwrap()];
                    let landed = chat.current.difference(&chat.pending_add).chain(&chat.pending_remove);
                    seed.members = handles(landed.collect());
                    seed
                })
                .collect(),
            handle_services: Default::default(),
        };
        let seed = seed.validated().map_err(|e| e.to_string())?;
        let mut world = World::new(&seed, now, SystemTime::UNIX_EPOCH);
        for (i, chat) in self.chats.iter().enumerate() {
            for handle in &chat.pending_add {
                world.add(&chat_id(i), handle.as_str(), now).map_err(|e| e.message)?;
            }
            for handle in &chat.pending_remove {
                world.remove(&chat_id(i), handle.as_str(), now).map_err(|e| e.message)?;
            }
        }
        Ok(world)
    }
}

/// Runs `plan` through the sandbox's world from `start` as apply would (each chat's steps in
/// order, chats interleaved as `scene.turns` says), with every
/// accepted change landing after its own adversarial delay, in order per chat. Returns the
/// first call Linq's rules refuse.
fn replay(scene: &Scene, plan: &Plan, world: &mut World, start: Instant) -> Result<(), String> {
    let mut now = start;
    let mut next: Vec<usize> = vec![0; plan.chats.len()];
    let (mut turns, mut delays, mut advances) = (
        scene.turns.iter().cycle(),
        scene.delays.iter().cycle(),
        scene.advances.iter().cycle(),
    );
    loop {
        let open: Vec<usize> = (0..plan.chats.len())
            .filter(|&c| next[c] < plan.chats[c].steps.len())
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        let chat = &plan.chats[open[turns.next().copied().unwrap_or(0) % open.len()]];
        let c = plan
            .chats
            .iter()
            .position(|p| p.id == chat.id)
            .expect("the chat is in the plan");
        let due = now + Duration::from_millis(*delays.next().unwrap_or(&0));
        let sent = match &chat.steps[next[c]] {
            Step::Add { handle, .. } => world.add(&chat.id, handle.as_str(), due),
            Step::Remove { handle, .. } => world.remove(&chat.id, handle.as_str(), due),
            Step::Wait => {
                now += LAND_ALL;
                Ok(())
            }
            Step::Create | Step::Name { .. } | Step::Icon { .. } => Ok(()),
        };
        sent.map_err(|e| {
            format!(
                "{} step {} ({:?}) refused: {}",
                chat.id, next[c], chat.steps[next[c]], e.message
            )
        })?;
        next[c] += 1;
        now += Duration::from_millis(*advances.next().unwrap_or(&0));
        world.land_due(now);
    }
}

proptest! {
    #![proptest_config(random_config(96))]

    /// Plans replayed through the sandbox's world, whatever the landing times: Linq refuses no
    /// call, each chat stays within its floor and cap (or the bounds it started outside), and
    /// ends as planned. A plan is refused only for a protected member or a chat with no order.
    #[test]
    fn plans_keep_linqs_rules_floor_and_cap_whenever_changes_land(scene in scene()) {
        let (desired, state) = scene.inputs();
        let start = Instant::now();
        let world = scene.world(start);
        prop_assume!(world.is_ok(), "Linq would not have accepted the pending changes");
        let mut world = world.unwrap();
        let removes_protected = (scene.chats.iter())
            .any(|chat| chat.current.difference(&chat.desired).any(|h| scene.protected.contains(h)));
        let plan = match plan(&desired, &state, &options()) {
            Ok(plan) => plan,
            Err(errors) => {
                let protected = errors.0.iter().any(|e| matches!(e, PlanError::ProtectedRemoval { .. }));
                prop_assert_eq!(protected, removes_protected, "{}", errors);
                prop_assert!(
                    errors.0.iter().all(|e| matches!(e, PlanError::ProtectedRemoval { .. } | PlanError::NoValidOrder { .. })),
                    "unexpected errors: {}", errors
                );
                return Ok(());
            }
        };
        prop_assert!(!removes_protected, "a protected member is removed");
        // Apply waits for the pending changes to land before it touches a chat. How far they
        // took each chat on the way is history, not the plan's doing.
        world.land_due(start + LAND_ALL);
        let before: Vec<_> = (0..scene.chats.len()).map(|i| world.member_range(&chat_id(i)).unwrap()).collect();
        replay(&scene, &plan, &mut world, start + LAND_ALL).map_err(TestCaseError::fail)?;
        world.land_all(start + LAND_ALL * 1000);
        for (i, chat) in scene.chats.iter().enumerate() {
            let id = chat_id(i);
            let members: Members = (world.members(&id).unwrap().iter())
                .map(|h| Handle::parse(h).unwrap())
                .collect();
            let target: Members = (chat.desired.iter())
                .filter(|h| scene.readd_left || chat.current.contains(h) || !chat.left.contains(h))
                .cloned()
                .collect();
            let planned = plan.chats.iter().any(|p| p.id == id && !p.steps.is_empty());
            let expected = if planned || members == chat.current { &target } else { &chat.current };
            prop_assert_eq!(&members, expected, "chat {}", id);
            // The plan keeps the floor and cap, or, for a chat that was already outside them,
            // takes it no further out.
            let range = world.member_range(&id).unwrap();
            prop_assert!(range.lowest >= scene.floor.min(before[i].lowest), "chat {} fell to {} members", id, range.lowest);
            prop_assert!(range.highest <= chat.cap.max(before[i].highest), "chat {} rose to {} members", id, range.highest);
        }
        prop_assert!(world.violations().is_empty(), "{:?}", world.violations());
    }
}
