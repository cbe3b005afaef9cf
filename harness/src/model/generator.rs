//! The pointer-network generator (docs/DESIGN.md §5): its encoder, its
//! recorded decode, and its one backward pass.
//!
//! * Encoder: `e1_i = ReLU(W1 [x_i; u; mean x])`, `h_i = ReLU(W2 e1_i)`,
//!   `k_i = A h_i`. `W1 [x_i; u; mean x] + b = W1_x·x_i + c1` with the row
//!   `c1 = W1_u·u + W1_m·mean x + b` shared by every item
//!   ([`Generator::shared_row`], then [`Generator::encode_rows`]). Serving
//!   and training both encode this way.
//! * Decoder: `s_0 = tanh(W0 [mean h; u])`; step `t`: `q_t = B s_t`,
//!   `score_i = v·tanh(k_i + q_t)` over untaken items, pick,
//!   `s_{t+1} = tanh(Ws [s_t; h_pick])`. The serving loop decodes many
//!   candidates at once (`crate::serve`, sharing states between candidates
//!   with the same picks); [`Generator::decode`] decodes one list and records
//!   what the backward pass needs (states, queries, probabilities). Both call
//!   the same layers with the same row-independent kernels.
//! * Backward ([`Generator::backward`]): the gradient of
//!   `Σ_t coef_t·(−log p(π_t))` for a recorded decode, through the scores,
//!   keys, decoder states and encoder: into `W2` alone (gradient exploration
//!   at serving time) or into every parameter (training).

mod backward;

use super::{Config, GeneratorParams, Layer};
use last_kernels::select::log_softmax;
use last_kernels::{math, Activation, Backend, KernelError, MatMut, MatRef};

/// Generator parameters θ.
#[derive(Debug, Clone)]
pub struct Generator {
    /// Encoder layer 1.
    pub w1: Layer,
    /// Encoder layer 2 (perturbed by default).
    pub w2: Layer,
    /// Pointer keys.
    pub a: Layer,
    /// Decoder start.
    pub w0: Layer,
    /// Query projection.
    pub b: Layer,
    /// State update.
    pub ws: Layer,
    /// Score vector.
    pub v: Vec<f32>,
}

/// One recorded decode: the list and every activation the backward pass
/// reads. Buffers grow to the largest decode and are reused.
#[derive(Debug, Clone, Default)]
pub struct DecodeTape {
    /// The list decoded (picked or forced).
    pub list: Vec<usize>,
    /// `log p(π_t)` per step.
    pub logp: Vec<f32>,
    /// Items.
    n: usize,
    /// `[mean h; u]`, the decoder start's input.
    s0_in: Vec<f32>,
    /// `s_t`, `len × H`.
    s: Vec<f32>,
    /// `q_t = B s_t`, `len × H`.
    q: Vec<f32>,
    /// `p_t(i)` (0 for taken items), `len × N`.
    p: Vec<f32>,
    in_buf: Vec<f32>,
    taken: Vec<bool>,
    scores: Vec<f32>,
}

/// The encoder's activations of one request, as the backward pass reads them.
#[derive(Debug, Clone, Copy)]
pub struct EncoderTape<'a> {
    /// Items, `N × d_x`.
    pub items: MatRef<'a>,
    /// User features.
    pub user: &'a [f32],
    /// Mean item, `d_x`.
    pub mean: &'a [f32],
    /// `e1`, `N × H`.
    pub e1: &'a [f32],
    /// `h`, `N × H`.
    pub h: &'a [f32],
    /// Keys, `N × H`.
    pub keys: &'a [f32],
    /// `e^{2·keys}` when every key is in the exponential form's range
    /// (`last_kernels::pointer::EXP_FORM_LIMIT`): `tanh'` is then taken in
    /// that form, otherwise through the rational tanh.
    pub ek: Option<&'a [f32]>,
}

