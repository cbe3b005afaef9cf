use super::*;
use std::io::{BufReader, Cursor};

fn read(text: &[u8], dim: usize) -> Vec<Result<LetorQuery, DataError>> {
    LetorReader::new(Cursor::new(text.to_vec()), "t.txt", dim).collect()
}

fn read_ok(text: &[u8], dim: usize) -> Vec<LetorQuery> {
    read(text, dim)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The first error: its line and message. Panics if there is none.
fn first_err(res: &[Result<LetorQuery, DataError>]) -> (usize, String) {
    for r in res {
        if let Err(e) = r {
            match e {
                DataError::Parse { file, line, msg } => {
                    assert_eq!(file, "t.txt");
                    return (*line, msg.clone());
                }
                other => panic!("not a parse error: {other}"),
            }
        }
    }
    panic!("no error in {res:?}");
}

fn err_at(text: &[u8], dim: usize, line: usize, needle: &str) {
    let res = read(text, dim);
    let (l, msg) = first_err(&res);
    assert_eq!(l, line, "{msg}");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    // Nothing after the error.
    assert!(res.last().unwrap().is_err(), "{res:?}");
}

#[test]
fn reads_queries() {
    let text = b"2 qid:10 1:0.5 3:-1 # doc a\n\
                 0 qid:10 2:7\n\
                 \n\
                 # comment only\n\
                 1 qid:11 3:1e-3\r\n\
                 4 qid:12";
    let qs = read_ok(text, 3);
    assert_eq!(qs.len(), 3);
    assert_eq!(qs[0].qid, "10");
    assert_eq!(qs[0].docs(), 2);
    assert_eq!(qs[0].labels, vec![2.0, 0.0]);
    assert_eq!(qs[0].features, vec![0.5, 0.0, -1.0, 0.0, 7.0, 0.0]);
    assert_eq!(qs[0].row(1), Some(&[0.0, 7.0, 0.0][..]));
    assert_eq!(qs[0].row(2), None);
    assert_eq!(qs[1].qid, "11");
    assert_eq!(qs[1].features, vec![0.0, 0.0, 1e-3]);
    // Truncated last line (no newline) with no features.
    assert_eq!(qs[2].qid, "12");
    assert_eq!(qs[2].labels, vec![4.0]);
    assert_eq!(qs[2].features, vec![0.0; 3]);
    assert!(qs.iter().all(|q| q.dim == 3));
}

#[test]
fn dim_zero_and_non_numeric_qid() {
    let qs = read_ok(b"1 qid:a-b\n0 qid:a-b\n", 0);
    assert_eq!(qs.len(), 1);
    assert_eq!(qs[0].qid, "a-b");
    assert_eq!(qs[0].docs(), 2);
    assert!(qs[0].features.is_empty());
    assert_eq!(qs[0].row(1), Some(&[][..]));
    // Found by the letor_reader fuzz target: `row` past the last
    // document returned `Some(&[])` when `dim == 0`.
    assert_eq!(qs[0].row(2), None);
}

#[test]
fn empty_inputs() {
    assert!(read(b"", 3).is_empty());
    assert!(read(b"\n\n  \n# nothing\n", 3).is_empty());
    let dir = std::env::temp_dir().join(format!("last-letor-empty-{}", std::process::id()));
    std::fs::write(&dir, b"# header only\n").unwrap();
    let e = read_letor_file(&dir, 3).unwrap_err();
    std::fs::remove_file(&dir).ok();
    assert!(matches!(e, DataError::Empty { .. }), "{e}");
}

#[test]
fn missing_file_is_io_error() {
    let e = read_letor_file(Path::new("/nonexistent/last/letor.txt"), 3).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    assert!(e.to_string().starts_with("/nonexistent/last/letor.txt: "));
}

#[test]
fn bad_label() {
    err_at(b"1 qid:1 1:1\nx qid:1 1:1\n", 3, 2, "bad label");
    err_at(b"qid:1 1:1\n", 3, 1, "bad label");
    err_at(b"nan qid:1 1:1\n", 3, 1, "non-finite");
    err_at(b"1e31 qid:1\n", 3, 1, "value out of range");
}

#[test]
fn missing_or_misplaced_qid() {
    err_at(b"1 qid:1 1:1\n0 1:1\n", 3, 2, "missing qid");
    err_at(b"1 1:1 qid:1\n", 3, 1, "qid: must directly follow");
    err_at(b"1 qid: 1:1\n", 3, 1, "empty qid");
    err_at(b"1 qid:1 qid:1\n", 3, 1, "qid: must directly follow");
}

#[test]
fn bad_tokens() {
    err_at(b"1 qid:1 1:1\n1 qid:1 abc\n", 3, 2, "bad token");
    err_at(b"1 qid:1 1:\n", 3, 1, "bad value");
    err_at(b"1 qid:1 :1\n", 3, 1, "bad feature index");
    err_at(b"1 qid:1 -1:1\n", 3, 1, "bad feature index");
    err_at(b"1 qid:1 1:2:3\n", 3, 1, "bad value");
    err_at(b"1 qid:1 1:0x10\n", 3, 1, "not a number");
    err_at(
        b"1 qid:1 99999999999999999999999:1\n",
        3,
        1,
        "bad feature index",
    );
}

#[test]
fn non_finite_and_huge_values() {
    for v in ["inf", "-inf", "NaN", "infinity", "+Inf"] {
        let text = format!("1 qid:1 2:{v}\n");
        err_at(text.as_bytes(), 3, 1, "non-finite value");
    }
    for v in ["1e31", "-1e31", "1e999", "3.5e38", "-1e400"] {
        let text = format!("1 qid:1 2:{v}\n");
        err_at(text.as_bytes(), 3, 1, "value out of range");
    }
    // At the bound and tiny values are fine.
    let qs = read_ok(b"1 qid:1 1:1e30 2:-1e30 3:1e-300\n", 3);
    assert_eq!(qs[0].features, vec![1e30, -1e30, 0.0]);
}

#[test]
fn index_out_of_range_and_repeated() {
    err_at(b"1 qid:1 0:1\n", 3, 1, "feature index 0 out of range 1..=3");
    err_at(
        b"1 qid:1 1:1\n1 qid:1 4:1\n",
        3,
        2,
        "feature index 4 out of range",
    );
    err_at(b"1 qid:1 2:1 2:1\n", 3, 1, "feature index 2 repeated");
    err_at(b"1 qid:1 1:1\n", 0, 1, "out of range 1..=0");
    // The same index on different lines is fine.
    let qs = read_ok(b"1 qid:1 2:1\n1 qid:1 2:3\n", 3);
    assert_eq!(qs[0].features, vec![0.0, 1.0, 0.0, 0.0, 3.0, 0.0]);
}

#[test]
fn non_contiguous_query() {
    let res = read(b"1 qid:1\n1 qid:2\n\n1 qid:1\n", 3);
    assert_eq!(res.len(), 3);
    assert_eq!(res[0].as_ref().unwrap().qid, "1");
    assert_eq!(res[1].as_ref().unwrap().qid, "2");
    let (line, msg) = first_err(&res);
    assert_eq!(line, 4);
    assert!(msg.contains("reappears") && msg.contains("line 1"), "{msg}");
}

#[test]
fn invalid_utf8() {
    err_at(b"1 qid:1 1:1\n1 qid:\xff 1:1\n", 3, 2, "invalid UTF-8");
    err_at(b"1 qid:1 1:\xc3\n", 3, 1, "invalid UTF-8");
    // Comments may hold any bytes.
    let qs = read_ok(b"1 qid:1 1:1 # \xff\xfe docid\n", 3);
    assert_eq!(qs[0].features[0], 1.0);
}

#[test]
fn truncated_last_line() {
    // Complete but without a newline: read.
    let qs = read_ok(b"1 qid:1 1:1\n2 qid:1 1:2 3:4.5", 3);
    assert_eq!(qs[0].features, vec![1.0, 0.0, 0.0, 2.0, 0.0, 4.5]);
    // Cut inside a token: an error on that line.
    err_at(b"1 qid:1 1:1\n2 qid:1 1:2 3:", 3, 2, "bad value");
    err_at(b"1 qid:1 1:1\n2 qid:1 1:2 3", 3, 2, "bad token");
    err_at(b"1 qid:1 1:1\n2 qi", 3, 2, "bad token");
}

#[test]
fn overlong_line() {
    let mut text = b"1 qid:1 1:1\n1 qid:1 ".to_vec();
    text.extend(std::iter::repeat_n(b' ', MAX_LINE_BYTES));
    text.extend_from_slice(b"1:1\n");
    err_at(&text, 3, 2, "line longer than");
    // Exactly at the cap is fine.
    let mut text = b"1 qid:1 1:1".to_vec();
    text.resize(MAX_LINE_BYTES, b' ');
    text.push(b'\n');
    assert_eq!(read_ok(&text, 3).len(), 1);
}

#[test]
fn groups_mode() {
    let text = b"2 1:1\n1 2:1\n# c\n0 qid:77 3:1\n3 1:4";
    let qs: Vec<_> =
        LetorReader::with_groups(Cursor::new(text.to_vec()), "t.txt", 3, vec![2, 1, 1])
            .collect::<Result<_, _>>()
            .unwrap();
    assert_eq!(qs.len(), 3);
    assert_eq!(
        qs.iter().map(|q| q.qid.as_str()).collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    assert_eq!(qs[0].labels, vec![2.0, 1.0]);
    assert_eq!(qs[1].labels, vec![0.0]);
    assert_eq!(qs[1].features, vec![0.0, 0.0, 1.0]);
    assert_eq!(qs[2].features, vec![4.0, 0.0, 0.0]);
}

fn groups_err(text: &[u8], groups: Vec<usize>, line: usize, needle: &str) {
    let res: Vec<_> =
        LetorReader::with_groups(Cursor::new(text.to_vec()), "t.txt", 3, groups).collect();
    let (l, msg) = first_err(&res);
    assert_eq!(l, line, "{msg}");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert!(res.last().unwrap().is_err());
}

#[test]
fn groups_mismatch() {
    groups_err(
        b"1\n1\n1\n",
        vec![2],
        3,
        "more documents than the group file lists (2 in 1 groups)",
    );
    groups_err(
        b"1\n1\n1\n",
        vec![2, 2],
        3,
        "file ends after 3 documents but the group file lists 4",
    );
    groups_err(b"1\n1\n", vec![2, 0, 1], 2, "file ends after 2 documents");
    groups_err(b"1\n1\n1\n", vec![2, 0, 1], 3, "group 1 has 0 documents");
    groups_err(
        b"1\n",
        vec![],
        1,
        "more documents than the group file lists (0 in 0 groups)",
    );
    groups_err(b"", vec![1], 0, "file ends after 0 documents");
    // No documents and no groups: nothing, no error.
    assert_eq!(
        LetorReader::with_groups(Cursor::new(Vec::new()), "t.txt", 3, vec![]).count(),
        0
    );
}

#[test]
fn group_file() {
    let g = read_groups(Cursor::new(b"3\n 2 \r\n\n1".to_vec()), "g").unwrap();
    assert_eq!(g, vec![3, 2, 1]);
    let e = read_groups(Cursor::new(b"3\n-2\n".to_vec()), "g").unwrap_err();
    assert_eq!(e.to_string(), "g:2: bad group size \"-2\"");
    let e = read_groups(Cursor::new(b"3\n\xff\n".to_vec()), "g").unwrap_err();
    assert_eq!(e.to_string(), "g:2: invalid UTF-8");
}

#[test]
fn streams_one_query_at_a_time() {
    // An endless reader of one query per line: taking two queries must
    // terminate, so the reader does not read ahead past the next line.
    struct Endless(usize, Vec<u8>);
    impl std::io::Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.1.is_empty() {
                self.0 += 1;
                self.1 = format!("1 qid:{} 1:1\n", self.0).into_bytes();
            }
            let n = self.1.len().min(out.len());
            out[..n].copy_from_slice(&self.1[..n]);
            self.1.drain(..n);
            Ok(n)
        }
    }
    let qs: Vec<_> = LetorReader::new(BufReader::new(Endless(0, Vec::new())), "e", 1)
        .take(2)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(qs[1].qid, "2");
}

