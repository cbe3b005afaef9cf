//! Ranking and statistics metrics for the evaluation report: DCG/NDCG and
//! average precision of a served list, AUC and log-loss of a scorer,
//! Kendall's τ-b between two orderings, and summary statistics with a seeded
//! bootstrap confidence interval for paired differences.
//!
//! Conventions shared by every function here:
//! - Nothing panics, whatever the input (NaN included). Sorting uses
//!   `total_cmp`; NaN values propagate into the result unless a function's
//!   docs say otherwise.
//! - Paired inputs of different lengths give `None` (where the result is an
//!   `Option`): silently truncating would hide a caller's bug.
//! - Ranking metrics take labels *in served order*: `list_labels[0]` is the
//!   label of the top item. `all_labels` is the label of every candidate in
//!   the pool the list was chosen from (the list's items included), so the
//!   ideal ranking and the relevant count are known.
//!
//! ```
//! use last::eval::metrics::{auc, ndcg_at, quantile};
//!
//! // Served list with labels 3, 0, 2 chosen from a pool labelled 3, 2, 0, 0.
//! let ndcg = ndcg_at(&[3.0, 0.0, 2.0], &[3.0, 2.0, 0.0, 0.0], 3);
//! assert!(ndcg > 0.0 && ndcg < 1.0);
//!
//! assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
//! assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.5), Some(2.5));
//! ```

/// DCG@k of graded labels in served order: Σ_{i<k} (2^label − 1) / log2(i + 2).
///
/// Only the first `min(k, len)` labels count, so a list shorter than `k`
/// simply contributes fewer terms; `k = 0` or an empty list gives 0.0.
/// Labels are expected to be ≥ 0; a NaN label makes the result NaN.
pub fn dcg_at(labels_in_order: &[f32], k: usize) -> f64 {
    labels_in_order
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &l)| gain(l) / ((i + 2) as f64).log2())
        .sum()
}

/// The exponential gain 2^label − 1 of one graded label.
fn gain(label: f32) -> f64 {
    f64::from(label).exp2() - 1.0
}

/// NDCG@k: DCG of the served list over the ideal DCG of `all_labels` (every
/// candidate's label, the pool the list was chosen from) sorted descending.
///
/// Conventions: if the ideal DCG is ≤ 0 — all-zero labels, an empty pool or
/// `k = 0` — there is nothing to rank well and the result is 0.0 (not NaN,
/// not 1.0), so such requests pull a mean down rather than poisoning it.
/// Tied labels are interchangeable: swapping two equal labels in the list
/// does not change the score. The result is in [0, 1] when `list_labels` is a
/// sub-multiset of `all_labels`; it can exceed 1 otherwise. A NaN label
/// propagates to a NaN result.
pub fn ndcg_at(list_labels: &[f32], all_labels: &[f32], k: usize) -> f64 {
    let mut ideal = all_labels.to_vec();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let ideal_dcg = dcg_at(&ideal, k);
    if ideal_dcg <= 0.0 {
        return 0.0;
    }
    dcg_at(list_labels, k) / ideal_dcg
}

