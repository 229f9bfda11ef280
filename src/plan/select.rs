//! Which chats a run covers: `--target` and `--exclude`, resolved once against the loaded
//! config and state into chat keys (a chat's key in the config, or for a chat only in the
//! state the key it is recorded under; the chat id for chats keyed by their id). The planner,
//! `refresh` and `plan --refresh` then ask only [`Selection::includes`].
//!
//! Each selector is, in this order:
//! 1. `name:GLOB`: the config's chats whose `name` matches (see [`super::glob`]), in any case;
//! 2. a chat key of the config or the state, or a chat id (of the state, or bound by `id:`),
//!    standing for its key;
//! 3. a path to a config file or folder: the chats defined in that file, or in the files below
//!    that folder. Paths are compared where they really lead (the caller's `real_path`, the
//!    filesystem in roster), so `./config/`, `config` and an absolute path agree.
//!
//! With no `--target` every chat is in scope; then each `--exclude` takes its chats out. A
//! selector that matches nothing is an error that suggests close ids, names and files, and so
//! is a selection that leaves no chat at all. Every error is reported at once.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::glob::{Glob, GlobError};
use crate::config::Desired;
use crate::escape::{or_list, Lines};
use crate::hint::Hint;
use crate::state::State;

/// The prefix of a selector that matches chat names.
pub const NAME_PREFIX: &str = "name:";

/// How many close names an error suggests at most.
const SUGGESTED: usize = 3;

/// What a run was limited to: each `--target` and `--exclude` as given, with the chat ids it
/// resolved to. Recorded in the plan, so a saved plan shows it and `apply` re-derives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Selected>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<Selected>,
}

/// One selector and what it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selected {
    /// As typed on the command line.
    pub given: String,
    /// The chat keys it names, sorted.
    pub chats: Vec<String>,
}

impl Selection {
    /// True when nothing was targeted or excluded: every chat is in scope.
    pub fn is_everything(&self) -> bool {
        self.targets.is_empty() && self.excludes.is_empty()
    }

    /// True when the chat `id` is in scope: named by a target (or there is none), and by no
    /// exclude. The one answer to "does this run cover this chat?".
    pub fn includes(&self, id: &str) -> bool {
        let named = |list: &[Selected]| {
            list.iter()
                .any(|selected| selected.chats.binary_search_by(|chat| chat.as_str().cmp(id)).is_ok())
        };
        (self.targets.is_empty() || named(&self.targets)) && !named(&self.excludes)
    }

    /// The targets as given.
    pub fn given_targets(&self) -> Vec<String> {
        self.targets.iter().map(|selected| selected.given.clone()).collect()
    }

    /// The excludes as given.
    pub fn given_excludes(&self) -> Vec<String> {
        self.excludes.iter().map(|selected| selected.given.clone()).collect()
    }
}

/// Which flag a selector came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Target,
    Exclude,
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flag::Target => "target",
            Flag::Exclude => "exclude",
        })
    }
}

/// Why a selector matched no chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmatched {
    /// `name:GLOB` matched no chat name of the config.
    Name,
    /// Neither a chat id of the config or the state, nor an existing path.
    Nothing,
    /// A path that exists, but no config file is it or lies below it.
    NotConfig,
    /// A config file, or a folder of config files, that defines no chat.
    NoChats,
}

/// Why a selection is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A selector that matches no chat, with close ids, names or files to suggest.
    #[error("{}", unmatched_message(*flag, given, why, close))]
    Unmatched {
        flag: Flag,
        given: String,
        why: Unmatched,
        close: Vec<String>,
    },
    /// A `name:` pattern that does not parse.
    #[error("{flag} `{given}` is not a valid name pattern: {error}")]
    BadPattern {
        flag: Flag,
        given: String,
        error: GlobError,
    },
    /// The excludes take out every chat the targets (or the config and state) hold.
    #[error("`--target` and `--exclude` leave no chat in scope: every chat {} is excluded", if *targeted { "targeted" } else { "of the config and the state" })]
    NothingLeft { targeted: bool },
}

