//! Unit tests of the selection kernels.
extern crate std;
use super::*;
use std::vec;
use std::vec::Vec;

const NAN: f32 = f32::NAN;
const INF: f32 = f32::INFINITY;

#[test]
fn argmax_cases() {
    assert_eq!(argmax(&[]), None);
    assert_eq!(argmax(&[NAN]), Some(0));
    assert_eq!(argmax(&[NAN, NAN, NAN]), Some(0));
    assert_eq!(argmax(&[NAN, -INF, NAN]), Some(1));
    assert_eq!(argmax(&[-INF, -INF]), Some(0));
    assert_eq!(argmax(&[1.0, INF, NAN, INF]), Some(1));
    assert_eq!(argmax(&[-0.0, 0.0]), Some(0));
    assert_eq!(argmax(&[0.0, -0.0]), Some(0));
    assert_eq!(argmax(&[-1.0, -0.0, 0.0]), Some(1));
    assert_eq!(argmax(&[NAN, 3.0, 5.0, 5.0, 2.0]), Some(2));
}

#[test]
fn argmax_masked_cases() {
    let s = [3.0, NAN, 5.0, -INF];
    assert_eq!(argmax_masked(&s, &[false; 4]), Ok(Some(2)));
    assert_eq!(argmax_masked(&s, &[false, false, true, false]), Ok(Some(0)));
    assert_eq!(argmax_masked(&s, &[true, false, true, false]), Ok(Some(3)));
    assert_eq!(argmax_masked(&s, &[true, false, true, true]), Ok(Some(1)));
    assert_eq!(argmax_masked(&s, &[true; 4]), Ok(None));
    assert_eq!(argmax_masked(&[], &[]), Ok(None));
    assert_eq!(
        argmax_masked(&s, &[false; 3]),
        Err(KernelError::ShapeMismatch {
            what: "taken",
            expected: 4,
            got: 3
        })
    );
}

#[test]
fn top_k_cases() {
    let s = [1.0, NAN, 3.0, -INF, 3.0, -0.0, 0.0, INF];
    let mut out = [usize::MAX; 10];
    assert_eq!(top_k(&s, 10, &mut out), Ok(8));
    assert_eq!(&out[..8], &[7, 2, 4, 0, 5, 6, 3, 1]);
    assert_eq!(out[8], usize::MAX);
    let mut out = [usize::MAX; 3];
    assert_eq!(top_k(&s, 3, &mut out), Ok(3));
    assert_eq!(out, [7, 2, 4]);
    assert_eq!(top_k(&s, 0, &mut []), Ok(0));
    assert_eq!(top_k(&[], 5, &mut []), Ok(0));
    assert_eq!(
        top_k(&s, 4, &mut out),
        Err(KernelError::BufferTooSmall {
            what: "out",
            needed: 4,
            got: 3
        })
    );
    assert_eq!(out, [7, 2, 4], "nothing written on error");
    let mut out = [0usize; 2];
    assert_eq!(top_k(&[NAN, NAN, NAN], 2, &mut out), Ok(2));
    assert_eq!(out, [0, 1]);
}

#[test]
fn gumbel_cases() {
    // -inf / NaN never chosen while a finite logit exists.
    for stream in 0..200 {
        let r = gumbel_argmax(&[-INF, NAN, 0.0, -INF], None, 7, stream);
        assert_eq!(r, Ok(Some(2)));
    }
    // +inf dominates; uniform among +inf (both seen).
    let mut seen = [0usize; 4];
    for stream in 0..200 {
        let i = gumbel_argmax(&[INF, 100.0, INF, NAN], None, 7, stream)
            .unwrap()
            .unwrap();
        seen[i] += 1;
    }
    assert!(seen[0] > 50 && seen[2] > 50 && seen[1] == 0 && seen[3] == 0);
    // Fallback: all -inf/NaN/masked -> argmax rule.
    assert_eq!(gumbel_argmax(&[NAN, -INF, -INF], None, 1, 2), Ok(Some(1)));
    assert_eq!(gumbel_argmax(&[NAN, NAN], None, 1, 2), Ok(Some(0)));
    let t = [false, true, false];
    assert_eq!(
        gumbel_argmax(&[NAN, 1.0, -INF], Some(&t), 1, 2),
        Ok(Some(2))
    );
    assert_eq!(
        gumbel_argmax(&[1.0, 2.0], Some(&[true, true]), 1, 2),
        Ok(None)
    );
    assert_eq!(gumbel_argmax(&[], None, 1, 2), Ok(None));
    assert!(matches!(
        gumbel_argmax(&[1.0, 2.0], Some(&[true]), 1, 2),
        Err(KernelError::ShapeMismatch { .. })
    ));
    // Deterministic.
    let l = [0.1, 0.2, 0.3, 0.4];
    for stream in 0..50 {
        assert_eq!(
            gumbel_argmax(&l, None, 9, stream),
            gumbel_argmax(&l, None, 9, stream)
        );
    }
}

