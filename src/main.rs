//! The `roster` binary: parse arguments, read the environment, run, exit.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use roster::cli::Cli;
use roster::linq::Token;
use roster::run::{self, Env, Exit, Ui};
use roster::state::postgres::PasswordSources;

/// A large plan allocates millions of small strings and set nodes; with mimalloc instead of the
/// system allocator, planning 10,000 chats takes about a quarter less time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // Help and version are successes; a usage error is an error, never exit 2.
            return ExitCode::from(if error.use_stderr() {
                Exit::Error.code()
            } else {
                Exit::Success.code()
            });
        }
    };
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let env = Env {
        token: var("LINQ_API_V3_API_KEY").map(Token::new),
        base_url: var("LINQ_API_V3_BASE_URL"),
        no_color: var("NO_COLOR").is_some(),
        user: var("USER")
            .or_else(|| var("USERNAME"))
            .unwrap_or_else(|| "unknown".to_owned()),
        stdin_terminal: std::io::stdin().is_terminal(),
        stdout_terminal: std::io::stdout().is_terminal(),
        stderr_terminal: std::io::stderr().is_terminal(),
        clock: roster::clock::Clock::system(),
        state: var("ROSTER_STATE"),
        webhook_secret: var("LINQ_WEBHOOK_SECRET").map(roster::watch::Secret::new),
        passwords: PasswordSources {
            password: var("PGPASSWORD"),
            // libpq's rule: `PGPASSFILE`, else `.pgpass` in the home folder.
            passfile: var("PGPASSFILE")
                .map(std::path::PathBuf::from)
                .or_else(|| var("HOME").map(|home| std::path::Path::new(&home).join(".pgpass"))),
        },
    };
    let color = !cli.global.no_color && !env.no_color;
    let ui = Ui {
        out: Box::new(std::io::BufWriter::new(std::io::stdout())),
        err: Box::new(std::io::stderr()),
        out_color: color && env.stdout_terminal,
        err_color: color && env.stderr_terminal,
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
        interactive: env.stderr_terminal,
    };
    ExitCode::from(run::execute(cli, env, ui).code())
}
