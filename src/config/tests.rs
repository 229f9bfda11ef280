//! Tests of config loading: one at least per rule of SPEC section 1, asserting the message and
//! the `file:line:column` a user sees; the fixture corpus; the JSON Schema.

use std::collections::BTreeMap;

use crate::members::Members;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tempfile::TempDir;

use super::*;

/// Writes `files` (relative path, content) into a new temporary folder.
fn folder(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

/// Loads `paths` (relative to `dir`) and renders every error with `dir` stripped.
fn errors_in(dir: &Path, paths: &[&str]) -> Vec<String> {
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| if *p == "." { dir.to_path_buf() } else { dir.join(p) })
        .collect();
    match load(&paths) {
        Ok(desired) => panic!("expected errors, loaded {desired:?}"),
        Err(errors) => {
            let prefix = format!("{}/", dir.display());
            errors.0.iter().map(|e| e.to_string().replace(&prefix, "")).collect()
        }
    }
}

/// Loads one file named `roster.yaml` holding `yaml` and renders its errors.
fn errors(yaml: &str) -> Vec<String> {
    let dir = folder(&[("roster.yaml", yaml)]);
    errors_in(dir.path(), &["roster.yaml"])
}

fn handle(text: &str) -> Handle {
    Handle::parse(text).unwrap()
}

fn handles(texts: &[&str]) -> Members {
    texts.iter().map(|t| handle(t)).collect()
}

const PEOPLE: &str = "\
version: 1
people:
  alice: \"+12052499136\"
  bob: Bob@Example.com
  carol: \"+1 (205) 555-0100\"
";

// ---- YAML and shape ----

#[test]
fn yaml_syntax_error_has_its_position() {
    assert_eq!(
        errors("version: 1\nchats:\n  x:\n    members: [a, b\n"),
        ["roster.yaml:5:1: YAML syntax error: did not find expected ',' or ']', while parsing a flow sequence at line 4 column 14"]
    );
}

#[test]
fn bad_indentation_is_a_syntax_error() {
    assert_eq!(
        errors("version: 1\npeople:\n  alice: a@b.c\n bob: x@y.z\n"),
        ["roster.yaml:4:2: YAML syntax error: did not find expected key, while parsing a block mapping"]
    );
}

#[test]
fn tabs_are_refused_with_a_hint() {
    assert_eq!(
        errors("version: 1\nsettings:\n\tmin_members: 3\n"),
        [
            "roster.yaml:3:1: YAML syntax error: found character that cannot start any token, while scanning for the \
          next token; indent with spaces, not tabs"
        ]
    );
}

#[test]
fn unknown_keys_suggest_the_closest_one() {
    assert_eq!(
        errors("version: 1\nchats:\n  x:\n    memebers: [a]\n"),
        ["roster.yaml:4:5: unknown key `memebers` in `chats.x`; did you mean `members`?"]
    );
    assert_eq!(
        errors("version: 1\nsetings: {}\n"),
        ["roster.yaml:2:1: unknown key `setings`; did you mean `settings`?"]
    );
}

#[test]
fn wrong_types_name_the_key_and_both_types() {
    assert_eq!(
        errors("version: 1\nchats:\n  x:\n    members: alice\n"),
        ["roster.yaml:4:14: wrong type for `chats.x.members`: expected a list, found string \"alice\""]
    );
    assert_eq!(
        errors("version: 1\nsettings:\n  readd_left: maybe\n"),
        ["roster.yaml:3:15: wrong type for `settings.readd_left`: expected `true` or `false`, found string \"maybe\""]
    );
    assert_eq!(
        errors("version: 1\nsettings:\n  max_removals: -1\n"),
        ["roster.yaml:3:17: wrong type for `settings.max_removals`: expected a whole number (0 or more), found integer `-1`"]
    );
    assert_eq!(
        errors("version: 1\nchats:\n  x:\n    max_removals: all\n    members: [a@b.c, b@b.c, c@b.c]\n"),
        ["roster.yaml:4:19: wrong type for `chats.x.max_removals`: expected a whole number (0 or more), found string \"all\""]
    );
}

