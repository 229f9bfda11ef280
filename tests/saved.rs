//! Saved plans against the sandbox: `apply PLANFILE` re-derives the plan from the config and the
//! state the file names and refuses, sending nothing, when any step differs (edited plans whose
//! checksum was recomputed, as anyone can), when it is stale by lineage, or while a journal
//! waits to be settled; fresh plans made with `--target` or `--allow-mass-removal` still apply.

use std::collections::{BTreeMap, BTreeSet};

use linq_sandbox::{Options, Seed, SeedChat};
use roster::handle::Handle;
use roster::plan::{Action, ChatPlan, SavedPlan, Step};

use crate::common::{forge, member, Linq};

const TOKEN: &str = "sandbox-token-saved";
const ME: &str = "+15550009999";
/// At the floor, swapping a member: `+w4`, `wait`, `-w3`.
const WAIT: &str = "00000000-0000-4000-8000-0000000000a1";
/// Four members, the first protected; nothing to do.
const GUARDED: &str = "00000000-0000-4000-8000-0000000000a2";
/// Three members; nothing to do.
const TRIO: &str = "00000000-0000-4000-8000-0000000000a3";
const PROTECTED: &str = "+15550002001";

fn members(chat: u32, ns: impl IntoIterator<Item = u32>) -> Vec<String> {
    ns.into_iter().map(|n| member(chat, n)).collect()
}

impl Linq {
    /// `chats` on Linq and in the state: id, the members Linq and the state hold, the members
    /// the config wants.
    fn recorded(chats: &[(&str, Vec<String>, Vec<String>)]) -> Linq {
        let seed = Seed {
            token: TOKEN.into(),
            me: ME.into(),
            chats: chats
                .iter()
                .map(|(id, now, _)| SeedChat::group(id, &now.iter().map(String::as_str).collect::<Vec<_>>()))
                .collect(),
            handle_services: BTreeMap::new(),
        };
        let linq = Linq::serve(seed, Options::default());
        let mut yaml = format!("version: 1\nsettings:\n  protected: ['{PROTECTED}']\nchats:\n");
        let mut state = serde_json::Map::new();
        for (id, now, want) in chats {
            let want: Vec<String> = want.iter().map(|h| format!("'{h}'")).collect();
            yaml.push_str(&format!("  {id}:\n    members: [{}]\n", want.join(", ")));
            state.insert(id.to_string(), serde_json::json!({ "members": now }));
        }
        linq.ws.write("roster.yaml", yaml);
        linq.ws.write_state("11111111-2222-4333-8444-555555555555", 3, state);
        linq
    }

    /// The three chats of the edit tests: only [`WAIT`] has something to do.
    fn standard() -> Linq {
        Linq::recorded(&[
            (WAIT, members(1, [1, 2, 3]), members(1, [1, 2, 4])),
            (
                GUARDED,
                [PROTECTED.to_owned()]
                    .into_iter()
                    .chain(members(2, [2, 3, 4]))
                    .collect(),
                [PROTECTED.to_owned()]
                    .into_iter()
                    .chain(members(2, [2, 3, 4]))
                    .collect(),
            ),
            (TRIO, members(3, [1, 2, 3]), members(3, [1, 2, 3])),
        ])
    }

    fn saved(&self, file: &str) -> SavedPlan {
        serde_json::from_str(&self.ws.read(file)).expect("a saved plan")
    }

    /// Writes `saved` to `file`, sealed as anyone can (see [`forge`]), and checks the seal holds.
    fn forge(&self, file: &str, saved: SavedPlan) {
        forge(&self.ws, file, saved);
        assert_eq!(self.ws.roster(&["show", file]).code(), 0, "the seal holds");
    }

    /// `apply FILE` is refused with exit 1, and the sandbox received no call at all.
    fn refused(&self, file: &str) -> String {
        let state = self.ws.read("roster.state.json");
        let run = self.expect(1, &["apply", file]);
        assert!(self.sandbox.calls().is_empty(), "{:?}", self.sandbox.calls());
        assert_eq!(self.ws.read("roster.state.json"), state, "nothing was written");
        run.stderr()
    }
}

fn h(text: &str) -> Handle {
    Handle::parse(text).unwrap()
}

fn add(handle: &str) -> Step {
    Step::Add {
        handle: h(handle),
        person: None,
    }
}

fn remove(handle: &str) -> Step {
    Step::Remove {
        handle: h(handle),
        person: None,
    }
}

