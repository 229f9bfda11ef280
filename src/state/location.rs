//! Where the state is: a file, or a state in a PostgreSQL database. Told apart once, where the
//! location is given (`--state`, `ROSTER_STATE`, the default, or a saved plan), by
//! [`StateLocation::parse`]; opened as its store by [`StateLocation::open`], the one place a
//! backend is chosen.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::postgres::{is_url, redact, PasswordSources};
use super::{FileStore, PostgresStore, StateError, StateStore};

/// Where the state is, as given.
#[derive(Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// A state file, such as `roster.state.json`.
    File(PathBuf),
    /// A state in PostgreSQL: its `postgres://` URL.
    Postgres(PostgresUrl),
}

/// A `postgres://` URL as given: it may hold a password, so it shows without it.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// The URL itself, password included, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

impl StateLocation {
    /// Where the state is when neither `--state` nor `ROSTER_STATE` says.
    pub const DEFAULT: &'static str = "roster.state.json";

    /// A location as given: a `postgres://` (or `postgresql://`) URL, else a file path.
    pub fn parse(given: impl Into<PathBuf>) -> StateLocation {
        let path = given.into();
        match path.to_str().filter(|text| is_url(text)) {
            Some(url) => StateLocation::Postgres(PostgresUrl(url.to_owned())),
            None => StateLocation::File(path),
        }
    }

    /// The same location without a password, as a saved plan records it.
    pub fn without_password(&self) -> StateLocation {
        match self {
            StateLocation::File(path) => StateLocation::File(path.clone()),
            StateLocation::Postgres(url) => StateLocation::Postgres(PostgresUrl(url.to_string())),
        }
    }

    /// This location (`--state`, `ROSTER_STATE`) when it is `saved` with a password, else
    /// `saved`: a plan keeps its URL without the password, and the same URL given now may
    /// bring it.
    pub fn or_saved(&self, saved: &StateLocation) -> StateLocation {
        if self.without_password() == *saved {
            self.clone()
        } else {
            saved.clone()
        }
    }

    /// Where `roster watch` elects its leader: for a PostgreSQL state, the lock of the state
    /// named as this one with `.watch` added, so that the state's own lock stays free for
    /// `apply`; a file state has no election (one host, one watch).
    pub fn election(&self) -> Option<StateLocation> {
        let StateLocation::Postgres(url) = self else {
            return None;
        };
        let mut parsed = url::Url::parse(url.expose()).ok()?;
        let mut name = super::postgres::DEFAULT_NAME.to_owned();
        let others: Vec<(String, String)> = (parsed.query_pairs())
            .filter(|(key, value)| {
                if key == "name" {
                    name = value.to_string();
                }
                key != "name"
            })
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        parsed
            .query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair("name", &format!("{name}.watch"));
        Some(StateLocation::Postgres(PostgresUrl(parsed.to_string())))
    }

    /// The state's store: its file, or its database, connected and its schema up to date;
    /// `user` is the default database user (libpq's: the login name).
    pub fn open(&self, user: &str, passwords: &PasswordSources) -> Result<Box<dyn StateStore>, StateError> {
        Ok(match self {
            StateLocation::File(path) => Box::new(FileStore::new(path)),
            StateLocation::Postgres(url) => Box::new(PostgresStore::connect(url.expose(), user, passwords)?),
        })
    }
}

impl Default for StateLocation {
    fn default() -> StateLocation {
        StateLocation::File(PathBuf::from(StateLocation::DEFAULT))
    }
}

impl From<&str> for StateLocation {
    fn from(given: &str) -> StateLocation {
        StateLocation::parse(given)
    }
}

/// The path, or the URL without its password.
impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::File(path) => write!(f, "{}", path.display()),
            StateLocation::Postgres(url) => url.fmt(f),
        }
    }
}

impl fmt::Debug for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::File(path) => f.debug_tuple("File").field(path).finish(),
            StateLocation::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

/// As the text given: a path, or the URL exactly as held (a saved plan holds it without its
/// password already), so a saved plan reads and writes it as the path it always was.
impl Serialize for StateLocation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StateLocation::File(path) => path.serialize(serializer),
            StateLocation::Postgres(url) => serializer.serialize_str(url.expose()),
        }
    }
}

impl<'de> Deserialize<'de> for StateLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StateLocation, D::Error> {
        PathBuf::deserialize(deserializer).map(StateLocation::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_told_from_a_path_once_and_shows_without_its_password() {
        let url = StateLocation::parse("postgres://ci:hunter2@db/roster?name=team");
        let StateLocation::Postgres(inner) = &url else {
            panic!("a URL: {url:?}")
        };
        assert_eq!(inner.expose(), "postgres://ci:hunter2@db/roster?name=team");
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(url.without_password().to_string(), "postgres://ci@db/roster?name=team");
        assert_eq!(
            StateLocation::parse("roster.state.json"),
            StateLocation::File("roster.state.json".into())
        );
        assert_eq!(StateLocation::default(), StateLocation::from("roster.state.json"));
    }

    #[test]
    fn a_saved_location_takes_the_password_of_the_same_url_given_now() {
        let given = StateLocation::parse("postgres://ci:hunter2@db/roster?name=team");
        let saved = given.without_password();
        assert_eq!(given.or_saved(&saved), given);
        let other = StateLocation::parse("postgres://ci@db/roster?name=other");
        assert_eq!(given.or_saved(&other), other);
        let file = StateLocation::parse("shared/state.json");
        assert_eq!(file.or_saved(&saved), saved);
    }

    #[test]
    fn it_reads_and_writes_as_the_text_given() {
        for text in ["\"roster.state.json\"", "\"postgres://ci@db/roster?name=team\""] {
            let location: StateLocation = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&location).unwrap(), text);
        }
    }
}
