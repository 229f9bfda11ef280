//! Files people own are not overwritten or replaced: `import --write` over an existing config,
//! a state path that is a symbolic link, and a corrupt journal.

use std::path::Path;

use linq_sandbox::{Options, Sandbox};

use crate::common::{mutating_calls, roster, Scenario, Workspace};

fn quick() -> Options {
    Options {
        land_delay: std::time::Duration::from_millis(20),
        ..Options::default()
    }
}

/// An existing file is refused before any call unless `--force`: nothing read, nothing written.
#[test]
fn import_write_refuses_an_existing_file_unless_force() {
    let scenario = Scenario::random(41, 2);
    let sandbox = Sandbox::spawn(scenario.seed(), quick());
    let chat = scenario.seed().chats[0].id.clone();
    let ws = Workspace::new();
    ws.write("roster.yaml", "# written by hand\nversion: 1\nchats: {}\n");
    let before = ws.snapshot_files();
    let refused = roster(&ws, &sandbox, &["import", &chat, "--write", "roster.yaml"]);
    assert_eq!(refused.code(), 1);
    insta::assert_snapshot!(refused.combined());
    assert!(sandbox.calls().is_empty(), "checked before any call");
    assert_eq!(ws.snapshot_files(), before, "nothing written");

    let forced = roster(&ws, &sandbox, &["import", &chat, "--write", "roster.yaml", "--force"]);
    assert_eq!(forced.code(), 0, "{}", forced.combined());
    assert!(ws.read("roster.yaml").contains(&chat));
    assert!(ws.path().join("roster.state.json").exists());
}

