//! Stopping cleanly, the real binary against the sandbox: signals (SIGINT, SIGTERM, SIGHUP, a
//! second one, Ctrl-C at the prompt), locks left behind (`kill -9`, another host), waiting for
//! the lock, and duration flags that no timer can overflow.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use linq_sandbox::{Calls, Options, Sandbox, Tamper};

use crate::common::{
    accepted, api_env, assert_no_change_accepted_twice, changes_answered, mutating_calls, roster, roster_command,
    spawn_apply, wait_until, Scenario, Workspace, PATIENCE,
};

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

/// A roster process started in the background, its stderr read line by line as it comes.
/// Killed if a failed test leaves it running.
struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    seen: Vec<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Background {
    fn start(ws: &Workspace, sandbox: &Sandbox, args: &[&str]) -> Background {
        let mut child = roster_command(ws, sandbox).args(args).spawn().expect("start roster");
        let (sender, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        Background {
            child,
            lines,
            seen: Vec::new(),
            stdout: Some(stdout),
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends `signal` (`-INT`, `-TERM`, `-HUP`) the way a shell user does.
    fn kill(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.pid()]).status().unwrap();
        assert!(sent.success(), "kill {signal}");
    }

    /// Waits for a stderr line holding `text`; panics with what was seen if the process ends.
    fn wait_for_line(&mut self, text: &str) {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!("no line with {text:?} on stderr; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Waits for the end: exit code (`None` when a signal ended it), stdout and all of stderr.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        let stdout = self.stdout.take().unwrap().join().unwrap();
        (status.code(), stdout, self.seen.join("\n"))
    }
}

/// Files roster leaves beside the state while it runs; none may stay after a clean stop.
fn leftovers(ws: &Workspace) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".lock") || name.ends_with(".journal") || name.ends_with(".tmp"))
        .collect();
    names.sort();
    names
}

/// SIGTERM (a cancelled CI job) and SIGHUP (a closed terminal) stop apply as the first Ctrl-C
/// does: the calls in flight finish and no other starts, not even one whose turn was near
/// (several chats run at once, their calls waiting for the one request in flight), what Linq
/// accepted is saved, the journal is settled and the lock released; the exit code names the
/// signal, and a re-run converges.
#[test]
fn sigterm_and_sighup_during_apply_save_settle_release_and_rerun_converges() {
    for (seed, signal, code, name) in [(31, "-TERM", 143, "SIGTERM"), (32, "-HUP", 129, "SIGHUP")] {
        let scenario = Scenario::random(seed, 6);
        let sandbox = Sandbox::spawn(
            scenario.seed(),
            Options {
                latency: Duration::from_millis(100),
                land_delay: Duration::from_millis(20),
                ..Options::default()
            },
        );
        let ws = Workspace::new();
        scenario.write(&ws);
        let mut apply = Background::start(&ws, &sandbox, &["apply", "--auto-approve", "--parallelism", "1"]);
        wait_until("a change accepted", || accepted(&sandbox));
        apply.kill(signal);
        // Counted once roster says it stops, so after the stop whatever the timing: the
        // sandbox counts a call once it answers, and the one in flight may come on top.
        apply.wait_for_line(&format!("Stopping ({name})"));
        let answered_at_signal = changes_answered(&sandbox);
        let (exit, stdout, stderr) = apply.finish();
        assert_eq!(exit, Some(code), "{name}:\n{stdout}\n{stderr}");
        let answered = changes_answered(&sandbox);
        assert!(
            answered <= answered_at_signal + 1,
            "{name}: {answered} changes made, {answered_at_signal} at the signal:\n{stdout}\n{stderr}"
        );
        assert!(stderr.contains(&format!("Stopping ({name})")), "{stderr}");
        assert!(stdout.contains("Apply interrupted"), "{stdout}");
        assert_eq!(leftovers(&ws), Vec::<String>::new(), "{name}: no lock, journal settled");
        assert_eq!(ws.parsed_state().serial, 2, "{name}: what was accepted is saved");
        sandbox.set_options(Options {
            land_delay: Duration::from_millis(20),
            ..Options::default()
        });
        let run = roster(&ws, &sandbox, &["apply", "--auto-approve"]);
        assert_eq!(run.code(), 0, "{}", run.combined());
        scenario.assert_converged(&sandbox);
        assert_no_change_accepted_twice(&sandbox);
    }
}

