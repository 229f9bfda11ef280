//! Raw command-line arguments (clap types only); `run` turns them into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::render::Format;

/// Declarative membership for Linq group chats: plan and apply the smallest safe set of
/// add/remove calls from YAML files kept in git.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Flags every command takes, listed after the command's own.
#[derive(Debug, Args)]
#[command(next_display_order = 100)]
pub struct GlobalArgs {
    /// Config file or directory (every *.yaml/*.yml below it); repeatable [default: roster.yaml]
    #[arg(short = 'c', long = "config", value_name = "PATH", global = true)]
    pub config: Vec<PathBuf>,
    /// State file, or a PostgreSQL URL `postgres://USER@HOST/DB?name=STATE` (also: the
    /// ROSTER_STATE environment variable) [default: roster.state.json]
    #[arg(long, value_name = "FILE|URL", global = true)]
    pub state: Option<PathBuf>,
    /// How long to wait for the state lock, in seconds
    #[arg(long, value_name = "SECONDS", global = true, default_value_t = 0.0, value_parser = seconds)]
    pub lock_timeout: f64,
    /// Never colour the output (also: the NO_COLOR environment variable)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Print only results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (full memberships as a diff, each API call)
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print how long each phase took to stderr (for benchmarks)
    #[arg(long, global = true, hide = true)]
    pub timings: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and check the config; print a one-line summary
    Validate,
    /// Show what apply would do
    Plan(PlanArgs),
    /// Carry out the plan (a fresh one, or a saved PLANFILE)
    Apply(ApplyArgs),
    /// Read chats from Linq, record them in the state and print their config
    Import(ImportArgs),
    /// Read the managed chats from Linq and record changes made outside roster (drift)
    Refresh(RefreshArgs),
    /// Render a saved plan, or the state when no PLANFILE is given
    Show(ShowArgs),
    /// Clear a lock left by a killed run
    ForceUnlock(ForceUnlockArgs),
    /// List the state's kept versions, print one, or replace the state (to move it between
    /// backends)
    #[command(subcommand)]
    State(StateCommand),
    /// Print the shell completion script for SHELL
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command to a folder
    Man(ManArgs),
}

