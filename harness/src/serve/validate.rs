//! Request validation: every check before any work.

use super::*;

impl Model {
    pub(super) fn validate(&self, req: &Request<'_>) -> Result<usize, ServeError> {
        let cfg = &self.cfg;
        let n = req.items.rows();
        if n == 0 {
            return Err(ServeError::NoCandidates);
        }
        if req.compute == super::Compute::Bf16 && self.bf16_path().is_none() {
            return Err(ServeError::BadKnob(
                "compute bf16 needs a model stored as bf16 (config \"dtype\": \"bf16\")".into(),
            ));
        }
        if n > cfg.max_candidates {
            return Err(ServeError::TooManyCandidates {
                n,
                max: cfg.max_candidates,
            });
        }
        if req.len == 0 || req.len > n || req.len > cfg.max_len {
            return Err(ServeError::BadLength {
                len: req.len,
                n,
                max_len: cfg.max_len,
            });
        }
        if req.items.cols() != cfg.d_x {
            return Err(ServeError::FeatureWidth {
                what: "items",
                got: req.items.cols(),
                expected: cfg.d_x,
            });
        }
        if req.user.len() != cfg.d_u {
            return Err(ServeError::FeatureWidth {
                what: "user",
                got: req.user.len(),
                expected: cfg.d_u,
            });
        }
        if let Some(i) = req.user.iter().position(|v| !v.is_finite()) {
            return Err(ServeError::NonFinite {
                what: "user",
                index: i,
            });
        }
        for r in 0..n {
            if let Some(j) = req.items.row(r).iter().position(|v| !v.is_finite()) {
                return Err(ServeError::NonFinite {
                    what: "items",
                    index: r * cfg.d_x + j,
                });
            }
        }
        self.validate_knobs(req.variant, n, req.len)?;
        Ok(n)
    }

    /// Every knob of every variant against its range, in checked arithmetic
    /// (no sum or product of knobs can wrap past a limit).
    fn validate_knobs(&self, variant: Variant, n: usize, len: usize) -> Result<(), ServeError> {
        match variant {
            Variant::Baseline => {}
            Variant::BestOfK { k } => count("K", k, 1, MAX_K)?,
            Variant::Parallel {
                k, sigma, noise, ..
            } => {
                count("K", k, 1, MAX_K)?;
                real("sigma", sigma, MAX_SCALE)?;
                if let NoiseSpec::LowRank(r) = noise {
                    count("low rank", r, 1, MAX_RANK)?;
                }
            }
            Variant::Serial {
                rounds,
                pairs,
                sigma,
                step,
                trust,
                patience: _,
            } => {
                count("rounds", rounds, 1, MAX_ROUNDS)?;
                count("pairs", pairs, 1, MAX_K / 2)?;
                real("sigma", sigma, MAX_SCALE)?;
                real("step", step, MAX_SCALE)?;
                real("trust", trust, MAX_SCALE)?;
                // `patience` is only compared with a count of rounds: any
                // value is safe (0 stops after the first round).
            }
            Variant::GradientExploration {
                ladder,
                samples,
                scale,
                gamma,
            } => {
                let total = ladder.checked_add(samples).and_then(|c| c.checked_add(1));
                if total.is_none_or(|c| c > MAX_K) {
                    return Err(ServeError::BadKnob(format!(
                        "ladder {ladder} + samples {samples} + the baseline must be at most {MAX_K}"
                    )));
                }
                real("scale", scale, MAX_SCALE)?;
                real("gamma", gamma, 1.0)?;
            }
            Variant::Safe { lambda, margin, .. } | Variant::Pessimistic { lambda, margin, .. } => {
                real("lambda", lambda, MAX_SCALE)?;
                if margin != f32::INFINITY {
                    real("margin", margin, MAX_SCALE)?;
                }
                self.validate_knobs(variant.search(), n, len)?;
            }
            Variant::Exhaustive => {
                if n > EXHAUSTIVE_MAX_N || len > EXHAUSTIVE_MAX_L {
                    return Err(ServeError::BadKnob(format!(
                        "exhaustive needs N ≤ {EXHAUSTIVE_MAX_N} and L ≤ {EXHAUSTIVE_MAX_L} (got N {n}, L {len})"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn count(name: &str, v: usize, lo: usize, hi: usize) -> Result<(), ServeError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(ServeError::BadKnob(format!(
            "{name} = {v} must be in {lo}..={hi}"
        )))
    }
}

/// A finite real knob in `0..=hi` (NaN fails the range test too).
fn real(name: &str, v: f32, hi: f32) -> Result<(), ServeError> {
    if (0.0..=hi).contains(&v) {
        Ok(())
    } else {
        Err(ServeError::BadKnob(format!(
            "{name} = {v} must be finite and in 0..={hi}"
        )))
    }
}