#[test]
fn unknown_service_suggests_the_spelling() {
    assert_eq!(
        errors("version: 1\nchats:\n  x:\n    service: imessage\n    members: []\n"),
        ["roster.yaml:4:14: unknown value `imessage` for `chats.x.service`; did you mean `iMessage`?"]
    );
}

#[test]
fn version_must_be_1() {
    assert_eq!(
        errors("people: {}\nversion: 2\n"),
        ["roster.yaml:2:10: unsupported `version` `2`: this roster reads version `1`"]
    );
    assert_eq!(
        errors("people: {}\n"),
        ["roster.yaml:1:1: missing key `version`; a config file starts with `version: 1`"]
    );
}

#[test]
fn a_key_twice_in_one_mapping_names_both() {
    assert_eq!(
        errors("version: 1\nchats:\n  x:\n    name: a\n    members: [a]\n    name: b\n"),
        ["roster.yaml:6:5: duplicate key `name` in `chats.x`; first at roster.yaml:4:5"]
    );
    let people = format!("{PEOPLE}  alice: \"+12055550111\"\n");
    assert_eq!(
        errors(&people),
        ["roster.yaml:6:3: duplicate key `alice` in `people`; first defined at roster.yaml:3:3"]
    );
    let chats = "version: 1\nchats:\n  x:\n    members: []\n  x:\n    members: []\n";
    assert_eq!(
        errors(chats),
        [
            "roster.yaml:4:5: chat `x` has 0 members, fewer than `min_members` (3)",
            "roster.yaml:5:3: duplicate key `x` in `chats`; first defined at roster.yaml:3:3",
            "roster.yaml:6:5: chat `x` has 0 members, fewer than `min_members` (3)",
        ]
    );
}

#[test]
fn more_than_one_document_is_refused() {
    assert_eq!(
        errors("version: 1\n---\nversion: 1\n"),
        ["roster.yaml:2:1: a config file holds one YAML document, but this one has more (`---`)"]
    );
}

// ---- handles and people ----

#[test]
fn invalid_phone_and_email_are_reported_where_written() {
    let yaml = format!("{PEOPLE}chats:\n  x:\n    members: [alice, bob, \"+1 205 CALL\", \"@example.com\"]\n");
    assert_eq!(
        errors(&yaml),
        [
            "roster.yaml:8:27: `+1 205 CALL` is not a valid phone number: expected `+` and 2 to 15 digits, the first \
             not 0 (E.164)",
            "roster.yaml:8:42: `@example.com` is not a valid email address",
        ]
    );
}

#[test]
fn a_person_must_map_to_a_handle() {
    let yaml = "version: 1\npeople:\n  dave: 12055550111\n  \"+1205\": \"+12055550111\"\n";
    assert_eq!(
        errors(yaml),
        [
            "roster.yaml:3:9: person `dave`: `12055550111` is neither a phone number (starting with `+`) nor an \
             email address",
            "roster.yaml:4:3: `+1205` cannot be a person's name: a name is neither empty nor a handle (no leading \
             `+`, no `@`)",
        ]
    );
}

#[test]
fn unknown_person_suggests_the_closest_name() {
    let yaml = format!("{PEOPLE}chats:\n  x:\n    members: [alcie, bob, carol, zed]\n");
    assert_eq!(
        errors(&yaml),
        [
            "roster.yaml:8:15: unknown person `alcie`; did you mean `alice`?",
            "roster.yaml:8:34: unknown person `zed`: not a name in `people`, nor a handle (a phone number starting \
             with `+`, or an email address)",
        ]
    );
}

#[test]
fn a_member_whose_person_is_invalid_is_reported_once() {
    let yaml = "version: 1\npeople:\n  dave: \"+0\"\nchats:\n  x:\n    members: [dave, a@b.c, d@e.f]\n";
    let errors = errors(yaml);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("roster.yaml:3:9: person `dave`: `+0` is not a valid phone number"));
}

#[test]
fn person_defined_again_with_another_handle_names_both_places() {
    let dir = folder(&[
        ("a.yaml", "version: 1\npeople:\n  bob: bob@example.com\n"),
        (
            "b.yaml",
            "version: 1\npeople:\n  alice: \"+12052499136\"\n  bob: \"+12055550100\"\n",
        ),
    ]);
    assert_eq!(
        errors_in(dir.path(), &["."]),
        ["b.yaml:4:3: person `bob` is defined again with another handle; first defined at a.yaml:3:3"]
    );
}

