//! The one naming scheme of a variant: `Display` writes it, `FromStr`
//! reads it back.

use super::*;

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
            // The search's own name, then both knobs of the selection
            // (always: a pessimistic best-of-16 with the default λ and
            // margin is not the plain one).
            Variant::Pessimistic {
                search,
                lambda,
                margin,
            } => {
                let head = search.variant().to_string();
                let sep = if head.contains(':') { ',' } else { ':' };
                write!(f, "{head}{sep}lambda={lambda},margin={margin}")
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
/// | safe | `safe-NOISE-TARGET-K`, e.g. `safe-rademacher-w2-16` | `sigma` (0.05), `lambda` (1), `margin` (0; `inf`: never replace) |
/// | pessimistic best-of-K, gradient, serial | their own name with `lambda` and `margin`, e.g. `best-of-16:lambda=1,margin=0` | theirs, `lambda`, `margin` |
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
        // `margin=inf`: never replace the baseline.
        let margin_of = |v: Option<&str>, m0: f32| match v {
            Some("inf") => Ok(f32::INFINITY),
            v => real("margin", v, m0),
        };
        let (l0, m0) = SAFE_DEFAULTS;
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
            ["safe", noise, target, k] => Variant::Safe {
                k: count(k, "K")?,
                sigma: real("sigma", raw("sigma"), DEFAULT_SIGMA)?,
                noise: noise.parse()?,
                target: target.parse()?,
                lambda: real("lambda", raw("lambda"), l0)?,
                margin: margin_of(raw("margin"), m0)?,
            },
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
        // λ or a margin on another multi-candidate search: pessimistic
        // selection after it (parallel LAST's pessimistic form is `safe-…`).
        let v = match (raw("lambda"), raw("margin")) {
            (None, None) => v,
            (l, m) => match Search::of(v) {
                Some(search) => Variant::Pessimistic {
                    search,
                    lambda: real("lambda", l, l0)?,
                    margin: margin_of(m, m0)?,
                },
                None => {
                    return Err(err(format!(
                        "{s:?}: {head} takes no lambda or margin (best-of-K, gradient and \
                         serial do; parallel LAST's pessimistic form is safe-NOISE-TARGET-K)"
                    )))
                }
            },
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
