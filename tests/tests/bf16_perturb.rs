//! Perturbed bf16 weights (`Bf16Backend::perturb`): on every f32 path × bf16
//! path the packed `bf16(W + σE)` is bit-for-bit `to_bf16` of the f32
//! perturbed weights (`Backend::perturb_weights`, the values the f32
//! perturbed products use), with zero padding, for hash and table noise,
//! f32 and f16 storage, and shapes across panel and pair edges.

use last_kernels::bf16::{self, Bf16Backend, Perturbation};
use last_kernels::pack::{self, Weights};
use last_kernels::perturb::perturbed_scratch_len;
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::{Activation, MatMut, MatRef};
use last_tests::{backends, values};

/// The f32 perturbed weight `W[j][kk] + σE[j][kk]` from the f32 API.
fn reference(w: Weights<'_>, noise: &Noise, sigma: f32) -> Vec<f32> {
    let (n, k) = (w.n(), w.k());
    let mut out = vec![0f32; pack::packed_len(n, k)];
    let p = last_kernels::Backend::scalar()
        .perturb_weights(w, noise, sigma, &mut out)
        .unwrap();
    (0..n * k).map(|i| p.get(i / k, i % k)).collect()
}

fn noise(seed: u64, candidate: u32, kind: NoiseKind) -> Noise {
    Noise {
        seed,
        candidate,
        kind,
        antithetic: false,
    }
}

#[test]
fn perturbed_bf16_is_the_rounded_f32_perturbation() {
    let paths = Bf16Backend::available();
    for (n, k) in [(1, 1), (16, 32), (17, 33), (31, 2), (128, 128), (40, 65)] {
        let w = values(n as u64 * 7 + k as u64, n * k);
        let mut wp = vec![0f32; pack::packed_len(n, k)];
        let mut wh = vec![0u16; pack::packed_len(n, k)];
        let wf = pack::pack_f32(&w, n, k, &mut wp).unwrap();
        let wh = pack::pack_f16(&w, n, k, &mut wh).unwrap();
        for (storage, wts) in [("f32", Weights::from(wf)), ("f16", Weights::from(wh))] {
            for noise in [
                noise(3, 1, NoiseKind::Gaussian),
                noise(5, 2, NoiseKind::Rademacher),
            ] {
                let sigma = 0.3;
                let want = reference(wts, &noise, sigma);
                for be in backends() {
                    for &b in &paths {
                        let mut panel = vec![f32::NAN; perturbed_scratch_len(k)];
                        let mut out = vec![0xffffu16; bf16::packed_len_bf16(n, k) + 3];
                        let p = b
                            .perturb(
                                be,
                                wts,
                                Perturbation::Noise(&noise),
                                sigma,
                                &mut panel,
                                &mut out,
                            )
                            .unwrap();
                        for j in 0..n {
                            for kk in 0..k {
                                let exp = bf16::from_bf16(bf16::to_bf16(want[j * k + kk]));
                                assert_eq!(
                                    p.get(j, kk).to_bits(),
                                    exp.to_bits(),
                                    "{storage} {be:?} {} n={n} k={k} ({j},{kk})",
                                    b.name()
                                );
                            }
                        }
                        // Every element that is not a weight is zero padding;
                        // nothing is written past the packed length.
                        let used = bf16::packed_len_bf16(n, k);
                        let weights = n * k;
                        let nonzero_pad = p.data().iter().filter(|v| **v != 0).count();
                        assert!(
                            nonzero_pad <= weights,
                            "{nonzero_pad} non-zero > {weights} weights"
                        );
                        assert_eq!(&out[used..], &[0xffff; 3]);
                    }
                }
            }
        }
    }
}