#[test]
fn gumbel_noise_is_finite_or_pos_inf() {
    // u = 1.0 can occur after rounding; it must give +inf, never NaN.
    assert_eq!(-ln(-ln(1.0f32)), INF);
    for i in 0..10_000 {
        let g = gumbel(3, 4, i);
        assert!(!g.is_nan() && g != -INF);
    }
}

#[test]
fn log_softmax_cases() {
    let mut out = [0.0f32; 3];
    log_softmax(&[0.0, 0.0, 0.0], &mut out).unwrap();
    for o in out {
        assert!((o + 3.0f32.ln()).abs() < 1e-6);
    }
    log_softmax(&[1000.0, -INF, 1000.0], &mut out).unwrap();
    assert!((out[0] + 2.0f32.ln()).abs() < 1e-6);
    assert_eq!(out[1], -INF);
    for bad in [[1.0, NAN, 2.0], [INF, 1.0, 2.0], [-INF, -INF, -INF]] {
        log_softmax(&bad, &mut out).unwrap();
        assert!(out.iter().all(|o| o.is_nan()));
    }
    log_softmax(&[], &mut []).unwrap();
    assert!(matches!(
        log_softmax(&[1.0], &mut out),
        Err(KernelError::ShapeMismatch { .. })
    ));
}

#[test]
fn permutation_counts() {
    assert_eq!(permutation_count(5, 3), Some(60));
    assert_eq!(permutation_count(0, 0), Some(1));
    assert_eq!(permutation_count(7, 0), Some(1));
    assert_eq!(permutation_count(3, 4), None);
    assert_eq!(permutation_count(16, 16), Some(20_922_789_888_000));
    assert_eq!(permutation_count(21, 21), None);
    assert_eq!(permutation_count(usize::MAX, usize::MAX), None);
    assert_eq!(permutation_count(usize::MAX, 1), Some(usize::MAX as u64));
    assert_eq!(Permutations::new(5, 3).unwrap().len(), 60);
    assert_eq!(
        Permutations::new(17, 1),
        Err(KernelError::OutOfRange { what: "n" })
    );
    assert_eq!(
        Permutations::new(3, 4),
        Err(KernelError::OutOfRange { what: "l" })
    );
}

fn collect(n: usize, l: usize) -> Vec<Vec<u8>> {
    let mut p = Permutations::new(n, l).unwrap();
    let mut v = Vec::new();
    let mut buf = [0u8; MAX_PERM_N];
    while p.next_into(&mut buf[..l]) {
        v.push(buf[..l].to_vec());
    }
    v
}

#[test]
fn permutation_order() {
    let all = collect(5, 3);
    assert_eq!(all.len(), 60);
    assert_eq!(all[0], [0, 1, 2]);
    assert_eq!(all[1], [0, 1, 3]);
    assert_eq!(all[59], [4, 3, 2]);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(collect(0, 0), vec![Vec::<u8>::new()]);
    assert_eq!(collect(4, 0), vec![Vec::<u8>::new()]);
    assert_eq!(collect(3, 3).len(), 6);
    let big = Permutations::new(16, 16).unwrap();
    assert_eq!(big.remaining(), 20_922_789_888_000);
}

#[test]
fn next_into_short_buffer_is_noop() {
    let mut p = Permutations::new(4, 3).unwrap();
    let before = p.clone();
    let mut short = [9u8; 2];
    assert!(!p.next_into(&mut short));
    assert_eq!(short, [9, 9]);
    assert_eq!(p, before);
    let mut ok = [0u8; 5];
    assert!(p.next_into(&mut ok));
    assert_eq!(ok, [0, 1, 2, 0, 0]);
    assert_eq!(p.remaining(), 23);
}

#[test]
fn fill_batch_matches_next_into() {
    for (n, l) in [(5, 3), (6, 2), (4, 4), (3, 1), (1, 1)] {
        let seq = collect(n, l);
        for per in 1..=7 {
            let mut p = Permutations::new(n, l).unwrap();
            // Room for `per` selections plus l-1 spare bytes (never a whole one).
            let mut buf = vec![0xAAu8; per * l + l - 1];
            let mut got = Vec::new();
            loop {
                let w = p.fill_batch(&mut buf);
                assert!(w <= per);
                assert!(buf[per * l..].iter().all(|&b| b == 0xAA), "tail untouched");
                if w == 0 {
                    break;
                }
                got.extend(buf[..w * l].chunks(l).map(|c| c.to_vec()));
            }
            assert_eq!(got, seq);
            assert_eq!(p.remaining(), 0);
            p.reset();
            assert_eq!(p.remaining(), p.len());
            let mut first = vec![0u8; l];
            assert!(p.next_into(&mut first));
            assert_eq!(first, seq[0]);
        }
    }
    let mut p = Permutations::new(3, 0).unwrap();
    assert_eq!(p.fill_batch(&mut []), 1);
    assert_eq!(p.fill_batch(&mut []), 0);
    // Buffer shorter than one selection writes nothing.
    let mut p = Permutations::new(3, 2).unwrap();
    assert_eq!(p.fill_batch(&mut [0u8; 1]), 0);
    assert_eq!(p.remaining(), 6);
}
