//! The `journal` fuzz target: see `roster_fuzz::journal` and fuzz/README.md.
#![no_main]

use std::sync::OnceLock;

use roster::state::FileStore;

/// One folder for the whole run; each input overwrites the journal in it.
fn store() -> &'static FileStore {
    static STORE: OnceLock<FileStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("roster-fuzz-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        FileStore::new(dir.join("roster.state.json"))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::journal(store(), data));
