//! Kernel throughput measurements shared by `last bench kernels` and the
//! criterion benches: dense fp32 / f16-weight on the standard scenario's
//! shapes and a rows × dims grid, perturbed dense against plain dense, and
//! (with the `peers` feature) the `gemm` and `matrixmultiply` crates on the
//! same shapes.

use crate::bench::cpu;
use crate::bench::peak::{peak_for, time_per_call, Probe};
use last_kernels::bf16::{self, Bf16Backend};
use last_kernels::perturb::{perturbed_scratch_len, LowRank};
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::{pack, Activation, Backend, MatMut, MatRef, Weights};
use serde::Serialize;

/// One row of `last bench kernels`: a measured kernel on one shape
/// (`row = "kernel"`), or one of the peak probes themselves (`row = "probe"`,
/// see [`Probe`]).
#[derive(Debug, Clone, Serialize)]
pub struct KernelRecord {
    /// `kernel` or `probe`.
    pub row: &'static str,
    /// Kernel name (`dense_f32`, `dense_f16`, `dense_bf16`,
    /// `perturbed_gaussian`, …) or
    /// probe name ([`Probe::name`]: `probe_fma_ymm`, `probe_fma_zmm`,
    /// `probe_bf16_dpbf16ps`, `probe_bf16_amx`, `probe_fma_neon`).
    pub kernel: String,
    /// Instruction-set path the kernels dispatch (`scalar`, `avx2`,
    /// `avx512`, `neon`, `emu16`; `avx512bf16` or `amx` on `dense_bf16`
    /// rows), or the probe's own ISA ([`Probe::isa`]) on probe rows.
    pub isa: String,
    /// Rows (batch); 0 on probe rows.
    pub m: usize,
    /// Output features; 0 on probe rows.
    pub n: usize,
    /// Input features; 0 on probe rows.
    pub k: usize,
    /// Median nanoseconds per call; on probe rows, nanoseconds per probed
    /// vector instruction (reciprocal throughput).
    pub ns_per_call: f64,
    /// `2·m·n·k / time` (matrix FLOPs only; noise generation is overhead);
    /// the probe's rate on probe rows.
    pub gflops: f64,
    /// The fp32 FMA probe of the dispatched path ([`Probe::for_path`]; on
    /// `dense_bf16` rows the bf16 path's own probe, [`Probe::for_bf16`]),
    /// measured beside this row; NaN (JSON `null`) on the scalar path.
    pub peak_gflops: f64,
    /// Which probe `peak_gflops` is (`probe_fma_ymm` for `avx2`), if any.
    pub peak_probe: Option<&'static str>,
    /// `gflops / peak_gflops`: how well the kernel uses its own path.
    pub fraction_of_peak: f64,
    /// The machine's widest fp32 FMA probe ([`Probe::widest_fp32`]: zmm
    /// where AVX-512F exists), measured beside this row.
    pub machine_peak_gflops: f64,
    /// Which probe `machine_peak_gflops` is, if any.
    pub machine_peak_probe: Option<&'static str>,
    /// `gflops / machine_peak_gflops`: how far the kernel is from the
    /// machine's fp32 limit.
    pub fraction_of_machine_peak: f64,
    /// Best peer crate on the same shape (`max` of the two below), if measured.
    pub peer_gflops: Option<f64>,
    /// `gemm` crate, single-threaded, same shape.
    pub gemm_gflops: Option<f64>,
    /// `matrixmultiply` crate, same shape.
    pub matrixmultiply_gflops: Option<f64>,
    /// Time relative to plain `dense_f32` on the same shape (perturbed and
    /// bf16 kernels).
    pub vs_plain: Option<f64>,
    /// CPU model ([`cpu::cpu_model`]).
    pub cpu_model: String,
    /// Detected ISA features ([`cpu::isa_set`]).
    pub isa_set: Vec<&'static str>,
}

/// Which shapes to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// Standard-scenario layers, the rows × dims grid, 10×16×16, perturbed kernels.
    Full,
    /// The standard-scenario layers and the perturbed kernels only.
    Quick,
}

/// The dense shapes of the standard scenario (docs/DESIGN.md §5): (m, n, k, label).
pub const SCENARIO_SHAPES: [(usize, usize, usize, &str); 9] = [
    (50, 128, 160, "gen.W1"),
    (50, 128, 128, "gen.W2"),
    (50, 128, 128, "gen.A"),
    (1, 128, 160, "gen.W0"),
    (1, 128, 128, "gen.B"),
    (1, 128, 256, "gen.Ws"),
    (160, 128, 176, "eval.L1"),
    (160, 64, 128, "eval.L2"),
    (160, 1, 64, "eval.L3"),
];

