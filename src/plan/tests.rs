//! Unit tests for the planner's rules, written from the user's side: a config and a state in,
//! the steps, summary or error messages a user would read out.

use std::collections::BTreeMap;

use crate::config::{Desired, DesiredChat, Settings};
use crate::handle::Handle;
use crate::hint::Hint;
use crate::members::Members;
use crate::state::{ChatState, State};

use super::*;

fn handle(name: &str) -> Handle {
    Handle::parse(&format!("{name}@x.io")).unwrap()
}

fn handles(names: &[&str]) -> Members {
    names.iter().map(|name| handle(name)).collect()
}

fn chat(members: &[&str]) -> DesiredChat {
    DesiredChat {
        name: None,
        service: None,
        max_members: 31,
        protected: Members::new(),
        members: handles(members),
        max_removals: None,
        file: 0,
        ..Default::default()
    }
}

fn config(chats: &[(&str, &[&str])]) -> Desired {
    Desired {
        settings: Settings::default(),
        chats: chats
            .iter()
            .map(|(id, members)| (id.to_string(), chat(members)))
            .collect(),
        names: BTreeMap::new(),
        digest: String::new(),
        files: Vec::new(),
    }
}

fn state(chats: &[(&str, &[&str])]) -> State {
    State {
        version: 1,
        lineage: "lineage-1".into(),
        serial: 7,
        chats: chats
            .iter()
            .map(|(id, members)| {
                let known = ChatState {
                    members: handles(members),
                    ..ChatState::default()
                };
                (id.to_string(), known)
            })
            .collect(),
    }
}

fn plan_all(desired: &Desired, state: &State) -> Result<Plan, PlanErrors> {
    plan(desired, state, &PlanOptions::default())
}

/// Steps of one chat as `+d`, `wait`, `-c`, handles shortened to their local part.
fn steps(plan: &Plan, id: &str) -> Vec<String> {
    let short = |handle: &Handle| handle.as_str().trim_end_matches("@x.io").to_owned();
    let chat = plan.chats.iter().find(|chat| chat.id == id).unwrap();
    chat.steps
        .iter()
        .map(|step| match step {
            Step::Add { handle, .. } => format!("+{}", short(handle)),
            Step::Remove { handle, .. } => format!("-{}", short(handle)),
            Step::Wait => "wait".to_owned(),
            Step::Create => "create".to_owned(),
            Step::Name { value } => format!("name {value}"),
            Step::Icon { value } => format!("icon {value}"),
        })
        .collect()
}

