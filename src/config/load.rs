//! Loading: files and directories -> parsed raw files -> one validated, canonical [`Desired`].
//!
//! Every problem is collected as a [`Problem`] naming a place by path (`chats.<entry 3>.members[2]`)
//! rather than by position; only when there is at least one problem are the files concerned
//! parsed a second time to turn those places into `line:column` (see [`super::locate`]). The
//! happy path pays for one `serde_yaml` parse per file and nothing more.

use std::collections::btree_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::locate::{Located, Locator, Part, Pos, Seg, Target};
use super::messages::{self, SyntaxPlace};
use super::nesting;
use super::raw::{MemberTexts, RawChat, RawFile, RawSettings};
use super::unknown;
use super::{ConfigError, ConfigErrors, Create, Desired, DesiredChat, Settings};
use crate::chat_id::{check_key, is_uuid};
use crate::handle::Handle;
use crate::members::Members;

/// Loads and validates the config named by `paths`: files, or directories meaning every
/// `*.yaml` / `*.yml` below them (recursively, hidden entries skipped, in sorted path order).
///
/// The caller passes `["roster.yaml"]` when the user named none. Every problem in every file
/// is reported at once; a file named twice is read once.
pub fn load(paths: &[PathBuf]) -> Result<Desired, ConfigErrors> {
    load_timed(paths, &mut LoadTimings::default())
}

/// How long each phase of a [`load`] took, for `--timings`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadTimings {
    /// Finding the files.
    pub read: Duration,
    /// Reading each file, hashing it for the digest and `serde_yaml` parsing it into the raw
    /// types, on every core.
    pub parse: Duration,
    /// Waiting, once parsed, for what records the members ([`load_sharing`]).
    pub wait: Duration,
    /// Resolving people, canonicalizing handles and checking the rules.
    pub check: Duration,
}

/// [`load`], recording how long each phase took in `timings`.
pub fn load_timed(paths: &[PathBuf], timings: &mut LoadTimings) -> Result<Desired, ConfigErrors> {
    load_sharing(paths, timings, || (), |(), _| None).0
}

/// [`load_timed`], with the member sets recorded elsewhere (a state being loaded meanwhile):
/// once the files are parsed, `between` gives what records them, and `recorded` the members
/// it holds for a chat id. A chat whose members are those shares the recorded set instead of
/// holding a copy, which halves the memory a large plan needs. Returns what `between` gave.
pub fn load_sharing<T>(
    paths: &[PathBuf],
    timings: &mut LoadTimings,
    between: impl FnOnce() -> T,
    recorded: impl Fn(&T, &str) -> Option<Members>,
) -> (Result<Desired, ConfigErrors>, T) {
    let started = Instant::now();
    let mut problems = Problems::default();
    let sources = collect(paths, &mut problems);
    timings.read += started.elapsed();
    let mut gave = None;
    let between = || &*gave.insert(between());
    let desired = load_sources(sources, problems, |_, path| fs::read(path), timings, between, recorded);
    (desired, gave.expect("`between` runs once the files are parsed"))
}

/// Loads config files given as their paths and contents, exactly as [`load`] loads the same
/// files from disk (the paths only name them in errors and the digest): for the fuzz targets.
pub fn load_from_memory(files: &[(PathBuf, Vec<u8>)]) -> Result<Desired, ConfigErrors> {
    let sources = files.iter().map(|(path, _)| path.clone()).collect();
    let contents = |file: usize, _: &Path| Ok(files[file].1.clone());
    load_sources(
        sources,
        Problems::default(),
        contents,
        &mut LoadTimings::default(),
        || &(),
        |(), _| None,
    )
}

