//! Property tests for `last_kernels::select` against simple sort-based
//! references written here (stable sort by the module's total order: larger
//! first, NaN below everything, ties to the lowest index).
//!
//! Tolerances: log-softmax within 1e-5 absolute of an f64 reference for
//! inputs in [-50, 50], and Σ exp(log_softmax) within 1e-5 of 1; Gumbel-max
//! frequencies within ±0.01 of the softmax probabilities over 60,000 streams
//! (fixed seed, so the check is deterministic and cannot flake).

use last_kernels::select::{
    argmax, argmax_masked, gumbel_argmax, log_softmax, permutation_count, top_k, Permutations,
    MAX_PERM_N,
};
use last_kernels::KernelError;
use proptest::prelude::*;
use std::cmp::Ordering;
use std::collections::HashSet;

/// The module's total order as an `Ordering` ("Less" = ranks first).
fn rank_cmp(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        // IEEE comparison: -0.0 == +0.0 ties.
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// Indices of `scores` in rank order (stable sort, so ties keep index order),
/// restricted to indices not masked.
fn reference_order(scores: &[f32], taken: Option<&[bool]>) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len())
        .filter(|&i| !taken.is_some_and(|t| t[i]))
        .collect();
    idx.sort_by(|&i, &j| rank_cmp(scores[i], scores[j]));
    idx
}

/// Scores with plenty of NaN, ±inf, ±0 and small-integer ties.
fn score() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -1.0e3f32..1.0e3,
        3 => (-3i32..=3).prop_map(|v| v as f32),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(0.0f32),
        1 => Just(-0.0f32),
    ]
}

fn scores(max_len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(score(), 0..max_len)
}

/// Scores with a mask of the same length; one case in five is all-masked.
fn masked_scores() -> impl Strategy<Value = (Vec<f32>, Vec<bool>)> {
    (
        prop::collection::vec((score(), any::<bool>()), 0..40),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(pairs, all)| {
            let (s, t): (Vec<f32>, Vec<bool>) = pairs.into_iter().unzip();
            let t = if all { vec![true; t.len()] } else { t };
            (s, t)
        })
}

