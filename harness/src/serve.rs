//! The LAST serving loop: one request in, one list out, within a budget.
//!
//! Every variant first computes the **baseline** (the generator's greedy list
//! with Δθ = 0) so there is always an answer, then searches request-specific
//! offsets Δθ (which live only in the request's [`Scratch`]) and serves the
//! list the **evaluator** scores highest — never one scoring below the
//! baseline (ties keep the baseline). The model is only borrowed.
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

use crate::model::{Layer, Model};
use last_kernels::perturb::{perturbed_scratch_len, LowRank};
use last_kernels::rng::{Noise, NoiseKind};
use last_kernels::select::{argmax_masked, gumbel_argmax_with, Permutations};
use last_kernels::{pack, Activation, KernelError, MatMut, MatRef};
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Candidates per work unit for candidates with their own encoder output
/// (a cache-footprint choice; results never depend on it).
pub const CHUNK: usize = 8;
/// Largest N the exhaustive variant accepts.
pub const EXHAUSTIVE_MAX_N: usize = 10;
/// Largest L the exhaustive variant accepts.
pub const EXHAUSTIVE_MAX_L: usize = 5;
/// Largest K any variant accepts.
pub const MAX_K: usize = 1024;

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
    /// model's shared [`NoiseTable`](crate::noise_table::NoiseTable) at a
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

/// A variant and its knobs.
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
        /// Reward-to-go discount (0.3 in the released code).
        gamma: f32,
    },
    /// Every ordered selection of L out of N (N ≤ 10, L ≤ 5): the evaluator's optimum.
    Exhaustive,
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
    /// Short name for reports.
    pub fn name(&self) -> String {
        match self {
            Variant::Baseline => "baseline".into(),
            Variant::BestOfK { k } => format!("best_of_{k}"),
            Variant::Parallel {
                k, noise, target, ..
            } => {
                let n = match noise {
                    NoiseSpec::Gaussian => "gaussian".to_string(),
                    NoiseSpec::Rademacher => "rademacher".into(),
                    NoiseSpec::Antithetic => "antithetic".into(),
                    NoiseSpec::LowRank(r) => format!("lowrank{r}"),
                    NoiseSpec::Table => "table".into(),
                };
                let t = match target {
                    Target::W2 => "w2",
                    Target::Keys => "keys",
                };
                format!("parallel_{n}_{t}_k{k}")
            }
            Variant::Serial { rounds, pairs, .. } => format!("serial_r{rounds}_p{pairs}"),
            Variant::GradientExploration {
                ladder, samples, ..
            } => format!("gradient_l{ladder}_s{samples}"),
            Variant::Exhaustive => "exhaustive".into(),
        }
    }
}

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
    /// Wall-clock budget; the best list so far is served when it runs out.
    pub budget: Duration,
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
    /// Whether the budget stopped the search early.
    pub budget_exhausted: bool,
    /// Time spent.
    pub elapsed: Duration,
    /// Matrix FLOPs this request performed: `2·m·n·k` of every matrix
    /// product (dense layers, perturbed and low-rank products, the
    /// backward pass's products) and `2·H` per pointer score; activations,
    /// noise draws and copies excluded. Products the loop shares or skips
    /// (shared decoder states, shared evaluator rows) are not counted.
    pub matrix_flops: u64,
}

/// Why a request was refused. Nothing is modified on error.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ServeError {
    /// N = 0.
    #[error("no candidates")]
    NoCandidates,
    /// N above the model's limit.
    #[error("{n} candidates, the model accepts at most {max}")]
    TooManyCandidates {
        /// Given.
        n: usize,
        /// Limit.
        max: usize,
    },
    /// L = 0, L > N or L > max_len.
    #[error("list length {len} invalid for {n} candidates (max_len {max_len})")]
    BadLength {
        /// Requested L.
        len: usize,
        /// N.
        n: usize,
        /// Model limit.
        max_len: usize,
    },
    /// Feature width mismatch.
    #[error("{what}: width {got}, model expects {expected}")]
    FeatureWidth {
        /// Which input.
        what: &'static str,
        /// Given.
        got: usize,
        /// Expected.
        expected: usize,
    },
    /// NaN or ±∞ in the input.
    #[error("{what}: non-finite value at index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Flat index.
        index: usize,
    },
    /// A variant knob is out of range.
    #[error("variant: {0}")]
    BadKnob(String),
    /// A kernel refused its shapes (a bug if it happens after validation).
    #[error("kernel: {0}")]
    Kernel(#[from] KernelError),
}

/// Per-chunk work buffers (one chunk = the candidates `Ctx::chunk_len` groups).
#[derive(Debug, Default, Clone)]
struct ChunkBufs {
    h: Vec<f32>,
    keys: Vec<f32>,
    s: Vec<f32>,
    s_in: Vec<f32>,
    q: Vec<f32>,
    scores: Vec<f32>,
    taken: Vec<bool>,
    lists: Vec<usize>,
    e1: Vec<f32>,
    e2: Vec<f32>,
    c: Vec<f32>,
    panel: Vec<f32>,
    lr_u: Vec<f32>,
    lr_up: Vec<f32>,
    lr_vt: Vec<f32>,
    lr_t: Vec<f32>,
    out_scores: Vec<f32>,
    /// Evaluator row (prefix-tree node) of each list position.
    node: Vec<usize>,
    /// Running sum of the evaluator's projected "items above" part.
    above: Vec<f32>,
    own_h: Vec<bool>,
    own_k: Vec<bool>,
    /// Whether the last `run_all` ran this chunk, or the error it hit.
    ran: bool,
    err: Option<ServeError>,
    ek: Vec<f32>,
    ek_ok: Vec<bool>,
    /// `e^{2q}` per decoder slot, and whether it is in the exponential
    /// form's range.
    eq: Vec<f32>,
    eq_ok: Vec<bool>,
    /// Decoder slot of each candidate, and the first candidate of each slot
    /// (this step's and the next step's).
    slot: Vec<usize>,
    rep: Vec<usize>,
    nslot: Vec<usize>,
    nrep: Vec<usize>,
    /// Parent states gathered for the split state update.
    sg: Vec<f32>,
    /// Gumbel noise of one sampling step.
    gumbel: Vec<f32>,
    /// Matrix FLOPs of the last `chunk` / `evaluate` call.
    flops: u64,
}

/// Request-local scratch: reuse one per serving thread; buffers grow to the
/// largest request seen and are not freed, so the steady state allocates
/// nothing. Δθ lives here and nowhere else.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    /// `[u; mean x]` and `c = W1_u·u + W1_m·mean x + b1` (see `encode_shared`).
    ux: Vec<f32>,
    c1: Vec<f32>,
    mean: Vec<f32>,
    e1: Vec<f32>,
    /// `e1·W2ᵀ + b` (before the ReLU).
    h0pre: Vec<f32>,
    /// `e1·Gᵀ` for the policy gradient G (gradient exploration).
    gq: Vec<f32>,
    /// Serial LAST: `R = e1·Δθᵀ` and the round's `E_q = e1·ε_qᵀ`.
    ser_r: Vec<f32>,
    ser_e: Vec<f32>,
    /// `h0·Ws_hᵀ`, valid when `hw_ok` (see `Ctx::decoder_parts`).
    hw: Vec<f32>,
    hw_ok: bool,
    /// Panel scratch for perturbed products outside a chunk.
    panel: Vec<f32>,
    h0: Vec<f32>,
    /// `h0` packed as a weight matrix (N outputs), for low-rank key noise.
    h0p: Vec<f32>,
    keys0: Vec<f32>,
    /// `e^{2·keys0}` for the exponential form of the pointer scores.
    ek0: Vec<f32>,
    /// Whether every shared key is within `last_kernels::pointer::EXP_FORM_LIMIT`.
    ek0_ok: bool,
    ev: EvalParts,
    /// The baseline's buffers.
    lead: ChunkBufs,
    chunks: Vec<ChunkBufs>,
    delta: Vec<f32>,
    eps: Vec<f32>,
    grad: Vec<f32>,
    perm: Vec<u8>,
    pg: PgBufs,
    /// Candidate descriptions of the current batch.
    cands: Vec<Cand>,
    /// Scores of the current batch (NaN where skipped).
    scores: Vec<f32>,
    /// The greedy list the gradient is taken at.
    list: Vec<usize>,
    /// An all-zero packed H × H matrix (noise draws through `perturb_weights`).
    zeros: Vec<pack::Block32>,
    /// Matrix FLOPs of the current request so far.
    flops: u64,
}

/// The evaluator's first layer split by input block, precomputed once per
/// request. `z_t = [x_{π_t}; u; mean of x above t; P_t]` is linear in each
/// block, so `W·z_t + b = Wx·x_{π_t} + (1/t)·Σ_{s<t} Wm·x_{π_s} + (Wu·u + Wp·P_t + b)`:
/// the item projections are computed for the N candidates once, and each
/// position of each candidate list only adds three rows (instead of a
/// 176-wide dot product per output).
#[derive(Debug, Default, Clone)]
struct EvalParts {
    /// `Wx·x_i`, N × h1.
    px: Vec<f32>,
    /// `Wm·x_i`, N × h1.
    pm: Vec<f32>,
    /// `Wu·u + b`, h1.
    cu: Vec<f32>,
    /// `Wp·P_t + Wu·u + b`, L × h1.
    cpos: Vec<f32>,
}

