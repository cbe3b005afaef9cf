//! The `last` command line: one module per subcommand in `cli/`.
//!
//! Exit codes: 0 on success (and when stdout is closed early, e.g. by
//! `| head`), 1 when the run fails (a missing or bad file, an unwritable
//! output, a failed soak), 2 for a usage error (clap's own included).

mod cli;

fn main() {
    cli::main()
}
