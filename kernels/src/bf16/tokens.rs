//! Capability tokens of the bf16 paths: zero-sized proofs that the CPU (and,
//! for AMX, the OS) allows the instructions; only detection or `unsafe`
//! creates them.

use core::fmt;

/// Proof that the CPU supports AVX512F/BW/VL, AVX512-BF16, FMA and F16C
/// (x86-64 only).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Avx512Bf16 {
    _private: (),
}

#[cfg(target_arch = "x86_64")]
impl Avx512Bf16 {
    /// Detects the features at run time.
    #[cfg(feature = "std")]
    pub fn try_new() -> Option<Self> {
        crate::dispatch::Avx512::try_new()?;
        if std::is_x86_feature_detected!("avx512bf16") {
            Some(Self { _private: () })
        } else {
            None
        }
    }
    /// Creates the token without checking.
    ///
    /// # Safety
    /// The CPU running every kernel called with this token must support
    /// AVX512F, AVX512BW, AVX512VL, AVX512-BF16, FMA and F16C.
    pub unsafe fn new_unchecked() -> Self {
        Self { _private: () }
    }
}

/// Why the AMX path is not available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmxUnavailable {
    /// The CPU lacks AMX-TILE, AMX-BF16 or AVX512-BF16 (or is not x86-64).
    NoCpuSupport,
    /// The OS does not enable the tile state (XCR0 bits 17 and 18).
    NoOsSupport,
    /// Linux refused `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`
    /// with this errno (e.g. a seccomp filter or a signal stack too small).
    PermissionRefused(i64),
    /// Detection needs the `std` feature.
    NoDetection,
}

impl fmt::Display for AmxUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmxUnavailable::NoCpuSupport => write!(f, "the CPU has no AMX-BF16"),
            AmxUnavailable::NoOsSupport => write!(f, "the OS does not enable AMX tile state"),
            AmxUnavailable::PermissionRefused(e) => {
                write!(f, "Linux refused the AMX tile-data permission (errno {e})")
            }
            AmxUnavailable::NoDetection => write!(f, "AMX detection needs the std feature"),
        }
    }
}

/// Proof that the CPU has AMX-TILE and AMX-BF16 (and AVX512-BF16), the OS
/// enables the tile state, and this process holds the tile-data permission
/// (x86-64 only).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amx {
    _private: (),
}

#[cfg(target_arch = "x86_64")]
impl Amx {
    /// Detects AMX through CPUID and XCR0 and, on Linux, requests the
    /// tile-data permission for the process (once; later calls reuse the
    /// answer).
    #[cfg(feature = "std")]
    pub fn try_new() -> Result<Self, AmxUnavailable> {
        static STATE: std::sync::OnceLock<Result<(), AmxUnavailable>> = std::sync::OnceLock::new();
        (*STATE.get_or_init(detect_amx)).map(|()| Self { _private: () })
    }
    /// Without `std` there is no detection.
    #[cfg(not(feature = "std"))]
    pub fn try_new() -> Result<Self, AmxUnavailable> {
        Err(AmxUnavailable::NoDetection)
    }
    /// Creates the token without checking.
    ///
    /// # Safety
    /// The CPU must support AMX-TILE, AMX-BF16, AVX512F/BW/VL, AVX512-BF16,
    /// FMA and F16C, and the OS must let this thread use the tile data
    /// (on Linux: the process has been granted `XFEATURE_XTILEDATA`).
    pub unsafe fn new_unchecked() -> Self {
        Self { _private: () }
    }

    /// Runs `iters` rounds of four independent `tdpbf16ps` (16,384 FLOP
    /// each) on register-resident tiles: the AMX issue rate, for peak
    /// probes. Returns nothing; the time is the measurement.
    pub fn probe_tdpbf16ps(self, iters: u64) {
        // SAFETY: the token proves AMX-BF16 and the tile-data permission.
        unsafe { super::amx::probe(iters) }
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn detect_amx() -> Result<(), AmxUnavailable> {
    use core::arch::x86_64::__cpuid_count;
    if Avx512Bf16::try_new().is_none() {
        return Err(AmxUnavailable::NoCpuSupport);
    }
    // CPUID.(EAX=7, ECX=0):EDX bit 22 = AMX-BF16, bit 24 = AMX-TILE.
    #[allow(unused_unsafe)]
    // SAFETY: CPUID leaf 7 exists on every CPU with AVX-512 (checked above).
    let leaf7 = unsafe { __cpuid_count(7, 0) };
    if leaf7.edx & (1 << 22) == 0 || leaf7.edx & (1 << 24) == 0 {
        return Err(AmxUnavailable::NoCpuSupport);
    }
    // XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA): the OS manages tile state.
    // OSXSAVE (CPUID.1:ECX bit 27) is implied by the AVX-512 detection above.
    let (lo, _hi): (u32, u32);
    // SAFETY: XGETBV with ECX = 0 is valid when OSXSAVE is set (AVX-512
    // detection requires it); it only reads XCR0.
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") _hi,
            options(nomem, nostack, preserves_flags));
    }
    if lo & (0b11 << 17) != 0b11 << 17 {
        return Err(AmxUnavailable::NoOsSupport);
    }
    request_permission()
}

/// Linux: `arch_prctl(ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18)`.
#[cfg(all(target_arch = "x86_64", feature = "std", target_os = "linux"))]
fn request_permission() -> Result<(), AmxUnavailable> {
    const SYS_ARCH_PRCTL: i64 = 158;
    let ret: i64;
    // SAFETY: the arch_prctl system call with these arguments only changes
    // the process's permitted xsave features; it reads and writes no user
    // memory. The kernel clobbers rcx and r11.
    unsafe {
        core::arch::asm!("syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") 0x1023u64, in("rsi") 18u64,
            lateout("rcx") _, lateout("r11") _,
            options(nostack));
    }
    if ret == 0 {
        Ok(())
    } else {
        Err(AmxUnavailable::PermissionRefused(-ret))
    }
}

/// Other systems enable the tile state without a request (XCR0 says so).
#[cfg(all(target_arch = "x86_64", feature = "std", not(target_os = "linux")))]
fn request_permission() -> Result<(), AmxUnavailable> {
    Ok(())
}
