//! Fuzz target for request validation and serving: a request built from
//! raw bytes against the tiny model (`Config::tiny()`: d_x 3, d_u 2,
//! hidden 4, L ≤ 3, N ≤ 8), with **no knob and no budget capped to a safe
//! value**: every integer knob can be any `usize` (a small value or raw
//! 64-bit bits), every real knob any `f32` (a small value or raw bits:
//! NaN, ±∞, subnormals, 3e38), and the budget anything from zero to
//! `Duration::MAX`, or a deadline (`Model::serve_until`) in the past or the
//! far future.
//!
//! Invariants: no panic; the request is accepted exactly when the error
//! policy's table says so (an independent oracle below, kind by kind); an
//! answer is L distinct indices below N scoring at least the baseline, the
//! baseline when the budget is 0; the model's hash and the caller's buffers
//! are bit-for-bit unchanged, error or not.
//!
//! Input layout (missing bytes are 0): `[0]` N (byte % 11: above the limit
//! too), `[1]` L (byte % 5), `[2]` variant, `[3]` flags (bit 0 wrong item
//! width, bit 1 wrong user width, bits 2–4 budget mode, bit 5 target keys,
//! bit 6 with variant 6: pessimistic best-of-K / gradient / serial),
//! `[4..12]` seed, then six integer knobs and four real knobs, each a mode
//! byte (see `count` and `real`; raw 8 or 4 bytes may follow), then
//! features as f32 (one mode byte, see `feature`).
#![no_main]

use last::model::{Config, Model};
use last::serve::{
    NoiseSpec, Request, Scratch, Search, ServeError, Target, Variant, EXHAUSTIVE_MAX_L,
    EXHAUSTIVE_MAX_N, MAX_K, MAX_RANK, MAX_ROUNDS, MAX_SCALE,
};
use last_kernels::{Backend, MatRef};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn model() -> &'static (Model, u64) {
    static M: OnceLock<(Model, u64)> = OnceLock::new();
    M.get_or_init(|| {
        // Three evaluator members, so the safe variant's ensemble pass runs.
        let m = Model::random(Config::tiny(), 3, Backend::detect())
            .and_then(|m| m.with_random_ensemble(3, 4))
            .unwrap();
        let h = m.weights_hash();
        (m, h)
    })
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u64(&mut self) -> u64 {
        let mut v = [0u8; 8];
        for b in &mut v {
            *b = self.u8();
        }
        u64::from_le_bytes(v)
    }
    fn u32(&mut self) -> u32 {
        let mut v = [0u8; 4];
        for b in &mut v {
            *b = self.u8();
        }
        u32::from_le_bytes(v)
    }
    /// An integer knob: a small value (0..=4, so one execution stays
    /// short), a value near a limit (1023..=1026, 511..=514, 999..=1002,
    /// 63..=66), or any `usize` (raw bits: `usize::MAX`, `usize::MAX − 3`…).
    fn count(&mut self) -> usize {
        let m = self.u8();
        match m & 3 {
            3 => self.u64() as usize,
            1 => [1023, 511, 999, 63][(m as usize >> 2) % 4] + (m as usize >> 4) % 4,
            _ => (m >> 2) as usize % 5,
        }
    }
    /// A real knob: a small value (0, 0.02, …, 2.54), or any bit pattern.
    fn real(&mut self) -> f32 {
        let m = self.u8();
        if m & 1 == 1 {
            f32::from_bits(self.u32())
        } else {
            (m >> 1) as f32 / 50.0
        }
    }
}

