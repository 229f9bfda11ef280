//! Changes Linq accepts and never applies, against the sandbox's lost-call fault: listed as
//! pending by every plan (with exit 2), kept by `refresh` within `--pending-timeout`, dropped
//! after it (by `refresh` or by apply's own read) and made again by the next plan.

use std::collections::BTreeSet;

use linq_sandbox::{Fault, Options, Seed, SeedChat};
use serde_json::Value;

use crate::common::{strings, Linq, Run, Workspace};

const TOKEN: &str = "sandbox-token-pending";
const ME: &str = "+15550009999";
const SALES: &str = "00000000-0000-4000-8000-000000000001";
const SHIFTS: &str = "00000000-0000-4000-8000-000000000002";
/// Linq answers 202 to every call about this handle and never applies it.
const LOST: &str = "+15550001099";
const LATER: &str = "+15550001088";
const NAMES: [&str; 2] = ["Sales", "Shifts"];
const MEMBERS: [&str; 4] = ["+15550001001", "+15550001002", "+15550001003", "+15550001004"];

impl Linq {
    /// A sandbox whose calls about [`LOST`] are lost, and a workspace whose state records the
    /// chats as Linq holds them.
    fn losing(chats: &[&str]) -> Linq {
        let seed = Seed {
            token: TOKEN.into(),
            me: ME.into(),
            chats: chats
                .iter()
                .zip(NAMES)
                .map(|(id, name)| SeedChat {
                    display_name: Some(name.into()),
                    ..SeedChat::group(id, &MEMBERS)
                })
                .collect(),
            handle_services: Default::default(),
        };
        let linq = Linq::serve(seed, lossy());
        let recorded: serde_json::Map<String, Value> = chats
            .iter()
            .map(|id| (id.to_string(), serde_json::json!({ "members": MEMBERS })))
            .collect();
        linq.ws.write_state("11111111-2222-4333-8444-555555555555", 1, recorded);
        linq.config(chats, &[LOST]);
        linq
    }

    /// A config that wants `extra` in each of `chats` besides the members they have.
    fn config(&self, chats: &[&str], extra: &[&str]) {
        let members: Vec<String> = MEMBERS.iter().chain(extra).map(|h| format!("'{h}'")).collect();
        let mut yaml = String::from("version: 1\nchats:\n");
        for (id, name) in chats.iter().zip(NAMES) {
            yaml.push_str(&format!(
                "  {id}:\n    name: {name}\n    members: [{}]\n",
                members.join(", ")
            ));
        }
        self.ws.write("roster.yaml", yaml);
    }

    fn members(&self, chat: &str) -> Vec<String> {
        strings(&self.state()["chats"][chat]["members"])
    }

    /// Participant calls the sandbox received, as `POST +1…` / `DELETE +1…`, in order.
    fn changes(&self) -> Vec<String> {
        self.sandbox
            .calls()
            .into_iter()
            .filter(|c| c.method != "GET")
            .map(|c| format!("{} {}", c.method, c.handle.unwrap_or_default()))
            .collect()
    }
}

fn lossy() -> Options {
    Options {
        lost_handles: [LOST.to_owned()].into(),
        ..Options::default()
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.combined()))
}

/// The JSON report of `apply --format json`, which prints the plan above it.
fn report(run: &Run) -> Value {
    let stdout = run.stdout();
    let start = stdout.find("\n{\n").map_or(0, |i| i + 1);
    serde_json::from_str(&stdout[start..]).unwrap_or_else(|e| panic!("{e}: {}", run.combined()))
}