#[test]
fn person_defined_again_with_the_same_handle_is_fine() {
    let dir = folder(&[
        ("a.yaml", "version: 1\npeople:\n  bob: bob@example.com\n"),
        ("b.yaml", "version: 1\npeople:\n  bob: \" BOB@example.com\"\n"),
    ]);
    let desired = load(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(
        desired.names,
        BTreeMap::from([(handle("bob@example.com"), "bob".to_owned())])
    );
}

// ---- files ----

#[test]
fn settings_in_two_files_names_both() {
    let dir = folder(&[
        ("a.yaml", "version: 1\nsettings:\n  min_members: 2\n"),
        ("b.yaml", "version: 1\n\nsettings: {}\n"),
    ]);
    assert_eq!(
        errors_in(dir.path(), &["a.yaml", "b.yaml"]),
        ["b.yaml:3:1: `settings` is defined again (one file at most may hold them); first defined at a.yaml:2:1"]
    );
}

#[test]
fn a_chat_in_two_files_names_both() {
    let chat = "version: 1\nchats:\n  abc:\n    members: [\"+12055550101\", \"+12055550102\", \"+12055550103\"]\n";
    let dir = folder(&[
        ("one/a.yaml", chat),
        (
            "two/b.yml",
            &format!("{chat}  def:\n    members: [a@b.c, b@b.c, c@b.c]\n"),
        ),
    ]);
    assert_eq!(
        errors_in(dir.path(), &["."]),
        ["two/b.yml:3:3: chat `abc` is defined again; first defined at one/a.yaml:3:3"]
    );
}

#[test]
fn empty_binary_and_missing_files_are_reported() {
    let dir = folder(&[
        ("empty.yaml", ""),
        ("blank.yaml", "  \n\n"),
        ("comments.yaml", "# nothing\n  # here\n"),
    ]);
    std::fs::write(dir.path().join("binary.yaml"), [0x89, b'P', b'N', b'G', 0xff, 0x00]).unwrap();
    std::fs::create_dir(dir.path().join("nothing")).unwrap();
    std::fs::write(dir.path().join("nothing/notes.txt"), "not yaml").unwrap();
    assert_eq!(
        errors_in(
            dir.path(),
            &[
                "empty.yaml",
                "blank.yaml",
                "comments.yaml",
                "binary.yaml",
                "missing.yaml",
                "nothing"
            ]
        ),
        [
            "binary.yaml: not a UTF-8 text file",
            "blank.yaml: file is empty",
            "comments.yaml: file is empty: it holds only comments",
            "empty.yaml: file is empty",
            "missing.yaml: no such file or directory",
            "nothing: no YAML files (`*.yaml`, `*.yml`) in this directory",
        ]
    );
}

#[test]
fn errors_of_every_file_come_together_sorted() {
    let dir = folder(&[
        ("b.yaml", "version: 1\nchats:\n  x:\n    members: [nobody, \"+1\"]\n"),
        (
            "a.yaml",
            "version: 1\nsettings:\n  min_members: 1\n  max_removal_ratio: 1.5\n",
        ),
        ("c.yaml", "version: 1\npeople:\n  alice: a@b.c\n bob: x@y.z\n"),
    ]);
    assert_eq!(
        errors_in(dir.path(), &["."]),
        [
            "a.yaml:3:16: `min_members` is `1`, but must be at least 2 (Linq needs 3 participants, your own line \
             included)",
            "a.yaml:4:22: `max_removal_ratio` is `1.5`, but must be between 0 and 1",
            "b.yaml:4:15: unknown person `nobody`: not a name in `people`, nor a handle (a phone number starting \
             with `+`, or an email address)",
            "b.yaml:4:23: `+1` is not a valid phone number: expected `+` and 2 to 15 digits, the first not 0 (E.164)",
            "c.yaml:4:2: YAML syntax error: did not find expected key, while parsing a block mapping",
        ]
    );
}

// ---- chats ----

#[test]
fn the_same_handle_twice_in_a_chat_names_both_entries() {
    let yaml = format!(
        "{PEOPLE}chats:\n  x:\n    members:\n      - alice\n      - bob\n      - \"+1 205 249 9136\"\n      - bob\n"
    );
    assert_eq!(
        errors(&yaml),
        [
            "roster.yaml:11:9: member `+1 205 249 9136` is the same handle (`+12052499136`) as member `alice` at \
             roster.yaml:9:9",
            "roster.yaml:12:9: member `bob` is listed twice; first at roster.yaml:10:9",
        ]
    );
}

#[test]
fn member_counts_are_checked_against_floor_and_caps() {
    let yaml = format!(
        "{PEOPLE}settings:\n  max_members: 4\nchats:\n  few:\n    members: [alice, bob]\n  many:\n    members: \
         [alice, bob, carol, a@x.y, b@x.y]\n  sms:\n    max_members: 3\n    members: [alice, bob, carol, a@x.y]\n"
    );
    assert_eq!(
        errors(&yaml),
        [
            "roster.yaml:10:5: chat `few` has 2 members, fewer than `min_members` (3)",
            "roster.yaml:12:5: chat `many` has 5 members, more than `settings.max_members` (4)",
            "roster.yaml:15:5: chat `sms` has 4 members, more than its `max_members` (3)",
        ]
    );
}

#[test]
fn settings_limits_are_checked() {
    assert_eq!(
        errors("version: 1\nsettings:\n  min_members: 5\n  max_members: 4\n"),
        ["roster.yaml:4:16: `max_members` (`4`) is below `min_members` (`5`)"]
    );
    assert_eq!(
        errors("version: 1\nsettings:\n  min_members: 40\n"),
        ["roster.yaml:3:16: `min_members` (`40`) is above the default `max_members` (`31`)"]
    );
    assert_eq!(
        errors("version: 1\nsettings:\n  max_removal_ratio: -0.1\n"),
        ["roster.yaml:3:22: `max_removal_ratio` is `-0.1`, but must be between 0 and 1"]
    );
    assert_eq!(
        errors("version: 1\nchats:\n  x:\n    max_members: 2\n    members: [a@b.c, b@b.c]\n"),
        ["roster.yaml:4:18: `max_members` (`2`) of chat `x` is below `min_members` (`3`)"]
    );
}

#[test]
fn protected_names_must_be_declared() {
    let yaml = format!(
        "{PEOPLE}settings:\n  protected: [carl, \"+12055550199\"]\nchats:\n  x:\n    protected: [dave]\n    members: \
         [alice, bob, carol]\n"
    );
    assert_eq!(
        errors(&yaml),
        [
            "roster.yaml:7:15: in `protected`: unknown person `carl`; did you mean `carol`?",
            "roster.yaml:10:17: in `protected`: unknown person `dave`: not a name in `people`, nor a handle (a phone \
             number starting with `+`, or an email address)",
        ]
    );
}

// ---- hostile input ----

/// A "billion laughs" bomb under `members`, where the loader follows aliases, stops at its
/// first nested list: nothing is expanded.
#[test]
fn an_alias_bomb_under_members_is_refused_at_its_first_level() {
    let mut yaml = String::from("version: 1\nchats:\n  x:\n    members:\n      - &a \"+12052499136\"\n");
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        yaml.push_str(&format!(
            "      - &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    yaml.push_str("      - *i\n");
    assert_eq!(
        errors(&yaml),
        ["roster.yaml:6:9: wrong type for `chats.x.members[1]`: expected a string, found a list"]
    );
}

/// Flow nesting costs the YAML parser quadratic time (100,000 brackets took 19 s): it is refused
/// before parsing, whatever else is wrong with the file, at the first level past 16 or, for bare
/// brackets that the event parser reads ahead, where it gave up (255 levels).
#[test]
fn deep_flow_nesting_is_refused_fast_at_the_first_level_too_deep() {
    let n = 100_000;
    let deep = format!("{}{}", "[".repeat(n), "]".repeat(n));
    let too_deep = "nested deeper than 16 levels; a config needs 4 (the file, `chats`, a chat, its `members`)";
    assert_eq!(
        errors(&format!("version: 1\nchats: {deep}\n")),
        [format!("roster.yaml:2:263: {too_deep}")]
    );
    assert_eq!(
        errors(&format!("version: 2\nchats: {deep}\n")),
        [format!("roster.yaml:2:263: {too_deep}")]
    );
    let mut unclosed = "version: 1\nchats:\n  x:\n    members: ".to_owned();
    unclosed.push_str(&"[".repeat(n));
    assert_eq!(errors(&unclosed), [format!("roster.yaml:4:269: {too_deep}")]);
    let mappings = format!("version: 1\nchats: {}\n", "{a: ".repeat(n));
    assert_eq!(errors(&mappings), [format!("roster.yaml:2:68: {too_deep}")]);
}

/// Block nesting costs linear time: 100,000 levels stop at the first wrong type.
#[test]
fn deep_block_nesting_is_refused_fast() {
    let yaml = format!(
        "version: 1\nchats:\n  x:\n    members:\n      {}a\n",
        "- ".repeat(100_000)
    );
    assert_eq!(
        errors(&yaml),
        ["roster.yaml:5:9: wrong type for `chats.x.members[0]`: expected a string, found a list"]
    );
}

// ---- the good path ----

#[test]
fn a_good_config_loads_to_canonical_desired_state() {
    let dir = folder(&[
        (
            "people.yaml",
            "version: 1\npeople:\n  alice: \"+1 (205) 249-9136\"\n  bob: Bob@Example.COM\n  robert: bob@example.com\n  \
             ops: \"+1.205.555.0100\"\n",
        ),
        (
            "chats/sales.yaml",
            "version: 1\nsettings:\n  min_members: 2\n  max_members: 10\n  max_removal_ratio: 0.5\n  max_removals: 5\n  \
             protected: [ops]\n  readd_left: true\nchats:\n  sales:\n    name: Sales West\n    service: iMessage\n    \
             max_members: 4\n    max_removals: 1\n    protected: [alice]\n    members: [alice, robert, ops, \"+1 205 555 0123\"]\n",
        ),
        ("chats/.hidden/ignored.yaml", "not: [valid"),
        ("chats/notes.txt", "ignored too"),
        ("chats/support.yml", "version: 1\nchats:\n  support:\n    members: [bob, CAROL@example.com]\n"),
    ]);
    let desired = load(&[dir.path().join("people.yaml"), dir.path().join("chats")]).unwrap();
    let ops = handle("+12055550100");
    assert_eq!(
        desired.settings,
        Settings {
            min_members: 2,
            max_members: 10,
            max_removal_ratio: 0.5,
            max_removals: Some(5),
            protected: Members::from([ops.clone()]),
            readd_left: true,
            ..Settings::default()
        }
    );
    assert_eq!(
        desired.chats,
        BTreeMap::from([
            (
                "sales".to_owned(),
                DesiredChat {
                    name: Some("Sales West".to_owned()),
                    service: Some(Service::IMessage),
                    max_members: 4,
                    protected: handles(&["+12052499136", "+12055550100"]),
                    members: handles(&["+12052499136", "bob@example.com", "+12055550100", "+12055550123"]),
                    max_removals: Some(1),
                    file: 1,
                    ..Default::default()
                }
            ),
            (
                "support".to_owned(),
                DesiredChat {
                    name: None,
                    service: None,
                    max_members: 10,
                    protected: Members::from([ops]),
                    members: handles(&["bob@example.com", "carol@example.com"]),
                    max_removals: None,
                    file: 2,
                    ..Default::default()
                }
            ),
        ])
    );
    assert_eq!(
        desired.names,
        BTreeMap::from([
            (handle("+12052499136"), "alice".to_owned()),
            (handle("bob@example.com"), "bob".to_owned()),
            (handle("+12055550100"), "ops".to_owned()),
        ])
    );
    assert_eq!(
        desired.files,
        [
            dir.path().join("people.yaml"),
            dir.path().join("chats/sales.yaml"),
            dir.path().join("chats/support.yml")
        ]
    );
    assert_eq!(desired.digest.len(), 64);
}

#[test]
fn the_digest_follows_content_and_a_file_named_twice_is_read_once() {
    let dir = folder(&[("roster.yaml", "version: 1\n")]);
    let path = dir.path().join("roster.yaml");
    let first = load(std::slice::from_ref(&path)).unwrap();
    let twice = load(&[path.clone(), dir.path().to_path_buf()]).unwrap();
    assert_eq!(twice.files, std::slice::from_ref(&path));
    assert_eq!(twice.digest, first.digest);
    std::fs::write(&path, "version: 1 # changed\n").unwrap();
    assert_ne!(load(&[path]).unwrap().digest, first.digest);
}

#[test]
fn defaults_apply_when_settings_are_absent() {
    let dir = folder(&[(
        "roster.yaml",
        "version: 1\nchats:\n  x:\n    members: [a@b.c, b@b.c, c@b.c]\n",
    )]);
    let desired = load(&[dir.path().join("roster.yaml")]).unwrap();
    assert_eq!(desired.settings, Settings::default());
    assert_eq!(desired.chats["x"].max_members, DEFAULT_MAX_MEMBERS);
    assert!(desired.names.is_empty());
}

// ---- fixtures ----

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

#[test]
fn bad_corpus_snapshots() {
    let root = fixtures().join("bad");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 20, "the corpus has {} cases", cases.len());
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let errors = errors_in(&root, &[&name]);
        insta::assert_snapshot!(format!("bad-{name}"), errors.join("\n"));
    }
}

#[test]
fn good_fixture_loads() {
    let desired = load(&[fixtures().join("good")]).unwrap();
    assert_eq!(desired.chats.len(), 2);
    let sales = &desired.chats["550e8400-e29b-41d4-a716-446655440000"];
    assert_eq!(sales.max_members, 20);
    assert_eq!(
        sales.members,
        handles(&["+12052499136", "bob@example.com", "+12055550100", "+12055550123"])
    );
    assert_eq!(sales.protected, handles(&["+12052499136", "+12055550100"]));
    assert_eq!(desired.names[&handle("bob@example.com")], "bob");
}

#[test]
fn the_spec_example_loads() {
    let desired = load(&[fixtures().join("spec-example.yaml")]).unwrap();
    assert_eq!(desired.chats.len(), 1);
}

/// The config example under "The config" in the README.
fn readme_example() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("## The config")
        .nth(1)
        .expect("the README has a config section");
    let block = section.split("```yaml\n").nth(1).expect("a YAML block");
    block.split("```").next().unwrap().to_owned()
}