/// Where [`Generator::backward`] writes.
#[derive(Debug)]
pub enum GradTarget<'a> {
    /// `∂/∂W2` only, row-major `H × H`, overwritten.
    W2(&'a mut [f32]),
    /// Every parameter, accumulated.
    All(&'a mut GeneratorParams),
}

/// Buffers of the backward pass, reused between calls.
#[derive(Debug, Clone, Default)]
pub struct GenBackwardBufs {
    dk: Vec<f32>,
    dh: Vec<f32>,
    dq: Vec<f32>,
    ds: Vec<f32>,
    dz: Vec<f32>,
    din: Vec<f32>,
    eq: Vec<f32>,
    de1: Vec<f32>,
    enc_in: Vec<f32>,
    taken: Vec<bool>,
}

fn grow<T: Clone + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

fn mean_rows(rows: &[f32], n: usize, out: &mut [f32]) {
    let w = out.len();
    out.fill(0.0);
    for r in rows[..n * w].chunks_exact(w) {
        out.iter_mut().zip(r).for_each(|(m, v)| *m += v);
    }
    out.iter_mut().for_each(|m| *m /= n as f32);
}

impl Generator {
    /// The mean item (into `mean`, d_x) and the row every item's first layer
    /// shares, `c1 = W1_u·u + W1_m·mean x + b` (into `c1`, H); `ux` is
    /// d_u + d_x of scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn shared_row(
        &self,
        be: Backend,
        cfg: &Config,
        items: MatRef<'_>,
        user: &[f32],
        mean: &mut [f32],
        ux: &mut [f32],
        c1: &mut [f32],
    ) -> Result<(), KernelError> {
        let (n, dx, du, h) = (items.rows(), cfg.d_x, cfg.d_u, cfg.hidden);
        mean.fill(0.0);
        for i in 0..n {
            mean.iter_mut().zip(items.row(i)).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= n as f32);
        ux[..du].copy_from_slice(user);
        ux[du..du + dx].copy_from_slice(mean);
        be.dense(
            MatRef::new(&ux[..du + dx], 1, du + dx)?,
            self.w1.packed().columns(dx, 2 * dx + du)?,
            Some(self.w1.bias()),
            Activation::Identity,
            MatMut::new(&mut c1[..h], 1, h)?,
        )
    }

    /// The row-wise encoder for the rows of `items` given their shared row
    /// `c1`: `e1 = ReLU(W1_x·x + c1)`, `hpre = W2 e1 + b`, `h = ReLU(hpre)`,
    /// `keys = A h` (each `items.rows() × H`).
    #[allow(clippy::too_many_arguments)]
    pub fn encode_rows(
        &self,
        be: Backend,
        cfg: &Config,
        items: MatRef<'_>,
        c1: &[f32],
        e1: &mut [f32],
        hpre: &mut [f32],
        h: &mut [f32],
        keys: &mut [f32],
    ) -> Result<(), KernelError> {
        let (m, dx, hd) = (items.rows(), cfg.d_x, cfg.hidden);
        for row in e1.chunks_exact_mut(hd) {
            row.copy_from_slice(&c1[..hd]);
        }
        let w1x = self.w1.packed().columns(0, dx)?;
        be.dense_add(items, w1x, None, Activation::Relu, MatMut::new(e1, m, hd)?)?;
        let id = Activation::Identity;
        self.w2
            .forward(be, MatRef::new(e1, m, hd)?, id, MatMut::new(hpre, m, hd)?)?;
        // The same values as the fused ReLU; `hpre` is kept for the
        // gradient-exploration steps.
        for (o, p) in h.iter_mut().zip(hpre.iter()) {
            *o = p.max(0.0);
        }
        self.a
            .forward(be, MatRef::new(h, m, hd)?, id, MatMut::new(keys, m, hd)?)
    }

    /// Decodes one list of `len` over `n` items from their encoder outputs
    /// `h` and `keys` (`n × H`), recording it in `tape`. `pick(t, scores,
    /// logp, taken)` chooses step `t`'s item from the masked scores and
    /// their log-softmax (greedy, sampled or forced); `None` is an error.
    #[allow(clippy::too_many_arguments)]
    pub fn decode<E: From<KernelError>>(
        &self,
        be: Backend,
        user: &[f32],
        h: &[f32],
        keys: &[f32],
        n: usize,
        len: usize,
        mut pick: impl FnMut(usize, &[f32], &[f32], &[bool]) -> Result<usize, E>,
        tape: &mut DecodeTape,
    ) -> Result<(), E> {
        let (hd, du) = (self.b.n, user.len());
        let sdim = hd + du;
        tape.n = n;
        tape.list.clear();
        tape.logp.clear();
        let s0 = grow(&mut tape.s0_in, sdim);
        mean_rows(h, n, &mut s0[..hd]);
        s0[hd..].copy_from_slice(user);
        grow(&mut tape.s, len * hd);
        grow(&mut tape.q, len * hd);
        grow(&mut tape.p, len * n);
        grow(&mut tape.in_buf, 2 * hd);
        grow(&mut tape.scores, n);
        grow(&mut tape.taken, n).fill(false);
        self.w0.forward(
            be,
            MatRef::new(&tape.s0_in[..sdim], 1, sdim)?,
            Activation::Tanh,
            MatMut::new(&mut tape.s[..hd], 1, hd)?,
        )?;
        for t in 0..len {
            let (sv, qv) = (
                &tape.s[t * hd..(t + 1) * hd],
                &mut tape.q[t * hd..(t + 1) * hd],
            );
            self.b.forward(
                be,
                MatRef::new(sv, 1, hd)?,
                Activation::Identity,
                MatMut::new(qv, 1, hd)?,
            )?;
            let taken = &mut tape.taken[..n];
            let scores = &mut tape.scores[..n];
            be.pointer_scores(MatRef::new(keys, n, hd)?, qv, &self.v, Some(taken), scores)?;
            let p = &mut tape.p[t * n..(t + 1) * n];
            log_softmax(scores, p)?;
            let c = pick(t, scores, p, taken)?;
            tape.logp.push(p[c]);
            tape.list.push(c);
            for (pi, tk) in p.iter_mut().zip(taken.iter()) {
                *pi = if *tk { 0.0 } else { math::exp(*pi) };
            }
            taken[c] = true;
            if t + 1 < len {
                let sin = &mut tape.in_buf[..2 * hd];
                sin[..hd].copy_from_slice(&tape.s[t * hd..(t + 1) * hd]);
                sin[hd..].copy_from_slice(&h[c * hd..(c + 1) * hd]);
                let (_, next) = tape.s.split_at_mut((t + 1) * hd);
                self.ws.forward(
                    be,
                    MatRef::new(&tape.in_buf[..2 * hd], 1, 2 * hd)?,
                    Activation::Tanh,
                    MatMut::new(&mut next[..hd], 1, hd)?,
                )?;
            }
        }
        Ok(())
    }
}
