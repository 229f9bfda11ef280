//! Plain sentences for config errors: `serde_yaml`'s errors reworded for people who write
//! YAML rather than Rust, and "did you mean" suggestions for misspelt keys and names.

use super::locate::Part;
use crate::escape::code_list;

/// Where a `serde_yaml` error points, refined on the error path by [`super::locate`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SyntaxPlace {
    /// The position `serde_yaml` reported, or none.
    At(Option<(usize, usize)>),
    /// The `nth` key `key` of the mapping that starts at `mapping_at` (serde reports duplicate
    /// fields and a bad `version` at the start of their mapping, not at the key).
    KeyIn {
        mapping_at: (usize, usize),
        key: String,
        nth: usize,
        part: Part,
    },
    /// The first alias of the file (an alias bomb has no position of its own).
    FirstAlias,
    /// The start of the file's second YAML document.
    SecondDocument,
}

/// A reworded `serde_yaml` error: where it is, what it says, and optionally a second place
/// the message names ("first defined at ...").
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub place: SyntaxPlace,
    pub message: String,
    pub first: Option<SyntaxPlace>,
}

/// The phrases serde puts after the `path: ` prefix of a data error (as opposed to a YAML
/// syntax error from the parser, which has no path).
const DATA_PHRASES: &[&str] = &[
    "invalid type: ",
    "invalid value: ",
    "invalid length ",
    "unknown field `",
    "missing field `",
    "duplicate field `",
    "unknown variant `",
    "unsupported `version`",
];

/// Rewords one `serde_yaml` error for the file `text` it came from.
pub(crate) fn syntax_error(error: &serde_yaml::Error, text: &str) -> SyntaxError {
    let location = error.location().map(|l| (l.line(), l.column()));
    let mut full = error.to_string();
    if let Some((line, column)) = location {
        let suffix = format!(" at line {line} column {column}");
        if let Some(at) = full.find(&suffix) {
            full.replace_range(at..at + suffix.len(), "");
        }
    }
    match split_path(&full) {
        Some((path, rest)) => data_error(path, rest, location),
        None => yaml_error(&full, location, text),
    }
}

/// An error at `location` that says nothing more about where.
fn plain(location: Option<(usize, usize)>, message: String) -> SyntaxError {
    SyntaxError {
        place: SyntaxPlace::At(location),
        message,
        first: None,
    }
}

/// An error of the YAML itself, before any field was read: syntax, nesting, aliases, documents.
fn yaml_error(full: &str, location: Option<(usize, usize)>, text: &str) -> SyntaxError {
    match full {
        "recursion limit exceeded" => plain(location, "the document is nested too deeply".to_owned()),
        "repetition limit exceeded" => SyntaxError {
            place: SyntaxPlace::FirstAlias,
            message: "aliases expand to too much data (a \"billion laughs\" alias bomb?)".to_owned(),
            first: None,
        },
        "deserializing from YAML containing more than one document is not supported" => SyntaxError {
            place: SyntaxPlace::SecondDocument,
            message: "a config file holds one YAML document, but this one has more (`---`)".to_owned(),
            first: None,
        },
        "unknown anchor" => plain(
            location,
            "YAML syntax error: this alias (`*name`) refers to no anchor (`&name`)".to_owned(),
        ),
        _ => {
            let tab = full.contains("tab") || location.and_then(|pos| char_at(text, pos)) == Some('\t');
            let hint = if tab { "; indent with spaces, not tabs" } else { "" };
            plain(location, format!("YAML syntax error: {full}{hint}"))
        }
    }
}

/// An error of the data at `path` (the document's top when `None`): `rest` is serde's words.
fn data_error(path: Option<&str>, rest: &str, location: Option<(usize, usize)>) -> SyntaxError {
    if let Some(rest) = rest.strip_prefix("unknown field `") {
        return plain(location, unknown_key(rest, path));
    }
    if let Some(rest) = rest.strip_prefix("missing field `") {
        return plain(location, missing_key(rest, path));
    }
    if let Some(rest) = rest.strip_prefix("duplicate field `") {
        return duplicate_key(rest.trim_end_matches('`'), path, location);
    }
    if let Some(rest) = rest.strip_prefix("unknown variant `") {
        return plain(location, unknown_value(rest, path));
    }
    if rest.starts_with("unsupported `version`") {
        return unsupported_version(rest, location);
    }
    if let Some(message) = wrong_type(rest, path) {
        return plain(location, message);
    }
    plain(
        location,
        match path {
            Some(path) => format!("`{path}`: {rest}"),
            None => rest.to_owned(),
        },
    )
}

