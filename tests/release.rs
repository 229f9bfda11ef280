//! The release archives, the action that installs them, and `cargo binstall`'s view of them.
//!
//! The archives are packed by the same script the release workflow runs, served from a folder
//! through `file://` URLs, and installed by the action's own step script, run by bash with the
//! environment the runner would give it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest as _, Sha256};

use crate::common::{repo, Workspace};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const LINUX: &str = "x86_64-unknown-linux-musl";

fn tag() -> String {
    format!("v{VERSION}")
}

/// A workspace with a release of `tag` for `target` published under `server/`, as GitHub serves
/// `OWNER/roster`'s releases; returns the release folder.
fn publish(ws: &Workspace, tag: &str, target: &str) -> PathBuf {
    // The binary only has to be recognisable once installed; the completions and man pages come
    // from the real roster.
    let binary = ws.write("build/roster", "#!/bin/sh\necho \"roster stand-in $*\"\n");
    let release = ws.path().join("server/OWNER/roster/releases/download").join(tag);
    let output = Command::new("bash")
        .arg(repo().join(".github/scripts/package.sh"))
        .args([tag, target])
        .arg(&binary)
        .arg(env!("CARGO_BIN_EXE_roster"))
        .arg(&release)
        .output()
        .unwrap();
    assert!(output.status.success(), "package.sh: {}", text(&output));
    // As the workflow does: `sha256sum -- roster-* > SHA256SUMS`.
    let mut sums = String::new();
    let mut archives: Vec<PathBuf> = std::fs::read_dir(&release)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    archives.sort();
    for archive in archives {
        let name = archive.file_name().unwrap().to_str().unwrap().to_owned();
        sums.push_str(&format!("{}  {name}\n", sha256(&archive)));
    }
    std::fs::write(release.join("SHA256SUMS"), sums).unwrap();
    release
}

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn text(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The action's one step: its script, after checking that it reads its values only from the
/// environment this harness sets.
fn action_script() -> String {
    let action: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo().join("action.yml")).unwrap()).unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    assert_eq!(steps.len(), 1, "the harness runs one step");
    let step = &steps[0];
    assert_eq!(step["shell"], "bash");
    let env: Vec<(String, String)> = step["env"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        ("INPUT_VERSION", "${{ inputs.version }}"),
        ("ACTION_REF", "${{ github.action_ref }}"),
        ("ACTION_REPOSITORY", "${{ github.action_repository }}"),
        ("ACTION_PATH", "${{ github.action_path }}"),
        ("SERVER_URL", "${{ github.server_url }}"),
    ];
    assert_eq!(
        env,
        expected.map(|(k, v)| (k.to_owned(), v.to_owned())),
        "the step's environment changed: update the harness"
    );
    let script = step["run"].as_str().unwrap().to_owned();
    assert!(
        !script.contains("${{"),
        "expressions belong in `env`, not in the script"
    );
    script
}

/// What one run of the action left behind.
struct Installed {
    output: Output,
    /// Lines the step appended to GITHUB_PATH.
    path: Vec<String>,
    /// Lines the step appended to GITHUB_OUTPUT.
    outputs: Vec<String>,
}

/// Runs the action's step as the runner does (`bash --noprofile --norc -eo pipefail`), on a
/// Linux x64 runner unless `env` says otherwise.
fn run_action(ws: &Workspace, env: &[(&str, &str)]) -> Installed {
    let script = ws.write("step.sh", action_script());
    let runner = ws.path().join("runner");
    std::fs::create_dir_all(&runner).unwrap();
    let mut command = Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(ws.path())
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TEMP", &runner)
        .env("GITHUB_PATH", ws.path().join("github_path"))
        .env("GITHUB_OUTPUT", ws.path().join("github_output"))
        .env("INPUT_VERSION", "")
        .env("ACTION_REF", tag())
        .env("ACTION_REPOSITORY", "OWNER/roster")
        .env("ACTION_PATH", repo())
        .env("SERVER_URL", format!("file://{}", ws.path().join("server").display()));
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(ws.path().join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    Installed {
        output,
        path: lines("github_path"),
        outputs: lines("github_output"),
    }
}

#[test]
fn the_action_installs_the_release_and_puts_roster_on_path() {
    let ws = Workspace::new();
    publish(&ws, &tag(), LINUX);
    let installed = run_action(&ws, &[]);
    assert!(installed.output.status.success(), "{}", text(&installed.output));

    let name = format!("roster-{}-{LINUX}", tag());
    let folder = ws
        .path()
        .join(format!("runner/roster-install-{}-{LINUX}/{name}", tag()));
    assert_eq!(installed.path, [folder.display().to_string()]);
    assert_eq!(
        installed.outputs,
        [format!("version={}", tag()), format!("path={}", folder.display())]
    );
    // Found through PATH, as a later step finds it.
    let path = format!("{}:{}", folder.display(), std::env::var("PATH").unwrap());
    let roster = Command::new("roster")
        .arg("--version")
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&roster.stdout), "roster stand-in --version\n");
    // What the archive carries besides the binary.
    let bash = ws.roster(&["completions", "bash"]).stdout();
    assert_eq!(
        std::fs::read_to_string(folder.join("completions/roster.bash")).unwrap(),
        bash
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("man/man1/roster.1")).unwrap(),
        ws.roster(&["man"]).stdout()
    );
    for file in ["README.md", "LICENSE", "completions/_roster", "completions/roster.fish"] {
        assert!(folder.join(file).is_file(), "{file} is missing");
    }
    // Only the unpacked folder is left.
    let left: Vec<String> = std::fs::read_dir(folder.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, [name]);
}

