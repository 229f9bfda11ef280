//! The commands that need no API: validate, plan, show, force-unlock, and bad input.

use crate::common::{repo, Workspace};

const CONFIG: &[&str] = &["-c", "config"];

fn plan(ws: &Workspace, extra: &[&str]) -> crate::common::Run {
    let mut args = vec!["plan"];
    args.extend_from_slice(CONFIG);
    args.extend_from_slice(extra);
    ws.roster(&args)
}

#[test]
fn validate_summarizes_the_example() {
    let ws = Workspace::team();
    insta::assert_snapshot!(ws.roster(&["validate", "-c", "config"]).combined());
}

#[test]
fn plan_text_of_the_example() {
    let ws = Workspace::team();
    insta::assert_snapshot!(plan(&ws, &[]).combined());
}

#[test]
fn plan_verbose_shows_memberships_as_a_diff() {
    let ws = Workspace::team();
    insta::assert_snapshot!(plan(&ws, &["-v", "--target", "550e8400-e29b-41d4-a716-446655440000"]).combined());
}

#[test]
fn plan_json_of_the_example() {
    let ws = Workspace::team();
    let run = plan(&ws, &["--format", "json"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).expect("plan is JSON");
    insta::assert_json_snapshot!(json);
}

#[test]
fn plan_markdown_of_the_example() {
    let ws = Workspace::team();
    insta::assert_snapshot!(plan(&ws, &["--format", "markdown"]).combined());
}

#[test]
fn detailed_exitcode_is_2_with_changes_and_0_without() {
    let ws = Workspace::team();
    assert_eq!(plan(&ws, &["--detailed-exitcode"]).code(), 2);
    // Only the unchanged chat in scope: nothing pending.
    let run = plan(
        &ws,
        &[
            "--detailed-exitcode",
            "--target",
            "16fd2706-8baf-433b-82eb-8c7fb5a1a2b3",
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.combined());
    assert_eq!(
        run.stdout(),
        "Targeted:\n    16fd2706-8baf-433b-82eb-8c7fb5a1a2b3\n\nNo changes. The chats match the config.\n"
    );
}

#[test]
fn usage_errors_exit_1_not_2() {
    let ws = Workspace::team();
    let run = ws.roster(&["plan", "--no-such-flag"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(run.stderr().contains("--no-such-flag"), "{}", run.stderr());
    assert_eq!(ws.roster(&["--help"]).code(), 0);
}

#[test]
fn markdown_of_an_empty_plan_says_no_changes() {
    let ws = Workspace::team();
    let run = plan(
        &ws,
        &[
            "--format",
            "markdown",
            "--target",
            "16fd2706-8baf-433b-82eb-8c7fb5a1a2b3",
        ],
    );
    assert_eq!(
        run.stdout(),
        "### roster plan\n\n_Limited to `16fd2706-8baf-433b-82eb-8c7fb5a1a2b3` (1 chat)._\n\nNo changes.\n"
    );
}

#[test]
fn a_saved_plan_shows_and_detects_edits_and_staleness() {
    let ws = Workspace::team();
    let run = plan(&ws, &["--out", "plan.json", "--format", "json"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    let shown = ws.roster(&["show", "plan.json"]);
    assert_eq!(shown.code(), 0, "{}", shown.combined());
    assert_eq!(shown.stdout(), plan(&ws, &[]).stdout());

    // An edited plan is refused.
    let text = ws.read("plan.json").replace("\"op\": \"remove\"", "\"op\": \"add\"");
    ws.write("edited.json", text);
    insta::assert_snapshot!(ws.roster(&["show", "edited.json"]).combined());
}

#[test]
fn show_without_a_plan_lists_the_state() {
    let ws = Workspace::team();
    insta::assert_snapshot!(ws.roster(&["show"]).combined());
}

/// The team's state holds no names from Linq: with the config, `show` names its chats by it
/// (the chat the config no longer has stays a bare id).
#[test]
fn show_names_the_chats_by_the_config() {
    let ws = Workspace::team();
    insta::assert_snapshot!(ws.roster(&["show", "-c", "config"]).combined());
}

/// A `--state` that does not exist is an empty state, as on a first run; `plan` says so rather
/// than plan silently as if roster knew nothing of the chats by choice.
#[test]
fn plan_says_when_the_state_does_not_exist() {
    let ws = Workspace::team();
    let run = plan(&ws, &["--state", "elsewhere.json"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    assert_eq!(
        run.stderr(),
        "note: `elsewhere.json` does not exist, so the state is empty and no chat's membership is known (on a first run, `roster import` adopts existing chats)\n"
    );
    assert!(
        run.stdout()
            .ends_with("Plan: 0 to add, 0 to remove, 0 waits in 0 chats; 4 chats unknown.\n"),
        "{}",
        run.combined()
    );
    assert!(!ws.path().join("elsewhere.json").exists(), "plan writes no state");
}

#[test]
fn a_broken_state_file_is_refused_and_left_untouched() {
    for (name, contents) in [
        ("truncated", {
            let full = std::fs::read_to_string(repo().join("examples/team/roster.state.json")).unwrap();
            full[..full.len() / 2].to_owned()
        }),
        (
            "version-99",
            r#"{"version": 99, "lineage": "x", "serial": 1, "chats": {}, "future": true}"#.to_owned(),
        ),
    ] {
        let ws = Workspace::team();
        ws.write("roster.state.json", &contents);
        let before = ws.snapshot_files();
        let run = plan(&ws, &[]);
        assert_eq!(run.code(), 1, "{}", run.combined());
        assert_eq!(ws.snapshot_files(), before, "{name}: files changed");
        insta::assert_snapshot!(format!("broken_state_{name}"), run.combined());
    }
}

#[test]
fn force_unlock_clears_a_lock_by_id() {
    let ws = Workspace::team();
    ws.write(
        "roster.state.json.lock",
        r#"{"id": "0c4f8e9a", "operation": "apply", "who": "ci", "host": "runner", "pid": 4242, "since": "2026-11-25T10:00:00Z"}"#,
    );
    let wrong = ws.roster(&["force-unlock", "nope"]);
    assert_eq!(wrong.code(), 1);
    assert!(ws.path().join("roster.state.json.lock").exists());
    let right = ws.roster(&["force-unlock", "0c4f8e9a"]);
    insta::assert_snapshot!(format!("{}\n{}", wrong.combined(), right.combined()));
    assert!(!ws.path().join("roster.state.json.lock").exists());
}

/// Every case of the bad-config corpus: exit 1, each error with file:line:column, no file
/// created or changed.
#[test]
fn bad_configs_are_reported_and_change_nothing() {
    let corpus = repo().join("tests/fixtures/config/bad");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 15, "the corpus has {} cases", cases.len());
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let ws = Workspace::team();
        crate::common::copy_dir(&case, &ws.path().join("bad"));
        let before = ws.snapshot_files();
        for command in ["validate", "plan"] {
            let run = ws.roster(&[command, "-c", "bad"]);
            assert_eq!(run.code(), 1, "{name}: {}", run.combined());
            assert!(run.stderr().contains("error: "), "{name}: {}", run.stderr());
            assert_eq!(run.stdout(), "", "{name}: nothing is planned");
            if command == "plan" {
                insta::assert_snapshot!(format!("bad_config_{name}"), run.combined());
            }
        }
        assert_eq!(ws.snapshot_files(), before, "{name}: files changed");
    }
}

/// `--detailed-exitcode` says 2 only for a plan made: any error exits 1, even with changes
/// pending (a config error, a plan the guards refuse, a refresh that cannot reach Linq).
#[test]
fn detailed_exitcode_with_an_error_exits_1_never_2() {
    let ws = Workspace::team();
    assert_eq!(plan(&ws, &["--detailed-exitcode"]).code(), 2, "the example has changes");

    let bad = repo().join("tests/fixtures/config/bad/unknown-person");
    crate::common::copy_dir(&bad, &ws.path().join("bad"));
    let run = ws.roster(&["plan", "-c", "bad", "--detailed-exitcode"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(run.stderr().contains("error: "), "{}", run.combined());

    // A protected member that the config no longer lists: the plan is refused.
    ws.write(
        "guarded/roster.yaml",
        "version: 1\nsettings:\n  protected: ['+12055550101']\nchats:\n  550e8400-e29b-41d4-a716-446655440000:\n    members: ['+12055550100', '+12055550199', '+12055550102']\n",
    );
    let run = ws.roster(&["plan", "-c", "guarded", "--detailed-exitcode"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(
        run.stderr().contains("would remove protected `+12055550101`"),
        "{}",
        run.combined()
    );
    assert_eq!(run.stdout(), "", "no plan is shown");

    // `--refresh` without a token cannot read the chats.
    let run = plan(&ws, &["--refresh", "--detailed-exitcode"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(run.stderr().contains("LINQ_API_V3_API_KEY"), "{}", run.combined());
}

/// `plan` and an error on a pseudo-terminal (from `script`), as a person sees them.
fn on_terminal(ws: &Workspace, args: &str, env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new("script")
        .args(["-qec", &format!("{} {args}", env!("CARGO_BIN_EXE_roster")), "/dev/null"])
        .current_dir(ws.path())
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .output()
        .expect("`script` (util-linux) runs roster on a pseudo-terminal");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Colour on a terminal; none at all with `NO_COLOR` set, the text otherwise the same.
#[test]
fn no_color_in_the_environment_turns_colour_off_on_a_terminal() {
    let ws = Workspace::team();
    for args in ["plan -c config", "validate -c missing.yaml"] {
        let coloured = on_terminal(&ws, args, &[]);
        assert!(coloured.contains("\x1b["), "{args}: colour on a terminal: {coloured:?}");
        let plain = on_terminal(&ws, args, &[("NO_COLOR", "1")]);
        assert!(!plain.contains('\x1b'), "{args}: {plain:?}");
        assert_eq!(strip_ansi(&coloured), plain, "{args}");
    }
}

/// `text` without its ANSI colour sequences (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\x1b[") {
        out.push_str(&rest[..start]);
        let tail = &rest[start + 2..];
        let end = tail.find('m').expect("a colour sequence ends with `m`");
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}
