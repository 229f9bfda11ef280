//! A newcomer's mistakes that the rest of the suite does not already pin (issue 16): a phone
//! number with a digit too few or too many, and the README's first steps.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use linq_sandbox::{Options, Sandbox};

use crate::common::{repo, Linq};

/// `"+1 205 555 01"` is E.164 (`+` and 2 to 15 digits) but no number of `+1`: before the
/// possible-length check it planned as `+ add +120555501`, which Linq would have sent to no one.
/// Now it is a config error at its place, and apply neither reads nor changes anything.
#[test]
fn a_number_with_a_digit_too_few_is_a_config_error_and_nothing_is_called() {
    let linq = Linq::team();
    let sales = linq.ws.read("config/sales.yaml");
    let typo = sales.replace(
        "members: [ops, sales-lead, sales-new]",
        "members: [ops, sales-lead, sales-new, \"+1 205 555 01\"]",
    );
    assert_ne!(typo, sales, "the team example changed: update this test");
    linq.ws.write("config/sales.yaml", typo);
    let before = linq.ws.snapshot_files();

    let run = linq.expect(1, &["apply", "-c", "config", "--auto-approve"]);
    let (line, column) = typo_at(&linq.ws.read("config/sales.yaml"));
    assert!(
        run.stderr().contains(&format!(
            "config/sales.yaml:{line}:{column}: `+1 205 555 01` is not a possible phone number: a number of `+1` has 10 digits after the `+1`, this one has 8"
        )),
        "{}",
        run.combined()
    );
    assert_eq!(run.stdout(), "", "nothing is planned");
    assert!(linq.sandbox.calls().is_empty(), "nothing was read or changed");
    assert_eq!(linq.ws.snapshot_files(), before, "nothing was written");
}

/// The 1-based line and column of the typo (its opening quote) in the edited file.
fn typo_at(text: &str) -> (usize, usize) {
    let quoted = "\"+1 205 555 01\"";
    let (index, line) = text.lines().enumerate().find(|(_, l)| l.contains(quoted)).unwrap();
    (index + 1, line.find(quoted).unwrap() + 1)
}

/// The `sh` blocks of the README section titled `title`, in order.
fn readme_blocks(title: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme.split(&format!("\n## {title}\n")).nth(1).expect("the section");
    let section = section.split("\n## ").next().unwrap();
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

/// The demo's second block, pasted at once against a sandbox started as its first block says,
/// ends as its comments promise: `exit 0` (Linq matches the config) and no violation. It used to
/// print `exit 2` when pasted at once: the sandbox landed changes 100 ms after accepting them,
/// and the plan that followed the apply found them still pending.
#[test]
fn the_readme_demo_pasted_at_once_ends_as_its_comments_say() {
    let blocks = readme_blocks("A demo against the sandbox");
    let serve = blocks[0].trim();
    let flags = serve
        .strip_prefix("cargo run --example linq-sandbox -- ")
        .unwrap_or_else(|| panic!("the demo starts the sandbox another way: {serve}"));
    assert_eq!(
        flags, "--seed examples/team/sandbox.json --listen 127.0.0.1:8787 --land-delay-ms 0",
        "the demo's sandbox changed: serve it here as the README does"
    );
    let sandbox = Sandbox::spawn(
        Sandbox::load_seed(repo().join("examples/team/sandbox.json")).unwrap(),
        Options {
            land_delay: Duration::ZERO,
            ..Options::default()
        },
    );
    let control = sandbox.base_url().replace("/api/partner", "");
    let roster = Path::new(env!("CARGO_BIN_EXE_roster"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let script = blocks[1]
        .replace("cargo build\n", "")
        .replace("$PWD/target/debug", &roster)
        .replace("http://127.0.0.1:8787", &control);
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .args(["-c", &script])
        .current_dir(repo())
        .env("TMPDIR", scratch.path())
        .env_remove("LINQ_API_V3_API_KEY")
        .env_remove("ROSTER_STATE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"exit 0"), "{stdout}\n{stderr}");
    assert!(lines.contains(&"[]"), "a violation: {stdout}");
    assert!(sandbox.violations().is_empty());
}

/// Without a server the PostgreSQL tests "print a notice and pass", as the README says: the
/// notice reaches the terminal of a plain `cargo test`. It used to go through `eprintln!`, which
/// the test harness swallows for a test that passes. This runs one of them in a test binary of
/// its own (this one), with no server set.
#[test]
fn a_skipped_postgres_test_says_so_where_cargo_test_shows_it() {
    let test = "postgres::apply_converges_with_the_state_in_postgres_and_every_serial_is_kept";
    let output = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact"])
        .env_remove("ROSTER_TEST_POSTGRES")
        .env_remove("ROSTER_REQUIRE_POSTGRES")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        stderr.contains("note: skipped `apply`: ROSTER_TEST_POSTGRES is not set (see \"Shared state\" in the README)"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
}