/// Buffers of the policy-gradient backward pass.
#[derive(Debug, Default, Clone)]
struct PgBufs {
    q: Vec<f32>,
    s: Vec<f32>,
    p: Vec<f32>,
    s_in: Vec<f32>,
    dk: Vec<f32>,
    dh: Vec<f32>,
    dq: Vec<f32>,
    ds: Vec<f32>,
    dz: Vec<f32>,
    din: Vec<f32>,
    ret: Vec<f32>,
    taken: Vec<bool>,
    scores: Vec<f32>,
    eq: Vec<f32>,
    /// The gradient in the packed layout (f32 models).
    gpk: Vec<pack::Block32>,
}

/// Matrix FLOPs of an `m × k` by `k × n` product (`2·m·n·k`).
fn mm(m: usize, n: usize, k: usize) -> u64 {
    2 * (m * n * k) as u64
}

fn grow<T: Clone + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

/// How one candidate's encoder output is produced.
#[derive(Clone, Copy, Debug)]
enum Cand {
    /// Δθ = 0, greedy.
    Plain,
    /// Δθ = 0, Gumbel-max sampling with this stream.
    Sample(u64),
    /// Full-rank noise on the target, scale σ.
    Noise(Noise, f32),
    /// Low-rank noise on the target: stream, rank, σ.
    LowRank(Noise, usize, f32),
    /// Full-rank noise from the shared table: candidate number, σ.
    Table(u32, f32),
    /// A serial-LAST candidate `W2 + Δθ ± σε_q`: pair `q`, signed σ
    /// (`h = ReLU(P + R ± σ·E_q)`, see [`Ctx::serial`]).
    Serial(u32, f32),
    /// A gradient-exploration step `W2 + k·G`: `h = ReLU(P + k·Q)` from the
    /// request's shared pre-activation `P = e1·W2ᵀ + b` and `Q = e1·Gᵀ`.
    Ladder(f32),
}

/// Where a batch's baseline comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lead {
    /// Computed before the batch (already installed in `Best`).
    Before,
    /// Computed into `Scratch::lead` alongside the batch's chunks (pool
    /// only), installed before any candidate is offered.
    Parallel,
    /// The batch's first candidate is `Cand::Plain`, decoded in the first
    /// chunk (sharing states with key-noise candidates), never skipped.
    First,
}

struct Ctx<'m, 'r> {
    m: &'m Model,
    req: &'r Request<'r>,
    n: usize,
    deadline: Instant,
}

