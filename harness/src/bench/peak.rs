//! Peak probes: the single-core FLOP rate this machine reaches with nothing
//! but independent register-resident vector FMAs (or bf16 dot products), one
//! probe per instruction kind ([`Probe`]), measured in the same run as the
//! kernels they are compared with.
//!
//! Each probe keeps enough independent accumulators to cover its
//! instruction's latency × throughput, so it measures issue rate, not a
//! dependency chain. [`Probe::for_path`] names the probe of the path the
//! kernels dispatch; [`Probe::widest_fp32`] the machine's widest fp32 one.

use last_kernels::Isa;
use std::time::Instant;

/// One peak probe: an instruction kind on one register width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// x86-64 AVX2 + FMA: `vfmadd…ps` on ymm (8 fp32 lanes, 16 FLOP).
    FmaYmm,
    /// x86-64 AVX-512F: `vfmadd…ps` on zmm (16 fp32 lanes, 32 FLOP).
    FmaZmm,
    /// x86-64 AVX512-BF16: `vdpbf16ps` on zmm (32 bf16 products summed
    /// pairwise into 16 fp32 lanes: 32 multiplies + 32 adds = 64 FLOP).
    Bf16Zmm,
    /// x86-64 AMX-BF16: `tdpbf16ps` on tiles (16 × 16 outputs × 32 bf16
    /// products: 16,384 FLOP), four accumulator tiles in flight.
    AmxBf16,
    /// aarch64 NEON: `fmla` on q registers (4 fp32 lanes, 8 FLOP).
    FmaNeon,
}

impl Probe {
    /// Every probe, narrowest first.
    pub const ALL: [Probe; 5] = [
        Probe::FmaYmm,
        Probe::FmaZmm,
        Probe::Bf16Zmm,
        Probe::AmxBf16,
        Probe::FmaNeon,
    ];

    /// Row name in `last bench kernels`: `probe_fma_ymm`, `probe_fma_zmm`,
    /// `probe_bf16_dpbf16ps`, `probe_bf16_amx`, `probe_fma_neon`.
    pub fn name(self) -> &'static str {
        match self {
            Probe::FmaYmm => "probe_fma_ymm",
            Probe::FmaZmm => "probe_fma_zmm",
            Probe::Bf16Zmm => "probe_bf16_dpbf16ps",
            Probe::AmxBf16 => "probe_bf16_amx",
            Probe::FmaNeon => "probe_fma_neon",
        }
    }

    /// The instruction set the probe needs: `avx2`, `avx512f`, `avx512bf16`,
    /// `amx-bf16`, `neon`.
    pub fn isa(self) -> &'static str {
        match self {
            Probe::FmaYmm => "avx2",
            Probe::FmaZmm => "avx512f",
            Probe::Bf16Zmm => "avx512bf16",
            Probe::AmxBf16 => "amx-bf16",
            Probe::FmaNeon => "neon",
        }
    }

    /// FLOPs one probed instruction performs (an FMA counts 2 per lane).
    pub fn flop_per_instruction(self) -> f64 {
        match self {
            Probe::FmaYmm => 16.0,
            Probe::FmaZmm => 32.0,
            Probe::Bf16Zmm => 64.0,
            Probe::AmxBf16 => 16384.0,
            Probe::FmaNeon => 8.0,
        }
    }

    /// Whether this CPU can run the probe (run-time detection on x86-64,
    /// the target's baseline on aarch64; for AMX, also the OS's tile-data
    /// permission).
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Probe::FmaYmm => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Probe::FmaZmm => is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Probe::Bf16Zmm => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
            }
            #[cfg(target_arch = "x86_64")]
            Probe::AmxBf16 => last_kernels::bf16::Amx::try_new().is_ok(),
            #[cfg(target_arch = "aarch64")]
            Probe::FmaNeon => cfg!(target_feature = "neon"),
            _ => false,
        }
    }

    /// The fp32 FMA probe of the path `isa` dispatches to: zmm for
    /// `avx512`, ymm for `avx2`, q registers for `neon`, and the 8-lane
    /// registers `emu16` is built from; `None` for `scalar`, which issues no
    /// vector FMAs.
    pub fn for_path(isa: Isa) -> Option<Probe> {
        match isa {
            Isa::Scalar => None,
            Isa::Avx512 => Some(Probe::FmaZmm),
            Isa::Avx2Fma => Some(Probe::FmaYmm),
            Isa::Neon => Some(Probe::FmaNeon),
            Isa::Emu16 if cfg!(target_arch = "aarch64") => Some(Probe::FmaNeon),
            Isa::Emu16 => Some(Probe::FmaYmm),
        }
        .filter(|p| p.available())
    }

    /// The probe of a bf16 path: `vdpbf16ps` for `avx512bf16`, tiles for
    /// `amx`; `None` for the scalar reference.
    pub fn for_bf16(b: last_kernels::bf16::Bf16Backend) -> Option<Probe> {
        match b.name() {
            "avx512bf16" => Some(Probe::Bf16Zmm),
            "amx" => Some(Probe::AmxBf16),
            _ => None,
        }
        .filter(|p| p.available())
    }

    /// The widest fp32 FMA probe this CPU runs (zmm where AVX-512F exists):
    /// the machine's fp32 limit, whatever the kernels dispatch.
    pub fn widest_fp32() -> Option<Probe> {
        [Probe::FmaZmm, Probe::FmaYmm, Probe::FmaNeon]
            .into_iter()
            .find(|p| p.available())
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Independent accumulators of [`fma_ymm`]: 2 FMA/cycle × 4-cycle latency needs ≥ 8.
    pub const YMM_ACC: usize = 12;
    /// Independent accumulators of the zmm probes: 2 FMA/cycle × 4–5-cycle
    /// latency needs ≥ 10; 16 + 2 operands fit the 32 zmm registers.
    pub const ZMM_ACC: usize = 16;

    /// `iters` rounds of [`YMM_ACC`] independent ymm FMAs.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_ymm(iters: u64) -> f32 {
        let mut acc = [_mm256_set1_ps(0.0); YMM_ACC];
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

    /// `iters` rounds of [`ZMM_ACC`] independent zmm FMAs.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma_zmm(iters: u64) -> f32 {
        let mut acc = [_mm512_setzero_ps(); ZMM_ACC];
        let a = _mm512_set1_ps(0.999_999);
        let b = _mm512_set1_ps(1e-7);
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }

    /// `iters` rounds of [`ZMM_ACC`] independent `vdpbf16ps` (stable since
    /// Rust 1.89, the workspace's MSRV).
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX512-BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn dpbf16_zmm(iters: u64) -> f32 {
        let mut acc = [_mm512_setzero_ps(); ZMM_ACC];
        let a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3), _mm512_set1_ps(-1e-3));
        let b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4), _mm512_set1_ps(2e-4));
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_dpbf16_ps(*v, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }
}

