//! The tensor names a PyTorch module tree produces (`generator.*`,
//! `evaluator.*`), the names of older builds rejected, and BF16 tensors
//! widened to f32 at load.

use last::model::{Config, Dtype, Model, ModelError};
use last_kernels::Backend;
use safetensors::tensor::TensorView;
use safetensors::{Dtype as St, SafeTensors};

fn saved(cfg: &Config, tag: &str) -> Vec<u8> {
    let m = Model::random(cfg.clone(), 5, Backend::scalar()).unwrap();
    let dir = std::env::temp_dir().join(format!("last-names-{tag}-{}", std::process::id()));
    m.save(&dir).unwrap();
    let b = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    b
}

/// Rewrites every tensor of an f32 file with `f(name, values) -> (name, dtype, bytes)`.
fn rewrite(bytes: &[u8], f: impl Fn(&str, &[f32]) -> (String, St, Vec<u8>)) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let owned: Vec<(String, St, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            assert_eq!(t.dtype(), St::F32);
            let vals: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let (n, d, b) = f(&name, &vals);
            (n, d, t.shape().to_vec(), b)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn to_bf16(vals: &[f32]) -> Vec<u8> {
    vals.iter()
        .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
        .collect()
}

/// Every stored tensor of `m` by its file name, in the order `save` writes.
fn tensors(m: &Model) -> Vec<(String, Vec<f32>)> {
    let dir = std::env::temp_dir().join(format!("last-names-dump-{}", std::process::id()));
    let mut c = m.clone();
    c.cfg.dtype = Dtype::F32;
    c.save(&dir).unwrap();
    let b = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let st = SafeTensors::deserialize(&b).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            let v = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (n, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn saved_names_are_generator_and_evaluator_prefixed() {
    let b = saved(&Config::tiny(), "prefix");
    let st = SafeTensors::deserialize(&b).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    assert_eq!(names.len(), 20);
    assert!(names.contains(&"generator.w1.weight".to_string()));
    assert!(names.contains(&"generator.v".to_string()));
    assert!(names.contains(&"evaluator.l3.bias".to_string()));
    assert!(names.contains(&"evaluator.pos".to_string()));
    assert!(names
        .iter()
        .all(|n| n.starts_with("generator.") || n.starts_with("evaluator.")));
}

#[test]
fn files_with_the_old_prefixes_are_rejected() {
    let cfg = Config::tiny();
    let b = saved(&cfg, "old");
    let old = rewrite(&b, |name, vals| {
        let n = name
            .replacen("generator.", "gen.", 1)
            .replacen("evaluator.", "eval.", 1);
        (
            n,
            St::F32,
            vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    });
    let e = Model::from_bytes(cfg, &old, Backend::scalar()).unwrap_err();
    assert!(
        matches!(&e, ModelError::Tensor { name, why } if (name.starts_with("gen.") || name.starts_with("eval.")) && why.contains("extra")),
        "{e}"
    );
}

#[test]
fn bf16_tensors_load_as_their_f32_values() {
    for dtype in [Dtype::F32, Dtype::F16, Dtype::Bf16] {
        let mut cfg = Config::tiny();
        cfg.dtype = Dtype::F32;
        let b = saved(&cfg, "bf16");
        let bf = rewrite(&b, |name, vals| (name.to_string(), St::BF16, to_bf16(vals)));
        assert!(bf.len() < b.len());
        let orig = Model::from_bytes(cfg.clone(), &b, Backend::scalar()).unwrap();
        cfg.dtype = dtype;
        let m = Model::from_bytes(cfg, &bf, Backend::scalar()).unwrap();
        let (want, got) = (tensors(&orig), tensors(&m));
        assert_eq!(want.len(), got.len());
        let mut changed = 0;
        for ((wn, wv), (gn, gv)) in want.iter().zip(&got) {
            assert_eq!(wn, gn);
            for (w, g) in wv.iter().zip(gv) {
                let r = half::bf16::from_f32(*w).to_f32();
                // f16 storage rounds the widened value once more.
                let r = match dtype {
                    // bf16 storage keeps a bf16 value exactly.
                    Dtype::F32 | Dtype::Bf16 => r,
                    Dtype::F16 => half::f16::from_f32(r).to_f32(),
                };
                assert_eq!(r.to_bits(), g.to_bits(), "{wn}: {w} → {g}, expected {r}");
                changed += usize::from(r != *w);
            }
        }
        // The rounding is real: most random weights are not bf16 values.
        assert!(changed > 50, "{changed}");
    }
}
