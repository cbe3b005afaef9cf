//! Fuzz target for the HTTP request decoders (`last::server::decode`, and
//! `last::server::binary` for inputs starting with its magic `LST1`): raw
//! bytes as a `POST /rank` body against the tiny model (`Config::tiny()`:
//! d_x 3, d_u 2, L ≤ 3, N ≤ 8).
//!
//! Invariants: no panic; JSON bytes that are not a JSON object are
//! `Malformed`; a binary body re-encodes to exactly its bytes when accepted;
//! an accepted body has N in 1..=max_candidates, the user width d_u, an
//! `N × d_x` item matrix, and a variant that names itself back; served
//! with a zero budget it either gets a typed error or L distinct indices
//! below N (the baseline, `budget_exhausted`).
#![no_main]

use last::model::{Config, Model};
use last::serve::{Scratch, Variant};
use last::server::binary::{decode_binary, encode_binary, MAGIC};
use last::server::decode::{decode, DecodeError, Defaults};
use last_kernels::Backend;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

fn model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| Model::random(Config::tiny(), 3, Backend::detect()).expect("the tiny model builds"))
}

fuzz_target!(|data: &[u8]| {
    let m = model();
    let defaults = Defaults {
        variant: Variant::parallel_standard(),
        budget: Duration::from_millis(1),
    };
    let binary = data.starts_with(&MAGIC);
    let decoded = if binary {
        decode_binary(data, &m.cfg, &defaults)
    } else {
        decode(data, &m.cfg, &defaults)
    };
    match decoded {
        Err(e) if binary => assert!(!e.to_string().is_empty()),
        Err(e) => {
            let is_object = matches!(
                serde_json::from_slice::<serde_json::Value>(data),
                Ok(serde_json::Value::Object(_))
            );
            if !is_object {
                assert!(matches!(e, DecodeError::Malformed(_)), "{e}");
            }
            assert!(!e.to_string().is_empty());
        }
        Ok(mut job) => {
            assert!((1..=m.cfg.max_candidates).contains(&job.n));
            assert_eq!(job.user.len(), m.cfg.d_u);
            assert_eq!(job.d_x, m.cfg.d_x);
            assert_eq!(job.items.len(), job.n * job.d_x);
            assert_eq!(job.variant.name().parse::<Variant>(), Ok(job.variant));
            if binary {
                // Accepted binary bodies are canonical: header, name, floats, nothing else.
                let vlen = u32::from_le_bytes([data[36], data[37], data[38], data[39]]) as usize;
                let name = std::str::from_utf8(&data[40..40 + vlen]).expect("accepted as UTF-8");
                let budget = u64::from_le_bytes(data[28..36].try_into().expect("8 bytes"));
                let again = encode_binary(
                    &job.user,
                    &job.items,
                    job.d_x,
                    job.len as u32,
                    job.seed,
                    name,
                    (budget != u64::MAX).then_some(budget),
                );
                assert_eq!(again, data);
            }
            job.budget = Duration::ZERO;
            let req = job.request().expect("a decoded job is a well-shaped request");
            if let Ok(r) = m.serve(&req, &mut Scratch::default(), None) {
                assert_eq!(r.list.len(), job.len);
                assert!(r.budget_exhausted);
                let mut seen = r.list.clone();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), job.len);
                assert!(r.list.iter().all(|&i| i < job.n));
            }
        }
    }
});
