//! Differential fuzz target for `last-kernels`.
//!
//! * `Backend::dense` and `Backend::dense_perturbed`: every SIMD path from
//!   `Backend::available()` against the scalar path (and every path against
//!   an f64 reference), on fuzzer-chosen shapes, strides, activations,
//!   f32/f16 weights, bias and values.
//! * `Backend::perturb_weights`: bit-identical on every path and equal to
//!   `w + σ·e` computed here.
//! * Shape errors: mismatched shapes return `Err` and leave outputs untouched.
//! * `select::*`: invariants of `argmax`, `argmax_masked`, `top_k`,
//!   `gumbel_argmax`, `log_softmax` and `Permutations` (n ≤ 8) on arbitrary
//!   (including NaN / ±∞ / ±0) scores.
//!
//! Input layout (every read past the end of a section continues with a
//! splitmix64 stream seeded from the whole input, so short inputs still
//! drive full-size shapes):
//!
//! ```text
//! [0] m  [1] n  [2] k  [3] flags  [4] mode  [5] sigma  [6..14] seed
//! [14..18] candidate  [18] sel_len  [19 .. 19+sel_len] selection bytes
//! [19+sel_len ..] dense value bytes
//! ```
#![no_main]

use std::cmp::Ordering;

use last_kernels::perturb::perturbed_scratch_len;
use last_kernels::rng::{splitmix64, uniform01, Noise, NoiseKind};
use last_kernels::select::{
    argmax, argmax_masked, gumbel_argmax, log_softmax, permutation_count, top_k, Permutations,
};
use last_kernels::{pack, Activation, Backend, MatMut, MatRef, Weights};
use libfuzzer_sys::fuzz_target;

const HDR: usize = 19;
const U32: f64 = f32::EPSILON as f64 / 2.0;
/// "Never written" sentinel: a NaN payload no kernel produces.
const SENTINEL: u32 = 0x7fc0_dead;
const ACTS: [Activation; 4] = [
    Activation::Identity,
    Activation::Relu,
    Activation::Tanh,
    Activation::Sigmoid,
];

/// A byte reader that falls back to a deterministic stream when exhausted.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    state: u64,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], seed: u64) -> Self {
        Reader {
            data,
            pos: 0,
            state: seed,
        }
    }
    fn u8(&mut self) -> u8 {
        if let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            b
        } else {
            self.state = self.state.wrapping_add(1);
            (splitmix64(self.state) >> 56) as u8
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        (self.u32() as u64) | ((self.u32() as u64) << 32)
    }
}

