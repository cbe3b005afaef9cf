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
    /// [`Variant::Parallel`]; every other variant is its own search.
    pub fn search(&self) -> Variant {
        match *self {
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

    /// λ and the margin of pessimistic selection, for [`Variant::Safe`].
    pub fn pessimism(&self) -> Option<(f32, f32)> {
        match *self {
            Variant::Safe { lambda, margin, .. } => Some((lambda, margin)),
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

impl std::fmt::Display for NoiseSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoiseSpec::Gaussian => f.write_str("gaussian"),
            NoiseSpec::Rademacher => f.write_str("rademacher"),
            NoiseSpec::Antithetic => f.write_str("antithetic"),
            NoiseSpec::Table => f.write_str("table"),
            NoiseSpec::LowRank(r) => write!(f, "lowrank{r}"),
        }
    }
}

impl std::str::FromStr for NoiseSpec {
    type Err = ParseVariantError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "gaussian" => NoiseSpec::Gaussian,
            "rademacher" => NoiseSpec::Rademacher,
            "antithetic" => NoiseSpec::Antithetic,
            "table" => NoiseSpec::Table,
            _ => match s.strip_prefix("lowrank") {
                Some(r) => NoiseSpec::LowRank(count(r, "low rank")?),
                None => {
                    return Err(ParseVariantError(format!(
                        "unknown noise {s:?} (gaussian, rademacher, antithetic, table, lowrankR)"
                    )))
                }
            },
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::W2 => "w2",
            Target::Keys => "keys",
        })
    }
}

impl std::str::FromStr for Target {
    type Err = ParseVariantError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "w2" => Ok(Target::W2),
            "keys" => Ok(Target::Keys),
            _ => Err(ParseVariantError(format!(
                "unknown target {s:?} (w2, keys)"
            ))),
        }
    }
}

/// Why a string is not a variant name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseVariantError(pub String);

impl std::fmt::Display for ParseVariantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseVariantError {}

fn count(s: &str, what: &str) -> Result<usize, ParseVariantError> {
    // Digits only: no sign, no spaces, so that one value has one spelling.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(ParseVariantError(format!(
            "{what}: expected a whole number, got {s:?}"
        )));
    }
    s.parse()
        .map_err(|_| ParseVariantError(format!("{what}: {s} is too large")))
}

/// Writes `:key=value,…` for the knobs that differ from their defaults.
fn knobs(f: &mut std::fmt::Formatter<'_>, list: &[(&str, String, bool)]) -> std::fmt::Result {
    let mut sep = ':';
    for (key, value, differs) in list {
        if *differs {
            write!(f, "{sep}{key}={value}")?;
            sep = ',';
        }
    }
    Ok(())
}

/// Bitwise inequality, so that a value equal to the default only in
/// `==` (−0 against 0) still round-trips.
fn differs(a: f32, b: f32) -> bool {
    a.to_bits() != b.to_bits()
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Variant::Baseline => f.write_str("baseline"),
            Variant::Exhaustive => f.write_str("exhaustive"),
            Variant::BestOfK { k } => write!(f, "best-of-{k}"),
            Variant::Parallel {
                k,
                sigma,
                noise,
                target,
            } => {
                write!(f, "parallel-{noise}-{target}-{k}")?;
                knobs(
                    f,
                    &[("sigma", sigma.to_string(), differs(sigma, DEFAULT_SIGMA))],
                )
            }
            Variant::Safe {
                k,
                sigma,
                noise,
                target,
                lambda,
                margin,
            } => {
                let (l0, m0) = SAFE_DEFAULTS;
                write!(f, "safe-{noise}-{target}-{k}")?;
                knobs(
                    f,
                    &[
                        ("sigma", sigma.to_string(), differs(sigma, DEFAULT_SIGMA)),
                        ("lambda", lambda.to_string(), differs(lambda, l0)),
                        ("margin", margin.to_string(), differs(margin, m0)),
                    ],
                )
            }
            Variant::Serial {
                rounds,
                pairs,
                sigma,
                step,
                trust,
                patience,
            } => {
                let (s0, st0, t0, p0) = SERIAL_DEFAULTS;
                write!(f, "serial-r{rounds}-p{pairs}")?;
                knobs(
                    f,
                    &[
                        ("sigma", sigma.to_string(), differs(sigma, s0)),
                        ("step", step.to_string(), differs(step, st0)),
                        ("trust", trust.to_string(), differs(trust, t0)),
                        ("patience", patience.to_string(), patience != p0),
                    ],
                )
            }
            Variant::GradientExploration {
                ladder,
                samples,
                scale,
                gamma,
            } => {
                let (sc0, g0) = GRADIENT_DEFAULTS;
                write!(f, "gradient-l{ladder}-s{samples}")?;
                knobs(
                    f,
                    &[
                        ("scale", scale.to_string(), differs(scale, sc0)),
                        ("gamma", gamma.to_string(), differs(gamma, g0)),
                    ],
                )
            }
        }
    }
}

