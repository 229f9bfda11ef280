//! `--target` and `--exclude` in every form (a chat id, `name:GLOB` in any case, a config file
//! or folder) through the real binary: offline plans, apply, saved plans applied, refresh and
//! `plan --refresh` against the sandbox; selectors that match nothing; and the `max_removals`
//! guards, per chat and over all chats.

use std::collections::BTreeSet;
use std::time::Duration;

use linq_sandbox::{Options, Sandbox, Seed, SeedChat};
use roster::plan::SavedPlan;
use serde_json::Value;

use crate::common::{forge, member, mutating_calls, repo, roster, Linq, Run, Workspace, TOKEN};

/// The team example's chats (`examples/team`): three in `config/sales.yaml`, one in
/// `config/support.yaml`, and one only in the state, forgotten by a full plan.
const SALES_WEST: &str = "550e8400-e29b-41d4-a716-446655440000";
const ONBOARDING: &str = "16fd2706-8baf-433b-82eb-8c7fb5a1a2b3";
const SALES_EAST: &str = "9b2d5c1e-3f4a-4e8b-a1c7-2d6e8f0a4b13";
const SUPPORT: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const OLD: &str = "e2a1b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b";

/// The team example in a workspace, and its chats on a sandbox.
struct Team {
    ws: Workspace,
    sandbox: Sandbox,
}

impl Team {
    fn new() -> Team {
        let seed = Sandbox::load_seed(repo().join("examples/team/sandbox.json")).unwrap();
        let seed = Seed {
            token: TOKEN.to_owned(),
            ..seed
        };
        let options = Options {
            land_delay: Duration::from_millis(30),
            ..Options::default()
        };
        Team {
            ws: Workspace::team(),
            sandbox: Sandbox::spawn(seed, options),
        }
    }

    /// `roster ARGS -c config` against the sandbox (without `-c` for a plan file, which
    /// names its config), exiting `code`.
    fn expect(&self, code: i32, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        let plan_file =
            matches!(args.first(), Some(&"apply" | &"show")) && args.get(1).is_some_and(|a| a.ends_with(".json"));
        if !plan_file {
            all.extend(["-c", "config"]);
        }
        let run = roster(&self.ws, &self.sandbox, &all);
        assert_eq!(run.code(), code, "roster {}\n{}", all.join(" "), run.combined());
        run
    }

    /// The chats the sandbox received an add or a remove for.
    fn changed(&self) -> BTreeSet<String> {
        mutating_calls(&self.sandbox)
            .into_keys()
            .map(|(_, chat, _)| chat)
            .collect()
    }

    /// The chats the sandbox was asked to show.
    fn read(&self) -> BTreeSet<String> {
        (self.sandbox.calls().into_iter())
            .filter(|call| call.method == "GET")
            .filter_map(|call| call.chat)
            .collect()
    }
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|id| id.to_string()).collect()
}

/// `roster plan -c config ARGS --format json`, offline: the chats in the plan and its selection.
fn planned(ws: &Workspace, args: &[&str]) -> (BTreeSet<String>, Value) {
    let mut all = vec!["plan", "-c", "config", "--format", "json"];
    all.extend_from_slice(args);
    let run = ws.roster(&all);
    assert_eq!(run.code(), 0, "roster {}\n{}", all.join(" "), run.combined());
    let plan: Value = serde_json::from_str(&run.stdout()).unwrap();
    let chats = (plan["chats"].as_array().unwrap().iter())
        .map(|chat| chat["id"].as_str().unwrap().to_owned())
        .collect();
    (chats, plan["selection"].clone())
}