/// Reads, parses and checks `sources`, whose bytes `contents` gives (by index and path).
///
/// Between parsing and checking, `between` gives what [`load_sharing`] describes.
fn load_sources<'t, T: 't>(
    sources: Vec<PathBuf>,
    mut problems: Problems,
    contents: impl Fn(usize, &Path) -> io::Result<Vec<u8>> + Sync,
    timings: &mut LoadTimings,
    between: impl FnOnce() -> &'t T,
    recorded: impl Fn(&T, &str) -> Option<Members>,
) -> Result<Desired, ConfigErrors> {
    let mut clock = Instant::now();
    let mut lap = |phase: &mut Duration| {
        let now = Instant::now();
        *phase += now - clock;
        clock = now;
    };
    let skip: Vec<bool> = (0..sources.len()).map(|file| problems.file_failed(file)).collect();
    let read_one = |file: usize| match skip[file] {
        true => Read::Skipped,
        false => read(&sources[file], contents(file, &sources[file])),
    };
    let mut hasher = Sha256::new();
    let mut texts = vec![String::new(); sources.len()];
    let mut parsed = Vec::with_capacity(sources.len());
    let mut members = Vec::with_capacity(sources.len());
    for (file, outcome) in parse_all(sources.len(), read_one).into_iter().enumerate() {
        if let Some(hash) = outcome.hash {
            hasher.update(hash);
        }
        match outcome.result {
            Parse::Skipped => {}
            Parse::Unreadable(message) => problems.file(file, message),
            Parse::Done(done) => {
                parsed.push((file, done.raw));
                members.push(done.members);
            }
            Parse::Failed(Unparsed::Yaml(error), text) => {
                let reworded = messages::syntax_error(&error, &text);
                // serde stops at the first unknown key: find the others too.
                let others = match reworded.message.starts_with("unknown key `") {
                    true => unknown::unknown_keys(&text),
                    false => Vec::new(),
                };
                if others.is_empty() {
                    problems.syntax(file, reworded);
                }
                for found in others {
                    problems.text(file, Unlocated::Path(found.path, Part::Key), found.message);
                }
                texts[file] = text;
            }
            Parse::Failed(Unparsed::TooDeep(deep), text) => {
                problems.syntax(
                    file,
                    messages::SyntaxError {
                        place: SyntaxPlace::At(Some(deep.at)),
                        message: deep.message,
                        first: None,
                    },
                );
                texts[file] = text;
            }
        }
    }
    lap(&mut timings.parse);

    let records = between();
    lap(&mut timings.wait);
    let desired = check(parsed, members, &|id| recorded(records, id), &mut problems);
    lap(&mut timings.check);
    if !problems.list.is_empty() {
        // The files that parsed gave up their texts: read again to show where the problems are.
        for (file, text) in texts.iter_mut().enumerate() {
            if text.is_empty() && !problems.file_failed(file) {
                let bytes = contents(file, &sources[file]).unwrap_or_default();
                *text = String::from_utf8(bytes).unwrap_or_default();
            }
        }
        return Err(problems.render(&sources, &texts));
    }
    Ok(Desired {
        settings: desired.settings,
        chats: desired.chats,
        names: desired.names,
        digest: hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect(),
        files: sources,
    })
}

/// A file that parsed: its chats' member lists are taken out of `raw` (in the order of its
/// chats), each held compactly ([`MemberTexts`]): they are most of a large config.
struct Parsed {
    raw: RawFile,
    members: Vec<MemberTexts>,
}

/// Why a file's text did not parse.
enum Unparsed {
    Yaml(serde_yaml::Error),
    /// Refused before parsing: it nests too deep to parse in reasonable time.
    TooDeep(nesting::TooDeep),
}

/// One file read: its text, or why there is nothing to parse.
enum Read {
    /// A problem about the whole file was found before (it could not be listed).
    Skipped,
    /// The file as a whole is the problem (unreadable, not UTF-8, empty); its hash when read.
    Unreadable(String, Option<[u8; 32]>),
    Text(String, [u8; 32]),
}

/// One file read and parsed, with its hash for the config's digest when it was read.
struct Outcome {
    hash: Option<[u8; 32]>,
    result: Parse,
}

enum Parse {
    Skipped,
    Unreadable(String),
    Done(Parsed),
    /// It did not parse: the text stays, to say where.
    Failed(Unparsed, String),
}

/// Reads and parses each of `count` files (`read_one` reads one by its index).
///
/// Reading and parsing are most of a large config's load time and files parse independently,
/// so they are shared out over as many threads as there are cores (and files); results keep
/// file order. A file is read only when a thread takes it, and a file that parsed gives its
/// text up at once: the texts of a large config are a fifth of its size in memory, needed again
/// only to show a problem, and then read again ([`load_sources`]).
fn parse_all(count: usize, read_one: impl Fn(usize) -> Read + Sync) -> Vec<Outcome> {
    let parse = |file: usize| {
        let (text, hash) = match read_one(file) {
            Read::Skipped => {
                return Outcome {
                    hash: None,
                    result: Parse::Skipped,
                }
            }
            Read::Unreadable(message, hash) => {
                return Outcome {
                    hash,
                    result: Parse::Unreadable(message),
                }
            }
            Read::Text(text, hash) => (text, hash),
        };
        let parsed = nesting::check(&text)
            .map_err(Unparsed::TooDeep)
            .and_then(|()| serde_yaml::from_str::<RawFile>(&text).map_err(Unparsed::Yaml));
        let result = match parsed {
            Ok(mut raw) => {
                drop(text);
                let chats = raw.chats.iter_mut().flat_map(|entries| entries.0.iter_mut());
                let members = chats.map(|(_, chat)| std::mem::take(&mut chat.members));
                Parse::Done(Parsed {
                    members: members.collect(),
                    raw,
                })
            }
            Err(error) => Parse::Failed(error, text),
        };
        Outcome {
            hash: Some(hash),
            result,
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(count);
    if threads <= 1 {
        return (0..count).map(parse).collect();
    }
    // Files differ in size: each thread takes the next file not yet taken.
    let next = Mutex::new(0..count);
    let mut results: Vec<Option<Outcome>> = (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let taken = next.lock().unwrap_or_else(PoisonError::into_inner).next();
                        let Some(file) = taken else { break };
                        done.push((file, parse(file)));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            let done = worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (file, result) in done {
                results[file] = Some(result);
            }
        }
    });
    results
        .into_iter()
        .map(|result| result.expect("every file was taken by a thread"))
        .collect()
}

