//! The `last` binary's conventions, run as a user would: exit codes (0 ok,
//! 1 runtime failure, 2 usage), the bound of every numeric flag, closed
//! and full stdout, output folders checked before any work.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_last");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `args`, expects exit 2 and every needle in stderr, no panic.
fn usage(args: &[&str], needles: &[&str]) {
    let o = run(args);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
    }
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("last-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A random model for the synthetic world (the shapes `eval` checks).
fn synthetic_model(dir: &Path) {
    let data = last::pipeline::load(
        &last::pipeline::Source::Synthetic(last::data::world::WorldSpec::default()),
        1,
    )
    .unwrap();
    let m =
        last::model::Model::random(data.cfg.clone(), 3, last_kernels::Backend::detect()).unwrap();
    m.save(dir).unwrap();
}

const SMALL_BENCH: [&str; 7] = [
    "bench",
    "--scenario",
    "small",
    "--variant",
    "baseline",
    "--requests",
    "3",
];

// ---- exit codes ----------------------------------------------------------

#[test]
fn usage_errors_exit_2() {
    usage(&["frobnicate"], &["unrecognized subcommand"]);
    usage(&["bench", "--no-such-flag"], &["--no-such-flag"]);
    usage(&[], &["Usage"]);
    usage(
        &["train", "--data", "mslr", "--model", "/tmp/x"],
        &["needs --train"],
    );
    usage(
        &[
            "train",
            "--data",
            "synthetic",
            "--train",
            "a",
            "--model",
            "/tmp/x",
        ],
        &["takes no --train"],
    );
    let o = Command::new(BIN)
        .args(["info"])
        .env("LAST_ISA", "mmx")
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("LAST_ISA=mmx"));
}