/// Flags shared by the commands that plan.
#[derive(Debug, Args, Clone, Default)]
pub struct PlanScope {
    /// Limit the run to these chats: a chat id, `name:GLOB` (chat names in the config, any case;
    /// `*`, `?`, `[...]`) or a config file or folder (the chats it defines); repeatable
    #[arg(long = "target", value_name = "CHAT")]
    pub targets: Vec<String>,
    /// Leave these chats out of the run; takes what `--target` takes; repeatable
    #[arg(long = "exclude", value_name = "CHAT")]
    pub excludes: Vec<String>,
    /// Allow a plan that removes more than `max_removal_ratio` or `max_removals` allow
    #[arg(long)]
    pub allow_mass_removal: bool,
    /// Allow a plan that creates more chats than `settings.max_creates` allows
    #[arg(long)]
    pub allow_mass_create: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub scope: PlanScope,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Save the plan to FILE, for `roster apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when changes or drift are pending, or changes Linq accepted have not landed yet
    /// (0: none, 1: error)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Read the chats from Linq first and plan against their live membership (writes nothing)
    #[arg(long)]
    pub refresh: bool,
    /// With --refresh: plan even when more than half of the chats read are gone (404) at once,
    /// which is refused by default (from 3 chats read) as a likely wrong token
    #[arg(long)]
    pub allow_mass_gone: bool,
    #[command(flatten)]
    pub pending: PendingArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `roster plan --out`; applied exactly, without a question
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub scope: PlanScope,
    /// Apply without asking (needed when not on a terminal)
    #[arg(long)]
    pub auto_approve: bool,
    /// The most requests in flight at once; under it the number adapts to how Linq answers
    #[arg(long, value_name = "N", default_value_t = crate::linq::DEFAULT_PARALLELISM, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub parallelism: usize,
    /// Keep --parallelism requests in flight instead of adapting (for benchmarks)
    #[arg(long, hide = true)]
    pub fixed_parallelism: bool,
    /// Cap on requests per second, over all chats
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// How long a `wait` step polls for queued changes to land, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0, value_parser = seconds)]
    pub wait_timeout: f64,
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub pending: PendingArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Chat ids to import
    #[arg(value_name = "CHAT", required_unless_present = "all", conflicts_with = "all")]
    pub chats: Vec<String>,
    /// Import every group chat
    #[arg(long)]
    pub all: bool,
    /// With --all: only chats of this line (your own phone number)
    #[arg(long, value_name = "LINE", requires = "all")]
    pub from: Option<String>,
    /// The keys of the chats written: their Linq chat ids, or keys made from their display
    /// names, each bound to its chat with `id:`
    #[arg(long, value_enum, default_value = "ids")]
    pub keys: ImportKeys,
    /// Write the config to FILE instead of stdout (a new file, unless --force)
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Overwrite chats already in the state whose members differ, and replace an existing
    /// --write FILE
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// How `import` keys the chats it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportKeys {
    /// The Linq chat id
    Ids,
    /// A key made from the display name, with `id:` binding it
    Names,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub scope: PlanScope,
    /// Report format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Report chats as gone even when more than half of those read are (404) at once, which is
    /// refused by default (from 3 chats read) as a likely wrong token
    #[arg(long)]
    pub allow_mass_gone: bool,
    #[command(flatten)]
    pub pending: PendingArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// When a change Linq accepted counts as never landed.
#[derive(Debug, Args, Clone)]
pub struct PendingArgs {
    /// How long a change Linq accepted may go unseen, in seconds; after that a read that does
    /// not show it drops it as never landed, and the next plan makes the call again
    #[arg(long, value_name = "SECONDS", default_value_t = 3600.0, value_parser = seconds)]
    pub pending_timeout: f64,
}

/// How roster reaches the API; read at the edge and passed in.
#[derive(Debug, Args, Clone)]
pub struct ApiArgs {
    /// How many reads to run at once
    #[arg(long = "read-parallelism", value_name = "N", default_value_t = 16, hide = true)]
    pub read_parallelism: usize,
    /// How long calls left unsettled by an interrupted run may take to show in Linq before
    /// they count as not made, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds)]
    pub settle_timeout: f64,
}

/// The longest duration any `SECONDS` flag takes: 30 days. Longer is surely a mistake, and
/// every duration below it can be added to a clock reading without overflow.
pub const MAX_SECONDS: f64 = 30.0 * 24.0 * 3600.0;

/// The value parser of every flag that takes a duration in `SECONDS`: a finite number from 0
/// to [`MAX_SECONDS`]. Anything else (`inf`, `NaN`, `1e30`, `-1`) is a usage error before any
/// work starts, so no timer can overflow later, with a call already sent.
pub fn seconds(text: &str) -> Result<f64, String> {
    let range = || format!("a number of seconds from 0 to {MAX_SECONDS} (30 days)");
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number; expected {}", range()))?;
    if !(0.0..=MAX_SECONDS).contains(&value) {
        return Err(format!("`{text}` is out of range; expected {}", range()));
    }
    Ok(value)
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved by `roster plan --out`
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id, as printed by the run that failed to take the lock
    #[arg(value_name = "LOCK_ID")]
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the kept versions, newest first (a file keeps itself and its `.backup`)
    History {
        /// Output format
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print the state as JSON: the current one, or the kept version SERIAL
    Pull {
        #[arg(long, value_name = "SERIAL")]
        serial: Option<u64>,
    },
    /// Replace the state with the one in FILE (`-`: standard input)
    Push {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace a state of another lineage, or a newer one
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `roster.1` and a page per command, such as `roster-plan.1`, to DIR instead
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_takes_finite_durations_up_to_30_days_and_nothing_else() {
        for (text, value) in [("0", 0.0), ("1.5", 1.5), (" 120 ", 120.0), ("2592000", MAX_SECONDS)] {
            assert_eq!(seconds(text), Ok(value), "{text}");
        }
        for text in [
            "inf",
            "-inf",
            "NaN",
            "1e30",
            "2592000.5",
            "-1",
            "-0.001",
            "",
            "ten",
            "1s",
        ] {
            let error = seconds(text).expect_err(text);
            assert!(error.contains(&format!("`{text}`")), "{error}");
            assert!(error.contains("from 0 to 2592000"), "{error}");
        }
    }
}