/// Expands `paths` into the files to read, in load order, each once.
fn collect(paths: &[PathBuf], problems: &mut Problems) -> Vec<PathBuf> {
    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |path: PathBuf, sources: &mut Vec<PathBuf>| {
        let identity = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.insert(identity) {
            sources.push(path);
        }
    };
    for path in paths {
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                if let Err(error) = walk(path, &mut found) {
                    sources.push(path.clone());
                    problems.file(
                        sources.len() - 1,
                        format!("cannot read this directory: {}", io_words(&error)),
                    );
                    continue;
                }
                if found.is_empty() {
                    sources.push(path.clone());
                    problems.file(
                        sources.len() - 1,
                        "no YAML files (`*.yaml`, `*.yml`) in this directory".to_owned(),
                    );
                }
                found.sort();
                for file in found {
                    add(file, &mut sources);
                }
            }
            Ok(_) => add(path.clone(), &mut sources),
            Err(error) => {
                sources.push(path.clone());
                problems.file(sources.len() - 1, io_words(&error));
            }
        }
    }
    sources
}

/// Collects the YAML files below `dir`; hidden entries (`.git`, `.github`) are skipped, and so
/// are symbolic links to directories, which could loop.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, found)?;
        } else if (kind.is_file() || (kind.is_symlink() && path.is_file()))
            && path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Takes one file's bytes as UTF-8 text, with its hash for the config's digest (of its path and
/// its bytes); or the problem that leaves nothing to parse.
fn read(path: &Path, contents: io::Result<Vec<u8>>) -> Read {
    let bytes = match contents {
        Ok(bytes) => bytes,
        Err(error) => return Read::Unreadable(io_words(&error), None),
    };
    let name = path.to_string_lossy();
    let mut hasher = Sha256::new();
    hasher.update((name.len() as u64).to_le_bytes());
    hasher.update(name.as_bytes());
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes);
    let hash = hasher.finalize().into();
    let Ok(text) = String::from_utf8(bytes) else {
        return Read::Unreadable("not a UTF-8 text file".to_owned(), Some(hash));
    };
    let mut content = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    if content.next().is_none() {
        let what = if text.trim().is_empty() {
            "file is empty"
        } else {
            "file is empty: it holds only comments"
        };
        return Read::Unreadable(what.to_owned(), Some(hash));
    }
    Read::Text(text, hash)
}

/// An I/O error as a plain phrase, without the "(os error 2)" tail.
fn io_words(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let text = error.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            let mut chars = text.chars();
            chars
                .next()
                .map(|c| c.to_lowercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

/// The parts of [`Desired`] that come from checking the parsed files.
struct Checked {
    settings: Settings,
    chats: BTreeMap<String, DesiredChat>,
    names: BTreeMap<Handle, String>,
}

/// A person from `people`: where they are defined, and their handle unless it is invalid.
struct Person {
    handle: Option<Handle>,
    file: usize,
    entry: usize,
}

/// The people of every file, by name, to resolve member and protected entries.
struct People<'a> {
    /// Sorted, for suggestions and for [`Desired::names`].
    by_name: BTreeMap<&'a str, Person>,
    /// The same handles by hash, for the lookup made for every member of every chat.
    lookup: HashMap<&'a str, Option<Handle>>,
}

/// Why a member or protected entry did not resolve to a handle.
enum Unresolved {
    /// Its problem is reported elsewhere (the person's own handle is invalid).
    Reported,
    /// A sentence to report at the entry.
    Problem(String),
}

impl People<'_> {
    /// The canonical handle an entry means: a literal handle, or a person's.
    fn resolve(&self, entry: &str) -> Result<Handle, Unresolved> {
        if Handle::looks_like_handle(entry) {
            return Handle::parse_written(entry).map_err(|error| Unresolved::Problem(error.to_string()));
        }
        match self.lookup.get(entry) {
            Some(Some(handle)) => Ok(handle.clone()),
            Some(None) => Err(Unresolved::Reported),
            None => Err(Unresolved::Problem(
                match messages::suggest(entry, self.by_name.keys().copied()) {
                    Some(best) => format!("unknown person `{entry}`; did you mean `{best}`?"),
                    None => format!(
                        "unknown person `{entry}`: not a name in `people`, nor a handle (a phone number starting \
                     with `+`, or an email address)"
                    ),
                },
            )),
        }
    }
}

fn people_path(entry: usize) -> Vec<Seg> {
    vec![Seg::key("people"), Seg::Entry(entry)]
}

fn chat_path(entry: usize) -> Vec<Seg> {
    vec![Seg::key("chats"), Seg::Entry(entry)]
}

/// The path of a node below the one at `path`.
fn below(mut path: Vec<Seg>, more: &[Seg]) -> Vec<Seg> {
    path.extend_from_slice(more);
    path
}

/// Checks the parsed files together and builds the desired state (meaningful only when no
/// problem was recorded).
///
/// `members` holds each parsed file's member lists, taken out at parse: each chat's list is freed
/// as soon as it is resolved, rather than every list living beside the resolved config.
/// A chat's members recorded elsewhere, by its Linq chat id (see [`load_sharing`]).
type Recorded<'a> = &'a dyn Fn(&str) -> Option<Members>;

