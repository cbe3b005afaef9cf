//! `POST /rank` bodies: JSON in, an owned [`RankJob`] out, checked against
//! the model's widths and limits before anything is queued.

use crate::model::Config;
use crate::serve::{Compute, Request, ServeError, Variant};
use last_kernels::MatRef;
use serde::Deserialize;
use std::time::Duration;

/// The JSON body of `POST /rank`. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RankBody {
    /// User / context features (d_u values).
    user: Vec<f32>,
    /// Candidate items: N rows of d_x values.
    items: Vec<Vec<f32>>,
    /// Output length L.
    length: usize,
    /// A variant name in the one naming scheme; the server's default if absent.
    #[serde(default)]
    variant: Option<String>,
    /// Seed of every random draw; 0 if absent.
    #[serde(default)]
    seed: u64,
    /// Budget in microseconds, counted from the request's arrival; the
    /// server's default if absent.
    #[serde(default)]
    budget_us: Option<u64>,
    /// `"model"` (default), `"f32"` or `"bf16"` (see [`Compute`]).
    #[serde(default)]
    compute: Compute,
}

/// A decoded request, owning its features, ready for a compute worker.
#[derive(Debug, Clone, PartialEq)]
pub struct RankJob {
    /// User features.
    pub user: Vec<f32>,
    /// Item features, row-major, `n × d_x`.
    pub items: Vec<f32>,
    /// Rows of `items` (N).
    pub n: usize,
    /// Columns of `items` (the model's d_x).
    pub d_x: usize,
    /// Output length L.
    pub len: usize,
    /// Seed.
    pub seed: u64,
    /// What to run.
    pub variant: Variant,
    /// Budget from arrival.
    pub budget: Duration,
    /// Precision of the candidate products.
    pub compute: Compute,
}

