//! The LAST serving loop: one request in, one list out, within a budget.
//!
//! Every variant first computes the **baseline** (the generator's greedy list
//! with Δθ = 0) so there is always an answer, then searches request-specific
//! offsets Δθ (which live only in the request's [`Scratch`]) and serves the
//! list the **evaluator** scores highest — never one scoring below the
//! baseline (ties keep the baseline). The safe variant instead serves by
//! the evaluator ensemble's lower bound (see `pessimism`), so its list may
//! score below the baseline under the evaluator alone. The model is only borrowed.
//!
//! Determinism: every kernel computes each row independently of the others
//! in its call (the same operations in the same order), so splitting work
//! into chunks or over threads, and sharing a row between candidates that
//! need the same one, changes no value: a given seed and input give the same
//! list on 1 or many threads (unless the budget cuts the search short, which
//! depends on time by design).
//!
//! Sharing within a request: candidates that read the request's `h0` and
//! have picked the same items so far have the same decoder state, so it is
//! computed once (a *slot* per distinct prefix); lists that share a prefix
//! share its evaluator rows.

mod batch;
mod bf16;
mod candidate;
mod chunk;
mod deadline;
mod decode;
mod encode;
mod error;
mod evaluate;
mod exhaustive;
mod gradient;
mod parallel;
mod pessimism;
mod request;
mod scratch;
mod serial;
#[cfg(all(test, feature = "tools"))]
mod tests;
mod validate;
mod variant;

pub use deadline::Deadline;
pub use error::ServeError;
pub use request::{Compute, Decision, Request, Response};
pub use scratch::Scratch;
pub use variant::{NoiseSpec, ParseVariantError, Search, Target, Variant, SAFE_DEFAULTS};

use batch::{Best, Cand, Lead};
use parallel::low_rank;
use pessimism::Kept;
use scratch::{ChunkBufs, EncRows, EvalParts, Shared};

use crate::model::Model;
use last_kernels::perturb::{perturbed_scratch_len, LowRank};
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::select::{argmax_masked, gumbel_argmax_with, Permutations};
use last_kernels::{pack, Activation, MatMut, MatRef};
use rayon::prelude::*;
use std::time::Instant;

/// Candidates per work unit for candidates with their own encoder output
/// (a cache-footprint choice; results never depend on it).
pub const CHUNK: usize = 8;
/// Largest N the exhaustive variant accepts.
pub const EXHAUSTIVE_MAX_N: usize = 10;
/// Largest L the exhaustive variant accepts.
pub const EXHAUSTIVE_MAX_L: usize = 5;
/// Largest K any variant accepts.
pub const MAX_K: usize = 1024;
/// Largest low rank of [`NoiseSpec::LowRank`].
pub const MAX_RANK: usize = 64;
/// Largest number of serial rounds.
pub const MAX_ROUNDS: usize = 1000;
/// Largest σ, step, trust and scale (all relative to the perturbed matrix's
/// RMS or norm). Far beyond any useful setting; it keeps every perturbed
/// product finite in f32 (a weight times at most 10³·‖W‖ times the ladder's
/// 6 + 1023 steps stays below 10⁸·‖W‖).
pub const MAX_SCALE: f32 = 1e3;

/// Matrix FLOPs of an `m × k` by `k × n` product (`2·m·n·k`).
pub(super) fn mm(m: usize, n: usize, k: usize) -> u64 {
    2 * (m * n * k) as u64
}

pub(super) fn grow<T: Clone + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

struct Ctx<'m, 'r> {
    m: &'m Model,
    req: &'r Request<'r>,
    n: usize,
    deadline: Deadline,
}

impl Model {
    /// Serves one request. See the module docs for the contract. The
    /// budget counts from this call; a budget too large to add to the clock
    /// means no deadline (see [`Deadline`]).
    pub fn serve(
        &self,
        req: &Request<'_>,
        scratch: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
    ) -> Result<Response, ServeError> {
        let start = Instant::now();
        self.serve_by(
            req,
            start,
            Deadline::after(start, req.budget),
            scratch,
            pool,
        )
    }

