//! `roster state history`: the kept versions of the state, for people and for scripts.

use std::io::{self, Write};

use serde::Serialize;

use crate::escape::Escaped;
use crate::state::Version;

/// The version of `state history --format json`'s shape.
pub const HISTORY_FORMAT_VERSION: &str = "1";

/// One line per version, newest first, the current one marked.
pub fn history_text(state: &str, versions: &[Version], w: &mut dyn Write) -> io::Result<()> {
    if versions.is_empty() {
        return writeln!(w, "No state yet at `{}`.", Escaped(state));
    }
    let unknown = || "-".to_owned();
    let rows: Vec<[String; 5]> = versions
        .iter()
        .map(|v| {
            [
                v.serial.to_string(),
                v.written_at.clone().unwrap_or_else(unknown),
                match (&v.who, &v.host) {
                    (Some(who), Some(host)) => format!("{}@{}", Escaped(who), Escaped(host)),
                    _ => unknown(),
                },
                v.operation.as_deref().map_or_else(unknown, |o| Escaped(o).to_string()),
                if v.current { "current".to_owned() } else { String::new() },
            ]
        })
        .collect();
    let header = ["SERIAL", "WRITTEN", "BY", "OPERATION", ""];
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |w: &mut dyn Write, cells: [&str; 5]| {
        let text: Vec<String> = cells.iter().zip(&widths).map(|(c, n)| format!("{c:<n$}")).collect();
        writeln!(w, "{}", text.join("  ").trim_end())
    };
    line(w, header)?;
    for row in &rows {
        line(w, [&row[0], &row[1], &row[2], &row[3], &row[4]])?;
    }
    let lineages: std::collections::BTreeSet<&str> = versions.iter().map(|v| v.lineage.as_str()).collect();
    if lineages.len() == 1 {
        writeln!(w, "Lineage `{}`.", Escaped(&versions[0].lineage))?;
    } else {
        writeln!(
            w,
            "Lineages (newest first): {}.",
            versions
                .iter()
                .map(|v| format!("{} `{}`", v.serial, Escaped(&v.lineage)))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    Ok(())
}

/// `{"format_version": "1", "state": …, "versions": [...]}`, newest first.
pub fn history_json(state: &str, versions: &[Version], w: &mut dyn Write) -> io::Result<()> {
    #[derive(Serialize)]
    struct History<'a> {
        format_version: &'static str,
        state: &'a str,
        versions: &'a [Version],
    }
    super::write_json(
        w,
        &History {
            format_version: HISTORY_FORMAT_VERSION,
            state,
            versions,
        },
    )
}
