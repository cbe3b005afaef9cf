//! `serving.json`: how a model folder is served by default, written by
//! `last eval` from the validation split and read by [`Model::load`].

use super::{Model, ModelError};
use crate::serve::{Variant, MAX_K, MAX_SCALE};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;

/// The file name inside a model folder.
pub const SERVING_FILE: &str = "serving.json";

/// Longest default budget accepted (µs): one hour.
pub const MAX_BUDGET_US: u64 = 3_600_000_000;

/// σ relative to the perturbed matrix's RMS, per noise kind and target, as
/// tuned on validation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sigmas {
    /// Gaussian noise on W2.
    pub gaussian_w2: f32,
    /// ±1 noise on W2.
    pub rademacher_w2: f32,
    /// Antithetic Gaussian pairs on W2.
    pub antithetic_w2: f32,
    /// The shared noise table on W2.
    pub table_w2: f32,
    /// Rank-1 noise on the key map A.
    pub lowrank1_keys: f32,
}

/// The serving defaults of a model folder: what `last serve` and `last
/// bench --model` use unless a flag or a request overrides them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingSettings {
    /// The variant served by default, in the one naming scheme (its knobs
    /// are the tuned ones).
    #[serde(serialize_with = "name", deserialize_with = "parse")]
    pub variant: Variant,
    /// Default budget in µs (0..=[`MAX_BUDGET_US`]).
    pub budget_us: u64,
    /// K of the multi-candidate variants the σ were tuned at (1..=[`MAX_K`]).
    pub k: usize,
    /// σ per noise kind.
    pub sigma: Sigmas,
    /// The gradient-exploration step scale.
    pub gradient_scale: f32,
    /// The safe variant with its tuned noise, σ, λ and margin, when tuned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe: Option<Variant>,
}

fn name<S: Serializer>(v: &Variant, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.name())
}

fn parse<'de, D: Deserializer<'de>>(d: D) -> Result<Variant, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

impl ServingSettings {
    /// Checks every value's range (the variant's knobs are checked when it
    /// serves, as for any request).
    pub fn check(&self) -> Result<(), ModelError> {
        let bad = |why: String| Err(ModelError::Config(format!("{SERVING_FILE}: {why}")));
        if self.budget_us > MAX_BUDGET_US {
            return bad(format!(
                "budget_us {} above {MAX_BUDGET_US}",
                self.budget_us
            ));
        }
        if !(1..=MAX_K).contains(&self.k) {
            return bad(format!("k {} not in 1..={MAX_K}", self.k));
        }
        let s = &self.sigma;
        let values = [
            ("sigma.gaussian_w2", s.gaussian_w2),
            ("sigma.rademacher_w2", s.rademacher_w2),
            ("sigma.antithetic_w2", s.antithetic_w2),
            ("sigma.table_w2", s.table_w2),
            ("sigma.lowrank1_keys", s.lowrank1_keys),
            ("gradient_scale", self.gradient_scale),
        ];
        for (what, v) in values {
            if !(v.is_finite() && (0.0..=MAX_SCALE).contains(&v)) {
                return bad(format!("{what} = {v} not finite in 0..={MAX_SCALE}"));
            }
        }
        Ok(())
    }

    /// Parses and checks `serving.json` text.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let s: ServingSettings = serde_json::from_str(text)
            .map_err(|e| ModelError::Config(format!("{SERVING_FILE}: {e}")))?;
        s.check()?;
        Ok(s)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads `DIR/serving.json`: `None` if the file does not exist.
    pub fn read(dir: &Path) -> Result<Option<Self>, ModelError> {
        let path = dir.join(SERVING_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_json(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ModelError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Writes `DIR/serving.json`.
    pub fn write(&self, dir: &Path) -> Result<(), ModelError> {
        let path = dir.join(SERVING_FILE);
        std::fs::write(&path, self.to_json() + "\n").map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

impl Model {
    /// The serving defaults read from the folder's `serving.json`, if it had one.
    pub fn serving(&self) -> Option<&ServingSettings> {
        self.serving.as_ref()
    }
    /// The model with these serving defaults (checked).
    pub fn with_serving(mut self, s: ServingSettings) -> Result<Self, ModelError> {
        s.check()?;
        self.serving = Some(s);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> ServingSettings {
        ServingSettings {
            variant: "parallel-rademacher-w2-16:sigma=0.2".parse().unwrap(),
            budget_us: 5000,
            k: 16,
            sigma: Sigmas {
                gaussian_w2: 0.05,
                rademacher_w2: 0.2,
                antithetic_w2: 0.1,
                table_w2: 0.05,
                lowrank1_keys: 0.5,
            },
            gradient_scale: 0.01,
            safe: Some("safe-gaussian-w2-16:lambda=2,margin=0.01".parse().unwrap()),
        }
    }

    #[test]
    fn round_trip() {
        let s = example();
        let text = s.to_json();
        assert!(
            text.contains("\"parallel-rademacher-w2-16:sigma=0.2\""),
            "{text}"
        );
        assert_eq!(ServingSettings::from_json(&text).unwrap(), s);
    }

    #[test]
    fn malformed_files_are_config_errors() {
        let good = example().to_json();
        let cases = [
            "{".to_string(),
            good.replace("\"k\"", "\"kk\""),
            good.replace(
                "parallel-rademacher-w2-16:sigma=0.2",
                "parallel-rademacher-w2-1x",
            ),
            good.replace("\"budget_us\": 5000", "\"budget_us\": -1"),
            good.replace("\"k\": 16", "\"k\": 0"),
            good.replace("\"gradient_scale\": 0.01", "\"gradient_scale\": 1e9"),
            good.replace("\"rademacher_w2\": 0.2", "\"rademacher_w2\": -0.2"),
        ];
        for c in cases {
            assert_ne!(c, good);
            match ServingSettings::from_json(&c) {
                Err(ModelError::Config(msg)) => assert!(msg.starts_with(SERVING_FILE), "{msg}"),
                other => panic!("{c}: expected a config error, got {other:?}"),
            }
        }
    }
}