#[test]
fn the_readme_example_loads_and_validates_against_the_schema() {
    let example = readme_example();
    let desired = load_from_memory(&[(PathBuf::from("README.md"), example.clone().into_bytes())]).unwrap();
    let chat = &desired.chats["550e8400-e29b-41d4-a716-446655440000"];
    assert_eq!((desired.settings.max_removals, chat.max_removals), (Some(20), Some(2)));
    assert_eq!(check_against_schema(&example), Vec::<String>::new());
}

// ---- JSON Schema ----

#[test]
fn committed_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/roster.schema.json");
    let fresh = schema_json();
    if std::env::var_os("ROSTER_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "schemas/roster.schema.json is stale; regenerate it with `ROSTER_UPDATE_SCHEMA=1 cargo test --lib \
         committed_schema_is_current` and commit it"
    );
}

/// Checks `value` against the subset of JSON Schema that [`schema_json`] uses, returning the
/// JSON pointer of every violation.
fn violations(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    use serde_json::Value;
    let mut found = Vec::new();
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        return violations(&root["$defs"][name], root, value, at);
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        if options
            .iter()
            .all(|option| !violations(option, root, value, at).is_empty())
        {
            found.push(format!("{at}: matches no option"));
        }
    }
    value_violations(schema, value, at, &mut found);
    if let (Some(items), Value::Array(list)) = (schema.get("items"), value) {
        for (i, item) in list.iter().enumerate() {
            found.extend(violations(items, root, item, &format!("{at}/{i}")));
        }
    }
    if let Value::Object(map) = value {
        object_violations(schema, root, map, at, &mut found);
    }
    found
}

