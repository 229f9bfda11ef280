//! The fuzz corpus (`fuzz/corpus/TARGET/`), replayed through the fuzz targets' own checks, so
//! every input a fuzzer once reached is checked by the ordinary suite, without a fuzzer.

use std::path::PathBuf;

use crate::common::repo;

#[path = "../fuzz/src/lib.rs"]
mod checks;

/// Inputs that made a fuzz target fail once, by target; each has a unit test beside its fix.
const REGRESSIONS: &[(&str, &str)] = &[
    // `linq::model`: someone listed as left and again as active counted as both.
    ("linq_answer", "regression-left-and-active"),
    // `linq::error`: a `Retry-After` too long for a duration panicked.
    ("linq_answer", "regression-retry-after-too-long"),
];

/// Every input of one target's corpus, by file name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = repo().join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the `{target}` corpus has only {} inputs",
        files.len()
    );
    files
}

/// Runs `check` on every input of `target`'s corpus, naming the input that fails.
fn replay(target: &str, check: impl Fn(&[u8])) {
    let inputs = corpus(target);
    // Inputs that once failed are kept by name, whatever they cover (`fuzz/minimize`).
    for regression in REGRESSIONS.iter().filter(|(t, _)| *t == target) {
        assert!(
            inputs.iter().any(|(name, _)| name == regression.1),
            "fuzz/corpus/{target}/{} is gone",
            regression.1
        );
    }
    for (name, bytes) in inputs {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&bytes)));
        assert!(outcome.is_ok(), "fuzz/corpus/{target}/{name} fails its check");
    }
}

#[test]
fn the_config_corpus_replays() {
    replay("config", checks::config);
}

#[test]
fn the_state_corpus_replays() {
    replay("state", checks::state);
}

#[test]
fn the_journal_corpus_replays() {
    let dir = tempfile::tempdir().unwrap();
    let store = roster::state::FileStore::new(dir.path().join("roster.state.json"));
    replay("journal", |data| checks::journal(&store, data));
}

#[test]
fn the_saved_plan_corpus_replays() {
    replay("saved_plan", checks::saved_plan);
}

#[test]
fn the_linq_answer_corpus_replays() {
    replay("linq_answer", checks::linq_answer);
}
