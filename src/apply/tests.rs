//! The engine against the sandbox: convergence, the floor, drift, failures, faults, stopping,
//! and the order of journal writes and calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linq_sandbox::{Options, Sandbox, Seed, SeedChat};

use super::*;
use crate::clock::Timestamp;
use crate::linq::{ClientConfig, RetryPolicy, Token};
use crate::members::Members;
use crate::plan::{StateRef, Summary, FORMAT_VERSION};
use crate::state::{ChatState, LockGuard, LockInfo, LockWait, StateError};
use crate::stop::{Signal, Stop};

const ME: &str = "+15550000000";

/// What the clock reads in these tests: 2026-01-05T09:30:00Z.
fn now() -> Timestamp {
    Timestamp::from_unix(1_767_605_400)
}

/// Runs before each journal write with the records about to be written.
type Hook = Box<dyn Fn(&[JournalRecord]) + Send + Sync>;

/// A state store in memory that keeps every journal write, for inspection.
#[derive(Default)]
struct MemoryStore {
    state: Mutex<Option<State>>,
    journal: Mutex<Vec<JournalRecord>>,
    /// Every batch ever appended, cleared or not.
    batches: Mutex<Vec<Vec<JournalRecord>>>,
    hook: Option<Hook>,
}

struct Guard(LockInfo);

impl LockGuard for Guard {
    fn info(&self) -> &LockInfo {
        &self.0
    }
}

impl StateStore for MemoryStore {
    fn describe(&self) -> String {
        "memory".to_owned()
    }
    fn load(&self) -> Result<Option<State>, StateError> {
        Ok(self.state.lock().unwrap().clone())
    }
    fn save(&self, state: &mut State) -> Result<(), StateError> {
        state.serial += 1;
        *self.state.lock().unwrap() = Some(state.clone());
        Ok(())
    }
    fn lock(&self, info: LockInfo, _wait: &LockWait<'_>) -> Result<Box<dyn LockGuard>, StateError> {
        Ok(Box::new(Guard(info)))
    }
    fn force_unlock(&self, _id: &str) -> Result<LockInfo, StateError> {
        Err(StateError::NotLocked {
            state: "memory".to_owned(),
            lock_file: None,
        })
    }
    fn append_journal(&self, records: &[JournalRecord]) -> Result<(), StateError> {
        if let Some(hook) = &self.hook {
            hook(records);
        }
        self.journal.lock().unwrap().extend_from_slice(records);
        self.batches.lock().unwrap().push(records.to_vec());
        Ok(())
    }
    fn read_journal(&self) -> Result<Vec<JournalRecord>, StateError> {
        Ok(self.journal.lock().unwrap().clone())
    }
    fn clear_journal(&self) -> Result<(), StateError> {
        self.journal.lock().unwrap().clear();
        Ok(())
    }
    fn history(&self) -> Result<Vec<crate::state::Version>, StateError> {
        Ok(Vec::new())
    }
    fn version(&self, _serial: u64) -> Result<Option<State>, StateError> {
        Ok(None)
    }
    fn replace(&self, state: &State, _read: Option<u64>) -> Result<(), StateError> {
        *self.state.lock().unwrap() = Some(state.clone());
        Ok(())
    }
}

fn h(text: &str) -> Handle {
    Handle::parse(text).unwrap()
}

/// `+1555000` followed by a four-digit number: a distinct member per number.
fn m(n: u32) -> String {
    format!("+1555000{n:04}")
}

fn members(ns: &[u32]) -> Vec<String> {
    ns.iter().map(|n| m(*n)).collect()
}