/// The error policy's verdict for a request, independent of the library.
fn expected(
    cfg: &Config,
    n: usize,
    len: usize,
    dx: usize,
    du: usize,
    feats_ok: bool,
    v: Variant,
) -> Option<fn(&ServeError) -> bool> {
    if n == 0 {
        return Some(|e| matches!(e, ServeError::NoCandidates));
    }
    if n > cfg.max_candidates {
        return Some(|e| matches!(e, ServeError::TooManyCandidates { .. }));
    }
    if len == 0 || len > n || len > cfg.max_len {
        return Some(|e| matches!(e, ServeError::BadLength { .. }));
    }
    if dx != cfg.d_x || du != cfg.d_u {
        return Some(|e| matches!(e, ServeError::FeatureWidth { .. }));
    }
    if !feats_ok {
        return Some(|e| matches!(e, ServeError::NonFinite { .. }));
    }
    let real = |x: f32| (0.0..=MAX_SCALE).contains(&x);
    let k_ok = |k: usize| (1..=MAX_K).contains(&k);
    let ok = match v {
        Variant::Baseline => true,
        Variant::BestOfK { k } => k_ok(k),
        Variant::Parallel {
            k, sigma, noise, ..
        } => {
            k_ok(k)
                && real(sigma)
                && match noise {
                    NoiseSpec::LowRank(r) => (1..=MAX_RANK).contains(&r),
                    _ => true,
                }
        }
        Variant::Serial {
            rounds,
            pairs,
            sigma,
            step,
            trust,
            ..
        } => {
            (1..=MAX_ROUNDS).contains(&rounds)
                && (1..=MAX_K / 2).contains(&pairs)
                && real(sigma)
                && real(step)
                && real(trust)
        }
        Variant::GradientExploration {
            ladder,
            samples,
            scale,
            gamma,
        } => {
            (ladder as u128 + samples as u128 + 1) <= MAX_K as u128
                && real(scale)
                && (0.0..=1.0).contains(&gamma)
        }
        Variant::Exhaustive => n <= EXHAUSTIVE_MAX_N && len <= EXHAUSTIVE_MAX_L,
        Variant::Safe {
            k,
            sigma,
            noise,
            lambda,
            margin,
            ..
        } => {
            k_ok(k)
                && real(sigma)
                && real(lambda)
                && (real(margin) || margin == f32::INFINITY)
                && match noise {
                    NoiseSpec::LowRank(r) => (1..=MAX_RANK).contains(&r),
                    _ => true,
                }
        }
        Variant::Pessimistic {
            search,
            lambda,
            margin,
        } => {
            real(lambda)
                && (real(margin) || margin == f32::INFINITY)
                && expected(cfg, n, len, dx, du, feats_ok, search.variant()).is_none()
        }
    };
    if ok {
        None
    } else {
        Some(|e| matches!(e, ServeError::BadKnob(_)))
    }
}

/// A feature value: mode byte `m`; `m % 4 == 3` raw bits (NaN, ±∞, huge),
/// otherwise a small value in [-1, 1).
fn feature(b: &mut Bytes<'_>) -> f32 {
    let m = b.u8();
    if m % 4 == 3 {
        f32::from_bits(b.u32())
    } else {
        (m as f32 - 128.0) / 128.0
    }
}

