//! `roster state history`: the kept versions of the state, for people and for scripts.

use std::io::{self, Write};

use serde::Serialize;

use super::{Document, TextOptions};
use crate::escape::Escaped;
use crate::state::Version;

/// The version of `state history --format json`'s shape.
pub const HISTORY_FORMAT_VERSION: &str = "1";

/// One line per version, newest first, the current one marked; a lineage column when the
/// versions are of more than one lineage (a forced push), else one line naming it.
fn history_text(state: &str, versions: &[Version], w: &mut dyn Write) -> io::Result<()> {
    if versions.is_empty() {
        return writeln!(w, "No state yet at `{}`.", Escaped(state));
    }
    let lineages: std::collections::BTreeSet<&str> = versions.iter().map(|v| v.lineage.as_str()).collect();
    let mixed = lineages.len() > 1;
    let unknown = || "-".to_owned();
    let mut header = vec!["SERIAL", "WRITTEN", "BY", "OPERATION"];
    if mixed {
        header.push("LINEAGE");
    }
    header.push("");
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            let mut row = vec![
                v.serial.to_string(),
                v.written_at.clone().unwrap_or_else(unknown),
                match (&v.who, &v.host) {
                    (Some(who), Some(host)) => format!("{}@{}", Escaped(who), Escaped(host)),
                    _ => unknown(),
                },
                v.operation.as_deref().map_or_else(unknown, |o| Escaped(o).to_string()),
            ];
            if mixed {
                row.push(Escaped(&v.lineage).to_string());
            }
            row.push(if v.current { "current".to_owned() } else { String::new() });
            row
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |w: &mut dyn Write, cells: &[&str]| {
        let text: Vec<String> = cells.iter().zip(&widths).map(|(c, n)| format!("{c:<n$}")).collect();
        writeln!(w, "{}", text.join("  ").trim_end())
    };
    line(w, &header)?;
    for row in &rows {
        line(w, &row.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    if !mixed {
        writeln!(w, "Lineage `{}`.", Escaped(&versions[0].lineage))?;
    }
    Ok(())
}

/// The kept versions of a state: `{"format_version": "1", "state": …, "versions": [...]}` in
/// JSON, newest first.
#[derive(Debug, Serialize)]
pub struct History {
    pub format_version: &'static str,
    /// Where the state is (a URL without its password).
    pub state: String,
    pub versions: Vec<Version>,
}

impl History {
    pub fn new(state: String, versions: Vec<Version>) -> History {
        History {
            format_version: HISTORY_FORMAT_VERSION,
            state,
            versions,
        }
    }
}

impl Document for History {
    fn text(&self, _options: TextOptions, w: &mut dyn Write) -> io::Result<()> {
        history_text(&self.state, &self.versions, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(serial: u64, lineage: &str, by: Option<(&str, &str, &str)>, current: bool) -> Version {
        Version {
            serial,
            lineage: lineage.to_owned(),
            written_at: Some(format!("2026-11-2{serial}T10:00:00.000Z")),
            who: by.map(|b| b.0.to_owned()),
            host: by.map(|b| b.1.to_owned()),
            operation: by.map(|b| b.2.to_owned()),
            current,
        }
    }

    #[test]
    fn history_lists_versions_newest_first_with_who_wrote_them() {
        let mut out = Vec::new();
        let database = [
            version(3, "bbbb", Some(("ci", "runner-7", "push")), true),
            version(2, "aaaa", Some(("ana", "laptop\u{1b}[2J", "apply")), false),
            version(1, "aaaa", Some(("ana", "laptop", "import")), false),
        ];
        history_text("postgres://ci@db/ops?name=sales", &database, &mut out).unwrap();
        out.push(b'\n');
        let file = [version(5, "aaaa", None, true), version(4, "aaaa", None, false)];
        history_text("roster.state.json", &file, &mut out).unwrap();
        out.push(b'\n');
        history_text("roster.state.json", &[], &mut out).unwrap();
        out.push(b'\n');
        let json = History::new("roster.state.json".into(), file[..1].to_vec());
        super::super::write_json(&mut out, &json).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }
}