fn seed(chats: &[(&str, &[u32])]) -> Seed {
    Seed {
        token: "sandbox-token".into(),
        me: ME.into(),
        chats: chats
            .iter()
            .map(|(id, ns)| {
                let ms = members(ns);
                SeedChat::group(id, &ms.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .collect(),
        handle_services: BTreeMap::new(),
    }
}

fn state_of(chats: &[(&str, &[u32])]) -> State {
    let mut state = State::new();
    for (id, ns) in chats {
        state.chats.insert(
            id.to_string(),
            ChatState {
                members: ns.iter().map(|n| h(&m(*n))).collect(),
                ..ChatState::default()
            },
        );
    }
    state
}

/// A step list in a compact spelling: `+N` adds member N, `-N` removes it, `w` waits.
fn steps(spec: &str) -> Vec<Step> {
    spec.split_whitespace()
        .map(|s| match s.split_at(1) {
            ("+", n) => Step::Add {
                handle: h(&m(n.parse().unwrap())),
                person: None,
            },
            ("-", n) => Step::Remove {
                handle: h(&m(n.parse().unwrap())),
                person: None,
            },
            ("w", _) => Step::Wait,
            _ => panic!("bad step {s}"),
        })
        .collect()
}

fn plan(state: &State, chats: &[(&str, &str)]) -> Plan {
    let chats = chats
        .iter()
        .map(|(id, spec)| {
            let before: Vec<Handle> = state.chats[*id].members.iter().cloned().collect();
            let steps = steps(spec);
            let mut after: Members = before.iter().cloned().collect();
            for step in &steps {
                match step {
                    Step::Add { handle, .. } => after.insert(handle.clone()),
                    Step::Remove { handle, .. } => after.remove(handle),
                    Step::Wait | Step::Create | Step::Name { .. } | Step::Icon { .. } => true,
                };
            }
            ChatPlan {
                id: id.to_string(),
                key: id.to_string(),
                create: None,
                rekey: None,
                likely_rename_of: None,
                name: None,
                action: Action::Update,
                before: Some(before.into_iter().collect()),
                after: Some(after.into_iter().collect()),
                left: Vec::new(),
                steps,
            }
        })
        .collect();
    Plan {
        format_version: FORMAT_VERSION.to_owned(),
        state: StateRef {
            lineage: state.lineage.clone(),
            serial: state.serial,
        },
        selection: Default::default(),
        chats,
        pending: Vec::new(),
        summary: Summary::default(),
    }
}

fn client(sandbox: &Sandbox, attempts: u32) -> Client {
    let mut config = ClientConfig::new(sandbox.base_url(), Token::new(sandbox.token()));
    config.retry = RetryPolicy {
        max_attempts: attempts,
        max_rate_limited: 30,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    config.request_timeout = Duration::from_secs(5);
    config.jitter_seed = Some(3);
    Client::new(config).unwrap()
}

fn options() -> ApplyOptions {
    ApplyOptions {
        parallelism: 8,
        adaptive: true,
        rate: None,
        wait_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(20),
        pending_timeout: DEFAULT_PENDING_TIMEOUT,
        clock: Clock::fixed(now()),
        open_creates: Vec::new(),
    }
}

fn live(sandbox: &Sandbox, chat: &str) -> BTreeSet<String> {
    sandbox.members(chat).unwrap()
}

fn strings(state: &State, chat: &str) -> BTreeSet<String> {
    state.chats[chat].members.iter().map(|h| h.to_string()).collect()
}

fn set(ns: &[u32]) -> BTreeSet<String> {
    members(ns).into_iter().collect()
}

async fn run(plan: &Plan, state: &mut State, store: &MemoryStore, client: &Client) -> ApplyReport {
    apply(plan, state, store, client, &options(), &NoProgress).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_converges_keeps_the_floor_and_clears_the_journal() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3]), ("c2", &[1, 2, 3, 4, 5]), ("c3", &[1, 2, 3, 4])];
    let sandbox = Sandbox::spawn(
        seed(chats),
        Options {
            land_delay: Duration::from_millis(60),
            ..Options::default()
        },
    );
    let mut state = state_of(chats);
    let plan = plan(
        &state,
        &[("c1", "+4 w -3"), ("c2", "+6 -5"), ("c3", "+5 +6 +7 w -1 -2 -3")],
    );
    let store = MemoryStore::default();
    let report = run(&plan, &mut state, &store, &client(&sandbox, 4)).await;

    assert!(report.is_success(), "{report:#?}");
    assert_eq!(
        report.calls,
        CallCounts {
            add: 5,
            remove: 5,
            create: 0,
            looks: 0
        }
    );
    assert_eq!(strings(&state, "c1"), set(&[1, 2, 4]));
    assert_eq!(strings(&state, "c2"), set(&[1, 2, 3, 4, 6]));
    assert_eq!(strings(&state, "c3"), set(&[4, 5, 6, 7]));
    assert_eq!(state.serial, 1, "the state was saved once");
    assert_eq!(store.load().unwrap().unwrap(), state);
    assert!(store.read_journal().unwrap().is_empty(), "journal cleared");
    sandbox.land_all();
    for id in ["c1", "c2", "c3"] {
        assert_eq!(live(&sandbox, id), strings(&state, id), "{id}");
    }
    assert!(sandbox.violations().is_empty(), "{:?}", sandbox.violations());
    assert_eq!(sandbox.mutating_calls_applied(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_not_landed_at_the_end_are_pending_not_failed() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3, 4, 5])];
    let sandbox = Sandbox::spawn(
        seed(chats),
        Options {
            land_delay: Duration::from_secs(30),
            ..Options::default()
        },
    );
    let mut state = state_of(chats);
    let plan = plan(&state, &[("c1", "+6 -5")]);
    let report = run(&plan, &mut state, &MemoryStore::default(), &client(&sandbox, 4)).await;
    assert!(report.is_success(), "{report:#?}");
    let pending = &report.chats[0].pending;
    assert_eq!(
        (pending.add.clone(), pending.remove.clone()),
        (vec![h(&m(6))], vec![h(&m(5))])
    );
    assert_eq!(report.pending().count(), 1);
    assert_eq!(
        strings(&state, "c1"),
        set(&[1, 2, 3, 4, 6]),
        "accepted changes are in the state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_run_waits_for_its_own_pending_changes_instead_of_calling_them_drift() {
    // At the floor: the first run adds 4 and ends before it lands; the next run must not
    // remove 3 before 4 shows, and must not call the chat drifted either. The add lands when
    // the test says: once the next run has read the chat twice without it, so it waited.
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3])];
    let sandbox = Sandbox::spawn(
        seed(chats),
        Options {
            land_delay: Duration::from_secs(600),
            ..Options::default()
        },
    );
    let store = MemoryStore::default();
    let client = client(&sandbox, 4);
    let mut state = state_of(chats);
    let first = plan(&state, &[("c1", "+4")]);
    let report = run(&first, &mut state, &store, &client).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(
        state.chats["c1"].pending.add,
        BTreeMap::from([(h(&m(4)), Some(now()))]),
        "the add is pending since the clock's now"
    );

    let second = plan(&state, &[("c1", "-3")]);
    let read_before = sandbox.calls().len();
    let lander = sandbox.clone();
    let lander = tokio::spawn(async move {
        while lander.calls()[read_before..]
            .iter()
            .filter(|c| c.method == "GET")
            .count()
            < 2
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lander.land_all();
    });
    let report = run(&second, &mut state, &store, &client).await;
    lander.abort();
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.chats[0].status, ChatStatus::Done);
    sandbox.land_all();
    assert_eq!(live(&sandbox, "c1"), set(&[1, 2, 4]));
    assert!(sandbox.violations().is_empty(), "{:?}", sandbox.violations());
    assert!(
        state.chats["c1"].pending.add.is_empty(),
        "landed changes are no longer pending"
    );

    // A difference that is not roster's own pending work is still drift.
    sandbox.add_outside("c1", &m(9));
    let third = plan(&state, &[("c1", "+5")]);
    let report = run(&third, &mut state, &store, &client).await;
    assert_eq!(report.chats[0].status, ChatStatus::Drift);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_change_the_chat_does_not_show_is_dropped_and_the_chat_left_alone() {
    // An earlier run's add of 4 (accepted 2 hours before the clock's now) and remove of 3
    // (accepted at an unknown time) never landed; the add of 5 in c2 is 10 minutes old.
    let sandbox = Sandbox::spawn(seed(&[("c1", &[1, 2, 3]), ("c2", &[1, 2, 3])]), Options::default());
    let mut state = state_of(&[("c1", &[1, 2, 4]), ("c2", &[1, 2, 3, 5])]);
    let two_hours_ago = Timestamp::from_unix(1_767_605_400 - 7200);
    let c1 = state.chats.get_mut("c1").unwrap();
    c1.pending.record(Op::Add, &h(&m(4)), Some(two_hours_ago));
    c1.pending.record(Op::Remove, &h(&m(3)), None);
    let ten_minutes_ago = Timestamp::from_unix(1_767_605_400 - 600);
    state
        .chats
        .get_mut("c2")
        .unwrap()
        .pending
        .record(Op::Add, &h(&m(5)), Some(ten_minutes_ago));
    let plan = plan(&state, &[("c1", "+6"), ("c2", "+6")]);
    let store = MemoryStore::default();
    let options = ApplyOptions {
        pending_timeout: Duration::from_secs(3600),
        wait_timeout: Duration::from_millis(200),
        ..options()
    };
    let report = apply(&plan, &mut state, &store, &client(&sandbox, 4), &options, &NoProgress).await;

    let c1 = &report.chats[0];
    assert_eq!(c1.status, ChatStatus::NeverLanded, "{report:#?}");
    let never: Vec<(Op, Handle, Option<Timestamp>)> = c1
        .never_landed
        .iter()
        .map(|c| (c.op, c.handle.clone(), c.accepted_at))
        .collect();
    assert_eq!(
        never,
        [(Op::Add, h(&m(4)), Some(two_hours_ago)), (Op::Remove, h(&m(3)), None)]
    );
    assert_eq!(strings(&state, "c1"), set(&[1, 2, 3]), "undone in the state");
    assert!(state.chats["c1"].pending.is_empty());
    // Within the timeout the change is waited for and, not landing, the chat is drift.
    assert_eq!(report.chats[1].status, ChatStatus::Drift);
    assert_eq!(
        state.chats["c2"].pending.add,
        BTreeMap::from([(h(&m(5)), Some(ten_minutes_ago))]),
        "kept"
    );
    assert!(!report.is_success());
    assert_eq!(sandbox.mutating_calls_applied(), 0, "neither chat was changed");
    assert_eq!(store.load().unwrap().unwrap(), state, "the drop is saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_changed_outside_roster_is_skipped_as_drift() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3]), ("c2", &[1, 2, 3])];
    let sandbox = Sandbox::spawn(seed(chats), Options::default());
    sandbox.add_outside("c1", &m(9));
    sandbox.remove_outside("c1", &m(1));
    let mut state = state_of(chats);
    let plan = plan(&state, &[("c1", "+4"), ("c2", "+4")]);
    let report = run(&plan, &mut state, &MemoryStore::default(), &client(&sandbox, 4)).await;

    let c1 = &report.chats[0];
    assert_eq!(c1.status, ChatStatus::Drift);
    assert_eq!(
        c1.drift,
        Some(Drift {
            missing: vec![h(&m(1))],
            unexpected: vec![h(&m(9))]
        })
    );
    assert_eq!(report.chats[1].status, ChatStatus::Done);
    assert!(!report.is_success());
    assert_eq!(
        strings(&state, "c1"),
        set(&[1, 2, 3]),
        "a drifted chat's state is left alone"
    );
    assert_eq!(live(&sandbox, "c1"), set(&[2, 3, 9]));
    let c1_changes = sandbox
        .calls()
        .iter()
        .filter(|c| c.chat.as_deref() == Some("c1") && c.method != "GET")
        .count();
    assert_eq!(c1_changes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_add_stops_its_chats_removes_and_others_finish() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3]), ("c2", &[1, 2, 3])];
    let mut seed = seed(chats);
    seed.handle_services.insert(m(7), "SMS".into());
    let sandbox = Sandbox::spawn(seed, Options::default());
    let mut state = state_of(chats);
    let plan = plan(&state, &[("c1", "+7 w -3"), ("c2", "+4 w -3")]);
    let store = MemoryStore::default();
    let report = run(&plan, &mut state, &store, &client(&sandbox, 4)).await;

    let c1 = &report.chats[0];
    assert_eq!(c1.status, ChatStatus::Failed);
    let failure = c1.failure.as_ref().unwrap();
    assert_eq!(
        failure.step,
        Some(Step::Add {
            handle: h(&m(7)),
            person: None
        })
    );
    assert_eq!((failure.status, failure.code), (Some(409), Some(2017)));
    assert!(failure.trace_id.is_some(), "the trace id is kept for support");
    assert_eq!(c1.steps_left, 3);
    assert_eq!(report.chats[1].status, ChatStatus::Done);
    let c1_removes = sandbox
        .calls()
        .iter()
        .filter(|c| c.chat.as_deref() == Some("c1") && c.method == "DELETE")
        .count();
    assert_eq!(c1_removes, 0, "a remove must never follow a failed add it relied on");
    assert_eq!(strings(&state, "c1"), set(&[1, 2, 3]));
    assert_eq!(strings(&state, "c2"), set(&[1, 2, 4]));
    let failed = store
        .batches
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .filter(|r| matches!(r, JournalRecord::Failed { .. }))
        .count();
    assert_eq!(
        failed, 1,
        "a call that surely did not take effect is journaled as failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_whole_run() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3]), ("c2", &[1, 2, 3])];
    let sandbox = Sandbox::spawn(seed(chats), Options::default());
    let mut config = ClientConfig::new(sandbox.base_url(), Token::new("wrong-token"));
    config.retry.base_delay = Duration::from_millis(1);
    let mut state = state_of(chats);
    let plan = plan(&state, &[("c1", "+4"), ("c2", "+4")]);
    let options = ApplyOptions {
        parallelism: 1,
        ..options()
    };
    let report = apply(
        &plan,
        &mut state,
        &MemoryStore::default(),
        &Client::new(config).unwrap(),
        &options,
        &NoProgress,
    )
    .await;
    let error = report.error.as_deref().unwrap();
    assert!(
        error.contains("refused the API token") && !error.contains("wrong-token"),
        "{error}"
    );
    assert_eq!(report.chats[0].status, ChatStatus::Failed);
    assert_eq!(report.chats[1].status, ChatStatus::Stopped);
    assert_eq!(sandbox.calls().len(), 1, "nothing after the first 401");
}