#[test]
fn help_and_version_exit_0() {
    for args in [&["--help"][..], &["--version"], &["bench", "--help"]] {
        let o = run(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert!(!stdout(&o).is_empty());
    }
}

#[test]
fn missing_input_files_exit_1_naming_the_file() {
    let missing = "/nonexistent/last-model-folder";
    let o = run(&["eval", "--model", missing, "--max-requests", "2"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains(missing), "{}", stderr(&o));
    let dir = scratch("missing");
    let model = dir.join("m");
    let file = "/nonexistent/last-train-file";
    let o = run(&[
        "train",
        "--data",
        "mslr",
        "--train",
        file,
        "--test",
        file,
        "--model",
        model.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains(file), "{}", stderr(&o));
    assert!(!model.join("model.safetensors").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_data_files_exit_1() {
    let dir = scratch("baddata");
    let bad = dir.join("train.txt");
    std::fs::write(&bad, "this is not LETOR\n").unwrap();
    let b = bad.to_str().unwrap();
    let o = run(&[
        "train",
        "--data",
        "mslr",
        "--train",
        b,
        "--test",
        b,
        "--model",
        dir.join("m").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error:"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

// ---- closed sets of choices ----------------------------------------------

#[test]
fn help_lists_the_choices() {
    let bench = stdout(&run(&["bench", "--help"]));
    for name in last::serve::Variant::standard_set() {
        assert!(bench.contains(&name.to_string()), "{name} not in {bench}");
    }
    for s in ["standard", "small", "kernels"] {
        assert!(bench.contains(s), "{s} not in {bench}");
    }
    let train = stdout(&run(&["train", "--help"]));
    for s in ["synthetic", "mslr", "wscd"] {
        assert!(train.contains(s), "{s} not in {train}");
    }
    let top = stdout(&run(&["--help"]));
    for s in [
        "demo",
        "train",
        "eval",
        "soak",
        "info",
        "bench",
        "--quiet",
        "Exit status",
    ] {
        assert!(top.contains(s), "{s} not in {top}");
    }
}

#[test]
fn typos_get_a_suggestion() {
    let similar = "a similar value exists";
    usage(
        &["bench", "--variant", "bestof-16"],
        &[similar, "'best-of-16'"],
    );
    usage(
        &["bench", "--variant", "parallel-gausian-w2-16"],
        &[similar, "'parallel-gaussian-w2-16'"],
    );
    usage(
        &["bench", "--variant", "best_of_16"],
        &[similar, "'best-of-16'"],
    );
    usage(&["bench", "--scenario", "smal"], &[similar, "'small'"]);
    usage(
        &["train", "--data", "synthetc", "--model", "/tmp/x"],
        &[similar, "'synthetic'"],
    );
    usage(&["sok"], &["similar", "soak"]);
    // A bad knob says what is wrong with it.
    usage(
        &["bench", "--variant", "parallel-gaussian-w2-16:sigma=x"],
        &["sigma=x is not a number"],
    );
}

// ---- bounds of numeric flags ---------------------------------------------

#[test]
fn bench_requests_are_capped() {
    for v in ["18446744073709551615", "10000000000", "1000001", "0", "-1"] {
        usage(&["bench", &format!("--requests={v}")], &["--requests"]);
    }
    usage(&["bench", "--requests", "10000000000"], &["1..=1000000"]);
}

#[test]
fn bench_threads_are_capped() {
    for v in ["1000000", "65", "0"] {
        usage(&["bench", "--threads", v], &["--threads", "1..=64"]);
    }
}

#[test]
fn soak_seconds_are_capped() {
    for v in ["18446744073709551615", "86401", "0"] {
        usage(&["soak", "--seconds", v], &["--seconds", "1..=86400"]);
    }
}

#[test]
fn soak_threads_share_the_cap() {
    for v in ["65", "0", "1000000"] {
        usage(&["soak", "--threads", v], &["--threads", "1..=64"]);
    }
}

#[test]
fn variant_knobs_are_checked_before_the_benchmark() {
    for v in ["best-of-0", "best-of-2000", "parallel-table-w2-1025"] {
        usage(
            &["bench", "--variant", v, "--requests", "1"],
            &["--variant", "must be in 1..=1024"],
        );
    }
    usage(
        &[
            "bench",
            "--variant",
            "parallel-lowrank0-keys-16",
            "--requests",
            "1",
        ],
        &["low rank = 0 must be in 1..=64"],
    );
    usage(
        &[
            "bench",
            "--variant",
            "parallel-gaussian-w2-16:sigma=-1",
            "--requests",
            "1",
        ],
        &["sigma"],
    );
    usage(
        &["bench", "--variant", "exhaustive", "--requests", "1"],
        &["exhaustive needs N"],
    );
    usage(
        &["bench", "--variant", "best-of-99999999999999999999999"],
        &["too large"],
    );
}

#[test]
fn eval_knobs_are_bounded() {
    for (flag, bad, range) in [
        ("--k", "1", "2..=1024"),
        ("--k", "5000", "2..=1024"),
        ("--table-budget-us", "0", "1..=3600000000"),
        (
            "--table-budget-us",
            "18446744073709551615",
            "1..=3600000000",
        ),
        ("--budget-us", "0", "1..=3600000000"),
        ("--budget-us", "25,3600000001", "1..=3600000000"),
        ("--budget-us", "25,,50", "whole number"),
        ("--max-requests", "0", "1..=1000000"),
        ("--max-requests", "18446744073709551615", "1..=1000000"),
        ("--bootstrap", "0", "1..=100000"),
        ("--bootstrap", "100001", "1..=100000"),
    ] {
        // demo and eval share the flags; both fail at parsing, before work.
        usage(&["demo", flag, bad], &[flag, range]);
        usage(
            &["eval", "--model", "/nonexistent", flag, bad],
            &[flag, range],
        );
    }
}

#[test]
fn seeds_take_any_u64_and_nothing_else() {
    // The full range parses (the run then stops at the missing files).
    usage(
        &[
            "train",
            "--data",
            "mslr",
            "--model",
            "/tmp/x",
            "--seed",
            "18446744073709551615",
            "--data-seed",
            "18446744073709551615",
        ],
        &["needs --train"],
    );
    usage(&["train", "--model", "/tmp/x", "--seed=-1"], &["--seed"]);
    usage(
        &[
            "train",
            "--model",
            "/tmp/x",
            "--data-seed",
            "18446744073709551616",
        ],
        &["--data-seed"],
    );
}

// ---- stdout ----------------------------------------------------------------

/// Spawns `args` with stdout a pipe whose read end is closed at once.
fn closed_stdout(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn closed_stdout_ends_quietly() {
    for args in [
        &["bench", "kernels", "--quick", "--no-peers"][..],
        &["soak", "--seconds", "1"],
        &SMALL_BENCH,
        &["info"],
    ] {
        let o = closed_stdout(args);
        let err = stderr(&o);
        assert_ne!(code(&o), 101, "{args:?}: {err}");
        assert_eq!(code(&o), 0, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
}

fn to_dev_full(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    Command::new(BIN).args(args).stdout(full).output().unwrap()
}

#[test]
fn full_stdout_is_a_failure_with_a_message() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    for args in [&SMALL_BENCH[..], &["info"]] {
        let o = to_dev_full(args);
        let err = stderr(&o);
        assert_eq!(code(&o), 1, "{args:?}: {err}");
        assert!(err.contains("writing to stdout"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn quiet_silences_notes_only() {
    let loud = run(&SMALL_BENCH);
    assert_eq!(code(&loud), 0, "{}", stderr(&loud));
    assert!(
        stderr(&loud).contains("bench: baseline"),
        "{}",
        stderr(&loud)
    );
    let mut args = SMALL_BENCH.to_vec();
    args.push("--quiet");
    let quiet = run(&args);
    assert_eq!(code(&quiet), 0);
    assert_eq!(stderr(&quiet), "");
    assert!(stdout(&quiet).starts_with("baseline [")); // the result still prints
}

#[test]
fn bench_json_names_the_variant_in_the_one_scheme() {
    let name = "parallel-gaussian-w2-4:sigma=0.1";
    let o = run(&[
        "bench",
        "--scenario",
        "small",
        "--variant",
        name,
        "--requests",
        "2",
        "--json",
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["variant"], name);
    let back: last::serve::Variant = name.parse().unwrap();
    assert_eq!(back.to_string(), name);
}

// ---- outputs checked before work -----------------------------------------

/// Runs `args` and checks it fails with exit 1 within a few seconds.
fn fails_fast(args: &[&str], needle: &str) {
    let t = Instant::now();
    let o = run(args);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{args:?}: {err}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "{args:?} took {:?}",
        t.elapsed()
    );
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unwritable_output_folders_fail_fast() {
    let dir = scratch("unwritable");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under = file.join("sub");
    let u = under.to_str().unwrap();
    fails_fast(&["demo", "--out", u], u);
    fails_fast(&["train", "--model", u], u);
    let model = dir.join("model");
    synthetic_model(&model);
    fails_fast(&["eval", "--model", model.to_str().unwrap(), "--out", u], u);
    // Nothing was trained or written anywhere.
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_folder_in_place_of_report_txt_is_named() {
    let dir = scratch("reportdir");
    std::fs::create_dir_all(dir.join("report.txt")).unwrap();
    let d = dir.to_str().unwrap();
    fails_fast(&["demo", "--out", d], "report.txt");
    assert!(!dir.join("model").join("model.safetensors").exists());
    let model = dir.join("m");
    synthetic_model(&model);
    fails_fast(
        &["eval", "--model", model.to_str().unwrap(), "--out", d],
        "report.txt",
    );
    // The same for the model folder's files.
    let mdir = dir.join("m2");
    std::fs::create_dir_all(mdir.join("config.json")).unwrap();
    fails_fast(&["train", "--model", mdir.to_str().unwrap()], "config.json");
    std::fs::remove_dir_all(&dir).ok();
}

// ---- eval end to end (tiny) ------------------------------------------------

#[test]
fn eval_with_empty_budget_list_reports_every_row_with_one_name_scheme() {
    let dir = scratch("eval");
    let model = dir.join("model");
    synthetic_model(&model);
    let out = dir.join("out");
    let o = run(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--max-requests",
        "4",
        "--bootstrap",
        "20",
        "--budget-us",
        "",
        "--json",
    ]);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    // Progress on stderr.
    assert!(err.contains("tuning σ"), "{err}");
    let mut names = Vec::new();
    for line in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = v["variant"].as_str().unwrap().to_string();
        if name != "initial" {
            let parsed: last::serve::Variant =
                name.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed.to_string(), name);
        }
        names.push(name);
    }
    assert!(names.iter().any(|n| n == "baseline"), "{names:?}");
    assert!(names.iter().any(|n| n == "best-of-16"), "{names:?}");
    assert!(!names.iter().any(|n| n == "generator"), "{names:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["sweep"].as_array().unwrap().len(), 0);
    // The same run into /dev/full fails with a message.
    if Path::new("/dev/full").exists() {
        let o = to_dev_full(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--max-requests",
            "2",
            "--bootstrap",
            "10",
            "--budget-us",
            "",
            "--json",
            "-q",
        ]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains("writing to stdout"), "{}", stderr(&o));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Yahoo-style LETOR lines (no `qid:`, trailing comments) for `queries`
/// queries of 12 documents with 5 features, and their group file.
fn yahoo_files(dir: &Path, tag: &str, queries: usize) -> (PathBuf, PathBuf) {
    let (mut docs, mut groups) = (String::new(), String::new());
    for q in 0..queries {
        for d in 0..12 {
            let f = |k: usize| ((q * 7 + d * 3 + k) % 11) as f32 / 5.0;
            docs += &format!(
                "{} 1:{} 2:{} 4:{} 5:{} # doc {d} of query {q}\n",
                (q + d) % 3,
                f(1),
                f(2),
                f(4),
                f(5)
            );
        }
        groups += "12\n";
    }
    let (dp, gp) = (
        dir.join(format!("{tag}.txt")),
        dir.join(format!("{tag}.group")),
    );
    std::fs::write(&dp, docs).unwrap();
    std::fs::write(&gp, groups).unwrap();
    (dp, gp)
}

#[test]
fn a_users_letor_files_train_and_evaluate_without_code_changes() {
    let dir = scratch("letor");
    let (train, train_g) = yahoo_files(&dir, "train", 30);
    let (test, test_g) = yahoo_files(&dir, "test", 6);
    let model = dir.join("model");
    let out = dir.join("report");
    let s = |p: &Path| p.display().to_string();
    let (model_s, out_s) = (s(&model), s(&out));
    let data = [
        "--data",
        "letor",
        "--train",
        &s(&train),
        "--train-groups",
        &s(&train_g),
        "--test",
        &s(&test),
        "--test-groups",
        &s(&test_g),
    ];
    let mut args = vec!["train", "--quiet"];
    args.extend(data);
    args.extend(["--model", &model_s]);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let cfg = std::fs::read_to_string(model.join("config.json")).unwrap();
    assert!(
        cfg.contains("\"d_x\": 5") || cfg.contains("\"d_x\":5"),
        "{cfg}"
    );
    let mut args = vec!["eval", "--quiet"];
    args.extend(data);
    args.extend(["--model", &model_s, "--out", &out_s]);
    args.extend(["--k", "4", "--budget-us", "", "--bootstrap", "20"]);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(
        report.contains("baseline") && report.contains("best-of-4"),
        "{report}"
    );
    // The group files are for --data letor only.
    usage(
        &[
            "train",
            "--data",
            "mslr",
            "--features",
            "5",
            "--model",
            "/tmp/x",
        ],
        &["--data letor"],
    );
    std::fs::remove_dir_all(&dir).ok();
}
