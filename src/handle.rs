//! Handles: the one canonical spelling of a phone number or email address, used in the state,
//! in plans and in every API call, so that reformatting a number never produces a call.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A canonical handle: an E.164 phone number (`+12052499136`) or a lower-cased email address.
///
/// The only way to build one from user text is [`Handle::parse`]; deserializing from the state
/// file or an API answer also canonicalizes, so two spellings of one handle are always equal.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Handle(String);

/// Why a piece of text is not a handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Starts with `+` but is not E.164 once spaces, dashes, dots and parentheses are dropped.
    #[error("`{0}` is not a valid phone number: expected `+` and 2 to 15 digits, the first not 0 (E.164)")]
    Phone(String),
    /// Has an `@` but nothing usable around it.
    #[error("`{0}` is not a valid email address")]
    Email(String),
    /// Neither a phone number nor an email: only a person's name can be that.
    #[error("`{0}` is neither a phone number (starting with `+`) nor an email address")]
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

fn parse_phone(text: &str) -> Result<Handle, HandleError> {
    let mut canonical = String::with_capacity(text.len());
    canonical.push('+');
    for c in text[1..].chars() {
        match c {
            '0'..='9' => canonical.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(HandleError::Phone(text.to_owned())),
        }
    }
    let digits = &canonical[1..];
    if !(2..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(HandleError::Phone(text.to_owned()));
    }
    Ok(Handle(canonical))
}

fn parse_email(text: &str) -> Result<Handle, HandleError> {
    let invalid = || HandleError::Email(text.to_owned());
    let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
    if local.is_empty() || domain.is_empty() || text.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    Ok(Handle(text.to_lowercase()))
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
    fn names_are_not_handles() {
        assert_eq!(Handle::parse("alice"), Err(HandleError::NotAHandle("alice".into())));
    }
}
