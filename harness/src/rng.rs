//! A small seeded generator for the data side (synthetic worlds, click
//! sampling, shuffling, mini-batches). Serving never uses it: serving noise
//! comes from the kernels' counter RNG, keyed by the request seed.

/// A SplitMix64 stream: fast, seedable, good enough for simulation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }
    /// An independent child stream (same parent state, different `salt`).
    pub fn fork(&self, salt: u64) -> Self {
        Rng(last_kernels::rng::splitmix64(
            self.0 ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ))
    }
    /// The plain SplitMix64 stream whose state starts at `state` (no
    /// seed scrambling; [`Self::new`] is the usual constructor).
    pub fn from_state(state: u64) -> Self {
        Rng(state)
    }
    /// Next 64 random bits: the SplitMix64 sequence (Steele, Lea & Flood
    /// 2014), on the kernels' finaliser.
    pub fn next_u64(&mut self) -> u64 {
        let z = last_kernels::rng::splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform integer in `0..n` (`n > 0`; returns 0 for `n = 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// Standard Gumbel.
    pub fn gumbel(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        -(-u.ln()).ln()
    }
    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_roughly_uniform() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<f64> = (0..10_000).map(|_| a.uniform()).collect();
        let ys: Vec<f64> = (0..10_000).map(|_| b.uniform()).collect();
        assert_eq!(xs, ys);
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((m - 0.5).abs() < 0.02, "mean {m}");
        let mut c = Rng::new(8);
        let counts = (0..6000).fold([0usize; 3], |mut acc, _| {
            acc[c.below(3)] += 1;
            acc
        });
        assert!(
            counts.iter().all(|&k| (1800..2200).contains(&k)),
            "{counts:?}"
        );
    }
}
