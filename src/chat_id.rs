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

#[cfg(test)]
mod tests {
    use super::*;

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
