//! Fuzz target for `last::data::LetorReader` (qid mode and group mode).
//!
//! Input layout:
//!
//! ```text
//! [0] dim (byte % 8)  [1] BufReader capacity (1 + byte % 16)
//! [2] group count g (byte % 8)  [3 .. 3+g] group sizes (byte % 6)
//! [3+g ..] file body
//! ```
//!
//! Checks: no panic; every query is well formed (≥ 1 document, `docs × dim`
//! features, finite values within ±1e30, labels in 0..=31, distinct query
//! ids); nothing after
//! the first error; errors carry a line number inside the input; the result
//! does not depend on how the input is split into buffer fills; on a clean
//! qid-mode read, the document count equals the number of non-blank lines,
//! and re-reading with the groups found gives the same queries.
#![no_main]

use std::collections::HashSet;
use std::io::{BufReader, Cursor};

use last::data::{DataError, LetorQuery, LetorReader};
use libfuzzer_sys::fuzz_target;

const MAX_ABS: f32 = 1e30;

/// Drains a reader, checking the iterator contract; returns the items.
fn drain<I: Iterator<Item = Result<LetorQuery, DataError>>>(
    mut it: I,
    dim: usize,
    lines: usize,
) -> Vec<Result<LetorQuery, DataError>> {
    let mut out = Vec::new();
    for item in it.by_ref() {
        let stop = item.is_err();
        match &item {
            Ok(q) => {
                assert!(q.docs() >= 1);
                assert_eq!(q.dim, dim);
                assert_eq!(q.features.len(), q.docs() * dim);
                assert!(!q.qid.is_empty());
                assert!(q.labels.iter().all(|l| (0.0..=last::data::letor::MAX_LABEL).contains(l)));
                assert!(q
                    .labels
                    .iter()
                    .chain(&q.features)
                    .all(|v| v.is_finite() && v.abs() <= MAX_ABS));
                assert!(q.row(q.docs() - 1).is_some() && q.row(q.docs()).is_none());
            }
            Err(DataError::Parse { file, line, msg }) => {
                assert_eq!(file, "fuzz");
                assert!(*line <= lines, "line {line} > {lines}: {msg}");
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

fn render(items: &[Result<LetorQuery, DataError>]) -> Vec<String> {
    items
        .iter()
        .map(|r| match r {
            Ok(q) => format!("{q:?}"),
            Err(e) => e.to_string(),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0) as usize;
    let dim = byte(0) % 8;
    let cap = 1 + byte(1) % 16;
    let g = byte(2) % 8;
    let groups: Vec<usize> = (0..g).map(|i| byte(3 + i) % 6).collect();
    let body = data.get(3 + g..).unwrap_or_default().to_vec();
    let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;

    // qid mode: whole buffer at once, and in tiny fills.
    let a = drain(
        LetorReader::new(Cursor::new(body.clone()), "fuzz", dim),
        dim,
        lines,
    );
    let small = BufReader::with_capacity(cap, Cursor::new(body.clone()));
    let b = drain(LetorReader::new(small, "fuzz", dim), dim, lines);
    assert_eq!(render(&a), render(&b));

    let ok: Vec<&LetorQuery> = a.iter().filter_map(|r| r.as_ref().ok()).collect();
    let ids: HashSet<&str> = ok.iter().map(|q| q.qid.as_str()).collect();
    assert_eq!(ids.len(), ok.len(), "a query id returned twice");

    if ok.len() == a.len() {
        // Clean read: one document per non-blank line.
        let docs: usize = ok.iter().map(|q| q.docs()).sum();
        // A UTF-8 byte-order mark at the start of the file is skipped.
        let text = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&body);
        let nonblank = text
            .split(|&b| b == b'\n')
            .filter(|l| {
                let data = l.split(|&b| b == b'#').next().unwrap_or_default();
                data.iter().any(|b| !b.is_ascii_whitespace())
            })
            .count();
        assert_eq!(docs, nonblank);
        // The same file in group mode, with the groups just found.
        let found: Vec<usize> = ok.iter().map(|q| q.docs()).collect();
        let again = drain(
            LetorReader::with_groups(Cursor::new(body.clone()), "fuzz", dim, found),
            dim,
            lines,
        );
        assert_eq!(again.len(), ok.len());
        for (i, (r, q)) in again.iter().zip(&ok).enumerate() {
            let r = r
                .as_ref()
                .expect("group mode rejects a clean qid-mode file");
            assert_eq!(r.qid, i.to_string());
            assert_eq!((&r.labels, &r.features), (&q.labels, &q.features));
        }
    }

    // Group mode with the fuzzer's groups.
    let c = drain(
        LetorReader::with_groups(Cursor::new(body.clone()), "fuzz", dim, groups.clone()),
        dim,
        lines,
    );
    let small = BufReader::with_capacity(cap, Cursor::new(body));
    let d = drain(
        LetorReader::with_groups(small, "fuzz", dim, groups.clone()),
        dim,
        lines,
    );
    assert_eq!(render(&c), render(&d));
    for (i, r) in c.iter().enumerate() {
        if let Ok(q) = r {
            assert_eq!(q.qid, i.to_string());
            assert_eq!(Some(&q.docs()), groups.get(i));
        }
    }
    if c.iter().all(|r| r.is_ok()) {
        assert_eq!(c.len(), groups.len());
    }
});