fn check(
    mut parsed: Vec<(usize, RawFile)>,
    members: Vec<Vec<MemberTexts>>,
    recorded: Recorded<'_>,
    problems: &mut Problems,
) -> Checked {
    // The chats are most of a large config: each file's are taken out, to be checked and freed
    // one file at a time while the people and settings stay.
    let raw_chats: Vec<_> = (parsed.iter_mut())
        .map(|(file, raw)| (*file, raw.chats.take()))
        .collect();
    let people = check_people(&parsed, problems);
    let (settings, settings_ok) = check_settings(&parsed, &people, problems);

    let mut chats: BTreeMap<String, DesiredChat> = BTreeMap::new();
    for ((file, entries), members) in raw_chats.into_iter().zip(members) {
        let Some(entries) = entries else { continue };
        for (entry, ((id, chat), chat_members)) in entries.0.into_iter().zip(members).enumerate() {
            let key = Unlocated::Path(chat_path(entry), Part::Key);
            let first = chats.get(&id).map(|first| (first.file, first.entry));
            if let Some((first_file, first_entry)) = first {
                let first = Unlocated::Path(chat_path(first_entry), Part::Key);
                let text = if first_file == file {
                    format!("duplicate key `{id}` in `chats`; first defined at ")
                } else {
                    format!("chat `{id}` is defined again; first defined at ")
                };
                problems.push(
                    file,
                    key.clone(),
                    vec![MessagePart::Text(text), MessagePart::Ref(first_file, first)],
                );
            }
            if let Err(error) = check_key(&id) {
                problems.text(file, key, error.to_string());
            }
            let desired = check_chat(
                file,
                entry,
                &id,
                (&chat, &chat_members),
                recorded,
                &people,
                &settings,
                settings_ok,
                problems,
            );
            if first.is_none() {
                chats.insert(id, desired);
            }
        }
    }

    check_bindings(&chats, problems);
    let mut names = BTreeMap::new();
    for (name, person) in &people.by_name {
        if let Some(handle) = &person.handle {
            // Names are visited in sorted order, so the first name of a handle wins.
            names.entry(handle.clone()).or_insert_with(|| (*name).to_owned());
        }
    }
    Checked { settings, chats, names }
}

/// Gathers `people` from every file, checking names, handles and definitions made twice.
fn check_people<'a>(parsed: &'a [(usize, RawFile)], problems: &mut Problems) -> People<'a> {
    let mut by_name: BTreeMap<&str, Person> = BTreeMap::new();
    for (file, raw) in parsed {
        let Some(entries) = &raw.people else { continue };
        for (entry, (name, value)) in entries.0.iter().enumerate() {
            if Handle::looks_like_handle(name) || name.trim().is_empty() {
                problems.text(
                    *file,
                    Unlocated::Path(people_path(entry), Part::Key),
                    format!("`{name}` cannot be a person's name: a name is neither empty nor a handle (no leading `+`, no `@`)"),
                );
            }
            let handle = match Handle::parse_written(value) {
                Ok(handle) => Some(handle),
                Err(error) => {
                    problems.text(
                        *file,
                        Unlocated::Path(people_path(entry), Part::Value),
                        format!("person `{name}`: {error}"),
                    );
                    None
                }
            };
            match by_name.entry(name) {
                MapEntry::Vacant(vacant) => {
                    vacant.insert(Person {
                        handle,
                        file: *file,
                        entry,
                    });
                }
                MapEntry::Occupied(first) => {
                    let first = first.get();
                    let text = if first.file == *file {
                        format!("duplicate key `{name}` in `people`; first defined at ")
                    } else if handle.is_some() && first.handle.is_some() && handle != first.handle {
                        format!("person `{name}` is defined again with another handle; first defined at ")
                    } else {
                        continue;
                    };
                    let first_place = Unlocated::Path(people_path(first.entry), Part::Key);
                    problems.push(
                        *file,
                        Unlocated::Path(people_path(entry), Part::Key),
                        vec![MessagePart::Text(text), MessagePart::Ref(first.file, first_place)],
                    );
                }
            }
        }
    }
    let lookup = by_name
        .iter()
        .map(|(name, person)| (*name, person.handle.clone()))
        .collect();
    People { by_name, lookup }
}

