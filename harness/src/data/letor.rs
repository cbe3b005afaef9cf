//! LETOR / SVMlight reader (MSLR-WEB, Yahoo LTR and similar).
//!
//! One document per line:
//!
//! ```text
//! label qid:N i:v i:v ... # optional comment
//! ```
//!
//! Consecutive lines with the same `qid` form one query. Yahoo-style files
//! have no `qid:`; their queries come from a separate group file (one document
//! count per line, in file order), see [`LetorReader::with_groups`] and
//! [`read_groups`].
//!
//! Rules, chosen to catch corrupt or misread files early:
//!
//! * Feature indices are 1-based, `1..=dim`; an index of 0 or above `dim` is
//!   an error. Missing features are 0. An index repeated on one line is an
//!   error.
//! * Labels and values must parse as numbers, be finite, and be at most
//!   [`MAX_ABS_VALUE`] in magnitude; a label is graded relevance in
//!   `0..=`[`MAX_LABEL`].
//! * `qid:` must directly follow the label. A query id that reappears after
//!   another query is an error (the file is not grouped by query).
//! * Everything from `#` to the end of the line is a comment and is not
//!   checked (it may hold any bytes); the rest of the line must be UTF-8.
//! * Blank and comment-only lines are skipped; `\r\n` line ends are accepted;
//!   a last line without a newline is read like any other, unless it does
//!   not parse: then the file was cut off there, and [`read_letor`] drops
//!   that line and its query; a UTF-8 byte-order mark at the start of the
//!   file is skipped.
//! * The feature count can be given or found with [`feature_count`].
//! * A line longer than [`MAX_LINE_BYTES`] is an error.

use std::collections::HashMap;
use std::io::BufRead;
use std::iter::FusedIterator;
use std::path::Path;

use super::{read_capped, show, Chunk, DataError};

/// Longest accepted line, in bytes, not counting the line end. Longer lines
/// are an error, so a file without newlines cannot take unbounded memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Largest accepted magnitude of a label or feature value: larger values are
/// almost surely corrupt and would overflow f32 arithmetic downstream.
pub const MAX_ABS_VALUE: f64 = 1e30;

/// Largest accepted relevance label. Labels are graded relevance in
/// `0..=MAX_LABEL` (MSLR-WEB and Yahoo LTR use 0–4, LETOR 4.0 uses 0–2):
/// NDCG's gain `2^label − 1` is then at most `2^31 − 1`, exact in f64 and
/// finite with a wide margin when summed over any list (`f64::exp2`
/// overflows above 1023, and a label near 1e30 made every NDCG NaN).
/// Negative labels have no graded-relevance meaning (a negative gain).
pub const MAX_LABEL: f32 = 31.0;

/// The UTF-8 byte-order mark some editors put at the start of a text file;
/// the readers skip it at the start of the file.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One query: its documents' labels and dense feature rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LetorQuery {
    /// Query id: the `qid:` value, or the 0-based group ordinal for files
    /// read with [`LetorReader::with_groups`].
    pub qid: String,
    /// Relevance label of each document, in file order.
    pub labels: Vec<f32>,
    /// Features, `docs() × dim`, row-major; features absent from a line are 0.
    pub features: Vec<f32>,
    /// Number of features per document.
    pub dim: usize,
}

impl LetorQuery {
    /// Number of documents in the query.
    pub fn docs(&self) -> usize {
        self.labels.len()
    }

    /// Feature row of document `doc`, or `None` if out of range.
    pub fn row(&self, doc: usize) -> Option<&[f32]> {
        // Checked first: with `dim == 0` every slice below is empty and valid.
        if doc >= self.docs() {
            return None;
        }
        let start = doc.checked_mul(self.dim)?;
        self.features.get(start..start.checked_add(self.dim)?)
    }

    fn new(qid: String, dim: usize) -> Self {
        LetorQuery {
            qid,
            labels: Vec::new(),
            features: Vec::new(),
            dim,
        }
    }

