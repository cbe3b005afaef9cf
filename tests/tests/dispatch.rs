//! Dispatch: a default build (no RUSTFLAGS) runs the best path the CPU has,
//! and the test helpers really cover every available path.

use last_kernels::{Backend, Isa};

#[test]
fn detect_picks_the_best_available_path() {
    let isa = Backend::detect().isa();
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c");
        let avx512 = avx2
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl");
        let want = match (avx512, avx2) {
            (true, _) => Isa::Avx512,
            (false, true) => Isa::Avx2Fma,
            _ => Isa::Scalar,
        };
        assert_eq!(isa, want, "detected {isa}");
        if !avx512 {
            println!("AVX-512 absent: its path is covered by emu16 only");
        }
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
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
    assert_eq!(Isa::from_name("avx10"), None);
}

#[test]
fn the_16_lane_geometry_is_always_tested() {
    // Wherever an 8-lane SIMD path exists, its 16-lane emulation does too,
    // so the AVX-512 tile shapes and tails run on every CI machine.
    let all = Backend::available();
    let isas: Vec<Isa> = all.iter().map(|b| b.isa()).collect();
    if isas.contains(&Isa::Avx2Fma) || isas.contains(&Isa::Neon) {
        assert!(isas.contains(&Isa::Emu16), "{isas:?}");
    }
    for b in &all {
        assert!(matches!(b.isa().lanes(), 1 | 8 | 16));
    }
}