/// `iters` rounds of 24 independent q-register FMAs (= 12 × 8 lanes).
///
/// # Safety
/// The CPU must support NEON (the aarch64 baseline).
#[cfg(target_arch = "aarch64")]
unsafe fn fma_neon(iters: u64) -> f32 {
    use std::arch::aarch64::*;
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

/// Best GFLOP/s of 9 runs of `run(iters)`, each performing `flop_per_iter · iters` FLOPs.
#[allow(dead_code)] // unused on targets without a probe
fn best_gflops(flop_per_iter: f64, iters: u64, run: impl Fn(u64) -> f32) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..9 {
        let t = Instant::now();
        let r = run(std::hint::black_box(iters));
        let dt = t.elapsed().as_secs_f64();
        std::hint::black_box(r);
        best = best.max(flop_per_iter * iters as f64 / dt / 1e9);
    }
    best
}

/// Measured single-core rate of probe `p` in GFLOP/s (best of 9 runs of a
/// few milliseconds each), or `None` when the CPU lacks its features.
pub fn peak_for(p: Probe) -> Option<f64> {
    if !p.available() {
        return None;
    }
    let fpi = p.flop_per_instruction();
    match p {
        #[cfg(target_arch = "x86_64")]
        Probe::FmaYmm => Some(best_gflops(fpi * x86::YMM_ACC as f64, 200_000, |n| {
            // SAFETY: `available` checked AVX2 and FMA.
            unsafe { x86::fma_ymm(n) }
        })),
        #[cfg(target_arch = "x86_64")]
        Probe::FmaZmm => Some(best_gflops(fpi * x86::ZMM_ACC as f64, 150_000, |n| {
            // SAFETY: `available` checked AVX-512F.
            unsafe { x86::fma_zmm(n) }
        })),
        #[cfg(target_arch = "x86_64")]
        Probe::Bf16Zmm => Some(best_gflops(fpi * x86::ZMM_ACC as f64, 150_000, |n| {
            // SAFETY: `available` checked AVX-512F and AVX512-BF16.
            unsafe { x86::dpbf16_zmm(n) }
        })),
        #[cfg(target_arch = "x86_64")]
        Probe::AmxBf16 => {
            let amx = last_kernels::bf16::Amx::try_new().ok()?;
            Some(best_gflops(fpi * 4.0, 50_000, |n| {
                amx.probe_tdpbf16ps(n);
                0.0
            }))
        }
        #[cfg(target_arch = "aarch64")]
        Probe::FmaNeon => Some(best_gflops(fpi * 24.0, 200_000, |n| {
            // SAFETY: NEON is the aarch64 baseline (`available` checked it).
            unsafe { fma_neon(n) }
        })),
        _ => {
            let _ = fpi;
            None
        }
    }
}

/// Measured single-core fp32 peak of the FMA width `isa` dispatches to, in
/// GFLOP/s (zmm for `avx512`, ymm for `avx2`, NEON for `neon`; see
/// [`Probe::for_path`]); `None` for scalar or where the CPU lacks the probe.
pub fn peak_gflops(isa: Isa) -> Option<f64> {
    Probe::for_path(isa).and_then(peak_for)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_run_exactly_where_available() {
        for p in Probe::ALL {
            let g = peak_for(p);
            assert_eq!(g.is_some(), p.available(), "{p:?}");
            assert!(g.is_none_or(|g| g.is_finite() && g > 0.0), "{p:?}: {g:?}");
        }
        assert_eq!(Probe::for_path(Isa::Scalar), None);
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            assert_eq!(Probe::widest_fp32(), Some(Probe::FmaZmm));
        }
    }
}
