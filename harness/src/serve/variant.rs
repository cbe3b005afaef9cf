//! What a request asks for: the variant and its knobs.

/// The kind of Δθ a parallel candidate draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseSpec {
    /// Full-rank Irwin–Hall(8) Gaussian noise.
    Gaussian,
    /// Full-rank ±1 noise.
    Rademacher,
    /// Gaussian in antithetic pairs (+ε, −ε).
    Antithetic,
    /// `σ·u·vᵀ` of the given rank (applied without forming the matrix).
    LowRank(usize),
    /// Full-rank Gaussian (the same Irwin–Hall(8) draws) read from the
    /// model's shared [`NoiseTable`](crate::model::noise_table::NoiseTable) at a
    /// per-candidate offset: one load per weight instead of two hashes.
    Table,
}

/// Which generator matrix Δθ perturbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The encoder's second layer `W2` (followed by a ReLU).
    W2,
    /// The pointer-key map `A` (linear, straight into the scores): the
    /// encoder runs once and only keys, decoding and evaluation repeat.
    Keys,
}

/// A variant and its knobs. Validation (before any work, in checked
/// arithmetic): K in `1..=`[`MAX_K`](super::MAX_K); σ, step, trust and
/// scale finite in `0..=`[`MAX_SCALE`](super::MAX_SCALE); γ in `0..=1`;
/// low rank in `1..=`[`MAX_RANK`](super::MAX_RANK); serial rounds in
/// `1..=`[`MAX_ROUNDS`](super::MAX_ROUNDS) and pairs in `1..=512`;
/// `ladder + samples + 1 ≤ MAX_K`; exhaustive N ≤ 10, L ≤ 5; patience any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    /// The generator's greedy list, Δθ = 0.
    Baseline,
    /// K lists from the unperturbed generator (greedy + K−1 Gumbel-max samples).
    BestOfK {
        /// Lists, including the greedy one.
        k: usize,
    },
    /// K candidates Δθ = σ·ε (one of them Δθ = 0), greedy decoding each.
    Parallel {
        /// Candidates, including Δθ = 0.
        k: usize,
        /// σ relative to the RMS of the perturbed matrix.
        sigma: f32,
        /// Noise kind.
        noise: NoiseSpec,
        /// Perturbed matrix.
        target: Target,
    },
    /// Rounds of antithetic evolution-strategies steps on Δθ (full-rank, W2).
    Serial {
        /// Maximum rounds.
        rounds: usize,
        /// Antithetic pairs per round (2 × pairs candidates).
        pairs: usize,
        /// σ relative to RMS(W2).
        sigma: f32,
        /// Step length relative to ‖W2‖ per round (normalised gradient step).
        step: f32,
        /// Trust region: ‖Δθ‖ ≤ `trust` · ‖W2‖.
        trust: f32,
        /// Stop after this many rounds without improving the best score.
        patience: usize,
    },
    /// The authors' released rule: one backward pass of the policy-gradient
    /// surrogate on the greedy list (per-position advantage over the initial
    /// list, reward-to-go with γ) gives a direction for W2, normalised to
    /// `scale`·‖W2‖; candidates at steps `6, 7, …` (`ladder` of them) along it,
    /// plus `samples` unperturbed Gumbel-max samples.
    GradientExploration {
        /// Step multiples 6, 7, … (the released code uses 6–9).
        ladder: usize,
        /// Unperturbed sampled lists.
        samples: usize,
        /// Direction length relative to ‖W2‖ (0.01 in the released code).
        scale: f32,
        /// Reward-to-go discount in `0..=1` (0.3 in the released code).
        gamma: f32,
    },
    /// Every ordered selection of L out of N (N ≤ 10, L ≤ 5): the evaluator's optimum.
    Exhaustive,
}

impl Variant {
    /// The standard scenario's parallel LAST: K = 16, Gaussian on W2, σ = 0.05·RMS.
    pub fn parallel_standard() -> Self {
        Variant::Parallel {
            k: 16,
            sigma: 0.05,
            noise: NoiseSpec::Gaussian,
            target: Target::W2,
        }
    }
    /// The standard scenario's serial LAST: 8 rounds of 4 candidates.
    pub fn serial_standard() -> Self {
        Variant::Serial {
            rounds: 8,
            pairs: 2,
            sigma: 0.05,
            step: 0.02,
            trust: 0.2,
            patience: 8,
        }
    }
    /// The released code's setting: 4 ladder steps + 3 samples + the
    /// baseline = 8 candidates, scale 1 %, γ = 0.3.
    pub fn gradient_standard() -> Self {
        Variant::GradientExploration {
            ladder: 4,
            samples: 3,
            scale: 0.01,
            gamma: 0.3,
        }
    }
    /// Short name for reports.
    pub fn name(&self) -> String {
        match self {
            Variant::Baseline => "baseline".into(),
            Variant::BestOfK { k } => format!("best_of_{k}"),
            Variant::Parallel {
                k, noise, target, ..
            } => {
                let n = match noise {
                    NoiseSpec::Gaussian => "gaussian".to_string(),
                    NoiseSpec::Rademacher => "rademacher".into(),
                    NoiseSpec::Antithetic => "antithetic".into(),
                    NoiseSpec::LowRank(r) => format!("lowrank{r}"),
                    NoiseSpec::Table => "table".into(),
                };
                let t = match target {
                    Target::W2 => "w2",
                    Target::Keys => "keys",
                };
                format!("parallel_{n}_{t}_k{k}")
            }
            Variant::Serial { rounds, pairs, .. } => format!("serial_r{rounds}_p{pairs}"),
            Variant::GradientExploration {
                ladder, samples, ..
            } => format!("gradient_l{ladder}_s{samples}"),
            Variant::Exhaustive => "exhaustive".into(),
        }
    }
}
