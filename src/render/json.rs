//! JSON for scripts, pretty-printed: every string exact, with the characters a terminal acts on
//! (see [`crate::escape::is_hidden`]) written as `\u` escapes, so a report piped to a terminal
//! cannot retitle or clear it. `serde_json` escapes only C0 controls and writes C1 controls
//! and bidi overrides raw; parsed back, both spellings are the same string.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use crate::escape::is_hidden;

/// Writes `value` as pretty JSON and a newline.
pub fn write_json<T: Serialize + ?Sized>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *w, Safe(PrettyFormatter::new()));
    value.serialize(&mut serializer).map_err(io::Error::from)?;
    writeln!(w)
}

/// [`PrettyFormatter`], with hidden characters inside strings escaped.
struct Safe<'a>(PrettyFormatter<'a>);

impl Formatter for Safe<'_> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (at, c) in fragment.char_indices().filter(|(_, c)| is_hidden(*c)) {
            writer.write_all(&fragment.as_bytes()[start..at])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = at + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn written(value: &Value) -> String {
        let mut out = Vec::new();
        write_json(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ordinary_json_is_what_serde_json_writes() {
        let value = json!({"a": [1, {"b": "Équipe → nuit 👨‍👩‍👧"}, []], "c": {}, "d": "q\"\\\n"});
        assert_eq!(
            written(&value),
            format!("{}\n", serde_json::to_string_pretty(&value).unwrap())
        );
    }

    #[test]
    fn hidden_characters_are_escaped_and_the_string_is_exact() {
        let name = "\u{1b}]0;owned\u{7}\u{1b}[2J\rEvil\u{202e}\u{9b}x\u{e0041}";
        let text = written(&json!({ "name": name }));
        assert!(!text.chars().any(|c| is_hidden(c) && c != '\n'), "{text:?}");
        assert!(text.contains(r"Evil\u202e\u009bx\udb40\udc41"), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["name"], name);
    }
}