/// ` in `path``, naming where a key is; nothing at the document's top.
fn inside(path: Option<&str>) -> String {
    path.map(|p| format!(" in `{p}`")).unwrap_or_default()
}

/// ` for `path``, naming whose value it is; nothing at the document's top.
fn of(path: Option<&str>) -> String {
    path.map(|p| format!(" for `{p}`")).unwrap_or_default()
}

/// `unknown field `key`, expected ...`: a typo, with the closest key suggested.
fn unknown_key(rest: &str, path: Option<&str>) -> String {
    let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
    unknown_key_among(key, &backticked(expected), path)
}

/// `unknown key `key` in `path``, with the closest of `candidates` suggested.
pub(crate) fn unknown_key_among(key: &str, candidates: &[&str], path: Option<&str>) -> String {
    let advice = match suggest(key, candidates.iter().copied()) {
        Some(best) => format!("; did you mean `{best}`?"),
        None if candidates.is_empty() => String::new(),
        None => format!("; expected one of {}", list(candidates)),
    };
    format!("unknown key `{key}`{}{advice}", inside(path))
}

fn missing_key(rest: &str, path: Option<&str>) -> String {
    let key = rest.trim_end_matches('`');
    let advice = if key == "version" && path.is_none() {
        "; a config file starts with `version: 1`"
    } else {
        ""
    };
    format!("missing key `{key}`{}{advice}", inside(path))
}

/// serde reports a duplicate key at the start of its mapping: the second and the first
/// occurrence are found there on the error path.
fn duplicate_key(key: &str, path: Option<&str>, location: Option<(usize, usize)>) -> SyntaxError {
    let Some(mapping_at) = location else {
        return plain(location, format!("duplicate key `{key}`{}", inside(path)));
    };
    let key_in = |nth| SyntaxPlace::KeyIn {
        mapping_at,
        key: key.to_owned(),
        nth,
        part: Part::Key,
    };
    SyntaxError {
        place: key_in(1),
        message: format!("duplicate key `{key}`{}", inside(path)),
        first: Some(key_in(0)),
    }
}

fn unknown_value(rest: &str, path: Option<&str>) -> String {
    let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
    let candidates = backticked(expected);
    let advice = match suggest(value, candidates.iter().copied()) {
        Some(best) => format!("; did you mean `{best}`?"),
        None => format!("; expected one of {}", list(&candidates)),
    };
    format!("unknown value `{value}`{}{advice}", of(path))
}

/// serde reports a bad `version` at the start of the document: the value is found there.
fn unsupported_version(rest: &str, location: Option<(usize, usize)>) -> SyntaxError {
    SyntaxError {
        place: match location {
            Some(mapping_at) => SyntaxPlace::KeyIn {
                mapping_at,
                key: "version".to_owned(),
                nth: 0,
                part: Part::Value,
            },
            None => SyntaxPlace::At(location),
        },
        message: rest.to_owned(),
        first: None,
    }
}

/// `invalid type: X, expected Y` (or value) in the words of a YAML file.
fn wrong_type(rest: &str, path: Option<&str>) -> Option<String> {
    for (prefix, what) in [("invalid type: ", "wrong type"), ("invalid value: ", "invalid value")] {
        if let Some((found, expected)) = rest.strip_prefix(prefix).and_then(|r| r.rsplit_once(", expected ")) {
            return Some(format!(
                "{what}{}: expected {}, found {}",
                of(path),
                expected_words(expected),
                found_words(found)
            ));
        }
    }
    None
}

/// Splits `path: message` when the message is a data error; `None` for a YAML syntax error.
fn split_path(full: &str) -> Option<(Option<&str>, &str)> {
    if DATA_PHRASES.iter().any(|phrase| full.starts_with(phrase)) {
        return Some((None, full));
    }
    DATA_PHRASES
        .iter()
        .filter_map(|phrase| full.find(&format!(": {phrase}")))
        .min()
        .map(|at| (Some(&full[..at]), &full[at + 2..]))
}

/// The character at a 1-based line and column (in characters) of `text`.
fn char_at(text: &str, (line, column): (usize, usize)) -> Option<char> {
    text.lines()
        .nth(line.checked_sub(1)?)?
        .chars()
        .nth(column.checked_sub(1)?)
}

