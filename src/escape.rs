//! Text from outside roster (chat names and error messages from Linq, names and ids from a
//! config) shown as data, never as terminal control: characters that a terminal acts on or that
//! hide text are shown escaped, the way Rust's `{:?}` shows them.
//!
//! A chat name is set by any member of the group, so it may hold `\x1b]0;…\x07` (retitle the
//! terminal), `\x1b[2J` (clear it), `\r` (overwrite a line) or a right-to-left override (make
//! one plan line read as another). Every text renderer passes such strings through [`escape`];
//! JSON keeps the exact string (see `render::json`).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// True for a character that must not reach a terminal as is: a control character (C0, DEL,
/// C1), a bidirectional override or isolate, or another invisible format character (zero-width
/// space, word joiner, byte-order mark, tags...).
///
/// Zero-width joiner and non-joiner (U+200C, U+200D) are kept: emoji sequences and several
/// scripts need them, and they cannot reorder or hide text.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{ad}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'
            | '\u{200e}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// `text` with every [hidden](is_hidden) character escaped: `\t`, `\n`, `\r`, `\x1b` below
/// U+0080, `\u{202e}` above. Borrowed when there is nothing to escape, which is almost always.
///
/// Backslashes are left alone, so escaping twice changes nothing and a name that spells `\x1b`
/// with its own backslash looks like one holding the character; the JSON output tells them
/// apart.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if is_hidden(c) && (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if is_hidden(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// Shows a string [escaped](escape) in `format!` and `write!`: `format!("`{}`", Escaped(name))`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// Items shown one a line, in order: a list of errors, say.
#[derive(Debug, Clone, Copy)]
pub struct Lines<'a, T>(pub &'a [T]);

impl<T: fmt::Display> fmt::Display for Lines<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

/// Items as code spans, joined by commas: "`a`, `b`". (They are shown as they are: pass
/// [`Escaped`] items where they come from outside roster.)
pub fn code_list<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut out = String::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "`{item}`");
    }
    out
}

/// Alternatives in a sentence: "a", "a or b", "a, b or c"; empty for none.
pub fn or_list<T: AsRef<str>>(items: &[T]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} or {}", init.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_and_bidi_are_shown_escaped() {
        let name = "\u{1b}]0;owned\u{7}\u{1b}[2J\rEvil\u{202e}";
        assert_eq!(escape(name), "\\x1b]0;owned\\x07\\x1b[2J\\rEvil\\u{202e}");
        assert_eq!(escape("a\tb\nc\u{7f}d\u{9b}e"), "a\\tb\\nc\\x7fd\\u{9b}e");
        assert_eq!(
            escape("\u{2066}x\u{2069}\u{200b}\u{feff}\u{e0041}"),
            "\\u{2066}x\\u{2069}\\u{200b}\\u{feff}\\u{e0041}"
        );
    }

    #[test]
    fn lists_read_as_sentences() {
        assert_eq!(Lines(&["a", "b"]).to_string(), "a\nb");
        assert_eq!(Lines::<&str>(&[]).to_string(), "");
        assert_eq!(code_list(["a", "b"]), "`a`, `b`");
        assert_eq!(code_list(Vec::<&str>::new()), "");
        assert_eq!(or_list(&["a"]), "a");
        assert_eq!(or_list(&["a", "b", "c"]), "a, b or c");
        assert_eq!(or_list::<&str>(&[]), "");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for text in ["Sales West", "Équipe de nuit", "שלום", "👨‍👩‍👧 family", "a\\x1b", "→ …"] {
            assert!(matches!(escape(text), Cow::Borrowed(t) if t == text), "{text}");
        }
    }

    #[test]
    fn escaping_twice_changes_nothing_and_leaves_nothing_hidden() {
        let all: String = (0u32..0x11_0000)
            .filter_map(char::from_u32)
            .filter(|c| is_hidden(*c))
            .collect();
        let once = escape(&all).into_owned();
        assert!(!once.chars().any(is_hidden));
        assert_eq!(escape(&once), once);
        assert_eq!(format!("`{}`", Escaped("a\u{1b}b")), "`a\\x1bb`");
    }
}