proptest! {
    #[test]
    fn argmax_matches_reference(s in scores(40)) {
        prop_assert_eq!(argmax(&s), reference_order(&s, None).first().copied());
    }

    #[test]
    fn argmax_masked_matches_reference((s, t) in masked_scores()) {
        let got = argmax_masked(&s, &t).unwrap();
        prop_assert_eq!(got, reference_order(&s, Some(&t)).first().copied());
        prop_assert_eq!(got.is_none(), t.iter().all(|&x| x));
    }

    #[test]
    fn argmax_masked_rejects_length_mismatch(s in scores(20), extra in 1usize..3) {
        let t = vec![false; s.len() + extra];
        prop_assert_eq!(
            argmax_masked(&s, &t),
            Err(KernelError::ShapeMismatch { what: "taken", expected: s.len(), got: t.len() })
        );
    }

    #[test]
    fn top_k_matches_reference(s in scores(40), k in 0usize..50, slack in 0usize..3) {
        let m = k.min(s.len());
        let mut out = vec![usize::MAX; m + slack];
        let written = top_k(&s, k, &mut out).unwrap();
        prop_assert_eq!(written, m);
        let reference = reference_order(&s, None);
        prop_assert_eq!(&out[..m], &reference[..m]);
        prop_assert!(out[m..].iter().all(|&x| x == usize::MAX));
        if m > 0 {
            let mut short = vec![usize::MAX; m - 1];
            prop_assert_eq!(
                top_k(&s, k, &mut short),
                Err(KernelError::BufferTooSmall { what: "out", needed: m, got: m - 1 })
            );
            prop_assert!(short.iter().all(|&x| x == usize::MAX));
        }
    }

    #[test]
    fn gumbel_respects_mask_and_is_deterministic(
        (s, t) in masked_scores(),
        seed in any::<u64>(),
        stream in any::<u64>(),
    ) {
        let got = gumbel_argmax(&s, Some(&t), seed, stream).unwrap();
        prop_assert_eq!(got, gumbel_argmax(&s, Some(&t), seed, stream).unwrap());
        prop_assert_eq!(got.is_none(), t.iter().all(|&x| x));
        if let Some(i) = got {
            prop_assert!(i < s.len() && !t[i]);
            let free = |pred: fn(f32) -> bool| (0..s.len()).any(|j| !t[j] && pred(s[j]));
            if free(|x| x == f32::INFINITY) {
                // +inf dominates: the draw is among the +inf logits.
                prop_assert_eq!(s[i], f32::INFINITY);
            } else if free(|x| x.is_finite()) {
                // -inf / NaN are never drawn while a finite logit is free.
                prop_assert!(s[i].is_finite());
            } else {
                // Fallback: the deterministic masked arg-max rule.
                prop_assert_eq!(got, reference_order(&s, Some(&t)).first().copied());
            }
        }
        // Unmasked form agrees with an all-false mask.
        let none = vec![false; s.len()];
        prop_assert_eq!(
            gumbel_argmax(&s, None, seed, stream).unwrap(),
            gumbel_argmax(&s, Some(&none), seed, stream).unwrap()
        );
    }

    #[test]
    fn log_softmax_matches_f64(x in prop::collection::vec(-50.0f32..50.0, 1..64)) {
        let mut out = vec![0.0f32; x.len()];
        log_softmax(&x, &mut out).unwrap();
        let m = x.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(f64::from(v)));
        let lse = m + x.iter().map(|&v| (f64::from(v) - m).exp()).sum::<f64>().ln();
        for (&o, &v) in out.iter().zip(&x) {
            let want = f64::from(v) - lse;
            // 1e-5 absolute (outputs reach about -100, where one f32 ULP is 7.6e-6).
            prop_assert!((f64::from(o) - want).abs() <= 1e-5, "got {o}, want {want}");
        }
        let total: f64 = out.iter().map(|&o| f64::from(o).exp()).sum();
        // Probabilities sum to 1 within 1e-5.
        prop_assert!((total - 1.0).abs() <= 1e-5, "sum {total}");
    }

    #[test]
    fn log_softmax_non_finite_policy(x in scores(30)) {
        let mut out = vec![0.0f32; x.len()];
        log_softmax(&x, &mut out).unwrap();
        let undefined = x.iter().any(|v| v.is_nan() || *v == f32::INFINITY)
            || x.iter().all(|&v| v == f32::NEG_INFINITY);
        if undefined {
            prop_assert!(out.iter().all(|o| o.is_nan()));
        } else {
            for (&o, &v) in out.iter().zip(&x) {
                if v == f32::NEG_INFINITY {
                    prop_assert_eq!(o, f32::NEG_INFINITY);
                } else {
                    prop_assert!(o.is_finite() && o <= 0.0);
                }
            }
        }
        let mut wrong = vec![0.0f32; x.len() + 1];
        prop_assert!(
            matches!(log_softmax(&x, &mut wrong), Err(KernelError::ShapeMismatch { .. })),
            "length mismatch must be rejected"
        );
    }

    #[test]
    fn fill_batch_equals_next_into(n in 0usize..=6, l_frac in 0usize..=6, per in 1usize..9) {
        let l = l_frac.min(n);
        let mut a = Permutations::new(n, l).unwrap();
        let mut seq = Vec::new();
        let mut one = [0u8; MAX_PERM_N];
        while a.next_into(&mut one[..l]) {
            seq.extend_from_slice(&one[..l]);
        }
        let mut b = Permutations::new(n, l).unwrap();
        let mut batched = Vec::new();
        let mut buf = vec![0u8; per * l];
        let mut count = 0u64;
        loop {
            let w = b.fill_batch(&mut buf);
            if w == 0 {
                break;
            }
            count += w as u64;
            batched.extend_from_slice(&buf[..w * l]);
        }
        prop_assert_eq!(count, a.len());
        prop_assert_eq!(batched, seq);
        prop_assert_eq!(b.remaining(), 0);
    }
}

#[test]
fn gumbel_frequencies_match_softmax() {
    // softmax([0, ln 2, ln 3]) = [1/6, 2/6, 3/6]. 60,000 streams: the binomial
    // standard error is ≤ 0.002, so ±0.01 is a 5σ band; the seed is fixed, so
    // this is deterministic.
    let logits = [0.0f32, 2.0f32.ln(), 3.0f32.ln()];
    const STREAMS: u64 = 60_000;
    let mut counts = [0u64; 3];
    for stream in 0..STREAMS {
        let i = gumbel_argmax(&logits, None, 0x1a57_5eed, stream)
            .unwrap()
            .unwrap();
        counts[i] += 1;
    }
    for (c, p) in counts.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
        let f = *c as f64 / STREAMS as f64;
        assert!((f - p).abs() <= 0.01, "freq {f} vs {p} ({counts:?})");
    }
}