impl RankJob {
    /// The library request over this job's features.
    pub fn request(&self) -> Result<Request<'_>, ServeError> {
        Ok(Request {
            user: &self.user,
            items: MatRef::new(&self.items, self.n, self.d_x)?,
            len: self.len,
            seed: self.seed,
            variant: self.variant,
            budget: self.budget,
            compute: self.compute,
        })
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, a wrong type, a missing or unknown field (HTTP 400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A variant name that does not parse (HTTP 422).
    #[error("unknown variant: {0}")]
    UnknownVariant(String),
    /// Well-formed but not servable by this model (HTTP 422).
    #[error("{0}")]
    Invalid(#[from] ServeError),
}

/// What a request gets when it leaves a field out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Defaults {
    /// Variant when the body names none.
    pub variant: Variant,
    /// Budget when the body gives none.
    pub budget: Duration,
}

/// Decodes and checks one body. The widths and N are checked here (so a
/// request the model cannot serve never takes a queue slot); L, the knobs
/// and the finiteness of the values are checked by the serving loop's own
/// validation, which gives the same errors.
pub fn decode(body: &[u8], cfg: &Config, defaults: &Defaults) -> Result<RankJob, DecodeError> {
    let b: RankBody =
        serde_json::from_slice(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let variant = match &b.variant {
        None => defaults.variant,
        Some(name) => name
            .parse::<Variant>()
            .map_err(|e| DecodeError::UnknownVariant(e.to_string()))?,
    };
    let n = b.items.len();
    if let Some(row) = b.items.iter().find(|r| r.len() != cfg.d_x) {
        check_counts(cfg, n, b.user.len(), Some(row.len()))?;
    }
    let items: Vec<f32> = b.items.into_iter().flatten().collect();
    let budget = b.budget_us.map_or(defaults.budget, Duration::from_micros);
    let mut j = job(cfg, b.user, items, n, b.length, b.seed, variant, budget)?;
    j.compute = b.compute;
    Ok(j)
}

/// N against `1..=max_candidates`, then the user width, then a row width
/// (`None`: every row has d_x values): the first defect is the error, in
/// the same order for JSON and binary bodies.
pub(super) fn check_counts(
    cfg: &Config,
    n: usize,
    user: usize,
    row: Option<usize>,
) -> Result<(), ServeError> {
    if n == 0 {
        return Err(ServeError::NoCandidates);
    }
    if n > cfg.max_candidates {
        return Err(ServeError::TooManyCandidates {
            n,
            max: cfg.max_candidates,
        });
    }
    if user != cfg.d_u {
        return Err(ServeError::FeatureWidth {
            what: "user",
            got: user,
            expected: cfg.d_u,
        });
    }
    match row {
        Some(got) if got != cfg.d_x => Err(ServeError::FeatureWidth {
            what: "items",
            got,
            expected: cfg.d_x,
        }),
        _ => Ok(()),
    }
}

/// The checked job of a decoded body (`items` row-major, `n × d_x`).
#[allow(clippy::too_many_arguments)]
pub(super) fn job(
    cfg: &Config,
    user: Vec<f32>,
    items: Vec<f32>,
    n: usize,
    len: usize,
    seed: u64,
    variant: Variant,
    budget: Duration,
) -> Result<RankJob, DecodeError> {
    check_counts(cfg, n, user.len(), None)?;
    debug_assert_eq!(items.len(), n * cfg.d_x);
    Ok(RankJob {
        user,
        items,
        n,
        d_x: cfg.d_x,
        len,
        seed,
        variant,
        budget,
        compute: Compute::Model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize, dx: usize, du: usize, extra: &str) -> String {
        let row = vec!["0.5"; dx].join(",");
        let items = vec![format!("[{row}]"); n].join(",");
        let user = vec!["0.25"; du].join(",");
        format!(r#"{{"user":[{user}],"items":[{items}],"length":3{extra}}}"#)
    }

    fn defaults() -> Defaults {
        Defaults {
            variant: Variant::Baseline,
            budget: Duration::from_millis(7),
        }
    }

    #[test]
    fn a_good_body_decodes_with_defaults_and_overrides() {
        let cfg = Config::standard();
        let j = decode(body(5, 64, 32, "").as_bytes(), &cfg, &defaults()).unwrap();
        assert_eq!((j.n, j.d_x, j.len, j.seed), (5, 64, 3, 0));
        assert_eq!(j.items.len(), 5 * 64);
        assert_eq!(j.variant, Variant::Baseline);
        assert_eq!(j.budget, Duration::from_millis(7));
        let extra = r#","variant":"best-of-16","seed":9,"budget_us":250"#;
        let j = decode(body(5, 64, 32, extra).as_bytes(), &cfg, &defaults()).unwrap();
        assert_eq!(j.variant, Variant::BestOfK { k: 16 });
        assert_eq!((j.seed, j.budget), (9, Duration::from_micros(250)));
        assert_eq!(j.compute, Compute::Model);
        let j = decode(
            body(5, 64, 32, r#","compute":"f32""#).as_bytes(),
            &cfg,
            &defaults(),
        );
        assert_eq!(j.unwrap().compute, Compute::F32);
        let j = decode(
            body(5, 64, 32, r#","compute":"bf16""#).as_bytes(),
            &cfg,
            &defaults(),
        );
        assert_eq!(j.unwrap().request().unwrap().compute, Compute::Bf16);
    }

    #[test]
    fn defects_get_their_kind() {
        let cfg = Config::standard();
        let d = defaults();
        let malformed = |s: &str| {
            matches!(
                decode(s.as_bytes(), &cfg, &d),
                Err(DecodeError::Malformed(_))
            )
        };
        assert!(malformed("{"));
        assert!(malformed(r#"{"user":[],"items":[],"length":"3"}"#));
        assert!(malformed(&body(2, 64, 32, r#","colour":1"#)));
        assert!(malformed(r#"{"user":[1],"items":[[1]]}"#));
        assert!(malformed(&body(2, 64, 32, r#","seed":-1"#)));
        assert!(malformed(&body(2, 64, 32, r#","compute":"fp8""#)));
        let bad_variant = body(2, 64, 32, r#","variant":"best-of-1x""#);
        assert!(matches!(
            decode(bad_variant.as_bytes(), &cfg, &d),
            Err(DecodeError::UnknownVariant(_))
        ));
        let invalid = |s: String| match decode(s.as_bytes(), &cfg, &d) {
            Err(DecodeError::Invalid(e)) => e,
            other => panic!("expected a ServeError, got {other:?}"),
        };
        assert_eq!(invalid(body(0, 64, 32, "")), ServeError::NoCandidates);
        assert!(matches!(
            invalid(body(2, 63, 32, "")),
            ServeError::FeatureWidth { what: "items", .. }
        ));
        assert!(matches!(
            invalid(body(2, 64, 31, "")),
            ServeError::FeatureWidth { what: "user", .. }
        ));
        assert!(matches!(
            invalid(body(257, 64, 32, "")),
            ServeError::TooManyCandidates { .. }
        ));
    }
}