/// The JSON Schema type of `value`.
fn json_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Violations of `type`, `const`, `enum` and `minimum`, which look at `value` alone.
fn value_violations(schema: &serde_json::Value, value: &serde_json::Value, at: &str, found: &mut Vec<String>) {
    use serde_json::Value;
    if let Some(wanted) = schema.get("type") {
        let wanted: Vec<&str> = match wanted {
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        let actual = json_type(value);
        let integer_as_number = actual == "integer" && wanted.contains(&"number");
        if !wanted.contains(&actual) && !integer_as_number {
            found.push(format!("{at}: is {actual}, wanted {wanted:?}"));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            found.push(format!("{at}: is not {constant}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            found.push(format!("{at}: is not one of {options:?}"));
        }
    }
    if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64) {
        if value.as_f64().is_some_and(|v| v < minimum) {
            found.push(format!("{at}: is below {minimum}"));
        }
    }
}

/// Violations of `required`, `properties` and `additionalProperties` by an object.
fn object_violations(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    map: &serde_json::Map<String, serde_json::Value>,
    at: &str,
    found: &mut Vec<String>,
) {
    use serde_json::Value;
    for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
        if !map.contains_key(required.as_str().unwrap()) {
            found.push(format!("{at}: lacks {required}"));
        }
    }
    for (key, item) in map {
        let place = format!("{at}/{key}");
        match (
            schema.get("properties").and_then(|p| p.get(key)),
            schema.get("additionalProperties"),
        ) {
            (Some(property), _) => found.extend(violations(property, root, item, &place)),
            (None, Some(Value::Bool(false))) => found.push(format!("{place}: is not allowed")),
            (None, Some(additional)) => found.extend(violations(additional, root, item, &place)),
            (None, None) => {}
        }
    }
}

fn check_against_schema(yaml: &str) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(&schema_json()).unwrap();
    let value: serde_json::Value = serde_yaml::from_str(yaml).unwrap();
    violations(&schema, &schema, &value, "")
}

