//! The error policy, case by case: every defect in a weight file, a config
//! or a command line gets a typed error with a useful message, never a
//! panic. (Request defects: `serve.rs`; data files: the readers' unit tests.)

use last::data::sources::LetorSpec;
use last::model::{Config, Model, ModelError};
use last_kernels::Backend;
use serde_json::Value;
use std::process::Command;

fn cfg() -> Config {
    Config::tiny()
}

fn model_bytes() -> Vec<u8> {
    let m = Model::random(cfg(), 1, Backend::detect()).unwrap();
    let dir = std::env::temp_dir().join(format!("last-bad-{}", std::process::id()));
    m.save(&dir).unwrap();
    let b = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    b
}

/// Splits a safetensors file into its JSON header and data.
fn split(b: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&b[8..8 + n]).unwrap(),
        b[8 + n..].to_vec(),
    )
}

fn join(h: &Value, data: &[u8]) -> Vec<u8> {
    let text = serde_json::to_vec(h).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(data);
    out
}

fn load(b: &[u8]) -> Result<Model, ModelError> {
    Model::from_bytes(cfg(), b, Backend::detect())
}

#[test]
fn weight_file_defects_get_typed_errors() {
    let good = model_bytes();
    assert!(load(&good).is_ok());
    let (h, data) = split(&good);
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut h2 = h.clone();
        f(&mut h2);
        join(&h2, &data)
    };
    let expect = |bytes: Vec<u8>, what: &str, pred: fn(&ModelError) -> bool| {
        let e = load(&bytes).expect_err(what);
        assert!(pred(&e), "{what}: unexpected error {e}");
        assert!(!e.to_string().is_empty());
    };
    // Not a safetensors file / truncated / header length lies.
    expect(b"GGUF\0\0\0\0garbage".to_vec(), "wrong magic", |e| {
        matches!(e, ModelError::Format(_))
    });
    expect(good[..good.len() - 3].to_vec(), "truncated", |e| {
        matches!(e, ModelError::Format(_))
    });
    let mut lie = good.clone();
    lie[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    expect(lie, "header length beyond the file", |e| {
        matches!(e, ModelError::Format(_))
    });
    // Header offsets beyond the data.
    expect(
        edit(&|h| {
            let o = &mut h["generator.v"]["data_offsets"];
            let end = o[1].as_u64().unwrap();
            o[1] = Value::from(end + 4000);
        }),
        "offsets beyond the data",
        |e| matches!(e, ModelError::Format(_)),
    );
    // Wrong dtype (same byte size, I32).
    expect(
        edit(&|h| h["generator.v"]["dtype"] = Value::from("I32")),
        "wrong dtype",
        |e| matches!(e, ModelError::Tensor { name, why } if name == "generator.v" && why.contains("dtype") && why.contains("BF16")),
    );
    // Missing tensor: drop the one stored last, and its bytes.
    let (last_name, start) = h
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.get("data_offsets")?[0].as_u64()?)))
        .max_by_key(|(_, s)| *s)
        .unwrap();
    let mut h2 = h.clone();
    h2.as_object_mut().unwrap().remove(&last_name);
    let e = load(&join(&h2, &data[..start as usize])).unwrap_err();
    assert!(
        matches!(&e, ModelError::Tensor { name, why } if *name == last_name && why.contains("missing")),
        "missing tensor: {e}"
    );
    // Extra tensor (with its own bytes appended).
    let mut h3 = h.clone();
    let end = data.len() as u64;
    h3.as_object_mut().unwrap().insert(
        "generator.extra".into(),
        serde_json::json!({"dtype": "F32", "shape": [4], "data_offsets": [end, end + 16]}),
    );
    let mut d3 = data.clone();
    d3.extend([0u8; 16]);
    let e = load(&join(&h3, &d3)).unwrap_err();
    assert!(
        matches!(&e, ModelError::Tensor { name, why } if name == "generator.extra" && why.contains("extra")),
        "extra tensor: {e}"
    );
    // Mis-shaped: same element count, transposed.
    expect(
        edit(&|h| h["generator.w1.weight"]["shape"] = serde_json::json!([8, 4])),
        "mis-shaped tensor",
        |e| matches!(e, ModelError::Tensor { name, why } if name == "generator.w1.weight" && why.contains("shape")),
    );
    // Non-finite weights.
    for bad in [f32::NAN, f32::INFINITY] {
        let off = h["generator.w2.weight"]["data_offsets"][0]
            .as_u64()
            .unwrap() as usize;
        let mut d = data.clone();
        d[off + 4..off + 8].copy_from_slice(&bad.to_le_bytes());
        expect(
            join(&h, &d),
            "non-finite weight",
            |e| matches!(e, ModelError::Tensor { name, why } if name == "generator.w2.weight" && why.contains("non-finite")),
        );
    }
    // A config that disagrees with the tensors.
    let mut other = cfg();
    other.eval_h1 = 5;
    let e = Model::from_bytes(other, &good, Backend::detect()).unwrap_err();
    assert!(matches!(e, ModelError::Tensor { .. }), "{e}");
}

