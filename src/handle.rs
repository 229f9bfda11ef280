//! Handles: the one canonical spelling of a phone number or email address, used in the state,
//! in plans and in every API call, so that reformatting a number never produces a call.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::escape::{is_hidden, Escaped};

mod lengths;
#[cfg(test)]
mod lengths_gen;

/// A canonical handle: an E.164 phone number (`+12052499136`) or a lower-cased email address.
///
/// The only ways to build one from user text are [`Handle::parse`] and, for a config's, the
/// stricter [`Handle::parse_written`]; deserializing from the state file or an API answer also
/// canonicalizes, so two spellings of one handle are always equal.
///
/// A phone number is held in the handle itself (E.164 is at most 16 bytes with its `+`), an
/// email address as shared text (`Arc<str>`): a config and a state hold millions of handles,
/// nearly all phone numbers, and one allocation each was a third of a large plan's memory.
/// Clones never allocate, which matters as plans copy every member of a changed chat into
/// `before` and `after`. Handles compare, sort and hash as their text.
#[derive(Clone)]
pub struct Handle(Text);

#[derive(Clone)]
enum Text {
    /// `+` and 2 to 15 digits, in the first `len` bytes.
    Phone {
        len: u8,
        bytes: [u8; MAX_DIGITS + 1],
    },
    Email(Arc<str>),
}

impl Text {
    fn phone(canonical: &str) -> Text {
        let mut bytes = [0; MAX_DIGITS + 1];
        bytes[..canonical.len()].copy_from_slice(canonical.as_bytes());
        Text::Phone {
            len: canonical.len() as u8,
            bytes,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Phone { len, bytes } => &bytes[..usize::from(*len)],
            Text::Email(text) => text.as_bytes(),
        }
    }
}

/// Why a piece of text is not a handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Starts with `+` but is not E.164 once spaces, dashes, dots and parentheses are dropped.
    #[error("`{}` is not a valid phone number: expected `+` and 2 to 15 digits, the first not 0 (E.164)", Escaped(.0))]
    Phone(String),
    /// E.164, but not "possible" in libphonenumber's sense: no country has its calling code, or
    /// its country's numbers are never as long after the code.
    #[error("`{}` is not a possible phone number: {reason}", Escaped(.text))]
    Impossible { text: String, reason: String },
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

    /// [`Handle::parse`], and for a phone number libphonenumber's "possible" test: after its
    /// country calling code it has as many digits as a number of that country can have (a `+1`
    /// number has 10). For handles a person wrote, in the config, where a digit too few or too
    /// many is a typo that Linq would take as someone else's number. The state and Linq's
    /// answers are read with [`Handle::parse`] alone, so that a change of numbering plan never
    /// makes a recorded member unreadable. Whether the number is in a range its country has
    /// assigned is not checked: Linq asks only for E.164, and numbering plans change.
    pub fn parse_written(text: &str) -> Result<Handle, HandleError> {
        let handle = Handle::parse(text)?;
        if handle.kind() == HandleKind::Phone {
            possible(&handle.as_str()[1..]).map_err(|reason| HandleError::Impossible {
                text: text.to_owned(),
                reason,
            })?;
        }
        Ok(handle)
    }

    /// True when `text` is written as a handle (phone or email) rather than a person's name.
    pub fn looks_like_handle(text: &str) -> bool {
        let trimmed = text.trim();
        trimmed.starts_with('+') || trimmed.contains('@')
    }

    pub fn kind(&self) -> HandleKind {
        if let Text::Phone { .. } = self.0 {
            HandleKind::Phone
        } else {
            HandleKind::Email
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only ASCII digits and `+` are ever stored there.
            Text::Phone { .. } => std::str::from_utf8(self.0.as_bytes()).expect("ASCII"),
            Text::Email(text) => text,
        }
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
        return Ok(Handle(Text::phone(text)));
    }
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
    Ok(Handle(Text::phone(canonical)))
}

/// Whether the digits of an E.164 number (after the `+`) can be a number of its country, by
/// the lengths of libphonenumber's metadata (`handle/lengths.rs`); if not, why, in words.
fn possible(digits: &str) -> Result<(), String> {
    let Some((code, lengths)) = country(digits) else {
        let codes: Vec<String> = (1..=digits.len().min(3))
            .map(|n| format!("`+{}`", &digits[..n]))
            .collect();
        return Err(format!(
            "no country has the calling code it starts with ({} per {})",
            or_list(&codes),
            lengths::METADATA
        ));
    };
    let national = &digits[code.len()..];
    if lengths.contains(&(national.len() as u8)) {
        return Ok(());
    }
    let mut reason = format!(
        "a number of `+{code}` has {} digits after the `+{code}`, this one has {}",
        runs(lengths),
        national.len()
    );
    // The trunk prefix dialled inside a country (`0` in `07911 123456`) is not part of E.164.
    if let Some(rest) = national.strip_prefix('0') {
        if lengths.contains(&(rest.len() as u8)) {
            reason.push_str(&format!("; did you mean `+{code}{rest}`, without the `0`?"));
        }
    }
    Err(reason)
}

/// The country calling code `digits` start with, and the lengths its numbers have after it.
/// Calling codes are prefix-free (no code starts another), so the first that matches is it.
fn country(digits: &str) -> Option<(&str, &'static [u8])> {
    (1..=digits.len().min(3)).find_map(|n| {
        let code: u16 = digits[..n].parse().ok()?;
        let at = lengths::LENGTHS.binary_search_by_key(&code, |(c, _)| *c).ok()?;
        Some((&digits[..n], lengths::LENGTHS[at].1))
    })
}

