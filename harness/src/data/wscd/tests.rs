use super::*;
use std::collections::HashSet;
use std::io::Cursor;

fn read(text: &[u8]) -> Vec<Result<Session, DataError>> {
    WscdReader::new(Cursor::new(text.to_vec()), "w").collect()
}

fn read_ok(text: &[u8]) -> Vec<Session> {
    read(text).into_iter().collect::<Result<_, _>>().unwrap()
}

fn err_at(text: &[u8], line: usize, needle: &str) {
    let res = read(text);
    let Some(Err(e)) = res.last() else {
        panic!("no error in {res:?}");
    };
    assert!(res[..res.len() - 1].iter().all(|r| r.is_ok()));
    let DataError::Parse { file, line: l, msg } = e else {
        panic!("not a parse error: {e}");
    };
    assert_eq!(file, "w");
    assert_eq!(*l, line, "{msg}");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
}

#[test]
fn reads_sessions() {
    let text = b"q1\t10,20,30 : 20 , 10 , 20; q1\t10,20,30 :; \n\
                 q2\t5,6 : 99 , 6;q2\t6,5 :  ; \n";
    let s = read_ok(text);
    assert_eq!(s.len(), 4);
    assert_eq!(s[0].query, "q1");
    assert_eq!(s[0].docs, vec![10, 20, 30]);
    assert_eq!(s[0].clicks, vec![1, 0, 1]);
    assert_eq!(s[0].unknown_clicks, 0);
    assert_eq!(s[0].clicked(), vec![true, true, false]);
    assert!(s[1].clicks.is_empty());
    assert_eq!(s[1].clicked(), vec![false; 3]);
    assert_eq!(s[2].query, "q2");
    assert_eq!(s[2].clicks, vec![1]);
    assert_eq!(s[2].unknown_clicks, 1);
    assert_eq!(s[3].docs, vec![6, 5]);
    assert!(s[3].clicks.is_empty());
}

#[test]
fn clicked_ignores_bad_positions() {
    let s = Session {
        query: "q".into(),
        docs: vec![1, 2],
        clicks: vec![1, 5],
        unknown_clicks: 0,
    };
    assert_eq!(s.clicked(), vec![false, true]);
}

#[test]
fn truncated_and_empty() {
    assert!(read(b"").is_empty());
    assert!(read(b" ;\n; ;\n\n").is_empty());
    // No final `;`, no newline: still a session.
    let s = read_ok(b"q\t1,2 : 2;q\t1,2 : 1");
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].clicks, vec![0]);
    // Cut inside the session: an error.
    err_at(b"q\t1,2 : 2;q\t1,2", 1, "missing ' : '");
    err_at(b"q\t1,2 : 2;\nq\t1,2 : 2,", 2, "bad clicked id \"\"");
    err_at(b"q\t1,2 : 2;q", 1, "missing tab");

    let path = std::env::temp_dir().join(format!("last-wscd-empty-{}", std::process::id()));
    std::fs::write(&path, b" ; \n").unwrap();
    let e = read_wscd_file(&path).unwrap_err();
    std::fs::remove_file(&path).ok();
    assert!(matches!(e, DataError::Empty { .. }), "{e}");
    let e = read_wscd_file(Path::new("/nonexistent/last/wscd")).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
}

#[test]
fn malformed_sessions() {
    err_at(b"q\t1 : ;q 1,2 : 1;", 1, "session 2: missing tab");
    err_at(b"q\t1 : ;\n\n  q\t1,2  1;", 3, "missing ' : '");
    err_at(b"\t1,2 : 1;", 1, "empty query");
    err_at(b"q\t1,x,3 : 1;", 1, "bad document id \"x\"");
    err_at(b"q\t1,-3 : 1;", 1, "bad document id \"-3\"");
    err_at(b"q\t1,,3 : 1;", 1, "bad document id \"\"");
    err_at(b"q\t1,2, : 1;", 1, "bad document id \"\"");
    err_at(b"q\t18446744073709551616 : 1;", 1, "bad document id");
    err_at(b"q\t : 1;", 1, "empty document list");
    err_at(
        b"q\t1,2,1 : 1;",
        1,
        "document 1 shown twice (positions 1 and 3)",
    );
    err_at(b"q\t1,2 : 1 2;", 1, "bad clicked id \"1 2\"");
    err_at(b"q\t1,2 : 1,,2;", 1, "bad clicked id \"\"");
    err_at(b"q\t1 : 1\n;\nq\t1 : x;", 3, "bad clicked id");
}