    fn push(&mut self, label: f32, row: &[f32]) {
        self.labels.push(label);
        self.features.extend_from_slice(row);
    }
}

/// Query grouping for qid-less files.
#[derive(Debug)]
struct Groups {
    /// Documents per group, in file order.
    counts: Vec<usize>,
    /// Index of the next group to open.
    next: usize,
    /// Documents still expected in the current group.
    left: usize,
}

/// Streaming LETOR reader: an iterator of queries that holds at most one
/// query (plus the first line of the next) in memory.
///
/// Yields `Err` for the first malformed line (with file and line number) and
/// `None` after it. It also remembers every query id seen, to detect files
/// that are not grouped by query.
#[derive(Debug)]
pub struct LetorReader<R: BufRead> {
    reader: R,
    file: String,
    dim: usize,
    groups: Option<Groups>,
    /// Lines read so far (the 1-based number of the last line read).
    line: usize,
    /// Documents read so far.
    docs: usize,
    buf: Vec<u8>,
    /// Features of the last parsed line.
    row: Vec<f32>,
    /// Per feature, the line that last set it (duplicate detection).
    stamp: Vec<usize>,
    /// Query id and label of a line read but not yet returned: it starts the
    /// next query, and its features are in `row`.
    pending: Option<(String, f32)>,
    /// Every query id seen, with the line where it started.
    seen: HashMap<String, usize>,
    done: bool,
}

impl<R: BufRead> LetorReader<R> {
    /// Reads a file with `qid:` on every line; `dim` is the number of
    /// features (valid indices `1..=dim`). `file_name` is used in errors.
    pub fn new(reader: R, file_name: impl Into<String>, dim: usize) -> Self {
        LetorReader {
            reader,
            file: file_name.into(),
            dim,
            groups: None,
            line: 0,
            docs: 0,
            buf: Vec::new(),
            row: vec![0.0; dim],
            stamp: vec![0; dim],
            pending: None,
            seen: HashMap::new(),
            done: false,
        }
    }

    /// Reads a qid-less (Yahoo-style) file whose queries are given by
    /// `groups`: the number of documents of each query, in file order (see
    /// [`read_groups`]). Query ids become the 0-based group ordinal. A `qid:`
    /// token, if present, is accepted and ignored. A group of 0 documents,
    /// or a total that differs from the number of lines, is an error.
    pub fn with_groups(
        reader: R,
        file_name: impl Into<String>,
        dim: usize,
        groups: Vec<usize>,
    ) -> Self {
        let mut r = Self::new(reader, file_name, dim);
        r.groups = Some(Groups {
            counts: groups,
            next: 0,
            left: 0,
        });
        r
    }

    fn parse_err(&self, msg: impl Into<String>) -> DataError {
        DataError::Parse {
            file: self.file.clone(),
            line: self.line,
            msg: msg.into(),
        }
    }

    /// The query id of the document just read, in group mode.
    fn next_group(&mut self) -> Result<String, DataError> {
        let Some(g) = self.groups.as_mut() else {
            return Err(self.parse_err("internal: not in group mode"));
        };
        while g.left == 0 {
            let Some(&count) = g.counts.get(g.next) else {
                let (n, total) = (g.counts.len(), total(&g.counts));
                return Err(self.parse_err(format!(
                    "more documents than the group file lists ({total} in {n} groups)"
                )));
            };
            if count == 0 {
                let i = g.next;
                return Err(self.parse_err(format!("group {i} has 0 documents")));
            }
            g.left = count;
            g.next += 1;
        }
        g.left -= 1;
        Ok((g.next - 1).to_string())
    }

    /// At end of input: every group must be complete.
    fn finish_groups(&self) -> Result<(), DataError> {
        if let Some(g) = &self.groups {
            if g.left > 0 || g.next < g.counts.len() {
                let (docs, n, total) = (self.docs, g.counts.len(), total(&g.counts));
                return Err(self.parse_err(format!(
                    "file ends after {docs} documents but the group file lists {total} in {n} groups"
                )));
            }
        }
        Ok(())
    }