#[test]
fn table_noise_and_the_product() {
    let (m, n, k) = (50, 40, 48);
    let w = values(11, n * k);
    let x = values(12, m * k);
    let mut wp = vec![0f32; pack::packed_len(n, k)];
    let wf: Weights<'_> = pack::pack_f32(&w, n, k, &mut wp).unwrap().into();
    let table = values(13, pack::packed_len(n, k));
    let sigma = 0.1;
    // The table's E in logical order: t[(j/16)·16·k + kk·16 + j%16].
    let e = |j: usize, kk: usize| table[(j / 16) * 16 * k + kk * 16 + j % 16];
    for &b in &Bf16Backend::available() {
        let mut panel = vec![0f32; perturbed_scratch_len(k)];
        let mut out = vec![0u16; bf16::packed_len_bf16(n, k)];
        let be = last_kernels::Backend::detect();
        let p = b
            .perturb(
                be,
                wf,
                Perturbation::Table(&table),
                sigma,
                &mut panel,
                &mut out,
            )
            .unwrap();
        for j in 0..n {
            for kk in 0..k {
                let exp = bf16::from_bf16(bf16::to_bf16(w[j * k + kk] + sigma * e(j, kk)));
                assert_eq!(p.get(j, kk), exp, "{} ({j},{kk})", b.name());
            }
        }
        // The product on those weights equals the reference path's product.
        let mut xb = vec![0u16; bf16::acts_len(m, k)];
        let xa = b.round(MatRef::new(&x, m, k).unwrap(), &mut xb).unwrap();
        let mut y = vec![0f32; m * n];
        b.dense(
            xa,
            p,
            None,
            Activation::Identity,
            MatMut::new(&mut y, m, n).unwrap(),
        )
        .unwrap();
        let mut y0 = vec![0f32; m * n];
        Bf16Backend::Scalar
            .dense(
                xa,
                p,
                None,
                Activation::Identity,
                MatMut::new(&mut y0, m, n).unwrap(),
            )
            .unwrap();
        for (a, r) in y.iter().zip(&y0) {
            let tol = 1e-5 * (1.0 + r.abs());
            assert!((a - r).abs() <= tol, "{}: {a} vs {r}", b.name());
        }
    }
}

#[test]
fn bad_inputs_are_refused() {
    let (n, k) = (20, 10);
    let w = values(1, n * k);
    let mut wp = vec![0f32; pack::packed_len(n, k)];
    let wf: Weights<'_> = pack::pack_f32(&w, n, k, &mut wp).unwrap().into();
    let nz = noise(1, 1, NoiseKind::Gaussian);
    let be = last_kernels::Backend::scalar();
    let b = Bf16Backend::Scalar;
    let mut panel = vec![0f32; perturbed_scratch_len(k)];
    let mut out = vec![0u16; bf16::packed_len_bf16(n, k)];
    assert!(b
        .perturb(
            be,
            wf,
            Perturbation::Noise(&nz),
            f32::NAN,
            &mut panel,
            &mut out
        )
        .is_err());
    assert!(b
        .perturb(
            be,
            wf,
            Perturbation::Noise(&nz),
            0.1,
            &mut panel[1..],
            &mut out
        )
        .is_err());
    let short = out.len() - 1;
    assert!(b
        .perturb(
            be,
            wf,
            Perturbation::Noise(&nz),
            0.1,
            &mut panel,
            &mut out[..short]
        )
        .is_err());
    let table = vec![0f32; pack::packed_len(n, k) - 1];
    assert!(b
        .perturb(
            be,
            wf,
            Perturbation::Table(&table),
            0.1,
            &mut panel,
            &mut out
        )
        .is_err());
    // A view over storage whose k padding is not zero is refused.
    let mut bad = vec![0u16; bf16::packed_len_bf16(n, k)];
    bad[2 * 5 * 16 + 3] = 0x3f80; // pair row 5 = k 10, 11: padding
    assert!(bf16::PackedBf16::from_packed(&bad, n, k).is_err());
    bad[2 * 5 * 16 + 3] = 0;
    assert!(bf16::PackedBf16::from_packed(&bad, n, k).is_ok());
}