/// Finds the one `settings` block, checks its values and resolves `protected`; the flag says
/// whether the limits are sound enough to check member counts against.
fn check_settings(parsed: &[(usize, RawFile)], people: &People<'_>, problems: &mut Problems) -> (Settings, bool) {
    let mut holder: Option<(usize, &RawSettings)> = None;
    for (file, raw) in parsed {
        let Some(settings) = &raw.settings else {
            continue;
        };
        match holder {
            None => holder = Some((*file, settings)),
            Some((first, _)) => problems.push(
                *file,
                Unlocated::Path(vec![Seg::key("settings")], Part::Key),
                vec![
                    MessagePart::Text(
                        "`settings` is defined again (one file at most may hold them); first defined at ".to_owned(),
                    ),
                    MessagePart::Ref(first, Unlocated::Path(vec![Seg::key("settings")], Part::Key)),
                ],
            ),
        }
    }
    let mut settings = Settings::default();
    let Some((file, raw)) = holder else {
        return (settings, true);
    };
    let before = problems.list.len();
    let at = |key: &'static str| Unlocated::Path(vec![Seg::key("settings"), Seg::key(key)], Part::Value);

    settings.min_members = raw.min_members.unwrap_or(settings.min_members);
    settings.max_members = raw.max_members.unwrap_or(settings.max_members);
    settings.readd_left = raw.readd_left;
    settings.manage_names = raw.manage_names.unwrap_or(settings.manage_names);
    settings.max_creates = raw.max_creates.unwrap_or(settings.max_creates);
    settings.max_removals = raw.max_removals;
    let (min, max) = (settings.min_members, settings.max_members);
    if min < 2 {
        problems.text(
            file,
            at("min_members"),
            format!(
                "`min_members` is `{min}`, but must be at least 2 (Linq needs 3 participants, your own line included)"
            ),
        );
    } else if max < min {
        match raw.max_members {
            Some(_) => problems.text(
                file,
                at("max_members"),
                format!("`max_members` (`{max}`) is below `min_members` (`{min}`)"),
            ),
            None => problems.text(
                file,
                at("min_members"),
                format!("`min_members` (`{min}`) is above the default `max_members` (`{max}`)"),
            ),
        }
    }
    if let Some(ratio) = raw.max_removal_ratio {
        if !(0.0..=1.0).contains(&ratio) {
            problems.text(
                file,
                at("max_removal_ratio"),
                format!("`max_removal_ratio` is `{ratio}`, but must be between 0 and 1"),
            );
        }
        settings.max_removal_ratio = ratio;
    }
    let limits_ok = problems.list.len() == before;
    let base = vec![Seg::key("settings"), Seg::key("protected")];
    settings.protected = resolve_protected(file, &base, &raw.protected, people, problems);
    (settings, limits_ok)
}

/// Resolves `protected` entries to handles, reporting those that are not declared.
fn resolve_protected(
    file: usize,
    base: &[Seg],
    entries: &[String],
    people: &People<'_>,
    problems: &mut Problems,
) -> Members {
    let mut handles = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match people.resolve(entry) {
            Ok(handle) => handles.push(handle),
            Err(Unresolved::Reported) => {}
            Err(Unresolved::Problem(text)) => {
                let place = Unlocated::Path(below(base.to_vec(), &[Seg::Index(index)]), Part::Value);
                problems.text(file, place, format!("in `protected`: {text}"));
            }
        }
    }
    Members::from_vec(handles)
}

/// Checks one chat and resolves it; the result is meaningful only without problems.
#[allow(clippy::too_many_arguments)] // the context of one chat, passed once
fn check_chat(
    file: usize,
    entry: usize,
    id: &str,
    (chat, texts): (&RawChat, &MemberTexts),
    recorded: Recorded<'_>,
    people: &People<'_>,
    settings: &Settings,
    settings_ok: bool,
    problems: &mut Problems,
) -> DesiredChat {
    let at = ChatAt { file, entry, id };
    let cap = chat.max_members.unwrap_or(settings.max_members);
    let cap_ok = !settings_ok || at.check_own_cap(chat.max_members, settings, problems);

    let mut protected = settings.protected.clone();
    if !chat.protected.is_empty() {
        let base = below(chat_path(entry), &[Seg::key("protected")]);
        protected.extend(resolve_protected(file, &base, &chat.protected, people, problems));
    }

    let same = chat.id.as_deref().or(is_uuid(id).then_some(id)).and_then(recorded);
    let (members, members_ok) = at.resolve_members(texts, same.as_ref(), people, problems);
    if settings_ok && cap_ok && members_ok {
        at.check_count(members.len(), cap, chat.max_members.is_some(), settings, problems);
    }

    DesiredChat {
        name: chat.name.clone(),
        service: chat.service,
        max_members: cap,
        protected,
        members,
        max_removals: chat.max_removals,
        file,
        entry,
        icon: at.check_icon(chat.icon.as_deref(), problems),
        id: at.check_id(chat.id.as_deref(), problems),
        previously: at.check_previously(&chat.previously, problems),
        create: at.check_create(chat, problems),
    }
}

/// Across chats: one Linq chat bound to one key at most (`id:` or a UUID key), and
/// `previously` naming only keys that are gone, each claimed by one chat.
fn check_bindings(chats: &BTreeMap<String, DesiredChat>, problems: &mut Problems) {
    let mut bound: HashMap<&str, &str> = HashMap::new();
    let mut claimed: HashMap<&str, &str> = HashMap::new();
    let place = |chat: &DesiredChat, field: &'static str, index: Option<usize>| {
        let mut path = chat_path(chat.entry);
        match (field, index) {
            ("", _) => {}
            (field, None) => path.push(Seg::key(field)),
            (field, Some(index)) => path.extend([Seg::key(field), Seg::Index(index)]),
        }
        let part = if field.is_empty() { Part::Key } else { Part::Value };
        Unlocated::Path(path, part)
    };
    // UUID keys first, so that an `id:` naming the chat of a UUID key is the one reported.
    let mut order: Vec<(&String, &DesiredChat)> = chats.iter().collect();
    order.sort_by_key(|(key, chat)| (chat.id.is_some(), chat.file, chat.entry, key.as_str()));
    for (key, chat) in order {
        let Some(id) = chat.named_id(key) else { continue };
        if let Some(first) = bound.insert(id, key) {
            let field = if chat.id.is_some() { "id" } else { "" };
            let earlier = &chats[first];
            problems.push(
                chat.file,
                place(chat, field, None),
                vec![
                    MessagePart::Text(format!(
                        "chats `{first}` and `{key}` are bound to one Linq chat (`{id}`); a chat has one key: remove one, or rename with `previously`; the other at "
                    )),
                    MessagePart::Ref(earlier.file, place(earlier, if earlier.id.is_some() { "id" } else { "" }, None)),
                ],
            );
        }
    }
    for (key, chat) in chats {
        for (index, old) in chat.previously.iter().enumerate() {
            if chats.contains_key(old) {
                problems.text(
                    chat.file,
                    place(chat, "previously", Some(index)),
                    format!("`previously` of chat `{key}` names `{old}`, a key that still exists; remove `{old}` from `chats` to rename it, or drop it from `previously`"),
                );
            } else if let Some(first) = claimed.insert(old, key) {
                problems.text(
                    chat.file,
                    place(chat, "previously", Some(index)),
                    format!("chats `{first}` and `{key}` both name `{old}` in `previously`; one chat at most takes over an old key"),
                );
            }
        }
    }
}

