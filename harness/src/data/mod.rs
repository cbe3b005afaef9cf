//! Streaming readers for the public ranking data the project trains and
//! evaluates on: LETOR / SVMlight files (MSLR-WEB, Yahoo LTR) and the Yandex
//! WSCD 2011 click log.
//!
//! The readers are iterators over a [`std::io::BufRead`]: they hold at most
//! one record (a query, a session) in memory, cap the length of a single
//! line or session so that a corrupt file cannot exhaust memory, and report
//! malformed input as a [`DataError`] with the file name and line number
//! instead of panicking. After the first error an iterator yields `None`.

use std::io::{self, BufRead};

pub mod dataset;
pub mod letor;
pub mod sim;
pub mod sources;
pub mod world;
pub mod wscd;

pub use letor::{
    feature_count, read_groups, read_letor, read_letor_file, LetorFile, LetorQuery, LetorRead,
    LetorReader,
};
pub use wscd::{read_wscd_file, Session, WscdReader};

/// Why a data file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Opening or reading the file failed.
    #[error("{file}: {source}")]
    Io {
        /// File name, as given to the reader.
        file: String,
        /// Cause.
        source: io::Error,
    },
    /// The content is malformed.
    #[error("{file}:{line}: {msg}")]
    Parse {
        /// File name, as given to the reader.
        file: String,
        /// 1-based line number of the offending record.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// The file holds no record at all.
    #[error("{file}: no records")]
    Empty {
        /// File name, as given to the reader.
        file: String,
    },
    /// A split the dataset builder made from the files has nothing in it
    /// (e.g. a training file with one query leaves no validation queries):
    /// training or evaluating on it would report NaN losses or scores.
    #[error("{dataset}: the {split} split is empty ({why})")]
    EmptySplit {
        /// Dataset name.
        dataset: String,
        /// Which split (`train`, `validation`, `test`, `training logs`,
        /// `validation logs`).
        split: &'static str,
        /// What the split is made from and why it came out empty.
        why: String,
    },
}

/// How [`read_capped`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// End of input, nothing read.
    Eof,
    /// A record was read: up to and including the delimiter, or up to the end
    /// of the input when the last record has no delimiter.
    Record,
    /// The record is longer than the cap; `buf` holds its first bytes.
    TooLong,
}

/// Like [`BufRead::read_until`], but stops with [`Chunk::TooLong`] once more
/// than `cap` bytes (not counting the delimiter) are read, so that one huge
/// record cannot take unbounded memory. `buf` is cleared first.
pub(crate) fn read_capped<R: BufRead>(
    reader: &mut R,
    delim: u8,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Chunk> {
    buf.clear();
    loop {
        let avail = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if buf.is_empty() {
                Chunk::Eof
            } else {
                Chunk::Record
            });
        }
        let (take, found) = match avail.iter().position(|&b| b == delim) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        let content = take - usize::from(found);
        if buf.len().saturating_add(content) > cap {
            let room = cap.saturating_sub(buf.len()).min(avail.len());
            buf.extend_from_slice(avail.get(..room).unwrap_or_default());
            reader.consume(room);
            return Ok(Chunk::TooLong);
        }
        buf.extend_from_slice(avail.get(..take).unwrap_or_default());
        reader.consume(take);
        if found {
            return Ok(Chunk::Record);
        }
    }
}

/// Shortens `s` to at most 40 characters for an error message.
pub(crate) fn show(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}…", s.get(..i).unwrap_or_default()),
        None => format!("{s:?}"),
    }
}

/// The shared sample data (`../shared/data` beside the repository), if
/// present: the real-data tests skip without it.
#[cfg(test)]
pub(crate) fn shared_data() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} not found (the shared sample data is not beside this checkout)",
            dir.display()
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per `fill_buf`, to exercise the
    /// loop in `read_capped` across buffer boundaries.
    struct Trickle<'a>(&'a [u8]);

    impl io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(out.len()).min(1);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_capped_splits_and_caps() {
        let mut r = io::BufReader::with_capacity(1, Trickle(b"ab;cdef;gh"));
        let mut buf = Vec::new();
        assert_eq!(
            read_capped(&mut r, b';', &mut buf, 3).unwrap(),
            Chunk::Record
        );
        assert_eq!(buf, b"ab;");
        assert_eq!(
            read_capped(&mut r, b';', &mut buf, 3).unwrap(),
            Chunk::TooLong
        );
        assert_eq!(buf, b"cde");

        let mut r = io::Cursor::new(b"abc;de".to_vec());
        assert_eq!(
            read_capped(&mut r, b';', &mut buf, 3).unwrap(),
            Chunk::Record
        );
        assert_eq!(buf, b"abc;");
        assert_eq!(
            read_capped(&mut r, b';', &mut buf, 3).unwrap(),
            Chunk::Record
        );
        assert_eq!(buf, b"de");
        assert_eq!(read_capped(&mut r, b';', &mut buf, 3).unwrap(), Chunk::Eof);
        assert!(buf.is_empty());
    }

    #[test]
    fn parse_error_display() {
        let e = DataError::Parse {
            file: "a.txt".into(),
            line: 7,
            msg: "bad label".into(),
        };
        assert_eq!(e.to_string(), "a.txt:7: bad label");
        let e = DataError::Empty {
            file: "b.txt".into(),
        };
        assert_eq!(e.to_string(), "b.txt: no records");
    }

    #[test]
    fn show_truncates() {
        assert_eq!(show("ab"), "\"ab\"");
        let long = "é".repeat(100);
        assert_eq!(show(&long), format!("{:?}…", "é".repeat(40)));
    }
}