/// A second Ctrl-C leaves at once, with a call still in flight, yet releases the lock first;
/// the journal stays, and the next run settles it and converges.
#[test]
fn a_second_sigint_exits_at_once_releasing_the_lock_and_the_next_run_settles_the_journal() {
    let scenario = Scenario::random(33, 8);
    let quick = Options {
        land_delay: Duration::from_millis(20),
        ..Options::default()
    };
    let sandbox = Sandbox::spawn(scenario.seed(), quick.clone());
    let ws = Workspace::new();
    scenario.write(&ws);
    let mut apply = Background::start(&ws, &sandbox, &["apply", "--auto-approve", "--parallelism", "1"]);
    wait_until("a change accepted", || accepted(&sandbox));
    // From now on every request hangs: whatever apply does next stays in flight.
    sandbox.set_options(Options {
        latency: Duration::from_secs(600),
        ..quick.clone()
    });
    apply.kill("-INT");
    apply.wait_for_line("Stopping (SIGINT)");
    apply.kill("-INT");
    let (exit, _, stderr) = apply.finish();
    assert_eq!(exit, Some(130), "{stderr}");
    assert!(
        stderr.contains("Exiting at once (SIGINT): the lock is released"),
        "{stderr}"
    );
    assert_eq!(
        leftovers(&ws),
        ["roster.state.json.journal"],
        "the lock is released, the journal kept"
    );

    sandbox.set_options(quick);
    let run = roster(&ws, &sandbox, &["apply", "--auto-approve", "--settle-timeout", "1"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    assert!(
        run.stderr().contains("Settled the journal of an interrupted run"),
        "{}",
        run.stderr()
    );
    scenario.assert_converged(&sandbox);
    assert_no_change_accepted_twice(&sandbox);
    assert_eq!(leftovers(&ws), Vec::<String>::new());
}

/// Ctrl-C at the approval prompt, typed on a terminal (a pseudo-terminal from `script`),
/// cancels: nothing is sent, the lock is released.
#[test]
fn ctrl_c_at_the_approval_prompt_cancels_and_releases_the_lock() {
    let scenario = Scenario::random(34, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), Options::default());
    let ws = Workspace::new();
    scenario.write(&ws);
    let before = ws.snapshot_files();
    let mut script = Command::new("script")
        .args([
            "-qec",
            &format!("{} apply --no-color", env!("CARGO_BIN_EXE_roster")),
            "/dev/null",
        ])
        .current_dir(ws.path())
        .envs(api_env(&sandbox))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs roster on a pseudo-terminal");
    let mut stdin = script.stdin.take().unwrap();
    let mut screen = script.stdout.take().unwrap();
    // Read the screen until the question shows, then type Ctrl-C.
    let mut shown = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&shown).contains("Only `yes` is accepted") {
        let n = screen.read(&mut buffer).unwrap();
        assert!(n > 0, "the prompt never showed:\n{}", String::from_utf8_lossy(&shown));
        shown.extend_from_slice(&buffer[..n]);
    }
    stdin.write_all(b"\x03").unwrap();
    stdin.flush().unwrap();
    screen.read_to_end(&mut shown).unwrap();
    drop(stdin);
    let status = script.wait().unwrap();
    let screen = String::from_utf8_lossy(&shown);
    assert_eq!(status.code(), Some(130), "{screen}");
    assert!(screen.contains("Apply cancelled; nothing was changed."), "{screen}");
    assert!(mutating_calls(&sandbox).is_empty(), "nothing was sent");
    assert_eq!(ws.snapshot_files(), before, "no lock left, nothing written");
}