/// Records each chat as it ends and asks the run to stop after the first accepted call.
struct StopAfterFirstCall {
    stop: Stop,
    lines: Mutex<Vec<String>>,
}

impl Progress for StopAfterFirstCall {
    fn start(&self, _chats: usize, _calls: usize) {}
    fn call(&self, _chat: &str, _step: &Step) {
        self.stop.signal(Signal::Interrupt);
    }
    fn chat(&self, report: &ChatReport) {
        self.lines.lock().unwrap().push(describe(report));
    }
    fn finish(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_finishes_calls_in_flight_and_saves_what_was_accepted() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3]), ("c2", &[1, 2, 3]), ("c3", &[1, 2, 3])];
    let sandbox = Sandbox::spawn(
        seed(chats),
        Options {
            latency: Duration::from_millis(20),
            ..Options::default()
        },
    );
    let mut state = state_of(chats);
    let plan = plan(&state, &[("c1", "+4 +5 +6"), ("c2", "+4 +5 +6"), ("c3", "+4 +5 +6")]);
    let client = client(&sandbox, 4);
    let progress = StopAfterFirstCall {
        stop: client.stop().clone(),
        lines: Mutex::new(Vec::new()),
    };
    let store = MemoryStore::default();
    let options = ApplyOptions {
        parallelism: 2,
        ..options()
    };
    let report = apply(&plan, &mut state, &store, &client, &options, &progress).await;

    assert!(report.interrupted);
    assert!(!report.is_success());
    assert!(
        report.chats.iter().all(|c| c.status == ChatStatus::Stopped),
        "{report:#?}"
    );
    // The stop comes once the first accepted call is journaled; meanwhile its request was done,
    // so two more may have been in flight (the third chat may have begun while the first two
    // journaled). No step began after the stop.
    let accepted = report.calls.add;
    assert!((1..=3).contains(&accepted), "only calls in flight finish: {accepted}");
    let left: usize = report.chats.iter().map(|c| c.steps_left).sum();
    assert_eq!(left, 9 - accepted, "every step not accepted is left: {report:#?}");
    assert_eq!(sandbox.mutating_calls_applied(), accepted);
    sandbox.land_all();
    for id in ["c1", "c2", "c3"] {
        assert_eq!(
            live(&sandbox, id),
            strings(&state, id),
            "{id}: the state holds exactly what was accepted"
        );
    }
    assert_eq!(store.load().unwrap().unwrap(), state);
    assert_eq!(progress.lines.lock().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_goes_out_after_its_intent_is_durable_and_writes_are_batched() {
    let chats: Vec<(String, Vec<u32>)> = (0..12).map(|i| (format!("c{i:02}"), vec![1, 2, 3])).collect();
    let chats: Vec<(&str, &[u32])> = chats.iter().map(|(id, ns)| (id.as_str(), ns.as_slice())).collect();
    let sandbox = Sandbox::spawn(
        seed(&chats),
        Options {
            latency: Duration::from_millis(5),
            ..Options::default()
        },
    );
    let watcher = sandbox.clone();
    let violations = Arc::new(Mutex::new(Vec::new()));
    let seen = violations.clone();
    let store = MemoryStore {
        hook: Some(Box::new(move |records: &[JournalRecord]| {
            let calls = watcher.calls();
            for record in records {
                if let JournalRecord::Intent { chat, handle, .. } = record {
                    let sent = calls.iter().any(|c| {
                        c.method != "GET"
                            && c.chat.as_deref() == Some(chat)
                            && c.handle.as_deref() == Some(handle.as_str())
                    });
                    if sent {
                        seen.lock().unwrap().push(format!("{chat} {handle}"));
                    }
                }
            }
        })),
        ..MemoryStore::default()
    };
    let mut state = state_of(&chats);
    let specs: Vec<(&str, &str)> = chats.iter().map(|(id, _)| (*id, "+4 +5 -1")).collect();
    let plan = plan(&state, &specs);
    let report = run(&plan, &mut state, &store, &client(&sandbox, 4)).await;

    assert!(report.is_success(), "{report:#?}");
    assert!(
        violations.lock().unwrap().is_empty(),
        "calls sent before their intent: {:?}",
        violations.lock().unwrap()
    );
    let batches = store.batches.lock().unwrap();
    let records: Vec<&JournalRecord> = batches.iter().flatten().collect();
    // 1 begin + 36 intents + 36 outcomes.
    assert_eq!(records.len(), 73);
    assert!(
        batches.len() < records.len(),
        "concurrent chats share journal writes ({} writes)",
        batches.len()
    );
    // Within a chat, each step's outcome is journaled before the next step's intent.
    let mut open: BTreeMap<String, u64> = BTreeMap::new();
    let mut chat_of: BTreeMap<u64, String> = BTreeMap::new();
    for record in records {
        match record {
            JournalRecord::Intent { id, chat, .. } => {
                assert!(
                    !open.contains_key(chat),
                    "{chat}: next intent before the outcome of the last"
                );
                open.insert(chat.clone(), *id);
                chat_of.insert(*id, chat.clone());
            }
            JournalRecord::Accepted { id, .. } | JournalRecord::Failed { id } => {
                open.remove(&chat_of[id]);
            }
            JournalRecord::Begin { .. }
            | JournalRecord::CreateIntent(_)
            | JournalRecord::Created { .. }
            | JournalRecord::Looks { .. } => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_still_converge_with_no_change_applied_twice() {
    let ids: Vec<String> = (0..10).map(|i| format!("c{i:02}")).collect();
    let chats: Vec<(&str, &[u32])> = ids.iter().map(|id| (id.as_str(), &[1u32, 2, 3][..])).collect();
    let sandbox = Sandbox::spawn(
        seed(&chats),
        Options {
            land_delay: Duration::from_millis(30),
            error_rate: 0.2,
            applied_error_rate: 0.1,
            drop_rate: 0.1,
            rate_limit: Some(150.0),
            seed: 11,
            ..Options::default()
        },
    );
    let mut state = state_of(&chats);
    let specs: Vec<(&str, &str)> = chats.iter().map(|(id, _)| (*id, "+4 +5 w -1 -2")).collect();
    let plan = plan(&state, &specs);
    let store = MemoryStore::default();
    // Four requests in ten fail: 16 attempts make a run out of them (0.4^16 for a request)
    // about one run in 10,000 of this test's 150 or so requests.
    let report = run(&plan, &mut state, &store, &client(&sandbox, 16)).await;

    assert!(report.is_success(), "{report:#?}");
    assert_eq!(
        report.calls,
        CallCounts {
            add: 20,
            remove: 20,
            create: 0,
            looks: 0
        }
    );
    sandbox.land_all();
    let calls = sandbox.calls();
    for id in &ids {
        assert_eq!(live(&sandbox, id), set(&[3, 4, 5]), "{id}");
        assert_eq!(strings(&state, id), set(&[3, 4, 5]), "{id}");
    }
    let mut applied: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.applied) {
        *applied
            .entry((
                call.chat.clone().unwrap(),
                call.method.clone(),
                call.handle.clone().unwrap(),
            ))
            .or_default() += 1;
    }
    assert_eq!(applied.len(), 40);
    assert!(applied.values().all(|n| *n == 1), "a change applied twice: {applied:?}");
    assert!(sandbox.violations().is_empty(), "{:?}", sandbox.violations());
    assert!(calls.iter().any(|c| c.fault.is_some()), "faults were injected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_serializes_for_scripts_and_lines_describe_each_chat() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3]), ("c2", &[1, 2, 3])];
    let mut seed = seed(chats);
    seed.handle_services.insert(m(7), "SMS".into());
    let sandbox = Sandbox::spawn(seed, Options::default());
    let mut state = state_of(chats);
    let mut plan = plan(&state, &[("c1", "+4"), ("c2", "+7")]);
    plan.chats[0].name = Some("Sales West".into());
    let lines = LineProgress::new(Vec::new());
    let report = apply(
        &plan,
        &mut state,
        &MemoryStore::default(),
        &client(&sandbox, 4),
        &options(),
        &lines,
    )
    .await;

    let text = String::from_utf8(lines.into_inner()).unwrap();
    let mut text: Vec<&str> = text.lines().collect();
    text.sort();
    assert_eq!(text[0], "chat `c1` (Sales West): done, 1 added, 0 removed");
    assert!(
        text[1].starts_with("chat `c2`: failed adding `+15550000007`: 409 (code 2017) "),
        "{}",
        text[1]
    );
    assert!(text[1].contains("[trace id `"), "{}", text[1]);

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["format_version"], "1");
    assert_eq!(json["calls"], serde_json::json!({"add": 1, "remove": 0}));
    assert_eq!(json["interrupted"], false);
    assert_eq!(json["chats"][0]["status"], "done");
    assert_eq!(json["chats"][1]["status"], "failed");
    assert_eq!(json["chats"][1]["failure"]["code"], 2017);
    assert_eq!(
        json["chats"][1]["failure"]["step"],
        serde_json::json!({"op": "add", "handle": "+15550000007"})
    );
}

#[test]
fn the_apply_future_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let store = MemoryStore::default();
    let client = Client::new(ClientConfig::new("http://127.0.0.1:1/api/partner", Token::new("t"))).unwrap();
    let plan = plan(&State::new(), &[]);
    let mut state = State::new();
    let options = options();
    let future = apply(&plan, &mut state, &store, &client, &options, &NoProgress);
    assert_send(&future);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_outcome_stays_in_the_journal_and_the_next_run_settles_it() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3])];
    let sandbox = Sandbox::spawn(seed(chats), Options::default());
    // Once the intent is durable, every answer is lost on the way back (the change applies).
    let faulty = sandbox.clone();
    let store = MemoryStore {
        hook: Some(Box::new(move |records: &[JournalRecord]| {
            if records.iter().any(|r| matches!(r, JournalRecord::Intent { .. })) {
                faulty.set_options(Options {
                    drop_rate: 1.0,
                    ..Options::default()
                });
            }
        })),
        ..MemoryStore::default()
    };
    let mut state = state_of(chats);
    let plan = plan(&state, &[("c1", "+4 -1")]);
    let report = run(&plan, &mut state, &store, &client(&sandbox, 3)).await;

    let c1 = &report.chats[0];
    assert_eq!(c1.status, ChatStatus::Failed);
    assert!(
        c1.failure.as_ref().unwrap().message.contains("outcome is unknown"),
        "{c1:?}"
    );
    assert_eq!(c1.steps_left, 2, "the remove never ran");
    assert_eq!(
        strings(&state, "c1"),
        set(&[1, 2, 3]),
        "an unknown outcome is not folded"
    );
    let journal = store.read_journal().unwrap();
    assert!(matches!(journal[0], JournalRecord::Begin { serial, .. } if serial == state.serial));
    assert!(matches!(&journal[1], JournalRecord::Intent { op: Op::Add, handle, .. } if *handle == h(&m(4))));
    assert_eq!(journal.len(), 2);

    // The next run: the answers come back, and settling reads the chat.
    sandbox.set_options(Options::default());
    let mut next = store.load().unwrap().unwrap_or(state);
    let unsettled = crate::state::journal::fold(&mut next, &journal);
    let settled = crate::sync::settle(&mut next, &unsettled, &client(&sandbox, 3), &Default::default())
        .await
        .unwrap();
    assert_eq!(settled.landed.len(), 1);
    assert_eq!(strings(&next, "c1"), set(&[1, 2, 3, 4]));
    assert_eq!(live(&sandbox, "c1"), set(&[1, 2, 3, 4]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_takes_an_invisible_change_as_not_made() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3])];
    let sandbox = Sandbox::spawn(seed(chats), Options::default());
    let mut state = state_of(chats);
    let journal = [
        JournalRecord::Begin {
            lineage: state.lineage.clone(),
            serial: 0,
        },
        JournalRecord::Intent {
            id: 1,
            chat: "c1".into(),
            op: Op::Add,
            handle: h(&m(8)),
        },
        JournalRecord::Intent {
            id: 2,
            chat: "c1".into(),
            op: Op::Remove,
            handle: h(&m(9)),
        },
    ];
    let unsettled = crate::state::journal::fold(&mut state, &journal);
    let options = crate::sync::SettleOptions {
        grace: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
    };
    let settled = crate::sync::settle(&mut state, &unsettled, &client(&sandbox, 3), &options)
        .await
        .unwrap();
    assert_eq!(settled.landed.len(), 1, "removing a non-member is already so");
    assert_eq!(settled.not_landed.len(), 1, "the add never showed");
    assert_eq!(strings(&state, "c1"), set(&[1, 2, 3]));
}