#[test]
fn the_spec_example_validates_against_the_schema() {
    let example = std::fs::read_to_string(fixtures().join("spec-example.yaml")).unwrap();
    assert_eq!(check_against_schema(&example), Vec::<String>::new());
    let good = std::fs::read_to_string(fixtures().join("good/chats.yaml")).unwrap();
    assert_eq!(check_against_schema(&good), Vec::<String>::new());
}

#[test]
fn the_schema_refuses_what_the_parser_refuses() {
    assert_eq!(check_against_schema("version: 2\n"), ["/version: is not 1"]);
    assert_eq!(
        check_against_schema("version: 1\nchats:\n  x:\n    memebers: []\n    service: Telegram\n"),
        [
            "/chats/x: lacks \"members\"",
            "/chats/x/memebers: is not allowed",
            "/chats/x/service: matches no option"
        ]
    );
    assert_eq!(
        check_against_schema("version: 1\nsettings:\n  min_members: 1\n"),
        ["/settings: matches no option"]
    );
}

// ---- robustness ----

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "(version: 1\n)?[ -~\t\n\u{a0}-\u{2ff}]{0,300}") {
        let dir = folder(&[("roster.yaml", &text)]);
        let _ = load(&[dir.path().join("roster.yaml")]);
    }

    #[test]
    fn yaml_like_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("version: 1\n"), Just("chats:\n"), Just("  x:\n"), Just("    members: ["), Just("]\n"),
                Just("people:\n"), Just("  a: "), Just("\"+12052499136\"\n"), Just("&a "), Just("*a"),
                Just("- "), Just("{"), Just("}"), Just(", "), Just("\t"), Just("---\n"), Just("settings:\n"),
                Just("  min_members: 1\n"), Just("    members: [a, a, b@c.d]\n"), Just("\n"), Just(": "),
            ],
            0..40,
        )
    ) {
        let text: String = parts.concat();
        let dir = folder(&[("roster.yaml", &text)]);
        if let Err(errors) = load(&[dir.path().join("roster.yaml")]) {
            prop_assert!(!errors.0.is_empty());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.yaml");
        std::fs::write(&path, &bytes).unwrap();
        let _ = load(&[path]);
    }
}

