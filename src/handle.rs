//! Handles: the one canonical spelling of a phone number or email address, used in the state,
//! in plans and in every API call, so that reformatting a number never produces a call.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::escape::{is_hidden, Escaped};

/// A canonical handle: an E.164 phone number (`+12052499136`) or a lower-cased email address.
///
/// The only way to build one from user text is [`Handle::parse`]; deserializing from the state
/// file or an API answer also canonicalizes, so two spellings of one handle are always equal.
///
/// The text is shared (`Arc<str>`): plans copy every member of a changed chat into `before` and
/// `after`, and a clone that only counts a reference keeps that from allocating.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(Arc<str>);

/// Why a piece of text is not a handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Starts with `+` but is not E.164 once spaces, dashes, dots and parentheses are dropped.
    #[error("`{}` is not a valid phone number: expected `+` and 2 to 15 digits, the first not 0 (E.164)", Escaped(.0))]
    Phone(String),
    /// Has an `@` but nothing usable around it, or holds whitespace or a control character.
    #[error("`{}` is not a valid email address", Escaped(.0))]
    Email(String),
    /// Neither a phone number nor an email: only a person's name can be that.
    #[error("`{}` is neither a phone number (starting with `+`) nor an email address", Escaped(.0))]
    NotAHandle(String),
}

/// The two kinds of handle Linq knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    Phone,
    Email,
}

impl Handle {
    /// Canonicalizes `text` as a phone number or an email address.
    pub fn parse(text: &str) -> Result<Handle, HandleError> {
        let trimmed = text.trim();
        if trimmed.starts_with('+') {
            parse_phone(trimmed)
        } else if trimmed.contains('@') {
            parse_email(trimmed)
        } else {
            Err(HandleError::NotAHandle(text.to_owned()))
        }
    }

    /// True when `text` is written as a handle (phone or email) rather than a person's name.
    pub fn looks_like_handle(text: &str) -> bool {
        let trimmed = text.trim();
        trimmed.starts_with('+') || trimmed.contains('@')
    }

    pub fn kind(&self) -> HandleKind {
        if self.0.starts_with('+') {
            HandleKind::Phone
        } else {
            HandleKind::Email
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most digits E.164 allows.
const MAX_DIGITS: usize = 15;

fn parse_phone(text: &str) -> Result<Handle, HandleError> {
    let invalid = || HandleError::Phone(text.to_owned());
    // Most numbers (all of those read back from a state) are canonical already: share the text
    // as it is. Every handle in a config and a state passes here, which makes this hot.
    let digits = &text.as_bytes()[1..];
    if (2..=MAX_DIGITS).contains(&digits.len()) && digits[0] != b'0' && digits.iter().all(u8::is_ascii_digit) {
        return Ok(Handle(Arc::from(text)));
    }
    // Built on the stack, so the handle's one allocation is its shared text.
    let mut canonical = [b'+'; MAX_DIGITS + 1];
    let mut len = 1;
    for b in text[1..].bytes() {
        match b {
            b'0'..=b'9' => {
                if len > MAX_DIGITS {
                    return Err(invalid());
                }
                canonical[len] = b;
                len += 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return Err(invalid()),
        }
    }
    let digits = &canonical[1..len];
    if digits.len() < 2 || digits[0] == b'0' {
        return Err(invalid());
    }
    let canonical = std::str::from_utf8(&canonical[..len]).expect("ASCII digits");
    Ok(Handle(Arc::from(canonical)))
}

fn parse_email(text: &str) -> Result<Handle, HandleError> {
    let invalid = || HandleError::Email(text.to_owned());
    let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
    // No whitespace and nothing a terminal acts on: an address is shown in plans and sent to
    // Linq as it is.
    if local.is_empty() || domain.is_empty() || text.chars().any(|c| c.is_whitespace() || is_hidden(c)) {
        return Err(invalid());
    }
    // Most emails (all of those read back from a state) are lower case already.
    if text.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Ok(Handle(Arc::from(text.to_lowercase())))
    } else {
        Ok(Handle(Arc::from(text)))
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for Handle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Handle::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_formatting_is_dropped() {
        assert_eq!(Handle::parse("+1 (205) 555-0100").unwrap().as_str(), "+12055550100");
        assert_eq!(Handle::parse(" +1.205.555.0100 ").unwrap().as_str(), "+12055550100");
    }

    #[test]
    fn phone_must_be_e164() {
        assert!(Handle::parse("+0123").is_err());
        assert!(Handle::parse("+1").is_err());
        assert!(Handle::parse("+1234567890123456").is_err());
        assert!(Handle::parse("+1205x5550100").is_err());
        assert!(Handle::parse("+12").is_ok());
    }

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(Handle::parse("  Bob@Example.COM ").unwrap().as_str(), "bob@example.com");
        assert!(Handle::parse("@example.com").is_err());
        assert!(Handle::parse("bob@").is_err());
        assert!(Handle::parse("bo b@example.com").is_err());
    }

    #[test]
    fn email_refuses_control_and_invisible_characters() {
        for bad in [
            "bob\u{1b}[2J@example.com",
            "bob@exa\tmple.com",
            "bob@example.com\u{202e}moc",
            "b\u{200b}ob@example.com",
            "bob@exam\u{85}ple.com",
        ] {
            let err = Handle::parse(bad).unwrap_err();
            assert!(matches!(err, HandleError::Email(_)), "{bad:?}: {err:?}");
            assert!(!err.to_string().chars().any(is_hidden), "{err}");
        }
        assert!(err_text("a\u{1b}b").contains("`a\\x1bb`"));
    }

    fn err_text(text: &str) -> String {
        Handle::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn phone_digits_are_counted_after_dropping_formatting() {
        assert_eq!(
            Handle::parse("+1 (234) 567-8901-2345").unwrap().as_str(),
            "+123456789012345"
        );
        assert!(Handle::parse("+1 (234) 567-8901-23456").is_err());
        assert!(Handle::parse("+ 0 12").is_err());
        assert!(Handle::parse("+١٢٣").is_err(), "only ASCII digits");
    }

    #[test]
    fn emails_keep_their_text_when_already_canonical() {
        assert_eq!(Handle::parse("bob@example.com").unwrap().as_str(), "bob@example.com");
        assert_eq!(Handle::parse("ÄNN@Example.com").unwrap().as_str(), "änn@example.com");
    }

    #[test]
    fn names_are_not_handles() {
        assert_eq!(Handle::parse("alice"), Err(HandleError::NotAHandle("alice".into())));
    }
}