/// Against the sandbox's rate limit, reads from many tasks get at least 90% of the allowed
/// throughput with at most 5% of requests refused. Wall-clock throughput is at the mercy of a
/// loaded machine, so it runs on demand: `cargo test -- --ignored pace`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures wall-clock throughput; run alone with --ignored"]
async fn the_pace_gets_most_of_a_rate_limit_with_few_refusals() {
    let _alone = crate::linq::http_tests::TIMING.lock().await;
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3])];
    let limit = 60.0;
    let sandbox = Sandbox::spawn(
        seed(chats),
        Options {
            rate_limit: Some(limit),
            ..Options::default()
        },
    );
    let client = client(&sandbox, 4);
    // The start costs up to two rounds of the requests in flight: the first 429s ask for fewer
    // in flight, the next show that fewer was not the cure (a rate limit, for the pacer). Over
    // 15 s of work that stays well under 5%.
    let total = 900;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, next) = (client.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                client.get_chat("c1").await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    let calls = sandbox.calls();
    let refused = calls.iter().filter(|c| c.status == 429).count();
    assert!(
        achieved >= 0.9 * limit,
        "{achieved:.1} req/s against a limit of {limit}"
    );
    assert!(
        refused as f64 <= 0.05 * calls.len() as f64,
        "{refused} of {} refused",
        calls.len()
    );
}
