//! Stopping cleanly, the real binary against the sandbox: signals (SIGINT, SIGTERM, SIGHUP, a
//! second one, Ctrl-C at the prompt), locks left behind (`kill -9`, another host), waiting for
//! the lock, and duration flags that no timer can overflow.

use std::time::Duration;

use linq_sandbox::{Options, Sandbox};

use crate::apply::{mutating_calls, roster, Scenario};
use crate::common::Workspace;

/// A duration no clock can hold is a usage error (exit 1) before anything starts: no panic, no
/// call, no file.
#[test]
fn absurd_durations_are_usage_errors_that_change_nothing() {
    let scenario = Scenario::random(21, 3);
    let sandbox = Sandbox::spawn(
        scenario.seed(),
        Options {
            land_delay: Duration::from_millis(30),
            ..Options::default()
        },
    );
    let ws = Workspace::new();
    scenario.write(&ws);
    let before = ws.snapshot_files();
    let mut outputs = Vec::new();
    for flags in [["--lock-timeout", "1e30"], ["--wait-timeout", "inf"]] {
        let mut args = vec!["apply", "--auto-approve"];
        args.extend(flags);
        let run = roster(&ws, &sandbox, &args);
        assert_eq!(run.code(), 1, "{}", run.combined());
        outputs.push(run.combined());
    }
    insta::assert_snapshot!(outputs.join("\n"));
    assert!(sandbox.calls().is_empty(), "no call went out");
    assert!(mutating_calls(&sandbox).is_empty());
    assert_eq!(ws.snapshot_files(), before, "nothing was written");
}