fuzz_target!(|data: &[u8]| {
    let (m, hash) = model();
    let cfg = &m.cfg;
    let mut b = Bytes(data);
    let n = b.u8() as usize % 11;
    let len = b.u8() as usize % 5;
    let which = b.u8();
    let flags = b.u8();
    let seed = b.u64();
    let (c0, c1, c2, c3, c4, c5) = (
        b.count(),
        b.count(),
        b.count(),
        b.count(),
        b.count(),
        b.count(),
    );
    let (r0, r1, r2, r3) = (b.real(), b.real(), b.real(), b.real());
    let target = if flags & 0x20 != 0 {
        Target::Keys
    } else {
        Target::W2
    };
    let noise = match which / 8 % 5 {
        0 => NoiseSpec::Gaussian,
        1 => NoiseSpec::Rademacher,
        2 => NoiseSpec::Antithetic,
        3 => NoiseSpec::Table,
        _ => NoiseSpec::LowRank(c2),
    };
    let variant = match which % 7 {
        0 => Variant::Baseline,
        1 => Variant::BestOfK { k: c0 },
        2 => Variant::Parallel {
            k: c0,
            sigma: r0,
            noise,
            target,
        },
        3 => Variant::GradientExploration {
            ladder: c0,
            samples: c1,
            scale: r0,
            gamma: r1,
        },
        4 => Variant::Serial {
            rounds: c0,
            pairs: c1,
            sigma: r0,
            step: r1,
            trust: r2,
            patience: c3,
        },
        5 => Variant::Exhaustive,
        6 if flags & 0x40 != 0 => {
            // Pessimistic selection after best-of-K, gradient or serial.
            let search = match c4 % 3 {
                0 => Search::BestOfK { k: c0 },
                1 => Search::GradientExploration {
                    ladder: c0,
                    samples: c1,
                    scale: r0,
                    gamma: r1,
                },
                _ => Search::Serial {
                    rounds: c0,
                    pairs: c1,
                    sigma: r0,
                    step: r1,
                    trust: r3,
                    patience: c3,
                },
            };
            Variant::Pessimistic {
                search,
                lambda: r2,
                margin: if c5 % 4 == 0 { f32::INFINITY } else { r3 },
            }
        }
        _ => Variant::Safe {
            k: c0,
            sigma: r0,
            noise,
            target,
            lambda: r1,
            margin: r2,
        },
    };
    let dx = cfg.d_x + usize::from(flags & 1);
    let du = cfg.d_u + usize::from(flags & 2 != 0);
    let user: Vec<f32> = (0..du).map(|_| feature(&mut b)).collect();
    let items: Vec<f32> = (0..n * dx).map(|_| feature(&mut b)).collect();
    let feats_ok = user.iter().chain(&items).all(|v| v.is_finite());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let (user0, items0) = (bits(&user), bits(&items));
    let Ok(view) = MatRef::new(&items, n, dx) else {
        return;
    };
    // Budget: 0, a few µs, a long one, Duration::MAX, u64::MAX seconds, or
    // any (secs, nanos); modes 6 and 7 serve by a deadline instead.
    let raw = b.u64();
    let budget = match (flags >> 2) & 7 {
        0 => Duration::ZERO,
        1 => Duration::from_micros(raw % 50),
        2 => Duration::from_secs(30),
        3 => Duration::MAX,
        4 => Duration::from_secs(u64::MAX),
        _ => Duration::new(raw, b.u32() % 1_000_000_000),
    };
    let req = Request {
        user: &user,
        items: view,
        len,
        seed,
        variant,
        budget,
        compute: last::serve::Compute::Model,
    };
    let zero = budget.is_zero();
    // A valid request near the knob limits can be a million candidates
    // (serial: 1000 rounds × 1024): with a budget that never runs out it
    // would take minutes. Requests of more than 64 candidates keep their
    // budget (huge budgets still go through the saturating deadline) but
    // are served by a deadline 1 ms away, so one execution stays short.
    let work = match variant {
        Variant::BestOfK { k } | Variant::Parallel { k, .. } | Variant::Safe { k, .. } => k,
        Variant::GradientExploration {
            ladder, samples, ..
        } => ladder.saturating_add(samples),
        Variant::Serial { rounds, pairs, .. } => rounds.saturating_mul(pairs).saturating_mul(2),
        _ => 0,
    };
    let mode = match (flags >> 2) & 7 {
        m if m < 6 && work > 64 => 8,
        m => m,
    };
    let res = match mode {
        8 => m.serve_until(
            &req,
            Instant::now() + Duration::from_millis(1),
            &mut Scratch::default(),
            None,
        ),
        6 => {
            // A deadline in the past (or now): the baseline.
            let at = Instant::now()
                .checked_sub(Duration::from_micros(raw % 1000))
                .unwrap_or_else(Instant::now);
            m.serve_until(&req, at, &mut Scratch::default(), None)
        }
        7 => {
            let at = Instant::now()
                .checked_add(Duration::from_nanos(raw))
                .unwrap_or_else(Instant::now);
            m.serve_until(&req, at, &mut Scratch::default(), None)
        }
        _ => m.serve(&req, &mut Scratch::default(), None),
    };
    let want = expected(cfg, n, len, dx, du, feats_ok, variant);
    match (&res, want) {
        (Ok(r), None) => {
            assert_eq!(r.list.len(), len);
            let mut seen = vec![false; n];
            for &i in &r.list {
                assert!(i < n && !seen[i], "invalid list {:?}", r.list);
                seen[i] = true;
            }
            // The safe variant selects by the ensemble's bound, so member 0
            // alone may score its list below the baseline; the mean gain
            // over the members is positive whenever the list changed.
            if variant.pessimism().is_some() {
                if r.list != r.baseline_list {
                    let both: Vec<usize> = r.baseline_list.iter().chain(&r.list).copied().collect();
                    let gain: f64 = (0..m.members())
                        .map(|i| {
                            let s = m.ensemble_scores(i, &req, &both).unwrap();
                            s[1] as f64 - s[0] as f64
                        })
                        .sum();
                    assert!(
                        gain > 0.0,
                        "safe served a list the ensemble scores lower: {r:?}"
                    );
                }
            } else {
                assert!(
                    r.score >= r.baseline_score,
                    "served below the baseline: {r:?}"
                );
            }
            if zero || mode == 6 {
                assert!(
                    r.budget_exhausted,
                    "budget 0 or a passed deadline not exhausted"
                );
                assert_eq!((r.winner, r.candidates), (0, 1));
                assert_eq!(r.list, r.baseline_list);
            }
        }
        (Err(e), Some(kind)) => {
            assert!(kind(e), "wrong error kind for {variant:?}: {e}");
            assert!(!e.to_string().is_empty());
        }
        (Ok(_), Some(_)) => panic!("accepted a request the error policy rejects: {variant:?}"),
        (Err(e), None) => panic!("rejected a valid request ({variant:?}): {e}"),
    }
    // The model is only borrowed; hashing its weights (and noise table)
    // costs more than a tiny request, so it is checked every 256th input.
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 256 == 0 {
        assert_eq!(m.weights_hash(), *hash, "the model changed");
    }
    assert_eq!(
        (bits(&user), bits(&items)),
        (user0, items0),
        "the caller's buffers changed"
    );
});
