//! Unaligned inputs, tails and zero-size buffers on every path.
//!
//! Each kernel reads its inputs from, and writes its outputs to, slices that
//! start at every float offset 0..8 of a larger buffer — so at every
//! 4-byte misalignment relative to the 32-byte vector width — with shapes
//! whose rows, columns and depth all leave tails (7 × 19 × 13). On one path
//! the result must be bit-identical whatever the offset (the kernels use
//! unaligned loads; addresses must not change arithmetic), and nothing
//! outside the output slice may be written. Zero-size shapes return `Ok`
//! and write nothing.

use last_kernels::{pack, Activation, MatMut, MatRef};
use last_tests::{backends, values};

const M: usize = 7;
const N: usize = 19;
const K: usize = 13;
const SENTINEL: f32 = -12345.0;

/// Calls `f(input_offset)` writing into a sentinel-filled buffer at an
/// offset, checks the bytes around the output are untouched and returns the
/// output.
fn at_offset(off: usize, len: usize, mut f: impl FnMut(usize, &mut [f32])) -> Vec<f32> {
    let mut buf = vec![SENTINEL; len + 16];
    f(off, &mut buf[off..off + len]);
    assert!(
        buf[..off].iter().all(|v| *v == SENTINEL),
        "wrote before the output"
    );
    assert!(
        buf[off + len..].iter().all(|v| *v == SENTINEL),
        "wrote past the output"
    );
    buf[off..off + len].to_vec()
}

fn shifted(src: &[f32], off: usize) -> Vec<f32> {
    let mut v = vec![0.0; off];
    v.extend_from_slice(src);
    v
}

#[test]
fn dense_is_address_independent() {
    let w = values(1, N * K);
    let xs = values(2, M * K);
    let b = values(3, N);
    let mut blocks = vec![pack::Block32::default(); pack::blocks_f32(N, K)];
    let packed = pack::pack_f32(&w, N, K, pack::as_f32_mut(&mut blocks)).unwrap();
    for be in backends() {
        for act in [
            Activation::Identity,
            Activation::Relu,
            Activation::Tanh,
            Activation::Sigmoid,
        ] {
            let mut first: Option<Vec<f32>> = None;
            for off in 0..8 {
                let x = shifted(&xs, off);
                let y = at_offset(off, M * N, |o, y| {
                    be.dense(
                        MatRef::new(&x[o..], M, K).unwrap(),
                        packed,
                        Some(&b),
                        act,
                        MatMut::new(y, M, N).unwrap(),
                    )
                    .unwrap()
                });
                match &first {
                    None => first = Some(y),
                    Some(f) => assert!(
                        f.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{:?} {act:?}: offset {off} changed the result",
                        be.isa()
                    ),
                }
            }
        }
    }
}

#[test]
fn backward_products_are_address_independent() {
    let a = values(4, M * K);
    let bm = values(5, K * N);
    for be in backends() {
        let mut first: Option<(Vec<f32>, Vec<f32>)> = None;
        for off in 0..8 {
            let (a2, b2) = (shifted(&a, off), shifted(&bm, off));
            let c = at_offset(off, M * N, |o, c| {
                be.matmul(
                    MatRef::new(&a2[o..], M, K).unwrap(),
                    MatRef::new(&b2[o..], K, N).unwrap(),
                    MatMut::new(c, M, N).unwrap(),
                    false,
                )
                .unwrap()
            });
            // Aᵀ·B with A stored K × M.
            let ct = at_offset(off, M * N, |o, c| {
                be.matmul_tn(
                    MatRef::new(&a2[o..o + K * M], K, M).unwrap(),
                    MatRef::new(&b2[o..], K, N).unwrap(),
                    MatMut::new(c, M, N).unwrap(),
                    false,
                )
                .unwrap()
            });
            match &first {
                None => first = Some((c, ct)),
                Some((f, ft)) => {
                    assert_eq!(bits(f), bits(&c), "{:?} matmul offset {off}", be.isa());
                    assert_eq!(bits(ft), bits(&ct), "{:?} matmul_tn offset {off}", be.isa());
                }
            }
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn pointer_scores_are_address_independent() {
    let (n, h) = (N, 37);
    let keys = values(6, n * h);
    let q = values(7, h);
    let v = values(8, h);
    let taken: Vec<bool> = (0..n).map(|i| i % 5 == 2).collect();
    for be in backends() {
        let mut first: Option<Vec<f32>> = None;
        for off in 0..8 {
            let (k2, q2, v2) = (shifted(&keys, off), shifted(&q, off), shifted(&v, off));
            let s = at_offset(off, n, |o, out| {
                be.pointer_scores(
                    MatRef::new(&k2[o..], n, h).unwrap(),
                    &q2[o..],
                    &v2[o..],
                    Some(&taken),
                    out,
                )
                .unwrap()
            });
            match &first {
                None => first = Some(s),
                Some(f) => assert_eq!(bits(f), bits(&s), "{:?} offset {off}", be.isa()),
            }
        }
    }
}

#[test]
fn zero_size_shapes_are_ok_and_write_nothing() {
    let w = values(9, N * K);
    let mut blocks = vec![pack::Block32::default(); pack::blocks_f32(N, K)];
    let packed = pack::pack_f32(&w, N, K, pack::as_f32_mut(&mut blocks)).unwrap();
    for be in backends() {
        let mut y: Vec<f32> = vec![];
        be.dense(
            MatRef::new(&[], 0, K).unwrap(),
            packed,
            None,
            Activation::Relu,
            MatMut::new(&mut y, 0, N).unwrap(),
        )
        .unwrap();
        let mut c = vec![SENTINEL; 4];
        be.matmul(
            MatRef::new(&[], 2, 0).unwrap(),
            MatRef::new(&[], 0, 2).unwrap(),
            MatMut::new(&mut c, 2, 2).unwrap(),
            true,
        )
        .unwrap();
        assert!(
            c.iter().all(|v| *v == SENTINEL),
            "{:?}: k = 0 accumulate changed C",
            be.isa()
        );
        let mut out: Vec<f32> = vec![];
        be.pointer_scores(
            MatRef::new(&[], 0, 8).unwrap(),
            &[0.0; 8],
            &[0.0; 8],
            None,
            &mut out,
        )
        .unwrap();
        let mut ls: Vec<f32> = vec![];
        last_kernels::select::log_softmax(&[], &mut ls).unwrap();
    }
}
