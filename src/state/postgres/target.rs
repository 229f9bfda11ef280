//! Where a PostgreSQL state lives: the `postgres://` URL, checked, and the password found for it.
//!
//! ```text
//! postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE?name=STATE&sslmode=MODE&sslrootcert=FILE&lease=SECONDS
//! ```
//!
//! The password comes from the URL, else `PGPASSWORD`, else the password file (`PGPASSFILE`,
//! default `~/.pgpass`) in libpq's format. It is never shown: [`Target`] prints the URL without
//! it, and every message names the state by that.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::state::StateError;

/// The state name when the URL gives none.
pub const DEFAULT_NAME: &str = "default";

/// How long a lock is held without a renewal, unless the URL says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How long connecting may take, unless the URL says otherwise (`connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `text` names a PostgreSQL state rather than a file.
pub fn is_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// libpq's `sslmode`, the four roster supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not verified.
    Prefer,
    /// TLS or no connection; the certificate is not verified (as libpq does).
    Require,
    /// TLS with the certificate verified against the roots and the host name.
    VerifyFull,
}

/// What the environment says about passwords, read by `main` and passed in.
#[derive(Debug, Clone, Default)]
pub struct PasswordSources {
    /// `PGPASSWORD`.
    pub password: Option<String>,
    /// `PGPASSFILE`, or `~/.pgpass`.
    pub passfile: Option<PathBuf>,
}

/// A checked `postgres://` URL.
#[derive(Clone)]
pub struct Target {
    /// The URL as given, password removed: what messages show.
    shown: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    password: Option<String>,
    /// The state's name within the database (`?name=`).
    pub name: String,
    pub ssl_mode: SslMode,
    /// PEM file of the certificates `verify-full` trusts; the public web roots when absent.
    pub ssl_root_cert: Option<PathBuf>,
    pub lease: Duration,
    pub connect_timeout: Duration,
    pub application_name: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.shown)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Shows `text` without the password a URL in it may hold, for messages about a URL that did
/// not parse.
pub fn redact(text: &str) -> String {
    match text.find("://") {
        Some(start) => {
            let rest = &text[start + 3..];
            let authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority].rfind('@') {
                Some(at) => {
                    let user = rest[..at].split(':').next().unwrap_or("");
                    format!("{}{user}@{}", &text[..start + 3], &rest[at + 1..])
                }
                None => text.to_owned(),
            }
        }
        None => text.to_owned(),
    }
}

impl Target {
    /// Checks `text`; `user` is the default user name (libpq's: the login name).
    pub fn parse(text: &str, user: &str) -> Result<Target, StateError> {
        Target::parse_url(text, user).map_err(|reason| StateError::BadUrl {
            url: redact(text),
            reason,
        })
    }

    /// [`Target::parse`], with what is wrong as the error.
    fn parse_url(text: &str, user: &str) -> Result<Target, String> {
        let url = url::Url::parse(text).map_err(|e| e.to_string())?;
        let decode =
            |part: &str| percent_decode(part).ok_or_else(|| format!("`{part}` is not valid percent-encoded UTF-8"));
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => decode(domain)?,
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => "localhost".to_owned(),
        };
        let user = match url.username() {
            "" => user.to_owned(),
            given => decode(given)?,
        };
        let password = url.password().map(decode).transpose()?;
        let database = match url.path().trim_start_matches('/') {
            "" => user.clone(),
            path if path.contains('/') => return Err(format!("the path names one database, and `{path}` has a `/`")),
            path => decode(path)?,
        };
        let mut target = Target {
            shown: String::new(),
            host,
            port: url.port().unwrap_or(5432),
            user,
            database,
            password,
            name: DEFAULT_NAME.to_owned(),
            ssl_mode: SslMode::Prefer,
            ssl_root_cert: None,
            lease: DEFAULT_LEASE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            application_name: "roster".to_owned(),
        };
        for (key, value) in url.query_pairs() {
            let value = value.into_owned();
            match &*key {
                "name" => target.name = check_name(&value)?,
                "sslmode" => {
                    target.ssl_mode = match &*value {
                        "disable" => SslMode::Disable,
                        "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(format!(
                                "`sslmode={other}` is not supported; use `disable`, `prefer`, `require` or `verify-full`"
                            ))
                        }
                    }
                }
                "sslrootcert" => target.ssl_root_cert = Some(PathBuf::from(value)),
                "lease" => target.lease = seconds(&key, &value, 1.0)?,
                "connect_timeout" => target.connect_timeout = seconds(&key, &value, 0.0)?,
                "application_name" => target.application_name = value,
                other => {
                    return Err(format!(
                        "unknown parameter `{other}`; roster takes `name`, `sslmode`, `sslrootcert`, `lease`, `connect_timeout` and `application_name`"
                    ))
                }
            }
        }
        let mut shown = url.clone();
        let _ = shown.set_password(None);
        target.shown = shown.to_string();
        Ok(target)
    }

    /// The password: the URL's, else `PGPASSWORD`, else the password file's first matching line.
    pub fn password(&self, sources: &PasswordSources) -> Result<Option<String>, StateError> {
        if let Some(password) = &self.password {
            return Ok(Some(password.clone()));
        }
        if let Some(password) = &sources.password {
            return Ok(Some(password.clone()));
        }
        match &sources.passfile {
            Some(path) => passfile_lookup(path, self),
            None => Ok(None),
        }
    }
}

/// A state name: letters, digits, `_`, `-` and `.`, at most 63 of them.
fn check_name(name: &str) -> Result<String, String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > 63 || !name.chars().all(fine) {
        return Err(format!(
            "`name={name}` is not a state name: use 1 to 63 letters, digits, `_`, `-` or `.`"
        ));
    }
    Ok(name.to_owned())
}

