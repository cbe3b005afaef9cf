//! Ground-truth click simulators: the judge of the evaluation, never seen by
//! LAST, the evaluator or the generator (docs/DESIGN.md §4).
//!
//! One model covers every dataset: a **position-based model with a cascade
//! stop and a near-duplicate penalty**. At position `t` of a list `π`:
//!
//! * the user is still reading with probability `A_t`, `A_0 = 1`;
//! * examines the slot with probability `exam[t]`;
//! * clicks an examined item with probability
//!   `a'_t = attract[π_t] · (1 − dup · [an item of the same group is above])`;
//! * after a click, stops reading with probability `stop`:
//!   `A_{t+1} = A_t · (1 − stop · exam[t] · a'_t)`.
//!
//! Expected clicks `Σ_t A_t · exam[t] · a'_t` are exact (no sampling), so the
//! report's ground-truth reward has no simulation noise. With `stop = 0` and
//! `dup = 0` this is the plain PBM, which is what [`fit_pbm`] estimates from
//! real sessions (WSCD): order then matters through examination only.

use crate::rng::Rng;

/// What the judge knows about one request's candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Click probability of each candidate when examined, in [0, 1].
    pub attract: Vec<f32>,
    /// Near-duplicate group of each candidate (same group = redundant).
    pub group: Vec<u32>,
    /// Graded relevance of each candidate (for NDCG / MAP).
    pub labels: Vec<f32>,
}

/// Position-based click model with cascade stop and duplicate penalty.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClickModel {
    /// Examination probability per position.
    pub exam: Vec<f32>,
    /// Probability of leaving after a click.
    pub stop: f32,
    /// Relative click-probability loss of an item whose group already
    /// appeared above it.
    pub dup: f32,
}

impl ClickModel {
    /// `exam[t] = 1 / (t + 1)^eta` for `len` positions.
    pub fn new(len: usize, eta: f32, stop: f32, dup: f32) -> Self {
        ClickModel {
            exam: (0..len).map(|t| 1.0 / ((t + 1) as f32).powf(eta)).collect(),
            stop,
            dup,
        }
    }

    /// Per-position click probabilities of `list` (marginal over the cascade).
    /// Positions beyond `exam` are never examined.
    pub fn click_probs(&self, truth: &Truth, list: &[usize]) -> Vec<f64> {
        let mut out = Vec::with_capacity(list.len());
        let mut active = 1.0f64;
        for t in 0..list.len() {
            let e = self.exam.get(t).copied().unwrap_or(0.0) as f64;
            let a = self.attract_at(truth, list, t) as f64;
            out.push(active * e * a);
            active *= 1.0 - self.stop as f64 * e * a;
        }
        out
    }

    /// Expected clicks of `list`: the ground-truth reward.
    pub fn expected_clicks(&self, truth: &Truth, list: &[usize]) -> f64 {
        self.click_probs(truth, list).iter().sum()
    }

    /// One simulated session: which positions were clicked.
    pub fn sample(&self, truth: &Truth, list: &[usize], rng: &mut Rng) -> Vec<bool> {
        let mut clicks = vec![false; list.len()];
        for (t, click) in clicks.iter_mut().enumerate() {
            let e = self.exam.get(t).copied().unwrap_or(0.0) as f64;
            if rng.uniform() >= e {
                continue;
            }
            if rng.uniform() < self.attract_at(truth, list, t) as f64 {
                *click = true;
                if rng.uniform() < self.stop as f64 {
                    break;
                }
            }
        }
        clicks
    }

    fn attract_at(&self, truth: &Truth, list: &[usize], t: usize) -> f32 {
        let i = list[t];
        let base = truth.attract.get(i).copied().unwrap_or(0.0);
        let g = truth.group.get(i);
        let dup = list[..t].iter().any(|&j| truth.group.get(j) == g);
        if dup {
            base * (1.0 - self.dup)
        } else {
            base
        }
    }
}

/// One observed session for [`fit_pbm`]: document keys in shown order and
/// per-position clicks.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// Document key per position (e.g. an index into a per-query table).
    pub docs: &'a [usize],
    /// Clicked at least once, per position.
    pub clicked: &'a [bool],
}

/// A fitted position-based model.
#[derive(Debug, Clone)]
pub struct Pbm {
    /// Examination probability per position.
    pub exam: Vec<f32>,
    /// Attractiveness per document key.
    pub attract: Vec<f32>,
    /// Sessions that showed each document key.
    pub shown: Vec<u32>,
}