// ---- scale ----

/// A config of 10,000 chats of 20 members each (about 5 MB), half of them people's names.
fn large_config() -> String {
    let mut yaml = String::from("version: 1\npeople:\n");
    for p in 0..500 {
        yaml.push_str(&format!("  person-{p}: \"+1 (205) 55{:05}\"\n", p));
    }
    yaml.push_str("chats:\n");
    for c in 0..10_000 {
        yaml.push_str(&format!(
            "  chat-{c:05}-e29b-41d4-a716-446655440000:\n    name: Chat {c}\n    members:\n"
        ));
        for m in 0..20 {
            if m % 2 == 0 {
                yaml.push_str(&format!("      - person-{}\n", (c * 7 + m) % 500));
            } else {
                yaml.push_str(&format!("      - \"+1 205 6{:02} {:04}\"\n", m, c));
            }
        }
    }
    yaml
}

/// Checking must cost little next to the one `serde_yaml` parse. Timing-based, so run on
/// demand, ideally in release: `cargo test --release --lib large_config -- --ignored --nocapture`.
#[test]
#[ignore]
fn large_config_is_dominated_by_the_yaml_parse() {
    let yaml = large_config();
    let dir = folder(&[("roster.yaml", &yaml)]);
    let path = dir.path().join("roster.yaml");
    let started = std::time::Instant::now();
    let raw: raw::RawFile = serde_yaml::from_str(&yaml).unwrap();
    let parse = started.elapsed();
    drop(raw);
    let started = std::time::Instant::now();
    let desired = load(std::slice::from_ref(&path)).unwrap();
    let total = started.elapsed();
    assert_eq!(desired.chats.len(), 10_000);
    eprintln!("{} bytes: parse {parse:?}, load {total:?}", yaml.len());
    assert!(total < parse * 3 / 2, "load took {total:?}, the parse alone {parse:?}");
}