/// Every reason a selection is refused, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectErrors(pub Vec<SelectError>);

impl fmt::Display for SelectErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Lines(&self.0).fmt(f)
    }
}

impl std::error::Error for SelectErrors {}

impl Hint for SelectErrors {
    /// What the selectors can be.
    fn hint(&self) -> Option<String> {
        Some(
            "`--target` and `--exclude` take a chat id, `name:GLOB` (a chat name in the config, in any \
             case, where `*`, `?` and `[...]` match) or a config file or folder"
                .to_owned(),
        )
    }
}

fn unmatched_message(flag: Flag, given: &str, why: &Unmatched, close: &[String]) -> String {
    let mut message = match why {
        Unmatched::Name => format!("{flag} `{given}` matches no chat name in the config"),
        Unmatched::Nothing => {
            format!("{flag} `{given}` is not a chat in the config or the state, nor a config file or folder")
        }
        Unmatched::NotConfig => format!("{flag} `{given}` is not a config file, nor a folder holding one"),
        Unmatched::NoChats => format!("{flag} `{given}` defines no chat"),
    };
    if !close.is_empty() {
        let quoted: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
        message.push_str(&format!("; did you mean {}?", or_list(&quoted)));
    }
    message
}

/// True when resolving `selectors` needs the config: a `name:` pattern, or a path that leads
/// somewhere and is not a chat id of the state. `refresh` reads the config only then.
pub fn needs_config<'a>(
    selectors: impl IntoIterator<Item = &'a String>,
    state: &State,
    real_path: &dyn Fn(&Path) -> Option<PathBuf>,
) -> bool {
    selectors.into_iter().any(|given| {
        given.starts_with(NAME_PREFIX) || (!state.chats.contains_key(given) && real_path(Path::new(given)).is_some())
    })
}

/// Resolves `targets` and `excludes` against the config and the state. `real_path` says where
/// a path really leads (`None` when nothing is there).
///
/// Without the config (`None`), a text that is neither a `name:` pattern, a chat id of the
/// state nor a path is taken for a chat id as given: the caller knows only the state's chats,
/// and refuses it as one roster does not manage.
pub fn select(
    targets: &[String],
    excludes: &[String],
    desired: Option<&Desired>,
    state: &State,
    real_path: &dyn Fn(&Path) -> Option<PathBuf>,
) -> Result<Selection, SelectErrors> {
    let mut resolver = Resolver {
        desired,
        state,
        real_path,
        files: None,
    };
    let mut errors = Vec::new();
    let mut resolve = |flag, list: &[String]| -> Vec<Selected> {
        (list.iter())
            .filter_map(|given| match resolver.resolve(flag, given) {
                Ok(chats) => Some(Selected {
                    given: given.clone(),
                    chats,
                }),
                Err(error) => {
                    errors.push(error);
                    None
                }
            })
            .collect()
    };
    let selection = Selection {
        targets: resolve(Flag::Target, targets),
        excludes: resolve(Flag::Exclude, excludes),
    };
    if errors.is_empty() && !selection.excludes.is_empty() {
        let mut all = resolver.all_ids();
        if !selection.targets.is_empty() {
            let targeted: BTreeSet<&str> = (selection.targets.iter())
                .flat_map(|selected| selected.chats.iter().map(String::as_str))
                .collect();
            all.retain(|id| targeted.contains(id));
        }
        if !all.iter().any(|id| selection.includes(id)) {
            errors.push(SelectError::NothingLeft {
                targeted: !selection.targets.is_empty(),
            });
        }
    }
    if errors.is_empty() {
        Ok(selection)
    } else {
        Err(SelectErrors(errors))
    }
}

/// Resolves one selector after another, finding where the config files lead once.
struct Resolver<'a> {
    desired: Option<&'a Desired>,
    state: &'a State,
    real_path: &'a dyn Fn(&Path) -> Option<PathBuf>,
    /// Where each config file really leads, by its index in `Desired::files`.
    files: Option<Vec<Option<PathBuf>>>,
}

