//! Fuzz target for request validation and serving: a request built from
//! raw bytes (shape, list length, variant and knobs, and feature values
//! including NaN / ±∞ / huge numbers) against a fixed small model.
//! Invariants: no panic; an error leaves the model unchanged; an answer is
//! a valid list (L distinct indices below N) scoring at least the baseline.
//!
//! Input layout: `[0]` N, `[1]` L, `[2]` variant, `[3]` K, `[4]` σ byte,
//! `[5]` flags, then little-endian f32 features (user first, then items);
//! missing values are 0.5.
#![no_main]

use last::model::{Config, Dtype, Model};
use last::serve::{NoiseSpec, Request, Scratch, Target, Variant};
use last_kernels::{Backend, MatRef};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

fn model() -> &'static (Model, u64) {
    static M: OnceLock<(Model, u64)> = OnceLock::new();
    M.get_or_init(|| {
        let cfg = Config {
            d_x: 4,
            d_u: 3,
            hidden: 8,
            eval_h1: 8,
            eval_h2: 4,
            pos_dim: 2,
            max_len: 5,
            max_candidates: 12,
            dtype: Dtype::F32,
            position_weights: None,
        };
        let m = Model::random(cfg, 3, Backend::detect()).unwrap();
        let h = m.weights_hash();
        (m, h)
    })
}

fuzz_target!(|data: &[u8]| {
    let (m, hash) = model();
    let b = |i: usize| data.get(i).copied().unwrap_or(0);
    let n = b(0) as usize % 16; // up to 15: above max_candidates (12) too
    let len = b(1) as usize % 8;
    let k = b(3) as usize % 40;
    let sigma = match b(4) {
        255 => f32::NAN,
        254 => f32::INFINITY,
        253 => -0.5,
        v => v as f32 / 50.0,
    };
    let noise = match b(5) % 5 {
        0 => NoiseSpec::Gaussian,
        1 => NoiseSpec::Rademacher,
        2 => NoiseSpec::Antithetic,
        3 => NoiseSpec::Table,
        _ => NoiseSpec::LowRank((b(5) as usize >> 2) % 70),
    };
    let target = if b(5) & 0x80 != 0 { Target::Keys } else { Target::W2 };
    let variant = match b(2) % 6 {
        0 => Variant::Baseline,
        1 => Variant::BestOfK { k },
        2 => Variant::Parallel { k, sigma, noise, target },
        3 => Variant::GradientExploration {
            ladder: k % 6,
            samples: k / 6,
            scale: sigma / 10.0,
            gamma: 0.3,
        },
        4 => Variant::Serial {
            rounds: k % 5,
            pairs: 1 + k % 3,
            sigma,
            step: sigma / 2.0,
            trust: sigma * 3.0,
            patience: 2,
        },
        _ => Variant::Exhaustive,
    };
    let width_bump = (b(5) & 0x40 != 0) as usize; // wrong feature width sometimes
    let (dx, du) = (m.cfg.d_x + width_bump, m.cfg.d_u);
    let floats: Vec<f32> = data
        .get(6..)
        .unwrap_or(&[])
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let val = |i: usize| floats.get(i).copied().unwrap_or(0.5);
    let user: Vec<f32> = (0..du).map(val).collect();
    let items: Vec<f32> = (0..n * dx).map(|i| val(du + i)).collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let (user0, items0) = (bits(&user), bits(&items));
    let Ok(view) = MatRef::new(&items, n, dx) else {
        return;
    };
    let req = Request {
        user: &user,
        items: view,
        len,
        seed: u64::from(b(1)),
        variant,
        budget: Duration::from_millis(if b(5) & 0x20 != 0 { 0 } else { 200 }),
    };
    match m.serve(&req, &mut Scratch::default(), None) {
        Ok(r) => {
            assert_eq!(r.list.len(), len);
            let mut seen = vec![false; n];
            for &i in &r.list {
                assert!(i < n && !seen[i], "invalid list {:?}", r.list);
                seen[i] = true;
            }
            assert!(r.score >= r.baseline_score, "served below the baseline");
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
    assert_eq!(m.weights_hash(), *hash, "the model changed");
    assert_eq!((bits(&user), bits(&items)), (user0, items0), "the caller's buffers changed");
});
