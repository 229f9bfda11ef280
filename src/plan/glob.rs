//! The patterns of `--target name:GLOB`: shell-style globs over chat names, in any case.
//!
//! `*` matches any run of characters (none included), `?` one character, `[abc]`, `[a-z]` one
//! of a set (`[!...]` or `[^...]`: one not in it; a `]` first in the set is literal), and `\`
//! makes the next character literal. Pattern and name are compared lower-cased, so
//! `name:SALES*` matches `Sales West`. Names are short: a plain backtracking matcher, which
//! remembers only the last `*` and so stays linear in practice, is enough.

use std::fmt;

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// One character, lower-cased.
    Char(char),
    /// `?`
    One,
    /// `*`
    Any,
    /// `[...]`: inclusive ranges of lower-cased characters.
    Set { negated: bool, ranges: Vec<(char, char)> },
}

/// Why a pattern cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobError {
    /// A `[` without its `]`.
    UnclosedSet,
    /// A `\` with nothing after it.
    TrailingEscape,
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobError::UnclosedSet => write!(f, "a `[` is not closed by `]`"),
            GlobError::TrailingEscape => write!(f, "it ends with `\\`, which escapes nothing"),
        }
    }
}

/// `c` lower-cased, as one character (the first, where lower-casing makes several).
fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

impl Glob {
    pub fn parse(pattern: &str) -> Result<Glob, GlobError> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => {
                    // `**` means what `*` means; keep one.
                    if tokens.last() == Some(&Token::Any) {
                        continue;
                    }
                    Token::Any
                }
                '?' => Token::One,
                '\\' => Token::Char(lower(chars.next().ok_or(GlobError::TrailingEscape)?)),
                '[' => {
                    let negated = chars.next_if(|c| *c == '!' || *c == '^').is_some();
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let c = chars.next().ok_or(GlobError::UnclosedSet)?;
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let start = if c == '\\' {
                            chars.next().ok_or(GlobError::UnclosedSet)?
                        } else {
                            c
                        };
                        // `a-z` is a range; a `-` before the closing `]` is literal.
                        let mut ahead = chars.clone();
                        let end = match (ahead.next(), ahead.next()) {
                            (Some('-'), Some(end)) if end != ']' => {
                                chars.next();
                                chars.next();
                                end
                            }
                            _ => start,
                        };
                        ranges.push((lower(start), lower(end)));
                    }
                    Token::Set { negated, ranges }
                }
                c => Token::Char(lower(c)),
            };
            tokens.push(token);
        }
        Ok(Glob { tokens })
    }

    /// True when the pattern has no `*`, `?` or `[...]`: it names one name exactly.
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|token| matches!(token, Token::Char(_)))
    }

    /// The characters the pattern spells literally, wildcards dropped: what to compare names
    /// with when nothing matches, to suggest close ones.
    pub fn literal_text(&self) -> String {
        (self.tokens.iter())
            .filter_map(|token| match token {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// True when `name` matches the whole pattern, in any case.
    pub fn matches(&self, name: &str) -> bool {
        let text: Vec<char> = name.chars().map(lower).collect();
        let (mut t, mut p) = (0, 0);
        // Where the last `*` was, and the text position it was last tried to match up to.
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(token) if token.matches(text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    // Let the last `*` take one more character, and go on after it.
                    Some((at, taken)) => {
                        p = at + 1;
                        t = taken + 1;
                        star = Some((at, taken + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|token| *token == Token::Any)
    }
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Char(own) => *own == c,
            Token::One => true,
            Token::Any => true,
            Token::Set { negated, ranges } => ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)) != *negated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        Glob::parse(pattern).unwrap().matches(name)
    }

    #[test]
    fn stars_and_question_marks_match_runs_and_single_characters() {
        for (pattern, name) in [
            ("sales*", "Sales West"),
            ("*west", "Sales West"),
            ("*", ""),
            ("*", "anything"),
            ("s*s*t", "Sales West"),
            ("sales?west", "Sales West"),
            ("a**b", "ab"),
            ("*a*a*a*", "banana bread"),
            ("Sales West", "sales west"),
        ] {
            assert!(matches(pattern, name), "{pattern} ~ {name}");
        }
        for (pattern, name) in [
            ("sales", "Sales West"),
            ("sales?", "Sales"),
            ("?", ""),
            ("*east", "Sales West"),
            ("s*s*x", "Sales West"),
            ("*a*a*a*a*", "banana"),
        ] {
            assert!(!matches(pattern, name), "{pattern} !~ {name}");
        }
    }

    #[test]
    fn case_is_ignored_on_both_sides_including_beyond_ascii() {
        assert!(matches("SALES*", "sales west"));
        assert!(matches("équipe*", "ÉQUIPE NUIT"));
        assert!(matches("[A-C]*", "bob"));
        assert!(matches("[a-c]*", "Bob"));
        assert!(!matches("[!A-C]*", "bob"));
    }

    #[test]
    fn sets_take_ranges_negation_and_literal_brackets_and_dashes() {
        assert!(matches("team [0-9]", "Team 7"));
        assert!(!matches("team [0-9]", "Team x"));
        assert!(matches("team [^0-9]", "Team x"));
        assert!(matches("[]]x", "]x"));
        assert!(matches("a[-b]c", "a-c"));
        assert!(matches("a[b-]c", "a-c"));
        assert!(matches("a[*?]c", "a*c"));
        assert!(!matches("a[*?]c", "abc"));
    }

    #[test]
    fn a_backslash_makes_the_next_character_literal() {
        assert!(matches(r"50\% off\*", "50% off*"));
        assert!(!matches(r"a\*", "ab"));
        assert!(matches(r"what\?", "What?"));
    }

    #[test]
    fn broken_patterns_are_refused_with_a_reason() {
        assert_eq!(Glob::parse("[abc"), Err(GlobError::UnclosedSet));
        assert_eq!(Glob::parse("[]"), Err(GlobError::UnclosedSet));
        assert_eq!(Glob::parse(r"abc\"), Err(GlobError::TrailingEscape));
    }

    #[test]
    fn literal_text_drops_the_wildcards() {
        let glob = Glob::parse("sal[e]s w*").unwrap();
        assert_eq!(glob.literal_text(), "sals w");
        assert!(!glob.is_literal());
        assert!(Glob::parse(r"Sales West\?").unwrap().is_literal());
    }
}
