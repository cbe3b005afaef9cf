//! Capability tokens and the [`Backend`] that picks an instruction set once.
//!
//! A token is a zero-sized proof that the CPU has a feature set: only
//! detection (with the `std` feature), a compile-time check, or an `unsafe`
//! constructor can make one. A [`Backend`] holds one token; models and plans
//! store it and every kernel call dispatches on it with one predictable
//! branch, so the decision is made once, not per call.
//!
//! | token | ISA | used for |
//! |---|---|---|
//! | [`Scalar`] | any | the reference path every SIMD path is tested against |
//! | `Avx2Fma` | x86-64 AVX2 + FMA + F16C | 8-lane `vfmadd231ps`, `vcvtph2ps` for f16 weights |
//! | `Avx512` | x86-64 AVX-512 F/BW/VL + FMA + F16C | 16-lane `vfmadd231ps zmm`, `__mmask16` tails |
//! | `Neon` | aarch64 Advanced SIMD | `fmla` on pairs of 4-lane registers, `fcvtl` for f16 weights |
//!
//! [`Backend::Emu16`] runs the 16-lane geometry of the AVX-512 path on two
//! 8-lane vectors (AVX2 or NEON), so a machine without AVX-512 still tests
//! it; detection never picks it.

use core::fmt;

/// The portable scalar reference path. Always available.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scalar;

/// Proof that the CPU supports AVX2, FMA and F16C (x86-64 only).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Avx2Fma {
    _private: (),
}

#[cfg(target_arch = "x86_64")]
impl Avx2Fma {
    /// Detects AVX2, FMA and F16C at run time.
    #[cfg(feature = "std")]
    pub fn try_new() -> Option<Self> {
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
        {
            Some(Self { _private: () })
        } else {
            None
        }
    }
    /// A token if the crate was compiled with AVX2, FMA and F16C enabled
    /// (e.g. `-C target-cpu=haswell`); `None` otherwise. Works without `std`.
    pub fn compile_time() -> Option<Self> {
        if cfg!(all(
            target_feature = "avx2",
            target_feature = "fma",
            target_feature = "f16c"
        )) {
            Some(Self { _private: () })
        } else {
            None
        }
    }
    /// Creates the token without checking.
    ///
    /// # Safety
    /// The CPU running every kernel called with this token must support
    /// AVX2, FMA and F16C; otherwise the program executes illegal instructions.
    pub unsafe fn new_unchecked() -> Self {
        Self { _private: () }
    }
}

/// Proof that the CPU supports AVX512F, AVX512BW, AVX512VL, FMA and F16C
/// (x86-64 only).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Avx512 {
    _private: (),
}

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    /// Detects AVX512F, AVX512BW, AVX512VL, FMA and F16C at run time.
    #[cfg(feature = "std")]
    pub fn try_new() -> Option<Self> {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
        {
            Some(Self { _private: () })
        } else {
            None
        }
    }
    /// A token if the crate was compiled with those features enabled
    /// (e.g. `-C target-cpu=sapphirerapids`); `None` otherwise. Works without `std`.
    pub fn compile_time() -> Option<Self> {
        if cfg!(all(
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vl",
            target_feature = "fma",
            target_feature = "f16c"
        )) {
            Some(Self { _private: () })
        } else {
            None
        }
    }
    /// Creates the token without checking.
    ///
    /// # Safety
    /// The CPU running every kernel called with this token must support
    /// AVX512F, AVX512BW, AVX512VL, FMA and F16C.
    pub unsafe fn new_unchecked() -> Self {
        Self { _private: () }
    }
}

/// Proof that the CPU supports Advanced SIMD (NEON) (aarch64 only).
#[cfg(target_arch = "aarch64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neon {
    _private: (),
}

#[cfg(target_arch = "aarch64")]
impl Neon {
    /// Detects NEON at run time.
    #[cfg(feature = "std")]
    pub fn try_new() -> Option<Self> {
        if std::arch::is_aarch64_feature_detected!("neon") {
            Some(Self { _private: () })
        } else {
            None
        }
    }
    /// A token if NEON is enabled at compile time (the default for
    /// `aarch64-unknown-linux-gnu`).
    pub fn compile_time() -> Option<Self> {
        if cfg!(target_feature = "neon") {
            Some(Self { _private: () })
        } else {
            None
        }
    }
    /// Creates the token without checking.
    ///
    /// # Safety
    /// The CPU running every kernel called with this token must support NEON.
    pub unsafe fn new_unchecked() -> Self {
        Self { _private: () }
    }
}

/// The name of an instruction-set path, for reports and configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Scalar reference.
    Scalar,
    /// x86-64 AVX2 + FMA + F16C.
    Avx2Fma,
    /// x86-64 AVX-512 F/BW/VL + FMA + F16C.
    Avx512,
    /// aarch64 NEON.
    Neon,
    /// The 16-lane geometry on two 8-lane vectors (AVX2 or NEON): a test path.
    Emu16,
}

impl Isa {
    /// Every path, in the order [`Backend::available`] lists them.
    pub const ALL: [Isa; 5] = [
        Isa::Scalar,
        Isa::Avx2Fma,
        Isa::Avx512,
        Isa::Neon,
        Isa::Emu16,
    ];