/// `[7, 9, 10]` as "7, 9 or 10"; runs of three or more as "4 to 15".
fn runs(lengths: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < lengths.len() {
        let mut j = i;
        while j + 1 < lengths.len() && lengths[j + 1] == lengths[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{} to {}", lengths[i], lengths[j]));
            i = j + 1;
        } else {
            parts.push(lengths[i].to_string());
            i += 1;
        }
    }
    or_list(&parts)
}

/// "a", "a or b", "a, b or c".
fn or_list(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
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
        Ok(Handle(Text::Email(Arc::from(text.to_lowercase()))))
    } else {
        Ok(Handle(Text::Email(Arc::from(text))))
    }
}

impl PartialEq for Handle {
    fn eq(&self, other: &Handle) -> bool {
        self.0.as_bytes() == other.0.as_bytes()
    }
}

impl Eq for Handle {}

impl PartialOrd for Handle {
    fn partial_cmp(&self, other: &Handle) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Handle {
    fn cmp(&self, other: &Handle) -> std::cmp::Ordering {
        self.0.as_bytes().cmp(other.0.as_bytes())
    }
}

impl std::hash::Hash for Handle {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Handle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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
    fn a_handle_holds_its_whole_text_and_sorts_as_text_whatever_its_kind() {
        // The longest E.164 number fills the handle's inline bytes exactly.
        let longest = Handle::parse("+1 205 555 0100 1234").unwrap();
        assert_eq!(longest.as_str(), "+120555501001234");
        assert_eq!(longest.kind(), HandleKind::Phone);
        assert!(Handle::parse("+1205555010012345").is_err());
        let mut handles: Vec<Handle> = ["zoe@example.com", "+442071838750", "+12055550100", "Al@Example.com"]
            .into_iter()
            .map(|text| Handle::parse(text).unwrap())
            .collect();
        handles.sort();
        let texts: Vec<&str> = handles.iter().map(Handle::as_str).collect();
        let mut sorted = texts.clone();
        sorted.sort_unstable();
        assert_eq!(texts, sorted);
        assert_eq!(
            texts,
            ["+12055550100", "+442071838750", "al@example.com", "zoe@example.com"]
        );
        assert_eq!(handles[0], Handle::parse("+1 (205) 555-0100").unwrap());
        assert_ne!(handles[0], handles[1]);
    }

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

    /// The reason `text` is not possible, or "" when it is.
    fn impossible(text: &str) -> String {
        match Handle::parse_written(text) {
            Ok(_) => String::new(),
            Err(HandleError::Impossible { reason, .. }) => reason,
            Err(other) => panic!("{text}: {other}"),
        }
    }

    #[test]
    fn a_written_number_must_have_its_countrys_length() {
        // The three of the issue: E.164 all, none a number of +1.
        for (text, digits) in [("+1 205 555 01", 8), ("+12", 1), ("+1 205 555 01234", 11)] {
            assert_eq!(
                impossible(text),
                format!("a number of `+1` has 10 digits after the `+1`, this one has {digits}"),
                "{text}"
            );
            assert!(Handle::parse(text).is_ok(), "the state still reads {text}");
        }
        assert_eq!(
            Handle::parse_written("+1 205 555 01").unwrap_err().to_string(),
            "`+1 205 555 01` is not a possible phone number: a number of `+1` has 10 digits after the `+1`, this one has 8"
        );
        // Local-only lengths need an area code: not whole E.164 numbers.
        assert!(!impossible("+1 555 0100").is_empty());
    }

    #[test]
    fn possible_numbers_of_several_countries_pass() {
        for text in [
            "+12055550100",     // US
            "+1 416 555 0100",  // Canada shares +1
            "+447911123456",    // GB mobile, 10 after the code
            "+44 20 7946 0018", // GB London
            "+33612345678",     // France, 9
            "+4930123456",      // Germany, 8
            "+8613800138000",   // China, 11
            "+39 06 6982 1234", // Italy keeps its leading 0
            "+80012345678",     // non-geographic, international freephone
            "+9715012345678",   // a three-digit code
        ] {
            assert_eq!(impossible(text), "", "{text}");
        }
    }

    #[test]
    fn an_impossible_number_names_the_lengths_and_a_trunk_zero() {
        assert_eq!(
            impossible("+44 07911 123456"),
            "a number of `+44` has 7, 9 or 10 digits after the `+44`, this one has 11; did you mean `+447911123456`, without the `0`?"
        );
        assert!(
            impossible("+4912").starts_with("a number of `+49` has 4 to "),
            "{}",
            impossible("+4912")
        );
        assert_eq!(
            impossible("+999123456"),
            "no country has the calling code it starts with (`+9`, `+99` or `+999` per libphonenumber 9.0.33)"
        );
        assert!(
            Handle::parse_written("bob@example.com").is_ok(),
            "emails have no such test"
        );
    }

    #[test]
    fn lengths_are_sorted_by_code_for_the_search() {
        assert!(lengths::LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(lengths::LENGTHS
            .iter()
            .all(|(_, l)| !l.is_empty() && l.windows(2).all(|w| w[0] < w[1])));
    }

    #[test]
    fn names_are_not_handles() {
        assert_eq!(Handle::parse("alice"), Err(HandleError::NotAHandle("alice".into())));
    }
}