#[test]
fn bad_configs_get_typed_errors() {
    let ok = cfg().to_json();
    assert_eq!(Config::from_json(&ok).unwrap(), cfg());
    for (text, needle) in [
        ("{", "EOF"),
        ("[]", "expected struct Config"),
        (&ok.replace("\"hidden\": 4", "\"hidden\": 0"), "hidden"),
        (&ok.replace("\"hidden\": 4", "\"hidden\": 100000"), "hidden"),
        (
            &ok.replace("\"hidden\": 4", "\"hidden\": -1"),
            "invalid value",
        ),
        (
            &ok.replace("\"dtype\": \"f32\"", "\"dtype\": \"bf8\""),
            "unknown variant",
        ),
        (
            &ok.replace("\"position_weights\": null", "\"position_weights\": [1.0]"),
            "position_weights",
        ),
    ] {
        match Config::from_json(text) {
            Err(ModelError::Config(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// Regression: finite but huge position weights (3e38) made list scores
/// overflow to +∞ and the search ranked those lists best; an unknown field
/// (a misspelt key) was silently ignored. Both are `ModelError::Config`,
/// from `from_json` and from `Model::random`; the limit itself loads.
#[test]
fn huge_position_weights_and_unknown_config_fields_are_errors() {
    let ok = cfg().to_json();
    let weights = |w: &str| {
        ok.replace(
            "\"position_weights\": null",
            &format!("\"position_weights\": {w}"),
        )
    };
    for (text, needle) in [
        (weights("[1.0, 3e38, 1.0]"), "position_weights[1]"),
        (weights("[1.0, 1.0, -1.5e6]"), "position_weights[2]"),
        (
            ok.replace("\"hidden\": 4", "\"hidden\": 4, \"hiden\": 8"),
            "unknown field",
        ),
        (
            ok.replace("\"dtype\"", "\"position_weight\": [1, 1, 1], \"dtype\""),
            "unknown field",
        ),
    ] {
        match Config::from_json(&text) {
            Err(ModelError::Config(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    let c = Config::from_json(&weights("[1e6, -1e6, 0.5]")).unwrap();
    assert_eq!(c.position_weight(0), 1e6);
    let mut huge = cfg();
    huge.position_weights = Some(vec![3e38, 1.0, 1.0]);
    assert!(matches!(
        Model::random(huge, 1, Backend::detect()),
        Err(ModelError::Config(_))
    ));
}

/// `Model::load` on files that cannot be read: `ModelError::Io` naming the
/// path (the config first, then the weights).
#[test]
fn model_files_that_cannot_be_read_are_io_errors() {
    let dir = std::env::temp_dir().join(format!("last-bad-io-{}", std::process::id()));
    let e = Model::load(&dir, Backend::detect()).unwrap_err();
    assert!(
        matches!(&e, ModelError::Io { path, .. } if path.ends_with("config.json")),
        "{e}"
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), cfg().to_json()).unwrap();
    let e = Model::load(&dir, Backend::detect()).unwrap_err();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        matches!(&e, ModelError::Io { path, .. } if path.ends_with("model.safetensors")),
        "{e}"
    );
}

fn last(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_last"))
        .args(args)
        .arg("--quiet")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_command_lines_exit_2_and_missing_files_1_with_a_message() {
    let missing = "/nonexistent/last-data-file";
    for (args, needle) in [
        (vec!["frobnicate"], "unrecognized subcommand"),
        (
            vec!["bench", "--variant", "nope", "--requests", "1"],
            "unknown variant",
        ),
        (
            vec!["bench", "--scenario", "huge", "--requests", "1"],
            "'--scenario <SCENARIO>'",
        ),
        (vec!["bench", "--requests", "0"], "--requests"),
        (
            vec!["train", "--data", "mslr", "--model", "/tmp/x"],
            "needs --train",
        ),
        (
            vec!["train", "--data", "imagenet", "--model", "/tmp/x"],
            "'--data <DATA>'",
        ),
        (
            vec![
                "train", "--data", "mslr", "--train", missing, "--test", missing, "--model",
                "/tmp/x",
            ],
            missing,
        ),
        (vec!["eval", "--model", missing], missing),
        (vec!["eval", "--model", missing, "--k", "0"], "--k"),
        (vec!["demo", "--k", "5000"], "--k"),
        (vec!["soak", "--seconds", "0"], "--seconds"),
    ] {
        let (code, err) = last(&args);
        // Usage errors exit 2; a missing input file is a runtime failure (1).
        let want = if needle == missing { 1 } else { 2 };
        assert_eq!(code, want, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A LETOR line of query `qid` with label `label` (MSLR width, a few features).
fn letor_lines(qid: usize, docs: usize) -> String {
    (0..docs)
        .map(|d| format!("{} qid:{qid} 1:{} 7:{}.5 136:{}\n", d % 3, d, qid, d * qid))
        .collect()
}

fn write_tmp(tag: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("last-bad-{}-{tag}.txt", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

/// Regression: a training file with one query gave 0 validation queries, a
/// "valid log-loss NaN" and a model written with exit status 0. An empty
/// split is `DataError::EmptySplit`, from the builder and again from the
/// training loops (a hand-made dataset), and from a synthetic world asked
/// for no validation requests.
#[test]
fn empty_splits_get_typed_errors() {
    use last::data::DataError;
    let train = write_tmp("train1", &letor_lines(1, 12));
    let test = write_tmp("test2", &(letor_lines(5, 12) + &letor_lines(6, 12)));
    let e =
        last::data::sources::letor(&LetorSpec::mslr(train.clone(), test.clone()), 1).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::EmptySplit {
                split: "validation",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("validation split is empty"), "{e}");
    // Two training queries (one dropped as cut off): still one query only.
    std::fs::write(&train, letor_lines(1, 12) + &letor_lines(2, 12)).unwrap();
    let e =
        last::data::sources::letor(&LetorSpec::mslr(train.clone(), test.clone()), 1).unwrap_err();
    assert!(matches!(e, DataError::EmptySplit { .. }), "{e}");
    // Queries too short for a request (< 10 documents): no instances.
    let lines: String = (1..8).map(|q| letor_lines(q, 4)).collect();
    std::fs::write(&train, lines).unwrap();
    let e =
        last::data::sources::letor(&LetorSpec::mslr(train.clone(), test.clone()), 1).unwrap_err();
    assert!(
        matches!(e, DataError::EmptySplit { split: "train", .. }),
        "{e}"
    );
    // Enough queries: builds.
    let lines: String = (1..8).map(|q| letor_lines(q, 12)).collect();
    std::fs::write(&train, lines).unwrap();
    let d = last::data::sources::letor(&LetorSpec::mslr(train.clone(), test.clone()), 1).unwrap();
    assert!(!d.valid.is_empty() && !d.valid_logs.is_empty());
    std::fs::remove_file(&train).ok();
    std::fs::remove_file(&test).ok();

    // The training loops refuse a dataset without validation data.
    use last::data::world::WorldSpec;
    let spec = WorldSpec {
        train: 20,
        valid: 4,
        test: 4,
        ..WorldSpec::default()
    };
    let mut data =
        last::pipeline::load(&last::pipeline::Source::Synthetic(spec.clone()), 1).unwrap();
    data.valid_logs.clear();
    data.valid.clear();
    let o = last::train::TrainOptions::default();
    let mut m = Model::random(data.cfg.clone(), 1, Backend::detect()).unwrap();
    let e = last::train::train_evaluator(&mut m, &data, &o).unwrap_err();
    assert!(e.to_string().contains("no validation logs"), "{e}");
    let e = last::train::train_generator(&mut m, &data, &o).unwrap_err();
    assert!(e.to_string().contains("no validation instances"), "{e}");
    let none = WorldSpec { valid: 0, ..spec };
    let e = last::pipeline::load(&last::pipeline::Source::Synthetic(none), 1).unwrap_err();
    assert!(e.contains("validation split is empty"), "{e}");
}

/// A finite weight that the storage type cannot hold (an f16 above 65504,
/// a bf16 that rounds past f32::MAX) is refused with a typed error, not
/// stored as ±∞; in f32 storage both are fine.
#[test]
fn weights_out_of_the_storage_range_are_refused() {
    use last::model::{Dtype, Layer};
    for (dtype, big) in [(Dtype::F16, 7.0e4f32), (Dtype::Bf16, 3.4e38)] {
        let w = vec![0.5, big, -0.25, 1.0];
        match Layer::new(2, 2, w.clone(), vec![0.0; 2], dtype) {
            Err(ModelError::Tensor { why, .. }) => assert!(why.contains("range"), "{why}"),
            other => panic!("{dtype:?}: {other:?}"),
        }
        assert!(Layer::new(2, 2, w, vec![0.0; 2], Dtype::F32).is_ok());
    }
    // Views of bf16 storage with k = 0 are an answer, not a panic.
    let _ = last_kernels::bf16::PackedBf16::from_packed(&[], 3, 0);
    let _ = last_kernels::bf16::ActsBf16::from_rounded(&[], 3, 0);
}
