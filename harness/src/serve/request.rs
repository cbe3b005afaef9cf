//! One request in, one response out.

use super::Variant;
use last_kernels::MatRef;
use std::time::Duration;

/// One re-ranking request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// User / context features (d_u).
    pub user: &'a [f32],
    /// Candidate item features, N × d_x.
    pub items: MatRef<'a>,
    /// Output length L (1 ≤ L ≤ min(N, max_len)).
    pub len: usize,
    /// Seed of every random draw in this request.
    pub seed: u64,
    /// What to run.
    pub variant: Variant,
    /// Wall-clock budget from the call to [`Model::serve`](crate::model::Model::serve)
    /// (see [`Model::serve_until`](crate::model::Model::serve_until) to count
    /// it from the request's arrival); the best list so far is served when
    /// it runs out. 0 serves the baseline; a budget too large to add to the
    /// clock means no deadline.
    pub budget: Duration,
    /// Which kernels the candidate products run on.
    pub compute: Compute,
}

/// The precision of a request's candidate products (the model's storage
/// type, f32, f16 or bf16, is the model's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    /// The model's own: bf16 for a model stored as bf16, f32 otherwise.
    #[default]
    Model,
    /// f32 kernels throughout (on a bf16 model: on its bf16-valued weights).
    F32,
    /// The bf16 kernels for the candidates' perturbed and key products
    /// (a model stored as bf16 only; otherwise a [`super::ServeError::BadKnob`]).
    Bf16,
}

/// What the server gets back.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Served list: L candidate indices, no repeats.
    pub list: Vec<usize>,
    /// Evaluator score of the served list.
    pub score: f32,
    /// The baseline (Δθ = 0 greedy) list.
    pub baseline_list: Vec<usize>,
    /// Its evaluator score.
    pub baseline_score: f32,
    /// Index of the winning candidate (0 = baseline).
    pub winner: usize,
    /// Candidate lists scored, baseline included.
    pub candidates: usize,
    /// Search rounds completed (serial; 1 for single-shot variants).
    pub rounds: usize,
    /// Whether the deadline passed before the variant finished (always for
    /// a budget of 0 or a passed deadline, whatever the variant).
    pub budget_exhausted: bool,
    /// Time spent.
    pub elapsed: Duration,
    /// Matrix FLOPs this request performed: `2·m·n·k` of every matrix
    /// product (dense layers, perturbed and low-rank products, the
    /// backward pass's products) and `2·H` per pointer score; activations,
    /// noise draws and copies excluded. Products the loop shares or skips
    /// (shared decoder states, shared evaluator rows) are not counted.
    pub matrix_flops: u64,
    /// What the candidate products ran on: [`Compute::F32`] or
    /// [`Compute::Bf16`] (see [`crate::model::Model::bf16_path`] for the
    /// bf16 path).
    pub compute: Compute,
}

/// What a [`Response`] decides, without the time it took: equal for two
/// responses exactly when the same seed and input served the same list by
/// the same search (scores compared bit for bit). Determinism checks
/// compare these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Served list.
    pub list: Vec<usize>,
    /// Bits of the served list's score.
    pub score_bits: u32,
    /// Baseline list.
    pub baseline_list: Vec<usize>,
    /// Bits of the baseline's score.
    pub baseline_score_bits: u32,
    /// Winning candidate.
    pub winner: usize,
    /// Candidates scored.
    pub candidates: usize,
    /// Search rounds.
    pub rounds: usize,
}

impl Response {
    /// The response's [`Decision`].
    pub fn decision(&self) -> Decision {
        Decision {
            list: self.list.clone(),
            score_bits: self.score.to_bits(),
            baseline_list: self.baseline_list.clone(),
            baseline_score_bits: self.baseline_score.to_bits(),
            winner: self.winner,
            candidates: self.candidates,
            rounds: self.rounds,
        }
    }
}