/// The chat [`check_chat`] checks: its file, its entry in the file's `chats`, and its id.
struct ChatAt<'a> {
    file: usize,
    entry: usize,
    id: &'a str,
}

impl ChatAt<'_> {
    /// The place of `path` below this chat's entry.
    fn place(&self, path: &[Seg], part: Part) -> Unlocated {
        Unlocated::Path(below(chat_path(self.entry), path), part)
    }

    /// A chat's own `max_members` may not be below `min_members`: false when it is (reported).
    fn check_own_cap(&self, own: Option<usize>, settings: &Settings, problems: &mut Problems) -> bool {
        let Some(own) = own.filter(|own| *own < settings.min_members) else {
            return true;
        };
        problems.text(
            self.file,
            self.place(&[Seg::key("max_members")], Part::Value),
            format!(
                "`max_members` (`{own}`) of chat `{}` is below `min_members` (`{}`)",
                self.id, settings.min_members
            ),
        );
        false
    }

    /// Resolves the chat's members; false when one could not be, or two entries are one handle
    /// (each reported).
    /// The chat's members, sharing `same` when they are that set.
    fn resolve_members(
        &self,
        texts: &MemberTexts,
        same: Option<&Members>,
        people: &People<'_>,
        problems: &mut Problems,
    ) -> (Members, bool) {
        let member_at = |index| self.place(&[Seg::key("members"), Seg::Index(index)], Part::Value);
        let mut ok = true;
        // Collecting into a vector and building the set from it in bulk (one sort) is much
        // cheaper than inserting one by one, and this loop runs for every member of every chat.
        let mut resolved = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            match people.resolve(text) {
                Ok(handle) => resolved.push(handle),
                Err(Unresolved::Reported) => ok = false,
                Err(Unresolved::Problem(message)) => {
                    ok = false;
                    problems.text(self.file, member_at(index), message);
                }
            }
        }
        let resolved_count = resolved.len();
        let members = Members::from_vec_or(resolved, same);
        if members.len() < resolved_count {
            ok = false;
            report_duplicate_members(self.file, texts, people, problems, &member_at);
        }
        (members, ok)
    }

    /// An icon is an `https` URL: Linq fetches it, and nothing else should be handed to it.
    fn check_icon(&self, icon: Option<&str>, problems: &mut Problems) -> Option<String> {
        let icon = icon?;
        let https = url::Url::parse(icon)
            .ok()
            .filter(|url| url.scheme() == "https" && url.host_str().is_some_and(|host| !host.is_empty()));
        if https.is_none() || icon.chars().any(|c| c.is_whitespace() || crate::escape::is_hidden(c)) {
            problems.text(
                self.file,
                self.place(&[Seg::key("icon")], Part::Value),
                format!(
                    "the icon of chat `{}` is `{}`, not an `https` URL; give one like `https://example.com/icon.png`",
                    self.id,
                    crate::escape::Escaped(icon)
                ),
            );
        }
        Some(icon.to_owned())
    }

    /// `id:` binds a key of the team's own to an existing chat: it is a UUID, and the key is not.
    fn check_id(&self, id: Option<&str>, problems: &mut Problems) -> Option<String> {
        let id = id?;
        let at = self.place(&[Seg::key("id")], Part::Value);
        if !is_uuid(id) {
            let message = format!(
                "`id` of chat `{}` is `{}`, not a Linq chat id (a UUID like `550e8400-e29b-41d4-a716-446655440000`); `roster import --all` lists them",
                self.id,
                crate::escape::Escaped(id)
            );
            problems.text(self.file, at, message);
        } else if is_uuid(self.id) {
            let message = format!(
                "chat `{}` has a Linq chat id as its key and an `id` too; a key of your own takes `id`, or drop `id`",
                self.id
            );
            problems.text(self.file, at, message);
        }
        Some(id.to_ascii_lowercase())
    }

    /// Each old key of `previously` is a key as `chats:` takes them.
    fn check_previously(&self, previously: &[String], problems: &mut Problems) -> Vec<String> {
        for (index, old) in previously.iter().enumerate() {
            if let Err(error) = check_key(old) {
                let place = self.place(&[Seg::key("previously"), Seg::Index(index)], Part::Value);
                problems.text(self.file, place, format!("in `previously`: {error}"));
            }
        }
        previously.to_vec()
    }

    /// `create`: an E.164 `from`, a message with text in it, and a chat that names no existing
    /// one (the members' count is checked against the floor, which is at least 2, as Linq needs
    /// for a group rather than a direct chat).
    fn check_create(&self, chat: &RawChat, problems: &mut Problems) -> Option<Create> {
        let create = chat.create.as_ref()?;
        let id = self.id;
        let at = |field: &'static str, part| self.place(&[Seg::key("create"), Seg::key(field)], part);
        let from = match Handle::parse(&create.from) {
            Ok(handle) if handle.kind() == crate::handle::HandleKind::Phone => Some(handle),
            Ok(_) | Err(_) => {
                let message = format!(
                    "`create.from` of chat `{id}` is `{}`, not a phone number in E.164 (like `+12052535597`): it is the line of yours that creates the chat",
                    crate::escape::Escaped(&create.from)
                );
                problems.text(self.file, at("from", Part::Value), message);
                None
            }
        };
        let message = match &create.message {
            None => {
                let message = format!(
                    "`create` of chat `{id}` has no `message`: Linq sends a first message to the members as it creates the chat; add `message: \"…\"`"
                );
                problems.text(self.file, self.place(&[Seg::key("create")], Part::Key), message);
                None
            }
            Some(text) if text.trim().is_empty() => {
                let message = format!(
                    "the `message` of chat `{id}`'s `create` is empty; write the first message its members will receive"
                );
                problems.text(self.file, at("message", Part::Value), message);
                None
            }
            Some(text) => Some(text.clone()),
        };
        if is_uuid(id) || chat.id.is_some() {
            let message = format!(
                "chat `{id}` names an existing Linq chat, so roster cannot create it; drop `create`, or give the new chat a key of your own"
            );
            problems.text(self.file, self.place(&[Seg::key("create")], Part::Key), message);
        }
        Some(Create {
            from: from?,
            message: message?,
        })
    }

    /// The member count must lie between `min_members` and the chat's cap.
    fn check_count(&self, count: usize, cap: usize, own_cap: bool, settings: &Settings, problems: &mut Problems) {
        let id = self.id;
        let noun = if count == 1 { "member" } else { "members" };
        let message = if count < settings.min_members {
            format!(
                "chat `{id}` has {count} {noun}, fewer than `min_members` ({})",
                settings.min_members
            )
        } else if count > cap {
            let whose = if own_cap {
                "its `max_members`"
            } else {
                "`settings.max_members`"
            };
            format!("chat `{id}` has {count} {noun}, more than {whose} ({cap})")
        } else {
            return;
        };
        problems.text(self.file, self.place(&[Seg::key("members")], Part::Key), message);
    }
}

