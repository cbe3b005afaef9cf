//! Fuzz target for the weight-file loader: `Config::from_json` and
//! `Model::from_bytes` on arbitrary bytes. Whatever the input, loading
//! returns a typed error or a model; a model that loads must serve a
//! request without error and keep its bytes unchanged.
//!
//! Input layout: `[0]` mode. Mode even: the rest is a safetensors file
//! checked against a fixed tiny config (d_x 3, d_u 2, hidden 4, evaluator
//! 4/3, pos_dim 2, max_len 3). Mode odd: `[1..3]` little-endian length
//! `c` of a JSON config, then `c` bytes of config, then the safetensors bytes.
#![no_main]

use last::model::{Config, Model};
use last::serve::{Request, Scratch, Variant};
use last_kernels::{Backend, MatRef};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (cfg, bytes) = if mode % 2 == 0 {
        (Config::tiny(), rest)
    } else {
        if rest.len() < 2 {
            return;
        }
        let c = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let body = &rest[2..];
        let c = c.min(body.len());
        let Ok(text) = std::str::from_utf8(&body[..c]) else {
            return;
        };
        match Config::from_json(text) {
            Ok(cfg) => (cfg, &body[c..]),
            Err(_) => return,
        }
    };
    // Keep the serving check cheap: refuse configs a fuzzer could make huge.
    if cfg.hidden * cfg.hidden > 1 << 16 || cfg.eval_h1 * cfg.eval_in() > 1 << 16 {
        return;
    }
    let Ok(model) = Model::from_bytes(cfg.clone(), bytes, Backend::detect()) else {
        return;
    };
    let hash = model.weights_hash();
    let n = cfg.max_candidates.min(4);
    let len = cfg.max_len.min(n);
    let items = vec![0.25f32; n * cfg.d_x];
    let user = vec![-0.5f32; cfg.d_u];
    let req = Request {
        user: &user,
        items: MatRef::new(&items, n, cfg.d_x).unwrap(),
        len,
        seed: 1,
        variant: Variant::BestOfK { k: 3 },
        budget: Duration::from_secs(1),
        compute: last::serve::Compute::Model,
    };
    let r = model
        .serve(&req, &mut Scratch::default(), None)
        .expect("a model that loads serves a valid request");
    assert_eq!(r.list.len(), len);
    assert_eq!(model.weights_hash(), hash);
});