    /// Records a new query id; an id seen before means the file is not
    /// grouped by query.
    fn check_new(&mut self, qid: &str) -> Result<(), DataError> {
        if let Some(first) = self.seen.get(qid) {
            return Err(self.parse_err(format!(
                "query id {} reappears after other queries (first seen at line {first})",
                show(qid)
            )));
        }
        self.seen.insert(qid.to_owned(), self.line);
        Ok(())
    }

    fn next_query(&mut self) -> Result<Option<LetorQuery>, DataError> {
        // The line that ended the previous query starts this one. Its id is
        // checked only now, so that the previous (complete) query is
        // returned before a "reappears" error.
        let mut query = None;
        if let Some((qid, label)) = self.pending.take() {
            self.check_new(&qid)?;
            let mut q = LetorQuery::new(qid, self.dim);
            q.push(label, &self.row);
            query = Some(q);
        }
        loop {
            let chunk = read_capped(&mut self.reader, b'\n', &mut self.buf, MAX_LINE_BYTES)
                .map_err(|source| DataError::Io {
                    file: self.file.clone(),
                    source,
                })?;
            match chunk {
                Chunk::Eof => {
                    self.done = true;
                    self.finish_groups()?;
                    return Ok(query);
                }
                Chunk::TooLong => {
                    self.line += 1;
                    return Err(self.parse_err(format!("line longer than {MAX_LINE_BYTES} bytes")));
                }
                Chunk::Record => self.line += 1,
            }
            let raw = match self.buf.strip_prefix(BOM) {
                Some(rest) if self.line == 1 => rest,
                _ => &self.buf[..],
            };
            let parsed = parse_line(raw, &mut self.row, &mut self.stamp, self.line)
                .map_err(|m| self.parse_err(m))?;
            let Some((qid_tok, label)) = parsed else {
                continue;
            };
            let qid = if self.groups.is_some() {
                self.next_group()?
            } else {
                match qid_tok {
                    Some(q) => q,
                    None => return Err(self.parse_err("missing qid")),
                }
            };
            self.docs += 1;
            match query.as_mut() {
                Some(q) if q.qid == qid => q.push(label, &self.row),
                Some(_) => {
                    self.pending = Some((qid, label));
                    return Ok(query);
                }
                None => {
                    self.check_new(&qid)?;
                    let mut q = LetorQuery::new(qid, self.dim);
                    q.push(label, &self.row);
                    query = Some(q);
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for LetorReader<R> {
    type Item = Result<LetorQuery, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_query() {
            Ok(Some(q)) => Some(Ok(q)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.pending = None;
                Some(Err(e))
            }
        }
    }
}

impl<R: BufRead> FusedIterator for LetorReader<R> {}

fn total(counts: &[usize]) -> u128 {
    counts.iter().map(|&c| c as u128).sum()
}

/// Parses a label or feature value: finite and at most [`MAX_ABS_VALUE`].
fn parse_value(s: &str) -> Result<f32, &'static str> {
    let v: f64 = s.parse().map_err(|_| "not a number")?;
    // `inf`, `NaN` and the like are spelled with letters; `1e999` overflows
    // to infinity but is only out of range.
    let word = s
        .bytes()
        .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E');
    if v.is_nan() || (v.is_infinite() && word) {
        return Err("non-finite value");
    }
    if v.abs() > MAX_ABS_VALUE {
        return Err("value out of range");
    }
    Ok(v as f32)
}

/// Parses one line into `row` (length `dim`, zeros for absent features).
/// Returns `None` for a blank or comment-only line, otherwise the `qid:`
/// value (if any) and the label.
fn parse_line<'a>(
    raw: &'a [u8],
    row: &mut [f32],
    stamp: &mut [usize],
    line: usize,
) -> Result<Option<(Option<String>, f32)>, String> {
    let data = match raw.iter().position(|&b| b == b'#' || b == b'\n') {
        Some(i) => raw.get(..i).unwrap_or_default(),
        None => raw,
    };
    let text: &'a str = std::str::from_utf8(data)
        .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1))?;
    let mut toks = text.split_ascii_whitespace();
    let Some(first) = toks.next() else {
        return Ok(None);
    };
    let label = parse_value(first).map_err(|m| format!("bad label {}: {m}", show(first)))?;
    if !(0.0..=MAX_LABEL).contains(&label) {
        return Err(format!(
            "bad label {}: graded relevance must be in 0..={MAX_LABEL}",
            show(first)
        ));
    }
    row.fill(0.0);
    let dim = row.len();
    let mut qid = None;
    for (k, tok) in toks.enumerate() {
        if let Some(q) = tok.strip_prefix("qid:") {
            if k != 0 {
                return Err("qid: must directly follow the label".into());
            }
            if q.is_empty() {
                return Err("empty qid".into());
            }
            qid = Some(q.to_owned());
            continue;
        }
        let Some((i, v)) = tok.split_once(':') else {
            return Err(format!("bad token {}: expected index:value", show(tok)));
        };
        let idx: usize = i
            .parse()
            .map_err(|_| format!("bad feature index in {}", show(tok)))?;
        if idx == 0 || idx > dim {
            return Err(format!("feature index {idx} out of range 1..={dim}"));
        }
        let val = parse_value(v).map_err(|m| format!("bad value in {}: {m}", show(tok)))?;
        let (Some(seen), Some(slot)) = (stamp.get_mut(idx - 1), row.get_mut(idx - 1)) else {
            return Err(format!("feature index {idx} out of range 1..={dim}"));
        };
        if *seen == line {
            return Err(format!("feature index {idx} repeated"));
        }
        *seen = line;
        *slot = val;
    }
    Ok(Some((qid, label)))
}