    /// Short lower-case name: `scalar`, `avx2`, `avx512`, `neon`, `emu16`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
            Isa::Emu16 => "emu16",
        }
    }
    /// Parses [`Isa::name`]'s output.
    pub fn from_name(s: &str) -> Option<Isa> {
        match s {
            "scalar" => Some(Isa::Scalar),
            "avx2" | "avx2fma" => Some(Isa::Avx2Fma),
            "avx512" => Some(Isa::Avx512),
            "neon" => Some(Isa::Neon),
            "emu16" => Some(Isa::Emu16),
            _ => None,
        }
    }
    /// f32 lanes per vector on this path (1 for scalar).
    pub fn lanes(self) -> usize {
        match self {
            Isa::Scalar => 1,
            Isa::Avx2Fma | Isa::Neon => 8,
            Isa::Avx512 | Isa::Emu16 => 16,
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An instruction-set path chosen once and passed to (or stored beside)
/// every kernel call. Holds the capability token, so a `Backend` that names
/// a SIMD path can only exist on a CPU that has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Scalar reference path.
    Scalar(Scalar),
    /// AVX2 + FMA + F16C path.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma(Avx2Fma),
    /// AVX-512 F/BW/VL + FMA + F16C path.
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
    /// NEON path.
    #[cfg(target_arch = "aarch64")]
    Neon(Neon),
    /// The AVX-512 geometry (16 lanes, 12-row tile) on pairs of AVX2 vectors.
    #[cfg(target_arch = "x86_64")]
    Emu16(Avx2Fma),
    /// The AVX-512 geometry (16 lanes, 12-row tile) on pairs of NEON vectors.
    #[cfg(target_arch = "aarch64")]
    Emu16(Neon),
}

impl Backend {
    /// The scalar reference path.
    pub fn scalar() -> Self {
        Backend::Scalar(Scalar)
    }

    /// The fastest path this CPU supports, detected at run time.
    #[cfg(feature = "std")]
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = Avx512::try_new() {
            return Backend::Avx512(t);
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = Avx2Fma::try_new() {
            return Backend::Avx2Fma(t);
        }
        #[cfg(target_arch = "aarch64")]
        if let Some(t) = Neon::try_new() {
            return Backend::Neon(t);
        }
        Backend::scalar()
    }

    /// The fastest path enabled at compile time (no detection; works in `no_std`).
    pub fn compile_time() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = Avx512::compile_time() {
            return Backend::Avx512(t);
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = Avx2Fma::compile_time() {
            return Backend::Avx2Fma(t);
        }
        #[cfg(target_arch = "aarch64")]
        if let Some(t) = Neon::compile_time() {
            return Backend::Neon(t);
        }
        Backend::scalar()
    }

    /// The backend for `isa` if this CPU supports it (run-time detection).
    #[cfg(feature = "std")]
    pub fn for_isa(isa: Isa) -> Option<Self> {
        match isa {
            Isa::Scalar => Some(Backend::scalar()),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => Avx2Fma::try_new().map(Backend::Avx2Fma),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Avx512::try_new().map(Backend::Avx512),
            #[cfg(target_arch = "x86_64")]
            Isa::Emu16 => Avx2Fma::try_new().map(Backend::Emu16),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => Neon::try_new().map(Backend::Neon),
            #[cfg(target_arch = "aarch64")]
            Isa::Emu16 => Neon::try_new().map(Backend::Emu16),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Every path this CPU supports, scalar first (including [`Isa::Emu16`]).
    #[cfg(feature = "std")]
    pub fn available() -> std::vec::Vec<Self> {
        Isa::ALL.into_iter().filter_map(Self::for_isa).collect()
    }

    /// Which path this backend runs.
    pub fn isa(self) -> Isa {
        match self {
            Backend::Scalar(_) => Isa::Scalar,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2Fma(_) => Isa::Avx2Fma,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512(_) => Isa::Avx512,
            #[cfg(target_arch = "aarch64")]
            Backend::Neon(_) => Isa::Neon,
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Backend::Emu16(_) => Isa::Emu16,
        }
    }

    /// Runs a kernel on this backend: the scalar reference, or the shared
    /// generic body instantiated for the ISA inside a `#[target_feature]` region.
    #[inline]
    pub(crate) fn run<K: crate::simd::Kernel>(self, k: K) -> K::Output {
        match self {
            Backend::Scalar(_) => k.scalar(),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves AVX2, FMA and F16C are available.
            Backend::Avx2Fma(_) => unsafe { crate::simd::x86::run(k) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves AVX512F/BW/VL, FMA and F16C are available.
            Backend::Avx512(_) => unsafe { crate::simd::x86_512::run(k) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves AVX2, FMA and F16C are available.
            Backend::Emu16(_) => unsafe { crate::simd::x86::run_pair(k) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: the token proves NEON is available.
            Backend::Neon(_) => unsafe { crate::simd::neon::run(k) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: the token proves NEON is available.
            Backend::Emu16(_) => unsafe { crate::simd::neon::run_pair(k) },
        }
    }
}