impl Model {
    /// Serves one request. See the module docs for the contract.
    pub fn serve(
        &self,
        req: &Request<'_>,
        scratch: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
    ) -> Result<Response, ServeError> {
        let start = Instant::now();
        let n = self.validate(req)?;
        let ctx = Ctx {
            m: self,
            req,
            n,
            deadline: start + req.budget,
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
            Variant::Parallel { .. } if Instant::now() < ctx.deadline => Lead::First,
            Variant::BestOfK { .. } | Variant::Parallel { .. } if pool.is_some() => Lead::Parallel,
            _ => Lead::Before,
        };
        let mut best = Best {
            list: Vec::with_capacity(l),
            score: f32::NEG_INFINITY,
            winner: 0,
        };
        if lead == Lead::Before {
            ctx.baseline(scratch)?;
            best.set_baseline(&scratch.lead, l);
        }
        let mut candidates = 1;
        let mut rounds = 1;
        let mut exhausted = false;
        match req.variant {
            Variant::Baseline => {}
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
        }
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
            deadline: Instant::now() + req.budget,
        };
        ctx.encode_shared(scratch, None)?;
        let loss = ctx.policy_gradient(list, gamma, scratch)?;
        let hh = self.cfg.hidden * self.cfg.hidden;
        grad.clear();
        grad.extend_from_slice(&scratch.grad[..hh]);
        Ok(loss)
    }

    fn validate(&self, req: &Request<'_>) -> Result<usize, ServeError> {
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

struct Best {
    list: Vec<usize>,
    score: f32,
    winner: usize,
}

impl Best {
    /// Installs the baseline (candidate 0) from its chunk: unconditionally,
    /// before any other candidate is offered.
    fn set_baseline(&mut self, lead: &ChunkBufs, l: usize) {
        self.list.clear();
        self.list.extend_from_slice(&lead.lists[..l]);
        self.score = lead.out_scores[0];
        self.winner = 0;
    }
    /// Strictly better only: ties keep the earlier (lower-index) candidate.
    fn offer(&mut self, list: &[usize], score: f32, idx: usize) {
        if score > self.score {
            self.list.clear();
            self.list.extend_from_slice(list);
            self.score = score;
            self.winner = idx;
        }
    }
}

impl Ctx<'_, '_> {
    fn be(&self) -> last_kernels::Backend {
        self.m.backend
    }
    fn h(&self) -> usize {
        self.m.cfg.hidden
    }

    /// The per-request encoder outputs (`e1`, `h0 = ReLU(P)` with its
    /// pre-activation `P = e1·W2ᵀ + b`, keys, `e^{2·keys}`, the evaluator's
    /// item projections) and the other per-request parts. Everything up to
    /// the item projections is row-wise, so with a pool the items are split
    /// in two halves that run on two threads (the products are
    /// row-independent: the same values either way).
    fn encode_shared(
        &self,
        s: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
    ) -> Result<(), ServeError> {
        let (n, dx, du, h) = (self.n, self.m.cfg.d_x, self.m.cfg.d_u, self.h());
        let (w, h1) = (2 * dx + du, self.m.cfg.eval_h1);
        let mean = grow(&mut s.mean, dx);
        mean.fill(0.0);
        for i in 0..n {
            for (m, v) in mean.iter_mut().zip(self.req.items.row(i)) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f32);
        // W1 [x_i; u; mean x] + b = W1_x·x_i + c: the user and mean-item
        // blocks are the same for every item, so their product is one row.
        let ux = grow(&mut s.ux, du + dx);
        ux[..du].copy_from_slice(self.req.user);
        ux[du..].copy_from_slice(&s.mean[..dx]);
        let w1 = &self.m.gen.w1;
        self.be().dense(
            MatRef::new(&s.ux[..du + dx], 1, du + dx)?,
            w1.packed().columns(dx, w)?,
            Some(w1.bias()),
            Activation::Identity,
            MatMut::new(grow(&mut s.c1, h), 1, h)?,
        )?;
        let c1 = &s.c1[..h];
        let rows = EncRows {
            e1: grow(&mut s.e1, n * h),
            h0pre: grow(&mut s.h0pre, n * h),
            h0: grow(&mut s.h0, n * h),
            keys0: grow(&mut s.keys0, n * h),
            ek0: grow(&mut s.ek0, n * h),
            px: grow(&mut s.ev.px, n * h1),
            pm: grow(&mut s.ev.pm, n * h1),
        };
        s.ek0_ok = match pool {
            Some(p) if n >= 4 * last_kernels::TILE_ROWS => {
                let (a, b) = rows.split(n / 2, h, h1);
                let (ra, rb) = p.install(|| {
                    rayon::join(
                        || self.encode_rows(0, a, c1),
                        || self.encode_rows(n / 2, b, c1),
                    )
                });
                ra? && rb?
            }
            _ => self.encode_rows(0, rows, c1)?,
        };
        if let Variant::Parallel {
            target: Target::Keys,
            noise: NoiseSpec::LowRank(_),
            ..
        } = self.req.variant
        {
            let h0p = grow(&mut s.h0p, pack::packed_len(n, h));
            pack::pack_f32(&s.h0[..n * h], n, h, h0p)?;
        }
        s.flops += mm(1, h, du + dx) + mm(n, h, dx) + 2 * mm(n, h, h) + 2 * mm(n, h1, dx);
        self.decoder_parts(s)?;
        s.flops += self.eval_parts(&mut s.ev)?;
        Ok(())
    }

    /// The row-wise encoder for items `lo..lo + m` (`m` = the rows of `r`),
    /// given the items' shared first-layer row `c1`; returns whether every
    /// key is in the exponential form's range.
    fn encode_rows(&self, lo: usize, r: EncRows<'_>, c1: &[f32]) -> Result<bool, ServeError> {
        let (dx, du, h) = (self.m.cfg.d_x, self.m.cfg.d_u, self.h());
        let m = r.e1.len() / h;
        let (g, be) = (&self.m.gen, self.be());
        let it = self.req.items;
        let items = MatRef::with_stride(&it.data()[lo * it.stride()..], m, dx, it.stride())?;
        // e1 = ReLU(W1_x·x_i + c1).
        for row in r.e1.chunks_exact_mut(h) {
            row.copy_from_slice(c1);
        }
        let w1x = g.w1.packed().columns(0, dx)?;
        be.dense_add(items, w1x, None, Activation::Relu, MatMut::new(r.e1, m, h)?)?;
        let fwd = |l: &Layer, x: &[f32], act, y: &mut [f32]| -> Result<(), ServeError> {
            Ok(l.forward(be, MatRef::new(x, m, l.k)?, act, MatMut::new(y, m, l.n)?)?)
        };
        // h0 = ReLU(P), P kept for gradient exploration's steps (the same
        // values as the fused ReLU).
        fwd(&g.w2, r.e1, Activation::Identity, r.h0pre)?;
        for (o, p) in r.h0.iter_mut().zip(r.h0pre.iter()) {
            *o = p.max(0.0);
        }
        fwd(&g.a, r.h0, Activation::Identity, r.keys0)?;
        let ok = be.pointer_exp(r.keys0, r.ek0)?;
        // The evaluator's first layer, item blocks (see `EvalParts`).
        let l1 = self.m.eval.l1.packed();
        let h1 = self.m.cfg.eval_h1;
        let id = Activation::Identity;
        be.dense(
            items,
            l1.columns(0, dx)?,
            None,
            id,
            MatMut::new(r.px, m, h1)?,
        )?;
        let wm = l1.columns(dx + du, 2 * dx + du)?;
        be.dense(items, wm, None, id, MatMut::new(r.pm, m, h1)?)?;
        Ok(ok)
    }

    /// `Ws [s_t; h_pick] = Ws_s·s_t + Ws_h·h_pick`: for candidates that share
    /// the request's `h0`, the second term is a row of `h0·Ws_hᵀ`, computed
    /// once (N·H·H multiply-adds) instead of once per candidate and step
    /// ((L−1)·H·H each). Worth it when more than N/(L−1) candidates share
    /// h0 besides the baseline and their states diverge: best-of-K. (Key
    /// noise shares states by pick prefix instead, and with the baseline,
    /// whose states take the full product.)
    fn decoder_parts(&self, s: &mut Scratch) -> Result<(), ServeError> {
        let (n, h, l) = (self.n, self.h(), self.req.len);
        let shared = match self.req.variant {
            Variant::BestOfK { k } => k.saturating_sub(1),
            _ => 0,
        };
        s.hw_ok = shared * l.saturating_sub(1) > n;
        if s.hw_ok {
            self.be().dense(
                MatRef::new(&s.h0[..n * h], n, h)?,
                self.m.gen.ws.packed().columns(h, 2 * h)?,
                None,
                Activation::Identity,
                MatMut::new(grow(&mut s.hw, n * h), n, h)?,
            )?;
            s.flops += mm(n, h, h);
        }
        Ok(())
    }

    /// Fills the per-request rows of [`EvalParts`] (`cu`, `cpos`; the item
    /// projections come from [`Self::encode_rows`]). Returns the matrix
    /// FLOPs.
    fn eval_parts(&self, ev: &mut EvalParts) -> Result<u64, ServeError> {
        let (be, cfg) = (self.be(), &self.m.cfg);
        let (l, dx, du, pd, h1) = (self.req.len, cfg.d_x, cfg.d_u, cfg.pos_dim, cfg.eval_h1);
        let l1 = &self.m.eval.l1;
        let w = l1.packed();
        let id = Activation::Identity;
        let cu = grow(&mut ev.cu, h1);
        be.dense(
            MatRef::new(self.req.user, 1, du)?,
            w.columns(dx, dx + du)?,
            Some(l1.bias()),
            id,
            MatMut::new(cu, 1, h1)?,
        )?;
        let cpos = grow(&mut ev.cpos, l * h1);
        be.dense(
            MatRef::new(&self.m.eval.pos[..l * pd], l, pd)?,
            w.columns(2 * dx + du, 2 * dx + du + pd)?,
            None,
            id,
            MatMut::new(cpos, l, h1)?,
        )?;
        for row in cpos.chunks_exact_mut(h1) {
            row.iter_mut().zip(&ev.cu[..h1]).for_each(|(p, c)| *p += c);
        }
        Ok(mm(1, h1, du) + mm(l, h1, pd))
    }

    fn parallel_cands(&self, k: usize, sigma: f32, noise: NoiseSpec, out: &mut Vec<Cand>) {
        let (kind, anti) = match noise {
            NoiseSpec::Rademacher => (NoiseKind::Rademacher, false),
            NoiseSpec::Antithetic => (NoiseKind::Gaussian, true),
            _ => (NoiseKind::Gaussian, false),
        };
        let target = match self.req.variant {
            Variant::Parallel { target, .. } => target,
            _ => Target::W2,
        };
        let layer = match target {
            Target::W2 => &self.m.gen.w2,
            Target::Keys => &self.m.gen.a,
        };
        let scale = sigma * layer.rms();
        out.clear();
        out.extend((1..k).map(|c| {
            let nz = Noise {
                seed: self.req.seed,
                candidate: (c - 1) as u32,
                kind,
                antithetic: anti,
            };
            match noise {
                NoiseSpec::LowRank(r) => Cand::LowRank(nz, r, scale),
                NoiseSpec::Table => Cand::Table((c - 1) as u32, scale),
                _ => Cand::Noise(nz, scale),
            }
        }));
    }

    /// [`Self::run_all`] with the scratch's score buffer; returns (budget
    /// exhausted, candidates scored, the baseline excluded).
    #[allow(clippy::too_many_arguments)]
    fn run_batch(
        &self,
        cands: &[Cand],
        first: usize,
        lead: Lead,
        s: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
        best: &mut Best,
    ) -> (Result<bool, ServeError>, usize) {
        let mut scores = std::mem::take(&mut s.scores);
        let r = self.run_all(cands, first, lead, s, pool, best, &mut scores);
        let done = scores.iter().filter(|v| !v.is_nan()).count();
        s.scores = scores;
        (r, done)
    }

    /// Runs `cands` (numbered from `first`) in chunks (see
    /// [`Self::chunk_len`]), in parallel when a pool is given, offering each
    /// list to `best` after the baseline is installed (see [`Lead`]).
    /// Returns every candidate's score in order, the baseline excluded (NaN
    /// where the deadline skipped its chunk), and whether anything was
    /// skipped.
    #[allow(clippy::too_many_arguments)]
    fn run_all(
        &self,
        cands: &[Cand],
        first: usize,
        lead: Lead,
        s: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
        best: &mut Best,
        scores: &mut Vec<f32>,
    ) -> Result<bool, ServeError> {
        let threads = pool.map_or(1, |p| p.current_num_threads());
        let size = self.chunk_len(cands.len(), threads);
        let nchunks = cands.len().div_ceil(size);
        grow(&mut s.chunks, nchunks.max(1));
        let l = self.req.len;
        let (chunks, lead_buf, sh) = s.parts();
        // Each chunk records whether it ran in its own buffer (no per-call
        // result vector); the first error in chunk order is returned. The
        // chunk holding the baseline (`Lead::First`) always runs.
        let job = |(ci, buf): (usize, &mut ChunkBufs)| {
            buf.ran = false;
            buf.err = None;
            if Instant::now() >= self.deadline && !(ci == 0 && lead == Lead::First) {
                return;
            }
            let lo = ci * size;
            let hi = (lo + size).min(cands.len());
            match self.chunk(&cands[lo..hi], buf, &sh) {
                Ok(()) => buf.ran = true,
                Err(e) => buf.err = Some(e),
            }
        };
        match pool {
            Some(p) if lead == Lead::Parallel => {
                let lead_job = || {
                    lead_buf.err = self.chunk(&[Cand::Plain], lead_buf, &sh).err();
                };
                p.install(|| {
                    rayon::join(lead_job, || {
                        chunks[..nchunks].par_iter_mut().enumerate().for_each(job)
                    })
                });
            }
            Some(p) if nchunks > 1 => {
                p.install(|| chunks[..nchunks].par_iter_mut().enumerate().for_each(job))
            }
            _ => chunks[..nchunks].iter_mut().enumerate().for_each(job),
        }
        let mut flops = 0;
        match lead {
            Lead::Parallel => {
                if let Some(e) = lead_buf.err.take() {
                    return Err(e);
                }
                best.set_baseline(lead_buf, l);
                flops += lead_buf.flops;
            }
            Lead::First => {
                // The baseline is candidate 0 of chunk 0: copy it out so the
                // response finds it where the other paths leave it.
                let c0 = &mut chunks[0];
                if let Some(e) = c0.err.take() {
                    return Err(e);
                }
                grow(&mut lead_buf.lists, l).copy_from_slice(&c0.lists[..l]);
                grow(&mut lead_buf.out_scores, 1)[0] = c0.out_scores[0];
                best.set_baseline(lead_buf, l);
            }
            Lead::Before => {}
        }
        scores.clear();
        let mut skipped = false;
        for (ci, buf) in chunks[..nchunks].iter_mut().enumerate() {
            let lo = ci * size;
            let cnt = (lo + size).min(cands.len()) - lo;
            if let Some(e) = buf.err.take() {
                return Err(e);
            }
            // Candidate 0 of a `Lead::First` batch is the baseline.
            let j0 = usize::from(ci == 0 && lead == Lead::First);
            if buf.ran {
                flops += buf.flops;
                for j in j0..cnt {
                    let sc = buf.out_scores[j];
                    best.offer(&buf.lists[j * l..(j + 1) * l], sc, first + lo + j);
                    scores.push(sc);
                }
            } else {
                skipped = true;
                scores.extend(std::iter::repeat_n(f32::NAN, cnt - j0));
            }
        }
        s.flops += flops;
        Ok(skipped)
    }

    /// Candidates per chunk. Every product is row-independent and shared
    /// decoder states are exact, so chunking never changes a result: it
    /// trades sharing and matrix height against cache footprint. Candidates
    /// that share h0 (best-of-K, key noise) keep only their keys, if any,
    /// and gain from sharing, so they split evenly over the threads, up to
    /// 2·[`CHUNK`] per chunk (the budget is checked between chunks);
    /// candidates with their own encoder output (N·H floats of h, keys and
    /// e^{2k} each) go [`CHUNK`] at a time.
    fn chunk_len(&self, cands: usize, threads: usize) -> usize {
        let shared_h0 = matches!(
            self.req.variant,
            Variant::BestOfK { .. }
                | Variant::Parallel {
                    target: Target::Keys,
                    ..
                }
        );
        if shared_h0 {
            cands.div_ceil(threads.max(1)).clamp(1, 2 * CHUNK)
        } else {
            CHUNK
        }
    }

    /// The baseline (Δθ = 0, greedy) into `s.lead`.
    fn baseline(&self, s: &mut Scratch) -> Result<(), ServeError> {
        let (_, lead, sh) = s.parts();
        self.chunk(&[Cand::Plain], lead, &sh)?;
        s.flops += s.lead.flops;
        Ok(())
    }

    /// One chunk of candidates: encoder output per candidate, batched
    /// decoding, batched evaluation. Writes `buf.lists` and `buf.out_scores`.
    fn chunk(&self, cands: &[Cand], b: &mut ChunkBufs, sh: &Shared<'_>) -> Result<(), ServeError> {
        let be = self.be();
        let g = &self.m.gen;
        let (n, h, du, l) = (self.n, self.h(), self.m.cfg.d_u, self.req.len);
        let c = cands.len();
        let nh = n * h;
        b.flops = 0;
        grow(&mut b.h, c * nh);
        grow(&mut b.keys, c * nh);
        let target = match self.req.variant {
            Variant::Parallel { target, .. } => target,
            _ => Target::W2,
        };
        let w2 = g.w2.packed();
        let e1 = MatRef::new(&sh.e1[..nh], n, h)?;
        let h0 = MatRef::new(&sh.h0[..nh], n, h)?;
        // Unperturbed h / keys are read from the shared buffers, not copied.
        grow(&mut b.own_h, c).fill(true);
        grow(&mut b.own_k, c).fill(true);
        for (j, cand) in cands.iter().enumerate() {
            let (hs, ks) = (j * nh, (j + 1) * nh);
            // h_j
            let perturb_w2 = target == Target::W2;
            match cand {
                Cand::Noise(nz, sigma) if perturb_w2 => {
                    let panel = grow(&mut b.panel, perturbed_scratch_len(h));
                    be.dense_perturbed(
                        e1,
                        w2,
                        nz,
                        *sigma,
                        Some(g.w2.bias()),
                        Activation::Relu,
                        MatMut::new(&mut b.h[hs..ks], n, h)?,
                        panel,
                    )?;
                    b.flops += mm(n, h, h);
                }
                Cand::LowRank(nz, r, sigma) if perturb_w2 => {
                    let lr = low_rank(
                        be,
                        &mut b.lr_u,
                        &mut b.lr_up,
                        &mut b.lr_vt,
                        nz,
                        *r,
                        *sigma,
                        h,
                        h,
                    )?;
                    be.dense_low_rank(
                        e1,
                        w2,
                        lr,
                        Some(g.w2.bias()),
                        Activation::Relu,
                        MatMut::new(&mut b.h[hs..ks], n, h)?,
                        grow(&mut b.lr_t, n * r),
                    )?;
                    b.flops += mm(n, h, h) + mm(n, *r, h) + mm(n, h, *r);
                }
                Cand::Table(cand, sigma) if perturb_w2 => {
                    let panel = grow(&mut b.panel, perturbed_scratch_len(h));
                    be.dense_perturbed_table(
                        e1,
                        w2,
                        self.m.noise_table().slice(self.req.seed, *cand),
                        *sigma,
                        Some(g.w2.bias()),
                        Activation::Relu,
                        MatMut::new(&mut b.h[hs..ks], n, h)?,
                        panel,
                    )?;
                    b.flops += mm(n, h, h);
                }
                Cand::Serial(q, sg) => {
                    let eq = &sh.ser_e[*q as usize * nh..(*q as usize + 1) * nh];
                    let hj = &mut b.h[hs..ks];
                    for (((o, p), r), e) in hj
                        .iter_mut()
                        .zip(&sh.h0pre[..nh])
                        .zip(&sh.ser_r[..nh])
                        .zip(eq)
                    {
                        *o = (p + r + sg * e).max(0.0);
                    }
                }
                Cand::Ladder(k) => {
                    let hj = &mut b.h[hs..ks];
                    for ((o, p), q) in hj.iter_mut().zip(&sh.h0pre[..nh]).zip(&sh.gq[..nh]) {
                        *o = (p + k * q).max(0.0);
                    }
                }
                _ => b.own_h[j] = false,
            }
            // keys_j
            match cand {
                Cand::Noise(nz, sigma) if !perturb_w2 => {
                    let panel = grow(&mut b.panel, perturbed_scratch_len(h));
                    be.dense_perturbed(
                        h0,
                        g.a.packed(),
                        nz,
                        *sigma,
                        Some(g.a.bias()),
                        Activation::Identity,
                        MatMut::new(&mut b.keys[hs..ks], n, h)?,
                        panel,
                    )?;
                    b.flops += mm(n, h, h);
                }
                Cand::Table(cand, sigma) if !perturb_w2 => {
                    let panel = grow(&mut b.panel, perturbed_scratch_len(h));
                    be.dense_perturbed_table(
                        h0,
                        g.a.packed(),
                        self.m.noise_table().slice(self.req.seed, *cand),
                        *sigma,
                        Some(g.a.bias()),
                        Activation::Identity,
                        MatMut::new(&mut b.keys[hs..ks], n, h)?,
                        panel,
                    )?;
                    b.flops += mm(n, h, h);
                }
                Cand::LowRank(nz, r, sigma) if !perturb_w2 => {
                    // keys' = h·(A + σ'·U·Vᵀ)ᵀ + b = keys0 + σ'·(h·V)·Uᵀ: the shared
                    // keys plus a rank-r correction (N·H·r work instead of N·H·H).
                    // Same draws as `low_rank`; the sum is rounded in a different
                    // order than the fused low-rank kernel would (deterministic).
                    let r = *r;
                    let sig = *sigma / (r as f32).sqrt();
                    be.noise_fill(nz, 0, grow(&mut b.lr_u, h * r));
                    be.noise_fill(nz, (h * r) as u32, grow(&mut b.lr_vt, r * h));
                    // Tᵀ = Vᵀ·h0ᵀ (r × N) against the request's packed h0: an
                    // r-row product, no packing per candidate.
                    let h0p =
                        pack::PackedF32::from_packed(&sh.h0p[..pack::packed_len(n, h)], n, h)?;
                    let t = grow(&mut b.lr_t, r * n);
                    be.dense(
                        MatRef::new(&b.lr_vt[..r * h], r, h)?,
                        h0p,
                        None,
                        Activation::Identity,
                        MatMut::new(t, r, n)?,
                    )?;
                    b.flops += 2 * mm(n, h, r);
                    let u = &b.lr_u[..h * r];
                    for i in 0..n {
                        let (k0, kr) = (
                            &sh.keys0[i * h..(i + 1) * h],
                            &mut b.keys[hs + i * h..hs + (i + 1) * h],
                        );
                        kr.copy_from_slice(k0);
                        for rr in 0..r {
                            let a = sig * b.lr_t[rr * n + i];
                            if r == 1 {
                                for (kv, uv) in kr.iter_mut().zip(u) {
                                    *kv += a * uv;
                                }
                            } else {
                                for (jj, kv) in kr.iter_mut().enumerate() {
                                    *kv += a * u[jj * r + rr];
                                }
                            }
                        }
                    }
                }
                Cand::Plain | Cand::Sample(_) => b.own_k[j] = false,
                _ if !perturb_w2 => b.own_k[j] = false,
                _ => {
                    g.a.forward(
                        be,
                        MatRef::new(&b.h[hs..ks], n, h)?,
                        Activation::Identity,
                        MatMut::new(&mut b.keys[hs..ks], n, h)?,
                    )?;
                    b.flops += mm(n, h, h);
                }
            }
        }
        // e^{2·keys} of the candidates' own keys (the exponential form of the
        // pointer scores, see `Backend::pointer_scores_exp`); shared keys use
        // the request's `ek0`. Keys outside the form's range fall back to the
        // rational-tanh kernel for that candidate (a deterministic choice).
        grow(&mut b.ek, c * nh);
        grow(&mut b.ek_ok, c);
        for j in 0..c {
            b.ek_ok[j] = if b.own_k[j] {
                be.pointer_exp(
                    &b.keys[j * nh..(j + 1) * nh],
                    &mut b.ek[j * nh..(j + 1) * nh],
                )?
            } else {
                sh.ek0_ok
            };
        }
        // Decoder states live in *slots*. A candidate that reads the shared
        // h0 has a state that depends only on h0, u and its picks so far, so
        // such candidates with the same picks share one slot and its state,
        // query and e^{2q} are computed once; a candidate with its own h
        // always has its own slot. Every dense product is row-independent
        // (each output row is the same sum in the same order whatever the
        // other rows), so sharing changes no value, only the work.
        let w0in = h + du;
        let (slot, rep) = (grow(&mut b.slot, c), grow(&mut b.rep, c));
        let mut u = 0;
        let mut shared_slot = None;
        for (j, sj) in slot.iter_mut().enumerate() {
            *sj = match shared_slot {
                Some(sl) if !b.own_h[j] => sl,
                _ => {
                    rep[u] = j;
                    if !b.own_h[j] {
                        shared_slot = Some(u);
                    }
                    u += 1;
                    u - 1
                }
            };
        }
        grow(&mut b.nslot, c);
        grow(&mut b.nrep, c);
        // s_0 = tanh(W0 [mean h; u]) per slot.
        let s_in = grow(&mut b.s_in, c * 2 * h);
        for sl in 0..u {
            let j = b.rep[sl];
            let hj = if b.own_h[j] {
                &b.h[j * nh..(j + 1) * nh]
            } else {
                &sh.h0[..nh]
            };
            let row = &mut s_in[sl * w0in..(sl + 1) * w0in];
            row[..h].fill(0.0);
            for i in 0..n {
                for (m, v) in row[..h].iter_mut().zip(&hj[i * h..(i + 1) * h]) {
                    *m += v;
                }
            }
            row[..h].iter_mut().for_each(|m| *m /= n as f32);
            row[h..].copy_from_slice(self.req.user);
        }
        grow(&mut b.s, c * h);
        g.w0.forward(
            be,
            MatRef::new(&b.s_in[..u * w0in], u, w0in)?,
            Activation::Tanh,
            MatMut::new(&mut b.s[..u * h], u, h)?,
        )?;
        b.flops += mm(u, h, w0in);
        // With the request's `Ws_h·h0` (see `Ctx::decoder_parts`), chunks
        // whose candidates all share h0 halve the state update; the
        // baseline (a lone `Plain`) always takes the full product, so it is
        // the same list whatever the variant.
        let split_ws = sh.hw.is_some()
            && cands.iter().all(|c| !matches!(c, Cand::Plain))
            && !b.own_h[..c].iter().any(|&o| o);
        // Decode L steps, all slots of the chunk batched.
        let taken = grow(&mut b.taken, c * n);
        taken.fill(false);
        grow(&mut b.q, c * h);
        grow(&mut b.sg, c * h);
        grow(&mut b.eq, c * h);
        grow(&mut b.eq_ok, c);
        grow(&mut b.scores, n);
        grow(&mut b.lists, c * l);
        for t in 0..l {
            g.b.forward(
                be,
                MatRef::new(&b.s[..u * h], u, h)?,
                Activation::Identity,
                MatMut::new(&mut b.q[..u * h], u, h)?,
            )?;
            for sl in 0..u {
                let r = sl * h..(sl + 1) * h;
                b.eq_ok[sl] = be.pointer_exp(&b.q[r.clone()], &mut b.eq[r])?;
            }
            // B·s per slot, and one H-wide score per untaken item and candidate.
            b.flops += mm(u, h, h) + mm(c, n - t, h);
            for (j, cand) in cands.iter().enumerate() {
                let tk = &mut b.taken[j * n..(j + 1) * n];
                let sl = b.slot[j];
                if b.ek_ok[j] && b.eq_ok[sl] {
                    be.pointer_scores_exp(
                        MatRef::new(
                            if b.own_k[j] {
                                &b.ek[j * nh..(j + 1) * nh]
                            } else {
                                &sh.ek0[..nh]
                            },
                            n,
                            h,
                        )?,
                        &b.eq[sl * h..(sl + 1) * h],
                        &g.v,
                        Some(tk),
                        &mut b.scores[..n],
                    )?;
                } else {
                    be.pointer_scores(
                        MatRef::new(
                            if b.own_k[j] {
                                &b.keys[j * nh..(j + 1) * nh]
                            } else {
                                &sh.keys0[..nh]
                            },
                            n,
                            h,
                        )?,
                        &b.q[sl * h..(sl + 1) * h],
                        &g.v,
                        Some(tk),
                        &mut b.scores[..n],
                    )?;
                }
                let pick = match cand {
                    Cand::Sample(stream) => {
                        // Vectorised noise, the same draws as `gumbel_argmax`.
                        let g = grow(&mut b.gumbel, n);
                        be.gumbel_noise(self.req.seed, (stream << 8) | t as u64, g);
                        gumbel_argmax_with(&b.scores[..n], Some(tk), g)?
                    }
                    _ => argmax_masked(&b.scores[..n], tk)?,
                };
                let pick = pick.ok_or(ServeError::BadLength {
                    len: l,
                    n,
                    max_len: self.m.cfg.max_len,
                })?;
                tk[pick] = true;
                b.lists[j * l + t] = pick;
            }
            if t + 1 == l {
                break;
            }
            // The next step's slots: a shared-h0 candidate joins the first
            // earlier one with the same slot and pick.
            let mut nu = 0;
            for j in 0..c {
                let same = |i: &usize| {
                    !b.own_h[*i]
                        && b.slot[*i] == b.slot[j]
                        && b.lists[*i * l + t] == b.lists[j * l + t]
                };
                b.nslot[j] = match (0..j).find(same).filter(|_| !b.own_h[j]) {
                    Some(i) => b.nslot[i],
                    None => {
                        b.nrep[nu] = j;
                        nu += 1;
                        nu - 1
                    }
                };
            }
            if split_ws {
                // s' = tanh(Ws_s·s + b + [Ws_h·h0]_pick): the gathered
                // per-request rows go in first, the product is added on top.
                let hw = sh.hw.unwrap_or(&[]);
                for ns in 0..nu {
                    let j = b.nrep[ns];
                    let (p, pick) = (b.slot[j], b.lists[j * l + t]);
                    b.q[ns * h..(ns + 1) * h].copy_from_slice(&hw[pick * h..(pick + 1) * h]);
                    b.sg[ns * h..(ns + 1) * h].copy_from_slice(&b.s[p * h..(p + 1) * h]);
                }
                be.dense_add(
                    MatRef::new(&b.sg[..nu * h], nu, h)?,
                    g.ws.packed().columns(0, h)?,
                    Some(g.ws.bias()),
                    Activation::Tanh,
                    MatMut::new(&mut b.q[..nu * h], nu, h)?,
                )?;
                b.flops += mm(nu, h, h);
                std::mem::swap(&mut b.s, &mut b.q);
            } else {
                // s' = tanh(Ws [s; h_pick]).
                let s_in = &mut b.s_in[..c * 2 * h];
                for ns in 0..nu {
                    let j = b.nrep[ns];
                    let (p, pick) = (b.slot[j], b.lists[j * l + t]);
                    let row = &mut s_in[ns * 2 * h..(ns + 1) * 2 * h];
                    row[..h].copy_from_slice(&b.s[p * h..(p + 1) * h]);
                    row[h..].copy_from_slice(if b.own_h[j] {
                        &b.h[j * nh + pick * h..j * nh + (pick + 1) * h]
                    } else {
                        &sh.h0[pick * h..(pick + 1) * h]
                    });
                }
                g.ws.forward(
                    be,
                    MatRef::new(&b.s_in[..nu * 2 * h], nu, 2 * h)?,
                    Activation::Tanh,
                    MatMut::new(&mut b.s[..nu * h], nu, h)?,
                )?;
                b.flops += mm(nu, h, 2 * h);
            }
            std::mem::swap(&mut b.slot, &mut b.nslot);
            std::mem::swap(&mut b.rep, &mut b.nrep);
            u = nu;
        }
        let lists = std::mem::take(&mut b.lists);
        let r = self.evaluate(&lists[..c * l], c, b, sh.ev);
        b.lists = lists;
        b.flops += r?;
        Ok(())
    }

    /// Scores `count` lists of length L (row-major in `lists`) with the
    /// evaluator, one batched forward pass over all their positions (the
    /// first layer from the request's [`EvalParts`]); writes
    /// `b.out_scores[..count]` and returns the matrix FLOPs.
    fn evaluate(
        &self,
        lists: &[usize],
        count: usize,
        b: &mut ChunkBufs,
        parts: &EvalParts,
    ) -> Result<u64, ServeError> {
        let be = self.be();
        let cfg = &self.m.cfg;
        let ev = &self.m.eval;
        let l = self.req.len;
        let rows = count * l;
        let (h1, h2) = (cfg.eval_h1, cfg.eval_h2);
        // Position t of a list depends only on the list's first t + 1 items,
        // so lists sharing a prefix share those rows: each (list, position)
        // maps to a row of the prefix tree (`node`), and only distinct rows
        // go through the MLP. A list's prefix is looked up among the
        // previous `PREFIX_WINDOW` lists (candidates of one chunk; neighbours
        // in the exhaustive variant's lexicographic order). The dense layers
        // are row-independent, so this changes no value.
        const PREFIX_WINDOW: usize = 16;
        let node = grow(&mut b.node, rows);
        let e1 = grow(&mut b.e1, rows * h1);
        let acc = grow(&mut b.above, h1);
        let mut u = 0;
        for (j, list) in lists[..rows].chunks_exact(l).enumerate() {
            acc.fill(0.0);
            for (t, &item) in list.iter().enumerate() {
                let shared = (j.saturating_sub(PREFIX_WINDOW)..j).rev().find(|&i| {
                    lists[i * l + t] == item
                        && (t == 0 || node[i * l + t - 1] == node[j * l + t - 1])
                });
                if let Some(i) = shared {
                    node[j * l + t] = node[i * l + t];
                } else {
                    node[j * l + t] = u;
                    let row = &mut e1[u * h1..(u + 1) * h1];
                    let inv = if t > 0 { 1.0 / t as f32 } else { 0.0 };
                    let px = &parts.px[item * h1..(item + 1) * h1];
                    let cp = &parts.cpos[t * h1..(t + 1) * h1];
                    for (((o, x), c), a) in row.iter_mut().zip(px).zip(cp).zip(acc.iter()) {
                        *o = (x + c + a * inv).max(0.0);
                    }
                    u += 1;
                }
                let pm = &parts.pm[item * h1..(item + 1) * h1];
                acc.iter_mut().zip(pm).for_each(|(a, m)| *a += m);
            }
        }
        // Sized for every row, not just the distinct ones, so a request
        // with fewer shared prefixes never reallocates.
        grow(&mut b.e2, rows * h2);
        grow(&mut b.c, rows);
        ev.l2.forward(
            be,
            MatRef::new(&b.e1[..u * h1], u, h1)?,
            Activation::Relu,
            MatMut::new(&mut b.e2[..u * h2], u, h2)?,
        )?;
        ev.l3.forward(
            be,
            MatRef::new(&b.e2[..u * h2], u, h2)?,
            Activation::Sigmoid,
            MatMut::new(&mut b.c[..u], u, 1)?,
        )?;

        let out = grow(&mut b.out_scores, count);
        for (j, o) in out.iter_mut().enumerate() {
            *o = (0..l)
                .map(|t| cfg.position_weight(t) * b.c[b.node[j * l + t]])
                .sum();
        }
        Ok(mm(u, h2, h1) + mm(u, 1, h2))
    }

    /// Serial LAST: antithetic ES rounds on Δθ (W2), normalised steps in a
    /// trust region. Returns (lists scored, rounds, budget exhausted).
    ///
    /// The encoder never forms `W2 + Δθ ± σε`: with `P = e1·W2ᵀ + b`
    /// (shared), `R = e1·Δθᵀ` and `E_q = e1·ε_qᵀ`, candidate `±` of pair
    /// `q` has `h = ReLU(P + R ± σ·E_q)`, so a pair costs one N×H×H product
    /// instead of two, and the step `Δθ ← f·(Δθ + k·Σ d_q ε_q)` updates
    /// `R ← f·(R + k·Σ d_q E_q)` without another. Δθ itself is kept in the
    /// packed weight layout for the step's norm and the trust region.
    #[allow(clippy::too_many_arguments)]
    fn serial(
        &self,
        rounds: usize,
        pairs: usize,
        sigma: f32,
        step: f32,
        trust: f32,
        patience: usize,
        s: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
        best: &mut Best,
    ) -> Result<(usize, usize, bool), ServeError> {
        let be = self.be();
        let w2 = &self.m.gen.w2;
        let (n, h) = (self.n, self.h());
        let nh = n * h;
        let len = pack::packed_len(h, h);
        let norm_w = w2.rms() * ((h * h) as f32).sqrt();
        let scale = sigma * w2.rms();
        grow(&mut s.delta, len).fill(0.0);
        grow(&mut s.grad, len);
        grow(&mut s.eps, len);
        grow(&mut s.ser_r, nh).fill(0.0);
        grow(&mut s.ser_e, pairs * nh);
        // Never written: stays all-zero once grown.
        let mut zeros_blocks = std::mem::take(&mut s.zeros);
        grow(&mut zeros_blocks, len.div_ceil(16));
        let zeros =
            pack::PackedF32::from_packed(&bytemuck::cast_slice(&zeros_blocks)[..len], h, h)?;
        let zeros = zeros.as_weights();
        let noise = |r: usize, q: usize| Noise {
            seed: self.req.seed,
            candidate: (r * 2 * pairs + 2 * q) as u32,
            kind: NoiseKind::Gaussian,
            antithetic: true,
        };
        let mut cands = std::mem::take(&mut s.cands);
        let mut scores = std::mem::take(&mut s.scores);
        let mut done = 0;
        let mut stale = 0;
        let mut r = 0;
        let mut exhausted = false;
        let mut result = Ok(());
        while r < rounds {
            if Instant::now() >= self.deadline {
                exhausted = true;
                break;
            }
            // E_q = e1·ε_qᵀ (the zero matrix perturbed by ε_q at σ = 1).
            let e1 = MatRef::new(&s.e1[..nh], n, h)?;
            let panel = grow(&mut s.panel, perturbed_scratch_len(h));
            for q in 0..pairs {
                let eq = MatMut::new(&mut s.ser_e[q * nh..(q + 1) * nh], n, h)?;
                be.dense_perturbed(
                    e1,
                    zeros,
                    &noise(r, q),
                    1.0,
                    None,
                    Activation::Identity,
                    eq,
                    panel,
                )?;
                s.flops += mm(n, h, h);
            }
            cands.clear();
            cands.extend((0..2 * pairs).map(|i| {
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                Cand::Serial((i / 2) as u32, sign * scale)
            }));
            let before = best.score;
            match self.run_all(&cands, 1 + done, Lead::Before, s, pool, best, &mut scores) {
                Ok(skipped) => {
                    done += scores.iter().filter(|v| !v.is_nan()).count();
                    r += 1;
                    if skipped {
                        exhausted = true;
                        break;
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            stale = if best.score > before { 0 } else { stale + 1 };
            if stale >= patience {
                break;
            }
            // g = Σ_q (R⁺_q − R⁻_q) ε_q ; step along g/‖g‖.
            let grad = &mut s.grad[..len];
            grad.fill(0.0);
            let mut any = false;
            for q in 0..pairs {
                let d = scores[2 * q] - scores[2 * q + 1];
                if d == 0.0 || !d.is_finite() {
                    continue;
                }
                any = true;
                be.perturb_weights(zeros, &noise(r - 1, q), 1.0, &mut s.eps[..len])?;
                for (gv, e) in grad.iter_mut().zip(&s.eps[..len]) {
                    *gv += d * e;
                }
            }
            if !any {
                continue;
            }
            let gn = grad.iter().map(|v| v * v).sum::<f32>().sqrt();
            if gn == 0.0 || !gn.is_finite() {
                continue;
            }
            let k = step * norm_w / gn;
            let delta = &mut s.delta[..len];
            for (dv, gv) in delta.iter_mut().zip(grad.iter()) {
                *dv += k * gv;
            }
            let dn = delta.iter().map(|v| v * v).sum::<f32>().sqrt();
            let cap = trust * norm_w;
            let f = if dn > cap && dn > 0.0 { cap / dn } else { 1.0 };
            if f != 1.0 {
                delta.iter_mut().for_each(|v| *v *= f);
            }
            // The same step on R = e1·Δθᵀ.
            let rr = &mut s.ser_r[..nh];
            for q in 0..pairs {
                let d = scores[2 * q] - scores[2 * q + 1];
                if d == 0.0 || !d.is_finite() {
                    continue;
                }
                let c = k * d;
                for (rv, ev) in rr.iter_mut().zip(&s.ser_e[q * nh..(q + 1) * nh]) {
                    *rv += c * ev;
                }
            }
            if f != 1.0 {
                rr.iter_mut().for_each(|v| *v *= f);
            }
        }
        s.cands = cands;
        s.scores = scores;
        s.zeros = zeros_blocks;
        result.map(|()| (done, r, exhausted))
    }

    /// Loss and `∂loss/∂W2` (row-major, into `s.grad`) of the surrogate
    /// `Σ_t R_t·(−log p(π_t))`, teacher-forced on `list`, back-propagated
    /// through the pointer scores, the keys, the decoder states (s_0 via
    /// mean h, s_{t+1} via h_{π_t}) and the encoder's ReLU. The advantage
    /// `r_t = w_t·(E_t(list) − E_t(initial list))` uses the evaluator's
    /// per-position click probabilities; the initial list is the request's
    /// first L candidates in the order given (the earlier stage's ranking).
    fn policy_gradient(
        &self,
        list: &[usize],
        gamma: f32,
        s: &mut Scratch,
    ) -> Result<f32, ServeError> {
        let be = self.be();
        let g = &self.m.gen;
        let cfg = &self.m.cfg;
        let (n, h, du, l) = (self.n, self.h(), cfg.d_u, self.req.len);
        let nh = n * h;
        // Advantages from the evaluator: [list; initial] in one pass.
        let buf = &mut grow(&mut s.chunks, 1)[0];
        let ev = &s.ev;
        let lists = grow(&mut buf.lists, 2 * l);
        lists[..l].copy_from_slice(list);
        for (t, v) in lists[l..].iter_mut().enumerate() {
            *v = t;
        }
        let lists = std::mem::take(&mut buf.lists);
        let r = self.evaluate(&lists[..2 * l], 2, buf, ev);
        buf.lists = lists;
        let eval_flops = r?;
        // Forward and backward products of the teacher-forced decode: W0,
        // B, the scores and Ws per step, their transposes, and the two
        // N×H×H products at the end.
        let mut flops = eval_flops + 2 * (mm(1, h, h + du) + mm(h, h, n) + mm(n, h, h));
        for t in 0..l {
            flops += 2 * (mm(1, h, h) + mm(n - t, 1, h));
            if t + 1 < l {
                flops += 2 * mm(1, h, 2 * h);
            }
        }
        s.flops += flops;
        // Buffers taken out of the scratch for the call (put back at the end;
        // an early error return only costs a reallocation next time).
        let mut ret = std::mem::take(&mut s.pg.ret);
        let mut taken = std::mem::take(&mut s.pg.taken);
        let mut scores = std::mem::take(&mut s.pg.scores);
        ret.clear();
        ret.resize(l, 0.0);
        taken.clear();
        taken.resize(n, false);
        scores.clear();
        scores.resize(n, 0.0);
        let mut acc = 0f32;
        for t in (0..l).rev() {
            let adv = cfg.position_weight(t) * (buf.c[t] - buf.c[l + t]);
            acc = adv + gamma * acc;
            ret[t] = acc;
        }
        let Scratch {
            e1,
            h0,
            keys0,
            pg,
            grad,
            ek0,
            ek0_ok,
            ..
        } = s;
        let (e1, h0, keys0) = (&e1[..nh], &h0[..nh], &keys0[..nh]);
        let (ek0, ek0_ok) = (&ek0[..nh], *ek0_ok);
        // Teacher-forced forward, keeping q_t, s_t and p_t.
        let sdim = h + du;
        let s_in = grow(&mut pg.s_in, 2 * h);
        s_in[..h].fill(0.0);
        for i in 0..n {
            for (m, v) in s_in[..h].iter_mut().zip(&h0[i * h..(i + 1) * h]) {
                *m += v;
            }
        }
        s_in[..h].iter_mut().for_each(|m| *m /= n as f32);
        s_in[h..sdim].copy_from_slice(self.req.user);
        grow(&mut pg.s, l * h);
        grow(&mut pg.q, l * h);
        grow(&mut pg.p, l * n);
        g.w0.forward(
            be,
            MatRef::new(&pg.s_in[..sdim], 1, sdim)?,
            Activation::Tanh,
            MatMut::new(&mut pg.s[..h], 1, h)?,
        )?;
        let mut loss = 0f32;
        for t in 0..l {
            let (sv, qv) = (&pg.s[t * h..(t + 1) * h], &mut pg.q[t * h..(t + 1) * h]);
            g.b.forward(
                be,
                MatRef::new(sv, 1, h)?,
                Activation::Identity,
                MatMut::new(qv, 1, h)?,
            )?;
            be.pointer_scores(
                MatRef::new(keys0, n, h)?,
                qv,
                &g.v,
                Some(&taken),
                &mut scores,
            )?;
            let p = &mut pg.p[t * n..(t + 1) * n];
            last_kernels::select::log_softmax(&scores, p)?;
            loss -= ret[t] * p[list[t]];
            for (pi, tk) in p.iter_mut().zip(&taken) {
                *pi = if *tk {
                    0.0
                } else {
                    last_kernels::math::exp(*pi)
                };
            }
            taken[list[t]] = true;
            if t + 1 < l {
                let s_in = &mut pg.s_in[..2 * h];
                s_in[..h].copy_from_slice(&pg.s[t * h..(t + 1) * h]);
                s_in[h..].copy_from_slice(&h0[list[t] * h..(list[t] + 1) * h]);
                let (_, next) = pg.s.split_at_mut((t + 1) * h);
                g.ws.forward(
                    be,
                    MatRef::new(&pg.s_in[..2 * h], 1, 2 * h)?,
                    Activation::Tanh,
                    MatMut::new(&mut next[..h], 1, h)?,
                )?;
            }
        }
        // Backward, last step first.
        let dk = grow(&mut pg.dk, nh);
        dk.fill(0.0);
        let dh = grow(&mut pg.dh, nh);
        dh.fill(0.0);
        grow(&mut pg.dq, h);
        grow(&mut pg.dz, h);
        grow(&mut pg.din, 2 * h + du);
        let ds = grow(&mut pg.ds, h);
        ds.fill(0.0);
        for t in (0..l).rev() {
            // Mask as it was at step t: the first t picks.
            taken.fill(false);
            for &i in &list[..t] {
                taken[i] = true;
            }
            let q = &pg.q[t * h..(t + 1) * h];
            let dq = &mut pg.dq[..h];
            dq.fill(0.0);
            // tanh'(k + q) = 1 − tanh² = 4y/(1 + y)² with y = e^{2k}·e^{2q}
            // (the exponential form of the forward scores; no overflow for
            // |k|, |q| ≤ EXP_FORM_LIMIT, and the limit y → ∞ gives 0). An
            // elementwise loop the compiler vectorises; the rational tanh
            // where the form's range check fails.
            let eq = grow(&mut pg.eq, h);
            let exp_form = ek0_ok && be.pointer_exp(q, eq)?;
            for i in 0..n {
                if taken[i] {
                    continue;
                }
                let gi = ret[t] * (pg.p[t * n + i] - if i == list[t] { 1.0 } else { 0.0 });
                if gi == 0.0 {
                    continue;
                }
                let dkr = &mut pg.dk[i * h..(i + 1) * h];
                if exp_form {
                    let er = &ek0[i * h..(i + 1) * h];
                    for ((((dk, dqv), e), f), v) in dkr
                        .iter_mut()
                        .zip(dq.iter_mut())
                        .zip(er)
                        .zip(&eq[..h])
                        .zip(&g.v)
                    {
                        let y = e * f;
                        let r = 1.0 / (1.0 + y);
                        let d = gi * v * (4.0 * y * r * r);
                        *dk += d;
                        *dqv += d;
                    }
                } else {
                    let kr = &keys0[i * h..(i + 1) * h];
                    for j in 0..h {
                        let a = last_kernels::math::tanh_fast(kr[j] + q[j]);
                        let d = gi * g.v[j] * (1.0 - a * a);
                        dkr[j] += d;
                        dq[j] += d;
                    }
                }
            }
            // ds_t += dq·B ; then through s_t = tanh(z_t).
            be.matmul(
                MatRef::new(&pg.dq[..h], 1, h)?,
                MatRef::new(g.b.weight(), h, h)?,
                MatMut::new(&mut pg.ds[..h], 1, h)?,
                true,
            )?;
            let st = &pg.s[t * h..(t + 1) * h];
            for ((dz, d), sv) in pg.dz[..h].iter_mut().zip(&pg.ds[..h]).zip(st) {
                *dz = d * (1.0 - sv * sv);
            }
            if t > 0 {
                // z_t = Ws [s_{t−1}; h_{π_{t−1}}] + b
                be.matmul(
                    MatRef::new(&pg.dz[..h], 1, h)?,
                    MatRef::new(g.ws.weight(), h, 2 * h)?,
                    MatMut::new(&mut pg.din[..2 * h], 1, 2 * h)?,
                    false,
                )?;
                pg.ds[..h].copy_from_slice(&pg.din[..h]);
                let p = list[t - 1];
                for (d, v) in pg.dh[p * h..(p + 1) * h].iter_mut().zip(&pg.din[h..2 * h]) {
                    *d += v;
                }
            } else {
                // z_0 = W0 [mean h; u] + b0
                be.matmul(
                    MatRef::new(&pg.dz[..h], 1, h)?,
                    MatRef::new(g.w0.weight(), h, sdim)?,
                    MatMut::new(&mut pg.din[..sdim], 1, sdim)?,
                    false,
                )?;
                let inv = 1.0 / n as f32;
                for i in 0..n {
                    for (d, v) in pg.dh[i * h..(i + 1) * h].iter_mut().zip(&pg.din[..h]) {
                        *d += v * inv;
                    }
                }
            }
        }
        // keys = h·Aᵀ + b → dH += dK·A ; h = ReLU(z) ; dW2 = dZᵀ·e1.
        be.matmul(
            MatRef::new(&pg.dk[..nh], n, h)?,
            MatRef::new(g.a.weight(), h, h)?,
            MatMut::new(&mut pg.dh[..nh], n, h)?,
            true,
        )?;
        be.activation_backward(
            Activation::Relu,
            MatRef::new(h0, n, h)?,
            MatMut::new(&mut pg.dh[..nh], n, h)?,
        )?;
        let gr = grow(grad, h * h);
        be.matmul_tn(
            MatRef::new(&pg.dh[..nh], n, h)?,
            MatRef::new(e1, n, h)?,
            MatMut::new(gr, h, h)?,
            false,
        )?;
        pg.ret = ret;
        pg.taken = taken;
        pg.scores = scores;
        Ok(loss)
    }

    /// The released gradient-exploration rule (see [`Variant::GradientExploration`]).
    #[allow(clippy::too_many_arguments)]
    fn gradient_exploration(
        &self,
        ladder: usize,
        samples: usize,
        scale: f32,
        gamma: f32,
        s: &mut Scratch,
        pool: Option<&rayon::ThreadPool>,
        best: &mut Best,
    ) -> Result<(usize, bool), ServeError> {
        let h = self.h();
        let w2 = &self.m.gen.w2;
        let mut list = std::mem::take(&mut s.list);
        list.clear();
        list.extend_from_slice(&best.list);
        let mut done = 0;
        if Instant::now() >= self.deadline {
            s.list = list;
            return Ok((0, true));
        }
        let r = self.policy_gradient(&list, gamma, s);
        s.list = list;
        r?;
        let gn = s.grad[..h * h].iter().map(|v| v * v).sum::<f32>().sqrt();
        let norm_w = w2.rms() * ((h * h) as f32).sqrt();
        let mut cands = std::mem::take(&mut s.cands);
        cands.clear();
        if gn > 0.0 && gn.is_finite() {
            // Q = e1·Gᵀ once: step m's encoder output is
            // ReLU(e1·(W2 + k_m·G)ᵀ + b) = ReLU(P + k_m·Q), so the whole
            // ladder costs one N×H×H product instead of one per step.
            let gp = grow(&mut s.pg.gpk, pack::blocks_f32(h, h));
            let gpk = pack::pack_f32(&s.grad[..h * h], h, h, pack::as_f32_mut(gp))?;
            let n = self.n;
            self.be().dense(
                MatRef::new(&s.e1[..n * h], n, h)?,
                gpk,
                None,
                Activation::Identity,
                MatMut::new(grow(&mut s.gq, n * h), n, h)?,
            )?;
            s.flops += mm(n, h, h);
            // Descend the surrogate loss: W2 − m·scale·‖W2‖·g/‖g‖.
            cands.extend(
                (0..ladder).map(|step| Cand::Ladder(-((6 + step) as f32) * scale * norm_w / gn)),
            );
        }
        let steps = cands.len();
        cands.extend((0..samples).map(|c| Cand::Sample(1 + c as u64)));
        // Ladder steps and samples in one batch (numbered as before: steps
        // 1..=ladder, samples after).
        let (skipped, n) = self.run_batch(&cands, 1 + ladder - steps, Lead::Before, s, pool, best);
        s.cands = cands;
        done += n;
        Ok((done, skipped?))
    }

    /// Scores every ordered selection in batches; the first maximum wins.
    fn exhaustive(&self, s: &mut Scratch, best: &mut Best) -> Result<(usize, bool), ServeError> {
        const BATCH: usize = 128;
        let l = self.req.len;
        let mut perms = Permutations::new(self.n, l)?;
        let buf = &mut grow(&mut s.chunks, 1)[0];
        let ev = &s.ev;
        let pbytes = grow(&mut s.perm, BATCH * l);
        let mut done = 0;
        loop {
            if Instant::now() >= self.deadline {
                return Ok((done, perms.remaining() > 0));
            }
            let got = perms.fill_batch(pbytes);
            if got == 0 {
                return Ok((done, false));
            }
            let lists = grow(&mut buf.lists, got * l);
            for (d, p) in lists.iter_mut().zip(pbytes.iter()) {
                *d = *p as usize;
            }
            let lists = std::mem::take(&mut buf.lists);
            let r = self.evaluate(&lists[..got * l], got, buf, ev);
            buf.lists = lists;
            s.flops += r?;
            for j in 0..got {
                best.offer(
                    &buf.lists[j * l..(j + 1) * l],
                    buf.out_scores[j],
                    1 + done + j,
                );
            }
            done += got;
        }
    }
}

/// Row blocks of the per-request encoder buffers (see
/// [`Ctx::encode_rows`]).
struct EncRows<'a> {
    e1: &'a mut [f32],
    h0pre: &'a mut [f32],
    h0: &'a mut [f32],
    keys0: &'a mut [f32],
    ek0: &'a mut [f32],
    px: &'a mut [f32],
    pm: &'a mut [f32],
}

impl<'a> EncRows<'a> {
    /// Splits after `rows` rows (hidden `h`, evaluator `h1`).
    fn split(self, rows: usize, h: usize, h1: usize) -> (Self, Self) {
        let (e1, e12) = self.e1.split_at_mut(rows * h);
        let (h0pre, h0pre2) = self.h0pre.split_at_mut(rows * h);
        let (h0, h02) = self.h0.split_at_mut(rows * h);
        let (keys0, keys02) = self.keys0.split_at_mut(rows * h);
        let (ek0, ek02) = self.ek0.split_at_mut(rows * h);
        let (px, px2) = self.px.split_at_mut(rows * h1);
        let (pm, pm2) = self.pm.split_at_mut(rows * h1);
        (
            EncRows {
                e1,
                h0pre,
                h0,
                keys0,
                ek0,
                px,
                pm,
            },
            EncRows {
                e1: e12,
                h0pre: h0pre2,
                h0: h02,
                keys0: keys02,
                ek0: ek02,
                px: px2,
                pm: pm2,
            },
        )
    }
}

/// Shared, read-only encoder outputs of a request.
struct Shared<'a> {
    e1: &'a [f32],
    h0pre: &'a [f32],
    gq: &'a [f32],
    ser_r: &'a [f32],
    ser_e: &'a [f32],
    /// `h0·Ws_hᵀ` (N × H) when the request uses the split state update.
    hw: Option<&'a [f32]>,
    h0: &'a [f32],
    h0p: &'a [f32],
    keys0: &'a [f32],
    /// `e^{2·keys0}`, valid when `ek0_ok`.
    ek0: &'a [f32],
    ek0_ok: bool,
    /// The evaluator's per-request first-layer parts.
    ev: &'a EvalParts,
}

impl Scratch {
    /// The chunk buffers, the baseline's buffers and the read-only
    /// per-request state, borrowed apart.
    fn parts(&mut self) -> (&mut Vec<ChunkBufs>, &mut ChunkBufs, Shared<'_>) {
        let sh = Shared {
            e1: &self.e1,
            h0pre: &self.h0pre,
            gq: &self.gq,
            ser_r: &self.ser_r,
            ser_e: &self.ser_e,
            hw: self.hw_ok.then_some(&self.hw[..]),
            h0: &self.h0,
            h0p: &self.h0p,
            keys0: &self.keys0,
            ek0: &self.ek0,
            ek0_ok: self.ek0_ok,
            ev: &self.ev,
        };
        (&mut self.chunks, &mut self.lead, sh)
    }
}

/// Draws `U` (n × r, packed) and `Vᵀ` (r × k) for a low-rank candidate.
/// Entries are unit-variance, so `σ/√r` gives `U·Vᵀ` entries the same
/// standard deviation σ as full-rank noise.
#[allow(clippy::too_many_arguments)]
fn low_rank<'b>(
    be: last_kernels::Backend,
    u: &'b mut Vec<f32>,
    up: &'b mut Vec<f32>,
    vt: &'b mut Vec<f32>,
    nz: &Noise,
    r: usize,
    sigma: f32,
    n_out: usize,
    k_in: usize,
) -> Result<LowRank<'b>, ServeError> {
    let uu = grow(u, n_out * r);
    be.noise_fill(nz, 0, uu);
    be.noise_fill(nz, (n_out * r) as u32, grow(vt, r * k_in));
    let upk = grow(up, pack::packed_len(n_out, r));
    let u = pack::pack_f32(&u[..n_out * r], n_out, r, upk)?;
    Ok(LowRank {
        u,
        vt: MatRef::new(&vt[..r * k_in], r, k_in)?,
        sigma: sigma / (r as f32).sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Config;
    use crate::scenario::Features;

    /// Shared decoder slots and shared evaluator rows are exact: a chunk of
    /// candidates gives the same lists and bit-identical scores as running
    /// each candidate alone, and it does share (fewer FLOPs than alone).
    /// (The bit-level basis, row-independent dense products, is tested in
    /// `tests/tests/dense.rs`.)
    #[test]
    fn sharing_within_a_chunk_changes_no_value() {
        let cfg = Config::standard();
        let model = Model::random(cfg.clone(), 11, last_kernels::Backend::detect()).unwrap();
        let feats = Features::random(&cfg, 50, 5);
        let par = |noise, target| Variant::Parallel {
            k: CHUNK + 1,
            sigma: 0.05,
            noise,
            target,
        };
        let mut checked = 0;
        for variant in [
            par(NoiseSpec::Gaussian, Target::Keys),
            par(NoiseSpec::LowRank(1), Target::Keys),
            par(NoiseSpec::Gaussian, Target::W2),
            Variant::BestOfK { k: CHUNK + 1 },
        ] {
            let req = feats.request(cfg.d_x, 10, 3, variant, Duration::from_secs(10));
            let ctx = Ctx {
                m: &model,
                req: &req,
                n: 50,
                deadline: Instant::now() + req.budget,
            };
            let mut s = Scratch::default();
            ctx.encode_shared(&mut s, None).unwrap();
            let mut cands = Vec::new();
            match variant {
                Variant::Parallel {
                    k, sigma, noise, ..
                } => ctx.parallel_cands(k, sigma, noise, &mut cands),
                _ => cands.extend((1..=CHUNK as u64).map(Cand::Sample)),
            }
            let (_, lead, sh) = s.parts();
            ctx.chunk(&cands, lead, &sh).unwrap();
            let (together, scores) = (lead.lists.clone(), lead.out_scores.clone());
            let shared_flops = lead.flops;
            let mut alone_flops = 0;
            for (j, c) in cands.iter().enumerate() {
                let mut b = ChunkBufs::default();
                ctx.chunk(std::slice::from_ref(c), &mut b, &sh).unwrap();
                assert_eq!(
                    b.lists[..10],
                    together[j * 10..(j + 1) * 10],
                    "{variant:?} #{j}"
                );
                assert_eq!(
                    b.out_scores[0].to_bits(),
                    scores[j].to_bits(),
                    "{variant:?} #{j}"
                );
                alone_flops += b.flops;
            }
            assert!(shared_flops < alone_flops, "{variant:?}: no sharing");
            checked += 1;
        }
        assert_eq!(checked, 4);
    }
}