#[test]
fn real_mslr() {
    let Some(dir) = crate::data::shared_data() else {
        return;
    };
    let expect = [
        ("msn1.fold1.train.5k.txt", [2792, 1458, 665, 55, 30]),
        ("msn1.fold1.test.5k.txt", [2847, 1442, 579, 98, 34]),
    ];
    for (name, hist) in expect {
        let qs = read_letor_file(&dir.join("mslr").join(name), 136).unwrap();
        assert_eq!(qs.len(), 43, "{name}");
        let docs: usize = qs.iter().map(|q| q.docs()).sum();
        assert_eq!(docs, 5000, "{name}");
        let mut h = [0usize; 5];
        for q in &qs {
            assert_eq!(q.features.len(), q.docs() * 136);
            for &l in &q.labels {
                h[l as usize] += 1;
            }
        }
        assert_eq!(h, hist, "{name}");
        // 18–308 documents per query, except the cut-off last query.
        let sizes: Vec<_> = qs[..42].iter().map(|q| q.docs()).collect();
        assert!(sizes.iter().all(|&n| (18..=308).contains(&n)), "{sizes:?}");
        assert!(qs.iter().all(|q| q.features.iter().all(|v| v.is_finite())));
    }
}

/// Regression: labels up to 1e30 were accepted and NDCG's gain 2^label − 1
/// overflowed (NaN in the report, exit status 0). Labels are graded
/// relevance in 0..=MAX_LABEL.
#[test]
fn labels_outside_graded_relevance_are_errors() {
    err_at(b"1e30 qid:1 1:1\n", 3, 1, "graded relevance");
    err_at(b"1 qid:1 1:1\n1025 qid:1 1:1\n", 3, 2, "graded relevance");
    err_at(b"32 qid:1 1:1\n", 3, 1, "graded relevance");
    err_at(b"-1 qid:1 1:1\n", 3, 1, "graded relevance");
    let qs = read_ok(b"31 qid:1 1:1\n0 qid:1\n2.5 qid:1\n", 3);
    assert_eq!(qs[0].labels, vec![31.0, 0.0, 2.5]);
    let gain = |l: f32| f64::from(l).exp2() - 1.0;
    assert!(gain(MAX_LABEL).is_finite() && gain(MAX_LABEL) == 2f64.powi(31) - 1.0);
}