#[test]
fn the_action_takes_the_version_from_its_input_its_tag_or_its_commit() {
    let ws = Workspace::new();
    publish(&ws, &tag(), LINUX);
    let cases: [(&str, &str); 4] = [
        // An explicit input wins, with or without the `v`.
        (VERSION, "main"),
        // Pinned to a commit, to a branch or to a major tag: the version of that commit.
        ("", "0123456789abcdef0123456789abcdef01234567"),
        ("", "main"),
        ("", "v1"),
    ];
    for (input, action_ref) in cases {
        let installed = run_action(&ws, &[("INPUT_VERSION", input), ("ACTION_REF", action_ref)]);
        assert!(
            installed.output.status.success(),
            "{input} {action_ref}: {}",
            text(&installed.output)
        );
        assert_eq!(
            installed.outputs[0],
            format!("version={}", tag()),
            "{input} {action_ref}"
        );
        std::fs::remove_file(ws.path().join("github_output")).unwrap();
    }
}

/// The `::error` line the step printed (GitHub shows it as an annotation).
fn error(installed: &Installed) -> String {
    assert_eq!(installed.output.status.code(), Some(1), "{}", text(&installed.output));
    assert!(installed.path.is_empty(), "nothing may reach PATH after an error");
    let stdout = String::from_utf8_lossy(&installed.output.stdout);
    stdout
        .lines()
        .find(|line| line.starts_with("::error"))
        .unwrap_or_else(|| panic!("no error annotation: {}", text(&installed.output)))
        .to_owned()
}

#[test]
fn the_action_refuses_an_archive_whose_checksum_differs() {
    let ws = Workspace::new();
    let release = publish(&ws, &tag(), LINUX);
    let archive = release.join(format!("roster-{}-{LINUX}.tar.gz", tag()));
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes.push(0);
    std::fs::write(&archive, bytes).unwrap();

    let installed = run_action(&ws, &[]);
    let message = error(&installed);
    assert!(
        message.starts_with(&format!(
            "::error title=roster::checksum mismatch for `roster-{}-{LINUX}.tar.gz`: SHA256SUMS says ",
            tag()
        )),
        "{message}"
    );
    assert!(message.ends_with("; nothing was installed"), "{message}");
    let folder = ws.path().join(format!("runner/roster-install-{}-{LINUX}", tag()));
    assert!(
        !folder.join(format!("roster-{}-{LINUX}", tag())).exists(),
        "nothing is unpacked"
    );
}

#[test]
fn the_action_explains_a_missing_release_platform_or_bad_version() {
    let ws = Workspace::new();
    publish(&ws, &tag(), LINUX);
    let missing = run_action(&ws, &[("INPUT_VERSION", "v9.9.9")]);
    let message = error(&missing);
    assert!(
        message.starts_with("::error title=roster::could not download `SHA256SUMS` of roster v9.9.9 from file://"),
        "{message}"
    );

    let platform = run_action(&ws, &[("RUNNER_OS", "FreeBSD")]);
    assert!(
        error(&platform).starts_with("::error title=roster::roster has no release for FreeBSD on X64"),
        "{}",
        error(&platform)
    );

    // A version can never smuggle a second line into GITHUB_PATH.
    let injected = run_action(&ws, &[("INPUT_VERSION", "v0.1.0\n/tmp/evil")]);
    assert_eq!(
        error(&injected),
        "::error title=roster::`v0.1.0??tmp?evil` is not a roster version: set `version` to a release tag, such as `v0.1.0`"
    );

    // Another platform's archive is not there: the download names what it looked for.
    let arm = run_action(&ws, &[("RUNNER_ARCH", "ARM64")]);
    assert!(
        error(&arm).contains(&format!(
            "could not download `roster-{}-aarch64-unknown-linux-musl.tar.gz`",
            tag()
        )),
        "{}",
        error(&arm)
    );
}