/// Fits a PBM by expectation–maximisation (Chuklin et al., *Click Models
/// for Web Search*, §4): `docs` keys are `0..n_docs`, `len` positions.
/// Attractiveness gets a Beta(1, 1) prior (one pseudo-session at ½) so that
/// rarely shown documents stay near ½ instead of 0 or 1.
pub fn fit_pbm(sessions: &[Observed<'_>], n_docs: usize, len: usize, iters: usize) -> Pbm {
    let mut exam = vec![0.5f64; len];
    let mut attract = vec![0.5f64; n_docs];
    let mut shown = vec![0u32; n_docs];
    for s in sessions {
        for &d in s.docs.iter().take(len) {
            if d < n_docs {
                shown[d] += 1;
            }
        }
    }
    for _ in 0..iters {
        let mut a_num = vec![0.5f64; n_docs];
        let mut a_den = vec![1.0f64; n_docs];
        let mut e_num = vec![0.0f64; len];
        let mut e_den = vec![0.0f64; len];
        for s in sessions {
            for (r, (&d, &c)) in s.docs.iter().zip(s.clicked).take(len).enumerate() {
                if d >= n_docs {
                    continue;
                }
                let (g, a) = (exam[r], attract[d]);
                let (pa, pe) = if c {
                    (1.0, 1.0)
                } else {
                    let q = (1.0 - g * a).max(1e-12);
                    (a * (1.0 - g) / q, g * (1.0 - a) / q)
                };
                a_num[d] += pa;
                a_den[d] += 1.0;
                e_num[r] += pe;
                e_den[r] += 1.0;
            }
        }
        for d in 0..n_docs {
            attract[d] = (a_num[d] / a_den[d]).clamp(1e-4, 1.0 - 1e-4);
        }
        for r in 0..len {
            if e_den[r] > 0.0 {
                exam[r] = (e_num[r] / e_den[r]).clamp(1e-4, 1.0);
            }
        }
    }
    // PBM is identifiable up to a scale: pin the first position's
    // examination to 1 and move the scale into attractiveness.
    let top = exam.first().copied().unwrap_or(1.0).max(1e-4);
    Pbm {
        exam: exam.iter().map(|e| (e / top) as f32).collect(),
        attract: attract.iter().map(|a| (a * top).min(1.0) as f32).collect(),
        shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> Truth {
        Truth {
            attract: vec![0.8, 0.5, 0.4, 0.1],
            group: vec![0, 0, 1, 2],
            labels: vec![3.0, 2.0, 2.0, 0.0],
        }
    }

    #[test]
    fn expected_clicks_by_hand() {
        let m = ClickModel {
            exam: vec![1.0, 0.5],
            stop: 0.5,
            dup: 0.5,
        };
        // t0: item 0, A=1, e=1, a=.8 → .8 ; A1 = 1 − .5·.8 = .6
        // t1: item 1 (same group as 0): a' = .5·.5 = .25, e = .5 → .6·.5·.25 = .075
        let e = m.expected_clicks(&truth(), &[0, 1]);
        assert!((e - 0.875).abs() < 1e-6, "{e}");
        // item 2 is another group: .6·.5·.4 = .12
        let e = m.expected_clicks(&truth(), &[0, 2]);
        assert!((e - 0.92).abs() < 1e-6, "{e}");
    }

    #[test]
    fn sampling_matches_expectation_and_is_deterministic() {
        let m = ClickModel::new(3, 1.0, 0.3, 0.4);
        let t = truth();
        let list = [1, 0, 2];
        let exact = m.expected_clicks(&t, &list);
        let mut rng = Rng::new(3);
        let runs = 200_000;
        let total: usize = (0..runs)
            .map(|_| m.sample(&t, &list, &mut rng).iter().filter(|c| **c).count())
            .sum();
        let mc = total as f64 / runs as f64;
        assert!((mc - exact).abs() < 0.01, "mc {mc} exact {exact}");
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        for _ in 0..100 {
            assert_eq!(m.sample(&t, &list, &mut a), m.sample(&t, &list, &mut b));
        }
    }

    #[test]
    fn pbm_recovers_parameters() {
        // 3 docs shown in every order, known PBM.
        let exam = [1.0f32, 0.6, 0.3];
        let attract = [0.7f32, 0.4, 0.2];
        let perms: [[usize; 3]; 6] = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        let mut rng = Rng::new(1);
        let mut docs = Vec::new();
        let mut clicks = Vec::new();
        for s in 0..30_000 {
            let p = perms[s % 6];
            docs.push(p.to_vec());
            clicks.push(
                (0..3)
                    .map(|r| rng.uniform() < (exam[r] * attract[p[r]]) as f64)
                    .collect::<Vec<bool>>(),
            );
        }
        let obs: Vec<Observed> = docs
            .iter()
            .zip(&clicks)
            .map(|(d, c)| Observed {
                docs: d,
                clicked: c,
            })
            .collect();
        let fit = fit_pbm(&obs, 3, 3, 200);
        for r in 0..3 {
            assert!((fit.exam[r] - exam[r]).abs() < 0.05, "{:?}", fit.exam);
            assert!(
                (fit.attract[r] - attract[r]).abs() < 0.05,
                "{:?}",
                fit.attract
            );
        }
        assert_eq!(fit.shown, vec![30_000; 3]);
    }
}
