//! Dispatch: a default build (no RUSTFLAGS) runs the best path the CPU has,
//! and the test helpers really cover every available path.

use last_kernels::{Backend, Isa};

#[test]
fn detect_picks_the_best_available_path() {
    let isa = Backend::detect().isa();
    #[cfg(target_arch = "x86_64")]
    {
        let has = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c");
        assert_eq!(isa == Isa::Avx2Fma, has, "detected {isa}");
    }
    #[cfg(target_arch = "aarch64")]
    assert_eq!(isa, Isa::Neon);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    assert_eq!(isa, Isa::Scalar);
}

#[test]
fn test_backends_cover_scalar_and_simd() {
    let all = Backend::available();
    assert_eq!(all[0].isa(), Isa::Scalar);
    if std::env::var("LAST_TEST_ISA").is_err() {
        assert_eq!(last_tests::backends().len(), all.len());
    }
    // On the machines CI uses (x86-64 with AVX2, aarch64 under qemu) a SIMD
    // path must be among them, or the property tests would prove nothing.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    assert!(all.len() >= 2, "no SIMD path detected: {all:?}");
}

#[test]
fn isa_names_round_trip() {
    for isa in [Isa::Scalar, Isa::Avx2Fma, Isa::Neon] {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
    assert_eq!(Isa::from_name("avx512"), None);
}