/// The commands that only read from Linq stop their reads on SIGINT or SIGTERM, say so, and
/// write nothing: import (nothing adopted, no config written), refresh (the drift it was
/// reading is not recorded) and `plan --refresh`.
#[test]
fn sigint_and_sigterm_stop_the_reads_of_import_refresh_and_plan_refresh_writing_nothing() {
    let scenario = Scenario::random(35, 10);
    let sandbox = Sandbox::spawn(
        scenario.seed(),
        Options {
            latency: Duration::from_millis(300),
            ..Options::default()
        },
    );
    // Drift that a refresh run to its end would record.
    let chat = &scenario.seed().chats[0].id;
    sandbox.add_outside(chat, "+15559990001");
    let ids: Vec<String> = scenario.seed().chats.into_iter().map(|c| c.id).collect();
    let mut import = vec!["import", "--write", "roster.yaml", "--read-parallelism", "1"];
    import.extend(ids.iter().map(String::as_str));
    let cases: [(&[&str], &str); 3] = [
        (&import, "Import stopped; nothing was written."),
        (
            &["refresh", "--read-parallelism", "1"],
            "Refresh stopped; nothing was written.",
        ),
        (
            &["plan", "--refresh", "--read-parallelism", "1"],
            "Plan stopped while reading the chats from Linq; no plan was made.",
        ),
    ];
    for (args, message) in cases {
        for (signal, code, name) in [("-INT", 130, "SIGINT"), ("-TERM", 143, "SIGTERM")] {
            let ws = Workspace::new();
            if args[0] != "import" {
                scenario.write(&ws);
            }
            let before = ws.snapshot_files();
            let reads = sandbox.calls().len();
            let run = Background::start(&ws, &sandbox, args);
            // Stop once the first read was answered: the next is in flight.
            wait_until("a read answered", || sandbox.calls().len() > reads);
            run.kill(signal);
            let (exit, stdout, stderr) = run.finish();
            assert_eq!(exit, Some(code), "{args:?} {name}:\n{stdout}\n{stderr}");
            assert!(stderr.contains(&format!("Stopping ({name})")), "{stderr}");
            assert!(stderr.ends_with(message), "{args:?} {name}: {stderr}");
            assert_eq!(
                ws.snapshot_files(),
                before,
                "{args:?} {name}: nothing written, no lock left"
            );
        }
    }
    assert!(mutating_calls(&sandbox).is_empty());
}

