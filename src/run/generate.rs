//! `roster completions` and `roster man`: shell completion scripts and roff man pages, generated
//! from the clap definitions in [`crate::cli`] so they can never drift from the real flags.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use clap_complete::Shell;
use clap_mangen::Man;
use roff::{bold, roman, Roff};

use super::{Context, Error, ErrorContext as _, Exit, Signal};
use crate::cli::{Cli, CompletionsArgs, ManArgs};

/// Prints the completion script for one shell to stdout.
pub fn completions(cx: &mut Context, args: &CompletionsArgs) -> Result<Exit, Error> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "roster", &mut *cx.ui.out);
    if args.shell == Shell::Fish {
        fish_positional_values(&command, &mut *cx.ui.out).context("failed to write the completion script to stdout")?;
    }
    cx.ui
        .out
        .flush()
        .context("failed to write the completion script to stdout")?;
    Ok(Exit::Success)
}

/// clap_complete's fish script completes flag values only, so `roster completions <TAB>` would
/// offer files: add the values of each command's positional arguments (the shells, say).
fn fish_positional_values(root: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    for command in root.get_subcommands().filter(|command| !command.is_hide_set()) {
        for arg in command.get_positionals().filter(|arg| !arg.is_hide_set()) {
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|value| !value.is_hide_set())
                .map(|value| value.get_name().to_owned())
                .collect();
            if !values.is_empty() {
                writeln!(
                    out,
                    "complete -c roster -n \"__fish_seen_subcommand_from {}\" -f -a \"{}\"",
                    command.get_name(),
                    values.join(" ")
                )?;
            }
        }
    }
    Ok(())
}

/// Prints the main page, or writes it and one page per command to `--dir`.
pub fn man(cx: &mut Context, args: &ManArgs) -> Result<Exit, Error> {
    let Some(dir) = &args.dir else {
        main_page(&mut *cx.ui.out).context("failed to write the man page to stdout")?;
        return Ok(Exit::Success);
    };
    if dir.exists() && !dir.is_dir() {
        return Err(super::Error::ManDirIsAFile(dir.clone()));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create folder `{}`", dir.display()))?;
    let written = write_pages(dir)?;
    for path in &written {
        let _ = writeln!(cx.ui.out, "{}", path.display());
    }
    cx.ui.status(format!(
        "Wrote {} man pages to `{}`; read one with `man {}`.",
        written.len(),
        dir.display(),
        dir.join("roster.1").display()
    ));
    Ok(Exit::Success)
}

/// Writes `roster.1` and a page per visible command (`roster-plan.1`, …), returning their paths.
fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut root = Cli::command().disable_help_subcommand(true);
    // Building sets each command's display name (`roster-plan`), which names its page.
    root.build();
    let mut written = Vec::new();
    let path = dir.join("roster.1");
    write_file(&path, |out| main_page(out))?;
    written.push(path);
    for command in root.get_subcommands().filter(|command| !command.is_hide_set()) {
        // The version names the manual's source, as on the main page.
        let page = Man::new(command.clone()).source(format!("roster {}", env!("CARGO_PKG_VERSION")));
        let path = dir.join(page.get_filename());
        write_file(&path, |out| page.render(out))?;
        written.push(path);
    }
    Ok(written)
}

fn write_file(path: &Path, render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), Error> {
    let mut bytes = Vec::new();
    render(&mut bytes)?;
    std::fs::write(path, bytes).with_context(|| format!("failed to write man page `{}`", path.display()))
}

/// The `roster(1)` page: clap's, with the exit status and the environment before the version,
/// where man pages keep them.
fn main_page(out: &mut dyn Write) -> std::io::Result<()> {
    let mut page = Vec::new();
    Man::new(Cli::command().disable_help_subcommand(true)).render(&mut page)?;
    let page = String::from_utf8_lossy(&page);
    let at = page.find("\n.SH VERSION\n").map_or(page.len(), |at| at + 1);
    out.write_all(page[..at].as_bytes())?;
    out.write_all(extra_sections().to_roff().as_bytes())?;
    out.write_all(page[at..].as_bytes())
}

/// What `--help` has no room for: exit codes and environment variables, as in the README.
fn extra_sections() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    let codes = [
        (Exit::Success, "success (with --detailed-exitcode: nothing pending)"),
        (
            Exit::Error,
            "an error; nothing or part applied, and the output says which",
        ),
        (
            Exit::Pending,
            "only from plan --detailed-exitcode: success, with changes or drift to make, or changes Linq accepted that are not seen to land yet",
        ),
        (
            Exit::Interrupted(Signal::Interrupt),
            "interrupted by Ctrl-C (SIGINT); what Linq accepted is saved",
        ),
        (Exit::Interrupted(Signal::Terminate), "stopped by SIGTERM, as CI runners send to cancel a job"),
        (Exit::Interrupted(Signal::Hangup), "stopped by SIGHUP: the terminal went away"),
    ];
    for (exit, meaning) in codes {
        roff.control("TP", [])
            .text([bold(exit.code().to_string())])
            .text([roman(meaning)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    let variables = [
        (
            "LINQ_API_V3_API_KEY",
            "the Linq API token, needed by apply, import, refresh and plan --refresh".to_owned(),
        ),
        (
            "LINQ_API_V3_BASE_URL",
            format!("the API's base URL (default {})", crate::linq::DEFAULT_BASE_URL),
        ),
        ("NO_COLOR", "never colour the output, as --no-color".to_owned()),
    ];
    for (name, meaning) in variables {
        roff.control("TP", []).text([bold(name)]).text([roman(meaning)]);
    }
    roff
}
