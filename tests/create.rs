//! Creating a chat, exactly once, against the sandbox: a create answered `5xx` or cut off after
//! the sandbox made the chat, honouring and ignoring the idempotency key, `kill -9` at the
//! instant after the chat was made and before the answer, a kill after the intent was
//! journaled and before the create went out, a search that cannot settle, and a `from` that
//! is not one of the partner's lines. Every test counts the chats and messages the sandbox
//! made, whatever roster printed.

use std::process::Child;

use linq_sandbox::{CreateFault, Idempotency, Options, Seed};
use roster::clock::Timestamp;
use roster::handle::Handle;
use roster::state::{idempotency_key, CreateIntent, JournalRecord};

use crate::common::{spawn_apply, Linq, Workspace, PATIENCE};

pub(crate) const TOKEN: &str = "sandbox-token-create";
/// The partner's line.
pub(crate) const LINE: &str = "+15550007000";
const LINEAGE: &str = "7e0c3a52-1d2b-4c1e-9f00-00000000c0de";
pub(crate) const KEY: &str = "support-emea";
pub(crate) const MEMBERS: [&str; 3] = ["+15550007001", "+15550007002", "ann@example.com"];
const MESSAGE: &str = "Welcome to Support EMEA. This group is managed by the ops team.";

impl Linq {
    /// A sandbox with one line and no chats, keys honoured or not, and a workspace whose config
    /// creates [`KEY`] from `from` and whose state (of [`LINEAGE`]) is empty.
    fn creating(idempotency: Idempotency, from: &str) -> Linq {
        let seed = Seed {
            token: TOKEN.into(),
            me: LINE.into(),
            chats: Vec::new(),
            handle_services: Default::default(),
        };
        let options = Options {
            land_delay: std::time::Duration::ZERO,
            idempotency,
            ..Options::default()
        };
        let linq = Linq::serve(seed, options);
        linq.ws.write_state(LINEAGE, 1, serde_json::Map::new());
        write_config(&linq.ws, KEY, from, &MEMBERS);
        linq
    }

    /// The messages the sandbox sent for [`KEY`]'s create: its first messages.
    fn sent(&self) -> Vec<linq_sandbox::Message> {
        self.sandbox
            .messages()
            .into_iter()
            .filter(|m| m.content.idempotency_key.as_deref() == Some(&idempotency_key(LINEAGE, KEY)))
            .collect()
    }

    /// The chats of [`LINE`] whose members are exactly [`MEMBERS`].
    fn made(&self) -> Vec<String> {
        let members: std::collections::BTreeSet<String> = MEMBERS.iter().map(|m| m.to_string()).collect();
        (self.sandbox.chat_ids().into_iter())
            .filter(|id| {
                let chat = self.sandbox.chat(id).unwrap();
                chat.line == LINE && chat.members == members
            })
            .collect()
    }

    /// `POST /v3/chats` the sandbox received, with the status each got.
    fn creates(&self) -> Vec<u16> {
        (self.sandbox.calls().into_iter())
            .filter(|c| c.method == "POST" && c.path.ends_with("/v3/chats"))
            .map(|c| c.status)
            .collect()
    }

    /// The chat the state binds [`KEY`] to.
    fn bound(&self) -> Option<String> {
        let state = self.state();
        let chats = state["chats"].as_object()?;
        (chats.iter())
            .find(|(_, chat)| chat["key"] == KEY)
            .map(|(id, _)| id.clone())
    }

    /// Exactly one chat exists for the key, made by one message, and the state binds the key
    /// to it.
    fn assert_one_chat(&self, trial: &str) {
        let made = self.made();
        assert_eq!(made.len(), 1, "{trial}: chats made {made:?}");
        assert_eq!(self.sent().len(), 1, "{trial}: one message reached the members");
        assert_eq!(
            self.bound().as_deref(),
            Some(made[0].as_str()),
            "{trial}: bound to the key"
        );
    }
}

/// A config creating `key` from `from` with `members`.
pub(crate) fn write_config(ws: &Workspace, key: &str, from: &str, members: &[&str]) {
    let members: Vec<String> = members.iter().map(|m| format!("'{m}'")).collect();
    ws.write(
        "roster.yaml",
        format!(
            "version: 1\nchats:\n  {key}:\n    name: Support EMEA\n    create:\n      from: '{from}'\n      message: '{MESSAGE}'\n    members: [{}]\n",
            members.join(", ")
        ),
    );
}

const APPLY: &[&str] = &["apply", "--auto-approve", "--settle-timeout", "1"];