fn error_text(result: Result<Plan, PlanErrors>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn spec_swap_at_the_floor_waits_for_the_add() {
    let desired = config(&[("c1", &["a", "b", "d"])]);
    let state = state(&[("c1", &["a", "b", "c"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+d", "wait", "-c"]);
    assert_eq!(
        plan.summary,
        Summary {
            add: 1,
            remove: 1,
            wait: 1,
            chats_changed: 1,
            forget: 0,
            create: 0,
            name: 0,
            icon: 0,
            rekey: 0,
            unknown: 0
        }
    );
    let chat = &plan.chats[0];
    assert_eq!(chat.action, Action::Update);
    assert_eq!(chat.before, Some(handles(&["a", "b", "c"]).into_iter().collect()));
    assert_eq!(chat.after, Some(handles(&["a", "b", "d"]).into_iter().collect()));
}

#[test]
fn spec_swap_the_other_way_waits_too() {
    let desired = config(&[("c1", &["a", "b", "c"])]);
    let state = state(&[("c1", &["a", "b", "d"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+c", "wait", "-d"]);
}

#[test]
fn spec_swap_with_five_members_needs_no_wait() {
    let desired = config(&[("c1", &["a", "b", "c", "d", "f"])]);
    let state = state(&[("c1", &["a", "b", "c", "d", "e"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+f", "-e"]);
    assert_eq!(plan.summary.wait, 0);
}

#[test]
fn swap_at_the_cap_removes_then_waits_then_adds() {
    let mut desired = config(&[("c1", &["a", "b", "c", "d", "f"])]);
    desired.chats.get_mut("c1").unwrap().max_members = 5;
    let state = state(&[("c1", &["a", "b", "c", "d", "e"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["-e", "wait", "+f"]);
}

#[test]
fn adds_come_first_in_sorted_order_then_removes() {
    let desired = config(&[("c1", &["a", "b", "c", "x", "z", "y"])]);
    let state = state(&[("c1", &["a", "b", "c", "e", "d"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+x", "+y", "+z", "-d", "-e"]);
}

#[test]
fn chat_under_the_floor_may_only_grow() {
    let desired = config(&[("c1", &["a", "b", "c", "d"])]);
    let state = state(&[("c1", &["a", "b"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+c", "+d"]);

    // A swap in a chat under the floor: the add must land before anything may go.
    let desired = config(&[("c1", &["a", "c", "d"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+c", "+d", "wait", "-b"]);
}

#[test]
fn chat_too_small_for_linq_to_add_to_is_refused() {
    let desired = config(&[("c1", &["a", "b", "c"])]);
    let state = state(&[("c1", &["a"])]);
    assert_eq!(
        error_text(plan_all(&desired, &state)),
        "chat `c1` has no safe order of changes: the chat has `1` members besides your own line \
         and Linq adds only to chats of 3 or more participants; add members in the Linq app first"
    );
}

#[test]
fn chat_over_the_cap_may_only_shrink() {
    let mut desired = config(&[("c1", &["a", "b", "c", "g"])]);
    desired.chats.get_mut("c1").unwrap().max_members = 4;
    let state = state(&[("c1", &["a", "b", "c", "d", "e", "f"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["-d", "-e", "-f", "wait", "+g"]);
}

#[test]
fn desired_over_the_cap_is_refused() {
    let mut desired = config(&[("c1", &["a", "b", "c", "d", "e"])]);
    let chat = desired.chats.get_mut("c1").unwrap();
    chat.max_members = 4;
    chat.name = Some("Sales West".into());
    let state = state(&[("c1", &["a", "b", "c"])]);
    assert_eq!(
        error_text(plan_all(&desired, &state)),
        "chat `c1` (Sales West) has no safe order of changes: the config wants `5` members but \
         the cap is `4` (`max_members`)"
    );
}

#[test]
fn desired_under_the_floor_is_refused() {
    let desired = config(&[("c1", &["a", "b"])]);
    let state = state(&[("c1", &["a", "b", "c", "d"])]);
    assert_eq!(
        error_text(plan_all(&desired, &state)),
        "chat `c1` has no safe order of changes: the config wants `2` members but the floor is \
         `3` (`min_members`), so the last remove would take the chat under it"
    );
}

#[test]
fn floor_equal_to_cap_cannot_swap() {
    let mut desired = config(&[("c1", &["a", "b", "d"])]);
    desired.chats.get_mut("c1").unwrap().max_members = 3;
    let state = state(&[("c1", &["a", "b", "c"])]);
    let text = error_text(plan_all(&desired, &state));
    assert_eq!(
        text,
        "chat `c1` has no safe order of changes: the floor and the cap are both `3`, so at `3` \
         members no add fits under the cap and no remove keeps the floor; lower `min_members` or \
         raise `max_members` to swap members"
    );
}

#[test]
fn protected_handle_is_never_removed() {
    let mut desired = config(&[("c1", &["b", "c", "d", "e"]), ("c2", &["b", "c", "d"])]);
    desired.settings.protected = handles(&["a"]);
    desired.settings.max_removal_ratio = 1.0;
    desired.chats.get_mut("c1").unwrap().protected = handles(&["a"]);
    desired.chats.get_mut("c2").unwrap().protected = handles(&["a", "e"]);
    desired.chats.get_mut("c2").unwrap().name = Some("Ops".into());
    desired.names.insert(handle("a"), "alice".into());
    let state = state(&[("c1", &["a", "b", "c", "d", "e"]), ("c2", &["a", "b", "c", "d", "e"])]);
    assert_eq!(
        error_text(plan_all(&desired, &state)),
        "chat `c1` would remove protected `a@x.io` (alice)\n\
         chat `c2` (Ops) would remove protected `a@x.io` (alice)\n\
         chat `c2` (Ops) would remove protected `e@x.io`"
    );
}

/// 12 memberships in three chats of four; `removed` members dropped from the first chats.
fn mass_fixture(removed: usize) -> (Desired, State) {
    let full: [&str; 4] = ["a", "b", "c", "d"];
    let state = state(&[("c1", &full), ("c2", &full), ("c3", &full)]);
    let mut desired = config(&[("c1", &full), ("c2", &full), ("c3", &full)]);
    desired.settings.min_members = 2;
    let mut left = removed;
    for id in ["c1", "c2", "c3"] {
        let take = left.min(2);
        let chat = desired.chats.get_mut(id).unwrap();
        for name in &full[4 - take..] {
            chat.members.remove(&handle(name));
        }
        left -= take;
    }
    (desired, state)
}

#[test]
fn mass_removal_at_the_limit_is_allowed() {
    // 3 of 12 is exactly 25%: not more than the limit.
    let (desired, state) = mass_fixture(3);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(plan.summary.remove, 3);
}

#[test]
fn mass_removal_over_the_limit_is_refused_with_the_numbers() {
    let (desired, state) = mass_fixture(4);
    assert_eq!(
        error_text(plan_all(&desired, &state)),
        "the plan removes `4` of `12` current memberships (33.3%), more than the 25% that \
         `settings.max_removal_ratio` allows; most removals: `c1`: 2, `c2`: 2"
    );
    let options = PlanOptions {
        allow_mass_removal: true,
        ..PlanOptions::default()
    };
    assert_eq!(plan(&desired, &state, &options).unwrap().summary.remove, 4);
}

#[test]
fn mass_removal_guard_ignores_small_setups() {
    // 2 of 4 memberships is 50%, but under 10 memberships the guard does not apply.
    let mut desired = config(&[("c1", &["a", "b"])]);
    desired.settings.min_members = 2;
    let state = state(&[("c1", &["a", "b", "c", "d"])]);
    assert_eq!(plan_all(&desired, &state).unwrap().summary.remove, 2);
}

/// The selection of `targets` and `excludes`, chat ids only (no path leads anywhere).
fn selection(desired: &Desired, state: &State, targets: &[&str], excludes: &[&str]) -> Selection {
    let owned = |list: &[&str]| list.iter().map(|id| id.to_string()).collect::<Vec<_>>();
    select(&owned(targets), &owned(excludes), Some(desired), state, &|_| None).unwrap()
}

#[test]
fn target_limits_the_plan_and_the_guards() {
    let (desired, state) = mass_fixture(4);
    // c3 alone: no removals in scope, so no mass removal either.
    let options = PlanOptions {
        selection: selection(&desired, &state, &["c3"], &[]),
        ..PlanOptions::default()
    };
    let only_c3 = plan(&desired, &state, &options).unwrap();
    assert!(only_c3.chats.is_empty());

    let options = PlanOptions {
        selection: selection(&desired, &state, &["c2"], &[]),
        ..PlanOptions::default()
    };
    // 2 of 4 memberships in scope: under the 10 memberships the guard needs.
    let plan = plan(&desired, &state, &options).unwrap();
    assert_eq!(
        plan.chats.iter().map(|chat| chat.id.as_str()).collect::<Vec<_>>(),
        ["c2"]
    );
    assert_eq!(steps(&plan, "c2"), ["-c", "-d"]);
    assert_eq!(plan.selection, options.selection, "the plan records its selection");
}

#[test]
fn exclude_takes_chats_out_of_the_plan_and_the_guards() {
    let (mut desired, state) = mass_fixture(4);
    desired.settings.max_removals = Some(2);
    // Without c1, 2 removals of 8 memberships: under every guard.
    let options = PlanOptions {
        selection: selection(&desired, &state, &[], &["c1"]),
        ..PlanOptions::default()
    };
    let plan = plan(&desired, &state, &options).unwrap();
    assert_eq!(
        plan.chats.iter().map(|chat| chat.id.as_str()).collect::<Vec<_>>(),
        ["c2"]
    );
    // An exclude wins over a target.
    let options = PlanOptions {
        selection: selection(&desired, &state, &["c1", "c2"], &["c2"]),
        allow_mass_removal: true,
        ..PlanOptions::default()
    };
    let plan = super::plan(&desired, &state, &options).unwrap();
    assert_eq!(
        plan.chats.iter().map(|chat| chat.id.as_str()).collect::<Vec<_>>(),
        ["c1"]
    );
}

#[test]
fn max_removals_over_all_chats_is_refused_with_the_heaviest_chats() {
    // 3 of 12 removals: within the ratio, over an absolute limit of 2.
    let (mut desired, state) = mass_fixture(3);
    desired.chats.get_mut("c2").unwrap().name = Some("Sales".into());
    desired.settings.max_removals = Some(2);
    let errors = plan_all(&desired, &state).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "the plan removes `3` members, more than the `2` that `settings.max_removals` allows; \
         most removals: `c1`: 2, `c2` (Sales): 1"
    );
    assert!(errors.hint().unwrap().contains("raise `settings.max_removals`"));
    desired.settings.max_removals = Some(3);
    assert_eq!(
        plan_all(&desired, &state).unwrap().summary.remove,
        3,
        "at the limit is allowed"
    );
}

#[test]
fn a_chats_max_removals_is_refused_for_that_chat_only_and_small_setups_get_no_pass() {
    // 2 of 4 memberships: under the 10 the ratio needs, but a chat's own limit always counts.
    let mut desired = config(&[("c1", &["a", "b"]), ("c2", &["a", "b", "c"])]);
    desired.settings.min_members = 2;
    desired.chats.get_mut("c1").unwrap().max_removals = Some(1);
    desired.chats.get_mut("c2").unwrap().max_removals = Some(0);
    let state = state(&[("c1", &["a", "b", "c", "d"]), ("c2", &["a", "b", "c"])]);
    let errors = plan_all(&desired, &state).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "chat `c1` would lose `2` members, more than the `1` its `max_removals` allows"
    );
    assert!(errors.hint().unwrap().contains("raise the chat's `max_removals`"));
    let options = PlanOptions {
        allow_mass_removal: true,
        ..PlanOptions::default()
    };
    assert_eq!(plan(&desired, &state, &options).unwrap().summary.remove, 2);
}

#[test]
fn every_guard_that_trips_is_reported_and_the_flag_lifts_them_all() {
    let (mut desired, state) = mass_fixture(4);
    desired.settings.max_removals = Some(1);
    desired.chats.get_mut("c1").unwrap().max_removals = Some(1);
    let errors = plan_all(&desired, &state).unwrap_err();
    assert!(matches!(
        errors.0.as_slice(),
        [
            PlanError::ChatRemovals { .. },
            PlanError::MassRemoval { .. },
            PlanError::TooManyRemovals { .. },
        ]
    ));
    let options = PlanOptions {
        allow_mass_removal: true,
        ..PlanOptions::default()
    };
    assert_eq!(plan(&desired, &state, &options).unwrap().summary.remove, 4);
}

#[test]
fn members_who_left_are_not_readded_by_default() {
    let desired = config(&[("c1", &["a", "b", "c", "d", "e"])]);
    let mut state = state(&[("c1", &["a", "b", "c"])]);
    state.chats.get_mut("c1").unwrap().left = handles(&["d"]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+e"]);
    let chat = &plan.chats[0];
    assert_eq!(chat.left, [handle("d")]);
    assert_eq!(chat.after, Some(handles(&["a", "b", "c", "e"]).into_iter().collect()));
    assert_eq!(plan.summary.add, 1);
}

#[test]
fn members_who_left_are_readded_when_asked() {
    let mut desired = config(&[("c1", &["a", "b", "c", "d"])]);
    desired.settings.readd_left = true;
    let mut state = state(&[("c1", &["a", "b", "c"])]);
    state.chats.get_mut("c1").unwrap().left = handles(&["d"]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+d"]);
    assert!(plan.chats[0].left.is_empty());
}

#[test]
fn chat_with_only_left_members_is_shown_but_not_pending() {
    let desired = config(&[("c1", &["a", "b", "c", "d"])]);
    let mut state = state(&[("c1", &["a", "b", "c"])]);
    state.chats.get_mut("c1").unwrap().left = handles(&["d"]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(plan.chats.len(), 1);
    assert!(plan.chats[0].steps.is_empty());
    assert_eq!(plan.summary, Summary::default());
    assert!(!plan.is_empty());
    assert!(!plan.has_changes());
}

#[test]
fn chat_only_in_config_is_unknown() {
    let mut desired = config(&[("c1", &["a", "b", "c"])]);
    desired.chats.get_mut("c1").unwrap().name = Some("New".into());
    let plan = plan_all(&desired, &state(&[])).unwrap();
    assert_eq!(
        plan.chats,
        [ChatPlan {
            id: "c1".into(),
            key: "c1".into(),
            create: None,
            rekey: None,
            likely_rename_of: None,
            name: Some("New".into()),
            action: Action::Unknown,
            before: None,
            after: None,
            left: Vec::new(),
            steps: Vec::new(),
        }]
    );
    assert_eq!(plan.summary.unknown, 1);
    assert_eq!(plan.summary.chats_changed, 0);
    assert!(plan.has_changes());
}

#[test]
fn chat_only_in_state_is_forgotten_without_calls() {
    let mut state = state(&[("c1", &["b", "a", "c"])]);
    state.chats.get_mut("c1").unwrap().display_name = Some("Old".into());
    let plan = plan_all(&config(&[]), &state).unwrap();
    assert_eq!(
        plan.chats,
        [ChatPlan {
            id: "c1".into(),
            key: "c1".into(),
            create: None,
            rekey: None,
            likely_rename_of: None,
            name: Some("Old".into()),
            action: Action::Forget,
            before: Some(handles(&["a", "b", "c"]).into_iter().collect()),
            after: None,
            left: Vec::new(),
            steps: Vec::new(),
        }]
    );
    assert_eq!(plan.summary.forget, 1);
    assert_eq!(plan.summary.remove, 0);
    assert!(plan.has_changes());
}

#[test]
fn renaming_people_changes_nothing() {
    let mut desired = config(&[("c1", &["a", "b", "c"])]);
    desired.names.insert(handle("a"), "alice-renamed".into());
    let state = state(&[("c1", &["c", "b", "a"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert!(plan.is_empty());
    assert!(!plan.has_changes());
    assert_eq!(plan.summary, Summary::default());
}

#[test]
fn steps_name_the_person() {
    let mut desired = config(&[("c1", &["a", "b", "c", "d"])]);
    desired.names.insert(handle("d"), "dana".into());
    let state = state(&[("c1", &["a", "b", "c"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(
        plan.chats[0].steps,
        [Step::Add {
            handle: handle("d"),
            person: Some("dana".into())
        }]
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let mut desired = config(&[("c1", &["b", "c", "d"]), ("c2", &["a", "b"])]);
    desired.settings.protected = handles(&["a"]);
    desired.chats.get_mut("c1").unwrap().protected = handles(&["a"]);
    let state = state(&[("c1", &["a", "b", "c", "d"]), ("c2", &["a", "b", "c"])]);
    let errors = plan_all(&desired, &state).unwrap_err();
    assert!(matches!(
        errors.0.as_slice(),
        [PlanError::ProtectedRemoval { .. }, PlanError::NoValidOrder { .. },]
    ));
    assert_eq!(errors.to_string().lines().count(), 2);
}

#[test]
fn plan_records_the_state_it_was_made_from_and_sorts_chats() {
    let desired = config(&[("b", &["a", "b", "c", "d"]), ("a", &["a", "b", "c"])]);
    let state = state(&[("b", &["a", "b", "c"]), ("c", &["a", "b", "c"])]);
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(plan.format_version, FORMAT_VERSION);
    assert_eq!(
        plan.state,
        StateRef {
            lineage: "lineage-1".into(),
            serial: 7
        }
    );
    let ids: Vec<_> = plan.chats.iter().map(|chat| (chat.id.as_str(), chat.action)).collect();
    assert_eq!(
        ids,
        [("a", Action::Unknown), ("b", Action::Update), ("c", Action::Forget)]
    );
}

#[test]
fn json_plan_has_the_documented_shape() {
    let mut desired = config(&[("c1", &["a", "b", "d"])]);
    desired.chats.get_mut("c1").unwrap().name = Some("Sales West".into());
    desired.names.insert(handle("d"), "dana".into());
    let state = state(&[("c1", &["a", "b", "c"])]);
    let plan = plan_all(&desired, &state).unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "format_version": "1",
            "state": { "lineage": "lineage-1", "serial": 7 },
            "chats": [{
                "id": "c1", "key": "c1", "name": "Sales West", "action": "update",
                "before": ["a@x.io", "b@x.io", "c@x.io"],
                "after": ["a@x.io", "b@x.io", "d@x.io"],
                "steps": [
                    { "op": "add", "handle": "d@x.io", "person": "dana" },
                    { "op": "wait" },
                    { "op": "remove", "handle": "c@x.io" }
                ]
            }],
            "summary": { "add": 1, "remove": 1, "wait": 1, "chats_changed": 1, "forget": 0, "unknown": 0 }
        })
    );
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn ten_thousand_chats_plan_in_one_pass() {
    // 10,000 chats of 20 members; every 10th chat swaps two members (5% of memberships change).
    let member = |chat: usize, i: usize| Handle::parse(&format!("+1{:06}{:04}", chat, i)).unwrap();
    let mut desired = config(&[]);
    let mut state = state(&[]);
    desired.settings.max_removal_ratio = 1.0;
    for c in 0..10_000 {
        let id = format!("chat-{c:05}");
        let current: Members = (0..20).map(|i| member(c, i)).collect();
        let mut wanted = chat(&[]);
        wanted.members = current.clone();
        if c % 10 == 0 {
            wanted.members.remove(&member(c, 0));
            wanted.members.remove(&member(c, 1));
            wanted.members.insert(member(c, 20));
            wanted.members.insert(member(c, 21));
        }
        desired.chats.insert(id.clone(), wanted);
        let known = ChatState {
            members: current,
            ..ChatState::default()
        };
        state.chats.insert(id, known);
    }
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(plan.summary.chats_changed, 1_000);
    assert_eq!(plan.summary.add, 2_000);
    assert_eq!(plan.summary.remove, 2_000);
    assert_eq!(plan.summary.wait, 0);
}

#[test]
fn a_saved_plan_from_before_selections_applies_with_its_bare_targets() {
    let desired = config(&[("c1", &["a", "b", "d"]), ("c2", &["a", "b", "d"])]);
    let state = state(&[("c1", &["a", "b", "c"]), ("c2", &["a", "b", "c"])]);
    let options = PlanOptions {
        selection: selection(&desired, &state, &["c1"], &[]),
        ..PlanOptions::default()
    };
    let made = plan(&desired, &state, &options).unwrap();
    // As an older roster wrote it: the target's id beside the plan, no selection in it.
    let older = Plan {
        selection: Selection::default(),
        ..made
    };
    let mut saved = SavedPlan::new(older, &options, String::new(), Vec::new(), "s".into());
    saved.targets = vec!["c1".to_owned()];
    let check = |saved: &SavedPlan| saved.check_derived(&desired, &state, PendingTimeout::default(), &|_| None);
    assert_eq!(check(&saved), Ok(()));
    // Without it, roster derives both chats: the file leaves one out.
    saved.targets.clear();
    assert!(
        matches!(check(&saved), Err(SavedPlanError::Differs(_))),
        "{:?}",
        check(&saved)
    );
}

// ---- chats as code: keys, creates, names and icons ----

/// A chat to create, with a line and a first message.
fn creating(members: &[&str]) -> DesiredChat {
    DesiredChat {
        create: Some(crate::config::Create {
            from: Handle::parse("+12052535597").unwrap(),
            message: "Welcome".into(),
        }),
        name: Some("Support".into()),
        ..chat(members)
    }
}

#[test]
fn a_key_with_create_and_no_chat_is_created_then_named_and_counted() {
    let mut desired = config(&[]);
    desired.chats.insert("support".into(), creating(&["a", "b", "c"]));
    let plan = plan_all(&desired, &state(&[])).unwrap();
    let chat = &plan.chats[0];
    assert_eq!(
        (chat.action, chat.id.as_str(), chat.key.as_str()),
        (Action::Create, "", "support")
    );
    assert_eq!(
        chat.steps,
        [
            Step::Create,
            Step::Name {
                value: "Support".into()
            }
        ]
    );
    let request = chat.create_request().unwrap();
    assert_eq!(
        (request.key.as_str(), request.from.as_str()),
        ("support", "+12052535597")
    );
    assert_eq!((request.members.len(), request.message.as_str()), (3, "Welcome"));
    assert_eq!((plan.summary.create, plan.summary.name), (1, 1));
    assert!(plan.has_changes());
    let json = serde_json::to_value(chat).unwrap();
    assert_eq!(
        json["create"],
        serde_json::json!({"from": "+12052535597", "message": "Welcome"})
    );
    assert!(json.get("id").is_none(), "no id before the chat exists: {json}");
}

#[test]
fn more_creates_than_max_creates_are_refused_unless_allowed() {
    let mut desired = config(&[]);
    desired.settings.max_creates = 1;
    for key in ["one", "two"] {
        desired.chats.insert(key.into(), creating(&["a", "b", "c"]));
    }
    let errors = plan_all(&desired, &state(&[])).unwrap_err();
    assert!(
        matches!(
            &errors.0[..],
            [PlanError::MassCreate {
                creates: 2,
                limit: 1,
                ..
            }]
        ),
        "{errors:?}"
    );
    let options = PlanOptions {
        allow_mass_create: true,
        ..PlanOptions::default()
    };
    assert_eq!(plan(&desired, &state(&[]), &options).unwrap().summary.create, 2);
}

#[test]
fn a_vanished_key_and_a_new_create_with_its_members_are_a_likely_rename() {
    let mut desired = config(&[]);
    desired.chats.insert("support-new".into(), creating(&["a", "b", "c"]));
    let mut state = state(&[("00000000-0000-4000-8000-000000000001", &["a", "b", "c"])]);
    state.chats.values_mut().next().unwrap().key = Some("support".into());
    let plan = plan_all(&desired, &state).unwrap();
    let create = plan.chats.iter().find(|c| c.action == Action::Create).unwrap();
    assert_eq!(create.likely_rename_of.as_deref(), Some("support"));

    // With `previously`, the chat is taken over: no create, a new key recorded, no call.
    desired.chats.get_mut("support-new").unwrap().previously = vec!["support".into()];
    desired.chats.get_mut("support-new").unwrap().name = None;
    let plan = plan_all(&desired, &state).unwrap();
    let chat = &plan.chats[0];
    assert_eq!(
        (chat.action, chat.key.as_str(), chat.rekey.as_deref()),
        (Action::Update, "support-new", Some("support"))
    );
    assert!(chat.steps.is_empty());
    assert_eq!((plan.summary.rekey, plan.chats.len()), (1, 1));
}

#[test]
fn names_and_icons_are_steps_after_the_members_only_where_they_differ() {
    let mut desired = config(&[("c1", &["a", "b", "c", "d"])]);
    let wanted = desired.chats.get_mut("c1").unwrap();
    wanted.name = Some("Sales".into());
    wanted.icon = Some("https://example.com/i.png".into());
    let mut state = state(&[("c1", &["a", "b", "c"])]);
    state.chats.get_mut("c1").unwrap().display_name = Some("Old".into());
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(
        steps(&plan, "c1"),
        ["+d", "name Sales", "icon https://example.com/i.png"]
    );

    state.chats.get_mut("c1").unwrap().icon = Some("https://example.com/i.png".into());
    desired.settings.manage_names = false;
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+d"], "a label only, and the icon already set");

    // A name the state never read is read first, not overwritten blind.
    desired.settings.manage_names = true;
    state.chats.get_mut("c1").unwrap().display_name = None;
    let plan = plan_all(&desired, &state).unwrap();
    assert_eq!(steps(&plan, "c1"), ["+d"]);
}

#[test]
fn keys_bind_by_id_by_state_and_unbound_keys_are_named() {
    let id = "00000000-0000-4000-8000-000000000001";
    let mut desired = config(&[]);
    desired.chats.insert(
        "sales".into(),
        DesiredChat {
            id: Some(id.into()),
            ..chat(&["a", "b", "c"])
        },
    );
    desired.chats.insert("lost".into(), chat(&["a", "b", "c"]));
    let state = state(&[(id, &["a", "b", "c"])]);
    let bindings = super::bind(&desired, &state);
    assert!(matches!(bindings.keys["sales"], Binding::Known { rekey: Some(old), .. } if old == id));
    let problems = super::check_bindings(&desired, &bindings);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].message.starts_with("chat `lost` stands for no chat"),
        "{problems:?}"
    );
}