#[test]
fn too_many_docs() {
    let ids: Vec<String> = (0..=MAX_DOCS).map(|i| i.to_string()).collect();
    let text = format!("q\t{} : 3;", ids.join(","));
    err_at(text.as_bytes(), 1, "more than 1000 documents");
    let text = format!("q\t{} : 3;", ids[..MAX_DOCS].join(","));
    assert_eq!(read_ok(text.as_bytes())[0].docs.len(), MAX_DOCS);
}

#[test]
fn overlong_session() {
    let mut text = b"q\t1 : 1;\nq\t1 : ".to_vec();
    text.resize(text.len() + MAX_SESSION_BYTES, b' ');
    text.extend_from_slice(b"1;q\t1 : 1;");
    err_at(&text, 2, "session 2 longer than 65536 bytes");
}

#[test]
fn invalid_utf8() {
    err_at(b"q\t1 : 1;\nq\xff\t1 : 1;", 2, "invalid UTF-8");
    err_at(b"q\t1 : \xc3;", 1, "invalid UTF-8");
}

#[test]
fn huge_ids() {
    let s = read_ok(b"q\t18446744073709551615,0 : 18446744073709551615;");
    assert_eq!(s[0].docs, vec![u64::MAX, 0]);
    assert_eq!(s[0].clicks, vec![0]);
}

#[test]
fn real_wscd() {
    let Some(dir) = crate::data::shared_data() else {
        return;
    };
    for (name, count) in [("trainSample", 35_064), ("testSample", 21_413)] {
        let sessions = read_wscd_file(&dir.join("wscd").join(name)).unwrap();
        assert_eq!(sessions.len(), count, "{name}");
        let queries: HashSet<_> = sessions.iter().map(|s| s.query.as_str()).collect();
        assert_eq!(queries.len(), 20, "{name}");
        assert!(sessions.iter().all(|s| s.docs.len() == 10), "{name}");
        if name == "trainSample" {
            let big = sessions.iter().filter(|s| s.query == "9982_0").count();
            assert_eq!(big, 20_102);
            // Clicks by rank, repeats kept, and sessions clicked at each
            // rank (the numbers in shared/data/README.md).
            let mut by_rank = [0usize; 10];
            let mut sessions_by_rank = [0usize; 10];
            for s in &sessions {
                for &p in &s.clicks {
                    by_rank[p] += 1;
                }
                for (p, c) in s.clicked().into_iter().enumerate() {
                    sessions_by_rank[p] += usize::from(c);
                }
            }
            assert_eq!(
                by_rank,
                [9742, 10251, 7417, 6989, 4298, 2980, 2643, 1819, 2039, 1726]
            );
            assert_eq!(
                sessions_by_rank,
                [8999, 8715, 5958, 5385, 3710, 2552, 2409, 1638, 1768, 1569]
            );
            let known: usize = by_rank.iter().sum();
            let unknown: usize = sessions.iter().map(|s| s.unknown_clicks).sum();
            let share = unknown as f64 / (known + unknown) as f64;
            assert_eq!(unknown, 417);
            assert!((0.005..0.012).contains(&share), "{share}");
        }
    }
}

/// Regression: a UTF-8 byte-order mark at the start of a WSCD file became
/// part of the first query id.
#[test]
fn leading_byte_order_mark_is_not_part_of_the_first_query() {
    let s = read_ok(b"\xEF\xBB\xBFq1\t10,20 : 20;q2\t5,6 :;");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].query, "q1");
    assert_eq!(s[0].docs, vec![10, 20]);
    let r = WscdReader::new(
        std::io::BufReader::with_capacity(2, Cursor::new(b"\xEF\xBB\xBF9_0\t1 :;".to_vec())),
        "w",
    );
    let s: Vec<_> = r.collect::<Result<_, _>>().unwrap();
    assert_eq!(s[0].query, "9_0");
    // Only at the start of the file: later, the bytes stay in the query.
    let s = read_ok(b"q1\t1 :;\xEF\xBB\xBFq2\t2 :;");
    assert_eq!(s[1].query, "\u{feff}q2");
}