#[test]
fn permutations_exhaustive_small() {
    let mut buf = [0u8; MAX_PERM_N];
    for n in 0..=7usize {
        for l in 0..=n {
            let mut p = Permutations::new(n, l).unwrap();
            let expected: u64 = ((n - l + 1)..=n).map(|v| v as u64).product();
            assert_eq!(permutation_count(n, l), Some(expected));
            assert_eq!(p.len(), expected);
            let mut seen = HashSet::new();
            let mut prev: Option<Vec<u8>> = None;
            while p.next_into(&mut buf[..l]) {
                let sel = buf[..l].to_vec();
                assert!(sel.iter().all(|&v| (v as usize) < n), "{sel:?}");
                let distinct: HashSet<u8> = sel.iter().copied().collect();
                assert_eq!(distinct.len(), l, "repeated item in {sel:?}");
                if let Some(prev) = &prev {
                    assert!(prev < &sel, "not increasing: {prev:?} then {sel:?}");
                }
                assert!(seen.insert(sel.clone()));
                prev = Some(sel);
                assert_eq!(p.remaining(), expected - seen.len() as u64);
            }
            assert_eq!(seen.len() as u64, expected, "n={n} l={l}");
            // Exhausted stays exhausted; reset restarts at [0, 1, …].
            assert!(!p.next_into(&mut buf[..l]));
            p.reset();
            assert_eq!(p.remaining(), expected);
            assert!(p.next_into(&mut buf[..l]));
            assert!(buf[..l].iter().enumerate().all(|(i, &v)| v as usize == i));
        }
    }
}

#[test]
fn permutations_reject_bad_shapes() {
    assert_eq!(
        Permutations::new(MAX_PERM_N + 1, 1),
        Err(KernelError::OutOfRange { what: "n" })
    );
    assert_eq!(
        Permutations::new(3, 4),
        Err(KernelError::OutOfRange { what: "l" })
    );
    assert_eq!(permutation_count(3, 4), None);
    assert_eq!(permutation_count(40, 40), None);
}

/// `Backend::gumbel_noise` is bit-identical to the scalar `gumbel` on every
/// path (the vector logarithm repeats the scalar operations), at every
/// length around the 8-lane tail, and `gumbel_argmax_with` over it picks
/// what `gumbel_argmax` picks.
#[test]
fn gumbel_noise_matches_scalar_bit_for_bit() {
    use last_kernels::select::gumbel;
    for b in last_tests::backends() {
        for (seed, stream) in [(0u64, 0u64), (7, 3), (u64::MAX, 1 << 40), (42, u64::MAX)] {
            for n in [0usize, 1, 7, 8, 9, 50, 257] {
                let mut g = vec![f32::NAN; n];
                b.gumbel_noise(seed, stream, &mut g);
                for (i, v) in g.iter().enumerate() {
                    let r = gumbel(seed, stream, i);
                    assert_eq!(
                        v.to_bits(),
                        r.to_bits(),
                        "{:?} seed {seed} stream {stream} i {i}",
                        b.isa()
                    );
                }
            }
        }
        // 100,000 draws of one stream: the whole logarithm domain the noise uses.
        let mut g = vec![0f32; 100_000];
        b.gumbel_noise(99, 5, &mut g);
        assert!(g
            .iter()
            .enumerate()
            .all(|(i, v)| v.to_bits() == gumbel(99, 5, i).to_bits()));
    }
}

proptest! {
    #[test]
    fn gumbel_argmax_with_noise_equals_gumbel_argmax(
        logits in proptest::collection::vec(-5.0f32..5.0, 1..60),
        mask in proptest::collection::vec(any::<bool>(), 60),
        seed in any::<u64>(), stream in any::<u64>(),
    ) {
        use last_kernels::select::{gumbel_argmax, gumbel_argmax_with};
        let taken = &mask[..logits.len()];
        for b in last_tests::backends() {
            let mut g = vec![0f32; logits.len()];
            b.gumbel_noise(seed, stream, &mut g);
            prop_assert_eq!(
                gumbel_argmax_with(&logits, Some(taken), &g).unwrap(),
                gumbel_argmax(&logits, Some(taken), seed, stream).unwrap()
            );
        }
        prop_assert!(gumbel_argmax_with(&logits, None, &[0.0; 61][..logits.len() + 1]).is_err());
    }
}
