//! What ships beside the binary: completion scripts (loaded in real shells) and man pages.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use clap::CommandFactory as _;

use crate::common::Workspace;

const SHELLS: [&str; 5] = ["bash", "elvish", "fish", "powershell", "zsh"];

/// The version changes with every release; the pages and scripts should not have to.
fn without_version(text: &str) -> String {
    text.replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
}

#[test]
fn completion_scripts_for_every_shell() {
    let ws = Workspace::new();
    for shell in SHELLS {
        let run = ws.roster(&["completions", shell]);
        assert_eq!(run.code(), 0, "{}", run.combined());
        assert_eq!(run.stderr(), "", "{shell}");
        insta::assert_snapshot!(format!("completions_{shell}"), run.stdout());
    }
}

#[test]
fn completions_for_an_unknown_shell_is_a_usage_error() {
    let ws = Workspace::new();
    insta::assert_snapshot!(ws.roster(&["completions", "tcsh"]).combined());
}

#[test]
fn man_prints_the_main_page() {
    let ws = Workspace::new();
    let run = ws.roster(&["man"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    insta::assert_snapshot!(without_version(&run.combined()));
}

#[test]
fn man_dir_writes_a_page_per_command() {
    let ws = Workspace::new();
    let run = ws.roster(&["man", "--dir", "share/man/man1"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    insta::assert_snapshot!(run.combined());

    let dir = ws.path().join("share/man/man1");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = roster::cli::Cli::command()
        .get_subcommands()
        .filter(|command| !command.is_hide_set())
        .map(|command| format!("roster-{}.1", command.get_name()))
        .chain(["roster.1".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);

    assert_eq!(ws.read("share/man/man1/roster.1"), ws.roster(&["man"]).stdout());
    let plan = ws.read("share/man/man1/roster-plan.1");
    assert!(plan.starts_with(".ie") && plan.contains(".TH roster-plan 1"), "{plan}");
    assert!(plan.contains(r"\-\-detailed\-exitcode"), "{plan}");
    insta::assert_snapshot!(without_version(&plan));
}

#[test]
fn man_dir_on_a_file_is_an_error_and_writes_nothing() {
    let ws = Workspace::new();
    ws.write("pages", "not a folder");
    let before = ws.snapshot_files();
    let run = ws.roster(&["man", "--dir", "pages"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    insta::assert_snapshot!(run.combined());
    assert_eq!(ws.snapshot_files(), before);
}

/// The shell named `name`, or `None` after a notice when it is not installed; with
/// `ROSTER_REQUIRE_SHELLS=1` (as CI sets) a missing shell fails the test instead.
fn shell(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("ROSTER_REQUIRE_SHELLS").as_deref() != Ok("1"),
            "`{name}` is not installed, and ROSTER_REQUIRE_SHELLS=1 requires it"
        );
        // Straight to stderr: the test harness would swallow an `eprintln!` of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "note: skipping the {name} completion test: `{name}` is not installed"
        );
    }
    found
}

fn output(mut command: Command) -> String {
    let output = command.output().expect("run the shell");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}\n--- stdout\n{stdout}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The visible subcommands of the clap definition, which every script must offer.
fn subcommands() -> Vec<String> {
    let mut names: Vec<String> = roster::cli::Cli::command()
        .get_subcommands()
        .filter(|command| !command.is_hide_set())
        .map(|command| command.get_name().to_owned())
        .collect();
    names.push("help".to_owned());
    names.sort();
    names
}

#[test]
fn bash_loads_the_script_and_completes_subcommands_and_flags() {
    let Some(bash) = shell("bash") else { return };
    let ws = Workspace::new();
    let script = ws.roster(&["completions", "bash"]);
    ws.write("roster.bash", script.stdout());
    // What bash does on <TAB>: find the function `complete -p` registered for `roster`, and call
    // it with the words of the line; it answers in COMPREPLY.
    let complete = r#"
        source roster.bash
        spec=$(complete -p roster) || exit 1
        function=${spec##*-F }
        function=${function%% *}
        tab() {
            COMP_WORDS=("$@")
            COMP_CWORD=$(($# - 1))
            COMP_LINE="$*"
            COMP_POINT=${#COMP_LINE}
            COMPREPLY=()
            "$function" roster "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
            printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
            echo
        }
        tab roster pl
        tab roster ''
        tab roster plan --detailed
        tab roster plan --format ''
        tab roster completions ''
    "#;
    let mut command = Command::new(bash);
    command
        .args(["--noprofile", "--norc", "-c", complete])
        .current_dir(ws.path());
    let lines: Vec<String> = output(command).lines().map(|line| line.trim().to_owned()).collect();
    assert_eq!(lines[0], "plan");
    // bash offers the global flags beside the words a position takes.
    let words = |line: &str| -> Vec<String> {
        line.split(' ')
            .filter(|word| !word.starts_with('-'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(words(&lines[1]), subcommands());
    assert_eq!(lines[2], "--detailed-exitcode");
    assert_eq!(lines[3], "json markdown text");
    assert_eq!(words(&lines[4]), SHELLS);
}

#[test]
fn fish_loads_the_script_and_completes_subcommands_and_flags() {
    let Some(fish) = shell("fish") else { return };
    let ws = Workspace::new();
    let script = ws.roster(&["completions", "fish"]);
    ws.write("roster.fish", script.stdout());
    // `complete -C LINE` prints what <TAB> would offer for LINE: a candidate and its
    // description per line, tab-separated.
    let complete = r#"
        source roster.fish
        or exit 1
        for line in 'roster pl' 'roster ' 'roster plan --detailed' 'roster plan --format ' 'roster completions '
            complete -C $line | string split -f 1 \t | sort | string join ' '
        end
    "#;
    let mut command = Command::new(fish);
    command
        .args(["--no-config", "-c", complete])
        .current_dir(ws.path())
        // Keep fish's own files (history, universal variables) in the workspace.
        .env("HOME", ws.path())
        .env("XDG_CONFIG_HOME", ws.path().join("config"))
        .env("XDG_DATA_HOME", ws.path().join("data"))
        .env("XDG_CACHE_HOME", ws.path().join("cache"));
    let lines: Vec<String> = output(command).lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "plan", "{lines:?}");
    let offered: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(offered, subcommands(), "{lines:?}");
    assert_eq!(lines[2], "--detailed-exitcode", "{lines:?}");
    assert_eq!(lines[3], "json markdown text", "{lines:?}");
    assert_eq!(lines[4], SHELLS.join(" "), "{lines:?}");
}
