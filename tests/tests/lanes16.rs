//! The 16-lane geometry: `emu16` (two 8-lane vectors per vector, any SIMD
//! machine) and `avx512` (one zmm) run the same generic bodies with the same
//! 12-row tile and the same operation order, so on an x86 machine with
//! AVX-512 they must agree bit for bit; every other path is checked against
//! the f64 reference by the per-kernel property tests. Without AVX-512 the
//! comparison is skipped with a printed line (emu16 is still covered by
//! every other test file).

use last_kernels::perturb::{perturbed_scratch_len, LowRank};
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::{pack, Activation, Backend, Isa, MatMut, MatRef};
use last_tests::values;

/// The AVX-512 and emu16 backends, or `None` (with a printed line) when
/// this machine lacks AVX-512.
fn pair() -> Option<(Backend, Backend)> {
    match (Backend::for_isa(Isa::Avx512), Backend::for_isa(Isa::Emu16)) {
        (Some(a), Some(e)) => Some((a, e)),
        _ => {
            println!("skipped: no AVX-512 on this CPU (emu16 alone covers the 16-lane geometry)");
            None
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Shapes around the 12-row tile and its merged tails, 16-wide panels and
/// 16-lane k tails.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 16, 16),
    (2, 128, 40),
    (7, 33, 17),
    (12, 64, 64),
    (13, 47, 31),
    (19, 16, 9),
    (25, 130, 128),
    (36, 48, 40),
    (50, 128, 160),
];

#[test]
fn dense_and_perturbed_products_agree_bit_for_bit() {
    let Some((a, e)) = pair() else { return };
    for (si, &(m, n, k)) in SHAPES.iter().enumerate() {
        let x = values(si as u64, m * k);
        let w = values(100 + si as u64, n * k);
        let bias = values(200 + si as u64, n);
        let mut buf = vec![0.0f32; pack::packed_len(n, k)];
        let pw = pack::pack_f32(&w, n, k, &mut buf).unwrap();
        let mut hbuf = vec![0u16; pack::packed_len(n, k)];
        let ph = pack::pack_f16(&w, n, k, &mut hbuf).unwrap();
        let scratch = vec![0.0f32; perturbed_scratch_len(k)];
        for act in [
            Activation::Identity,
            Activation::Relu,
            Activation::Tanh,
            Activation::Sigmoid,
        ] {
            let run = |b: Backend, which: usize| {
                let mut y = vec![0.0f32; m * n];
                let xm = MatRef::new(&x, m, k).unwrap();
                let ym = MatMut::new(&mut y, m, n).unwrap();
                let mut s = scratch.clone();
                let noise = Noise {
                    seed: 7,
                    candidate: si as u32,
                    kind: NoiseKind::Gaussian,
                    antithetic: false,
                };
                match which {
                    0 => b.dense(xm, pw, Some(&bias), act, ym).unwrap(),
                    1 => b.dense(xm, ph, Some(&bias), act, ym).unwrap(),
                    _ => b
                        .dense_perturbed(xm, pw, &noise, 0.1, Some(&bias), act, ym, &mut s)
                        .unwrap(),
                }
                y
            };
            for which in 0..3 {
                assert_eq!(
                    bits(&run(a, which)),
                    bits(&run(e, which)),
                    "kernel {which}, {m}×{n}×{k}, {act:?}"
                );
            }
        }
        // Low rank, r = 2.
        let u = values(300 + si as u64, n * 2);
        let vt = values(400 + si as u64, 2 * k);
        let mut ubuf = vec![0.0f32; pack::packed_len(n, 2)];
        let pu = pack::pack_f32(&u, n, 2, &mut ubuf).unwrap();
        let run = |b: Backend| {
            let mut y = vec![0.0f32; m * n];
            let mut t = vec![0.0f32; m * 2];
            let lr = LowRank {
                u: pu,
                vt: MatRef::new(&vt, 2, k).unwrap(),
                sigma: 0.3,
            };
            b.dense_low_rank(
                MatRef::new(&x, m, k).unwrap(),
                pw,
                lr,
                Some(&bias),
                Activation::Relu,
                MatMut::new(&mut y, m, n).unwrap(),
                &mut t,
            )
            .unwrap();
            y
        };
        assert_eq!(bits(&run(a)), bits(&run(e)), "low rank {m}×{n}×{k}");
    }
}

#[test]
fn pointer_scores_agree_bit_for_bit() {
    let Some((a, e)) = pair() else { return };
    for (n, h) in [(1usize, 1usize), (5, 15), (50, 64), (33, 100), (20, 129)] {
        let keys = values(n as u64, n * h);
        let q = values(1000 + h as u64, h);
        let v = values(2000 + h as u64, h);
        let taken: Vec<bool> = (0..n).map(|i| i % 7 == 3).collect();
        let run = |b: Backend| {
            let km = MatRef::new(&keys, n, h).unwrap();
            let mut out = vec![0.0f32; n];
            b.pointer_scores(km, &q, &v, Some(&taken), &mut out)
                .unwrap();
            let mut ek = vec![0.0f32; n * h];
            let mut eq = vec![0.0f32; h];
            assert!(b.pointer_exp(&keys, &mut ek).unwrap());
            assert!(b.pointer_exp(&q, &mut eq).unwrap());
            let mut out2 = vec![0.0f32; n];
            let ekm = MatRef::new(&ek, n, h).unwrap();
            b.pointer_scores_exp(ekm, &eq, &v, Some(&taken), &mut out2)
                .unwrap();
            (out, ek, out2)
        };
        let (ra, rb) = (run(a), run(e));
        assert_eq!(bits(&ra.0), bits(&rb.0), "tanh form {n}×{h}");
        assert_eq!(bits(&ra.1), bits(&rb.1), "exponentials {n}×{h}");
        assert_eq!(bits(&ra.2), bits(&rb.2), "exp form {n}×{h}");
    }
}

#[test]
fn backward_products_agree_bit_for_bit() {
    let Some((a, e)) = pair() else { return };
    for &(m, p, n) in &[
        (1usize, 3usize, 5usize),
        (13, 40, 17),
        (36, 64, 48),
        (25, 9, 130),
    ] {
        let x = values(m as u64, m * p);
        let w = values(99 + n as u64, p * n);
        for tn in [false, true] {
            let run = |b: Backend| {
                let mut c = values(5, m * n);
                if tn {
                    // C (m × n) += Aᵀ·B with A p × m.
                    let at = values(m as u64 + 11, p * m);
                    b.matmul_tn(
                        MatRef::new(&at, p, m).unwrap(),
                        MatRef::new(&w, p, n).unwrap(),
                        MatMut::new(&mut c, m, n).unwrap(),
                        true,
                    )
                    .unwrap();
                } else {
                    b.matmul(
                        MatRef::new(&x, m, p).unwrap(),
                        MatRef::new(&w, p, n).unwrap(),
                        MatMut::new(&mut c, m, n).unwrap(),
                        false,
                    )
                    .unwrap();
                }
                let mut db = values(6, n);
                b.bias_grad(MatRef::new(&c, m, n).unwrap(), &mut db)
                    .unwrap();
                (c, db)
            };
            let (ra, rb) = (run(a), run(e));
            assert_eq!(bits(&ra.0), bits(&rb.0), "matmul tn={tn} {m}×{p}×{n}");
            assert_eq!(bits(&ra.1), bits(&rb.1), "bias grad {m}×{n}");
        }
    }
}

#[test]
fn noise_streams_agree_bit_for_bit() {
    let Some((a, e)) = pair() else { return };
    for len in [1usize, 15, 16, 17, 100] {
        let mut ga = vec![0.0f32; len];
        let mut ge = vec![0.0f32; len];
        a.gumbel_noise(3, 4, &mut ga);
        e.gumbel_noise(3, 4, &mut ge);
        assert_eq!(bits(&ga), bits(&ge), "gumbel {len}");
        for kind in [NoiseKind::Gaussian, NoiseKind::Rademacher] {
            let noise = Noise {
                seed: 9,
                candidate: 2,
                kind,
                antithetic: true,
            };
            a.noise_fill(&noise, 5, &mut ga);
            e.noise_fill(&noise, 5, &mut ge);
            assert_eq!(bits(&ga), bits(&ge), "{kind:?} {len}");
        }
    }
}
