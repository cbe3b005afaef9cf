//! Request-local buffers, grouped by the phase that uses them.

use super::candidate::CandBufs;
use super::decode::DecodeBufs;
use super::pessimism::{Kept, PessBufs};
use super::*;
pub(super) use crate::model::{EvalParts, EvalRows};

/// Per-chunk work buffers (one chunk = the candidates `Ctx::chunk_len` groups).
#[derive(Debug, Default, Clone)]
pub(super) struct ChunkBufs {
    /// Phase 1: the candidates' encoder outputs and keys.
    pub(super) cand: CandBufs,
    /// Phase 2: decoding.
    pub(super) dec: DecodeBufs,
    /// The lists decoded, L per candidate.
    pub(super) lists: Vec<usize>,
    /// Phase 3: the evaluator's rows of the lists, and their scores.
    pub(super) ev: EvalRows,
    pub(super) out_scores: Vec<f32>,
    /// Whether the last `run_all` ran this chunk, or the error it hit.
    pub(super) ran: bool,
    pub(super) err: Option<ServeError>,
    /// Matrix FLOPs of the last `chunk` / `evaluate` call.
    pub(super) flops: u64,
}

/// Request-local scratch: reuse one per serving thread; buffers grow to the
/// largest request seen and are not freed, so the steady state allocates
/// nothing. Δθ lives here and nowhere else.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    /// The request's encoder outputs, shared by every candidate.
    pub(super) enc: EncoderBufs,
    /// The evaluator's per-request first-layer parts.
    pub(super) ev: EvalParts,
    /// The baseline's buffers.
    pub(super) lead: ChunkBufs,
    /// One per chunk of candidates.
    pub(super) chunks: Vec<ChunkBufs>,
    /// Candidate descriptions of the current batch.
    pub(super) cands: Vec<Cand>,
    /// Scores of the current batch (NaN where skipped).
    pub(super) scores: Vec<f32>,
    /// Serial LAST's state.
    pub(super) ser: SerialBufs,
    /// Gradient exploration's direction.
    pub(super) pg: PgBufs,
    /// Panel scratch for perturbed products outside a chunk.
    pub(super) panel: Vec<f32>,
    /// The exhaustive variant's permutation.
    pub(super) perm: Vec<u8>,
    /// Pessimistic selection's kept lists and ensemble pass.
    pub(super) kept: Kept,
    pub(super) pess: PessBufs,
    /// Matrix FLOPs of the current request so far.
    pub(super) flops: u64,
}

/// The request's encoder outputs (see `Ctx::encode_shared`).
#[derive(Debug, Default, Clone)]
pub(super) struct EncoderBufs {
    /// `[u; mean x]` and `c1 = W1_u·u + W1_m·mean x + b1`.
    pub(super) ux: Vec<f32>,
    pub(super) c1: Vec<f32>,
    pub(super) mean: Vec<f32>,
    pub(super) e1: Vec<f32>,
    /// `e1·W2ᵀ + b` (before the ReLU), and `h0 = ReLU` of it.
    pub(super) h0pre: Vec<f32>,
    pub(super) h0: Vec<f32>,
    /// `h0` packed as a weight matrix (N outputs), for low-rank key noise.
    pub(super) h0p: Vec<f32>,
    pub(super) keys0: Vec<f32>,
    /// `e^{2·keys0}` for the exponential form of the pointer scores, and
    /// whether every key is within `last_kernels::pointer::EXP_FORM_LIMIT`.
    pub(super) ek0: Vec<f32>,
    pub(super) ek0_ok: bool,
    /// `h0·Ws_hᵀ`, valid when `hw_ok` (see `Ctx::decoder_parts`).
    pub(super) hw: Vec<f32>,
    pub(super) hw_ok: bool,
}

/// Serial LAST's buffers (see `Ctx::serial`).
#[derive(Debug, Default, Clone)]
pub(super) struct SerialBufs {
    /// `R = e1·Δθᵀ` and the round's `E_q = e1·ε_qᵀ`.
    pub(super) r: Vec<f32>,
    pub(super) e: Vec<f32>,
    /// Δθ, one ε and the step direction, in the packed weight layout.
    pub(super) delta: Vec<f32>,
    pub(super) eps: Vec<f32>,
    pub(super) grad: Vec<f32>,
    /// An all-zero packed H × H matrix (noise draws through `perturb_weights`).
    pub(super) zeros: Vec<pack::Block32>,
}

/// Buffers of the policy-gradient direction (gradient exploration).
#[derive(Debug, Default, Clone)]
pub(super) struct PgBufs {
    /// The greedy list the gradient is taken at.
    pub(super) list: Vec<usize>,
    /// Reward-to-go per position.
    pub(super) ret: Vec<f32>,
    /// The teacher-forced decode of the greedy list.
    pub(super) tape: crate::model::DecodeTape,
    pub(super) back: crate::model::GenBackwardBufs,
    /// `∂loss/∂W2` (row-major), and packed (f32 models).
    pub(super) grad: Vec<f32>,
    pub(super) gpk: Vec<pack::Block32>,
    /// `Q = e1·Gᵀ`: the ladder's steps are `ReLU(P + k·Q)`.
    pub(super) gq: Vec<f32>,
}

/// Row blocks of the per-request encoder buffers (see
/// [`Ctx::encode_rows`]).
pub(super) struct EncRows<'a> {
    pub(super) e1: &'a mut [f32],
    pub(super) h0pre: &'a mut [f32],
    pub(super) h0: &'a mut [f32],
    pub(super) keys0: &'a mut [f32],
    pub(super) ek0: &'a mut [f32],
    pub(super) px: &'a mut [f32],
    pub(super) pm: &'a mut [f32],
}

impl<'a> EncRows<'a> {
    /// Splits after `rows` rows (hidden `h`, evaluator `h1`).
    pub(super) fn split(self, rows: usize, h: usize, h1: usize) -> (Self, Self) {
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
pub(super) struct Shared<'a> {
    pub(super) e1: &'a [f32],
    pub(super) h0pre: &'a [f32],
    pub(super) gq: &'a [f32],
    pub(super) ser_r: &'a [f32],
    pub(super) ser_e: &'a [f32],
    /// `h0·Ws_hᵀ` (N × H) when the request uses the split state update.
    pub(super) hw: Option<&'a [f32]>,
    pub(super) h0: &'a [f32],
    pub(super) h0p: &'a [f32],
    pub(super) keys0: &'a [f32],
    /// `e^{2·keys0}`, valid when `ek0_ok`.
    pub(super) ek0: &'a [f32],
    pub(super) ek0_ok: bool,
    /// The evaluator's per-request first-layer parts.
    pub(super) ev: &'a EvalParts,
}

impl Scratch {
    /// The chunk buffers, the baseline's buffers and the read-only
    /// per-request state, borrowed apart.
    pub(super) fn parts(&mut self) -> (&mut Vec<ChunkBufs>, &mut ChunkBufs, Shared<'_>) {
        let sh = Shared {
            e1: &self.enc.e1,
            h0pre: &self.enc.h0pre,
            gq: &self.pg.gq,
            ser_r: &self.ser.r,
            ser_e: &self.ser.e,
            hw: self.enc.hw_ok.then_some(&self.enc.hw[..]),
            h0: &self.enc.h0,
            h0p: &self.enc.h0p,
            keys0: &self.enc.keys0,
            ek0: &self.enc.ek0,
            ek0_ok: self.enc.ek0_ok,
            ev: &self.ev,
        };
        (&mut self.chunks, &mut self.lead, sh)
    }
}
