//! Scoring a batch of lists with the evaluator's forward pass
//! ([`crate::model::Evaluator`]), sharing rows by prefix.

use super::*;
use crate::model::Evaluator;

/// Lists whose prefixes are looked up for sharing: the candidates of one
/// chunk, or neighbours in the exhaustive variant's lexicographic order.
const PREFIX_WINDOW: usize = 16;

impl Ctx<'_, '_> {
    /// Scores `count` lists of length L (row-major in `lists`) with the
    /// evaluator, one batched forward pass over all their positions (the
    /// first layer from the request's [`EvalParts`]); writes
    /// `b.out_scores[..count]` and returns the matrix FLOPs.
    pub(super) fn evaluate(
        &self,
        lists: &[usize],
        count: usize,
        b: &mut ChunkBufs,
        parts: &EvalParts,
    ) -> Result<u64, ServeError> {
        let (cfg, ev, l) = (&self.m.cfg, &self.m.eval, self.req.len);
        let u = ev.first_layer(cfg, parts, &lists[..count * l], l, PREFIX_WINDOW, &mut b.ev);
        let flops = ev.head(self.be(), cfg, u, &mut b.ev)?;
        Evaluator::list_scores(cfg, &b.ev, l, grow(&mut b.out_scores, count));
        Ok(flops)
    }
}
