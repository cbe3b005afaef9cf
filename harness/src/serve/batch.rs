//! Candidate batches: descriptions, chunking, threads, and the best list so far.

use super::*;

/// How one candidate's encoder output is produced.
#[derive(Clone, Copy, Debug)]
pub(super) enum Cand {
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
pub(super) enum Lead {
    /// Computed before the batch (already installed in `Best`).
    Before,
    /// Computed into `Scratch::lead` alongside the batch's chunks (pool
    /// only), installed before any candidate is offered.
    Parallel,
    /// The batch's first candidate is `Cand::Plain`, decoded in the first
    /// chunk (sharing states with key-noise candidates), never skipped.
    First,
}
pub(super) struct Best {
    pub(super) list: Vec<usize>,
    pub(super) score: f32,
    pub(super) winner: usize,
    /// Every distinct list offered, for pessimistic selection (`None`: off).
    pub(super) kept: Option<Kept>,
}

impl Best {
    /// Installs the baseline (candidate 0) from its chunk: unconditionally,
    /// before any other candidate is offered.
    pub(super) fn set_baseline(&mut self, lead: &ChunkBufs, l: usize) {
        self.list.clear();
        self.list.extend_from_slice(&lead.lists[..l]);
        self.score = lead.out_scores[0];
        self.winner = 0;
        if let Some(k) = &mut self.kept {
            k.reset(&lead.lists[..l]);
        }
    }
    /// Strictly better only: ties keep the earlier (lower-index) candidate.
    pub(super) fn offer(&mut self, list: &[usize], score: f32, idx: usize) {
        if let Some(k) = &mut self.kept {
            k.offer(list, score, idx);
        }
        if score > self.score {
            self.list.clear();
            self.list.extend_from_slice(list);
            self.score = score;
            self.winner = idx;
        }
    }
}

impl Ctx<'_, '_> {
    /// [`Self::run_all`] with the scratch's score buffer; returns (budget
    /// exhausted, candidates scored, the baseline excluded).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_batch(
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
    pub(super) fn run_all(
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
            if self.deadline.passed() && !(ci == 0 && lead == Lead::First) {
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
        // An empty batch (K = 1) has nothing to skip; like the baseline
        // alone, it reports the budget exhausted when the deadline passed.
        let mut skipped = cands.is_empty() && self.deadline.passed();
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
    pub(super) fn chunk_len(&self, cands: usize, threads: usize) -> usize {
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
    pub(super) fn baseline(&self, s: &mut Scratch) -> Result<(), ServeError> {
        let (_, lead, sh) = s.parts();
        self.chunk(&[Cand::Plain], lead, &sh)?;
        s.flops += s.lead.flops;
        Ok(())
    }
}