/// Snapshots `text` as `name`, with the chat ids the sandbox draws at random shown as `[ID]`.
fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ filters => vec![
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[ID]"),
        (r"\(tester@[^)]*\)", "(HOLDER)"),
    ] }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn a_create_makes_one_chat_sends_its_message_and_binds_the_key() {
    let linq = Linq::creating(Idempotency::Honour, LINE);
    let run = linq.expect(0, APPLY);
    snapshot("create", &run.combined());
    linq.assert_one_chat("first apply");
    let sent = &linq.sent()[0];
    assert_eq!(sent.content.parts, [MESSAGE]);
    assert_eq!(sent.from, LINE);
    // Then the name, on the chat the create made.
    let chat = linq.sandbox.chat(&linq.made()[0]).unwrap();
    assert_eq!(chat.display_name.as_deref(), Some("Support EMEA"));
    let calls: Vec<String> = (linq.sandbox.calls().into_iter())
        .filter(|c| c.method != "GET")
        .map(|c| c.method)
        .collect();
    assert_eq!(calls, ["POST", "PUT"]);
    // The next run has nothing to create.
    linq.expect(0, APPLY);
    assert_eq!(linq.creates(), [201]);
    linq.assert_one_chat("second apply");
}

#[test]
fn a_create_answered_5xx_or_cut_off_after_making_the_chat_is_found_and_not_sent_again() {
    for idempotency in [Idempotency::Honour, Idempotency::Ignore] {
        for fault in [CreateFault::Error, CreateFault::Drop] {
            let trial = format!("{idempotency:?} {fault:?}");
            let linq = Linq::creating(idempotency, LINE);
            linq.sandbox.fail_next_creates(fault, 1);
            let run = linq.expect(0, APPLY);
            if (idempotency, fault) == (Idempotency::Ignore, CreateFault::Error) {
                snapshot("create_answered_500", &run.combined());
            }
            assert_eq!(linq.creates().len(), 1, "{trial}: sent once\n{}", run.combined());
            linq.assert_one_chat(&trial);
        }
    }
}

#[test]
fn a_create_whose_faults_are_drawn_at_a_rate_still_makes_one_chat() {
    for (error, drop) in [(1.0, 0.0), (0.0, 1.0)] {
        let linq = Linq::creating(Idempotency::Ignore, LINE);
        linq.sandbox.set_options(Options {
            create_error_rate: error,
            create_drop_rate: drop,
            ..linq.sandbox.options()
        });
        linq.expect(0, APPLY);
        linq.assert_one_chat(&format!("error rate {error}, drop rate {drop}"));
    }
}

#[test]
fn a_create_failed_by_a_server_fault_that_made_nothing_is_sent_again_only_after_the_search() {
    let linq = Linq::creating(Idempotency::Ignore, LINE);
    linq.sandbox.set_options(Options {
        error_rate: 0.5,
        seed: SERVER_FAULT_SEED,
        ..linq.sandbox.options()
    });
    let run = linq.expect(0, APPLY);
    let creates = linq.creates();
    assert!(
        creates.len() > 1 && creates[0] >= 500,
        "{creates:?}\n{}",
        run.combined()
    );
    assert_eq!(creates.last(), Some(&201), "{creates:?}");
    // Each send after a 5xx followed a listing of the line's chats.
    let calls = linq.sandbox.calls();
    let posts: Vec<usize> = (0..calls.len())
        .filter(|at| calls[*at].method == "POST" && calls[*at].path.ends_with("/v3/chats"))
        .collect();
    for pair in posts.windows(2) {
        let between = &calls[pair[0] + 1..pair[1]];
        assert!(
            between
                .iter()
                .any(|c| c.method == "GET" && c.path.ends_with("/v3/chats") && c.status == 200),
            "sent again without a search: {between:?}"
        );
    }
    linq.assert_one_chat("after server faults");
}

/// A seed of the sandbox's faults under which the first create is answered `5xx` (unmade).
const SERVER_FAULT_SEED: u64 = 3;