/// The output with how long ago changes were accepted made stable: `accepted [AGE] ago`.
fn aged(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("accepted ") {
        out.push_str(&rest[..i + "accepted ".len()]);
        rest = &rest[i + "accepted ".len()..];
        let age = rest
            .find(" ago")
            .filter(|&end| rest[..end].chars().all(|c| c.is_ascii_digit() || " smhd".contains(c)));
        if let Some(end) = age {
            out.push_str("[AGE]");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The sandbox answers 202 and never applies: apply reports the add pending, every plan lists
/// it (exit 2), `refresh` keeps it within the timeout and drops it after, and the next plan
/// makes the call again, which converges once Linq applies it.
#[test]
fn an_add_accepted_and_never_applied_is_listed_then_dropped_by_refresh_and_made_again() {
    let linq = Linq::losing(&[SALES]);
    let apply = linq.expect(0, &["apply", "--auto-approve", "--format", "json"]);
    let report = report(&apply);
    assert_eq!(
        strings(&report["chats"][0]["pending"]["add"]),
        [LOST],
        "{}",
        apply.combined()
    );
    let call = linq.sandbox.calls().into_iter().find(|c| c.method == "POST").unwrap();
    assert_eq!((call.status, call.fault), (202, Some(Fault::Lost)));
    let state = linq.state();
    let pending = &state["chats"][SALES]["pending"]["add"][0];
    assert_eq!(pending["handle"], LOST);
    let accepted_at = pending["accepted_at"].as_str().expect("when Linq accepted it");
    assert!(humantime::parse_rfc3339(accepted_at).is_ok(), "{accepted_at}");
    every_plan_lists_it_pending(&linq, accepted_at);
    refresh_keeps_it_pending(&linq);

    // After it, refresh reports it never landed and drops it from the recorded members.
    let dropped = linq.expect(0, &["refresh", "--pending-timeout", "0"]);
    insta::assert_snapshot!("refresh_drops_a_change_that_never_landed", aged(&dropped.combined()));
    assert!(!linq.members(SALES).contains(&LOST.to_owned()));
    assert!(linq.state()["chats"][SALES].get("pending").is_none());

    // The next plan makes the call again; once Linq applies it, everything converges.
    let plan = json(&linq.expect(2, &["plan", "--detailed-exitcode", "--format", "json"]));
    assert_eq!(plan["chats"][0]["steps"][0]["handle"], LOST);
    assert!(plan.get("pending").is_none());
    linq.sandbox.set_options(Options::default());
    linq.expect(0, &["apply", "--auto-approve"]);
    linq.sandbox.land_all();
    assert!(linq.sandbox.members(SALES).unwrap().contains(LOST));
    assert_eq!(linq.changes(), [format!("POST {LOST}"), format!("POST {LOST}")]);
    linq.expect(0, &["plan", "--refresh", "--detailed-exitcode"]);
    assert!(linq.state()["chats"][SALES].get("pending").is_none());
}

/// Offline, every plan lists the add of [`LOST`] accepted at `accepted_at`, and
/// `--detailed-exitcode` says something is pending.
fn every_plan_lists_it_pending(linq: &Linq, accepted_at: &str) {
    let plan = linq.ws.roster(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code(), 2, "{}", plan.combined());
    insta::assert_snapshot!("plan_lists_a_pending_change", aged(&plan.combined()));
    let plan = linq.ws.roster(&["plan", "--detailed-exitcode", "--format", "json"]);
    assert_eq!(plan.code(), 2, "{}", plan.combined());
    let plan = json(&plan);
    assert_eq!(plan["chats"], Value::Array(Vec::new()), "no call to make");
    let change = &plan["pending"][0];
    assert_eq!(
        (&change["id"], &change["name"]),
        (&Value::from(SALES), &Value::from("Sales"))
    );
    assert_eq!(change["changes"][0]["op"], "add");
    assert_eq!(change["changes"][0]["handle"], LOST);
    assert_eq!(change["changes"][0]["accepted_at"], accepted_at);
    assert_eq!(change["changes"][0]["overdue"], false);
    let markdown = linq.ws.roster(&["plan", "--format", "markdown"]);
    assert!(
        markdown
            .stdout()
            .contains(&format!("| `Sales` (`{SALES}`) | ➕ add | `{LOST}` |")),
        "{}",
        markdown.combined()
    );
}

/// Within the timeout, refresh keeps the add of [`LOST`] pending and says so; `plan --refresh`
/// exits 2.
fn refresh_keeps_it_pending(linq: &Linq) {
    let refresh = linq.expect(0, &["refresh"]);
    assert!(!refresh.stdout().contains("No drift"), "{}", refresh.combined());
    assert!(
        refresh
            .stdout()
            .contains(&format!("Sales ({SALES}): + add    {LOST}, accepted ")),
        "{}",
        refresh.combined()
    );
    let report = json(&linq.expect(0, &["refresh", "--format", "json"]));
    assert_eq!(report["summary"]["pending"], 1);
    assert_eq!(report["summary"]["never_landed"], 0);
    assert_eq!(report["pending"][0]["changes"][0]["handle"], LOST);
    assert_eq!(
        report["chats"],
        Value::Array(Vec::new()),
        "roster's own change is not drift"
    );
    assert_eq!(report["recorded"]["written"], false, "nothing new to record");
    assert!(linq.members(SALES).contains(&LOST.to_owned()));
    linq.expect(2, &["plan", "--refresh", "--detailed-exitcode"]);
}

/// Apply's read of a chat drops an overdue change it does not show before it would wait for it:
/// the chat is not changed in this run, the summary (text and JSON) says what never landed, the
/// run exits 1, and the next plan makes the call again.
#[test]
fn apply_s_own_read_drops_a_change_that_never_landed_and_leaves_the_chat_alone() {
    let linq = Linq::losing(&[SALES, SHIFTS]);
    linq.expect(0, &["apply", "--auto-approve"]);
    for chat in [SALES, SHIFTS] {
        assert!(linq.members(chat).contains(&LOST.to_owned()), "recorded as pending");
    }
    let sent = linq.changes().len();

    // A new change to both chats: apply reads them before changing them.
    linq.config(&[SALES, SHIFTS], &[LOST, LATER]);
    let text = linq.expect(
        1,
        &["apply", "--auto-approve", "--pending-timeout", "0", "--target", SALES],
    );
    insta::assert_snapshot!("apply_drops_a_change_that_never_landed", aged(&text.combined()));
    let report = report(&linq.expect(
        1,
        &[
            "apply",
            "--auto-approve",
            "--pending-timeout",
            "0",
            "--target",
            SHIFTS,
            "--format",
            "json",
        ],
    ));
    let chat = &report["chats"][0];
    assert_eq!(chat["status"], "never_landed");
    assert_eq!(chat["never_landed"][0]["op"], "add");
    assert_eq!(chat["never_landed"][0]["handle"], LOST);
    assert_eq!(chat["calls"]["add"], 0);
    assert_eq!(linq.changes().len(), sent, "neither chat was changed");
    for chat in [SALES, SHIFTS] {
        assert!(!linq.members(chat).contains(&LOST.to_owned()), "dropped from the state");
        assert!(linq.state()["chats"][chat].get("pending").is_none());
    }

    let plan = json(&linq.expect(2, &["plan", "--detailed-exitcode", "--format", "json"]));
    assert_eq!(plan["summary"]["add"], 4, "both adds, in both chats: {plan}");
    linq.sandbox.set_options(Options::default());
    linq.expect(0, &["apply", "--auto-approve"]);
    linq.sandbox.land_all();
    let want: BTreeSet<String> = MEMBERS.iter().chain(&[LOST, LATER]).map(|h| h.to_string()).collect();
    for chat in [SALES, SHIFTS] {
        assert_eq!(linq.sandbox.members(chat).unwrap(), want);
    }
    linq.expect(0, &["plan", "--refresh", "--detailed-exitcode"]);
}

/// Within the timeout apply's read waits for roster's own change as before, and does not drop it.
#[test]
fn within_the_timeout_apply_waits_for_a_pending_change_and_keeps_it() {
    let linq = Linq::losing(&[SALES]);
    linq.expect(0, &["apply", "--auto-approve"]);
    linq.config(&[SALES], &[LOST, LATER]);
    let run = linq.expect(1, &["apply", "--auto-approve", "--wait-timeout", "0.3"]);
    assert!(run.stdout().contains("skipped for drift"), "{}", run.combined());
    assert!(linq.members(SALES).contains(&LOST.to_owned()), "still recorded");
    assert_eq!(
        linq.state()["chats"][SALES]["pending"]["add"][0]["handle"],
        LOST,
        "still pending"
    );
    assert_eq!(linq.changes(), [format!("POST {LOST}")], "nothing more was sent");
}

/// States written before acceptance times were kept hold bare handles in `pending`: they load,
/// plan, and count as accepted at an unknown time, older than any timeout.
#[test]
fn an_old_state_with_bare_pending_handles_loads_and_plans() {
    let ws = Workspace::new();
    let state = serde_json::json!({
        "version": 1, "lineage": "11111111-2222-4333-8444-555555555555", "serial": 4,
        "chats": { SALES: {
            "members": [MEMBERS[0], MEMBERS[1], MEMBERS[2], LOST],
            "pending": { "add": [LOST], "remove": [MEMBERS[3]] },
        } },
    });
    ws.write("roster.state.json", serde_json::to_vec_pretty(&state).unwrap());
    ws.write(
        "roster.yaml",
        format!(
            "version: 1\nchats:\n  {SALES}:\n    members: ['{}', '{}', '{}', '{LOST}', '{LATER}']\n",
            MEMBERS[0], MEMBERS[1], MEMBERS[2]
        ),
    );
    let plan = ws.roster(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code(), 2, "{}", plan.combined());
    insta::assert_snapshot!(plan.combined());
    let plan = ws.roster(&["plan", "--format", "json"]);
    let plan = json(&plan);
    assert_eq!(plan["pending"][0]["changes"][1]["op"], "remove");
    assert_eq!(plan["pending"][0]["changes"][1]["accepted_at"], Value::Null);
    assert_eq!(plan["pending"][0]["changes"][1]["overdue"], true);
    assert_eq!(ws.roster(&["show"]).code(), 0);
}
