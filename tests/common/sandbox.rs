//! Running roster against a sandbox, and reading what the sandbox received.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

use linq_sandbox::{Options, Sandbox, Seed};
use serde_json::Value;

use super::{repo, Run, Workspace};

/// The token of the random scenarios' sandboxes.
pub const TOKEN: &str = "sandbox-token-5b1e9c";

/// The environment that points roster at `sandbox`, with the token its seed takes.
pub fn api_env(sandbox: &Sandbox) -> [(&'static str, String); 2] {
    [
        ("LINQ_API_V3_BASE_URL", sandbox.base_url()),
        ("LINQ_API_V3_API_KEY", sandbox.token()),
    ]
}

/// `roster ARGS` in `ws` against `sandbox`, with `extra` set in its environment too.
pub fn roster_with_env(ws: &Workspace, sandbox: &Sandbox, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let env = api_env(sandbox);
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    ws.roster_with(args, &env)
}

pub fn roster(ws: &Workspace, sandbox: &Sandbox, args: &[&str]) -> Run {
    roster_with_env(ws, sandbox, args, &[])
}

/// `roster ARGS` in `ws` against `sandbox`, insisting that it exits with `code`.
pub fn expect_exit(ws: &Workspace, sandbox: &Sandbox, code: i32, args: &[&str]) -> Run {
    let run = roster(ws, sandbox, args);
    assert_eq!(run.code(), code, "roster {}\n{}", args.join(" "), run.combined());
    run
}

/// The binary in `ws` against `sandbox`, to start in the background: no terminal, colour off by
/// environment, stdout and stderr piped.
pub fn roster_command(ws: &Workspace, sandbox: &Sandbox) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
    command
        .current_dir(ws.path())
        .envs(api_env(sandbox))
        .env("USER", "tester")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `roster apply --auto-approve --settle-timeout 1 EXTRA`, started in the background.
pub fn spawn_apply(ws: &Workspace, sandbox: &Sandbox, extra: &[&str]) -> Child {
    roster_command(ws, sandbox)
        .args(["apply", "--auto-approve", "--settle-timeout", "1"])
        .args(extra)
        .spawn()
        .expect("start roster")
}

/// Mutating calls the sandbox received, by (method, chat, handle).
pub fn mutating_calls(sandbox: &Sandbox) -> BTreeMap<(String, String, String), Vec<u16>> {
    let mut calls: BTreeMap<_, Vec<u16>> = BTreeMap::new();
    for call in sandbox.calls() {
        if call.method == "POST" || call.method == "DELETE" {
            let key = (
                call.method.clone(),
                call.chat.clone().unwrap_or_default(),
                call.handle.clone().unwrap_or_default(),
            );
            calls.entry(key).or_default().push(call.status);
        }
    }
    calls
}

/// How many times each change took effect (the sandbox queued it), by (method, chat, handle),
/// whatever the client saw.
pub fn applied_changes(sandbox: &Sandbox) -> BTreeMap<(String, String, String), usize> {
    let mut applied: BTreeMap<_, usize> = BTreeMap::new();
    for call in sandbox.calls().into_iter().filter(|c| c.applied) {
        let key = (
            call.method,
            call.chat.unwrap_or_default(),
            call.handle.unwrap_or_default(),
        );
        *applied.entry(key).or_default() += 1;
    }
    applied
}

/// Each accepted change was sent once, whatever the stops and retries in between.
pub fn assert_no_change_accepted_twice(sandbox: &Sandbox) {
    for (key, statuses) in mutating_calls(sandbox) {
        assert!(
            statuses.iter().filter(|s| **s == 202).count() <= 1,
            "{key:?} accepted twice: {statuses:?}"
        );
    }
}

/// How many adds and removes the sandbox has answered.
pub fn changes_answered(sandbox: &Sandbox) -> usize {
    mutating_calls(sandbox).values().map(Vec::len).sum()
}

/// Whether the sandbox has accepted a change (answered 202).
pub fn accepted(sandbox: &Sandbox) -> bool {
    sandbox.calls().iter().any(|c| c.status == 202)
}

/// A sandbox and a workspace whose runs of roster talk to it.
pub struct Linq {
    pub sandbox: Sandbox,
    pub ws: Workspace,
}

impl Linq {
    /// `seed` served with `options`, and an empty workspace.
    pub fn serve(seed: Seed, options: Options) -> Linq {
        Linq {
            sandbox: Sandbox::spawn(seed, options),
            ws: Workspace::new(),
        }
    }

    /// The team example as the README's demo serves it: its config and state in the
    /// workspace, its seed in the sandbox (changes land at once).
    pub fn team() -> Linq {
        let seed = Sandbox::load_seed(repo().join("examples/team/sandbox.json")).unwrap();
        let options = Options {
            land_delay: std::time::Duration::ZERO,
            ..Options::default()
        };
        Linq {
            sandbox: Sandbox::spawn(seed, options),
            ws: Workspace::team(),
        }
    }

    pub fn roster(&self, args: &[&str]) -> Run {
        roster(&self.ws, &self.sandbox, args)
    }

    /// `roster ARGS` with `extra` set in its environment too.
    pub fn roster_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        roster_with_env(&self.ws, &self.sandbox, args, extra)
    }

    /// Runs roster and insists it exits with `code`.
    pub fn expect(&self, code: i32, args: &[&str]) -> Run {
        expect_exit(&self.ws, &self.sandbox, code, args)
    }

    /// The state file as JSON.
    pub fn state(&self) -> Value {
        self.ws.state()
    }

    /// The state file's bytes, or `None` when there is none.
    pub fn state_bytes(&self) -> Option<Vec<u8>> {
        self.ws.state_bytes()
    }
}