fn fnv(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in data {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Maps any f32 to a finite value of magnitude ≤ 256 (or keeps it when it is
/// already finite with |x| ≤ 1e3): products of two such values and sums of
/// 70 of them stay far from overflow.
fn sanitize(x: f32) -> f32 {
    if x.is_finite() && x.abs() <= 1e3 {
        return x;
    }
    let b = x.to_bits();
    let e = 117 + ((b >> 23) & 0xff) % 18; // 2^-10 .. 2^7·(2-ε)
    f32::from_bits((b & 0x8000_0000) | (e << 23) | (b & 0x007f_ffff))
}

/// One dense input value, decoded according to `mode`.
fn value(r: &mut Reader, mode: u8) -> f32 {
    match mode & 3 {
        0 => sanitize(f32::from_bits(r.u32())),
        // Small exact values: many ties and exact cancellations.
        1 => (r.u8() as i8) as f32 / 16.0,
        // Uniform-ish in [-1, 1).
        2 => (r.u8() as f32 - 128.0) / 128.0,
        // Mixed: mostly moderate, sometimes raw (huge/tiny/subnormal) bits.
        _ => {
            let t = r.u8();
            if t < 32 {
                sanitize(f32::from_bits(r.u32()))
            } else {
                (r.u8() as f32 - 128.0) * (1.0 / 64.0) * ((t % 8) as f32 + 1.0)
            }
        }
    }
}

/// One selection score: NaN, ±∞, ±0, small ints (ties) or raw f32 bits.
fn score(r: &mut Reader) -> f32 {
    let t = r.u8();
    match t % 8 {
        0 => f32::from_bits(0x7fc0_0000 | (r.u8() as u32) | ((t as u32 & 0x80) << 24)),
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => {
            if t & 0x80 != 0 {
                -0.0
            } else {
                0.0
            }
        }
        4 | 5 => (r.u8() % 7) as f32 - 3.0,
        _ => f32::from_bits(r.u32()),
    }
}

/// Difference-of-two-approximations tolerance (see README):
/// 2·(2(k+2)·2⁻²⁴·Σ|x·w|) + 8·ε·|ref| + 1.2e-7.
fn diff_tol(k: usize, abs_sum: f64, r: f64) -> f64 {
    2.0 * (2.0 * (k as f64 + 2.0) * U32 * abs_sum) + 8.0 * f32::EPSILON as f64 * r.abs() + 1.2e-7
}

/// `last_tests::dense_tol`: one path against the f64 truth.
fn dense_tol(k: usize, abs_sum: f64, y: f64) -> f64 {
    2.0 * (k as f64 + 2.0) * U32 * abs_sum + 4.0 * f32::EPSILON as f64 * y.abs() + 6e-8
}

fn act_f64(act: Activation, z: f64) -> f64 {
    match act {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Owned packed weights.
enum Packed {
    F32(Vec<f32>),
    F16(Vec<u16>),
}

impl Packed {
    fn weights(&self, n: usize, k: usize) -> Weights<'_> {
        match self {
            Packed::F32(b) => pack::PackedF32::from_packed(b, n, k).unwrap().into(),
            Packed::F16(b) => pack::PackedF16::from_packed(b, n, k).unwrap().into(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    m: usize,
    n: usize,
    k: usize,
    lda: usize,
    ldc: usize,
    act: Activation,
    f16: bool,
    bias: bool,
}

fn sentinel_y(s: &Shape) -> Vec<f32> {
    // Exact length: ASan sees any write past the last element.
    let len = if s.m == 0 { 0 } else { (s.m - 1) * s.ldc + s.n };
    vec![f32::from_bits(SENTINEL); len]
}

/// f64 truth of every output: `(act(z), Σ|x·w| + |b|)`, row-major m × n.
/// `wmat` is the effective weight matrix, row-major n × k, as f64.
fn reference(s: &Shape, x: &[f32], wmat: &[f64], bias: Option<&[f32]>) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(s.m * s.n);
    for i in 0..s.m {
        let xr = &x[i * s.lda..i * s.lda + s.k];
        for j in 0..s.n {
            let wr = &wmat[j * s.k..(j + 1) * s.k];
            let mut z = bias.map_or(0.0, |b| b[j] as f64);
            let mut sum = z.abs();
            for (&xv, &wv) in xr.iter().zip(wr) {
                let t = xv as f64 * wv;
                z += t;
                sum += t.abs();
            }
            out.push((act_f64(s.act, z), sum));
        }
    }
    out
}

/// Effective weights `wget(j, kk)` as a row-major f64 matrix.
fn wmatrix(n: usize, k: usize, wget: impl Fn(usize, usize) -> f32) -> Vec<f64> {
    let mut w = Vec::with_capacity(n * k);
    for j in 0..n {
        for kk in 0..k {
            w.push(wget(j, kk) as f64);
        }
    }
    w
}

/// Checks y (computed by `isa`) against the f64 truth and that row padding
/// is untouched.
fn check_truth(what: &str, isa: &str, s: &Shape, refs: &[(f64, f64)], y: &[f32]) {
    for i in 0..s.m {
        for j in 0..s.n {
            let (r, sum) = refs[i * s.n + j];
            let got = y[i * s.ldc + j];
            let tol = dense_tol(s.k, sum, r);
            assert!(
                got.is_finite() && (got as f64 - r).abs() <= tol,
                "{what} {isa} {s:?}: y[{i}][{j}] = {got:e} ({:#010x}), f64 truth {r:e}, |diff| {:e} > tol {tol:e}",
                got.to_bits(),
                (got as f64 - r).abs()
            );
        }
        if i + 1 < s.m {
            for j in s.n..s.ldc {
                assert_eq!(
                    y[i * s.ldc + j].to_bits(),
                    SENTINEL,
                    "{what} {isa} {s:?}: wrote row padding at row {i} col {j}"
                );
            }
        }
    }
}

/// Differential check of two outputs (`a` is the reference side, e.g. scalar).
fn check_diff(what: &str, isa: &str, s: &Shape, refs: &[(f64, f64)], a: &[f32], b: &[f32]) {
    for i in 0..s.m {
        for j in 0..s.n {
            let sum = refs[i * s.n + j].1;
            let (ya, yb) = (a[i * s.ldc + j], b[i * s.ldc + j]);
            let tol = diff_tol(s.k, sum, ya as f64);
            let d = (ya as f64 - yb as f64).abs();
            assert!(
                ya.is_finite() && yb.is_finite() && d <= tol,
                "{what} scalar vs {isa} {s:?}: y[{i}][{j}] scalar {ya:e} ({:#010x}) vs {yb:e} ({:#010x}), |diff| {d:e} > tol {tol:e}",
                ya.to_bits(),
                yb.to_bits()
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let backends = Backend::available();
    let fallback = fnv(data);
    let mut h = Reader::new(&data[..data.len().min(HDR)], fallback);
    // Two row tiles plus a tail on every path (6-row tiles on 8-lane paths,
    // 12-row tiles on 16-lane ones), two 16-wide panels plus a tail: every
    // kernel path, at a fraction of the cost of 40 × 70 × 70.
    let m = h.u8() as usize % 27;
    let n = 1 + h.u8() as usize % 40;
    let k = 1 + h.u8() as usize % 40;
    let flags = h.u8();
    let mode = h.u8();
    let sigma_b = h.u8();
    let seed = h.u64();
    let candidate = h.u32();
    let sel_len = h.u8() as usize;
    let sel_start = HDR.min(data.len());
    let sel_end = (HDR + sel_len).min(data.len());
    let mut sr = Reader::new(&data[sel_start..sel_end], fallback ^ 0x5e1e_c700);
    let mut vr = Reader::new(&data[sel_end..], fallback ^ 0xdea5_e000);

    let s = Shape {
        m,
        n,
        k,
        lda: k + (flags & 3) as usize,
        ldc: n + ((flags >> 2) & 3) as usize,
        act: ACTS[((flags >> 4) & 3) as usize],
        f16: flags & 0x40 != 0,
        bias: flags & 0x80 != 0,
    };
    let vmode = mode & 3;
    let noise = Noise {
        seed,
        candidate,
        kind: if mode & 4 != 0 {
            NoiseKind::Rademacher
        } else {
            NoiseKind::Gaussian
        },
        antithetic: mode & 8 != 0,
    };
    // σ ∈ [0, 1]: 0 and 1 are reachable exactly.
    let sigma = sigma_b as f32 / 255.0;

    // ---- values (exact-length buffers so ASan sees over-reads) ----
    let x_len = if m == 0 { 0 } else { (m - 1) * s.lda + k };
    let x: Vec<f32> = (0..x_len).map(|_| value(&mut vr, vmode)).collect();
    let w: Vec<f32> = (0..n * k).map(|_| value(&mut vr, vmode)).collect();
    let bv: Vec<f32> = (0..n).map(|_| value(&mut vr, vmode)).collect();
    let bias = s.bias.then_some(&bv[..]);
    let packed = if s.f16 {
        let mut buf = vec![0u16; pack::packed_len(n, k)];
        pack::pack_f16(&w, n, k, &mut buf).unwrap();
        Packed::F16(buf)
    } else {
        let mut buf = vec![0f32; pack::packed_len(n, k)];
        pack::pack_f32(&w, n, k, &mut buf).unwrap();
        Packed::F32(buf)
    };
    let wts = packed.weights(n, k);
    let refs = reference(&s, &x, &wmatrix(n, k, |j, kk| wts.get(j, kk)), bias);
    let xm = || MatRef::with_stride(&x, m, k, s.lda).unwrap();

    // ---- f16 widening (exact on every path) ----
    if let Packed::F16(buf) = &packed {
        let want: Vec<u32> = buf
            .iter()
            .map(|&b| half::f16::from_bits(b).to_f32().to_bits())
            .collect();
        for &b in &backends {
            let mut out = vec![0f32; buf.len()];
            b.f16_to_f32(buf, &mut out).unwrap();
            assert_eq!(bits(&out), want, "f16_to_f32 {} differs from half", b.isa());
        }
    }

    // ---- dense ----
    let mut dense_out: Vec<Vec<f32>> = Vec::new();
    for &b in &backends {
        let mut y = sentinel_y(&s);
        let ym = MatMut::with_stride(&mut y, m, n, s.ldc).unwrap();
        b.dense(xm(), wts, bias, s.act, ym).unwrap();
        check_truth("dense", b.isa().name(), &s, &refs, &y);
        dense_out.push(y);
    }
    for (b, y) in backends.iter().zip(&dense_out).skip(1) {
        check_diff("dense", b.isa().name(), &s, &refs, &dense_out[0], y);
    }

    // ---- perturb_weights: bit-identical everywhere, equal to w + σ·e ----
    let plen = pack::packed_len(n, k);
    let mut expect = vec![0u32; plen];
    for j in 0..n {
        for kk in 0..k {
            let e = noise.value((j * k + kk) as u32);
            let se = sigma * e;
            expect[(j / 16) * 16 * k + kk * 16 + j % 16] = (wts.get(j, kk) + se).to_bits();
        }
    }
    let mut perturbed: Vec<Vec<f32>> = Vec::new();
    for &b in &backends {
        let mut out = vec![f32::from_bits(SENTINEL); plen + 3];
        let view = b.perturb_weights(wts, &noise, sigma, &mut out).unwrap();
        assert_eq!((view.n(), view.k(), view.data().len()), (n, k, plen));
        let got = bits(&out);
        for (idx, (&g, &e)) in got[..plen].iter().zip(&expect).enumerate() {
            assert_eq!(
                g,
                e,
                "perturb_weights {} n={n} k={k} {noise:?} sigma={sigma}: packed element {idx}: {:e} vs expected {:e}",
                b.isa(),
                f32::from_bits(g),
                f32::from_bits(e)
            );
        }
        assert!(
            got[plen..].iter().all(|&v| v == SENTINEL),
            "perturb_weights {} wrote past packed_len",
            b.isa()
        );
        out.truncate(plen);
        perturbed.push(out);
    }
    let wp = pack::PackedF32::from_packed(&perturbed[0], n, k).unwrap();
    let prefs = reference(&s, &x, &wmatrix(n, k, |j, kk| wp.get(j, kk)), bias);

    // ---- dense_perturbed (and dense over perturb_weights' output) ----
    let mut pert_out: Vec<Vec<f32>> = Vec::new();
    for (bi, &b) in backends.iter().enumerate() {
        let mut y = sentinel_y(&s);
        let mut scratch = vec![f32::NAN; perturbed_scratch_len(k)];
        let ym = MatMut::with_stride(&mut y, m, n, s.ldc).unwrap();
        b.dense_perturbed(xm(), wts, &noise, sigma, bias, s.act, ym, &mut scratch)
            .unwrap();
        check_truth("dense_perturbed", b.isa().name(), &s, &prefs, &y);
        // Same candidate through the materialised weights.
        let mut y2 = sentinel_y(&s);
        let wpi = pack::PackedF32::from_packed(&perturbed[bi], n, k).unwrap();
        let ym2 = MatMut::with_stride(&mut y2, m, n, s.ldc).unwrap();
        b.dense(xm(), wpi, bias, s.act, ym2).unwrap();
        check_diff(
            "dense_perturbed vs dense(perturb_weights)",
            b.isa().name(),
            &s,
            &prefs,
            &y,
            &y2,
        );
        pert_out.push(y);
    }
    for (b, y) in backends.iter().zip(&pert_out).skip(1) {
        check_diff(
            "dense_perturbed",
            b.isa().name(),
            &s,
            &prefs,
            &pert_out[0],
            y,
        );
    }

    // ---- dense_perturbed_table: W + σ·t, t in packed order ----
    let plen = pack::packed_len(n, k);
    let table: Vec<f32> = (0..plen).map(|i| ((i * 7919) % 97) as f32 / 24.0 - 2.0).collect();
    let t_at = |j: usize, kk: usize| table[(j / 16) * 16 * k + kk * 16 + j % 16];
    let trefs = reference(&s, &x, &wmatrix(n, k, |j, kk| wts.get(j, kk) + sigma * t_at(j, kk)), bias);
    for &b in &backends {
        let mut y = sentinel_y(&s);
        let mut scratch = vec![f32::NAN; perturbed_scratch_len(k)];
        let ym = MatMut::with_stride(&mut y, m, n, s.ldc).unwrap();
        b.dense_perturbed_table(xm(), wts, &table, sigma, bias, s.act, ym, &mut scratch)
            .unwrap();
        check_truth("dense_perturbed_table", b.isa().name(), &s, &trefs, &y);
    }

    // ---- shape errors: Err and nothing written ----
    check_shape_errors(&backends, &s, &x, wts, &bv, &noise, sigma);

    // ---- selection ----
    check_select(&mut sr);
});

fn check_shape_errors(
    backends: &[Backend],
    s: &Shape,
    x: &[f32],
    wts: Weights<'_>,
    bv: &[f32],
    noise: &Noise,
    sigma: f32,
) {
    let (m, n, k) = (s.m, s.n, s.k);
    // x with one extra column (k + 1), y with one extra column / row.
    let lda1 = s.lda.max(k + 1);
    let x1: Vec<f32> = vec![0.5; if m == 0 { 0 } else { (m - 1) * lda1 + k + 1 }];
    let ldc1 = s.ldc.max(n + 1);
    let badlen = if n > 1 && k % 2 == 0 { n - 1 } else { n + 1 };
    let bias_bad: Vec<f32> = (0..badlen)
        .map(|j| bv.get(j).copied().unwrap_or(0.25))
        .collect();
    let bias_ok = s.bias.then_some(bv);

    for &b in backends {
        let isa = b.isa().name();
        for case in 0..4 {
            for perturbed in [false, true] {
                // (x, x rows, x cols, x stride), (y rows, y cols, y stride), bias
                let (xd, xc, xs): (&[f32], usize, usize) = if case == 0 {
                    (&x1, k + 1, lda1)
                } else {
                    (x, k, s.lda)
                };
                let (yr, yc, ys) = match case {
                    1 => (m, n + 1, ldc1),
                    2 => (m + 1, n, s.ldc),
                    _ => (m, n, s.ldc),
                };
                let bias = if case == 3 {
                    Some(&bias_bad[..])
                } else {
                    bias_ok
                };
                let ylen = if yr == 0 { 0 } else { (yr - 1) * ys + yc };
                let mut y = vec![f32::from_bits(SENTINEL); ylen];
                let mut scratch = vec![f32::from_bits(SENTINEL); perturbed_scratch_len(k)];
                let xm = MatRef::with_stride(xd, m, xc, xs).unwrap();
                let ym = MatMut::with_stride(&mut y, yr, yc, ys).unwrap();
                let r = if perturbed {
                    b.dense_perturbed(xm, wts, noise, sigma, bias, s.act, ym, &mut scratch)
                } else {
                    b.dense(xm, wts, bias, s.act, ym)
                };
                assert!(
                    r.is_err(),
                    "{isa} case {case} perturbed={perturbed} {s:?}: no error"
                );
                assert!(
                    y.iter().all(|v| v.to_bits() == SENTINEL),
                    "{isa} case {case} perturbed={perturbed} {s:?}: output written on error"
                );
                assert!(
                    scratch.iter().all(|v| v.to_bits() == SENTINEL),
                    "{isa} case {case} perturbed={perturbed} {s:?}: scratch written on error"
                );
            }
        }
        // dense_perturbed: scratch one short; σ non-finite.
        for (scr_len, sg) in [
            (perturbed_scratch_len(k) - 1, sigma),
            (perturbed_scratch_len(k), f32::NAN),
            (perturbed_scratch_len(k), f32::INFINITY),
        ] {
            let mut y = sentinel_y(s);
            let mut scratch = vec![f32::from_bits(SENTINEL); scr_len];
            let xm = MatRef::with_stride(x, m, k, s.lda).unwrap();
            let ym = MatMut::with_stride(&mut y, m, n, s.ldc).unwrap();
            let r = b.dense_perturbed(xm, wts, noise, sg, bias_ok, s.act, ym, &mut scratch);
            assert!(
                r.is_err(),
                "{isa} dense_perturbed scratch {scr_len} sigma {sg}: no error"
            );
            assert!(
                y.iter().all(|v| v.to_bits() == SENTINEL),
                "{isa}: y written on error"
            );
            assert!(
                scratch.iter().all(|v| v.to_bits() == SENTINEL),
                "{isa}: scratch written on error"
            );
        }
        // perturb_weights: buffer one short; σ non-finite.
        let plen = pack::packed_len(n, k);
        for (len, sg) in [
            (plen - 1, sigma),
            (plen, f32::NAN),
            (plen, f32::NEG_INFINITY),
        ] {
            let mut out = vec![f32::from_bits(SENTINEL); len];
            let r = b.perturb_weights(wts, noise, sg, &mut out);
            assert!(
                r.is_err(),
                "{isa} perturb_weights len {len} sigma {sg}: no error"
            );
            assert!(
                out.iter().all(|v| v.to_bits() == SENTINEL),
                "{isa}: perturb_weights wrote on error"
            );
        }
    }
}

/// The module's total order: larger first, NaN lowest, ±0 equal, NaN == NaN.
fn rank_cmp(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap(),
    }
}

/// Indices sorted best first (stable: ties keep the lower index first).
fn ranked(scores: &[f32], keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).filter(|&i| keep(i)).collect();
    idx.sort_by(|&i, &j| rank_cmp(scores[j], scores[i]));
    idx
}

fn f32_ulp(y: f64) -> f64 {
    let a = y.abs();
    if a < f32::MIN_POSITIVE as f64 {
        return f64::from_bits(((1023 - 149) as u64) << 52);
    }
    let e = ((a.to_bits() >> 52) as i64) - 1023;
    f64::from_bits(((e - 23 + 1023) as u64) << 52)
}

fn check_select(r: &mut Reader) {
    let len = r.u8() as usize % 65;
    let scores: Vec<f32> = (0..len).map(|_| score(r)).collect();
    let mask_bits = r.u64();
    let taken: Vec<bool> = (0..len).map(|i| mask_bits >> (i % 64) & 1 == 1).collect();
    let sorted = ranked(&scores, |_| true);

    // argmax
    let a = argmax(&scores);
    assert_eq!(a, sorted.first().copied(), "argmax {scores:?}");

    // argmax_masked
    let sorted_m = ranked(&scores, |i| !taken[i]);
    let am = argmax_masked(&scores, &taken).unwrap();
    assert_eq!(
        am,
        sorted_m.first().copied(),
        "argmax_masked {scores:?} {taken:?}"
    );
    if let Some(i) = am {
        assert!(i < len && !taken[i]);
    }
    let mut short = taken.clone();
    short.push(false);
    assert!(argmax_masked(&scores, &short).is_err());

    // top_k: prefix of the stable sort; short buffer is an error, untouched.
    let kk = r.u8() as usize % (len + 3);
    let want = kk.min(len);
    let extra = r.u8() as usize % 4;
    let mut out = vec![usize::MAX; want + extra];
    let w = top_k(&scores, kk, &mut out).unwrap();
    assert_eq!(w, want);
    assert_eq!(&out[..w], &sorted[..w], "top_k {kk} of {scores:?}");
    assert!(
        out[w..].iter().all(|&v| v == usize::MAX),
        "top_k wrote past its count"
    );
    if want > 0 {
        let mut out = vec![usize::MAX; want - 1];
        assert!(top_k(&scores, kk, &mut out).is_err());
        assert!(out.iter().all(|&v| v == usize::MAX), "top_k wrote on error");
    }

    // gumbel_argmax
    let gseed = r.u64();
    let stream = r.u8() as u64;
    let use_mask = r.u8() & 1 == 1;
    let t = use_mask.then_some(&taken[..]);
    let g = gumbel_argmax(&scores, t, gseed, stream).unwrap();
    assert_eq!(
        g,
        gumbel_argmax(&scores, t, gseed, stream).unwrap(),
        "not deterministic"
    );
    let is_taken = |i: usize| use_mask && taken[i];
    let eligible: Vec<usize> = (0..len)
        .filter(|&i| !is_taken(i) && !scores[i].is_nan() && scores[i] != f32::NEG_INFINITY)
        .collect();
    if eligible.is_empty() {
        let fb = if use_mask { am } else { a };
        assert_eq!(g, fb, "gumbel fallback {scores:?} mask={use_mask}");
    } else {
        let gi = g.expect("gumbel returned None with eligible logits");
        assert!(
            eligible.contains(&gi),
            "gumbel chose ineligible {gi} in {scores:?}"
        );
        let noise = |i: usize| {
            let u = uniform01(gseed, stream, i as u32);
            assert!(u > 0.0 && u < 1.0, "uniform01 out of (0,1): {u}");
            let g = -last_kernels::math::ln(-last_kernels::math::ln(u));
            assert!(!g.is_nan() && g != f32::NEG_INFINITY, "gumbel noise {g}");
            g
        };
        let any_inf = eligible.iter().any(|&i| scores[i] == f32::INFINITY);
        let key = |i: usize| {
            if any_inf {
                noise(i)
            } else {
                scores[i] + noise(i)
            }
        };
        let pool: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|&i| !any_inf || scores[i] == f32::INFINITY)
            .collect();
        let mut best = pool[0];
        for &i in &pool[1..] {
            if rank_cmp(key(i), key(best)) == Ordering::Greater {
                best = i;
            }
        }
        assert_eq!(
            gi, best,
            "gumbel_argmax {scores:?} seed={gseed} stream={stream}"
        );
    }
    if len > 0 {
        assert!(gumbel_argmax(&scores, Some(&taken[1..]), gseed, stream).is_err());
    }

    // log_softmax
    let mut ls = vec![f32::from_bits(SENTINEL); len];
    log_softmax(&scores, &mut ls).unwrap();
    let any_nan = scores.iter().any(|v| v.is_nan());
    let max = scores
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .fold(f32::NEG_INFINITY, f32::max);
    if len > 0 && (any_nan || !max.is_finite()) {
        assert!(
            ls.iter().all(|v| v.is_nan()),
            "log_softmax undefined case {scores:?}"
        );
    } else if len > 0 {
        let mx = max as f64;
        let sum: f64 = scores.iter().map(|&v| ((v as f64) - mx).exp()).sum();
        let lse = mx + sum.ln();
        for (i, (&o, &v)) in ls.iter().zip(&scores).enumerate() {
            if v == f32::NEG_INFINITY {
                assert_eq!(o, f32::NEG_INFINITY, "log_softmax[{i}] of -inf");
                continue;
            }
            let rf = v as f64 - lse;
            let rf32 = rf as f32;
            if rf32.is_infinite() {
                assert_eq!(o, rf32, "log_softmax[{i}] overflow {scores:?}");
                continue;
            }
            let tol = 4.0 * f32_ulp(rf) + 4e-6;
            assert!(
                (o as f64 - rf).abs() <= tol,
                "log_softmax[{i}] = {o:e}, f64 {rf:e}, tol {tol:e}, scores {scores:?}"
            );
            assert!(o <= 4e-6, "log-probability above 0: {o}");
        }
    }
    let mut ls1 = vec![f32::from_bits(SENTINEL); len + 1];
    assert!(log_softmax(&scores, &mut ls1).is_err());
    assert!(
        ls1.iter().all(|v| v.to_bits() == SENTINEL),
        "log_softmax wrote on error"
    );

    // Permutations (n ≤ 8), plus the error cases.
    let pn = r.u8() as usize % 9;
    let pl = r.u8() as usize % (pn + 2);
    let per = 1 + r.u8() as usize % 9;
    let mode = r.u8();
    if r.u8() & 15 == 0 {
        assert!(Permutations::new(17 + pn, pl.min(3)).is_err());
    }
    if pl > pn {
        assert!(Permutations::new(pn, pl).is_err());
        return;
    }
    let total: u64 = ((pn - pl + 1)..=pn).map(|v| v as u64).product();
    assert_eq!(permutation_count(pn, pl), Some(total));
    let mut p = Permutations::new(pn, pl).unwrap();
    assert_eq!(p.len(), total);
    let mut seen: Vec<Vec<u8>> = Vec::new();
    if mode & 1 == 0 || pl == 0 {
        let mut buf = vec![0xAAu8; pl + (mode as usize >> 1) % 3];
        while p.next_into(&mut buf) {
            assert!(
                buf[pl..].iter().all(|&b| b == 0xAA),
                "next_into wrote past l"
            );
            seen.push(buf[..pl].to_vec());
            assert_eq!(p.remaining(), total - seen.len() as u64);
            assert!(seen.len() as u64 <= total, "too many selections");
        }
    } else {
        let spare = (mode as usize >> 1) % pl;
        let mut buf = vec![0xAAu8; per * pl + spare];
        loop {
            let w = p.fill_batch(&mut buf);
            assert!(w <= per);
            assert!(
                buf[per * pl..].iter().all(|&b| b == 0xAA),
                "fill_batch tail"
            );
            if w == 0 {
                break;
            }
            seen.extend(buf[..w * pl].chunks(pl).map(|c| c.to_vec()));
            assert!(seen.len() as u64 <= total, "too many selections");
        }
    }
    assert_eq!(seen.len() as u64, total, "n={pn} l={pl}: selection count");
    assert_eq!(p.remaining(), 0);
    let mut tmp = vec![0u8; pl];
    assert!(!p.next_into(&mut tmp), "exhausted enumeration emitted");
    assert_eq!(seen[0], (0..pl as u8).collect::<Vec<u8>>());
    for sel in &seen {
        let mut used = 0u32;
        for &v in sel {
            assert!((v as usize) < pn, "item {v} out of range n={pn}");
            assert!(used & (1 << v) == 0, "repeated item in {sel:?}");
            used |= 1 << v;
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "not strictly lexicographic (duplicates?)"
    );
    p.reset();
    assert_eq!(p.remaining(), total);
    if pl > 0 {
        assert!(p.next_into(&mut tmp));
        assert_eq!(tmp, seen[0]);
    }
}
