//! A peak-FMA probe: the single-core fp32 FLOP rate this machine reaches
//! with nothing but independent register-resident FMAs, measured in the
//! same run as the kernels it is compared with.

use std::time::Instant;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    // 12 independent accumulators: 2 FMA/cycle × 4-cycle latency needs ≥ 8.
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut s = _mm256_setzero_ps();
    for v in acc {
        s = _mm256_add_ps(s, v);
    }
    let mut out = [0f32; 8];
    _mm256_storeu_ps(out.as_mut_ptr(), s);
    out.iter().sum()
}

#[cfg(target_arch = "aarch64")]
unsafe fn fma_loop(iters: u64) -> f32 {
    use std::arch::aarch64::*;
    // 24 q-register accumulators (= 12 × 8 lanes).
    let mut acc = [vdupq_n_f32(0.0); 24];
    let a = vdupq_n_f32(0.999_999);
    let b = vdupq_n_f32(1e-7);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = vfmaq_f32(b, *v, a);
        }
    }
    acc.iter().map(|v| vaddvq_f32(*v)).sum()
}

/// FLOPs per `fma_loop` iteration: 12 × 8 lanes × 2.
const FLOP_PER_ITER: f64 = 192.0;

/// Measured single-core fp32 peak in GFLOP/s (best of several runs of
/// ~10 ms each), or `None` where no SIMD FMA probe exists or the CPU lacks FMA.
pub fn peak_gflops() -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        return None;
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let iters = 200_000u64;
        let mut best = 0.0f64;
        for _ in 0..9 {
            let t = Instant::now();
            // SAFETY: features checked above (x86) / baseline (aarch64).
            let r = unsafe { fma_loop(std::hint::black_box(iters)) };
            let dt = t.elapsed().as_secs_f64();
            std::hint::black_box(r);
            best = best.max(FLOP_PER_ITER * iters as f64 / dt / 1e9);
        }
        Some(best)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    None
}

/// Median seconds per call of `f`, from `samples` samples of enough calls to
/// fill ~`sample_ms` each (after a warm-up).
pub fn time_per_call(mut f: impl FnMut(), samples: usize, sample_ms: f64) -> f64 {
    f();
    // Warm up for 50 ms: the first milliseconds of a busy loop run at a
    // lower clock on this VM (measured: 55 % of peak vs 85–97 % after).
    let t = Instant::now();
    let mut calls = 0u64;
    while t.elapsed().as_secs_f64() < 0.05 || calls < 3 {
        f();
        calls += 1;
    }
    let per = t.elapsed().as_secs_f64() / calls as f64;
    let reps = ((sample_ms / 1e3) / per).ceil().max(1.0) as u64;
    let mut v: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