/// AP@k with binary relevance label ≥ threshold:
/// (1/min(R, k)) Σ_{i<k, rel_i} P@(i+1), where R is the relevant count among
/// `all_labels` and P@j the fraction of relevant items in the top j.
///
/// Normalising by min(R, k) rather than R makes a list whose top k are all
/// relevant score 1.0 even when more than k relevant candidates exist.
/// Conventions: R = 0 (no relevant candidate) or `k = 0` gives 0.0; a label
/// equal to `threshold` counts as relevant; a NaN label (or threshold) is not
/// relevant. A list shorter than `k` contributes only its own positions. The
/// result is in [0, 1] when `list_labels` is a sub-multiset of `all_labels`.
pub fn average_precision_at(
    list_labels: &[f32],
    all_labels: &[f32],
    k: usize,
    threshold: f32,
) -> f64 {
    let relevant = all_labels.iter().filter(|&&l| l >= threshold).count();
    let denom = relevant.min(k);
    if denom == 0 {
        return 0.0;
    }
    let mut hits = 0usize;
    let mut sum = 0.0f64;
    for (i, &l) in list_labels.iter().take(k).enumerate() {
        if l >= threshold {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    sum / denom as f64
}

/// Area under the ROC curve of `scores` for binary `labels`, ties counted as
/// half (the Mann–Whitney U statistic over n_pos · n_neg).
///
/// It is the probability that a random positive outscores a random negative,
/// computed in O(n log n) from average ranks. Returns `None` if either class
/// is absent (the AUC is undefined) or the lengths differ. Scores compare by
/// value, so +0 and −0 tie; every NaN score ties with the other NaNs and ranks
/// above every number.
pub fn auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() {
        return None;
    }
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let keys: Vec<f64> = scores.iter().map(|&s| canonical(f64::from(s))).collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&i, &j| keys[i].total_cmp(&keys[j]));
    // Sum of the positives' 1-based ranks, tied groups sharing their mean rank.
    let mut pos_rank_sum = 0.0f64;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && keys[order[end]].total_cmp(&keys[order[start]]).is_eq() {
            end += 1;
        }
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let pos_in_group = order[start..end].iter().filter(|&&i| labels[i]).count();
        pos_rank_sum += mean_rank * pos_in_group as f64;
        start = end;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    let u = pos_rank_sum - p * (p + 1.0) / 2.0;
    Some(u / (p * n))
}

/// Maps −0 to +0 and every NaN to the positive quiet NaN, so that
/// `total_cmp` orders by value and treats all NaNs as one value.
fn canonical(x: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if x == 0.0 {
        0.0
    } else {
        x
    }
}

/// Mean binary log-loss −(1/n) Σ [y ln p + (1 − y) ln(1 − p)], with each
/// probability clipped to [1e-7, 1 − 1e-7] so a confident mistake costs a
/// large but finite amount (≈ 16.1) instead of infinity.
///
/// Returns `None` for empty input or different lengths. A NaN probability
/// makes the result NaN.
pub fn log_loss(p: &[f32], labels: &[bool]) -> Option<f64> {
    if p.is_empty() || p.len() != labels.len() {
        return None;
    }
    const EPS: f64 = 1e-7;
    let total: f64 = p
        .iter()
        .zip(labels)
        .map(|(&pi, &y)| {
            let pi = f64::from(pi).clamp(EPS, 1.0 - EPS);
            if y {
                -pi.ln()
            } else {
                -(1.0 - pi).ln()
            }
        })
        .sum();
    Some(total / p.len() as f64)
}

/// Kendall's τ-b between two paired samples, correcting for ties:
/// (C − D) / √((n₀ − n₁)(n₀ − n₂)), with C/D the concordant/discordant pairs,
/// n₀ = n(n − 1)/2 and n₁, n₂ the pairs tied in `a`, in `b`.
///
/// Computed in O(n log n) (Knight's algorithm: sort by `a`, count inversions
/// of `b` by merge sort). Returns `None` if there are fewer than 2 pairs, a
/// side is constant (τ-b is undefined), or the lengths differ. Values compare
/// as in [`auc`]: +0 and −0 tie, NaNs tie with each other and rank above
/// every number.
pub fn kendall_tau_b(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len();
    if n < 2 || n != b.len() {
        return None;
    }
    let mut pairs: Vec<(f64, f64)> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (canonical(x), canonical(y)))
        .collect();
    pairs.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.total_cmp(&q.1)));
    let n0 = tied_pairs(n);
    let n1 = count_tied(&pairs, |p, q| p.0.total_cmp(&q.0).is_eq());
    let n3 = count_tied(&pairs, |p, q| {
        p.0.total_cmp(&q.0).is_eq() && p.1.total_cmp(&q.1).is_eq()
    });
    // Within a run of tied `a`, `b` is ascending, so every strict inversion
    // of `b` below is a pair with a_i < a_j and b_i > b_j: a discordant pair.
    let mut ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let mut scratch = vec![0.0f64; n];
    let discordant = merge_count(&mut ys, &mut scratch);
    let n2 = count_tied(&ys, |p, q| p.total_cmp(q).is_eq());
    if n1 == n0 || n2 == n0 {
        return None;
    }
    // Pairs tied in neither side are either concordant or discordant
    // (n3 added first: n1 + n2 may exceed n0 when many pairs tie in both).
    let untied = n0 + n3 - n1 - n2;
    let s = untied as f64 - 2.0 * discordant as f64;
    let denom = ((n0 - n1) as f64 * (n0 - n2) as f64).sqrt();
    Some((s / denom).clamp(-1.0, 1.0))
}

