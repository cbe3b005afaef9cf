//! The committed parity case (`harness/tests/golden/`): a random model
//! written by the Python package (`python -m last_bridge.golden`) as f32,
//! f16-stored and bf16-file folders, and requests with what the package's
//! numpy reference serves for them. `last` must serve the same lists and
//! winners, with scores within the stated relative tolerance, on every
//! backend this machine has; and draw the same noise streams bit for bit.
//! No Python runs here.

use last::model::Model;
use last::serve::{Request, Scratch, Variant};
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::{Backend, MatRef};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

fn golden() -> (PathBuf, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases.json is committed");
    (dir, serde_json::from_str(&text).expect("cases.json parses"))
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

fn indices(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_u64().expect("an index") as usize)
        .collect()
}

fn close(got: f32, want: f64, tol: f64) -> bool {
    ((got as f64) - want).abs() <= tol * want.abs().max(1e-30)
}

#[test]
fn noise_streams_match_the_python_rng_bit_for_bit() {
    let (_, doc) = golden();
    let streams = doc["streams"].as_array().unwrap();
    assert!(!streams.is_empty());
    for s in streams {
        let noise = Noise {
            seed: s["seed"].as_str().unwrap().parse().unwrap(),
            candidate: s["candidate"].as_u64().unwrap() as u32,
            kind: match s["kind"].as_str().unwrap() {
                "gaussian" => NoiseKind::Gaussian,
                _ => NoiseKind::Rademacher,
            },
            antithetic: s["antithetic"].as_bool().unwrap(),
        };
        for (i, b) in s["bits"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                noise.value(i as u32).to_bits() as u64,
                b.as_u64().unwrap(),
                "{noise:?} element {i}"
            );
        }
    }
}

#[test]
fn last_serves_what_the_reference_serves() {
    let (dir, doc) = golden();
    let tol = doc["tolerance_rel"].as_f64().unwrap();
    let mut checked = 0;
    for (name, cases) in doc["models"].as_object().unwrap() {
        for be in Backend::available() {
            let model = Model::load(&dir.join(name), be).unwrap_or_else(|e| panic!("{name}: {e}"));
            let d_x = model.cfg.d_x;
            let mut scratch = Scratch::default();
            for (i, c) in cases.as_array().unwrap().iter().enumerate() {
                let user = floats(&c["user"]);
                let items: Vec<f32> = c["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(floats)
                    .collect();
                let variant: Variant = c["variant"].as_str().unwrap().parse().unwrap();
                let req = Request {
                    user: &user,
                    items: MatRef::new(&items, items.len() / d_x, d_x).unwrap(),
                    len: c["length"].as_u64().unwrap() as usize,
                    seed: c["seed"].as_u64().unwrap(),
                    variant,
                    budget: Duration::MAX,
                    compute: last::serve::Compute::Model,
                };
                let r = model.serve(&req, &mut scratch, None).unwrap();
                let at = format!("{name} case {i} ({variant}) on {be:?}");
                assert_eq!(
                    r.baseline_list,
                    indices(&c["baseline_list"]),
                    "{at}: baseline list"
                );
                assert_eq!(r.list, indices(&c["list"]), "{at}: served list");
                assert_eq!(
                    r.winner as u64,
                    c["winner"].as_u64().unwrap(),
                    "{at}: winner"
                );
                let (s, bs) = (
                    c["score"].as_f64().unwrap(),
                    c["baseline_score"].as_f64().unwrap(),
                );
                assert!(close(r.score, s, tol), "{at}: score {} vs {s}", r.score);
                assert!(
                    close(r.baseline_score, bs, tol),
                    "{at}: baseline score {} vs {bs}",
                    r.baseline_score
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 72, "only {checked} cases checked");
}
