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

/// A variant and its knobs. Its one name (command line, reports, JSON,
/// plots) is its `Display` string, read back by `FromStr`: `baseline`,
/// `best-of-16`, `parallel-gaussian-w2-16:sigma=0.1`, `serial-r8-p2`, …
/// (the scheme is documented on the `FromStr` impl).
///
/// Validation (before any work, in checked
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
    /// Parallel LAST with **pessimistic selection** over the model's
    /// evaluator ensemble ([`Model::members`](crate::model::Model::members)):
    /// the search of [`Variant::Parallel`], then a candidate list replaces
    /// the baseline only if the lower confidence bound of its gain over the
    /// baseline list, `mean − λ·sd` over members of (member score −
    /// member's baseline score), is above `margin`; the highest bound wins
    /// (ties: the earlier candidate). With one member, or λ = 0 and a
    /// margin of 0, this is the rule of every other variant applied to the
    /// ensemble mean (exactly [`Variant::Parallel`]'s list with one member).
    Safe {
        /// Candidates, including Δθ = 0.
        k: usize,
        /// σ relative to the RMS of the perturbed matrix.
        sigma: f32,
        /// Noise kind.
        noise: NoiseSpec,
        /// Perturbed matrix.
        target: Target,
        /// Weight λ of the members' spread in the bound.
        lambda: f32,
        /// Least bound (in evaluator score) that replaces the baseline;
        /// `+∞` (`margin=inf`) never replaces it, and the request serves the
        /// baseline without searching (what tuning chooses where no setting
        /// shows a gain on validation).
        margin: f32,
    },
    /// Pessimistic selection over the ensemble after any other
    /// multi-candidate search (best-of-K, gradient exploration, serial
    /// LAST), by the rule of [`Variant::Safe`]: named as the search with
    /// `lambda` and `margin` knobs, e.g. `best-of-16:lambda=1,margin=0`.
    Pessimistic {
        /// The search whose distinct lists are offered.
        search: Search,
        /// Weight λ of the members' spread in the bound.
        lambda: f32,
        /// Least bound that replaces the baseline (`+∞`: never).
        margin: f32,
    },
}

/// The search of a [`Variant::Pessimistic`]: a multi-candidate variant
/// other than parallel LAST (whose pessimistic form is [`Variant::Safe`]),
/// with the knobs of the variant of the same name.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)] // the fields are those of the variants of the same name
pub enum Search {
    /// [`Variant::BestOfK`].
    BestOfK { k: usize },
    /// [`Variant::GradientExploration`].
    GradientExploration {
        ladder: usize,
        samples: usize,
        scale: f32,
        gamma: f32,
    },
    /// [`Variant::Serial`].
    Serial {
        rounds: usize,
        pairs: usize,
        sigma: f32,
        step: f32,
        trust: f32,
        patience: usize,
    },
}

impl Search {
    /// The variant this search runs.
    pub fn variant(self) -> Variant {
        match self {
            Search::BestOfK { k } => Variant::BestOfK { k },
            Search::GradientExploration {
                ladder,
                samples,
                scale,
                gamma,
            } => Variant::GradientExploration {
                ladder,
                samples,
                scale,
                gamma,
            },
            Search::Serial {
                rounds,
                pairs,
                sigma,
                step,
                trust,
                patience,
            } => Variant::Serial {
                rounds,
                pairs,
                sigma,
                step,
                trust,
                patience,
            },
        }
    }

    /// The search of `v`, if `v` is one of the searches a
    /// [`Variant::Pessimistic`] can wrap.
    pub fn of(v: Variant) -> Option<Search> {
        match v {
            Variant::BestOfK { k } => Some(Search::BestOfK { k }),
            Variant::GradientExploration {
                ladder,
                samples,
                scale,
                gamma,
            } => Some(Search::GradientExploration {
                ladder,
                samples,
                scale,
                gamma,
            }),
            Variant::Serial {
                rounds,
                pairs,
                sigma,
                step,
                trust,
                patience,
            } => Some(Search::Serial {
                rounds,
                pairs,
                sigma,
                step,
                trust,
                patience,
            }),
            _ => None,
        }
    }
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
    /// The standard safe variant: Rademacher noise on W2, K = 16,
    /// σ = 0.05·RMS, λ = 1, margin 0.
    pub fn safe_standard() -> Self {
        let (lambda, margin) = SAFE_DEFAULTS;
        Variant::Safe {
            k: 16,
            sigma: DEFAULT_SIGMA,
            noise: NoiseSpec::Rademacher,
            target: Target::W2,
            lambda,
            margin,
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
    /// The search a variant runs: [`Variant::Safe`]'s is its
    /// [`Variant::Parallel`], [`Variant::Pessimistic`]'s its `search`;
    /// every other variant is its own search.
    pub fn search(&self) -> Variant {
        match *self {
            Variant::Pessimistic { search, .. } => search.variant(),
            Variant::Safe {
                k,
                sigma,
                noise,
                target,
                ..
            } => Variant::Parallel {
                k,
                sigma,
                noise,
                target,
            },
            v => v,
        }
    }

    /// λ and the margin of pessimistic selection, for [`Variant::Safe`]
    /// and [`Variant::Pessimistic`].
    pub fn pessimism(&self) -> Option<(f32, f32)> {
        match *self {
            Variant::Safe { lambda, margin, .. } | Variant::Pessimistic { lambda, margin, .. } => {
                Some((lambda, margin))
            }
            _ => None,
        }
    }

    /// The machine name: the same string as [`Display`](std::fmt::Display)
    /// (see [`Variant`]'s `FromStr` for the scheme).
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// The standard variants (every kind with the standard scenario's
    /// knobs), in the order the command line lists them.
    pub fn standard_set() -> Vec<Variant> {
        let par = |noise, target| Variant::Parallel {
            k: 16,
            sigma: DEFAULT_SIGMA,
            noise,
            target,
        };
        vec![
            Variant::Baseline,
            Variant::BestOfK { k: 16 },
            par(NoiseSpec::Gaussian, Target::W2),
            par(NoiseSpec::Rademacher, Target::W2),
            par(NoiseSpec::Antithetic, Target::W2),
            par(NoiseSpec::Table, Target::W2),
            par(NoiseSpec::LowRank(1), Target::Keys),
            par(NoiseSpec::Gaussian, Target::Keys),
            Variant::safe_standard(),
            Variant::gradient_standard(),
            Variant::serial_standard(),
            Variant::Exhaustive,
        ]
    }
}

/// σ of a parallel candidate unless the name says otherwise (`:sigma=`).
pub const DEFAULT_SIGMA: f32 = 0.05;
/// λ and the margin of [`Variant::Safe`] unless the name says otherwise.
pub const SAFE_DEFAULTS: (f32, f32) = (1.0, 0.0);
/// The serial variant's knobs unless the name says otherwise: σ, step,
/// trust region, patience ([`Variant::serial_standard`]).
pub const SERIAL_DEFAULTS: (f32, f32, f32, usize) = (0.05, 0.02, 0.2, 8);
/// The gradient variant's scale and γ unless the name says otherwise
/// ([`Variant::gradient_standard`]).
pub const GRADIENT_DEFAULTS: (f32, f32) = (0.01, 0.3);

mod name;
#[cfg(test)]
mod tests;

pub use name::ParseVariantError;
