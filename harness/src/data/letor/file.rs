//! Whole LETOR files: the feature count a file uses, and reading a file (qid
//! or group mode) into memory with a cut-off last line recognised.
//!
//! A file copied with `head -c` or interrupted mid-write ends inside a line.
//! Such a last line (no newline, and it does not parse) is dropped together
//! with the query it belongs to, since that query is then incomplete; a last
//! line without a newline that parses is read like any other.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{read_groups, LetorQuery, LetorReader, MAX_LINE_BYTES};
use crate::data::{read_capped, show, Chunk, DataError};

/// Largest feature count [`feature_count`] accepts (the model's widths are
/// at most 4096).
pub const MAX_FEATURES: usize = 4096;

/// One LETOR file and, for a qid-less (Yahoo-style) file, its group file.
#[derive(Debug, Clone, Copy)]
pub struct LetorFile<'a> {
    /// The document lines.
    pub path: &'a Path,
    /// Documents per query, one count per line (`*.group`); `None` when
    /// every line carries `qid:`.
    pub groups: Option<&'a Path>,
}

/// A file read into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct LetorRead {
    /// Its queries, in file order.
    pub queries: Vec<LetorQuery>,
    /// Whether the file ended inside a line, so that line and its query
    /// were dropped.
    pub cut: bool,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        file: path.display().to_string(),
        source,
    }
}

/// The largest feature index used in `path` (so the feature count of a file
/// whose features are numbered `1..=count`). Tokens that are not
/// `index:value` are left to the reader to report; an index above
/// [`MAX_FEATURES`], or a file with no feature at all, is an error.
pub fn feature_count(path: &Path) -> Result<usize, DataError> {
    let name = path.display().to_string();
    let mut reader = BufReader::new(File::open(path).map_err(io_err(path))?);
    let (mut buf, mut line, mut max) = (Vec::new(), 0usize, 0usize);
    loop {
        match read_capped(&mut reader, b'\n', &mut buf, MAX_LINE_BYTES).map_err(io_err(path))? {
            Chunk::Eof => break,
            Chunk::TooLong => {
                return Err(DataError::Parse {
                    file: name,
                    line: line + 1,
                    msg: format!("line longer than {MAX_LINE_BYTES} bytes"),
                })
            }
            Chunk::Record => line += 1,
        }
        let data = buf.split(|&b| b == b'#').next().unwrap_or_default();
        let text = String::from_utf8_lossy(data);
        for tok in text.split_ascii_whitespace().skip(1) {
            let Some((i, _)) = tok.split_once(':') else {
                continue;
            };
            let Ok(idx) = i.parse::<usize>() else {
                continue;
            };
            if idx > MAX_FEATURES {
                return Err(DataError::Parse {
                    file: name,
                    line,
                    msg: format!(
                        "feature index {} above the largest supported count {MAX_FEATURES}",
                        show(i)
                    ),
                });
            }
            max = max.max(idx);
        }
    }
    if max == 0 {
        return Err(DataError::Parse {
            file: name,
            line: line.max(1),
            msg: "no feature index (index:value) in the file".into(),
        });
    }
    Ok(max)
}

/// Bytes up to and including the last newline, and the file's length.
fn complete_len(file: &mut File, path: &Path) -> Result<(u64, u64), DataError> {
    let len = file.seek(SeekFrom::End(0)).map_err(io_err(path))?;
    let tail = len.min(MAX_LINE_BYTES as u64 + 2);
    file.seek(SeekFrom::Start(len - tail))
        .map_err(io_err(path))?;
    let mut buf = Vec::with_capacity(tail as usize);
    file.by_ref()
        .take(tail)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let complete = match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => len - tail + i as u64 + 1,
        None if tail < len => len, // a longer line: the reader reports it
        None => 0,
    };
    Ok((complete, len))
}

fn collect<R: BufRead>(r: LetorReader<R>) -> Result<Vec<LetorQuery>, DataError> {
    r.collect()
}

/// Reads `file` with feature count `dim` (see the module docs for a cut-off
/// last line). A file without any document is [`DataError::Empty`].
pub fn read_letor(file: LetorFile<'_>, dim: usize) -> Result<LetorRead, DataError> {
    let name = file.path.display().to_string();
    let groups = match file.groups {
        Some(g) => {
            let f = File::open(g).map_err(io_err(g))?;
            Some(read_groups(BufReader::new(f), g.display().to_string())?)
        }
        None => None,
    };
    let mut f = File::open(file.path).map_err(io_err(file.path))?;
    let (complete, len) = complete_len(&mut f, file.path)?;
    let reader = |f: File, limit: u64| {
        let r = BufReader::new(f.take(limit));
        match &groups {
            Some(g) => LetorReader::with_groups(r, name.clone(), dim, g.clone()),
            None => LetorReader::new(r, name.clone(), dim),
        }
    };
    let whole = collect(reader(f, len));
    let read = match whole {
        Err(DataError::Parse { line, .. })
            if groups.is_none() && complete < len && line == lines_in(file.path)? =>
        {
            let f = File::open(file.path).map_err(io_err(file.path))?;
            let mut queries = collect(reader(f, complete))?;
            let tail = tail_qid(file.path, complete)?;
            let last = queries.last().map(|q| q.qid.clone());
            if tail.is_none() || tail == last {
                queries.pop();
            }
            LetorRead { queries, cut: true }
        }
        other => LetorRead {
            queries: other?,
            cut: false,
        },
    };
    if read.queries.is_empty() {
        return Err(DataError::Empty { file: name });
    }
    Ok(read)
}

/// Number of lines (the last one may lack its newline).
fn lines_in(path: &Path) -> Result<usize, DataError> {
    let mut f = BufReader::new(File::open(path).map_err(io_err(path))?);
    let (mut n, mut last) = (0usize, b'\n');
    loop {
        let buf = f.fill_buf().map_err(io_err(path))?;
        if buf.is_empty() {
            break;
        }
        n += buf.iter().filter(|&&b| b == b'\n').count();
        last = buf[buf.len() - 1];
        let k = buf.len();
        f.consume(k);
    }
    Ok(n + usize::from(last != b'\n'))
}

/// The `qid:` of the cut last line, when it is there in full (followed by
/// more of the line).
fn tail_qid(path: &Path, complete: u64) -> Result<Option<String>, DataError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    f.seek(SeekFrom::Start(complete)).map_err(io_err(path))?;
    let mut buf = Vec::new();
    f.take(MAX_LINE_BYTES as u64)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    let text = String::from_utf8_lossy(&buf);
    let mut toks = text.split_ascii_whitespace();
    let (_label, qid) = (toks.next(), toks.next());
    let complete_token = toks.next().is_some();
    Ok(qid
        .and_then(|q| q.strip_prefix("qid:"))
        .filter(|_| complete_token)
        .map(str::to_owned))
}
