//! A bound on how deeply a config file nests, checked before the YAML parser reads it.
//!
//! The YAML parser's time grows with the square of flow nesting (`[[[…`, `{a: {a: …`): it looks
//! at every open level again at each token, so 100,000 nested brackets took about 19 seconds
//! and a 2 MB file half an hour. A config needs 4 levels (the file, `chats`, a chat, its
//! `members`), so a file that nests deeper than [`MAX_DEPTH`] is refused, at the first level too
//! many, before the YAML parser sees it.
//!
//! Flow style can nest past [`MAX_DEPTH`] only in a file with more opening brackets than that,
//! so every other file skips the check. The rest are read once more by an event parser whose
//! time is linear, and which stops at the first level too deep.

use saphyr_parser::{Event, Parser};

use super::locate::Pos;

/// The deepest a config file may nest: four times what a config needs.
pub(crate) const MAX_DEPTH: usize = 16;

/// Why a file is refused before it is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooDeep {
    pub at: Pos,
    pub message: String,
}

/// Checks that `text` nests no deeper than [`MAX_DEPTH`].
pub(crate) fn check(text: &str) -> Result<(), TooDeep> {
    let opens = text.bytes().filter(|&b| b == b'[' || b == b'{').count();
    if opens <= MAX_DEPTH {
        return Ok(());
    }
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(event) => event,
            // The event parser itself gives up past 255 flow levels, before it has told of the
            // levels in between: name the place it gave up.
            Err(error) if error.info() == "recursion limit exceeded" => {
                let marker = error.marker();
                return Err(TooDeep {
                    at: (marker.line(), marker.col() + 1),
                    message: too_deep_message(),
                });
            }
            Err(error) => {
                // The event parser stopped where the YAML parser might read on. That is safe
                // only if too few brackets remain to nest too deep.
                let rest = text.chars().skip(error.marker().index());
                let remaining = rest.filter(|&c| c == '[' || c == '{').count();
                if depth + remaining <= MAX_DEPTH {
                    return Ok(());
                }
                let marker = error.marker();
                return Err(TooDeep {
                    at: (marker.line(), marker.col() + 1),
                    message: format!("YAML syntax error: {}", error.info()),
                });
            }
        };
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(TooDeep {
                        at: (span.start.line(), span.start.col() + 1),
                        message: too_deep_message(),
                    });
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn too_deep_message() -> String {
    format!("nested deeper than {MAX_DEPTH} levels; a config needs 4 (the file, `chats`, a chat, its `members`)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep_message() -> String {
        too_deep_message()
    }

    #[test]
    fn a_config_passes_whatever_its_brackets() {
        let mut yaml = String::from("version: 1\nchats:\n");
        for c in 0..100 {
            yaml.push_str(&format!(
                "  c{c}:\n    name: \"[[[[\"\n    members: [a, b, {{x: [c]}}]\n"
            ));
        }
        assert_eq!(check(&yaml), Ok(()));
        assert_eq!(check("a: [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]"), Ok(()), "16 levels in all");
    }

    #[test]
    fn the_first_level_too_deep_is_named() {
        // The root mapping is level 1, so the 16th bracket opens level 17.
        let deep = format!("version: 1\nchats: {}{}\n", "[".repeat(40), "]".repeat(40));
        let expected = TooDeep {
            at: (2, 8 + MAX_DEPTH - 1),
            message: deep_message(),
        };
        assert_eq!(check(&deep), Err(expected));
        let mappings = format!("version: 1\nchats: {}\n", "{a: ".repeat(100_000));
        assert_eq!(check(&mappings).map_err(|e| e.at), Err((2, 8 + 4 * (MAX_DEPTH - 1))));
    }

    #[test]
    fn past_the_event_parsers_own_limit_the_place_it_gave_up_is_named() {
        // Bare brackets are read ahead (any could start a key) until 255 levels are open.
        let deep = format!("version: 1\nchats: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let expected = TooDeep {
            at: (2, 8 + 255),
            message: deep_message(),
        };
        assert_eq!(check(&deep), Err(expected));
    }

    #[test]
    fn block_nesting_counts_too() {
        let mut yaml = String::from("x: [a]\n");
        for level in 0..20 {
            yaml.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
        }
        yaml.push_str(&format!("{}[{}]\n", "  ".repeat(20), "[".repeat(MAX_DEPTH)));
        assert_eq!(check(&yaml).map_err(|e| e.message), Err(deep_message()));
    }

    #[test]
    fn a_file_the_event_parser_cannot_read_is_refused_only_when_brackets_follow() {
        let broken = "a: [b\n}\n";
        assert_eq!(check(&format!("{broken}{}", "[".repeat(MAX_DEPTH - 2))), Ok(()));
        let refused = check(&format!("{broken}{}", "[".repeat(1000))).unwrap_err();
        assert!(refused.message.starts_with("YAML syntax error: "), "{refused:?}");
        assert_eq!(refused.at.0, 2);
    }
}
