//! Pessimistic selection over the evaluator ensemble ([`Variant::Safe`]).
//!
//! The search offers its lists as usual; with pessimism on, [`Best`] also
//! keeps every distinct list that differs from the baseline, with member
//! 0's score (computed by the search). After the search, each further
//! member scores the baseline and the kept lists in one batched forward pass
//! (rows shared by prefix, as in the search), and candidate `j`'s gain
//! under member `i` is `g_ij = s_i(j) − s_i(baseline)`, in f64. Its bound is
//!
//! `LCB_j = mean_i g_ij − λ·sd_i g_ij` (sample standard deviation; 0 for
//! one member),
//!
//! and the list with the highest bound replaces the baseline only if that
//! bound is above the margin (ties: the earlier candidate). A list equal
//! to the baseline has gain 0 under every member and is never kept.
//!
//! With one member and a margin of 0 the bound is member 0's gain, and the
//! rule is the search's own (strictly above the baseline, highest score,
//! earliest on ties), so the served list is the search's. With further
//! members the search stops at 3/4 of the time left, leaving the rest to
//! the ensemble pass; if the request's deadline passes before that pass,
//! the baseline is served: the safe variant serves no unchecked candidate.

use super::*;
use crate::model::{EvalRows, Evaluator};

/// Lists a pessimistic search offered, other than the baseline, each once.
#[derive(Debug, Default, Clone)]
pub(super) struct Kept {
    /// The baseline list.
    base: Vec<usize>,
    /// Kept lists, L each, in offer order.
    lists: Vec<usize>,
    /// Member 0's score of each kept list.
    scores: Vec<f32>,
    /// The candidate that first produced each kept list.
    idx: Vec<usize>,
    /// A hash of each kept list (compared before the lists themselves).
    hashes: Vec<u64>,
}

fn list_hash(list: &[usize]) -> u64 {
    list.iter().fold(0x9e37_79b9_7f4a_7c15, |h, &i| {
        last_kernels::rng::splitmix64(h ^ i as u64)
    })
}

impl Kept {
    /// Forgets every list and records the baseline.
    pub(super) fn reset(&mut self, base: &[usize]) {
        self.base.clear();
        self.base.extend_from_slice(base);
        self.lists.clear();
        self.scores.clear();
        self.idx.clear();
        self.hashes.clear();
    }

    /// Keeps `list` unless it is the baseline or already kept.
    pub(super) fn offer(&mut self, list: &[usize], score: f32, idx: usize) {
        if list == self.base.as_slice() {
            return;
        }
        let h = list_hash(list);
        let l = list.len();
        let seen = self
            .hashes
            .iter()
            .enumerate()
            .any(|(j, &g)| g == h && &self.lists[j * l..(j + 1) * l] == list);
        if !seen {
            self.lists.extend_from_slice(list);
            self.scores.push(score);
            self.idx.push(idx);
            self.hashes.push(h);
        }
    }

    /// Lists kept.
    pub(super) fn len(&self) -> usize {
        self.idx.len()
    }
}

/// Buffers of the ensemble pass.
#[derive(Debug, Default, Clone)]
pub(super) struct PessBufs {
    /// One member's first-layer parts for the request.
    parts: EvalParts,
    /// The forward pass's rows.
    rows: EvalRows,
    /// The baseline followed by the kept lists.
    lists: Vec<usize>,
    /// Scores of those lists, one row per member.
    scores: Vec<f32>,
}

/// Lists whose prefixes are looked up for sharing in the ensemble pass.
const WINDOW: usize = 16;

impl Ctx<'_, '_> {
    /// One member's scores of `p.lists` (`count` lists) into `out`;
    /// returns the matrix FLOPs.
    fn member_scores(
        &self,
        ev: &Evaluator,
        p: &mut PessBufs,
        count: usize,
        out: &mut [f32],
    ) -> Result<u64, ServeError> {
        let (m, be, l, n) = (self.m, self.be(), self.req.len, self.n);
        let h1 = m.cfg.eval_h1;
        let px = grow(&mut p.parts.px, n * h1);
        let pm = grow(&mut p.parts.pm, n * h1);
        ev.item_parts(be, &m.cfg, self.req.items, px, pm)?;
        let mut flops = 2 * mm(n, h1, m.cfg.d_x);
        flops += ev.request_parts(be, &m.cfg, self.req.user, l, &mut p.parts)?;
        let lists = &p.lists[..count * l];
        let u = ev.first_layer(&m.cfg, &p.parts, lists, l, WINDOW, &mut p.rows);
        flops += ev.head(be, &m.cfg, u, &mut p.rows)?;
        Evaluator::list_scores(&m.cfg, &p.rows, l, out);
        Ok(flops)
    }