/// The rows × dims grid (square layers `dim × dim`) and 10×16×16.
pub fn grid() -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    for m in [10, 16, 50, 160, 200] {
        for d in [64, 128, 256] {
            v.push((m, d, d));
        }
    }
    v.push((10, 16, 16));
    v
}

struct Shape {
    m: usize,
    n: usize,
    k: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    y: Vec<f32>,
}

impl Shape {
    fn new(m: usize, n: usize, k: usize) -> Self {
        let f = |i: usize, s: u64| {
            let h = last_kernels::rng::splitmix64(i as u64 ^ s);
            (h >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        Shape {
            m,
            n,
            k,
            x: (0..m * k).map(|i| f(i, 1)).collect(),
            w: (0..n * k).map(|i| f(i, 2)).collect(),
            b: (0..n).map(|i| f(i, 3)).collect(),
            y: vec![0.0; m * n],
        }
    }
    fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k) as f64
    }
}

/// The two peaks rows are compared with, measured together beside each
/// shape, and the CPU they were measured on.
struct Peaks {
    path: Option<Probe>,
    path_gflops: f64,
    machine: Option<Probe>,
    machine_gflops: f64,
    cpu_model: String,
    isa_set: Vec<&'static str>,
}

impl Peaks {
    fn new(be: Backend) -> Self {
        Peaks {
            path: Probe::for_path(be.isa()),
            path_gflops: f64::NAN,
            machine: Probe::widest_fp32(),
            machine_gflops: f64::NAN,
            cpu_model: cpu::cpu_model(),
            isa_set: cpu::isa_set(),
        }
    }

    /// Re-measures both probes (once when they are the same probe).
    fn measure(&mut self) {
        let rate = |p: Option<Probe>| p.and_then(peak_for).unwrap_or(f64::NAN);
        self.path_gflops = rate(self.path);
        self.machine_gflops = if self.machine == self.path {
            self.path_gflops
        } else {
            rate(self.machine)
        };
    }

    /// A row of `gflops` against both peaks; shape and peers left empty.
    fn row(&self, row: &'static str, kernel: &str, isa: &str, gflops: f64) -> KernelRecord {
        KernelRecord {
            row,
            kernel: kernel.into(),
            isa: isa.into(),
            m: 0,
            n: 0,
            k: 0,
            ns_per_call: f64::NAN,
            gflops,
            peak_gflops: self.path_gflops,
            peak_probe: self.path.map(Probe::name),
            fraction_of_peak: gflops / self.path_gflops,
            machine_peak_gflops: self.machine_gflops,
            machine_peak_probe: self.machine.map(Probe::name),
            fraction_of_machine_peak: gflops / self.machine_gflops,
            peer_gflops: None,
            gemm_gflops: None,
            matrixmultiply_gflops: None,
            vs_plain: None,
            cpu_model: self.cpu_model.clone(),
            isa_set: self.isa_set.clone(),
        }
    }
}

fn record(
    kernel: &str,
    be: Backend,
    s: &Shape,
    secs: f64,
    peaks: &Peaks,
    peers: (Option<f64>, Option<f64>),
) -> KernelRecord {
    let peer = match peers {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    KernelRecord {
        m: s.m,
        n: s.n,
        k: s.k,
        ns_per_call: secs * 1e9,
        peer_gflops: peer,
        gemm_gflops: peers.0,
        matrixmultiply_gflops: peers.1,
        ..peaks.row("kernel", kernel, be.isa().name(), s.flops() / secs / 1e9)
    }
}

/// A `dense_bf16` row: against its own bf16 probe, measured beside it.
fn bf16_record(
    bb: Bf16Backend,
    probe: Probe,
    s: &Shape,
    secs: f64,
    f32_secs: f64,
    peaks: &Peaks,
) -> KernelRecord {
    let peak = peak_for(probe).unwrap_or(f64::NAN);
    let gflops = s.flops() / secs / 1e9;
    KernelRecord {
        m: s.m,
        n: s.n,
        k: s.k,
        ns_per_call: secs * 1e9,
        peak_gflops: peak,
        peak_probe: Some(probe.name()),
        fraction_of_peak: gflops / peak,
        vs_plain: Some(secs / f32_secs),
        ..peaks.row("kernel", "dense_bf16", bb.name(), gflops)
    }
}

/// Seconds per plain dense call (bias + ReLU epilogue), f32 or f16 weights.
pub fn time_dense(be: Backend, m: usize, n: usize, k: usize, f16: bool, samples: usize) -> f64 {
    let mut s = Shape::new(m, n, k);
    let x = MatRef::new(&s.x, m, k).expect("shape");
    let (mut b32, mut b16);
    let w: Weights<'_> = if f16 {
        b16 = vec![pack::Block16::default(); pack::blocks_f16(n, k)];
        pack::pack_f16(&s.w, n, k, pack::as_u16_mut(&mut b16))
            .expect("pack")
            .into()
    } else {
        b32 = vec![pack::Block32::default(); pack::blocks_f32(n, k)];
        pack::pack_f32(&s.w, n, k, pack::as_f32_mut(&mut b32))
            .expect("pack")
            .into()
    };
    time_per_call(
        || {
            be.dense(
                x,
                w,
                Some(&s.b),
                Activation::Relu,
                MatMut::new(&mut s.y, m, n).expect("y"),
            )
            .expect("dense")
        },
        samples,
        10.0,
    )
}

