//! Sizes, limits and precision of a model pair (`config.json`).

use super::ModelError;
use serde::{Deserialize, Serialize};

/// Storage type of the weights the kernels read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats.
    #[default]
    F32,
    /// IEEE binary16 storage, f32 accumulation.
    F16,
    /// bfloat16 weights (f32 weights are rounded once at load). The
    /// per-candidate products of LAST (the perturbed layer `W + σE` and the
    /// candidates' pointer keys) run on the bf16 kernels: activations
    /// rounded to bf16, f32 accumulation, AMX or AVX512-BF16 where the CPU
    /// has them ([`crate::model::Model::bf16_path`]). Every other product
    /// runs the f32 kernels on the same bf16-valued weights.
    Bf16,
}

/// Largest magnitude of a position weight. A list score is
/// `Σ_t w_t·c_t` with click probabilities `c_t ∈ [0, 1]` over at most
/// 4096 positions, so it stays below 4.1·10⁹ in magnitude: finite in f32
/// with a margin of 10²⁹ (3e38 weights made scores +∞, and the search then
/// ranked those lists best).
pub const MAX_POSITION_WEIGHT: f32 = 1e6;

/// Model sizes and serving limits (the JSON config beside the weights).
/// Unknown fields are an error (a misspelt `position_weights` would
/// otherwise be silently ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Item feature width.
    pub d_x: usize,
    /// User feature width.
    pub d_u: usize,
    /// Generator hidden width.
    pub hidden: usize,
    /// Evaluator first hidden layer.
    pub eval_h1: usize,
    /// Evaluator second hidden layer.
    pub eval_h2: usize,
    /// Position-embedding width.
    pub pos_dim: usize,
    /// Longest list the evaluator has position embeddings for (max L).
    pub max_len: usize,
    /// Largest candidate set a request may bring (max N).
    pub max_candidates: usize,
    /// Weight storage type.
    #[serde(default)]
    pub dtype: Dtype,
    /// Per-position weights of the list score (default: all 1).
    #[serde(default)]
    pub position_weights: Option<Vec<f32>>,
}

impl Config {
    /// The standard scenario of docs/DESIGN.md §5 (N = 50, d_x = 64, d_u = 32, L = 10).
    pub fn standard() -> Self {
        Config {
            d_x: 64,
            d_u: 32,
            hidden: 128,
            eval_h1: 128,
            eval_h2: 64,
            pos_dim: 16,
            max_len: 10,
            max_candidates: 256,
            dtype: Dtype::F32,
            position_weights: None,
        }
    }
    /// A tiny model (d_x 3, d_u 2, hidden 4, evaluator 4 / 3, L ≤ 3,
    /// N ≤ 8): what tests, fuzz targets and their seed corpora build.
    pub fn tiny() -> Self {
        Config {
            d_x: 3,
            d_u: 2,
            hidden: 4,
            eval_h1: 4,
            eval_h2: 3,
            pos_dim: 2,
            max_len: 3,
            max_candidates: 8,
            dtype: Dtype::F32,
            position_weights: None,
        }
    }
    /// Input width of the evaluator's first layer.
    pub fn eval_in(&self) -> usize {
        2 * self.d_x + self.d_u + self.pos_dim
    }
    /// Weight of position `t` in the list score.
    pub fn position_weight(&self, t: usize) -> f32 {
        self.position_weights
            .as_ref()
            .and_then(|w| w.get(t).copied())
            .unwrap_or(1.0)
    }
    /// Parses and checks a JSON config (the `config.json` beside the weights).
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let cfg: Config =
            serde_json::from_str(text).map_err(|e| ModelError::Config(e.to_string()))?;
        cfg.check()?;
        Ok(cfg)
    }
    /// Serialises the config as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serialises")
    }
    pub(super) fn check(&self) -> Result<(), ModelError> {
        let dims = [
            ("d_x", self.d_x),
            ("d_u", self.d_u),
            ("hidden", self.hidden),
            ("eval_h1", self.eval_h1),
            ("eval_h2", self.eval_h2),
            ("pos_dim", self.pos_dim),
            ("max_len", self.max_len),
            ("max_candidates", self.max_candidates),
        ];
        for (name, v) in dims {
            if v == 0 || v > 4096 {
                return Err(ModelError::Config(format!(
                    "{name} = {v} must be in 1..=4096"
                )));
            }
        }
        if let Some(w) = &self.position_weights {
            if w.len() != self.max_len || w.iter().any(|v| !v.is_finite()) {
                return Err(ModelError::Config(
                    "position_weights must hold max_len finite values".into(),
                ));
            }
            if let Some((t, v)) = w
                .iter()
                .enumerate()
                .find(|(_, v)| v.abs() > MAX_POSITION_WEIGHT)
            {
                return Err(ModelError::Config(format!(
                    "position_weights[{t}] = {v} is above {MAX_POSITION_WEIGHT:e} in magnitude"
                )));
            }
        }
        Ok(())
    }
}