impl Resolver<'_> {
    fn resolve(&mut self, flag: Flag, given: &str) -> Result<Vec<String>, SelectError> {
        if let Some(pattern) = given.strip_prefix(NAME_PREFIX) {
            return self.by_name(flag, given, pattern);
        }
        if let Some(key) = self.key_of(given) {
            return Ok(vec![key]);
        }
        let unmatched = |why, close| SelectError::Unmatched {
            flag,
            given: given.to_owned(),
            why,
            close,
        };
        let Some(path) = (self.real_path)(Path::new(given)) else {
            if self.desired.is_none() {
                return Ok(vec![given.to_owned()]);
            }
            return Err(unmatched(Unmatched::Nothing, self.close_to(given)));
        };
        // By file index: whether the file is `path` or lies below it.
        let within: Vec<bool> = (self.real_files().iter())
            .map(|file| file.as_ref().is_some_and(|file| file.starts_with(&path)))
            .collect();
        if !within.contains(&true) {
            return Err(unmatched(Unmatched::NotConfig, self.close_files(given)));
        }
        let chats: Vec<String> = (self.desired.iter())
            .flat_map(|desired| desired.chats.iter())
            .filter(|(_, chat)| within.get(chat.file).copied().unwrap_or(false))
            .map(|(id, _)| id.clone())
            .collect();
        if chats.is_empty() {
            return Err(unmatched(Unmatched::NoChats, Vec::new()));
        }
        Ok(chats)
    }

    fn by_name(&self, flag: Flag, given: &str, pattern: &str) -> Result<Vec<String>, SelectError> {
        let glob = Glob::parse(pattern).map_err(|error| SelectError::BadPattern {
            flag,
            given: given.to_owned(),
            error,
        })?;
        let named = || {
            (self.desired.iter())
                .flat_map(|desired| desired.chats.iter())
                .filter_map(|(id, chat)| Some((id, chat.name.as_deref()?)))
        };
        let chats: Vec<String> = named()
            .filter(|(_, name)| glob.matches(name))
            .map(|(id, _)| id.clone())
            .collect();
        if !chats.is_empty() {
            return Ok(chats);
        }
        // Compare what the pattern spells with each name, and with the start of each name
        // when it ends in `*` (`suport*` is close to `Support Nights`).
        let typed = glob.literal_text();
        let prefix = !glob.is_literal() && pattern.ends_with('*');
        let names: BTreeSet<&str> = named().map(|(_, name)| name).collect();
        let close = closest(
            names
                .into_iter()
                .map(|name| (name_similarity(&typed, name, prefix), format!("{NAME_PREFIX}{name}"))),
        );
        Err(SelectError::Unmatched {
            flag,
            given: given.to_owned(),
            why: Unmatched::Name,
            close,
        })
    }

    /// Close chat ids, chat names (as `name:NAME`, for a name typed without the prefix) and
    /// config files that define chats.
    fn close_to(&mut self, given: &str) -> Vec<String> {
        let mut scored: Vec<(f64, String)> = Vec::new();
        let mut ids: BTreeSet<&str> = self.state.chats.keys().map(String::as_str).collect();
        if let Some(desired) = self.desired {
            ids.extend(desired.chats.keys().map(String::as_str));
            let names: BTreeSet<&str> = desired.chats.values().filter_map(|chat| chat.name.as_deref()).collect();
            scored.extend(
                names
                    .into_iter()
                    .map(|name| (name_similarity(given, name, true), format!("{NAME_PREFIX}{name}"))),
            );
        }
        scored.extend(ids.into_iter().map(|id| (similarity(given, id), id.to_owned())));
        scored.extend(self.scored_files(given));
        closest(scored.into_iter())
    }

    /// Close config files that define chats, and the folders that hold them.
    fn close_files(&self, given: &str) -> Vec<String> {
        closest(self.scored_files(given).into_iter())
    }

    /// The config files that define chats and their folders, each scored by how alike `given`
    /// is to it or to its tail (`sales.yaml` is close to `config/sales.yaml`).
    fn scored_files(&self, given: &str) -> Vec<(f64, String)> {
        let given = given.trim_end_matches('/');
        let given = given.strip_prefix("./").unwrap_or(given);
        (self.file_candidates().into_iter())
            .map(|candidate| {
                let path = Path::new(&candidate);
                let tails =
                    (0..path.components().count()).map(|skip| path.components().skip(skip).collect::<PathBuf>());
                let stem = path.file_stem().map(|stem| stem.to_string_lossy().into_owned());
                let score = (tails.map(|tail| tail.display().to_string()).chain(stem))
                    .map(|tail| similarity(given, &tail))
                    .fold(0.0, f64::max);
                (score, candidate)
            })
            .collect()
    }

    /// The config files that define chats and the folders that hold them, as spelt in the
    /// config's paths.
    fn file_candidates(&self) -> BTreeSet<String> {
        let mut candidates = BTreeSet::new();
        for file in self.chat_files() {
            candidates.extend(file.ancestors().map(|path| path.display().to_string()));
        }
        candidates.remove("");
        candidates
    }

    /// The config files that define at least one chat.
    fn chat_files(&self) -> impl Iterator<Item = &Path> {
        let files = self.desired.map_or(&[][..], |desired| &desired.files);
        let defining: BTreeSet<usize> = (self.desired.iter())
            .flat_map(|desired| desired.chats.values().map(|chat| chat.file))
            .collect();
        (files.iter().enumerate())
            .filter(move |(index, _)| defining.contains(index))
            .map(|(_, file)| file.as_path())
    }

    fn real_files(&mut self) -> &[Option<PathBuf>] {
        let (desired, real_path) = (self.desired, self.real_path);
        self.files.get_or_insert_with(|| {
            (desired.iter())
                .flat_map(|desired| &desired.files)
                .map(|file| real_path(file))
                .collect()
        })
    }

    /// Every chat id of the config and the state, sorted.
    /// The chat key `given` names: a key of the config, a key the state records a chat under,
    /// or a chat id (of the state, or bound by `id:`), as the key that chat stands for.
    fn key_of(&self, given: &str) -> Option<String> {
        if self.desired.is_some_and(|desired| desired.chats.contains_key(given)) {
            return Some(given.to_owned());
        }
        if self.state.chats.values().any(|chat| chat.key.as_deref() == Some(given)) {
            return Some(given.to_owned());
        }
        if let Some(chat) = self.state.chats.get(given) {
            return Some(chat.key_or(given).to_owned());
        }
        let desired = self.desired?;
        let bound = desired.chats.iter().find(|(_, chat)| chat.id.as_deref() == Some(given));
        bound.map(|(key, _)| key.clone())
    }

    fn all_ids(&self) -> Vec<&str> {
        let mut ids: BTreeSet<&str> = (self.state.chats.iter()).map(|(id, chat)| chat.key_or(id)).collect();
        if let Some(desired) = self.desired {
            ids.extend(desired.chats.keys().map(String::as_str));
        }
        ids.into_iter().collect()
    }
}