/// A chat of the plan, taken from `before` by `steps`.
fn chat(id: &str, before: &[String], steps: Vec<Step>) -> ChatPlan {
    let mut after: BTreeSet<Handle> = before.iter().map(|m| h(m)).collect();
    for step in &steps {
        match step {
            Step::Add { handle, .. } => after.insert(handle.clone()),
            Step::Remove { handle, .. } => after.remove(handle),
            Step::Wait | Step::Create | Step::Name { .. } | Step::Icon { .. } => true,
        };
    }
    ChatPlan {
        id: id.to_owned(),
        key: id.to_owned(),
        create: None,
        rekey: None,
        likely_rename_of: None,
        name: None,
        action: Action::Update,
        before: Some(
            before
                .iter()
                .map(|m| h(m))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        ),
        after: Some(after.into_iter().collect()),
        left: Vec::new(),
        steps,
    }
}

#[test]
fn edited_plans_are_refused_and_send_nothing_even_with_a_valid_checksum() {
    let setup = Linq::standard();
    setup.expect(0, &["plan", "--out", "plan.json"]);
    let saved = setup.saved("plan.json");
    assert_eq!(
        saved.plan.chats[0].steps,
        [add(&member(1, 4)), Step::Wait, remove(&member(1, 3))]
    );
    let guarded: Vec<String> = [PROTECTED.to_owned()]
        .into_iter()
        .chain(members(2, [2, 3, 4]))
        .collect();

    let mut edits: Vec<(&str, SavedPlan)> = Vec::new();
    // A protected member removed by a step added by hand.
    let mut edit = saved.clone();
    edit.plan.chats.push(chat(GUARDED, &guarded, vec![remove(PROTECTED)]));
    edit.plan.summary.remove += 1;
    edits.push(("a protected member removed", edit));
    // A chat taken from 3 members to 1.
    let mut edit = saved.clone();
    edit.plan.chats.push(chat(
        TRIO,
        &members(3, [1, 2, 3]),
        vec![remove(&member(3, 2)), remove(&member(3, 3))],
    ));
    edit.plan.summary.remove += 2;
    edits.push(("a chat taken from 3 members to 1", edit));
    // The wait removed: the remove would run before the add it relies on has landed.
    let mut edit = saved.clone();
    edit.plan.chats[0].steps.retain(|step| *step != Step::Wait);
    edit.plan.summary.wait -= 1;
    edits.push(("the wait removed", edit));
    // The steps reordered: the remove first, at the floor.
    let mut edit = saved.clone();
    edit.plan.chats[0].steps.reverse();
    edits.push(("the steps reordered", edit));
    // Another handle added.
    let mut edit = saved.clone();
    edit.plan.chats[0] = chat(
        WAIT,
        &members(1, [1, 2, 3]),
        vec![add(&member(1, 9)), Step::Wait, remove(&member(1, 3))],
    );
    edits.push(("a handle changed", edit));

    let mut messages = String::new();
    for (what, edit) in edits {
        setup.forge("edited.json", edit);
        let stderr = setup.refused("edited.json");
        assert!(
            stderr.contains("does not match what roster derives from its config and state"),
            "{what}: {stderr}"
        );
        messages.push_str(&format!("# {what}\n{stderr}"));
    }
    insta::assert_snapshot!(messages);

    // The file as made still applies, exactly.
    setup.expect(0, &["apply", "plan.json"]);
    setup.sandbox.land_all();
    let want: BTreeSet<String> = members(1, [1, 2, 4]).into_iter().collect();
    assert_eq!(setup.sandbox.members(WAIT).unwrap(), want);
    assert!(setup.sandbox.violations().is_empty());
}