    /// Replaces `best` by the pessimistic choice among the lists `best`
    /// kept (see the module docs). Returns whether `deadline` (the
    /// request's, later than the search's) passed before the ensemble pass
    /// (the baseline is then served).
    pub(super) fn select_pessimistic(
        &self,
        lambda: f32,
        margin: f32,
        deadline: Deadline,
        s: &mut Scratch,
        best: &mut Best,
    ) -> Result<bool, ServeError> {
        let kept = best.kept.take().expect("pessimistic selection keeps lists");
        let (base_score, l) = (s.lead.out_scores[0], self.req.len);
        best.list.clear();
        best.list.extend_from_slice(&kept.base);
        best.score = base_score;
        best.winner = 0;
        let c = kept.len();
        let members = self.m.members();
        let cut = c > 0 && members > 1 && deadline.passed();
        if c > 0 && !cut {
            let mut p = std::mem::take(&mut s.pess);
            let rows = c + 1;
            let lists = grow(&mut p.lists, rows * l);
            lists[..l].copy_from_slice(&kept.base);
            lists[l..].copy_from_slice(&kept.lists);
            let mut scores = std::mem::take(&mut p.scores);
            let sc = grow(&mut scores, members * rows);
            sc[0] = base_score;
            sc[1..rows].copy_from_slice(&kept.scores);
            let mut r = Ok(());
            for (i, out) in sc.chunks_exact_mut(rows).enumerate().skip(1) {
                match self.member_scores(self.m.member(i), &mut p, rows, out) {
                    Ok(f) => s.flops += f,
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                }
            }
            p.scores = scores;
            let choice = r.map(|()| choose(&p.scores, members, rows, lambda, margin));
            s.pess = p;
            if let Ok(Some(j)) = choice {
                best.list.clear();
                best.list.extend_from_slice(&kept.lists[j * l..(j + 1) * l]);
                best.score = kept.scores[j];
                best.winner = kept.idx[j];
            }
            s.kept = kept;
            choice?;
        } else {
            s.kept = kept;
        }
        Ok(cut)
    }
}

impl Model {
    /// Ensemble member `member`'s scores of `lists` (each `req.len` long,
    /// concatenated) for the user and items of `req`, by the same forward
    /// pass pessimistic selection runs (`req.variant` is not used).
    pub fn ensemble_scores(
        &self,
        member: usize,
        req: &Request<'_>,
        lists: &[usize],
    ) -> Result<Vec<f32>, ServeError> {
        let req = Request {
            variant: Variant::Baseline,
            ..*req
        };
        let n = self.validate(&req)?;
        let l = req.len;
        if member >= self.members() {
            return Err(ServeError::BadKnob(format!(
                "member {member}: the model has {} evaluator(s)",
                self.members()
            )));
        }
        if !lists.len().is_multiple_of(l) || lists.iter().any(|&i| i >= n) {
            return Err(ServeError::BadKnob(
                "lists must hold whole lists of L candidate indices".into(),
            ));
        }
        let ctx = Ctx {
            m: self,
            req: &req,
            n,
            deadline: Deadline::after(std::time::Instant::now(), req.budget),
        };
        let count = lists.len() / l;
        let mut p = PessBufs::default();
        p.lists.extend_from_slice(lists);
        let mut out = vec![0f32; count];
        ctx.member_scores(self.member(member), &mut p, count, &mut out)?;
        Ok(out)
    }
}

/// The kept list (index among the kept) with the highest bound above
/// `margin`, if any. `scores` holds `members` rows of `rows` scores, the
/// baseline first in each.
fn choose(scores: &[f32], members: usize, rows: usize, lambda: f32, margin: f32) -> Option<usize> {
    let mut pick: Option<(usize, f64)> = None;
    for j in 0..rows - 1 {
        let gain = |i: usize| scores[i * rows + 1 + j] as f64 - scores[i * rows] as f64;
        let mean = (0..members).map(gain).sum::<f64>() / members as f64;
        let sd = if members > 1 {
            let ss: f64 = (0..members).map(|i| (gain(i) - mean).powi(2)).sum();
            (ss / (members - 1) as f64).sqrt()
        } else {
            0.0
        };
        let bound = mean - lambda as f64 * sd;
        if bound > margin as f64 && pick.is_none_or(|(_, b)| bound > b) {
            pick = Some((j, bound));
        }
    }
    pick.map(|(j, _)| j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_member_picks_the_highest_score_above_the_baseline() {
        // Baseline 1.0; lists 0.9, 1.2, 1.2, 1.1: the first 1.2 wins.
        let s = [1.0, 0.9, 1.2, 1.2, 1.1];
        assert_eq!(choose(&s, 1, 5, 3.0, 0.0), Some(1));
        // Nothing above the baseline: none.
        assert_eq!(choose(&[1.0, 0.9, 1.0], 1, 3, 0.0, 0.0), None);
        // A margin keeps gains at or below it out.
        assert_eq!(choose(&s, 1, 5, 0.0, 0.25), None);
        assert_eq!(choose(&s, 1, 5, 0.0, 0.15), Some(1));
    }

    #[test]
    fn spread_between_members_lowers_the_bound() {
        // Two members, two lists. List 0: gains +0.3 / −0.1 (mean 0.1, sd
        // 0.283); list 1: +0.05 / +0.05 (mean 0.05, sd 0).
        let s = [1.0, 1.3, 1.05, 2.0, 1.9, 2.05];
        assert_eq!(choose(&s, 2, 3, 0.0, 0.0), Some(0));
        assert_eq!(choose(&s, 2, 3, 1.0, 0.0), Some(1));
        assert_eq!(choose(&s, 2, 3, 1.0, 0.05), None);
    }

    #[test]
    fn kept_lists_are_distinct_and_never_the_baseline() {
        let mut k = Kept::default();
        k.reset(&[1, 2, 3]);
        k.offer(&[1, 2, 3], 5.0, 1);
        k.offer(&[3, 2, 1], 1.0, 2);
        k.offer(&[3, 2, 1], 1.0, 3);
        k.offer(&[2, 1, 3], 2.0, 4);
        assert_eq!(k.len(), 2);
        assert_eq!(k.idx, [2, 4]);
        assert_eq!(k.lists, [3, 2, 1, 2, 1, 3]);
    }
}