#[test]
fn plan_takes_ids_names_in_any_case_files_and_folders() {
    let ws = Workspace::team();
    let folder = ws.path().join("config").display().to_string();
    // Onboarding is in scope wherever named, but has nothing to do.
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &[SALES_WEST, SALES_EAST, SUPPORT, OLD]),
        (&["--target", SALES_WEST], &[SALES_WEST]),
        (&["--target", OLD], &[OLD]),
        (&["--target", "name:SALES*"], &[SALES_WEST, SALES_EAST]),
        (&["--target", "name:sales [ew]??t"], &[SALES_WEST, SALES_EAST]),
        (&["--target", "name:*Nights"], &[SUPPORT]),
        (&["--target", "name:onboarding"], &[]),
        (&["--target", "config/support.yaml"], &[SUPPORT]),
        (&["--target", "./config/"], &[SALES_WEST, SALES_EAST, SUPPORT]),
        (&["--target", &folder], &[SALES_WEST, SALES_EAST, SUPPORT]),
        (&["--target", "config", "--exclude", "name:sales*"], &[SUPPORT]),
        (&["--exclude", "config/sales.yaml"], &[SUPPORT, OLD]),
        (
            &["--exclude", OLD, "--exclude", "name:support*"],
            &[SALES_WEST, SALES_EAST],
        ),
        (
            &["--target", SUPPORT, "--target", "name:sales west", "--exclude", SUPPORT],
            &[SALES_WEST],
        ),
    ];
    for (args, expected) in cases {
        let (chats, _) = planned(&ws, args);
        assert_eq!(chats, ids(expected), "{args:?}");
    }

    // A chat in scope with nothing to do is not in the plan, but in its selection.
    let (_, selection) = planned(&ws, &["--target", "name:onboarding"]);
    assert_eq!(selection["targets"][0]["chats"], serde_json::json!([ONBOARDING]));

    // The JSON plan records each selector as given and the chats it resolved to.
    let (_, selection) = planned(&ws, &["--target", "config", "--exclude", "name:SALES*"]);
    insta::assert_json_snapshot!(selection);
    // Without one, it records nothing, as before.
    assert_eq!(planned(&ws, &[]).1, Value::Null);
}

#[test]
fn the_text_plan_shows_the_selection_above_the_chats() {
    let ws = Workspace::team();
    let run = ws.roster(&[
        "plan",
        "-c",
        "config",
        "--target",
        "name:S*",
        "--exclude",
        "config/support.yaml",
        "--exclude",
        SALES_EAST,
    ]);
    insta::assert_snapshot!(run.combined());
}

