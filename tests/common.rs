//! Running the binary the way a user does, and making its output stable for snapshots; the
//! sandbox-facing helpers ([`sandbox`]) and the random scenarios ([`scenario`]) every module
//! shares.

mod sandbox;
mod scenario;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use roster::plan::SavedPlan;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use sandbox::{
    accepted, api_env, applied_changes, assert_no_change_accepted_twice, changes_answered, expect_exit, mutating_calls,
    roster, roster_command, spawn_apply, Linq, TOKEN,
};
pub use scenario::{limit_problems, ChatSpec, Rng, Scenario};

/// How long a test waits for something that takes milliseconds before it fails instead of
/// hanging: a bound for a broken build, not a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The state file of a workspace.
const STATE: &str = "roster.state.json";

/// Waits until `ready` holds, polling; panics naming `what` after [`PATIENCE`].
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The repository root (where `examples/` lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary working folder for one test.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    /// A workspace holding a copy of the team example: `config/` and `roster.state.json`.
    pub fn team() -> Workspace {
        let ws = Workspace::new();
        copy_dir(&repo().join("examples/team"), ws.path());
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap()
    }

    /// The bytes of `roster.state.json`, or `None` when there is none.
    pub fn state_bytes(&self) -> Option<Vec<u8>> {
        std::fs::read(self.path().join(STATE)).ok()
    }

    /// `roster.state.json` as JSON.
    pub fn state(&self) -> Value {
        serde_json::from_str(&self.read(STATE)).expect("state is JSON")
    }

    /// `roster.state.json` as roster reads it.
    pub fn parsed_state(&self) -> roster::state::State {
        let bytes = self.state_bytes().expect("a state file");
        roster::state::parse_state(&bytes).expect("the state parses")
    }

    /// Writes `roster.state.json` of `lineage` at `serial`, recording `chats` (id to record).
    pub fn write_state(&self, lineage: &str, serial: u64, chats: serde_json::Map<String, Value>) {
        let state = serde_json::json!({ "version": 1, "lineage": lineage, "serial": serial, "chats": chats });
        self.write(STATE, serde_json::to_vec_pretty(&state).unwrap());
    }

    /// `roster ARGS` in this folder, no terminal, no token, colour off by environment.
    pub fn roster(&self, args: &[&str]) -> Run {
        self.roster_with(args, &[])
    }

    pub fn roster_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("LINQ_API_V3_API_KEY")
            .env_remove("LINQ_API_V3_BASE_URL")
            .env_remove("NO_COLOR")
            .env("USER", "tester")
            .stdin(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("run roster");
        Run {
            output,
            root: self.path().to_path_buf(),
        }
    }

    /// Every file below the workspace with its contents, to prove a command changed nothing.
    pub fn snapshot_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        walk(self.path(), &mut files);
        files.sort();
        files
    }
}

fn walk(dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The strings of a JSON array.
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// A member of chat `chat`: `+1555`, the chat's number and the member's, distinct per chat, and
/// 10 digits after the `+1` as a number of `+1` has (a config refuses any other length).
pub fn member(chat: u32, n: u32) -> String {
    format!("+1555{chat:03}{n:04}")
}

/// Writes `saved` to `file` in `ws`, sealed with a checksum computed as the file documents it:
/// hex SHA-256 of the document with an empty `checksum`. No key is needed, so anyone can.
pub fn forge(ws: &Workspace, file: &str, mut saved: SavedPlan) {
    saved.checksum = String::new();
    let digest = Sha256::digest(serde_json::to_vec(&saved).unwrap());
    saved.checksum = digest.iter().map(|b| format!("{b:02x}")).collect();
    ws.write(file, saved.to_json());
}

/// One finished run of the binary.
pub struct Run {
    pub output: Output,
    root: PathBuf,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        self.filter(&String::from_utf8_lossy(&self.output.stdout))
    }

    pub fn stderr(&self) -> String {
        self.filter(&String::from_utf8_lossy(&self.output.stderr))
    }

    /// Exit code, stdout and stderr in one string, as a user sees them.
    pub fn combined(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }

    fn filter(&self, text: &str) -> String {
        let root = self.root.display().to_string();
        let text = text.replace(&root, "[TMP]");
        // Ports and lock ids change from run to run.
        let port = regex_lite_replace(
            &text,
            "127.0.0.1:",
            |rest| rest.chars().take_while(char::is_ascii_digit).count(),
            "[PORT]",
        );
        port
    }
}

/// Replaces the run of characters after each `marker` (its length given by `len`) by `with`.
fn regex_lite_replace(text: &str, marker: &str, len: impl Fn(&str) -> usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let n = len(rest);
        if n > 0 {
            out.push_str(with);
            rest = &rest[n..];
        }
    }
    out.push_str(rest);
    out
}