#[test]
fn a_create_refused_before_it_made_anything_fails_its_chat_and_leaves_nothing_open() {
    let linq = Linq::creating(Idempotency::Honour, LINE);
    // iMessage is enforced, and one member is known to use SMS: Linq refuses (409 2017).
    let config = linq
        .ws
        .read("roster.yaml")
        .replace("    create:", "    service: iMessage\n    create:");
    linq.ws.write("roster.yaml", config);
    let seed_services: std::collections::BTreeMap<String, String> = [(MEMBERS[0].to_owned(), "SMS".to_owned())].into();
    let sms = Linq::serve(
        Seed {
            token: TOKEN.into(),
            me: LINE.into(),
            chats: Vec::new(),
            handle_services: seed_services,
        },
        Options::default(),
    );
    copy_workspace(&linq.ws, &sms.ws);
    for run in 0..2 {
        let out = sms.expect(1, APPLY);
        assert!(
            out.stdout().contains("failed creating the chat"),
            "run {run}\n{}",
            out.combined()
        );
        assert!(out.stdout().contains("2017"), "{}", out.combined());
        assert!(sms.sandbox.chat_ids().is_empty() && sms.sandbox.messages().is_empty());
        let journal = sms.ws.path().join("roster.state.json.journal");
        assert!(
            !journal.exists(),
            "nothing left open: {:?}",
            std::fs::read_to_string(&journal)
        );
    }
}

/// Copies the config and state of `from` into `to`.
fn copy_workspace(from: &Workspace, to: &Workspace) {
    for file in ["roster.yaml", "roster.state.json"] {
        to.write(file, from.read(file));
    }
}

/// Starts an apply, waits until the sandbox made the chat and holds the create's answer, and
/// kills roster there: the chat exists, and roster never learnt it.
fn kill_after_the_chat_was_made(linq: &Linq) {
    linq.sandbox.hold_creates();
    let mut child: Child = spawn_apply(&linq.ws, &linq.sandbox, &[]);
    let held = linq.sandbox.wait_for_held_creates(1, PATIENCE);
    child.kill().expect("kill -9 roster");
    let _ = child.wait();
    assert!(held, "the create never reached the sandbox");
    linq.sandbox.release_creates();
}

#[test]
fn kill_9_after_the_chat_was_made_and_before_the_answer_never_makes_a_second_chat() {
    for idempotency in [Idempotency::Honour, Idempotency::Ignore] {
        for trial in 0..5 {
            let trial = format!("{idempotency:?} trial {trial}");
            let linq = Linq::creating(idempotency, LINE);
            kill_after_the_chat_was_made(&linq);
            assert_eq!(linq.made().len(), 1, "{trial}: the sandbox made the chat");
            assert_eq!(linq.bound(), None, "{trial}: roster never learnt it");
            let run = linq.expect(0, APPLY);
            if trial == "Ignore trial 0" {
                snapshot("apply_after_kill_9", &run.combined());
            }
            assert!(
                run.stderr().contains("of 1 create, 1 found"),
                "{trial}: settled from the journal\n{}",
                run.combined()
            );
            assert_eq!(linq.creates().len(), 1, "{trial}: not sent again");
            linq.assert_one_chat(&trial);
            let chat = linq.sandbox.chat(&linq.made()[0]).unwrap();
            assert_eq!(
                chat.display_name.as_deref(),
                Some("Support EMEA"),
                "{trial}: then named"
            );
            linq.expect(0, APPLY);
            linq.assert_one_chat(&format!("{trial}, once more"));
        }
    }
}

/// The journal a run leaves when it is killed after the create's intent was synced and before
/// the create went out.
fn journal_an_intent(ws: &Workspace) {
    let intent = CreateIntent {
        id: 1,
        key: KEY.into(),
        from: Handle::parse(LINE).unwrap(),
        members: MEMBERS.iter().map(|m| Handle::parse(m).unwrap()).collect(),
        idempotency_key: idempotency_key(LINEAGE, KEY),
        at: Timestamp::from(std::time::SystemTime::now()),
    };
    let records = [
        JournalRecord::Begin {
            lineage: LINEAGE.into(),
            serial: 1,
        },
        JournalRecord::CreateIntent(intent),
    ];
    let lines: Vec<String> = records.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    ws.write("roster.state.json.journal", lines.join("\n") + "\n");
}

#[test]
fn a_kill_after_the_intent_and_before_the_create_went_out_sends_it_once() {
    for idempotency in [Idempotency::Honour, Idempotency::Ignore] {
        let linq = Linq::creating(idempotency, LINE);
        journal_an_intent(&linq.ws);
        let run = linq.expect(0, APPLY);
        assert!(
            run.stderr().contains("of 1 create, 0 found, 1 made nothing"),
            "the search found no chat\n{}",
            run.combined()
        );
        assert_eq!(linq.creates(), [201], "{idempotency:?}: sent once");
        linq.assert_one_chat(&format!("{idempotency:?}"));
    }
}