/// n(n − 1)/2: the number of unordered pairs among `n` items.
fn tied_pairs(n: usize) -> u64 {
    let n = n as u64;
    n * n.saturating_sub(1) / 2
}

/// Pairs of items inside runs of equal neighbours of a sorted slice.
fn count_tied<T>(sorted: &[T], eq: impl Fn(&T, &T) -> bool) -> u64 {
    let mut total = 0;
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start + 1;
        while end < sorted.len() && eq(&sorted[start], &sorted[end]) {
            end += 1;
        }
        total += tied_pairs(end - start);
        start = end;
    }
    total
}

/// Sorts `xs` ascending (by `total_cmp`, stably) and returns the number of
/// strict inversions (i < j with xs[i] > xs[j]). `scratch` has `xs.len()`.
fn merge_count(xs: &mut [f64], scratch: &mut [f64]) -> u64 {
    let n = xs.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count = {
        let (left, right) = xs.split_at_mut(mid);
        let (sl, sr) = scratch.split_at_mut(mid);
        merge_count(left, sl) + merge_count(right, sr)
    };
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if xs[j].total_cmp(&xs[i]).is_lt() {
            // xs[j] is below every remaining left element: mid − i inversions.
            scratch[k] = xs[j];
            count += (mid - i) as u64;
            j += 1;
        } else {
            scratch[k] = xs[i];
            i += 1;
        }
        k += 1;
    }
    scratch[k..k + mid - i].copy_from_slice(&xs[i..mid]);
    k += mid - i;
    scratch[k..k + n - j].copy_from_slice(&xs[j..n]);
    xs.copy_from_slice(&scratch[..n]);
    count
}

/// Arithmetic mean; 0.0 for an empty slice (a neutral value for report
/// tables, where "no requests" should not print NaN). NaN propagates.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// q-quantile (q in [0, 1]) by linear interpolation between order statistics
/// (the "type 7" definition of R and NumPy's default): with the sorted values
/// x₀ ≤ … ≤ x_{n−1} and h = (n − 1)q, the result is
/// x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋₊₁ − x_⌊h⌋).
///
/// Returns `None` for an empty slice or a NaN `q`; `q` outside [0, 1] is
/// clamped (so q = 0 is the minimum, q = 1 the maximum). NaN values sort by
/// `total_cmp` (a positive NaN above +∞), so they show up in the upper
/// quantiles.
pub fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    if xs.is_empty() || q.is_nan() {
        return None;
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(quantile_sorted(&sorted, q))
}

/// [`quantile`] of an already sorted, non-empty slice with a non-NaN `q`.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let q = q.clamp(0.0, 1.0);
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    let x_lo = sorted[lo];
    match sorted.get(lo + 1) {
        Some(&x_hi) if frac > 0.0 && x_hi != x_lo => x_lo + frac * (x_hi - x_lo),
        _ => x_lo,
    }
}

/// A two-sided confidence interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound (≥ `low` for finite data).
    pub high: f64,
}

