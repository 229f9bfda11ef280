//! `roster apply`, the real binary against the sandbox: convergence, the floor, faults, failures,
//! kills, locks, stale plans, approval and the token.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use linq_sandbox::{Options, Sandbox, Seed};

use crate::common::{
    accepted, api_env, applied_changes, limit_problems, mutating_calls, repo, roster, spawn_apply, wait_until,
    ChatSpec, Rng, Scenario, Workspace, TOKEN,
};

/// The plan `roster plan --format json` shows.
fn plan_json(ws: &Workspace) -> serde_json::Value {
    let run = ws.roster(&["plan", "--format", "json"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    serde_json::from_str(&run.stdout()).unwrap()
}

/// Changes land within 60 ms of being accepted, out of order: a remove sent before the add it
/// relies on has landed may land first, so a missing wait shows as a dip under the floor.
fn quick_land() -> Options {
    Options {
        land_delay: Duration::from_millis(30),
        scramble_landing: true,
        ..Options::default()
    }
}

#[test]
fn the_examples_converge() {
    let ws = Workspace::team();
    let seed = Sandbox::load_seed(repo().join("examples/team/sandbox.json")).unwrap();
    let sandbox = Sandbox::spawn(
        Seed {
            token: TOKEN.to_owned(),
            ..seed
        },
        quick_land(),
    );
    let run = roster(&ws, &sandbox, &["apply", "-c", "config", "--auto-approve"]);
    // The chat the state lacks (the README imports it first) is left untouched, and says so.
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(
        run.stderr().ends_with(
            "error: 1 chat in scope was left untouched: the state does not hold it, so its members are unknown\n\
             hint: `roster import 9b2d5c1e-3f4a-4e8b-a1c7-2d6e8f0a4b13` reads it from Linq and records it; then run `roster apply` again\n"
        ),
        "{}",
        run.combined()
    );
    sandbox.land_all();
    let desired = ws.roster(&["plan", "-c", "config", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&desired.stdout()).unwrap();
    // Only the chat never imported is left: its membership is unknown.
    let left: Vec<&str> = plan["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["unknown"], "{}", desired.stdout());
    let expect = |ids: &[&str]| -> BTreeSet<String> { ids.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        sandbox.members("550e8400-e29b-41d4-a716-446655440000").unwrap(),
        expect(&["+12055550100", "+12055550101", "+12055550102"])
    );
    assert_eq!(
        sandbox.members("7c9e6679-7425-40de-944b-e07fc1f90ae7").unwrap().len(),
        10
    );
    assert!(sandbox.violations().is_empty(), "{:?}", sandbox.violations());
    // The floor and caps the example's config sets held at every landing.
    let config = roster::config::load(&[ws.path().join("config")]).unwrap();
    let limits: Vec<(&str, usize, usize)> = config
        .chats
        .iter()
        .map(|(id, chat)| (id.as_str(), config.settings.min_members, chat.max_members))
        .collect();
    assert_eq!(limits.len(), 4, "{limits:?}");
    let problems = limit_problems(&sandbox, &limits);
    assert!(problems.is_empty(), "{problems:#?}");
    // The forgotten chat left the state; nothing was sent to it.
    assert!(!ws
        .read("roster.state.json")
        .contains("e2a1b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b"));
    assert!(mutating_calls(&sandbox)
        .keys()
        .all(|(_, chat, _)| chat != "e2a1b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b"));
    // Offline, changes accepted and not seen to land are pending; read from Linq, none is.
    let again = roster(
        &ws,
        &sandbox,
        &[
            "plan",
            "-c",
            "config",
            "--refresh",
            "--detailed-exitcode",
            "--target",
            "550e8400-e29b-41d4-a716-446655440000",
            "--target",
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        ],
    );
    assert_eq!(again.code(), 0, "{}", again.combined());
}

#[test]
fn random_scenarios_converge_with_one_call_per_change_within_floor_and_cap() {
    for seed in 1..=4 {
        let scenario = Scenario::random(seed, 25);
        let sandbox = Sandbox::spawn(scenario.seed(), quick_land());
        let ws = Workspace::new();
        scenario.write(&ws);
        let run = roster(&ws, &sandbox, &["apply", "--auto-approve", "--parallelism", "8"]);
        assert_eq!(run.code(), 0, "seed {seed}: {}", run.combined());
        scenario.assert_converged(&sandbox);
        let calls = mutating_calls(&sandbox);
        assert!(
            calls.values().all(|statuses| statuses.len() == 1),
            "seed {seed}: {calls:?}"
        );
        assert_eq!(
            calls.len(),
            scenario.changes(),
            "seed {seed}: one call per changed membership"
        );
        let after = roster(&ws, &sandbox, &["plan", "--refresh", "--detailed-exitcode"]);
        assert_eq!(after.code(), 0, "seed {seed}: {}", after.combined());
    }
}

#[test]
fn faults_still_converge_in_one_apply_with_no_duplicate_effect() {
    let scenario = Scenario::random(11, 30);
    let sandbox = Sandbox::spawn(
        scenario.seed(),
        Options {
            land_delay: Duration::from_millis(30),
            scramble_landing: true,
            rate_limit: Some(60.0),
            // Every kind of fault, at rates where the retry budget (six failed attempts in a
            // row, 0.08^6 for a request) runs out in about one run in 10,000 of this test's
            // 300 requests. At 0.3 it ran out in one run in a few dozen: a flaky test.
            error_rate: 0.04,
            applied_error_rate: 0.02,
            drop_rate: 0.02,
            seed: 99,
            ..Options::default()
        },
    );
    let ws = Workspace::new();
    scenario.write(&ws);
    let run = roster(&ws, &sandbox, &["apply", "--auto-approve", "--parallelism", "8"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    scenario.assert_converged(&sandbox);
    let faults: Vec<_> = sandbox.calls().into_iter().filter(|c| c.fault.is_some()).collect();
    assert!(faults.len() > 10, "the faults were injected: {}", faults.len());
    // Each change took effect once, however many attempts it took.
    let applied = applied_changes(&sandbox);
    assert!(applied.values().all(|n| *n == 1), "{applied:?}");
    let after = roster(&ws, &sandbox, &["plan", "--refresh", "--detailed-exitcode"]);
    assert_eq!(after.code(), 0, "{}", after.combined());
}

#[test]
fn a_refused_add_stops_the_removes_that_relied_on_it_and_other_chats_finish() {
    // Chat A at the floor swaps an SMS-only handle in: Linq refuses the cross-service add
    // (409, code 2017), so the remove waiting behind it must never be sent.
    let a = "00000000-0000-4000-8000-00000000000a";
    let b = "00000000-0000-4000-8000-00000000000b";
    let scenario = Scenario {
        chats: vec![
            ChatSpec {
                id: a.into(),
                current: ["+15550001001", "+15550001002", "+15550001003"]
                    .map(String::from)
                    .into(),
                desired: ["+15550001001", "+15550001002", "+15550001004"]
                    .map(String::from)
                    .into(),
                cap: None,
            },
            ChatSpec {
                id: b.into(),
                current: ["+15550002001", "+15550002002", "+15550002003", "+15550002004"]
                    .map(String::from)
                    .into(),
                desired: ["+15550002001", "+15550002002", "+15550002003", "+15550002005"]
                    .map(String::from)
                    .into(),
                cap: None,
            },
        ],
    };
    let mut seed = scenario.seed();
    seed.handle_services.insert("+15550001004".into(), "SMS".into());
    // Changes land only when the test says so: the summary shows them pending, every run.
    let sandbox = Sandbox::spawn(
        seed,
        Options {
            land_delay: Duration::from_secs(600),
            ..Options::default()
        },
    );
    let ws = Workspace::new();
    scenario.write(&ws);
    let run = roster(&ws, &sandbox, &["apply", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    let calls = mutating_calls(&sandbox);
    assert!(
        !calls.keys().any(|(method, chat, _)| method == "DELETE" && chat == a),
        "{calls:?}"
    );
    sandbox.land_all();
    assert_eq!(sandbox.members(a).unwrap(), scenario.chats[0].current);
    assert_eq!(sandbox.members(b).unwrap(), scenario.chats[1].desired);
    let trace = sandbox
        .calls()
        .into_iter()
        .find(|c| c.status == 409)
        .map(|c| c.trace_id)
        .unwrap();
    let stdout = run.stdout().replace(&trace, "[TRACE]");
    assert!(stdout.contains("2017"), "{stdout}");
    insta::assert_snapshot!(stdout);
}

#[test]
fn a_stale_saved_plan_is_refused_and_sends_nothing() {
    let scenario = Scenario::random(5, 5);
    let sandbox = Sandbox::spawn(scenario.seed(), quick_land());
    let ws = Workspace::new();
    scenario.write(&ws);
    assert_eq!(ws.roster(&["plan", "--out", "plan.json"]).code(), 0);
    // The config changes after the plan was reviewed.
    let config = ws.read("roster.yaml");
    ws.write("roster.yaml", format!("{config}\n# edited\n"));
    let run = roster(&ws, &sandbox, &["apply", "plan.json"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    insta::assert_snapshot!(run.combined());
    // So does the state (a newer serial).
    ws.write("roster.yaml", config);
    let state = ws.read("roster.state.json").replace("\"serial\": 1", "\"serial\": 2");
    ws.write("roster.state.json", state);
    let run = roster(&ws, &sandbox, &["apply", "plan.json"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(run.stderr().contains("plan is stale: re-run plan"), "{}", run.stderr());
    assert!(mutating_calls(&sandbox).is_empty());
    assert!(sandbox.calls().is_empty(), "nothing was even read");
}

#[test]
fn a_fresh_saved_plan_applies_exactly_and_needs_no_other_argument() {
    let scenario = Scenario::random(6, 6);
    let sandbox = Sandbox::spawn(scenario.seed(), quick_land());
    let ws = Workspace::new();
    scenario.write(&ws);
    assert_eq!(ws.roster(&["plan", "--out", "plan.json"]).code(), 0);
    let run = roster(&ws, &sandbox, &["apply", "plan.json"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    scenario.assert_converged(&sandbox);
    // Applied once, the plan is stale: the state moved.
    let again = roster(&ws, &sandbox, &["apply", "plan.json"]);
    assert_eq!(again.code(), 1, "{}", again.combined());
}

#[test]
fn without_a_terminal_apply_needs_auto_approve_and_sends_nothing() {
    let scenario = Scenario::random(7, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), quick_land());
    let ws = Workspace::new();
    scenario.write(&ws);
    let before = ws.snapshot_files();
    let run = roster(&ws, &sandbox, &["apply"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    assert!(run.stderr().contains("--auto-approve"), "{}", run.stderr());
    assert!(mutating_calls(&sandbox).is_empty());
    assert_eq!(ws.snapshot_files(), before, "nothing was written");
}

#[test]
fn two_applies_at_once_the_second_fails_naming_the_holder() {
    let scenario = Scenario::random(8, 10);
    let sandbox = Sandbox::spawn(
        scenario.seed(),
        Options {
            latency: Duration::from_millis(150),
            land_delay: Duration::from_millis(30),
            ..Options::default()
        },
    );
    let ws = Workspace::new();
    scenario.write(&ws);
    let mut first = spawn_apply(&ws, &sandbox, &["--parallelism", "1"]);
    let lock = ws.path().join("roster.state.json.lock");
    wait_until("the first apply to take the lock", || {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first apply ended before taking the lock"
        );
        lock.exists()
    });
    let second = roster(&ws, &sandbox, &["apply", "--auto-approve"]);
    assert_eq!(second.code(), 1, "{}", second.combined());
    let holder: serde_json::Value = serde_json::from_str(&ws.read("roster.state.json.lock")).unwrap();
    let stderr = second.stderr();
    assert!(stderr.contains("state is locked by `apply`"), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    // The holder runs on this host: wait for it, never break its lock.
    assert!(
        stderr.contains("hint: that run is still going on this host: wait for it with `--lock-timeout SECONDS`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&format!("roster force-unlock {}", holder["id"].as_str().unwrap())),
        "{stderr}"
    );
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert!(!lock.exists(), "the lock is released at the end");
    scenario.assert_converged(&sandbox);
}

/// `kill -9` at random moments of a run (after a random number of answered calls): the state
/// always parses, a re-run after `force-unlock` converges, no change takes effect twice, and
/// every request sent is accounted for.
#[test]
fn kill_9_at_random_moments_never_breaks_the_state_and_reruns_converge() {
    let mut rng = Rng::new(2024);
    let mut kills = 0;
    let mut scenarios = 0;
    while kills < 24 {
        scenarios += 1;
        let scenario = Scenario::random(100 + scenarios, 30);
        let sandbox = Sandbox::spawn(
            scenario.seed(),
            Options {
                latency: Duration::from_millis(4),
                land_delay: Duration::from_millis(20),
                scramble_landing: true,
                ..Options::default()
            },
        );
        let ws = Workspace::new();
        scenario.write(&ws);
        let kills_here = kill_9_until_a_run_ends(&ws, &sandbox, &mut rng);
        kills += kills_here;
        // Converge.
        let run = roster(&ws, &sandbox, &["apply", "--auto-approve", "--settle-timeout", "1"]);
        assert_eq!(run.code(), 0, "{}", run.combined());
        scenario.assert_converged(&sandbox);
        let after = roster(&ws, &sandbox, &["plan", "--refresh", "--detailed-exitcode"]);
        assert_eq!(after.code(), 0, "{}", after.combined());
        assert_every_request_accounted_for(&sandbox, &scenario, kills_here);
    }
}

/// Starts apply up to 8 times, killing each with `kill -9` at a random moment, until one ends
/// by itself; the state parses after each, and a lock left behind is cleared. How many it killed.
fn kill_9_until_a_run_ends(ws: &Workspace, sandbox: &Sandbox, rng: &mut Rng) -> usize {
    let mut kills = 0;
    for _attempt in 0..8 {
        // The moment: once the sandbox has answered a random number of calls more (a whole
        // run answers some 250 to 300), or never when the run ends first.
        let kill_at = sandbox.calls().len() + rng.below(150);
        let mut child = spawn_apply(ws, sandbox, &["--parallelism", "4"]);
        wait_until("the apply to end or reach its moment", || {
            child.try_wait().unwrap().is_some() || sandbox.calls().len() >= kill_at
        });
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let status = child.wait().unwrap();
        let state = std::fs::read(ws.path().join("roster.state.json")).unwrap();
        roster::state::parse_state(&state).expect("the state parses after kill -9");
        if finished && status.success() {
            break;
        }
        let lock = ws.path().join("roster.state.json.lock");
        if lock.exists() {
            let holder: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
            let unlock = ws.roster(&["force-unlock", holder["id"].as_str().unwrap()]);
            assert_eq!(unlock.code(), 0, "{}", unlock.combined());
        }
    }
    kills
}

/// Every mutating request counts, whatever its answer: a change is sent once, plus at most
/// once more per kill that caught it in flight (its outcome unknown, settled by reading the
/// chat, and sent again only when it does not show). Each takes effect once.
fn assert_every_request_accounted_for(sandbox: &Sandbox, scenario: &Scenario, kills: usize) {
    let calls = mutating_calls(sandbox);
    for (key, statuses) in &calls {
        assert!(
            statuses.len() <= 1 + kills,
            "{key:?} sent {} times with {kills} kills: {statuses:?}",
            statuses.len()
        );
    }
    let applied = applied_changes(sandbox);
    assert!(
        applied.values().all(|n| *n == 1),
        "a change took effect twice: {applied:?}"
    );
    assert_eq!(applied.len(), scenario.changes(), "every change took effect");
    // With 4 chats at once, a kill catches at most 4 calls in flight.
    let sent: usize = calls.values().map(Vec::len).sum();
    let changes = scenario.changes();
    assert!(
        sent <= changes + 4 * kills,
        "sent {sent} requests for {changes} changes with {kills} kills"
    );
}

#[test]
fn the_token_never_appears_in_output_or_files() {
    let scenario = Scenario::random(9, 4);
    let sandbox = Sandbox::spawn(scenario.seed(), quick_land());
    let ws = Workspace::new();
    scenario.write(&ws);
    // A refused token is reported without echoing it.
    let wrong = ws.roster_with(
        &["apply", "--auto-approve"],
        &[
            ("LINQ_API_V3_BASE_URL", &sandbox.base_url()),
            ("LINQ_API_V3_API_KEY", "wrong-secret-token-77"),
        ],
    );
    assert_eq!(wrong.code(), 1);
    assert!(
        !wrong.combined().contains("wrong-secret-token-77"),
        "{}",
        wrong.combined()
    );
    assert!(mutating_calls(&sandbox).is_empty(), "a refused token changes nothing");
    let mut outputs = String::new();
    for args in [
        &["plan", "-v"][..],
        &["plan", "--out", "plan.json", "--format", "json"],
        &["apply", "plan.json", "-v"],
        &["apply", "--auto-approve", "-v", "--format", "json"],
        &["show", "-v"],
    ] {
        let run = roster(&ws, &sandbox, args);
        // Each ran for real: a run that failed early would have had little chance to leak.
        assert_eq!(run.code(), 0, "{args:?}: {}", run.combined());
        outputs.push_str(&run.combined());
    }
    scenario.assert_converged(&sandbox);
    assert!(!outputs.contains(TOKEN), "{outputs}");
    for (path, bytes) in ws.snapshot_files() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token is in {}",
            path.display()
        );
    }
}

/// Runs plan steps (`{"op": ...}` from `plan --format json`) straight at the sandbox with
/// roster's own client, a `wait` meaning what apply makes of it: everything sent so far lands.
fn drive(sandbox: &Sandbox, chat: &str, steps: &[serde_json::Value]) {
    use roster::handle::Handle;
    use roster::linq::{Client, ClientConfig, Token};
    use roster::op::Op;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(ClientConfig::new(sandbox.base_url(), Token::new(TOKEN))).unwrap();
    runtime.block_on(async {
        for step in steps {
            let op = match step["op"].as_str().unwrap() {
                "wait" => {
                    sandbox.land_all();
                    continue;
                }
                "add" => Op::Add,
                "remove" => Op::Remove,
                other => panic!("unknown step `{other}`"),
            };
            let handle = Handle::parse(step["handle"].as_str().unwrap()).unwrap();
            client.change(op, chat, &handle).await.unwrap();
        }
    });
}

/// The floor-and-cap check can fail. A swap at the floor plans `+d`, `wait`, `-c`; driven at
/// the sandbox without its wait, the remove may land before the add (Linq promises no order,
/// which is why the planner counts queued adds for nothing), and the chat dips to 2 members:
/// Linq's own rule (3 participants) still holds, so only the configured floor catches it. The
/// same goes for a swap at the cap (`-c`, `wait`, `+d`). With their waits, the same adversary
/// cannot break either.
#[test]
fn a_plan_without_its_wait_breaks_the_floor_or_the_cap_and_the_check_catches_it() {
    let handles = |ids: &[u32]| -> BTreeSet<String> { ids.iter().map(|i| format!("+1555000{i:04}")).collect() };
    let chat = "00000000-0000-4000-8000-0000000000c1";
    let at_floor = ChatSpec {
        id: chat.into(),
        current: handles(&[1, 2, 3]),
        desired: handles(&[1, 2, 4]),
        cap: None,
    };
    let at_cap = ChatSpec {
        id: chat.into(),
        current: handles(&[1, 2, 3, 4]),
        desired: handles(&[1, 2, 3, 5]),
        cap: Some(4),
    };
    for (spec, ops, broken) in [
        (
            at_floor,
            ["add", "wait", "remove"],
            "fell to 2 members, under its floor of 3",
        ),
        (
            at_cap,
            ["remove", "wait", "add"],
            "rose to 5 members, over its cap of 4",
        ),
    ] {
        let scenario = Scenario { chats: vec![spec] };
        let ws = Workspace::new();
        scenario.write(&ws);
        let plan = plan_json(&ws);
        let steps = plan["chats"][0]["steps"].as_array().unwrap().clone();
        let planned: Vec<&str> = steps.iter().map(|s| s["op"].as_str().unwrap()).collect();
        assert_eq!(planned, ops);
        let without_wait: Vec<_> = steps.iter().filter(|s| s["op"] != "wait").cloned().collect();
        for (steps, expect) in [(&without_wait, vec![format!("chat {chat} {broken}")]), (&steps, vec![])] {
            // Changes land only when the test says so, the last one sent first.
            let sandbox = Sandbox::spawn(
                scenario.seed(),
                Options {
                    land_delay: Duration::from_secs(600),
                    ..Options::default()
                },
            );
            drive(&sandbox, chat, steps);
            let last = steps.last().unwrap()["handle"].as_str().unwrap();
            assert!(sandbox.land_ahead(chat, last), "the last step is queued");
            sandbox.land_all();
            assert_eq!(sandbox.members(chat).unwrap(), scenario.chats[0].desired);
            assert!(sandbox.violations().is_empty(), "{:?}", sandbox.violations());
            assert_eq!(limit_problems(&sandbox, &scenario.limits()), expect, "{planned:?}");
        }
    }
}

/// A plan removing more than `max_removal_ratio` of the memberships is refused, nothing sent,
/// unless `--allow-mass-removal` is given.
#[test]
fn a_mass_removal_is_refused_without_the_flag_and_applied_with_it() {
    let handles = |ids: std::ops::Range<u32>| -> BTreeSet<String> { ids.map(|i| format!("+1555000{i:04}")).collect() };
    // 4 of 12 memberships removed: a third, over the default share of a quarter.
    let scenario = Scenario {
        chats: vec![ChatSpec {
            id: "00000000-0000-4000-8000-0000000000d1".into(),
            current: handles(0..12),
            desired: handles(0..8),
            cap: None,
        }],
    };
    let sandbox = Sandbox::spawn(scenario.seed(), quick_land());
    let ws = Workspace::new();
    scenario.write(&ws);
    let config = ws
        .read("roster.yaml")
        .replace("max_removal_ratio: 1.0", "max_removal_ratio: 0.25");
    ws.write("roster.yaml", config);
    let before = ws.snapshot_files();
    let refused = roster(&ws, &sandbox, &["apply", "--auto-approve"]);
    assert_eq!(refused.code(), 1, "{}", refused.combined());
    insta::assert_snapshot!(refused.combined());
    assert!(sandbox.calls().is_empty(), "nothing was sent, not even a read");
    assert_eq!(ws.snapshot_files(), before, "nothing was written");

    let run = roster(&ws, &sandbox, &["apply", "--auto-approve", "--allow-mass-removal"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    scenario.assert_converged(&sandbox);
    assert_eq!(mutating_calls(&sandbox).len(), scenario.changes());
}

#[test]
fn plain_http_is_refused_for_hosts_off_loopback() {
    let ws = Workspace::team();
    let run = ws.roster_with(
        &["apply", "-c", "config", "--auto-approve"],
        &[
            ("LINQ_API_V3_BASE_URL", "http://api.example.com/api/partner"),
            ("LINQ_API_V3_API_KEY", TOKEN),
        ],
    );
    assert_eq!(run.code(), 1);
    insta::assert_snapshot!(run.combined());
}

#[test]
fn ctrl_c_stops_cleanly_with_exit_130_and_a_rerun_converges() {
    let scenario = Scenario::random(12, 12);
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
    let child = spawn_apply(&ws, &sandbox, &["--parallelism", "1"]);
    // Interrupt once the first change has been accepted.
    wait_until("a change accepted", || accepted(&sandbox));
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("Apply interrupted"));
    assert!(
        !ws.path().join("roster.state.json.lock").exists(),
        "the lock is released"
    );
    assert_eq!(ws.parsed_state().serial, 2, "what was accepted is saved");
    let run = roster(&ws, &sandbox, &["apply", "--auto-approve"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    scenario.assert_converged(&sandbox);
}

/// On a terminal (a pseudo-terminal from `script`), apply shows the plan and asks: only `yes`
/// goes ahead.
#[test]
fn on_a_terminal_apply_asks_and_only_yes_goes_ahead() {
    let scenario = Scenario::random(13, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), quick_land());
    let ws = Workspace::new();
    scenario.write(&ws);
    let on_terminal = |answer: &str| {
        let mut child = Command::new("script")
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
        use std::io::Write as _;
        writeln!(child.stdin.take().unwrap(), "{answer}").unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, screen) = on_terminal("no");
    assert_eq!(code, Some(1), "{screen}");
    assert!(screen.contains("Only `yes` is accepted"), "{screen}");
    assert!(screen.contains("Apply cancelled"), "{screen}");
    assert!(mutating_calls(&sandbox).is_empty());
    let (code, screen) = on_terminal("yes");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("Apply complete"), "{screen}");
    scenario.assert_converged(&sandbox);
}

#[test]
fn apply_format_json_prints_only_the_report_on_stdout() {
    let scenario = Scenario::random(14, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), quick_land());
    let ws = Workspace::new();
    scenario.write(&ws);
    let run = roster(&ws, &sandbox, &["apply", "--auto-approve", "--format", "json"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).expect("stdout is the JSON report alone");
    assert_eq!(report["format_version"], "1");
    assert!(!report["chats"].as_array().unwrap().is_empty(), "{report:#}");
    assert!(
        run.stderr().contains("Plan:"),
        "the plan is shown on stderr: {}",
        run.stderr()
    );
    // With nothing to do, the report is still there, and empty.
    sandbox.land_all();
    let again = roster(&ws, &sandbox, &["refresh"]);
    assert_eq!(again.code(), 0, "{}", again.combined());
    let run = roster(&ws, &sandbox, &["apply", "--auto-approve", "--format", "json"]);
    assert_eq!(run.code(), 0, "{}", run.combined());
    let report: serde_json::Value = serde_json::from_str(&run.stdout()).expect("stdout is the JSON report alone");
    assert_eq!(report["chats"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["calls"], serde_json::json!({"add": 0, "remove": 0}));
}

/// A `--state` that does not exist: apply says so, and since it knows none of the chats in
/// scope, changes none of them and exits 1 with one `roster import` that adopts them all.
#[test]
fn an_apply_over_a_state_that_does_not_exist_names_one_import_for_every_chat() {
    let team = crate::common::Linq::team();
    let run = team.roster(&["apply", "--auto-approve", "-c", "config", "--state", "first.json"]);
    assert_eq!(run.code(), 1, "{}", run.combined());
    insta::assert_snapshot!(run.combined());
    assert!(mutating_calls(&team.sandbox).is_empty());
    assert!(
        !team.ws.path().join("first.json").exists(),
        "nothing to record, so no state is written"
    );
}

/// In a CI log stdout and stderr share one pipe: the plan is written (and flushed) before the
/// first call, so it comes above the calls' progress lines.
#[test]
fn in_one_pipe_the_plan_comes_before_the_progress_of_its_calls() {
    let scenario = Scenario::random(41, 3);
    let sandbox = Sandbox::spawn(scenario.seed(), quick_land());
    let ws = Workspace::new();
    scenario.write(&ws);
    let log = ws.path().join("ci.log");
    let pipe = std::fs::File::create(&log).unwrap();
    let status = crate::common::roster_command(&ws, &sandbox)
        .args(["apply", "--auto-approve"])
        .stdout(pipe.try_clone().unwrap())
        .stderr(pipe)
        .status()
        .unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    assert!(status.success(), "{log}");
    let lines: Vec<&str> = log.lines().collect();
    let plan = lines
        .iter()
        .position(|line| line.starts_with("Plan: "))
        .expect("a plan");
    let first_call = (lines.iter())
        .position(|line| line.starts_with("chat `"))
        .expect("a progress line");
    assert!(plan < first_call, "the plan comes first:\n{log}");
    scenario.assert_converged(&sandbox);
}
