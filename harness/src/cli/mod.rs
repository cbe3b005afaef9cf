//! The subcommands of `last`, one module each, and the entry point that
//! maps their outcome to an exit code (see [`output`]).

mod args;
mod bench;
mod demo;
mod eval;
mod info;
mod output;
#[cfg(feature = "server")]
mod serve;
mod soak;
mod train;

use clap::{Parser, Subcommand};
use output::Failure;

#[derive(Parser, Debug)]
#[command(
    name = "last",
    version,
    about = "LAST: Learning At Serving Time re-ranking",
    after_help = "Exit status: 0 success (also when stdout is closed early, e.g. by `| head`), \
                  1 the run failed (missing or bad file, write error, failed soak), 2 usage error."
)]
struct Cli {
    /// No progress bars or notes on stderr (errors are still reported).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    Demo(demo::Args),
    Train(train::Args),
    Eval(eval::Args),
    Soak(soak::Args),
    Info(info::Args),
    Bench(bench::Args),
    #[cfg(feature = "server")]
    Serve(serve::Args),
}

/// Parses the command line, runs the subcommand and exits.
pub fn main() -> ! {
    // clap's errors exit 2 (its help and version 0), a closed pipe quietly.
    let cli = Cli::try_parse().unwrap_or_else(|e| e.exit());
    last::progress::set_quiet(cli.quiet);
    let result = last::backend_from_env()
        .map_err(Failure::Usage)
        .and_then(|be| match cli.cmd {
            Cmd::Demo(a) => demo::run(a, be),
            Cmd::Train(a) => train::run(a, be),
            Cmd::Eval(a) => eval::run(a, be),
            Cmd::Soak(a) => soak::run(a, be),
            Cmd::Info(a) => info::run(a, be),
            Cmd::Bench(a) => bench::run(a, be),
            #[cfg(feature = "server")]
            Cmd::Serve(a) => serve::run(a, be),
        });
    match result {
        Ok(()) => std::process::exit(output::EXIT_OK),
        Err(f) => f.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
