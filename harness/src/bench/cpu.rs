//! The CPU a benchmark ran on, recorded in every benchmark JSON object:
//! its model string ([`cpu_model`]) and the SIMD features that matter to
//! the kernels and probes ([`isa_set`]).

/// The CPU's model string: the first `model name` of `/proc/cpuinfo` on
/// Linux, or `unknown` (other systems, or aarch64 kernels that print none).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim() == "model name")
                .map(|(_, v)| v.trim().to_string())
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The detected features that matter here, in a fixed order, named as
/// `is_x86_feature_detected!` spells them: on x86-64 a subset of `sse4.2`,
/// `avx`, `avx2`, `fma`, `f16c`, `avx512f`, `avx512bw`, `avx512vl`,
/// `avx512bf16`, `avx512fp16`, `amx-tile`, `amx-bf16`; on aarch64 of
/// `neon`, `fp16`; empty elsewhere.
///
/// AMX detection in `std` is still unstable (`x86_amx_intrinsics`), so
/// `amx-tile` / `amx-bf16` come from the `flags` of Linux's `/proc/cpuinfo`
/// (`amx_tile`, `amx_bf16`), which the kernel clears when it has not
/// enabled the tile state; they are never reported on other systems.
pub fn isa_set() -> Vec<&'static str> {
    #[allow(unused_mut)] // nothing is pushed on other architectures
    let mut set = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($f:tt),*) => {$(
                if is_x86_feature_detected!($f) {
                    set.push($f);
                }
            )*};
        }
        detect!(
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512bf16",
            "avx512fp16"
        );
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flags: Vec<&str> = cpuinfo
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == "flags")
            .map_or(Vec::new(), |(_, v)| v.split_whitespace().collect());
        for (flag, name) in [("amx_tile", "amx-tile"), ("amx_bf16", "amx-bf16")] {
            if flags.contains(&flag) {
                set.push(name);
            }
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            set.push("neon");
        }
        if std::arch::is_aarch64_feature_detected!("fp16") {
            set.push("fp16");
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_is_named() {
        let m = cpu_model();
        assert!(!m.is_empty());
        assert_eq!(m, m.trim());
    }

    #[test]
    fn isa_set_matches_detection() {
        let set = isa_set();
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(set.contains(&"avx2"), is_x86_feature_detected!("avx2"));
            assert_eq!(
                set.contains(&"avx512f"),
                is_x86_feature_detected!("avx512f")
            );
        }
        let mut dedup = set.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), set.len(), "{set:?}");
    }
}
