//! Adopting and watching chats against the in-process sandbox: `import`, `refresh`,
//! `plan --refresh`, and the CI workflow recipes.

use std::collections::BTreeSet;

use linq_sandbox::{Options, Seed, SeedChat};
use serde_json::Value;

use crate::common::{mutating_calls, repo, strings, Linq};

const ME: &str = "+12055550100";
const SALES: &str = "550e8400-e29b-41d4-a716-446655440000";
const SHIFTS: &str = "c3d4e5f6-a7b8-4c9d-8e0f-112233445566";
const DIRECT: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

impl Linq {
    /// `chats` served by a sandbox without delay or faults.
    fn with_chats(chats: Vec<SeedChat>) -> Linq {
        let seed = Seed {
            token: "test-token".into(),
            me: ME.into(),
            chats,
            handle_services: Default::default(),
        };
        Linq::serve(seed, Options::default())
    }

    /// Two group chats and a direct-message chat, as in the README's demo.
    fn small() -> Linq {
        Linq::with_chats(vec![
            SeedChat {
                display_name: Some("Sales West".into()),
                ..SeedChat::group(
                    SALES,
                    &["+12052499136", "Bob@Example.com", "+12055550123", "+12055550199"],
                )
            },
            SeedChat {
                display_name: Some("Shifts: night #2".into()),
                service: "SMS".into(),
                left: vec!["+12055550204".into()],
                ..SeedChat::group(SHIFTS, &["+12055550201", "+12055550202", "+12055550203"])
            },
            SeedChat {
                is_group: false,
                ..SeedChat::group(DIRECT, &["+12052499136"])
            },
        ])
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// 130 group chats (two pages of 100), some with members who left, and 3 direct chats.
fn many_chats() -> Vec<SeedChat> {
    let mut chats = Vec::new();
    for i in 0..130u32 {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let members: Vec<String> = (0..3 + i % 4).map(|m| format!("+1205{i:05}{m:02}")).collect();
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let mut chat = SeedChat::group(&id, &members);
        chat.display_name = (i % 2 == 0).then(|| format!("Team {i}"));
        if i % 10 == 0 {
            chat.left = vec![format!("+1205557{i:04}")];
        }
        if i % 3 == 0 {
            chat.service = "SMS".into();
        }
        chats.push(chat);
    }
    for i in 0..3u32 {
        chats.push(SeedChat {
            is_group: false,
            ..SeedChat::group(
                &format!("dddddddd-0000-4000-8000-{i:012}"),
                &[&format!("+12055580{i:03}")],
            )
        });
    }
    chats
}

#[test]
fn import_all_reads_every_page_and_gives_a_config_that_plans_clean() {
    let linq = Linq::with_chats(many_chats());
    let run = linq.expect(0, &["import", "--all", "--write", "roster.yaml"]);
    assert_eq!(run.stdout(), "", "the config goes to the file");
    assert!(
        run.stderr().contains("Skipped 3 direct-message chats"),
        "{}",
        run.combined()
    );
    let lists = linq
        .sandbox
        .calls()
        .iter()
        .filter(|c| c.method == "GET" && c.path == "/v3/chats")
        .count();
    assert_eq!(lists, 2, "one list call per page");
    assert_many_recorded(&linq);
    assert_many_configured(&linq);

    linq.expect(0, &["validate"]);
    let plan = linq.expect(0, &["plan", "--detailed-exitcode"]);
    assert!(plan.stdout().starts_with("No changes."), "{}", plan.combined());
    linq.expect(0, &["plan", "--refresh", "--detailed-exitcode"]);

    // Importing again changes nothing and prints the same config.
    let again = linq.expect(0, &["import", "--all"]);
    assert_eq!(again.stdout(), linq.ws.read("roster.yaml"));
    assert_eq!(linq.state()["serial"], 1, "nothing changed, so nothing was written");
}

/// The state records every group chat of [`many_chats`] as Linq shows it.
fn assert_many_recorded(linq: &Linq) {
    let state = linq.state();
    assert_eq!(state["serial"], 1);
    let recorded = state["chats"].as_object().unwrap();
    assert_eq!(recorded.len(), 130);
    let chat = &recorded["00000000-0000-4000-8000-000000000010"];
    assert_eq!(
        strings(&chat["members"]),
        [
            "+12050001000",
            "+12050001001",
            "+12050001002",
            "+12050001003",
            "+12050001004"
        ]
    );
    assert_eq!(strings(&chat["left"]), ["+12055570010"]);
    assert_eq!(chat["display_name"], "Team 10");
    assert_eq!(recorded["00000000-0000-4000-8000-000000000003"]["service"], "SMS");
    assert!(
        !linq.ws.read("roster.state.json").contains(ME),
        "your own line is never a member"
    );
}

/// The config written names every group chat of [`many_chats`] with its members.
fn assert_many_configured(linq: &Linq) {
    let config: Value = serde_yaml::from_str(&linq.ws.read("roster.yaml")).expect("the config is YAML");
    assert_eq!(config["version"], 1);
    let configured = config["chats"].as_object().unwrap();
    assert_eq!(configured.len(), 130);
    let chat = &configured["00000000-0000-4000-8000-000000000010"];
    assert_eq!(chat["name"], "Team 10");
    assert_eq!(chat["service"], "iMessage");
    assert_eq!(strings(&chat["members"]).len(), 5);
    assert!(configured["00000000-0000-4000-8000-000000000001"].get("name").is_none());
}

#[test]
fn import_prints_a_config_with_names_escaped_and_warns_below_the_floor() {
    let linq = Linq::small();
    linq.sandbox.leave(SALES, "+12055550123");
    linq.sandbox.leave(SALES, "+12055550199");
    let run = linq.roster(&["import", SALES, SHIFTS]);
    insta::assert_snapshot!(run.combined());
    let state = linq.state();
    assert_eq!(
        strings(&state["chats"][SALES]["left"]),
        ["+12055550123", "+12055550199"]
    );
    assert_eq!(strings(&state["chats"][SHIFTS]["left"]), ["+12055550204"]);
    assert_eq!(state["chats"][SHIFTS]["service"], "SMS");
}

#[test]
fn import_refuses_direct_and_unknown_chats_and_writes_nothing() {
    let linq = Linq::small();
    let run = linq.roster(&["import", SALES, DIRECT, "no-such-chat"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    let err = run.stderr();
    assert!(err.contains("2 chats cannot be imported"), "{err}");
    assert!(
        err.contains(&format!("chat `{DIRECT}` is a direct-message chat")),
        "{err}"
    );
    assert!(err.contains("chat `no-such-chat` was not found"), "{err}");
    assert_eq!(run.stdout(), "");
    assert_eq!(linq.state_bytes(), None, "no state was created");
}

#[test]
fn importing_over_a_chat_whose_members_changed_needs_force() {
    let linq = Linq::small();
    linq.expect(0, &["import", SALES]);
    let recorded = linq.state_bytes();
    linq.sandbox.add_outside(SALES, "+12055550777");
    linq.sandbox.remove_outside(SALES, "+12055550199");

    let refused = linq.roster(&["import", SALES]);
    insta::assert_snapshot!(refused.combined());
    assert_eq!(linq.state_bytes(), recorded, "nothing was written");

    let forced = linq.expect(0, &["import", "--force", SALES]);
    assert!(forced.stdout().contains("'+12055550777'"), "{}", forced.combined());
    let state = linq.state();
    assert_eq!(state["serial"], 2);
    assert_eq!(
        strings(&state["chats"][SALES]["members"]),
        ["+12052499136", "+12055550123", "+12055550777", "bob@example.com"]
    );
}

#[test]
fn drift_is_reported_recorded_and_planned_back() {
    let linq = Linq::small();
    linq.expect(0, &["import", "--all", "--write", "roster.yaml"]);
    linq.sandbox.add_outside(SALES, "+12055550777");
    linq.sandbox.remove_outside(SALES, "+12055550199");
    linq.sandbox.leave(SALES, "+12055550123");
    plan_refresh_shows_the_drift_and_writes_nothing(&linq);
    refresh_records_the_drift(&linq);
    the_plan_restores_the_config(&linq);

    // The drift above took SALES to 2 members; what follows is roster's doing alone.
    linq.sandbox.restart_member_ranges();
    linq.expect(0, &["apply", "--auto-approve"]);
    assert_eq!(
        linq.sandbox.members(SALES).unwrap(),
        set(&["+12052499136", "+12055550199", "bob@example.com"])
    );
    assert_eq!(
        linq.sandbox.members(SHIFTS).unwrap(),
        set(&["+12055550201", "+12055550202", "+12055550203"])
    );
    let settled = linq.expect(0, &["plan", "--refresh", "--detailed-exitcode"]);
    assert!(
        settled
            .stdout()
            .starts_with("No drift: the 2 chats read from Linq match the state."),
        "{}",
        settled.combined()
    );
    assert!(linq.sandbox.violations().is_empty());
    // The imported config keeps the default floor (3) and cap (31).
    for chat in [SALES, SHIFTS] {
        let range = linq.sandbox.member_range(chat).unwrap();
        assert!(range.lowest >= 3 && range.highest <= 31, "{chat}: {range:?}");
    }
}

/// plan --refresh: the drift above a plan made against the live membership; nothing written.
fn plan_refresh_shows_the_drift_and_writes_nothing(linq: &Linq) {
    let imported = linq.state_bytes();
    let plan = linq.roster(&["plan", "--refresh", "--detailed-exitcode"]);
    insta::assert_snapshot!("plan_refresh_with_drift", plan.combined());
    let json = linq.expect(2, &["plan", "--refresh", "--detailed-exitcode", "--format", "json"]);
    let parsed: Value = serde_json::from_str(&json.stdout()).expect("stdout stays JSON");
    assert_eq!(parsed["summary"]["add"], 1);
    assert!(
        json.stderr().contains("joined outside roster  +12055550777"),
        "{}",
        json.combined()
    );
    assert_eq!(linq.state_bytes(), imported, "plan --refresh writes nothing");
    let saved = linq.roster(&["plan", "--refresh", "--out", "plan.json"]);
    assert_eq!(saved.code(), 1, "{}", saved.combined());
    assert!(saved.stderr().contains("roster refresh"), "{}", saved.combined());
    assert!(!linq.ws.path().join("plan.json").exists());
}

/// refresh: the same drift, recorded in the state; then drift in another chat, as JSON for
/// scripts.
fn refresh_records_the_drift(linq: &Linq) {
    let refresh = linq.roster(&["refresh"]);
    insta::assert_snapshot!("refresh_with_drift", refresh.combined());
    let state = linq.state();
    assert_eq!(state["serial"], 2);
    assert_eq!(
        strings(&state["chats"][SALES]["members"]),
        ["+12052499136", "+12055550777", "bob@example.com"]
    );
    assert_eq!(strings(&state["chats"][SALES]["left"]), ["+12055550123"]);

    // Drift in another chat, as JSON for scripts.
    linq.sandbox.add_outside(SHIFTS, "+12055550299");
    let report = linq.expect(0, &["refresh", "--format", "json"]);
    let report: Value = serde_json::from_str(&report.stdout()).expect("the drift report is JSON");
    assert_eq!(report["format_version"], "1");
    assert_eq!(report["chats_read"], 2);
    assert_eq!(report["chats"].as_array().unwrap().len(), 1);
    assert_eq!(report["chats"][0]["id"], SHIFTS);
    assert_eq!(report["chats"][0]["status"], "drifted");
    assert_eq!(strings(&report["chats"][0]["joined"]), ["+12055550299"]);
    assert_eq!(report["recorded"]["written"], true);
    assert_eq!(report["recorded"]["state"]["serial"], 3);
    let quiet = linq.expect(0, &["refresh", "--format", "json"]);
    let quiet: Value = serde_json::from_str(&quiet.stdout()).unwrap();
    assert_eq!(quiet["chats"], Value::Array(Vec::new()));
    assert_eq!(quiet["recorded"]["written"], false);
    assert_eq!(linq.state()["serial"], 3, "no change, no write");
}

/// The plan restores the config: the outsiders go, the removed member comes back, and the
/// member who left is not re-added.
fn the_plan_restores_the_config(linq: &Linq) {
    let plan = linq.expect(2, &["plan", "--detailed-exitcode", "--format", "json"]);
    let plan: Value = serde_json::from_str(&plan.stdout()).unwrap();
    let steps = |chat: usize| -> Vec<String> {
        plan["chats"][chat]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!("{} {}", s["op"].as_str().unwrap(), s["handle"].as_str().unwrap_or(""))
                    .trim()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(plan["chats"][0]["id"], SALES);
    // At the floor: the removed member must be back before the outsider goes.
    assert_eq!(steps(0), ["add +12055550199", "wait", "remove +12055550777"]);
    assert_eq!(strings(&plan["chats"][0]["left"]), ["+12055550123"]);
    assert_eq!(plan["chats"][1]["id"], SHIFTS);
    assert_eq!(steps(1), ["remove +12055550299"]);
}

#[test]
fn plan_refresh_reads_config_chats_missing_from_the_state() {
    let linq = Linq::small();
    linq.ws.write(
        "roster.yaml",
        format!("version: 1\nchats:\n  {SHIFTS}:\n    members: ['+12055550201', '+12055550202', '+12055550209']\n"),
    );
    let offline = linq.expect(2, &["plan", "--detailed-exitcode", "--format", "json"]);
    assert!(offline.stdout().contains("\"unknown\""), "{}", offline.combined());
    let live = linq.expect(2, &["plan", "--refresh", "--detailed-exitcode", "--format", "json"]);
    let plan: Value = serde_json::from_str(&live.stdout()).unwrap();
    assert_eq!(plan["chats"][0]["action"], "update");
    assert_eq!(plan["summary"]["add"], 1);
    assert_eq!(plan["summary"]["remove"], 1);
    assert_eq!(plan["summary"]["unknown"], 0);
    // The state holds no chat: nothing was held against the one read, so no match is claimed.
    assert!(
        live.stderr()
            .contains("Not in the state yet: 1 chat read from Linq; the plan uses its live membership"),
        "{}",
        live.combined()
    );
    assert!(!live.stderr().contains("No drift"), "{}", live.combined());
    assert_eq!(linq.state_bytes(), None, "plan --refresh writes nothing");
}

#[test]
fn a_chat_linq_no_longer_shows_is_reported_and_kept() {
    let linq = Linq::small();
    linq.expect(0, &["import", SALES, "--write", "roster.yaml"]);
    // A chat recorded earlier that Linq no longer has.
    let mut state = linq.state();
    state["chats"]["gone-chat"] = serde_json::json!({ "members": ["+12055550301", "+12055550302", "+12055550303"] });
    linq.ws
        .write("roster.state.json", serde_json::to_vec_pretty(&state).unwrap());

    let run = linq.expect(0, &["refresh", "--format", "json"]);
    let report: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(report["chats"][0]["id"], "gone-chat");
    assert_eq!(report["chats"][0]["status"], "gone");
    assert_eq!(report["chats"][0]["error"]["status"], 404);
    assert_eq!(report["summary"]["gone"], 1);
    assert_eq!(report["recorded"]["written"], false);
    assert_eq!(linq.state()["chats"]["gone-chat"], state["chats"]["gone-chat"]);

    let text = linq.expect(0, &["refresh"]);
    assert!(text.stdout().contains("! gone-chat: gone\n"), "{}", text.combined());
    // Drift (a gone chat) makes `--detailed-exitcode` exit 2, even with no change to plan.
    linq.ws.write(
        "roster.yaml",
        format!(
            "version: 1\nchats:\n  {SALES}:\n    members: ['+12052499136', bob@example.com, '+12055550123', '+12055550199']\n  gone-chat:\n    members: ['+12055550301', '+12055550302', '+12055550303']\n"
        ),
    );
    linq.expect(0, &["plan", "--detailed-exitcode"]);
    linq.expect(2, &["plan", "--refresh", "--detailed-exitcode"]);
}

#[test]
fn refresh_takes_the_lock_and_settles_the_journal_first() {
    let linq = Linq::small();
    linq.expect(0, &["import", SALES]);
    let lineage = linq.state()["lineage"].as_str().unwrap().to_owned();

    let lock = serde_json::json!({
        "id": "lock-1", "operation": "apply", "who": "ci", "host": "runner", "pid": 7,
        "since": "2026-01-01T00:00:00Z"
    });
    linq.ws.write("roster.state.json.lock", lock.to_string());
    let locked = linq.roster(&["refresh"]);
    assert_eq!(locked.code(), 1, "{}", locked.combined());
    assert!(locked.stderr().contains("lock-1"), "{}", locked.combined());
    std::fs::remove_file(linq.ws.path().join("roster.state.json.lock")).unwrap();

    // An apply was killed after Linq accepted an add: the add is roster's own, not drift.
    linq.sandbox.add_outside(SALES, "+12055550888");
    let journal = [
        serde_json::json!({"type": "begin", "lineage": lineage, "serial": 1}),
        serde_json::json!({"type": "intent", "id": 1, "chat": SALES, "op": "add", "handle": "+12055550888"}),
        serde_json::json!({"type": "accepted", "id": 1, "trace_id": "t-9"}),
    ]
    .iter()
    .map(|r| format!("{r}\n"))
    .collect::<String>();
    linq.ws.write("roster.state.json.journal", journal);
    let run = linq.expect(0, &["refresh"]);
    assert!(run.stderr().contains("Settled the journal"), "{}", run.combined());
    assert!(run.stdout().starts_with("No drift"), "{}", run.combined());
    assert!(strings(&linq.state()["chats"][SALES]["members"]).contains(&"+12055550888".to_owned()));
}

#[test]
fn refresh_names_a_target_that_is_not_managed() {
    let linq = Linq::small();
    linq.expect(0, &["import", SALES]);
    let run = linq.roster(&["refresh", "--target", SHIFTS]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(
        run.stderr().contains(&format!("hint: `roster import {SHIFTS}`")),
        "{}",
        run.combined()
    );
    let only = linq.expect(0, &["refresh", "--target", SALES, "--format", "json"]);
    let report: Value = serde_json::from_str(&only.stdout()).unwrap();
    assert_eq!(report["chats_read"], 1);
}

#[test]
fn the_ci_recipes_are_workflows_that_run_roster() {
    let recipes = [
        ("plan-on-pull-request.yml", "roster plan"),
        ("apply-on-schedule.yml", "roster apply"),
        ("apply-on-schedule-postgres.yml", "roster apply"),
    ];
    for (file, command) in recipes {
        let path = repo().join("examples/ci").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let workflow: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(workflow.get("on").is_some(), "{file} has no `on`");
        let jobs = workflow["jobs"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{file} has no `jobs`"));
        let runs: Vec<&str> = jobs
            .values()
            .flat_map(|job| job["steps"].as_sequence().into_iter().flatten())
            .filter_map(|step| step["run"].as_str())
            .collect();
        assert!(
            runs.iter().any(|run| run.contains(command)),
            "{file} never runs `{command}`"
        );
        assert!(
            runs.iter().any(|run| run.contains("--detailed-exitcode")),
            "{file} does not tell changes from errors"
        );
    }
}

/// The PostgreSQL recipe keeps the state out of the repository: it takes the URL and password
/// from the settings, and never commits, pushes or keeps credentials to push.
#[test]
fn the_postgres_ci_recipe_commits_no_state() {
    let text = std::fs::read_to_string(repo().join("examples/ci/apply-on-schedule-postgres.yml")).unwrap();
    let workflow: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let env = &workflow["jobs"]["apply"]["env"];
    assert_eq!(env["ROSTER_STATE"].as_str(), Some("${{ secrets.ROSTER_STATE }}"));
    assert_eq!(env["PGPASSWORD"].as_str(), Some("${{ secrets.ROSTER_STATE_PASSWORD }}"));
    assert_eq!(workflow["permissions"]["contents"].as_str(), Some("read"));
    let runs: Vec<&str> = workflow["jobs"]["apply"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|step| step["run"].as_str())
        .collect();
    for word in ["git commit", "git push", "--state", "roster.state.json"] {
        assert!(runs.iter().all(|run| !run.contains(word)), "the recipe runs `{word}`");
    }
}

#[test]
fn refresh_right_after_apply_does_not_take_roster_s_queued_changes_for_drift() {
    let linq = Linq::small();
    linq.expect(0, &["import", "--all", "--write", "roster.yaml"]);
    // Changes land only when the test says so.
    linq.sandbox.set_options(Options {
        land_delay: std::time::Duration::from_secs(600),
        ..Options::default()
    });
    let config = linq.ws.read("roster.yaml").replace("'+12055550199'", "'+12055550188'");
    linq.ws.write("roster.yaml", config);
    linq.expect(0, &["apply", "--auto-approve"]);
    let pending = &linq.state()["chats"][SALES]["pending"]["add"];
    assert_eq!(pending[0]["handle"], "+12055550188", "{pending}");

    let refresh = linq.expect(0, &["refresh", "--format", "json"]);
    let report: Value = serde_json::from_str(&refresh.stdout()).unwrap();
    assert_eq!(report["chats"], Value::Array(Vec::new()), "{}", refresh.combined());
    // Not drift, but not done either: pending until it lands.
    linq.expect(2, &["plan", "--refresh", "--detailed-exitcode"]);

    linq.sandbox.land_all();
    // Nothing drifted: what it records is that roster's own changes landed, and it says so.
    let landed = linq.expect(0, &["refresh"]);
    insta::assert_snapshot!(landed.combined());
    assert!(
        linq.state()["chats"][SALES].get("pending").is_none(),
        "landed changes are no longer pending"
    );
    assert!(strings(&linq.state()["chats"][SALES]["members"]).contains(&"+12055550188".to_owned()));
}

/// A member who left on their own is not re-added, and is the chat's only note: the plan shows
/// the chat as no change, says there are no changes, and apply makes no call.
#[test]
fn a_chat_whose_only_note_is_a_member_who_left_plans_as_no_change() {
    let linq = Linq::small();
    linq.expect(0, &["import", "--all", "--write", "roster.yaml"]);
    linq.sandbox.leave(SALES, "+12055550199");
    linq.expect(0, &["refresh"]);
    let plan = linq.expect(0, &["plan", "--detailed-exitcode"]);
    insta::assert_snapshot!(plan.combined());
    let apply = linq.expect(0, &["apply", "--auto-approve"]);
    assert!(
        apply.stdout().ends_with(
            "No changes. The chats match the config but for 1 member who left on their own, not re-added.\n"
        ),
        "{}",
        apply.combined()
    );
    assert!(
        mutating_calls(&linq.sandbox).is_empty(),
        "{:?}",
        mutating_calls(&linq.sandbox)
    );
}
