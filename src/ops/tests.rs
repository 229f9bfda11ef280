//! The workflows against the sandbox, called as a long-running caller would: for one chat, with
//! a stop, and with their events in order.

use std::collections::BTreeMap;
use std::time::Duration;

use linq_sandbox::{Options, Sandbox, Seed, SeedChat};

use super::*;
use crate::clock::{Clock, Timestamp};
use crate::handle::Handle;
use crate::linq::{ClientConfig, Token};
use crate::plan::{Selected, Selection};
use crate::state::{ChatState, FileStore, Loaded, State, StateStore};
use crate::stop::Signal;
use crate::sync::{DriftStatus, SettleOptions};

fn m(n: u32) -> String {
    format!("+1555000{n:04}")
}

fn seed(chats: &[(&str, &[u32])]) -> Seed {
    Seed {
        token: "sandbox-token".into(),
        me: "+15550000000".into(),
        chats: (chats.iter())
            .map(|(id, ns)| {
                let members: Vec<String> = ns.iter().map(|n| m(*n)).collect();
                SeedChat::group(id, &members.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .collect(),
        handle_services: BTreeMap::new(),
    }
}

/// A store in `dir` holding `chats` as the state records them.
fn store_of(dir: &std::path::Path, chats: &[(&str, &[u32])]) -> FileStore {
    let store = FileStore::new(dir.join("roster.state.json"));
    let mut state = State::new();
    for (id, ns) in chats {
        let members = ns.iter().map(|n| Handle::parse(&m(*n)).unwrap()).collect();
        state.chats.insert(
            id.to_string(),
            ChatState {
                members,
                ..ChatState::default()
            },
        );
    }
    store.save(&mut state).unwrap();
    store
}

fn client(sandbox: &Sandbox, stop: &Stop) -> Client {
    let mut config = ClientConfig::new(sandbox.base_url(), Token::new(sandbox.token()));
    config.stop = stop.clone();
    Client::new(config).unwrap()
}

fn only(id: &str) -> Selection {
    Selection {
        targets: vec![Selected {
            given: id.to_owned(),
            chats: vec![id.to_owned()],
        }],
        excludes: Vec::new(),
    }
}

fn options(selection: &Selection) -> RefreshOptions<'_> {
    RefreshOptions {
        selection,
        read_parallelism: 4,
        settle: SettleOptions::default(),
        pending_timeout: Duration::from_secs(600),
        clock: Clock::fixed(Timestamp::from_unix(1_767_605_400)),
        allow_mass_gone: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_of_one_chat_reads_and_records_only_it() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3]), ("c2", &[1, 2, 3])];
    let sandbox = Sandbox::spawn(seed(chats), Options::default());
    sandbox.add_outside("c1", &m(9));
    sandbox.add_outside("c2", &m(8));
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(dir.path(), chats);
    let mut loaded = store.load_with_journal().unwrap();
    let stop = Stop::new();
    let selection = only("c1");
    let mut events = Vec::new();
    let refreshed = refresh(
        &store,
        &mut loaded,
        &client(&sandbox, &stop),
        &stop,
        &options(&selection),
        &mut |event| events.push(event),
    )
    .await
    .unwrap();

    assert_eq!(events, [Event::Reading(1), Event::Read, Event::DoneReading]);
    assert_eq!(refreshed.settled, None);
    assert_eq!(refreshed.changed, 1);
    assert_eq!(refreshed.report.chats_read, 1);
    let drift = &refreshed.report.chats;
    assert_eq!(drift.len(), 1);
    assert_eq!((drift[0].id.as_str(), drift[0].status), ("c1", DriftStatus::Drifted));
    assert_eq!(drift[0].joined, [Handle::parse(&m(9)).unwrap()]);
    let saved = store.load().unwrap().unwrap();
    assert_eq!(saved.serial, 2, "one write");
    assert!(saved.chats["c1"].members.contains(&Handle::parse(&m(9)).unwrap()));
    assert!(
        !saved.chats["c2"].members.contains(&Handle::parse(&m(8)).unwrap()),
        "c2 was not read"
    );
    assert_eq!(saved, loaded.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_not_managed_is_refused_and_a_signal_writes_nothing() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2, 3])];
    let sandbox = Sandbox::spawn(seed(chats), Options::default());
    sandbox.add_outside("c1", &m(9));
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(dir.path(), chats);
    let stop = Stop::new();
    let client = client(&sandbox, &stop);
    let mut loaded = store.load_with_journal().unwrap();

    let selection = only("c7");
    let refused = refresh(&store, &mut loaded, &client, &stop, &options(&selection), &mut |_| {}).await;
    assert!(
        matches!(refused, Err(Error::NotManaged { ref given, .. }) if given == "c7"),
        "{refused:?}"
    );

    stop.signal(Signal::Terminate);
    let everything = Selection::default();
    let stopped = refresh(&store, &mut loaded, &client, &stop, &options(&everything), &mut |_| {}).await;
    assert!(
        matches!(
            stopped,
            Err(Error::Stopped {
                signal: Signal::Terminate,
                stage: Stage::Reading
            })
        ),
        "{stopped:?}"
    );
    assert_eq!(store.load().unwrap().unwrap().serial, 1, "nothing was written");
    assert!(sandbox.calls().is_empty(), "no chat was read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_adopts_in_memory_and_records_only_when_asked() {
    let chats: &[(&str, &[u32])] = &[("c1", &[1, 2]), ("c2", &[1, 2, 3])];
    let sandbox = Sandbox::spawn(seed(chats), Options::default());
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("roster.state.json"));
    let stop = Stop::new();
    let client = client(&sandbox, &stop);
    let mut loaded: Loaded = store.load_with_journal().unwrap();
    let ids = ["c2".to_owned(), "c1".to_owned(), "c2".to_owned()];
    let options = ImportOptions {
        chats: Chats::Named(&ids),
        force: false,
        read_parallelism: 2,
        settle: SettleOptions::default(),
    };
    let adoption = import(&store, &mut loaded, &client, &stop, &options, &mut |_| {})
        .await
        .unwrap();
    let adopted: Vec<&str> = adoption.chats.iter().map(|chat| chat.id.as_str()).collect();
    assert_eq!(adopted, ["c1", "c2"]);
    let below: Vec<(&str, usize)> = (adoption.below_the_floor(&loaded.state).into_iter())
        .map(|(chat, n)| (chat.id.as_str(), n))
        .collect();
    assert_eq!(below, [("c1", 2)]);
    assert!(store.load().unwrap().is_none(), "nothing written before `record`");
    adoption.record(&store, &mut loaded.state, false).unwrap();
    assert_eq!(store.load().unwrap().unwrap().chats.len(), 2);

    let missing = ["c9".to_owned()];
    let options = ImportOptions {
        chats: Chats::Named(&missing),
        ..options
    };
    let refused = import(&store, &mut loaded, &client, &stop, &options, &mut |_| {}).await;
    assert!(
        matches!(refused, Err(Error::NotImportable(ref problems)) if problems.len() == 1),
        "{refused:?}"
    );
}
