//! One chunk of candidates, in three phases: each candidate's encoder
//! output and keys ([`super::candidate`]), batched decoding
//! ([`super::decode`]), batched evaluation ([`super::evaluate`]).

use super::*;

impl Ctx<'_, '_> {
    /// Runs the three phases for `cands`; writes `b.lists` and
    /// `b.out_scores` and the chunk's matrix FLOPs into `b.flops`.
    pub(super) fn chunk(
        &self,
        cands: &[Cand],
        b: &mut ChunkBufs,
        sh: &Shared<'_>,
    ) -> Result<(), ServeError> {
        let c = cands.len();
        b.flops = self.candidate_outputs(cands, &mut b.cand, sh)?;
        b.flops += self.decode(cands, &b.cand, &mut b.dec, &mut b.lists, sh)?;
        let lists = std::mem::take(&mut b.lists);
        let r = self.evaluate(&lists[..c * self.req.len], c, b, sh.ev);
        b.lists = lists;
        b.flops += r?;
        Ok(())
    }
}
