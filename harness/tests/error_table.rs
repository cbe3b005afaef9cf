//! The error-policy table (`docs/ERRORS.md`) is executable: every row under
//! `## Error policy` names, in its `test` column, one or more test
//! functions (`file::name` for `harness/tests/file.rs`, or a module path
//! such as `data::letor::tests::bad_label` for unit tests under
//! `harness/src/`), and each must exist in the repository's test sources as
//! a `#[test]` function. A row without a test, or naming one that does not
//! exist, fails.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The rows of the first table after `## Error policy` (up to the next
/// `## ` heading): the header's cells, then each data row's cells.
fn table(readme: &str) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let start = readme
        .lines()
        .position(|l| l.trim() == "## Error policy")
        .ok_or("no `## Error policy` heading")?;
    let cells = |l: &str| -> Vec<String> {
        let t = l.trim().trim_start_matches('|').trim_end_matches('|');
        t.split('|').map(|c| c.trim().to_string()).collect()
    };
    let mut rows = readme
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("## "))
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'));
    let header = cells(rows.next().ok_or("no table under `## Error policy`")?);
    let sep = rows.next().ok_or("table without a separator row")?;
    if !sep.contains("---") {
        return Err(format!("not a separator row: {sep}"));
    }
    let body: Vec<Vec<String>> = rows.map(cells).collect();
    if body.is_empty() {
        return Err("the table has no rows".into());
    }
    Ok((header, body))
}

/// Whether `file` holds `#[test] fn name(` (attributes and comments may sit
/// between the two; `proptest!` tests count).
fn has_test(file: &Path, name: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().collect();
    let sig = format!("fn {name}(");
    lines.iter().enumerate().any(|(i, l)| {
        if !l.trim_start().starts_with(&sig) {
            return false;
        }
        lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("#[") || l.starts_with("//") || l.is_empty())
            .any(|l| l == "#[test]")
    })
}

/// The files a test path may live in.
fn candidates(root: &Path, path: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let [file] = path {
        for dir in ["harness/tests", "tests/tests", "kernels/tests"] {
            out.push(root.join(dir).join(format!("{file}.rs")));
        }
    }
    for src in ["harness/src", "kernels/src"] {
        let base = root.join(src).join(path.join("/"));
        out.push(base.with_extension("rs"));
        out.push(base.join("mod.rs"));
        // An inline `mod tests` in the parent module's file.
        if let [parent @ .., "tests"] = path {
            if !parent.is_empty() {
                let p = root.join(src).join(parent.join("/"));
                out.push(p.with_extension("rs"));
                out.push(p.join("mod.rs"));
            }
        }
    }
    out
}

/// Checks every row; returns the problems found.
fn check(readme: &str, root: &Path) -> Vec<String> {
    let (header, rows) = match table(readme) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let Some(col) = header.iter().position(|h| h == "test") else {
        return vec![format!("no `test` column in {header:?}")];
    };
    let mut bad = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let what = format!(
            "row {} ({})",
            i + 1,
            row.iter().take(2).cloned().collect::<Vec<_>>().join(" / ")
        );
        let cell = row.get(col).map(String::as_str).unwrap_or("");
        let names: Vec<&str> = cell
            .split(',')
            .map(|t| t.trim().trim_matches('`').trim())
            .filter(|t| !t.is_empty())
            .collect();
        if names.is_empty() {
            bad.push(format!("{what}: names no test"));
        }
        for name in names {
            let segs: Vec<&str> = name.split("::").collect();
            let (fname, path) = segs.split_last().expect("split gives one segment");
            if path.is_empty() {
                bad.push(format!("{what}: `{name}` is not `file::test_name`"));
                continue;
            }
            if !candidates(root, path).iter().any(|f| has_test(f, fname)) {
                bad.push(format!("{what}: no test `{name}` in the test sources"));
            }
        }
    }
    bad
}

#[test]
fn every_error_policy_row_names_an_existing_test() {
    let readme = std::fs::read_to_string(root().join("docs/ERRORS.md")).unwrap();
    let bad = check(&readme, &root());
    assert!(bad.is_empty(), "error-policy table:\n{}", bad.join("\n"));
    // And it is the table it should be: at least the rows it had.
    let (_, rows) = table(&readme).unwrap();
    assert!(rows.len() >= 20, "{} rows", rows.len());
}

/// The checker itself fails on a row without a test, on a test that does
/// not exist, on a name that is not a test function, and without the column.
#[test]
fn the_checker_rejects_missing_and_unknown_tests() {
    let root = root();
    let doc = |rows: &str| {
        format!("# x\n\n## Error policy\n\ntext\n\n| input | defect | result | test |\n|---|---|---|---|\n{rows}\n## Next\n")
    };
    let ok = "| a | b | c | `bad_input::bad_configs_get_typed_errors` |\n\
              | | d | e | `data::letor::tests::bad_label`, `error_table::the_checker_rejects_missing_and_unknown_tests` |\n";
    assert_eq!(check(&doc(ok), &root), Vec::<String>::new());
    for (rows, needle) in [
        ("| a | b | c | |\n", "names no test"),
        (
            "| a | b | c | `bad_input::no_such_test` |\n",
            "no test `bad_input::no_such_test`",
        ),
        (
            "| a | b | c | `nowhere::bad_label` |\n",
            "no test `nowhere::bad_label`",
        ),
        // A helper, not a #[test].
        (
            "| a | b | c | `bad_input::model_bytes` |\n",
            "no test `bad_input::model_bytes`",
        ),
        (
            "| a | b | c | `bad_configs_get_typed_errors` |\n",
            "not `file::test_name`",
        ),
        ("| a | b | c |\n", "names no test"),
    ] {
        let bad = check(&doc(rows), &root);
        assert!(bad.iter().any(|b| b.contains(needle)), "{rows}: {bad:?}");
    }
    let no_col = "## Error policy\n\n| input | defect | result |\n|---|---|---|\n| a | b | c |\n";
    assert!(check(no_col, &root)[0].contains("no `test` column"));
    assert!(check("# nothing\n", &root)[0].contains("no `## Error policy`"));
}