/// Every entry below `root` by relative path: a file with its contents, a symbolic link (never
/// followed) with where it leads.
#[cfg(unix)]
fn entries(root: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_symlink() {
                out.push((name, format!("-> {}", std::fs::read_link(&path).unwrap().display())));
            } else if kind.is_dir() {
                walk(root, &path, out);
            } else {
                out.push((
                    name,
                    String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[cfg(unix)]
fn link(target: &str, ws: &Workspace, name: &str) {
    std::os::unix::fs::symlink(target, ws.path().join(name)).unwrap();
}

#[cfg(unix)]
fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).unwrap().file_type().is_symlink()
}

/// A state path that is a symbolic link stays one: the state is replaced where the link leads,
/// the backup kept beside it as a plain file, and the lock and journal live there too, so two
/// links to one state share one lock.
#[cfg(unix)]
#[test]
fn a_symlinked_state_is_written_where_it_leads_with_backup_and_lock_beside_it() {
    let scenario = Scenario::random(42, 4);
    let sandbox = Sandbox::spawn(scenario.seed(), quick());
    let ws = Workspace::new();
    scenario.write(&ws);
    let first = ws.read("roster.state.json");
    std::fs::create_dir(ws.path().join("shared")).unwrap();
    std::fs::rename(ws.path().join("roster.state.json"), ws.path().join("shared/state.json")).unwrap();
    link("shared/state.json", &ws, "roster.state.json");
    link("shared/state.json", &ws, "other.json");

    // A lock taken through one link blocks a run through the other.
    ws.write(
        "shared/state.json.lock",
        r#"{"id": "7e57", "operation": "apply", "who": "ci", "host": "elsewhere", "pid": 1, "since": "2026-11-25T10:00:00Z"}"#,
    );
    for state in ["roster.state.json", "other.json"] {
        let blocked = roster(&ws, &sandbox, &["apply", "--auto-approve", "--state", state]);
        assert_eq!(blocked.code(), 1, "{}", blocked.combined());
        assert!(
            blocked
                .stderr()
                .contains("state is locked by `apply` (ci@elsewhere, pid 1, since 2026-11-25T10:00:00Z) via `shared/state.json.lock`"),
            "{}",
            blocked.stderr()
        );
    }
    let unlock = ws.roster(&["force-unlock", "7e57", "--state", "other.json"]);
    assert_eq!(unlock.code(), 0, "{}", unlock.combined());

    let run = roster(&ws, &sandbox, &["apply", "--auto-approve"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    scenario.assert_converged(&sandbox);
    for name in ["roster.state.json", "other.json"] {
        assert!(is_link(&ws.path().join(name)), "`{name}` is still a link");
        assert_eq!(
            std::fs::read_link(ws.path().join(name)).unwrap(),
            Path::new("shared/state.json")
        );
    }
    let state = roster::state::parse_state(ws.read("shared/state.json").as_bytes()).unwrap();
    assert_eq!(state.serial, 2, "written where the link leads");
    assert!(!is_link(&ws.path().join("shared/state.json.backup")));
    assert_eq!(
        ws.read("shared/state.json.backup"),
        first,
        "the backup is the previous state"
    );
    let names: Vec<String> = entries(ws.path()).into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "other.json",
            "roster.state.json",
            "roster.yaml",
            "shared/state.json",
            "shared/state.json.backup"
        ],
        "no backup beside the link, no lock or journal left"
    );
    // Read through the other link: the applied state, whose changes are still pending (exit 2).
    let plan = ws.roster(&["plan", "--detailed-exitcode", "--state", "other.json"]);
    assert_eq!(plan.code(), 2, "{}", plan.combined());
    assert!(
        plan.stdout()
            .contains("No changes. The chats match the config once the pending changes land."),
        "{}",
        plan.combined()
    );
}

/// A link that leads nowhere is refused by every command, clearly, and nothing is created
/// where it leads (a missing target may be an unmounted share, not a new state).
#[cfg(unix)]
#[test]
fn a_state_link_that_leads_nowhere_is_refused_and_nothing_is_created() {
    let scenario = Scenario::random(43, 2);
    let sandbox = Sandbox::spawn(scenario.seed(), quick());
    let chat = scenario.seed().chats[0].id.clone();
    let ws = Workspace::new();
    scenario.write(&ws);
    std::fs::remove_file(ws.path().join("roster.state.json")).unwrap();
    link("mnt/state.json", &ws, "roster.state.json");
    let before = entries(ws.path());
    let mut outputs = Vec::new();
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["import", &chat],
        &["refresh"],
    ] {
        let run = roster(&ws, &sandbox, args);
        assert_eq!(run.code(), 1, "{args:?}: {}", run.combined());
        outputs.push(format!(
            "$ roster {}\n{}",
            args.join(" ").replace(&chat, "CHAT"),
            run.combined()
        ));
    }
    insta::assert_snapshot!(outputs.join("\n"));
    assert!(mutating_calls(&sandbox).is_empty());
    assert_eq!(entries(ws.path()), before, "nothing created");
    assert!(!ws.path().join("mnt").exists());
}

/// A journal with a corrupt line in the middle is refused by `plan`, `apply` and `refresh`,
/// each naming the file and the line and saying how to recover; nothing changes.
#[test]
fn a_corrupt_journal_is_refused_naming_the_file_the_line_and_how_to_recover() {
    let scenario = Scenario::random(44, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), quick());
    let ws = Workspace::new();
    scenario.write(&ws);
    let chat = scenario.seed().chats[0].id.clone();
    ws.write(
        "roster.state.json.journal",
        format!(
            "{{\"type\":\"begin\",\"lineage\":\"11111111-2222-4333-8444-555555555555\",\"serial\":1}}\n\
             {{\"type\":\"intent\",\"id\":1,\"chat\":\"{chat}\",\"op\":\"add\",\"handle\":\"+15559990001\"}}\n\
             {{\"type\":\"accep{{\"type\":\"failed\",\"id\":1}}\n\
             {{\"type\":\"failed\",\"id\":2}}\n"
        ),
    );
    let before = ws.snapshot_files();
    let mut outputs = Vec::new();
    for args in [&["plan"][..], &["apply", "--auto-approve"], &["refresh"]] {
        let run = roster(&ws, &sandbox, args);
        assert_eq!(run.code(), 1, "{args:?}: {}", run.combined());
        outputs.push(format!("$ roster {}\n{}", args.join(" "), run.combined()));
    }
    insta::assert_snapshot!(outputs.join("\n"));
    assert!(sandbox.calls().is_empty(), "no call made");
    assert_eq!(ws.snapshot_files(), before, "nothing changed, no lock left");
}
