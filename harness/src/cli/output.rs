//! Exit codes, the checked stdout writer, stderr notes and the output
//! folder probe.

use std::io::Write;
use std::path::Path;

/// Success, and also a stdout closed by the reader (`last … | head -1`):
/// the reader asked for no more, which is not a failure of this program.
pub const EXIT_OK: i32 = 0;
/// The run failed: a missing or bad input, a write error, a failed check.
pub const EXIT_FAILURE: i32 = 1;
/// The command line is wrong (the code clap uses for its own errors).
pub const EXIT_USAGE: i32 = 2;

/// Why a subcommand stopped.
#[derive(Debug)]
pub enum Failure {
    /// A usage error detected after parsing (exit 2).
    Usage(String),
    /// A runtime failure (exit 1).
    Runtime(String),
    /// Stdout was closed by its reader (exit 0, nothing printed).
    ClosedStdout,
}

impl Failure {
    /// Reports the failure on stderr and ends the process with its code.
    pub fn exit(self) -> ! {
        let code = match self {
            Failure::Usage(msg) => {
                let mut e = std::io::stderr().lock();
                let _ = writeln!(e, "error: {msg}\n\nFor more information, try '--help'.");
                EXIT_USAGE
            }
            Failure::Runtime(msg) => {
                let _ = writeln!(std::io::stderr().lock(), "error: {msg}");
                EXIT_FAILURE
            }
            Failure::ClosedStdout => EXIT_OK,
        };
        std::process::exit(code)
    }
}

/// A runtime failure from anything printable.
pub fn runtime(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}

fn stdout_failure(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::ClosedStdout
    } else {
        Failure::Runtime(format!("writing to stdout: {e}"))
    }
}

/// Writes `text` to stdout and flushes, so that a closed pipe or a full
/// disk is noticed at this write, not at exit.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(stdout_failure)
}

/// [`print`] with a newline.
pub fn println(text: &str) -> Result<(), Failure> {
    print(&format!("{text}\n"))
}

/// A message on stderr unless `--quiet` (a failed write is ignored).
pub fn note(msg: &str) {
    if !last::progress::is_quiet() {
        let _ = writeln!(std::io::stderr().lock(), "{msg}");
    }
}

/// Makes sure `dir` can take `files` before any work starts: creates the
/// folder, refuses a file name taken by a folder, opens existing files for
/// appending (without changing them) and writes and removes a probe file.
pub fn prepare_out_dir(dir: &Path, files: &[&str]) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| runtime(format!("{}: cannot create the folder: {e}", dir.display())))?;
    for f in files {
        let p = dir.join(f);
        if p.is_dir() {
            return Err(runtime(format!(
                "{}: is a folder, cannot write the file",
                p.display()
            )));
        }
        if p.exists() {
            std::fs::OpenOptions::new()
                .append(true)
                .open(&p)
                .map_err(|e| runtime(format!("{}: not writable: {e}", p.display())))?;
        }
    }
    let probe = dir.join(format!(".last-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(|e| {
        runtime(format!(
            "{}: cannot write in this folder: {e}",
            dir.display()
        ))
    })?;
    std::fs::remove_file(&probe).map_err(|e| runtime(format!("{}: {e}", probe.display())))?;
    Ok(())
}

/// Writes a file, naming it in the error.
pub fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).map_err(|e| runtime(format!("{}: {e}", path.display())))
}