/// The one naming scheme of a variant, used on the command line, in
/// reports, JSON and plots: `HEAD[:KEY=VALUE,…]`.
///
/// | variant | head | knobs (default) |
/// |---|---|---|
/// | baseline | `baseline` | – |
/// | best-of-K | `best-of-16` | – |
/// | parallel | `parallel-NOISE-TARGET-K`, e.g. `parallel-gaussian-w2-16`, `parallel-lowrank1-keys-16` | `sigma` (0.05) |
/// | safe | `safe-NOISE-TARGET-K`, e.g. `safe-rademacher-w2-16` | `sigma` (0.05), `lambda` (1), `margin` (0) |
/// | serial | `serial-rROUNDS-pPAIRS`, e.g. `serial-r8-p2` | `sigma` (0.05), `step` (0.02), `trust` (0.2), `patience` (8) |
/// | gradient | `gradient-lLADDER-sSAMPLES`, e.g. `gradient-l4-s3` | `scale` (0.01), `gamma` (0.3) |
/// | exhaustive | `exhaustive` | – |
///
/// NOISE is `gaussian`, `rademacher`, `antithetic`, `table` or `lowrankR`;
/// TARGET is `w2` or `keys`. Knobs at their default are left out of the
/// name (`parallel-gaussian-w2-16:sigma=0.1`), in any order when parsed,
/// each at most once; values must be finite. Display then `FromStr` gives
/// back the same variant. Ranges (K ≤ 1024, …) are the server's to check.
impl std::str::FromStr for Variant {
    type Err = ParseVariantError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |m: String| ParseVariantError(m);
        let (head, tail) = match s.split_once(':') {
            Some((h, t)) => (h, Some(t)),
            None => (s, None),
        };
        let mut kv: Vec<(&str, &str)> = Vec::new();
        if let Some(t) = tail {
            for item in t.split(',') {
                let (key, value) = item
                    .split_once('=')
                    .ok_or_else(|| err(format!("{s:?}: knob {item:?} is not KEY=VALUE")))?;
                if kv.iter().any(|(k, _)| *k == key) {
                    return Err(err(format!("{s:?}: knob {key} given twice")));
                }
                kv.push((key, value));
            }
        }
        let mut raw = |key: &str| -> Option<&str> {
            let i = kv.iter().position(|(k, _)| *k == key)?;
            Some(kv.remove(i).1)
        };
        let real =
            |key: &str, value: Option<&str>, default: f32| -> Result<f32, ParseVariantError> {
                let Some(value) = value else {
                    return Ok(default);
                };
                match value.parse::<f32>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    Ok(_) => Err(err(format!("{s:?}: {key}={value} is not finite"))),
                    Err(_) => Err(err(format!("{s:?}: {key}={value} is not a number"))),
                }
            };
        let parts: Vec<&str> = head.split('-').collect();
        let v = match parts.as_slice() {
            ["baseline"] => Variant::Baseline,
            ["exhaustive"] => Variant::Exhaustive,
            ["best", "of", k] => Variant::BestOfK { k: count(k, "K")? },
            ["parallel", noise, target, k] => Variant::Parallel {
                k: count(k, "K")?,
                sigma: real("sigma", raw("sigma"), DEFAULT_SIGMA)?,
                noise: noise.parse()?,
                target: target.parse()?,
            },
            ["safe", noise, target, k] => {
                let (l0, m0) = SAFE_DEFAULTS;
                Variant::Safe {
                    k: count(k, "K")?,
                    sigma: real("sigma", raw("sigma"), DEFAULT_SIGMA)?,
                    noise: noise.parse()?,
                    target: target.parse()?,
                    lambda: real("lambda", raw("lambda"), l0)?,
                    // `margin=inf`: never replace the baseline.
                    margin: match raw("margin") {
                        Some("inf") => f32::INFINITY,
                        v => real("margin", v, m0)?,
                    },
                }
            }
            ["serial", r, p] if r.starts_with('r') && p.starts_with('p') => {
                let (s0, st0, t0, p0) = SERIAL_DEFAULTS;
                let patience = match raw("patience") {
                    Some(v) => count(v, "patience")?,
                    None => p0,
                };
                Variant::Serial {
                    rounds: count(&r[1..], "rounds")?,
                    pairs: count(&p[1..], "pairs")?,
                    sigma: real("sigma", raw("sigma"), s0)?,
                    step: real("step", raw("step"), st0)?,
                    trust: real("trust", raw("trust"), t0)?,
                    patience,
                }
            }
            ["gradient", l, sm] if l.starts_with('l') && sm.starts_with('s') => {
                let (sc0, g0) = GRADIENT_DEFAULTS;
                Variant::GradientExploration {
                    ladder: count(&l[1..], "ladder")?,
                    samples: count(&sm[1..], "samples")?,
                    scale: real("scale", raw("scale"), sc0)?,
                    gamma: real("gamma", raw("gamma"), g0)?,
                }
            }
            _ => {
                return Err(err(format!(
                    "unknown variant {head:?} (baseline, best-of-K, parallel-NOISE-TARGET-K, \
                     safe-NOISE-TARGET-K, serial-rR-pP, gradient-lL-sS, exhaustive)"
                )))
            }
        };
        if let Some((key, _)) = kv.first() {
            return Err(err(format!("{s:?}: {head} has no knob {key:?}")));
        }
        Ok(v)
    }
}