    /// [`Model::serve`] that also stops by `deadline`, an instant the
    /// embedder chose (typically the request's arrival plus its budget, so
    /// time spent queueing counts): the search stops at the earlier of
    /// `deadline` and `req.budget` from this call. A deadline already passed
    /// is not an error: the baseline is served with `budget_exhausted`.
    pub fn serve_until(
        &self,
        req: &Request<'_>,
        deadline: Instant,
        scratch: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
    ) -> Result<Response, ServeError> {
        let start = Instant::now();
        let d = Deadline::after(start, req.budget).min(Deadline::at(deadline));
        self.serve_by(req, start, d, scratch, pool)
    }

    fn serve_by(
        &self,
        req: &Request<'_>,
        start: Instant,
        deadline: Deadline,
        scratch: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
    ) -> Result<Response, ServeError> {
        let n = self.validate(req)?;
        // The safe variant runs its search, then selects pessimistically;
        // with a margin of +∞ no candidate can replace the baseline, so it
        // is served without a search.
        let (variant, pessimism) = match req.variant.pessimism() {
            Some((_, margin)) if margin == f32::INFINITY => (Variant::Baseline, None),
            p => (req.variant.search(), p),
        };
        let search = Request { variant, ..*req };
        let req = &search;
        // With further members, the search stops at 3/4 of the time left
        // so the ensemble pass fits in the budget (see `pessimism`).
        let search_deadline = match (pessimism, deadline.instant()) {
            (Some(_), Some(at)) if self.members() > 1 => {
                Deadline::at(start + at.saturating_duration_since(start) / 4 * 3)
            }
            _ => deadline,
        };
        let ctx = Ctx {
            m: self,
            req,
            n,
            deadline: search_deadline,
        };
        scratch.flops = 0;
        ctx.encode_shared(scratch, pool)?;
        let l = req.len;
        // Baseline first: there is always an answer. Parallel LAST decodes
        // it as candidate 0 of its batch (key noise shares its decoder
        // states; with W2 noise it fills the first chunk, balancing the
        // threads); with a pool, best-of-K computes it concurrently with its
        // first chunks. Either way it is installed in `best` before any
        // candidate is offered, so the result is the same as computing it
        // first.
        let lead = match req.variant {
            Variant::Parallel { .. } if !ctx.deadline.passed() => Lead::First,
            Variant::BestOfK { .. } | Variant::Parallel { .. } if pool.is_some() => Lead::Parallel,
            _ => Lead::Before,
        };
        let mut best = Best {
            list: Vec::with_capacity(l),
            score: f32::NEG_INFINITY,
            winner: 0,
            kept: pessimism.map(|_| std::mem::take(&mut scratch.kept)),
        };
        if lead == Lead::Before {
            ctx.baseline(scratch)?;
            best.set_baseline(&scratch.lead, l);
        }
        let mut candidates = 1;
        let mut rounds = 1;
        let exhausted;
        match req.variant {
            // Nothing to search: the budget is exhausted if the baseline
            // used it up (always, for a budget of 0), as for every variant.
            Variant::Baseline => exhausted = ctx.deadline.passed(),
            Variant::BestOfK { k } => {
                let mut cands = std::mem::take(&mut scratch.cands);
                cands.clear();
                cands.extend((1..k).map(|c| Cand::Sample(c as u64)));
                let (ex, done) = ctx.run_batch(&cands, 1, lead, scratch, pool, &mut best);
                scratch.cands = cands;
                exhausted = ex?;
                candidates += done;
            }
            Variant::Parallel {
                k,
                sigma,
                noise,
                target: _,
            } => {
                let mut cands = std::mem::take(&mut scratch.cands);
                ctx.parallel_cands(k, sigma, noise, &mut cands);
                let first = if lead == Lead::First {
                    cands.insert(0, Cand::Plain);
                    0
                } else {
                    1
                };
                let (ex, done) = ctx.run_batch(&cands, first, lead, scratch, pool, &mut best);
                scratch.cands = cands;
                exhausted = ex?;
                candidates += done;
            }
            Variant::Serial {
                rounds: r,
                pairs,
                sigma,
                step,
                trust,
                patience,
            } => {
                let (done, rr, ex) = ctx.serial(
                    r, pairs, sigma, step, trust, patience, scratch, pool, &mut best,
                )?;
                candidates += done;
                rounds = rr;
                exhausted = ex;
            }
            Variant::GradientExploration {
                ladder,
                samples,
                scale,
                gamma,
            } => {
                let (done, ex) = ctx.gradient_exploration(
                    ladder, samples, scale, gamma, scratch, pool, &mut best,
                )?;
                candidates += done;
                exhausted = ex;
            }
            Variant::Exhaustive => {
                let (done, ex) = ctx.exhaustive(scratch, &mut best)?;
                candidates += done;
                exhausted = ex;
            }
            Variant::Safe { .. } | Variant::Pessimistic { .. } => {
                unreachable!("serves its search")
            }
        }
        let exhausted = match pessimism {
            Some((lambda, margin)) => {
                ctx.select_pessimistic(lambda, margin, deadline, scratch, &mut best)? || exhausted
            }
            None => exhausted,
        };
        Ok(Response {
            list: best.list,
            score: best.score,
            baseline_list: scratch.lead.lists[..l].to_vec(),
            baseline_score: scratch.lead.out_scores[0],
            winner: best.winner,
            candidates,
            rounds,
            budget_exhausted: exhausted,
            elapsed: start.elapsed(),
            matrix_flops: scratch.flops,
            compute: match ctx.bf16() {
                Some(_) => Compute::Bf16,
                None => Compute::F32,
            },
        })
    }