/// The names between backticks in `text`, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn list(names: &[&str]) -> String {
    code_list(names)
}

/// Serde's names of what a type expects, in the words of a YAML file.
fn expected_words(expected: &str) -> &str {
    match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number (0 or more)",
        "f64" | "f32" => "a number",
        "a sequence" => "a list",
        "a boolean" => "`true` or `false`",
        "a map" => "a mapping",
        other => other,
    }
}

/// Serde's description of the value found, in the words of a YAML file.
fn found_words(found: &str) -> &str {
    match found {
        "sequence" => "a list",
        "map" => "a mapping",
        "unit value" => "null (an empty value)",
        other => other,
    }
}

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = if candidate.eq_ignore_ascii_case(word) {
            1.0
        } else {
            strsim::normalized_damerau_levenshtein(&word.to_lowercase(), &candidate.to_lowercase())
        };
        if score >= 0.6 && best.is_none_or(|(top, _)| score > top) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reword(yaml: &str) -> SyntaxError {
        let error = serde_yaml::from_str::<super::super::raw::RawFile>(yaml).unwrap_err();
        syntax_error(&error, yaml)
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("alcie", ["bob", "alice"]), Some("alice"));
        assert_eq!(suggest("memebers", ["name", "members"]), Some("members"));
        assert_eq!(suggest("imessage", ["iMessage", "RCS", "SMS"]), Some("iMessage"));
        assert_eq!(suggest("zed", ["alice", "bob"]), None);
    }

    #[test]
    fn unknown_keys_suggest_or_list() {
        let typo = reword("version: 1\nchats:\n  x:\n    name: a\n    memebers: [a]\n");
        assert_eq!(
            typo.message,
            "unknown key `memebers` in `chats.x`; did you mean `members`?"
        );
        assert_eq!(typo.place, SyntaxPlace::At(Some((5, 5))));
        let far = reword("version: 1\nfoo: 1\n");
        assert_eq!(
            far.message,
            "unknown key `foo`; expected one of `version`, `settings`, `people`, `chats`"
        );
    }

    #[test]
    fn wrong_types_read_as_yaml() {
        let error = reword("version: 1\nsettings:\n  min_members: three\n");
        assert_eq!(
            error.message,
            "wrong type for `settings.min_members`: expected a whole number (0 or more), found string \"three\""
        );
        assert_eq!(error.place, SyntaxPlace::At(Some((3, 16))));
        let root = reword("- 1\n");
        assert_eq!(
            root.message,
            "wrong type: expected a mapping with `version: 1`, found a list"
        );
    }

    #[test]
    fn duplicate_fields_point_at_both_keys() {
        let error = reword("version: 1\nchats:\n  x:\n    members: [a]\n    members: [b]\n");
        assert_eq!(error.message, "duplicate key `members` in `chats.x`");
        let key_in = |nth| SyntaxPlace::KeyIn {
            mapping_at: (4, 5),
            key: "members".into(),
            nth,
            part: Part::Key,
        };
        assert_eq!(error.place, key_in(1));
        assert_eq!(error.first, Some(key_in(0)));
    }

    #[test]
    fn an_alias_bomb_points_at_its_first_alias() {
        let mut yaml = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            yaml.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        // Untyped, so that serde_yaml expands the aliases until its limit.
        let error = serde_yaml::from_str::<serde_yaml::Value>(&yaml).unwrap_err();
        let error = syntax_error(&error, &yaml);
        assert_eq!(error.place, SyntaxPlace::FirstAlias);
        assert_eq!(
            error.message,
            "aliases expand to too much data (a \"billion laughs\" alias bomb?)"
        );
    }

    #[test]
    fn more_than_one_document_points_at_the_second() {
        let error = reword("version: 1\n---\nversion: 1\n");
        assert_eq!(error.place, SyntaxPlace::SecondDocument);
    }

    #[test]
    fn tabs_get_a_hint() {
        let error = reword("version: 1\nsettings:\n\tmin_members: 3\n");
        assert_eq!(
            error.message,
            "YAML syntax error: found character that cannot start any token, while scanning for the next token; \
             indent with spaces, not tabs"
        );
        assert_eq!(error.place, SyntaxPlace::At(Some((3, 1))));
    }
}
