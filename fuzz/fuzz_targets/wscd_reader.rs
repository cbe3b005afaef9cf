//! Fuzz target for `last::data::WscdReader`.
//!
//! Input layout: `[0]` BufReader capacity (1 + byte % 16), `[1..]` the file.
//!
//! Checks: no panic; every session is well formed (non-empty trimmed query,
//! 1..=1000 distinct shown ids, click positions inside the list, `clicked()`
//! consistent with `clicks`); nothing after the first error; errors carry a
//! line number inside the input; the result does not depend on how the input
//! is split into buffer fills; on a clean read, one session per non-blank
//! `;`-separated fragment.
#![no_main]

use std::collections::HashSet;
use std::io::{BufReader, Cursor};

use last::data::{DataError, Session, WscdReader};
use libfuzzer_sys::fuzz_target;

fn drain<I: Iterator<Item = Result<Session, DataError>>>(
    mut it: I,
    lines: usize,
) -> Vec<Result<Session, DataError>> {
    let mut out = Vec::new();
    for item in it.by_ref() {
        let stop = item.is_err();
        match &item {
            Ok(s) => {
                assert!(!s.query.is_empty() && s.query.trim() == s.query);
                assert!((1..=1000).contains(&s.docs.len()));
                let ids: HashSet<u64> = s.docs.iter().copied().collect();
                assert_eq!(ids.len(), s.docs.len());
                assert!(s.clicks.iter().all(|&p| p < s.docs.len()));
                let clicked = s.clicked();
                assert_eq!(clicked.len(), s.docs.len());
                for (p, &c) in clicked.iter().enumerate() {
                    assert_eq!(c, s.clicks.contains(&p));
                }
            }
            Err(DataError::Parse { file, line, msg }) => {
                assert_eq!(file, "fuzz");
                assert!((1..=lines).contains(line), "line {line} of {lines}: {msg}");
            }
            Err(e) => panic!("unexpected error kind: {e}"),
        }
        out.push(item);
        if stop {
            break;
        }
    }
    assert!(it.next().is_none(), "item after an error or the end");
    assert!(it.next().is_none());
    out
}

fn render(items: &[Result<Session, DataError>]) -> Vec<String> {
    items
        .iter()
        .map(|r| match r {
            Ok(s) => format!("{s:?}"),
            Err(e) => e.to_string(),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let cap = 1 + data.first().copied().unwrap_or(0) as usize % 16;
    let body = data.get(1..).unwrap_or_default().to_vec();
    let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;

    let a = drain(WscdReader::new(Cursor::new(body.clone()), "fuzz"), lines);
    let small = BufReader::with_capacity(cap, Cursor::new(body.clone()));
    let b = drain(WscdReader::new(small, "fuzz"), lines);
    assert_eq!(render(&a), render(&b));

    if a.iter().all(|r| r.is_ok()) {
        // A UTF-8 byte-order mark at the start of the file is skipped.
        let text = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&body);
        let fragments = text
            .split(|&b| b == b';')
            .filter(|f| f.iter().any(|b| !b.is_ascii_whitespace()))
            .count();
        assert_eq!(a.len(), fragments);
    }
});