/// A duration parameter in seconds, at least `min` and at most an hour.
fn seconds(key: &str, value: &str, min: f64) -> Result<Duration, String> {
    match value.trim().parse::<f64>() {
        Ok(s) if (min..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("`{key}={value}` is not a number of seconds from {min} to 3600")),
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Looks the password for `target` up in a libpq password file: lines
/// `host:port:database:user:password`, `*` matching anything, `\` escaping `:` and `\`, `#`
/// starting a comment; the first matching line wins. As libpq does, a file that others may read
/// (any group or other permission bit) is ignored, and so is a missing one.
fn passfile_lookup(path: &Path, target: &Target) -> Result<Option<String>, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StateError::io(
                format!("failed to read password file `{}`", path.display()),
                error,
            ))
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0);
        if mode & 0o077 != 0 {
            return Ok(None);
        }
    }
    let port = target.port.to_string();
    let wanted = [&*target.host, &*port, &*target.database, &*target.user];
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let fields = split_passfile_line(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = fields[..4]
            .iter()
            .zip(wanted)
            .all(|(field, value)| field == "*" || field == value);
        if matches {
            return Ok(Some(fields[4].clone()));
        }
    }
    Ok(None)
}

/// Splits a password file line at unescaped `:` into at most five fields, unescaping `\:` and
/// `\\`; the password takes the rest of the line.
fn split_passfile_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field at least").push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field at least").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gives_every_part_and_shows_without_its_password() {
        let target = Target::parse(
            "postgresql://ci:s%3Acret@db.example.com:6543/roster?name=sales&sslmode=verify-full&sslrootcert=/ca.pem&lease=12.5",
            "me",
        )
        .unwrap();
        assert_eq!(target.host, "db.example.com");
        assert_eq!(target.port, 6543);
        assert_eq!(target.user, "ci");
        assert_eq!(target.database, "roster");
        assert_eq!(target.name, "sales");
        assert_eq!(target.ssl_mode, SslMode::VerifyFull);
        assert_eq!(target.ssl_root_cert.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(target.lease, Duration::from_millis(12_500));
        assert_eq!(
            target.password(&PasswordSources::default()).unwrap().as_deref(),
            Some("s:cret")
        );
        let shown = format!("{target} {target:?}");
        assert!(!shown.contains("cret"), "{shown}");
        assert!(
            shown.contains("postgresql://ci@db.example.com:6543/roster?name=sales"),
            "{shown}"
        );
    }

    #[test]
    fn defaults_follow_libpq() {
        let target = Target::parse("postgres://db", "me").unwrap();
        assert_eq!(
            (
                &*target.user,
                &*target.database,
                target.port,
                &*target.name,
                target.ssl_mode
            ),
            ("me", "me", 5432, "default", SslMode::Prefer)
        );
        let target = Target::parse("postgres://[::1]:5433/x", "me").unwrap();
        assert_eq!((&*target.host, target.port), ("::1", 5433));
        assert!(is_url("PostgreSQL://x") && is_url("postgres://") && !is_url("roster.state.json"));
        assert!(!is_url("postgres:/x") && !is_url("./postgres://x"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong_and_never_show_the_password() {
        for (url, reason) in [
            (
                "postgres://u:hunter2@h/db?sslmode=verify-ca",
                "`sslmode=verify-ca` is not supported",
            ),
            ("postgres://u:hunter2@h/db?name=a%20b", "`name=a b` is not a state name"),
            (
                "postgres://u:hunter2@h/db?lease=0",
                "`lease=0` is not a number of seconds from 1",
            ),
            ("postgres://u:hunter2@h/db?nmae=x", "unknown parameter `nmae`"),
            ("postgres://u:hunter2@h/a/b", "has a `/`"),
            ("postgres://u:hunter2@h:99999/db", "invalid port number"),
        ] {
            let error = format!("{:#}", Target::parse(url, "me").unwrap_err());
            assert!(error.contains(reason), "{url}: {error}");
            assert!(error.contains("`postgres://u@h"), "{url}: {error}");
            assert!(!error.contains("hunter2"), "{url}: {error}");
        }
    }

    #[test]
    fn the_password_comes_from_the_url_then_pgpassword_then_the_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:*:*:*:no\nh:5432:db:u\\:x:escaped\\:colon\nh:*:db:*:from\\\\file:with:colons\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let sources = PasswordSources {
            password: None,
            passfile: Some(file.clone()),
        };
        let lookup =
            |url: &str, sources: &PasswordSources| Target::parse(url, "me").unwrap().password(sources).unwrap();
        assert_eq!(
            lookup("postgres://u@h/db", &sources).as_deref(),
            Some("from\\file:with:colons")
        );
        assert_eq!(
            lookup("postgres://u%3Ax@h/db", &sources).as_deref(),
            Some("escaped:colon")
        );
        assert_eq!(lookup("postgres://u@h/other", &sources), None);
        assert_eq!(lookup("postgres://u:url@h/db", &sources).as_deref(), Some("url"));
        let env = PasswordSources {
            password: Some("env".into()),
            ..sources.clone()
        };
        assert_eq!(lookup("postgres://u@h/db", &env).as_deref(), Some("env"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(
                lookup("postgres://u@h/db", &sources),
                None,
                "readable by others: ignored"
            );
        }
    }

    #[test]
    fn redact_drops_the_password_of_urls_that_do_not_parse() {
        assert_eq!(redact("postgres://u:pw@h:x/db"), "postgres://u@h:x/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