/// Seconds per bf16 dense call (bias + ReLU epilogue) on `bb`, including the
/// rounding of the activations to bf16 (part of every bf16 product).
pub fn time_dense_bf16(bb: Bf16Backend, m: usize, n: usize, k: usize, samples: usize) -> f64 {
    let mut s = Shape::new(m, n, k);
    let x = MatRef::new(&s.x, m, k).expect("shape");
    let mut wb = vec![pack::Block16::default(); bf16::packed_len_bf16(n, k).div_ceil(32)];
    let w = bf16::pack_bf16(&s.w, n, k, pack::as_u16_mut(&mut wb)).expect("pack");
    let mut xb = vec![pack::Block16::default(); bf16::acts_len(m, k).div_ceil(32)];
    time_per_call(
        || {
            let xa = bb.round(x, pack::as_u16_mut(&mut xb)).expect("round");
            bb.dense(
                xa,
                w,
                Some(&s.b),
                Activation::Relu,
                MatMut::new(&mut s.y, m, n).expect("y"),
            )
            .expect("dense_bf16")
        },
        samples,
        10.0,
    )
}

/// Seconds per call of the `gemm` crate (single thread) on `Y = X·Wᵀ`.
#[cfg(feature = "peers")]
pub fn time_gemm(m: usize, n: usize, k: usize, samples: usize) -> f64 {
    let mut s = Shape::new(m, n, k);
    time_per_call(
        || unsafe {
            // SAFETY: buffers hold m×k, n×k and m×n elements with these strides.
            gemm::gemm(
                m,
                n,
                k,
                s.y.as_mut_ptr(),
                1,
                n as isize,
                false,
                s.x.as_ptr(),
                1,
                k as isize,
                s.w.as_ptr(),
                k as isize,
                1,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        },
        samples,
        10.0,
    )
}

/// Seconds per call of `matrixmultiply::sgemm` on `Y = X·Wᵀ`.
#[cfg(feature = "peers")]
pub fn time_matrixmultiply(m: usize, n: usize, k: usize, samples: usize) -> f64 {
    let mut s = Shape::new(m, n, k);
    time_per_call(
        || unsafe {
            // SAFETY: as in `time_gemm`.
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                s.x.as_ptr(),
                k as isize,
                1,
                s.w.as_ptr(),
                1,
                k as isize,
                0.0,
                s.y.as_mut_ptr(),
                n as isize,
                1,
            )
        },
        samples,
        10.0,
    )
}

/// The perturbed-kernel variants measured against plain dense.
pub const PERTURBED: [&str; 5] = [
    "perturbed_gaussian",
    "perturbed_rademacher",
    "perturbed_antithetic",
    "low_rank_r1",
    "low_rank_r4",
];

