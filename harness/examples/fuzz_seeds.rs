//! Writes the seed corpora of the `model_loader` and `serve_request` fuzz
//! targets: `cargo run -p last --example fuzz_seeds -- fuzz/corpus`.

use last::model::{Config, Dtype, Model};
use last_kernels::Backend;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let cfg = Config::tiny();
    let dir = root.join("model_loader");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, dtype) in [("f32", Dtype::F32), ("f16", Dtype::F16)] {
        let mut c = cfg.clone();
        c.dtype = dtype;
        let m = Model::random(c.clone(), 3, Backend::scalar()).unwrap();
        let tmp = std::env::temp_dir().join(format!("last-seed-{name}"));
        m.save(&tmp).unwrap();
        let st = std::fs::read(tmp.join("model.safetensors")).unwrap();
        // Mode 0: fixed f32 config + file (an f16 file still loads: dtype is per tensor).
        let mut a = vec![0u8];
        a.extend(&st);
        std::fs::write(dir.join(format!("fixed_config_{name}")), a).unwrap();
        // Mode 1: config JSON + file.
        let json = c.to_json();
        let mut b = vec![1u8];
        b.extend((json.len() as u16).to_le_bytes());
        b.extend(json.as_bytes());
        b.extend(&st);
        std::fs::write(dir.join(format!("with_config_{name}")), b).unwrap();
        std::fs::remove_dir_all(&tmp).ok();
    }
    let dir = root.join("serve_request");
    std::fs::create_dir_all(&dir).unwrap();
    // [N, L, variant, K, σ, flags] + f32 features.
    let feats: Vec<u8> = (0..60)
        .flat_map(|i| ((i % 7) as f32 / 3.0 - 1.0).to_le_bytes())
        .collect();
    for (name, head) in [
        ("baseline", [8u8, 3, 0, 0, 0, 0]),
        ("best_of", [10, 4, 1, 6, 0, 0]),
        ("parallel_gaussian", [12, 5, 2, 8, 10, 0]),
        ("parallel_lowrank_keys", [9, 4, 2, 8, 25, 0x83 | 0x04]),
        ("gradient", [7, 3, 3, 14, 5, 0]),
        ("serial", [6, 2, 4, 9, 10, 1]),
        ("exhaustive", [8, 4, 5, 0, 0, 0]),
        ("nan_sigma", [5, 2, 2, 4, 255, 0]),
        ("wrong_width", [5, 2, 0, 0, 0, 0x40]),
        ("zero_budget", [9, 3, 2, 8, 10, 0x20]),
    ] {
        let mut v = head.to_vec();
        v.extend(&feats);
        std::fs::write(dir.join(name), v).unwrap();
    }
    println!("seeds written under {}", root.display());
}
