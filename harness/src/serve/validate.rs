//! Request validation: every check before any work.

use super::*;

impl Model {
    pub(super) fn validate(&self, req: &Request<'_>) -> Result<usize, ServeError> {
        let cfg = &self.cfg;
        let n = req.items.rows();
        if n == 0 {
            return Err(ServeError::NoCandidates);
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
        let bad = |s: &str| Err(ServeError::BadKnob(s.to_string()));
        let sigma_ok = |s: f32| s.is_finite() && s >= 0.0;
        match req.variant {
            Variant::Baseline => {}
            Variant::BestOfK { k } if k == 0 || k > MAX_K => return bad("K must be in 1..=1024"),
            Variant::Parallel { k, .. } if k == 0 || k > MAX_K => {
                return bad("K must be in 1..=1024")
            }
            Variant::Parallel { sigma, .. } if !sigma_ok(sigma) => {
                return bad("sigma must be finite and ≥ 0")
            }
            Variant::Parallel {
                noise: NoiseSpec::LowRank(r),
                ..
            } if r == 0 || r > 64 => return bad("low rank must be in 1..=64"),
            Variant::Serial {
                rounds,
                pairs,
                sigma,
                step,
                trust,
                ..
            } => {
                if rounds == 0 || rounds > 1000 || pairs == 0 || pairs > MAX_K / 2 {
                    return bad("rounds in 1..=1000, pairs in 1..=512");
                }
                if !(sigma_ok(sigma) && sigma_ok(step) && sigma_ok(trust)) {
                    return bad("sigma, step and trust must be finite and ≥ 0");
                }
            }
            Variant::GradientExploration {
                ladder,
                samples,
                scale,
                gamma,
            } => {
                if ladder + samples + 1 > MAX_K {
                    return bad("ladder + samples must be below 1024");
                }
                if !(sigma_ok(scale) && sigma_ok(gamma)) {
                    return bad("scale and gamma must be finite and ≥ 0");
                }
            }
            Variant::Exhaustive if n > EXHAUSTIVE_MAX_N || req.len > EXHAUSTIVE_MAX_L => {
                return bad("exhaustive needs N ≤ 10 and L ≤ 5")
            }
            _ => {}
        }
        Ok(n)
    }
}