/// Seconds per call of one perturbed variant (bias + ReLU, f32 weights).
pub fn time_perturbed(
    be: Backend,
    kind: &str,
    m: usize,
    n: usize,
    k: usize,
    samples: usize,
) -> f64 {
    let mut s = Shape::new(m, n, k);
    let mut blocks = vec![pack::Block32::default(); pack::blocks_f32(n, k)];
    let p = pack::pack_f32(&s.w, n, k, pack::as_f32_mut(&mut blocks)).expect("pack");
    let x = MatRef::new(&s.x, m, k).expect("x");
    let mut scratch = vec![0f32; perturbed_scratch_len(k)];
    let noise = |kind, antithetic| Noise {
        seed: 42,
        candidate: 3,
        kind,
        antithetic,
    };
    match kind {
        "perturbed_gaussian" | "perturbed_rademacher" | "perturbed_antithetic" => {
            let nz = match kind {
                "perturbed_gaussian" => noise(NoiseKind::Gaussian, false),
                "perturbed_rademacher" => noise(NoiseKind::Rademacher, false),
                _ => noise(NoiseKind::Gaussian, true),
            };
            time_per_call(
                || {
                    be.dense_perturbed(
                        x,
                        p,
                        &nz,
                        0.01,
                        Some(&s.b),
                        Activation::Relu,
                        MatMut::new(&mut s.y, m, n).expect("y"),
                        &mut scratch,
                    )
                    .expect("perturbed")
                },
                samples,
                10.0,
            )
        }
        _ => {
            let r = if kind == "low_rank_r4" { 4 } else { 1 };
            let nz = noise(NoiseKind::Gaussian, false);
            let mut u = vec![0f32; n * r];
            let mut vt = vec![0f32; r * k];
            nz.fill(0, &mut u);
            nz.fill((n * r) as u32, &mut vt);
            let mut ubuf = vec![0f32; pack::packed_len(n, r)];
            let up = pack::pack_f32(&u, n, r, &mut ubuf).expect("pack u");
            let lr = LowRank {
                u: up,
                vt: MatRef::new(&vt, r, k).expect("vt"),
                sigma: 0.01,
            };
            let mut t = vec![0f32; m * r];
            time_per_call(
                || {
                    be.dense_low_rank(
                        x,
                        p,
                        lr,
                        Some(&s.b),
                        Activation::Relu,
                        MatMut::new(&mut s.y, m, n).expect("y"),
                        &mut t,
                    )
                    .expect("low rank")
                },
                samples,
                10.0,
            )
        }
    }
}

/// Runs the suite on `be`, calling `emit` for each record as it is
/// measured: first one probe row per [`Probe`] this CPU runs, then the kernels.
pub fn run_kernels(be: Backend, suite: Suite, peers: bool, mut emit: impl FnMut(&KernelRecord)) {
    // The probes are re-measured beside every shape: this VM's clock drifts
    // by ±20 % over seconds, so a fraction against a probe taken minutes
    // earlier would measure the drift, not the kernel.
    let mut peaks = Peaks::new(be);
    peaks.measure();
    for p in Probe::ALL {
        if let Some(g) = peak_for(p) {
            let mut r = peaks.row("probe", p.name(), p.isa(), g);
            r.ns_per_call = p.flop_per_instruction() / g;
            emit(&r);
        }
    }
    let samples = 11;
    let mut shapes: Vec<(usize, usize, usize)> = SCENARIO_SHAPES
        .iter()
        .map(|&(m, n, k, _)| (m, n, k))
        .collect();
    if suite == Suite::Full {
        shapes.extend(grid());
    }
    let mut seen = std::collections::HashSet::new();
    shapes.retain(|s| seen.insert(*s));
    for &(m, n, k) in &shapes {
        let s = Shape::new(m, n, k);
        #[cfg(feature = "peers")]
        let pr = if peers {
            (
                Some(s.flops() / time_gemm(m, n, k, samples) / 1e9),
                Some(s.flops() / time_matrixmultiply(m, n, k, samples) / 1e9),
            )
        } else {
            (None, None)
        };
        #[cfg(not(feature = "peers"))]
        let pr = {
            let _ = peers;
            (None, None)
        };
        peaks.measure();
        let t32 = time_dense(be, m, n, k, false, samples);
        emit(&record("dense_f32", be, &s, t32, &peaks, pr));
        let t16 = time_dense(be, m, n, k, true, samples);
        emit(&record("dense_f16", be, &s, t16, &peaks, pr));
        for bb in Bf16Backend::available() {
            if let Some(probe) = Probe::for_bf16(bb) {
                let t = time_dense_bf16(bb, m, n, k, samples);
                emit(&bf16_record(bb, probe, &s, t, t32, &peaks));
            }
        }
    }
    for &(m, n, k) in &[(50usize, 128usize, 128usize), (160, 128, 128)] {
        let s = Shape::new(m, n, k);
        peaks.measure();
        let plain = time_dense(be, m, n, k, false, samples);
        for kind in PERTURBED {
            let t = time_perturbed(be, kind, m, n, k, samples);
            let mut r = record(kind, be, &s, t, &peaks, (None, None));
            r.vs_plain = Some(t / plain);
            emit(&r);
        }
    }
}