/// Percentile bootstrap CI of the mean of paired differences `diffs` (one per
/// request), e.g. "LAST minus baseline NDCG", so the report can say whether
/// an improvement is distinguishable from noise.
///
/// Draws `resamples` resamples of `diffs.len()` values with replacement from
/// a SplitMix64 generator seeded by `seed` (deterministic: the same inputs
/// and seed give the same interval on every platform), and returns the
/// (1 − level)/2 and (1 + level)/2 quantiles ([`quantile`]'s interpolation)
/// of the resampled means; `level` is e.g. 0.95. A constant input gives a
/// zero-width interval at that constant.
///
/// Returns `None` for empty `diffs`, `resamples = 0`, or `level` outside
/// (0, 1] (NaN included). A NaN difference propagates into the bounds.
pub fn bootstrap_mean_ci(
    diffs: &[f64],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    if diffs.is_empty() || resamples == 0 || !(level > 0.0 && level <= 1.0) {
        return None;
    }
    let n = diffs.len();
    let mut rng = SplitMix64::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let sum: f64 = (0..n).map(|_| diffs[rng.below(n)]).sum();
            sum / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some(Interval {
        low: quantile_sorted(&means, alpha),
        high: quantile_sorted(&means, 1.0 - alpha),
    })
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fast, well-mixed 64-bit
/// generator — enough for bootstrap resampling and reproducible by seed
/// without a `rand` dependency.
#[derive(Debug, Clone)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An index in `0..n` (`n > 0`) by Lemire's multiply-shift; its bias,
    /// at most n / 2⁶⁴, is negligible here.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A uniform value in [0, 1) with 53 random bits.
    #[cfg(test)]
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    // log2(3) appears in every hand-computed DCG below.
    const LOG2_3: f64 = 1.584_962_500_721_156;

    #[test]
    fn dcg_hand_example() {
        // Labels 3, 2, 3, 0, 1, 2 → gains 7, 3, 7, 0, 1, 3.
        // Discounts log2(2..=7) = 1, 1.584963, 2, 2.321928, 2.584963, 2.807355.
        // 7 + 1.892789 + 3.5 + 0 + 0.386853 + 1.068622 = 13.848264.
        let d = dcg_at(&[3.0, 2.0, 3.0, 0.0, 1.0, 2.0], 6);
        assert!(close(d, 13.848_264, 1e-5), "{d}");
        // k = 2: 7 + 3 / log2(3).
        assert!(close(
            dcg_at(&[3.0, 2.0, 3.0], 2),
            7.0 + 3.0 / LOG2_3,
            1e-12
        ));
        assert_eq!(dcg_at(&[3.0], 0), 0.0);
        assert_eq!(dcg_at(&[], 5), 0.0);
    }

    #[test]
    fn ndcg_with_tied_labels() {
        // Pool 3, 2, 2, 0; list 2, 3, 2; k = 3.
        // DCG   = 3/1 + 7/log2(3) + 3/2 = 3 + 4.416508 + 1.5 = 8.916508
        // IDCG  = 7/1 + 3/log2(3) + 3/2 = 7 + 1.892789 + 1.5 = 10.392789
        // NDCG  = 8.916508 / 10.392789 = 0.857951
        let all = [3.0, 2.0, 2.0, 0.0];
        let v = ndcg_at(&[2.0, 3.0, 2.0], &all, 3);
        assert!(close(v, 0.857_951, 1e-6), "{v}");
        assert!(close(v, (4.5 + 7.0 / LOG2_3) / (8.5 + 3.0 / LOG2_3), 1e-12));
        // The two label-2 items are interchangeable: either order of the
        // ties after the 3 is ideal.
        assert!(close(ndcg_at(&[3.0, 2.0, 2.0], &all, 3), 1.0, 1e-12));
    }

    #[test]
    fn ndcg_list_shorter_than_k() {
        // Pool 1, 0, 1; list 1, 0; k = 5.
        // DCG  = 1/1 + 0 = 1
        // IDCG = 1/1 + 1/log2(3) + 0 = 1.630930
        // NDCG = 1 / 1.630930 = 0.613147
        let v = ndcg_at(&[1.0, 0.0], &[1.0, 0.0, 1.0], 5);
        assert!(close(v, 0.613_147, 1e-6), "{v}");
    }

    #[test]
    fn ndcg_ideal_truncated_at_k() {
        // Pool 2, 1, 1, 1; list 1, 1; k = 2.
        // DCG  = 1 + 1/log2(3) = 1.630930
        // IDCG = 3 + 1/log2(3) = 3.630930 (only the top 2 of the pool count)
        // NDCG = 1.630930 / 3.630930 = 0.449177
        let v = ndcg_at(&[1.0, 1.0], &[2.0, 1.0, 1.0, 1.0], 2);
        assert!(close(v, (1.0 + 1.0 / LOG2_3) / (3.0 + 1.0 / LOG2_3), 1e-12));
        assert!(close(v, 0.449_177, 1e-6), "{v}");
    }

    #[test]
    fn ndcg_all_zero_labels_is_zero() {
        assert_eq!(ndcg_at(&[0.0, 0.0], &[0.0, 0.0, 0.0], 2), 0.0);
        assert_eq!(ndcg_at(&[], &[], 3), 0.0);
        assert_eq!(ndcg_at(&[1.0], &[1.0], 0), 0.0);
    }

    #[test]
    fn ndcg_perfect_list_is_one() {
        let all = [0.0, 3.0, 1.0, 2.0, 0.0];
        assert!(close(ndcg_at(&[3.0, 2.0, 1.0], &all, 3), 1.0, 1e-12));
        assert!(close(
            ndcg_at(&[3.0, 2.0, 1.0, 0.0, 0.0], &all, 10),
            1.0,
            1e-12
        ));
    }

    #[test]
    fn ndcg_nan_does_not_panic() {
        let v = ndcg_at(&[f32::NAN, 1.0], &[f32::NAN, 1.0, 0.0], 2);
        assert!(v.is_nan());
    }

    #[test]
    fn ap_hand_example() {
        // Pool has R = 4 relevant; list rel = 1, 0, 1, 1; k = 4.
        // P@1 = 1, P@3 = 2/3, P@4 = 3/4 → (1 + 0.666667 + 0.75) / 4 = 0.604167
        let all = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
        let v = average_precision_at(&[1.0, 0.0, 1.0, 1.0], &all, 4, 1.0);
        assert!(close(v, (1.0 + 2.0 / 3.0 + 0.75) / 4.0, 1e-12));
        assert!(close(v, 0.604_167, 1e-6), "{v}");
    }

    #[test]
    fn ap_with_ties_at_threshold() {
        // Graded labels 2, 1, 0, 1 with threshold 1: a label equal to the
        // threshold is relevant → rel = T, T, F, T; pool adds a 0, R = 3.
        // P@1 = 1, P@2 = 1, P@4 = 3/4 → 2.75 / min(3, 4) = 0.916667
        let all = [2.0, 1.0, 0.0, 1.0, 0.0];
        let v = average_precision_at(&[2.0, 1.0, 0.0, 1.0], &all, 4, 1.0);
        assert!(close(v, 2.75 / 3.0, 1e-12), "{v}");
        // Relevance is binary: swapping the tied-relevant 2 and 1 changes nothing.
        let w = average_precision_at(&[1.0, 2.0, 0.0, 1.0], &all, 4, 1.0);
        assert_eq!(v, w);
    }

    #[test]
    fn ap_all_zero_is_zero() {
        assert_eq!(
            average_precision_at(&[0.0, 0.0], &[0.0, 0.0, 0.0], 2, 1.0),
            0.0
        );
        assert_eq!(average_precision_at(&[], &[], 2, 1.0), 0.0);
        assert_eq!(average_precision_at(&[1.0], &[1.0], 0, 1.0), 0.0);
    }

    #[test]
    fn ap_k_smaller_than_r() {
        // R = 5 relevant in the pool, k = 2 → normalise by min(5, 2) = 2.
        let all = [1.0; 5];
        // rel = T, F (the 3rd position is past k): P@1 = 1 → 1 / 2 = 0.5
        assert_eq!(average_precision_at(&[1.0, 0.0, 1.0], &all, 2, 1.0), 0.5);
        // Top 2 both relevant: (1 + 1) / 2 = 1.0
        assert_eq!(average_precision_at(&[1.0, 1.0, 0.0], &all, 2, 1.0), 1.0);
    }

    #[test]
    fn ap_list_shorter_than_k() {
        // R = 2, k = 5, list rel = F, T: P@2 = 1/2 → 0.5 / min(2, 5) = 0.25
        let v = average_precision_at(&[0.0, 1.0], &[0.0, 1.0, 1.0], 5, 0.5);
        assert_eq!(v, 0.25);
    }

    #[test]
    fn auc_hand_examples() {
        // Negatives 0.1, 0.4; positives 0.35, 0.8. Pairs won by the positive:
        // 0.35 > 0.1, 0.35 < 0.4, 0.8 > 0.1, 0.8 > 0.4 → 3 / 4 = 0.75.
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        // With ties: negatives 0.5, 0.5; positives 0.5, 0.9.
        // 0.5 vs 0.5 → ½ twice, 0.9 vs each → 1 twice: (½ + ½ + 1 + 1) / 4 = 0.75.
        assert_eq!(
            auc(&[0.5, 0.5, 0.5, 0.9], &[false, true, false, true]),
            Some(0.75)
        );
        // Negatives 0.2, 0.5; positives 0.5, 0.9: (1 + ½ + 1 + 1) / 4 = 0.875.
        assert_eq!(
            auc(&[0.2, 0.5, 0.5, 0.9], &[false, true, false, true]),
            Some(0.875)
        );
        // Everything tied: 0.5. +0 and −0 tie as well.
        assert_eq!(auc(&[1.0, 1.0, 1.0], &[true, false, true]), Some(0.5));
        assert_eq!(auc(&[0.0, -0.0], &[true, false]), Some(0.5));
    }

    #[test]
    fn auc_perfect_reversed_and_undefined() {
        let labels = [false, false, true, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4, 0.5], &labels), Some(1.0));
        assert_eq!(auc(&[0.5, 0.4, 0.3, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(auc(&[], &[]), None);
        assert_eq!(auc(&[0.1, 0.2], &[true]), None);
    }

    #[test]
    fn auc_matches_pairwise_count_and_survives_nan() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..20 {
            let n = 2 + rng.below(40);
            // Coarse scores so ties are common.
            let scores: Vec<f32> = (0..n).map(|_| rng.below(6) as f32 / 5.0).collect();
            let labels: Vec<bool> = (0..n).map(|_| rng.below(2) == 1).collect();
            let (mut won, mut pairs) = (0.0, 0.0);
            for (i, &si) in scores.iter().enumerate() {
                for (j, &sj) in scores.iter().enumerate() {
                    if labels[i] && !labels[j] {
                        pairs += 1.0;
                        won += if si > sj {
                            1.0
                        } else if si == sj {
                            0.5
                        } else {
                            0.0
                        };
                    }
                }
            }
            let expected = (pairs > 0.0).then(|| won / pairs);
            match (auc(&scores, &labels), expected) {
                (Some(a), Some(e)) => assert!(close(a, e, 1e-12), "{a} vs {e}"),
                (a, e) => assert_eq!(a, e),
            }
        }
        // NaN ranks above every number and ties with other NaNs.
        assert_eq!(auc(&[f32::NAN, 0.3], &[true, false]), Some(1.0));
        assert_eq!(auc(&[f32::NAN, -f32::NAN], &[true, false]), Some(0.5));
    }

    #[test]
    fn log_loss_hand_values() {
        // −(ln 0.9 + ln(1 − 0.2)) / 2 = (0.105361 + 0.223144) / 2 = 0.164252
        let v = log_loss(&[0.9, 0.2], &[true, false]).unwrap();
        assert!(close(v, 0.164_252, 1e-6), "{v}");
        // p = 0.5 either way → ln 2 = 0.693147
        let v = log_loss(&[0.5, 0.5], &[true, false]).unwrap();
        assert!(close(v, std::f64::consts::LN_2, 1e-12));
        // Clipping: p = 1 for a negative costs −ln(1e-7) = 16.118096, p = 0
        // for a negative costs −ln(1 − 1e-7) ≈ 1e-7.
        let v = log_loss(&[1.0], &[false]).unwrap();
        assert!(close(v, 16.118_096, 1e-6), "{v}");
        let v = log_loss(&[0.0], &[false]).unwrap();
        assert!(close(v, 1e-7, 1e-12), "{v}");
        assert!(log_loss(&[0.0], &[true]).unwrap().is_finite());
    }

    #[test]
    fn log_loss_undefined_and_nan() {
        assert_eq!(log_loss(&[], &[]), None);
        assert_eq!(log_loss(&[0.5], &[true, false]), None);
        assert!(log_loss(&[f32::NAN], &[true]).unwrap().is_nan());
    }

    /// O(n²) τ-b straight from the definition, for cross-checking.
    fn tau_b_naive(a: &[f64], b: &[f64]) -> Option<f64> {
        let n = a.len();
        let (mut s, mut n1, mut n2) = (0i64, 0i64, 0i64);
        for i in 0..n {
            for j in i + 1..n {
                let da = (a[i] - a[j]).signum() as i64 * i64::from(a[i] != a[j]);
                let db = (b[i] - b[j]).signum() as i64 * i64::from(b[i] != b[j]);
                s += da * db;
                n1 += i64::from(da == 0);
                n2 += i64::from(db == 0);
            }
        }
        let n0 = (n * (n - 1) / 2) as i64;
        if n < 2 || n1 == n0 || n2 == n0 {
            return None;
        }
        Some(s as f64 / (((n0 - n1) * (n0 - n2)) as f64).sqrt())
    }

    #[test]
    fn kendall_identical_and_reversed() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let r = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert_eq!(kendall_tau_b(&a, &a), Some(1.0));
        assert_eq!(kendall_tau_b(&a, &r), Some(-1.0));
        // Identical with ties is still exactly 1.
        let t = [1.0, 1.0, 2.0, 3.0, 3.0];
        assert_eq!(kendall_tau_b(&t, &t), Some(1.0));
        // Many pairs tied in both sides (n1 + n2 = 12 > n0 = 10, n3 = 6).
        let u = [1.0, 1.0, 1.0, 1.0, 2.0];
        assert_eq!(kendall_tau_b(&u, &u), Some(1.0));
    }

    #[test]
    fn kendall_hand_tied_example() {
        // a = 1, 2, 2, 3; b = 1, 3, 2, 2. The 6 pairs:
        // (0,1) C  (0,2) C  (0,3) C  (1,2) tied in a  (1,3) D  (2,3) tied in b
        // n0 = 6, n1 = 1, n2 = 1, C − D = 3 − 1 = 2
        // τ-b = 2 / √((6 − 1)(6 − 1)) = 2 / 5 = 0.4
        let v = kendall_tau_b(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 2.0]).unwrap();
        assert!(close(v, 0.4, 1e-12), "{v}");
        // A pair tied in both: a = 1, 1, 2; b = 5, 5, 6.
        // n0 = 3, n1 = 1, n2 = 1, n3 = 1; (0,2) C, (1,2) C → 2 / √(2·2) = 1.
        assert_eq!(kendall_tau_b(&[1.0, 1.0, 2.0], &[5.0, 5.0, 6.0]), Some(1.0));
    }

    #[test]
    fn kendall_undefined() {
        assert_eq!(kendall_tau_b(&[], &[]), None);
        assert_eq!(kendall_tau_b(&[1.0], &[2.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 2.0], &[3.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[0.0, -0.0, 0.0]), None);
    }

    #[test]
    fn kendall_matches_naive_on_random_tied_data() {
        let mut rng = SplitMix64::new(42);
        for round in 0..50 {
            let n = 2 + rng.below(60);
            let levels = 1 + rng.below(8) as u64;
            let a: Vec<f64> = (0..n).map(|_| (rng.next_u64() % levels) as f64).collect();
            let b: Vec<f64> = (0..n).map(|_| (rng.next_u64() % levels) as f64).collect();
            match (kendall_tau_b(&a, &b), tau_b_naive(&a, &b)) {
                (Some(x), Some(y)) => assert!(close(x, y, 1e-12), "round {round}: {x} vs {y}"),
                (x, y) => assert_eq!(x, y, "round {round}"),
            }
        }
    }

    #[test]
    fn kendall_nan_does_not_panic() {
        // NaNs tie with each other and rank above every number:
        // a = 1, NaN, NaN; b = 1, 2, 3 → pairs (0,1) C, (0,2) C, (1,2) tied in a:
        // 2 / √((3 − 1)(3 − 0)) = 2 / √6.
        let v = kendall_tau_b(&[1.0, f64::NAN, f64::NAN], &[1.0, 2.0, 3.0]).unwrap();
        assert!(close(v, 2.0 / 6f64.sqrt(), 1e-12), "{v}");
    }

    #[test]
    fn mean_basic() {
        assert_eq!(mean(&[]), 0.0);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
    }

    #[test]
    fn quantile_interpolates() {
        let xs = [4.0, 1.0, 3.0, 2.0];
        // Sorted 1, 2, 3, 4; h = 3q.
        assert_eq!(quantile(&xs, 0.0), Some(1.0));
        assert_eq!(quantile(&xs, 1.0), Some(4.0));
        // q = 0.5 → h = 1.5 → 2 + 0.5·(3 − 2) = 2.5
        assert_eq!(quantile(&xs, 0.5), Some(2.5));
        // q = 0.25 → h = 0.75 → 1 + 0.75·(2 − 1) = 1.75
        assert_eq!(quantile(&xs, 0.25), Some(1.75));
        // q = 0.9 → h = 2.7 → 3 + 0.7·(4 − 3) = 3.7
        assert!(close(quantile(&xs, 0.9).unwrap(), 3.7, 1e-12));
        assert_eq!(quantile(&[7.0], 0.3), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&xs, f64::NAN), None);
        // Out-of-range q clamps.
        assert_eq!(quantile(&xs, 2.0), Some(4.0));
        assert_eq!(quantile(&xs, -1.0), Some(1.0));
        // Equal infinite neighbours do not produce NaN.
        let inf = f64::INFINITY;
        assert_eq!(quantile(&[1.0, inf, inf], 0.75), Some(inf));
        assert!(quantile(&[f64::NAN, 1.0], 0.5).unwrap().is_nan());
    }

    #[test]
    fn splitmix_reference_output() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn bootstrap_deterministic_and_contains_mean() {
        let diffs: Vec<f64> = (0..100)
            .map(|i| ((i * 37) % 11) as f64 / 10.0 - 0.4)
            .collect();
        let a = bootstrap_mean_ci(&diffs, 2000, 0.95, 1).unwrap();
        let b = bootstrap_mean_ci(&diffs, 2000, 0.95, 1).unwrap();
        let c = bootstrap_mean_ci(&diffs, 2000, 0.95, 2).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let m = mean(&diffs);
        assert!(a.low < m && m < a.high, "{a:?} vs {m}");
        // A wider level gives a wider interval from the same resamples.
        let w = bootstrap_mean_ci(&diffs, 2000, 0.99, 1).unwrap();
        assert!(w.low <= a.low && a.high <= w.high);
    }

    #[test]
    fn bootstrap_constant_and_undefined() {
        let ci = bootstrap_mean_ci(&[0.25; 17], 500, 0.95, 9).unwrap();
        assert_eq!(
            ci,
            Interval {
                low: 0.25,
                high: 0.25
            }
        );
        let one = bootstrap_mean_ci(&[-3.0], 10, 0.9, 0).unwrap();
        assert_eq!(
            one,
            Interval {
                low: -3.0,
                high: -3.0
            }
        );
        assert_eq!(bootstrap_mean_ci(&[], 100, 0.95, 0), None);
        assert_eq!(bootstrap_mean_ci(&[1.0], 0, 0.95, 0), None);
        assert_eq!(bootstrap_mean_ci(&[1.0], 10, 0.0, 0), None);
        assert_eq!(bootstrap_mean_ci(&[1.0], 10, 1.5, 0), None);
        assert_eq!(bootstrap_mean_ci(&[1.0], 10, f64::NAN, 0), None);
        let nan = bootstrap_mean_ci(&[1.0, f64::NAN], 10, 0.9, 0).unwrap();
        assert!(nan.high.is_nan());
    }

    #[test]
    fn bootstrap_covers_about_95_percent() {
        // 200 datasets of 40 draws from Uniform(−1, 1) (true mean 0), each
        // with its own fixed seed; the 95 % percentile interval should contain
        // 0 in roughly 95 % of them (percentile intervals run a little
        // narrow at n = 40, so expect ~93 %). Deterministic by construction.
        let mut data_rng = SplitMix64::new(2024);
        let mut covered = 0;
        let datasets = 200;
        for d in 0..datasets {
            let xs: Vec<f64> = (0..40).map(|_| 2.0 * data_rng.unit() - 1.0).collect();
            let ci = bootstrap_mean_ci(&xs, 1000, 0.95, 1000 + d).unwrap();
            if ci.low <= 0.0 && 0.0 <= ci.high {
                covered += 1;
            }
        }
        let rate = covered as f64 / datasets as f64;
        assert!((0.88..=0.99).contains(&rate), "coverage {rate}");
    }

    #[test]
    fn interval_serializes() {
        let s = serde_json::to_string(&Interval {
            low: -0.5,
            high: 1.25,
        })
        .unwrap();
        assert_eq!(s, r#"{"low":-0.5,"high":1.25}"#);
    }
}