/// Reports every member that repeats an earlier entry's handle, naming both entries.
fn report_duplicate_members(
    file: usize,
    texts: &MemberTexts,
    people: &People<'_>,
    problems: &mut Problems,
    member_at: &dyn Fn(usize) -> Unlocated,
) {
    let mut first_of: HashMap<Handle, usize> = HashMap::new();
    for (index, text) in texts.iter().enumerate() {
        let Ok(handle) = people.resolve(text) else { continue };
        let first = *first_of.entry(handle.clone()).or_insert(index);
        if first == index {
            continue;
        }
        let earlier = texts.get(first);
        let text = if earlier == text {
            format!("member `{text}` is listed twice; first at ")
        } else {
            format!("member `{text}` is the same handle (`{handle}`) as member `{earlier}` at ")
        };
        problems.push(
            file,
            member_at(index),
            vec![MessagePart::Text(text), MessagePart::Ref(file, member_at(first))],
        );
    }
}

/// Where a problem is, before positions are known: a place not yet located.
#[derive(Debug, Clone)]
enum Unlocated {
    /// The file as a whole.
    File,
    /// A node of the file, by path.
    Path(Vec<Seg>, Part),
    /// A place `serde_yaml` pointed at (possibly refined).
    Syntax(SyntaxPlace),
}

/// A part of a problem's message: text, or a reference to another place, shown as
/// `file:line:column` once located.
#[derive(Debug, Clone)]
enum MessagePart {
    Text(String),
    Ref(usize, Unlocated),
}

#[derive(Debug)]
struct Problem {
    file: usize,
    place: Unlocated,
    message: Vec<MessagePart>,
}

