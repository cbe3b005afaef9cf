//! Yandex WSCD 2011 click log reader (the sample shipped with PyClick).
//!
//! Sessions are separated by `;`, many to a line (the sample's lines are
//! megabytes long). One session:
//!
//! ```text
//! QUERY<TAB>D1,D2,...,Dn : C1 , C2 , ...
//! ```
//!
//! the document ids shown, in rank order, then the clicked ids in click order
//! (the click list may be empty; repeats are kept). Whitespace around the
//! query, the ids and the separators is ignored, and empty fragments (after
//! the final `;`, a trailing newline) are skipped, and so is a UTF-8
//! byte-order mark at the start of the file (it is not part of the first
//! query id).
//!
//! Errors, with the line where the session starts and its 1-based ordinal
//! in the file: no tab, no `:` between shown and clicked ids, an empty query,
//! a document id that is not an unsigned integer, an empty shown list, more
//! than [`MAX_DOCS`] shown documents, a document shown twice, a clicked id
//! that is not an unsigned integer, invalid UTF-8, and a session longer than
//! [`MAX_SESSION_BYTES`]. A clicked id that was not shown is not an error:
//! the sample has about 0.8 % of them; they are counted in
//! [`Session::unknown_clicks`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::iter::FusedIterator;
use std::path::Path;

use super::letor::BOM;
use super::{read_capped, show, Chunk, DataError};

/// Longest accepted session, in bytes: a longer one is an error, so a file
/// without `;` cannot take unbounded memory.
pub const MAX_SESSION_BYTES: usize = 64 << 10;

/// Most documents accepted in one shown list.
pub const MAX_DOCS: usize = 1000;

/// One search session: a ranked list shown for a query and the clicks on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Query id, as in the file (e.g. `9982_0`).
    pub query: String,
    /// Document ids shown, in rank order; no id repeats.
    pub docs: Vec<u64>,
    /// 0-based positions (in `docs`) of the clicked documents, in click
    /// order; repeated clicks are kept.
    pub clicks: Vec<usize>,
    /// Clicked ids that are not in `docs`: ignored, but counted.
    pub unknown_clicks: usize,
}

impl Session {
    /// Per position of `docs`: whether it was clicked at least once.
    pub fn clicked(&self) -> Vec<bool> {
        let mut out = vec![false; self.docs.len()];
        for &p in &self.clicks {
            if let Some(c) = out.get_mut(p) {
                *c = true;
            }
        }
        out
    }
}

/// Streaming WSCD reader: an iterator of sessions that reads one `;`-separated
/// session at a time, whatever the line length.
///
/// Yields `Err` for the first malformed session (with file and line number)
/// and `None` after it.
#[derive(Debug)]
pub struct WscdReader<R: BufRead> {
    reader: R,
    file: String,
    /// 1-based line number of the next unread byte.
    line: usize,
    /// Non-empty sessions seen so far.
    sessions: usize,
    buf: Vec<u8>,
    /// Document id → position, reused across sessions.
    pos: HashMap<u64, usize>,
    /// Nothing read yet (a leading byte-order mark is skipped).
    first: bool,
    done: bool,
}

impl<R: BufRead> WscdReader<R> {
    /// Reads sessions from `reader`; `file_name` is used in errors.
    pub fn new(reader: R, file_name: impl Into<String>) -> Self {
        WscdReader {
            reader,
            file: file_name.into(),
            line: 1,
            sessions: 0,
            buf: Vec::new(),
            pos: HashMap::new(),
            first: true,
            done: false,
        }
    }

    fn next_session(&mut self) -> Result<Option<Session>, DataError> {
        loop {
            let chunk = read_capped(&mut self.reader, b';', &mut self.buf, MAX_SESSION_BYTES)
                .map_err(|source| DataError::Io {
                    file: self.file.clone(),
                    source,
                })?;
            if std::mem::take(&mut self.first) && self.buf.starts_with(BOM) {
                self.buf.drain(..BOM.len());
            }
            let start = self.line;
            let newlines = self.buf.iter().filter(|&&b| b == b'\n').count();
            self.line += newlines;
            // The session starts at its first non-blank byte.
            let lead = self
                .buf
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .filter(|&&b| b == b'\n')
                .count();
            let at = start + lead;
            match chunk {
                Chunk::Eof => return Ok(None),
                Chunk::TooLong => {
                    return Err(DataError::Parse {
                        file: self.file.clone(),
                        line: at,
                        msg: format!(
                            "session {} longer than {MAX_SESSION_BYTES} bytes",
                            self.sessions + 1
                        ),
                    })
                }
                Chunk::Record => {}
            }
            let body = self.buf.strip_suffix(b";").unwrap_or(&self.buf);
            if body.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            self.sessions += 1;
            return parse_session(body, &mut self.pos)
                .map(Some)
                .map_err(|msg| DataError::Parse {
                    file: self.file.clone(),
                    line: at,
                    msg: format!("session {}: {msg}", self.sessions),
                });
        }
    }
}

impl<R: BufRead> Iterator for WscdReader<R> {
    type Item = Result<Session, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_session() {
            Ok(Some(s)) => Some(Ok(s)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: BufRead> FusedIterator for WscdReader<R> {}

/// Parses one session (without its `;`). `pos` is scratch space.
fn parse_session(raw: &[u8], pos: &mut HashMap<u64, usize>) -> Result<Session, String> {
    let text = std::str::from_utf8(raw)
        .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1))?;
    let Some((query, rest)) = text.split_once('\t') else {
        return Err("missing tab between query and documents".into());
    };
    let query = query.trim();
    if query.is_empty() {
        return Err("empty query".into());
    }
    let Some((shown, clicked)) = rest.split_once(':') else {
        return Err("missing ' : ' between shown and clicked documents".into());
    };
    let shown = shown.trim();
    if shown.is_empty() {
        return Err("empty document list".into());
    }
    pos.clear();
    let mut docs = Vec::new();
    for tok in shown.split(',') {
        let tok = tok.trim();
        let id: u64 = tok
            .parse()
            .map_err(|_| format!("bad document id {}", show(tok)))?;
        if docs.len() >= MAX_DOCS {
            return Err(format!("more than {MAX_DOCS} documents"));
        }
        if let Some(first) = pos.insert(id, docs.len()) {
            return Err(format!(
                "document {id} shown twice (positions {} and {})",
                first + 1,
                docs.len() + 1
            ));
        }
        docs.push(id);
    }
    let mut clicks = Vec::new();
    let mut unknown_clicks = 0;
    let clicked = clicked.trim();
    if !clicked.is_empty() {
        for tok in clicked.split(',') {
            let tok = tok.trim();
            let id: u64 = tok
                .parse()
                .map_err(|_| format!("bad clicked id {}", show(tok)))?;
            match pos.get(&id) {
                Some(&p) => clicks.push(p),
                None => unknown_clicks += 1,
            }
        }
    }
    Ok(Session {
        query: query.to_owned(),
        docs,
        clicks,
        unknown_clicks,
    })
}

/// Reads a whole WSCD file into memory. A file without any session is
/// [`DataError::Empty`].
pub fn read_wscd_file(path: &Path) -> Result<Vec<Session>, DataError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| DataError::Io {
        file: name.clone(),
        source,
    })?;
    let sessions =
        WscdReader::new(BufReader::new(file), name.clone()).collect::<Result<Vec<_>, _>>()?;
    if sessions.is_empty() {
        return Err(DataError::Empty { file: name });
    }
    Ok(sessions)
}

#[cfg(test)]
mod tests;