#[test]
fn loading_from_memory_is_loading_from_disk() {
    let files = [
        ("a.yaml", "version: 1\npeople:\n  alice: \"+12052499136\"\n"),
        (
            "b.yaml",
            "version: 1\nchats:\n  x:\n    members: [alice, b@c.de, \"+12055550100\"]\n",
        ),
    ];
    let dir = folder(&files);
    let paths: Vec<PathBuf> = files.iter().map(|(name, _)| dir.path().join(name)).collect();
    let in_memory: Vec<(PathBuf, Vec<u8>)> = (paths.iter().zip(files))
        .map(|(path, (_, text))| (path.clone(), text.as_bytes().to_vec()))
        .collect();
    assert_eq!(load_from_memory(&in_memory), load(&paths));
    let broken = [(dir.path().join("a.yaml"), b"version: 2\n".to_vec())];
    assert_eq!(
        load_from_memory(&broken).unwrap_err().to_string(),
        format!(
            "{}:1:10: unsupported `version` `2`: this roster reads version `1`",
            dir.path().join("a.yaml").display()
        )
    );
}

#[test]
fn chats_as_code_load_their_keys_bindings_and_creates() {
    let dir = folder(&[(
        "roster.yaml",
        "version: 1\nsettings:\n  manage_names: false\n  max_creates: 3\nchats:\n  support-emea:\n    name: Support EMEA\n    icon: https://example.com/s.png\n    create:\n      from: \"+1 205 253 5597\"\n      message: \"Welcome\\n\"\n    members: [\"+12055550101\", \"+12055550102\", \"+12055550103\"]\n  sales:\n    id: 550E8400-E29B-41D4-A716-446655440000\n    previously: [sales-west]\n    members: [\"+12055550101\", \"+12055550102\", \"+12055550103\"]\n",
    )]);
    let desired = load(&[dir.path().join("roster.yaml")]).unwrap();
    assert_eq!(
        (desired.settings.manage_names, desired.settings.max_creates),
        (false, 3)
    );
    let support = &desired.chats["support-emea"];
    let create = support.create.as_ref().unwrap();
    assert_eq!(
        (create.from.as_str(), create.message.as_str()),
        ("+12052535597", "Welcome\n")
    );
    assert_eq!(support.icon.as_deref(), Some("https://example.com/s.png"));
    assert_eq!(support.named_id("support-emea"), None);
    let sales = &desired.chats["sales"];
    assert_eq!(sales.named_id("sales"), Some("550e8400-e29b-41d4-a716-446655440000"));
    assert_eq!(
        (sales.previously.as_slice(), sales.entry),
        (&["sales-west".to_owned()][..], 1)
    );
    let defaults = Settings::default();
    assert_eq!((defaults.manage_names, defaults.max_creates), (true, 10));
}