    /// The policy-gradient surrogate of the released code for `req` and a
    /// fixed list `list` (normally the greedy one): returns the loss
    /// `Σ_t R_t·(−log p(list_t))` and writes `∂loss/∂W2` (row-major
    /// hidden × hidden) into `grad`. Exposed for diagnostics and the
    /// finite-difference tests; [`Variant::GradientExploration`] uses it.
    pub fn policy_gradient(
        &self,
        req: &Request<'_>,
        list: &[usize],
        gamma: f32,
        scratch: &mut Scratch,
        grad: &mut Vec<f32>,
    ) -> Result<f32, ServeError> {
        let n = self.validate(req)?;
        if list.len() != req.len || list.iter().any(|&i| i >= n) {
            return Err(ServeError::BadKnob(
                "list must hold L candidate indices".into(),
            ));
        }
        let ctx = Ctx {
            m: self,
            req,
            n,
            deadline: Deadline::after(Instant::now(), req.budget),
        };
        ctx.encode_shared(scratch, None)?;
        let loss = ctx.policy_gradient(list, gamma, scratch)?;
        let hh = self.cfg.hidden * self.cfg.hidden;
        grad.clear();
        grad.extend_from_slice(&scratch.pg.grad[..hh]);
        Ok(loss)
    }
}

impl Ctx<'_, '_> {
    /// The bf16 path of the candidate products, `None` for f32 (the
    /// request's choice, validated against the model).
    pub(super) fn bf16(&self) -> Option<last_kernels::bf16::Bf16Backend> {
        match self.req.compute {
            Compute::F32 => None,
            Compute::Model | Compute::Bf16 => self.m.bf16_path(),
        }
    }
    pub(super) fn be(&self) -> last_kernels::Backend {
        self.m.backend
    }
    pub(super) fn h(&self) -> usize {
        self.m.cfg.hidden
    }
}