/// After `kill -9` the lock stays behind; the next plain run sees that its holder, on this
/// host, is gone, breaks it with a note naming it, and converges without `force-unlock`.
#[test]
fn after_kill_9_a_plain_rerun_breaks_the_stale_lock_with_a_note_and_converges() {
    let scenario = Scenario::random(36, 10);
    let sandbox = Sandbox::spawn(
        scenario.seed(),
        Options {
            latency: Duration::from_millis(20),
            land_delay: Duration::from_millis(20),
            ..Options::default()
        },
    );
    let ws = Workspace::new();
    scenario.write(&ws);
    let mut apply = spawn_apply(&ws, &sandbox, &["--parallelism", "1"]);
    wait_until("a change accepted", || accepted(&sandbox));
    apply.kill().unwrap(); // SIGKILL: nothing runs after it.
    apply.wait().unwrap();
    let lock: serde_json::Value = serde_json::from_str(&ws.read("roster.state.json.lock")).expect("the lock stayed");
    assert_eq!(lock["pid"], apply.id());

    let run = roster(&ws, &sandbox, &["apply", "--auto-approve", "--settle-timeout", "1"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    let note = format!(
        "note: broke the stale lock `{}` of `apply` ({}@{}, pid {}, since {}): its process no longer runs",
        lock["id"].as_str().unwrap(),
        lock["who"].as_str().unwrap(),
        lock["host"].as_str().unwrap(),
        apply.id(),
        lock["since"].as_str().unwrap(),
    );
    assert!(run.stderr().contains(&note), "{}", run.stderr());
    scenario.assert_converged(&sandbox);
    assert_no_change_accepted_twice(&sandbox);
    assert_eq!(leftovers(&ws), Vec::<String>::new());
}

/// Only a lock of this host whose process is gone is broken. A lock from another host (its
/// holder may be running there) and one of this host whose pid runs still block, naming the
/// holder; the hint says to wait with `--lock-timeout`, and offers `force-unlock` only for the
/// holder that may be gone. `force-unlock` clears one and prints what it removed.
#[test]
fn a_lock_from_another_host_or_a_running_pid_still_blocks_and_force_unlock_names_it() {
    let scenario = Scenario::random(37, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), Options::default());
    let ws = Workspace::new();
    scenario.write(&ws);
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    // This test's own process runs, and holds no OS lock on the file.
    let running = std::process::id().to_string();
    for (id, host, pid, running_here) in [
        ("0c4f8e9a", "build-7.elsewhere", "4242", false),
        ("5d1e2f3a", host.as_str(), &running, true),
    ] {
        let lock = serde_json::json!({
            "id": id, "operation": "refresh", "who": "ci", "host": host, "pid": pid.parse::<u32>().unwrap(),
            "since": "2026-11-25T10:00:00Z",
        });
        ws.write("roster.state.json.lock", lock.to_string());
        let before = ws.snapshot_files();
        let blocked = roster(&ws, &sandbox, &["apply", "--auto-approve"]);
        assert_eq!(blocked.code(), 1, "{}", blocked.combined());
        let stderr = blocked.stderr();
        assert!(
            stderr.contains(&format!(
                "error: state is locked by `refresh` (ci@{host}, pid {pid}, since 2026-11-25T10:00:00Z)"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("wait for it with `--lock-timeout SECONDS`"), "{stderr}");
        assert_eq!(
            stderr.contains(&format!("roster force-unlock {id}")),
            !running_here,
            "force-unlock is offered only when the holder may be gone: {stderr}"
        );
        assert!(!stderr.contains("broke"), "{stderr}");
        assert_eq!(ws.snapshot_files(), before, "nothing changed");
        assert!(mutating_calls(&sandbox).is_empty());

        let unlock = ws.roster(&["force-unlock", id]);
        assert_eq!(unlock.code(), 0, "{}", unlock.combined());
        assert_eq!(
            unlock.stdout(),
            format!("Removed lock `{id}` held by `refresh` (ci@{host}, pid {pid}, since 2026-11-25T10:00:00Z).\n")
        );
    }
    let run = roster(&ws, &sandbox, &["apply", "--auto-approve"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    scenario.assert_converged(&sandbox);
}

/// A stop is not held up by retries: once a signal came, the client tries no failed attempt
/// again, so a chat whose every answer is a `429` stops at once rather than after the dozens
/// of retries a rate limit otherwise gets.
#[test]
fn a_signal_ends_a_storm_of_retries_at_once() {
    let scenario = Scenario::random(40, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), Options::default());
    let stormy = scenario.chats[0].id.clone();
    sandbox.tamper(
        &stormy,
        Tamper::Fail {
            status: 429,
            code: 1007,
            message: "Rate limit exceeded, retry later".to_owned(),
            calls: Calls::All,
        },
    );
    let ws = Workspace::new();
    scenario.write(&ws);
    let refused = || {
        let calls = sandbox.calls();
        calls
            .iter()
            .filter(|c| c.chat.as_deref() == Some(stormy.as_str()) && c.status == 429)
            .count()
    };
    let mut run = Background::start(&ws, &sandbox, &["apply", "--auto-approve"]);
    wait_until("the chat's reads refused twice", || refused() >= 2);
    run.kill("-INT");
    // Counted once roster says it stops: from then on no attempt may start.
    run.wait_for_line("Stopping (SIGINT)");
    let at_signal = refused();
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(
        refused() <= at_signal + 1,
        "retries went on after the signal: {at_signal} refusals then, {} at the end\n{stderr}",
        refused()
    );
    assert!(stdout.contains("Apply interrupted"), "{stdout}");
    assert!(
        !stdout.contains("failed"),
        "a chat cut short by the stop is stopped, not failed: {stdout}"
    );
    assert!(leftovers(&ws).is_empty(), "{:?}", leftovers(&ws));
}

/// A lock file is plain JSON that anything with access to the folder can write: its fields
/// reach the terminal escaped, in the refusal and in `force-unlock`'s report, never as control
/// sequences.
#[test]
fn a_lock_holder_is_shown_escaped() {
    let scenario = Scenario::random(39, 2);
    let sandbox = Sandbox::spawn(scenario.seed(), Options::default());
    let ws = Workspace::new();
    scenario.write(&ws);
    let lock = serde_json::json!({
        "id": "9e1f\u{1b}]0;owned\u{7}", "operation": "apply\u{1b}[2J", "who": "ci\r\u{202e}evil",
        "host": "build-7.elsewhere\u{7}", "pid": 4242, "since": "2026-11-25T10:00:00Z\u{1b}[1A",
    });
    ws.write("roster.state.json.lock", lock.to_string());
    let blocked = roster(&ws, &sandbox, &["apply", "--auto-approve"]);
    assert_eq!(blocked.code(), 1, "{}", blocked.combined());
    let stderr = blocked.stderr();
    assert!(
        stderr.contains(
            "error: state is locked by `apply\\x1b[2J` (ci\\r\\u{202e}evil@build-7.elsewhere\\x07, pid 4242, since 2026-11-25T10:00:00Z\\x1b[1A)"
        ),
        "{stderr}"
    );
    let id = "9e1f\u{1b}]0;owned\u{7}";
    let unlock = ws.roster(&["force-unlock", id]);
    assert_eq!(unlock.code(), 0, "{}", unlock.combined());
    for output in [&blocked.output, &unlock.output] {
        for stream in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.contains(['\u{1b}', '\u{7}', '\r', '\u{202e}']),
                "a control character reached the terminal: {text:?}"
            );
        }
    }
    assert!(
        unlock
            .stdout()
            .starts_with("Removed lock `9e1f\\x1b]0;owned\\x07` held by `apply\\x1b[2J`"),
        "{}",
        unlock.combined()
    );
}

/// `--lock-timeout` end to end: with a short one, a second apply fails naming the running
/// holder; with a long one it says whom it waits for, and runs once the first apply ends.
/// A signal while waiting ends the wait, changing nothing.
#[test]
fn lock_timeout_waits_for_a_running_apply_fails_when_short_and_a_signal_ends_the_wait() {
    let scenario = Scenario::random(38, 6);
    let quick = Options {
        land_delay: Duration::from_millis(20),
        ..Options::default()
    };
    let sandbox = Sandbox::spawn(scenario.seed(), quick.clone());
    let ws = Workspace::new();
    scenario.write(&ws);
    let first = Background::start(&ws, &sandbox, &["apply", "--auto-approve", "--parallelism", "1"]);
    wait_until("a change accepted", || accepted(&sandbox));
    // Slow the first apply down while the others come: it holds the lock all along.
    sandbox.set_options(Options {
        latency: Duration::from_secs(2),
        ..quick.clone()
    });

    let short = roster(&ws, &sandbox, &["apply", "--auto-approve", "--lock-timeout", "0.2"]);
    assert_eq!(short.code(), 1, "{}", short.combined());
    assert!(
        short.stderr().contains("state is locked by `apply` (tester@"),
        "{}",
        short.stderr()
    );
    assert!(
        short.stderr().contains(&format!("pid {},", first.pid())),
        "{}",
        short.stderr()
    );

    let mut stopped = Background::start(&ws, &sandbox, &["apply", "--auto-approve", "--lock-timeout", "600"]);
    stopped.wait_for_line("Waiting up to 600s for the state lock held by `apply`");
    stopped.kill("-INT");
    let (exit, _, stderr) = stopped.finish();
    assert_eq!(exit, Some(130), "{stderr}");
    assert!(
        stderr.ends_with("Stopped before taking the state lock; nothing was changed."),
        "{stderr}"
    );

    let mut second = Background::start(&ws, &sandbox, &["apply", "--auto-approve", "--lock-timeout", "600"]);
    second.wait_for_line("Waiting up to 600s for the state lock held by `apply` (tester@");
    assert!(second.seen.last().unwrap().contains(&format!("pid {},", first.pid())));
    // Let the first apply run to its end; the second then takes the lock and finds the work done.
    sandbox.set_options(quick);
    let (exit, stdout, stderr) = first.finish();
    assert_eq!(exit, Some(0), "{stdout}\n{stderr}");
    let (exit, stdout, stderr) = second.finish();
    assert_eq!(exit, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("No changes"), "{stdout}");
    scenario.assert_converged(&sandbox);
    assert_no_change_accepted_twice(&sandbox);
    assert_eq!(leftovers(&ws), Vec::<String>::new());
}

/// A run killed with a call in flight leaves its intent open in the journal; the next apply
/// settles it by reading the chat, which can take up to `--settle-timeout` a chat, and says so
/// before it starts rather than sit silent.
#[test]
fn settling_an_interrupted_run_says_what_it_reads_before_it_waits() {
    let scenario = Scenario::random(43, 2);
    let sandbox = Sandbox::spawn(scenario.seed(), Options::default());
    let ws = Workspace::new();
    scenario.write(&ws);
    let state = ws.state();
    let chat = &scenario.chats[0].id;
    let journal = [
        serde_json::json!({"type": "begin", "lineage": state["lineage"], "serial": state["serial"]}),
        serde_json::json!({"type": "intent", "id": 1, "chat": chat, "op": "add", "handle": "+12055550888"}),
    ]
    .iter()
    .map(|record| format!("{record}\n"))
    .collect::<String>();
    ws.write("roster.state.json.journal", journal);
    let run = roster(&ws, &sandbox, &["apply", "--auto-approve", "--settle-timeout", "0.2"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    let stderr = run.stderr();
    let lines: Vec<&str> = stderr.lines().take(2).collect();
    assert_eq!(
        lines,
        [
            "Settling the journal of an interrupted run: reading 1 chat to learn whether 1 call of unknown outcome landed, waiting up to 0.2s a chat...",
            "Settled the journal of an interrupted run: 0 calls landed, 1 not made.",
        ],
        "{stderr}"
    );
    scenario.assert_converged(&sandbox);
}
