//! The checks behind each fuzz target, one function per target. The targets in
//! `fuzz_targets/` call them on libFuzzer's inputs; the ordinary test suite replays the corpus
//! through the same functions (`tests/fuzz_corpus.rs` includes this file), so every input the
//! fuzzer once reached is checked by `cargo test` too.

use std::path::PathBuf;

use roster::linq::{ApiError, Chat, ChatPage};
use roster::plan::{PlanOptions, SavedPlan, FORMAT_VERSION};
use roster::state::{FileStore, State, StateStore};

/// The config loader on up to three files (the input split at NUL bytes), from memory.
pub fn config(data: &[u8]) {
    let files: Vec<(PathBuf, Vec<u8>)> = (data.split(|&b| b == 0).take(3).enumerate())
        .map(|(i, bytes)| (format!("f{i}.yaml").into(), bytes.to_vec()))
        .collect();
    match roster::config::load_from_memory(&files) {
        Ok(desired) => {
            // What the loader lets through keeps the rules the planner relies on.
            let floor = desired.settings.min_members;
            assert!(floor >= 2, "floor {floor}");
            for (id, chat) in &desired.chats {
                let n = chat.members.len();
                assert!(floor <= n && n <= chat.max_members, "chat {id}: {n} members");
            }
            let _ = roster::plan::plan(&desired, &State::new(), &roster::plan::PlanOptions::default());
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for error in &errors.0 {
                if let Some((line, column)) = error.position {
                    assert!(line >= 1 && column >= 1, "{error}");
                }
            }
        }
    }
}

/// The state parser: whatever it accepts, roster writes back and reads the same, and shows.
pub fn state(data: &[u8]) {
    let Ok(state) = roster::state::parse_state(data) else {
        return;
    };
    let written = serde_json::to_vec_pretty(&state).expect("a state serializes");
    let again = roster::state::parse_state(&written).expect("a state roster wrote parses");
    assert_eq!(again, state);
    let mut out = Vec::new();
    roster::render::state_text(&state, roster::render::TextOptions::default(), &mut out).expect("renders");
}

/// A state whose chats a journal's records may name.
fn journal_state() -> State {
    let json = br#"{"version": 1, "lineage": "l", "serial": 3, "chats": {
        "a": {"members": ["+12055550100", "+12055550101", "b@c.de"], "left": ["+12055550102"]},
        "b": {"members": ["+12055550100"], "pending": {"add": ["+12055550100"]}}}}"#;
    roster::state::parse_state(json).expect("the seed state parses")
}

/// The journal reader, on `data` written as the journal of `store`, and the fold of what it
/// accepts into a state: folding twice is folding once (a crash between saving the state and
/// clearing the journal folds it again).
pub fn journal(store: &FileStore, data: &[u8]) {
    std::fs::write(store.journal_path(), data).expect("write the journal");
    let Ok(records) = store.read_journal() else {
        return;
    };
    let mut once = journal_state();
    let unsettled = roster::state::journal::fold(&mut once, &records);
    let mut twice = once.clone();
    let again = roster::state::journal::fold(&mut twice, &records);
    assert_eq!(twice, once);
    assert_eq!(again, unsettled);
}

/// Saved plans. The checksum stops nearly every input, so whatever parses as a saved plan is
/// also sealed afresh: it must read back equal, be fresh against its own state and digest, and
/// render as text and markdown.
pub fn saved_plan(data: &[u8]) {
    let _ = SavedPlan::from_json(data);
    let Ok(parsed) = serde_json::from_slice::<SavedPlan>(data) else {
        return;
    };
    let options = PlanOptions {
        selection: parsed.plan.selection.clone(),
        allow_mass_removal: parsed.allow_mass_removal,
        ..PlanOptions::default()
    };
    let sealed = SavedPlan::new(
        parsed.plan,
        &options,
        parsed.config_digest,
        parsed.config_paths,
        parsed.state,
    );
    let read = SavedPlan::from_json(sealed.to_json().as_bytes());
    if sealed.plan.format_version == FORMAT_VERSION {
        assert_eq!(read.as_ref(), Ok(&sealed));
        assert_eq!(sealed.check_fresh(&sealed.config_digest, &sealed.plan.state), Ok(()));
    } else {
        assert!(read.is_err());
    }
    let mut out = Vec::new();
    roster::render::plan_text(&sealed.plan, roster::render::TextOptions::default(), &mut out).expect("renders");
    roster::render::plan_markdown(&sealed.plan, &mut out).expect("renders");
}

fn read_chat(chat: &Chat) {
    let members = chat.members();
    let left = chat.left();
    assert!(members.is_disjoint(&left), "a member cannot also have left");
    for handle in &members {
        assert!(chat.has_member(handle));
    }
}

/// Linq's answers: a chat, a page of chats, and an error answer (the first two bytes give its
/// status, the rest of the first line its `Retry-After` header, the rest its body).
pub fn linq_answer(data: &[u8]) {
    if let Ok(chat) = Chat::parse(data) {
        read_chat(&chat);
    }
    if let Ok(page) = ChatPage::parse(data) {
        page.chats.iter().for_each(read_chat);
    }
    let (status, rest) = data.split_at(data.len().min(2));
    let status = u16::from_le_bytes([
        status.first().copied().unwrap_or(0),
        status.get(1).copied().unwrap_or(0),
    ]);
    let (header, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => (std::str::from_utf8(&rest[..end]).ok(), &rest[end + 1..]),
        None => (None, rest),
    };
    let error = ApiError::from_answer(status, header, &String::from_utf8_lossy(body));
    let _ = (error.to_string(), error.is_transient(), error.outcome_unknown());
}