#[test]
fn selectors_that_match_nothing_are_refused_with_close_names_and_nothing_is_written() {
    let ws = Workspace::team();
    let before = ws.snapshot_files();
    let run = ws.roster(&[
        "plan",
        "-c",
        "config",
        "--out",
        "plan.json",
        "--target",
        "name:salse*",
        "--target",
        "550e8400-e29b-41d4-a716-44665544000",
        "--target",
        "Support Nights",
        "--target",
        "support.yaml",
        "--target",
        "config/people.yaml",
        "--target",
        "name:[ab",
        "--exclude",
        "confg",
        "--exclude",
        "zzzz",
    ]);
    insta::assert_snapshot!(run.combined());
    assert_eq!(ws.snapshot_files(), before, "nothing was written");

    // Excluding every chat targeted leaves nothing to plan: refused too.
    let run = ws.roster(&[
        "plan",
        "-c",
        "config",
        "--target",
        "name:sales*",
        "--exclude",
        "config/sales.yaml",
    ]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(
        run.stderr()
            .contains("`--target` and `--exclude` leave no chat in scope: every chat targeted is excluded"),
        "{}",
        run.combined()
    );
}

#[test]
fn apply_refuses_a_selector_that_matches_nothing_before_any_call() {
    let team = Team::new();
    let before = team.ws.snapshot_files();
    let run = team.expect(1, &["apply", "--auto-approve", "--target", "name:sales wets"]);
    assert!(
        run.stderr()
            .contains("did you mean `name:Sales West` or `name:Sales East`?"),
        "{}",
        run.combined()
    );
    assert!(team.sandbox.calls().is_empty(), "{:?}", team.sandbox.calls());
    assert_eq!(team.ws.snapshot_files(), before, "nothing was written");
}

#[test]
fn apply_changes_only_the_selected_chats_by_folder_name_file_and_id() {
    let team = Team::new();
    // The folder holds Sales East too, which the state lacks: in scope and unknown, it fails
    // the run once the others are done.
    let run = team.expect(
        1,
        &[
            "apply",
            "--auto-approve",
            "--target",
            "config",
            "--exclude",
            "name:support*",
        ],
    );
    assert!(
        run.stderr()
            .contains("hint: `roster import 9b2d5c1e-3f4a-4e8b-a1c7-2d6e8f0a4b13` reads it"),
        "{}",
        run.combined()
    );
    assert_eq!(team.changed(), ids(&[SALES_WEST]));
    let state: Value = serde_json::from_str(&team.ws.read("roster.state.json")).unwrap();
    assert!(state["chats"][OLD].is_object(), "the chat left out is not forgotten");
    assert_eq!(
        state["chats"][SUPPORT]["members"].as_array().unwrap().len(),
        9,
        "the chat excluded is unchanged"
    );

    // Then the file of the chat left out, and the forgotten chat by its id.
    team.expect(0, &["apply", "--auto-approve", "--target", "config/support.yaml"]);
    assert_eq!(team.changed(), ids(&[SALES_WEST, SUPPORT]));
    team.expect(0, &["apply", "--auto-approve", "--target", OLD]);
    assert_eq!(team.changed(), ids(&[SALES_WEST, SUPPORT]), "forgetting calls nothing");
    let state: Value = serde_json::from_str(&team.ws.read("roster.state.json")).unwrap();
    assert!(state["chats"].get(OLD).is_none(), "{state}");
    team.sandbox.land_all();
    assert!(team.sandbox.violations().is_empty());
}

#[test]
fn a_saved_plan_shows_its_selection_and_applies_exactly_it() {
    let team = Team::new();
    team.expect(
        0,
        &[
            "plan",
            "--target",
            "config/",
            "--exclude",
            "name:SALES*",
            "--out",
            "plan.json",
        ],
    );
    let saved: SavedPlan = serde_json::from_str(&team.ws.read("plan.json")).unwrap();
    let shown = team.expect(0, &["show", "plan.json"]);
    insta::assert_snapshot!(shown.combined());

    // The selection cannot be changed on the command line, nor in the file.
    let run = team.expect(1, &["apply", "plan.json", "--exclude", SUPPORT]);
    assert!(
        run.stderr()
            .contains("`--target` and `--exclude` cannot be given with PLANFILE"),
        "{}",
        run.combined()
    );
    let mut edit = saved.clone();
    edit.plan.selection.excludes[0].chats.pop();
    forge(&team.ws, "edited.json", edit);
    let run = team.expect(1, &["apply", "edited.json"]);
    insta::assert_snapshot!("a_saved_plan_with_an_edited_selection", run.stderr());
    // Dropping an exclude selects chats the plan does not hold: refused by its chats.
    let mut edit = saved.clone();
    edit.plan.selection.excludes.clear();
    forge(&team.ws, "widened.json", edit);
    let run = team.expect(1, &["apply", "widened.json"]);
    assert!(
        run.stderr()
            .contains(&format!("chat `{SALES_WEST}` (Sales West): the file leaves it out")),
        "{}",
        run.combined()
    );
    assert!(team.sandbox.calls().is_empty(), "{:?}", team.sandbox.calls());

    team.expect(0, &["apply", "plan.json"]);
    assert_eq!(team.changed(), ids(&[SUPPORT]));
    team.sandbox.land_all();
    assert!(team.sandbox.violations().is_empty());
}

#[test]
fn refresh_and_plan_refresh_read_only_the_selected_chats() {
    let team = Team::new();
    team.expect(
        0,
        &[
            "plan",
            "--refresh",
            "--target",
            "config/sales.yaml",
            "--exclude",
            "name:onboarding",
        ],
    );
    assert_eq!(team.read(), ids(&[SALES_WEST, SALES_EAST]));

    let team = Team::new();
    let run = team.expect(0, &["refresh", "--target", "name:*nights", "--format", "json"]);
    let report: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(report["chats_read"], 1, "{report}");
    assert_eq!(team.read(), ids(&[SUPPORT]));

    // A name that selects only chats the state lacks: nothing to read, and how to adopt them.
    let run = team.expect(1, &["refresh", "--target", "name:sales east"]);
    assert_eq!(
        run.stderr(),
        format!(
            "error: target `name:sales east` names 1 chat of the config that is not in the state, so \
             roster does not manage it yet\nhint: `roster import {SALES_EAST}` adopts it\n"
        )
    );
}

const HEAVY: &str = "00000000-0000-4000-8000-0000000000e1";
const MIDDLE: &str = "00000000-0000-4000-8000-0000000000e2";
const LIGHT: &str = "00000000-0000-4000-8000-0000000000e3";

impl Linq {
    /// Three chats of six members whose config removes 3, 2 and 1 of them; the first allows 2
    /// removals, and a plan at most 4 (the share allowed is no limit here: a half).
    fn removals() -> Linq {
        let chats = [(HEAVY, 1, 3, "Heavy"), (MIDDLE, 2, 2, "Middle"), (LIGHT, 3, 1, "Light")];
        let mut yaml = "version: 1\nsettings:\n  max_removal_ratio: 0.5\n  max_removals: 4\nchats:\n".to_owned();
        let mut state = serde_json::Map::new();
        let mut seed = Vec::new();
        for (id, chat, removed, name) in chats {
            let now: Vec<String> = (1..=6).map(|n| member(chat, n)).collect();
            let want: Vec<String> = now[..6 - removed].iter().map(|h| format!("'{h}'")).collect();
            let limit = if id == HEAVY { "    max_removals: 2\n" } else { "" };
            yaml.push_str(&format!(
                "  {id}:\n    name: {name}\n{limit}    members: [{}]\n",
                want.join(", ")
            ));
            state.insert(id.to_owned(), serde_json::json!({ "members": now }));
            seed.push(SeedChat::group(id, &now.iter().map(String::as_str).collect::<Vec<_>>()));
        }
        let seed = Seed {
            token: TOKEN.into(),
            me: "+15550009999".into(),
            chats: seed,
            handle_services: Default::default(),
        };
        let linq = Linq::serve(seed, Options::default());
        linq.ws.write("roster.yaml", yaml);
        linq.ws.write_state("22222222-3333-4444-8555-666666666666", 1, state);
        linq
    }
}

#[test]
fn max_removals_per_chat_and_over_all_chats_stop_a_plan_naming_the_guard_and_the_way_on() {
    let setup = Linq::removals();
    let before = setup.ws.snapshot_files();
    let refused = setup.roster(&["plan"]);
    insta::assert_snapshot!(refused.combined());
    let refused = setup.roster(&["apply", "--auto-approve"]);
    assert_eq!(refused.code(), 1, "{}", refused.combined());
    assert!(setup.sandbox.calls().is_empty(), "{:?}", setup.sandbox.calls());
    assert_eq!(setup.ws.snapshot_files(), before, "nothing was written");

    // Narrowed, the over-all guard holds too: 2 + 1 removals of at most 4.
    let narrowed = setup.roster(&["plan", "--exclude", "name:heavy"]);
    assert_eq!(narrowed.code(), 0, "{}", narrowed.combined());
    // Only the chat's own guard trips: 3 removals of at most 4 over all chats.
    let alone = setup.roster(&["plan", "--target", HEAVY]);
    insta::assert_snapshot!(alone.combined());

    let run = setup.roster(&["apply", "--auto-approve", "--allow-mass-removal"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    let removed = mutating_calls(&setup.sandbox);
    assert_eq!(removed.len(), 6, "{removed:?}");
    assert!(removed.keys().all(|(method, _, _)| method == "DELETE"));
}