#[test]
fn a_plan_the_guards_would_refuse_is_refused_when_saved_too() {
    // The config changed by hand to remove a protected member cannot be planned; a plan file
    // carrying that remove, sealed against the changed config, is refused the same way.
    let setup = Linq::standard();
    let config = setup.ws.read("roster.yaml");
    let without = config.replace(&format!("['{PROTECTED}', "), "[");
    setup.ws.write("roster.yaml", &without);
    let refused = setup.expect(1, &["plan"]);
    assert!(
        refused.stderr().contains("would remove protected"),
        "{}",
        refused.combined()
    );
    setup.ws.write("roster.yaml", &config);
    setup.expect(0, &["plan", "--out", "plan.json"]);
    let mut edit = setup.saved("plan.json");
    setup.ws.write("roster.yaml", &without);
    let digest = setup.ws.roster(&["plan", "--out", "probe.json", "--target", WAIT]);
    assert_eq!(digest.code(), 0, "{}", digest.combined());
    edit.config_digest = setup.saved("probe.json").config_digest;
    let guarded: Vec<String> = [PROTECTED.to_owned()]
        .into_iter()
        .chain(members(2, [2, 3, 4]))
        .collect();
    edit.plan.chats.push(chat(GUARDED, &guarded, vec![remove(PROTECTED)]));
    setup.forge("edited.json", edit);
    let stderr = setup.refused("edited.json");
    assert!(stderr.contains("no plan can be made"), "{stderr}");
    assert!(
        stderr.contains(&format!("would remove protected `{PROTECTED}`")),
        "{stderr}"
    );
    assert!(stderr.contains("hint: re-run `roster plan --out FILE`"), "{stderr}");
}

#[test]
fn fresh_saved_plans_made_with_target_or_allow_mass_removal_still_apply() {
    // Both chats change; the plan is limited to one of them.
    let setup = Linq::recorded(&[
        (WAIT, members(1, [1, 2, 3]), members(1, [1, 2, 4])),
        (TRIO, members(3, [1, 2, 3]), members(3, [1, 2, 3, 4])),
    ]);
    setup.expect(0, &["plan", "--target", TRIO, "--out", "plan.json"]);
    setup.expect(0, &["apply", "plan.json"]);
    setup.sandbox.land_all();
    assert_eq!(setup.sandbox.members(TRIO).unwrap().len(), 4);
    assert_eq!(
        setup.sandbox.members(WAIT).unwrap(),
        members(1, [1, 2, 3]).into_iter().collect(),
        "the chat not targeted is left alone"
    );

    // 5 of 11 memberships removed: more than the 25% allowed without the flag.
    let setup = Linq::recorded(&[
        (WAIT, members(1, [1, 2, 3]), members(1, [1, 2, 3])),
        (TRIO, members(3, 1..=8), members(3, [1, 2, 3])),
    ]);
    let refused = setup.expect(1, &["plan", "--out", "plan.json"]);
    assert!(
        refused.stderr().contains("--allow-mass-removal"),
        "{}",
        refused.combined()
    );
    setup.expect(0, &["plan", "--allow-mass-removal", "--out", "plan.json"]);
    assert!(setup.saved("plan.json").allow_mass_removal);
    setup.expect(0, &["apply", "plan.json"]);
    setup.sandbox.land_all();
    assert_eq!(
        setup.sandbox.members(TRIO).unwrap(),
        members(3, [1, 2, 3]).into_iter().collect()
    );
    assert!(setup.sandbox.violations().is_empty());
}

#[test]
fn a_plan_made_from_another_lineage_is_refused_and_sends_nothing() {
    let setup = Linq::standard();
    setup.expect(0, &["plan", "--out", "plan.json"]);
    // Another state at the same serial: restored from elsewhere, or made by another import.
    let state = setup.ws.read("roster.state.json").replace(
        "11111111-2222-4333-8444-555555555555",
        "99999999-2222-4333-8444-555555555555",
    );
    setup.ws.write("roster.state.json", state);
    let stderr = setup.refused("plan.json");
    assert!(stderr.contains("plan is stale: re-run plan"), "{stderr}");
    assert!(
        stderr.contains("the state has lineage `99999999-2222-4333-8444-555555555555`"),
        "{stderr}"
    );
}

#[test]
fn a_plan_is_refused_while_an_interrupted_apply_left_a_journal() {
    let setup = Linq::standard();
    setup.expect(0, &["plan", "--out", "plan.json"]);
    let journal = [
        serde_json::json!({"type": "begin", "lineage": "11111111-2222-4333-8444-555555555555", "serial": 3}),
        serde_json::json!({"type": "intent", "id": 1, "chat": WAIT, "op": "add", "handle": member(1, 4)}),
    ]
    .iter()
    .map(|record| format!("{record}\n"))
    .collect::<String>();
    setup.ws.write("roster.state.json.journal", &journal);
    let stderr = setup.refused("plan.json");
    insta::assert_snapshot!(stderr);
    assert_eq!(
        setup.ws.read("roster.state.json.journal"),
        journal,
        "kept for the next apply"
    );
}