/// Regression: a UTF-8 byte-order mark at the start of the file made the
/// first label unparsable; it is skipped there (and only there).
#[test]
fn leading_byte_order_mark_is_skipped() {
    let qs = read_ok(b"\xEF\xBB\xBF2 qid:7 1:0.5\n1 qid:7 2:1\n", 3);
    assert_eq!(qs.len(), 1);
    assert_eq!((qs[0].qid.as_str(), &qs[0].labels), ("7", &vec![2.0, 1.0]));
    // Through a reader that splits the mark over buffer fills.
    let r = LetorReader::new(
        std::io::BufReader::with_capacity(1, Cursor::new(b"\xEF\xBB\xBF1 qid:3\n".to_vec())),
        "t.txt",
        3,
    );
    let qs: Vec<_> = r.collect::<Result<_, _>>().unwrap();
    assert_eq!(qs[0].qid, "3");
    // A mark anywhere else is still an error.
    err_at(b"1 qid:1 1:1\n\xEF\xBB\xBF1 qid:1 1:1\n", 3, 2, "bad label");
}

fn tmp_file(tag: &str, text: &[u8]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("last-letor-{}-{tag}.txt", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn read_path(p: &Path, dim: usize) -> LetorRead {
    read_letor(
        LetorFile {
            path: p,
            groups: None,
        },
        dim,
    )
    .unwrap()
}

#[test]
fn a_cut_last_line_drops_its_query() {
    // Cut inside query 2: query 2 is incomplete and dropped.
    let p = tmp_file("cut2", b"1 qid:1 1:1\n2 qid:1 1:2\n1 qid:2 1:3\n0 qid:2 1:");
    let r = read_path(&p, 3);
    assert!(r.cut);
    assert_eq!(r.queries.len(), 1);
    assert_eq!(r.queries[0].qid, "1");
    // Cut in the first line of a new query: the previous query is whole.
    std::fs::write(&p, b"1 qid:1 1:1\n2 qid:1 1:2\n1 qid:2 1:").unwrap();
    let r = read_path(&p, 3);
    assert!(r.cut);
    assert_eq!(r.queries.len(), 1);
    assert_eq!(r.queries[0].docs(), 2);
    // Cut before its qid is readable: the last query may be the cut one.
    std::fs::write(&p, b"1 qid:1 1:1\n1 qid:2 1:2\n2 qi").unwrap();
    let r = read_path(&p, 3);
    assert_eq!(r.queries.len(), 1);
    // A last line without a newline that parses is kept, with its query.
    std::fs::write(&p, b"1 qid:1 1:1\n1 qid:2 1:2 # c").unwrap();
    let r = read_path(&p, 3);
    assert!(!r.cut);
    assert_eq!(r.queries.len(), 2);
    // A bad line that is not the cut last one is still an error.
    std::fs::write(&p, b"1 qid:1 1:\n1 qid:2 1:2\n").unwrap();
    let e = read_letor(
        LetorFile {
            path: &p,
            groups: None,
        },
        3,
    )
    .unwrap_err();
    assert!(matches!(e, DataError::Parse { line: 1, .. }), "{e}");
    std::fs::remove_file(&p).ok();
}

#[test]
fn feature_count_is_the_largest_index_used() {
    let p = tmp_file(
        "count",
        b"# header comment 99:1\n1 qid:1 3:1 7:2 # 500:3\n0 qid:1 1:1\n",
    );
    assert_eq!(feature_count(&p).unwrap(), 7);
    std::fs::write(&p, b"1 qid:1 5000:1\n").unwrap();
    let e = feature_count(&p).unwrap_err();
    assert!(e.to_string().contains("above the largest"), "{e}");
    std::fs::write(&p, b"1 qid:1\n# 3:1\n").unwrap();
    let e = feature_count(&p).unwrap_err();
    assert!(e.to_string().contains("no feature index"), "{e}");
    std::fs::remove_file(&p).ok();
}

#[test]
fn groups_files_are_read_with_the_documents() {
    let docs = tmp_file("ydocs", b"2 1:1 2:0.5\n0 2:1 # c\n1 1:3\n");
    let groups = tmp_file("ygroups", b"2\n1\n");
    let r = read_letor(
        LetorFile {
            path: &docs,
            groups: Some(&groups),
        },
        2,
    )
    .unwrap();
    assert_eq!(r.queries.len(), 2);
    assert_eq!((r.queries[0].docs(), r.queries[1].docs()), (2, 1));
    assert_eq!(r.queries[1].labels, vec![1.0]);
    std::fs::remove_file(&docs).ok();
    std::fs::remove_file(&groups).ok();
}
