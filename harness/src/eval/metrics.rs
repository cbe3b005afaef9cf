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
/// a SplitMix64 stream ([`crate::rng::Rng::from_state`]) started at `seed` (deterministic: the same inputs
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
    let mut rng = crate::rng::Rng::from_state(seed);
    // An index in `0..n` by Lemire's multiply-shift; its bias, at most
    // n / 2⁶⁴, is negligible here.
    let mut below = |n: usize| ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize;
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let sum: f64 = (0..n).map(|_| diffs[below(n)]).sum();
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

/// [`bootstrap_mean_ci`] resampling whole **groups** (e.g. every request
/// of one query): `group[i]` is element `i`'s group number (`0..G`); each
/// resample draws G groups with replacement and takes the mean of all their
/// elements. Requests of one query are not independent, so this interval
/// is the honest one when a split holds few queries. With every element
/// its own group (`group[i] = i`) it is exactly [`bootstrap_mean_ci`].
///
/// Returns `None` as [`bootstrap_mean_ci`] does, or when `group` is not as
/// long as `diffs` or names a group beyond the largest number present
/// minus gaps (every number in `0..G` must occur).
pub fn bootstrap_group_mean_ci(
    diffs: &[f64],
    group: &[usize],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    if diffs.is_empty() || resamples == 0 || !(level > 0.0 && level <= 1.0) {
        return None;
    }
    if group.len() != diffs.len() {
        return None;
    }
    let g = group.iter().max().map_or(0, |m| m + 1);
    let mut sums = vec![0f64; g];
    let mut counts = vec![0usize; g];
    for (&d, &k) in diffs.iter().zip(group) {
        sums[k] += d;
        counts[k] += 1;
    }
    if counts.contains(&0) {
        return None;
    }
    let mut rng = crate::rng::Rng::from_state(seed);
    let mut below = |n: usize| ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize;
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let (mut sum, mut count) = (0f64, 0usize);
            for _ in 0..g {
                let k = below(g);
                sum += sums[k];
                count += counts[k];
            }
            sum / count as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some(Interval {
        low: quantile_sorted(&means, alpha),
        high: quantile_sorted(&means, 1.0 - alpha),
    })
}

/// Group numbers `0..G` of `keys`, in order of first appearance, where a
/// key's group is its part before the first `#` (the data sources name a
/// request `QUERY#r`).
pub fn groups_of<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
    let mut names: Vec<&str> = Vec::new();
    keys.into_iter()
        .map(|k| {
            let q = k.split('#').next().unwrap_or(k);
            match names.iter().position(|n| *n == q) {
                Some(i) => i,
                None => {
                    names.push(q);
                    names.len() - 1
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