/// How alike two texts are, from 0 to 1, in any case.
fn similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_damerau_levenshtein(&a.to_lowercase(), &b.to_lowercase())
}

/// How alike `typed` is to a chat `name`, or, with `prefix`, to the start of it as long as
/// `typed` (`support` is close to `Support Nights`); a start of 3 characters or fewer is too
/// short to tell.
fn name_similarity(typed: &str, name: &str, prefix: bool) -> f64 {
    let whole = similarity(typed, name);
    let length = typed.chars().count();
    if !prefix || length <= 3 {
        return whole;
    }
    let start: String = name.chars().take(length).collect();
    whole.max(similarity(typed, &start))
}

/// The best few candidates close enough to be a likely typo, best first.
fn closest(scored: impl Iterator<Item = (f64, String)>) -> Vec<String> {
    let mut close: Vec<(f64, String)> = scored.filter(|(score, _)| *score >= 0.6).collect();
    close.sort_by(|(a, x), (b, y)| b.total_cmp(a).then_with(|| x.cmp(y)));
    close
        .into_iter()
        .take(SUGGESTED)
        .map(|(_, candidate)| candidate)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{DesiredChat, Settings};
    use crate::members::Members;
    use crate::state::ChatState;

    /// Chats by id, name and the index of the file that defines them, over the files
    /// `config/people.yaml` (no chat), `config/sales.yaml` and `config/eu/support.yaml`; and a
    /// state that also holds the forgotten chat `old-1`.
    fn fixture() -> (Desired, State) {
        let chats = [
            ("sales-west", Some("Sales West"), 1),
            ("sales-east", Some("Sales East"), 1),
            ("support-1", Some("Support Nights"), 2),
            ("unnamed-1", None, 2),
        ];
        let desired = Desired {
            settings: Settings::default(),
            chats: (chats.iter())
                .map(|(id, name, file)| {
                    let chat = DesiredChat {
                        name: name.map(str::to_owned),
                        service: None,
                        max_members: 31,
                        protected: Members::new(),
                        members: Members::new(),
                        max_removals: None,
                        file: *file,
                        ..Default::default()
                    };
                    (id.to_string(), chat)
                })
                .collect(),
            names: BTreeMap::new(),
            digest: String::new(),
            files: ["config/people.yaml", "config/sales.yaml", "config/eu/support.yaml"]
                .map(PathBuf::from)
                .to_vec(),
        };
        let state = State {
            version: 1,
            lineage: "l".into(),
            serial: 1,
            chats: ["sales-west", "old-1"]
                .map(|id| (id.to_owned(), ChatState::default()))
                .into(),
        };
        (desired, state)
    }

    /// Paths as the filesystem would lead them, from the folder `/w`: `./` and a trailing `/`
    /// dropped; files and folders of the fixture, and `notes/` outside the config.
    fn real(path: &Path) -> Option<PathBuf> {
        let text = path.to_str()?.trim_start_matches("./").trim_end_matches('/');
        let text = text.strip_prefix("/w/").unwrap_or(text);
        let known = [
            "config",
            "config/people.yaml",
            "config/sales.yaml",
            "config/eu",
            "config/eu/support.yaml",
            "notes",
        ];
        known.contains(&text).then(|| Path::new("/w").join(text))
    }

    fn resolve(targets: &[&str], excludes: &[&str]) -> Result<Selection, SelectErrors> {
        let (desired, state) = fixture();
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        select(&owned(targets), &owned(excludes), Some(&desired), &state, &real)
    }

    fn chats_of(targets: &[&str]) -> Vec<String> {
        let selection = resolve(targets, &[]).unwrap();
        selection
            .targets
            .into_iter()
            .flat_map(|selected| selected.chats)
            .collect()
    }

    fn error(targets: &[&str], excludes: &[&str]) -> String {
        resolve(targets, excludes).unwrap_err().to_string()
    }

    #[test]
    fn ids_of_the_config_and_the_state_select_themselves() {
        assert_eq!(chats_of(&["support-1"]), ["support-1"]);
        assert_eq!(chats_of(&["old-1"]), ["old-1"], "a chat only the state holds");
    }

    #[test]
    fn name_patterns_match_config_names_in_any_case() {
        assert_eq!(chats_of(&["name:sales*"]), ["sales-east", "sales-west"]);
        assert_eq!(chats_of(&["name:SALES WEST"]), ["sales-west"]);
        assert_eq!(chats_of(&["name:*n[a-i]ghts"]), ["support-1"]);
        assert_eq!(
            chats_of(&["name:*"]).len(),
            3,
            "a chat without a name matches no pattern"
        );
    }

    #[test]
    fn files_and_folders_select_the_chats_they_define_however_spelt() {
        assert_eq!(chats_of(&["config/sales.yaml"]), ["sales-east", "sales-west"]);
        assert_eq!(chats_of(&["./config/eu/"]), ["support-1", "unnamed-1"]);
        assert_eq!(chats_of(&["/w/config"]).len(), 4);
    }

    #[test]
    fn excludes_take_chats_out_and_win_over_targets() {
        let selection = resolve(&["name:s*"], &["config/eu"]).unwrap();
        for (id, included) in [
            ("sales-west", true),
            ("sales-east", true),
            ("support-1", false),
            ("unnamed-1", false),
            ("old-1", false),
        ] {
            assert_eq!(selection.includes(id), included, "{id}");
        }
        let only_excludes = resolve(&[], &["sales-west"]).unwrap();
        assert!(only_excludes.includes("old-1") && !only_excludes.includes("sales-west"));
        assert!(Selection::default().includes("anything"));
    }

    #[test]
    fn a_selector_that_matches_nothing_suggests_close_ids_names_and_files() {
        assert_eq!(
            error(&["sales-wst"], &[]),
            "target `sales-wst` is not a chat in the config or the state, nor a config file or \
             folder; did you mean `sales-west`, `name:Sales West` or `sales-east`?"
        );
        assert_eq!(
            error(&[], &["Support Nigths"]),
            "exclude `Support Nigths` is not a chat in the config or the state, nor a config file \
             or folder; did you mean `name:Support Nights`?"
        );
        assert_eq!(
            error(&["name:suport*"], &[]),
            "target `name:suport*` matches no chat name in the config; did you mean `name:Support Nights`?"
        );
        assert_eq!(
            error(&["config/sale.yaml"], &[]),
            "target `config/sale.yaml` is not a chat in the config or the state, nor a config \
             file or folder; did you mean `config/sales.yaml`?"
        );
        assert_eq!(
            error(&["notes/"], &[]),
            "target `notes/` is not a config file, nor a folder holding one"
        );
        assert_eq!(
            error(&["confg/eu"], &[]),
            "target `confg/eu` is not a chat in the config or the state, nor a config file or \
             folder; did you mean `config/eu`?"
        );
        assert_eq!(
            error(&["config/people.yaml"], &[]),
            "target `config/people.yaml` defines no chat"
        );
        assert_eq!(
            error(&["name:zzz"], &[]),
            "target `name:zzz` matches no chat name in the config",
            "nothing close: no suggestion"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_and_a_broken_pattern_says_why() {
        let errors = resolve(&["nope", "name:[ab"], &["name:x"]).unwrap_err();
        assert_eq!(errors.0.len(), 3);
        assert_eq!(
            errors.0[1].to_string(),
            "target `name:[ab` is not a valid name pattern: a `[` is not closed by `]`"
        );
    }

    #[test]
    fn a_selection_that_leaves_nothing_is_refused() {
        assert_eq!(
            error(&["name:sales*"], &["config/sales.yaml"]),
            "`--target` and `--exclude` leave no chat in scope: every chat targeted is excluded"
        );
        assert!(resolve(&[], &["config", "old-1"]).is_err());
    }

    #[test]
    fn the_config_is_needed_for_names_and_paths_only() {
        let (_, state) = fixture();
        let texts = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(!needs_config(&texts(&["sales-west", "old-1"]), &state, &real));
        assert!(!needs_config(&texts(&["support-1"]), &state, &real), "no such path");
        assert!(needs_config(&texts(&["sales-west", "name:x"]), &state, &real));
        assert!(needs_config(&texts(&["config/"]), &state, &real));
    }

    #[test]
    fn without_the_config_an_unknown_text_is_taken_for_a_chat_id() {
        let (_, state) = fixture();
        let selection = select(&["new-1".to_owned()], &[], None, &state, &real).unwrap();
        assert_eq!(selection.targets[0].chats, ["new-1"]);
        assert!(select(&["name:*".to_owned()], &[], None, &state, &real).is_err());
    }
}
