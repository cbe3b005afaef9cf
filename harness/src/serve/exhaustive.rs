//! Every ordered selection of L out of N: the evaluator's optimum.

use super::*;

impl Ctx<'_, '_> {
    /// Scores every ordered selection in batches; the first maximum wins.
    pub(super) fn exhaustive(
        &self,
        s: &mut Scratch,
        best: &mut Best,
    ) -> Result<(usize, bool), ServeError> {
        const BATCH: usize = 128;
        let l = self.req.len;
        let mut perms = Permutations::new(self.n, l)?;
        let buf = &mut grow(&mut s.chunks, 1)[0];
        let ev = &s.ev;
        let pbytes = grow(&mut s.perm, BATCH * l);
        let mut done = 0;
        loop {
            if self.deadline.passed() {
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