impl serde::Serialize for Variant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Variant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod naming_tests {
    use super::*;

    fn round_trip(v: Variant) {
        let s = v.to_string();
        let back: Variant = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        // Bitwise on the floats (PartialEq would let −0 pass as 0).
        assert_eq!(format!("{back:?}"), format!("{v:?}"), "{s}");
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        let de: Variant = serde_json::from_str(&json).unwrap();
        assert_eq!(de.to_string(), s);
    }

    #[test]
    fn standard_names() {
        let names: Vec<String> = Variant::standard_set()
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "baseline",
                "best-of-16",
                "parallel-gaussian-w2-16",
                "parallel-rademacher-w2-16",
                "parallel-antithetic-w2-16",
                "parallel-table-w2-16",
                "parallel-lowrank1-keys-16",
                "parallel-gaussian-keys-16",
                "safe-rademacher-w2-16",
                "gradient-l4-s3",
                "serial-r8-p2",
                "exhaustive",
            ]
        );
        for v in Variant::standard_set() {
            round_trip(v);
        }
        assert_eq!(
            Variant::parallel_standard().to_string(),
            "parallel-gaussian-w2-16"
        );
    }

    #[test]
    fn knobs_appear_only_when_not_default() {
        let v = Variant::Serial {
            rounds: 4,
            pairs: 2,
            sigma: 0.1,
            step: 0.04,
            trust: 0.4,
            patience: 2,
        };
        assert_eq!(
            v.to_string(),
            "serial-r4-p2:sigma=0.1,step=0.04,trust=0.4,patience=2"
        );
        let p: Variant = "parallel-lowrank3-keys-32:sigma=0.2".parse().unwrap();
        assert_eq!(
            p,
            Variant::Parallel {
                k: 32,
                sigma: 0.2,
                noise: NoiseSpec::LowRank(3),
                target: Target::Keys
            }
        );
        // Knobs in any order.
        let g: Variant = "gradient-l8-s7:gamma=0.5,scale=0.02".parse().unwrap();
        assert_eq!(g.to_string(), "gradient-l8-s7:scale=0.02,gamma=0.5");
    }

    /// Random knobs of every kind, including extreme and negative floats.
    #[test]
    fn random_knobs_round_trip() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state = last_kernels::rng::splitmix64(state);
            state
        };
        for _ in 0..20_000 {
            let mut f = || loop {
                let x = f32::from_bits(next() as u32);
                if x.is_finite() {
                    break x;
                }
            };
            let (a, b, c, d) = (f(), f(), f(), f());
            let n = next();
            let u = |x: u64| (x % 5000) as usize;
            let noise = match n % 5 {
                0 => NoiseSpec::Gaussian,
                1 => NoiseSpec::Rademacher,
                2 => NoiseSpec::Antithetic,
                3 => NoiseSpec::Table,
                _ => NoiseSpec::LowRank(u(n >> 8)),
            };
            let target = if n & 64 == 0 {
                Target::W2
            } else {
                Target::Keys
            };
            let big = next() as usize;
            for v in [
                Variant::BestOfK { k: big },
                Variant::Parallel {
                    k: u(next()),
                    sigma: a,
                    noise,
                    target,
                },
                Variant::Safe {
                    k: u(next()),
                    sigma: b,
                    noise,
                    target,
                    lambda: c,
                    margin: d,
                },
                Variant::Serial {
                    rounds: u(next()),
                    pairs: u(next()),
                    sigma: a,
                    step: b,
                    trust: c,
                    patience: u(next()),
                },
                Variant::GradientExploration {
                    ladder: big,
                    samples: u(next()),
                    scale: c,
                    gamma: d,
                },
            ] {
                round_trip(v);
            }
        }
    }

    #[test]
    fn bad_names_are_rejected() {
        for bad in [
            "",
            "best-of-k",
            "best-of-",
            "best-of-+3",
            "best-of-016",
            "best_of_16",
            "parallel",
            "parallel-gaussian-w2",
            "parallel-gauss-w2-16",
            "parallel-gaussian-w3-16",
            "parallel-lowrank-keys-16",
            "parallel-gaussian-w2-16:",
            "parallel-gaussian-w2-16:sigma",
            "parallel-gaussian-w2-16:sigma=x",
            "parallel-gaussian-w2-16:sigma=inf",
            "parallel-gaussian-w2-16:sigma=NaN",
            "parallel-gaussian-w2-16:sigma=0.1,sigma=0.2",
            "parallel-gaussian-w2-16:step=0.1",
            "parallel-gaussian-w2-16:lambda=1",
            "safe-gaussian-w2",
            "safe-gaussian-w2-16:lambda=nan",
            "baseline:sigma=0.1",
            "serial-8-2",
            "serial-r8-p2:patience=1.5",
            "gradient-l4",
            "best-of-99999999999999999999999",
        ] {
            assert!(bad.parse::<Variant>().is_err(), "{bad:?} parsed");
        }
    }
}
