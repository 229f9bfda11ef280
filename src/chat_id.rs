//! Chat ids: which text can name a Linq chat. The config refuses the others, and the client
//! never puts one in a URL.

use crate::escape::{is_hidden, Escaped};

/// Why a text cannot be a Linq chat id. Linq's ids are UUIDs, but roster only needs each to
/// be one segment of a URL path that names that chat and no other: `..` would turn
/// `/v3/chats/../participants` into another endpoint, and a tab or newline is dropped when the
/// URL is parsed, so that two spellings would reach one chat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatIdError {
    #[error("a chat id must not be empty")]
    Empty,
    #[error("`{0}` cannot be a chat id: in a URL path it names another endpoint of the API")]
    DotSegment(String),
    #[error("chat id `{}` holds whitespace or a control character; a chat id must be one segment of a URL path", Escaped(.0))]
    Hidden(String),
}

/// Checks that `id` can name a chat in a URL path: not empty, not `.` or `..`, and without
/// whitespace or control characters.
pub fn check_chat_id(id: &str) -> Result<(), ChatIdError> {
    if id.is_empty() {
        Err(ChatIdError::Empty)
    } else if id == "." || id == ".." {
        Err(ChatIdError::DotSegment(id.to_owned()))
    } else if id.chars().any(|c| c.is_whitespace() || is_hidden(c)) {
        Err(ChatIdError::Hidden(id.to_owned()))
    } else {
        Ok(())
    }
}

/// The longest key of the team's own a config may give a chat.
pub const MAX_KEY_LEN: usize = 64;

/// True when `text` is a UUID in its hyphenated form (any case): the shape of a Linq chat id.
/// A config key of this shape names that chat; any other key is one of the team's own.
pub fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(at, byte)| match at {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// Why a text cannot be a chat's key in the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("chat key `{}` is not a Linq chat id (a UUID) nor a key of your own: a key is lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit", Escaped(.0))]
    Syntax(String),
    #[error("chat key `{}…` is {} characters long; a key of your own is at most {MAX_KEY_LEN}", Escaped(&.0[..MAX_KEY_LEN]), .1)]
    TooLong(String, usize),
}

/// Checks that `key` can name a chat in `chats:`: a UUID (a Linq chat id), or a key of the
/// team's own, `[a-z0-9][a-z0-9._-]*` and at most [`MAX_KEY_LEN`] long. The own keys' syntax is
/// narrow on purpose: it is one URL path segment, one file name and one shell word as it is.
pub fn check_key(key: &str) -> Result<(), KeyError> {
    if is_uuid(key) {
        return Ok(());
    }
    let mut chars = key.chars();
    let own = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let syntax_ok = chars.next().is_some_and(own) && chars.all(|c| own(c) || matches!(c, '.' | '_' | '-'));
    if !syntax_ok {
        Err(KeyError::Syntax(key.to_owned()))
    } else if key.len() > MAX_KEY_LEN {
        Err(KeyError::TooLong(key.to_owned(), key.len()))
    } else {
        Ok(())
    }
}

/// A key of the team's own made from a chat's display name: lowercase letters and digits, every
/// other run of characters one `-`, at most [`MAX_KEY_LEN`] long; `None` when nothing is left.
pub fn key_from_name(name: &str) -> Option<String> {
    let mut key = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            key.push(c);
        } else if !key.is_empty() && !key.ends_with('-') {
            key.push('-');
        }
    }
    key.truncate(MAX_KEY_LEN);
    let key = key.trim_end_matches('-');
    (!key.is_empty()).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_uuids_or_the_teams_own() {
        for ok in [
            "550e8400-e29b-41d4-a716-446655440000",
            "550E8400-E29B-41D4-A716-446655440000",
            "support-emea",
            "a",
            "0.b_c-d",
        ] {
            assert_eq!(check_key(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-a", ".a", "Support", "a b", "a/b", "é", "a\u{202e}"] {
            assert_eq!(check_key(bad), Err(KeyError::Syntax(bad.into())), "{bad:?}");
        }
        let long = "a".repeat(65);
        assert_eq!(check_key(&long), Err(KeyError::TooLong(long.clone(), 65)));
        assert_eq!(check_key(&long[..64]), Ok(()));
        assert!(!is_uuid("550e8400e29b41d4a716446655440000"));
    }

    #[test]
    fn keys_made_from_names_are_keys() {
        assert_eq!(key_from_name("Sales West").as_deref(), Some("sales-west"));
        assert_eq!(key_from_name("  Shifts: night #2 ").as_deref(), Some("shifts-night-2"));
        assert_eq!(key_from_name("🎉 ✨").as_deref(), None);
        let long = key_from_name(&"ab ".repeat(40)).unwrap();
        assert!(long.len() <= MAX_KEY_LEN && check_key(&long).is_ok(), "{long}");
    }

    #[test]
    fn chat_ids_must_be_one_path_segment() {
        for ok in ["550e8400-e29b-41d4-a716-446655440000", "chat.1", "...", "a/b", "a%2e"] {
            assert_eq!(check_chat_id(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_chat_id(""), Err(ChatIdError::Empty));
        assert_eq!(check_chat_id(".."), Err(ChatIdError::DotSegment("..".into())));
        assert_eq!(check_chat_id("."), Err(ChatIdError::DotSegment(".".into())));
        for bad in [" ", "a b", "a\tb", "a\nb", "a\u{1b}b", "a\u{202e}b", "a\u{a0}b"] {
            assert_eq!(check_chat_id(bad), Err(ChatIdError::Hidden(bad.into())), "{bad:?}");
        }
        let shown = check_chat_id("a\tb").unwrap_err().to_string();
        assert!(shown.contains("`a\\tb`"), "{shown}");
    }
}