#[test]
fn a_create_the_search_cannot_settle_waits_and_fails_the_run_and_sends_nothing_more() {
    let linq = Linq::creating(Idempotency::Ignore, LINE);
    // Another team's state makes a chat of the same line and members just before ours.
    let other = Workspace::new();
    write_config(&other, "other-team", LINE, &MEMBERS);
    crate::common::expect_exit(&other, &linq.sandbox, 0, APPLY);
    linq.sandbox.fail_next_creates(CreateFault::Error, 1);
    let run = linq.expect(1, APPLY);
    snapshot("create_not_settled", &run.combined());
    assert!(run.stdout().contains("create not settled"), "{}", run.combined());
    assert_eq!(linq.creates().len(), 2, "ours sent once, after the other team's");
    assert_eq!(linq.bound(), None, "no chat bound on a guess");
    let named = linq.sandbox.calls().into_iter().filter(|c| c.method == "PUT").count();
    assert_eq!(named, 1, "the other team's chat was named, ours waits");
    assert!(linq
        .ws
        .read("roster.state.json.journal")
        .contains("\"type\":\"create\""));
    let plan = linq.expect(0, &["plan"]);
    assert!(
        plan.stderr().contains("note: the create of `support-emea` from an interrupted apply may or may not have made its chat (create not settled)"),
        "{}",
        plan.combined()
    );
    // The next run looks again, finds the same two, and sends nothing.
    let again = linq.expect(1, APPLY);
    assert!(again.stdout().contains("create not settled"), "{}", again.combined());
    assert_eq!(linq.creates().len(), 2, "nothing more sent");
}

#[test]
fn a_from_that_is_not_one_of_the_lines_is_refused_before_any_call_at_its_place() {
    let linq = Linq::creating(Idempotency::Honour, "+15550007999");
    for args in [APPLY, &["plan", "--refresh"][..]] {
        let run = linq.expect(1, args);
        snapshot(&format!("foreign_line_{}", args[0]), &run.combined());
        let stderr = run.stderr();
        assert!(stderr.contains("roster.yaml:5:5"), "{}", run.combined());
        assert!(
            stderr.contains("`+15550007999`, which is not one of your Linq lines (`+15550007000`)"),
            "{stderr}"
        );
    }
    assert!(linq.creates().is_empty(), "nothing was sent");
    assert!(linq.sandbox.messages().is_empty());
}

#[test]
fn the_team_example_creates_its_chat_once_named_with_its_icon() {
    let linq = Linq::team();
    let args = [
        "apply",
        "--auto-approve",
        "-c",
        "config",
        "-c",
        "create",
        "--target",
        "support-emea",
    ];
    let run = linq.expect(0, &args);
    assert!(run.stdout().contains("1 chat created"), "{}", run.combined());
    let made: Vec<_> = (linq.sandbox.chat_ids().into_iter())
        .filter_map(|id| linq.sandbox.chat(&id))
        .filter(|chat| chat.display_name.as_deref() == Some("Support EMEA"))
        .collect();
    assert_eq!(made.len(), 1, "one chat made");
    assert_eq!(
        made[0].icon.as_deref(),
        Some("https://example.com/icons/support-emea.png")
    );
    assert_eq!(linq.sandbox.messages().len(), 1, "one first message");
    let again = linq.expect(
        0,
        &[
            "plan",
            "--detailed-exitcode",
            "-c",
            "config",
            "-c",
            "create",
            "--target",
            "support-emea",
        ],
    );
    assert!(!again.stdout().contains("create from"), "{}", again.combined());
}

#[test]
fn ctrl_c_while_a_create_is_in_flight_keeps_its_chat_and_starts_nothing_after() {
    use std::io::{BufRead, BufReader};
    let linq = Linq::creating(Idempotency::Ignore, LINE);
    linq.sandbox.hold_creates();
    let mut child = spawn_apply(&linq.ws, &linq.sandbox, &[]);
    let (sender, lines) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    assert!(
        linq.sandbox.wait_for_held_creates(1, PATIENCE),
        "the create never arrived"
    );
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    // Released only once roster took the signal: the create in flight finishes, nothing starts.
    let mut seen = Vec::new();
    while !seen.iter().any(|line: &String| line.contains("Stopping (SIGINT)")) {
        seen.push(
            lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no stop line: {seen:?}")),
        );
    }
    linq.sandbox.release_creates();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen:?}");
    linq.assert_one_chat("after the stop");
    let named = linq.sandbox.calls().into_iter().filter(|c| c.method == "PUT").count();
    assert_eq!(named, 0, "the name was not started after the signal");
    // The next run names it, and creates nothing.
    linq.expect(0, APPLY);
    assert_eq!(linq.creates().len(), 1);
    linq.assert_one_chat("after the next run");
    let chat = linq.sandbox.chat(&linq.made()[0]).unwrap();
    assert_eq!(chat.display_name.as_deref(), Some("Support EMEA"));
}