/// The problems of one load, collected until the end.
#[derive(Debug, Default)]
struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    fn push(&mut self, file: usize, place: Unlocated, message: Vec<MessagePart>) {
        self.list.push(Problem { file, place, message });
    }

    fn text(&mut self, file: usize, place: Unlocated, message: String) {
        self.push(file, place, vec![MessagePart::Text(message)]);
    }

    fn file(&mut self, file: usize, message: String) {
        self.text(file, Unlocated::File, message);
    }

    fn syntax(&mut self, file: usize, error: messages::SyntaxError) {
        let mut message = vec![MessagePart::Text(error.message)];
        if let Some(first) = error.first {
            message.push(MessagePart::Text("; first at ".to_owned()));
            message.push(MessagePart::Ref(file, Unlocated::Syntax(first)));
        }
        self.push(file, Unlocated::Syntax(error.place), message);
    }

    /// True when a problem about the file as a whole was already found (it could not be read).
    fn file_failed(&self, file: usize) -> bool {
        self.list
            .iter()
            .any(|p| p.file == file && matches!(p.place, Unlocated::File))
    }

    /// Turns places into positions (parsing again only the files that need it) and renders
    /// every problem, sorted by file and position.
    fn render(self, sources: &[PathBuf], texts: &[String]) -> ConfigErrors {
        let mut locators: BTreeMap<usize, Locator> = BTreeMap::new();
        let mut locate = |file: usize, place: &Unlocated| -> Lookup {
            let target = match place {
                Unlocated::File => return Lookup::Known(None),
                Unlocated::Syntax(SyntaxPlace::At(position)) => return Lookup::Known(*position),
                Unlocated::Path(path, part) => locator(&mut locators, file).path(path, *part),
                Unlocated::Syntax(SyntaxPlace::KeyIn {
                    mapping_at,
                    key,
                    nth,
                    part,
                }) => locator(&mut locators, file).key_in(*mapping_at, key, *nth, *part),
                Unlocated::Syntax(SyntaxPlace::FirstAlias) => locator(&mut locators, file).first_alias(),
                Unlocated::Syntax(SyntaxPlace::SecondDocument) => locator(&mut locators, file).second_document(),
            };
            Lookup::Deferred(file, target)
        };
        let locating: Vec<Locating<'_>> = self
            .list
            .iter()
            .map(|problem| Locating {
                file: problem.file,
                at: locate(problem.file, &problem.place),
                parts: problem
                    .message
                    .iter()
                    .map(|part| match part {
                        MessagePart::Text(text) => LocatingPart::Text(text),
                        MessagePart::Ref(file, place) => LocatingPart::Ref(*file, locate(*file, place)),
                    })
                    .collect(),
            })
            .collect();
        let located: BTreeMap<usize, Located> = locators
            .into_iter()
            .map(|(file, locator)| (file, locator.resolve(&texts[file])))
            .collect();
        let position = |at: &Lookup| match *at {
            Lookup::Known(position) => position,
            Lookup::Deferred(file, target) => located[&file].get(target),
        };

        let mut errors: Vec<ConfigError> = locating
            .iter()
            .map(|problem| {
                let mut message = String::new();
                for part in &problem.parts {
                    match part {
                        LocatingPart::Text(text) => message.push_str(text),
                        LocatingPart::Ref(other, at) => {
                            message.push_str(&sources[*other].display().to_string());
                            if let Some((line, column)) = position(at) {
                                message.push_str(&format!(":{line}:{column}"));
                            }
                        }
                    }
                }
                ConfigError {
                    file: sources[problem.file].clone(),
                    position: position(&problem.at),
                    message,
                }
            })
            .collect();
        errors.sort_by(|a, b| (&a.file, a.position, &a.message).cmp(&(&b.file, b.position, &b.message)));
        errors.dedup();
        ConfigErrors(errors)
    }
}

fn locator(locators: &mut BTreeMap<usize, Locator>, file: usize) -> &mut Locator {
    locators.entry(file).or_insert_with(Locator::new)
}

/// A problem whose places have been handed to the locators.
struct Locating<'p> {
    file: usize,
    at: Lookup,
    parts: Vec<LocatingPart<'p>>,
}

/// A [`MessagePart`] whose place has been handed to the locators.
enum LocatingPart<'p> {
    Text(&'p str),
    Ref(usize, Lookup),
}

/// A problem's position: known already, or to be read once the locators have run.
#[derive(Debug, Clone, Copy)]
enum Lookup {
    Known(Option<Pos>),
    Deferred(usize, Target),
}

/// A problem of one chat that only the state shows (a key that names no chat, two keys for one
/// chat): what [`Desired::locate`] turns into a [`ConfigError`] at the chat's key or field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatProblem {
    /// The chat's key in the config.
    pub key: String,
    /// The field of the chat the problem is at (`id`, `create`); `None`: its key.
    pub field: Option<&'static str>,
    /// A plain sentence, values in backticks, with its way out.
    pub message: String,
}

impl Desired {
    /// `problems` as config errors with `file:line:column`: the files concerned are read again
    /// to find the places (only on this error path, as for every config error).
    pub fn locate(&self, problems: Vec<ChatProblem>) -> ConfigErrors {
        let mut found = Problems::default();
        let mut texts = vec![String::new(); self.files.len()];
        for problem in problems {
            let Some(chat) = self.chats.get(&problem.key) else {
                continue;
            };
            if texts[chat.file].is_empty() {
                texts[chat.file] = fs::read_to_string(&self.files[chat.file]).unwrap_or_default();
            }
            let place = match problem.field {
                None => Unlocated::Path(chat_path(chat.entry), Part::Key),
                Some(field) => Unlocated::Path(below(chat_path(chat.entry), &[Seg::Key(field.into())]), Part::Key),
            };
            found.text(chat.file, place, problem.message);
        }
        found.render(&self.files, &texts)
    }
}