/// Every `x86_64-…`/`aarch64-…` target triple named in `text`.
fn targets(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|word| (word.starts_with("x86_64-") || word.starts_with("aarch64-")) && word.matches('-').count() >= 2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_workflow_builds_every_target_the_action_installs() {
    let workflow: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap()).unwrap();
    let built: BTreeSet<String> = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|entry| entry["target"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(built.len(), 5, "{built:?}");
    assert_eq!(targets(&action_script()), built);
}

/// The `key = "value"` lines of one `[section]` of Cargo.toml.
fn cargo_section(section: &str) -> Vec<(String, String)> {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let header = format!("[{section}]");
    manifest
        .lines()
        .skip_while(|line| line.trim() != header)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| line.split_once(" = "))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().trim_matches('"').to_owned()))
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    &pairs
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no `{key}`"))
        .1
}

/// Fills in a binstall template the way `cargo binstall` does.
fn render(template: &str, target: &str) -> String {
    let exe = if target.contains("-windows-") { ".exe" } else { "" };
    template
        .replace("{ repo }", "https://github.com/OWNER/roster")
        .replace("{ name }", "roster")
        .replace("{ version }", VERSION)
        .replace("{ target }", target)
        .replace("{ bin }", "roster")
        .replace("{ binary-ext }", exe)
}

#[test]
fn cargo_binstall_finds_the_archive_and_the_binary_in_it() {
    let package = cargo_section("package");
    assert_eq!(get(&package, "repository"), "https://github.com/OWNER/roster");
    let binstall = cargo_section("package.metadata.binstall");
    let windows = cargo_section("package.metadata.binstall.overrides.x86_64-pc-windows-msvc");

    let ws = Workspace::new();
    let release = publish(&ws, &tag(), LINUX);
    let url = render(get(&binstall, "pkg-url"), LINUX);
    let archive = format!("roster-{}-{LINUX}.tar.gz", tag());
    assert_eq!(
        url,
        format!("https://github.com/OWNER/roster/releases/download/{}/{archive}", tag())
    );
    assert_eq!(get(&binstall, "pkg-fmt"), "tgz");
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(release.join(&archive))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let bin = render(get(&binstall, "bin-dir"), LINUX);
    assert!(listing.lines().any(|line| line == bin), "`{bin}` is not in {listing}");

    let target = "x86_64-pc-windows-msvc";
    assert_eq!(
        render(get(&windows, "pkg-url"), target),
        format!(
            "https://github.com/OWNER/roster/releases/download/{}/roster-{}-{target}.zip",
            tag(),
            tag()
        )
    );
    assert_eq!(get(&windows, "pkg-fmt"), "zip");
    assert_eq!(
        render(get(&binstall, "bin-dir"), target),
        format!("roster-{}-{target}/roster.exe", tag())
    );
}

#[test]
fn the_ci_recipes_install_roster_with_the_action() {
    for file in [
        "plan-on-pull-request.yml",
        "apply-on-schedule.yml",
        "apply-on-schedule-postgres.yml",
    ] {
        let text = std::fs::read_to_string(repo().join("examples/ci").join(file)).unwrap();
        let workflow: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let steps: Vec<&serde_yaml::Value> = workflow["jobs"]
            .as_mapping()
            .unwrap()
            .values()
            .flat_map(|job| job["steps"].as_sequence().into_iter().flatten())
            .collect();
        let uses: Vec<&str> = steps.iter().filter_map(|step| step["uses"].as_str()).collect();
        assert!(
            uses.contains(&format!("OWNER/roster@{}", tag()).as_str()),
            "{file} does not install the current release with the action: {uses:?}"
        );
        assert!(!text.contains("cargo install"), "{file} still compiles roster");
    }
}
