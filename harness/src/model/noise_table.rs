//! The shared noise table: Gaussian draws made once per model and read by
//! every request at per-candidate offsets (the trick of Salimans et al.,
//! "Evolution Strategies as a Scalable Alternative to RL", 2017).
//!
//! Full-rank noise from a counter hash costs two 32-bit integer hashes per
//! weight; reading a pre-drawn table costs one load, which at the standard
//! scenario's sizes is the difference between the noise being ~15 % of a
//! parallel request and being free. The values are the same Irwin–Hall(8)
//! draws as [`NoiseSpec::Gaussian`](crate::serve::NoiseSpec::Gaussian)
//! (bit-identical on every ISA), so only the sharing differs: candidate `c`
//! of a request reads the contiguous slice starting at [`NoiseTable::offset`],
//! in the packed panel order of the perturbed layer.
//!
//! Offsets are multiples of 8 on a 2¹⁶-float ring, spaced by an odd stride,
//! so the up to [`MAX_K`](crate::serve::MAX_K) candidates of one request
//! always get distinct slices.

use last_kernels::rng::{splitmix64, Noise, NoiseKind};

/// Number of distinct offsets × 8 (the span offsets are drawn from).
const SPAN: usize = 1 << 16;
/// Offset granularity (one vector of f32).
const ALIGN: usize = 8;
/// Stride between the offset slots of consecutive candidates (odd, so
/// `c ↦ c·STRIDE mod SPAN/ALIGN` is a bijection).
const STRIDE: usize = 4099;
/// Seed of the table's draws (fixed: the table is part of the method, not
/// of a model's weights).
const TABLE_SEED: u64 = 0x4c41_5354_7461_626c;

/// Pre-drawn N(0, 1)-like values; immutable after construction.
#[derive(Debug, Clone)]
pub struct NoiseTable {
    values: Vec<f32>,
}

impl NoiseTable {
    /// A table serving perturbations of up to `max_len` values
    /// (e.g. `packed_len(hidden, hidden)`).
    pub fn new(max_len: usize) -> Self {
        let noise = Noise {
            seed: TABLE_SEED,
            candidate: 0,
            kind: NoiseKind::Gaussian,
            antithetic: false,
        };
        let mut values = vec![0f32; SPAN + max_len];
        noise.fill(0, &mut values);
        NoiseTable { values }
    }

    /// Where candidate `candidate` of a request with `seed` starts reading.
    pub fn offset(seed: u64, candidate: u32) -> usize {
        let slots = SPAN / ALIGN;
        let base = splitmix64(seed ^ 0x7461_626c_6500_0000) as usize % slots;
        ALIGN * ((base + candidate as usize * STRIDE) % slots)
    }

    /// The slice candidate `candidate` perturbs with (at least `max_len` long).
    pub fn slice(&self, seed: u64, candidate: u32) -> &[f32] {
        &self.values[Self::offset(seed, candidate)..]
    }

    /// Every value (for hashing the deployed model).
    pub fn values(&self) -> &[f32] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_get_distinct_aligned_offsets() {
        for seed in [0u64, 1, 0xdead_beef] {
            let mut seen = std::collections::HashSet::new();
            for c in 0..crate::serve::MAX_K as u32 {
                let o = NoiseTable::offset(seed, c);
                assert_eq!(o % ALIGN, 0);
                assert!(o < SPAN);
                assert!(
                    seen.insert(o),
                    "seed {seed} candidate {c} reuses offset {o}"
                );
            }
        }
    }

    #[test]
    fn values_are_standardised() {
        let t = NoiseTable::new(16_384);
        let v = t.values();
        assert_eq!(v.len(), SPAN + 16_384);
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        // 81,920 draws: the standard error of the mean is ≈ 0.0035.
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
        assert!(t.slice(9, 3).len() >= 16_384);
    }
}