/// Reads a whole qid-mode LETOR file (see [`LetorReader::new`]) into memory;
/// a cut-off last line is handled as in [`read_letor`]. A file without any
/// document is [`DataError::Empty`].
pub fn read_letor_file(path: &Path, dim: usize) -> Result<Vec<LetorQuery>, DataError> {
    read_letor(LetorFile { path, groups: None }, dim).map(|r| r.queries)
}

/// Reads a query-group file (Yahoo LTR `*.group`, SVMlight `.query`): one
/// document count per line, in order. Blank lines are skipped; anything
/// else that is not a non-negative integer is an error.
pub fn read_groups<R: BufRead>(
    mut reader: R,
    file_name: impl Into<String>,
) -> Result<Vec<usize>, DataError> {
    let file = file_name.into();
    let mut buf = Vec::new();
    let mut counts = Vec::new();
    let mut line = 0;
    loop {
        let chunk =
            read_capped(&mut reader, b'\n', &mut buf, 1024).map_err(|source| DataError::Io {
                file: file.clone(),
                source,
            })?;
        let err = |line, msg: String| DataError::Parse {
            file: file.clone(),
            line,
            msg,
        };
        match chunk {
            Chunk::Eof => return Ok(counts),
            Chunk::TooLong => return Err(err(line + 1, "line too long".into())),
            Chunk::Record => line += 1,
        }
        let text = std::str::from_utf8(&buf)
            .map_err(|_| err(line, "invalid UTF-8".into()))?
            .trim();
        if text.is_empty() {
            continue;
        }
        let n = text
            .parse::<usize>()
            .map_err(|_| err(line, format!("bad group size {}", show(text))))?;
        counts.push(n);
    }
}

mod file;
#[cfg(test)]
mod tests;

pub use file::{feature_count, read_letor, LetorFile, LetorRead, MAX_FEATURES};
